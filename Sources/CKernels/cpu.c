#include "dispatch.h"

static int forced = -1;

void dtk_limit_vector_level(int level) { forced = level; }

static int detected_level(void);

int dtk_vector_level(void) {
    int level = detected_level();
    return forced >= 0 && forced < level ? forced : level;
}

static int detected_level(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached >= 0) return cached;
    unsigned a, b, c, d;
    int level = 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a >= 7) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
        int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
        if (osxsave && avx) {
            unsigned xlo, xhi;
            __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
            (void)xhi;
            int ymm = (xlo & 0x6) == 0x6, zmm = (xlo & 0xe6) == 0xe6;
            __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
            int avx2 = (b >> 5) & 1;
            int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
            if (avx512 && zmm && fma) level = 2;
            else if (avx2 && fma && ymm) level = 1;
        }
    }
    cached = level;
    return level;
#else
    return 0;
#endif
}
