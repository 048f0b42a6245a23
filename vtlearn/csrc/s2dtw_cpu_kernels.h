// The CPU kernel's computation: pairs spread over torch's threads, one sequential DP per pair (float32 and float64),
// and the float32 SIMD path of s2dtw_cpu_simd.h. No torch here: s2dtw_cpu.cpp includes this file as it is, and
// s2dtw_cpu_isa.h includes it again, in an anonymous namespace, once per instruction set that the CPU may turn out to
// have (runtime dispatch).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>
#include "s2dtw_cell.h"

namespace vt {

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

}  // namespace vt

#include "s2dtw_cpu_simd.h"  // its lanes use strips()

namespace vt {

using simd::LaneDP;
using simd::vf;
constexpr int L = simd::L;

// Work items: `count` pairs from `order[start]` on; count == L means one SIMD group of equal (n, m).
struct Task { int64_t start; int count; };

// Pairs ordered by (n, m) (a counting sort), cut into SIMD groups of L equal-length pairs plus single pairs.
inline std::vector<Task> make_tasks(const PairIndex& ix, int64_t P, int64_t N, int64_t M, bool simd, std::vector<int64_t>& order) {
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

// The SIMD path takes float32, the soft or the hard (gamma = 0) DP, a soft smoothing (its weights have no hard
// case there), and grids whose lane workspaces stay small (~16 MB a buffer).
template <typename T> bool use_simd(int64_t N, int64_t M, bool plain, T sg) {
  return std::is_same<T, float>::value && (plain || sg > 0) && grid_elems(N, M, plain) <= (1 << 18);
}

// A growing buffer of lanes, aligned to a vector's size. Not std::vector<vf>: that is one template instance for every
// build of s2dtw_cpu_isa.h, and GCC aligns vf only as far as the widest register of the build that instantiated it.
struct Lanes {
  vf* p = nullptr; size_t n = 0;
  Lanes() = default;
  Lanes(const Lanes&) = delete;
  ~Lanes() { std::free(p); }
  void resize(size_t k) {
    if (k <= n) return;
    std::free(p);
    p = static_cast<vf*>(std::aligned_alloc(sizeof(vf), k * sizeof(vf)));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, k * sizeof(vf)); n = k;
  }
  vf* data() const { return p; }
  vf& operator[](size_t i) const { return p[i]; }
};

struct LaneBuffers {
  Lanes c, cs, R, E, W, Ws;
  LaneDP dp(const PairIndex& ix, const float* cost, const int64_t* ids, bool plain, float g, float sg, float tau, bool with_E) {
    LaneDP d;
    d.n = (int)ix.vlen[ix.a(ids[0])]; d.m = (int)ix.tlen[ix.b(ids[0])];
    d.plain = plain; d.g = g; d.ig = 1.f / g; d.sg = sg; d.isg = 1.f / sg; d.tau = tau;
    int64_t nm = (int64_t)d.n * d.m, grid = (int64_t)(d.rows() + 1) * (d.cols() + 1);
    c.resize(nm); cs.resize(nm); R.resize(grid);
    if (with_E) { E.resize(grid); W.resize(3 * grid); Ws.resize(3 * nm); }
    for (int l = 0; l < L; ++l) {
      const float* b = cost + ix.base(ids[l]);
      for (int i = 0; i < d.n; ++i) for (int j = 0; j < d.m; ++j) c[i * d.m + j][l] = b[i * ix.sI + j * ix.sJ];
    }
    d.c = c.data(); d.cs = cs.data(); d.R = R.data();
    d.E = with_E ? E.data() : nullptr; d.W = with_E ? W.data() : nullptr; d.Ws = with_E && !plain ? Ws.data() : nullptr;
    return d;
  }
};

// While alive, the thread flushes denormal floats to zero (x86: FTZ and DAZ), as GPUs do. The weights of paths far from
// the cheapest (exps clamped at ~1e-38) and their products in the backward are denormal, and on x86 every operation
// that meets one takes a microcode assist: with costs of spread 1 the backward ran 2.5x slower. Values below 1e-38
// become 0; the thread's mode is restored after (the pool's threads are torch's).
struct FlushDenormals {
#if defined(__x86_64__) || defined(__i386__)
  unsigned csr = _mm_getcsr();
  FlushDenormals() { _mm_setcsr(csr | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(csr); }
#endif
};

// Calls work(state, t) for every task t in [0, n) on up to `threads` workers of `par`, each with its own buffers
// (state = make_state()); workers take tasks 4 at a time from a shared counter, so pairs of unequal lengths balance.
template <typename MakeState, typename Work>
void parallel_tasks(::vt::ParallelFor par, int threads, int64_t n, MakeState make_state, Work work) {
  std::atomic<int64_t> next{0};
  auto worker = [&](int64_t, int64_t) {
    FlushDenormals ftz;
    auto state = make_state();
    for (int64_t t0; (t0 = next.fetch_add(4)) < n;)
      for (int64_t t = t0; t < std::min(t0 + 4, n); ++t) work(state, t);
  };
  using W = decltype(worker);
  par(0, std::max<int64_t>(1, std::min<int64_t>(threads, (n + 3) / 4)), [](int64_t b, int64_t e, void* w) { (*(W*)w)(b, e); }, &worker);
}

// One call over all pairs: the forward (k.grad null: k.out receives D), or the backward (k.grad receives gout * dD/dcost,
// or the alignment; k.out, may be null, receives D too: the forward and the backward in one pass).
template <typename T> void pairs_cpu(const ::vt::CpuCall& k) {
  const T *c = (const T*)k.cost, *gout = (const T*)k.gout;
  const T g = (T)k.g, sg = (T)k.sg, tau = (T)k.tau;
  T *out = (T*)k.out, *grad = (T*)k.grad;
  const bool bwd = grad != nullptr, plain = k.plain, alignment = k.alignment;
  const int64_t N = k.N, M = k.M;
  PairIndex ix{k.ix}, gx{k.gx};
  std::vector<int64_t> order;
  auto tasks = make_tasks(ix, k.P, N, M, use_simd(N, M, plain, sg), order);
  struct Buffers { std::vector<T> cs, R, E, Lg, Ls; LaneBuffers lb; };
  auto buffers = [&] {  // the scalar path's workspaces: E and the log-sums for the backward only
    const int64_t grid = grid_elems(N, M, plain), b = bwd;
    return Buffers{std::vector<T>(N * M), std::vector<T>(grid), std::vector<T>(b * grid), std::vector<T>(b * grid),
                   std::vector<T>(b * N * M), {}};
  };
  parallel_tasks(k.parallel, k.threads, (int64_t)tasks.size(), buffers, [&](Buffers& s, int64_t t) {
    const int64_t* ids = order.data() + tasks[t].start;
    if constexpr (std::is_same<T, float>::value) {
      if (tasks[t].count == L) {
        auto d = s.lb.dp(ix, c, ids, plain, g, sg, tau, bwd);
        if (bwd) d.backward(); else d.forward();
        if (out) for (int l = 0; l < L; ++l) out[ids[l]] = d.r(d.rows() - 1, d.cols() - 1)[l];
        if (bwd)
          for (int i = 0; i < d.n; ++i)
            for (int j = 0; j < d.m; ++j) {
              vf v = alignment ? d.align(i, j) : d.dcost(i, j);
              for (int l = 0; l < L; ++l) grad[gx.base(ids[l]) + i * gx.sI + j * gx.sJ] = gout[ids[l]] * v[l];
            }
        return;
      }
    }
    auto d = ix.dp<T>(c, ids[0], plain, g, sg, tau);
    d.cs = s.cs.data(); d.R = s.R.data();
    if (bwd) { d.E = s.E.data(); d.L = s.Lg.data(); d.Ls = s.Ls.data(); backward_pair(d); } else forward_pair(d);
    if (out) out[ids[0]] = d.r(d.rows() - 1, d.cols() - 1);
    if (!bwd) return;
    T* gp = grad + gx.base(ids[0]);
    for (int i = 0; i < d.n; ++i)
      for (int j = 0; j < d.m; ++j) gp[i * gx.sI + j * gx.sJ] = gout[ids[0]] * (alignment ? d.align(i, j) : d.dcost(i, j));
  });
}

inline void run_cpu(const ::vt::CpuCall& k) { if (k.f64) pairs_cpu<double>(k); else pairs_cpu<float>(k); }

}  // namespace vt
