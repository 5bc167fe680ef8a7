/* BLIS's cblas.h pulls in blis.h, which uses POSIX thread types. */
#define _POSIX_C_SOURCE 200809L

#include "gemm.h"
#include "tg_op.h"
#include "tg_ops.h"

#include <omp.h>

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef TG_BLAS_BLIS
#include <blis.h>
#endif

static int num_threads = 1;

const char *tg_blas_name(void)
{
    return TG_BLAS_NAME;
}

int tg_num_threads(void)
{
    return num_threads;
}

void tg_set_num_threads(int n)
{
    num_threads = n > 0 ? n : 1;
    omp_set_num_threads(num_threads);
#if defined(TG_BLAS_BLIS)
    bli_thread_set_num_threads(num_threads);
#elif defined(TG_BLAS_OPENBLAS)
    openblas_set_num_threads(num_threads);
#endif
}

#ifdef TG_HAVE_CBLAS

void tg_gemm(tg_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
             void *c, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;

    /* CBLAS insists on leading dimensions of at least 1, even for empty operands. */
    int ilda = lda > 0 ? (int)lda : 1, ildb = ldb > 0 ? (int)ldb : 1;
    if (dtype == TG_F32)
        cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, (float)alpha, a, ilda, b,
                    ildb, (float)beta, c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a, ilda, b, ildb,
                    beta, c, (int)ldc);
}

#else

/* The fallback accumulates each entry in double; it is correct, not fast. */
void tg_gemm(tg_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
             void *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < k; p++) {
                int64_t ia = trans_a ? p * lda + i : i * lda + p;
                int64_t ib = trans_b ? j * ldb + p : p * ldb + j;
                acc += tg_load(dtype, a, ia) * tg_load(dtype, b, ib);
            }
            double old = beta == 0.0 ? 0.0 : beta * tg_load(dtype, c, i * ldc + j);
            tg_store(dtype, c, i * ldc + j, alpha * acc + old);
        }
    }
}

#endif
