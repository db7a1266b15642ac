/*
 * mg_replay: owns an answer's log of recent events (replay.h).
 */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"

#define MG_DELTA_HEAD  "event: message\ndata: {\"content\":\""
#define MG_DELTA_TAIL  "\"}\n\n"

size_t
mg_replay_id_line(const mg_replay_t *r, char *out)
{
    return (size_t) snprintf(out, MG_REPLAY_ID_MAX, "id: %u\n", r->last + 1);
}

size_t
mg_replay_delta_event(char *out, const char *text, size_t len)
{
    size_t n = sizeof(MG_DELTA_HEAD) - 1;

    memcpy(out, MG_DELTA_HEAD, n);
    n += mg_json_escape(out + n, text, len);
    memcpy(out + n, MG_DELTA_TAIL, sizeof(MG_DELTA_TAIL) - 1);
    return n + sizeof(MG_DELTA_TAIL) - 1;
}

/* The log's size against max: its entries and the bytes it holds. */
static size_t
mg_replay_size(const mg_replay_t *r)
{
    return r->n * sizeof(uint32_t) + r->other_len;
}

/* Nothing held: a resume from before the next event gets a snapshot. */
static void
mg_replay_clear(mg_replay_t *r)
{
    r->n = 0;
    r->other_len = 0;
    r->text_base = r->text_end;
    r->first = r->last + 1;
}

/* Drop the oldest events until `need` more bytes fit in max. */
static void
mg_replay_drop(mg_replay_t *r, size_t need, size_t max)
{
    size_t k = 0, other_drop = 0;

    while (k < r->n && mg_replay_size(r) - k * sizeof(uint32_t) - other_drop + need > max) {
        if (r->ends[k] & MG_REPLAY_DELTA) {
            r->text_base = r->ends[k] & ~MG_REPLAY_DELTA;
        } else {
            other_drop = r->ends[k];
        }
        k++;
    }
    if (k == 0) {
        return;
    }
    memmove(r->ends, r->ends + k, (r->n - k) * sizeof(uint32_t));
    r->n -= k;
    r->first += (uint32_t) k;
    if (other_drop > 0) {
        memmove(r->other, r->other + other_drop, r->other_len - other_drop);
        r->other_len -= other_drop;
        for (size_t i = 0; i < r->n; i++) {
            if (!(r->ends[i] & MG_REPLAY_DELTA)) {
                r->ends[i] -= (uint32_t) other_drop;
            }
        }
    }
}

/* Room for one more entry and len more bytes; -1 when out of memory. */
static int
mg_replay_room(mg_replay_t *r, size_t len, size_t max)
{
    if (mg_replay_size(r) + sizeof(uint32_t) + len > max) {
        /* half of max free, so the next drop is many events away */
        size_t need = sizeof(uint32_t) + len;

        mg_replay_drop(r, need > max / 2 ? need : max / 2, max);
    }
    if (r->n == r->cap) {
        size_t     cap = r->cap ? r->cap * 2 : 16;
        uint32_t  *e = realloc(r->ends, cap * sizeof(uint32_t));

        if (e == NULL) {
            return -1;
        }
        r->ends = e;
        r->cap = cap;
    }
    if (r->other_len + len > r->other_cap) {
        size_t  cap = r->other_cap ? r->other_cap : 256;
        char   *b;

        while (cap < r->other_len + len) {
            cap *= 2;
        }
        b = realloc(r->other, cap);
        if (b == NULL) {
            return -1;
        }
        r->other = b;
        r->other_cap = cap;
    }
    return 0;
}

int
mg_replay_add_delta(mg_replay_t *r, size_t text_end, size_t max)
{
    r->last++;
    if (text_end >= MG_REPLAY_DELTA || mg_replay_room(r, 0, max) != 0) {
        /* an answer of 2 GiB is past holding; memory is out */
        r->text_end = text_end;
        mg_replay_clear(r);
        return text_end >= MG_REPLAY_DELTA ? 0 : -1;
    }
    if (r->n == 0) {
        r->first = r->last;
        r->text_base = r->text_end;
    }
    r->ends[r->n++] = MG_REPLAY_DELTA | (uint32_t) text_end;
    r->text_end = text_end;
    return 0;
}

int
mg_replay_add_event(mg_replay_t *r, const char *ev, size_t len, size_t max)
{
    r->last++;
    if (sizeof(uint32_t) + len > max) {
        /* bigger than the whole log: nothing before it is of use, and it
         * cannot be held itself */
        mg_replay_clear(r);
        return 0;
    }
    if (mg_replay_room(r, len, max) != 0) {
        mg_replay_clear(r);
        return -1;
    }
    if (r->n == 0) {
        r->first = r->last;
        r->text_base = r->text_end;
    }
    memcpy(r->other + r->other_len, ev, len);
    r->other_len += len;
    r->ends[r->n++] = (uint32_t) r->other_len;
    return 0;
}

void
mg_replay_skip(mg_replay_t *r)
{
    r->last++;
    mg_replay_clear(r);
}

int
mg_replay_since(const mg_replay_t *r, uint32_t seen, const char *text, mg_sb_t *out)
{
    size_t  text_at = r->text_base, other_at = 0;
    char    idl[MG_REPLAY_ID_MAX];

    if (seen > r->last) {
        return MG_REPLAY_AHEAD;
    }
    if (seen == r->last) {
        return MG_REPLAY_EVENTS;
    }
    if (r->n == 0 || seen + 1 < r->first) {
        return MG_REPLAY_GONE;
    }
    for (size_t i = 0; i < r->n; i++) {
        uint32_t  id = r->first + (uint32_t) i;
        uint32_t  end = r->ends[i] & ~MG_REPLAY_DELTA;
        int       delta = (r->ends[i] & MG_REPLAY_DELTA) != 0;

        if (id > seen) {
            mg_sb_add(out, idl, (size_t) snprintf(idl, sizeof(idl), "id: %u\n", id));
            if (delta) {
                char *at = mg_sb_reserve(out, MG_REPLAY_DELTA_MAX(end - text_at));

                if (at == NULL) {
                    out->oom = 1;
                } else {
                    /* reserve left a NUL after the room: trim to what was written */
                    out->len -= MG_REPLAY_DELTA_MAX(end - text_at);
                    out->len += mg_replay_delta_event(at, text + text_at, end - text_at);
                    out->p[out->len] = '\0';
                }
            } else {
                mg_sb_add(out, r->other + other_at, end - other_at);
            }
        }
        if (delta) {
            text_at = end;
        } else {
            other_at = end;
        }
    }
    return MG_REPLAY_EVENTS;
}

void
mg_replay_free(mg_replay_t *r)
{
    free(r->ends);
    free(r->other);
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
