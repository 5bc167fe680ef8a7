#include <stdlib.h>

#include "tg_nn.h"

static bool input_fits(const tg_linear *layer, const tg_tensor *x)
{
    char s[64];
    if (!x || x->dtype != layer->W->dtype || x->ndim != 2 || x->shape[1] != layer->fan_in) {
        tg_set_last_error("tg_linear_center: input must be %s [batch, %lld], got %s %s",
                          tg_dtype_name(layer->W->dtype), (long long)layer->fan_in,
                          x ? tg_dtype_name(x->dtype) : "NULL",
                          x ? tg_shape_str(x, s, sizeof s) : "");
        return false;
    }
    return true;
}

/*
 * The same steps in each dtype: delta = eta * sum_rows(x - A) accumulated in double, then
 * B += delta W row by row of W (contiguous), then A += delta.
 */
static void center_f32(float *restrict a, float *restrict b, const float *restrict w,
                       const float *restrict x, int64_t rows, int64_t m, int64_t n, double eta,
                       double *restrict delta)
{
    for (int64_t j = 0; j < m; j++)
        delta[j] = -(double)rows * a[j];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < m; j++)
            delta[j] += x[r * m + j];

    for (int64_t j = 0; j < m; j++) {
        float d = (float)(eta * delta[j]);
        for (int64_t k = 0; k < n; k++)
            b[k] += d * w[j * n + k];
        a[j] += d;
    }
}

static void center_f64(double *restrict a, double *restrict b, const double *restrict w,
                       const double *restrict x, int64_t rows, int64_t m, int64_t n, double eta,
                       double *restrict delta)
{
    for (int64_t j = 0; j < m; j++)
        delta[j] = -(double)rows * a[j];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < m; j++)
            delta[j] += x[r * m + j];

    for (int64_t j = 0; j < m; j++) {
        double d = eta * delta[j];
        for (int64_t k = 0; k < n; k++)
            b[k] += d * w[j * n + k];
        a[j] += d;
    }
}

bool tg_linear_center(tg_linear *layer, const tg_tensor *x, double eta)
{
    if (!input_fits(layer, x))
        return false;
    int64_t rows = x->shape[0], m = layer->fan_in, n = layer->fan_out;
    if (!layer->scratch && !(layer->scratch = malloc((size_t)m * sizeof(double)))) {
        tg_set_last_error("tg_linear_center: out of memory");
        return false;
    }

    if (x->dtype == TG_F32)
        center_f32(layer->A->data, layer->B->data, layer->W->data, x->data, rows, m, n, eta,
                   layer->scratch);
    else
        center_f64(layer->A->data, layer->B->data, layer->W->data, x->data, rows, m, n, eta,
                   layer->scratch);
    tg_tensor_mark_modified(layer->A);
    tg_tensor_mark_modified(layer->B);
    return true;
}
