/*
 * tg_ops.h: tensor operations. Each records itself on the tape when its output needs a
 * gradient, and each has its backward rule beside its forward kernel in ops/.
 *
 * Every op works in float32 and float64 and refuses to mix them. Elementwise binary ops
 * broadcast like numpy: shapes are aligned at their last dimension, missing leading dimensions
 * count as 1, and a dimension of size 1 stretches to match the other operand. The backward of a
 * broadcast operand sums over the dimensions it was stretched along, so its gradient has the
 * operand's own shape.
 *
 * On a bad argument an op records a message on the tape and returns NULL; given a NULL input
 * it returns NULL.
 */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "tg_tape.h"

/* Elementwise binary, with broadcasting. */
tg_tensor *tg_add(tg_tape *tape, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_sub(tg_tape *tape, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_mul(tg_tape *tape, tg_tensor *a, tg_tensor *b);

/* Elementwise unary. */
tg_tensor *tg_scale(tg_tape *tape, tg_tensor *x, double factor); /* factor * x */
tg_tensor *tg_tanh(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_square(tg_tape *tape, tg_tensor *x);

/*
 * Identity going forward; going backward the gradient is multiplied by `factor`. It rescales
 * the learning signal that reaches everything computed before it.
 */
tg_tensor *tg_grad_scale(tg_tape *tape, tg_tensor *x, double factor);

/* Matrix product of a [m, k] and b [k, n], giving [m, n]. */
tg_tensor *tg_matmul(tg_tape *tape, tg_tensor *a, tg_tensor *b);

/* Sum of all elements, as a scalar (zero dimensions). */
tg_tensor *tg_sum(tg_tape *tape, tg_tensor *x);

/*
 * Sum along one axis (negative counts from the end). With keepdim the axis stays with size 1;
 * without it the axis is removed.
 */
tg_tensor *tg_sum_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);

/* The name of the CBLAS that matrix products use, or "none" for the plain loops. */
const char *tg_blas_name(void);

/*
 * Threads for matrix products and for the passes that split over OpenMP threads (the fused
 * optimizer step). The default is 1: tapegrad uses only the calling thread until asked.
 * Results do not depend on the thread count except through the BLAS's own summation order.
 */
void tg_set_num_threads(int n);
int tg_num_threads(void);

#endif
