// Per-cell math of S2DTW and plain soft-DTW, shared by the CPU and the CUDA kernels.
// The definition lives in docs (ALGORITHM): c = cost, cs = locally smoothed cost, G = weak grid
// ((2n+1) x (2m+1), tau on every even row/column, cs on odd/odd cells), R = soft-DTW DP over G.
// Plain soft-DTW uses G = c directly (no smoothing, no tau cells).
// R and E (= dR[last]/dG) are stored with one padding row/column in front: R(p,q) = R[(p+1)*W + q+1].
#pragma once
#include <cstdint>
#include <cmath>
#include "s2dtw_layout.h"

#ifdef __CUDACC__
#define VT_HD __host__ __device__ __forceinline__
#else
#define VT_HD inline
#endif

namespace vt {

VT_HD float vexp(float x) { return expf(x); }
VT_HD double vexp(double x) { return exp(x); }
VT_HD float vlog(float x) { return logf(x); }
VT_HD double vlog(double x) { return log(x); }
template <typename T> VT_HD T vinf() { return (T)INFINITY; }
template <typename T> VT_HD T vmin(T a, T b) { return a < b ? a : b; }

// softmin_g(a, b, c) = -g log sum exp(-x/g) = mn - g * l: the minimum mn, and l = log(1 + exp((mn - hi)/g) +
// exp((mn - other)/g)) >= 0 over the other two terms (the minimum's term is exp(0) = 1: two exps and a log; on a GPU
// these are the special-function unit's work, the DP's bound). ig = 1/g: a multiply, not a division (which costs a
// reciprocal on that unit too). g == 0 is the hard min (l = 0).
// The selects are ordered so that a NaN anywhere comes out (the emulator's uninitialised-read check relies on it).
template <typename T> struct SoftMin { T mn, l; VT_HD T value(T g) const { return mn - g * l; } };
template <typename T> VT_HD SoftMin<T> softmin3(T a, T b, T c, T g, T ig) {
  const bool ab = a < b, lc = (ab ? a : b) < c;
  const T lo = ab ? a : b, hi = ab ? b : a;             // min and max of a, b
  const T mn = lc ? lo : c, other = lc ? c : lo;        // the minimum, and the terms besides it: hi and other
  if (g == (T)0 || mn == vinf<T>()) return {mn, (T)0};
  return {mn, vlog((T)1 + vexp((mn - hi) * ig) + vexp((mn - other) * ig))};
}

// The weight of a term x in a soft-min with parts (mn, l): d softmin / dx = exp((mn - x)/g - l). Both terms of the
// exponent are <= 0 by construction, so the weight is in [0, 1] even when g is tiny: recomputing it from the stored
// results instead, exp((result - G - x)/g), multiplies their rounding error by 1/g.
template <typename T> VT_HD T softmin_weight(T mn, T l, T x, T ig) { return vexp((mn - x) * ig - l); }

// Index (0 = diag, 1 = up, 2 = left) of the first minimum: the tie-break of the hard (g == 0) path.
template <typename T> VT_HD int argmin3(T diag, T up, T left) {
  int k = 0; T mn = diag;
  if (up < mn) { k = 1; mn = up; }
  if (left < mn) k = 2;
  return k;
}

template <typename T> struct PairDP {
  const T* cost; int64_t sI, sJ;  // cost(i, j) = cost[i*sI + j*sJ], i < n, j < m
  int n, m;
  bool plain;                     // plain soft-DTW on cost instead of S2DTW
  T g, sg, tau;                   // gamma, smooth_gamma, threshold
  T ig, isg;                      // 1 / g, 1 / sg (0 when g == 0)
  T* cs; T* R; T* E;              // workspaces: n*m, (rows+1)*(cols+1), (rows+1)*(cols+1)
  T* L; T* Ls;                    // backward only (else null): the soft-mins' l of R and of cs, in R's and cs's layout

  VT_HD int rows() const { return plain ? n : 2 * n + 1; }
  VT_HD int cols() const { return plain ? m : 2 * m + 1; }
  VT_HD int W() const { return cols() + 1; }
  VT_HD T c(int i, int j) const { return cost[i * sI + j * sJ]; }
  VT_HD T& r(int p, int q) const { return R[(p + 1) * W() + q + 1]; }
  VT_HD T& e(int p, int q) const { return E[(p + 1) * W() + q + 1]; }
  VT_HD T& l(int p, int q) const { return L[(p + 1) * W() + q + 1]; }
  VT_HD T G(int p, int q) const {
    if (plain) return c(p, q);
    return ((p & 1) && (q & 1)) ? cs[(p >> 1) * m + (q >> 1)] : tau;
  }

  // cs[i, j] = c[i, j] + softmin_sg(c[i, j-1], c[i-1, j], c[i-1, j-1]); outside = +inf, at (0, 0) all three are 0.
  VT_HD SoftMin<T> smooth_parts(int i, int j) const {
    T inf = vinf<T>();
    if (i == 0 && j == 0) return softmin3((T)0, (T)0, (T)0, sg, isg);
    return softmin3(j > 0 ? c(i, j - 1) : inf, i > 0 ? c(i - 1, j) : inf, (i > 0 && j > 0) ? c(i - 1, j - 1) : inf,
                          sg, isg);
  }
  VT_HD void smooth_cell(int i, int j) const {
    const SoftMin<T> s = smooth_parts(i, j);
    cs[i * m + j] = c(i, j) + s.value(sg);
    if (Ls) Ls[i * m + j] = s.l;
  }

  // Padding of R: R(-1, -1) = 0, the rest of row/column -1 is +inf.
  VT_HD void init_border(int k) const {  // k in [0, rows + cols + 1)
    T inf = vinf<T>();
    if (k == 0) R[0] = 0;
    else if (k <= cols()) R[k] = inf;
    else R[(k - cols()) * W()] = inf;
  }

  VT_HD void fwd_cell(int p, int q) const {
    const SoftMin<T> s = softmin3(r(p - 1, q - 1), r(p - 1, q), r(p, q - 1), g, ig);
    r(p, q) = G(p, q) + s.value(g);
    if (L) l(p, q) = s.l;
  }

  // Weight of parent (p, q) in the soft-min of child (a, b); dir: 0 diag, 1 up, 2 left (as seen from the child).
  VT_HD T parent_weight(int a, int b, int p, int q, int dir) const {
    const T d = r(a - 1, b - 1), u = r(a - 1, b), lf = r(a, b - 1);
    if (g == (T)0) return argmin3(d, u, lf) == dir ? (T)1 : (T)0;
    return softmin_weight(vmin(vmin(d, u), lf), l(a, b), r(p, q), ig);
  }

  // E(p, q) = dR[last]/dG(p, q) (Cuturi & Blondel 2017, Algorithm 2), children done first.
  VT_HD void bwd_cell(int p, int q) const {
    int R1 = rows() - 1, C1 = cols() - 1;
    if (p == R1 && q == C1) { e(p, q) = 1; return; }
    T acc = 0;
    if (p < R1) acc += e(p + 1, q) * parent_weight(p + 1, q, p, q, 1);
    if (q < C1) acc += e(p, q + 1) * parent_weight(p, q + 1, p, q, 2);
    if (p < R1 && q < C1) acc += e(p + 1, q + 1) * parent_weight(p + 1, q + 1, p, q, 0);
    e(p, q) = acc;
  }

  // dR[last]/dcs(i, j) (S2DTW) or dR[last]/dc(i, j) (plain): the soft alignment.
  VT_HD T align(int i, int j) const { return plain ? e(i, j) : e(2 * i + 1, 2 * j + 1); }

  // Weight of c(i, j) = x in the smoothing soft-min of cs(a, b), (a, b) != (0, 0).
  VT_HD T smooth_weight(int a, int b, T x) const {
    T inf = vinf<T>();
    const T mn = vmin(vmin(b > 0 ? c(a, b - 1) : inf, a > 0 ? c(a - 1, b) : inf), (a > 0 && b > 0) ? c(a - 1, b - 1) : inf);
    return softmin_weight(mn, Ls[a * m + b], x, isg);
  }

  // dR[last]/dc(i, j): through cs(i, j) itself and through the smoothing soft-mins of the neighbours (i, j+1),
  // (i+1, j), (i+1, j+1), in which c(i, j) is a term.
  VT_HD T dcost(int i, int j) const {
    T d = align(i, j);
    if (plain) return d;
    const T cij = c(i, j);
    if (j + 1 < m) d += align(i, j + 1) * smooth_weight(i, j + 1, cij);
    if (i + 1 < n) d += align(i + 1, j) * smooth_weight(i + 1, j, cij);
    if (i + 1 < n && j + 1 < m) d += align(i + 1, j + 1) * smooth_weight(i + 1, j + 1, cij);
    return d;
  }
};

// Which (video, text) pair a flat pair index p is, and where its cost block starts.
// pairwise: p = a * Bt + b over all Bv x Bt pairs of a (Bv, N, Bt, M) cost; paired: a = b = p over (B, N, M).
struct PairIndex : ::vt::PairLayout {
  VT_HD int64_t a(int64_t p) const { return pairwise ? p / Bt : p; }
  VT_HD int64_t b(int64_t p) const { return pairwise ? p % Bt : p; }
  VT_HD int64_t base(int64_t p) const { return a(p) * sA + (pairwise ? b(p) * sB : 0); }
  template <typename T> VT_HD PairDP<T> dp(const T* cost, int64_t p, bool plain, T g, T sg, T tau) const {
    PairDP<T> d;
    d.cost = cost + base(p); d.sI = sI; d.sJ = sJ;
    d.n = (int)vlen[a(p)]; d.m = (int)tlen[b(p)];
    d.plain = plain; d.g = g; d.sg = sg; d.tau = tau;
    d.ig = g > (T)0 ? (T)1 / g : (T)0; d.isg = sg > (T)0 ? (T)1 / sg : (T)0;
    d.cs = nullptr; d.R = nullptr; d.E = nullptr; d.L = nullptr; d.Ls = nullptr;
    return d;
  }
};

// Workspace sizes (elements) for sequences of at most N x M.
VT_HD int64_t grid_elems(int64_t N, int64_t M, bool plain) {
  return plain ? (N + 1) * (M + 1) : (2 * N + 2) * (2 * M + 2);
}

}  // namespace vt

// ---- Team schedule of the CUDA kernel (plain C++ too, so the host can emulate it with threads) ----
// A team of Team::size lanes (Team::lane, Team::sync()) processes one pair at a time: the cells of one
// anti-diagonal in parallel, a team sync between anti-diagonals (a cell only reads R of the two previous
// anti-diagonals, or E of the two next ones). Pairs first, first + step, ... go to this team.
namespace vt {
template <typename T> struct TeamJob {
  const T* cost; PairIndex ix; int64_t P; int N, M; bool plain; T g, sg, tau;
  int64_t cs_elems, grid;                  // workspace of one team: cs | R, then in the backward E | L | Ls
  T* out;                                  // out[p] = R[last]; may be null in the backward
  const T* gout; bool alignment; T* grad; PairIndex gx;  // backward: grad (whole N x M blocks, 0 on padding)
};

template <bool BWD, typename T, typename Team>
VT_HD void run_team(const TeamJob<T>& job, const Team& tm, T* w, int64_t first, int64_t step) {
  constexpr int TS = Team::size;
  for (int64_t pair = first; pair < job.P; pair += step) {
    PairDP<T> d = job.ix.template dp<T>(job.cost, pair, job.plain, job.g, job.sg, job.tau);
    // Lengths outside [1, N] would overrun the workspace: the DP runs clamped, and the pair's value and gradient are
    // NaN, so a bad length never becomes a plausible number (checked in the kernel: no host sync on the GPU).
    const bool bad = d.n < 1 || d.n > job.N || d.m < 1 || d.m > job.M;
    d.n = d.n < 1 ? 1 : (d.n > job.N ? job.N : d.n);
    d.m = d.m < 1 ? 1 : (d.m > job.M ? job.M : d.m);
    const T nan = (T)NAN;
    d.cs = w; d.R = w + job.cs_elems;
    if constexpr (BWD) { d.E = d.R + job.grid; d.L = d.E + job.grid; d.Ls = job.plain ? nullptr : d.L + job.grid; }
    const int rows = d.rows(), cols = d.cols(), last = rows + cols - 2;
    tm.sync();  // the previous pair's readers are done with the workspace
    if (!job.plain)
      for (int k = tm.lane; k < d.n * d.m; k += TS) d.smooth_cell(k / d.m, k % d.m);
    for (int k = tm.lane; k < rows + cols + 1; k += TS) d.init_border(k);
    tm.sync();
    for (int s = 0; s <= last; ++s) {  // anti-diagonal p + q = s, p in [lo, hi]
      const int lo = s < cols ? 0 : s - cols + 1, hi = s < rows ? s : rows - 1;
      for (int p = lo + tm.lane; p <= hi; p += TS) d.fwd_cell(p, s - p);
      tm.sync();
    }
    if (tm.lane == 0 && (!BWD || job.out)) job.out[pair] = bad ? nan : d.r(rows - 1, cols - 1);
    if constexpr (BWD) {
      for (int s = last; s >= 0; --s) {
        const int lo = s < cols ? 0 : s - cols + 1, hi = s < rows ? s : rows - 1;
        for (int p = lo + tm.lane; p <= hi; p += TS) d.bwd_cell(p, s - p);
        tm.sync();
      }
      const T go = job.gout[pair];
      T* gp = job.grad + job.gx.base(pair);
      for (int k = tm.lane; k < job.N * job.M; k += TS) {  // the whole N x M block: zeros on padding
        const int i = k / job.M, j = k % job.M;
        gp[i * job.gx.sI + j * job.gx.sJ] =
            bad ? nan : (i < d.n && j < d.m) ? go * (job.alignment ? d.align(i, j) : d.dcost(i, j)) : (T)0;
      }
    }
  }
}
}  // namespace vt
