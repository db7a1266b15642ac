/*
 * mg_calc: the calculator tool's evaluator.  Arithmetic only: numbers,
 * + - * / % (remainder) ^ or ** (power, right-associative), parentheses,
 * unary signs, the constants pi and e, and sqrt, abs, round, floor, ceil,
 * min, max.  No variables, no assignment, nothing that runs code; input
 * and nesting are bounded.
 */
#ifndef MG_AGENTS_CALCULATOR_H
#define MG_AGENTS_CALCULATOR_H

#include <stddef.h>

#define MG_CALC_INPUT_MAX  1000     /* bytes of an expression */
#define MG_CALC_DEPTH_MAX  64       /* nested parentheses, calls and signs */
#define MG_CALC_RESULT_MAX 32       /* bytes mg_calc_format writes, NUL included */

/* Evaluate expr[0..len): 0 with *out (finite), or -1 with the reason for
 * the model and the user in err ("division by zero", "unexpected ')' at
 * character 7", ...). */
int  mg_calc_eval(const char *expr, size_t len, double *out, char *err, size_t errlen);

/* x as the tool answers it: whole numbers below 1e15 without a fraction,
 * the rest with 15 significant digits. */
void mg_calc_format(double x, char *buf);

#endif
