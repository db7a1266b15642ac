/*
 * mg_drain: the worker's stop sequence after SIGTERM or SIGINT, as the
 * broker (pool.c) follows it.  Bookkeeping on signals, times and a
 * setting only, no I/O, so that it is unit-tested on its own.
 *
 *   SERVING    until the first signal.
 *   DRAINING   no new jobs (the broker answers them worker_stopping, for
 *              nginx to give to another worker); running jobs and open
 *              streams go on, normally, until the stop timeout
 *              (MANGOO_STOP_TIMEOUT).  The broker leaves this phase early,
 *              and exits, once nothing runs.
 *   ENDING     the stop timeout passed, a second signal came, or the
 *              timeout is 0: every open stream ends now (error
 *              "unavailable") and its partial answer is stored; what still
 *              runs MG_DRAIN_END_MS later is abandoned, at once on a third
 *              signal.
 *
 * mg_drain_step turns the signals seen and the time into what the broker
 * must do now.
 */
#ifndef MG_DRAIN_H
#define MG_DRAIN_H

#include <stddef.h>

#define MG_STOP_TIMEOUT_DEFAULT "25"    /* seconds: under ECS's default 30 s */
#define MG_STOP_TIMEOUT_MAX     3600
/* After the streams were ended: time to store their answers (a database
 * blip included, jobs/chat.c rides out about 3 s) before the process
 * leaves what still runs. */
#define MG_DRAIN_END_MS         3000

typedef enum {
    MG_DRAIN_SERVING = 0,
    MG_DRAIN_DRAINING,
    MG_DRAIN_ENDING
} mg_drain_phase_t;

/* What mg_drain_step asks of the broker (bits). */
enum {
    MG_DRAIN_BEGIN       = 1,   /* stop taking jobs, tell nginx */
    MG_DRAIN_END_STREAMS = 2,   /* end every open stream now */
    MG_DRAIN_ABANDON     = 4    /* leave what still runs and exit */
};

typedef struct {
    long long          timeout_ms;
    mg_drain_phase_t   phase;
    int                signals;         /* seen so far */
    long long          begin_ms;        /* the first signal */
    long long          deadline_ms;     /* DRAINING: streams end then */
    long long          abandon_ms;      /* ENDING: what still runs is left then */
    const char        *cause;           /* ENDING: why ("stop timeout", ...) */
} mg_drain_t;

/* MANGOO_STOP_TIMEOUT's value: whole seconds, 0 to MG_STOP_TIMEOUT_MAX,
 * into *ms.  0, or -1 with the reason in err. */
int  mg_drain_parse_timeout(const char *s, long long *ms, char *err, size_t cap);

void mg_drain_init(mg_drain_t *d, long long timeout_ms);

/* signals: how many SIGTERM/SIGINT came in all; now: mg_now_ms().
 * Returns MG_DRAIN_* bits, 0 when there is nothing new to do. */
int  mg_drain_step(mg_drain_t *d, int signals, long long now);

/* Milliseconds until mg_drain_step has something due (a deadline), at
 * most cap; cap while serving. */
long mg_drain_wait_ms(const mg_drain_t *d, long long now, long cap);

#endif
