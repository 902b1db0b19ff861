// Per-thread CPU state for every intra-op thread of torch: the FTZ/DAZ (flush denormals) mode.
//
// torch.set_flush_denormal sets the calling thread only; torch's OpenMP workers started before it keep their
// own mode (measured: with 2 threads, half of an elementwise op's denormal outputs stayed denormal).
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cstdint>

namespace {

// Set (on) or clear (off) flushing on each of the intra-op threads; returns how many threads it ran on.
int64_t set_flush_denormal_all(bool on) {
  const int64_t n = at::get_num_threads();
  std::atomic<int64_t> done{0};
  // one unit of work per thread, grain 1: OpenMP hands each thread of the team exactly one
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      at::globalContext().setFlushDenormal(on);
      done += 1;
    }
  });
  return done.load();
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("set_flush_denormal_all", &set_flush_denormal_all, "FTZ/DAZ on every intra-op thread of torch");
}
