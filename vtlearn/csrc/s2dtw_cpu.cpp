// CPU kernel of S2DTW / soft-DTW: OpenMP over pairs, one sequential DP per pair, float32 and float64.
// Inputs are costs (not similarities): pairwise (Bv, N, Bt, M) or paired (B, N, M), any strides.
// Registered as the PyTorch operators vtlearn::dtw_forward, dtw_backward and dtw_forward_backward (TORCH_LIBRARY
// below holds their schemas, for every device; s2dtw_cuda.cu adds the CUDA kernels). Lean includes, not
// torch/extension.h (the whole C++ frontend and pybind11): they halve the build time.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>
#include <type_traits>
#include <vector>
#include "s2dtw_host.h"

using vt::PairDP;
using vt::PairIndex;

void check_args(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen, bool pairwise) {
  vt::check_common(cost, vlen, tlen, pairwise);
  TORCH_CHECK(cost.is_cpu(), "cost must be a CPU tensor");
  // The lengths index the cost blocks and size the DP: every entry point checks them here, on the host (CPU tensors:
  // no sync), whatever the caller did (torch.compile skips the Python checks).
  auto in_range = [](const at::Tensor& len, int64_t max, const char* name) {
    const int64_t* l = len.data_ptr<int64_t>();
    for (int64_t i = 0; i < len.numel(); ++i)
      TORCH_CHECK(l[i] >= 1 && l[i] <= max, name, " must lie in [1, ", max, "], got ", l[i], " at index ", i);
  };
  in_range(vlen, cost.size(1), "video_lengths");
  in_range(tlen, cost.size(pairwise ? 3 : 2), "text_lengths");
}
using vt::make_index;

// The DP visits strips of K rows along skewed anti-diagonals: the K cells of one step are independent, so their
// exp/log chains overlap in the CPU pipeline instead of waiting on the left neighbour (about 3x faster than row order).
constexpr int K = 8;

template <typename T, typename F> void strips(int rows, int cols, bool reverse, F cell) {
  for (int s0 = 0; s0 < rows; s0 += K) {
    int p0 = reverse ? rows - 1 - s0 : s0, k1 = rows - s0 < K ? rows - s0 : K;
    for (int s = 0; s < cols + k1 - 1; ++s)
      for (int k = 0; k < k1; ++k) {
        int q = s - k;
        if (q >= 0 && q < cols) reverse ? cell(p0 - k, cols - 1 - q) : cell(p0 + k, q);
      }
  }
}

template <typename T> void forward_pair(const PairDP<T>& d) {
  if (!d.plain)
    for (int i = 0; i < d.n; ++i) for (int j = 0; j < d.m; ++j) d.smooth_cell(i, j);
  for (int k = 0; k < d.rows() + d.cols() + 1; ++k) d.init_border(k);
  strips<T>(d.rows(), d.cols(), false, [&](int p, int q) { d.fwd_cell(p, q); });
}

template <typename T> void backward_pair(const PairDP<T>& d) {
  forward_pair(d);
  strips<T>(d.rows(), d.cols(), true, [&](int p, int q) { d.bwd_cell(p, q); });
}

using vt::num_pairs;

#include "s2dtw_cpu_simd.h"
using vt::simd::LaneDP;
using vt::simd::vf;
constexpr int L = vt::simd::L;

// Work items: `count` pairs from `order[start]` on; count == L means one SIMD group of equal (n, m).
struct Task { int64_t start; int count; };

// Pairs ordered by (n, m) (a counting sort), cut into SIMD groups of L equal-length pairs plus single pairs.
std::vector<Task> make_tasks(const PairIndex& ix, int64_t P, int64_t N, int64_t M, bool simd, std::vector<int64_t>& order) {
  order.resize(P);
  std::vector<int64_t> count((N + 1) * (M + 1) + 1, 0);
  auto key = [&](int64_t p) { return ix.vlen[ix.a(p)] * (M + 1) + ix.tlen[ix.b(p)]; };
  for (int64_t p = 0; p < P; ++p) ++count[key(p) + 1];
  for (size_t k = 1; k < count.size(); ++k) count[k] += count[k - 1];
  for (int64_t p = 0; p < P; ++p) order[count[key(p)]++] = p;
  std::vector<Task> tasks;
  for (int64_t s = 0; s < P;) {
    int64_t e = s;
    while (e < P && key(order[e]) == key(order[s])) ++e;
    for (; simd && s + L <= e; s += L) tasks.push_back({s, L});
    for (; s < e; ++s) tasks.push_back({s, 1});
  }
  return tasks;
}

// The SIMD path takes float32, soft (gamma > 0), and grids whose lane workspaces stay small (~16 MB a buffer).
template <typename T> bool use_simd(int64_t N, int64_t M, bool plain, T g) {
  return std::is_same<T, float>::value && g > 0 && vt::grid_elems(N, M, plain) <= (1 << 18);
}

struct LaneBuffers {
  std::vector<vf> c, cs, R, E, Lg, Ls;
  LaneDP dp(const PairIndex& ix, const float* cost, const int64_t* ids, bool plain, float g, float sg, float tau, bool with_E) {
    LaneDP d;
    d.n = (int)ix.vlen[ix.a(ids[0])]; d.m = (int)ix.tlen[ix.b(ids[0])];
    d.plain = plain; d.g = g; d.ig = 1.f / g; d.sg = sg; d.isg = 1.f / sg; d.tau = tau;
    int64_t nm = (int64_t)d.n * d.m, grid = (int64_t)(d.rows() + 1) * (d.cols() + 1);
    c.resize(nm); cs.resize(nm); R.resize(grid);
    if (with_E) { E.resize(grid); Lg.resize(grid); Ls.resize(nm); }
    for (int l = 0; l < L; ++l) {
      const float* b = cost + ix.base(ids[l]);
      for (int i = 0; i < d.n; ++i) for (int j = 0; j < d.m; ++j) c[i * d.m + j][l] = b[i * ix.sI + j * ix.sJ];
    }
    d.c = c.data(); d.cs = cs.data(); d.R = R.data();
    d.E = with_E ? E.data() : nullptr; d.L = with_E ? Lg.data() : nullptr; d.Ls = with_E ? Ls.data() : nullptr;
    return d;
  }
};

template <typename T>
void forward_cpu(const T* c, PairIndex ix, int64_t P, int64_t N, int64_t M, bool plain, T g, T sg, T tau, T* out) {
  std::vector<int64_t> order;
  auto tasks = make_tasks(ix, P, N, M, use_simd(N, M, plain, g), order);
#pragma omp parallel num_threads(at::get_num_threads())
  {
    std::vector<T> cs(N * M), R(vt::grid_elems(N, M, plain));
    LaneBuffers lb;
#pragma omp for schedule(dynamic, 4)
    for (int64_t t = 0; t < (int64_t)tasks.size(); ++t) {
      const int64_t* ids = order.data() + tasks[t].start;
      if constexpr (std::is_same<T, float>::value) {
        if (tasks[t].count == L) {
          auto d = lb.dp(ix, c, ids, plain, g, sg, tau, false);
          d.forward();
          for (int l = 0; l < L; ++l) out[ids[l]] = d.r(d.rows() - 1, d.cols() - 1)[l];
          continue;
        }
      }
      auto d = ix.dp<T>(c, ids[0], plain, g, sg, tau);
      d.cs = cs.data(); d.R = R.data();
      forward_pair(d);
      out[ids[0]] = d.r(d.rows() - 1, d.cols() - 1);
    }
  }
}

// out (may be null) also receives each pair's distance: the forward and the backward in one pass.
template <typename T>
void backward_cpu(const T* c, PairIndex ix, PairIndex gx, int64_t P, int64_t N, int64_t M, bool plain, T g, T sg, T tau,
                  const T* gout, bool alignment, T* grad, T* out) {
  std::vector<int64_t> order;
  auto tasks = make_tasks(ix, P, N, M, use_simd(N, M, plain, g), order);
#pragma omp parallel num_threads(at::get_num_threads())
  {
    const int64_t grid = vt::grid_elems(N, M, plain);
    std::vector<T> cs(N * M), Ls(N * M), R(grid), E(grid), Lg(grid);
    LaneBuffers lb;
#pragma omp for schedule(dynamic, 4)
    for (int64_t t = 0; t < (int64_t)tasks.size(); ++t) {
      const int64_t* ids = order.data() + tasks[t].start;
      if constexpr (std::is_same<T, float>::value) {
        if (tasks[t].count == L) {
          auto d = lb.dp(ix, c, ids, plain, g, sg, tau, true);
          d.backward();
          if (out) for (int l = 0; l < L; ++l) out[ids[l]] = d.r(d.rows() - 1, d.cols() - 1)[l];
          for (int i = 0; i < d.n; ++i)
            for (int j = 0; j < d.m; ++j) {
              vf v = alignment ? d.align(i, j) : d.dcost(i, j);
              for (int l = 0; l < L; ++l) grad[gx.base(ids[l]) + i * gx.sI + j * gx.sJ] = gout[ids[l]] * v[l];
            }
          continue;
        }
      }
      auto d = ix.dp<T>(c, ids[0], plain, g, sg, tau);
      d.cs = cs.data(); d.R = R.data(); d.E = E.data(); d.L = Lg.data(); d.Ls = Ls.data();
      backward_pair(d);
      if (out) out[ids[0]] = d.r(d.rows() - 1, d.cols() - 1);
      T* gp = grad + gx.base(ids[0]);
      for (int i = 0; i < d.n; ++i)
        for (int j = 0; j < d.m; ++j)
          gp[i * gx.sI + j * gx.sJ] = gout[ids[0]] * (alignment ? d.align(i, j) : d.dcost(i, j));
    }
  }
}

at::Tensor dtw_forward(at::Tensor cost, at::Tensor vlen, at::Tensor tlen, bool pairwise, bool plain,
                          double gamma, double smooth_gamma, double tau) {
  check_args(cost, vlen, tlen, pairwise);
  const int64_t N = cost.size(1), M = cost.size(pairwise ? 3 : 2), P = num_pairs(cost, pairwise);
  auto out = pairwise ? at::empty({cost.size(0), cost.size(2)}, cost.options()) : at::empty({P}, cost.options());
  auto ix = make_index(cost, vlen, tlen, pairwise);
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "dtw_forward_cpu", [&] {
    forward_cpu<scalar_t>(cost.data_ptr<scalar_t>(), ix, P, N, M, plain, gamma, smooth_gamma, tau, out.data_ptr<scalar_t>());
  });
  return out;
}

// Gradient of sum(grad_out * D) w.r.t. cost (zero on padding); alignment=true gives grad_out * dD/dG on the real cells.
// value (may be null) also receives D.
at::Tensor backward_impl(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen,
                            const at::Tensor& grad_out, bool pairwise, bool plain, double gamma, double smooth_gamma,
                            double tau, bool alignment, at::Tensor* value) {
  check_args(cost, vlen, tlen, pairwise);
  const int64_t N = cost.size(1), M = cost.size(pairwise ? 3 : 2), P = num_pairs(cost, pairwise);
  TORCH_CHECK(grad_out.numel() == P, "grad_out must have one entry per pair");
  auto grad = at::zeros(cost.sizes(), cost.options());
  if (value) *value = pairwise ? at::empty({cost.size(0), cost.size(2)}, cost.options()) : at::empty({P}, cost.options());
  auto go = grad_out.to(cost.scalar_type()).contiguous();
  auto ix = make_index(cost, vlen, tlen, pairwise), gx = make_index(grad, vlen, tlen, pairwise);
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "dtw_backward_cpu", [&] {
    backward_cpu<scalar_t>(cost.data_ptr<scalar_t>(), ix, gx, P, N, M, plain, gamma, smooth_gamma, tau,
                           go.data_ptr<scalar_t>(), alignment, grad.data_ptr<scalar_t>(),
                           value ? value->data_ptr<scalar_t>() : nullptr);
  });
  return grad;
}

at::Tensor dtw_backward(at::Tensor cost, at::Tensor vlen, at::Tensor tlen, at::Tensor grad_out,
                           bool pairwise, bool plain, double gamma, double smooth_gamma, double tau, bool alignment) {
  return backward_impl(cost, vlen, tlen, grad_out, pairwise, plain, gamma, smooth_gamma, tau, alignment, nullptr);
}

// D and dD/dcost (each pair's own block) in one pass: what training needs, without running the forward DP twice.
std::tuple<at::Tensor, at::Tensor> dtw_forward_backward(at::Tensor cost, at::Tensor vlen, at::Tensor tlen,
                                                              bool pairwise, bool plain, double gamma, double smooth_gamma,
                                                              double tau) {
  at::Tensor value;
  const int64_t P = num_pairs(cost, pairwise);
  auto grad = backward_impl(cost, vlen, tlen, at::ones({P}, cost.options()), pairwise, plain, gamma, smooth_gamma, tau,
                            false, &value);
  return {value, grad};
}

// The schemas: one definition for every device (only one TORCH_LIBRARY block may name the namespace). The fake
// (meta) kernels, for torch.compile and FakeTensor, and the autograd formula are registered in Python, by vtlearn.align.
TORCH_LIBRARY(vtlearn, m) {
  m.set_python_module("vtlearn.align");
  m.def("dtw_forward(Tensor cost, Tensor video_lengths, Tensor text_lengths, bool pairwise, bool plain, float gamma, "
        "float smooth_gamma, float threshold) -> Tensor");
  m.def("dtw_forward_backward(Tensor cost, Tensor video_lengths, Tensor text_lengths, bool pairwise, bool plain, "
        "float gamma, float smooth_gamma, float threshold) -> (Tensor, Tensor)");
  m.def("dtw_backward(Tensor cost, Tensor video_lengths, Tensor text_lengths, Tensor grad_out, bool pairwise, bool plain, "
        "float gamma, float smooth_gamma, float threshold, bool alignment) -> Tensor");
}

TORCH_LIBRARY_IMPL(vtlearn, CPU, m) {
  m.impl("dtw_forward", &dtw_forward);
  m.impl("dtw_forward_backward", &dtw_forward_backward);
  m.impl("dtw_backward", &dtw_backward);
}
