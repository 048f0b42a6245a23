// Launch geometry of the CUDA kernel (s2dtw_cuda.cu): which threads form a team, and the planner that picks the
// team size, teams per block and workspace memory. Plain C++, so that the host emulator (s2dtw_emu.cpp) runs the
// very same code without a GPU.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include "s2dtw_cell.h"

namespace vt {

// Thread x of block blk (blockDim bd) in teams of TS lanes: teams of 8/16/32 lanes are tiles of a warp (mask: the
// tile's lanes within the warp), teams of 64/128/256 lanes are the whole block.
struct LaneId { int64_t team; int slot; int lane; unsigned mask; };  // slot: the team's index within its block
VT_HD int teams_per_block(int TS, int bd) { return TS > 32 ? 1 : bd / TS; }
template <int TS> VT_HD LaneId lane_id(int x, int64_t blk, int bd) {
  if constexpr (TS <= 32) {
    const unsigned mask = TS == 32 ? 0xffffffffu : ((1u << TS) - 1) << (x % 32 / TS * TS);
    return {blk * (bd / TS) + x / TS, x / TS, x % TS, mask};
  } else {
    return {blk, 0, x, 0u};
  }
}

// A team's workspace: its slot of the block's dynamic shared memory, or its own stride of the global buffer.
template <typename T> VT_HD T* team_workspace(const LaneId& id, T* global_ws, T* smem, int64_t stride) {
  return global_ws ? global_ws + id.team * stride : smem + id.slot * stride;
}

// ---- planner ----
// Picks the team size, teams per block and memory kind from a rough cost model. One anti-diagonal step of a pair
// takes about kLat cycles of dependent latency (exp, log, division, memory, sync), or longer when the SM's issue
// slots are the bound: kIssue warp-instructions per warp of the team, for every team resident on the SM, 4 per cycle.
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

// Workspace elements of one team (cs | R, and in the backward E | L | Ls) and the plan of a job; force_ts must be 0 or a
// power of 2 in [8, 256].
template <typename T> int64_t team_elems(const TeamJob<T>& job, bool bwd) {
  return bwd ? 2 * job.cs_elems + 3 * job.grid : job.cs_elems + job.grid;
}
template <typename T> Plan plan_job(const DevInfo& dev, const TeamJob<T>& job, bool bwd, int force_ts, bool force_global) {
  const int64_t rows = job.plain ? job.N : 2 * job.N + 1, cols = job.plain ? job.M : 2 * job.M + 1;
  return make_plan(dev, team_elems(job, bwd), (int)sizeof(T), job.P, rows, cols, force_ts, force_global);
}

}  // namespace vt
