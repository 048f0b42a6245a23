// Runtime dispatch of the CPU kernel: the wheel is built for the baseline of its architecture (portable flags), and
// s2dtw_cpu_kernels.h is compiled once more per wider x86 instruction set, in files that include this header with
// VT_ISA_TARGET (the GCC target string) and VT_ISA_ENTRY (the name of the entry point) defined. Everything of the
// kernel goes into an anonymous namespace, after the standard headers it needs: the linker cannot then swap one of its
// inline functions for the copy built for another instruction set. s2dtw_cpu.cpp picks the widest the CPU has.
#pragma once
#include "s2dtw_layout.h"

// GCC on x86-64: the compiler these builds target (elsewhere there is one build, for the baseline).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VT_ISA_DISPATCH 1
namespace vt {
void run_cpu_avx2(const CpuCall&);
void run_cpu_avx512(const CpuCall&);
}  // namespace vt
#endif

#if defined(VT_ISA_TARGET) && defined(VT_ISA_DISPATCH)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>
#include <xmmintrin.h>
#pragma GCC push_options
#define VT_DO_PRAGMA(x) _Pragma(#x)
#define VT_TARGET_PRAGMA(t) VT_DO_PRAGMA(GCC target(t))
VT_TARGET_PRAGMA(VT_ISA_TARGET)
namespace {
#include "s2dtw_cpu_kernels.h"
void vt_isa_entry(const ::vt::CpuCall& call) { vt::run_cpu(call); }
}  // namespace
void ::vt::VT_ISA_ENTRY(const ::vt::CpuCall& call) { vt_isa_entry(call); }
#pragma GCC pop_options
#endif
