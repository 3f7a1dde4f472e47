/* fm_format_double: the shortest of %.15g, %.16g, %.17g that reads back exactly,
 * and the canonical texts of activations, initialisers and losses built on it
 * (what model files hold): "leaky_relu:0.2", not "leaky_relu:0.20000000000000001". */
#include "test_support.h"

#include "core/internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* x formatted: reads back bit for bit, and no shorter candidate would have. */
static void assert_shortest_exact(double x)
{
    char text[32], shorter[32];
    fm_format_double(text, sizeof text, x);
    double back = strtod(text, NULL);
    if (isnan(x)) {
        assert_true(isnan(back));
        return;
    }
    if (memcmp(&back, &x, sizeof x) != 0)
        fail_msg("%.17g formatted as \"%s\", which reads back as %.17g", x, text, back);
    for (int digits = 15; digits < 17; digits++) {
        snprintf(shorter, sizeof shorter, "%.*g", digits, x);
        if (strtod(shorter, NULL) == x) {
            if (strcmp(text, shorter) != 0)
                fail_msg("%.17g formatted as \"%s\", but \"%s\" reads back too", x, text, shorter);
            return;
        }
    }
    snprintf(shorter, sizeof shorter, "%.17g", x);
    assert_string_equal(text, shorter);
}

static void test_format_double_known_values(void **state)
{
    (void)state;
    const struct {
        double x;
        const char *text;
    } cases[] = {
        {0.2, "0.2"},
        {0.01, "0.01"},
        {1.0507, "1.0507"},
        {1.6733, "1.6733"},
        {1.0, "1"},
        {0.0, "0"},
        {-0.0, "-0"},
        {-2.5, "-2.5"},
        {1e-300, "1e-300"},
        {0.1 + 0.2, "0.30000000000000004"}, /* needs all 17 digits */
        {1.0507009873554805, "1.0507009873554805"},
        {1.6732632423543772, "1.6732632423543772"},
        {HUGE_VAL, "inf"},
        {-HUGE_VAL, "-inf"},
    };
    char text[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fm_format_double(text, sizeof text, cases[i].x);
        assert_string_equal(text, cases[i].text);
        assert_shortest_exact(cases[i].x);
    }
    /* A small buffer truncates like snprintf, NUL included. */
    fm_format_double(text, 4, 0.125);
    assert_string_equal(text, "0.1");
}

static void test_format_double_round_trips(void **state)
{
    (void)state;
    const double edges[] = {DBL_MIN, DBL_MAX, DBL_TRUE_MIN, DBL_EPSILON, 1.0 / 3.0, 2.0 / 3.0, M_PI, 1e15 + 0.3,
                            9007199254740993.0, 123456789012345678.0, 5e-324, 0.1, 0.7, 1e23, 8.41e21};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        assert_shortest_exact(edges[i]);
        assert_shortest_exact(-edges[i]);
    }
    assert_shortest_exact(NAN);

    /* Random bit patterns (every exponent) and random decimals of few digits. */
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        uint64_t bits = s ^ (s >> 29);
        double x;
        memcpy(&x, &bits, sizeof x);
        if (isfinite(x))
            assert_shortest_exact(x);
        assert_shortest_exact((double)(bits % 100000) / 10000.0);
    }
}

static void test_specs_print_short(void **state)
{
    (void)state;
    fm_error err;
    char text[160];

    fm_activation act, back;
    const struct {
        const char *in, *out;
    } acts[] = {
        {"leaky_relu:0.2", "leaky_relu:0.2"},
        {"leaky_relu", "leaky_relu"},
        {"elu:0.7", "elu:0.7"},
        {"selu:1.0507,1.6733", "selu:1.0507,1.6733"},
        {"selu:1.0507009873554805,1.6732632423543772", "selu:1.0507009873554805,1.6732632423543772"},
        {"leaky_relu:0.30000000000000004", "leaky_relu:0.30000000000000004"},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        FM_ASSERT_OK(fm_activation_parse(acts[i].in, &act, &err), &err);
        fm_activation_format(&act, text, sizeof text);
        assert_string_equal(text, acts[i].out);
        FM_ASSERT_OK(fm_activation_parse(text, &back, &err), &err);
        assert_int_equal(back.kind, act.kind);
        assert_true(back.alpha == act.alpha && back.lambda == act.lambda);
    }

    fm_init init, init_back;
    const char *inits[] = {"normal:0.1", "uniform:2", "orthogonal:1.1", "normal:0.30000000000000004"};
    for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
        FM_ASSERT_OK(fm_init_parse(inits[i], &init, &err), &err);
        fm_init_format(&init, text, sizeof text);
        assert_string_equal(text, inits[i]);
        FM_ASSERT_OK(fm_init_parse(text, &init_back, &err), &err);
        assert_true(init_back.param == init.param);
    }

    fm_loss loss, loss_back;
    FM_ASSERT_OK(fm_loss_parse("huber:0.3", &loss, &err), &err);
    fm_loss_format(&loss, text, sizeof text);
    assert_string_equal(text, "huber:0.3");
    FM_ASSERT_OK(fm_loss_parse(text, &loss_back, &err), &err);
    assert_true(loss_back.delta == loss.delta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_double_known_values),
        cmocka_unit_test(test_format_double_round_trips),
        cmocka_unit_test(test_specs_print_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
