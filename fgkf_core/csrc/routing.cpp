// Fused dynamic routing for the capsule layer (relevance.CapsuleRouting), forward and backward, on CPU.
//
// Computes exactly relevance.route(tanh(pre + bias), mask, iters) for right-padded batches, one sentence at
// a time: that sentence's prediction vectors u [L, N, D] stay in cache through every routing iteration,
// padding is skipped, and tanh, the bias and their gradients are fused into the first and last passes.
// Deterministic: fixed loop order, per-sentence partial sums reduced in sentence order.
// The projection may come in bfloat16 (routing_dtype=bfloat16: the matmuls run in bf16): the kernel then
// widens it to float in its tanh pass and writes the projection's gradient back in bfloat16.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

using bf16 = c10::BFloat16;

// element k of a projection buffer as the compute type (bfloat16 widened by a shift, exactly)
template <typename T>
inline T load(const T* p, int64_t k) { return p[k]; }
inline float load(const bf16* p, int64_t k) {
  const uint32_t bits = static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(p)[k]) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// store x into element k, rounding to nearest even for bfloat16 (as c10::BFloat16; gradients are finite)
template <typename T>
inline void store(T* p, int64_t k, T x) { p[k] = x; }
inline void store(bf16* p, int64_t k, float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  reinterpret_cast<uint16_t*>(p)[k] = static_cast<uint16_t>(bits >> 16);
}

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

// out = tanh(pre + bias); pre may be out itself (in place) or a bfloat16 projection
template <typename In, typename T>
inline void tanh_bias(const In* pre, const T* bias, T* out, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) out[k] = tanh_approx(load(pre, k) + bias[k]);
  } else {
    for (int64_t k = 0; k < n; ++k) out[k] = std::tanh(load(pre, k) + bias[k]);
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

void check_inputs(const torch::Tensor& pre, const torch::Tensor& u, const torch::Tensor& lengths, int64_t n_caps,
                  int64_t iters) {
  TORCH_CHECK(pre.device().is_cpu() && pre.dim() == 3 && pre.is_contiguous(),
              "fused routing: expected a contiguous CPU tensor pre [B, T, N*D], got ", pre.sizes());
  TORCH_CHECK(u.sizes() == pre.sizes() && u.is_contiguous() && u.is_floating_point() &&
                  u.scalar_type() != torch::kBFloat16 &&
                  (pre.scalar_type() == u.scalar_type() ||
                   (pre.scalar_type() == torch::kBFloat16 && u.scalar_type() == torch::kFloat)),
              "fused routing: expected u of pre's shape in pre's dtype (float for a bfloat16 pre), got ",
              u.scalar_type(), " ", u.sizes(), " for ", pre.scalar_type(), " ", pre.sizes());
  TORCH_CHECK(n_caps > 0 && pre.size(2) % n_caps == 0, "fused routing: N*D=", pre.size(2),
              " is not a multiple of N=", n_caps);
  TORCH_CHECK(iters >= 1, "fused routing: expected iters >= 1, got ", iters);
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == pre.size(0) && lengths.scalar_type() == torch::kLong,
              "fused routing: expected int64 lengths [B]");
  TORCH_CHECK(lengths.min().item<int64_t>() >= 0 && lengths.max().item<int64_t>() <= pre.size(1),
              "fused routing: lengths must lie in [0, T]");
}

// Routing of one batch: u = tanh(pre + bias) for real rows (padding rows of u are never written or read),
// then `iters` routing iterations; fills c [iters, B, T, N], s and vs [iters, B, N, D].
template <typename In, typename T>
void forward_impl(const In* P, T* U, const T* bi, const int64_t* len, T* C, T* S, T* V, int64_t B, int64_t T_,
                  int64_t ND, int64_t N, int64_t iters, T e) {
  const int64_t D = ND / N;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> logits;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t L = len[b];
      T* ub = U + b * T_ * ND;
      const In* pb = P + b * T_ * ND;
      logits.assign(L * N, 0);
      for (int64_t it = 0; it < iters; ++it) {
        T* sb = S + (it * B + b) * ND;
        T* cb = C + (it * B + b) * T_ * N;
        const T* vprev = it > 0 ? V + ((it - 1) * B + b) * ND : nullptr;
        for (int64_t t = 0; t < L; ++t) {
          T* ut = ub + t * ND;
          if (it == 0) tanh_bias(pb + t * ND, bi, ut, ND);  // pre -> u (in place when pre is u)
          T* lt = logits.data() + t * N;
          if (it > 0)
            for (int64_t n = 0; n < N; ++n) lt[n] += dot(ut + n * D, vprev + n * D, D);  // agreement
          T mx = lt[0];
          for (int64_t n = 1; n < N; ++n) mx = std::max(mx, lt[n]);
          T sum = 0;
          T* ct = cb + t * N;
          for (int64_t n = 0; n < N; ++n) sum += (ct[n] = std::exp(lt[n] - mx));
          for (int64_t n = 0; n < N; ++n) ct[n] /= sum;  // coupling over output capsules
          for (int64_t n = 0; n < N; ++n) axpy(ct[n], ut + n * D, sb + n * D, D);
        }
        T* vb = V + (it * B + b) * ND;
        for (int64_t n = 0; n < N; ++n) squash(sb + n * D, vb + n * D, D, e);
      }
    }
  });
}

}  // namespace

// Writes u = tanh(pre + bias) into u (which may be pre itself: no second [B, T, N*D] buffer; rows past a
// sentence's length are left as they are and never read) and returns (v [B, N, D], c [iters, B, T, N], s and
// vs [iters, B, N, D]). pre is u's dtype, or bfloat16 for a float u.
std::vector<torch::Tensor> routing_forward(torch::Tensor pre, torch::Tensor u, torch::Tensor bias,
                                           torch::Tensor lengths, int64_t n_caps, int64_t iters, double eps) {
  check_inputs(pre, u, lengths, n_caps, iters);
  lengths = lengths.contiguous();
  bias = bias.contiguous();
  const int64_t B = pre.size(0), T = pre.size(1), ND = pre.size(2), N = n_caps, D = ND / N;
  auto c = torch::empty({iters, B, T, N}, u.options());
  auto s = torch::zeros({iters, B, N, D}, u.options());
  auto vs = torch::zeros({iters, B, N, D}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "routing_forward", [&] {
    auto run = [&](const auto* P) {
      forward_impl(P, u.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(), lengths.data_ptr<int64_t>(),
                   c.data_ptr<scalar_t>(), s.data_ptr<scalar_t>(), vs.data_ptr<scalar_t>(), B, T, ND, N, iters,
                   static_cast<scalar_t>(eps));
    };
    if (pre.scalar_type() == torch::kBFloat16)
      run(pre.data_ptr<bf16>());
    else
      run(pre.data_ptr<scalar_t>());
  });
  return {vs[iters - 1], c, s, vs};
}

namespace {

// The backward of forward_impl for one batch: writes d pre into DP (zero at padding; DP may be U itself,
// each row of u being read for the last time just before its gradient overwrites it) and d bias per sentence.
template <typename T, typename Out>
void backward_impl(const T* G, const T* U, Out* DP, const T* C, const T* S, const T* V, const int64_t* len, T* DB,
                   int64_t B, int64_t T_, int64_t ND, int64_t N, int64_t iters, T e) {
  const int64_t D = ND / N;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> gs(iters * ND), ga(iters * T_ * N), gvprev(ND), gc(N), row(ND);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t L = len[b];
      const T* ub = U + b * T_ * ND;
      std::fill(ga.begin(), ga.end(), T(0));  // ga[i]: d loss / d agreement_i (none for the last)
      const int64_t last = iters - 1;
      const T* s_last = S + (last * B + b) * ND;
      for (int64_t n = 0; n < N; ++n)
        squash_backward(s_last + n * D, G + b * ND + n * D, gs.data() + last * ND + n * D, D, e);
      for (int64_t i = last; i >= 1; --i) {  // logits_i = sum_{j<i} agreement_j
        const T* cb = C + (i * B + b) * T_ * N;
        std::fill(gvprev.begin(), gvprev.end(), T(0));
        for (int64_t t = 0; t < L; ++t) {
          const T* ut = ub + t * ND;
          const T* ct = cb + t * N;
          T cg = 0;
          for (int64_t n = 0; n < N; ++n) {
            gc[n] = dot(ut + n * D, gs.data() + i * ND + n * D, D);
            cg += ct[n] * gc[n];
          }
          T* ga_prev = ga.data() + ((i - 1) * T_ + t) * N;
          const T* ga_next = ga.data() + (i * T_ + t) * N;  // zero for i = last
          for (int64_t n = 0; n < N; ++n) {
            ga_prev[n] = ga_next[n] + ct[n] * (gc[n] - cg);  // softmax backward, accumulated over iterations
            axpy(ga_prev[n], ut + n * D, gvprev.data() + n * D, D);
          }
        }
        const T* s_prev = S + ((i - 1) * B + b) * ND;
        for (int64_t n = 0; n < N; ++n)
          squash_backward(s_prev + n * D, gvprev.data() + n * D, gs.data() + (i - 1) * ND + n * D, D, e);
      }
      T* db = DB + b * ND;
      Out* dpb = DP + b * T_ * ND;
      for (int64_t k = L * ND; k < T_ * ND; ++k) store(dpb, k, T(0));  // padding gets no gradient
      for (int64_t t = 0; t < L; ++t) {  // du = sum_i c_i gs_i + sum_{i<last} ga_i v_i; dpre = du (1 - u^2)
        const T* ut = ub + t * ND;
        T* dt = row.data();
        std::fill(row.begin(), row.end(), T(0));
        for (int64_t i = 0; i < iters; ++i) {
          const T* ct = C + ((i * B + b) * T_ + t) * N;
          const T* vi = V + (i * B + b) * ND;
          const T* gai = ga.data() + (i * T_ + t) * N;
          for (int64_t n = 0; n < N; ++n) {
            axpy(ct[n], gs.data() + i * ND + n * D, dt + n * D, D);
            if (i < last) axpy(gai[n], vi + n * D, dt + n * D, D);
          }
        }
        tanh_backward_accumulate(dt, ut, db, ND);
        Out* out = dpb + t * ND;  // this row of u is not read again
#pragma omp simd
        for (int64_t k = 0; k < ND; ++k) store(out, k, dt[k]);
      }
    }
  });
}

}  // namespace

// d bias [N*D] from the output gradient gv [B, N, D] and the saved tensors; writes d pre [B, T, N*D] (zero at
// padding) into dpre: u itself (then the saved u cannot serve a second backward) or a bfloat16 buffer.
torch::Tensor routing_backward(torch::Tensor gv, torch::Tensor u, torch::Tensor c, torch::Tensor s,
                               torch::Tensor vs, torch::Tensor lengths, int64_t n_caps, double eps,
                               torch::Tensor dpre) {
  TORCH_CHECK(dpre.sizes() == u.sizes() && dpre.is_contiguous() &&
                  (dpre.scalar_type() == u.scalar_type() ||
                   (dpre.scalar_type() == torch::kBFloat16 && u.scalar_type() == torch::kFloat)),
              "fused routing: expected d pre of u's shape in u's dtype (or bfloat16 for a float u), got ",
              dpre.scalar_type(), " ", dpre.sizes());
  gv = gv.contiguous();
  lengths = lengths.contiguous();
  const int64_t iters = c.size(0);
  const int64_t B = u.size(0), T = u.size(1), ND = u.size(2), N = n_caps;
  auto dbias_part = torch::zeros({B, ND}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "routing_backward", [&] {
    auto run = [&](auto* DP) {
      backward_impl(gv.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), DP, c.data_ptr<scalar_t>(),
                    s.data_ptr<scalar_t>(), vs.data_ptr<scalar_t>(), lengths.data_ptr<int64_t>(),
                    dbias_part.data_ptr<scalar_t>(), B, T, ND, N, iters, static_cast<scalar_t>(eps));
    };
    if (dpre.scalar_type() == torch::kBFloat16)
      run(dpre.data_ptr<bf16>());
    else
      run(dpre.data_ptr<scalar_t>());
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
