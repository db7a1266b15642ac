
/*
 * ngx_http_mangoo_sse: the writing side of a streamed reply (a worker's
 * HEAD, DATA..., then END or ERR), text/event-stream above all.
 *
 * Invariants:
 *   - A stream's bytes live in NGX_HTTP_MANGOO_SSE_BUF-byte buffers taken
 *     from r->pool once and recycled through tagged free/busy chains: its
 *     memory follows the most it ever had unsent, never how many events
 *     it carried.
 *   - DATA is appended to "out" and written by a posted event, so the
 *     frames one read burst of the dispatcher brings for a stream leave in
 *     one write at the end of the burst, or as soon as a buffer's worth
 *     waits.
 *   - "unsent" counts the stream's bytes not yet taken by the socket
 *     (out + busy).  When the socket is full ("blocked") new data waits in
 *     out and a write event handler sends it, with send_timeout and
 *     send_lowat as nginx's own writer has them; unsent over
 *     mangoo_sse_max_buffered means the client cannot keep up: its job is
 *     cancelled and the connection closed.
 *   - A text/event-stream gets a ": keepalive" comment after
 *     mangoo_sse_keepalive without a write, and a fault after HEAD ends it
 *     with an "error" event, so the client never sees a silent hang or a
 *     stream cut short without a word.  Other streamed types just end.
 *   - The worker's DATA frames carry whole events; the module never
 *     parses or splits them.
 */


#include "ngx_http_mangoo_module.h"
#include "mg_json.h"


/* a few events' worth: an idle stream keeps one of these */
#define NGX_HTTP_MANGOO_SSE_BUF  1024


struct ngx_http_mangoo_sse_s {
    ngx_chain_t                 *out;       /* appended, not yet passed on */
    ngx_chain_t                 *last;      /* out's last link */
    ngx_chain_t                 *busy;      /* passed on, not yet sent */
    ngx_chain_t                 *free;
    size_t                       unsent;
    ngx_msec_t                   last_write;
    ngx_event_t                  flush;     /* posted after an append */
    ngx_event_t                  keepalive;

    unsigned                     event_stream:1;
    unsigned                     blocked:1;
};


static ngx_int_t ngx_http_mangoo_sse_append(ngx_http_request_t *r,
    ngx_http_mangoo_sse_t *sse, const u_char *data, size_t len);
static ngx_int_t ngx_http_mangoo_sse_output(ngx_http_request_t *r,
    ngx_http_mangoo_sse_t *sse);
static ngx_int_t ngx_http_mangoo_sse_wait(ngx_http_request_t *r,
    ngx_http_mangoo_sse_t *sse, ngx_int_t rc);
static void ngx_http_mangoo_sse_writer(ngx_http_request_t *r);
static void ngx_http_mangoo_sse_flush_handler(ngx_event_t *ev);
static void ngx_http_mangoo_sse_keepalive_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_mangoo_sse_error_event(ngx_http_mangoo_ctx_t *ctx,
    const char *code, const char *message);
static void ngx_http_mangoo_sse_stop(ngx_http_mangoo_sse_t *sse);
static void ngx_http_mangoo_sse_abort(ngx_http_mangoo_ctx_t *ctx,
    ngx_int_t rc);


void
ngx_http_mangoo_sse_start(ngx_http_mangoo_ctx_t *ctx, const mg_msg_t *head)
{
    ngx_int_t                    rc;
    ngx_http_request_t          *r = ctx->request;
    ngx_http_mangoo_sse_t       *sse;
    ngx_http_mangoo_loc_conf_t  *mlcf;

    sse = ngx_pcalloc(r->pool, sizeof(ngx_http_mangoo_sse_t));
    if (sse == NULL) {
        ngx_http_mangoo_detach(ctx, 1);
        ngx_http_mangoo_finish(r, NGX_ERROR);
        return;
    }

    ctx->sse = sse;
    sse->event_stream = ngx_http_mangoo_media_type_is(
                            (u_char *) head->content_type.data,
                            head->content_type.len, "text/event-stream",
                            sizeof("text/event-stream") - 1);

    sse->flush.handler = ngx_http_mangoo_sse_flush_handler;
    sse->flush.data = ctx;
    sse->flush.log = r->connection->log;

    rc = ngx_http_mangoo_send_head(r, head);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_mangoo_detach(ctx, 1);
        ngx_http_mangoo_finish(r, rc);
        return;
    }

    /* the client sees the stream open before the first event */
    rc = ngx_http_mangoo_sse_wait(r, sse,
                                  ngx_http_send_special(r, NGX_HTTP_FLUSH));
    if (rc == NGX_ERROR) {
        ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
        return;
    }

    sse->last_write = ngx_current_msec;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);

    if (sse->event_stream && mlcf->sse_keepalive) {
        sse->keepalive.handler = ngx_http_mangoo_sse_keepalive_handler;
        sse->keepalive.data = ctx;
        sse->keepalive.log = r->connection->log;
        /* the idle timer, not this one, keeps a quitting nginx waiting */
        sse->keepalive.cancelable = 1;
        ngx_add_timer(&sse->keepalive, mlcf->sse_keepalive);
    }
}


void
ngx_http_mangoo_sse_data(ngx_http_mangoo_ctx_t *ctx, const u_char *data,
    size_t len)
{
    ngx_http_request_t          *r = ctx->request;
    ngx_http_mangoo_sse_t       *sse = ctx->sse;
    ngx_http_mangoo_loc_conf_t  *mlcf;

    if (len == 0) {
        return;
    }

    if (ngx_http_mangoo_sse_append(r, sse, data, len) != NGX_OK) {
        ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
        return;
    }

    /*
     * Not blocked, everything before out was sent: unsent is out alone.
     * Coalesce up to a buffer's worth, so a fast burst needs no more
     * buffers than that either.
     */
    if (!sse->blocked) {
        if (sse->unsent < NGX_HTTP_MANGOO_SSE_BUF) {
            if (!sse->flush.posted) {
                ngx_post_event(&sse->flush, &ngx_posted_events);
            }
            return;
        }

        if (ngx_http_mangoo_sse_output(r, sse) == NGX_ERROR) {
            ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
            return;
        }
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);

    if (sse->unsent > mlcf->sse_max_buffered) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mangoo: client too slow for request %*s: %uz bytes "
                      "unsent, over mangoo_sse_max_buffered; closing",
                      (size_t) MG_RID_LEN, ctx->rid, sse->unsent);
        ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
    }
}


void
ngx_http_mangoo_sse_end(ngx_http_mangoo_ctx_t *ctx, const char *code,
    const char *message)
{
    ngx_int_t               rc;
    ngx_chain_t            *out;
    ngx_http_request_t     *r = ctx->request;
    ngx_http_mangoo_sse_t  *sse = ctx->sse;

    ngx_http_mangoo_sse_stop(sse);

    if (code != NULL && sse->event_stream
        && ngx_http_mangoo_sse_error_event(ctx, code, message) != NGX_OK)
    {
        ngx_http_mangoo_finish(r, NGX_ERROR);
        return;
    }

    /*
     * Everything left goes to the filters now, blocked or not, the last
     * buffer with it; what the socket cannot take yet is nginx's own
     * writer's once the request is finalized.
     */
    if (sse->out) {
        sse->last->buf->flush = 1;
        sse->last->buf->last_buf = 1;
        out = sse->out;
        sse->out = NULL;
        rc = ngx_http_output_filter(r, out);

    } else {
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    ngx_http_mangoo_finish(r, rc);
}


void
ngx_http_mangoo_sse_cleanup(ngx_http_mangoo_ctx_t *ctx)
{
    if (ctx->sse) {
        ngx_http_mangoo_sse_stop(ctx->sse);
    }
}


/* Copy into out, filling its last buffer before taking another. */
static ngx_int_t
ngx_http_mangoo_sse_append(ngx_http_request_t *r, ngx_http_mangoo_sse_t *sse,
    const u_char *data, size_t len)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    sse->unsent += len;

    for ( ;; ) {
        if (sse->last) {
            b = sse->last->buf;
            n = ngx_min(len, (size_t) (b->end - b->last));
            b->last = ngx_cpymem(b->last, data, n);
            data += n;
            len -= n;

            if (len == 0) {
                return NGX_OK;
            }
        }

        cl = ngx_chain_get_free_buf(r->pool, &sse->free);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        b = cl->buf;

        if (b->start == NULL) {
            b->start = ngx_pnalloc(r->pool, NGX_HTTP_MANGOO_SSE_BUF);
            if (b->start == NULL) {
                return NGX_ERROR;
            }

            b->end = b->start + NGX_HTTP_MANGOO_SSE_BUF;
            b->temporary = 1;
            b->tag = (ngx_buf_tag_t) &ngx_http_mangoo_module;
        }

        b->pos = b->start;
        b->last = b->start;
        b->flush = 0;       /* a recycled buffer keeps its last flags */

        if (sse->last) {
            sse->last->next = cl;

        } else {
            sse->out = cl;
        }

        sse->last = cl;
    }
}


/* Pass out (or, blocked, only what the filters hold) towards the socket. */
static ngx_int_t
ngx_http_mangoo_sse_output(ngx_http_request_t *r, ngx_http_mangoo_sse_t *sse)
{
    ngx_int_t      rc;
    ngx_chain_t   *cl;

    if (sse->out == NULL && !r->buffered && !r->connection->buffered) {
        /* nothing held anywhere: an empty pass would be an alert */
        return ngx_http_mangoo_sse_wait(r, sse, NGX_OK);
    }

    if (sse->out) {
        /* past postpone_output: an event is sent when it comes */
        sse->last->buf->flush = 1;
        sse->last = NULL;
        sse->last_write = ngx_current_msec;
    }

    rc = ngx_http_output_filter(r, sse->out);

    /* out joins busy (and is emptied); what was sent goes to free */
    ngx_chain_update_chains(r->pool, &sse->free, &sse->busy, &sse->out,
                            (ngx_buf_tag_t) &ngx_http_mangoo_module);

    /* busy is short: usually empty, at most max_buffered's worth */
    sse->unsent = 0;

    for (cl = sse->busy; cl; cl = cl->next) {
        sse->unsent += cl->buf->last - cl->buf->pos;
    }

    return ngx_http_mangoo_sse_wait(r, sse, rc);
}


/* After a pass: wait for the socket to drain, or stop waiting. */
static ngx_int_t
ngx_http_mangoo_sse_wait(ngx_http_request_t *r, ngx_http_mangoo_sse_t *sse,
    ngx_int_t rc)
{
    ngx_event_t               *wev;
    ngx_http_core_loc_conf_t  *clcf;

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    wev = r->connection->write;

    if (r->buffered || r->connection->buffered) {
        sse->blocked = 1;
        r->write_event_handler = ngx_http_mangoo_sse_writer;

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        /* a limit_rate delay has its own timer */
        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    if (sse->blocked) {
        sse->blocked = 0;
        r->write_event_handler = ngx_http_request_empty_handler;

        if (wev->timer_set && !wev->delayed) {
            ngx_del_timer(wev);
        }
    }

    return NGX_OK;
}


/* The socket can take more (or send_timeout ran out). */
static void
ngx_http_mangoo_sse_writer(ngx_http_request_t *r)
{
    ngx_event_t               *wev;
    ngx_http_mangoo_ctx_t     *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);
    wev = r->connection->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out");
        r->connection->timedout = 1;
        ngx_http_mangoo_sse_abort(ctx, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (wev->delayed) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
        }

        return;
    }

    if (ngx_http_mangoo_sse_output(r, ctx->sse) == NGX_ERROR) {
        ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
    }
}


/* The end of a read burst: write what it appended, in one go. */
static void
ngx_http_mangoo_sse_flush_handler(ngx_event_t *ev)
{
    ngx_http_mangoo_ctx_t  *ctx = ev->data;

    /* blocked: the write handler sends it when the socket drains */
    if (ctx->sse->blocked || ctx->sse->out == NULL) {
        return;
    }

    if (ngx_http_mangoo_sse_output(ctx->request, ctx->sse) == NGX_ERROR) {
        ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
    }
}


/*
 * Proxies and load balancers cut connections that stay silent (an ALB
 * after 60 s): a comment line, which clients ignore, keeps a slow answer
 * alive.  Writes reset the interval by moving last_write, not this timer,
 * so forwarding an event costs no timer work.
 */
static void
ngx_http_mangoo_sse_keepalive_handler(ngx_event_t *ev)
{
    ngx_msec_t                   interval, idle;
    ngx_http_request_t          *r;
    ngx_http_mangoo_ctx_t       *ctx = ev->data;
    ngx_http_mangoo_sse_t       *sse = ctx->sse;
    ngx_http_mangoo_loc_conf_t  *mlcf;

    static const u_char  comment[] = ": keepalive\n\n";

    r = ctx->request;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);
    interval = mlcf->sse_keepalive;
    idle = ngx_current_msec - sse->last_write;

    if (idle < interval) {
        ngx_add_timer(ev, interval - idle);
        return;
    }

    /* blocked or about to write: a comment would only add to the queue */
    if (!sse->blocked && sse->out == NULL) {
        if (ngx_http_mangoo_sse_append(r, sse, comment, sizeof(comment) - 1)
            != NGX_OK
            || ngx_http_mangoo_sse_output(r, sse) == NGX_ERROR)
        {
            ngx_http_mangoo_sse_abort(ctx, NGX_ERROR);
            return;
        }
    }

    ngx_add_timer(ev, interval);
}


/* event: error, data: {"code","message","request_id"} (JSON on one line) */
static ngx_int_t
ngx_http_mangoo_sse_error_event(ngx_http_mangoo_ctx_t *ctx, const char *code,
    const char *message)
{
    char                *json, rid[MG_RID_LEN + 1];
    ngx_int_t            rc;
    ngx_http_request_t  *r = ctx->request;

    static const u_char  head[] = "event: error\ndata: ";

    ngx_memcpy(rid, ctx->rid, MG_RID_LEN);
    rid[MG_RID_LEN] = '\0';

    json = mg_json_error_object(code, message, rid);
    if (json == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    if (ngx_http_mangoo_sse_append(r, ctx->sse, head, sizeof(head) - 1)
        != NGX_OK
        || ngx_http_mangoo_sse_append(r, ctx->sse, (u_char *) json,
                                      ngx_strlen(json))
           != NGX_OK
        || ngx_http_mangoo_sse_append(r, ctx->sse, (u_char *) "\n\n", 2)
           != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    free(json);

    return rc;
}


/* No more events of ours for this stream; safe to call more than once. */
static void
ngx_http_mangoo_sse_stop(ngx_http_mangoo_sse_t *sse)
{
    if (sse->flush.posted) {
        ngx_delete_posted_event(&sse->flush);
    }

    if (sse->keepalive.timer_set) {
        ngx_del_timer(&sse->keepalive);
    }
}


/* The client cannot be written to: stop its job and close. */
static void
ngx_http_mangoo_sse_abort(ngx_http_mangoo_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_mangoo_sse_stop(ctx->sse);
    ngx_http_mangoo_detach(ctx, 1);
    ngx_http_mangoo_finish(ctx->request, rc);
}
