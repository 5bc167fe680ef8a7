/*
 * test_ops_shape.c: reshape, permute, transpose, slice, concat, index_select and broadcast_to.
 * Where each output element comes from, on hand-worked tensors in both dtypes; where its
 * gradient goes back to (summed for repeated indices and stretched dimensions); the backward
 * against central differences; zero-element tensors; and the errors.
 */
#include "tg_ops.h"
#include "tg_test.h"

/* The matrix used below: M = [[1, 2, 3], [4, 5, 6]]. */
static tg_tensor *matrix_m(fixture *fx, tg_dtype dt, bool grad)
{
    if (grad)
        return param(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    return tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
}

/* ---- reshape ------------------------------------------------------------------------------ */

static void reshape_keeps_the_row_major_order_of_the_elements(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = matrix_m(fx, dt, false);
        tg_tensor *one = tensor(fx, dt, 2, SHAPE(1, 1), VALUES(7));

        tg_tensor *tall = tg_reshape(fx->tape, m, 2, SHAPE(3, 2));
        tg_tensor *flat = tg_reshape(fx->tape, m, 1, SHAPE(6));
        tg_tensor *inferred = tg_reshape(fx->tape, m, 3, SHAPE(-1, 1, 2));
        tg_tensor *scalar = tg_reshape(fx->tape, one, 0, NULL);
        tg_tensor *back = tg_reshape(fx->tape, scalar, 3, SHAPE(1, 1, 1));

        assert_shape(tall, 3, 2);
        assert_values(tall, 0, 1, 2, 3, 4, 5, 6);
        assert_shape(flat, 6);
        assert_shape(inferred, 3, 1, 2);
        assert_values(inferred, 0, 1, 2, 3, 4, 5, 6);
        assert_scalar(scalar);
        assert_values(scalar, 0, 7);
        assert_shape(back, 1, 1, 1);
    }
}

static void reshape_gradient_is_the_output_gradient_in_the_input_shape(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = matrix_m(fx, dt, true);
        tg_tensor *g = tensor(fx, dt, 2, SHAPE(3, 2), VALUES(10, 20, 30, 40, 50, 60));

        tg_tape_reset(fx->tape);
        assert_true(tg_backward(fx->tape, tg_reshape(fx->tape, m, 2, SHAPE(3, 2)), g));

        assert_grads(m, 0, 10, 20, 30, 40, 50, 60);
    }
}

/* ---- permute and transpose ---------------------------------------------------------------- */

static void permute_puts_input_dimension_perm_d_at_output_dimension_d(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* x[i][j][l] = 12 i + 4 j + l for shape [2, 3, 4] */
        tg_tensor *x = own(fx, tg_tensor_new(dt, 3, SHAPE(2, 3, 4)));
        for (int64_t i = 0; i < 24; i++)
            tg_set(x, i, (double)i);

        tg_tensor *y = tg_permute(fx->tape, x, (const int[]){2, 0, 1});

        /* y[l][i][j] = x[i][j][l] */
        assert_shape(y, 4, 2, 3);
        assert_values(y, 0, 0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7,
                      11, 15, 19, 23);
    }
}

static void transpose_swaps_rows_and_columns_and_so_does_its_gradient(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = matrix_m(fx, dt, true);
        tg_tensor *g = tensor(fx, dt, 2, SHAPE(3, 2), VALUES(10, 40, 20, 50, 30, 60));

        tg_tape_reset(fx->tape);
        tg_tensor *t = tg_transpose(fx->tape, m);
        assert_true(tg_backward(fx->tape, t, g));

        assert_shape(t, 3, 2);
        assert_values(t, 0, 1, 4, 2, 5, 3, 6);
        assert_grads(m, 0, 10, 20, 30, 40, 50, 60);
    }
}

/* ---- slice -------------------------------------------------------------------------------- */

static void slice_takes_every_step_th_index_from_start_below_stop(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* x = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]] */
        tg_tensor *x = tensor(fx, dt, 2, SHAPE(2, 5), VALUES(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));

        tg_tensor *odd_columns = tg_slice(fx->tape, x, 1, 1, 5, 2);
        tg_tensor *second_row = tg_slice(fx->tape, x, 0, 1, 2, 1);
        tg_tensor *every_third = tg_slice(fx->tape, x, -1, 0, 5, 3);
        tg_tensor *none = tg_slice(fx->tape, x, 1, 2, 2, 1);

        assert_shape(odd_columns, 2, 2);
        assert_values(odd_columns, 0, 1, 3, 6, 8);
        assert_shape(second_row, 1, 5);
        assert_values(second_row, 0, 5, 6, 7, 8, 9);
        assert_shape(every_third, 2, 2);
        assert_values(every_third, 0, 0, 3, 5, 8);
        assert_shape(none, 2, 0);
    }
}

static void slice_gradient_lands_on_the_sliced_elements_and_nowhere_else(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(2, 5), VALUES(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
        tg_tensor *g = tensor(fx, dt, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));

        tg_tape_reset(fx->tape);
        assert_true(tg_backward(fx->tape, tg_slice(fx->tape, x, 1, 1, 5, 2), g));

        assert_grads(x, 0, 0, 1, 0, 2, 0, 0, 3, 0, 4, 0);
    }
}

/* ---- concat ------------------------------------------------------------------------------- */

static void concat_joins_tensors_along_the_axis_in_order(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(1, 2));
        tg_tensor *sq = tensor(fx, dt, 2, SHAPE(2, 2), VALUES(3, 4, 5, 6));
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 2), VALUES(1, 2));
        tg_tensor *v = tensor(fx, dt, 1, SHAPE(2), VALUES(7, 8));

        tg_tensor *side = tg_concat(fx->tape, (tg_tensor *[]){col, sq}, 2, 1);
        tg_tensor *stacked = tg_concat(fx->tape, (tg_tensor *[]){row, sq}, 2, -2);
        tg_tensor *alone = tg_concat(fx->tape, (tg_tensor *[]){v}, 1, 0);

        assert_shape(side, 2, 3);
        assert_values(side, 0, 1, 3, 4, 2, 5, 6);
        assert_shape(stacked, 3, 2);
        assert_values(stacked, 0, 1, 2, 3, 4, 5, 6);
        assert_shape(alone, 2);
        assert_values(alone, 0, 7, 8);
    }
}

static void concat_of_more_tensors_than_a_node_holds_sends_each_its_gradient(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 2, SHAPE(1, 2), VALUES(1, 2));
        tg_tensor *b = param(fx, dt, 2, SHAPE(2, 2), VALUES(3, 4, 5, 6));
        tg_tensor *empty = param(fx, dt, 2, SHAPE(0, 2), VALUES(0));
        tg_tensor *c = param(fx, dt, 2, SHAPE(1, 2), VALUES(7, 8));
        tg_tensor *d = param(fx, dt, 2, SHAPE(1, 2), VALUES(9, 10));
        tg_tensor *g =
            tensor(fx, dt, 2, SHAPE(5, 2), VALUES(-1, -2, -3, -4, -5, -6, -7, -8, -9, -10));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_concat(fx->tape, (tg_tensor *[]){a, b, empty, c, d}, 5, 0);
        assert_true(tg_backward(fx->tape, y, g));

        assert_shape(y, 5, 2);
        assert_values(y, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        assert_grads(a, 0, -1, -2);
        assert_grads(b, 0, -3, -4, -5, -6);
        assert_grads(c, 0, -7, -8);
        assert_grads(d, 0, -9, -10);
    }
}

/* ---- index_select ------------------------------------------------------------------------- */

static void index_select_gathers_rows_in_the_order_given_with_repeats(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = tensor(fx, dt, 2, SHAPE(3, 2), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *m = matrix_m(fx, dt, false);

        tg_tensor *rows = tg_index_select(fx->tape, x, 0, (const int64_t[]){2, 0, 2}, 3);
        tg_tensor *cols = tg_index_select(fx->tape, m, -1, (const int64_t[]){2, 2, 0}, 3);
        tg_tensor *none = tg_index_select(fx->tape, x, 0, NULL, 0);

        assert_shape(rows, 3, 2);
        assert_values(rows, 0, 5, 6, 1, 2, 5, 6);
        assert_shape(cols, 2, 3);
        assert_values(cols, 0, 3, 3, 1, 6, 6, 4);
        assert_shape(none, 0, 2);
    }
}

static void index_select_gradient_of_a_repeated_row_is_the_sum_of_its_gradients(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(3, 2), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *g = tensor(fx, dt, 2, SHAPE(3, 2), VALUES(1, 2, 3, 4, 5, 6));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_index_select(fx->tape, x, 0, (const int64_t[]){2, 0, 2}, 3);
        assert_true(tg_backward(fx->tape, y, g));

        /* row 0 was picked once, by output row 1; row 2 twice, by rows 0 and 2; row 1 never */
        assert_grads(x, 0, 3, 4, 0, 0, 1 + 5, 2 + 6);
    }
}

/* ---- broadcast_to ------------------------------------------------------------------------- */

static void broadcast_to_stretches_ones_and_missing_leading_dimensions(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *row = tensor(fx, dt, 1, SHAPE(3), VALUES(1, 2, 3));
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(4, 5));
        tg_tensor *s = tensor(fx, dt, 0, NULL, VALUES(9));

        tg_tensor *rows = tg_broadcast_to(fx->tape, row, 2, SHAPE(2, 3));
        tg_tensor *cols = tg_broadcast_to(fx->tape, col, 3, SHAPE(1, 2, 3));
        tg_tensor *filled = tg_broadcast_to(fx->tape, s, 2, SHAPE(2, 2));
        tg_tensor *same = tg_broadcast_to(fx->tape, col, 2, SHAPE(2, 1));

        assert_shape(rows, 2, 3);
        assert_values(rows, 0, 1, 2, 3, 1, 2, 3);
        assert_shape(cols, 1, 2, 3);
        assert_values(cols, 0, 4, 4, 4, 5, 5, 5);
        assert_shape(filled, 2, 2);
        assert_values(filled, 0, 9, 9, 9, 9);
        assert_shape(same, 2, 1);
        assert_values(same, 0, 4, 5);
    }
}

static void broadcast_to_gradient_sums_over_the_stretched_dimensions(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *col = param(fx, dt, 2, SHAPE(2, 1), VALUES(4, 5));
        tg_tensor *s = param(fx, dt, 0, NULL, VALUES(9));
        tg_tensor *g = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_add(fx->tape, tg_broadcast_to(fx->tape, col, 2, SHAPE(2, 3)),
                              tg_broadcast_to(fx->tape, s, 2, SHAPE(2, 3)));
        assert_true(tg_backward(fx->tape, y, g));

        /* the column gets its row sums; the scalar, the sum of everything */
        assert_grads(col, 0, 6, 15);
        assert_grads(s, 0, 21);
    }
}

/* ---- gradients against central differences ------------------------------------------------ */

static tg_tensor *apply_reshape(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_reshape(tape, in[0], 3, SHAPE(3, -1, 2));
}

static tg_tensor *apply_permute(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_permute(tape, in[0], (const int[]){3, 1, 0, 2});
}

static tg_tensor *apply_transpose(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_transpose(tape, in[0]);
}

static tg_tensor *apply_slices(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    /* rows 1..3 of [4, 6], then columns 0, 2, 4, then column 1 of those */
    tg_tensor *rows = tg_slice(tape, in[0], 0, 1, 4, 1);
    tg_tensor *even = tg_slice(tape, rows, 1, 0, 6, 2);
    return tg_add(tape, even, tg_slice(tape, even, 1, 1, 2, 1));
}

static tg_tensor *apply_concat(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    int n = *(const int *)ctx;
    return tg_concat(tape, in, n, 1);
}

/* Five inputs, the last two through ops: gradients reach them through the saved list. */
static tg_tensor *apply_concat_of_results(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    tg_tensor *parts[] = {in[0], in[1], in[2], tg_square(tape, in[3]), tg_tanh(tape, in[4])};
    return tg_concat(tape, parts, 5, 0);
}

static tg_tensor *apply_index_select(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    static const int64_t rows[] = {3, 0, 3, 1, 3};
    static const int64_t cols[] = {1, 1};
    tg_tensor *picked = tg_index_select(tape, in[0], 0, rows, 5);
    return tg_index_select(tape, picked, 1, cols, 2);
}

typedef struct target_shape {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
} target_shape;

static tg_tensor *apply_broadcast_to(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const target_shape *s = ctx;
    return tg_broadcast_to(tape, in[0], s->ndim, s->dims);
}

static void reshape_permute_transpose_and_slice_backward_match_central_differences(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 41);
    tg_tensor *m = random_param(fx, &rng, 2, SHAPE(4, 3));
    tg_tensor *t4 = random_param(fx, &rng, 4, SHAPE(2, 1, 3, 2));
    tg_tensor *wide = random_param(fx, &rng, 2, SHAPE(4, 6));

    assert_gradcheck(apply_reshape, NULL, m);
    assert_gradcheck(apply_permute, NULL, t4);
    assert_gradcheck(apply_transpose, NULL, m);
    assert_gradcheck(apply_slices, NULL, wide);
}

static void concat_backward_matches_central_differences_for_two_three_and_five_inputs(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    tg_tensor *x[5];
    for (int i = 0; i < 5; i++)
        x[i] = random_param(fx, &rng, 2, SHAPE(2, i + 1));
    int two = 2, three = 3, five = 5;

    assert_gradcheck(apply_concat, &two, x[0], x[1]);
    assert_gradcheck(apply_concat, &three, x[2], x[0], x[1]);
    assert_gradcheck(apply_concat, &five, x[4], x[1], x[0], x[3], x[2]);
    /* one tensor in several places */
    assert_gradcheck(apply_concat, &five, x[0], x[1], x[0], x[0], x[1]);

    tg_tensor *r[5];
    for (int i = 0; i < 5; i++)
        r[i] = random_param(fx, &rng, 2, SHAPE(i % 2 + 1, 3));
    assert_gradcheck(apply_concat_of_results, NULL, r[0], r[1], r[2], r[3], r[4]);
}

static void index_select_and_broadcast_to_backward_match_central_differences(void **state)
{
    static const target_shape targets[] = {{3, {2, 3, 4}}, {1, {4}}, {2, {2, 3}}};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 43);
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(4, 3));
    tg_tensor *sources[] = {random_param(fx, &rng, 2, SHAPE(3, 1)),
                            random_param(fx, &rng, 1, SHAPE(1)), random_param(fx, &rng, 0, NULL)};

    assert_gradcheck(apply_index_select, NULL, x);
    for (int i = 0; i < 3; i++)
        assert_gradcheck(apply_broadcast_to, (void *)&targets[i], sources[i]);
}

/* ---- zero-element tensors ----------------------------------------------------------------- */

static void zero_element_tensors_pass_through_every_shape_op(void **state)
{
    fixture *fx = *state;
    tg_tape *tape = fx->tape;
    tg_tensor *empty = param(fx, TG_F64, 2, SHAPE(0, 3), VALUES(0));
    tg_tensor *row = param(fx, TG_F64, 2, SHAPE(1, 3), VALUES(1, 2, 3));
    tg_tensor *one = param(fx, TG_F64, 1, SHAPE(1), VALUES(4));

    tg_tensor *reshaped = tg_reshape(tape, empty, 2, SHAPE(3, 0));
    tg_tensor *inferred = tg_reshape(tape, empty, 2, SHAPE(-1, 3));
    tg_tensor *permuted = tg_permute(tape, empty, (const int[]){1, 0});
    tg_tensor *sliced = tg_slice(tape, row, 1, 1, 1, 1);
    tg_tensor *joined = tg_concat(tape, (tg_tensor *[]){empty, row}, 2, 0);
    tg_tensor *picked = tg_index_select(tape, row, 0, NULL, 0);
    tg_tensor *stretched = tg_broadcast_to(tape, one, 2, SHAPE(0, 5));
    tg_tensor *total = tg_add(tape, tg_sum(tape, joined), tg_sum(tape, stretched));
    assert_true(tg_backward(tape, total, NULL));

    assert_shape(reshaped, 3, 0);
    assert_shape(inferred, 0, 3);
    assert_shape(permuted, 3, 0);
    assert_shape(sliced, 1, 0);
    assert_shape(joined, 1, 3);
    assert_values(joined, 0, 1, 2, 3);
    assert_shape(picked, 0, 3);
    assert_shape(stretched, 0, 5);
    assert_grads(row, 0, 1, 1, 1);
    assert_grads(one, 0, 0);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void reshape_refuses_shapes_of_another_size_naming_both(void **state)
{
    fixture *fx = *state;
    tg_tensor *m = matrix_m(fx, TG_F64, false);

    assert_null(tg_reshape(fx->tape, m, 2, SHAPE(4, 2)));
    assert_message_contains(tg_tape_error(fx->tape), "reshape", "[2, 3]", "6 elements", "[4, 2]");

    tg_tape_reset(fx->tape);
    assert_null(tg_reshape(fx->tape, m, 2, SHAPE(-1, 4)));
    assert_message_contains(tg_tape_error(fx->tape), "reshape", "[2, 3]", "[-1, 4]");

    tg_tape_reset(fx->tape);
    assert_null(tg_reshape(fx->tape, m, 2, SHAPE(-1, -1)));
    assert_message_contains(tg_tape_error(fx->tape), "reshape", "[-1, -1]");

    tg_tape_reset(fx->tape);
    assert_null(tg_reshape(fx->tape, m, 5, SHAPE(1, 1, 2, 3, 1)));
    assert_message_contains(tg_tape_error(fx->tape), "reshape", "[2, 3]", "5 dimensions");
}

static void permute_refuses_a_list_that_is_not_a_permutation(void **state)
{
    fixture *fx = *state;
    tg_tensor *m = matrix_m(fx, TG_F64, false);

    assert_null(tg_permute(fx->tape, m, (const int[]){0, 0}));
    assert_message_contains(tg_tape_error(fx->tape), "permute", "[0, 0]", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_permute(fx->tape, m, (const int[]){1, 2}));
    assert_message_contains(tg_tape_error(fx->tape), "permute", "[1, 2]", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_permute(fx->tape, m, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "permute", "NULL");
}

static void transpose_refuses_tensors_that_are_not_2d(void **state)
{
    fixture *fx = *state;
    tg_tensor *t3 = own(fx, tg_tensor_new(TG_F64, 3, SHAPE(2, 3, 4)));

    assert_null(tg_transpose(fx->tape, t3));
    assert_message_contains(tg_tape_error(fx->tape), "transpose", "2-D", "[2, 3, 4]");
}

static void slice_refuses_ranges_outside_the_axis_and_steps_below_one(void **state)
{
    fixture *fx = *state;
    tg_tensor *m = matrix_m(fx, TG_F64, false);
    const int64_t bad[][3] = {{0, 4, 1}, {2, 1, 1}, {-1, 2, 1}, {0, 2, 0}};
    for (int i = 0; i < 4; i++) {
        tg_tape_reset(fx->tape);
        assert_null(tg_slice(fx->tape, m, 1, bad[i][0], bad[i][1], bad[i][2]));
        assert_message_contains(tg_tape_error(fx->tape), "slice", "axis 1", "[2, 3]");
    }

    tg_tape_reset(fx->tape);
    assert_null(tg_slice(fx->tape, m, 2, 0, 1, 1));
    assert_message_contains(tg_tape_error(fx->tape), "slice", "axis 2", "out of range", "[2, 3]");
}

static void concat_refuses_shapes_dtypes_and_axes_that_do_not_join(void **state)
{
    fixture *fx = *state;
    tg_tensor *m = matrix_m(fx, TG_F64, false);
    tg_tensor *sq = own(fx, tg_tensor_new(TG_F64, 2, SHAPE(3, 3)));
    tg_tensor *single = own(fx, tg_tensor_new(TG_F32, 2, SHAPE(2, 3)));
    tg_tensor *s = tensor(fx, TG_F64, 0, NULL, VALUES(1));

    assert_null(tg_concat(fx->tape, (tg_tensor *[]){m, sq}, 2, 1));
    assert_message_contains(tg_tape_error(fx->tape), "concat", "input 1", "[3, 3]", "[2, 3]",
                            "axis 1");

    tg_tape_reset(fx->tape);
    assert_null(tg_concat(fx->tape, (tg_tensor *[]){m, single}, 2, 0));
    assert_message_contains(tg_tape_error(fx->tape), "concat", "float32 [2, 3]", "float64");

    tg_tape_reset(fx->tape);
    assert_null(tg_concat(fx->tape, (tg_tensor *[]){m, m}, 2, 2));
    assert_message_contains(tg_tape_error(fx->tape), "concat", "axis 2", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_concat(fx->tape, (tg_tensor *[]){s, s}, 2, 0));
    assert_message_contains(tg_tape_error(fx->tape), "concat", "axis 0", "[]");

    tg_tape_reset(fx->tape);
    assert_null(tg_concat(fx->tape, (tg_tensor *[]){m}, 0, 0));
    assert_message_contains(tg_tape_error(fx->tape), "concat", "at least one");
}

static void index_select_refuses_indices_outside_the_axis_naming_the_index(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(3, 2), VALUES(1, 2, 3, 4, 5, 6));

    assert_null(tg_index_select(fx->tape, x, 0, (const int64_t[]){0, 3}, 2));
    assert_message_contains(tg_tape_error(fx->tape), "index_select", "indices[1] = 3", "axis 0",
                            "[3, 2]");

    tg_tape_reset(fx->tape);
    assert_null(tg_index_select(fx->tape, x, 1, (const int64_t[]){-1}, 1));
    assert_message_contains(tg_tape_error(fx->tape), "index_select", "indices[0] = -1", "axis 1");

    tg_tape_reset(fx->tape);
    assert_null(tg_index_select(fx->tape, x, 2, (const int64_t[]){0}, 1));
    assert_message_contains(tg_tape_error(fx->tape), "index_select", "axis 2", "out of range");

    tg_tape_reset(fx->tape);
    assert_null(tg_index_select(fx->tape, x, 0, NULL, 2));
    assert_message_contains(tg_tape_error(fx->tape), "index_select", "count is 2", "NULL");
}

static void broadcast_to_refuses_shapes_it_cannot_stretch_to(void **state)
{
    fixture *fx = *state;
    tg_tensor *m = matrix_m(fx, TG_F64, false);

    assert_null(tg_broadcast_to(fx->tape, m, 2, SHAPE(3, 3)));
    assert_message_contains(tg_tape_error(fx->tape), "broadcast_to", "[2, 3]", "[3, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_broadcast_to(fx->tape, m, 1, SHAPE(6)));
    assert_message_contains(tg_tape_error(fx->tape), "broadcast_to", "[2, 3]", "1 dimensions");
}

static void shape_ops_given_null_return_null_without_a_message(void **state)
{
    fixture *fx = *state;
    tg_tape *tape = fx->tape;
    tg_tensor *m = matrix_m(fx, TG_F64, false);

    assert_null(tg_reshape(tape, NULL, 1, SHAPE(6)));
    assert_null(tg_permute(tape, NULL, (const int[]){1, 0}));
    assert_null(tg_transpose(tape, NULL));
    assert_null(tg_slice(tape, NULL, 0, 0, 1, 1));
    assert_null(tg_concat(tape, (tg_tensor *[]){m, NULL}, 2, 0));
    assert_null(tg_index_select(tape, NULL, 0, (const int64_t[]){0}, 1));
    assert_null(tg_broadcast_to(tape, NULL, 1, SHAPE(2)));

    assert_null(tg_tape_error(tape));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(reshape_keeps_the_row_major_order_of_the_elements),
        TEST(reshape_gradient_is_the_output_gradient_in_the_input_shape),
        TEST(permute_puts_input_dimension_perm_d_at_output_dimension_d),
        TEST(transpose_swaps_rows_and_columns_and_so_does_its_gradient),
        TEST(slice_takes_every_step_th_index_from_start_below_stop),
        TEST(slice_gradient_lands_on_the_sliced_elements_and_nowhere_else),
        TEST(concat_joins_tensors_along_the_axis_in_order),
        TEST(concat_of_more_tensors_than_a_node_holds_sends_each_its_gradient),
        TEST(index_select_gathers_rows_in_the_order_given_with_repeats),
        TEST(index_select_gradient_of_a_repeated_row_is_the_sum_of_its_gradients),
        TEST(broadcast_to_stretches_ones_and_missing_leading_dimensions),
        TEST(broadcast_to_gradient_sums_over_the_stretched_dimensions),
        TEST(reshape_permute_transpose_and_slice_backward_match_central_differences),
        TEST(concat_backward_matches_central_differences_for_two_three_and_five_inputs),
        TEST(index_select_and_broadcast_to_backward_match_central_differences),
        TEST(zero_element_tensors_pass_through_every_shape_op),
        TEST(reshape_refuses_shapes_of_another_size_naming_both),
        TEST(permute_refuses_a_list_that_is_not_a_permutation),
        TEST(transpose_refuses_tensors_that_are_not_2d),
        TEST(slice_refuses_ranges_outside_the_axis_and_steps_below_one),
        TEST(concat_refuses_shapes_dtypes_and_axes_that_do_not_join),
        TEST(index_select_refuses_indices_outside_the_axis_naming_the_index),
        TEST(broadcast_to_refuses_shapes_it_cannot_stretch_to),
        TEST(shape_ops_given_null_return_null_without_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
