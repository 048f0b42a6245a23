// Host-side glue shared by the CPU and CUDA modules: argument checks, the PairIndex of a cost tensor, and the
// jobs of the CUDA team schedule (shared by s2dtw_cuda.cu and its host emulator s2dtw_emu.cpp).
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <c10/util/Exception.h>
#include <cmath>
#include <tuple>
#include <type_traits>
#include "s2dtw_cell.h"

namespace vt {

// pairwise: cost is (Bv, N, Bt, M); paired: (B, N, M). Any strides.
inline PairIndex make_index(const at::Tensor& x, const at::Tensor& vlen, const at::Tensor& tlen, bool pairwise) {
  PairIndex ix;
  ix.pairwise = pairwise;
  if (pairwise) { ix.Bt = x.size(2); ix.sA = x.stride(0); ix.sI = x.stride(1); ix.sB = x.stride(2); ix.sJ = x.stride(3); }
  else { ix.Bt = x.size(0); ix.sA = x.stride(0); ix.sB = 0; ix.sI = x.stride(1); ix.sJ = x.stride(2); }
  ix.vlen = vlen.data_ptr<int64_t>(); ix.tlen = tlen.data_ptr<int64_t>();
  return ix;
}

inline int64_t num_pairs(const at::Tensor& cost, bool pairwise) { return pairwise ? cost.size(0) * cost.size(2) : cost.size(0); }

// The checks both devices share (the Python layer validates values and reports them in user terms).
inline void check_common(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen, bool pairwise) {
  TORCH_CHECK(cost.dim() == (pairwise ? 4 : 3), "cost must be ", pairwise ? "(Bv, N, Bt, M)" : "(B, N, M)", ", got ", cost.sizes());
  TORCH_CHECK(cost.scalar_type() == at::kFloat || cost.scalar_type() == at::kDouble, "cost must be float32 or float64");
  TORCH_CHECK(vlen.device() == cost.device() && tlen.device() == cost.device(), "lengths must be on the device of cost");
  TORCH_CHECK(vlen.scalar_type() == at::kLong && tlen.scalar_type() == at::kLong, "lengths must be int64");
  TORCH_CHECK(vlen.is_contiguous() && tlen.is_contiguous(), "lengths must be contiguous");
  TORCH_CHECK(vlen.numel() == cost.size(0) && tlen.numel() == cost.size(pairwise ? 2 : 0), "lengths do not match the batch");
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
TeamJob<T> make_job(const at::Tensor& cost, const PairIndex& ix, bool pairwise, bool plain, double gamma,
                    double smooth_gamma, double tau) {
  TeamJob<T> job{};
  job.cost = cost.data_ptr<T>(); job.ix = ix;
  size_job(job, cost.size(1), cost.size(pairwise ? 3 : 2), num_pairs(cost, pairwise), plain);
  job.g = (T)gamma; job.sg = (T)smooth_gamma; job.tau = (T)tau;
  return job;
}

// The kernel writes every output entry; poison (for the emulator) fills the outputs with NaN first to prove it.
template <typename Run>
at::Tensor team_forward(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen, bool pairwise, bool plain,
                        double gamma, double smooth_gamma, double tau, bool poison, Run run) {
  auto out = pairwise ? at::empty({cost.size(0), cost.size(2)}, cost.options()) : at::empty({cost.size(0)}, cost.options());
  if (out.numel() == 0) return out;
  if (poison) out.fill_(NAN);
  auto ix = make_index(cost, vlen, tlen, pairwise);
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "s2dtw_team_forward", [&] {
    auto job = make_job<scalar_t>(cost, ix, pairwise, plain, gamma, smooth_gamma, tau);
    job.out = out.data_ptr<scalar_t>();
    run(job, std::false_type{});
  });
  return out;
}

// Gradient of sum(grad_out * D) w.r.t. cost; alignment=true gives grad_out * dD/dG on the real cells. Every pair
// writes its whole N x M block (zeros on padding), so no memset is needed. value (may be null) also receives D.
template <typename Run>
at::Tensor team_backward(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen, const at::Tensor& grad_out,
                         bool pairwise, bool plain, double gamma, double smooth_gamma, double tau, bool alignment,
                         bool poison, Run run, at::Tensor* value = nullptr) {
  const int64_t P = num_pairs(cost, pairwise);
  TORCH_CHECK(grad_out.device() == cost.device() && grad_out.numel() == P, "grad_out must have one entry per pair, on the device of cost");
  auto go = grad_out.to(cost.scalar_type()).contiguous();
  auto grad = at::empty(cost.sizes(), cost.options());
  if (value) *value = pairwise ? at::empty({cost.size(0), cost.size(2)}, cost.options()) : at::empty({P}, cost.options());
  if (grad.numel() == 0) return grad;
  if (poison) { grad.fill_(NAN); if (value) value->fill_(NAN); }
  auto ix = make_index(cost, vlen, tlen, pairwise), gx = make_index(grad, vlen, tlen, pairwise);
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "s2dtw_team_backward", [&] {
    auto job = make_job<scalar_t>(cost, ix, pairwise, plain, gamma, smooth_gamma, tau);
    job.gout = go.data_ptr<scalar_t>(); job.alignment = alignment; job.grad = grad.data_ptr<scalar_t>(); job.gx = gx;
    job.out = value ? value->data_ptr<scalar_t>() : nullptr;
    run(job, std::true_type{});
  });
  return grad;
}

// D and dD/dcost (each pair's own block, unit grad_out) in one pass: what training needs, without a second forward DP.
template <typename Run>
std::tuple<at::Tensor, at::Tensor> team_forward_backward(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen,
                                                         bool pairwise, bool plain, double gamma, double smooth_gamma,
                                                         double tau, bool poison, Run run) {
  at::Tensor value;
  auto grad = team_backward(cost, vlen, tlen, at::ones({num_pairs(cost, pairwise)}, cost.options()), pairwise, plain, gamma,
                            smooth_gamma, tau, false, poison, run, &value);
  return {value, grad};
}

}  // namespace vt
