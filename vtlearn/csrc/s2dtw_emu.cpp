// Host emulator of the CUDA kernel (s2dtw_cuda.cu), to test its schedule on machines without a GPU.
// It runs the kernel's own code: the planner and the thread-to-team map (s2dtw_plan.h), the job set-up
// (s2dtw_host.h) and the team schedule run_team (s2dtw_cell.h). Only DeviceTeam::sync() is replaced: the lanes
// of a team are fibers (ucontext) run by one scheduler, one lane at a time from one team sync to the next, in
// an order chosen per phase (0 ascending, 1 descending, 2 shuffled). A result that depends on the order means
// a missing sync. It also checks what the GPU would not report: every thread of a block maps to exactly one
// (team, lane), the warp-tile masks, that every team writes inside its own workspace of the block's shared memory
// or the global buffer (nothing else may change, guard cells included), that no cell is read before it is
// written (the memory starts as NaN), that every output entry is written (outputs start as NaN), and that all
// lanes of a team meet at the same syncs.
#include <ucontext.h>
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>
#include "s2dtw_host.h"
#include "s2dtw_plan.h"

namespace {

using vt::Tensor;

constexpr int kGuard = 64;                // guard cells after the memory of the teams
constexpr size_t kStack = 64 * 1024;      // fiber stack of one lane

struct Fibers {
  ucontext_t main;
  std::vector<ucontext_t> ctx;
  std::vector<std::unique_ptr<char[]>> stacks;
  std::vector<char> done;
  std::vector<int64_t> syncs;             // syncs reached by each lane
  int current = 0;
  int64_t drop = -1;                      // testing the tests: the lanes skip their drop-th sync (a missing barrier)
  std::function<void(int)> body;
};
thread_local Fibers* tl_fibers = nullptr;

void fiber_entry() {
  Fibers* f = tl_fibers;
  const int lane = f->current;
  f->body(lane);
  f->done[lane] = 1;
}  // returns to f->main (uc_link)

template <int TS> struct HostTeam {
  static constexpr int size = TS;
  int lane; Fibers* f;
  void sync() const {
    if (f->syncs[lane]++ == f->drop) return;
    swapcontext(&f->ctx[lane], &f->main);
  }
};

// Runs body(lane) for TS lanes, phase by phase (a phase ends when every lane has reached its next sync).
void run_lanes(int TS, const std::function<void(int)>& body, int order, std::mt19937_64& rng, int64_t drop) {
  Fibers f;
  f.ctx.resize(TS); f.stacks.resize(TS); f.done.assign(TS, 0); f.syncs.assign(TS, 0); f.body = body; f.drop = drop;
  for (int l = 0; l < TS; ++l) {
    f.stacks[l].reset(new char[kStack]);
    getcontext(&f.ctx[l]);
    f.ctx[l].uc_stack.ss_sp = f.stacks[l].get(); f.ctx[l].uc_stack.ss_size = kStack; f.ctx[l].uc_link = &f.main;
    makecontext(&f.ctx[l], fiber_entry, 0);
  }
  Fibers* saved = tl_fibers; tl_fibers = &f;
  std::vector<int> seq(TS);
  std::iota(seq.begin(), seq.end(), 0);
  if (order == 1) std::reverse(seq.begin(), seq.end());
  for (;;) {
    if (order == 2) std::shuffle(seq.begin(), seq.end(), rng);
    for (int l : seq) { f.current = l; swapcontext(&f.main, &f.ctx[l]); }
    const int ndone = (int)std::count(f.done.begin(), f.done.end(), 1);
    if (ndone == TS) break;
    bool same = ndone == 0;
    for (int l = 1; l < TS && same; ++l) same = f.syncs[l] == f.syncs[0];
    if (!same) { tl_fibers = saved; STD_TORCH_CHECK(false, "s2dtw emulator: the lanes of a team diverged at a team sync"); }
  }
  tl_fibers = saved;
}

template <typename T, int TS, bool BWD>
void emulate(const vt::TeamJob<T>& job, const vt::Plan& pl, int order, int64_t seed, int64_t drop) {
  std::mt19937_64 rng(seed);
  const int bd = pl.tpb * TS;
  const int64_t elems = vt::team_elems(job, BWD), nteams = pl.blocks * pl.tpb;
  STD_TORCH_CHECK(pl.stride >= elems, "s2dtw emulator: the plan's stride ", pl.stride, " < workspace ", elems);
  // The memory the kernel hands out: one global buffer for all teams, or each block's shared memory (fresh, NaN,
  // per block), with guard cells after it.
  std::vector<T> mem((pl.global ? nteams : pl.tpb) * pl.stride + kGuard, (T)NAN);
  T* const gws = pl.global ? mem.data() : nullptr;
  T* const smem = pl.global ? nullptr : mem.data();
  for (int64_t blk = 0; blk < pl.blocks; ++blk) {
    // The kernel's map from threads to (team, lane): each (slot, lane) exactly once, masks = the tile's threads.
    std::vector<int> owner(bd, -1);
    std::vector<unsigned> mask(pl.tpb, 0), tile(pl.tpb, 0);
    for (int x = 0; x < bd; ++x) {
      const vt::LaneId id = vt::lane_id<TS>(x, blk, bd);
      STD_TORCH_CHECK(id.slot >= 0 && id.slot < pl.tpb && id.lane >= 0 && id.lane < TS && id.team == blk * pl.tpb + id.slot,
                  "s2dtw emulator: thread ", x, " of block ", blk, " maps to team ", id.team, " lane ", id.lane);
      int& o = owner[id.slot * TS + id.lane];
      STD_TORCH_CHECK(o < 0, "s2dtw emulator: threads ", o, " and ", x, " map to the same lane");
      o = x;
      if (TS <= 32) {
        STD_TORCH_CHECK(x / 32 == (id.slot * TS) / 32, "s2dtw emulator: a warp tile spans two warps");
        STD_TORCH_CHECK(mask[id.slot] == 0 || mask[id.slot] == id.mask, "s2dtw emulator: lanes of a tile disagree on its mask");
        mask[id.slot] = id.mask; tile[id.slot] |= 1u << (x % 32);
      }
    }
    STD_TORCH_CHECK(vt::teams_per_block(TS, bd) == pl.tpb, "s2dtw emulator: teams per block");
    for (int s = 0; s < pl.tpb && TS <= 32; ++s)
      STD_TORCH_CHECK(mask[s] == tile[s], "s2dtw emulator: the mask of tile ", s, " is ", mask[s], ", its threads ", tile[s]);
    if (!pl.global) std::fill(mem.begin(), mem.end(), (T)NAN);
    for (int s = 0; s < pl.tpb; ++s) {
      const int64_t team = blk * pl.tpb + s;
      T* w = nullptr;  // each lane's workspace, from its own thread's ids, as in the kernel
      for (int lane = 0; lane < TS; ++lane) {
        T* wl = vt::team_workspace(vt::lane_id<TS>(owner[s * TS + lane], blk, bd), gws, smem, pl.stride);
        STD_TORCH_CHECK(!w || wl == w, "s2dtw emulator: the lanes of team ", team, " disagree on its workspace");
        w = wl;
      }
      const int64_t off = w - mem.data(), size = (int64_t)mem.size();
      STD_TORCH_CHECK(off >= 0 && off + elems <= size - kGuard, "s2dtw emulator: team ", team, "'s workspace lies outside the memory");
      const std::vector<T> before(mem);
      run_lanes(TS, [&](int lane) { vt::run_team<BWD>(job, HostTeam<TS>{lane, tl_fibers}, w, team, nteams); },
                order, rng, drop);
      // Nothing outside [off, off + elems) changed: no write into another team's workspace, or past the memory.
      STD_TORCH_CHECK(std::memcmp(mem.data(), before.data(), off * sizeof(T)) == 0 &&
                  std::memcmp(mem.data() + off + elems, before.data() + off + elems, (size - off - elems) * sizeof(T)) == 0,
                  "s2dtw emulator: team ", team, " wrote outside its workspace of ", elems, " elements");
    }
  }
}

template <bool BWD, typename T>
void emulate_job(const vt::TeamJob<T>& job, const vt::DevInfo& dev, int force_ts, bool force_global, int order,
                 int64_t seed, int64_t drop) {
  const vt::Plan pl = vt::plan_job(dev, job, BWD, force_ts, force_global);
  STD_TORCH_CHECK(pl.ts > 0, "s2dtw emulator: no launch configuration found");
  switch (pl.ts) {
    case 8: emulate<T, 8, BWD>(job, pl, order, seed, drop); break;
    case 16: emulate<T, 16, BWD>(job, pl, order, seed, drop); break;
    case 32: emulate<T, 32, BWD>(job, pl, order, seed, drop); break;
    case 64: emulate<T, 64, BWD>(job, pl, order, seed, drop); break;
    case 128: emulate<T, 128, BWD>(job, pl, order, seed, drop); break;
    default: emulate<T, 256, BWD>(job, pl, order, seed, drop); break;
  }
}

vt::DevInfo dev_info(const std::vector<int64_t>& d) {
  STD_TORCH_CHECK(d.size() == 6, "device: (sms, smem_sm, smem_block, smem_reserved, threads_sm, blocks_sm)");
  return {(int)d[0], (int)d[1], (int)d[2], (int)d[3], (int)d[4], (int)d[5]};
}

void check_args(const Tensor& cost, const Tensor& vlen, const Tensor& tlen, bool pairwise, int64_t team) {
  vt::check_common(cost, vlen, tlen, pairwise);
  STD_TORCH_CHECK(cost.is_cpu(), "the emulator takes CPU tensors");
  STD_TORCH_CHECK(team == 0 || (team >= 8 && team <= 256 && (team & (team - 1)) == 0), "team must be 0 or 8, 16, ..., 256");
}

// Runs a job of the team schedule on the emulated GPU `device`, with the given options.
auto emulator(const std::vector<int64_t>& device, int64_t team, bool global, int64_t order, int64_t seed, int64_t drop) {
  return [=](const auto& job, auto bwd) {
    emulate_job<decltype(bwd)::value>(job, dev_info(device), (int)team, global, (int)order, seed, drop);
  };
}

Tensor emu_forward(Tensor cost, Tensor vlen, Tensor tlen, bool pairwise, bool plain, double gamma,
                       double smooth_gamma, double tau, std::vector<int64_t> device, int64_t team, bool global,
                       int64_t order, int64_t seed, int64_t drop_sync) {
  check_args(cost, vlen, tlen, pairwise, team);
  return vt::team_forward(cost, vlen, tlen, pairwise, plain, gamma, smooth_gamma, tau, true,
                          emulator(device, team, global, order, seed, drop_sync));
}

Tensor emu_backward(Tensor cost, Tensor vlen, Tensor tlen, Tensor grad_out, bool pairwise, bool plain,
                        double gamma, double smooth_gamma, double tau, bool alignment, std::vector<int64_t> device,
                        int64_t team, bool global, int64_t order, int64_t seed, int64_t drop_sync) {
  check_args(cost, vlen, tlen, pairwise, team);
  return vt::team_backward(cost, vlen, tlen, grad_out, pairwise, plain, gamma, smooth_gamma, tau, alignment, true,
                           emulator(device, team, global, order, seed, drop_sync));
}

std::tuple<Tensor, Tensor> emu_forward_backward(Tensor cost, Tensor vlen, Tensor tlen, bool pairwise,
                                                        bool plain, double gamma, double smooth_gamma, double tau,
                                                        std::vector<int64_t> device, int64_t team, bool global, int64_t order,
                                                        int64_t seed, int64_t drop_sync) {
  check_args(cost, vlen, tlen, pairwise, team);
  return vt::team_forward_backward(cost, vlen, tlen, pairwise, plain, gamma, smooth_gamma, tau, true,
                                   emulator(device, team, global, order, seed, drop_sync));
}

// The launch the CUDA kernel would make: (team size, teams per block, global memory, stride, blocks).
template <typename T>
std::vector<int64_t> plan_for(const std::vector<int64_t>& device, int64_t N, int64_t M, int64_t pairs, bool plain, bool backward,
                   int64_t team, bool global) {
  vt::TeamJob<T> job{};
  vt::size_job(job, N, M, pairs, plain);
  const vt::Plan p = vt::plan_job(dev_info(device), job, backward, (int)team, global);
  return {p.ts, p.tpb, p.global, p.stride, p.blocks};
}

std::vector<int64_t> plan(std::vector<int64_t> device, int64_t N, int64_t M, int64_t pairs, bool plain, bool backward, int64_t esize,
               int64_t team, bool global) {
  STD_TORCH_CHECK(esize == 4 || esize == 8, "esize must be 4 (float32) or 8 (float64)");
  return esize == 8 ? plan_for<double>(device, N, M, pairs, plain, backward, team, global)
                    : plan_for<float>(device, N, M, pairs, plain, backward, team, global);
}

}  // namespace

// Operators torch.ops.vtlearn_emu.*: the CPU kernel's arguments, then the GPU's six numbers (`GPUS`) and the options.
STABLE_TORCH_LIBRARY(vtlearn_emu, m) {
  const std::string opts = "int[] device, int team=0, bool global_memory=False, int order=0, int seed=0, int drop_sync=-1";
  const std::string dtw = "bool pairwise, bool plain, float gamma, float smooth_gamma, float tau";
  m.def(("forward(Tensor cost, Tensor vlen, Tensor tlen, " + dtw + ", " + opts + ") -> Tensor").c_str());
  m.def(("backward(Tensor cost, Tensor vlen, Tensor tlen, Tensor grad_out, " + dtw + ", bool alignment, " + opts + ") -> Tensor").c_str());
  m.def(("forward_backward(Tensor cost, Tensor vlen, Tensor tlen, " + dtw + ", " + opts + ") -> (Tensor, Tensor)").c_str());
  m.def("plan(int[] device, int N, int M, int pairs, bool plain, bool backward, int esize=4, int team=0, "
        "bool global_memory=False) -> int[]");  // (team, teams_per_block, global_memory, stride, blocks)
}

// One kernel for every device (check_args refuses all but CPU tensors, by name).
STABLE_TORCH_LIBRARY_IMPL(vtlearn_emu, CompositeExplicitAutograd, m) {
  m.impl("forward", TORCH_BOX(&emu_forward));
  m.impl("backward", TORCH_BOX(&emu_backward));
  m.impl("forward_backward", TORCH_BOX(&emu_forward_backward));
  m.impl("plan", TORCH_BOX(&plan));
}
