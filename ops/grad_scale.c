/*
 * grad_scale: y = x going forward; going backward dx += c dy.
 *
 * The function is unchanged and only the gradient that flows below this point is multiplied
 * by c, which acts as a learning-rate factor for every parameter underneath. The forward
 * copies x so that the output is an ordinary tensor of the tape.
 */
#include <string.h>

#include "tg_op.h"
#include "tg_ops.h"

static void grad_scale_backward(tg_tape *tape, const tg_node *node)
{
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    double c = node->arg[0];
    for (int64_t i = 0; i < y->size; i++)
        tg_accumulate(y->dtype, gx, i, c * tg_load(y->dtype, y->grad, i));
}

tg_tensor *tg_grad_scale(tg_tape *tape, tg_tensor *x, double factor)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    tg_tensor *y = tg_op_output(tape, x->dtype, x->ndim, x->shape, 1, &x);
    if (!y)
        return NULL;

    memcpy(y->data, x->data, (size_t)x->size * tg_dtype_size(x->dtype));

    tg_node *node = tg_op_record(tape, "grad_scale", grad_scale_backward, y, 1, &x);
    if (node)
        node->arg[0] = factor;
    return y;
}
