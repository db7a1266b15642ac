/* Check tests for the calculator tool's evaluator (worker/agents/
 * calculator.c): precedence and associativity, functions and constants,
 * and every refusal with its reason. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/calculator.h"

static double
eval_ok(const char *expr)
{
    double  x = NAN;
    char    err[160] = "";

    ck_assert_msg(mg_calc_eval(expr, strlen(expr), &x, err, sizeof(err)) == 0,
                  "%s: %s", expr, err);
    return x;
}

static const char *
eval_err(const char *expr)
{
    static char  err[160];
    double       x = 12345;

    err[0] = '\0';
    ck_assert_msg(mg_calc_eval(expr, strlen(expr), &x, err, sizeof(err)) == -1,
                  "%s evaluated to %g", expr, x);
    ck_assert_msg(x == 12345, "%s: the result was written on failure", expr);
    ck_assert_msg(err[0] != '\0', "%s: no reason", expr);
    return err;
}

#define ck_assert_near(a, b) ck_assert_msg(fabs((double) (a) - (double) (b)) < 1e-9, "%.17g != %.17g", (double) (a), (double) (b))

START_TEST(precedence_and_associativity)
{
    ck_assert_near(eval_ok("2*(3+4)"), 14);
    ck_assert_near(eval_ok("2+3*4"), 14);
    ck_assert_near(eval_ok("10-4-3"), 3);           /* left */
    ck_assert_near(eval_ok("64/4/2"), 8);
    ck_assert_near(eval_ok("2^3^2"), 512);          /* right */
    ck_assert_near(eval_ok("2**3**2"), 512);
    ck_assert_near(eval_ok("-2^2"), -4);            /* sign binds looser than ^ */
    ck_assert_near(eval_ok("2^-1"), 0.5);
    ck_assert_near(eval_ok("2*-3"), -6);
    ck_assert_near(eval_ok("--3"), 3);
    ck_assert_near(eval_ok("  7 % 3 "), 1);
    ck_assert_near(eval_ok("1.5e3 + .5 + 2E-1"), 1500.7);
    ck_assert_near(eval_ok("((((1))))"), 1);
}
END_TEST

START_TEST(functions_and_constants)
{
    ck_assert_near(eval_ok("sqrt(16) + abs(-2)"), 6);
    ck_assert_near(eval_ok("round(2.5) + floor(-1.5) + ceil(1.2)"), 3 + -2 + 2);
    ck_assert_near(eval_ok("min(3, 1, 2) * max(4, 9, -1)"), 9);
    ck_assert_near(eval_ok("pi"), M_PI);
    ck_assert_near(eval_ok("2*e"), 2 * M_E);
    ck_assert_near(eval_ok("max(sqrt(2)^2, 1)"), 2);
}
END_TEST

START_TEST(refusals_say_why)
{
    ck_assert_str_eq(eval_err("1/0"), "division by zero");
    ck_assert_str_eq(eval_err("5 % (2-2)"), "division by zero");
    ck_assert_str_eq(eval_err("0^-1"), "division by zero");
    ck_assert_str_eq(eval_err("sqrt(-4)"), "the square root of a negative number");
    ck_assert_str_eq(eval_err("(-8)^0.5"), "a negative number to a fractional power");
    ck_assert_str_eq(eval_err("10^400"), "the result is too large to represent");
    ck_assert_str_eq(eval_err(""), "the expression is empty");
    ck_assert_str_eq(eval_err("   "), "the expression is empty");
    ck_assert_str_eq(eval_err("2*(3+4"), "the expression ends too soon");
    ck_assert_str_eq(eval_err("2+"), "the expression ends too soon");
    ck_assert_str_eq(eval_err("2)"), "unexpected ')' at character 2");
    ck_assert_str_eq(eval_err("2 3"), "unexpected '3' at character 3");
    ck_assert_str_eq(eval_err("1..2"), "'1..2' at character 1 is not a number");
    ck_assert_str_eq(eval_err("sqrt 4"), "sqrt at character 1 needs its argument in parentheses");
    ck_assert_str_eq(eval_err("abs(1, 2)"), "abs at character 1 takes one argument");
    ck_assert(strstr(eval_err("system(1)"), "unknown name 'system' at character 1") != NULL);
    ck_assert(strstr(eval_err("x = 2"), "unknown name 'x'") != NULL);
    ck_assert_str_eq(eval_err("2; 3"), "unexpected ';' at character 2");
}
END_TEST

START_TEST(bounded_input)
{
    char    deep[300], *longx;
    double  x;
    char    err[160];

    memset(deep, '(', 100);
    deep[100] = '1';
    memset(deep + 101, ')', 100);
    deep[201] = '\0';
    ck_assert_str_eq(eval_err(deep), "the expression is nested too deeply");
    memset(deep, '-', 200);
    deep[200] = '1';
    deep[201] = '\0';
    ck_assert_str_eq(eval_err(deep), "the expression is nested too deeply");

    longx = malloc(MG_CALC_INPUT_MAX + 2);
    memset(longx, '1', MG_CALC_INPUT_MAX + 1);
    longx[MG_CALC_INPUT_MAX + 1] = '\0';
    ck_assert_int_eq(mg_calc_eval(longx, MG_CALC_INPUT_MAX + 1, &x, err, sizeof(err)), -1);
    ck_assert(strstr(err, "longer than") != NULL);
    free(longx);
    ck_assert_int_eq(mg_calc_eval("1\0+1", 4, &x, err, sizeof(err)), -1);
    /* only len bytes are read: no terminator needed */
    ck_assert_int_eq(mg_calc_eval("1+2garbage", 3, &x, err, sizeof(err)), 0);
    ck_assert_near(x, 3);
}
END_TEST

START_TEST(format)
{
    char buf[MG_CALC_RESULT_MAX];

    mg_calc_format(14, buf);
    ck_assert_str_eq(buf, "14");
    mg_calc_format(-3, buf);
    ck_assert_str_eq(buf, "-3");
    mg_calc_format(0.1 + 0.2, buf);
    ck_assert_str_eq(buf, "0.3");
    mg_calc_format(1e20, buf);
    ck_assert_str_eq(buf, "1e+20");
    mg_calc_format(1.0 / 3, buf);
    ck_assert_str_eq(buf, "0.333333333333333");
    ck_assert_near(eval_ok("0-0"), 0);
    mg_calc_format(eval_ok("-0"), buf);
    ck_assert_str_eq(buf, "0");
}
END_TEST

static Suite *
calculator_suite(void)
{
    Suite *s = suite_create("calculator");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, precedence_and_associativity);
    tcase_add_test(tc, functions_and_constants);
    tcase_add_test(tc, refusals_say_why);
    tcase_add_test(tc, bounded_input);
    tcase_add_test(tc, format);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(calculator_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
