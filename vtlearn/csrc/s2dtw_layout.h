// Plain data that crosses between translation units built for different instruction sets (s2dtw_cpu_isa.h):
// no member functions, so nothing here can be merged by the linker with code built for another CPU.
#pragma once
#include <cstdint>

namespace vt {

// Where the pairs' cost blocks and lengths are: pairwise (Bv, N, Bt, M), pair p = (p / Bt, p % Bt); paired (B, N, M).
struct PairLayout {
  bool pairwise; int64_t Bt, sA, sB, sI, sJ;  // strides of the video index, text index, rows, columns
  const int64_t* vlen; const int64_t* tlen;
};

// Runs fn(begin, end, ctx) over parts of [begin, end) on the caller's thread pool: torch's intra-op pool, through the
// stable ABI (s2dtw_cpu.cpp passes it in; the kernels themselves have no torch and no OpenMP).
using ParallelFor = void (*)(int64_t begin, int64_t end, void (*fn)(int64_t, int64_t, void*), void* ctx);

// One call of the CPU kernel. grad == nullptr: the forward (out receives D); else the backward (grad receives
// gout * dD/dcost, or the alignment; out, may be null, receives D too).
struct CpuCall {
  bool f64, plain, alignment; int threads; ParallelFor parallel;
  const void* cost; void* out; const void* gout; void* grad;
  PairLayout ix, gx; int64_t P, N, M; double g, sg, tau;
};

}  // namespace vt
