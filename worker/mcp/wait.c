/*
 * mg_mcp_wait: condition variables on the monotonic clock (wait.h), so a
 * change of the wall clock neither shortens nor stretches a wait.
 */
#include "mcp/wait.h"

#include <time.h>

int
mg_mcp_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t  attr;
    int                 rc;

    if (pthread_condattr_init(&attr) != 0) {
        return -1;
    }
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0
         && pthread_cond_init(cond, &attr) == 0 ? 0 : -1;
    pthread_condattr_destroy(&attr);
    return rc;
}

void
mg_mcp_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void) pthread_cond_timedwait(cond, lock, &ts);
}
