// Host-side glue shared by the CPU and CUDA modules: argument checks and the PairIndex of a cost tensor.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
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

// The checks both devices share (the Python layer validates values and reports them in user terms).
inline void check_common(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen, bool pairwise) {
  TORCH_CHECK(cost.dim() == (pairwise ? 4 : 3), "cost must be ", pairwise ? "(Bv, N, Bt, M)" : "(B, N, M)", ", got ", cost.sizes());
  TORCH_CHECK(cost.scalar_type() == at::kFloat || cost.scalar_type() == at::kDouble, "cost must be float32 or float64");
  TORCH_CHECK(vlen.device() == cost.device() && tlen.device() == cost.device(), "lengths must be on the device of cost");
  TORCH_CHECK(vlen.scalar_type() == at::kLong && tlen.scalar_type() == at::kLong, "lengths must be int64");
  TORCH_CHECK(vlen.is_contiguous() && tlen.is_contiguous(), "lengths must be contiguous");
  TORCH_CHECK(vlen.numel() == cost.size(0) && tlen.numel() == cost.size(pairwise ? 2 : 0), "lengths do not match the batch");
}

}  // namespace vt
