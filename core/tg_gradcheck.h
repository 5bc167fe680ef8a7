/*
 * tg_gradcheck.h: checks a function's tape gradients against finite differences.
 *
 * The function under test receives a tape and the inputs and builds its output with ops. Its
 * gradient with respect to every element of every input that requires a gradient is compared
 * with the central difference
 *     (J(x + eps) - J(x - eps)) / (2 eps),
 * whose error shrinks as eps^2, so float64 inputs with eps around 1e-6 agree to about 1e-8.
 *
 * J is the output itself when it has one element. Otherwise J = sum_i R_i out_i for fixed
 * weights R drawn from a seeded generator (magnitudes in [0.5, 1.5), random signs), so that
 * every output element takes part with a different weight and the same call always checks the
 * same J. The tape gradient of that J is the backward pass seeded with R as the upstream.
 */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include "tg_tape.h"

/* Builds the function's output on `tape` from `inputs`; returns NULL on failure. */
typedef tg_tensor *(*tg_gradcheck_fn)(tg_tape *tape, tg_tensor *const *inputs, void *ctx);

typedef struct tg_gradcheck_report {
    /*
     * The largest error over all checked elements, where an element's error is
     *     |analytic - numeric| / max(1, |analytic|, |numeric|):
     * absolute for gradients below 1, where relative error would magnify rounding noise, and
     * relative above. A NaN or infinite gradient counts as an infinite error.
     */
    double max_rel_error;
    int input;     /* the input holding the worst element, -1 when nothing was checked */
    int64_t index; /* its flat row-major index, -1 when nothing was checked */
    double analytic, numeric;
    int64_t checked; /* number of elements compared */
    char error[256]; /* why the check could not run; empty when it ran */
} tg_gradcheck_report;

/*
 * Runs f once to get the analytic gradient, then twice per checked element for the numeric
 * one, on a tape of its own that is reset between calls. Inputs must be float64 tensors owned by
 * the caller; those requiring a gradient must have one (tg_tensor_set_requires_grad). Their data
 * and gradients are the same afterwards as before.
 *
 * Returns true when max_rel_error <= tol. Returns false with report->error set (and the same
 * message for tg_last_error()) when the check cannot run: bad arguments, f returning NULL, an
 * error on the tape, or an output whose shape changes between calls. `report` may be NULL.
 */
bool tg_gradcheck(tg_gradcheck_fn f, tg_tensor *const *inputs, int n_inputs, void *ctx, double eps,
                  double tol, tg_gradcheck_report *report);

#endif
