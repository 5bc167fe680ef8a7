/*
 * qm7_bench: times the QM7 example on the real data, beside the reference peers of
 * shared/bench when they can run, and prints one table line per figure.
 *
 * The network is nin-400-100-1 (nin, about 2,096, is the input width the pipeline fits) and a
 * minibatch has 25 molecules. Each figure is measured in --repeats runs, and the table gives
 * the median, the fastest and the slowest run; a figure meets its target when its median does.
 *
 *   full step       qm7_model_step on a fresh minibatch whose inputs are built that step, as
 *                   qm7.c trains: input pipeline, forward, backward, update, averaging
 *   network step    the same on rows drawn from a pool of inputs built once, as the torch peer
 *                   draws from its pre-built inputs
 *   input pipeline  qm7_features_make for one minibatch: realize, expand, normalize
 *   evaluation      the test fold, each molecule averaged over 10 realizations, through the
 *                   averaged weights on a tape that records nothing, in batches of 250
 *   tape op         recording a 1-element add and resetting the tape, with and without grad
 *   long run        --long-steps training steps from a fresh network: wall time, and resident
 *                   memory at step 10,000 and at the end
 *
 * The peers run once per setting, after tapegrad's figures and in the same run, each under
 * the default environment and with OPENBLAS_CORETYPE=SkylakeX; a ratio divides tapegrad's
 * figures by the peer's better one, so the peer is quoted at its best.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "qm7_data.h"
#include "qm7_features.h"
#include "qm7_model.h"
#include "tg_ops.h"
#include "tg_tape.h"

enum { BATCH = 25, EVAL_BATCH = 250, TEST_FOLD = 0, MAX_REPEATS = 100, MAX_RULES = 2 };
enum { PEER_SETTINGS = 2, MAX_ROWS = 32 };

static const uint64_t SEED = 1234, POOL_SEED = 99, EVAL_SEED = 7;
static const int64_t PAPER_STEPS = 1000000, RSS_CHECKPOINT = 10000;
static const double MIB = 1024.0 * 1024.0;

static const char *const PYTHON = "/usr/bin/python3";
static const char *const SYSTEM_BLAS = "/usr/lib/x86_64-linux-gnu/libblas.so.3";
static const char *const PEER_ENV[PEER_SETTINGS] = {"", "OPENBLAS_CORETYPE=SkylakeX "};
static const char *const PEER_SETTING[PEER_SETTINGS] = {"default env", "CORETYPE=SkylakeX"};

typedef struct options {
    const char *data_path, *peers_dir;
    int64_t threads, repeats, long_steps;
    qm7_rule rules[MAX_RULES];
    int n_rules;
    bool quick;
} options;

/* How long each figure runs; --quick makes every count small, for valgrind and ASan. */
typedef struct counts {
    int repeats;
    int64_t warmup, steps, pipeline_reps, pool_rows, tape_ops;
    int64_t eval_molecules, eval_realizations, peer_steps;
} counts;

typedef struct stats {
    double median, min, max;
} stats;

typedef struct bench {
    qm7_data data;
    qm7_features f;
    int64_t *train, n_train;
    const int64_t *test; /* into data.P */
    int64_t n_test;
    double mean_t, std_t;
    counts c;
    float *pool, *pool_t; /* c.pool_rows input rows and their energies */
} bench;

typedef struct trainer {
    qm7_model model;
    tg_tape *tape;
    tg_tensor *x, *t;
    int64_t batch[BATCH];
    tg_rng rng;
    int64_t step; /* steps taken so far */
} trainer;

typedef struct long_run {
    int64_t steps, checkpoint;
    double seconds;
    double rss_start, rss_mid, rss_end, peak_mid, peak_end; /* MiB */
} long_run;

typedef struct peer_result {
    bool ran;
    double ms;     /* ms per step, as the peer printed it */
    char why[200]; /* when it did not run: the reason, or the last line it printed */
} peer_result;

typedef struct results {
    qm7_rule rules[MAX_RULES];
    int n_rules;
    stats full[MAX_RULES], network[MAX_RULES], pipeline, eval, tape_grad, tape_nograd;
    double eval_mae;
    int64_t eval_molecules, eval_realizations;
    int64_t eval_steps; /* training steps behind the evaluated weights */
    bool long_ran;
    long_run lr;
    peer_result numpy[MAX_RULES][PEER_SETTINGS], torch[PEER_SETTINGS];
} results;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: qm7_bench [options]\n"
                 "  --data PATH        qm7.mat (default: $TG_QM7_PATH, else ./qm7.mat)\n"
                 "  --threads N        threads for matrix products and updates (default 1)\n"
                 "  --repeats R        timed runs per figure, 1-100 (default 7; 1 with --quick)\n"
                 "  --rule R           paper or autodiff (default: both)\n"
                 "  --peers DIR        the peer scripts (default: $TG_BENCH_PEERS, else\n"
                 "                     ../shared/bench); a DIR without them skips the peers\n"
                 "  --long-steps N     train N steps from scratch and watch memory; 0 skips it\n"
                 "                     (default 0; the paper's run is 1000000)\n"
                 "  --quick            small counts everywhere, for valgrind and ASan runs\n"
                 "  --help             this text\n");
}

/* A whole decimal integer in [lo, hi]; anything else is refused with a message. */
static bool parse_int(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (text && !errno && end != text && !*end && v >= lo && v <= hi) {
        *out = v;
        return true;
    }
    fprintf(stderr, "qm7_bench: %s takes an integer from %" PRId64 " to %" PRId64 ", not '%s'\n",
            flag, lo, hi, text ? text : "");
    return false;
}

static bool parse_rule(const char *text, options *o)
{
    qm7_rule rule;
    bool known = text && qm7_rule_parse(text, &rule);
    if (!known || (rule != QM7_RULE_PAPER && rule != QM7_RULE_AUTODIFF)) {
        fprintf(stderr, "qm7_bench: --rule takes paper or autodiff, not '%s'\n", text ? text : "");
        return false;
    }
    o->rules[0] = rule;
    o->n_rules = 1;
    return true;
}

/* Reads one option; returns how many arguments it used, or 0 when it is wrong. */
static int parse_flag(options *o, const char *flag, const char *value)
{
    if (!strcmp(flag, "--quick")) {
        o->quick = true;
        return 1;
    }

    bool ok = true;
    if (!strcmp(flag, "--data") && value)
        o->data_path = value;
    else if (!strcmp(flag, "--peers") && value)
        o->peers_dir = value;
    else if (!strcmp(flag, "--rule"))
        ok = parse_rule(value, o);
    else if (!strcmp(flag, "--threads"))
        ok = parse_int(flag, value, 1, 256, &o->threads);
    else if (!strcmp(flag, "--repeats"))
        ok = parse_int(flag, value, 1, MAX_REPEATS, &o->repeats);
    else if (!strcmp(flag, "--long-steps"))
        ok = parse_int(flag, value, 0, INT64_C(1000000000), &o->long_steps);
    else {
        fprintf(stderr, "qm7_bench: unknown option or missing value: %s\n", flag);
        ok = false;
    }
    return ok ? 2 : 0;
}

static bool parse_options(int argc, char **argv, options *o)
{
    const char *data = getenv("TG_QM7_PATH"), *peers = getenv("TG_BENCH_PEERS");
    *o = (options){.data_path = data && *data ? data : "qm7.mat",
                   .peers_dir = peers && *peers ? peers : "../shared/bench",
                   .threads = 1,
                   .rules = {QM7_RULE_PAPER, QM7_RULE_AUTODIFF},
                   .n_rules = 2};

    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            exit(0);
        }
        int used = parse_flag(o, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
        if (!used)
            return false;
        i += used;
    }
    return true;
}

static counts make_counts(const options *o)
{
    counts c = {.repeats = 7,
                .warmup = 200,
                .steps = 500,
                .pipeline_reps = 2000,
                .pool_rows = 4096,
                .tape_ops = 1000000,
                .eval_molecules = INT64_MAX,
                .eval_realizations = 10,
                .peer_steps = 300};
    if (o->quick)
        c = (counts){.repeats = 1,
                     .warmup = 3,
                     .steps = 5,
                     .pipeline_reps = 10,
                     .pool_rows = 64,
                     .tape_ops = 1000,
                     .eval_molecules = 50,
                     .eval_realizations = 1,
                     .peer_steps = 10};
    if (o->repeats)
        c.repeats = (int)o->repeats;
    return c;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stats summarize(double *values, int n)
{
    qsort(values, (size_t)n, sizeof *values, compare_doubles);
    double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    return (stats){median, values[0], values[n - 1]};
}

static stats single(double v) { return (stats){v, v, v}; }

static stats scaled(stats s, double factor)
{
    return (stats){s.median * factor, s.min * factor, s.max * factor};
}

/* Resident memory now, from /proc/self/statm, in MiB; NaN where it cannot be read. */
static double current_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    bool ok = f && fscanf(f, "%ld %ld", &size, &resident) == 2;
    if (f)
        fclose(f);
    return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) / MIB : NAN;
}

/* The process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB). */
static double peak_rss_mib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? NAN : (double)ru.ru_maxrss * 1024.0 / MIB;
}

/* The training molecules, the test fold, and the energy statistics of the training ones. */
static bool make_split(bench *b)
{
    b->train = qm7_training_indices(&b->data, TEST_FOLD, &b->n_train);
    b->test = b->data.P + TEST_FOLD * b->data.fold_size;
    b->n_test = b->data.fold_size;
    if (!b->train)
        return false;

    double sum = 0.0, squares = 0.0;
    for (int64_t i = 0; i < b->n_train; i++)
        sum += b->data.T[b->train[i]];
    b->mean_t = sum / (double)b->n_train;
    for (int64_t i = 0; i < b->n_train; i++) {
        double d = b->data.T[b->train[i]] - b->mean_t;
        squares += d * d;
    }
    b->std_t = sqrt(squares / (double)b->n_train);
    return true;
}

/* Loads the data and fits the input pipeline, as qm7.c does for the same fold and seed. */
static bool bench_init(bench *b, const options *o)
{
    *b = (bench){.c = make_counts(o)};
    if (!qm7_load(o->data_path, &b->data)) {
        fprintf(stderr, "qm7_bench: %s\n(pass --data PATH or set TG_QM7_PATH)\n", tg_last_error());
        return false;
    }

    tg_rng rng;
    tg_rng_seed(&rng, SEED);
    if (!make_split(b) ||
        !qm7_features_fit(&b->f, &b->data, b->train, b->n_train, 1.0, 1.0, &rng)) {
        fprintf(stderr, "qm7_bench: preparing the data failed: %s\n", tg_last_error());
        return false;
    }
    return true;
}

/* Inputs for the network-step figure: pool_rows training molecules, each realized once. */
static bool build_pool(bench *b)
{
    int64_t n = b->c.pool_rows, width = b->f.nfeatures;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    b->pool = malloc((size_t)(n * width) * sizeof *b->pool);
    b->pool_t = malloc((size_t)n * sizeof *b->pool_t);
    if (!idx || !b->pool || !b->pool_t) {
        free(idx);
        fprintf(stderr, "qm7_bench: out of memory for %" PRId64 " input rows\n", n);
        return false;
    }

    tg_rng rng;
    tg_rng_seed(&rng, POOL_SEED);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = b->train[tg_rng_below(&rng, (uint64_t)b->n_train)];
        b->pool_t[i] = b->data.T[idx[i]];
    }
    qm7_features_make(&b->f, &b->data, idx, n, &rng, b->pool);
    free(idx);
    return true;
}

static void bench_free(bench *b)
{
    free(b->pool);
    free(b->pool_t);
    free(b->train);
    qm7_features_free(&b->f);
    qm7_free(&b->data);
}

/* qm7.c's learning-rate schedule, so that the long run is the paper's run. */
static double learning_rate(int64_t step)
{
    if (step <= 500)
        return 0.001;
    if (step <= 2500)
        return 0.0025;
    if (step <= 12500)
        return 0.005;
    return 0.01;
}

static bool trainer_init(trainer *tr, const bench *b, qm7_rule rule)
{
    *tr = (trainer){0};
    tg_rng_seed(&tr->rng, SEED);
    const int64_t sizes[] = {b->f.nfeatures, 400, 100, 1};
    if (!qm7_model_init(&tr->model, sizes, 4, TG_F32, rule, b->mean_t, b->std_t, &tr->rng)) {
        fprintf(stderr, "qm7_bench: building the network failed: %s\n", tg_last_error());
        return false;
    }

    tr->tape = tg_tape_new();
    tr->x = tg_tensor_new(TG_F32, 2, (int64_t[]){BATCH, b->f.nfeatures});
    tr->t = tg_tensor_new(TG_F32, 2, (int64_t[]){BATCH, 1});
    if (!tr->tape || !tr->x || !tr->t) {
        fprintf(stderr, "qm7_bench: out of memory for the trainer\n");
        return false;
    }
    return true;
}

static void trainer_free(trainer *tr)
{
    tg_tensor_free(tr->t);
    tg_tensor_free(tr->x);
    tg_tape_free(tr->tape);
    qm7_model_free(&tr->model);
}

static bool take_step(trainer *tr)
{
    double loss;
    tr->step++;
    if (qm7_model_step(&tr->model, tr->tape, tr->x, tr->t, learning_rate(tr->step), tr->step,
                       &loss))
        return true;
    fprintf(stderr, "qm7_bench: %s\n", tg_last_error());
    return false;
}

/* A fresh minibatch, drawn with replacement, and its inputs from a new realization. */
static void make_minibatch(trainer *tr, const bench *b)
{
    for (int i = 0; i < BATCH; i++) {
        tr->batch[i] = b->train[tg_rng_below(&tr->rng, (uint64_t)b->n_train)];
        tg_set(tr->t, i, b->data.T[tr->batch[i]]);
    }
    qm7_features_make(&b->f, &b->data, tr->batch, BATCH, &tr->rng, tr->x->data);
    tg_tensor_mark_modified(tr->x);
}

static bool full_step(trainer *tr, const bench *b)
{
    make_minibatch(tr, b);
    return take_step(tr);
}

/* The network alone: the minibatch's rows are copied from the pool built once. */
static bool pool_step(trainer *tr, const bench *b)
{
    int64_t width = b->f.nfeatures;
    float *x = tr->x->data;
    for (int i = 0; i < BATCH; i++) {
        int64_t r = (int64_t)tg_rng_below(&tr->rng, (uint64_t)b->c.pool_rows);
        memcpy(x + i * width, b->pool + r * width, (size_t)width * sizeof *x);
        tg_set(tr->t, i, b->pool_t[r]);
    }
    tg_tensor_mark_modified(tr->x);
    return take_step(tr);
}

/* The test molecules [start, start + rows) once each, their predictions added into sum. */
static bool predict_batch(trainer *tr, const bench *b, tg_tape *tape, tg_tensor *x, tg_rng *rng,
                          int64_t start, int64_t rows, double *sum)
{
    /* A short last batch uses a header over x's first rows, sharing its data. */
    tg_tensor part = *x;
    part.shape[0] = rows;
    part.size = rows * b->f.nfeatures;
    qm7_features_make(&b->f, &b->data, b->test + start, rows, rng, part.data);

    tg_tensor *y = qm7_model_predict(tape, &tr->model, &part);
    if (!y)
        fprintf(stderr, "qm7_bench: evaluation failed: %s\n", tg_tape_error(tape));
    for (int64_t i = 0; y && i < rows; i++)
        sum[start + i] += tg_get(y, i);
    tg_tape_reset(tape);
    return y != NULL;
}

/*
 * qm7.c's evaluation of the weights in place: every molecule's prediction averaged over its
 * realizations, on a tape that records nothing; the MAE in kcal/mol goes to *mae.
 */
static bool evaluate(trainer *tr, const bench *b, double *mae)
{
    int64_t n = b->n_test < b->c.eval_molecules ? b->n_test : b->c.eval_molecules;
    int64_t reps = b->c.eval_realizations;
    tg_tape *tape = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_F32, 2, (int64_t[]){EVAL_BATCH, b->f.nfeatures});
    double *sum = calloc((size_t)n, sizeof *sum);
    bool ok = tape && x && sum;
    if (ok)
        tg_tape_set_grad_enabled(tape, false);

    tg_rng rng;
    tg_rng_seed(&rng, EVAL_SEED);
    for (int64_t r = 0; r < reps && ok; r++)
        for (int64_t start = 0; start < n && ok; start += EVAL_BATCH)
            ok = predict_batch(tr, b, tape, x, &rng, start,
                               n - start < EVAL_BATCH ? n - start : EVAL_BATCH, sum);

    double abs_sum = 0.0;
    for (int64_t i = 0; i < n && ok; i++)
        abs_sum += fabs(sum[i] / (double)reps - b->data.T[b->test[i]]);
    *mae = abs_sum / (double)n;

    free(sum);
    tg_tensor_free(x);
    tg_tape_free(tape);
    return ok;
}

/* A timed run does `count` repetitions of something and reports the mean time of one. */
typedef bool (*timed_fn)(void *ctx, int64_t count, double *value);

static bool time_repeats(timed_fn fn, void *ctx, int64_t count, int repeats, stats *out)
{
    double values[MAX_REPEATS];
    for (int r = 0; r < repeats; r++)
        if (!fn(ctx, count, &values[r]))
            return false;
    *out = summarize(values, repeats);
    return true;
}

typedef struct rule_ctx {
    bench *b;
    trainer *tr;
    double mae; /* of the latest evaluation */
} rule_ctx;

static bool time_full_steps(void *ctx, int64_t count, double *ms)
{
    rule_ctx *c = ctx;
    double t0 = now_seconds();
    for (int64_t k = 0; k < count; k++)
        if (!full_step(c->tr, c->b))
            return false;
    *ms = 1e3 * (now_seconds() - t0) / (double)count;
    return true;
}

static bool time_pool_steps(void *ctx, int64_t count, double *ms)
{
    rule_ctx *c = ctx;
    double t0 = now_seconds();
    for (int64_t k = 0; k < count; k++)
        if (!pool_step(c->tr, c->b))
            return false;
    *ms = 1e3 * (now_seconds() - t0) / (double)count;
    return true;
}

static bool time_pipeline(void *ctx, int64_t count, double *ms)
{
    rule_ctx *c = ctx;
    double t0 = now_seconds();
    for (int64_t k = 0; k < count; k++)
        make_minibatch(c->tr, c->b);
    *ms = 1e3 * (now_seconds() - t0) / (double)count;
    return true;
}

/* Evaluates the averaged weights, as qm7.c reports them, and puts the trained ones back. */
static bool time_evaluation(void *ctx, int64_t count, double *seconds)
{
    rule_ctx *c = ctx;
    bool ok = true;
    double t0 = now_seconds();
    tg_averager_swap(c->tr->model.avg);
    for (int64_t k = 0; k < count && ok; k++)
        ok = evaluate(c->tr, c->b, &c->mae);
    tg_averager_swap(c->tr->model.avg);
    *seconds = (now_seconds() - t0) / (double)count;
    return ok;
}

/*
 * The step figures for results->rules[which]. The first rule's network, trained by then, also
 * times the input pipeline and the evaluation.
 */
static bool bench_rule(bench *b, int which, results *res)
{
    trainer tr;
    rule_ctx ctx = {b, &tr, NAN};
    const counts *c = &b->c;
    double ignored;
    fprintf(stderr, "qm7_bench: timing steps, %s rule\n", qm7_rule_name(res->rules[which]));
    bool ok = trainer_init(&tr, b, res->rules[which]);

    ok = ok && time_full_steps(&ctx, c->warmup, &ignored);
    ok = ok && time_repeats(time_full_steps, &ctx, c->steps, c->repeats, &res->full[which]);
    ok = ok && time_pool_steps(&ctx, c->warmup, &ignored);
    ok = ok && time_repeats(time_pool_steps, &ctx, c->steps, c->repeats, &res->network[which]);

    if (ok && which == 0) {
        fprintf(stderr, "qm7_bench: timing the input pipeline and the evaluation\n");
        ok = time_repeats(time_pipeline, &ctx, c->pipeline_reps, c->repeats, &res->pipeline);
        ok = ok && time_repeats(time_evaluation, &ctx, 1, c->repeats, &res->eval);
        res->eval_mae = ctx.mae;
        res->eval_molecules = b->n_test < c->eval_molecules ? b->n_test : c->eval_molecules;
        res->eval_realizations = c->eval_realizations;
        res->eval_steps = tr.step;
    }
    trainer_free(&tr);
    return ok;
}

typedef struct tiny_op {
    tg_tape *tape;
    tg_tensor *a, *b;
} tiny_op;

static bool time_tiny_ops(void *ctx, int64_t count, double *ns)
{
    tiny_op *op = ctx;
    double t0 = now_seconds();
    for (int64_t k = 0; k < count; k++) {
        if (!tg_add(op->tape, op->a, op->b)) {
            fprintf(stderr, "qm7_bench: tg_add failed: %s\n", tg_tape_error(op->tape));
            return false;
        }
        tg_tape_reset(op->tape);
    }
    *ns = 1e9 * (now_seconds() - t0) / (double)count;
    return true;
}

/* The fixed cost of the tape: one 1-element add recorded and freed, then with grad off. */
static bool bench_tiny_ops(const counts *c, results *res)
{
    fprintf(stderr, "qm7_bench: timing the tape\n");
    tiny_op op = {tg_tape_new(), tg_tensor_new(TG_F32, 1, (int64_t[]){1}),
                  tg_tensor_new(TG_F32, 1, (int64_t[]){1})};
    bool ok = op.tape && op.a && op.b && tg_tensor_set_requires_grad(op.a, true) &&
              tg_tensor_set_requires_grad(op.b, true);
    if (!ok)
        fprintf(stderr, "qm7_bench: setting up the tape failed: %s\n", tg_last_error());

    double ignored;
    ok = ok && time_tiny_ops(&op, c->tape_ops, &ignored);
    ok = ok && time_repeats(time_tiny_ops, &op, c->tape_ops, c->repeats, &res->tape_grad);
    if (ok)
        tg_tape_set_grad_enabled(op.tape, false);
    ok = ok && time_repeats(time_tiny_ops, &op, c->tape_ops, c->repeats, &res->tape_nograd);

    tg_tensor_free(op.a);
    tg_tensor_free(op.b);
    tg_tape_free(op.tape);
    return ok;
}

static void report_progress(int64_t step, int64_t steps, double elapsed)
{
    fprintf(stderr, "qm7_bench: long run, step %" PRId64 " of %" PRId64 " after %.0f s\n", step,
            steps, elapsed);
}

/*
 * Trains a fresh network for `steps` steps, as qm7.c does, and reads resident memory at
 * out->checkpoint and at the end. Progress goes to stderr about once a minute.
 */
static bool run_long(bench *b, qm7_rule rule, int64_t steps, long_run *out)
{
    *out = (long_run){.steps = steps,
                      .checkpoint = steps > RSS_CHECKPOINT ? RSS_CHECKPOINT : (steps + 1) / 2};
    trainer tr;
    bool ok = trainer_init(&tr, b, rule);
    out->rss_start = current_rss_mib();

    double t0 = now_seconds(), reported = t0;
    while (ok && tr.step < steps) {
        ok = full_step(&tr, b);
        if (tr.step == out->checkpoint) {
            out->rss_mid = current_rss_mib();
            out->peak_mid = peak_rss_mib();
        }
        if (tr.step % 1000 == 0 && now_seconds() - reported > 60.0) {
            reported = now_seconds();
            report_progress(tr.step, steps, reported - t0);
        }
    }
    out->seconds = now_seconds() - t0;
    out->rss_end = current_rss_mib();
    out->peak_end = peak_rss_mib();
    trainer_free(&tr);
    return ok;
}

/* A message into a fixed buffer, cut to fit: the start of a long one says enough. */
static void set_message(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_message(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

/* The number that comes with "ms/step": after it (the numpy peer) or before it (torch). */
static bool parse_ms_per_step(const char *line, double *ms)
{
    const char *mark = strstr(line, "ms/step");
    if (!mark)
        return false;

    char *end;
    double after = strtod(mark + strlen("ms/step"), &end);
    if (end != mark + strlen("ms/step")) {
        *ms = after;
        return true;
    }
    const char *p = mark;
    while (p > line && p[-1] == ' ')
        p--;
    while (p > line && strchr("0123456789.", p[-1]))
        p--;
    *ms = strtod(p, &end);
    return end != p;
}

/* Runs one peer command, keeping its last ms/step figure, or its last line when it fails. */
static void run_peer(const char *command, peer_result *out)
{
    *out = (peer_result){.ms = NAN};
    FILE *p = popen(command, "r");
    if (!p) {
        set_message(out->why, sizeof out->why, "could not start: %s", strerror(errno));
        return;
    }

    char line[512];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (!parse_ms_per_step(line, &out->ms) && *line)
            set_message(out->why, sizeof out->why, "%s", line);
    }
    int status = pclose(p);
    out->ran = status == 0 && isfinite(out->ms);
    if (!out->ran && !*out->why)
        set_message(out->why, sizeof out->why, "exited with status %d and no ms/step", status);
}

/* Why a peer cannot run at all, or NULL when its interpreter and script are there. */
static const char *peer_missing(const char *script, char *why, size_t len)
{
    if (access(PYTHON, X_OK))
        set_message(why, len, "%s not found", PYTHON);
    else if (access(script, R_OK))
        set_message(why, len, "%s not found", script);
    else if (strchr(script, '\''))
        set_message(why, len, "a path with a quote (') is not supported");
    else
        return NULL;
    return why;
}

static void run_numpy_peer(const options *o, const counts *c, qm7_rule rule, int setting,
                           peer_result *out)
{
    char script[PATH_MAX], command[2 * PATH_MAX + 200];
    snprintf(script, sizeof script, "%s/qm7_numpy_reference.py", o->peers_dir);
    *out = (peer_result){.ms = NAN};
    if (peer_missing(script, out->why, sizeof out->why))
        return;
    if (strchr(o->data_path, '\'')) {
        set_message(out->why, sizeof out->why, "a data path with a quote (') is not supported");
        return;
    }

    fprintf(stderr, "qm7_bench: running the numpy peer, %s rule, %s\n", qm7_rule_name(rule),
            PEER_SETTING[setting]);
    snprintf(command, sizeof command, "%sRULE=%s %s '%s' '%s' %d %" PRId64 " %" PRId64 " 2>&1",
             PEER_ENV[setting], qm7_rule_name(rule), PYTHON, script, o->data_path, TEST_FOLD,
             c->peer_steps, c->peer_steps);
    run_peer(command, out);
}

static void run_torch_peer(const options *o, const counts *c, int setting, peer_result *out)
{
    char script[PATH_MAX], command[PATH_MAX + 200];
    snprintf(script, sizeof script, "%s/torch_network_reference.py", o->peers_dir);
    *out = (peer_result){.ms = NAN};
    if (peer_missing(script, out->why, sizeof out->why))
        return;

    fprintf(stderr, "qm7_bench: running the torch peer, %s\n", PEER_SETTING[setting]);
    snprintf(command, sizeof command, "%s%s '%s' %" PRId64 " 1 2>&1", PEER_ENV[setting], PYTHON,
             script, c->peer_steps);
    run_peer(command, out);
}

static void run_peers(const options *o, const counts *c, results *res)
{
    for (int s = 0; s < PEER_SETTINGS; s++) {
        for (int r = 0; r < res->n_rules; r++)
            run_numpy_peer(o, c, res->rules[r], s, &res->numpy[r][s]);
        run_torch_peer(o, c, s, &res->torch[s]);
    }
}

typedef struct row {
    char name[64];
    stats s;
    const char *unit;
    double target; /* the median must not exceed it; NaN: no target */
    const char *target_text;
    char missing[200]; /* why there is no figure, when there is none */
} row;

/* build_table adds at most 24 rows: 4 per rule for the steps, 6 for the peers, 10 others. */
typedef struct table {
    row rows[MAX_ROWS];
    int n;
} table;

static row *add_row(table *t, const char *unit, double target, const char *target_text,
                    const char *name_fmt, ...) __attribute__((format(printf, 5, 6)));

static row *add_row(table *t, const char *unit, double target, const char *target_text,
                    const char *name_fmt, ...)
{
    assert(t->n < MAX_ROWS);
    row *r = &t->rows[t->n++];
    *r = (row){.unit = unit, .target = target, .target_text = target_text};

    va_list ap;
    va_start(ap, name_fmt);
    vsnprintf(r->name, sizeof r->name, name_fmt, ap);
    va_end(ap);
    return r;
}

static double best_peer(const peer_result *runs)
{
    double best = NAN;
    for (int s = 0; s < PEER_SETTINGS; s++)
        if (runs[s].ran && !(runs[s].ms >= best))
            best = runs[s].ms;
    return best;
}

/* tapegrad's figures over the peer's better one. */
static void set_ratio(row *r, stats ours, const peer_result *runs)
{
    double best = best_peer(runs);
    if (isnan(best))
        set_message(r->missing, sizeof r->missing, "peer did not run: %s", runs[0].why);
    else
        r->s = scaled(ours, 1.0 / best);
}

static void add_step_rows(table *t, const results *res)
{
    for (int i = 0; i < res->n_rules; i++) {
        const char *rule = qm7_rule_name(res->rules[i]);
        row *r = add_row(t, "ms", 1.0, "<= 1.0", "full step, %s rule", rule);
        r->s = res->full[i];
        r = add_row(t, "x", 0.15, "<= 0.15x", "full step / numpy peer, %s rule", rule);
        set_ratio(r, res->full[i], res->numpy[i]);
    }
    for (int i = 0; i < res->n_rules; i++) {
        const char *rule = qm7_rule_name(res->rules[i]);
        row *r = add_row(t, "ms", NAN, "-", "network step, %s rule", rule);
        r->s = res->network[i];
        r = add_row(t, "x", 0.15, "<= 0.15x", "network step / torch peer, %s rule", rule);
        set_ratio(r, res->network[i], res->torch);
    }
}

static void add_long_rows(table *t, const results *res)
{
    const long_run *lr = &res->lr;
    if (!res->long_ran) {
        row *r = add_row(t, "min", 20.0, "<= 20", "1,000,000 steps");
        set_message(r->missing, sizeof r->missing, "not measured (--long-steps 0)");
        return;
    }

    row *r = add_row(t, "s", NAN, "-", "long run: %" PRId64 " steps, wall time", lr->steps);
    r->s = single(lr->seconds);
    if (lr->steps == PAPER_STEPS)
        r = add_row(t, "min", 20.0, "<= 20", "1,000,000 steps, measured");
    else
        r = add_row(t, "min", 20.0, "<= 20", "1,000,000 steps, extrapolated from %" PRId64,
                    lr->steps);
    r->s = single(lr->seconds / (double)lr->steps * (double)PAPER_STEPS / 60.0);

    r = add_row(t, "MiB", 64.0, "<= 64", "peak RSS, end of long run");
    r->s = single(lr->peak_end);
    r = add_row(t, "MiB", 0.0, "none", "peak RSS growth, step %" PRId64 " to end", lr->checkpoint);
    r->s = single(lr->peak_end - lr->peak_mid);
    r = add_row(t, "MiB", 0.0, "none", "RSS growth, step %" PRId64 " to end", lr->checkpoint);
    r->s = single(lr->rss_end - lr->rss_mid);
}

static void set_peer(row *r, const peer_result *p)
{
    if (p->ran)
        r->s = single(p->ms);
    else
        set_message(r->missing, sizeof r->missing, "did not run: %s", p->why);
}

static void add_peer_rows(table *t, const results *res)
{
    for (int s = 0; s < PEER_SETTINGS; s++) {
        for (int i = 0; i < res->n_rules; i++)
            set_peer(add_row(t, "ms", NAN, "-", "numpy peer, %s, %s", qm7_rule_name(res->rules[i]),
                             PEER_SETTING[s]),
                     &res->numpy[i][s]);
        set_peer(add_row(t, "ms", NAN, "-", "torch peer network step, %s", PEER_SETTING[s]),
                 &res->torch[s]);
    }
}

static void build_table(table *t, const results *res)
{
    add_step_rows(t, res);
    row *r = add_row(t, "ms", 0.05, "<= 0.05", "input pipeline, one minibatch");
    r->s = res->pipeline;
    r = add_row(t, "s", 0.3, "<= 0.3", "evaluation, %" PRId64 " molecules x %" PRId64,
                res->eval_molecules, res->eval_realizations);
    r->s = res->eval;
    add_long_rows(t, res);
    r = add_row(t, "ns", 100.0, "<= 100", "tape: record + free a 1-element add");
    r->s = res->tape_grad;
    r = add_row(t, "ns", NAN, "-", "tape: the same, grad disabled");
    r->s = res->tape_nograd;
    add_peer_rows(t, res);
}

static void print_row(const row *r)
{
    if (*r->missing) {
        printf("%-42s %s\n", r->name, r->missing);
        return;
    }
    const char *verdict = isnan(r->target) ? "" : r->s.median <= r->target ? "met" : "not met";
    printf("%-42s %9.3f %9.3f %9.3f  %-4s %-9s %s\n", r->name, r->s.median, r->s.min, r->s.max,
           r->unit, r->target_text, verdict);
}

static void print_table(const table *t)
{
    printf("\n%-42s %9s %9s %9s  %-4s %-9s %s\n", "figure", "median", "min", "max", "unit",
           "target", "result");
    for (int i = 0; i < t->n; i++)
        print_row(&t->rows[i]);
}

static void read_cpu_model(char *out, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    snprintf(out, len, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", strlen("model name")) || !colon)
            continue;
        colon += strspn(colon + 1, " \t") + 1;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(out, len, "%s", colon);
        break;
    }
    if (f)
        fclose(f);
}

/* The 1-minute load average, to tell a quiet machine from a busy one; NaN if unreadable. */
static double load_average(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double load = NAN;
    if (f && fscanf(f, "%lf", &load) != 1)
        load = NAN;
    if (f)
        fclose(f);
    return load;
}

static void print_header(const bench *b, const options *o)
{
    char date[64], cpu[160], blas[PATH_MAX];
    time_t now = time(NULL);
    struct tm local;
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime_r(&now, &local));
    read_cpu_model(cpu, sizeof cpu);
    if (!realpath(SYSTEM_BLAS, blas))
        snprintf(blas, sizeof blas, "unknown (%s)", strerror(errno));
    const counts *c = &b->c;

    printf("qm7_bench, %s%s\n", date,
           o->quick ? "  (--quick: small counts, not a measurement)" : "");
    printf("CPU       %s, %ld online, load average %.2f at start\n", cpu,
           sysconf(_SC_NPROCESSORS_ONLN), load_average());
    printf("tapegrad  %d thread(s), matrix products by %s\n", tg_num_threads(), tg_blas_name());
    printf("peers     %s; numpy and torch use libblas.so.3 -> %s\n", PYTHON, blas);
    if (!strstr(blas, "openblas"))
        printf("          that is not OpenBLAS, so OPENBLAS_CORETYPE changes nothing\n");
    printf("data      %s: %" PRId64 " molecules, test fold %d (%" PRId64 "), network "
           "%d-400-100-1, minibatch %d\n",
           o->data_path, b->data.n, TEST_FOLD, b->n_test, b->f.nfeatures, BATCH);
    printf("counts    %d run(s) per figure; steps: %" PRId64 " warm-up, %" PRId64 " per run; "
           "pool %" PRId64 " rows; pipeline %" PRId64 " per run; tape %" PRId64 " ops per run\n",
           c->repeats, c->warmup, c->steps, c->pool_rows, c->pipeline_reps, c->tape_ops);
    fflush(stdout);
}

static void print_notes(const results *res, const counts *c)
{
    printf("\nratios: tapegrad's median, min and max over the peer's better setting;\n"
           "each peer ran once per setting, %" PRId64 " steps.\n",
           c->peer_steps);
    printf("the torch peer trains W, A and B by true gradients, as the autodiff rule does, on "
           "1 thread;\nthe numpy peer uses as many threads as its BLAS does by default.\n");
    printf("evaluation: test MAE %.2f kcal/mol of the averaged weights after %" PRId64
           " steps of the %s rule.\n",
           res->eval_mae, res->eval_steps, qm7_rule_name(res->rules[0]));
    if (res->long_ran)
        printf("long run (%s rule), MiB: resident %.1f before training, %.1f at step %" PRId64
               " (peak %.1f), %.1f at the end (peak %.1f).\n",
               qm7_rule_name(res->rules[0]), res->lr.rss_start, res->lr.rss_mid, res->lr.checkpoint,
               res->lr.peak_mid, res->lr.rss_end, res->lr.peak_end);
}

/*
 * The long run goes first, so that the peak resident memory it reports is that of a qm7 run
 * (data, fitted pipeline, training) and not of the input pool built afterwards.
 */
static bool measure(bench *b, const options *o, results *res)
{
    if (o->long_steps) {
        fprintf(stderr, "qm7_bench: long run of %" PRId64 " steps\n", o->long_steps);
        if (!run_long(b, res->rules[0], o->long_steps, &res->lr))
            return false;
        res->long_ran = true;
    }
    if (!build_pool(b))
        return false;
    for (int i = 0; i < res->n_rules; i++)
        if (!bench_rule(b, i, res))
            return false;
    if (!bench_tiny_ops(&b->c, res))
        return false;
    run_peers(o, &b->c, res);
    return true;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_options(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    tg_set_num_threads((int)o.threads);

    bench b;
    results res = {.n_rules = o.n_rules, .rules = {o.rules[0], o.rules[1]}};
    int status = 1;
    if (bench_init(&b, &o)) {
        print_header(&b, &o);
        if (measure(&b, &o, &res)) {
            table t = {.n = 0};
            build_table(&t, &res);
            print_table(&t);
            print_notes(&res, &b.c);
            status = 0;
        }
    }
    bench_free(&b);
    return status;
}
