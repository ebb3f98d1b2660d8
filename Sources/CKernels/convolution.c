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


/* The one-channel kernels accumulate a block of DTK_POSITIONS output positions (their outputs, or
   their patch gradients) in local arrays and write them once. Called with compile-time `taps` and
   `out` (the models' 4x4 -> 16 and 5x5 -> 32 layers), the loops unroll and the arrays live in
   vector registers; the block gives the FMA units independent chains (one position alone is a
   chain of `taps` dependent FMAs). */
#define DTK_POSITIONS 8
/* With out a multiple of 16 the accumulators are written as vectors (OV per position): left to
   itself the compiler vectorises across the block of positions, with gathers and scatters. */
INLINE void conv1_forward_vectors(const float *restrict x, long sampleStride, long batch, const int32_t *restrict off,
                                  long positions, const float *restrict wt, const float *restrict b,
                                  float *restrict y, long taps, long out, const long OV) {
    dtk_v16 bias[DTK_MAX_OUT / 16];
    for (long j = 0; j < OV; j++) memcpy(&bias[j], b + 16 * j, sizeof(dtk_v16));
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * sampleStride;
        for (long p0 = 0; p0 < positions; p0 += DTK_POSITIONS) {
            long np = positions - p0 < DTK_POSITIONS ? positions - p0 : DTK_POSITIONS;
            dtk_v16 acc[DTK_POSITIONS][DTK_MAX_OUT / 16];
            for (long q = 0; q < DTK_POSITIONS; q++) for (long j = 0; j < OV; j++) acc[q][j] = bias[j];
            for (long t = 0; t < taps; t++) {
                dtk_v16 w[DTK_MAX_OUT / 16];
                for (long j = 0; j < OV; j++) memcpy(&w[j], wt + t * out + 16 * j, sizeof(dtk_v16));
                for (long q = 0; q < DTK_POSITIONS; q++) {
                    int32_t k = q < np ? off[(p0 + q) * taps + t] : -1;
                    float v = k < 0 ? 0.0f : xs[k];
                    for (long j = 0; j < OV; j++) acc[q][j] += v * w[j];
                }
            }
            for (long q = 0; q < np; q++)
                for (long j = 0; j < OV; j++) memcpy(y + (s * positions + p0 + q) * out + 16 * j, &acc[q][j], sizeof(dtk_v16));
        }
    }
}

INLINE void conv1_forward_body(const float *restrict x, long sampleStride, long batch, const int32_t *restrict off,
                               long positions, const float *restrict wt, const float *restrict b,
                               float *restrict y, long taps, long out) {
    /* With one output vector the out-of-order core overlaps consecutive positions' chains by
       itself, and the plain loop measured 1.1x faster than the blocked one (4x4 -> 16); from two
       vectors on the blocked one is 2-2.5x faster (5x5 -> 32). */
    if (out == 32) { conv1_forward_vectors(x, sampleStride, batch, off, positions, wt, b, y, taps, out, 2); return; }
    if (out == 48) { conv1_forward_vectors(x, sampleStride, batch, off, positions, wt, b, y, taps, out, 3); return; }
    if (out == 64) { conv1_forward_vectors(x, sampleStride, batch, off, positions, wt, b, y, taps, out, 4); return; }
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * sampleStride;
        for (long p = 0; p < positions; p++) {
            float acc[DTK_MAX_OUT];
            const int32_t *op = off + p * taps;
            for (long o = 0; o < out; o++) acc[o] = b[o];
            for (long t = 0; t < taps; t++) {
                int32_t k = op[t];
                float v = k < 0 ? 0.0f : xs[k];
                const float *wr = wt + t * out;
                for (long o = 0; o < out; o++) acc[o] += v * wr[o];
            }
            float *yr = y + (s * positions + p) * out;
            for (long o = 0; o < out; o++) yr[o] = acc[o];
        }
    }
}
#define CONV1_FORWARD_SPECIALISED(x, ss, batch, off, positions, wt, b, y, taps, out) do { \
        if (taps == 16 && out == 16) conv1_forward_body(x, ss, batch, off, positions, wt, b, y, 16, 16); \
        else if (taps == 25 && out == 32) conv1_forward_body(x, ss, batch, off, positions, wt, b, y, 25, 32); \
        else conv1_forward_body(x, ss, batch, off, positions, wt, b, y, taps, out); \
    } while (0)
#define conv1_forward_call(...) CONV1_FORWARD_SPECIALISED(__VA_ARGS__)
INSTANTIATE(conv1_forward, (const float *x, long ss, long batch, const int32_t *off, long positions, long taps,
                            const float *wt, const float *b, long out, float *y),
            (x, ss, batch, off, positions, wt, b, y, taps, out))
void dtk_conv1_forward(const float *x, long ss, long batch, const int32_t *off, long positions, long taps,
                       const float *wt, const float *b, long out, float *y) {
    if (taps > DTK_MAX_TAPS || out > DTK_MAX_OUT) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv1_forward, (x, ss, batch, off, positions, taps, wt, b, out, y));
}

INLINE void conv1_backward_input_body(const float *restrict dy, long batch, const int32_t *restrict off,
                                      long positions, const float *restrict w, float *restrict dx,
                                      long sampleStride, long taps, long out) {
    for (long s = 0; s < batch; s++) {
        float *dxs = dx + s * sampleStride;
        for (long p0 = 0; p0 < positions; p0 += DTK_POSITIONS) {
            long np = positions - p0 < DTK_POSITIONS ? positions - p0 : DTK_POSITIONS;
            float g[DTK_POSITIONS][DTK_MAX_TAPS];
            const float *dr[DTK_POSITIONS];
            for (long q = 0; q < DTK_POSITIONS; q++) dr[q] = dy + (s * positions + p0 + (q < np ? q : 0)) * out;
            if (taps == 16) {
                /* One vector of patch gradients per position, written as such (see above). */
                dtk_v16 gv[DTK_POSITIONS];
                for (long q = 0; q < DTK_POSITIONS; q++) gv[q] = (dtk_v16){0};
                for (long o = 0; o < out; o++) {
                    dtk_v16 wr;
                    memcpy(&wr, w + o * 16, sizeof wr);
                    for (long q = 0; q < DTK_POSITIONS; q++) gv[q] += dr[q][o] * wr;
                }
                for (long q = 0; q < DTK_POSITIONS; q++) memcpy(g[q], &gv[q], sizeof(dtk_v16));
            } else {
                for (long q = 0; q < DTK_POSITIONS; q++) for (long t = 0; t < taps; t++) g[q][t] = 0;
                for (long o = 0; o < out; o++) {
                    const float *wr = w + o * taps;
                    for (long q = 0; q < DTK_POSITIONS; q++) {
                        float d = dr[q][o];
                        for (long t = 0; t < taps; t++) g[q][t] += d * wr[t];
                    }
                }
            }
            for (long q = 0; q < np; q++) {
                const int32_t *op = off + (p0 + q) * taps;
                for (long t = 0; t < taps; t++) { int32_t k = op[t]; if (k >= 0) dxs[k] += g[q][t]; }
            }
        }
    }
}
#define CONV1_BACKWARD_SPECIALISED(dy, batch, off, positions, w, dx, ss, taps, out) do { \
        if (taps == 16 && out == 16) conv1_backward_input_body(dy, batch, off, positions, w, dx, ss, 16, 16); \
        else if (taps == 25 && out == 32) conv1_backward_input_body(dy, batch, off, positions, w, dx, ss, 25, 32); \
        else conv1_backward_input_body(dy, batch, off, positions, w, dx, ss, taps, out); \
    } while (0)
#define conv1_backward_input_call(...) CONV1_BACKWARD_SPECIALISED(__VA_ARGS__)
INSTANTIATE(conv1_backward_input, (const float *dy, long batch, const int32_t *off, long positions, long taps,
                                   const float *w, long out, float *dx, long ss),
            (dy, batch, off, positions, w, dx, ss, taps, out))
void dtk_conv1_backward_input(const float *dy, long batch, const int32_t *off, long positions, long taps,
                              const float *w, long out, float *dx, long ss) {
    if (taps > DTK_MAX_TAPS || out > DTK_MAX_OUT) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv1_backward_input, (dy, batch, off, positions, taps, w, out, dx, ss));
}

/* Direct convolution of an hwc input with c channels (each tap a contiguous run of c floats),
   four output positions at a time so each weight row loaded serves four accumulators:
   y[(s*positions + p)*out + o] = b[o] + sum_{t, ci} x[s*ss + off[p*taps + t] + ci] * wt[(t*c + ci)*out + o]
   with wt: (taps*c) x out. Padding taps read a row of zeros. */
static const float dtk_zeros[DTK_MAX_CHANNELS];
INLINE void conv_forward_body(const float *restrict x, long ss, long batch, const int32_t *restrict off,
                              long positions, const float *restrict wt, const float *restrict b,
                              float *restrict y, long taps, long c, long out) {
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
                for (long o = 0; o < out; o++) yr[o] = acc[q][o];
            }
        }
    }
}
#define conv_forward_call(x, ss, batch, off, positions, wt, b, y, taps, c, out) do { \
        if (taps == 16 && c == 16 && out == 32) conv_forward_body(x, ss, batch, off, positions, wt, b, y, 16, 16, 32); \
        else if (taps == 25 && c == 32 && out == 64) conv_forward_body(x, ss, batch, off, positions, wt, b, y, 25, 32, 64); \
        else conv_forward_body(x, ss, batch, off, positions, wt, b, y, taps, c, out); \
    } while (0)
INSTANTIATE(conv_forward, (const float *x, long ss, long batch, const int32_t *off, long positions, long taps, long c,
                           const float *wt, const float *b, long out, float *y),
            (x, ss, batch, off, positions, wt, b, y, taps, c, out))
void dtk_conv_forward(const float *x, long ss, long batch, const int32_t *off, long positions, long taps, long c,
                      const float *wt, const float *b, long out, float *y) {
    if (out > DTK_MAX_OUT || c > DTK_MAX_CHANNELS) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv_forward, (x, ss, batch, off, positions, taps, c, wt, b, out, y));
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
#define conv_backward_input_call(dy, batch, off, positions, wb, dx, ss, taps, c, out) do { \
        if (taps == 16 && c == 16 && out == 32) conv_backward_input_body(dy, batch, off, positions, wb, dx, ss, 16, 16, 32); \
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

/* Weight and bias gradients of a one-channel convolution, without unrolling:
   dw[o*taps + t] += sum_{s,p} dy[(s*positions + p)*out + o] * x[s*ss + off[p*taps + t]],
   db[o] += sum_{s,p} dy[(s*positions + p)*out + o]. With out a multiple of 16, a tile of TB taps
   times every output vector (OV = out/16 of them) is held in registers over the batch, so each
   input value gathered serves all outputs. */
#define DTK_WEIGHT_ACCUMULATORS 24
INLINE void conv1_weight_tile(const float *restrict x, long ss, long batch, const int32_t *restrict off,
                              long positions, const float *restrict dy, float *restrict dw, float *restrict db,
                              long taps, long out, long t0, const long TB, const long OV) {
    /* Per-sample partial sums, added to the totals after each sample, so rounding grows with the
       positions of one sample, not of the whole batch. */
    dtk_v16 total[DTK_WEIGHT_ACCUMULATORS], acc[DTK_WEIGHT_ACCUMULATORS], bias[DTK_MAX_OUT / 16];
    for (long i = 0; i < TB * OV; i++) total[i] = (dtk_v16){0};
    for (long j = 0; j < OV; j++) bias[j] = (dtk_v16){0};
    for (long s = 0; s < batch; s++) {
        for (long i = 0; i < TB * OV; i++) acc[i] = (dtk_v16){0};
        const float *xs = x + s * ss;
        for (long p = 0; p < positions; p++) {
            dtk_v16 d[DTK_MAX_OUT / 16];
            for (long j = 0; j < OV; j++) memcpy(&d[j], dy + (s * positions + p) * out + 16 * j, sizeof(dtk_v16));
            if (db) for (long j = 0; j < OV; j++) bias[j] += d[j];
            const int32_t *op = off + p * taps + t0;
            for (long t = 0; t < TB; t++) {
                int32_t k = op[t];
                float v = k < 0 ? 0.0f : xs[k];
                for (long j = 0; j < OV; j++) acc[t * OV + j] += v * d[j];
            }
        }
        for (long i = 0; i < TB * OV; i++) total[i] += acc[i];
    }
    for (long t = 0; t < TB; t++)
        for (long j = 0; j < OV; j++)
            for (long o = 0; o < 16; o++) dw[(16 * j + o) * taps + t0 + t] += total[t * OV + j][o];
    if (db) for (long j = 0; j < OV; j++) for (long o = 0; o < 16; o++) db[16 * j + o] += bias[j][o];
}

INLINE void conv1_backward_weight_body(const float *restrict x, long ss, long batch, const int32_t *restrict off,
                                       long positions, const float *restrict dy, float *restrict dw,
                                       float *restrict db, long taps, long out) {
    /* The first tile of each output vector also sums the bias gradient. */
    if (taps == 16 && out == 16) {
        conv1_weight_tile(x, ss, batch, off, positions, dy, dw, db, taps, out, 0, 16, 1);
        return;
    }
    if (taps == 25 && out == 32) {
        conv1_weight_tile(x, ss, batch, off, positions, dy, dw, db, taps, out, 0, 12, 2);
        conv1_weight_tile(x, ss, batch, off, positions, dy, dw, NULL, taps, out, 12, 12, 2);
        conv1_weight_tile(x, ss, batch, off, positions, dy, dw, NULL, taps, out, 24, 1, 2);
        return;
    }
    if (out % 16 == 0) {
        for (long o0 = 0; o0 < out; o0 += 16)
            for (long t0 = 0; t0 < taps; t0 += DTK_WEIGHT_ACCUMULATORS) {
                long tb = taps - t0 < DTK_WEIGHT_ACCUMULATORS ? taps - t0 : DTK_WEIGHT_ACCUMULATORS;
                /* One output vector: dy, dw and db offset to outputs o0.. (out stays the row length). */
                conv1_weight_tile(x, ss, batch, off, positions, dy + o0, dw + o0 * taps, t0 == 0 ? db + o0 : NULL,
                                  taps, out, t0, tb, 1);
            }
        return;
    }
    for (long r = 0; r < batch * positions; r++) {
        const float *dr = dy + r * out;
        for (long o = 0; o < out; o++) db[o] += dr[o];
    }
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * ss;
        for (long p = 0; p < positions; p++) {
            const float *dr = dy + (s * positions + p) * out;
            const int32_t *op = off + p * taps;
            for (long o = 0; o < out; o++) {
                for (long t = 0; t < taps; t++) { int32_t k = op[t]; if (k >= 0) dw[o * taps + t] += dr[o] * xs[k]; }
            }
        }
    }
}
#define conv1_backward_weight_call(x, ss, batch, off, positions, dy, dw, db, taps, out) do { \
        if (taps == 16 && out == 16) conv1_backward_weight_body(x, ss, batch, off, positions, dy, dw, db, 16, 16); \
        else if (taps == 25 && out == 32) conv1_backward_weight_body(x, ss, batch, off, positions, dy, dw, db, 25, 32); \
        else conv1_backward_weight_body(x, ss, batch, off, positions, dy, dw, db, taps, out); \
    } while (0)
INSTANTIATE(conv1_backward_weight, (const float *x, long ss, long batch, const int32_t *off, long positions, long taps,
                                    const float *dy, long out, float *dw, float *db),
            (x, ss, batch, off, positions, dy, dw, db, taps, out))
void dtk_conv1_backward_weight(const float *x, long ss, long batch, const int32_t *off, long positions, long taps,
                               const float *dy, long out, float *dw, float *db) {
    if (taps > DTK_MAX_TAPS) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv1_backward_weight, (x, ss, batch, off, positions, taps, dy, out, dw, db));
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

