/*
 * matmul: Y = A B for A [m, k] and B [k, n]. The backward rule is
 *     dA += dY B^T,    dB += A^T dY,
 * both computed by gemm with beta = 1 so they accumulate in place.
 */
#include "gemm.h"
#include "tg_op.h"
#include "tg_ops.h"

static void matmul_backward(tg_tape *tape, const tg_node *node)
{
    tg_tensor *a = node->in[0], *b = node->in[1], *y = node->out;
    int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
    void *ga = tg_op_grad(tape, a);
    void *gb = tg_op_grad(tape, b);

    if (ga)
        tg_gemm(y->dtype, false, true, m, k, n, 1.0, y->grad, n, b->data, n, 1.0, ga, k);
    if (gb)
        tg_gemm(y->dtype, true, false, k, n, m, 1.0, a->data, k, y->grad, n, 1.0, gb, n);
}

tg_tensor *tg_matmul(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    if (!tg_op_inputs_present(tape, 2, in) || !tg_op_check_dtypes(tape, "matmul", 2, in))
        return NULL;
    char sa[64], sb[64];
    if (a->ndim != 2 || b->ndim != 2)
        return tg_op_fail(tape, "matmul: needs two 2-D tensors, got %s and %s",
                          tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
    if (a->shape[1] != b->shape[0])
        return tg_op_fail(tape, "matmul: inner dimensions differ: %s times %s",
                          tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));

    int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
    tg_tensor *y = tg_op_output(tape, a->dtype, 2, (int64_t[]){m, n}, 2, in);
    if (!y)
        return NULL;
    if (k == 0) {
        for (int64_t i = 0; i < y->size; i++)
            tg_store(y->dtype, y->data, i, 0.0);
    } else {
        tg_gemm(y->dtype, false, false, m, n, k, 1.0, a->data, k, b->data, n, 0.0, y->data, n);
    }

    tg_op_record(tape, "matmul", matmul_backward, y, 2, in);
    return y;
}
