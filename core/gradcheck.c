/*
 * The gradient checker uses only the public tensor and tape API: the tape gradient of
 * J = sum_i R_i out_i is the backward pass seeded with R as the upstream gradient, so the
 * checker needs no ops of its own.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_gradcheck.h"
#include "tg_rng.h"

/* Any fixed seed will do; fixing it makes every call with the same f check the same J. */
static const uint64_t weight_seed = 0x7467726164ULL;

typedef struct session {
    tg_gradcheck_fn f;
    tg_tensor *const *inputs;
    int n_inputs;
    void *ctx;
    tg_gradcheck_report *report;
    tg_tape *tape;
    tg_tensor *weights; /* R, shaped like the output */
    double **saved;     /* per input requiring a gradient: the caller's gradient */
    double **analytic;  /* per input requiring a gradient: the tape gradient of J */
} session;

static bool fail(tg_gradcheck_report *report, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool fail(tg_gradcheck_report *report, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report->error, sizeof report->error, fmt, ap);
    va_end(ap);
    tg_set_last_error("%s", report->error);
    return false;
}

static bool check_input(const tg_tensor *t, int i, tg_gradcheck_report *report)
{
    if (!t)
        return fail(report, "tg_gradcheck: input %d is NULL", i);
    if (t->dtype != TG_F64)
        return fail(report, "tg_gradcheck: input %d is %s; finite differences need float64", i,
                    tg_dtype_name(t->dtype));
    if (t->tape)
        return fail(report,
                    "tg_gradcheck: input %d belongs to a tape; pass tensors made with "
                    "tg_tensor_new, which outlive the checker's tapes",
                    i);
    if (t->requires_grad && !t->grad)
        return fail(report,
                    "tg_gradcheck: input %d requires a gradient but has no buffer; "
                    "turn it on with tg_tensor_set_requires_grad",
                    i);
    return true;
}

static bool check_arguments(tg_gradcheck_fn f, tg_tensor *const *inputs, int n_inputs, double eps,
                            tg_gradcheck_report *report)
{
    if (!f)
        return fail(report, "tg_gradcheck: the function is NULL");
    if (n_inputs < 0)
        return fail(report, "tg_gradcheck: n_inputs is %d", n_inputs);
    if (n_inputs > 0 && !inputs)
        return fail(report, "tg_gradcheck: inputs is NULL but n_inputs is %d", n_inputs);
    if (!(eps > 0.0) || !isfinite(eps))
        return fail(report, "tg_gradcheck: eps must be positive and finite, got %g", eps);

    for (int i = 0; i < n_inputs; i++)
        if (!check_input(inputs[i], i, report))
            return false;
    return true;
}

static double *copy_doubles(const void *src, int64_t n)
{
    double *dst = malloc((size_t)(n ? n : 1) * sizeof *dst);
    if (dst)
        memcpy(dst, src, (size_t)n * sizeof *dst);
    return dst;
}

static bool session_open(session *s)
{
    s->tape = tg_tape_new();
    s->saved = calloc((size_t)s->n_inputs + 1, sizeof *s->saved);
    s->analytic = calloc((size_t)s->n_inputs + 1, sizeof *s->analytic);
    if (!s->tape || !s->saved || !s->analytic)
        return fail(s->report, "tg_gradcheck: out of memory");

    for (int i = 0; i < s->n_inputs; i++) {
        const tg_tensor *x = s->inputs[i];
        if (x->requires_grad && !(s->saved[i] = copy_doubles(x->grad, x->size)))
            return fail(s->report, "tg_gradcheck: out of memory saving gradients");
    }
    return true;
}

/* Puts back the caller's gradients and frees what the session made. */
static void session_close(session *s)
{
    for (int i = 0; s->saved && i < s->n_inputs; i++) {
        tg_tensor *x = s->inputs[i];
        if (s->saved[i])
            memcpy(x->grad, s->saved[i], (size_t)x->size * sizeof(double));
    }

    for (int i = 0; i < s->n_inputs; i++) {
        free(s->saved ? s->saved[i] : NULL);
        free(s->analytic ? s->analytic[i] : NULL);
    }
    free(s->saved);
    free(s->analytic);
    tg_tensor_free(s->weights);
    tg_tape_free(s->tape);
}

/* Runs f on the reset tape. Once R exists, the output must keep R's shape. */
static tg_tensor *evaluate(session *s)
{
    tg_tape_reset(s->tape);
    tg_tensor *out = s->f(s->tape, s->inputs, s->ctx);

    const char *error = tg_tape_error(s->tape);
    char a[64], b[64];
    if (error)
        fail(s->report, "tg_gradcheck: the function failed: %s", error);
    else if (!out)
        fail(s->report, "tg_gradcheck: the function returned NULL");
    else if (s->weights && !tg_same_shape(out, s->weights))
        fail(s->report, "tg_gradcheck: the output changed shape from %s to %s between calls",
             tg_shape_str(s->weights, a, sizeof a), tg_shape_str(out, b, sizeof b));
    else
        return out;
    return NULL;
}

/* R: 1 for a single output element; otherwise magnitudes in [0.5, 1.5) with random signs. */
static bool make_weights(session *s, const tg_tensor *out)
{
    s->weights = tg_tensor_new(out->dtype, out->ndim, out->shape);
    if (!s->weights)
        return fail(s->report, "tg_gradcheck: out of memory for the output weights");
    if (out->size == 1) {
        tg_set(s->weights, 0, 1.0);
        return true;
    }

    tg_rng rng;
    tg_rng_seed(&rng, weight_seed);
    for (int64_t k = 0; k < out->size; k++) {
        double magnitude = 0.5 + tg_rng_uniform(&rng);
        tg_set(s->weights, k, tg_rng_below(&rng, 2) ? magnitude : -magnitude);
    }
    return true;
}

/* The tape gradient of J for every input that requires one, starting from zero. */
static bool analytic_pass(session *s)
{
    tg_tensor *out = evaluate(s);
    if (!out || !make_weights(s, out))
        return false;

    for (int i = 0; i < s->n_inputs; i++)
        if (s->inputs[i]->requires_grad)
            tg_tensor_zero_grad(s->inputs[i]);
    /* An output that depends on no input requiring a gradient has a zero gradient. */
    if (out->requires_grad && !tg_backward(s->tape, out, s->weights))
        return fail(s->report, "tg_gradcheck: backward failed: %s", tg_tape_error(s->tape));

    for (int i = 0; i < s->n_inputs; i++) {
        const tg_tensor *x = s->inputs[i];
        if (x->requires_grad && !(s->analytic[i] = copy_doubles(x->grad, x->size)))
            return fail(s->report, "tg_gradcheck: out of memory for the gradients");
    }
    return true;
}

static bool objective(session *s, double *j)
{
    const tg_tensor *out = evaluate(s);
    if (!out)
        return false;

    double acc = 0.0;
    for (int64_t k = 0; k < out->size; k++)
        acc += tg_get(s->weights, k) * tg_get(out, k);
    *j = acc;
    return true;
}

/* dJ/dx_k by central difference; x_k is left exactly as it was. */
static bool central_difference(session *s, tg_tensor *x, int64_t k, double eps, double *slope)
{
    double *data = x->data;
    double x0 = data[k], up = 0.0, down = 0.0;

    /* Dividing by the step as stored, not by 2 eps, removes the rounding of x0 +- eps. */
    double hi = x0 + eps, lo = x0 - eps;
    data[k] = hi;
    bool ok = objective(s, &up);
    data[k] = lo;
    ok = ok && objective(s, &down);
    data[k] = x0;

    *slope = (up - down) / (hi - lo);
    return ok;
}

static double element_error(double analytic, double numeric)
{
    double scale = fmax(1.0, fmax(fabs(analytic), fabs(numeric)));
    double error = fabs(analytic - numeric) / scale;
    return isfinite(error) ? error : INFINITY;
}

static void record(tg_gradcheck_report *r, int input, int64_t index, double analytic,
                   double numeric)
{
    double error = element_error(analytic, numeric);
    r->checked++;
    if (r->input >= 0 && !(error > r->max_rel_error))
        return;
    r->max_rel_error = error;
    r->input = input;
    r->index = index;
    r->analytic = analytic;
    r->numeric = numeric;
}

static bool numeric_pass(session *s, double eps)
{
    for (int i = 0; i < s->n_inputs; i++) {
        tg_tensor *x = s->inputs[i];
        if (!x->requires_grad)
            continue;
        for (int64_t k = 0; k < x->size; k++) {
            double slope;
            if (!central_difference(s, x, k, eps, &slope))
                return false;
            record(s->report, i, k, s->analytic[i][k], slope);
        }
    }
    return true;
}

bool tg_gradcheck(tg_gradcheck_fn f, tg_tensor *const *inputs, int n_inputs, void *ctx, double eps,
                  double tol, tg_gradcheck_report *report)
{
    tg_gradcheck_report scratch;
    if (!report)
        report = &scratch;
    *report = (tg_gradcheck_report){.input = -1, .index = -1};
    if (!check_arguments(f, inputs, n_inputs, eps, report))
        return false;

    session s = {.f = f, .inputs = inputs, .n_inputs = n_inputs, .ctx = ctx, .report = report};
    bool ran = session_open(&s) && analytic_pass(&s) && numeric_pass(&s, eps);
    session_close(&s);
    return ran && report->max_rel_error <= tol;
}
