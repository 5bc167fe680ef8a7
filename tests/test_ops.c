/*
 * test_ops.c: every op's forward values on hand-worked numbers in both dtypes, its backward
 * against central differences in float64 over broadcasting and odd shapes, the gradients of
 * broadcast operands on hand-worked numbers, and the errors ops and tg_backward report.
 */
#include <stdio.h>

#include "tg_ops.h"
#include "tg_test.h"

static const double ln2 = 0.69314718055994530942;
static const double ln3 = 1.09861228866810969140;

/* ---- forward values: add, sub, mul ------------------------------------------------------ */

static void add_adds_tensors_of_the_same_shape_elementwise(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *b = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(0.5, -1, 2.25, 0, 10, -6));

        tg_tensor *y = tg_add(fx->tape, a, b);

        assert_shape(y, 2, 3);
        assert_int_equal(y->dtype, dt);
        assert_values(y, 0, 1.5, 1, 5.25, 4, 15, 0);
    }
}

static void add_stretches_a_row_over_every_row_of_a_matrix(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *b = tensor(fx, dt, 1, SHAPE(3), VALUES(10, 20, 30));

        tg_tensor *ab = tg_add(fx->tape, a, b);
        tg_tensor *ba = tg_add(fx->tape, b, a);

        assert_shape(ab, 2, 3);
        assert_values(ab, 0, 11, 22, 33, 14, 25, 36);
        assert_shape(ba, 2, 3);
        assert_values(ba, 0, 11, 22, 33, 14, 25, 36);
    }
}

static void add_of_a_column_and_a_row_is_their_outer_sum(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(1, 2));
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 3), VALUES(10, 20, 30));

        tg_tensor *y = tg_add(fx->tape, col, row);

        /* y[i][j] = col[i] + row[j] */
        assert_shape(y, 2, 3);
        assert_values(y, 0, 11, 21, 31, 12, 22, 32);
    }
}

static void add_stretches_one_element_tensors_and_scalars_over_anything(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = tensor(fx, dt, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
        tg_tensor *one = tensor(fx, dt, 1, SHAPE(1), VALUES(0.5));
        tg_tensor *s = tensor(fx, dt, 0, NULL, VALUES(-1));
        tg_tensor *t = tensor(fx, dt, 0, NULL, VALUES(2.5));

        tg_tensor *m_one = tg_add(fx->tape, m, one);
        tg_tensor *m_s = tg_add(fx->tape, m, s);
        tg_tensor *one_s = tg_add(fx->tape, one, s);
        tg_tensor *s_t = tg_add(fx->tape, s, t);

        assert_shape(m_one, 2, 2);
        assert_values(m_one, 0, 1.5, 2.5, 3.5, 4.5);
        assert_shape(m_s, 2, 2);
        assert_values(m_s, 0, 0, 1, 2, 3);
        assert_shape(one_s, 1);
        assert_values(one_s, 0, -0.5);
        assert_scalar(s_t);
        assert_values(s_t, 0, 1.5);
    }
}

static void sub_subtracts_the_right_operand_from_the_left_with_broadcasting(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *b = tensor(fx, dt, 1, SHAPE(3), VALUES(1, 1, 2));
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(1, 2));
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 3), VALUES(10, 20, 30));

        assert_values(tg_sub(fx->tape, a, b), 0, 0, 1, 1, 3, 4, 4);
        assert_values(tg_sub(fx->tape, b, a), 0, 0, -1, -1, -3, -4, -4);

        tg_tensor *outer = tg_sub(fx->tape, col, row);
        assert_shape(outer, 2, 3);
        assert_values(outer, 0, -9, -19, -29, -8, -18, -28);
    }
}

static void mul_multiplies_elementwise_with_broadcasting(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *b = tensor(fx, dt, 1, SHAPE(3), VALUES(2, -1, 0.5));
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(3, 1), VALUES(1, 2, 3));
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 2), VALUES(10, -1));
        tg_tensor *s = tensor(fx, dt, 0, NULL, VALUES(4));
        tg_tensor *v = tensor(fx, dt, 1, SHAPE(2), VALUES(0.25, -2));

        assert_values(tg_mul(fx->tape, a, b), 0, 2, -2, 1.5, 8, -5, 3);

        tg_tensor *outer = tg_mul(fx->tape, col, row);
        assert_shape(outer, 3, 2);
        assert_values(outer, 0, 10, -1, 20, -2, 30, -3);

        tg_tensor *sv = tg_mul(fx->tape, s, v);
        assert_shape(sv, 2);
        assert_values(sv, 0, 1, -8);
    }
}

/* ---- forward values: unary ops ---------------------------------------------------------- */

static void scale_multiplies_every_element_by_the_factor(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = tensor(fx, dt, 1, SHAPE(4), VALUES(1, -2, 0.5, 0));
        tg_tensor *s = tensor(fx, dt, 0, NULL, VALUES(3));

        tg_tensor *y = tg_scale(fx->tape, x, -2.5);
        tg_tensor *z = tg_scale(fx->tape, s, 0.5);

        assert_shape(y, 4);
        assert_values(y, 0, -2.5, 5, -1.25, 0);
        assert_scalar(z);
        assert_values(z, 0, 1.5);
    }
}

static void tanh_matches_the_closed_form_at_logarithms(void **state)
{
    /* tanh(ln r) = (r^2 - 1) / (r^2 + 1): 3/5 at r = 2 and 8/10 at r = 3. */
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = tensor(fx, dt, 2, SHAPE(2, 2), VALUES(0, ln2, ln3, -ln2));

        tg_tensor *y = tg_tanh(fx->tape, x);

        assert_shape(y, 2, 2);
        assert_values(y, tolerance(dt), 0, 0.6, 0.8, -0.6);
    }
}

static void square_multiplies_each_element_by_itself(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = tensor(fx, dt, 1, SHAPE(4), VALUES(-1.5, 3, 0, 0.5));
        tg_tensor *s = tensor(fx, dt, 0, NULL, VALUES(-4));

        assert_values(tg_square(fx->tape, x), 0, 2.25, 9, 0, 0.25);
        assert_values(tg_square(fx->tape, s), 0, 16);
    }
}

/* ---- forward values: matmul ------------------------------------------------------------- */

static void matmul_of_2x3_and_3x4_gives_the_row_by_column_products(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        /* b = [[1, 0, -1, 2], [0, 1, 2, -1], [1, 1, 0, 0.5]] */
        tg_tensor *b =
            tensor(fx, dt, 2, SHAPE(3, 4), VALUES(1, 0, -1, 2, 0, 1, 2, -1, 1, 1, 0, 0.5));

        tg_tensor *y = tg_matmul(fx->tape, a, b);

        /*
         * Row 0: 1 + 3 = 4, 2 + 3 = 5, -1 + 4 = 3, 2 - 2 + 1.5 = 1.5.
         * Row 1: 4 + 6 = 10, 5 + 6 = 11, -4 + 10 = 6, 8 - 5 + 3 = 6.
         */
        assert_shape(y, 2, 4);
        assert_values(y, 0, 4, 5, 3, 1.5, 10, 11, 6, 6);
    }
}

static void matmul_of_a_row_and_a_column_is_their_dot_product(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 3), VALUES(1, 2, 3));
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(3, 1), VALUES(4, 5, 6));

        tg_tensor *dot = tg_matmul(fx->tape, row, col);
        tg_tensor *outer = tg_matmul(fx->tape, col, row);

        assert_shape(dot, 1, 1);
        assert_values(dot, 0, 32);
        assert_shape(outer, 3, 3);
        assert_values(outer, 0, 4, 8, 12, 5, 10, 15, 6, 12, 18);
    }
}

static void matmul_with_an_empty_inner_dimension_gives_zeros(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = own(fx, tg_tensor_new(dt, 2, SHAPE(2, 0)));
        tg_tensor *b = own(fx, tg_tensor_new(dt, 2, SHAPE(0, 3)));

        tg_tensor *y = tg_matmul(fx->tape, a, b);

        assert_shape(y, 2, 3);
        assert_values(y, 0, 0, 0, 0, 0, 0, 0);
    }
}

/* ---- forward values: sums --------------------------------------------------------------- */

static void sum_adds_every_element_into_a_scalar(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *s = tensor(fx, dt, 0, NULL, VALUES(7));
        tg_tensor *empty = own(fx, tg_tensor_new(dt, 1, SHAPE(0)));

        tg_tensor *sum_m = tg_sum(fx->tape, m);
        tg_tensor *sum_s = tg_sum(fx->tape, s);
        tg_tensor *sum_empty = tg_sum(fx->tape, empty);

        assert_scalar(sum_m);
        assert_values(sum_m, 0, 21);
        assert_scalar(sum_s);
        assert_values(sum_s, 0, 7);
        assert_scalar(sum_empty);
        assert_values(sum_empty, 0, 0);
    }
}

static void sum_axis_of_a_matrix_gives_column_or_row_sums(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));

        tg_tensor *cols = tg_sum_axis(fx->tape, m, 0, false);
        tg_tensor *cols_kept = tg_sum_axis(fx->tape, m, 0, true);
        tg_tensor *rows = tg_sum_axis(fx->tape, m, 1, false);
        tg_tensor *rows_kept = tg_sum_axis(fx->tape, m, 1, true);

        assert_shape(cols, 3);
        assert_values(cols, 0, 5, 7, 9);
        assert_shape(cols_kept, 1, 3);
        assert_values(cols_kept, 0, 5, 7, 9);
        assert_shape(rows, 2);
        assert_values(rows, 0, 6, 15);
        assert_shape(rows_kept, 2, 1);
        assert_values(rows_kept, 0, 6, 15);
    }
}

static void sum_axis_counts_negative_axes_from_the_end(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));

        tg_tensor *last = tg_sum_axis(fx->tape, m, -1, false);
        tg_tensor *first = tg_sum_axis(fx->tape, m, -2, true);

        assert_shape(last, 2);
        assert_values(last, 0, 6, 15);
        assert_shape(first, 1, 3);
        assert_values(first, 0, 5, 7, 9);
    }
}

static void sum_axis_of_a_3d_tensor_reduces_only_the_chosen_axis(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* x[i][j][l] = 6 i + 3 j + l for shape [2, 2, 3]. */
        tg_tensor *x =
            tensor(fx, dt, 3, SHAPE(2, 2, 3), VALUES(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));

        tg_tensor *over_i = tg_sum_axis(fx->tape, x, 0, false);
        tg_tensor *over_j = tg_sum_axis(fx->tape, x, 1, true);
        tg_tensor *over_l = tg_sum_axis(fx->tape, x, 2, false);

        assert_shape(over_i, 2, 3);
        assert_values(over_i, 0, 6, 8, 10, 12, 14, 16);
        assert_shape(over_j, 2, 1, 3);
        assert_values(over_j, 0, 3, 5, 7, 15, 17, 19);
        assert_shape(over_l, 2, 2);
        assert_values(over_l, 0, 3, 12, 21, 30);
    }
}

static void sum_axis_of_a_vector_without_keepdim_gives_a_scalar(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *v = tensor(fx, dt, 1, SHAPE(3), VALUES(1, 2, 3));

        tg_tensor *s = tg_sum_axis(fx->tape, v, 0, false);
        tg_tensor *kept = tg_sum_axis(fx->tape, v, 0, true);

        assert_scalar(s);
        assert_values(s, 0, 6);
        assert_shape(kept, 1);
        assert_values(kept, 0, 6);
    }
}

/* ---- gradients against central differences ---------------------------------------------- */

typedef tg_tensor *(*binary_op)(tg_tape *tape, tg_tensor *a, tg_tensor *b);

static binary_op binary_ops[] = {tg_add, tg_sub, tg_mul};

static tg_tensor *apply_binary(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    binary_op op = *(binary_op *)ctx;
    return op(tape, in[0], in[1]);
}

typedef struct shape_pair {
    int ndim_a;
    int64_t a[TG_MAX_DIMS];
    int ndim_b;
    int64_t b[TG_MAX_DIMS];
} shape_pair;

static const shape_pair broadcast_pairs[] = {
    {2, {2, 3}, 2, {2, 3}},    /* same shape */
    {2, {2, 3}, 1, {3}},       /* [m, n] with [n] */
    {1, {3}, 2, {2, 3}},       /* [n] with [m, n] */
    {2, {3, 1}, 2, {1, 4}},    /* [n, 1] with [1, m] */
    {2, {2, 3}, 1, {1}},       /* [m, n] with [1] */
    {2, {2, 3}, 0, {0}},       /* [m, n] with a scalar */
    {0, {0}, 0, {0}},          /* two scalars */
    {3, {2, 1, 3}, 2, {4, 1}}, /* both stretched, in three dimensions */
};

static void binary_ops_backward_matches_central_differences_when_broadcasting(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    for (size_t op = 0; op < sizeof binary_ops / sizeof binary_ops[0]; op++) {
        for (size_t p = 0; p < sizeof broadcast_pairs / sizeof broadcast_pairs[0]; p++) {
            const shape_pair *s = &broadcast_pairs[p];
            tg_tensor *a = random_param(fx, &rng, s->ndim_a, s->a);
            tg_tensor *b = random_param(fx, &rng, s->ndim_b, s->b);

            assert_gradcheck(apply_binary, &binary_ops[op], a, b);
        }
    }
}

static void binary_ops_backward_matches_central_differences_for_one_tensor_twice(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(2, 3));

    for (size_t op = 0; op < sizeof binary_ops / sizeof binary_ops[0]; op++)
        assert_gradcheck(apply_binary, &binary_ops[op], x, x);
}

static tg_tensor *apply_scale(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_scale(tape, in[0], -2.5);
}

static tg_tensor *apply_tanh(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_tanh(tape, in[0]);
}

static tg_tensor *apply_square(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_square(tape, in[0]);
}

static tg_tensor *apply_sum(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_sum(tape, in[0]);
}

typedef struct shape {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
} shape;

static const shape unary_shapes[] = {{2, {2, 3}}, {1, {1}}, {0, {0}}, {3, {2, 3, 2}}};

static void unary_ops_and_sum_backward_match_central_differences(void **state)
{
    fixture *fx = *state;
    tg_gradcheck_fn fns[] = {apply_scale, apply_tanh, apply_square, apply_sum};
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        for (size_t s = 0; s < sizeof unary_shapes / sizeof unary_shapes[0]; s++) {
            tg_tensor *x = random_param(fx, &rng, unary_shapes[s].ndim, unary_shapes[s].dims);

            assert_gradcheck(fns[f], NULL, x);
        }
    }
}

static tg_tensor *apply_matmul(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_matmul(tape, in[0], in[1]);
}

static void matmul_backward_matches_central_differences_for_non_square_shapes(void **state)
{
    /* [m, k] times [k, n] for wide, tall, outer and dot products. */
    static const int64_t mkn[][3] = {{2, 3, 4}, {3, 2, 5}, {1, 5, 1}, {4, 1, 3}, {3, 3, 3}};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 4);
    for (size_t i = 0; i < sizeof mkn / sizeof mkn[0]; i++) {
        tg_tensor *a = random_param(fx, &rng, 2, SHAPE(mkn[i][0], mkn[i][1]));
        tg_tensor *b = random_param(fx, &rng, 2, SHAPE(mkn[i][1], mkn[i][2]));

        assert_gradcheck(apply_matmul, NULL, a, b);
    }
}

static void matmul_backward_fills_only_the_operand_that_requires_a_gradient(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_tensor *a = random_param(fx, &rng, 2, SHAPE(3, 2));
    tg_tensor *b = random_param(fx, &rng, 2, SHAPE(2, 4));
    assert_true(tg_tensor_set_requires_grad(a, false));

    assert_gradcheck(apply_matmul, NULL, a, b);

    tg_tensor *y = tg_sum(fx->tape, tg_matmul(fx->tape, a, b));
    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(a, 0, 0, 0, 0, 0, 0, 0);
}

typedef struct axis_case {
    int axis;
    bool keepdim;
} axis_case;

static tg_tensor *apply_sum_axis(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const axis_case *c = ctx;
    return tg_sum_axis(tape, in[0], c->axis, c->keepdim);
}

static void sum_axis_backward_matches_central_differences_for_every_axis(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 6);
    tg_tensor *x = random_param(fx, &rng, 3, SHAPE(2, 3, 4));
    for (int axis = -1; axis < 3; axis++) {
        for (int keep = 0; keep < 2; keep++) {
            axis_case c = {axis, keep == 1};

            assert_gradcheck(apply_sum_axis, &c, x);
        }
    }
}

static tg_tensor *apply_self_matmul(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_matmul(tape, in[0], in[0]);
}

static tg_tensor *apply_column_sums(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_sum_axis(tape, in[0], 0, false);
}

typedef struct twice_case {
    tg_gradcheck_fn f;
    void *ctx;
} twice_case;

/* f(x) + f(x) as two separate recordings, so the second backward adds to the first. */
static tg_tensor *apply_twice(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const twice_case *c = ctx;
    return tg_add(tape, c->f(tape, in, c->ctx), c->f(tape, in, c->ctx));
}

static void every_op_adds_its_gradient_to_what_is_already_there(void **state)
{
    fixture *fx = *state;
    twice_case cases[] = {
        {apply_binary, &binary_ops[0]},
        {apply_binary, &binary_ops[1]},
        {apply_binary, &binary_ops[2]},
        {apply_scale, NULL},
        {apply_tanh, NULL},
        {apply_square, NULL},
        {apply_self_matmul, NULL},
        {apply_sum, NULL},
        {apply_column_sums, NULL},
    };
    tg_rng rng;
    tg_rng_seed(&rng, 8);
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(3, 3));

    /* Binary ops receive x as both operands. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_gradcheck(apply_twice, &cases[i], x, x);
}

/* tanh(x W + b) squared and summed: ops composed the way layers compose them. */
static tg_tensor *apply_composite(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    tg_tensor *z = tg_add(tape, tg_matmul(tape, in[0], in[1]), in[2]);
    return tg_sum(tape, tg_square(tape, tg_tanh(tape, z)));
}

static void composed_ops_backward_matches_central_differences(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(4, 3));
    tg_tensor *w = random_param(fx, &rng, 2, SHAPE(3, 2));
    tg_tensor *b = random_param(fx, &rng, 1, SHAPE(2));

    assert_gradcheck(apply_composite, NULL, x, w, b);
}

/* ---- gradients of broadcast operands, by hand ------------------------------------------- */

/* The upstream gradient used below: G = [[1, 2, 3], [4, 5, 6]]. */
static tg_tensor *upstream_2x3(fixture *fx, tg_dtype dt)
{
    return tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
}

static void add_gradient_of_a_stretched_row_is_the_column_sums(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 2, SHAPE(2, 3), VALUES(1, 0, 2, -1, 3, 1));
        tg_tensor *b = param(fx, dt, 1, SHAPE(3), VALUES(2, -1, 0.5));

        tg_tape_reset(fx->tape);
        assert_true(tg_backward(fx->tape, tg_add(fx->tape, a, b), upstream_2x3(fx, dt)));

        /* db_j = G_0j + G_1j */
        assert_grads(a, 0, 1, 2, 3, 4, 5, 6);
        assert_grads(b, 0, 5, 7, 9);
    }
}

static void sub_gradient_of_a_stretched_row_is_minus_the_column_sums(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 2, SHAPE(2, 3), VALUES(1, 0, 2, -1, 3, 1));
        tg_tensor *b = param(fx, dt, 1, SHAPE(3), VALUES(2, -1, 0.5));

        tg_tape_reset(fx->tape);
        assert_true(tg_backward(fx->tape, tg_sub(fx->tape, a, b), upstream_2x3(fx, dt)));

        assert_grads(a, 0, 1, 2, 3, 4, 5, 6);
        assert_grads(b, 0, -5, -7, -9);
    }
}

static void mul_gradient_of_a_stretched_row_is_the_column_sums_of_g_times_a(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 2, SHAPE(2, 3), VALUES(1, 0, 2, -1, 3, 1));
        tg_tensor *b = param(fx, dt, 1, SHAPE(3), VALUES(2, -1, 0.5));

        tg_tape_reset(fx->tape);
        assert_true(tg_backward(fx->tape, tg_mul(fx->tape, a, b), upstream_2x3(fx, dt)));

        /* da_ij = G_ij b_j; db_j = sum_i G_ij a_ij: 1 - 4, 0 + 15, 6 + 6. */
        assert_grads(a, 0, 2, -2, 1.5, 8, -5, 3);
        assert_grads(b, 0, -3, 15, 12);
    }
}

static void add_gradients_of_a_column_and_a_row_are_row_and_column_sums(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *col = param(fx, dt, 2, SHAPE(2, 1), VALUES(1, 2));
        tg_tensor *row = param(fx, dt, 2, SHAPE(1, 3), VALUES(10, 20, 30));

        tg_tape_reset(fx->tape);
        assert_true(tg_backward(fx->tape, tg_add(fx->tape, col, row), upstream_2x3(fx, dt)));

        assert_grads(col, 0, 6, 15);
        assert_grads(row, 0, 5, 7, 9);
    }
}

/* ---- errors ----------------------------------------------------------------------------- */

static void ops_refuse_mixed_dtypes_naming_the_op_and_both_dtypes_and_shapes(void **state)
{
    fixture *fx = *state;
    const char *names[] = {"add", "sub", "mul"};
    tg_tensor *a = tensor(fx, TG_F32, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *b = tensor(fx, TG_F64, 2, SHAPE(3, 1), VALUES(1, 2, 3));
    for (size_t op = 0; op < 3; op++) {
        tg_tape_reset(fx->tape);

        assert_null(binary_ops[op](fx->tape, a, b));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "float32 [2, 3]",
                                "float64 [3, 1]");
    }

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul(fx->tape, a, b));
    assert_message_contains(tg_tape_error(fx->tape), "matmul", "float32 [2, 3]", "float64 [3, 1]");
}

static void binary_ops_refuse_shapes_that_do_not_broadcast_naming_both_shapes(void **state)
{
    fixture *fx = *state;
    const char *names[] = {"add", "sub", "mul"};
    tg_tensor *a = tensor(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *b = tensor(fx, TG_F64, 2, SHAPE(2, 4), VALUES(1, 2, 3, 4, 5, 6, 7, 8));
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    for (size_t op = 0; op < 3; op++) {
        tg_tape_reset(fx->tape);
        assert_null(binary_ops[op](fx->tape, a, b));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "[2, 3]", "[2, 4]");

        /* A trailing [2] does not line up with the 3 columns of [2, 3]. */
        tg_tape_reset(fx->tape);
        assert_null(binary_ops[op](fx->tape, a, c));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "[2, 3]", "[2]");
    }
}

static void matmul_refuses_inner_dimensions_that_differ_naming_both_shapes(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = tensor(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *b = tensor(fx, TG_F64, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));

    assert_null(tg_matmul(fx->tape, a, b));
    assert_message_contains(tg_tape_error(fx->tape), "matmul", "[2, 3]", "[2, 2]");
}

static void matmul_refuses_operands_that_are_not_2d_naming_both_shapes(void **state)
{
    fixture *fx = *state;
    tg_tensor *v = tensor(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *m = tensor(fx, TG_F64, 2, SHAPE(3, 2), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *s = tensor(fx, TG_F64, 0, NULL, VALUES(1));
    tg_tensor *t3 = tensor(fx, TG_F64, 3, SHAPE(1, 3, 1), VALUES(1, 2, 3));

    assert_null(tg_matmul(fx->tape, v, m));
    assert_message_contains(tg_tape_error(fx->tape), "matmul", "[3]", "[3, 2]");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul(fx->tape, m, s));
    assert_message_contains(tg_tape_error(fx->tape), "matmul", "[3, 2]", "[]");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul(fx->tape, t3, m));
    assert_message_contains(tg_tape_error(fx->tape), "matmul", "[1, 3, 1]");
}

static void sum_axis_refuses_an_axis_outside_the_shape_naming_axis_and_shape(void **state)
{
    fixture *fx = *state;
    tg_tensor *m = tensor(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *s = tensor(fx, TG_F64, 0, NULL, VALUES(1));

    assert_null(tg_sum_axis(fx->tape, m, 2, false));
    assert_message_contains(tg_tape_error(fx->tape), "sum", "axis 2", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_sum_axis(fx->tape, m, -3, true));
    assert_message_contains(tg_tape_error(fx->tape), "sum", "axis -3", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_sum_axis(fx->tape, s, 0, false));
    assert_message_contains(tg_tape_error(fx->tape), "sum", "axis 0", "[]");
}

static void every_op_given_null_returns_null_without_a_message(void **state)
{
    fixture *fx = *state;
    tg_tape *tape = fx->tape;
    tg_tensor *m = tensor(fx, TG_F64, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));

    assert_null(tg_add(tape, NULL, m));
    assert_null(tg_add(tape, m, NULL));
    assert_null(tg_sub(tape, NULL, m));
    assert_null(tg_sub(tape, m, NULL));
    assert_null(tg_mul(tape, NULL, m));
    assert_null(tg_mul(tape, m, NULL));
    assert_null(tg_scale(tape, NULL, 2.0));
    assert_null(tg_tanh(tape, NULL));
    assert_null(tg_square(tape, NULL));
    assert_null(tg_matmul(tape, NULL, m));
    assert_null(tg_matmul(tape, m, NULL));
    assert_null(tg_sum(tape, NULL));
    assert_null(tg_sum_axis(tape, NULL, 0, false));

    assert_null(tg_tape_error(tape));
}

static void an_expression_built_after_an_error_keeps_the_first_message(void **state)
{
    fixture *fx = *state;
    tg_tape *tape = fx->tape;
    tg_tensor *a = param(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *b = tensor(fx, TG_F64, 2, SHAPE(2, 4), VALUES(1, 2, 3, 4, 5, 6, 7, 8));
    tg_tensor *w = tensor(fx, TG_F64, 2, SHAPE(3, 1), VALUES(1, 2, 3));

    tg_tensor *bad = tg_add(tape, a, b);
    char first[512];
    assert_non_null(tg_tape_error(tape));
    snprintf(first, sizeof first, "%s", tg_tape_error(tape));

    tg_tensor *loss = tg_sum(tape, tg_square(tape, tg_tanh(tape, tg_matmul(tape, bad, w))));
    tg_tensor *also_bad = tg_matmul(tape, a, a);

    assert_null(bad);
    assert_null(loss);
    assert_null(also_bad);
    assert_false(tg_backward(tape, loss, NULL));
    assert_string_equal(tg_tape_error(tape), first);
    assert_message_contains(first, "add", "[2, 3]", "[2, 4]");
}

/* ---- tg_backward refusals --------------------------------------------------------------- */

static void backward_refuses_a_root_of_many_elements_without_an_upstream(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));

    tg_tensor *y = tg_tanh(fx->tape, x);

    assert_false(tg_backward(fx->tape, y, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "backward", "[2, 3]", "upstream");
    assert_grads(x, 0, 0, 0, 0, 0, 0, 0);
}

static void backward_accepts_a_one_element_root_of_any_shape_without_an_upstream(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 2, SHAPE(1, 1), VALUES(3));

    tg_tensor *y = tg_square(fx->tape, x);

    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(x, 0, 6);
}

static void backward_refuses_an_upstream_of_another_shape_or_dtype(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *transposed = tensor(fx, TG_F64, 2, SHAPE(3, 2), VALUES(1, 1, 1, 1, 1, 1));
    tg_tensor *single = tensor(fx, TG_F32, 2, SHAPE(2, 3), VALUES(1, 1, 1, 1, 1, 1));

    assert_false(tg_backward(fx->tape, tg_tanh(fx->tape, x), transposed));
    assert_message_contains(tg_tape_error(fx->tape), "backward", "upstream", "[3, 2]", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_false(tg_backward(fx->tape, tg_tanh(fx->tape, x), single));
    assert_message_contains(tg_tape_error(fx->tape), "backward", "float32", "float64");
    assert_grads(x, 0, 0, 0, 0, 0, 0, 0);
}

static void backward_refuses_a_root_that_requires_no_gradient(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    tg_tensor *y = tg_sum(fx->tape, tg_tanh(fx->tape, x));

    assert_false(tg_backward(fx->tape, y, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "backward", "requires a gradient");
}

static void backward_refuses_to_run_twice_on_one_recording(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, -2));
    tg_tensor *y = tg_sum(fx->tape, tg_square(fx->tape, x));

    assert_true(tg_backward(fx->tape, y, NULL));
    assert_false(tg_backward(fx->tape, y, NULL));

    assert_message_contains(tg_tape_error(fx->tape), "backward", "already");
    assert_grads(x, 0, 2, -4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(add_adds_tensors_of_the_same_shape_elementwise),
        TEST(add_stretches_a_row_over_every_row_of_a_matrix),
        TEST(add_of_a_column_and_a_row_is_their_outer_sum),
        TEST(add_stretches_one_element_tensors_and_scalars_over_anything),
        TEST(sub_subtracts_the_right_operand_from_the_left_with_broadcasting),
        TEST(mul_multiplies_elementwise_with_broadcasting),
        TEST(scale_multiplies_every_element_by_the_factor),
        TEST(tanh_matches_the_closed_form_at_logarithms),
        TEST(square_multiplies_each_element_by_itself),
        TEST(matmul_of_2x3_and_3x4_gives_the_row_by_column_products),
        TEST(matmul_of_a_row_and_a_column_is_their_dot_product),
        TEST(matmul_with_an_empty_inner_dimension_gives_zeros),
        TEST(sum_adds_every_element_into_a_scalar),
        TEST(sum_axis_of_a_matrix_gives_column_or_row_sums),
        TEST(sum_axis_counts_negative_axes_from_the_end),
        TEST(sum_axis_of_a_3d_tensor_reduces_only_the_chosen_axis),
        TEST(sum_axis_of_a_vector_without_keepdim_gives_a_scalar),
        TEST(binary_ops_backward_matches_central_differences_when_broadcasting),
        TEST(binary_ops_backward_matches_central_differences_for_one_tensor_twice),
        TEST(unary_ops_and_sum_backward_match_central_differences),
        TEST(matmul_backward_matches_central_differences_for_non_square_shapes),
        TEST(matmul_backward_fills_only_the_operand_that_requires_a_gradient),
        TEST(sum_axis_backward_matches_central_differences_for_every_axis),
        TEST(every_op_adds_its_gradient_to_what_is_already_there),
        TEST(composed_ops_backward_matches_central_differences),
        TEST(add_gradient_of_a_stretched_row_is_the_column_sums),
        TEST(sub_gradient_of_a_stretched_row_is_minus_the_column_sums),
        TEST(mul_gradient_of_a_stretched_row_is_the_column_sums_of_g_times_a),
        TEST(add_gradients_of_a_column_and_a_row_are_row_and_column_sums),
        TEST(ops_refuse_mixed_dtypes_naming_the_op_and_both_dtypes_and_shapes),
        TEST(binary_ops_refuse_shapes_that_do_not_broadcast_naming_both_shapes),
        TEST(matmul_refuses_inner_dimensions_that_differ_naming_both_shapes),
        TEST(matmul_refuses_operands_that_are_not_2d_naming_both_shapes),
        TEST(sum_axis_refuses_an_axis_outside_the_shape_naming_axis_and_shape),
        TEST(every_op_given_null_returns_null_without_a_message),
        TEST(an_expression_built_after_an_error_keeps_the_first_message),
        TEST(backward_refuses_a_root_of_many_elements_without_an_upstream),
        TEST(backward_accepts_a_one_element_root_of_any_shape_without_an_upstream),
        TEST(backward_refuses_an_upstream_of_another_shape_or_dtype),
        TEST(backward_refuses_a_root_that_requires_no_gradient),
        TEST(backward_refuses_to_run_twice_on_one_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
