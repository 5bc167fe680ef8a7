/*
 * qm7_model.h: Montavon et al.'s pre-bias perceptron and the four update rules compared.
 *
 * The network alternates pre-bias layers Y = (X - A) W + B with squash(x) = 1.5 tanh(x / 1.5)
 * and ends with a linear layer of one output y, read as the energy y * std_T + mean_T. A
 * training step minimizes 0.5 * sum(((Y - T) / std_T)^2) over the minibatch by one of:
 *
 *   autodiff         SGD on W, A and B with the tape's true gradients;
 *   autodiff-scaled  the same, but the gradient sent from each layer to the one below is
 *                    multiplied by sqrt(m / n) for that layer's fan-in m and fan-out n;
 *   paper            the rule of the published code: SGD on W and B with their true
 *                    gradients, the sqrt(m / n) scaling, and instead of a gradient step on A
 *                    a centering step that moves A toward the mean of the layer's input and
 *                    shifts B so the layer's function is unchanged;
 *   no-prebias       true gradients for W and B, with A held at zero.
 *
 * Each layer's learning rate is the schedule's times 1/sqrt(fan-in), for every rule.
 */
#ifndef QM7_MODEL_H
#define QM7_MODEL_H

#include "tg_nn.h"
#include "tg_optim.h"

typedef enum qm7_rule {
    QM7_RULE_PAPER,
    QM7_RULE_AUTODIFF,
    QM7_RULE_AUTODIFF_SCALED,
    QM7_RULE_NO_PREBIAS,
} qm7_rule;

enum { QM7_MAX_LAYERS = 8 };

typedef struct qm7_model {
    tg_sequential *net;
    tg_param *params;
    size_t n_params;
    tg_averager *avg;
    qm7_rule rule;
    double std_t;
    tg_tensor *mean_t; /* [1], so it broadcasts over predictions */
} qm7_model;

/* Parses "paper", "autodiff", "autodiff-scaled" or "no-prebias". */
bool qm7_rule_parse(const char *name, qm7_rule *rule);
const char *qm7_rule_name(qm7_rule rule);

/*
 * Builds sizes[0] -> sizes[1] -> ... -> sizes[n_sizes - 1] with squash between the linear
 * layers and a zero last W, in `dtype`, drawing W from rng. Returns false with
 * tg_last_error() on failure.
 */
bool qm7_model_init(qm7_model *m, const int64_t *sizes, int n_sizes, tg_dtype dtype,
                    qm7_rule rule, double mean_t, double std_t, tg_rng *rng);
void qm7_model_free(qm7_model *m);

/* Predicted energies [rows, 1] for inputs x [rows, sizes[0]]. */
tg_tensor *qm7_model_predict(tg_tape *tape, qm7_model *m, tg_tensor *x);

/*
 * One training step on inputs x [rows, sizes[0]] and energies t [rows, 1] with learning rate
 * lr at step `step` (from 1): forward, backward, the rule's update, averaging. Resets the
 * tape. Writes the minibatch loss to *loss. Returns false, with the reason on stderr-free
 * channels (tg_tape_error() before the reset is copied to tg_last_error()), on failure.
 */
bool qm7_model_step(qm7_model *m, tg_tape *tape, tg_tensor *x, tg_tensor *t, double lr,
                    int64_t step, double *loss);

#endif
