/*
 * mg_pool: the broker and its thread pool.  The broker owns the frontend
 * socket the nginx module connects to; each pool thread owns a database
 * connection and runs one job at a time.
 */
#ifndef MG_POOL_H
#define MG_POOL_H

#include "stream.h"

typedef struct {
    const char  *bind;        /* frontend endpoint, e.g. tcp://127.0.0.1:5555 */
    const char  *conninfo;    /* libpq connection string */
    int          threads;     /* pool threads, >= 1 */
    int          queue;       /* jobs held while every thread is busy, >= 0 */
    long long    stop_timeout_ms;  /* after SIGTERM, running jobs and open streams
                                    * get this long (drain.h); 0: streams end at once */
    mg_streams_config_t streams;
} mg_pool_config_t;

/* Stopping, it exits once nothing runs and no job came this long (one
 * still in flight from an nginx process that had not heard STOPPING). */
#define MG_POOL_QUIET_MS 250

/* Serve until SIGTERM or SIGINT, then drain (drain.h).  Returns 0 after a
 * clean stop, 1 when jobs were still running when the drain gave up on
 * them (the caller should _exit at once: their threads still hold
 * sockets), -1 when startup failed. */
int mg_pool_run(const mg_pool_config_t *cfg);

#endif
