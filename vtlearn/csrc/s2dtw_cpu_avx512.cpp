// The CPU kernel for x86-64 with AVX-512 (Skylake-SP, Zen 4 and later): one 16-lane float vector a register.
#define VT_ISA_TARGET "avx2,fma,bmi2,avx512f,avx512dq,avx512bw,avx512vl"
#define VT_ISA_ENTRY run_cpu_avx512
#define VT_SIMD_LANES 16  // one register
#include "s2dtw_cpu_isa.h"
