/*
 * mg_calc: owns the calculator's evaluator (calculator.h), a recursive
 * descent parser that evaluates as it parses:
 *
 *   sum     := product (("+" | "-") product)*
 *   product := unary (("*" | "/" | "%") unary)*
 *   unary   := ("+" | "-") unary | power
 *   power   := primary (("^" | "**") unary)?
 *   primary := number | "(" sum ")" | name | name "(" sum ("," sum)* ")"
 *
 * Every error stops the parse at once and names the place it happened.
 */
#include "agents/calculator.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char  *s;
    size_t       len, pos;
    int          depth;
    int          failed;
    char        *err;
    size_t       errlen;
} mg_calc_t;

static void
mg_calc_fail(mg_calc_t *c, const char *fmt, ...)
{
    va_list ap;

    if (c->failed) {
        return;
    }
    c->failed = 1;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static void
mg_calc_space(mg_calc_t *c)
{
    while (c->pos < c->len && isspace((unsigned char) c->s[c->pos])) {
        c->pos++;
    }
}

/* Is the next token tok (skipping spaces)?  Consumes it when it is. */
static int
mg_calc_take(mg_calc_t *c, const char *tok)
{
    size_t n = strlen(tok);

    mg_calc_space(c);
    if (c->pos + n <= c->len && memcmp(c->s + c->pos, tok, n) == 0) {
        c->pos += n;
        return 1;
    }
    return 0;
}

static void
mg_calc_unexpected(mg_calc_t *c)
{
    mg_calc_space(c);
    if (c->pos >= c->len) {
        mg_calc_fail(c, "the expression ends too soon");
    } else {
        mg_calc_fail(c, "unexpected '%c' at character %zu", c->s[c->pos], c->pos + 1);
    }
}

static double mg_calc_sum(mg_calc_t *c);
static double mg_calc_unary(mg_calc_t *c);

static int
mg_calc_enter(mg_calc_t *c)
{
    if (++c->depth > MG_CALC_DEPTH_MAX) {
        mg_calc_fail(c, "the expression is nested too deeply");
        return -1;
    }
    return 0;
}

static double
mg_calc_number(mg_calc_t *c)
{
    char    buf[64];
    size_t  start = c->pos, n;
    char   *end;
    double  x;

    while (c->pos < c->len && (isdigit((unsigned char) c->s[c->pos]) || c->s[c->pos] == '.')) {
        c->pos++;
    }
    /* an exponent: e or E, a sign, digits */
    if (c->pos < c->len && (c->s[c->pos] == 'e' || c->s[c->pos] == 'E')) {
        size_t e = c->pos + 1;

        if (e < c->len && (c->s[e] == '+' || c->s[e] == '-')) {
            e++;
        }
        if (e < c->len && isdigit((unsigned char) c->s[e])) {
            c->pos = e;
            while (c->pos < c->len && isdigit((unsigned char) c->s[c->pos])) {
                c->pos++;
            }
        }
    }
    n = c->pos - start;
    if (n >= sizeof(buf)) {
        mg_calc_fail(c, "the number at character %zu is too long", start + 1);
        return 0;
    }
    memcpy(buf, c->s + start, n);
    buf[n] = '\0';
    x = strtod(buf, &end);
    if (end != buf + n || n == 0) {
        mg_calc_fail(c, "'%s' at character %zu is not a number", buf, start + 1);
        return 0;
    }
    return x;
}

typedef enum { MG_F_SQRT, MG_F_ABS, MG_F_ROUND, MG_F_FLOOR, MG_F_CEIL, MG_F_MIN, MG_F_MAX } mg_calc_fn_t;

static const struct {
    const char    *name;
    mg_calc_fn_t   fn;
} mg_calc_fns[] = {
    { "sqrt", MG_F_SQRT }, { "abs", MG_F_ABS }, { "round", MG_F_ROUND }, { "floor", MG_F_FLOOR },
    { "ceil", MG_F_CEIL }, { "min", MG_F_MIN }, { "max", MG_F_MAX },
};

static double
mg_calc_call(mg_calc_t *c, mg_calc_fn_t fn, const char *name, size_t at)
{
    double  x, acc = 0;
    int     n = 0;

    do {
        x = mg_calc_sum(c);
        if (c->failed) {
            return 0;
        }
        acc = n == 0 ? x : fn == MG_F_MIN ? fmin(acc, x) : fn == MG_F_MAX ? fmax(acc, x) : acc;
        n++;
    } while (mg_calc_take(c, ","));
    if (!mg_calc_take(c, ")")) {
        mg_calc_unexpected(c);
        return 0;
    }
    if (n > 1 && fn != MG_F_MIN && fn != MG_F_MAX) {
        mg_calc_fail(c, "%s at character %zu takes one argument", name, at + 1);
        return 0;
    }
    switch (fn) {
    case MG_F_SQRT:
        if (acc < 0) {
            mg_calc_fail(c, "the square root of a negative number");
            return 0;
        }
        return sqrt(acc);
    case MG_F_ABS:
        return fabs(acc);
    case MG_F_ROUND:
        return round(acc);
    case MG_F_FLOOR:
        return floor(acc);
    case MG_F_CEIL:
        return ceil(acc);
    default:
        return acc;
    }
}

static double
mg_calc_name(mg_calc_t *c)
{
    size_t  start = c->pos, n;
    char    name[16];

    while (c->pos < c->len && isalpha((unsigned char) c->s[c->pos])) {
        c->pos++;
    }
    n = c->pos - start;
    snprintf(name, sizeof(name), "%.*s", (int) (n < 15 ? n : 15), c->s + start);
    if (n == 2 && memcmp(name, "pi", 2) == 0) {
        return M_PI;
    }
    if (n == 1 && name[0] == 'e') {
        return M_E;
    }
    for (size_t i = 0; i < sizeof(mg_calc_fns) / sizeof(mg_calc_fns[0]); i++) {
        if (strlen(mg_calc_fns[i].name) == n && memcmp(mg_calc_fns[i].name, c->s + start, n) == 0) {
            if (!mg_calc_take(c, "(")) {
                mg_calc_fail(c, "%s at character %zu needs its argument in parentheses",
                             mg_calc_fns[i].name, start + 1);
                return 0;
            }
            return mg_calc_call(c, mg_calc_fns[i].fn, mg_calc_fns[i].name, start);
        }
    }
    mg_calc_fail(c, "unknown name '%s%s' at character %zu (known: pi, e, sqrt, abs, round, "
                 "floor, ceil, min, max)", name, n > 15 ? "..." : "", start + 1);
    return 0;
}

static double
mg_calc_primary(mg_calc_t *c)
{
    double  x;

    mg_calc_space(c);
    if (c->pos >= c->len) {
        mg_calc_unexpected(c);
        return 0;
    }
    if (isdigit((unsigned char) c->s[c->pos]) || c->s[c->pos] == '.') {
        return mg_calc_number(c);
    }
    if (isalpha((unsigned char) c->s[c->pos])) {
        if (mg_calc_enter(c) != 0) {
            return 0;
        }
        x = mg_calc_name(c);
        c->depth--;
        return x;
    }
    if (mg_calc_take(c, "(")) {
        if (mg_calc_enter(c) != 0) {
            return 0;
        }
        x = mg_calc_sum(c);
        c->depth--;
        if (!c->failed && !mg_calc_take(c, ")")) {
            mg_calc_unexpected(c);
        }
        return x;
    }
    mg_calc_unexpected(c);
    return 0;
}

static double
mg_calc_power(mg_calc_t *c)
{
    double  base = mg_calc_primary(c), ex;

    if (c->failed) {
        return 0;
    }
    if (mg_calc_take(c, "**") || mg_calc_take(c, "^")) {
        ex = mg_calc_unary(c);          /* right-associative: 2^3^2 is 2^9 */
        if (c->failed) {
            return 0;
        }
        if (base == 0 && ex < 0) {
            mg_calc_fail(c, "division by zero");
            return 0;
        }
        if (base < 0 && ex != floor(ex)) {
            mg_calc_fail(c, "a negative number to a fractional power");
            return 0;
        }
        return pow(base, ex);
    }
    return base;
}

static double
mg_calc_unary(mg_calc_t *c)
{
    double  x;

    if (mg_calc_take(c, "-") || mg_calc_take(c, "+")) {
        int neg = c->s[c->pos - 1] == '-';

        if (mg_calc_enter(c) != 0) {
            return 0;
        }
        x = mg_calc_unary(c);
        c->depth--;
        return neg ? -x : x;
    }
    return mg_calc_power(c);
}

static double
mg_calc_product(mg_calc_t *c)
{
    double  x = mg_calc_unary(c), y;

    while (!c->failed) {
        mg_calc_space(c);
        /* "**" is a power, not two products */
        if (c->pos + 1 < c->len && c->s[c->pos] == '*' && c->s[c->pos + 1] == '*') {
            break;
        }
        if (mg_calc_take(c, "*")) {
            y = mg_calc_unary(c);
            x *= y;
        } else if (mg_calc_take(c, "/")) {
            y = mg_calc_unary(c);
            if (!c->failed && y == 0) {
                mg_calc_fail(c, "division by zero");
            }
            x /= y;
        } else if (mg_calc_take(c, "%")) {
            y = mg_calc_unary(c);
            if (!c->failed && y == 0) {
                mg_calc_fail(c, "division by zero");
            }
            x = fmod(x, y);
        } else {
            break;
        }
    }
    return x;
}

static double
mg_calc_sum(mg_calc_t *c)
{
    double  x = mg_calc_product(c);

    while (!c->failed) {
        if (mg_calc_take(c, "+")) {
            x += mg_calc_product(c);
        } else if (mg_calc_take(c, "-")) {
            x -= mg_calc_product(c);
        } else {
            break;
        }
    }
    return x;
}

int
mg_calc_eval(const char *expr, size_t len, double *out, char *err, size_t errlen)
{
    mg_calc_t  c = { expr, len, 0, 0, 0, err, errlen };
    double     x;

    if (len > MG_CALC_INPUT_MAX) {
        snprintf(err, errlen, "the expression is longer than %d characters", MG_CALC_INPUT_MAX);
        return -1;
    }
    if (memchr(expr, '\0', len) != NULL) {
        snprintf(err, errlen, "the expression holds a NUL character");
        return -1;
    }
    mg_calc_space(&c);
    if (c.pos == c.len) {
        snprintf(err, errlen, "the expression is empty");
        return -1;
    }
    x = mg_calc_sum(&c);
    mg_calc_space(&c);
    if (!c.failed && c.pos < c.len) {
        mg_calc_unexpected(&c);
    }
    if (!c.failed && !isfinite(x)) {
        mg_calc_fail(&c, "the result is too large to represent");
    }
    if (c.failed) {
        return -1;
    }
    *out = x == 0 ? 0 : x;              /* no "-0" */
    return 0;
}

void
mg_calc_format(double x, char *buf)
{
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, MG_CALC_RESULT_MAX, "%.0f", x);
    } else {
        snprintf(buf, MG_CALC_RESULT_MAX, "%.15g", x);
    }
}
