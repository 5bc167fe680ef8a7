/*
 * prebias_gradients: the gradients of one pre-bias linear layer, as the tape computes them and
 * as Montavon et al. (2012) wrote them by hand, side by side, and what the hand-written rule
 * amounts to.
 *
 * The layer is Z = (X - A) W + B. Given the upstream gradient DY = dL/dZ, the chain rule gives
 *     dW = (X - A)^T DY,   dA = -sum_rows(DY W^T),   dB = sum_rows(DY),   dX = DY W^T,
 * and that is what the tape must produce. The paper's backward keeps dW but replaces the rest:
 *     DA = -sum_rows(X - A),   DB = sum_rows(DY) + DA W,   DX = sqrt(m / n) DY W^T.
 *
 * After the element-by-element comparison the program checks seven numbered identities that
 * explain the difference. DA is the gradient of 0.5 * sum_rows |X - A|^2, not of the loss, so a
 * step along it moves A toward the mean of the layer's input; the extra DA W in DB shifts B by
 * exactly what keeps (X - A) W + B unchanged under that move. The paper's rule is therefore SGD
 * on W and B plus a function-preserving re-centering of the input (tg_linear_center), and its
 * sqrt(m / n) rescales the signal sent to lower layers (tg_grad_scale), a per-layer learning
 * rate.
 *
 * Run without arguments it uses the small layer written out below; with --seed, --batch, --in
 * or --out it draws a layer of that size at random instead.
 *
 * Shapes, used throughout:
 *     batch  rows of the input     other  rows of the second input     m  fan-in   n  fan-out
 *     X [batch, m]   X' [other, m]   A [m]   W [m, n]   B [n]   Z, DY [batch, n]
 * Every matrix is a row-major array of doubles: X[i * m + k], W[k * n + j], DY[i * n + j].
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_rng.h"
#include "tg_tape.h"
#include "tg_tensor.h"

/*
 * The sizes are capped so that every table stays short and every row of the printed inputs
 * fits in 100 columns; with values of order one and sums this short, a correct identity holds
 * to within a few rounding errors, far inside TOLERANCE.
 */
enum { MAX_BATCH = 16, MAX_WIDTH = 8, IDENTITY_COUNT = 7 };
static const double TOLERANCE = 1e-12;

/*
 * The step size of the single centering step in (4) and (5). Since eta * batch < 1 for every
 * allowed batch, the step moves A part of the way to mean(X) without overshooting it.
 */
static const double ETA = 0.05;

/*
 * (6) takes eta = ETA_BATCH / batch, so that A - mean(X) shrinks by 0.9 a step whatever the
 * batch: slow enough that after CENTER_STEPS steps the distance is still far above rounding.
 */
static const double ETA_BATCH = 0.1;
enum { CENTER_STEPS = 50 };
static const int REPORTED_STEPS[] = {0, 1, 2, 5, 10, 20, 50};

typedef struct problem {
    int64_t batch, m, n;
    double X[MAX_BATCH * MAX_WIDTH];
    double A[MAX_WIDTH];
    double W[MAX_WIDTH * MAX_WIDTH];
    double B[MAX_WIDTH];
    double DY[MAX_BATCH * MAX_WIDTH];
    int64_t other;                         /* rows of X_other */
    double X_other[MAX_BATCH * MAX_WIDTH]; /* X', a batch no gradient sees; only for (4) */
} problem;

/* One set of gradients of the loss, named after the tensor each is taken with respect to. */
typedef struct grads {
    double W[MAX_WIDTH * MAX_WIDTH]; /* [m, n] */
    double A[MAX_WIDTH];             /* [m] */
    double B[MAX_WIDTH];             /* [n] */
    double X[MAX_BATCH * MAX_WIDTH]; /* [batch, m] */
} grads;

/* The numbers the sections report; every deviation is a maximum absolute difference. */
typedef struct findings {
    double tape_vs_true[4];  /* tape against the chain-rule loops, for W, A, B, X */
    double paper_W;          /* |DW - dW| */
    double paper_A;          /* |DA - dA|: large, the two rules disagree */
    double paper_B;          /* |DB - dB| */
    double paper_B_identity; /* |(DB - dB) - DA W| */
    double paper_X_identity; /* |DX - sqrt(m/n) dX| */
    double ratio_min, ratio_max;
    int64_t ratio_count;             /* elements of dX far enough from 0 to divide by */
    double identity[IDENTITY_COUNT]; /* identity k's worst deviation over its checks, at k - 1 */
} findings;

typedef struct options {
    bool random;
    uint64_t seed;
    int64_t batch, m, n;
} options;

/*
 * The default layer: values that are exact in binary, so gradients that agree agree to 0.
 * Each line of a matrix below is one of its rows.
 */
/* clang-format off */
static const double DEFAULT_X[4 * 3] = {
     1.0,  2.0,  0.5,
     0.0, -1.0,  1.5,
     2.0,  0.5, -0.5,
    -1.0,  1.0,  2.0,
};
static const double DEFAULT_A[3] = {0.25, -0.25, 1.0};
static const double DEFAULT_W[3 * 2] = {
     0.5,  -1.0,
     0.25,  0.75,
    -0.5,   1.0,
};
static const double DEFAULT_B[2] = {0.25, -0.5};
static const double DEFAULT_DY[4 * 2] = {
     1.0,  -0.5,
    -0.5,   0.25,
    -1.0,   1.0,
     0.25,  0.5,
};
static const double DEFAULT_X_OTHER[3 * 3] = {
     3.0,  -2.0,   0.0,
    -2.5,   4.0,   1.0,
     0.75,  0.25, -3.0,
};
/* clang-format on */

static void usage(FILE *out, const char *program)
{
    fprintf(out,
            "usage: %s [--seed N] [--batch B] [--in M] [--out N]\n"
            "  Without arguments: the fixed 4 x 3 -> 2 layer written in the source.\n"
            "  With any option: random values from seed N (default 1), batch B from 1 to %d,\n"
            "  fan-in M and fan-out N each from 1 to %d (defaults 4, 3, 2).\n",
            program, MAX_BATCH, MAX_WIDTH);
}

static bool parse_count(const char *text, int64_t max, int64_t *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, options *opt)
{
    *opt = (options){.random = false, .seed = 1, .batch = 4, .m = 3, .n = 2};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[++i] : NULL;
        if (!value)
            return false;

        bool ok;
        if (strcmp(flag, "--seed") == 0) {
            char *end;
            opt->seed = strtoull(value, &end, 10);
            ok = *value >= '0' && *value <= '9' && *end == '\0';
        } else if (strcmp(flag, "--batch") == 0) {
            ok = parse_count(value, MAX_BATCH, &opt->batch);
        } else if (strcmp(flag, "--in") == 0) {
            ok = parse_count(value, MAX_WIDTH, &opt->m);
        } else if (strcmp(flag, "--out") == 0) {
            ok = parse_count(value, MAX_WIDTH, &opt->n);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "prebias_gradients: bad option or value: %s %s\n", flag, value);
            return false;
        }
        opt->random = true;
    }
    return true;
}

static void default_problem(problem *p)
{
    *p = (problem){.batch = 4, .m = 3, .n = 2, .other = 3};
    memcpy(p->X, DEFAULT_X, sizeof DEFAULT_X);
    memcpy(p->A, DEFAULT_A, sizeof DEFAULT_A);
    memcpy(p->W, DEFAULT_W, sizeof DEFAULT_W);
    memcpy(p->B, DEFAULT_B, sizeof DEFAULT_B);
    memcpy(p->DY, DEFAULT_DY, sizeof DEFAULT_DY);
    memcpy(p->X_other, DEFAULT_X_OTHER, sizeof DEFAULT_X_OTHER);
}

static void fill_normal(tg_rng *rng, double *v, int64_t count, double std)
{
    for (int64_t i = 0; i < count; i++)
        v[i] = tg_rng_normal(rng, 0.0, std);
}

/*
 * W has the spread tg_linear_init gives it; the other values are unit normals, except X',
 * drawn last and twice as wide so that it reaches inputs the batch X does not.
 */
static void random_problem(const options *opt, problem *p)
{
    *p = (problem){.batch = opt->batch, .m = opt->m, .n = opt->n, .other = opt->batch};
    tg_rng rng;
    tg_rng_seed(&rng, opt->seed);

    fill_normal(&rng, p->X, p->batch * p->m, 1.0);
    fill_normal(&rng, p->A, p->m, 1.0);
    fill_normal(&rng, p->W, p->m * p->n, 1.0 / sqrt((double)p->m));
    fill_normal(&rng, p->B, p->n, 1.0);
    fill_normal(&rng, p->DY, p->batch * p->n, 1.0);
    fill_normal(&rng, p->X_other, p->other * p->m, 2.0);
}

static void print_header(const problem *p, const options *opt)
{
    printf("Pre-bias linear layer Z = (X - A) W + B in float64, with batch = %" PRId64
           ", m = %" PRId64 ", n = %" PRId64 ":\n",
           p->batch, p->m, p->n);
    printf("X [batch, m], A [m], W [m, n], B [n]; DY = dL/dZ [batch, n] is given.\n");
    printf("Compared: the tape's gradients dW, dA, dB, dX (from tg_backward) and the\n");
    printf("hand-written backward DW, DA, DB, DX of Montavon et al. (2012).\n\n");

    printf("  chain rule:  dW = (X - A)^T DY    dA = -sum_rows(DY W^T)\n");
    printf("               dB = sum_rows(DY)    dX = DY W^T\n");
    printf("  paper:       DW = (X - A)^T DY    DA = -sum_rows(X - A)\n");
    printf("               DB = sum_rows(DY) + DA W    DX = sqrt(m / n) DY W^T\n\n");

    if (opt->random)
        printf("Values: random, seed %" PRIu64 ".", opt->seed);
    else
        printf("Values: the fixed layer written in prebias_gradients.c.");
    printf("\nX' is a second batch of inputs, used only in (4).\n\n");
}

static void print_matrix(const char *name, const double *v, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++) {
        printf("  %-4s", i == 0 ? name : "");
        for (int64_t j = 0; j < cols; j++)
            printf(" %+.6f", v[i * cols + j]);
        printf("\n");
    }
}

/*
 * One labelled row of values, indented to sit inside a numbered section. Four decimals keep
 * MAX_WIDTH values of a sum over MAX_BATCH rows, which can reach the tens, within 100 columns.
 */
static void print_vector(const char *label, const double *v, int64_t count)
{
    printf("      %-10s", label);
    for (int64_t i = 0; i < count; i++)
        printf(" %+9.4f", v[i]);
    printf("\n");
}

static void print_inputs(const problem *p)
{
    printf("Inputs\n");
    print_matrix("X", p->X, p->batch, p->m);
    print_matrix("A", p->A, 1, p->m);
    print_matrix("W", p->W, p->m, p->n);
    print_matrix("B", p->B, 1, p->n);
    print_matrix("DY", p->DY, p->batch, p->n);
    print_matrix("X'", p->X_other, p->other, p->m);
    printf("\n");
}

/* A failure's message: the tape's first error if it holds one, else the last one outside it. */
static void report_error(const tg_tape *tape)
{
    const char *message = tape ? tg_tape_error(tape) : NULL;
    fprintf(stderr, "prebias_gradients: %s\n", message ? message : tg_last_error());
}

/* Overwrites a fresh tg_linear's parameters with the problem's values. */
static bool make_layer(const problem *p, tg_linear *layer)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    if (!tg_linear_init(layer, TG_F64, p->m, p->n, &rng)) {
        report_error(NULL);
        return false;
    }

    for (int64_t i = 0; i < p->m * p->n; i++)
        tg_set(layer->W, i, p->W[i]);
    for (int64_t k = 0; k < p->m; k++)
        tg_set(layer->A, k, p->A[k]);
    for (int64_t j = 0; j < p->n; j++)
        tg_set(layer->B, j, p->B[j]);
    return true;
}

static void copy_grad(const tg_tensor *t, double *out)
{
    for (int64_t i = 0; i < t->size; i++)
        out[i] = tg_grad_get(t, i);
}

/*
 * Records the layer's forward pass on a tape and runs it backward from Z with DY as Z's
 * gradient. With scale_input the input passes through tg_grad_scale(x, sqrt(m / n)) first, as
 * in (7); without it the layer reads X itself, so the comparison sees the plain tape. Every
 * error, from a bad shape to a failed allocation, surfaces at tg_backward, because an op given
 * NULL passes NULL on and the tape keeps the first message.
 */
static bool tape_backward(const problem *p, tg_tape *tape, tg_linear *layer, bool scale_input,
                          grads *g)
{
    tg_tensor *x = tg_tensor_from(TG_F64, 2, (int64_t[]){p->batch, p->m}, p->X);
    tg_tensor *dy = tg_tensor_from(TG_F64, 2, (int64_t[]){p->batch, p->n}, p->DY);
    bool ok = x && dy && tg_tensor_set_requires_grad(x, true);
    if (!ok) {
        report_error(NULL);
    } else {
        double factor = sqrt((double)p->m / (double)p->n);
        tg_tensor *in = scale_input ? tg_grad_scale(tape, x, factor) : x;
        tg_tensor *z = tg_linear_forward(tape, layer, in);
        ok = tg_backward(tape, z, dy);
        if (!ok)
            report_error(tape);
    }

    if (ok) {
        copy_grad(layer->W, g->W);
        copy_grad(layer->A, g->A);
        copy_grad(layer->B, g->B);
        copy_grad(x, g->X);
    }
    tg_tensor_free(x);
    tg_tensor_free(dy);
    return ok;
}

static bool tape_gradients(const problem *p, bool scale_input, grads *g)
{
    tg_tape *tape = tg_tape_new();
    if (!tape) {
        report_error(NULL);
        return false;
    }
    tg_linear layer;
    if (!make_layer(p, &layer)) {
        tg_tape_free(tape);
        return false;
    }

    bool ok = tape_backward(p, tape, &layer, scale_input, g);
    tg_tape_free(tape);
    tg_linear_destroy(&layer);
    return ok;
}

/* (X - A)^T DY, [m, n]: the weight gradient, on which both rules agree. */
static void centred_t_dy(const problem *p, double *out)
{
    for (int64_t k = 0; k < p->m; k++) {
        for (int64_t j = 0; j < p->n; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < p->batch; i++)
                acc += (p->X[i * p->m + k] - p->A[k]) * p->DY[i * p->n + j];
            out[k * p->n + j] = acc;
        }
    }
}

/* DY W^T, [batch, m]: the gradient that flows back into the layer's input. */
static void dy_wt(const problem *p, double *out)
{
    for (int64_t i = 0; i < p->batch; i++) {
        for (int64_t k = 0; k < p->m; k++) {
            double acc = 0.0;
            for (int64_t j = 0; j < p->n; j++)
                acc += p->DY[i * p->n + j] * p->W[k * p->n + j];
            out[i * p->m + k] = acc;
        }
    }
}

static void sum_rows(const double *v, int64_t rows, int64_t cols, double *out)
{
    for (int64_t j = 0; j < cols; j++) {
        out[j] = 0.0;
        for (int64_t i = 0; i < rows; i++)
            out[j] += v[i * cols + j];
    }
}

static void mean_rows(const double *v, int64_t rows, int64_t cols, double *out)
{
    sum_rows(v, rows, cols, out);
    for (int64_t j = 0; j < cols; j++)
        out[j] /= (double)rows;
}

/*
 * The chain rule, written as loops so the tape has an independent answer to match. A enters
 * as -A before the product, so its gradient is minus the input gradient summed over rows.
 */
static void chain_rule_gradients(const problem *p, grads *g)
{
    centred_t_dy(p, g->W);
    dy_wt(p, g->X);

    sum_rows(g->X, p->batch, p->m, g->A);
    for (int64_t k = 0; k < p->m; k++)
        g->A[k] = -g->A[k];

    sum_rows(p->DY, p->batch, p->n, g->B);
}

/*
 * The paper's backward. DA is the gradient of 0.5 |X - A|^2 rather than of the loss, so it
 * never sees DY; DB adds DA W to the true bias gradient; DX is the true input gradient scaled
 * by sqrt(m / n).
 */
static void paper_gradients(const problem *p, grads *g)
{
    centred_t_dy(p, g->W);

    for (int64_t k = 0; k < p->m; k++) {
        g->A[k] = 0.0;
        for (int64_t i = 0; i < p->batch; i++)
            g->A[k] -= p->X[i * p->m + k] - p->A[k];
    }

    sum_rows(p->DY, p->batch, p->n, g->B);
    for (int64_t j = 0; j < p->n; j++)
        for (int64_t k = 0; k < p->m; k++)
            g->B[j] += g->A[k] * p->W[k * p->n + j];

    double scale = sqrt((double)p->m / (double)p->n);
    dy_wt(p, g->X);
    for (int64_t i = 0; i < p->batch * p->m; i++)
        g->X[i] *= scale;
}

static void print_element_name(const char *name, int ndim, int64_t i, int64_t cols)
{
    char label[64];
    if (ndim == 1)
        snprintf(label, sizeof label, "%s[%" PRId64 "]", name, i);
    else
        snprintf(label, sizeof label, "%s[%" PRId64 ",%" PRId64 "]", name, i / cols, i % cols);
    printf("  %-9s", label);
}

/* One gradient, element by element: the tape's value, the paper's and their difference. */
static void print_comparison(const char *name, int ndim, int64_t rows, int64_t cols,
                             const double *tape, const double *paper)
{
    printf("Gradient with respect to %s [", name);
    if (ndim == 1)
        printf("%" PRId64 "]\n", cols);
    else
        printf("%" PRId64 ", %" PRId64 "]\n", rows, cols);

    char tape_head[16], paper_head[16], diff_head[24];
    snprintf(tape_head, sizeof tape_head, "tape d%s", name);
    snprintf(paper_head, sizeof paper_head, "paper D%s", name);
    snprintf(diff_head, sizeof diff_head, "D%s - d%s", name, name);
    printf("  %-9s %12s %12s %14s\n", "element", tape_head, paper_head, diff_head);

    for (int64_t i = 0; i < rows * cols; i++) {
        print_element_name(name, ndim, i, cols);
        printf(" %+12.6f %+12.6f %+14.6f\n", tape[i], paper[i], paper[i] - tape[i]);
    }
    printf("\n");
}

static void print_comparisons(const problem *p, const grads *tape, const grads *paper)
{
    print_comparison("W", 2, p->m, p->n, tape->W, paper->W);
    print_comparison("A", 1, 1, p->m, tape->A, paper->A);
    print_comparison("B", 1, 1, p->n, tape->B, paper->B);
    print_comparison("X", 2, p->batch, p->m, tape->X, paper->X);
}

/* The larger of two deviations, where NaN counts as larger than anything so it is never lost. */
static double worse(double worst, double deviation)
{
    return isnan(worst) || deviation <= worst ? worst : deviation;
}

static double max_abs_diff(const double *a, const double *b, int64_t count)
{
    double worst = 0.0;
    for (int64_t i = 0; i < count; i++)
        worst = worse(worst, fabs(a[i] - b[i]));
    return worst;
}

/* Euclidean distance between two vectors. */
static double distance(const double *a, const double *b, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(sum);
}

/* Counts a deviation against identity `number`, which holds only if all its checks do. */
static void record(findings *f, int number, double deviation)
{
    f->identity[number - 1] = worse(f->identity[number - 1], deviation);
}

/* Where the paper's DB and the true dB part: their difference should be exactly DA W. */
static double bias_identity_deviation(const problem *p, const grads *tape, const grads *paper)
{
    double worst = 0.0;
    for (int64_t j = 0; j < p->n; j++) {
        double da_w = 0.0;
        for (int64_t k = 0; k < p->m; k++)
            da_w += paper->A[k] * p->W[k * p->n + j];
        worst = worse(worst, fabs((paper->B[j] - tape->B[j]) - da_w));
    }
    return worst;
}

/*
 * DX / dX elementwise; elements of dX within 1e-9 of zero are skipped, since there the
 * quotient says nothing. The identity DX = sqrt(m/n) dX is checked on all elements anyway.
 */
static void input_ratio(const problem *p, const grads *tape, const grads *paper, findings *f)
{
    double scale = sqrt((double)p->m / (double)p->n);
    f->ratio_min = INFINITY;
    f->ratio_max = -INFINITY;
    f->ratio_count = 0;
    f->paper_X_identity = 0.0;

    for (int64_t i = 0; i < p->batch * p->m; i++) {
        f->paper_X_identity = worse(f->paper_X_identity, fabs(paper->X[i] - scale * tape->X[i]));
        if (fabs(tape->X[i]) < 1e-9)
            continue;
        double ratio = paper->X[i] / tape->X[i];
        f->ratio_min = fmin(f->ratio_min, ratio);
        f->ratio_max = fmax(f->ratio_max, ratio);
        f->ratio_count++;
    }
}

static findings compare(const problem *p, const grads *tape, const grads *truth, const grads *paper)
{
    findings f = {.ratio_count = 0};
    int64_t nx = p->batch * p->m;
    f.tape_vs_true[0] = max_abs_diff(tape->W, truth->W, p->m * p->n);
    f.tape_vs_true[1] = max_abs_diff(tape->A, truth->A, p->m);
    f.tape_vs_true[2] = max_abs_diff(tape->B, truth->B, p->n);
    f.tape_vs_true[3] = max_abs_diff(tape->X, truth->X, nx);

    f.paper_W = max_abs_diff(paper->W, tape->W, p->m * p->n);
    f.paper_A = max_abs_diff(paper->A, tape->A, p->m);
    f.paper_B = max_abs_diff(paper->B, tape->B, p->n);
    f.paper_B_identity = bias_identity_deviation(p, tape, paper);
    input_ratio(p, tape, paper, &f);

    record(&f, 1, f.paper_W);
    record(&f, 2, f.paper_B_identity);
    record(&f, 7, f.paper_X_identity);
    return f;
}

static void print_tape_check(const findings *f)
{
    printf("The tape against the chain rule computed with plain loops (max |tape - loops|)\n");
    printf("  dW = (X - A)^T DY        %.1e\n", f->tape_vs_true[0]);
    printf("  dA = -sum_rows(DY W^T)   %.1e\n", f->tape_vs_true[1]);
    printf("  dB = sum_rows(DY)        %.1e\n", f->tape_vs_true[2]);
    printf("  dX = DY W^T              %.1e\n\n", f->tape_vs_true[3]);
}

static void print_weight_identity(const findings *f)
{
    printf("(1) DW = dW: both rules take the gradient of the loss with respect to W.\n");
    printf("      max |DW - dW| = %.1e\n\n", f->paper_W);
}

static void print_bias_identity(const findings *f)
{
    printf("(2) DB - dB = DA W: the paper adds the pre-bias gradient, carried through W, to dB.\n");
    printf("      max |DB - dB| = %.6f    max |(DB - dB) - DA W| = %.1e\n", f->paper_B,
           f->paper_B_identity);
    printf("    As a step: B - eta DB = (B - eta dB) + (-eta DA) W, a true gradient step on B\n");
    printf("    plus the shift of B that compensates the move of A by -eta DA (see 4 and 5).\n\n");
}

/*
 * The tape's gradient of f(A) = 0.5 * sum_rows |X - A|^2, built from ops with X a constant.
 * By the chain rule it is -sum_rows(X - A), which is the paper's DA.
 */
static bool tape_centering_gradient(const problem *p, double *out)
{
    tg_tape *tape = tg_tape_new();
    tg_tensor *x = tg_tensor_from(TG_F64, 2, (int64_t[]){p->batch, p->m}, p->X);
    tg_tensor *a = tg_tensor_from(TG_F64, 1, (int64_t[]){p->m}, p->A);
    bool ok = tape && x && a && tg_tensor_set_requires_grad(a, true);
    if (!ok) {
        report_error(NULL);
    } else {
        tg_tensor *f = tg_scale(tape, tg_sum(tape, tg_square(tape, tg_sub(tape, x, a))), 0.5);
        ok = tg_backward(tape, f, NULL);
        if (!ok)
            report_error(tape);
    }

    if (ok)
        copy_grad(a, out);
    tg_tensor_free(x);
    tg_tensor_free(a);
    tg_tape_free(tape);
    return ok;
}

static bool check_centering_gradient(const problem *p, const grads *paper, findings *f)
{
    double tape_da[MAX_WIDTH], mean[MAX_WIDTH];
    if (!tape_centering_gradient(p, tape_da))
        return false;
    mean_rows(p->X, p->batch, p->m, mean);

    double deviation = max_abs_diff(tape_da, paper->A, p->m);
    record(f, 3, deviation);

    printf("(3) DA = -sum_rows(X - A) never sees DY (max |DA - dA| = %.6f): it is the\n",
           f->paper_A);
    printf("    gradient of f = 0.5 * sum_rows |X - A|^2, not of the loss. The tape, given f:\n");
    print_vector("tape df/dA", tape_da, p->m);
    print_vector("paper DA", paper->A, p->m);
    printf("      max |tape df/dA - DA| = %.1e\n", deviation);
    printf("    So A -= eta DA is A += eta batch (mean(X) - A): a step of A toward\n");
    print_vector("mean(X)", mean, p->m);
    printf("\n");
    return true;
}

/*
 * Z = (x - A) W + B for the rows of x. Gradients are off: the parameters require them, but an
 * evaluation has nothing to differentiate.
 */
static bool layer_output(const tg_linear *layer, const double *x, int64_t rows, double *z)
{
    tg_tape *tape = tg_tape_new();
    tg_tensor *xt = tg_tensor_from(TG_F64, 2, (int64_t[]){rows, layer->fan_in}, x);
    bool ok = tape && xt;
    if (!ok) {
        report_error(NULL);
    } else {
        tg_tape_set_grad_enabled(tape, false);
        tg_tensor *zt = tg_linear_forward(tape, layer, xt);
        ok = zt != NULL;
        if (!ok)
            report_error(tape);
        for (int64_t i = 0; ok && i < zt->size; i++)
            z[i] = tg_get(zt, i);
    }

    tg_tensor_free(xt);
    tg_tape_free(tape);
    return ok;
}

/* One centering step of the layer on the batch X, by the library's tg_linear_center. */
static bool center_on_batch(tg_linear *layer, const problem *p, double eta)
{
    tg_tensor *x = tg_tensor_from(TG_F64, 2, (int64_t[]){p->batch, p->m}, p->X);
    bool ok = x && tg_linear_center(layer, x, eta);
    if (!ok)
        report_error(NULL);
    tg_tensor_free(x);
    return ok;
}

/* Z on X into z[0] and Z on X' into z[1]. */
static bool outputs_on_both(const tg_linear *layer, const problem *p,
                            double z[2][MAX_BATCH * MAX_WIDTH])
{
    return layer_output(layer, p->X, p->batch, z[0]) &&
           layer_output(layer, p->X_other, p->other, z[1]);
}

/* max |Z_after - Z_before| on X (change[0]) and on X' (change[1]) across one centering step. */
static bool centering_output_change(const problem *p, double eta, double change[2])
{
    tg_linear layer;
    if (!make_layer(p, &layer))
        return false;

    double before[2][MAX_BATCH * MAX_WIDTH], after[2][MAX_BATCH * MAX_WIDTH];
    bool ok = outputs_on_both(&layer, p, before) && center_on_batch(&layer, p, eta) &&
              outputs_on_both(&layer, p, after);
    tg_linear_destroy(&layer);

    if (ok) {
        change[0] = max_abs_diff(after[0], before[0], p->batch * p->n);
        change[1] = max_abs_diff(after[1], before[1], p->other * p->n);
    }
    return ok;
}

static void print_output_change(const char *name, int64_t rows, int64_t m, const char *what,
                                double change)
{
    printf("      on %-3s[%" PRId64 ", %" PRId64 "], %-25s max |Z_after - Z_before| = %.1e\n", name,
           rows, m, what, change);
}

/*
 * With A' = A + delta and B' = B + delta W, (x - A') W + B' = (x - A) W - delta W + B + delta W
 * for every x, so the step preserves the function even on inputs it never saw.
 */
static bool check_function_preserved(const problem *p, findings *f)
{
    double change[2];
    if (!centering_output_change(p, ETA, change))
        return false;
    record(f, 4, change[0]);
    record(f, 4, change[1]);

    printf("(4) A centering step keeps the layer's function. With delta = eta sum_rows(X - A)\n");
    printf("    it sets A += delta and B += delta W, and (x - A - delta) W + B + delta W is\n");
    printf("    (x - A) W + B for every x. tg_linear_center, eta = %g, on a copy of the layer:\n",
           ETA);
    print_output_change("X", p->batch, p->m, "the batch it centred on:", change[0]);
    print_output_change("X'", p->other, p->m, "a batch it never saw:", change[1]);
    printf("\n");
    return true;
}

/* The paper's update of A and B with step eta, as loops: A - eta DA, B - eta DB. */
static void paper_step(const problem *p, const grads *paper, double eta, double *a, double *b)
{
    for (int64_t k = 0; k < p->m; k++)
        a[k] = p->A[k] - eta * paper->A[k];
    for (int64_t j = 0; j < p->n; j++)
        b[j] = p->B[j] - eta * paper->B[j];
}

/* The same update from the library: B -= eta dB, then tg_linear_center with W not yet moved. */
static bool sgd_then_center(const problem *p, const grads *tape, double eta, double *a, double *b)
{
    tg_linear layer;
    if (!make_layer(p, &layer))
        return false;
    for (int64_t j = 0; j < p->n; j++)
        tg_set(layer.B, j, p->B[j] - eta * tape->B[j]);

    bool ok = center_on_batch(&layer, p, eta);
    for (int64_t k = 0; ok && k < p->m; k++)
        a[k] = tg_get(layer.A, k);
    for (int64_t j = 0; ok && j < p->n; j++)
        b[j] = tg_get(layer.B, j);
    tg_linear_destroy(&layer);
    return ok;
}

static bool check_update_split(const problem *p, const grads *tape, const grads *paper, findings *f)
{
    double paper_a[MAX_WIDTH], paper_b[MAX_WIDTH], split_a[MAX_WIDTH], split_b[MAX_WIDTH];
    paper_step(p, paper, ETA, paper_a, paper_b);
    if (!sgd_then_center(p, tape, ETA, split_a, split_b))
        return false;

    double deviation_a = max_abs_diff(paper_a, split_a, p->m);
    double deviation_b = max_abs_diff(paper_b, split_b, p->n);
    record(f, 5, deviation_a);
    record(f, 5, deviation_b);

    printf("(5) The paper's update of A and B is a true SGD step on B, then a centering step.\n");
    printf("    With eta = %g: paper A - eta DA, B - eta DB; split B -= eta dB, then\n", ETA);
    printf("    tg_linear_center(eta) with W as before the step.\n");
    printf("      max |A_paper - A_split| = %.1e    max |B_paper - B_split| = %.1e\n\n",
           deviation_a, deviation_b);
    return true;
}

/* a[t] is A after t centering steps on X, for t = 0 .. CENTER_STEPS. */
static bool centering_trajectory(const problem *p, double eta, double a[][MAX_WIDTH])
{
    tg_linear layer;
    if (!make_layer(p, &layer))
        return false;

    memcpy(a[0], p->A, (size_t)p->m * sizeof(double));
    bool ok = true;
    for (int t = 1; ok && t <= CENTER_STEPS; t++) {
        ok = center_on_batch(&layer, p, eta);
        for (int64_t k = 0; k < p->m; k++)
            a[t][k] = tg_get(layer.A, k);
    }
    tg_linear_destroy(&layer);
    return ok;
}

/*
 * Each step maps A - mean(X) to (1 - eta batch) (A - mean(X)), since sum_rows(X - A) is
 * batch (mean(X) - A). This is the worst deviation of A_t - mean(X) from
 * factor^t (A_0 - mean(X)) over the whole trajectory.
 */
static double geometric_deviation(const double a[][MAX_WIDTH], const double *mean, int64_t m,
                                  double factor)
{
    double worst = 0.0;
    for (int t = 0; t <= CENTER_STEPS; t++)
        for (int64_t k = 0; k < m; k++) {
            double expected = pow(factor, t) * (a[0][k] - mean[k]);
            worst = worse(worst, fabs((a[t][k] - mean[k]) - expected));
        }
    return worst;
}

/* |A_t - mean(X)| at the reported steps, and the mean shrink per step since the row above. */
static void print_trajectory(const double a[][MAX_WIDTH], const double *mean, int64_t m)
{
    printf("      step   |A - mean(X)|   per step since the row above\n");
    int previous = 0;
    for (size_t r = 0; r < sizeof REPORTED_STEPS / sizeof REPORTED_STEPS[0]; r++) {
        int t = REPORTED_STEPS[r];
        double d = distance(a[t], mean, m);
        printf("      %4d   %13.6e", t, d);
        if (t > 0)
            printf("   %.12f", pow(d / distance(a[previous], mean, m), 1.0 / (t - previous)));
        printf("\n");
        previous = t;
    }
}

static bool check_centering_convergence(const problem *p, findings *f)
{
    double eta = ETA_BATCH / (double)p->batch;
    double factor = 1.0 - eta * (double)p->batch;
    double a[CENTER_STEPS + 1][MAX_WIDTH], mean[MAX_WIDTH];
    if (!centering_trajectory(p, eta, a))
        return false;
    mean_rows(p->X, p->batch, p->m, mean);

    double shrink = distance(a[CENTER_STEPS], mean, p->m) / distance(a[0], mean, p->m);
    double rate = pow(shrink, 1.0 / CENTER_STEPS);
    double deviation = geometric_deviation(a, mean, p->m, factor);
    record(f, 6, fabs(rate - fabs(factor)));
    record(f, 6, deviation);

    printf("(6) Repeated centering steps on X drive A to mean(X): each multiplies A - mean(X)\n");
    printf("    by 1 - eta batch; eta = %g / batch = %g makes |1 - eta batch| = %.12f\n", ETA_BATCH,
           eta, fabs(factor));
    print_trajectory(a, mean, p->m);
    printf("      shrink per step over all %d steps: %.12f\n", CENTER_STEPS, rate);
    printf("      max |(A_t - mean(X)) - (1 - eta batch)^t (A_0 - mean(X))| = %.1e\n\n", deviation);
    return true;
}

static void print_input_ratio(const problem *p, const findings *f)
{
    double scale = sqrt((double)p->m / (double)p->n);
    printf("(7) DX = sqrt(m / n) dX, sqrt(%" PRId64 " / %" PRId64 ") = %.12f\n", p->m, p->n, scale);
    if (f->ratio_count > 0)
        printf("      DX / dX over %" PRId64 " elements: min %.12f, max %.12f\n", f->ratio_count,
               f->ratio_min, f->ratio_max);
    else
        printf("      DX / dX is undefined: dX is 0 everywhere\n");
    printf("      max |DX - sqrt(m / n) dX| = %.1e\n", f->paper_X_identity);
}

/*
 * The tape with tg_grad_scale(x, sqrt(m / n)) in front of the layer must give the paper's DX,
 * and leave the layer's own gradients as they were.
 */
static bool check_input_scale(const problem *p, const grads *tape, const grads *paper, findings *f)
{
    grads scaled;
    if (!tape_gradients(p, true, &scaled))
        return false;

    double deviation_x = max_abs_diff(scaled.X, paper->X, p->batch * p->m);
    double own = max_abs_diff(scaled.W, tape->W, p->m * p->n);
    own = worse(own, max_abs_diff(scaled.A, tape->A, p->m));
    own = worse(own, max_abs_diff(scaled.B, tape->B, p->n));
    record(f, 7, deviation_x);
    record(f, 7, own);

    print_input_ratio(p, f);
    printf("    With tg_grad_scale(x, sqrt(m / n)) in front of the layer the tape gives DX, and\n");
    printf(
        "    this layer's own gradients stay as they were: only the signal sent down changes.\n");
    printf("      max |tape dX - DX| = %.1e    max change in dW, dA, dB = %.1e\n\n", deviation_x,
           own);
    return true;
}

static void print_conclusion(void)
{
    printf("(8) In plain words, the paper's rule is three things: SGD on W and B, a centering\n");
    printf("    step on A with B compensated, and a gradient scale sqrt(m / n) per layer.\n");
    printf("    Its DW is the true weight gradient. Its DA is not a gradient of the loss: a\n");
    printf("    step along it moves A toward the mean of the layer's input, and the DA W in\n");
    printf("    DB shifts B by exactly what keeps (X - A) W + B unchanged. So the paper's\n");
    printf("    update of A and B is a true SGD step on B followed by a re-centering of the\n");
    printf("    layer's input that leaves its function as it was (the centering trick).\n");
    printf("    Its sqrt(m / n) changes no gradient of this layer: it scales the signal sent\n");
    printf("    to the layers below, so their W and B learn at a rate multiplied by the\n");
    printf("    factors of the layers above them, in effect a per-layer learning rate.\n\n");
}

/* The sections (3) to (7) that run the library; false if one failed to compute. */
static bool check_with_library(const problem *p, const grads *tape, const grads *paper, findings *f)
{
    return check_centering_gradient(p, paper, f) && check_function_preserved(p, f) &&
           check_update_split(p, tape, paper, f) && check_centering_convergence(p, f) &&
           check_input_scale(p, tape, paper, f);
}

static bool all_hold(const findings *f)
{
    bool ok = true;
    for (int i = 0; i < 4; i++)
        ok = ok && f->tape_vs_true[i] <= TOLERANCE;
    for (int k = 0; k < IDENTITY_COUNT; k++)
        ok = ok && f->identity[k] <= TOLERANCE;
    return ok;
}

static void print_failures(const findings *f)
{
    printf("Not every identity holds within %.0e. Failing:", TOLERANCE);
    for (int i = 0; i < 4; i++)
        if (!(f->tape_vs_true[i] <= TOLERANCE))
            printf(" tape-vs-loops[%c]", "WABX"[i]);
    for (int k = 0; k < IDENTITY_COUNT; k++)
        if (!(f->identity[k] <= TOLERANCE))
            printf(" (%d)", k + 1);
    printf(". See the deviations above.\n");
}

int main(int argc, char **argv)
{
    options opt;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (!parse_args(argc, argv, &opt)) {
        usage(stderr, argv[0]);
        return 2;
    }

    problem p;
    if (opt.random)
        random_problem(&opt, &p);
    else
        default_problem(&p);
    print_header(&p, &opt);
    print_inputs(&p);

    grads tape, truth, paper;
    if (!tape_gradients(&p, false, &tape))
        return 1;
    chain_rule_gradients(&p, &truth);
    paper_gradients(&p, &paper);

    print_comparisons(&p, &tape, &paper);
    findings f = compare(&p, &tape, &truth, &paper);
    print_tape_check(&f);

    printf("What the paper's rule is, identity by identity (eta is a step size)\n\n");
    print_weight_identity(&f);
    print_bias_identity(&f);
    if (!check_with_library(&p, &tape, &paper, &f))
        return 1;
    print_conclusion();

    if (!all_hold(&f)) {
        print_failures(&f);
        return 1;
    }
    printf("All identities hold within %.0e.\n", TOLERANCE);
    return 0;
}
