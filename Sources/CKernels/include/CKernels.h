#ifndef DIST_TRAIN_CKERNELS_H
#define DIST_TRAIN_CKERNELS_H
/* Small kernels that OpenBLAS cannot help with: the gathers and scatters of im2col/col2im, the
   direct convolutions, and the elementwise passes of layers, attacks and the optimizer (Swift
   code is compiled for baseline x86-64 only, so loops written in Swift run on SSE). Each is
   compiled for AVX-512, AVX2 + FMA and baseline x86-64 and picked at run time from CPUID
   (dtk_vector_level), so one binary runs on any x86-64 and uses the vector units where they
   exist. Offsets are int32 element offsets into one sample, -1 for a padding tap. No
   allocation, no checks: the Swift callers (NeuralCore, Adversarial, Training) own the shapes. */
#include <stdint.h>

/* 2 = AVX-512 (F, DQ, BW, VL, with the OS saving ZMM state), 1 = AVX2 + FMA, 0 = neither. */
int dtk_vector_level(void);

/* Tests: run the kernels at most at this level (0 baseline, 1 AVX2, 2 AVX-512); -1 lifts the limit. */
void dtk_limit_vector_level(int level);

/* For samples s in [0, count): for each of the `runs` (position, tap) pairs j, copies the c
   values x[s*sampleStride + off[j] + ci*channelStride] (ci < c) to dst, or zeros for off < 0;
   dst advances by c per run (rows of the unrolled patch matrix, (ky, kx, ci) order). */
void dtk_im2col(const float *x, long sampleStride, long count, const int32_t *off, long runs,
                long c, long channelStride, float *dst);

/* The adjoint: dx[s*sampleStride + off[j] + ci*channelStride] += src[...] over the same runs. */
void dtk_col2im(const float *src, long sampleStride, long count, const int32_t *off, long runs,
                long c, long channelStride, float *dx);

/* One-channel convolutions over a zero-padded copy of the input: batch images of ph x pw
   (ph = h + 2*pad, pw = w + 2*pad), followed by at least DTK_PAD_SLACK more floats, for blocks
   of positions that run past a row (read, never used). Output position (oy, ox) of an oh x ow
   output (stride st, k x k kernel) has its corner at oy*st*pw + ox*st; tap t = ky*k + kx is at
   ky*pw + kx from it. Stride and kernel: 8*st + k <= DTK_PAD_SLACK, k*k <= 64. */
#define DTK_PAD_SLACK 256

/* The interior of each padded image: xp[(s*ph + iy + pad)*pw + ix + pad] = x[(s*h + iy)*w + ix]
   (the padding is left as it is). */
void dtk_pad_images(const float *x, long batch, long h, long w, long pad, float *xp);

/* The reverse: x[(s*h + iy)*w + ix] = xp[(s*ph + iy + pad)*pw + ix + pad]. */
void dtk_unpad_images(const float *xp, long batch, long h, long w, long pad, float *x);

/* y[((s*oh + oy)*ow + ox)*out + o] = b[o] + sum_t xp[s*ph*pw + corner + ky*pw + kx] * wt[t*out + o]
   (wt: taps x out, the weight transposed); with relu, rectified as dtk_relu does. */
void dtk_conv1_forward(const float *xp, long ph, long pw, long batch, long oh, long ow, long k, long st,
                       const float *wt, const float *b, long out, int relu, float *y);

/* Its input gradient: dxp[s*ph*pw + corner + ky*pw + kx] += sum_o g[((s*oh + oy)*ow + ox)*out + o] * w[o*taps + t]
   (w: out x taps, PyTorch's layout for one input channel), into a padded dx (the padding
   receives the sums of padding taps). g is dy, or with y (the output of a ReLU that follows,
   else NULL) dy masked as dtk_relu_mask does: y > 0 ? dy : 0*dy. */
void dtk_conv1_backward_input(const float *dy, const float *y, long batch, long oh, long ow, long k, long st,
                              const float *w, long out, float *dxp, long ph, long pw);

/* Weight and bias gradients (w: out x taps), accumulated, with g as above:
   dw[o*taps + t] += sum_{s,oy,ox} g[((s*oh + oy)*ow + ox)*out + o] * xp[s*ph*pw + corner + ky*pw + kx],
   db[o] += sum_{s,oy,ox} g[...]. */
void dtk_conv1_backward_weight(const float *xp, long ph, long pw, long batch, long oh, long ow, long k, long st,
                               const float *dy, const float *y, long out, float *dw, float *db);

/* Weight and bias gradients of an hwc convolution, c a multiple of 16 and at most 64, accumulated:
   dwp[(o*taps + t)*c + ci] += sum_{s,p} dy[(s*positions + p)*out + o] * x[s*sampleStride + off[p*taps + t] + ci]
   (dwp: the weight gradient as (out, taps, c)), db[o] += sum_{s,p} dy[(s*positions + p)*out + o]. */
void dtk_conv_backward_weight(const float *x, long sampleStride, long batch, const int32_t *off, long positions,
                              long taps, long c, const float *dy, long out, float *dwp, float *db);

/* Direct convolution of an hwc input of c channels (c <= 64, out <= 64), without unrolling:
   y[(s*positions + p)*out + o] = b[o] + sum_{t, ci} x[s*sampleStride + off[p*taps + t] + ci] * wt[(t*c + ci)*out + o]
   (wt: (taps*c) x out); with relu, rectified as dtk_relu does. */
void dtk_conv_forward(const float *x, long sampleStride, long batch, const int32_t *off, long positions,
                      long taps, long c, const float *wt, const float *b, long out, int relu, float *y);

/* Its input gradient: dx[s*sampleStride + off[p*taps + t] + ci] += sum_o dy[(s*positions + p)*out + o] * wb[(t*out + o)*c + ci]
   (wb: the weight as (taps, out, c)). dx is accumulated, not overwritten. */
void dtk_conv_backward_input(const float *dy, long batch, const int32_t *off, long positions, long taps, long c,
                             const float *wb, long out, float *dx, long sampleStride);

/* Max pooling forward, hwc, k x k windows with stride k over h x w x c samples: the window's
   maximum, or its first NaN (as PyTorch). */
void dtk_maxpool_forward(const float *x, float *y, long batch, long h, long w, long c, long k);

/* Max pooling backward, hwc, k x k windows with stride k over h x w x c samples: each dy goes to
   the first window element equal to its maximum y (the first NaN when y is NaN); dx is written. */
void dtk_maxpool_backward(const float *x, const float *y, const float *dy, float *dx, long batch, long h, long w,
                          long c, long k);

/* SGD with momentum and weight decay over n parameters (torch.optim.SGD, dampening 0):
   g = grad + wd*p; v = momentum*v + g; p -= lr*v. Returns the largest |v| written and stores the
   largest |p| written in *largest_p (NaN if one is). With clear, grad is zeroed in the same pass. */
float dtk_sgd_step(float *p, float *grad, float *v, long n, float lr, float momentum, float wd, int clear,
                   float *largest_p);

/* 1 if that update would leave every parameter finite (nothing is written), else 0. */
int dtk_sgd_stays_finite(const float *p, const float *grad, const float *v, long n, float lr, float momentum, float wd);

/* The largest |value| of the n values (0 if n <= 0): NaN if one is NaN, else infinity if one is
   infinite. */
float dtk_max_magnitude(const float *values, long n);

/* y (cols x rows) = transpose of yt (rows x cols), plus b[row] on every element of that row, and
   rectified if relu (Swift's max(v, 0): a NaN stays NaN, -0 becomes +0): y[i*rows + j] =
   f(yt[j*cols + i] + b[j]). A Linear layer's bias pass after computing its output transposed. */
void dtk_transpose_add_bias(const float *yt, long rows, long cols, const float *b, int relu, float *y);
/* Elementwise passes (Swift's expressions, bitwise). y[r*cols + j] += b[j], then rectified if relu
   (Swift's max(v, 0): a NaN stays NaN, -0 becomes +0). */
void dtk_add_bias(float *y, long rows, long cols, const float *b, int relu);

/* y = max(x, 0) elementwise (y may be x). */
void dtk_relu(const float *x, float *y, long n);

/* dz = dy where y > 0, else 0*dy (a non-finite dy stays non-finite), over rows x width (dz may be
   dy); with sums, sums[j] += the column of dz in row order (a bias gradient in the same pass). */
void dtk_relu_mask(const float *dy, const float *y, float *dz, long rows, long width, float *sums);

/* sums[j] += x[r*cols + j] for every row r, in row order. */
void dtk_add_column_sums(const float *x, long rows, long cols, float *sums);

/* One L-infinity attack step from out, projected onto the eps-ball around x and the [0, 1] box:
   out = clip01(x + clamp(out + alpha*sign(g) - x, -eps, eps)), sign(0) = 0 (also for NaN). */
void dtk_sign_step_project(float *out, const float *x, const float *g, long n, float alpha, float eps);

/* out[j] = clip01(x[j] + (2u - 1)*eps), u the j-th uniform of a KeyedRandom stream in this state
   (SplitMix64: state + (j+1)*golden gamma, mixed; the top 24 bits over 2^24). */
void dtk_uniform_start(const float *x, float *out, long n, uint64_t state, float eps);

/* Per sample of rows*cols values, y = the transpose of x: y[j*rows + i] = x[i*cols + j] (hwc to
   chw with rows = hw, cols = c; back with rows = c, cols = hw). x and y do not overlap. */
void dtk_transpose_each(const float *x, float *y, long batch, long rows, long cols);
#endif
