/*
 * mg_replay: an answer's recent SSE events, kept so a client that lost its
 * connection can be sent what it missed (stream.c, resumable streams).
 *
 * Each event carries an "id: N" line, N = 1, 2, ... within the answer, and
 * the buffer holds the latest events whole and in order, within max bytes:
 * when an event does not fit, the oldest half of what is held goes, so a
 * long answer costs one move now and then, not one per event.  What went
 * is answered from the answer's text instead (a snapshot).
 *
 * Owned by whoever owns the stream (the engine thread); no locking.
 */
#ifndef MG_REPLAY_H
#define MG_REPLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char      *buf;         /* whole events, back to back; NULL until the first */
    size_t     len, cap;
    uint32_t   first;       /* the id of buf's first event (last + 1 when empty) */
    uint32_t   last;        /* the last id given out; 0 before the first */
} mg_replay_t;

/* The room an id line takes at most: "id: 4294967295\n". */
#define MG_REPLAY_ID_MAX  16

/* Write the id line of the next event at out; its length. */
size_t mg_replay_id_line(const mg_replay_t *r, char *out);

/* Keep ev (an event that begins with the id line mg_replay_id_line gave,
 * ends with "\n\n" and holds no other blank line), within max bytes.
 * 0, or -1 when out of memory (the event is then not held, but its id
 * is used: a resume from before it gets a snapshot). */
int mg_replay_add(mg_replay_t *r, const char *ev, size_t len, size_t max);

/* What a client that has seen every event up to id `seen` (0: none) must
 * get: MG_REPLAY_EVENTS with *at and *len (possibly 0) the held events
 * after seen; MG_REPLAY_GONE when some of them are no longer held;
 * MG_REPLAY_AHEAD when seen is an id not given out yet. */
#define MG_REPLAY_EVENTS  0
#define MG_REPLAY_GONE    1
#define MG_REPLAY_AHEAD   2
int mg_replay_since(const mg_replay_t *r, uint32_t seen, const char **at, size_t *len);

void mg_replay_free(mg_replay_t *r);

/* A Last-Event-ID value: 0 and up, digits only, at most 10 of them, no
 * more than UINT32_MAX.  0, or -1 when it is not one. */
int mg_replay_parse_id(const char *s, size_t len, uint32_t *id);

#endif
