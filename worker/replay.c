/*
 * mg_replay: owns an answer's buffer of recent events (replay.h).
 */
#define _GNU_SOURCE                 /* memmem */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
mg_replay_id_line(const mg_replay_t *r, char *out)
{
    return (size_t) snprintf(out, MG_REPLAY_ID_MAX, "id: %u\n", r->last + 1);
}

/* The length of the event at p (through its "\n\n"), or 0 if none ends. */
static size_t
mg_replay_event_len(const char *p, size_t avail)
{
    const char *end = memmem(p, avail, "\n\n", 2);

    return end != NULL ? (size_t) (end - p) + 2 : 0;
}

/* Drop the oldest events until at least `need` bytes of max are free. */
static void
mg_replay_drop(mg_replay_t *r, size_t need, size_t max)
{
    size_t off = 0;

    while (off < r->len && r->len - off + need > max) {
        size_t n = mg_replay_event_len(r->buf + off, r->len - off);

        if (n == 0) {
            off = r->len;               /* not ours to parse: drop it all */
            break;
        }
        off += n;
        r->first++;
    }
    if (off >= r->len) {
        r->len = 0;
        r->first = r->last + 1;
        return;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
}

int
mg_replay_add(mg_replay_t *r, const char *ev, size_t len, size_t max)
{
    r->last++;
    if (r->len == 0) {
        r->first = r->last;
    }
    if (len > max) {
        /* an event bigger than the whole buffer: nothing before it is of
         * use any more, and it cannot be held itself */
        r->len = 0;
        r->first = r->last + 1;
        return 0;
    }
    if (r->len + len > max) {
        /* half of max free, so the next drop is many events away */
        mg_replay_drop(r, len > max / 2 ? len : max / 2, max);
        if (r->len == 0) {
            r->first = r->last;
        }
    }
    if (r->len + len > r->cap) {
        size_t  cap = r->cap ? r->cap : 512;
        char   *b;

        while (cap < r->len + len) {
            cap *= 2;
        }
        if (cap > max) {
            cap = max;
        }
        b = realloc(r->buf, cap);
        if (b == NULL) {
            r->len = 0;
            r->first = r->last + 1;
            return -1;
        }
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, ev, len);
    r->len += len;
    return 0;
}

int
mg_replay_since(const mg_replay_t *r, uint32_t seen, const char **at, size_t *len)
{
    size_t off = 0;

    if (seen > r->last) {
        return MG_REPLAY_AHEAD;
    }
    *at = r->buf;
    *len = 0;
    if (seen == r->last) {
        return MG_REPLAY_EVENTS;
    }
    if (r->len == 0 || seen + 1 < r->first) {
        return MG_REPLAY_GONE;
    }
    for (uint32_t id = r->first; id <= seen; id++) {
        size_t n = mg_replay_event_len(r->buf + off, r->len - off);

        if (n == 0) {
            return MG_REPLAY_GONE;
        }
        off += n;
    }
    *at = r->buf + off;
    *len = r->len - off;
    return MG_REPLAY_EVENTS;
}

void
mg_replay_free(mg_replay_t *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

int
mg_replay_parse_id(const char *s, size_t len, uint32_t *id)
{
    unsigned long long v = 0;

    if (len == 0 || len > 10) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned) (s[i] - '0');
    }
    if (v > UINT32_MAX) {
        return -1;
    }
    *id = (uint32_t) v;
    return 0;
}
