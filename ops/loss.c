/*
 * Losses. Each is a rule on the residual r = pred - target: the elementwise loss l(r) and its
 * derivative l'(r). The result is the scalar L = s sum_i l(r_i), with s = 1 for a sum and 1 / N
 * for a mean over N elements, and the backward passes g s l'(r_i) to pred_i and minus that to
 * target_i.
 */
#include <math.h>

#include "tg_op.h"
#include "tg_ops.h"

typedef struct loss_rule {
    const char *name;
    double (*f)(double r, double delta);
    double (*df)(double r, double delta);
} loss_rule;

static double sign(double r) { return (r > 0) - (r < 0); }

/* mse: l = r^2, l' = 2 r. */
static double mse_f(double r, double delta) { return r * r; }
static double mse_df(double r, double delta) { return 2.0 * r; }
static const loss_rule mse_rule = {"mse", mse_f, mse_df};

/* l1: l = |r|, l' = sign(r), taken as 0 at r = 0. */
static double l1_f(double r, double delta) { return fabs(r); }
static double l1_df(double r, double delta) { return sign(r); }
static const loss_rule l1_rule = {"l1", l1_f, l1_df};

/*
 * huber: l = r^2 / 2 for |r| <= delta and delta (|r| - delta / 2) beyond, so l' = r inside and
 * delta sign(r) beyond. At |r| = delta both pieces have the value delta^2 / 2 and the slope
 * delta sign(r), so l is continuously differentiable there.
 */
static double huber_f(double r, double delta)
{
    return fabs(r) <= delta ? 0.5 * r * r : delta * (fabs(r) - 0.5 * delta);
}

static double huber_df(double r, double delta) { return fabs(r) <= delta ? r : delta * sign(r); }
static const loss_rule huber_rule = {"huber", huber_f, huber_df};

static double residual(const tg_tensor *pred, const tg_tensor *target, int64_t i)
{
    return tg_load(pred->dtype, pred->data, i) - tg_load(target->dtype, target->data, i);
}

static void loss_backward(tg_tape *tape, const tg_node *node)
{
    const loss_rule *rule = node->rule;
    tg_tensor *pred = node->in[0], *target = node->in[1], *y = node->out;
    void *gp = tg_op_grad(tape, pred);
    void *gt = tg_op_grad(tape, target);
    tg_dtype dt = y->dtype;
    double delta = node->arg[0], g = tg_load(dt, y->grad, 0) * node->arg[1];

    for (int64_t i = 0; i < pred->size; i++) {
        double d = g * rule->df(residual(pred, target, i), delta);
        if (gp)
            tg_accumulate(dt, gp, i, d);
        if (gt)
            tg_accumulate(dt, gt, i, -d);
    }
}

static bool loss_arguments_fit(tg_tape *tape, const loss_rule *rule, tg_tensor *const *in,
                               double delta, tg_reduction reduction)
{
    char a[64], b[64];
    if (!tg_same_shape(in[0], in[1]))
        return tg_op_fail(tape,
                          "%s: pred %s and target %s differ in shape; losses do not "
                          "broadcast, so reshape one to match",
                          rule->name, tg_shape_str(in[0], a, sizeof a),
                          tg_shape_str(in[1], b, sizeof b));
    if (reduction != TG_REDUCE_MEAN && reduction != TG_REDUCE_SUM)
        return tg_op_fail(tape, "%s: reduction %d is neither TG_REDUCE_MEAN nor TG_REDUCE_SUM",
                          rule->name, (int)reduction);
    if (!(delta > 0.0))
        return tg_op_fail(tape, "%s: delta must be positive, got %g", rule->name, delta);
    return true;
}

static tg_tensor *loss_apply(tg_tape *tape, const loss_rule *rule, tg_tensor *pred,
                             tg_tensor *target, double delta, tg_reduction reduction)
{
    tg_tensor *in[2] = {pred, target};
    if (!tg_op_inputs_present(tape, 2, in) || !tg_op_check_dtypes(tape, rule->name, 2, in) ||
        !loss_arguments_fit(tape, rule, in, delta, reduction))
        return NULL;
    tg_tensor *y = tg_op_output(tape, pred->dtype, 0, NULL, 2, in);
    if (!y)
        return NULL;

    double acc = 0.0;
    for (int64_t i = 0; i < pred->size; i++)
        acc += rule->f(residual(pred, target, i), delta);
    /* The mean of no elements is 0 / 0, NaN, as for tg_mean. */
    double n = (double)pred->size;
    tg_store(y->dtype, y->data, 0, reduction == TG_REDUCE_SUM ? acc : n > 0 ? acc / n : NAN);

    tg_node *node = tg_op_record(tape, rule->name, loss_backward, y, 2, in);
    if (node) {
        node->rule = rule;
        node->arg[0] = delta;
        node->arg[1] = reduction == TG_REDUCE_SUM ? 1.0 : 1.0 / n;
    }
    return y;
}

tg_tensor *tg_mse(tg_tape *tape, tg_tensor *pred, tg_tensor *target, tg_reduction reduction)
{
    return loss_apply(tape, &mse_rule, pred, target, 1.0, reduction);
}

tg_tensor *tg_l1(tg_tape *tape, tg_tensor *pred, tg_tensor *target, tg_reduction reduction)
{
    return loss_apply(tape, &l1_rule, pred, target, 1.0, reduction);
}

tg_tensor *tg_huber(tg_tape *tape, tg_tensor *pred, tg_tensor *target, double delta,
                    tg_reduction reduction)
{
    return loss_apply(tape, &huber_rule, pred, target, delta, reduction);
}
