#include <cblas.h>

/* OpenBLAS's own core name for the kernels it loaded (DYNAMIC_ARCH builds). */
char *openblas_get_corename(void);

/* The widest float SIMD this CPU and OS support for sgemm: 2 = AVX-512 (F, DQ, BW, VL with
   the OS saving ZMM state), 1 = AVX2 + FMA (OS saving YMM state), 0 = neither or not x86-64.
   Plain CPUID and XGETBV, so no compiler runtime is needed. */
static inline int dtblas_vector_level(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    int ymm = (xlo & 0x6) == 0x6, zmm = (xlo & 0xe6) == 0xe6;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (avx512 && zmm && fma) return 2;
    if (avx2 && fma && ymm) return 1;
#endif
    return 0;
}
