/* mg_clock: monotonic milliseconds, for deadlines and back-off. */
#ifndef MG_CLOCK_H
#define MG_CLOCK_H

#include <time.h>

static inline long long
mg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
