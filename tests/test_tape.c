/*
 * test_tape.c: how the tape accumulates gradients, where backward starts, what reset releases,
 * that a repeated training step stops allocating, and which tensors a tape refuses.
 */
#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_optim.h"
#include "tg_test.h"

static void a_tensor_multiplied_by_itself_gets_gradient_2x(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(3, -0.5));

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_mul(fx->tape, x, x)), NULL));

    assert_grads(x, 0, 6, -1);
}

static void a_tensor_added_to_itself_gets_gradient_2(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(3, -0.5));

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_add(fx->tape, x, x)), NULL));

    assert_grads(x, 0, 2, 2);
}

static void a_tensor_on_two_paths_gets_the_sum_of_both_gradients(void **state)
{
    /* d/dx (3x + x^2) = 3 + 2x */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, -2));

    tg_tensor *y = tg_add(fx->tape, tg_scale(fx->tape, x, 3.0), tg_square(fx->tape, x));
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, y), NULL));

    assert_grads(x, 0, 5, -1);
}

static void an_intermediate_used_twice_passes_back_the_sum_of_both_uses(void **state)
{
    /* y = z * z with z = tanh(x): dy/dx = 2 z (1 - z^2); at x = ln 2, z = 0.6 and 0.768. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 0, NULL, VALUES(0.69314718055994530942));

    tg_tensor *z = tg_tanh(fx->tape, x);
    assert_true(tg_backward(fx->tape, tg_mul(fx->tape, z, z), NULL));

    assert_grads(z, 1e-15, 1.2);
    assert_grads(x, 1e-15, 0.768);
}

static void leaf_gradients_accumulate_across_tapes_until_zeroed(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tape *other = tg_tape_new();
    assert_non_null(other);

    /* d/dx sum(3x) = 3 on one tape, then d/dx sum(x^2) = 2x on another. */
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_scale(fx->tape, x, 3.0)), NULL));
    assert_grads(x, 0, 3, 3);
    assert_true(tg_backward(other, tg_sum(other, tg_square(other, x)), NULL));
    assert_grads(x, 0, 5, 7);

    tg_tensor_zero_grad(x);
    assert_grads(x, 0, 0, 0);

    tg_tape_reset(fx->tape);
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_scale(fx->tape, x, 3.0)), NULL));
    assert_grads(x, 0, 3, 3);
    tg_tape_free(other);
}

static void backward_from_a_tensor_of_many_elements_starts_from_the_upstream(void **state)
{
    /* y = x^2 with upstream u: dx = 2 x u. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *u = tensor(fx, TG_F64, 1, SHAPE(3), VALUES(1, 10, 100));

    tg_tensor *y = tg_square(fx->tape, x);
    assert_true(tg_backward(fx->tape, y, u));

    assert_grads(y, 0, 1, 10, 100);
    assert_grads(x, 0, 2, 40, 600);
}

static void reset_releases_nodes_tensors_and_the_error_and_reuses_the_memory(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *y = tg_tanh(fx->tape, tg_scale(fx->tape, x, 2.0));
    assert_null(tg_matmul(fx->tape, x, x));
    assert_int_equal(tg_tape_node_count(fx->tape), 2);
    size_t capacity = tg_tape_capacity(fx->tape);

    /* Freeing a tensor the tape owns is left to the tape. */
    tg_tensor_free(y);
    tg_tape_reset(fx->tape);

    assert_int_equal(tg_tape_node_count(fx->tape), 0);
    assert_null(tg_tape_error(fx->tape));
    tg_tensor *again = tg_tanh(fx->tape, tg_scale(fx->tape, x, 2.0));
    assert_ptr_equal(again, y);
    assert_int_equal(tg_tape_capacity(fx->tape), capacity);
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, again), NULL));
}

/* One SGD step of a small network on a fixed batch; returns the loss before the step. */
static double train_step(tg_tape *tape, tg_sequential *net, tg_tensor *x, tg_tensor *target)
{
    size_t n_params;
    tg_param *params = tg_sequential_params(net, &n_params);
    tg_tensor *out = tg_sequential_forward(tape, net, x);
    tg_tensor *loss = tg_sum(tape, tg_square(tape, tg_sub(tape, out, target)));

    assert_true(tg_backward(tape, loss, NULL));
    tg_sgd_step(params, n_params, 1e-4);
    tg_zero_grads(params, n_params);
    return tg_get(loss, 0);
}

static void recording_the_same_step_again_allocates_nothing_new(void **state)
{
    enum { STEPS = 20, BATCH = 32, IN = 8, HIDDEN = 64 };
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    tg_sequential *net = tg_sequential_new();
    assert_true(tg_sequential_add_linear(net, TG_F64, IN, HIDDEN, &rng));
    assert_true(tg_sequential_add_squash(net));
    assert_true(tg_sequential_add_linear(net, TG_F64, HIDDEN, HIDDEN, &rng));
    assert_true(tg_sequential_add_squash(net));
    assert_true(tg_sequential_add_linear(net, TG_F64, HIDDEN, 1, &rng));
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(BATCH, IN));
    tg_tensor *target = random_param(fx, &rng, 2, SHAPE(BATCH, 1));
    assert_true(tg_tensor_set_requires_grad(x, false));
    assert_true(tg_tensor_set_requires_grad(target, false));

    size_t capacity[STEPS], nodes[STEPS];
    double loss[STEPS];
    for (int step = 0; step < STEPS; step++) {
        loss[step] = train_step(fx->tape, net, x, target);
        capacity[step] = tg_tape_capacity(fx->tape);
        nodes[step] = tg_tape_node_count(fx->tape);
        tg_tape_reset(fx->tape);
    }

    /* The step outgrows the tape's first 64 KiB, so the first reset has chunks to merge. */
    assert_true(capacity[0] > 65536);
    for (int step = 1; step < STEPS; step++) {
        assert_int_equal(capacity[step], capacity[1]);
        assert_int_equal(nodes[step], nodes[0]);
    }
    assert_true(loss[STEPS - 1] < loss[0]);
    tg_sequential_free(net);
}

static void ops_on_tensors_that_need_no_gradient_record_no_node(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
    tg_tensor *p = param(fx, TG_F64, 2, SHAPE(2, 2), VALUES(1, 0, 0, 1));

    tg_tensor *y = tg_sum(fx->tape, tg_tanh(fx->tape, tg_matmul(fx->tape, x, x)));

    assert_false(y->requires_grad);
    assert_int_equal(tg_tape_node_count(fx->tape), 0);

    tg_tensor *z = tg_add(fx->tape, x, p);

    assert_true(z->requires_grad);
    assert_int_equal(tg_tape_node_count(fx->tape), 1);
}

static void a_tensor_recorded_on_another_tape_is_refused(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tape *other = tg_tape_new();
    assert_non_null(other);
    tg_tensor *foreign = tg_sum(other, tg_square(other, x));

    assert_null(tg_add(fx->tape, foreign, x));
    assert_message_contains(tg_tape_error(fx->tape), "another tape");

    tg_tape_reset(fx->tape);
    assert_false(tg_backward(fx->tape, foreign, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "backward", "another tape");
    assert_grads(x, 0, 0, 0);

    /* The tape that recorded it still runs its backward. */
    assert_true(tg_backward(other, foreign, NULL));
    assert_grads(x, 0, 2, 4);
    tg_tape_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_tensor_multiplied_by_itself_gets_gradient_2x),
        TEST(a_tensor_added_to_itself_gets_gradient_2),
        TEST(a_tensor_on_two_paths_gets_the_sum_of_both_gradients),
        TEST(an_intermediate_used_twice_passes_back_the_sum_of_both_uses),
        TEST(leaf_gradients_accumulate_across_tapes_until_zeroed),
        TEST(backward_from_a_tensor_of_many_elements_starts_from_the_upstream),
        TEST(reset_releases_nodes_tensors_and_the_error_and_reuses_the_memory),
        TEST(recording_the_same_step_again_allocates_nothing_new),
        TEST(ops_on_tensors_that_need_no_gradient_record_no_node),
        TEST(a_tensor_recorded_on_another_tape_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
