/* job_capture: a mg_job_send_fn for unit tests that keeps a copy of the
 * last reply a handler sent (the job frees its buffers right after). */
#ifndef MG_TEST_JOB_CAPTURE_H
#define MG_TEST_JOB_CAPTURE_H

#include <stdio.h>

#include "mg_protocol.h"

typedef struct {
    int       n;            /* replies sent */
    mg_msg_t  msg;          /* the last one; its pointers are stale */
    char      body[1024], headers[256], code[64], message[256];
} capture_t;

static inline void
capture_copy(char *dst, size_t cap, mg_str_t s)
{
    snprintf(dst, cap, "%.*s", (int) s.len, s.data ? s.data : "");
}

static inline int
capture_send(void *ctx, const mg_msg_t *msg)
{
    capture_t *c = ctx;

    c->n++;
    c->msg = *msg;
    capture_copy(c->body, sizeof(c->body), msg->body);
    capture_copy(c->headers, sizeof(c->headers), msg->headers);
    capture_copy(c->code, sizeof(c->code), msg->code);
    capture_copy(c->message, sizeof(c->message), msg->message);
    return 0;
}

#endif
