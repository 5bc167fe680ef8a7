/* gemm.h: the one place that calls CBLAS, with plain loops where none was found at build. */
#ifndef TG_GEMM_H
#define TG_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "tg_tensor.h"

/*
 * C = alpha * op(A) op(B) + beta * C on row-major matrices, where op(A) is m x k and op(B) is
 * k x n, each transposed when its flag is set. lda, ldb and ldc are the row lengths as stored.
 */
void tg_gemm(tg_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
             void *c, int64_t ldc);

#endif
