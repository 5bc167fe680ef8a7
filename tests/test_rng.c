/*
 * test_rng.c: the generator reproduces the reference xoshiro256** stream, is reproducible per
 * seed, and its uniform, normal and bounded draws have the distributions they promise.
 *
 * The pinned outputs come from tests/reference/xoshiro_reference.py, an independent Python
 * implementation of splitmix64 seeding and xoshiro256**. The distribution checks use 100000
 * draws and tolerances of about six standard errors: a correct generator passes them every
 * time, while a biased or mis-scaled one is off by far more.
 */
#include "tg_rng.h"
#include "tg_test.h"

enum { DRAWS = 100000 };

static void the_first_outputs_match_the_reference_implementation(void **state)
{
    tg_rng rng;

    tg_rng_seed(&rng, 0);
    assert_true(tg_rng_next(&rng) == 0x99ec5f36cb75f2b4ULL);
    assert_true(tg_rng_next(&rng) == 0xbf6e1f784956452aULL);
    assert_true(tg_rng_next(&rng) == 0x1a5f849d4933e6e0ULL);

    tg_rng_seed(&rng, 42);
    assert_true(tg_rng_next(&rng) == 0x15780b2e0c2ec716ULL);
    assert_true(tg_rng_next(&rng) == 0x6104d9866d113a7eULL);
    assert_true(tg_rng_next(&rng) == 0xae17533239e499a1ULL);
}

static void uniform_is_the_top_53_bits_of_the_next_output_over_2_to_the_53(void **state)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);

    double u = tg_rng_uniform(&rng);

    assert_true(u == (double)(0x99ec5f36cb75f2b4ULL >> 11) / 9007199254740992.0);
}

static void the_same_seed_gives_the_same_stream_and_a_copied_state_forks_it(void **state)
{
    tg_rng a, b;
    tg_rng_seed(&a, 123);
    tg_rng_seed(&b, 123);
    for (int i = 0; i < 1000; i++)
        assert_true(tg_rng_next(&a) == tg_rng_next(&b));

    tg_rng fork = a;
    for (int i = 0; i < 1000; i++)
        assert_true(tg_rng_next(&a) == tg_rng_next(&fork));
}

static void different_seeds_give_different_streams(void **state)
{
    tg_rng a, b;
    tg_rng_seed(&a, 0);
    tg_rng_seed(&b, 1);

    int same = 0;
    for (int i = 0; i < 1000; i++)
        same += tg_rng_next(&a) == tg_rng_next(&b);

    assert_int_equal(same, 0);
}

static void uniform_draws_lie_in_0_1_with_mean_one_half_and_variance_one_twelfth(void **state)
{
    tg_rng rng;
    tg_rng_seed(&rng, 31);

    double lowest = 1.0, highest = 0.0, sum = 0.0, sum_sq = 0.0;
    for (int i = 0; i < DRAWS; i++) {
        double u = tg_rng_uniform(&rng);
        lowest = fmin(lowest, u);
        highest = fmax(highest, u);
        sum += u;
        sum_sq += u * u;
    }
    double mean = sum / DRAWS;
    double variance = sum_sq / DRAWS - mean * mean;

    assert_true(lowest >= 0.0 && highest < 1.0);
    assert_true(lowest < 1e-3 && highest > 1.0 - 1e-3);
    assert_near(mean, 0.5, 0.005);
    assert_near(variance, 1.0 / 12.0, 0.002);
}

typedef struct moments {
    double mean, std, within_one_std;
} moments;

static moments normal_moments(tg_rng *rng, double mean, double std)
{
    double sum = 0.0, sum_sq = 0.0;
    int within = 0;
    for (int i = 0; i < DRAWS; i++) {
        double x = tg_rng_normal(rng, mean, std);
        sum += x;
        sum_sq += x * x;
        within += fabs(x - mean) < std;
    }
    moments m = {sum / DRAWS, 0.0, (double)within / DRAWS};
    m.std = sqrt(sum_sq / DRAWS - m.mean * m.mean);
    return m;
}

static void normal_draws_have_the_requested_mean_and_std_and_a_normal_shape(void **state)
{
    /* A normal puts 68.27% of its mass within one std of the mean; a uniform puts 57.7%. */
    tg_rng rng;
    tg_rng_seed(&rng, 32);

    moments standard = normal_moments(&rng, 0.0, 1.0);
    moments shifted = normal_moments(&rng, 5.0, 2.0);

    assert_near(standard.mean, 0.0, 0.02);
    assert_near(standard.std, 1.0, 0.02);
    assert_near(standard.within_one_std, 0.6827, 0.01);
    assert_true(fabs(shifted.mean - 5.0) < 0.04);
    assert_true(fabs(shifted.std - 2.0) < 0.04);
    assert_near(shifted.within_one_std, 0.6827, 0.01);
}

static void below_gives_every_value_under_n_about_equally_often(void **state)
{
    /* 10000 expected per value, with a standard deviation of 95. */
    tg_rng rng;
    tg_rng_seed(&rng, 33);

    int count[10] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t x = tg_rng_below(&rng, 10);
        assert_true(x < 10);
        count[x]++;
    }

    for (int v = 0; v < 10; v++)
        assert_in_range(count[v], 9500, 10500);
}

static void below_covers_the_whole_range_of_a_large_n_and_gives_0_for_n_1(void **state)
{
    /* For n = 3 * 2^62, a third of the values are at least 2^63: about 333 of 1000. */
    const uint64_t n = 3ULL << 62;
    tg_rng rng;
    tg_rng_seed(&rng, 34);

    int high = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = tg_rng_below(&rng, n);
        assert_true(x < n);
        high += x >= (1ULL << 63);
    }

    assert_in_range(high, 250, 420);
    for (int i = 0; i < 100; i++)
        assert_true(tg_rng_below(&rng, 1) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_outputs_match_the_reference_implementation),
        cmocka_unit_test(uniform_is_the_top_53_bits_of_the_next_output_over_2_to_the_53),
        cmocka_unit_test(the_same_seed_gives_the_same_stream_and_a_copied_state_forks_it),
        cmocka_unit_test(different_seeds_give_different_streams),
        cmocka_unit_test(uniform_draws_lie_in_0_1_with_mean_one_half_and_variance_one_twelfth),
        cmocka_unit_test(normal_draws_have_the_requested_mean_and_std_and_a_normal_shape),
        cmocka_unit_test(below_gives_every_value_under_n_about_equally_often),
        cmocka_unit_test(below_covers_the_whole_range_of_a_large_n_and_gives_0_for_n_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
