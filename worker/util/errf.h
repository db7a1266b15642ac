/* mg_errf: printf into a caller's error buffer, for the functions that
 * say why they failed through (char *err, size_t errlen). */
#ifndef MG_ERRF_H
#define MG_ERRF_H

#include <stddef.h>

/* Nothing happens when err is NULL or errlen 0; a long message is cut. */
void mg_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
