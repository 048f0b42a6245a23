// Host-side glue shared by the CPU and CUDA kernels: argument checks, the PairIndex of a cost tensor, and the
// jobs of the CUDA team schedule (shared by s2dtw_cuda.cu and its host emulator s2dtw_emu.cpp). It speaks LibTorch's
// stable ABI only (torch/csrc/stable, torch/headeronly), so one build serves every torch from the floor on.
#pragma once
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/Exception.h>
#include <cmath>
#include <tuple>
#include <type_traits>
#include "s2dtw_cell.h"

namespace vt {

using torch::stable::Tensor;
using torch::headeronly::ScalarType;

// Calls f(T{}) with T the scalar type of a float32 or float64 tensor (check_common has checked it is one).
template <typename F> void dispatch_float(const Tensor& t, F f) {
  if (t.scalar_type() == ScalarType::Double) f(double{}); else f(float{});
}

// A new (size...) tensor of the dtype and device of like.
inline Tensor new_empty(const Tensor& like, std::initializer_list<int64_t> size) { return torch::stable::new_empty(like, size); }

// The distances of the pairs of cost: (Bv, Bt) pairwise, (B,) paired.
inline Tensor new_distances(const Tensor& cost, bool pairwise) {
  return pairwise ? new_empty(cost, {cost.size(0), cost.size(2)}) : new_empty(cost, {cost.size(0)});
}

// pairwise: cost is (Bv, N, Bt, M); paired: (B, N, M). Any strides.
inline PairIndex make_index(const Tensor& x, const Tensor& vlen, const Tensor& tlen, bool pairwise) {
  PairIndex ix{};
  ix.pairwise = pairwise;
  if (pairwise) { ix.Bt = x.size(2); ix.sA = x.stride(0); ix.sI = x.stride(1); ix.sB = x.stride(2); ix.sJ = x.stride(3); }
  else { ix.Bt = x.size(0); ix.sA = x.stride(0); ix.sB = 0; ix.sI = x.stride(1); ix.sJ = x.stride(2); }
  ix.vlen = vlen.const_data_ptr<int64_t>(); ix.tlen = tlen.const_data_ptr<int64_t>();
  return ix;
}

inline int64_t num_pairs(const Tensor& cost, bool pairwise) { return pairwise ? cost.size(0) * cost.size(2) : cost.size(0); }

// The checks both devices share (the Python layer validates values and reports them in user terms).
inline void check_common(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise) {
  STD_TORCH_CHECK(cost.dim() == (pairwise ? 4 : 3), "cost must be ", pairwise ? "(Bv, N, Bt, M)" : "(B, N, M)", ", got ",
                  cost.dim(), " dimensions");
  STD_TORCH_CHECK(cost.scalar_type() == ScalarType::Float || cost.scalar_type() == ScalarType::Double,
                  "cost must be float32 or float64");
  STD_TORCH_CHECK(vlen.device() == cost.device() && tlen.device() == cost.device(), "lengths must be on the device of cost");
  STD_TORCH_CHECK(vlen.scalar_type() == ScalarType::Long && tlen.scalar_type() == ScalarType::Long, "lengths must be int64");
  STD_TORCH_CHECK(vlen.is_contiguous() && tlen.is_contiguous(), "lengths must be contiguous");
  STD_TORCH_CHECK(vlen.numel() == cost.size(0) && tlen.numel() == cost.size(pairwise ? 2 : 0), "lengths do not match the batch");
}

// ---- Team schedule jobs: `run(job, std::bool_constant<BWD>{})` runs the schedule on the job ----
// The sizes of a job: P pairs of at most N x M, and one team's workspace layout, sized for the largest pair.
template <typename T> void size_job(TeamJob<T>& job, int64_t N, int64_t M, int64_t P, bool plain) {
  job.N = (int)N; job.M = (int)M; job.P = P; job.plain = plain;
  job.cs_elems = plain ? 0 : N * M;
  job.grid = grid_elems(N, M, plain);
}

// The job without outputs.
template <typename T>
TeamJob<T> make_job(const Tensor& cost, const PairIndex& ix, bool pairwise, bool plain, double gamma,
                    double smooth_gamma, double tau) {
  TeamJob<T> job{};
  job.cost = cost.const_data_ptr<T>(); job.ix = ix;
  size_job(job, cost.size(1), cost.size(pairwise ? 3 : 2), num_pairs(cost, pairwise), plain);
  job.g = (T)gamma; job.sg = (T)smooth_gamma; job.tau = (T)tau;
  return job;
}

// The kernel writes every output entry; poison (for the emulator) fills the outputs with NaN first to prove it.
template <typename Run>
Tensor team_forward(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise, bool plain,
                    double gamma, double smooth_gamma, double tau, bool poison, Run run) {
  auto out = new_distances(cost, pairwise);
  if (out.numel() == 0) return out;
  if (poison) torch::stable::fill_(out, NAN);
  auto ix = make_index(cost, vlen, tlen, pairwise);
  dispatch_float(cost, [&](auto zero) {
    using scalar_t = decltype(zero);
    auto job = make_job<scalar_t>(cost, ix, pairwise, plain, gamma, smooth_gamma, tau);
    job.out = out.mutable_data_ptr<scalar_t>();
    run(job, std::false_type{});
  });
  return out;
}

// Gradient of sum(grad_out * D) w.r.t. cost; alignment=true gives grad_out * dD/dG on the real cells. Every pair
// writes its whole N x M block (zeros on padding), so no memset is needed. value (may be null) also receives D.
template <typename Run>
Tensor team_backward(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, const Tensor& grad_out,
                     bool pairwise, bool plain, double gamma, double smooth_gamma, double tau, bool alignment,
                     bool poison, Run run, Tensor* value = nullptr) {
  const int64_t P = num_pairs(cost, pairwise);
  STD_TORCH_CHECK(grad_out.device() == cost.device() && grad_out.numel() == P, "grad_out must have one entry per pair, on the device of cost");
  auto go = torch::stable::contiguous(torch::stable::to(grad_out, cost.scalar_type()));
  auto grad = torch::stable::empty_like(cost);
  if (value) *value = new_distances(cost, pairwise);
  if (grad.numel() == 0) return grad;
  if (poison) { torch::stable::fill_(grad, NAN); if (value) torch::stable::fill_(*value, NAN); }
  auto ix = make_index(cost, vlen, tlen, pairwise), gx = make_index(grad, vlen, tlen, pairwise);
  dispatch_float(cost, [&](auto zero) {
    using scalar_t = decltype(zero);
    auto job = make_job<scalar_t>(cost, ix, pairwise, plain, gamma, smooth_gamma, tau);
    job.gout = go.const_data_ptr<scalar_t>(); job.alignment = alignment; job.grad = grad.mutable_data_ptr<scalar_t>(); job.gx = gx;
    job.out = value ? value->mutable_data_ptr<scalar_t>() : nullptr;
    run(job, std::true_type{});
  });
  return grad;
}

// D and dD/dcost (each pair's own block, unit grad_out) in one pass: what training needs, without a second forward DP.
template <typename Run>
std::tuple<Tensor, Tensor> team_forward_backward(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise,
                                                 bool plain, double gamma, double smooth_gamma, double tau, bool poison, Run run) {
  Tensor value;
  auto grad = team_backward(cost, vlen, tlen, torch::stable::fill_(new_empty(cost, {num_pairs(cost, pairwise)}), 1.0), pairwise, plain, gamma,
                            smooth_gamma, tau, false, poison, run, &value);
  return {value, grad};
}

}  // namespace vt
