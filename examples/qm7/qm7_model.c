#include <math.h>
#include <string.h>

#include "qm7_model.h"
#include "tg_ops.h"

static const char *const rule_names[] = {
    [QM7_RULE_PAPER] = "paper",
    [QM7_RULE_AUTODIFF] = "autodiff",
    [QM7_RULE_AUTODIFF_SCALED] = "autodiff-scaled",
    [QM7_RULE_NO_PREBIAS] = "no-prebias",
};

bool qm7_rule_parse(const char *name, qm7_rule *rule)
{
    for (int r = 0; r < (int)(sizeof rule_names / sizeof *rule_names); r++) {
        if (name && !strcmp(name, rule_names[r])) {
            *rule = (qm7_rule)r;
            return true;
        }
    }
    return false;
}

const char *qm7_rule_name(qm7_rule rule) { return rule_names[rule]; }

static bool scales_backward(qm7_rule rule)
{
    return rule == QM7_RULE_PAPER || rule == QM7_RULE_AUTODIFF_SCALED;
}

static bool trains_prebias(qm7_rule rule)
{
    return rule == QM7_RULE_AUTODIFF || rule == QM7_RULE_AUTODIFF_SCALED;
}

static bool build_layers(qm7_model *m, const int64_t *sizes, int n_sizes, tg_dtype dtype,
                         tg_rng *rng)
{
    m->net = tg_sequential_new();
    if (!m->net)
        return false;
    for (int i = 0; i + 1 < n_sizes; i++) {
        if (i > 0 && !tg_sequential_add_squash(m->net))
            return false;
        if (!tg_sequential_add_linear(m->net, dtype, sizes[i], sizes[i + 1], rng))
            return false;
    }
    return true;
}

/* Every parameter of a layer learns at the schedule's rate times 1/sqrt(fan-in). */
static void set_learning_rates(qm7_model *m)
{
    m->params = tg_sequential_params(m->net, &m->n_params);
    size_t p = 0;
    for (size_t i = 0; i < tg_sequential_layer_count(m->net); i++) {
        tg_linear *layer = tg_sequential_linear(m->net, i);
        for (int k = 0; layer && k < 3; k++)
            m->params[p++].lr_scale = 1.0 / sqrt((double)layer->fan_in);
    }
}

bool qm7_model_init(qm7_model *m, const int64_t *sizes, int n_sizes, tg_dtype dtype, qm7_rule rule,
                    double mean_t, double std_t, tg_rng *rng)
{
    *m = (qm7_model){.rule = rule, .std_t = std_t};
    if (n_sizes < 2 || n_sizes > QM7_MAX_LAYERS + 1) {
        tg_set_last_error("qm7_model_init: %d sizes; the network needs 2 to %d", n_sizes,
                          QM7_MAX_LAYERS + 1);
        return false;
    }
    if (!build_layers(m, sizes, n_sizes, dtype, rng)) {
        qm7_model_free(m);
        return false;
    }
    set_learning_rates(m);

    /* A zero last layer starts every prediction at the training mean. */
    tg_linear *last = tg_sequential_linear(m->net, tg_sequential_layer_count(m->net) - 1);
    for (int64_t i = 0; i < last->W->size; i++)
        tg_set(last->W, i, 0.0);
    for (size_t i = 0; i < tg_sequential_layer_count(m->net) && !trains_prebias(rule); i++)
        if (tg_sequential_linear(m->net, i))
            tg_tensor_set_requires_grad(tg_sequential_linear(m->net, i)->A, false);

    m->avg = tg_averager_new(m->params, m->n_params, 0.1);
    m->mean_t = tg_tensor_from(dtype, 1, (int64_t[]){1}, &mean_t);
    if (!m->avg || !m->mean_t) {
        qm7_model_free(m);
        return false;
    }
    return true;
}

void qm7_model_free(qm7_model *m)
{
    tg_tensor_free(m->mean_t);
    tg_averager_free(m->avg);
    tg_sequential_free(m->net);
    *m = (qm7_model){0};
}

/*
 * The network's output in energy units. The rule's backward scaling wraps each linear
 * layer's input, so the gradient leaving layer (m -> n) is multiplied by sqrt(m / n); the
 * inputs as the layers see them go to `inputs` when it is not NULL.
 */
static tg_tensor *forward(tg_tape *tape, qm7_model *m, tg_tensor *x, tg_tensor **inputs)
{
    int j = 0;
    for (size_t i = 0; i < tg_sequential_layer_count(m->net); i++) {
        tg_linear *layer = tg_sequential_linear(m->net, i);
        if (!layer) {
            x = tg_squash(tape, x);
            continue;
        }
        if (scales_backward(m->rule))
            x = tg_grad_scale(tape, x, sqrt((double)layer->fan_in / (double)layer->fan_out));
        if (inputs)
            inputs[j++] = x;
        x = tg_linear_forward(tape, layer, x);
    }
    return tg_add(tape, tg_scale(tape, x, m->std_t), m->mean_t);
}

tg_tensor *qm7_model_predict(tg_tape *tape, qm7_model *m, tg_tensor *x)
{
    return forward(tape, m, x, NULL);
}

/* The paper's centering step on every layer, before SGD changes W. */
static bool center_layers(qm7_model *m, tg_tensor **inputs, double lr)
{
    int j = 0;
    for (size_t i = 0; i < tg_sequential_layer_count(m->net); i++) {
        tg_linear *layer = tg_sequential_linear(m->net, i);
        if (layer && !tg_linear_center(layer, inputs[j++], lr / sqrt((double)layer->fan_in)))
            return false;
    }
    return true;
}

static bool fail_with_tape_error(tg_tape *tape, int64_t step)
{
    tg_set_last_error("step %lld: %s", (long long)step, tg_tape_error(tape));
    tg_tape_reset(tape);
    return false;
}

bool qm7_model_step(qm7_model *m, tg_tape *tape, tg_tensor *x, tg_tensor *t, double lr,
                    int64_t step, double *loss)
{
    tg_tensor *inputs[QM7_MAX_LAYERS];
    tg_tensor *y = forward(tape, m, x, inputs);
    tg_tensor *residual = tg_scale(tape, tg_sub(tape, y, t), 1.0 / m->std_t);
    tg_tensor *l = tg_scale(tape, tg_sum(tape, tg_square(tape, residual)), 0.5);
    if (!tg_backward(tape, l, NULL))
        return fail_with_tape_error(tape, step);

    *loss = tg_get(l, 0);
    if (!isfinite(*loss)) {
        tg_set_last_error("step %lld: the loss is %g; the weights are left as they were "
                          "before this step",
                          (long long)step, *loss);
        tg_tape_reset(tape);
        return false;
    }

    bool ok = m->rule != QM7_RULE_PAPER || center_layers(m, inputs, lr);
    /* The fused update also zeroes the gradients for the next step's backward. */
    ok = ok && tg_sgd_average_step(m->params, m->n_params, lr, m->avg, step);
    tg_tape_reset(tape);
    return ok;
}
