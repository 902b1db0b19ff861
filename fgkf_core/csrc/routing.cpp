// Fused dynamic routing for the capsule layer (relevance.CapsuleRouting), forward and backward, on CPU.
//
// Computes exactly relevance.route(tanh(pre + bias), mask, iters) for right-padded batches, one sentence at
// a time: that sentence's prediction vectors u [L, N, D] stay in cache through every routing iteration,
// padding is skipped, and tanh, the bias and their gradients are fused into the first and last passes.
// Deterministic: fixed loop order, per-sentence partial sums reduced in sentence order.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <type_traits>
#include <vector>

namespace {

// tanh: float uses the odd 13/6 rational approximation of Eigen's fast tanh (vectorises; within a few ulp of
// std::tanh, checked by the tests); double keeps std::tanh (gradient checks)
inline float tanh_approx(float x) {
  const float c = 7.90531110763549805f;
  x = x < -c ? -c : (x > c ? c : x);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * x;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p / q;
}

template <typename T>
inline void tanh_bias(const T* pre, const T* bias, T* out, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) out[k] = tanh_approx(pre[k] + bias[k]);
  } else {
    for (int64_t k = 0; k < n; ++k) out[k] = std::tanh(pre[k] + bias[k]);
  }
}

template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

template <typename T>
inline void axpy(T alpha, const T* x, T* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// v = |s|^2 / (1 + |s|^2) * s / sqrt(|s|^2 + eps)   (relevance.squash)
template <typename T>
inline void squash(const T* s, T* v, int64_t D, T eps) {
  const T sq = dot(s, s, D);
  const T f = sq / ((1 + sq) * std::sqrt(sq + eps));
  for (int64_t d = 0; d < D; ++d) v[d] = f * s[d];
}

// gs = f gv + 2 f'(sq) (s . gv) s, with f' = (sq + 2 eps - sq^2) / (2 (sq + eps)^1.5 (1 + sq)^2)
template <typename T>
inline void squash_backward(const T* s, const T* gv, T* gs, int64_t D, T eps) {
  const T sq = dot(s, s, D);
  const T r2 = sq + eps, r = std::sqrt(r2);
  const T f = sq / ((1 + sq) * r);
  const T df = (sq + 2 * eps - sq * sq) / (2 * r2 * r * (1 + sq) * (1 + sq));
  const T k = 2 * df * dot(s, gv, D);
  for (int64_t d = 0; d < D; ++d) gs[d] = f * gv[d] + k * s[d];
}

// dt = dt (1 - u^2) (through tanh), then db += dt (the bias gradient of this sentence)
template <typename T>
inline void tanh_backward_accumulate(T* dt, const T* u, T* db, int64_t n) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    dt[k] *= 1 - u[k] * u[k];
    db[k] += dt[k];
  }
}

void check_inputs(const torch::Tensor& pre, const torch::Tensor& lengths, int64_t n_caps, int64_t iters) {
  TORCH_CHECK(pre.device().is_cpu() && pre.dim() == 3 && pre.is_contiguous(),
              "fused routing: expected a contiguous CPU tensor pre [B, T, N*D], got ", pre.sizes());
  TORCH_CHECK(n_caps > 0 && pre.size(2) % n_caps == 0, "fused routing: N*D=", pre.size(2),
              " is not a multiple of N=", n_caps);
  TORCH_CHECK(iters >= 1, "fused routing: expected iters >= 1, got ", iters);
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == pre.size(0) && lengths.scalar_type() == torch::kLong,
              "fused routing: expected int64 lengths [B]");
  TORCH_CHECK(lengths.min().item<int64_t>() >= 0 && lengths.max().item<int64_t>() <= pre.size(1),
              "fused routing: lengths must lie in [0, T]");
}

}  // namespace

// Overwrites pre with u = tanh(pre + bias) (rows past a sentence's length are left as they are and never
// read: no second [B, T, N*D] buffer) and returns (v [B, N, D], c [iters, B, T, N], s and vs [iters, B, N, D]).
std::vector<torch::Tensor> routing_forward(torch::Tensor pre, torch::Tensor bias, torch::Tensor lengths,
                                           int64_t n_caps, int64_t iters, double eps) {
  check_inputs(pre, lengths, n_caps, iters);
  lengths = lengths.contiguous();
  bias = bias.contiguous();
  const int64_t B = pre.size(0), T = pre.size(1), ND = pre.size(2), N = n_caps, D = ND / N;
  auto u = pre;
  auto c = torch::empty({iters, B, T, N}, pre.options());
  auto s = torch::zeros({iters, B, N, D}, pre.options());
  auto vs = torch::zeros({iters, B, N, D}, pre.options());
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "routing_forward", [&] {
    const scalar_t* bi = bias.data_ptr<scalar_t>();
    const int64_t* len = lengths.data_ptr<int64_t>();
    scalar_t* U = u.data_ptr<scalar_t>();
    scalar_t* C = c.data_ptr<scalar_t>();
    scalar_t* S = s.data_ptr<scalar_t>();
    scalar_t* V = vs.data_ptr<scalar_t>();
    const scalar_t e = static_cast<scalar_t>(eps);
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<scalar_t> logits;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t L = len[b];
        scalar_t* ub = U + b * T * ND;
        logits.assign(L * N, 0);
        for (int64_t it = 0; it < iters; ++it) {
          scalar_t* sb = S + (it * B + b) * ND;
          scalar_t* cb = C + (it * B + b) * T * N;
          const scalar_t* vprev = it > 0 ? V + ((it - 1) * B + b) * ND : nullptr;
          for (int64_t t = 0; t < L; ++t) {
            scalar_t* ut = ub + t * ND;
            if (it == 0) tanh_bias(ut, bi, ut, ND);  // in place: pre -> u
            scalar_t* lt = logits.data() + t * N;
            if (it > 0)
              for (int64_t n = 0; n < N; ++n) lt[n] += dot(ut + n * D, vprev + n * D, D);  // agreement
            scalar_t mx = lt[0];
            for (int64_t n = 1; n < N; ++n) mx = std::max(mx, lt[n]);
            scalar_t sum = 0;
            scalar_t* ct = cb + t * N;
            for (int64_t n = 0; n < N; ++n) sum += (ct[n] = std::exp(lt[n] - mx));
            for (int64_t n = 0; n < N; ++n) ct[n] /= sum;  // coupling over output capsules
            for (int64_t n = 0; n < N; ++n) axpy(ct[n], ut + n * D, sb + n * D, D);
          }
          scalar_t* vb = V + (it * B + b) * ND;
          for (int64_t n = 0; n < N; ++n) squash(sb + n * D, vb + n * D, D, e);
        }
      }
    });
  });
  return {vs[iters - 1], c, s, vs};
}

// d bias [N*D] from the output gradient gv [B, N, D] and the saved tensors; overwrites u with d pre
// [B, T, N*D] (zero at padding), so the saved u cannot serve a second backward.
torch::Tensor routing_backward(torch::Tensor gv, torch::Tensor u, torch::Tensor c, torch::Tensor s,
                               torch::Tensor vs, torch::Tensor lengths, int64_t n_caps, double eps) {
  gv = gv.contiguous();
  lengths = lengths.contiguous();
  const int64_t iters = c.size(0);
  const int64_t B = u.size(0), T = u.size(1), ND = u.size(2), N = n_caps, D = ND / N;
  auto dpre = u;
  auto dbias_part = torch::zeros({B, ND}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "routing_backward", [&] {
    const scalar_t* G = gv.data_ptr<scalar_t>();
    scalar_t* DP = dpre.data_ptr<scalar_t>();
    const scalar_t* U = DP;  // read as u until a row is overwritten by its gradient
    const scalar_t* C = c.data_ptr<scalar_t>();
    const scalar_t* S = s.data_ptr<scalar_t>();
    const scalar_t* V = vs.data_ptr<scalar_t>();
    const int64_t* len = lengths.data_ptr<int64_t>();
    scalar_t* DB = dbias_part.data_ptr<scalar_t>();
    const scalar_t e = static_cast<scalar_t>(eps);
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<scalar_t> gs(iters * ND), ga(iters * T * N), gvprev(ND), gc(N), row(ND);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t L = len[b];
        const scalar_t* ub = U + b * T * ND;
        std::fill(ga.begin(), ga.end(), scalar_t(0));  // ga[i]: d loss / d agreement_i (none for the last)
        const int64_t last = iters - 1;
        const scalar_t* s_last = S + (last * B + b) * ND;
        for (int64_t n = 0; n < N; ++n)
          squash_backward(s_last + n * D, G + b * ND + n * D, gs.data() + last * ND + n * D, D, e);
        for (int64_t i = last; i >= 1; --i) {  // logits_i = sum_{j<i} agreement_j
          const scalar_t* cb = C + (i * B + b) * T * N;
          std::fill(gvprev.begin(), gvprev.end(), scalar_t(0));
          for (int64_t t = 0; t < L; ++t) {
            const scalar_t* ut = ub + t * ND;
            const scalar_t* ct = cb + t * N;
            scalar_t cg = 0;
            for (int64_t n = 0; n < N; ++n) {
              gc[n] = dot(ut + n * D, gs.data() + i * ND + n * D, D);
              cg += ct[n] * gc[n];
            }
            scalar_t* ga_prev = ga.data() + ((i - 1) * T + t) * N;
            const scalar_t* ga_next = ga.data() + (i * T + t) * N;  // zero for i = last
            for (int64_t n = 0; n < N; ++n) {
              ga_prev[n] = ga_next[n] + ct[n] * (gc[n] - cg);  // softmax backward, accumulated over iterations
              axpy(ga_prev[n], ut + n * D, gvprev.data() + n * D, D);
            }
          }
          const scalar_t* s_prev = S + ((i - 1) * B + b) * ND;
          for (int64_t n = 0; n < N; ++n)
            squash_backward(s_prev + n * D, gvprev.data() + n * D, gs.data() + (i - 1) * ND + n * D, D, e);
        }
        scalar_t* db = DB + b * ND;
        std::fill(DP + (b * T + L) * ND, DP + (b + 1) * T * ND, scalar_t(0));  // padding gets no gradient
        for (int64_t t = 0; t < L; ++t) {  // du = sum_i c_i gs_i + sum_{i<last} ga_i v_i; dpre = du (1 - u^2)
          const scalar_t* ut = ub + t * ND;
          scalar_t* dt = row.data();
          std::fill(row.begin(), row.end(), scalar_t(0));
          for (int64_t i = 0; i < iters; ++i) {
            const scalar_t* ct = C + ((i * B + b) * T + t) * N;
            const scalar_t* vi = V + (i * B + b) * ND;
            const scalar_t* gai = ga.data() + (i * T + t) * N;
            for (int64_t n = 0; n < N; ++n) {
              axpy(ct[n], gs.data() + i * ND + n * D, dt + n * D, D);
              if (i < last) axpy(gai[n], vi + n * D, dt + n * D, D);
            }
          }
          tanh_backward_accumulate(dt, ut, db, ND);
          std::copy(row.begin(), row.end(), DP + (b * T + t) * ND);  // this row of u is not read again
        }
      }
    });
  });
  return dbias_part.sum(0);
}

// The float tanh of the forward pass, elementwise (for the tests' accuracy check).
torch::Tensor tanh_float(torch::Tensor x) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat, "tanh_float: expected a float CPU tensor");
  x = x.contiguous();
  auto out = torch::empty_like(x);
  std::vector<float> zero(x.numel(), 0.0f);
  tanh_bias(x.data_ptr<float>(), zero.data(), out.data_ptr<float>(), x.numel());
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("tanh_float", &tanh_float, "the kernel's float tanh");
  m.def("forward", &routing_forward, "fused capsule routing, forward");
  m.def("backward", &routing_backward, "fused capsule routing, backward");
}
