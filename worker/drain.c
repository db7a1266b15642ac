/*
 * mg_drain: owns the stop sequence's phases and deadlines (drain.h); the
 * broker does what it says.
 */
#include "drain.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int
mg_drain_parse_timeout(const char *s, long long *ms, char *err, size_t cap)
{
    char       *end = NULL;
    long long   v = -1;

    errno = 0;
    /* digits only: no sign, no space, no unit */
    if (s != NULL && isdigit((unsigned char) s[0])) {
        v = strtoll(s, &end, 10);
    }
    if (v < 0 || *end != '\0' || errno != 0 || v > MG_STOP_TIMEOUT_MAX) {
        snprintf(err, cap, "MANGOO_STOP_TIMEOUT must be an integer between 0 and %d "
                 "(seconds), not \"%s\"", MG_STOP_TIMEOUT_MAX, s != NULL ? s : "");
        return -1;
    }
    *ms = v * 1000;
    return 0;
}

void
mg_drain_init(mg_drain_t *d, long long timeout_ms)
{
    d->timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
    d->phase = MG_DRAIN_SERVING;
    d->signals = 0;
    d->begin_ms = d->deadline_ms = d->abandon_ms = 0;
    d->cause = NULL;
}

static int
mg_drain_end(mg_drain_t *d, long long now, const char *cause)
{
    d->phase = MG_DRAIN_ENDING;
    d->abandon_ms = now + MG_DRAIN_END_MS;
    d->cause = cause;
    return MG_DRAIN_END_STREAMS;
}

int
mg_drain_step(mg_drain_t *d, int signals, long long now)
{
    int acts = 0, fresh = signals > d->signals ? signals - d->signals : 0;

    d->signals += fresh;
    if (fresh > 0 && d->phase == MG_DRAIN_SERVING) {
        fresh--;
        d->phase = MG_DRAIN_DRAINING;
        d->begin_ms = now;
        d->deadline_ms = now + d->timeout_ms;
        acts |= MG_DRAIN_BEGIN;
        if (d->timeout_ms == 0) {
            acts |= mg_drain_end(d, now, "no stop timeout");
        }
    }
    /* an operator who asks again wants it over now */
    if (fresh > 0 && d->phase == MG_DRAIN_DRAINING) {
        fresh--;
        acts |= mg_drain_end(d, now, "second signal");
    }
    if (fresh > 0 && d->phase == MG_DRAIN_ENDING) {
        return acts | MG_DRAIN_ABANDON;
    }
    if (d->phase == MG_DRAIN_DRAINING && now >= d->deadline_ms) {
        acts |= mg_drain_end(d, now, "stop timeout");
    }
    if (d->phase == MG_DRAIN_ENDING && now >= d->abandon_ms) {
        acts |= MG_DRAIN_ABANDON;
    }
    return acts;
}

long
mg_drain_wait_ms(const mg_drain_t *d, long long now, long cap)
{
    long long due;

    if (d->phase == MG_DRAIN_SERVING) {
        return cap;
    }
    due = (d->phase == MG_DRAIN_DRAINING ? d->deadline_ms : d->abandon_ms) - now;
    if (due < 0) {
        return 0;
    }
    return due < cap ? (long) due : cap;
}
