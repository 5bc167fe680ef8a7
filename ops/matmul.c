/*
 * Matrix products, all through tg_gemm. For Y = op(A) op(B), with op(A) [m, k] and op(B)
 * [k, n], the backward rule is
 *     d op(A) = dY op(B)^T,    d op(B) = op(A)^T dY,
 * and when an operand is stored transposed its gradient is the transpose of that:
 *     dA = op(B) dY^T  when A is used as A^T,    dB = dY^T op(A)  when B is used as B^T.
 * Each is one gemm with beta = 1, so it accumulates in place and no transpose is copied.
 *
 * The batched product runs one gemm per batch. An operand with a batch of 1 (or 2-D) is read
 * by every batch, so its gradient gemms all accumulate into the same matrix, which sums the
 * broadcast batch gradient.
 */
#include "gemm.h"
#include "tg_op.h"
#include "tg_ops.h"

/* Shapes of one product, in the terms of the comment above. */
typedef struct product {
    int64_t batch, m, k, n;
    int64_t stride_a, stride_b; /* elements between batches, 0 for a shared operand */
    bool trans_a, trans_b;
} product;

static int64_t rows(const tg_tensor *t) { return t->shape[t->ndim - 2]; }
static int64_t cols(const tg_tensor *t) { return t->shape[t->ndim - 1]; }
static int64_t batch_of(const tg_tensor *t) { return t->ndim == 3 ? t->shape[0] : 1; }

static void product_forward(const product *p, tg_dtype dt, const void *a, const void *b, void *y)
{
    size_t size = tg_dtype_size(dt);
    int64_t lda = p->trans_a ? p->m : p->k, ldb = p->trans_b ? p->k : p->n;
    for (int64_t i = 0; i < p->batch; i++) {
        const char *ai = (const char *)a + (size_t)(i * p->stride_a) * size;
        const char *bi = (const char *)b + (size_t)(i * p->stride_b) * size;
        char *yi = (char *)y + (size_t)(i * p->m * p->n) * size;
        tg_gemm(dt, p->trans_a, p->trans_b, p->m, p->n, p->k, 1.0, ai, lda, bi, ldb, 0.0, yi, p->n);
    }
}

/* dA += dY op(B)^T, or op(B) dY^T when A is stored transposed. */
static void grad_a(const product *p, tg_dtype dt, const void *gy, const void *b, void *ga)
{
    int64_t ldb = p->trans_b ? p->k : p->n;
    if (p->trans_a)
        tg_gemm(dt, p->trans_b, true, p->k, p->m, p->n, 1.0, b, ldb, gy, p->n, 1.0, ga, p->m);
    else
        tg_gemm(dt, false, !p->trans_b, p->m, p->k, p->n, 1.0, gy, p->n, b, ldb, 1.0, ga, p->k);
}

/* dB += op(A)^T dY, or dY^T op(A) when B is stored transposed. */
static void grad_b(const product *p, tg_dtype dt, const void *a, const void *gy, void *gb)
{
    int64_t lda = p->trans_a ? p->m : p->k;
    if (p->trans_b)
        tg_gemm(dt, true, p->trans_a, p->n, p->k, p->m, 1.0, gy, p->n, a, lda, 1.0, gb, p->k);
    else
        tg_gemm(dt, !p->trans_a, false, p->k, p->n, p->m, 1.0, a, lda, gy, p->n, 1.0, gb, p->n);
}

static void product_backward(tg_tape *tape, const tg_node *node)
{
    const product *p = node->saved;
    tg_tensor *a = node->in[0], *b = node->in[1], *y = node->out;
    char *ga = tg_op_grad(tape, a);
    char *gb = tg_op_grad(tape, b);
    size_t size = tg_dtype_size(y->dtype);

    for (int64_t i = 0; i < p->batch; i++) {
        size_t at = (size_t)(i * p->stride_a) * size, bt = (size_t)(i * p->stride_b) * size;
        const char *gy = (const char *)y->grad + (size_t)(i * p->m * p->n) * size;
        if (ga)
            grad_a(p, y->dtype, gy, (const char *)b->data + bt, ga + at);
        if (gb)
            grad_b(p, y->dtype, (const char *)a->data + at, gy, gb + bt);
    }
}

/* Fills in p from the operands' shapes, or fails naming both shapes. */
static bool plan_product(tg_tape *tape, const char *op, const tg_tensor *a, const tg_tensor *b,
                         product *p)
{
    char sa[64], sb[64];
    int64_t m = p->trans_a ? cols(a) : rows(a), ka = p->trans_a ? rows(a) : cols(a);
    int64_t kb = p->trans_b ? cols(b) : rows(b), n = p->trans_b ? rows(b) : cols(b);
    if (ka != kb) {
        tg_op_fail(tape, "%s: inner dimensions differ: %s%s times %s%s", op,
                   tg_shape_str(a, sa, sizeof sa), p->trans_a ? " transposed" : "",
                   tg_shape_str(b, sb, sizeof sb), p->trans_b ? " transposed" : "");
        return false;
    }

    int64_t ba = batch_of(a), bb = batch_of(b);
    if (ba != bb && ba != 1 && bb != 1) {
        tg_op_fail(tape, "%s: batch sizes %lld of %s and %lld of %s differ and neither is 1", op,
                   (long long)ba, tg_shape_str(a, sa, sizeof sa), (long long)bb,
                   tg_shape_str(b, sb, sizeof sb));
        return false;
    }
    p->batch = ba == 1 ? bb : ba;
    p->m = m;
    p->k = ka;
    p->n = n;
    p->stride_a = ba == 1 ? 0 : m * ka;
    p->stride_b = bb == 1 ? 0 : ka * n;
    return true;
}

static tg_tensor *product_apply(tg_tape *tape, const char *op, tg_tensor *a, tg_tensor *b,
                                bool trans_a, bool trans_b, bool batched)
{
    tg_tensor *in[2] = {a, b};
    if (!tg_op_inputs_present(tape, 2, in) || !tg_op_check_dtypes(tape, op, 2, in))
        return NULL;
    int max_dims = batched ? 3 : 2;
    if (a->ndim < 2 || a->ndim > max_dims || b->ndim < 2 || b->ndim > max_dims) {
        char sa[64], sb[64];
        return tg_op_fail(tape, "%s: needs two %s tensors, got %s and %s", op,
                          batched ? "2-D or 3-D" : "2-D", tg_shape_str(a, sa, sizeof sa),
                          tg_shape_str(b, sb, sizeof sb));
    }
    product *p = tg_op_alloc(tape, sizeof *p);
    if (!p)
        return NULL;
    *p = (product){.trans_a = trans_a, .trans_b = trans_b};
    if (!plan_product(tape, op, a, b, p))
        return NULL;

    int64_t shape[3] = {p->batch, p->m, p->n};
    tg_tensor *y =
        tg_op_output(tape, a->dtype, batched ? 3 : 2, batched ? shape : shape + 1, 2, in);
    if (!y)
        return NULL;
    if (p->k == 0) {
        for (int64_t i = 0; i < y->size; i++)
            tg_store(y->dtype, y->data, i, 0.0);
    } else {
        product_forward(p, y->dtype, a->data, b->data, y->data);
    }

    tg_node *node = tg_op_record(tape, op, product_backward, y, 2, in);
    if (node)
        node->saved = p;
    return y;
}

tg_tensor *tg_matmul(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return product_apply(tape, "matmul", a, b, false, false, false);
}

tg_tensor *tg_matmul_t(tg_tape *tape, tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b)
{
    return product_apply(tape, "matmul_t", a, b, trans_a, trans_b, false);
}

tg_tensor *tg_matmul_batched(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return product_apply(tape, "matmul_batched", a, b, false, false, true);
}

tg_tensor *tg_matmul_batched_t(tg_tape *tape, tg_tensor *a, tg_tensor *b, bool trans_a,
                               bool trans_b)
{
    return product_apply(tape, "matmul_batched_t", a, b, trans_a, trans_b, true);
}
