// CUDA kernel of S2DTW / soft-DTW, float32 and float64, same interface as s2dtw_cpu.cpp.
// Schedule: a *team* of lanes per pair (vt::run_team in s2dtw_cell.h: anti-diagonals in parallel, a team
// sync between them). Teams of 8/16/32 lanes are tiles of a warp (__syncwarp on the tile's mask), teams of
// 64/128/256 lanes are a whole block (__syncthreads). The workspace (cs | R | E) of a team lives in dynamic
// shared memory when it fits, else in a bounded global buffer that teams reuse pair after pair.
// Environment overrides, for tests and tuning: VTLEARN_S2DTW_TEAM=8..256 forces the team size,
// VTLEARN_S2DTW_GLOBAL=1 forces the global-memory workspace.
// Lean includes (not torch/extension.h, the whole C++ frontend): they halve the build time.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <torch/csrc/utils/pybind.h>
// c10 headers only: ATen/cuda/CUDAContext.h would pull in cuBLAS/cuSPARSE headers, absent from minimal toolkits.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include "s2dtw_host.h"

namespace {

template <int TS> struct DeviceTeam {
  static constexpr int size = TS;
  int lane; unsigned mask;
  __device__ DeviceTeam() {
    if constexpr (TS <= 32) {
      lane = threadIdx.x % TS;
      mask = TS == 32 ? 0xffffffffu : ((1u << TS) - 1) << (threadIdx.x % 32 / TS * TS);
    } else {
      lane = threadIdx.x; mask = 0;
    }
  }
  __device__ void sync() const {
    if constexpr (TS <= 32) __syncwarp(mask);  // orders shared and global memory among the tile's lanes
    else __syncthreads();
  }
};

// ws == nullptr: each team's workspace is `stride` elements of dynamic shared memory, else of ws.
template <typename T, int TS, bool BWD>
__global__ void __launch_bounds__(256) dtw_kernel(vt::TeamJob<T> job, T* ws, int64_t stride) {
  extern __shared__ __align__(16) unsigned char vt_smem[];
  DeviceTeam<TS> tm;
  const int tpb = TS > 32 ? 1 : blockDim.x / TS, t = TS > 32 ? 0 : threadIdx.x / TS;
  const int64_t team = (int64_t)blockIdx.x * tpb + t;
  T* w = ws ? ws + team * stride : reinterpret_cast<T*>(vt_smem) + t * stride;
  vt::run_team<BWD>(job, tm, w, team, (int64_t)gridDim.x * tpb);
}

// ---- planner ----
// Picks the team size, teams per block and memory kind from a rough cost model (no GPU was at hand to tune
// it; the environment overrides exist to measure alternatives). One anti-diagonal step of a pair takes about
// kLat cycles of dependent latency (exp, log, division, memory, sync), or longer when the SM's issue slots are
// the bound: kIssue warp-instructions per warp of the team, for every team resident on the SM, 4 per cycle.
struct DevInfo { int sms, smem_sm, smem_block, smem_reserved, threads_sm, blocks_sm; };
struct Plan { int ts = 0, tpb = 0; bool global = false; int64_t stride = 0, blocks = 0; };

constexpr double kIssue = 100, kLatShared = 300, kLatGlobal = 900;
constexpr int64_t kGlobalBudget = int64_t(1) << 30;  // bytes of global workspace at most (unless one team needs more)

inline int64_t diag_steps(int64_t rows, int64_t cols, int ts) {  // sum over anti-diagonals of ceil(len / ts)
  int64_t it = 0;
  for (int64_t s = 0; s < rows + cols - 1; ++s) {
    const int64_t len = std::min(s, rows - 1) - std::max<int64_t>(0, s - cols + 1) + 1;
    it += (len + ts - 1) / ts;
  }
  return it;
}

// elems: workspace elements of one team; esize: bytes per element; P: pairs; rows, cols: largest grid.
inline Plan make_plan(const DevInfo& dev, int64_t elems, int esize, int64_t P, int64_t rows, int64_t cols,
                      int force_ts, bool force_global) {
  Plan best; double best_t = 0;
  for (int global = 0; global < 2; ++global) {
    if (global ? !force_global && best.ts != 0 : force_global) continue;  // global memory only as the fallback
    for (int ts = 8; ts <= 256; ts *= 2) {
      if (force_ts && ts != force_ts) continue;
      // Pad a team's stride to 32 elements, plus ts for warp tiles: tiles of one warp then start on
      // different banks, so their lanes (at stride cols of each other) do not collide.
      const int64_t stride = (elems + 31) / 32 * 32 + (ts < 32 ? ts : 0);
      const int64_t steps = diag_steps(rows, cols, ts);
      for (int tpb = ts < 32 ? 256 / ts : 1; tpb >= 1; tpb /= 2) {
        const int64_t warps = ((int64_t)tpb * ts + 31) / 32;
        int64_t blocks_sm = std::min<int64_t>(dev.threads_sm / (warps * 32), dev.blocks_sm);  // resident per SM
        int64_t blocks_max = (P + tpb - 1) / tpb;                                               // in the grid
        if (!global) {
          const int64_t bytes = tpb * stride * esize;
          if (bytes > dev.smem_block) continue;
          blocks_sm = std::min<int64_t>(blocks_sm, dev.smem_sm / (bytes + dev.smem_reserved));
          if (blocks_sm < 1) continue;
        } else {  // as many teams as the budget allows (at least one block), that loop over the pairs
          const int64_t budget = kGlobalBudget / (tpb * stride * esize);
          if (budget < 1 && tpb > 1) continue;
          blocks_max = std::max<int64_t>(1, std::min({blocks_max, budget, blocks_sm * dev.sms}));
        }
        const int64_t teams = std::min({blocks_max, blocks_sm * dev.sms}) * tpb;  // running at once
        const double per_sm = (double)((teams + dev.sms - 1) / dev.sms);
        const double waves = (double)((P + teams - 1) / teams);
        const double t = waves * steps * std::max(global ? kLatGlobal : kLatShared, per_sm * kIssue * warps / tpb / 4);
        if (best.ts == 0 || t < best_t) {
          best_t = t; best.ts = ts; best.tpb = tpb; best.global = global; best.stride = stride;
          best.blocks = std::min<int64_t>(blocks_max, INT_MAX);  // teams loop over the rest
        }
      }
    }
  }
  return best;
}
// ---- end planner ----

DevInfo dev_info(int device) {
  auto get = [device](cudaDeviceAttr a) { int v = 0; C10_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, device)); return v; };
  // Resident threads: the kernels use 33 to 64 registers a thread (ptxas -v), so count 64.
  const int threads = std::min(get(cudaDevAttrMaxThreadsPerMultiProcessor), get(cudaDevAttrMaxRegistersPerMultiprocessor) / 64);
  return {get(cudaDevAttrMultiProcessorCount), get(cudaDevAttrMaxSharedMemoryPerMultiprocessor),
          get(cudaDevAttrMaxSharedMemoryPerBlockOptin), get(cudaDevAttrReservedSharedMemoryPerBlock),
          threads, get(cudaDevAttrMaxBlocksPerMultiprocessor)};
}

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : 0;
}

template <typename T, int TS, bool BWD>
void launch(const vt::TeamJob<T>& job, const Plan& pl, T* ws, cudaStream_t stream) {
  auto kernel = dtw_kernel<T, TS, BWD>;
  const size_t smem = pl.global ? 0 : (size_t)pl.tpb * pl.stride * sizeof(T);
  if (!pl.global) {
    if (smem > 48 * 1024)
      C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        (int)cudaSharedmemCarveoutMaxShared));
  }
  kernel<<<(unsigned)pl.blocks, pl.tpb * TS, smem, stream>>>(job, ws, pl.stride);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, bool BWD>
void run(const vt::TeamJob<T>& job, const at::Tensor& cost) {
  const int64_t rows = job.plain ? job.N : 2 * job.N + 1, cols = job.plain ? job.M : 2 * job.M + 1;
  const int64_t elems = job.cs_elems + (BWD ? 2 : 1) * job.grid;
  int force_ts = env_int("VTLEARN_S2DTW_TEAM");
  if ((force_ts & (force_ts - 1)) != 0 || force_ts < 8 || force_ts > 256) force_ts = 0;  // not a valid team size
  const Plan pl = make_plan(dev_info(cost.get_device()), elems, sizeof(T), job.P, rows, cols, force_ts,
                            env_int("VTLEARN_S2DTW_GLOBAL") != 0);
  TORCH_CHECK(pl.ts > 0, "s2dtw_cuda: no launch configuration found");
  at::Tensor ws;
  if (pl.global) ws = at::empty({pl.blocks * pl.tpb * pl.stride}, cost.options());
  T* wp = pl.global ? ws.data_ptr<T>() : nullptr;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  switch (pl.ts) {
    case 8: launch<T, 8, BWD>(job, pl, wp, stream); break;
    case 16: launch<T, 16, BWD>(job, pl, wp, stream); break;
    case 32: launch<T, 32, BWD>(job, pl, wp, stream); break;
    case 64: launch<T, 64, BWD>(job, pl, wp, stream); break;
    case 128: launch<T, 128, BWD>(job, pl, wp, stream); break;
    default: launch<T, 256, BWD>(job, pl, wp, stream); break;
  }
}  // ws is freed here, after the launch: the caching allocator keeps it for this stream until the kernel is done

using vt::make_index;

void check_args(const at::Tensor& cost, const at::Tensor& vlen, const at::Tensor& tlen, bool pairwise) {
  vt::check_common(cost, vlen, tlen, pairwise);
  TORCH_CHECK(cost.is_cuda(), "cost must be a CUDA tensor");
  const int64_t N = cost.size(1), M = cost.size(pairwise ? 3 : 2);
  TORCH_CHECK(vt::grid_elems(N, M, false) + N * M < INT_MAX, "sequences too long for s2dtw_cuda: ", N, " x ", M);
}

// The job without outputs; the workspace layout is sized for the largest pair (N x M).
template <typename T>
vt::TeamJob<T> make_job(const at::Tensor& cost, const vt::PairIndex& ix, bool pairwise, bool plain,
                        double gamma, double smooth_gamma, double tau) {
  vt::TeamJob<T> job{};
  job.cost = cost.data_ptr<T>(); job.ix = ix;
  job.N = (int)cost.size(1); job.M = (int)cost.size(pairwise ? 3 : 2);
  job.P = pairwise ? cost.size(0) * cost.size(2) : cost.size(0);
  job.plain = plain; job.g = (T)gamma; job.sg = (T)smooth_gamma; job.tau = (T)tau;
  job.cs_elems = plain ? 0 : (int64_t)job.N * job.M;
  job.grid = vt::grid_elems(job.N, job.M, plain);
  return job;
}

at::Tensor dtw_forward(at::Tensor cost, at::Tensor vlen, at::Tensor tlen, bool pairwise, bool plain,
                          double gamma, double smooth_gamma, double tau) {
  check_args(cost, vlen, tlen, pairwise);
  const c10::cuda::CUDAGuard guard(cost.device());
  auto out = pairwise ? at::empty({cost.size(0), cost.size(2)}, cost.options()) : at::empty({cost.size(0)}, cost.options());
  if (out.numel() == 0) return out;
  auto ix = make_index(cost, vlen, tlen, pairwise);
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "dtw_forward_cuda", [&] {
    auto job = make_job<scalar_t>(cost, ix, pairwise, plain, gamma, smooth_gamma, tau);
    job.out = out.data_ptr<scalar_t>();
    run<scalar_t, false>(job, cost);
  });
  return out;
}

// Gradient of sum(grad_out * D) w.r.t. cost (zero on padding); alignment=true gives grad_out * dD/dG on the real cells.
at::Tensor dtw_backward(at::Tensor cost, at::Tensor vlen, at::Tensor tlen, at::Tensor grad_out,
                           bool pairwise, bool plain, double gamma, double smooth_gamma, double tau, bool alignment) {
  check_args(cost, vlen, tlen, pairwise);
  const c10::cuda::CUDAGuard guard(cost.device());
  const int64_t P = pairwise ? cost.size(0) * cost.size(2) : cost.size(0);
  TORCH_CHECK(grad_out.device() == cost.device() && grad_out.numel() == P, "grad_out must have one entry per pair, on the device of cost");
  auto go = grad_out.to(cost.scalar_type()).contiguous();
  // Every pair writes its whole N x M block (zeros on padding), so no memset is needed.
  auto grad = at::empty(cost.sizes(), cost.options());
  if (grad.numel() == 0) return grad;
  auto ix = make_index(cost, vlen, tlen, pairwise), gx = make_index(grad, vlen, tlen, pairwise);
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "dtw_backward_cuda", [&] {
    auto job = make_job<scalar_t>(cost, ix, pairwise, plain, gamma, smooth_gamma, tau);
    job.gout = go.data_ptr<scalar_t>(); job.alignment = alignment; job.grad = grad.data_ptr<scalar_t>(); job.gx = gx;
    run<scalar_t, true>(job, cost);
  });
  return grad;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &dtw_forward, "S2DTW / soft-DTW forward (CUDA)");
  m.def("backward", &dtw_backward, "S2DTW / soft-DTW backward (CUDA)");
}
