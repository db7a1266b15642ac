/*
 * mg_mcp_wait: what bounds every blocking step of an MCP exchange, a
 * deadline and a cancel flag, and the codes a transport's exchange ends
 * with.  Waits are cut into slices of at most MG_MCP_POLL_MS so the cancel
 * flag is seen promptly.
 */
#ifndef MG_MCP_WAIT_H
#define MG_MCP_WAIT_H

#include <pthread.h>
#include <stdatomic.h>

#include "util/clock.h"

#define MG_MCP_POLL_MS  100

typedef struct {
    long long          deadline;    /* mg_now_ms() */
    const atomic_int  *cancel;      /* non-zero: stop; may be NULL */
} mg_mcp_wait_t;

/* How an exchange ended; all but MG_MCP_OK come with a sentence in err. */
enum {
    MG_MCP_OK         = 0,
    MG_MCP_FAILED     = -1,     /* anything else: unreachable, HTTP error, malformed */
    MG_MCP_TIMEOUT    = -2,
    MG_MCP_CANCELLED  = -3,
    MG_MCP_EXPIRED    = -4,     /* HTTP 404 to a request with a session id */
    MG_MCP_GONE       = -5      /* stdio: the child exited or is not running */
};

/* MG_MCP_CANCELLED, MG_MCP_TIMEOUT or 0. */
static inline int
mg_mcp_wait_over(const mg_mcp_wait_t *w)
{
    if (w->cancel != NULL && atomic_load(w->cancel) != 0) {
        return MG_MCP_CANCELLED;
    }
    return mg_now_ms() >= w->deadline ? MG_MCP_TIMEOUT : 0;
}

/* The next slice to sleep or poll: 1 to MG_MCP_POLL_MS. */
static inline long
mg_mcp_wait_slice(const mg_mcp_wait_t *w)
{
    long long left = w->deadline - mg_now_ms();

    return left < 1 ? 1 : left > MG_MCP_POLL_MS ? MG_MCP_POLL_MS : (long) left;
}

/* A condition variable on CLOCK_MONOTONIC, and a wait of up to ms on it. */
int  mg_mcp_cond_init(pthread_cond_t *cond);
void mg_mcp_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, long ms);

#endif
