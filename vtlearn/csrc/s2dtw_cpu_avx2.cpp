// The CPU kernel for x86-64 with AVX2 and FMA (Haswell and later): see s2dtw_cpu_isa.h.
#define VT_ISA_TARGET "avx2,fma,bmi2"
#define VT_ISA_ENTRY run_cpu_avx2
#define VT_SIMD_LANES 8  // one register
#include "s2dtw_cpu_isa.h"
