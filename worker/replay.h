/*
 * mg_replay: an answer's recent SSE events, kept so a client that lost its
 * connection can be sent what it missed (stream.c, resumable streams).
 *
 * Each event carries an "id: N" line, N = 1, 2, ... within the answer.
 * The log holds the latest events in order, compactly: a `message` delta
 * is only where its text ends in the answer, which the stream holds whole
 * anyway (its event is written again from that text, byte for byte as it
 * was sent: mg_replay_delta_event is the one writer of both), and any
 * other event is its bytes.  Entries (4 bytes each) and those bytes stay
 * within max; when the next does not fit, the oldest half goes, so a long
 * answer costs one move now and then, not one per event.  What went is
 * answered with a snapshot of the answer instead.
 *
 * Owned by whoever owns the stream (the engine thread); no locking.
 */
#ifndef MG_REPLAY_H
#define MG_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "util/sb.h"

typedef struct {
    uint32_t  *ends;        /* per event held: MG_REPLAY_DELTA | its text's end,
                             * or the end of its bytes in `other` */
    size_t     n, cap;
    char      *other;       /* the held events that are not deltas, back to back */
    size_t     other_len, other_cap;
    size_t     text_base;   /* where the first delta held begins in the text */
    size_t     text_end;    /* where the last delta logged ends */
    uint32_t   first;       /* the id of the first event held (last + 1: none) */
    uint32_t   last;        /* the last id given out; 0 before the first */
} mg_replay_t;

#define MG_REPLAY_DELTA   0x80000000u

/* The room an id line takes at most: "id: 4294967295\n". */
#define MG_REPLAY_ID_MAX  16

/* The id line of the next event at out; its length. */
size_t mg_replay_id_line(const mg_replay_t *r, char *out);

/* A delta's event, "event: message\ndata: {"content":"..."}\n\n", at out
 * (MG_REPLAY_DELTA_MAX(len) bytes); its length. */
#define MG_REPLAY_DELTA_MAX(len)  (sizeof("event: message\ndata: {\"content\":\"\"}\n\n") \
                                   + (len) * 6)
size_t mg_replay_delta_event(char *out, const char *text, size_t len);

/* Log the next event, within max bytes: a delta whose text ends at
 * text_end (it begins where the last one ended), or another event's bytes
 * (without the id line).  0, or -1 when out of memory (the event is then
 * not held, but its id is used: a resume from before it gets a snapshot). */
int mg_replay_add_delta(mg_replay_t *r, size_t text_end, size_t max);
int mg_replay_add_event(mg_replay_t *r, const char *ev, size_t len, size_t max);
/* The next event gets its id but is not held (a stream nobody resumes). */
void mg_replay_skip(mg_replay_t *r);

/* What a client that has seen every event up to id `seen` (0: none) must
 * get.  MG_REPLAY_EVENTS: the held events after seen, written with their
 * id lines onto out (text: the answer so far); MG_REPLAY_GONE: some of them
 * are no longer held; MG_REPLAY_AHEAD: seen is an id not given out yet.
 * out's oom flag says whether the writing failed. */
#define MG_REPLAY_EVENTS  0
#define MG_REPLAY_GONE    1
#define MG_REPLAY_AHEAD   2
int mg_replay_since(const mg_replay_t *r, uint32_t seen, const char *text, mg_sb_t *out);

void mg_replay_free(mg_replay_t *r);

/* A Last-Event-ID value: 0 and up, digits only, at most 10 of them, no
 * more than UINT32_MAX.  0, or -1 when it is not one. */
int mg_replay_parse_id(const char *s, size_t len, uint32_t *id);

#endif
