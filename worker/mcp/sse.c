/*
 * mg_mcp_sse: the event-stream reader (sse.h).  Runs of bytes go into the
 * line buffer; a line is interpreted when its end is seen.
 */
#include "mcp/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mg_sse_init(mg_sse_t *p, size_t max)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
    p->retry_ms = -1;
}

void
mg_sse_free(mg_sse_t *p)
{
    free(mg_sb_done(&p->line));
    free(mg_sb_done(&p->data));
}

static void
mg_sse_clear(mg_sb_t *b)
{
    b->len = 0;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

/* The blank line: hand over the event, if it has data. */
static int
mg_sse_dispatch(mg_sse_t *p, mg_sse_event_fn fn, void *ud)
{
    int stop = 0;

    if (p->has_data) {
        if (p->data.len > 0) {
            p->data.len--;                      /* the "\n" after the last data line */
            p->data.p[p->data.len] = '\0';
        }
        stop = fn(ud, p->type[0] ? p->type : "message", p->data.p != NULL ? p->data.p : "",
                  p->data.len);
    }
    mg_sse_clear(&p->data);
    p->has_data = 0;
    p->type[0] = '\0';
    return stop ? 1 : 0;
}

/* One complete line (without its end). */
static int
mg_sse_line(mg_sse_t *p, const char *line, size_t len, mg_sse_event_fn fn, void *ud)
{
    const char  *colon, *value;
    size_t       name_len, value_len;

    if (len == 0) {
        return mg_sse_dispatch(p, fn, ud);
    }
    if (line[0] == ':') {
        return 0;                               /* a comment, often a keepalive */
    }
    colon = memchr(line, ':', len);
    if (colon == NULL) {
        name_len = len;
        value = line + len;
        value_len = 0;
    } else {
        name_len = (size_t) (colon - line);
        value = colon + 1;
        value_len = len - name_len - 1;
        if (value_len > 0 && value[0] == ' ') {
            value++;
            value_len--;
        }
    }
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if (p->data.len + value_len + 1 > p->max) {
            return -1;
        }
        mg_sb_add(&p->data, value, value_len);
        mg_sb_add(&p->data, "\n", 1);
        if (p->data.oom) {
            return -1;
        }
        p->has_data = 1;
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        snprintf(p->type, sizeof(p->type), "%.*s", (int) value_len, value);
    } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        /* an id with a NUL is ignored, as the format says; one too long to
         * send back is forgotten, so a resumption never names a wrong event */
        if (memchr(value, '\0', value_len) == NULL) {
            if (value_len < sizeof(p->last_id)) {
                memcpy(p->last_id, value, value_len);
                p->last_id[value_len] = '\0';
            } else {
                p->last_id[0] = '\0';
            }
        }
    } else if (name_len == 5 && memcmp(line, "retry", 5) == 0 && value_len > 0) {
        long ms = 0;

        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9') {
                return 0;                       /* not all digits: ignored */
            }
            if (ms < MG_SSE_RETRY_MAX) {
                ms = ms * 10 + (value[i] - '0');
            }
        }
        p->retry_ms = ms < MG_SSE_RETRY_MAX ? ms : MG_SSE_RETRY_MAX;
    }
    return 0;
}

int
mg_sse_feed(mg_sse_t *p, const char *buf, size_t n, mg_sse_event_fn fn, void *ud)
{
    size_t i = 0;

    if (!p->started && n > 0) {
        /* a byte order mark may only open the stream: wait for its 3 bytes */
        static const char   bom[] = "\xEF\xBB\xBF";
        size_t              have = p->line.len;

        while (have < 3 && i < n && buf[i] == bom[have]) {
            mg_sb_add(&p->line, &buf[i], 1);
            have++;
            i++;
        }
        if (have == 3) {
            mg_sse_clear(&p->line);
        } else if (i == n && have > 0) {
            return p->line.oom ? -1 : 0;        /* maybe more of it next time */
        }
        p->started = 1;
    }

    while (i < n) {
        char    c = buf[i];
        size_t  j;
        int     rc;

        if (c == '\n' && p->after_cr) {
            p->after_cr = 0;
            i++;
            continue;
        }
        if (c == '\n' || c == '\r') {
            p->after_cr = (c == '\r');
            i++;
            rc = mg_sse_line(p, p->line.p != NULL ? p->line.p : "", p->line.len, fn, ud);
            mg_sse_clear(&p->line);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        p->after_cr = 0;
        for (j = i; j < n && buf[j] != '\n' && buf[j] != '\r'; j++) {
        }
        if (p->line.len + (j - i) > p->max) {
            return -1;
        }
        mg_sb_add(&p->line, buf + i, j - i);
        if (p->line.oom) {
            return -1;
        }
        i = j;
    }
    return 0;
}
