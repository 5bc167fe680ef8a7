/*
 * test_nn.c: the pre-bias layer's gradients against its formulas, written out with loops;
 * gradient checks of layer chains; the squash activation; initialisation; and the names
 * tg_sequential gives its parameters.
 *
 * Shapes: X [N, m] the batch, W [m, n], A [m] the pre-bias, B [n] the bias, DY [N, n] the
 * gradient arriving at Y = (X - A) W + B.
 */
#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_test.h"

enum { N = 4, M = 3, NOUT = 2 };

static const double ln2 = 0.69314718055994530942;
static const double ln3 = 1.09861228866810969140;

/* Hands a layer's tensors to the fixture, which frees them after the test. */
static void own_layer(fixture *fx, tg_linear *layer)
{
    own(fx, layer->W);
    own(fx, layer->A);
    own(fx, layer->B);
}

/* A layer the fixture frees, with A and B moved away from their zero start. */
static tg_linear *random_layer(fixture *fx, tg_linear *layer, int64_t m, int64_t n, tg_rng *rng)
{
    assert_true(tg_linear_init(layer, TG_F64, m, n, rng));
    own_layer(fx, layer);
    for (int64_t i = 0; i < m; i++)
        tg_set(layer->A, i, 2.0 * tg_rng_uniform(rng) - 1.0);
    for (int64_t j = 0; j < n; j++)
        tg_set(layer->B, j, 2.0 * tg_rng_uniform(rng) - 1.0);
    return layer;
}

/* The four gradients of the pre-bias layer, from their formulas. */
typedef struct prebias_grads {
    double dW[M][NOUT], dA[M], dB[NOUT], dX[N][M];
} prebias_grads;

static prebias_grads prebias_formulas(const tg_tensor *X, const tg_linear *l, const tg_tensor *DY)
{
    prebias_grads g = {0};
    for (int b = 0; b < N; b++) {
        for (int i = 0; i < M; i++) {
            double centred = tg_get(X, b * M + i) - tg_get(l->A, i);
            for (int j = 0; j < NOUT; j++) {
                double dy = tg_get(DY, b * NOUT + j);
                g.dW[i][j] += centred * dy;                    /* dW = (X - A)^T DY */
                g.dX[b][i] += dy * tg_get(l->W, i * NOUT + j); /* dX = DY W^T */
            }
            g.dA[i] -= g.dX[b][i]; /* dA = -sum_rows(DY W^T) */
        }
        for (int j = 0; j < NOUT; j++)
            g.dB[j] += tg_get(DY, b * NOUT + j); /* dB = sum_rows(DY) */
    }
    return g;
}

static void prebias_layer_gradients_follow_their_formulas(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 21);
    tg_linear layer;
    random_layer(fx, &layer, M, NOUT, &rng);
    tg_tensor *X = random_param(fx, &rng, 2, SHAPE(N, M));
    tg_tensor *DY =
        tensor(fx, TG_F64, 2, SHAPE(N, NOUT), VALUES(1.0, -0.5, 0.25, 2.0, -1.5, 0.75, 0.5, -1.0));

    tg_tensor *Y = tg_linear_forward(fx->tape, &layer, X);
    assert_true(tg_backward(fx->tape, Y, DY));

    prebias_grads g = prebias_formulas(X, &layer, DY);
    assert_grads_array(layer.W, 1e-12, &g.dW[0][0], M * NOUT);
    assert_grads_array(layer.A, 1e-12, g.dA, M);
    assert_grads_array(layer.B, 1e-12, g.dB, NOUT);
    assert_grads_array(X, 1e-12, &g.dX[0][0], N * M);
}

static void prebias_layer_output_is_the_centred_input_times_w_plus_b(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 20);
    tg_linear layer;
    assert_true(tg_linear_init(&layer, TG_F64, 2, 2, &rng));
    own_layer(fx, &layer);
    const double w[] = {1, 2, -1, 0.5}, a[] = {1, -1}, b[] = {10, 20};
    for (int i = 0; i < 4; i++)
        tg_set(layer.W, i, w[i]);
    for (int i = 0; i < 2; i++) {
        tg_set(layer.A, i, a[i]);
        tg_set(layer.B, i, b[i]);
    }
    tg_tensor *X = tensor(fx, TG_F64, 2, SHAPE(2, 2), VALUES(3, 1, 1, -1));

    tg_tensor *Y = tg_linear_forward(fx->tape, &layer, X);

    /* X - A = [[2, 2], [0, 0]]; [2, 2] W = [0, 5]; then + B. */
    assert_shape(Y, 2, 2);
    assert_values(Y, 0, 10, 25, 10, 20);
}

static tg_tensor *apply_sequential(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_sequential_forward(tape, ctx, in[0]);
}

/* The network's input followed by all its parameters, for tg_gradcheck. */
static int network_inputs(tg_sequential *net, tg_tensor *x, tg_tensor **inputs, int max)
{
    size_t count;
    tg_param *params = tg_sequential_params(net, &count);
    assert_true((int)count < max);
    inputs[0] = x;
    for (size_t i = 0; i < count; i++)
        inputs[i + 1] = params[i].tensor;
    return (int)count + 1;
}

static void linear_and_squash_chains_match_central_differences(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 22);
    tg_sequential *net = tg_sequential_new();
    assert_true(tg_sequential_add_linear(net, TG_F64, 3, 4, &rng));
    assert_true(tg_sequential_add_squash(net));
    assert_true(tg_sequential_add_linear(net, TG_F64, 4, 2, &rng));
    assert_true(tg_sequential_add_squash(net));
    for (size_t l = 0; l < 4; l += 2) {
        tg_linear *layer = tg_sequential_linear(net, l);
        for (int64_t i = 0; i < layer->A->size; i++)
            tg_set(layer->A, i, 2.0 * tg_rng_uniform(&rng) - 1.0);
        for (int64_t j = 0; j < layer->B->size; j++)
            tg_set(layer->B, j, 2.0 * tg_rng_uniform(&rng) - 1.0);
    }
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(5, 3));
    tg_tensor *inputs[8];
    int n = network_inputs(net, x, inputs, 8);

    tg_gradcheck_report r;
    bool ok = tg_gradcheck(apply_sequential, inputs, n, net, 1e-6, 1e-7, &r);

    assert_string_equal(r.error, "");
    assert_true(ok);
    assert_int_equal(r.checked, 5 * 3 + (3 * 4 + 3 + 4) + (4 * 2 + 4 + 2));
    tg_sequential_free(net);
}

static tg_tensor *apply_linear(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_linear_forward(tape, ctx, in[0]);
}

static void a_single_prebias_layer_matches_central_differences(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 23);
    tg_linear layer;
    random_layer(fx, &layer, 3, 5, &rng);
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(2, 3));

    assert_gradcheck(apply_linear, &layer, x, layer.W, layer.A, layer.B);
}

static void squash_is_one_and_a_half_tanh_of_x_over_one_and_a_half(void **state)
{
    /* 1.5 tanh(ln r) = 1.5 (r^2 - 1) / (r^2 + 1): 0.9 at r = 2 and 1.2 at r = 3. */
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = tensor(fx, dt, 1, SHAPE(4), VALUES(0, 1.5 * ln2, 1.5 * ln3, -1.5 * ln2));

        tg_tensor *y = tg_squash(fx->tape, x);

        assert_shape(y, 4);
        assert_values(y, tolerance(dt), 0, 0.9, 1.2, -0.9);
    }
}

static void squash_is_near_the_identity_at_zero_and_bounded_by_one_and_a_half(void **state)
{
    /* 1.5 tanh(x / 1.5) = x - x^3 / 6.75 + ...: 1e-3 - 1.48e-10 at x = 1e-3. */
    fixture *fx = *state;
    tg_tensor *x = tensor(fx, TG_F64, 1, SHAPE(3), VALUES(1e-3, 50, -50));

    tg_tensor *y = tg_squash(fx->tape, x);

    assert_values(y, 1e-12, 1e-3 - 1.4814814814814815e-10, 1.5, -1.5);
}

static void linear_init_draws_w_with_std_one_over_sqrt_fan_in_and_zero_biases(void **state)
{
    enum { FAN_IN = 400, FAN_OUT = 500 };
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 24);
    tg_linear layer;

    assert_true(tg_linear_init(&layer, TG_F64, FAN_IN, FAN_OUT, &rng));
    own_layer(fx, &layer);

    double sum = 0.0, sum_sq = 0.0;
    for (int64_t i = 0; i < layer.W->size; i++) {
        sum += tg_get(layer.W, i);
        sum_sq += tg_get(layer.W, i) * tg_get(layer.W, i);
    }
    double mean = sum / (double)layer.W->size;
    double std = sqrt(sum_sq / (double)layer.W->size - mean * mean);

    /* 200000 draws: the sample std of std 0.05 is within 0.0005 by six standard errors. */
    assert_shape(layer.W, FAN_IN, FAN_OUT);
    assert_near(mean, 0.0, 1e-3);
    assert_near(std, 0.05, 5e-4);
    assert_shape(layer.A, FAN_IN);
    assert_shape(layer.B, FAN_OUT);
    for (int64_t i = 0; i < FAN_IN; i++)
        assert_true(tg_get(layer.A, i) == 0.0);
    for (int64_t j = 0; j < FAN_OUT; j++)
        assert_true(tg_get(layer.B, j) == 0.0);
    assert_true(layer.W->requires_grad && layer.A->requires_grad && layer.B->requires_grad);
}

static void linear_init_with_the_same_seed_gives_bit_identical_weights(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_linear first, second, other;
        tg_rng rng;

        tg_rng_seed(&rng, 7);
        assert_true(tg_linear_init(&first, dt, 30, 20, &rng));
        tg_rng_seed(&rng, 7);
        assert_true(tg_linear_init(&second, dt, 30, 20, &rng));
        tg_rng_seed(&rng, 8);
        assert_true(tg_linear_init(&other, dt, 30, 20, &rng));
        own_layer(fx, &first);
        own_layer(fx, &second);
        own_layer(fx, &other);

        size_t bytes = (size_t)first.W->size * tg_dtype_size(dt);
        assert_memory_equal(first.W->data, second.W->data, bytes);
        assert_memory_not_equal(first.W->data, other.W->data, bytes);
    }
}

static void linear_init_refuses_sizes_that_are_not_positive(void **state)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_linear layer;

    assert_false(tg_linear_init(&layer, TG_F64, 0, 3, &rng));
    assert_message_contains(tg_last_error(), "tg_linear_init", "0 x 3");
    assert_null(layer.W);
    assert_false(tg_linear_init(&layer, TG_F64, 3, -1, &rng));
}

static void sequential_names_parameters_by_layer_index_in_order(void **state)
{
    tg_rng rng;
    tg_rng_seed(&rng, 25);
    tg_sequential *net = tg_sequential_new();
    assert_true(tg_sequential_add_linear(net, TG_F64, 3, 4, &rng));
    assert_true(tg_sequential_add_squash(net));
    assert_true(tg_sequential_add_linear(net, TG_F64, 4, 2, &rng));
    assert_true(tg_sequential_add_squash(net));
    assert_true(tg_sequential_add_linear(net, TG_F64, 2, 1, &rng));

    size_t count;
    tg_param *params = tg_sequential_params(net, &count);

    const char *names[] = {"0.W", "0.A", "0.B", "2.W", "2.A", "2.B", "4.W", "4.A", "4.B"};
    assert_int_equal(count, 9);
    for (size_t i = 0; i < count; i++) {
        tg_linear *layer = tg_sequential_linear(net, 2 * (i / 3));
        tg_tensor *expected[] = {layer->W, layer->A, layer->B};
        assert_string_equal(params[i].name, names[i]);
        assert_ptr_equal(params[i].tensor, expected[i % 3]);
        assert_true(params[i].lr_scale == 1.0);
    }
    assert_int_equal(tg_sequential_layer_count(net), 5);
    assert_null(tg_sequential_linear(net, 1));
    assert_null(tg_sequential_linear(net, 5));
    tg_sequential_free(net);
}

static void sequential_applies_its_layers_in_the_order_they_were_added(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 26);
    tg_sequential *net = tg_sequential_new();
    assert_true(tg_sequential_add_linear(net, TG_F64, 3, 4, &rng));
    assert_true(tg_sequential_add_squash(net));
    assert_true(tg_sequential_add_linear(net, TG_F64, 4, 2, &rng));
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(5, 3));

    tg_tensor *y = tg_sequential_forward(fx->tape, net, x);
    tg_tensor *by_hand = tg_linear_forward(
        fx->tape, tg_sequential_linear(net, 2),
        tg_squash(fx->tape, tg_linear_forward(fx->tape, tg_sequential_linear(net, 0), x)));

    assert_shape(y, 5, 2);
    assert_memory_equal(y->data, by_hand->data, 10 * sizeof(double));
    tg_sequential_free(net);
}

/* An input of width 1 would broadcast against A without complaint; the layer refuses it. */
static void linear_refuses_an_input_whose_width_is_not_the_fan_in(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_linear layer;
    assert_true(tg_linear_init(&layer, TG_F64, 3, 2, &rng));
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(4, 1), VALUES(1, 2, 3, 4));

    assert_null(tg_linear_forward(fx->tape, &layer, x));
    assert_message_contains(tg_tape_error(fx->tape), "linear", "[4, 1]", "[batch, 3]");
    tg_linear_destroy(&layer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(linear_refuses_an_input_whose_width_is_not_the_fan_in),
        TEST(prebias_layer_gradients_follow_their_formulas),
        TEST(prebias_layer_output_is_the_centred_input_times_w_plus_b),
        TEST(linear_and_squash_chains_match_central_differences),
        TEST(a_single_prebias_layer_matches_central_differences),
        TEST(squash_is_one_and_a_half_tanh_of_x_over_one_and_a_half),
        TEST(squash_is_near_the_identity_at_zero_and_bounded_by_one_and_a_half),
        TEST(linear_init_draws_w_with_std_one_over_sqrt_fan_in_and_zero_biases),
        TEST(linear_init_with_the_same_seed_gives_bit_identical_weights),
        TEST(linear_init_refuses_sizes_that_are_not_positive),
        TEST(sequential_names_parameters_by_layer_index_in_order),
        TEST(sequential_applies_its_layers_in_the_order_they_were_added),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
