/*
 * tg_test.h: the fixture and assertions shared by tapegrad's cmocka programs.
 *
 * Every test gets a fresh tape and a list of caller-owned tensors that the teardown frees, so
 * a test body shows only the numbers it checks, and a failing test still frees its memory.
 */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tg_gradcheck.h"
#include "tg_rng.h"
#include "tg_tape.h"
#include "tg_tensor.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define VALUES(...) ((const double[]){__VA_ARGS__})
#define COUNT(...) ((int64_t)(sizeof(VALUES(__VA_ARGS__)) / sizeof(double)))

/* Both dtypes, for tests that check one rule in each. */
static const tg_dtype both_dtypes[] = {TG_F32, TG_F64};

enum { MAX_OWNED = 256 };

typedef struct fixture {
    tg_tape *tape;
    tg_tensor *owned[MAX_OWNED];
    int n_owned;
} fixture;

static inline int fixture_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->tape = tg_tape_new())) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static inline int fixture_teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < fx->n_owned; i++)
        tg_tensor_free(fx->owned[i]);
    tg_tape_free(fx->tape);
    free(fx);
    return 0;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

/* Hands a caller-owned tensor to the fixture, which frees it after the test. */
static inline tg_tensor *own(fixture *fx, tg_tensor *t)
{
    assert_non_null(t);
    assert_true(fx->n_owned < MAX_OWNED);
    fx->owned[fx->n_owned++] = t;
    return t;
}

static inline tg_tensor *tensor(fixture *fx, tg_dtype dtype, int ndim, const int64_t *shape,
                                const double *values)
{
    return own(fx, tg_tensor_from(dtype, ndim, shape, values));
}

/* A tensor that requires a gradient, which starts at zero. */
static inline tg_tensor *param(fixture *fx, tg_dtype dtype, int ndim, const int64_t *shape,
                               const double *values)
{
    tg_tensor *t = tensor(fx, dtype, ndim, shape, values);
    assert_true(tg_tensor_set_requires_grad(t, true));
    return t;
}

/* A float64 tensor that requires a gradient, with values uniform in [-1.5, 1.5). */
static inline tg_tensor *random_param(fixture *fx, tg_rng *rng, int ndim, const int64_t *shape)
{
    tg_tensor *t = own(fx, tg_tensor_new(TG_F64, ndim, shape));
    for (int64_t i = 0; i < t->size; i++)
        tg_set(t, i, 3.0 * tg_rng_uniform(rng) - 1.5);
    assert_true(tg_tensor_set_requires_grad(t, true));
    return t;
}

static inline void set_grad(tg_tensor *t, int64_t i, double value)
{
    if (t->dtype == TG_F32)
        ((float *)t->grad)[i] = (float)value;
    else
        ((double *)t->grad)[i] = value;
}

/* Tolerance for values computed in `dtype` from inputs exact in both dtypes. */
static inline double tolerance(tg_dtype dtype) { return dtype == TG_F32 ? 1e-6 : 1e-14; }

static inline void check_near(double actual, double expected, double tol, const char *what,
                              const char *file, int line)
{
    if (fabs(actual - expected) <= tol * fmax(1.0, fabs(expected)))
        return;
    print_error("%s is %.17g, expected %.17g (tolerance %g)\n", what, actual, expected, tol);
    _fail(file, line);
}

/* Passes when |actual - expected| <= tol * max(1, |expected|). */
#define assert_near(actual, expected, tol)                                                         \
    check_near((actual), (expected), (tol), #actual, __FILE__, __LINE__)

static inline void check_elements(const tg_tensor *t, bool grad, const double *expected, int64_t n,
                                  double tol, const char *what, const char *file, int line)
{
    if (!t) {
        print_error("%s is NULL\n", what);
        _fail(file, line);
    }
    if (t->size != n) {
        print_error("%s has %lld elements, expected %lld\n", what, (long long)t->size,
                    (long long)n);
        _fail(file, line);
    }
    for (int64_t i = 0; i < n; i++) {
        double actual = grad ? tg_grad_get(t, i) : tg_get(t, i);
        if (!(fabs(actual - expected[i]) <= tol * fmax(1.0, fabs(expected[i])))) {
            print_error("%s%s[%lld] is %.17g, expected %.17g (tolerance %g)\n",
                        grad ? "gradient of " : "", what, (long long)i, actual, expected[i], tol);
            _fail(file, line);
        }
    }
}

/* The tensor's elements, row-major, within tol * max(1, |expected|). */
#define assert_values(t, tol, ...)                                                                 \
    check_elements((t), false, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__), (tol), #t, __FILE__,       \
                   __LINE__)

/* The tensor's gradient, likewise. */
#define assert_grads(t, tol, ...)                                                                  \
    check_elements((t), true, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__), (tol), #t, __FILE__,        \
                   __LINE__)

/* Like assert_values and assert_grads, against an array of n numbers. */
#define assert_values_array(t, tol, expected, n)                                                   \
    check_elements((t), false, (expected), (n), (tol), #t, __FILE__, __LINE__)
#define assert_grads_array(t, tol, expected, n)                                                    \
    check_elements((t), true, (expected), (n), (tol), #t, __FILE__, __LINE__)

static inline void check_shape(const tg_tensor *t, const int64_t *shape, int ndim, const char *what,
                               const char *file, int line)
{
    char got[64];
    if (!t) {
        print_error("%s is NULL\n", what);
        _fail(file, line);
    }
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        print_error("%s has shape %s\n", what, tg_shape_str(t, got, sizeof got));
        _fail(file, line);
    }
}

/* The tensor's shape; a 0-d scalar is checked with assert_scalar. */
#define assert_shape(t, ...)                                                                       \
    check_shape((t), SHAPE(__VA_ARGS__), (int)COUNT(__VA_ARGS__), #t, __FILE__, __LINE__)
#define assert_scalar(t) check_shape((t), NULL, 0, #t, __FILE__, __LINE__)

static inline void check_contains(const char *text, const char *part, const char *file, int line)
{
    if (text && strstr(text, part))
        return;
    print_error("message \"%s\" does not contain \"%s\"\n", text ? text : "(none)", part);
    _fail(file, line);
}

/* The message exists and contains every given substring. */
#define assert_message_contains(text, ...)                                                         \
    do {                                                                                           \
        const char *parts_[] = {__VA_ARGS__};                                                      \
        for (size_t i_ = 0; i_ < sizeof parts_ / sizeof parts_[0]; i_++)                           \
            check_contains((text), parts_[i_], __FILE__, __LINE__);                                \
    } while (0)

/*
 * Central differences with eps = 1e-6 in float64 are accurate to about 1e-10 on these small
 * functions, while a wrong backward rule is off by far more than the 1e-7 allowed.
 */
static inline void check_gradient(tg_gradcheck_fn f, void *ctx, tg_tensor *const *inputs, int n,
                                  const char *what, const char *file, int line)
{
    tg_gradcheck_report r;
    if (tg_gradcheck(f, inputs, n, ctx, 1e-6, 1e-7, &r) && r.checked > 0)
        return;
    if (r.error[0])
        print_error("gradcheck of %s could not run: %s\n", what, r.error);
    else
        print_error("gradcheck of %s: input %d element %lld: analytic %.17g, numeric %.17g "
                    "(error %g over %lld elements)\n",
                    what, r.input, (long long)r.index, r.analytic, r.numeric, r.max_rel_error,
                    (long long)r.checked);
    _fail(file, line);
}

/* f's tape gradients with respect to the given inputs match central differences. */
#define assert_gradcheck(f, ctx, ...)                                                              \
    check_gradient((f), (ctx), (tg_tensor *[]){__VA_ARGS__},                                       \
                   (int)(sizeof((tg_tensor *[]){__VA_ARGS__}) / sizeof(tg_tensor *)), #f,          \
                   __FILE__, __LINE__)

#endif
