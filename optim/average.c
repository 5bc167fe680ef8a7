#include <stdlib.h>

#include <omp.h>

#include "tg_ops.h"
#include "tg_optim.h"

struct tg_averager {
    tg_tensor **params;
    tg_tensor **copies;
    size_t count;
    double h;
};

tg_averager *tg_averager_new(const tg_param *params, size_t count, double h)
{
    if (!(h > 0.0)) {
        tg_set_last_error("tg_averager_new: h must be positive, got %g", h);
        return NULL;
    }
    tg_averager *avg = calloc(1, sizeof *avg);
    if (!avg)
        return NULL;
    avg->params = calloc(count ? count : 1, sizeof *avg->params);
    avg->copies = calloc(count ? count : 1, sizeof *avg->copies);
    avg->count = count;
    avg->h = h;
    if (!avg->params || !avg->copies) {
        tg_averager_free(avg);
        return NULL;
    }

    for (size_t i = 0; i < count; i++) {
        tg_tensor *p = params[i].tensor;
        avg->params[i] = p;
        avg->copies[i] = tg_tensor_new(p->dtype, p->ndim, p->shape);
        if (!avg->copies[i]) {
            tg_averager_free(avg);
            return NULL;
        }
        tg_tensor_copy(avg->copies[i], p);
    }
    return avg;
}

void tg_averager_free(tg_averager *avg)
{
    if (!avg)
        return;
    for (size_t i = 0; i < avg->count && avg->copies; i++)
        tg_tensor_free(avg->copies[i]);
    free(avg->params);
    free(avg->copies);
    free(avg);
}

double tg_averager_rate(const tg_averager *avg, int64_t t)
{
    double inv_h = 1.0 / avg->h;
    return inv_h / (inv_h + (double)t);
}

/* Splitting a pass over threads pays only for large tensors. */
enum { PARALLEL_MIN = 1 << 16 };

static void average_f32(float *restrict m, const float *restrict w, int64_t n, double a)
{
    float fa = (float)a, fb = (float)(1.0 - a);
    for (int64_t j = 0; j < n; j++)
        m[j] = fa * w[j] + fb * m[j];
}

static void average_f64(double *restrict m, const double *restrict w, int64_t n, double a)
{
    for (int64_t j = 0; j < n; j++)
        m[j] = a * w[j] + (1.0 - a) * m[j];
}

void tg_averager_update(tg_averager *avg, int64_t t)
{
    double a = tg_averager_rate(avg, t);
    for (size_t i = 0; i < avg->count; i++) {
        tg_tensor *p = avg->params[i], *q = avg->copies[i];
        if (p->dtype == TG_F32)
            average_f32(q->data, p->data, p->size, a);
        else
            average_f64(q->data, p->data, p->size, a);
        tg_tensor_mark_modified(q);
    }
}

/* The fused step on elements [begin, end) of one float32 parameter. */
static void fused_f32(float *restrict w, float *restrict g, float *restrict m, int64_t begin,
                      int64_t end, float step, float fa, float fb)
{
    for (int64_t j = begin; j < end; j++) {
        w[j] -= step * g[j];
        m[j] = fa * w[j] + fb * m[j];
        g[j] = 0.0f;
    }
}

static void fused_f64(double *restrict w, double *restrict g, double *restrict m,
                      int64_t begin, int64_t end, double step, double a)
{
    for (int64_t j = begin; j < end; j++) {
        w[j] -= step * g[j];
        m[j] = a * w[j] + (1.0 - a) * m[j];
        g[j] = 0.0;
    }
}

static void fused_range(tg_tensor *p, tg_tensor *q, int64_t begin, int64_t end, double step,
                        double a)
{
    if (p->dtype == TG_F32)
        fused_f32(p->data, p->grad, q->data, begin, end, (float)step, (float)a,
                  (float)(1.0 - a));
    else
        fused_f64(p->data, p->grad, q->data, begin, end, step, a);
}

/* Each thread takes one contiguous slice; elements are independent, so the split is exact. */
static void fused_parameter(tg_tensor *p, tg_tensor *q, double step, double a)
{
    if (p->size < PARALLEL_MIN || tg_num_threads() == 1) {
        fused_range(p, q, 0, p->size, step, a);
        return;
    }
#pragma omp parallel num_threads(tg_num_threads())
    {
        int64_t threads = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t begin = p->size * id / threads, end = p->size * (id + 1) / threads;
        fused_range(p, q, begin, end, step, a);
    }
}

bool tg_sgd_average_step(const tg_param *params, size_t count, double lr, tg_averager *avg,
                         int64_t t)
{
    if (count != avg->count) {
        tg_set_last_error("tg_sgd_average_step: %zu parameters, but the averager has %zu",
                          count, avg->count);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        if (params[i].tensor != avg->params[i]) {
            tg_set_last_error("tg_sgd_average_step: parameter %zu (%s) is not the one the "
                              "averager was made from", i, params[i].name);
            return false;
        }
    }

    double a = tg_averager_rate(avg, t);
    for (size_t i = 0; i < count; i++) {
        tg_tensor *p = params[i].tensor;
        if (p->grad) {
            fused_parameter(p, avg->copies[i], lr * params[i].lr_scale, a);
            tg_tensor_mark_modified(p);
        } else if (p->dtype == TG_F32) {
            average_f32(avg->copies[i]->data, p->data, p->size, a);
        } else {
            average_f64(avg->copies[i]->data, p->data, p->size, a);
        }
        tg_tensor_mark_modified(avg->copies[i]);
    }
    return true;
}

void tg_averager_swap(tg_averager *avg)
{
    for (size_t i = 0; i < avg->count; i++) {
        void *data = avg->params[i]->data;
        avg->params[i]->data = avg->copies[i]->data;
        avg->copies[i]->data = data;
        tg_tensor_mark_modified(avg->params[i]);
        tg_tensor_mark_modified(avg->copies[i]);
    }
}

tg_tensor *tg_averager_tensor(tg_averager *avg, size_t i)
{
    return i < avg->count ? avg->copies[i] : NULL;
}
