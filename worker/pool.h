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
    mg_streams_config_t streams;
} mg_pool_config_t;

#define MG_POOL_DRAIN_MS 5000  /* running jobs get this long after SIGTERM */
#define MG_POOL_QUIET_MS 250   /* ... and it exits once no job came this long */

/* Serve until SIGTERM or SIGINT.  Returns 0 after a clean stop, 1 when
 * jobs were still running at the drain deadline (the caller should _exit
 * at once: their threads still hold sockets), -1 when startup failed. */
int mg_pool_run(const mg_pool_config_t *cfg);

#endif
