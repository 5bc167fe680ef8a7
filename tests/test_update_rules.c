/*
 * test_update_rules.c: the identities that explain the paper's hand-written backward, and one
 * step of each of the four update rules of examples/qm7/qm7_model.h.
 *
 * For Z = (X - A) W + B with upstream gradient DY, the paper's code uses
 *     DA = -sum_rows(X - A),   DB = sum_rows(DY) + DA W,   DX = sqrt(m / n) DY W^T,
 * where the true gradients are dA = -sum_rows(DY W^T), dB = sum_rows(DY), dX = DY W^T.
 */
#include "qm7_model.h"
#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_test.h"

enum { ROWS = 4, M = 3, N = 2 };

static const double X_VALUES[ROWS * M] = {1, 2, 0.5, 0, -1, 1.5, 2, 0.5, -0.5, -1, 1, 2};
static const double DY_VALUES[ROWS * N] = {1, -0.5, -0.5, 0.25, -1, 1, 0.25, 0.5};

/* A float64 pre-bias layer 3 -> 2 with readable, non-zero values. */
static tg_linear make_layer(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_linear layer;
    assert_true(tg_linear_init(&layer, TG_F64, M, N, &rng));
    const double w[] = {0.5, -1, 0.25, 0.75, -0.5, 1}, a[] = {0.25, -0.25, 1}, b[] = {0.25, -0.5};
    for (int i = 0; i < M * N; i++)
        tg_set(layer.W, i, w[i]);
    for (int i = 0; i < M; i++)
        tg_set(layer.A, i, a[i]);
    for (int i = 0; i < N; i++)
        tg_set(layer.B, i, b[i]);
    return layer;
}

/* The paper's DA = -sum_rows(X - A), by plain loops. */
static void paper_da(const tg_linear *layer, const tg_tensor *x, double *da)
{
    for (int j = 0; j < M; j++) {
        da[j] = 0.0;
        for (int r = 0; r < ROWS; r++)
            da[j] -= tg_get(x, r * M + j) - tg_get(layer->A, j);
    }
}

/* Runs the layer forward and backward with DY; its input is scaled by `scale` going back. */
static tg_tensor *backward_through(fixture *fx, tg_linear *layer, tg_tensor *x, double scale)
{
    tg_tensor *dy = tensor(fx, TG_F64, 2, SHAPE(ROWS, N), DY_VALUES);
    tg_tensor *z = tg_linear_forward(fx->tape, layer, tg_grad_scale(fx->tape, x, scale));
    assert_true(tg_backward(fx->tape, z, dy));
    return z;
}

static void weight_gradients_agree_with_the_paper(void **state)
{
    fixture *fx = *state;
    tg_linear layer = make_layer();
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    backward_through(fx, &layer, x, 1.0);

    /* DW = (X - A)^T DY */
    for (int j = 0; j < M; j++) {
        for (int k = 0; k < N; k++) {
            double dw = 0.0;
            for (int r = 0; r < ROWS; r++)
                dw += (X_VALUES[r * M + j] - tg_get(layer.A, j)) * DY_VALUES[r * N + k];
            assert_near(tg_grad_get(layer.W, j * N + k), dw, 1e-15);
        }
    }
    tg_linear_destroy(&layer);
}

static void paper_db_minus_true_db_is_da_times_w(void **state)
{
    fixture *fx = *state;
    tg_linear layer = make_layer();
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    backward_through(fx, &layer, x, 1.0);
    double da[M];
    paper_da(&layer, x, da);

    for (int k = 0; k < N; k++) {
        double db_paper = 0.0, da_w = 0.0;
        for (int r = 0; r < ROWS; r++)
            db_paper += DY_VALUES[r * N + k];
        for (int j = 0; j < M; j++)
            da_w += da[j] * tg_get(layer.W, j * N + k);
        db_paper += da_w;
        assert_near(db_paper - tg_grad_get(layer.B, k), da_w, 1e-15);
    }
    tg_linear_destroy(&layer);
}

static void paper_dx_is_sqrt_m_over_n_times_true_dx(void **state)
{
    fixture *fx = *state;
    tg_linear plain = make_layer(), scaled = make_layer();
    tg_tensor *x = param(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    tg_tensor *x2 = param(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    backward_through(fx, &plain, x, 1.0);
    tg_tape_reset(fx->tape);
    backward_through(fx, &scaled, x2, sqrt((double)M / N));

    for (int i = 0; i < ROWS * M; i++) {
        /* dX = DY W^T by plain loops, then the ratio of the scaled to the true gradient. */
        int r = i / M, j = i % M;
        double dx = 0.0;
        for (int k = 0; k < N; k++)
            dx += DY_VALUES[r * N + k] * tg_get(plain.W, j * N + k);
        assert_near(tg_grad_get(x, i), dx, 1e-15);
        assert_near(tg_grad_get(x2, i), sqrt(1.5) * dx, 1e-15);
    }
    tg_linear_destroy(&plain);
    tg_linear_destroy(&scaled);
}

static void grad_scale_is_the_identity_forward(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F32, 1, SHAPE(3), VALUES(1.5, -2, 0.25));
    tg_tensor *y = tg_grad_scale(fx->tape, x, 4.0);
    assert_values(y, 0, 1.5, -2, 0.25);

    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, y), NULL));
    assert_grads(x, 0, 4, 4, 4);
}

static void centering_leaves_the_layer_function_unchanged(void **state)
{
    fixture *fx = *state;
    tg_linear layer = make_layer();
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    tg_tensor *other = tensor(fx, TG_F64, 2, SHAPE(2, M), VALUES(3, -2, 1, 0.5, 0.5, -4));
    double before[ROWS * N], before_other[2 * N];
    tg_tensor *z = tg_linear_forward(fx->tape, &layer, x);
    tg_tensor *zo = tg_linear_forward(fx->tape, &layer, other);
    memcpy(before, z->data, sizeof before);
    memcpy(before_other, zo->data, sizeof before_other);
    tg_tape_reset(fx->tape);

    double a0 = tg_get(layer.A, 0);
    assert_true(tg_linear_center(&layer, x, 0.05));
    assert_true(fabs(tg_get(layer.A, 0) - a0) > 0.01);

    /* Any input, not only the batch the step was taken on, maps to the same output. */
    z = tg_linear_forward(fx->tape, &layer, x);
    zo = tg_linear_forward(fx->tape, &layer, other);
    assert_values_array(z, 1e-14, before, ROWS * N);
    assert_values_array(zo, 1e-14, before_other, 2 * N);
    tg_linear_destroy(&layer);
}

static void centering_steps_are_the_paper_da_update(void **state)
{
    fixture *fx = *state;
    tg_linear layer = make_layer();
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    double da[M], a[M];
    paper_da(&layer, x, da);
    for (int j = 0; j < M; j++)
        a[j] = tg_get(layer.A, j) - 0.05 * da[j];

    assert_true(tg_linear_center(&layer, x, 0.05));

    assert_values_array(layer.A, 1e-15, a, M);
    tg_linear_destroy(&layer);
}

static void repeated_centering_moves_a_to_the_input_mean(void **state)
{
    fixture *fx = *state;
    tg_linear layer = make_layer();
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);

    /* Each step shrinks A - mean by the factor 1 - 0.1 * ROWS = 0.6. */
    for (int i = 0; i < 100; i++)
        assert_true(tg_linear_center(&layer, x, 0.1));

    assert_values(layer.A, 1e-12, 0.5, 0.625, 0.875);
    tg_linear_destroy(&layer);
}

static void centering_refuses_an_input_of_the_wrong_width(void **state)
{
    fixture *fx = *state;
    tg_linear layer = make_layer();
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(1, 2), VALUES(1, 2));

    assert_false(tg_linear_center(&layer, x, 0.1));
    assert_message_contains(tg_last_error(), "tg_linear_center", "[batch, 3]", "[1, 2]");
    tg_linear_destroy(&layer);
}

/*
 * One step of each rule on the network 3 -> 2 -> 1, against numpy. The values come from
 *     /usr/bin/python3 tests/reference/update_rules_reference.py
 * indexed [rule][trained, averaged][parameter][element].
 */
static const double expected_step[4][2][6][6] = {
    /* paper */ {
        /* trained */ {
            /* 0.W */ {
                0.40266993339869045,
                -0.987268482121297,
                0.31895799348173126,
                0.7550699725679988,
                -0.4258108263099994,
                0.9932321436850015,
            },
            /* 0.A */
            {
                0.3077350269189626,
                -0.04792740578363097,
                0.9711324865405188,
            },
            /* 0.B */
            {
                0.3760267215481746,
                -0.4212338252237152,
            },
            /* 2.W */
            {
                0.6230616354992145,
                -0.2967051046516891,
            },
            /* 2.A */
            {
                0.20203551671578085,
                -0.2978846819608407,
            },
            /* 2.B */
            {
                0.11590990257669731,
            },
        },
        /* averaged */
        {
            /* 0.W */ {
                0.41151812127153675,
                -0.9884258928375428,
                0.3126890849833921,
                0.754609065970908,
                -0.432555296645454,
                0.9938474033500013,
            },
            /* 0.A */
            {
                0.30248638810814776,
                -0.06629764162148272,
                0.9737568059459262,
            },
            /* 0.B */
            {
                0.36456974686197696,
                -0.42839438656701384,
            },
            /* 2.W */
            {
                0.6346014868174678,
                -0.3151864587742628,
            },
            /* 2.A */
            {
                0.19503228792343713,
                -0.3048951654189461,
            },
            /* 2.B */
            {
                0.11446354779699755,
            },
        },
    },
    /* autodiff */
    {
        /* trained */ {
            /* 0.W */ {
                0.43117724989287576,
                -0.9909974573731714,
                0.29876066480794994,
                0.7535850119832618,
                -0.44754033219317396,
                0.9952144029055684,
            },
            /* 0.A */
            {
                0.24838116252672848,
                -0.2630196232806997,
                1.0016188374732715,
            },
            /* 0.B */
            {
                0.27277400221704534,
                -0.4902318363647489,
            },
            /* 2.W */
            {
                0.6230616354992145,
                -0.2967051046516891,
            },
            /* 2.A */
            {
                0.127481806955419,
                -0.37665453797027937,
            },
            /* 2.B */
            {
                0.09669092405944132,
            },
        },
        /* averaged */
        {
            /* 0.W */ {
                0.43743386353897795,
                -0.9918158703392467,
                0.29432787709813635,
                0.7532591018029653,
                -0.4523093929028854,
                0.9956494571868804,
            },
            /* 0.A */
            {
                0.24852832956975315,
                -0.2618360211642725,
                1.0014716704302469,
            },
            /* 0.B */
            {
                0.27070363837913214,
                -0.4911198512406808,
            },
            /* 2.W */
            {
                0.6346014868174678,
                -0.3151864587742628,
            },
            /* 2.A */
            {
                0.12725618814129,
                -0.3765041254275267,
            },
            /* 2.B */
            {
                0.09699174914494665,
            },
        },
    },
    /* autodiff-scaled */
    {
        /* trained */ {
            /* 0.W */ {
                0.40266993339869045,
                -0.987268482121297,
                0.31895799348173126,
                0.7550699725679988,
                -0.4258108263099994,
                0.9932321436850015,
            },
            /* 0.A */
            {
                0.24771061809002162,
                -0.268412527820554,
                1.0022893819099783,
            },
            /* 0.B */
            {
                0.2822073028048605,
                -0.48618573050754815,
            },
            /* 2.W */
            {
                0.6230616354992145,
                -0.2967051046516891,
            },
            /* 2.A */
            {
                0.127481806955419,
                -0.37665453797027937,
            },
            /* 2.B */
            {
                0.09669092405944132,
            },
        },
        /* averaged */
        {
            /* 0.W */ {
                0.41151812127153675,
                -0.9884258928375428,
                0.3126890849833921,
                0.754609065970908,
                -0.432555296645454,
                0.9938474033500013,
            },
            /* 0.A */
            {
                0.24791874371820147,
                -0.2667386616550491,
                1.0020812562817984,
            },
            /* 0.B */
            {
                0.27927936618623683,
                -0.48744157318868014,
            },
            /* 2.W */
            {
                0.6346014868174678,
                -0.3151864587742628,
            },
            /* 2.A */
            {
                0.12725618814129,
                -0.3765041254275267,
            },
            /* 2.B */
            {
                0.09699174914494665,
            },
        },
    },
    /* no-prebias */
    {
        /* trained */ {
            /* 0.W */ {
                0.43117724989287576,
                -0.9909974573731714,
                0.29876066480794994,
                0.7535850119832618,
                -0.44754033219317396,
                0.9952144029055684,
            },
            /* 0.A */
            {
                0.25,
                -0.25,
                1.0,
            },
            /* 0.B */
            {
                0.27277400221704534,
                -0.4902318363647489,
            },
            /* 2.W */
            {
                0.6230616354992145,
                -0.2967051046516891,
            },
            /* 2.A */
            {
                0.125,
                -0.375,
            },
            /* 2.B */
            {
                0.09669092405944132,
            },
        },
        /* averaged */
        {
            /* 0.W */ {
                0.43743386353897795,
                -0.9918158703392467,
                0.29432787709813635,
                0.7532591018029653,
                -0.4523093929028854,
                0.9956494571868804,
            },
            /* 0.A */
            {
                0.25,
                -0.25,
                1.0,
            },
            /* 0.B */
            {
                0.27070363837913214,
                -0.4911198512406808,
            },
            /* 2.W */
            {
                0.6346014868174678,
                -0.3151864587742628,
            },
            /* 2.A */
            {
                0.125,
                -0.375,
            },
            /* 2.B */
            {
                0.09699174914494665,
            },
        },
    },
};

static const double initial_values[6][6] = {
    {0.5, -1, 0.25, 0.75, -0.5, 1},
    {0.25, -0.25, 1},
    {0.25, -0.5},
    {0.75, -0.5},
    {0.125, -0.375},
    {0.1},
};

static void set_parameters(qm7_model *m)
{
    for (size_t i = 0; i < m->n_params; i++) {
        tg_tensor *p = m->params[i].tensor, *avg = tg_averager_tensor(m->avg, i);
        for (int64_t j = 0; j < p->size; j++) {
            tg_set(p, j, initial_values[i][j]);
            tg_set(avg, j, initial_values[i][j]);
        }
    }
}

static void each_rule_takes_the_step_numpy_computes(void **state)
{
    fixture *fx = *state;
    const qm7_rule rules[] = {QM7_RULE_PAPER, QM7_RULE_AUTODIFF, QM7_RULE_AUTODIFF_SCALED,
                              QM7_RULE_NO_PREBIAS};
    tg_tensor *x = tensor(fx, TG_F64, 2, SHAPE(ROWS, M), X_VALUES);
    tg_tensor *t = tensor(fx, TG_F64, 2, SHAPE(ROWS, 1), VALUES(1.5, -0.5, 2, 0.25));

    for (int r = 0; r < 4; r++) {
        tg_rng rng;
        tg_rng_seed(&rng, 3);
        qm7_model m;
        assert_true(qm7_model_init(&m, SHAPE(M, N, 1), 3, TG_F64, rules[r], 0.5, 2.0, &rng));
        set_parameters(&m);
        double loss;

        assert_true(qm7_model_step(&m, fx->tape, x, t, 0.1, 1, &loss));

        for (size_t i = 0; i < m.n_params; i++) {
            tg_tensor *p = m.params[i].tensor;
            assert_values_array(p, 1e-14, expected_step[r][0][i], p->size);
            assert_values_array(tg_averager_tensor(m.avg, i), 1e-14, expected_step[r][1][i],
                                p->size);
        }
        qm7_model_free(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(weight_gradients_agree_with_the_paper),
        TEST(paper_db_minus_true_db_is_da_times_w),
        TEST(paper_dx_is_sqrt_m_over_n_times_true_dx),
        TEST(grad_scale_is_the_identity_forward),
        TEST(centering_leaves_the_layer_function_unchanged),
        TEST(centering_steps_are_the_paper_da_update),
        TEST(repeated_centering_moves_a_to_the_input_mean),
        TEST(centering_refuses_an_input_of_the_wrong_width),
        TEST(each_rule_takes_the_step_numpy_computes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
