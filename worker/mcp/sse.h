/*
 * mg_mcp_sse: an incremental reader of a text/event-stream body (the
 * WHATWG event-stream format), for Streamable HTTP responses.  Bytes come
 * in any pieces; lines end in CRLF, LF or CR; "data" lines are joined by
 * "\n"; "event" names the type (default "message"); "id" and "retry" are
 * kept for resuming the stream (last_id, retry_ms); unknown fields and
 * comments are skipped; a blank line dispatches.  An
 * event left unfinished at the end of the stream is dropped, as the
 * format says.  Memory is bounded: one line or one event's data over max
 * bytes is an error.
 */
#ifndef MG_MCP_SSE_H
#define MG_MCP_SSE_H

#define MG_SSE_ID_MAX     256       /* longer event ids are not kept */
#define MG_SSE_RETRY_MAX  60000     /* ms; a longer retry is cut to this */

#include <stddef.h>

#include "util/sb.h"

/* One event: type and data (NUL-terminated, len bytes), both borrowed for
 * the call.  Non-zero stops the reading (mg_sse_feed returns 1). */
typedef int (*mg_sse_event_fn)(void *ud, const char *type, const char *data, size_t len);

typedef struct {
    size_t   max;
    mg_sb_t  line;          /* the line being read */
    mg_sb_t  data;          /* the event's data so far */
    int      has_data;      /* a "data" field was seen (its value may be empty) */
    char     type[64];
    int      after_cr;      /* the last byte was CR: an LF right after it is the same end */
    int      started;       /* past the optional byte order mark */
    char     last_id[MG_SSE_ID_MAX];    /* the last "id" seen, "" before any */
    long     retry_ms;      /* the last "retry" seen, -1 before any */
} mg_sse_t;

void mg_sse_init(mg_sse_t *p, size_t max);
/* 0; 1 when fn stopped it; -1 when a line or an event was over max. */
int  mg_sse_feed(mg_sse_t *p, const char *buf, size_t n, mg_sse_event_fn fn, void *ud);
void mg_sse_free(mg_sse_t *p);

#endif
