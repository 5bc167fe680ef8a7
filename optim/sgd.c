#include "tg_optim.h"

/* Both dtypes compute the step in their own precision, as the fused pass must repeat it. */
static void sgd_f32(float *restrict w, const float *restrict g, int64_t n, float step)
{
    for (int64_t j = 0; j < n; j++)
        w[j] -= step * g[j];
}

static void sgd_f64(double *restrict w, const double *restrict g, int64_t n, double step)
{
    for (int64_t j = 0; j < n; j++)
        w[j] -= step * g[j];
}

void tg_sgd_step(const tg_param *params, size_t count, double lr)
{
    for (size_t i = 0; i < count; i++) {
        tg_tensor *p = params[i].tensor;
        if (!p || !p->grad)
            continue;
        double step = lr * params[i].lr_scale;
        if (p->dtype == TG_F32)
            sgd_f32(p->data, p->grad, p->size, (float)step);
        else
            sgd_f64(p->data, p->grad, p->size, step);
        tg_tensor_mark_modified(p);
    }
}

void tg_zero_grads(const tg_param *params, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tg_tensor_zero_grad(params[i].tensor);
}
