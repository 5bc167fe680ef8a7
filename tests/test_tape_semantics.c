/*
 * test_tape_semantics.c: the rules a tape keeps between forward and backward. Leaf gradients
 * accumulate until zeroed; a tape runs one backward pass unless asked to retain it; gradients
 * can be switched off, or stopped at a detached tensor; a tensor written after it was
 * recorded stops backward with a message instead of giving wrong gradients; intermediates'
 * gradients can be read; empty and one-element tensors go through the whole tape.
 */
#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_optim.h"
#include "tg_test.h"

/* tanh(ln 2) = 3/5 exactly, which keeps the worked numbers short. */
static const double ln2 = 0.69314718055994530942;

/* A tensor that requires a gradient and may have no elements, which VALUES cannot spell. */
static tg_tensor *zeros_param(fixture *fx, int ndim, const int64_t *shape)
{
    tg_tensor *t = own(fx, tg_tensor_new(TG_F64, ndim, shape));
    assert_true(tg_tensor_set_requires_grad(t, true));
    return t;
}

/* ---- Gradients accumulate into leaves until the caller zeroes them ---- */

static void leaf_gradients_add_up_over_tapes_and_resets_until_zeroed(void **state)
{
    /* d/dx sum(3x) = 3, then d/dx sum(x^2) = 2x = [2, 4] on a second tape, then 3 again. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tape *other = tg_tape_new();
    assert_non_null(other);

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_scale(fx->tape, x, 3.0)), NULL));
    assert_true(tg_backward(other, tg_sum(other, tg_square(other, x)), NULL));
    assert_grads(x, 0, 5, 7);

    tg_tape_reset(fx->tape);
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_scale(fx->tape, x, 3.0)), NULL));
    assert_grads(x, 0, 8, 10);

    tg_tensor_zero_grad(x);
    assert_grads(x, 0, 0, 0);
    tg_tape_free(other);
}

/* ---- One backward pass per recording, unless it is retained ---- */

static void a_second_backward_is_refused_and_changes_no_gradient(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, x));
    assert_true(tg_backward(fx->tape, loss, NULL));

    assert_false(tg_backward(fx->tape, loss, NULL));

    assert_message_contains(tg_tape_error(fx->tape), "already ran backward", "tg_backward_retain",
                            "reset the tape");
    assert_grads(x, 0, 2, 4);
}

static void a_retained_pass_lets_a_second_add_to_leaves_but_not_to_intermediates(void **state)
{
    /*
     * loss = sum(s^2) with s = 3x: ds = 2s = 6x and dx = 3 ds = 18x. If the second pass kept
     * the first's ds = [6, 12] and added to it, dx would reach 18x + 36x = [54, 108].
     */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *s = tg_scale(fx->tape, x, 3.0);
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, s));

    assert_true(tg_backward_retain(fx->tape, loss, NULL));
    assert_grads(s, 0, 6, 12);
    assert_grads(x, 0, 18, 36);

    assert_true(tg_backward(fx->tape, loss, NULL));
    assert_grads(s, 0, 6, 12);
    assert_grads(x, 0, 36, 72);

    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "already ran backward");
}

static void passes_from_two_roots_of_one_recording_add_their_gradients(void **state)
{
    /*
     * h = tanh(x) at x = [0, ln 2] is [0, 0.6], so dh/dx = 1 - h^2 = [1, 0.64].
     * first = sum(2h):  dx = 2 (1 - h^2) = [2, 1.28].
     * second = sum(h^2): dx = 2h (1 - h^2) = [0, 0.768].
     * The intermediate t = 2h lies only under the first root, so after the second pass it
     * holds no gradient, while h holds the second pass's 2h = [0, 1.2].
     */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(0, ln2));
    tg_tensor *h = tg_tanh(fx->tape, x);
    tg_tensor *t = tg_scale(fx->tape, h, 2.0);
    tg_tensor *first = tg_sum(fx->tape, t);
    tg_tensor *second = tg_sum(fx->tape, tg_square(fx->tape, h));

    assert_true(tg_backward_retain(fx->tape, first, NULL));
    assert_grads(x, 1e-15, 2, 1.28);
    assert_grads(t, 0, 1, 1);

    assert_true(tg_backward(fx->tape, second, NULL));
    assert_grads(x, 1e-15, 2, 2.048);
    assert_null(t->grad);
    assert_grads(h, 1e-15, 0, 1.2);
}

static void reset_opens_the_tape_for_a_new_pass(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(1), VALUES(2));
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, x)), NULL));

    tg_tape_reset(fx->tape);

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, x)), NULL));
    assert_grads(x, 0, 8);
}

/* ---- No-grad scope and detach ---- */

static void with_gradients_disabled_ops_record_nothing_and_keep_no_backward_state(void **state)
{
    /* The same ops on constants record nothing either; with no grad they cost exactly that. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(0, ln2));
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(0, ln2));
    tg_tape *constants = tg_tape_new();
    assert_non_null(constants);
    tg_sum(constants, tg_mul(constants, tg_tanh(constants, c), c));
    size_t fresh_capacity = tg_tape_capacity(fx->tape);

    assert_true(tg_tape_set_grad_enabled(fx->tape, false));
    tg_tensor *y = tg_sum(fx->tape, tg_mul(fx->tape, tg_tanh(fx->tape, x), x));

    assert_values(y, 1e-15, 0.6 * ln2);
    assert_false(y->requires_grad);
    assert_int_equal(tg_tape_node_count(fx->tape), 0);
    assert_int_equal(tg_tape_used(fx->tape), tg_tape_used(constants));
    assert_int_equal(tg_tape_capacity(fx->tape), fresh_capacity);
    tg_tape_free(constants);
}

static void backward_after_a_no_grad_forward_says_gradients_were_disabled(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tape_set_grad_enabled(fx->tape, false);

    assert_false(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, x)), NULL));

    assert_message_contains(tg_tape_error(fx->tape), "backward", "gradients are disabled",
                            "tg_tape_set_grad_enabled");
    assert_grads(x, 0, 0, 0);
}

static void enabling_gradients_again_restores_recording_and_survives_reset(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    bool was = tg_tape_set_grad_enabled(fx->tape, false);
    tg_tape_reset(fx->tape);
    assert_false(tg_square(fx->tape, x)->requires_grad);
    assert_false(tg_tape_set_grad_enabled(fx->tape, was));

    assert_true(was);
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, x)), NULL));
    assert_int_equal(tg_tape_node_count(fx->tape), 2);
    assert_grads(x, 0, 2, 4);
}

static void a_detached_tensor_shares_the_data_and_passes_no_gradient_back(void **state)
{
    /* y = sum(d * x) with d = detach(x): dy/dx = d = x = [1, 2], not 2x. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    tg_tensor *d = tg_detach(fx->tape, x);

    assert_ptr_equal(d->data, x->data);
    assert_false(d->requires_grad);
    assert_null(d->grad);
    assert_ptr_equal(d->tape, fx->tape);
    assert_int_equal(tg_tape_node_count(fx->tape), 0);
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_mul(fx->tape, d, x)), NULL));
    assert_grads(x, 0, 1, 2);
}

static void backward_from_a_detached_computation_is_refused(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *d = tg_detach(fx->tape, x);

    assert_false(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, d)), NULL));

    assert_message_contains(tg_tape_error(fx->tape), "does not depend", "tg_detach");
    assert_grads(x, 0, 0, 0);
}

static void detach_refuses_a_tensor_of_another_tape_and_passes_null_on(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tape *other = tg_tape_new();
    assert_non_null(other);

    assert_null(tg_detach(fx->tape, NULL));
    assert_null(tg_tape_error(fx->tape));
    assert_null(tg_detach(fx->tape, tg_square(other, x)));
    assert_message_contains(tg_tape_error(fx->tape), "detach", "another tape");
    tg_tape_free(other);
}

/* ---- A tensor written after it was recorded stops backward ---- */

static void a_write_between_forward_and_backward_names_the_op_and_input(void **state)
{
    /*
     * loss = sum(a b + 2a). The pass would run scale's rule (2 into a's gradient) before it
     * reached mul; it is refused before either runs.
     */
    fixture *fx = *state;
    tg_tensor *a = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *b = param(fx, TG_F64, 1, SHAPE(3), VALUES(4, 5, 6));
    tg_tensor *ab = tg_mul(fx->tape, a, b);
    tg_tensor *loss = tg_sum(fx->tape, tg_add(fx->tape, ab, tg_scale(fx->tape, a, 2.0)));

    tg_set(b, 1, 50.0);

    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "backward: input 1 of 'mul' (shape [3])",
                            "modified in place", "version 0 then, 1 now");
    assert_grads(a, 0, 0, 0, 0);
    assert_grads(b, 0, 0, 0, 0);
}

static void a_write_to_an_ops_output_is_caught_too(void **state)
{
    /* tanh's rule reads its output, 1 - y^2; a changed y would give a wrong gradient. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(0, ln2));
    tg_tensor *y = tg_tanh(fx->tape, x);

    tg_set(y, 0, 0.5);

    assert_false(tg_backward(fx->tape, y, tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 1))));
    assert_message_contains(tg_tape_error(fx->tape), "the output of 'tanh' (shape [2])");
}

static void a_direct_write_marked_modified_is_caught(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, x));

    ((double *)x->data)[0] = 10.0;
    tg_tensor_mark_modified(x);

    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "input 0 of 'square'");
}

static void writing_through_a_detached_tensor_is_caught_at_its_source(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *d = tg_detach(fx->tape, x);
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, x));

    tg_set(d, 0, 5.0);

    assert_int_equal(tg_tensor_version(x), 1);
    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "input 0 of 'square'");
}

static void a_write_the_pass_does_not_read_is_allowed(void **state)
{
    /* c is read only under `other`, so backward from `loss` still gives d/dx sum(x^2) = 2x. */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(3, 4));
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, x));
    tg_tensor *other = tg_sum(fx->tape, tg_mul(fx->tape, x, c));

    tg_set(c, 0, 30.0);

    assert_true(tg_backward(fx->tape, loss, NULL));
    assert_grads(x, 0, 2, 4);
    assert_non_null(other);
}

static void an_optimizer_step_before_backward_is_caught(void **state)
{
    fixture *fx = *state;
    tg_param p = {"w", param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2)), 1.0};
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, p.tensor));

    tg_sgd_step(&p, 1, 0.1);

    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "input 0 of 'square' (shape [2])");
}

static void an_optimizer_step_between_retained_passes_is_caught(void **state)
{
    fixture *fx = *state;
    tg_param p = {"w", param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2)), 1.0};
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, p.tensor));
    assert_true(tg_backward_retain(fx->tape, loss, NULL));

    tg_sgd_step(&p, 1, 0.1);

    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "'square'", "modified in place");
    assert_grads(p.tensor, 0, 2, 4);
}

static void swapping_in_averaged_weights_before_backward_is_caught(void **state)
{
    fixture *fx = *state;
    tg_param p = {"w", param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2)), 1.0};
    tg_averager *avg = tg_averager_new(&p, 1, 0.1);
    assert_non_null(avg);
    tg_tensor *loss = tg_sum(fx->tape, tg_square(fx->tape, p.tensor));

    tg_averager_swap(avg);

    assert_false(tg_backward(fx->tape, loss, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "input 0 of 'square'");
    tg_averager_free(avg);
}

static void every_writer_counts_one_write_and_readers_count_none(void **state)
{
    fixture *fx = *state;
    tg_param p = {"w", param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2)), 1.0};
    tg_tensor *w = p.tensor, *src = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(3, 4));
    tg_averager *avg = tg_averager_new(&p, 1, 0.1);
    assert_non_null(avg);
    tg_tensor *copy = tg_averager_tensor(avg, 0);
    uint32_t copy_version = tg_tensor_version(copy);
    assert_int_equal(tg_tensor_version(w), 0);

    tg_get(w, 0);
    tg_tensor_zero_grad(w);
    tg_tensor_set_requires_grad(w, true);
    assert_int_equal(tg_tensor_version(w), 0);

    tg_set(w, 0, 5.0);
    tg_tensor_copy(w, src);
    tg_tensor_mark_modified(w);
    tg_sgd_step(&p, 1, 0.1);
    assert_int_equal(tg_tensor_version(w), 4);
    assert_int_equal(tg_tensor_version(src), 0);

    tg_averager_update(avg, 1);
    assert_true(tg_sgd_average_step(&p, 1, 0.1, avg, 2));
    tg_averager_swap(avg);
    assert_int_equal(tg_tensor_version(w), 6);
    assert_int_equal(tg_tensor_version(copy), copy_version + 3);
    tg_averager_free(avg);
}

/* Forward, backward, then the update: the order a training loop uses. */
static double train_step(tg_tape *tape, tg_linear *layer, tg_tensor *x, tg_tensor *target,
                         tg_averager *avg, int64_t t)
{
    tg_param params[] = {{"W", layer->W, 1.0}, {"A", layer->A, 1.0}, {"B", layer->B, 1.0}};
    tg_tensor *err = tg_sub(tape, tg_linear_forward(tape, layer, x), target);
    tg_tensor *loss = tg_sum(tape, tg_square(tape, err));

    assert_true(tg_backward(tape, loss, NULL));
    if (avg) {
        assert_true(tg_sgd_average_step(params, 3, 0.05, avg, t));
    } else {
        tg_sgd_step(params, 3, 0.05);
        tg_zero_grads(params, 3);
    }
    double value = tg_get(loss, 0);
    tg_tape_reset(tape);
    return value;
}

static void optimizer_steps_after_backward_are_never_refused(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_linear layer;
    assert_true(tg_linear_init(&layer, TG_F64, 2, 1, &rng));
    tg_param params[] = {{"W", layer.W, 1.0}, {"A", layer.A, 1.0}, {"B", layer.B, 1.0}};
    tg_averager *avg = tg_averager_new(params, 3, 0.1);
    assert_non_null(avg);
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(3, 2), VALUES(1, 0, 0, 1, 1, 1));
    tg_tensor *target = tensor(fx, TG_F64, 2, SHAPE(3, 1), VALUES(1, -1, 0));

    double first = train_step(fx->tape, &layer, x, target, NULL, 0);
    double later = first;
    for (int64_t t = 1; t <= 10; t++)
        later = train_step(fx->tape, &layer, x, target, t % 2 ? avg : NULL, t);

    assert_true(later < first);
    tg_averager_free(avg);
    tg_linear_destroy(&layer);
}

/* concat keeps the inputs past the TG_MAX_INPUTS = 3 a node holds in its own saved list. */
static tg_tensor *concat_three_constants_and(fixture *fx, tg_tensor *last)
{
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(1), VALUES(1));
    return tg_concat(fx->tape, (tg_tensor *[]){c, c, c, last}, 4, 0);
}

static void an_input_past_those_a_node_holds_still_gets_its_gradient(void **state)
{
    /* y = sum(concat(c, c, c, q)^2) with q = 2p: dy/dq = 2q, so dy/dp = 4q = 8p = [8, 16]. */
    fixture *fx = *state;
    tg_tensor *p = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *q = tg_scale(fx->tape, p, 2.0);

    tg_tensor *y = tg_sum(fx->tape, tg_square(fx->tape, concat_three_constants_and(fx, q)));

    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(q, 0, 4, 8);
    assert_grads(p, 0, 8, 16);
}

static void a_write_under_an_input_past_those_a_node_holds_is_caught(void **state)
{
    /* The scale node is found only when concat's rule runs, and is checked before its own. */
    fixture *fx = *state;
    tg_tensor *p = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *q = tg_square(fx->tape, p);
    tg_tensor *y = tg_sum(fx->tape, concat_three_constants_and(fx, q));

    tg_set(p, 0, 3.0);

    assert_false(tg_backward(fx->tape, y, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "input 0 of 'square'");
    assert_grads(p, 0, 0, 0);
}

/* ---- Gradients of intermediates ---- */

static void an_intermediates_gradient_can_be_read_after_backward(void **state)
{
    /*
     * y = sum(tanh(p)) with p = x * w, x = [ln 2, 0.5], w = [1, 0]: p = [ln 2, 0] and
     * tanh(p) = [0.6, 0], so dy/dp = 1 - tanh(p)^2 = [0.64, 1], dy/dx = w dy/dp = [0.64, 0]
     * and dy/dw = x dy/dp = [0.64 ln 2, 0.5].
     */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(ln2, 0.5));
    tg_tensor *w = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 0));
    tg_tensor *p = tg_mul(fx->tape, x, w);
    tg_tensor *h = tg_tanh(fx->tape, p);

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, h), NULL));

    assert_grads(h, 0, 1, 1);
    assert_grads(p, 1e-15, 0.64, 1);
    assert_grads(x, 1e-15, 0.64, 0);
    assert_grads(w, 1e-15, 0.64 * ln2, 0.5);
}

static void an_intermediate_off_the_path_to_the_root_gets_no_gradient(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *unused = tg_scale(fx->tape, x, 2.0);

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, x)), NULL));

    assert_true(unused->requires_grad);
    assert_null(unused->grad);
    assert_grads(x, 0, 2, 4);
}

/* ---- Empty and one-element tensors ---- */

static void elementwise_ops_on_an_empty_tensor_give_empty_gradients(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = zeros_param(fx, 1, SHAPE(0));
    tg_tape *t = fx->tape;

    tg_tensor *y = tg_square(t, tg_tanh(t, tg_scale(t, tg_sub(t, tg_mul(t, x, x), x), 2.0)));
    tg_tensor *z = tg_add(t, y, x);
    assert_shape(z, 0);

    assert_true(tg_backward(t, z, own(fx, tg_tensor_new(TG_F64, 1, SHAPE(0)))));
    assert_shape(x, 0);
    assert_non_null(x->grad);
}

static void the_sum_of_an_empty_tensor_is_zero_and_a_broadcast_partner_gets_zero(void **state)
{
    /* y = sum(x + b) over x [2, 0]: no element depends on b, so db = 0. */
    fixture *fx = *state;
    tg_tensor *x = zeros_param(fx, 2, SHAPE(2, 0));
    tg_tensor *b = param(fx, TG_F64, 1, SHAPE(1), VALUES(7));

    tg_tensor *y = tg_sum(fx->tape, tg_mul(fx->tape, tg_add(fx->tape, x, b), b));

    assert_scalar(y);
    assert_values(y, 0, 0);
    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(b, 0, 0);
}

static void matmul_with_an_empty_inner_dimension_passes_gradients_around_it(void **state)
{
    /* y = sum(a b + c) with a [2, 0], b [0, 3]: a b = 0, and dc = 2 per element (two rows). */
    fixture *fx = *state;
    tg_tensor *a = zeros_param(fx, 2, SHAPE(2, 0));
    tg_tensor *b = zeros_param(fx, 2, SHAPE(0, 3));
    tg_tensor *c = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));

    tg_tensor *y = tg_sum(fx->tape, tg_add(fx->tape, tg_matmul(fx->tape, a, b), c));

    assert_values(y, 0, 12);
    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(c, 0, 2, 2, 2);
    assert_int_equal(a->size + b->size, 0);
}

static void matmul_with_no_rows_or_no_columns_gives_zero_gradients(void **state)
{
    /* [0, 2] x [2, 3] and [2, 2] x [2, 0] are empty products: the full operand's dx is 0. */
    fixture *fx = *state;
    tg_tensor *no_rows = zeros_param(fx, 2, SHAPE(0, 2));
    tg_tensor *b = param(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *a = param(fx, TG_F64, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
    tg_tensor *no_cols = zeros_param(fx, 2, SHAPE(2, 0));

    tg_tensor *rows = tg_matmul(fx->tape, no_rows, b);
    tg_tensor *cols = tg_matmul(fx->tape, a, no_cols);
    assert_shape(rows, 0, 3);
    assert_shape(cols, 2, 0);
    tg_tensor *y = tg_add(fx->tape, tg_sum(fx->tape, rows), tg_sum(fx->tape, cols));

    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(b, 0, 0, 0, 0, 0, 0, 0);
    assert_grads(a, 0, 0, 0, 0, 0);
}

static void sum_axis_over_an_empty_axis_gives_zeros_and_an_empty_gradient(void **state)
{
    /* x [0, 3] summed over axis 0 is [0, 0, 0]; over axis 1 it is empty, shape [0]. */
    fixture *fx = *state;
    tg_tensor *x = zeros_param(fx, 2, SHAPE(0, 3));
    tg_tensor *c = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));

    tg_tensor *down = tg_sum_axis(fx->tape, x, 0, false);
    tg_tensor *across = tg_sum_axis(fx->tape, x, 1, true);
    assert_values(down, 0, 0, 0, 0);
    assert_shape(across, 0, 1);
    tg_tensor *y =
        tg_add(fx->tape, tg_sum(fx->tape, tg_mul(fx->tape, down, c)), tg_sum(fx->tape, across));

    assert_true(tg_backward(fx->tape, y, NULL));
    assert_grads(c, 0, 0, 0, 0);
    assert_shape(x, 0, 3);
}

static void backward_from_an_empty_root_needs_an_empty_upstream(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = zeros_param(fx, 1, SHAPE(0));

    assert_false(tg_backward(fx->tape, tg_square(fx->tape, x), NULL));

    assert_message_contains(tg_tape_error(fx->tape), "shape [0]", "exactly one element");
}

static void one_element_tensors_go_through_every_op(void **state)
{
    /*
     * a = [[2]], b = [[5]], s = 3 (0-d): y = sum(square(a b) - tanh(0) + s v) with v = [1]
     * is 100 + 3. dy/da = 2 (a b) b = 100, dy/db = 2 (a b) a = 40, dy/ds = v = 1, dy/dv = s.
     */
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tape *t = fx->tape;
        tg_tensor *a = param(fx, dt, 2, SHAPE(1, 1), VALUES(2));
        tg_tensor *b = param(fx, dt, 2, SHAPE(1, 1), VALUES(5));
        tg_tensor *s = param(fx, dt, 0, NULL, VALUES(3));
        tg_tensor *v = param(fx, dt, 1, SHAPE(1), VALUES(1));
        tg_tensor *zero = tg_tanh(t, tg_scale(t, s, 0.0));

        tg_tensor *sq = tg_sub(t, tg_square(t, tg_matmul(t, a, b)), zero);
        tg_tensor *y = tg_sum_axis(t, tg_add(t, sq, tg_mul(t, s, v)), 0, false);
        assert_shape(y, 1);

        assert_true(tg_backward(t, y, NULL));
        assert_values(y, tolerance(dt), 103);
        assert_grads(a, tolerance(dt), 100);
        assert_grads(b, tolerance(dt), 40);
        assert_grads(s, tolerance(dt), 1);
        assert_grads(v, tolerance(dt), 3);
        tg_tape_reset(t);
    }
}

/* ---- Errors are messages, never aborts ---- */

static void a_null_tape_is_reported_through_tg_last_error(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(1), VALUES(1));

    assert_false(tg_backward(NULL, x, NULL));
    assert_message_contains(tg_last_error(), "backward", "tape is NULL");
    assert_false(tg_backward_retain(NULL, x, NULL));
    assert_null(tg_detach(NULL, x));
    assert_message_contains(tg_last_error(), "tg_detach", "tape is NULL");
    assert_false(tg_tape_set_grad_enabled(NULL, true));
    assert_message_contains(tg_last_error(), "tg_tape_set_grad_enabled", "tape is NULL");
    assert_int_equal(tg_tape_node_count(NULL), 0);
}

static void backward_keeps_the_first_error_of_the_forward_pass(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    tg_tensor *bad = tg_sum(fx->tape, tg_matmul(fx->tape, x, x));

    assert_false(tg_backward(fx->tape, bad, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "matmul");
    assert_false(tg_backward_retain(fx->tape, bad, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "matmul");
}

static void backward_from_a_null_root_or_a_constant_says_why(void **state)
{
    fixture *fx = *state;
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(1), VALUES(1));

    assert_false(tg_backward(fx->tape, NULL, NULL));
    assert_message_contains(tg_tape_error(fx->tape), "root is NULL");
    tg_tape_reset(fx->tape);
    assert_false(tg_backward_retain(fx->tape, tg_square(fx->tape, c), NULL));
    assert_message_contains(tg_tape_error(fx->tape), "does not depend on any tensor");
}

static void a_leaf_flagged_by_hand_gets_a_gradient_buffer_of_its_own(void **state)
{
    /* The buffer is not tape memory: the next recording does not overwrite it, and the
     * fixture's tg_tensor_free releases it. */
    fixture *fx = *state;
    tg_tensor *x = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    x->requires_grad = true;

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, tg_square(fx->tape, x)), NULL));
    tg_tape_reset(fx->tape);
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(9, 9));
    for (int i = 0; i < 8; i++)
        c = tg_square(fx->tape, c);

    assert_grads(x, 0, 2, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(leaf_gradients_add_up_over_tapes_and_resets_until_zeroed),
        TEST(a_second_backward_is_refused_and_changes_no_gradient),
        TEST(a_retained_pass_lets_a_second_add_to_leaves_but_not_to_intermediates),
        TEST(passes_from_two_roots_of_one_recording_add_their_gradients),
        TEST(reset_opens_the_tape_for_a_new_pass),
        TEST(with_gradients_disabled_ops_record_nothing_and_keep_no_backward_state),
        TEST(backward_after_a_no_grad_forward_says_gradients_were_disabled),
        TEST(enabling_gradients_again_restores_recording_and_survives_reset),
        TEST(a_detached_tensor_shares_the_data_and_passes_no_gradient_back),
        TEST(backward_from_a_detached_computation_is_refused),
        TEST(detach_refuses_a_tensor_of_another_tape_and_passes_null_on),
        TEST(a_write_between_forward_and_backward_names_the_op_and_input),
        TEST(a_write_to_an_ops_output_is_caught_too),
        TEST(a_direct_write_marked_modified_is_caught),
        TEST(writing_through_a_detached_tensor_is_caught_at_its_source),
        TEST(a_write_the_pass_does_not_read_is_allowed),
        TEST(an_optimizer_step_before_backward_is_caught),
        TEST(an_optimizer_step_between_retained_passes_is_caught),
        TEST(swapping_in_averaged_weights_before_backward_is_caught),
        TEST(every_writer_counts_one_write_and_readers_count_none),
        TEST(optimizer_steps_after_backward_are_never_refused),
        TEST(an_input_past_those_a_node_holds_still_gets_its_gradient),
        TEST(a_write_under_an_input_past_those_a_node_holds_is_caught),
        TEST(an_intermediates_gradient_can_be_read_after_backward),
        TEST(an_intermediate_off_the_path_to_the_root_gets_no_gradient),
        TEST(elementwise_ops_on_an_empty_tensor_give_empty_gradients),
        TEST(the_sum_of_an_empty_tensor_is_zero_and_a_broadcast_partner_gets_zero),
        TEST(matmul_with_an_empty_inner_dimension_passes_gradients_around_it),
        TEST(matmul_with_no_rows_or_no_columns_gives_zero_gradients),
        TEST(sum_axis_over_an_empty_axis_gives_zeros_and_an_empty_gradient),
        TEST(backward_from_an_empty_root_needs_an_empty_upstream),
        TEST(one_element_tensors_go_through_every_op),
        TEST(a_null_tape_is_reported_through_tg_last_error),
        TEST(backward_keeps_the_first_error_of_the_forward_pass),
        TEST(backward_from_a_null_root_or_a_constant_says_why),
        TEST(a_leaf_flagged_by_hand_gets_a_gradient_buffer_of_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
