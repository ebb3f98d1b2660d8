#include "dispatch.h"

/* Convolutions of a one-channel input, over a copy of the input with its zero padding written
   out (dtk_pad_images): every tap reads memory at a fixed distance from its output position's
   corner, so there is no offset table to load and no padding test per tap, and the distances
   are known to the compiler for the models' shapes (4x4 stride 2, 5x5 stride 1).
   Position p = (oy, ox) of an oh x ow output has its corner at oy*st*pw + ox*st in a padded
   ph x pw image; tap t = (ky, kx), t = ky*k + kx, sits at ky*pw + kx from the corner. Each sum
   runs in the order of the offset-table kernels these replaced (the bias, or zero, then the taps
   in t order, outputs in o order), so the results are bitwise those of the unpadded loops. */

/* A block of output positions along one output row: each tap's weights, loaded once, serve all
   of them, and their accumulators are independent chains for the FMA units (one position alone
   is a chain of taps dependent FMAs). Blocks that run past the row compute positions that are
   not stored; the reads they make stay inside the padded buffer's slack (DTK_PAD_SLACK). */
#define DTK_POSITIONS 8

/* The backward kernels take dy = dL/d(ReLU output) and, when a ReLU follows the convolution, its
   output y (else NULL), and mask dy as they read it (relu_mask_of): the masked gradient is never
   written out and read back. */
INLINE float relu_masked(const float *restrict dy, const float *restrict y, long i) {
    return y ? relu_mask_of(dy[i], y[i]) : dy[i];
}
INLINE void relu_masked_vector(dtk_v16 *r, const float *restrict dy, const float *restrict y) {
    memcpy(r, dy, sizeof *r);
    if (y) UNROLL for (int l = 0; l < 16; l++) (*r)[l] = relu_mask_of((*r)[l], y[l]);
}

void dtk_pad_images(const float *x, long batch, long h, long w, long pad, float *xp) {
    long ph = h + 2 * pad, pw = w + 2 * pad;
    for (long s = 0; s < batch; s++)
        for (long iy = 0; iy < h; iy++)
            memcpy(xp + (s * ph + iy + pad) * pw + pad, x + (s * h + iy) * w, (size_t)w * sizeof(float));
}

void dtk_unpad_images(const float *xp, long batch, long h, long w, long pad, float *x) {
    long ph = h + 2 * pad, pw = w + 2 * pad;
    for (long s = 0; s < batch; s++)
        for (long iy = 0; iy < h; iy++)
            memcpy(x + (s * h + iy) * w, xp + (s * ph + iy + pad) * pw + pad, (size_t)w * sizeof(float));
}

/* y[((s*oh + oy)*ow + ox)*out + o] = b[o] + sum_t corner[ky*pw + kx] * wt[t*out + o], out a
   multiple of 16 (OV vectors); with relu, rectified as it is stored. */
INLINE void conv1_forward_vectors(const float *restrict xp, long ph, long pw, long batch, long oh, long ow,
                                  long k, long st, const float *restrict wt, const float *restrict b,
                                  float *restrict y, long out, int relu, const long OV) {
    dtk_v16 bias[DTK_MAX_OUT / 16];
    for (long j = 0; j < OV; j++) memcpy(&bias[j], b + 16 * j, sizeof(dtk_v16));
    for (long s = 0; s < batch; s++) {
        for (long oy = 0; oy < oh; oy++) {
            const float *row = xp + s * ph * pw + oy * st * pw;
            float *yr = y + (s * oh + oy) * ow * out;
            for (long ox0 = 0; ox0 < ow; ox0 += DTK_POSITIONS) {
                long np = ow - ox0 < DTK_POSITIONS ? ow - ox0 : DTK_POSITIONS;
                const float *corner = row + ox0 * st;
                dtk_v16 acc[DTK_POSITIONS][DTK_MAX_OUT / 16];
                UNROLL for (long q = 0; q < DTK_POSITIONS; q++) UNROLL for (long j = 0; j < OV; j++) acc[q][j] = bias[j];
                for (long ky = 0; ky < k; ky++) {
                    for (long kx = 0; kx < k; kx++) {
                        const float *tap = corner + ky * pw + kx;
                        dtk_v16 w[DTK_MAX_OUT / 16];
                        UNROLL for (long j = 0; j < OV; j++) memcpy(&w[j], wt + (ky * k + kx) * out + 16 * j, sizeof(dtk_v16));
                        UNROLL for (long q = 0; q < DTK_POSITIONS; q++) {
                            float v = tap[q * st];
                            UNROLL for (long j = 0; j < OV; j++) acc[q][j] += v * w[j];
                        }
                    }
                }
                if (relu)
                    UNROLL for (long q = 0; q < DTK_POSITIONS; q++) UNROLL for (long j = 0; j < OV; j++)
                        UNROLL for (int l = 0; l < 16; l++) acc[q][j][l] = relu_of(acc[q][j][l]);
                UNROLL for (long q = 0; q < DTK_POSITIONS; q++) {
                    if (q >= np) break;
                    UNROLL for (long j = 0; j < OV; j++) memcpy(yr + (ox0 + q) * out + 16 * j, &acc[q][j], sizeof(dtk_v16));
                }
            }
        }
    }
}

INLINE void conv1_forward_body(const float *restrict xp, long ph, long pw, long batch, long oh, long ow,
                               long k, long st, const float *restrict wt, const float *restrict b,
                               float *restrict y, long out, int relu) {
    if (out % 16 == 0) {
        conv1_forward_vectors(xp, ph, pw, batch, oh, ow, k, st, wt, b, y, out, relu, out / 16);
        return;
    }
    for (long s = 0; s < batch; s++) {
        for (long oy = 0; oy < oh; oy++) {
            for (long ox = 0; ox < ow; ox++) {
                const float *corner = xp + s * ph * pw + oy * st * pw + ox * st;
                float acc[DTK_MAX_OUT];
                for (long o = 0; o < out; o++) acc[o] = b[o];
                for (long t = 0; t < k * k; t++) {
                    float v = corner[(t / k) * pw + t % k];
                    for (long o = 0; o < out; o++) acc[o] += v * wt[t * out + o];
                }
                float *yr = y + ((s * oh + oy) * ow + ox) * out;
                for (long o = 0; o < out; o++) yr[o] = relu ? relu_of(acc[o]) : acc[o];
            }
        }
    }
}
/* The models' shapes with their constants known, so the tap loops unroll and the distances
   become immediates. */
#define conv1_forward_call(xp, ph, pw, batch, oh, ow, k, st, wt, b, y, out, relu) do { \
        if (k == 4 && st == 2 && out == 16) conv1_forward_body(xp, ph, pw, batch, oh, ow, 4, 2, wt, b, y, 16, relu); \
        else if (k == 5 && st == 1 && out == 32) conv1_forward_body(xp, ph, pw, batch, oh, ow, 5, 1, wt, b, y, 32, relu); \
        else conv1_forward_body(xp, ph, pw, batch, oh, ow, k, st, wt, b, y, out, relu); \
    } while (0)
INSTANTIATE(conv1_forward, (const float *xp, long ph, long pw, long batch, long oh, long ow, long k, long st,
                            const float *wt, const float *b, long out, int relu, float *y),
            (xp, ph, pw, batch, oh, ow, k, st, wt, b, y, out, relu))
void dtk_conv1_forward(const float *xp, long ph, long pw, long batch, long oh, long ow, long k, long st,
                       const float *wt, const float *b, long out, int relu, float *y) {
    if (k * k > DTK_MAX_TAPS || out > DTK_MAX_OUT || DTK_POSITIONS * st + k > DTK_PAD_SLACK) abort();   /* Conv2d checks */
    DISPATCH(conv1_forward, (xp, ph, pw, batch, oh, ow, k, st, wt, b, out, relu, y));
}

/* Its input gradient into a padded dx: g[t] = sum_o dy[p*out + o] * w[o*taps + t] for each
   position, then added tap by tap at the position's corner (positions in order). */
INLINE void conv1_backward_input_body(const float *restrict dy, const float *restrict y, long batch, long oh, long ow,
                                      long k, long st, const float *restrict w, long out, float *restrict dxp,
                                      long ph, long pw) {
    const long taps = k * k;
    for (long s = 0; s < batch; s++) {
        for (long oy = 0; oy < oh; oy++) {
            float *row = dxp + s * ph * pw + oy * st * pw;
            for (long ox0 = 0; ox0 < ow; ox0 += DTK_POSITIONS) {
                long np = ow - ox0 < DTK_POSITIONS ? ow - ox0 : DTK_POSITIONS;
                float g[DTK_POSITIONS][DTK_MAX_TAPS], masked[DTK_POSITIONS][DTK_MAX_OUT];
                const float *dr[DTK_POSITIONS];
                for (long q = 0; q < DTK_POSITIONS; q++) {
                    long r = ((s * oh + oy) * ow + ox0 + (q < np ? q : 0)) * out;
                    dr[q] = dy + r;
                    if (!y) continue;
                    const float *src = dy + r, *yq = y + r;
                    for (long o = 0; o < out; o++) masked[q][o] = relu_mask_of(src[o], yq[o]);
                    dr[q] = masked[q];
                }
                if (taps == 16) {
                    /* One vector of tap gradients per position, written as such. */
                    dtk_v16 gv[DTK_POSITIONS];
                    UNROLL for (long q = 0; q < DTK_POSITIONS; q++) gv[q] = (dtk_v16){0};
                    for (long o = 0; o < out; o++) {
                        dtk_v16 wr;
                        memcpy(&wr, w + o * 16, sizeof wr);
                        UNROLL for (long q = 0; q < DTK_POSITIONS; q++) gv[q] += dr[q][o] * wr;
                    }
                    UNROLL for (long q = 0; q < DTK_POSITIONS; q++) memcpy(g[q], &gv[q], sizeof(dtk_v16));
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
                    float *corner = row + (ox0 + q) * st;
                    for (long ky = 0; ky < k; ky++)
                        for (long kx = 0; kx < k; kx++) corner[ky * pw + kx] += g[q][ky * k + kx];
                }
            }
        }
    }
}
#define conv1_backward_input_call(dy, y, batch, oh, ow, k, st, w, out, dxp, ph, pw) do { \
        if (k == 4 && st == 2 && out == 16) conv1_backward_input_body(dy, y, batch, oh, ow, 4, 2, w, 16, dxp, ph, pw); \
        else if (k == 5 && st == 1 && out == 32) conv1_backward_input_body(dy, y, batch, oh, ow, 5, 1, w, 32, dxp, ph, pw); \
        else conv1_backward_input_body(dy, y, batch, oh, ow, k, st, w, out, dxp, ph, pw); \
    } while (0)
INSTANTIATE(conv1_backward_input, (const float *dy, const float *y, long batch, long oh, long ow, long k, long st,
                                   const float *w, long out, float *dxp, long ph, long pw),
            (dy, y, batch, oh, ow, k, st, w, out, dxp, ph, pw))
void dtk_conv1_backward_input(const float *dy, const float *y, long batch, long oh, long ow, long k, long st,
                              const float *w, long out, float *dxp, long ph, long pw) {
    if (k * k > DTK_MAX_TAPS || out > DTK_MAX_OUT) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv1_backward_input, (dy, y, batch, oh, ow, k, st, w, out, dxp, ph, pw));
}

/* Weight and bias gradients, accumulated: dw[o*taps + t] += sum_{s,p} dy[(s*positions + p)*out + o] * corner_p[ky*pw + kx],
   db[o] += sum_{s,p} dy[...]. With out a multiple of 16, a tile of TB taps times every output
   vector (OV of them) is held in registers over one sample's positions, so each input value
   read serves all outputs; the tiles of one sample run one after the other, so its dy (at most
   a few hundred KiB) is read from memory once. Per-sample partial sums are added to the totals
   after each sample, so rounding grows with the positions of one sample, not of the whole
   batch; the bias gradient is one running sum over the batch. */
#define DTK_WEIGHT_ACCUMULATORS 26
INLINE void conv1_weight_sample(const float *restrict xs, long pw, long oh, long ow, long k, long st,
                                const float *restrict dr, const float *restrict yr, long out, long t0, const long TB,
                                const long OV, dtk_v16 *restrict total, dtk_v16 *restrict bias) {
    dtk_v16 acc[DTK_WEIGHT_ACCUMULATORS], b[DTK_MAX_OUT / 16];
    UNROLL for (long i = 0; i < TB * OV; i++) acc[i] = (dtk_v16){0};
    if (bias) UNROLL for (long j = 0; j < OV; j++) b[j] = bias[j];
    for (long oy = 0; oy < oh; oy++) {
        const float *row = xs + oy * st * pw;
        for (long ox = 0; ox < ow; ox++, dr += out, yr = yr ? yr + out : NULL) {
            const float *corner = row + ox * st;
            dtk_v16 d[DTK_MAX_OUT / 16];
            UNROLL for (long j = 0; j < OV; j++) relu_masked_vector(&d[j], dr + 16 * j, yr ? yr + 16 * j : NULL);
            if (bias) UNROLL for (long j = 0; j < OV; j++) b[j] += d[j];
            UNROLL for (long t = 0; t < TB; t++) {
                float v = corner[((t0 + t) / k) * pw + (t0 + t) % k];
                UNROLL for (long j = 0; j < OV; j++) acc[t * OV + j] += v * d[j];
            }
        }
    }
    UNROLL for (long i = 0; i < TB * OV; i++) total[i] += acc[i];
    if (bias) UNROLL for (long j = 0; j < OV; j++) bias[j] = b[j];
}

/* dw[(16*j + o)*taps + t0 + t] += total[t*OV + j][o] for a tile's totals. */
static void conv1_add_tile(const dtk_v16 *total, float *dw, long taps, long t0, long TB, long OV) {
    for (long t = 0; t < TB; t++)
        for (long j = 0; j < OV; j++)
            for (long o = 0; o < 16; o++) dw[(16 * j + o) * taps + t0 + t] += total[t * OV + j][o];
}

INLINE void conv1_backward_weight_body(const float *restrict xp, long ph, long pw, long batch, long oh, long ow,
                                       long k, long st, const float *restrict dy, const float *restrict y,
                                       float *restrict dw, float *restrict db, long out) {
    const long taps = k * k, positions = oh * ow;
    /* Tiles of taps: 16 x 1 output vector, 13 + 12 x 2 output vectors (26 and 24 accumulators),
       else up to DTK_WEIGHT_ACCUMULATORS taps x one output vector at a time. */
    if (out % 16 == 0) {
        dtk_v16 total[(DTK_MAX_TAPS + DTK_WEIGHT_ACCUMULATORS) * DTK_MAX_OUT / 16], bias[DTK_MAX_OUT / 16];
        for (long i = 0; i < (DTK_MAX_TAPS + DTK_WEIGHT_ACCUMULATORS) * DTK_MAX_OUT / 16; i++) total[i] = (dtk_v16){0};
        for (long j = 0; j < DTK_MAX_OUT / 16; j++) bias[j] = (dtk_v16){0};
        for (long s = 0; s < batch; s++) {
            const float *xs = xp + s * ph * pw, *dr = dy + s * positions * out, *yr = y ? y + s * positions * out : NULL;
            if (k == 4 && out == 16) {
                conv1_weight_sample(xs, pw, oh, ow, k, st, dr, yr, out, 0, 16, 1, total, bias);
            } else if (k == 5 && out == 32) {
                conv1_weight_sample(xs, pw, oh, ow, k, st, dr, yr, out, 0, 13, 2, total, bias);
                conv1_weight_sample(xs, pw, oh, ow, k, st, dr, yr, out, 13, 12, 2, total + 26, NULL);
            } else {
                /* One output vector at a time: dy and the totals offset to outputs o0.. (out stays the row length). */
                for (long o0 = 0; o0 < out; o0 += 16)
                    for (long t0 = 0; t0 < taps; t0 += DTK_WEIGHT_ACCUMULATORS) {
                        long tb = taps - t0 < DTK_WEIGHT_ACCUMULATORS ? taps - t0 : DTK_WEIGHT_ACCUMULATORS;
                        conv1_weight_sample(xs, pw, oh, ow, k, st, dr + o0, yr ? yr + o0 : NULL, out, t0, tb, 1,
                                            total + (o0 / 16) * (DTK_MAX_TAPS + DTK_WEIGHT_ACCUMULATORS) + t0,
                                            t0 == 0 ? bias + o0 / 16 : NULL);
                    }
            }
        }
        if (k == 4 && out == 16) {
            conv1_add_tile(total, dw, taps, 0, 16, 1);
        } else if (k == 5 && out == 32) {
            conv1_add_tile(total, dw, taps, 0, 13, 2);
            conv1_add_tile(total + 26, dw, taps, 13, 12, 2);
        } else {
            for (long o0 = 0; o0 < out; o0 += 16)
                conv1_add_tile(total + (o0 / 16) * (DTK_MAX_TAPS + DTK_WEIGHT_ACCUMULATORS), dw + o0 * taps, taps, 0, taps, 1);
        }
        for (long j = 0; j < out / 16; j++) for (long o = 0; o < 16; o++) db[16 * j + o] += bias[j][o];
        return;
    }
    for (long r = 0; r < batch * oh * ow; r++)
        for (long o = 0; o < out; o++) db[o] += relu_masked(dy, y, r * out + o);
    long r = 0;
    for (long s = 0; s < batch; s++)
        for (long oy = 0; oy < oh; oy++)
            for (long ox = 0; ox < ow; ox++, r += out) {
                const float *corner = xp + s * ph * pw + oy * st * pw + ox * st;
                for (long o = 0; o < out; o++) {
                    float d = relu_masked(dy, y, r + o);
                    for (long t = 0; t < taps; t++) dw[o * taps + t] += d * corner[(t / k) * pw + t % k];
                }
            }
}
#define conv1_backward_weight_call(xp, ph, pw, batch, oh, ow, k, st, dy, y, dw, db, out) do { \
        if (k == 4 && st == 2 && out == 16) conv1_backward_weight_body(xp, ph, pw, batch, oh, ow, 4, 2, dy, y, dw, db, 16); \
        else if (k == 5 && st == 1 && out == 32) conv1_backward_weight_body(xp, ph, pw, batch, oh, ow, 5, 1, dy, y, dw, db, 32); \
        else conv1_backward_weight_body(xp, ph, pw, batch, oh, ow, k, st, dy, y, dw, db, out); \
    } while (0)
INSTANTIATE(conv1_backward_weight, (const float *xp, long ph, long pw, long batch, long oh, long ow, long k, long st,
                                    const float *dy, const float *y, long out, float *dw, float *db),
            (xp, ph, pw, batch, oh, ow, k, st, dy, y, dw, db, out))
void dtk_conv1_backward_weight(const float *xp, long ph, long pw, long batch, long oh, long ow, long k, long st,
                               const float *dy, const float *y, long out, float *dw, float *db) {
    if (k * k > DTK_MAX_TAPS) abort();   /* a caller's error: Conv2d checks */
    DISPATCH(conv1_backward_weight, (xp, ph, pw, batch, oh, ow, k, st, dy, y, out, dw, db));
}
