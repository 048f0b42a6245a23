// float32 fast path of the CPU kernel: L pairs of equal lengths run in lock-step, one pair per SIMD lane (GCC vector
// extensions, one register wide: L = 16 in the AVX-512 build, 8 in the AVX2 one, 4 in the baseline's SSE2 or NEON; a
// vector wider than the registers lives in memory), with vectorised exp/log (Cephes polynomials,
// ~1 ulp). The math is that of s2dtw_cell.h cell for cell (tests compare both paths with the float64 reference);
// +inf is a real infinity, as in s2dtw_cell.h: a finite sentinel (1e30 once) sits inside the range of real costs and
// temperatures, so results depended on whether a pair ran here or on the scalar path (that is, on the batch size).
// vexp clamps its argument, so exp(-inf) is its smallest value (~1e-38), as for any large negative argument.
#pragma once
#include <cstdint>
#include <cstring>

namespace vt { namespace simd {

#ifndef VT_SIMD_LANES
#define VT_SIMD_LANES 4  // the baseline: s2dtw_cpu_isa.h's builds define wider ones
#endif
constexpr int L = VT_SIMD_LANES;
// Always inlined: GCC's heuristics would leave vexp and vlog out of line, and their vectors would cross calls in memory.
#define VT_LANES inline __attribute__((always_inline))
typedef float vf __attribute__((vector_size(4 * L)));
typedef int32_t vi __attribute__((vector_size(4 * L)));
constexpr float BIG = __builtin_inff();

VT_LANES vf splat(float x) { return vf{} + x; }
VT_LANES vf vmin(vf a, vf b) { return a < b ? a : b; }
VT_LANES vf vmax(vf a, vf b) { return a > b ? a : b; }

VT_LANES vf vexp(vf x) {
  x = vmin(vmax(x, splat(-87.3f)), splat(88.3f));
  vf t = x * 1.44269504088896341f + 12582912.0f;  // round(x / ln 2) in the low mantissa bits
  vf n = t - 12582912.0f;
  vi ni; std::memcpy(&ni, &t, sizeof ni); ni -= 0x4B400000;
  vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
  vf z = r * r;
  vf y = ((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3334519073E-3f) * r + 4.1665795894E-2f) * r
          + 1.6666665459E-1f) * r + 5.0000001201E-1f;
  y = y * z + r + 1.0f;
  vi bits = (ni + 127) << 23;
  vf scale; std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

VT_LANES vf vlog(vf x) {  // x > 0 and normal
  vi b; std::memcpy(&b, &x, sizeof b);
  vi e = ((b >> 23) & 0xff) - 127;
  vi mb = (b & 0x7fffff) | 0x3f800000;
  vf m; std::memcpy(&m, &mb, sizeof m);  // m in [1, 2)
  vi big = m > 1.41421356f;              // bring m into [sqrt(1/2), sqrt(2))
  m = big ? m * 0.5f : m;
  vf fe = __builtin_convertvector(e - big, vf);  // big is -1 where true
  vf f = m - 1.0f, z = f * f;
  vf y = ((((((((7.0376836292E-2f * f - 1.1514610310E-1f) * f + 1.1676998740E-1f) * f - 1.2420140846E-1f) * f
              + 1.4249322787E-1f) * f - 1.6668057665E-1f) * f + 2.0000714765E-1f) * f - 2.4999993993E-1f) * f
           + 3.3333331174E-1f) * f * z;
  y += fe * -2.12194440e-4f - 0.5f * z;
  return f + y + fe * 0.693359375f;
}

// As vt::softmin3: the minimum mn and l = log(1 + two exps) (the minimum's term is exp(0) = 1).
struct SoftMin { vf mn, l; vf value(float g) const { return mn - g * l; } };
VT_LANES SoftMin softmin3(vf a, vf b, vf c, float ig) {
  vi ab = a < b, lc = (ab ? a : b) < c;
  vf lo = ab ? a : b, hi = ab ? b : a, mn = lc ? lo : c, other = lc ? c : lo;
  return {mn, vlog(1.0f + vexp((mn - hi) * ig) + vexp((mn - other) * ig))};
}
// As softmin3, with the weight of each term, d softmin / d term, in the order (a, b, c): the exps the value needs
// already give them ({1, exp((mn - hi)/g), exp((mn - other)/g)} over their sum), so the backward computes none.
struct SoftMinW { vf value, wa, wb, wc; };
VT_LANES SoftMinW softmin3w(vf a, vf b, vf c, float g, float ig) {
  vi ab = a < b, lc = (ab ? a : b) < c;
  vf lo = ab ? a : b, hi = ab ? b : a, mn = lc ? lo : c, other = lc ? c : lo;
  vf eh = vexp((mn - hi) * ig), eo = vexp((mn - other) * ig), s = 1.0f + eh + eo, is = 1.0f / s, one = splat(1.f);
  vf wlo = lc ? one : eo;  // lo is the minimum, or the `other` term
  return {mn - g * vlog(s), (ab ? wlo : eh) * is, (ab ? eh : wlo) * is, (lc ? eo : one) * is};
}

// One group of L pairs sharing (n, m): lane-major workspaces, cost gathered once.
struct LaneDP {
  int n, m; bool plain; float g, ig, sg, isg, tau;
  vf *c, *cs, *R, *E;  // n*m, n*m, (rows+1)*(cols+1), (rows+1)*(cols+1)
  vf *W, *Ws;          // backward only (else null): each soft-min's three weights, 3 per cell of R (diag, up, left
                       // parent) and of cs (left, up, diag neighbour)

  int rows() const { return plain ? n : 2 * n + 1; }
  int cols() const { return plain ? m : 2 * m + 1; }
  int Wd() const { return cols() + 1; }
  vf& r(int p, int q) const { return R[(p + 1) * Wd() + q + 1]; }
  vf& e(int p, int q) const { return E[(p + 1) * Wd() + q + 1]; }
  vf* w(int p, int q) const { return W + 3 * ((p + 1) * Wd() + q + 1); }
  VT_LANES vf G(int p, int q) const {
    if (plain) return c[p * m + q];
    return ((p & 1) && (q & 1)) ? cs[(p >> 1) * m + (q >> 1)] : splat(tau);
  }

  // The smoothing soft-min's terms of cs(i, j) (outside = BIG; all three 0 at (0, 0)).
  VT_LANES void smooth_terms(int i, int j, vf& a, vf& b, vf& d) const {
    if (i == 0 && j == 0) { a = b = d = splat(0.f); return; }
    a = j > 0 ? c[i * m + j - 1] : splat(BIG); b = i > 0 ? c[(i - 1) * m + j] : splat(BIG);
    d = (i > 0 && j > 0) ? c[(i - 1) * m + j - 1] : splat(BIG);
  }

  void forward() const {
    if (!plain)
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < m; ++j) {
          vf a, b, d; smooth_terms(i, j, a, b, d);
          if (Ws) {
            SoftMinW s = softmin3w(a, b, d, sg, isg);
            cs[i * m + j] = c[i * m + j] + s.value;
            vf* ws = Ws + 3 * (i * m + j); ws[0] = s.wa; ws[1] = s.wb; ws[2] = s.wc;
          } else cs[i * m + j] = c[i * m + j] + softmin3(a, b, d, isg).value(sg);
        }
    for (int q = 0; q <= cols(); ++q) R[q] = splat(BIG);
    for (int p = 1; p <= rows(); ++p) R[p * Wd()] = splat(BIG);
    R[0] = splat(0.f);
    if (g == 0.f)  // the hard minimum: no weights to keep
      strips<float>(rows(), cols(), false, [&](int p, int q) {
        r(p, q) = G(p, q) + vmin(vmin(r(p - 1, q - 1), r(p - 1, q)), r(p, q - 1));
      });
    else if (W)
      strips<float>(rows(), cols(), false, [&](int p, int q) {
        SoftMinW s = softmin3w(r(p - 1, q - 1), r(p - 1, q), r(p, q - 1), g, ig);
        r(p, q) = G(p, q) + s.value;
        vf* wp = w(p, q); wp[0] = s.wa; wp[1] = s.wb; wp[2] = s.wc;
      });
    else
      strips<float>(rows(), cols(), false, [&](int p, int q) {
        r(p, q) = G(p, q) + softmin3(r(p - 1, q - 1), r(p - 1, q), r(p, q - 1), ig).value(g);
      });
  }

  // Weight of a parent in the soft-min of child (a, b); dir: 0 diag, 1 up, 2 left (as seen from the child).
  // The hard minimum (g == 0) gives all the weight to the first minimum in that order, as vt::argmin3.
  VT_LANES vf parent_weight(int a, int b, int dir) const {
    if (g != 0.f) return w(a, b)[dir];  // stored by the forward
    vf d = r(a - 1, b - 1), u = r(a - 1, b), lf = r(a, b - 1);
    vi ud = u < d, lm = lf < (ud ? u : d);
    vi pick = dir == 0 ? ~(ud | lm) : dir == 1 ? ud & ~lm : lm;
    return pick ? splat(1.f) : splat(0.f);
  }

  void backward() const {
    forward();
    int R1 = rows() - 1, C1 = cols() - 1;
    strips<float>(rows(), cols(), true, [&](int p, int q) {
      if (p == R1 && q == C1) { e(p, q) = splat(1.f); return; }
      vf acc = splat(0.f);
      if (p < R1) acc += e(p + 1, q) * parent_weight(p + 1, q, 1);
      if (q < C1) acc += e(p, q + 1) * parent_weight(p, q + 1, 2);
      if (p < R1 && q < C1) acc += e(p + 1, q + 1) * parent_weight(p + 1, q + 1, 0);
      e(p, q) = acc;
    });
  }

  VT_LANES vf align(int i, int j) const { return plain ? e(i, j) : e(2 * i + 1, 2 * j + 1); }

  // Weight of a neighbour in the smoothing soft-min of cs(a, b), (a, b) != (0, 0); k: 0 left, 1 up, 2 diag.
  VT_LANES vf smooth_weight(int a, int b, int k) const { return Ws[3 * (a * m + b) + k]; }

  VT_LANES vf dcost(int i, int j) const {
    vf d = align(i, j);
    if (plain) return d;
    if (j + 1 < m) d += align(i, j + 1) * smooth_weight(i, j + 1, 0);  // c(i, j) is the left neighbour of (i, j + 1)
    if (i + 1 < n) d += align(i + 1, j) * smooth_weight(i + 1, j, 1);
    if (i + 1 < n && j + 1 < m) d += align(i + 1, j + 1) * smooth_weight(i + 1, j + 1, 2);
    return d;
  }
};

}}  // namespace vt::simd
