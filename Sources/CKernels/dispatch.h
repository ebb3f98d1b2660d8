/* Internal to CKernels: one kernel body, three builds (AVX-512, AVX2 + FMA, baseline x86-64),
   picked at run time by dtk_vector_level. Not part of the module's interface. */
#ifndef DIST_TRAIN_CKERNELS_DISPATCH_H
#define DIST_TRAIN_CKERNELS_DISPATCH_H
#include "CKernels.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Each kernel body is written once, as an always-inline function, and instantiated three
   times with different target features; the compiler vectorises each for its target. */
#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))
#define DISPATCH(name, args) do { \
        int level = dtk_vector_level(); \
        if (level == 2) name##_avx512 args; else if (level == 1) name##_avx2 args; else name##_base args; \
    } while (0)
#define INSTANTIATE(name, params, args) \
    static AVX512 void name##_avx512 params { name##_call args; } \
    static AVX2 void name##_avx2 params { name##_call args; } \
    static void name##_base params { name##_call args; }
/* The same for a kernel that returns a value of the given type: its body is called name##_body. */
#define DISPATCH_RETURNING(name, args) do { \
        int level = dtk_vector_level(); \
        return level == 2 ? name##_avx512 args : level == 1 ? name##_avx2 args : name##_base args; \
    } while (0)
#define INSTANTIATE_RETURNING(type, name, params, args) \
    static AVX512 type name##_avx512 params { return name##_body args; } \
    static AVX2 type name##_avx2 params { return name##_body args; } \
    static type name##_base params { return name##_body args; }
#else
#define DISPATCH(name, args) name##_base args
#define INSTANTIATE(name, params, args) static void name##_base params { name##_call args; }
#define DISPATCH_RETURNING(name, args) return name##_base args
#define INSTANTIATE_RETURNING(type, name, params, args) static type name##_base params { return name##_body args; }
#endif
#define INLINE static inline __attribute__((always_inline))
/* ReLU (0 >= v ? 0 : v: NaN stays NaN, -0 becomes 0), for dtk_relu, the bias passes and the
   kernels that rectify their output as they store it. */
INLINE float relu_of(float v) { return 0.0f >= v ? 0.0f : v; }
/* dL/d(ReLU input) from dL/d(ReLU output) g and the ReLU's output y (y > 0 ? g : 0*g, so NaN
   and infinity in g still reach the gradients), for dtk_relu_mask and the kernels that mask dy
   as they read it. */
INLINE float relu_mask_of(float g, float y) { return y > 0.0f ? g : 0.0f * g; }
/* Before a loop whose trip count is a constant where the body is specialised: unroll it fully,
   so that accumulator arrays indexed by it live in vector registers instead of on the stack
   (left alone, clang keeps such loops rolled and every FMA loads and stores its accumulator). */
#define UNROLL _Pragma("clang loop unroll(full)")
/* The generic instantiations of those loops have trip counts known only at run time: clang
   then leaves them rolled, as it should, without a warning for each. */
#pragma clang diagnostic ignored "-Wpass-failed"


/* 16 floats; one AVX-512 register, two AVX2 or four SSE registers, per build. */
typedef float dtk_v16 __attribute__((vector_size(64), aligned(4)));

/* Limits of the direct kernels (Conv2d checks them before calling). */
#define DTK_MAX_OUT 64
#define DTK_MAX_TAPS 64
#define DTK_MAX_CHANNELS 64
#define DTK_BLOCK 4
#endif
