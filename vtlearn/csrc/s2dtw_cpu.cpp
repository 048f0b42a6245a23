// CPU kernel of S2DTW / soft-DTW: the operators vtlearn::dtw_forward, dtw_backward and dtw_forward_backward (their
// schemas, for every device, are defined here; s2dtw_cuda.cu adds the CUDA kernels). Inputs are costs (not
// similarities): pairwise (Bv, N, Bt, M) or paired (B, N, M), any strides. The computation is s2dtw_cpu_kernels.h,
// built for the baseline here and for wider instruction sets in s2dtw_cpu_avx2.cpp and s2dtw_cpu_avx512.cpp; the
// operators run the widest build this CPU supports. LibTorch's stable ABI only (s2dtw_host.h).
#include <cstdlib>
#include <string>
#include <vector>
#include "s2dtw_host.h"
#include "s2dtw_cpu_isa.h"
#include "s2dtw_cpu_kernels.h"

using vt::PairIndex;
using vt::Tensor;
using vt::num_pairs;

void check_args(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise) {
  vt::check_common(cost, vlen, tlen, pairwise);
  STD_TORCH_CHECK(cost.is_cpu(), "cost must be a CPU tensor");
  // The lengths index the cost blocks and size the DP: every entry point checks them here, on the host (CPU tensors:
  // no sync), whatever the caller did (torch.compile skips the Python checks).
  auto in_range = [](const Tensor& len, int64_t max, const char* name) {
    const int64_t* l = len.const_data_ptr<int64_t>();
    for (int64_t i = 0; i < len.numel(); ++i)
      STD_TORCH_CHECK(l[i] >= 1 && l[i] <= max, name, " must lie in [1, ", max, "], got ", l[i], " at index ", i);
  };
  in_range(vlen, cost.size(1), "video_lengths");
  in_range(tlen, cost.size(pairwise ? 3 : 2), "text_lengths");
}

// The widest build of the computation that this CPU runs (0 baseline, 1 AVX2, 2 AVX-512), chosen once;
// VTLEARN_CPU_ISA=baseline or avx2 caps it (tests run every build on one machine that way).
int64_t cpu_isa() {
  static const int64_t isa = [] {
#ifdef VT_ISA_DISPATCH
    const char* cap = std::getenv("VTLEARN_CPU_ISA");
    const std::string want = cap ? cap : "";
    __builtin_cpu_init();
    if (want != "baseline" && want != "avx2" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return 2;
    if (want != "baseline" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
      return 1;
#endif
    return 0;
  }();
  return isa;
}

void run(const vt::CpuCall& call) {
#ifdef VT_ISA_DISPATCH
  if (cpu_isa() == 2) return vt::run_cpu_avx512(call);
  if (cpu_isa() == 1) return vt::run_cpu_avx2(call);
#endif
  vt::run_cpu(call);
}

// The kernels' threads: torch's intra-op pool (torch.set_num_threads), so no OpenMP flag or runtime of their own.
static void parallel_for(int64_t begin, int64_t end, void (*fn)(int64_t, int64_t, void*), void* ctx) {
  STABLE_TORCH_ERROR_CODE_CHECK(torch_parallel_for(begin, end, 1, fn, ctx));
}

// The call's common part; out (may be null) receives the distances.
vt::CpuCall make_call(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise, bool plain, double gamma,
                      double smooth_gamma, double tau, void* out) {
  vt::CpuCall k{};
  k.f64 = cost.scalar_type() == vt::ScalarType::Double; k.plain = plain;
  k.threads = (int)torch::stable::get_num_threads(); k.parallel = parallel_for;
  k.cost = cost.const_data_ptr(); k.out = out;
  k.ix = vt::make_index(cost, vlen, tlen, pairwise);
  k.P = num_pairs(cost, pairwise); k.N = cost.size(1); k.M = cost.size(pairwise ? 3 : 2);
  k.g = gamma; k.sg = smooth_gamma; k.tau = tau;
  return k;
}

Tensor dtw_forward(Tensor cost, Tensor vlen, Tensor tlen, bool pairwise, bool plain, double gamma, double smooth_gamma,
                   double tau) {
  check_args(cost, vlen, tlen, pairwise);
  auto out = vt::new_distances(cost, pairwise);
  run(make_call(cost, vlen, tlen, pairwise, plain, gamma, smooth_gamma, tau, out.mutable_data_ptr()));
  return out;
}

// Gradient of sum(grad_out * D) w.r.t. cost (zero on padding); alignment=true gives grad_out * dD/dG on the real cells.
// value (may be null) also receives D.
Tensor backward_impl(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, const Tensor& grad_out, bool pairwise,
                     bool plain, double gamma, double smooth_gamma, double tau, bool alignment, Tensor* value) {
  check_args(cost, vlen, tlen, pairwise);
  STD_TORCH_CHECK(grad_out.numel() == num_pairs(cost, pairwise), "grad_out must have one entry per pair");
  auto grad = torch::stable::new_zeros(cost, cost.sizes());
  if (value) *value = vt::new_distances(cost, pairwise);
  auto go = torch::stable::contiguous(torch::stable::to(grad_out, cost.scalar_type()));
  auto k = make_call(cost, vlen, tlen, pairwise, plain, gamma, smooth_gamma, tau, value ? value->mutable_data_ptr() : nullptr);
  k.gout = go.const_data_ptr(); k.grad = grad.mutable_data_ptr(); k.alignment = alignment;
  k.gx = vt::make_index(grad, vlen, tlen, pairwise);
  run(k);
  return grad;
}

Tensor dtw_backward(Tensor cost, Tensor vlen, Tensor tlen, Tensor grad_out, bool pairwise, bool plain, double gamma,
                    double smooth_gamma, double tau, bool alignment) {
  return backward_impl(cost, vlen, tlen, grad_out, pairwise, plain, gamma, smooth_gamma, tau, alignment, nullptr);
}

// D and dD/dcost (each pair's own block) in one pass: what training needs, without running the forward DP twice.
std::tuple<Tensor, Tensor> dtw_forward_backward(Tensor cost, Tensor vlen, Tensor tlen, bool pairwise, bool plain,
                                                double gamma, double smooth_gamma, double tau) {
  Tensor value;
  auto ones = torch::stable::fill_(vt::new_empty(cost, {num_pairs(cost, pairwise)}), 1.0);
  auto grad = backward_impl(cost, vlen, tlen, ones, pairwise, plain, gamma, smooth_gamma, tau, false, &value);
  return {value, grad};
}

// The schemas: one definition for every device (only one library block may name the namespace). The fake (meta)
// kernels, for torch.compile and FakeTensor, and the autograd formula are registered in Python, by vtlearn.kernels.register_ops.
STABLE_TORCH_LIBRARY(vtlearn, m) {
  m.def("dtw_forward(Tensor cost, Tensor video_lengths, Tensor text_lengths, bool pairwise, bool plain, float gamma, "
        "float smooth_gamma, float threshold) -> Tensor");
  m.def("dtw_forward_backward(Tensor cost, Tensor video_lengths, Tensor text_lengths, bool pairwise, bool plain, "
        "float gamma, float smooth_gamma, float threshold) -> (Tensor, Tensor)");
  m.def("dtw_backward(Tensor cost, Tensor video_lengths, Tensor text_lengths, Tensor grad_out, bool pairwise, bool plain, "
        "float gamma, float smooth_gamma, float threshold, bool alignment) -> Tensor");
  m.def("cpu_isa() -> int");
}

STABLE_TORCH_LIBRARY_IMPL(vtlearn, CPU, m) {
  m.impl("dtw_forward", TORCH_BOX(&dtw_forward));
  m.impl("dtw_forward_backward", TORCH_BOX(&dtw_forward_backward));
  m.impl("dtw_backward", TORCH_BOX(&dtw_backward));
}

STABLE_TORCH_LIBRARY_IMPL(vtlearn, CompositeExplicitAutograd, m) { m.impl("cpu_isa", TORCH_BOX(&cpu_isa)); }
