/*
 * test_ops_matmul.c: products with transposed operands and batched products with a shared
 * (broadcast) batch. Forward values on hand-worked matrices in both dtypes, backward against
 * central differences for every transpose flag and batch layout, the summed gradient of a
 * shared operand by hand, empty dimensions, and the errors.
 */
#include "tg_ops.h"
#include "tg_test.h"

/*
 * The matrices used below:
 *     A = [[1, 2, 3], [4, 5, 6]],  B = [[1, 0], [0, 1], [1, -1]],  A B = [[4, -1], [10, -1]],
 * and At, Bt hold A^T and B^T.
 */
static tg_tensor *matrix_a(fixture *fx, tg_dtype dt)
{
    return tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
}

static tg_tensor *matrix_at(fixture *fx, tg_dtype dt)
{
    return tensor(fx, dt, 2, SHAPE(3, 2), VALUES(1, 4, 2, 5, 3, 6));
}

static tg_tensor *matrix_b(fixture *fx, tg_dtype dt)
{
    return tensor(fx, dt, 2, SHAPE(3, 2), VALUES(1, 0, 0, 1, 1, -1));
}

static tg_tensor *matrix_bt(fixture *fx, tg_dtype dt)
{
    return tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 0, 1, 0, 1, -1));
}

/* ---- forward values ----------------------------------------------------------------------- */

static void matmul_t_gives_a_b_for_every_way_of_storing_the_operands(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = matrix_a(fx, dt), *at = matrix_at(fx, dt);
        tg_tensor *b = matrix_b(fx, dt), *bt = matrix_bt(fx, dt);

        tg_tensor *nn = tg_matmul_t(fx->tape, a, b, false, false);
        tg_tensor *tn = tg_matmul_t(fx->tape, at, b, true, false);
        tg_tensor *nt = tg_matmul_t(fx->tape, a, bt, false, true);
        tg_tensor *tt = tg_matmul_t(fx->tape, at, bt, true, true);

        assert_shape(nn, 2, 2);
        assert_values(nn, 0, 4, -1, 10, -1);
        assert_shape(tn, 2, 2);
        assert_values(tn, 0, 4, -1, 10, -1);
        assert_shape(nt, 2, 2);
        assert_values(nt, 0, 4, -1, 10, -1);
        assert_shape(tt, 2, 2);
        assert_values(tt, 0, 4, -1, 10, -1);
    }
}

static void matmul_t_of_a_matrix_with_itself_gives_both_gram_matrices(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = matrix_a(fx, dt);

        tg_tensor *ata = tg_matmul_t(fx->tape, a, a, true, false);
        tg_tensor *aat = tg_matmul_t(fx->tape, a, a, false, true);

        /* (A^T A)_ij = column i . column j; (A A^T)_ij = row i . row j */
        assert_shape(ata, 3, 3);
        assert_values(ata, 0, 17, 22, 27, 22, 29, 36, 27, 36, 45);
        assert_shape(aat, 2, 2);
        assert_values(aat, 0, 14, 32, 32, 77);
    }
}

/* a = [[[1, 2], [3, 4]], [[0, 1], [1, 0]]] and b = [[[1], [1]], [[2], [3]]]. */
static void matmul_batched_multiplies_batch_by_batch(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 3, SHAPE(2, 2, 2), VALUES(1, 2, 3, 4, 0, 1, 1, 0));
        tg_tensor *b = tensor(fx, dt, 3, SHAPE(2, 2, 1), VALUES(1, 1, 2, 3));

        tg_tensor *y = tg_matmul_batched(fx->tape, a, b);

        /* [[1, 2], [3, 4]] [1, 1] = [3, 7]; [[0, 1], [1, 0]] [2, 3] = [3, 2] */
        assert_shape(y, 2, 2, 1);
        assert_values(y, 0, 3, 7, 3, 2);
    }
}

static void matmul_batched_shares_a_batch_of_one_or_a_2d_operand_with_every_batch(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a1 = tensor(fx, dt, 3, SHAPE(1, 2, 2), VALUES(1, 2, 3, 4));
        tg_tensor *a2 = tensor(fx, dt, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
        tg_tensor *b = tensor(fx, dt, 3, SHAPE(2, 2, 1), VALUES(1, 1, 2, 3));
        tg_tensor *v = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(1, -1));
        tg_tensor *a = tensor(fx, dt, 3, SHAPE(2, 2, 2), VALUES(1, 2, 3, 4, 0, 1, 1, 0));

        tg_tensor *from_batch_of_one = tg_matmul_batched(fx->tape, a1, b);
        tg_tensor *from_matrix = tg_matmul_batched(fx->tape, a2, b);
        tg_tensor *shared_right = tg_matmul_batched(fx->tape, a, v);

        /* [[1, 2], [3, 4]] times [1, 1] and [2, 3] */
        assert_shape(from_batch_of_one, 2, 2, 1);
        assert_values(from_batch_of_one, 0, 3, 7, 8, 18);
        assert_shape(from_matrix, 2, 2, 1);
        assert_values(from_matrix, 0, 3, 7, 8, 18);
        /* each batch of a times [1, -1] */
        assert_shape(shared_right, 2, 2, 1);
        assert_values(shared_right, 0, -1, -1, -1, 1);
    }
}

static void matmul_batched_t_gives_queries_times_transposed_keys(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* q: one row of 2 per batch; keys: three rows of 2 per batch. */
        tg_tensor *q = tensor(fx, dt, 3, SHAPE(2, 1, 2), VALUES(1, 2, 0, -1));
        tg_tensor *keys =
            tensor(fx, dt, 3, SHAPE(2, 3, 2), VALUES(1, 0, 0, 1, 1, 1, 2, 2, 1, 0, 0, 3));

        tg_tensor *scores = tg_matmul_batched_t(fx->tape, q, keys, false, true);

        /* [1, 2] . [1, 0], [0, 1], [1, 1] and [0, -1] . [2, 2], [1, 0], [0, 3] */
        assert_shape(scores, 2, 1, 3);
        assert_values(scores, 0, 1, 2, 3, -2, 0, -3);
    }
}

static void products_with_an_empty_dimension_have_empty_or_zero_outputs(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *no_rows = param(fx, dt, 2, SHAPE(0, 3), VALUES(0));
        tg_tensor *w = param(fx, dt, 2, SHAPE(3, 2), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *no_inner = param(fx, dt, 2, SHAPE(0, 2), VALUES(0));
        tg_tensor *wide = param(fx, dt, 2, SHAPE(0, 3), VALUES(0));
        tg_tensor *no_batch = param(fx, dt, 3, SHAPE(0, 2, 3), VALUES(0));

        tg_tape_reset(fx->tape);
        tg_tensor *rows = tg_matmul(fx->tape, no_rows, w);
        tg_tensor *zeros = tg_matmul_t(fx->tape, no_inner, wide, true, false);
        tg_tensor *batches = tg_matmul_batched(fx->tape, no_batch, w);
        tg_tensor *total = tg_add(fx->tape, tg_sum(fx->tape, rows), tg_sum(fx->tape, zeros));
        assert_true(
            tg_backward(fx->tape, tg_add(fx->tape, total, tg_sum(fx->tape, batches)), NULL));

        assert_shape(rows, 0, 2);
        /* [0, 2]^T times [0, 3]: a [2, 3] sum of no products */
        assert_shape(zeros, 2, 3);
        assert_values(zeros, 0, 0, 0, 0, 0, 0, 0);
        assert_shape(batches, 0, 2, 2);
        assert_grads(w, 0, 0, 0, 0, 0, 0, 0);
    }
}

/* ---- gradients ---------------------------------------------------------------------------- */

typedef struct flags {
    bool trans_a, trans_b;
} flags;

static const flags all_flags[] = {{false, false}, {true, false}, {false, true}, {true, true}};

static tg_tensor *apply_matmul_t(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const flags *f = ctx;
    return tg_matmul_t(tape, in[0], in[1], f->trans_a, f->trans_b);
}

static tg_tensor *apply_matmul_batched_t(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const flags *f = ctx;
    return tg_matmul_batched_t(tape, in[0], in[1], f->trans_a, f->trans_b);
}

/* The stored shape of an operand whose product shape is [rows, cols], with a leading batch. */
static tg_tensor *operand(fixture *fx, tg_rng *rng, int64_t batch, int64_t rows, int64_t cols,
                          bool transposed)
{
    int64_t r = transposed ? cols : rows, c = transposed ? rows : cols;
    if (batch == 0)
        return random_param(fx, rng, 2, SHAPE(r, c));
    return random_param(fx, rng, 3, SHAPE(batch, r, c));
}

static void matmul_t_backward_matches_central_differences_for_every_flag(void **state)
{
    /* op(a) [m, k] times op(b) [k, n]: wide, tall, outer, dot and single-element products. */
    static const int64_t mkn[][3] = {{2, 3, 4}, {3, 2, 5}, {1, 5, 1}, {4, 1, 3}, {1, 1, 1}};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 21);
    for (size_t f = 0; f < sizeof all_flags / sizeof all_flags[0]; f++) {
        for (size_t i = 0; i < sizeof mkn / sizeof mkn[0]; i++) {
            const flags *fl = &all_flags[f];
            tg_tensor *a = operand(fx, &rng, 0, mkn[i][0], mkn[i][1], fl->trans_a);
            tg_tensor *b = operand(fx, &rng, 0, mkn[i][1], mkn[i][2], fl->trans_b);

            assert_gradcheck(apply_matmul_t, (void *)fl, a, b);
        }
    }
}

static void matmul_batched_backward_matches_central_differences_for_shared_batches(void **state)
{
    /* Batches of a and b (0 for a 2-D operand): equal, one shared, or the other shared. */
    static const int64_t batches[][2] = {{3, 3}, {1, 3}, {0, 3}, {3, 1}, {3, 0}, {1, 1}};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 22);
    for (size_t f = 0; f < sizeof all_flags / sizeof all_flags[0]; f++) {
        for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
            const flags *fl = &all_flags[f];
            tg_tensor *a = operand(fx, &rng, batches[i][0], 2, 3, fl->trans_a);
            tg_tensor *b = operand(fx, &rng, batches[i][1], 3, 4, fl->trans_b);

            assert_gradcheck(apply_matmul_batched_t, (void *)fl, a, b);
        }
    }
}

static void matmul_batched_gradient_of_a_shared_matrix_is_summed_over_the_batches(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
        tg_tensor *b = param(fx, dt, 3, SHAPE(2, 2, 1), VALUES(1, 1, 2, 3));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_sum(fx->tape, tg_matmul_batched(fx->tape, a, b));
        assert_true(tg_backward(fx->tape, y, NULL));

        /*
         * With dY all ones, dA = sum_i dY_i b_i^T: every row gets [1, 1] + [2, 3]; and
         * dB_i = A^T dY_i, the column sums of A, for each batch.
         */
        assert_grads(a, 0, 3, 4, 3, 4);
        assert_grads(b, 0, 4, 6, 4, 6);
    }
}

/* ---- errors ------------------------------------------------------------------------------- */

static void matmul_t_refuses_inner_dimensions_that_differ_naming_shapes_and_flags(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = matrix_a(fx, TG_F64);

    assert_null(tg_matmul_t(fx->tape, a, a, false, false));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_t", "inner dimensions", "[2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul_t(fx->tape, a, a, true, true));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_t",
                            "[2, 3] transposed times "
                            "[2, 3] transposed");
}

static void matmul_t_refuses_operands_that_are_not_2d(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = matrix_a(fx, TG_F64);
    tg_tensor *t3 = tensor(fx, TG_F64, 3, SHAPE(1, 3, 1), VALUES(1, 2, 3));

    assert_null(tg_matmul_t(fx->tape, a, t3, false, false));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_t", "2-D", "[2, 3]", "[1, 3, 1]");
}

static void matmul_batched_refuses_batches_that_differ_and_are_not_1(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = own(fx, tg_tensor_new(TG_F64, 3, SHAPE(2, 2, 3)));
    tg_tensor *b = own(fx, tg_tensor_new(TG_F64, 3, SHAPE(3, 3, 2)));

    assert_null(tg_matmul_batched(fx->tape, a, b));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_batched", "batch sizes", "[2, 2, 3]",
                            "[3, 3, 2]");
}

static void matmul_batched_refuses_vectors_and_4d_tensors(void **state)
{
    fixture *fx = *state;
    tg_tensor *v = tensor(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *m = own(fx, tg_tensor_new(TG_F64, 2, SHAPE(3, 2)));
    tg_tensor *t4 = own(fx, tg_tensor_new(TG_F64, 4, SHAPE(1, 1, 2, 3)));

    assert_null(tg_matmul_batched(fx->tape, v, m));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_batched", "2-D or 3-D", "[3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul_batched_t(fx->tape, t4, m, false, false));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_batched_t", "[1, 1, 2, 3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul_batched(fx->tape, m, m));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_batched", "inner dimensions",
                            "[3, 2] times [3, 2]");
}

static void products_refuse_mixed_dtypes_and_return_null_given_null(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = matrix_a(fx, TG_F32);
    tg_tensor *b = matrix_b(fx, TG_F64);

    assert_null(tg_matmul_t(fx->tape, a, b, false, false));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_t", "float32 [2, 3]",
                            "float64 [3, 2]");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul_batched(fx->tape, a, b));
    assert_message_contains(tg_tape_error(fx->tape), "matmul_batched", "float32", "float64");

    tg_tape_reset(fx->tape);
    assert_null(tg_matmul_t(fx->tape, NULL, b, false, false));
    assert_null(tg_matmul_t(fx->tape, b, NULL, true, true));
    assert_null(tg_matmul_batched(fx->tape, NULL, b));
    assert_null(tg_matmul_batched_t(fx->tape, b, NULL, false, true));
    assert_null(tg_tape_error(fx->tape));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(matmul_t_gives_a_b_for_every_way_of_storing_the_operands),
        TEST(matmul_t_of_a_matrix_with_itself_gives_both_gram_matrices),
        TEST(matmul_batched_multiplies_batch_by_batch),
        TEST(matmul_batched_shares_a_batch_of_one_or_a_2d_operand_with_every_batch),
        TEST(matmul_batched_t_gives_queries_times_transposed_keys),
        TEST(products_with_an_empty_dimension_have_empty_or_zero_outputs),
        TEST(matmul_t_backward_matches_central_differences_for_every_flag),
        TEST(matmul_batched_backward_matches_central_differences_for_shared_batches),
        TEST(matmul_batched_gradient_of_a_shared_matrix_is_summed_over_the_batches),
        TEST(matmul_t_refuses_inner_dimensions_that_differ_naming_shapes_and_flags),
        TEST(matmul_t_refuses_operands_that_are_not_2d),
        TEST(matmul_batched_refuses_batches_that_differ_and_are_not_1),
        TEST(matmul_batched_refuses_vectors_and_4d_tensors),
        TEST(products_refuse_mixed_dtypes_and_return_null_given_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
