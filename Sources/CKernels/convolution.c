#include "dispatch.h"

/* Unrolling patches (im2col) and its adjoint (col2im). */
INLINE void im2col_body(const float *restrict x, long sampleStride, long count, const int32_t *restrict off,
                        long runs, long c, long cs, float *restrict dst) {
    for (long s = 0; s < count; s++) {
        const float *xs = x + s * sampleStride;
        for (long j = 0; j < runs; j++, dst += c) {
            int32_t o = off[j];
            if (o < 0) { for (long ci = 0; ci < c; ci++) dst[ci] = 0; }
            else if (cs == 1) { const float *src = xs + o; for (long ci = 0; ci < c; ci++) dst[ci] = src[ci]; }
            else { for (long ci = 0; ci < c; ci++) dst[ci] = xs[o + ci * cs]; }
        }
    }
}
#define im2col_call im2col_body
INSTANTIATE(im2col, (const float *x, long ss, long count, const int32_t *off, long runs, long c, long cs, float *dst),
            (x, ss, count, off, runs, c, cs, dst))
void dtk_im2col(const float *x, long ss, long count, const int32_t *off, long runs, long c, long cs, float *dst) {
    DISPATCH(im2col, (x, ss, count, off, runs, c, cs, dst));
}

INLINE void col2im_body(const float *restrict src, long sampleStride, long count, const int32_t *restrict off,
                        long runs, long c, long cs, float *restrict dx) {
    for (long s = 0; s < count; s++) {
        float *dxs = dx + s * sampleStride;
        for (long j = 0; j < runs; j++, src += c) {
            int32_t o = off[j];
            if (o < 0) continue;
            if (cs == 1) { float *d = dxs + o; for (long ci = 0; ci < c; ci++) d[ci] += src[ci]; }
            else { for (long ci = 0; ci < c; ci++) dxs[o + ci * cs] += src[ci]; }
        }
    }
}
#define col2im_call col2im_body
INSTANTIATE(col2im, (const float *src, long ss, long count, const int32_t *off, long runs, long c, long cs, float *dx),
            (src, ss, count, off, runs, c, cs, dx))
void dtk_col2im(const float *src, long ss, long count, const int32_t *off, long runs, long c, long cs, float *dx) {
    DISPATCH(col2im, (src, ss, count, off, runs, c, cs, dx));
}


/* Direct convolution of an hwc input with c channels (each tap a contiguous run of c floats),
   four output positions at a time so each weight row loaded serves four accumulators:
   y[(s*positions + p)*out + o] = b[o] + sum_{t, ci} x[s*ss + off[p*taps + t] + ci] * wt[(t*c + ci)*out + o]
   with wt: (taps*c) x out. Padding taps read a row of zeros. */
static const float dtk_zeros[DTK_MAX_CHANNELS];
INLINE void conv_forward_body(const float *restrict x, long ss, long batch, const int32_t *restrict off,
                              long positions, const float *restrict wt, const float *restrict b,
                              float *restrict y, long taps, long c, long out, int relu) {
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * ss;
        for (long p0 = 0; p0 < positions; p0 += DTK_BLOCK) {
            long np = positions - p0 < DTK_BLOCK ? positions - p0 : DTK_BLOCK;
            float acc[DTK_BLOCK][DTK_MAX_OUT];
            for (long q = 0; q < DTK_BLOCK; q++) for (long o = 0; o < out; o++) acc[q][o] = b[o];
            for (long t = 0; t < taps; t++) {
                const float *src[DTK_BLOCK];
                for (long q = 0; q < DTK_BLOCK; q++) {
                    int32_t k = q < np ? off[(p0 + q) * taps + t] : -1;
                    src[q] = k < 0 ? dtk_zeros : xs + k;
                }
                for (long ci = 0; ci < c; ci++) {
                    const float *wr = wt + (t * c + ci) * out;
                    for (long q = 0; q < DTK_BLOCK; q++) {
                        float v = src[q][ci];
                        for (long o = 0; o < out; o++) acc[q][o] += v * wr[o];
                    }
                }
            }
            for (long q = 0; q < np; q++) {
                float *yr = y + (s * positions + p0 + q) * out;
                if (relu) for (long o = 0; o < out; o++) yr[o] = relu_of(acc[q][o]);
                else for (long o = 0; o < out; o++) yr[o] = acc[q][o];
            }
        }
    }
}
/* The same with explicit vector accumulators, out = 16*OV, NQ positions at a time (NQ*OV = 16
   accumulators: two FMA units of latency 4 want at least 8 independent chains, and each weight
   vector loaded serves NQ positions). The float-array kernel above keeps 4 positions: at 8 its
   arrays no longer fit in registers and the compiler spills them (cnn-small 5x slower). Same
   sums in the same order. */
INLINE void conv_forward_vectors(const float *restrict x, long ss, long batch, const int32_t *restrict off,
                                 long positions, const float *restrict wt, const float *restrict b,
                                 float *restrict y, long taps, long c, long out, int relu, const long OV,
                                 const long NQ) {
    dtk_v16 bias[DTK_MAX_OUT / 16];
    UNROLL for (long j = 0; j < OV; j++) memcpy(&bias[j], b + 16 * j, sizeof(dtk_v16));
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * ss;
        for (long p0 = 0; p0 < positions; p0 += NQ) {
            long np = positions - p0 < NQ ? positions - p0 : NQ;
            dtk_v16 acc[16];
            UNROLL for (long q = 0; q < NQ; q++) UNROLL for (long j = 0; j < OV; j++) acc[q * OV + j] = bias[j];
            for (long t = 0; t < taps; t++) {
                const float *src[16];
                UNROLL for (long q = 0; q < NQ; q++) {
                    int32_t k = q < np ? off[(p0 + q) * taps + t] : -1;
                    src[q] = k < 0 ? dtk_zeros : xs + k;
                }
                for (long ci = 0; ci < c; ci++) {
                    dtk_v16 w[DTK_MAX_OUT / 16];
                    UNROLL for (long j = 0; j < OV; j++) memcpy(&w[j], wt + (t * c + ci) * out + 16 * j, sizeof(dtk_v16));
                    UNROLL for (long q = 0; q < NQ; q++) {
                        float v = src[q][ci];
                        UNROLL for (long j = 0; j < OV; j++) acc[q * OV + j] += v * w[j];
                    }
                }
            }
            if (relu)
                UNROLL for (long i = 0; i < NQ * OV; i++) UNROLL for (int l = 0; l < 16; l++) acc[i][l] = relu_of(acc[i][l]);
            for (long q = 0; q < np; q++)
                for (long j = 0; j < OV; j++) memcpy(y + (s * positions + p0 + q) * out + 16 * j, &acc[q * OV + j], sizeof(dtk_v16));
        }
    }
}
#define conv_forward_call(x, ss, batch, off, positions, wt, b, y, taps, c, out, relu) do { \
        if (taps == 16 && c == 16 && out == 32) conv_forward_vectors(x, ss, batch, off, positions, wt, b, y, 16, 16, 32, relu, 2, 8); \
        else if (taps == 25 && c == 32 && out == 64) conv_forward_body(x, ss, batch, off, positions, wt, b, y, 25, 32, 64, relu); \
        else conv_forward_body(x, ss, batch, off, positions, wt, b, y, taps, c, out, relu); \
    } while (0)
INSTANTIATE(conv_forward, (const float *x, long ss, long batch, const int32_t *off, long positions, long taps, long c,
                           const float *wt, const float *b, long out, int relu, float *y),
            (x, ss, batch, off, positions, wt, b, y, taps, c, out, relu))
void dtk_conv_forward(const float *x, long ss, long batch, const int32_t *off, long positions, long taps, long c,
                      const float *wt, const float *b, long out, int relu, float *y) {
    if (out > DTK_MAX_OUT || c > DTK_MAX_CHANNELS) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv_forward, (x, ss, batch, off, positions, taps, c, wt, b, out, relu, y));
}

/* Its input gradient, four positions and two taps at a time, so each broadcast dy value serves
   two weight rows and each weight row four positions:
   dx[s*ss + off[p*taps + t] + ci] += sum_o dy[(s*positions + p)*out + o] * wb[(t*out + o)*c + ci]
   with wb: (taps, out, c). dx is accumulated. */
INLINE void conv_backward_input_body(const float *restrict dy, long batch, const int32_t *restrict off,
                                     long positions, const float *restrict wb, float *restrict dx, long ss,
                                     long taps, long c, long out) {
    for (long s = 0; s < batch; s++) {
        float *dxs = dx + s * ss;
        for (long p0 = 0; p0 < positions; p0 += DTK_BLOCK) {
            long np = positions - p0 < DTK_BLOCK ? positions - p0 : DTK_BLOCK;
            const float *dr[DTK_BLOCK];
            for (long q = 0; q < DTK_BLOCK; q++) dr[q] = dy + (s * positions + p0 + (q < np ? q : 0)) * out;
            for (long t = 0; t < taps; t += 2) {
                long pair = t + 1 < taps;
                const float *w0 = wb + t * out * c, *w1 = wb + (t + pair) * out * c;
                float g0[DTK_BLOCK][DTK_MAX_CHANNELS], g1[DTK_BLOCK][DTK_MAX_CHANNELS];
                for (long q = 0; q < DTK_BLOCK; q++) for (long ci = 0; ci < c; ci++) { g0[q][ci] = 0; g1[q][ci] = 0; }
                for (long o = 0; o < out; o++) {
                    const float *a = w0 + o * c, *b = w1 + o * c;
                    for (long q = 0; q < DTK_BLOCK; q++) {
                        float d = dr[q][o];
                        for (long ci = 0; ci < c; ci++) { g0[q][ci] += d * a[ci]; g1[q][ci] += d * b[ci]; }
                    }
                }
                for (long q = 0; q < np; q++) {
                    int32_t k0 = off[(p0 + q) * taps + t];
                    if (k0 >= 0) { float *d = dxs + k0; for (long ci = 0; ci < c; ci++) d[ci] += g0[q][ci]; }
                    if (!pair) continue;
                    int32_t k1 = off[(p0 + q) * taps + t + 1];
                    if (k1 >= 0) { float *d = dxs + k1; for (long ci = 0; ci < c; ci++) d[ci] += g1[q][ci]; }
                }
            }
        }
    }
}
/* The same for 16 channels and a multiple of 4 taps, with explicit vector accumulators: four
   positions and four taps at a time (16 independent chains instead of 8; each broadcast dy value
   serves four weight vectors). The four taps' patch gradients are added to dx as the kernel
   above adds them (tap pairs, then positions, then the pair's two taps), so dx gets the same sums
   in the same order. */
INLINE void conv16_backward_input_body(const float *restrict dy, long batch, const int32_t *restrict off,
                                       long positions, const float *restrict wb, float *restrict dx, long ss,
                                       long taps, long out) {
    for (long s = 0; s < batch; s++) {
        float *dxs = dx + s * ss;
        for (long p0 = 0; p0 < positions; p0 += DTK_BLOCK) {
            long np = positions - p0 < DTK_BLOCK ? positions - p0 : DTK_BLOCK;
            const float *dr[DTK_BLOCK];
            UNROLL for (long q = 0; q < DTK_BLOCK; q++) dr[q] = dy + (s * positions + p0 + (q < np ? q : 0)) * out;
            for (long t = 0; t < taps; t += 4) {
                dtk_v16 g[4][DTK_BLOCK];
                UNROLL for (long j = 0; j < 4; j++) UNROLL for (long q = 0; q < DTK_BLOCK; q++) g[j][q] = (dtk_v16){0};
                for (long o = 0; o < out; o++) {
                    dtk_v16 w[4];
                    UNROLL for (long j = 0; j < 4; j++) memcpy(&w[j], wb + ((t + j) * out + o) * 16, sizeof(dtk_v16));
                    UNROLL for (long q = 0; q < DTK_BLOCK; q++) {
                        float d = dr[q][o];
                        UNROLL for (long j = 0; j < 4; j++) g[j][q] += d * w[j];
                    }
                }
                UNROLL for (long j = 0; j < 4; j += 2) {
                    for (long q = 0; q < np; q++) {
                        int32_t k0 = off[(p0 + q) * taps + t + j], k1 = off[(p0 + q) * taps + t + j + 1];
                        if (k0 >= 0) { dtk_v16 v; memcpy(&v, dxs + k0, 64); v += g[j][q]; memcpy(dxs + k0, &v, 64); }
                        if (k1 >= 0) { dtk_v16 v; memcpy(&v, dxs + k1, 64); v += g[j + 1][q]; memcpy(dxs + k1, &v, 64); }
                    }
                }
            }
        }
    }
}
#define conv_backward_input_call(dy, batch, off, positions, wb, dx, ss, taps, c, out) do { \
        if (taps == 16 && c == 16 && out == 32) conv16_backward_input_body(dy, batch, off, positions, wb, dx, ss, 16, 32); \
        else if (taps == 25 && c == 32 && out == 64) conv_backward_input_body(dy, batch, off, positions, wb, dx, ss, 25, 32, 64); \
        else conv_backward_input_body(dy, batch, off, positions, wb, dx, ss, taps, c, out); \
    } while (0)
INSTANTIATE(conv_backward_input, (const float *dy, long batch, const int32_t *off, long positions, long taps, long c,
                                  const float *wb, long out, float *dx, long ss),
            (dy, batch, off, positions, wb, dx, ss, taps, c, out))
void dtk_conv_backward_input(const float *dy, long batch, const int32_t *off, long positions, long taps, long c,
                             const float *wb, long out, float *dx, long ss) {
    if (out > DTK_MAX_OUT || c > DTK_MAX_CHANNELS) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv_backward_input, (dy, batch, off, positions, taps, c, wb, out, dx, ss));
}

/* Weight and bias gradients of an hwc convolution with c a multiple of 16 (c <= 64), without
   unrolling: dwp[(o*taps + t)*c + ci] += sum_{s,p} dy[(s*positions + p)*out + o] * x[s*ss + off[p*taps + t] + ci],
   db[o] += sum_{s,p} dy[...]. Samples go a few at a time (their activations stay in L2); for
   each tap and block of 8 outputs the accumulators (8 x c floats) stay in vector registers. */
#define DTK_WEIGHT_SAMPLES 8
/* For 16 channels (one vector per tap) a tile of 8 outputs x 2 taps: 16 accumulators, and each
   broadcast dy value serves two taps. Padding taps read a row of zeros. */
INLINE void conv16_weight_tile(const float *restrict x, long ss, long s0, long s1, const int32_t *restrict off,
                               long positions, const float *restrict dy, float *restrict dwp, long taps, long out,
                               long o0, long t0, const long TB) {
    dtk_v16 acc[8][2];
    for (long a = 0; a < 8; a++) for (long b = 0; b < TB; b++) memcpy(&acc[a][b], dwp + ((o0 + a) * taps + t0 + b) * 16, 64);
    for (long s = s0; s < s1; s++) {
        const float *xs = x + s * ss;
        const float *dr = dy + s * positions * out + o0;
        for (long p = 0; p < positions; p++, dr += out) {
            dtk_v16 xv[2];
            for (long b = 0; b < TB; b++) {
                int32_t k = off[p * taps + t0 + b];
                memcpy(&xv[b], k < 0 ? dtk_zeros : xs + k, 64);
            }
            for (long a = 0; a < 8; a++) {
                float d = dr[a];
                for (long b = 0; b < TB; b++) acc[a][b] += d * xv[b];
            }
        }
    }
    for (long a = 0; a < 8; a++) for (long b = 0; b < TB; b++) memcpy(dwp + ((o0 + a) * taps + t0 + b) * 16, &acc[a][b], 64);
}
INLINE void conv_backward_weight_body(const float *restrict x, long ss, long batch, const int32_t *restrict off,
                                      long positions, const float *restrict dy, float *restrict dwp,
                                      float *restrict db, long taps, long c, long out) {
    long cv = c / 16;
    for (long s0 = 0; s0 < batch; s0 += DTK_WEIGHT_SAMPLES) {
        long s1 = s0 + DTK_WEIGHT_SAMPLES < batch ? s0 + DTK_WEIGHT_SAMPLES : batch;
        if (c == 16 && out % 8 == 0) {
            for (long o0 = 0; o0 < out; o0 += 8) {
                long t0 = 0;
                for (; t0 + 2 <= taps; t0 += 2) conv16_weight_tile(x, ss, s0, s1, off, positions, dy, dwp, taps, out, o0, t0, 2);
                if (t0 < taps) conv16_weight_tile(x, ss, s0, s1, off, positions, dy, dwp, taps, out, o0, t0, 1);
            }
            continue;
        }
        for (long t = 0; t < taps; t++) {
            for (long o0 = 0; o0 < out; o0 += 8) {
                long oc = out - o0 < 8 ? out - o0 : 8;
                dtk_v16 acc[8][DTK_MAX_CHANNELS / 16];
                for (long oo = 0; oo < 8; oo++) for (long j = 0; j < cv; j++) {
                    if (oo < oc) memcpy(&acc[oo][j], dwp + ((o0 + oo) * taps + t) * c + 16 * j, sizeof(dtk_v16));
                    else acc[oo][j] = (dtk_v16){0};
                }
                for (long s = s0; s < s1; s++) {
                    const float *xs = x + s * ss;
                    for (long p = 0; p < positions; p++) {
                        int32_t k = off[p * taps + t];
                        if (k < 0) continue;
                        dtk_v16 xv[DTK_MAX_CHANNELS / 16];
                        for (long j = 0; j < cv; j++) memcpy(&xv[j], xs + k + 16 * j, sizeof(dtk_v16));
                        const float *dr = dy + (s * positions + p) * out + o0;
                        for (long oo = 0; oo < oc; oo++) {
                            float d = dr[oo];
                            for (long j = 0; j < cv; j++) acc[oo][j] += d * xv[j];
                        }
                    }
                }
                for (long oo = 0; oo < oc; oo++) for (long j = 0; j < cv; j++)
                    memcpy(dwp + ((o0 + oo) * taps + t) * c + 16 * j, &acc[oo][j], sizeof(dtk_v16));
            }
        }
    }
    for (long r = 0; r < batch * positions; r++) {
        const float *dr = dy + r * out;
        for (long o = 0; o < out; o++) db[o] += dr[o];
    }
}
#define conv_backward_weight_call(x, ss, batch, off, positions, dy, dwp, db, taps, c, out) do { \
        if (taps == 16 && c == 16 && out == 32) conv_backward_weight_body(x, ss, batch, off, positions, dy, dwp, db, 16, 16, 32); \
        else if (taps == 25 && c == 32 && out == 64) conv_backward_weight_body(x, ss, batch, off, positions, dy, dwp, db, 25, 32, 64); \
        else conv_backward_weight_body(x, ss, batch, off, positions, dy, dwp, db, taps, c, out); \
    } while (0)
INSTANTIATE(conv_backward_weight, (const float *x, long ss, long batch, const int32_t *off, long positions, long taps,
                                   long c, const float *dy, long out, float *dwp, float *db),
            (x, ss, batch, off, positions, dy, dwp, db, taps, c, out))
void dtk_conv_backward_weight(const float *x, long ss, long batch, const int32_t *off, long positions, long taps,
                              long c, const float *dy, long out, float *dwp, float *db) {
    if (c % 16 != 0 || c > DTK_MAX_CHANNELS) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv_backward_weight, (x, ss, batch, off, positions, taps, c, dy, out, dwp, db));
}

