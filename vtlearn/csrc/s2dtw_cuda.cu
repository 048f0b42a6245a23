// CUDA kernel of S2DTW / soft-DTW, float32 and float64: the CUDA kernels of the operators vtlearn::dtw_forward,
// dtw_backward and dtw_forward_backward, whose schemas s2dtw_cpu.cpp (in the same library) defines.
// Schedule: a *team* of lanes per pair (vt::run_team in s2dtw_cell.h: anti-diagonals in parallel, a team
// sync between them). Teams of 8/16/32 lanes are tiles of a warp (__syncwarp on the tile's mask), teams of
// 64/128/256 lanes are a whole block (__syncthreads); the planner (s2dtw_plan.h) picks the size. The workspace
// (cs | R | E) of a team lives in dynamic shared memory when it fits, else in a bounded global buffer that teams
// reuse pair after pair. s2dtw_emu.cpp runs this schedule on the host, so that it is tested without a GPU.
// Environment overrides, for tests and tuning: VTLEARN_S2DTW_TEAM=8..256 forces the team size,
// VTLEARN_S2DTW_GLOBAL=1 forces the global-memory workspace.
// LibTorch's stable ABI only (s2dtw_host.h), and the CUDA runtime API.
#include <torch/csrc/stable/accelerator.h>
#include <cuda_runtime.h>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include "s2dtw_host.h"
#include "s2dtw_plan.h"

// The current stream, from the stable C shim (shim.h declares it only where USE_CUDA is defined: building torch itself).
extern "C" AOTITorchError aoti_torch_get_current_cuda_stream(int32_t device_index, void** ret_stream);

namespace {

using vt::Tensor;

#define VT_CUDA_CHECK(expr)                                                                           \
  do {                                                                                                \
    const cudaError_t vt_err = (expr);                                                                \
    STD_TORCH_CHECK(vt_err == cudaSuccess, "CUDA error: ", cudaGetErrorString(vt_err), " (", #expr, ")"); \
  } while (0)

template <int TS> struct DeviceTeam {
  static constexpr int size = TS;
  int lane; unsigned mask;
  __device__ void sync() const {
    if constexpr (TS <= 32) __syncwarp(mask);  // orders shared and global memory among the tile's lanes
    else __syncthreads();
  }
};

// ws == nullptr: each team's workspace is `stride` elements of dynamic shared memory, else of ws.
// Launch bounds: blocks of at most 256 threads, 4 of them resident per SM, so at most 64 registers a thread (what
// the planner counts with); ptxas left alone spills at 48 registers in some float32 kernels.
template <typename T, int TS, bool BWD>
__global__ void __launch_bounds__(256, 4) dtw_kernel(vt::TeamJob<T> job, T* ws, int64_t stride) {
  extern __shared__ __align__(16) unsigned char vt_smem[];
  const vt::LaneId id = vt::lane_id<TS>(threadIdx.x, blockIdx.x, blockDim.x);
  const DeviceTeam<TS> tm{id.lane, id.mask};
  T* w = vt::team_workspace(id, ws, reinterpret_cast<T*>(vt_smem), stride);
  vt::run_team<BWD>(job, tm, w, id.team, (int64_t)gridDim.x * vt::teams_per_block(TS, blockDim.x));
}

using vt::DevInfo;
using vt::Plan;

DevInfo dev_info(int device) {
  auto get = [device](cudaDeviceAttr a) { int v = 0; VT_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, device)); return v; };
  // Resident threads at 64 registers a thread, the kernels' launch bounds.
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
      VT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    VT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        (int)cudaSharedmemCarveoutMaxShared));
  }
  kernel<<<(unsigned)pl.blocks, pl.tpb * TS, smem, stream>>>(job, ws, pl.stride);
  VT_CUDA_CHECK(cudaGetLastError());
}

template <bool BWD, typename T>
void run(const vt::TeamJob<T>& job, const Tensor& cost) {
  int force_ts = env_int("VTLEARN_S2DTW_TEAM");
  if ((force_ts & (force_ts - 1)) != 0 || force_ts < 8 || force_ts > 256) force_ts = 0;  // not a valid team size
  const Plan pl = vt::plan_job(dev_info(cost.get_device()), job, BWD, force_ts, env_int("VTLEARN_S2DTW_GLOBAL") != 0);
  STD_TORCH_CHECK(pl.ts > 0, "s2dtw_cuda: no launch configuration found");
  Tensor ws;
  if (pl.global) ws = vt::new_empty(cost, {pl.blocks * pl.tpb * pl.stride});
  T* wp = pl.global ? ws.mutable_data_ptr<T>() : nullptr;
  void* stream = nullptr;
  STD_TORCH_CHECK(aoti_torch_get_current_cuda_stream(cost.get_device_index(), &stream) == AOTI_TORCH_SUCCESS, "no current CUDA stream");
  switch (pl.ts) {
    case 8: launch<T, 8, BWD>(job, pl, wp, static_cast<cudaStream_t>(stream)); break;
    case 16: launch<T, 16, BWD>(job, pl, wp, static_cast<cudaStream_t>(stream)); break;
    case 32: launch<T, 32, BWD>(job, pl, wp, static_cast<cudaStream_t>(stream)); break;
    case 64: launch<T, 64, BWD>(job, pl, wp, static_cast<cudaStream_t>(stream)); break;
    case 128: launch<T, 128, BWD>(job, pl, wp, static_cast<cudaStream_t>(stream)); break;
    default: launch<T, 256, BWD>(job, pl, wp, static_cast<cudaStream_t>(stream)); break;
  }
}  // ws is freed here, after the launch: the caching allocator keeps it for this stream until the kernel is done

void check_args(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise) {
  vt::check_common(cost, vlen, tlen, pairwise);
  STD_TORCH_CHECK(cost.is_cuda(), "cost must be a CUDA tensor");
  const int64_t N = cost.size(1), M = cost.size(pairwise ? 3 : 2);
  STD_TORCH_CHECK(vt::grid_elems(N, M, false) + N * M < INT_MAX, "sequences too long for s2dtw_cuda: ", N, " x ", M);
}

// Runs a job of the team schedule on the GPU of cost.
auto launcher(const Tensor& cost) { return [&cost](const auto& job, auto bwd) { run<decltype(bwd)::value>(job, cost); }; }

Tensor dtw_forward(Tensor cost, Tensor vlen, Tensor tlen, bool pairwise, bool plain,
                       double gamma, double smooth_gamma, double tau) {
  check_args(cost, vlen, tlen, pairwise);
  const torch::stable::accelerator::DeviceGuard guard(cost.get_device_index());
  return vt::team_forward(cost, vlen, tlen, pairwise, plain, gamma, smooth_gamma, tau, false, launcher(cost));
}

Tensor dtw_backward(Tensor cost, Tensor vlen, Tensor tlen, Tensor grad_out,
                        bool pairwise, bool plain, double gamma, double smooth_gamma, double tau, bool alignment) {
  check_args(cost, vlen, tlen, pairwise);
  const torch::stable::accelerator::DeviceGuard guard(cost.get_device_index());
  return vt::team_backward(cost, vlen, tlen, grad_out, pairwise, plain, gamma, smooth_gamma, tau, alignment, false,
                           launcher(cost));
}

std::tuple<Tensor, Tensor> dtw_forward_backward(Tensor cost, Tensor vlen, Tensor tlen, bool pairwise,
                                                        bool plain, double gamma, double smooth_gamma, double tau) {
  check_args(cost, vlen, tlen, pairwise);
  const torch::stable::accelerator::DeviceGuard guard(cost.get_device_index());
  return vt::team_forward_backward(cost, vlen, tlen, pairwise, plain, gamma, smooth_gamma, tau, false, launcher(cost));
}

}  // namespace

// Only the CUDA kernels: the schemas are defined once, by STABLE_TORCH_LIBRARY(vtlearn) in s2dtw_cpu.cpp.
STABLE_TORCH_LIBRARY_IMPL(vtlearn, CUDA, m) {
  m.impl("dtw_forward", TORCH_BOX(&dtw_forward));
  m.impl("dtw_forward_backward", TORCH_BOX(&dtw_forward_backward));
  m.impl("dtw_backward", TORCH_BOX(&dtw_backward));
}
