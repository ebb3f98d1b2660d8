#include "dispatch.h"

/* Max pooling backward on hwc activations, window k x k with stride k: for each output (s, oy,
   ox) and channel, the first window element in row-major order equal to the maximum y (or the
   first NaN when y is NaN) gets dy, the others nothing. Windows do not overlap, so dx is
   written, not accumulated; rows and columns past the last window are zeroed. */
/* Max pooling forward, hwc, k x k windows with stride k: each output channel starts from the
   window's first element and takes the larger value, or a NaN that appears while the running
   maximum is not yet NaN (PyTorch's propagation of NaN, first NaN kept). */
INLINE void maxpool_forward_body(const float *restrict x, float *restrict y, long batch, long h, long w, long c,
                                 long k) {
    long oh = h / k, ow = w / k;
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * h * w * c;
        for (long oy = 0; oy < oh; oy++) {
            for (long ox = 0; ox < ow; ox++) {
                float *out = y + ((s * oh + oy) * ow + ox) * c;
                const float *first = xs + ((oy * k) * w + ox * k) * c;
                for (long ch = 0; ch < c; ch++) out[ch] = first[ch];
                for (long ky = 0; ky < k; ky++) {
                    for (long kx = 0; kx < k; kx++) {
                        if (ky + kx == 0) continue;
                        const float *v = xs + ((oy * k + ky) * w + ox * k + kx) * c;
                        for (long ch = 0; ch < c; ch++) {
                            float a = out[ch], b = v[ch];
                            out[ch] = (b > a || (b != b && a == a)) ? b : a;
                        }
                    }
                }
            }
        }
    }
}
#define maxpool_forward_call(x, y, batch, h, w, c, k) do { \
        if (k == 2 && c == 32) maxpool_forward_body(x, y, batch, h, w, 32, 2); \
        else if (k == 2 && c == 64) maxpool_forward_body(x, y, batch, h, w, 64, 2); \
        else maxpool_forward_body(x, y, batch, h, w, c, k); \
    } while (0)
INSTANTIATE(maxpool_forward, (const float *x, float *y, long batch, long h, long w, long c, long k),
            (x, y, batch, h, w, c, k))
void dtk_maxpool_forward(const float *x, float *y, long batch, long h, long w, long c, long k) {
    DISPATCH(maxpool_forward, (x, y, batch, h, w, c, k));
}

INLINE void maxpool_backward_body(const float *restrict x, const float *restrict y, const float *restrict dy,
                                  float *restrict dx, long batch, long h, long w, long c, long k) {
    long oh = h / k, ow = w / k;
    float left[DTK_MAX_CHANNELS * 4];
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * h * w * c;
        float *dxs = dx + s * h * w * c;
        for (long i = 0; i < h * w * c; i++) dxs[i] = 0;
        for (long oy = 0; oy < oh; oy++) {
            for (long ox = 0; ox < ow; ox++) {
                const float *best = y + ((s * oh + oy) * ow + ox) * c;
                const float *g = dy + ((s * oh + oy) * ow + ox) * c;
                for (long ch0 = 0; ch0 < c; ch0 += DTK_MAX_CHANNELS * 4) {
                    long cc = c - ch0 < DTK_MAX_CHANNELS * 4 ? c - ch0 : DTK_MAX_CHANNELS * 4;
                    for (long ch = 0; ch < cc; ch++) left[ch] = g[ch0 + ch];
                    for (long ky = 0; ky < k; ky++) {
                        for (long kx = 0; kx < k; kx++) {
                            long t = ((oy * k + ky) * w + ox * k + kx) * c + ch0;
                            const float *v = xs + t;
                            float *d = dxs + t;
                            for (long ch = 0; ch < cc; ch++) {
                                float a = v[ch], m = best[ch0 + ch];
                                int hit = a == m || (a != a && m != m);
                                d[ch] = hit ? left[ch] : 0.0f;
                                left[ch] = hit ? 0.0f : left[ch];
                            }
                        }
                    }
                }
            }
        }
    }
}
#define maxpool_backward_call maxpool_backward_body
INSTANTIATE(maxpool_backward, (const float *x, const float *y, const float *dy, float *dx, long batch, long h, long w,
                               long c, long k),
            (x, y, dy, dx, batch, h, w, c, k))
void dtk_maxpool_backward(const float *x, const float *y, const float *dy, float *dx, long batch, long h, long w,
                          long c, long k) {
    DISPATCH(maxpool_backward, (x, y, dy, dx, batch, h, w, c, k));
}

/* SGD with momentum and weight decay (PyTorch's torch.optim.SGD, dampening 0, no Nesterov):
   g = grad + wd*p; v = momentum*v + g; p -= lr*v. Returns the largest magnitude of the new v
   and stores that of the new p in *largest_p (NaN if one is NaN), found in the same pass as
   integer maxima of bit patterns. With clear, also zeroes grad as it goes (the next step's
   gradients start from zero without a pass of their own). */
INLINE float sgd_step_body(float *restrict p, float *restrict grad, float *restrict v, long n,
                           float lr, float momentum, float wd, int clear, float *largest_p) {
    uint32_t largest = 0, largest_param = 0;
    for (long i = 0; i < n; i++) {
        float g = grad[i] + wd * p[i];
        if (clear) grad[i] = 0.0f;
        float vi = momentum * v[i] + g;
        float pi = p[i] - lr * vi;
        v[i] = vi;
        p[i] = pi;
        uint32_t bits, pbits;
        memcpy(&bits, &vi, sizeof bits);
        memcpy(&pbits, &pi, sizeof pbits);
        bits &= 0x7FFFFFFFu;
        pbits &= 0x7FFFFFFFu;
        largest = bits > largest ? bits : largest;
        largest_param = pbits > largest_param ? pbits : largest_param;
    }
    memcpy(largest_p, &largest_param, sizeof *largest_p);
    float out;
    memcpy(&out, &largest, sizeof out);
    return out;
}
INSTANTIATE_RETURNING(float, sgd_step, (float *p, float *grad, float *v, long n, float lr, float momentum, float wd,
                                        int clear, float *largest_p),
                      (p, grad, v, n, lr, momentum, wd, clear, largest_p))
float dtk_sgd_step(float *p, float *grad, float *v, long n, float lr, float momentum, float wd, int clear,
                   float *largest_p) {
    DISPATCH_RETURNING(sgd_step, (p, grad, v, n, lr, momentum, wd, clear, largest_p));
}

/* 1 if the SGD update would leave every parameter finite (checked without writing): the largest
   magnitude bit pattern of the updated values stays below that of infinity (an integer max,
   which vectorises, unlike a float sum). The same expressions as sgd_step, so the two agree to
   the last rounding. */
INLINE int sgd_stays_finite_body(const float *restrict p, const float *restrict grad, const float *restrict v,
                                 long n, float lr, float momentum, float wd) {
    uint32_t largest = 0;
    for (long i = 0; i < n; i++) {
        float g = grad[i] + wd * p[i];
        float vi = momentum * v[i] + g;
        float next = p[i] - lr * vi;
        uint32_t bits;
        memcpy(&bits, &next, sizeof bits);
        bits &= 0x7FFFFFFFu;
        largest = bits > largest ? bits : largest;
    }
    return largest < 0x7F800000u;
}
INSTANTIATE_RETURNING(int, sgd_stays_finite, (const float *p, const float *grad, const float *v, long n, float lr, float momentum, float wd),
                      (p, grad, v, n, lr, momentum, wd))
int dtk_sgd_stays_finite(const float *p, const float *grad, const float *v, long n, float lr, float momentum, float wd) {
    DISPATCH_RETURNING(sgd_stays_finite, (p, grad, v, n, lr, momentum, wd));
}


/* The largest magnitude of the n values (0 for none): an integer max of the bit patterns without
   the sign, which vectorises (a float comparison chain would not). A NaN has a larger pattern than
   infinity, so the result is NaN if any value is NaN, else infinity if any is infinite. */
INLINE float max_magnitude_body(const float *restrict values, long n) {
    uint32_t largest = 0;
    for (long i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, values + i, sizeof bits);
        bits &= 0x7FFFFFFFu;
        largest = bits > largest ? bits : largest;
    }
    float out;
    memcpy(&out, &largest, sizeof out);
    return out;
}
INSTANTIATE_RETURNING(float, max_magnitude, (const float *values, long n), (values, n))
float dtk_max_magnitude(const float *values, long n) { DISPATCH_RETURNING(max_magnitude, (values, n)); }

/* Tiles of 16 x 16: each tile reads 16 rows of yt and writes 16 rows of y, all in cache. */
INLINE void transpose_add_bias_body(const float *restrict yt, long rows, long cols, const float *restrict b,
                                    int relu, float *restrict y) {
    enum { T = 16 };
    for (long j0 = 0; j0 < rows; j0 += T) {
        long nj = rows - j0 < T ? rows - j0 : T;
        for (long i0 = 0; i0 < cols; i0 += T) {
            long ni = cols - i0 < T ? cols - i0 : T;
            for (long i = i0; i < i0 + ni; i++) {
                float *out = y + i * rows + j0;
                const float *in = yt + j0 * cols + i;
                if (relu) {
                    for (long j = 0; j < nj; j++) { float v = in[j * cols] + b[j0 + j]; out[j] = relu_of(v); }
                } else {
                    for (long j = 0; j < nj; j++) out[j] = in[j * cols] + b[j0 + j];
                }
            }
        }
    }
}
#define transpose_add_bias_call transpose_add_bias_body
INSTANTIATE(transpose_add_bias, (const float *yt, long rows, long cols, const float *b, int relu, float *y),
            (yt, rows, cols, b, relu, y))
void dtk_transpose_add_bias(const float *yt, long rows, long cols, const float *b, int relu, float *y) {
    DISPATCH(transpose_add_bias, (yt, rows, cols, b, relu, y));
}

/* The elementwise passes of layers and attacks. Swift compiles for baseline x86-64 (SSE) only;
   these run at the CPU's vector width. Each keeps the Swift expressions and their order exactly
   (Swift's max(v, 0) is `0 >= v ? 0 : v`, its min(v, 1) is `1 < v ? 1 : v`), with contraction into
   fused multiply-adds off, so results are bitwise the same on every vector level. */

INLINE void add_bias_body(float *y, long rows, long cols, const float *restrict b, int relu) {
    if (relu) {
        for (long r = 0; r < rows; r++) {
            float *row = y + r * cols;
            for (long j = 0; j < cols; j++) { float v = row[j] + b[j]; row[j] = relu_of(v); }
        }
    } else {
        for (long r = 0; r < rows; r++) {
            float *row = y + r * cols;
            for (long j = 0; j < cols; j++) row[j] += b[j];
        }
    }
}
#define add_bias_call add_bias_body
INSTANTIATE(add_bias, (float *y, long rows, long cols, const float *b, int relu), (y, rows, cols, b, relu))
void dtk_add_bias(float *y, long rows, long cols, const float *b, int relu) {
    DISPATCH(add_bias, (y, rows, cols, b, relu));
}

/* In place or into a separate buffer: with possibly overlapping pointers the compiler would
   check the distance at run time and take its scalar loop for y == x. */
INLINE void relu_body(const float *x, float *y, long n) {
    if (x == y) {
        for (long i = 0; i < n; i++) y[i] = relu_of(y[i]);
    } else {
        const float *restrict in = x;
        float *restrict out = y;
        for (long i = 0; i < n; i++) out[i] = relu_of(in[i]);
    }
}
#define relu_call relu_body
INSTANTIATE(relu, (const float *x, float *y, long n), (x, y, n))
void dtk_relu(const float *x, float *y, long n) { DISPATCH(relu, (x, y, n)); }

INLINE void relu_mask_body(const float *dy, const float *restrict y, float *dz, long rows, long width,
                           float *restrict sums) {
    if (sums) {
        for (long r = 0; r < rows; r++) {
            const float *g = dy + r * width, *yr = y + r * width;
            float *out = dz + r * width;
            for (long j = 0; j < width; j++) {
                float m = relu_mask_of(g[j], yr[j]);
                out[j] = m;
                sums[j] += m;
            }
        }
    } else {
        long n = rows * width;
        for (long i = 0; i < n; i++) dz[i] = relu_mask_of(dy[i], y[i]);
    }
}
#define relu_mask_call relu_mask_body
INSTANTIATE(relu_mask, (const float *dy, const float *y, float *dz, long rows, long width, float *sums),
            (dy, y, dz, rows, width, sums))
void dtk_relu_mask(const float *dy, const float *y, float *dz, long rows, long width, float *sums) {
    DISPATCH(relu_mask, (dy, y, dz, rows, width, sums));
}

INLINE void add_column_sums_body(const float *restrict x, long rows, long cols, float *restrict sums) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        for (long j = 0; j < cols; j++) sums[j] += row[j];
    }
}
#define add_column_sums_call add_column_sums_body
INSTANTIATE(add_column_sums, (const float *x, long rows, long cols, float *sums), (x, rows, cols, sums))
void dtk_add_column_sums(const float *x, long rows, long cols, float *sums) {
    DISPATCH(add_column_sums, (x, rows, cols, sums));
}

INLINE void sign_step_project_body(float *restrict out, const float *restrict x, const float *restrict g, long n,
                                   float alpha, float eps) {
#pragma clang fp contract(off)
    for (long j = 0; j < n; j++) {
        float gj = g[j];
        float s = gj > 0.0f ? 1.0f : (gj < 0.0f ? -1.0f : 0.0f);
        float step = out[j] + alpha * s;
        float t = step - x[j];
        t = -eps >= t ? -eps : t;
        t = eps < t ? eps : t;
        float v = x[j] + t;
        v = 0.0f >= v ? 0.0f : v;
        out[j] = 1.0f < v ? 1.0f : v;
    }
}
#define sign_step_project_call sign_step_project_body
INSTANTIATE(sign_step_project, (float *out, const float *x, const float *g, long n, float alpha, float eps),
            (out, x, g, n, alpha, eps))
void dtk_sign_step_project(float *out, const float *x, const float *g, long n, float alpha, float eps) {
    DISPATCH(sign_step_project, (out, x, g, n, alpha, eps));
}

INLINE void uniform_start_body(const float *restrict x, float *restrict out, long n, uint64_t state, float eps) {
#pragma clang fp contract(off)
    for (long j = 0; j < n; j++) {
        uint64_t z = state + (uint64_t)(j + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float u = (float)(uint32_t)(z >> 40) * (1.0f / 16777216.0f);
        float v = x[j] + (2.0f * u - 1.0f) * eps;
        v = 0.0f >= v ? 0.0f : v;
        out[j] = 1.0f < v ? 1.0f : v;
    }
}
#define uniform_start_call uniform_start_body
INSTANTIATE(uniform_start, (const float *x, float *out, long n, uint64_t state, float eps), (x, out, n, state, eps))
void dtk_uniform_start(const float *x, float *out, long n, uint64_t state, float eps) {
    DISPATCH(uniform_start, (x, out, n, state, eps));
}

/* Per sample, y = the transpose of x (rows x cols): y[j*rows + i] = x[i*cols + j]. The inner loop
   writes contiguously and gathers its reads (from L1: a sample is a few KiB), which runs
   1.25-1.4x faster with AVX-512 than contiguous reads and scattered writes. */
INLINE void transpose_each_body(const float *restrict x, float *restrict y, long batch, long rows, long cols) {
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * rows * cols;
        float *ys = y + s * rows * cols;
        for (long j = 0; j < cols; j++)
            for (long i = 0; i < rows; i++) ys[j * rows + i] = xs[i * cols + j];
    }
}
#define transpose_each_call transpose_each_body
INSTANTIATE(transpose_each, (const float *x, float *y, long batch, long rows, long cols), (x, y, batch, rows, cols))

#if defined(__x86_64__)
#include <immintrin.h>
/* With AVX-512: 16 x 16 tiles transposed in registers (16 contiguous loads, 64 shuffles, 16
   contiguous stores), the rows and columns that do not fill a tile by the loop above. */
static inline AVX512 __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {   /* t[2i] = a0 b0 a1 b1 | a4 b4 a5 b5 | ..., t[2i+1] = a2 b2 a3 b3 | ... */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {   /* r[4g + m]: rows 4g..4g+3 of columns m, m+4, m+8, m+12 */
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int m = 0; m < 4; m++) {   /* 128-bit lanes: rows 0-7 and 8-15 of columns m, m+8 and m+4, m+12 */
        t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
        t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
        t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
        t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
    }
    for (int m = 0; m < 4; m++) {   /* r[c] = column c */
        r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);
        r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd);
    }
}
static AVX512 void transpose_each_tiles(const float *restrict x, float *restrict y, long batch, long rows, long cols) {
    for (long s = 0; s < batch; s++) {
        const float *xs = x + s * rows * cols;
        float *ys = y + s * rows * cols;
        long i0 = 0;
        for (; i0 + 16 <= rows; i0 += 16) {
            long j0 = 0;
            for (; j0 + 16 <= cols; j0 += 16) {
                __m512 r[16];
                for (int k = 0; k < 16; k++) r[k] = _mm512_loadu_ps(xs + (i0 + k) * cols + j0);
                transpose16(r);
                for (int k = 0; k < 16; k++) _mm512_storeu_ps(ys + (j0 + k) * rows + i0, r[k]);
            }
            for (long j = j0; j < cols; j++)
                for (long i = i0; i < i0 + 16; i++) ys[j * rows + i] = xs[i * cols + j];
        }
        for (long j = 0; j < cols; j++)
            for (long i = i0; i < rows; i++) ys[j * rows + i] = xs[i * cols + j];
    }
}
#endif

void dtk_transpose_each(const float *x, float *y, long batch, long rows, long cols) {
#if defined(__x86_64__)
    if (dtk_vector_level() == 2) { transpose_each_tiles(x, y, batch, rows, cols); return; }
#endif
    DISPATCH(transpose_each, (x, y, batch, rows, cols));
}
