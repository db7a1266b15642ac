
/*
 * ngx_http_mangoo_dispatch: ZeroMQ in nginx's event loop.
 *
 * Each nginx worker process owns one ZeroMQ context and, per configured
 * endpoint, one DEALER socket (ZMQ_IMMEDIATE: a send succeeds only towards
 * a live connection) and one monitor socket that reports connects and
 * disconnects; a job goes only to a connection the monitor reported and
 * has not reported lost.  Their ZMQ_FDs are registered as edge-triggered
 * read events; a wake-up drains the socket until EAGAIN.  All of it runs
 * on the event loop's thread; libzmq's own I/O thread is the only other
 * one.
 *
 * A request waiting for its reply sits in a red-black tree keyed by its
 * per-process counter and in its peer's in-flight queue.  It leaves both
 * when the reply ends, on timeout, when its peer disconnects (502) or when
 * the client goes away (then a CANCEL tells the worker).  Once a stream's
 * HEAD came, the timeout is an idle timeout between frames, and a fault
 * ends the stream with an error event (ngx_http_mangoo_sse.c).  A request
 * that finds no reachable worker is parked and retried until
 * mangoo_unavailable_wait runs out (503 with Retry-After).
 *
 * A worker that says it is STOPPING gets no new jobs until its endpoint
 * connects again (a new process); jobs it refused unstarted go once to
 * another worker (ngx_http_mangoo_resend).
 *
 * A job about what one worker holds (MG_ROUTE_FIND: an answer under way)
 * goes to each connected worker in turn while they answer
 * "stream_elsewhere", then once more, to any, with the params that say
 * "stored" (ngx_http_mangoo_find_next).
 *
 * Peers are the configured endpoints plus, for names with "resolve", the
 * addresses ngx_http_mangoo_discovery.c finds.  The live ones take jobs in
 * turn; a drained one (its address left the name) takes none and is
 * closed by a posted event once nothing waits on it, never from inside a
 * handler that may still hold it.
 *
 * Flow control: a worker sends each nginx process no more than its window
 * of messages ahead of what this event loop has taken off the socket
 * (worker/flow.h); a CREDIT after every NGX_HTTP_MANGOO_CREDIT_EVERY
 * messages taken gives it room again.  A process that stops reading (slow,
 * or stopped) so holds up only its own streams, in the workers.
 */


#include <zmq.h>
#include <openssl/rand.h>

#include "ngx_http_mangoo_module.h"


#define NGX_HTTP_MANGOO_RETRY_MS      25
#define NGX_HTTP_MANGOO_MAX_PARKED    4096
#define NGX_HTTP_MANGOO_HWM           20000
/* well under the worker's window (MG_FLOW_WINDOW, 4096), so it never waits
 * for a CREDIT that is not due yet */
#define NGX_HTTP_MANGOO_CREDIT_EVERY  512


struct ngx_http_mangoo_peer_s {
    ngx_str_t                    endpoint;   /* NUL-terminated, after us */
    void                        *group;      /* discovery's; NULL: static */
    ngx_queue_t                  link;       /* in the draining list */
    void                        *sock;
    void                        *monitor;
    ngx_connection_t            *conn;
    ngx_connection_t            *monitor_conn;
    ngx_queue_t                  inflight;
    ngx_uint_t                   ninflight;
    ngx_uint_t                   taken;      /* messages not yet credited */
    ngx_uint_t                   index;      /* in mangoo_workers' order */
    unsigned                     stopping:1; /* said so: no new jobs */
    unsigned                     connected:1;
    unsigned                     draining:1; /* left DNS: closes when idle */
};


typedef struct {
    void                        *zctx;
    ngx_array_t                  live;       /* ngx_http_mangoo_peer_t * */
    ngx_queue_t                  draining;
    ngx_event_t                  reap;
    ngx_uint_t                   monitors;   /* inproc names made */
    ngx_uint_t                   next_peer;
    ngx_http_mangoo_main_conf_t *mcf;

    ngx_rbtree_t                 tree;
    ngx_rbtree_node_t            sentinel;

    ngx_queue_t                  parked;
    ngx_uint_t                   nparked;
    ngx_event_t                  retry;

    uint64_t                     counter;
    u_char                       prefix[MG_RID_LEN / 2];
    ngx_uint_t                   ready;
} ngx_http_mangoo_dispatch_t;


static ngx_http_mangoo_dispatch_t  ngx_http_mangoo_dispatcher;


static void ngx_http_mangoo_read_handler(ngx_event_t *rev);
static void ngx_http_mangoo_monitor_handler(ngx_event_t *rev);
static void ngx_http_mangoo_timeout_handler(ngx_event_t *ev);
static void ngx_http_mangoo_retry_handler(ngx_event_t *ev);
static void ngx_http_mangoo_deliver(ngx_http_mangoo_ctx_t *ctx,
    mg_msg_t *msg);
static ngx_int_t ngx_http_mangoo_send_frames(void *sock, mg_str_t *frames,
    int n);
static void ngx_http_mangoo_credit(ngx_http_mangoo_peer_t *peer);
static void ngx_http_mangoo_send_job(ngx_http_mangoo_ctx_t *ctx);
static ngx_uint_t ngx_http_mangoo_resend(ngx_http_mangoo_ctx_t *ctx,
    mg_msg_t *msg);
static void ngx_http_mangoo_peer_close(ngx_http_mangoo_peer_t *peer);
static void ngx_http_mangoo_find_next(ngx_http_mangoo_ctx_t *ctx);
static ngx_uint_t ngx_http_mangoo_find_on(ngx_http_mangoo_ctx_t *ctx,
    mg_msg_t *msg);
static void ngx_http_mangoo_reap_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_mangoo_dispatch_ready(void)
{
    return ngx_http_mangoo_dispatcher.ready;
}


/* rid: a random per-process prefix, then the counter, both in hex */
void
ngx_http_mangoo_new_rid(ngx_http_mangoo_ctx_t *ctx)
{
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    ctx->node.key = (ngx_rbtree_key_t) ++d->counter;

    ngx_memcpy(ctx->rid, d->prefix, MG_RID_LEN / 2);
    ngx_sprintf(ctx->rid + MG_RID_LEN / 2, "%016xL", (uint64_t) d->counter);
}


static ngx_http_mangoo_ctx_t *
ngx_http_mangoo_lookup(const mg_str_t *rid)
{
    uint64_t                     n;
    ngx_uint_t                   i;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    if (rid->len != MG_RID_LEN
        || ngx_memcmp(rid->data, d->prefix, MG_RID_LEN / 2) != 0)
    {
        return NULL;
    }

    n = 0;
    for (i = MG_RID_LEN / 2; i < MG_RID_LEN; i++) {
        u_char c = rid->data[i];
        n = (n << 4) | (uint64_t) (c <= '9' ? c - '0' : c - 'a' + 10);
    }

    node = d->tree.root;
    sentinel = d->tree.sentinel;

    while (node != sentinel) {
        if ((ngx_rbtree_key_t) n < node->key) {
            node = node->left;
            continue;
        }

        if ((ngx_rbtree_key_t) n > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_http_mangoo_ctx_t *) ((u_char *) node
                                 - offsetof(ngx_http_mangoo_ctx_t, node));
    }

    return NULL;
}


static ngx_connection_t *
ngx_http_mangoo_watch(void *sock, ngx_event_handler_pt handler,
    ngx_http_mangoo_peer_t *peer, ngx_cycle_t *cycle)
{
    size_t             sz;
    ngx_socket_t       fd;
    ngx_connection_t  *c;

    sz = sizeof(fd);
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mangoo: zmq_getsockopt(ZMQ_FD) failed: %s",
                      zmq_strerror(zmq_errno()));
        return NULL;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        return NULL;
    }

    c->data = peer;
    c->read->handler = handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    /* the ZMQ_FD is edge-triggered by design: use nginx's clear events */
    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT) != NGX_OK) {
        ngx_free_connection(c);
        return NULL;
    }

    /*
     * What is queued before the first drain does not make the fd readable
     * (a monitor's first CONNECTED event, for one): drain once right away.
     */
    ngx_post_event(c->read, &ngx_posted_next_events);

    return c;
}


static void
ngx_http_mangoo_unwatch(ngx_connection_t *c)
{
    if (c == NULL) {
        return;
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    /* the fd belongs to libzmq: never close it, only forget it */
    (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


static ngx_int_t
ngx_http_mangoo_peer_open(ngx_http_mangoo_peer_t *peer, ngx_cycle_t *cycle)
{
    int     one, zero, hwm, ivl, ivl_max, hb_ivl, hb_timeout;
    char    addr[64];
    void   *d_zctx = ngx_http_mangoo_dispatcher.zctx;

    one = 1;
    zero = 0;
    hwm = NGX_HTTP_MANGOO_HWM;
    ivl = 100;
    ivl_max = 1000;
    hb_ivl = 1000;
    hb_timeout = 3000;

    peer->sock = zmq_socket(d_zctx, ZMQ_DEALER);
    if (peer->sock == NULL) {
        goto failed;
    }

    if (zmq_setsockopt(peer->sock, ZMQ_IMMEDIATE, &one, sizeof(int)) != 0
        || zmq_setsockopt(peer->sock, ZMQ_LINGER, &zero, sizeof(int)) != 0
        || zmq_setsockopt(peer->sock, ZMQ_SNDHWM, &hwm, sizeof(int)) != 0
        || zmq_setsockopt(peer->sock, ZMQ_RCVHWM, &hwm, sizeof(int)) != 0
        || zmq_setsockopt(peer->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(int))
           != 0
        || zmq_setsockopt(peer->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max,
                          sizeof(int)) != 0
        || zmq_setsockopt(peer->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl,
                          sizeof(int)) != 0
        || zmq_setsockopt(peer->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout,
                          sizeof(int)) != 0)
    {
        goto failed;
    }

    /* an address found by DNS may be IPv6: "tcp://[...]:port" */
    if (ngx_strncmp(peer->endpoint.data, "tcp://[", 7) == 0
        && zmq_setsockopt(peer->sock, ZMQ_IPV6, &one, sizeof(int)) != 0)
    {
        goto failed;
    }

    ngx_snprintf((u_char *) addr, sizeof(addr), "inproc://mangoo-monitor-%ui%Z",
                 ++ngx_http_mangoo_dispatcher.monitors);

    if (zmq_socket_monitor(peer->sock, addr,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED|ZMQ_EVENT_DISCONNECTED)
        != 0)
    {
        goto failed;
    }

    peer->monitor = zmq_socket(d_zctx, ZMQ_PAIR);
    if (peer->monitor == NULL
        || zmq_setsockopt(peer->monitor, ZMQ_LINGER, &zero, sizeof(int)) != 0
        || zmq_connect(peer->monitor, addr) != 0)
    {
        goto failed;
    }

    /* connects in libzmq's I/O thread: nothing here waits for the peer */
    if (zmq_connect(peer->sock, (char *) peer->endpoint.data) != 0) {
        goto failed;
    }

    peer->conn = ngx_http_mangoo_watch(peer->sock,
                                       ngx_http_mangoo_read_handler, peer,
                                       cycle);
    peer->monitor_conn = ngx_http_mangoo_watch(peer->monitor,
                                               ngx_http_mangoo_monitor_handler,
                                               peer, cycle);
    if (peer->conn == NULL || peer->monitor_conn == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "mangoo: cannot set up worker endpoint \"%V\": %s",
                  &peer->endpoint, zmq_strerror(zmq_errno()));

    return NGX_ERROR;
}


ngx_int_t
ngx_http_mangoo_dispatch_init_process(ngx_cycle_t *cycle,
    ngx_http_mangoo_main_conf_t *mcf)
{
    ngx_str_t                   *ep;
    ngx_uint_t                   i;
    unsigned char                rnd[MG_RID_LEN / 4];
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    d->mcf = mcf;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mangoo: RAND_bytes() failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(d->prefix, rnd, sizeof(rnd));

    ngx_rbtree_init(&d->tree, &d->sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&d->parked);
    ngx_queue_init(&d->draining);

    if (ngx_array_init(&d->live, cycle->pool, 8,
                       sizeof(ngx_http_mangoo_peer_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    d->reap.handler = ngx_http_mangoo_reap_handler;
    d->reap.log = cycle->log;
    d->reap.data = d;

    d->retry.handler = ngx_http_mangoo_retry_handler;
    d->retry.log = cycle->log;
    d->retry.data = d;
    d->retry.cancelable = 1;

    d->zctx = zmq_ctx_new();
    if (d->zctx == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mangoo: zmq_ctx_new() failed: %s",
                      zmq_strerror(zmq_errno()));
        return NGX_ERROR;
    }

    ep = mcf->endpoints->elts;

    for (i = 0; i < mcf->endpoints->nelts; i++) {
        /* a name with "resolve": its addresses come from discovery */
        if (ngx_http_mangoo_discovery_owns(mcf, i)) {
            continue;
        }

        if (ngx_http_mangoo_peer_add(&ep[i], i, NULL) == NULL) {
            return NGX_ERROR;
        }
    }

    d->ready = 1;

    return NGX_OK;
}


ngx_http_mangoo_peer_t *
ngx_http_mangoo_peer_add(ngx_str_t *endpoint, ngx_uint_t index, void *group)
{
    ngx_http_mangoo_peer_t      *peer, **pp;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    peer = ngx_calloc(sizeof(ngx_http_mangoo_peer_t) + endpoint->len + 1,
                      ngx_cycle->log);
    if (peer == NULL) {
        return NULL;
    }

    peer->endpoint.data = (u_char *) (peer + 1);
    peer->endpoint.len = endpoint->len;
    ngx_memcpy(peer->endpoint.data, endpoint->data, endpoint->len);
    peer->endpoint.data[endpoint->len] = '\0';
    peer->index = index;
    peer->group = group;
    ngx_queue_init(&peer->inflight);

    pp = ngx_array_push(&d->live);

    if (pp == NULL
        || ngx_http_mangoo_peer_open(peer, (ngx_cycle_t *) ngx_cycle)
           != NGX_OK)
    {
        if (pp != NULL) {
            d->live.nelts--;
        }

        ngx_http_mangoo_peer_close(peer);
        return NULL;
    }

    *pp = peer;

    return peer;
}


void
ngx_http_mangoo_peer_drain(ngx_http_mangoo_peer_t *peer)
{
    ngx_uint_t                   i;
    ngx_http_mangoo_peer_t     **live;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    live = d->live.elts;

    for (i = 0; i < d->live.nelts; i++) {
        if (live[i] == peer) {
            ngx_memmove(&live[i], &live[i + 1],
                        (d->live.nelts - i - 1) * sizeof(*live));
            d->live.nelts--;
            break;
        }
    }

    peer->draining = 1;
    ngx_queue_insert_tail(&d->draining, &peer->link);

    if (peer->ninflight == 0 && !d->reap.posted) {
        ngx_post_event(&d->reap, &ngx_posted_events);
    }
}


/* Close the drained peers nothing waits on any more. */
static void
ngx_http_mangoo_reap_handler(ngx_event_t *ev)
{
    ngx_queue_t                 *q, *next;
    ngx_http_mangoo_peer_t      *peer;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    for (q = ngx_queue_head(&d->draining);
         q != ngx_queue_sentinel(&d->draining);
         q = next)
    {
        next = ngx_queue_next(q);
        peer = ngx_queue_data(q, ngx_http_mangoo_peer_t, link);

        if (peer->ninflight) {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "mangoo: worker \"%V\" drained, closing it",
                      &peer->endpoint);

        ngx_queue_remove(q);
        ngx_http_mangoo_peer_close(peer);
    }
}


static void
ngx_http_mangoo_peer_close(ngx_http_mangoo_peer_t *peer)
{
    if (peer->connected) {
        peer->connected = 0;
        ngx_http_mangoo_metrics_endpoint(peer->index, 0);
    }

    ngx_http_mangoo_unwatch(peer->conn);
    ngx_http_mangoo_unwatch(peer->monitor_conn);

    if (peer->sock) {
        zmq_socket_monitor(peer->sock, NULL, 0);
        zmq_close(peer->sock);
    }

    if (peer->monitor) {
        zmq_close(peer->monitor);
    }

    ngx_free(peer);
}


void
ngx_http_mangoo_dispatch_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_queue_t                 *q;
    ngx_http_mangoo_peer_t     **live;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    if (d->zctx == NULL) {
        return;
    }

    d->ready = 0;

    if (d->retry.timer_set) {
        ngx_del_timer(&d->retry);
    }

    if (d->reap.posted) {
        ngx_delete_posted_event(&d->reap);
    }

    live = d->live.elts;

    for (i = 0; i < d->live.nelts; i++) {
        ngx_http_mangoo_peer_close(live[i]);
    }

    d->live.nelts = 0;

    while (!ngx_queue_empty(&d->draining)) {
        q = ngx_queue_head(&d->draining);
        ngx_queue_remove(q);
        ngx_http_mangoo_peer_close(ngx_queue_data(q, ngx_http_mangoo_peer_t,
                                                  link));
    }

    zmq_ctx_term(d->zctx);
    d->zctx = NULL;
}


/* After a send or receive the fd may stay quiet while messages wait. */
static void
ngx_http_mangoo_check_pending(ngx_http_mangoo_peer_t *peer)
{
    int     events;
    size_t  sz;

    sz = sizeof(events);

    if (zmq_getsockopt(peer->sock, ZMQ_EVENTS, &events, &sz) == 0
        && (events & ZMQ_POLLIN)
        && !peer->conn->read->posted)
    {
        ngx_post_event(peer->conn->read, &ngx_posted_events);
    }
}


/* One message, packed into one frame (mg_protocol.h), as workers read them. */
static ngx_int_t
ngx_http_mangoo_send_frames(void *sock, mg_str_t *frames, int n)
{
    zmq_msg_t  packed;

    if (zmq_msg_init_size(&packed, mg_proto_packed_size(frames, n)) != 0) {
        return NGX_AGAIN;
    }

    mg_proto_pack(frames, n, zmq_msg_data(&packed));

    if (zmq_msg_send(&packed, sock, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close(&packed);
        return NGX_AGAIN;
    }

    return NGX_OK;
}


/* NGX_OK: sent; NGX_AGAIN: no peer took it; NGX_DECLINED: none reachable */
static ngx_int_t
ngx_http_mangoo_try_send(ngx_http_mangoo_ctx_t *ctx)
{
    int                          nframes;
    char                         status[4];
    mg_msg_t                     msg;
    mg_str_t                     frames[MG_PROTO_MAX_FRAMES];
    ngx_uint_t                   i, n, connected;
    ngx_http_mangoo_peer_t      *peer, **live;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    ngx_memzero(&msg, sizeof(mg_msg_t));
    msg.type = MG_MSG_REQ;
    msg.rid.data = (char *) ctx->rid;
    msg.rid.len = MG_RID_LEN;
    msg.job.data = (char *) ctx->job.data;
    msg.job.len = ctx->job.len;
    msg.params.data = (char *) ctx->params.data;
    msg.params.len = ctx->params.len;
    msg.claims.data = (char *) ctx->claims.data;
    msg.claims.len = ctx->claims.len;
    msg.body.data = (char *) ctx->body.data;
    msg.body.len = ctx->body.len;

    nframes = mg_proto_frames(&msg, frames, status);
    if (nframes < 0) {
        return NGX_ERROR;
    }

    connected = 0;
    live = d->live.elts;
    n = d->live.nelts;

    for (i = 0; i < n; i++) {
        peer = live[(d->next_peer + i) % n];

        if ((ctx->target != NULL && peer != ctx->target)
            || peer == ctx->avoid || peer->stopping)
        {
            continue;
        }

        connected |= peer->connected;

        /*
         * libzmq reports a lost connection to the monitor before the
         * socket drops the connection's pipe: a send in between is taken,
         * then lost with the pipe, and no event would ever end its
         * request.  So only a connection the monitor vouches for takes a
         * job; until then the job waits as if the worker were busy.
         */
        if (!peer->connected
            || ngx_http_mangoo_send_frames(peer->sock, frames, nframes)
               != NGX_OK)
        {
            continue;
        }

        if (ctx->target == NULL) {
            d->next_peer = (d->next_peer + i + 1) % n;
        }

        ctx->peer = peer;
        ctx->sent_us = ngx_http_mangoo_now_us();
        ngx_queue_insert_tail(&peer->inflight, &ctx->queue);
        peer->ninflight++;

        ngx_http_mangoo_check_pending(peer);

        return NGX_OK;
    }

    return connected ? NGX_AGAIN : NGX_DECLINED;
}


static void
ngx_http_mangoo_retry_after(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");
}


static void
ngx_http_mangoo_fail(ngx_http_mangoo_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *message, ngx_uint_t cancel)
{
    mg_msg_t             msg;
    ngx_http_request_t  *r = ctx->request;

    ngx_http_mangoo_detach(ctx, cancel);

    if (r == NULL) {
        ngx_memzero(&msg, sizeof(mg_msg_t));
        msg.type = MG_MSG_ERR;
        msg.status = (int) status;
        msg.code.data = code;
        msg.code.len = ngx_strlen(code);
        msg.message.data = message;
        msg.message.len = ngx_strlen(message);
        ctx->on_reply(ctx, &msg);
        return;
    }

    if (ctx->streaming) {
        /* the status line is gone: the stream itself says what happened */
        ngx_http_mangoo_sse_end(ctx, code, message);
        return;
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        ngx_http_mangoo_retry_after(r);
    }

    ngx_http_mangoo_finish(r, ngx_http_mangoo_send_error(r, status, code,
                                                         message));
}


/* A failure nginx decides itself (no worker answer): counted by cause. */
static void
ngx_http_mangoo_give_up(ngx_http_mangoo_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *message, ngx_uint_t cancel)
{
    if (ctx->request != NULL) {
        ngx_http_mangoo_metrics_failure(code);
    }

    ngx_http_mangoo_fail(ctx, status, code, message, cancel);
}


void
ngx_http_mangoo_dispatch(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx)
{
    ngx_http_mangoo_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);

    ctx->timeout = mlcf->timeout;
    ctx->timer.log = r->connection->log;

    /* the reply may come while we wait: notice a client that goes away */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (ctx->finding) {
        ngx_http_mangoo_find_next(ctx);
    }

    ngx_http_mangoo_send_job(ctx);
}


/* The next connected worker to ask, in live order; after the last, any
 * worker, with the params of the last try. */
static void
ngx_http_mangoo_find_next(ngx_http_mangoo_ctx_t *ctx)
{
    ngx_uint_t                   i;
    ngx_http_mangoo_peer_t      *peer, **live;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    live = d->live.elts;

    for (i = ctx->find_next; i < d->live.nelts; i++) {
        peer = live[i];

        if (peer->connected && !peer->stopping) {
            ctx->target = peer;
            ctx->find_next = i + 1;
            return;
        }
    }

    ctx->finding = 0;
    ctx->target = NULL;
    ctx->params = ctx->params_stored;
}


/* A worker does not hold what ctx asks about: ask the next.  Returns 1
 * when ctx was sent again. */
static ngx_uint_t
ngx_http_mangoo_find_on(ngx_http_mangoo_ctx_t *ctx, mg_msg_t *msg)
{
    ngx_rbtree_key_t  key;

    if (!ctx->finding
        || !((msg->code.len == sizeof("stream_elsewhere") - 1
              && ngx_strncmp(msg->code.data, "stream_elsewhere",
                             msg->code.len) == 0)
             /* a draining worker takes no job, a resume neither */
             || (msg->code.len == sizeof("worker_stopping") - 1
                 && ngx_strncmp(msg->code.data, "worker_stopping",
                                msg->code.len) == 0)))
    {
        return 0;
    }

    /* ngx_rbtree_delete() zeroes the key: the rid stays the same */
    key = ctx->node.key;
    ngx_http_mangoo_detach(ctx, 0);
    ctx->node.key = key;
    ctx->replied_us = 0;

    ngx_http_mangoo_find_next(ctx);
    ngx_http_mangoo_send_job(ctx);

    return 1;
}


/* A job of the module's own: no client waits on it, ctx->on_reply does. */
ngx_int_t
ngx_http_mangoo_dispatch_system(ngx_http_mangoo_ctx_t *ctx,
    ngx_msec_t timeout)
{
    if (!ngx_http_mangoo_dispatcher.ready) {
        return NGX_ERROR;
    }

    ngx_http_mangoo_new_rid(ctx);
    ctx->timeout = timeout;
    ctx->timer.log = ngx_cycle->log;

    ngx_http_mangoo_send_job(ctx);

    return NGX_OK;
}


/* the live peers, by index until the event loop goes on */
ngx_uint_t
ngx_http_mangoo_dispatch_npeers(void)
{
    return ngx_http_mangoo_dispatcher.ready
           ? ngx_http_mangoo_dispatcher.live.nelts : 0;
}


ngx_str_t *
ngx_http_mangoo_dispatch_endpoint(ngx_uint_t peer)
{
    return &((ngx_http_mangoo_peer_t **)
             ngx_http_mangoo_dispatcher.live.elts)[peer]->endpoint;
}


ngx_str_t *
ngx_http_mangoo_peer_endpoint(ngx_http_mangoo_peer_t *peer)
{
    return &peer->endpoint;
}


/*
 * A job of the module's own for one worker endpoint alone (peer: an index
 * below ngx_http_mangoo_dispatch_npeers()).  It is never parked: when that
 * worker cannot take it now, ctx->on_reply gets the error before this
 * returns.
 */
void
ngx_http_mangoo_dispatch_system_to(ngx_http_mangoo_ctx_t *ctx,
    ngx_uint_t peer, ngx_msec_t timeout)
{
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    ngx_http_mangoo_new_rid(ctx);
    ctx->target = ((ngx_http_mangoo_peer_t **) d->live.elts)[peer];
    ctx->timeout = timeout;
    ctx->timer.log = ngx_cycle->log;

    ngx_http_mangoo_send_job(ctx);
}


/* Send ctx's job, park it, or fail it; ctx->timeout is set. */
static void
ngx_http_mangoo_send_job(ngx_http_mangoo_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    ctx->timer.handler = ngx_http_mangoo_timeout_handler;
    ctx->timer.data = ctx;

    rc = ngx_http_mangoo_try_send(ctx);

    if (rc == NGX_OK) {
        ngx_rbtree_insert(&d->tree, &ctx->node);
        ctx->waiting = 1;
        ngx_add_timer(&ctx->timer, ctx->timeout);
        return;
    }

    if (rc == NGX_AGAIN) {
        ngx_log_error(NGX_LOG_WARN, ctx->timer.log, 0,
                      "mangoo: every worker queue is full");
        ngx_http_mangoo_give_up(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "overloaded",
                                "all workers are busy, retry shortly", 0);
        return;
    }

    if (rc == NGX_ERROR || ctx->target != NULL
        || d->nparked >= NGX_HTTP_MANGOO_MAX_PARKED)
    {
        ngx_http_mangoo_give_up(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "no_workers", "no worker is reachable", 0);
        return;
    }

    /* no worker reachable (starting, restarting): wait a bounded time */
    ctx->parked = 1;
    ngx_queue_insert_tail(&d->parked, &ctx->queue);
    d->nparked++;

    ngx_add_timer(&ctx->timer, d->mcf->unavailable_wait);

    if (!d->retry.timer_set) {
        ngx_add_timer(&d->retry, NGX_HTTP_MANGOO_RETRY_MS);
    }
}


/*
 * Take ctx out of every structure; safe to call more than once.  cancel:
 * the job may still run in a worker, so tell it to stop (best effort).
 */
void
ngx_http_mangoo_detach(ngx_http_mangoo_ctx_t *ctx, ngx_uint_t cancel)
{
    int                          n;
    char                         status[4];
    mg_msg_t                     msg;
    mg_str_t                     frames[MG_PROTO_MAX_FRAMES];
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->parked) {
        ngx_queue_remove(&ctx->queue);
        d->nparked--;
        ctx->parked = 0;
    }

    if (!ctx->waiting) {
        return;
    }

    ngx_rbtree_delete(&d->tree, &ctx->node);
    ngx_queue_remove(&ctx->queue);
    ctx->peer->ninflight--;
    ctx->waiting = 0;

    if (ctx->peer->draining && ctx->peer->ninflight == 0 && !d->reap.posted)
    {
        ngx_post_event(&d->reap, &ngx_posted_events);
    }

    if (!cancel || !ctx->peer->connected) {
        return;
    }

    ngx_memzero(&msg, sizeof(mg_msg_t));
    msg.type = MG_MSG_CANCEL;
    msg.rid.data = (char *) ctx->rid;
    msg.rid.len = MG_RID_LEN;

    n = mg_proto_frames(&msg, frames, status);
    if (n > 0) {
        (void) ngx_http_mangoo_send_frames(ctx->peer->sock, frames, n);
    }
}


/* the request is being freed: if a reply is still due, the client left */
void
ngx_http_mangoo_dispatch_cleanup(ngx_http_mangoo_ctx_t *ctx)
{
    if (ngx_http_mangoo_dispatcher.zctx) {
        ngx_http_mangoo_detach(ctx, 1);
    }
}


static void
ngx_http_mangoo_timeout_handler(ngx_event_t *ev)
{
    ngx_http_mangoo_ctx_t  *ctx = ev->data;

    if (ctx->parked) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "mangoo: no worker reachable for request %*s",
                      (size_t) MG_RID_LEN, ctx->rid);
        ngx_http_mangoo_give_up(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "no_workers",
                                "no worker is reachable, retry shortly", 0);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "mangoo: request %*s timed out waiting for job \"%V\"",
                  (size_t) MG_RID_LEN, ctx->rid, &ctx->job);

    ngx_http_mangoo_give_up(ctx, NGX_HTTP_GATEWAY_TIME_OUT, "timeout",
                            ctx->streaming ? "the answer stopped arriving"
                                           : "the request took too long", 1);
}


static void
ngx_http_mangoo_retry_handler(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_queue_t                  work, *q;
    ngx_http_mangoo_ctx_t       *ctx;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    /*
     * Work on a private list: failing a request finalizes it, and what
     * that runs must not find us halfway through the shared one.  Entries
     * on either list stay "parked" and counted until taken.
     */
    ngx_queue_init(&work);

    if (!ngx_queue_empty(&d->parked)) {
        ngx_queue_add(&work, &d->parked);
        ngx_queue_init(&d->parked);
    }

    while (!ngx_queue_empty(&work)) {
        q = ngx_queue_head(&work);
        ctx = ngx_queue_data(q, ngx_http_mangoo_ctx_t, queue);

        ngx_queue_remove(q);
        d->nparked--;
        ctx->parked = 0;

        rc = ngx_http_mangoo_try_send(ctx);

        if (rc == NGX_OK) {
            ngx_rbtree_insert(&d->tree, &ctx->node);
            ctx->waiting = 1;
            ngx_add_timer(&ctx->timer, ctx->timeout);
            continue;
        }

        if (rc == NGX_AGAIN) {
            ngx_http_mangoo_give_up(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "overloaded",
                                    "all workers are busy, retry shortly", 0);
            continue;
        }

        /* still unreachable: back in line; its own timer bounds the wait */
        ctx->parked = 1;
        ngx_queue_insert_tail(&d->parked, &ctx->queue);
        d->nparked++;
    }

    if (d->nparked && !ngx_exiting) {
        ngx_add_timer(&d->retry, NGX_HTTP_MANGOO_RETRY_MS);
    }
}


/* A peer went away: its in-flight requests will never be answered. */
static void
ngx_http_mangoo_peer_lost(ngx_http_mangoo_peer_t *peer)
{
    ngx_queue_t            *q;
    ngx_http_mangoo_ctx_t  *ctx;

    while (!ngx_queue_empty(&peer->inflight)) {
        q = ngx_queue_head(&peer->inflight);
        ctx = ngx_queue_data(q, ngx_http_mangoo_ctx_t, queue);

        ngx_log_error(NGX_LOG_ERR, ctx->timer.log, 0,
                      "mangoo: worker \"%V\" lost during request %*s",
                      &peer->endpoint, (size_t) MG_RID_LEN, ctx->rid);

        ngx_http_mangoo_give_up(ctx, NGX_HTTP_BAD_GATEWAY, "worker_lost",
                                "the worker handling this request went away",
                                0);
    }
}


static void
ngx_http_mangoo_monitor_handler(ngx_event_t *rev)
{
    int                      more;
    uint16_t                 event;
    zmq_msg_t                frame;
    ngx_connection_t        *c = rev->data;
    ngx_http_mangoo_peer_t  *peer = c->data;

    for ( ;; ) {
        zmq_msg_init(&frame);

        if (zmq_msg_recv(&frame, peer->monitor, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&frame);
            break;
        }

        event = 0;
        if (zmq_msg_size(&frame) >= sizeof(uint16_t)) {
            ngx_memcpy(&event, zmq_msg_data(&frame), sizeof(uint16_t));
        }

        /* the second frame is the endpoint; one peer per socket */
        more = zmq_msg_more(&frame);
        while (more) {
            zmq_msg_close(&frame);
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, peer->monitor, ZMQ_DONTWAIT) == -1) {
                break;
            }
            more = zmq_msg_more(&frame);
        }

        zmq_msg_close(&frame);

        /* a connected socket takes messages only once the ZMTP
         * handshake is done (ZMQ_IMMEDIATE): until then sends fail as if
         * the worker were busy */
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            ngx_log_error(NGX_LOG_INFO, rev->log, 0,
                          "mangoo: worker \"%V\" connected", &peer->endpoint);
            if (!peer->connected) {
                ngx_http_mangoo_metrics_endpoint(peer->index, 1);
            }

            peer->connected = 1;
            peer->stopping = 0;     /* a new connection: a new process */

            /* a new connection: the worker counts a new window */
            peer->taken = 0;

        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            ngx_log_error(NGX_LOG_WARN, rev->log, 0,
                          "mangoo: worker \"%V\" disconnected",
                          &peer->endpoint);

            if (peer->connected) {
                ngx_http_mangoo_metrics_endpoint(peer->index, 0);
            }

            peer->connected = 0;
            ngx_http_mangoo_peer_lost(peer);

            /* the address may be gone for good: ask DNS now */
            if (peer->group && !peer->draining) {
                ngx_http_mangoo_discovery_lost(peer->group);
            }
        }
    }
}


static void
ngx_http_mangoo_read_handler(ngx_event_t *rev)
{
    int                      n;
    size_t                   off;
    mg_msg_t                 msg;
    mg_str_t                 frames[MG_PROTO_MAX_FRAMES];
    zmq_msg_t                packed;
    ngx_connection_t        *c = rev->data;
    ngx_http_mangoo_ctx_t   *ctx;
    ngx_http_mangoo_peer_t  *peer = c->data;

    /*
     * A worker sends single-part frames of packed messages (mg_protocol.h):
     * a connection that drops can never leave half a message to read.
     */
    for ( ;; ) {
        zmq_msg_init(&packed);

        if (zmq_msg_recv(&packed, peer->sock, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&packed);
            break;  /* EAGAIN: drained */
        }

        off = 0;

        while ((n = mg_proto_unpack(zmq_msg_data(&packed),
                                    zmq_msg_size(&packed), &off, frames))
               > 0)
        {
            peer->taken++;

            if (mg_proto_parse(frames, n, &msg) != 0) {
                ngx_log_error(NGX_LOG_ERR, rev->log, 0,
                              "mangoo: malformed message from worker \"%V\"",
                              &peer->endpoint);
                continue;
            }

            if (msg.type == MG_MSG_STOPPING) {
                ngx_log_error(NGX_LOG_NOTICE, rev->log, 0,
                              "mangoo: worker \"%V\" is stopping: no new "
                              "jobs for it", &peer->endpoint);
                peer->stopping = 1;
                continue;
            }

            ctx = ngx_http_mangoo_lookup(&msg.rid);

            /* no ctx: the client left or the request timed out */
            if (ctx) {
                ngx_http_mangoo_deliver(ctx, &msg);
            }
        }

        if (n < 0 || zmq_msg_more(&packed)) {
            ngx_log_error(NGX_LOG_ERR, rev->log, 0,
                          "mangoo: malformed frame from worker \"%V\"",
                          &peer->endpoint);
        }

        zmq_msg_close(&packed);
    }

    ngx_http_mangoo_credit(peer);
    ngx_http_mangoo_check_pending(peer);
}


/*
 * Give the worker back the room the messages taken made.  When the CREDIT
 * cannot be sent now (our send queue is full), the next wake-up tries
 * again; a worker out of credit probes once a second, which wakes us.
 */
static void
ngx_http_mangoo_credit(ngx_http_mangoo_peer_t *peer)
{
    int       n;
    char      status[4];
    u_char    digits[NGX_INT_T_LEN];
    mg_msg_t  msg;
    mg_str_t  frames[MG_PROTO_MAX_FRAMES];

    if (peer->taken < NGX_HTTP_MANGOO_CREDIT_EVERY) {
        return;
    }

    ngx_memzero(&msg, sizeof(mg_msg_t));
    msg.type = MG_MSG_CREDIT;
    msg.body.data = (char *) digits;
    msg.body.len = ngx_sprintf(digits, "%ui",
                               ngx_min(peer->taken, 999999999)) - digits;

    n = mg_proto_frames(&msg, frames, status);

    if (n > 0 && ngx_http_mangoo_send_frames(peer->sock, frames, n) == NGX_OK)
    {
        peer->taken = 0;
    }
}


static char *
ngx_http_mangoo_pstrdup(ngx_pool_t *pool, const mg_str_t *s)
{
    char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p != NULL) {
        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
    }

    return p;
}


/*
 * A worker that is stopping refuses jobs it has not started
 * ("worker_stopping"): such a job goes once to another connected worker,
 * so a rolling restart fails no request that was not running on the
 * worker that stops.  Returns 1 when ctx was sent again.
 */
static ngx_uint_t
ngx_http_mangoo_resend(ngx_http_mangoo_ctx_t *ctx, mg_msg_t *msg)
{
    ngx_uint_t                   i;
    ngx_rbtree_key_t             key;
    ngx_http_mangoo_peer_t      *peer, **live;
    ngx_http_mangoo_dispatch_t  *d = &ngx_http_mangoo_dispatcher;

    if (ctx->avoid != NULL || ctx->target != NULL || ctx->streaming
        || msg->code.len != sizeof("worker_stopping") - 1
        || ngx_strncmp(msg->code.data, "worker_stopping", msg->code.len) != 0)
    {
        return 0;
    }

    /* it says so in its reply too: no more jobs for it */
    ctx->peer->stopping = 1;

    live = d->live.elts;

    for (i = 0; i < d->live.nelts; i++) {
        peer = live[i];

        if (peer != ctx->peer && peer->connected && !peer->stopping) {
            break;
        }
    }

    if (i == d->live.nelts) {
        return 0;
    }

    ngx_log_error(NGX_LOG_INFO, ctx->timer.log, 0,
                  "mangoo: worker \"%V\" is stopping, request %*s goes "
                  "to another", &ctx->peer->endpoint, (size_t) MG_RID_LEN,
                  ctx->rid);

    ctx->avoid = ctx->peer;

    /* ngx_rbtree_delete() zeroes the key: the rid stays the same */
    key = ctx->node.key;
    ngx_http_mangoo_detach(ctx, 0);
    ctx->node.key = key;
    ctx->replied_us = 0;

    ngx_http_mangoo_send_job(ctx);

    return 1;
}


static void
ngx_http_mangoo_deliver(ngx_http_mangoo_ctx_t *ctx, mg_msg_t *msg)
{
    char                *code, *message;
    ngx_http_request_t  *r = ctx->request;

    if (ctx->replied_us == 0) {
        ctx->replied_us = ngx_http_mangoo_now_us();
    }

    if (r == NULL) {
        /* the module's own jobs answer in one message */
        if (msg->type == MG_MSG_RES || msg->type == MG_MSG_ERR) {
            ngx_http_mangoo_detach(ctx, 0);
            ctx->on_reply(ctx, msg);
        }
        return;
    }

    switch (msg->type) {

    case MG_MSG_RES:
        ngx_http_mangoo_detach(ctx, 0);

        if (msg->status == NGX_HTTP_UNAUTHORIZED) {
            ngx_http_mangoo_api_key_forget(ctx);
        }

        ngx_http_mangoo_finish(r, ngx_http_mangoo_send_reply(r, msg));
        return;

    case MG_MSG_ERR:
        if (msg->status == NGX_HTTP_UNAUTHORIZED) {
            ngx_http_mangoo_api_key_forget(ctx);
        }

        if (ngx_http_mangoo_find_on(ctx, msg)
            || ngx_http_mangoo_resend(ctx, msg))
        {
            return;
        }

        code = ngx_http_mangoo_pstrdup(r->pool, &msg->code);
        message = ngx_http_mangoo_pstrdup(r->pool, &msg->message);

        if (code == NULL || message == NULL) {
            ngx_http_mangoo_detach(ctx, 0);
            ngx_http_mangoo_finish(r, NGX_ERROR);
            return;
        }

        ngx_http_mangoo_fail(ctx, msg->status, code, message, 0);
        return;

    case MG_MSG_HEAD:
        if (ctx->streaming) {
            return;
        }

        /*
         * From now on mangoo_timeout bounds the silence between the
         * worker's frames, not the whole answer: DATA re-arms it (lazily:
         * ngx_add_timer skips moves under NGX_TIMER_LAZY_DELAY).
         */
        ctx->streaming = 1;
        ngx_add_timer(&ctx->timer, ctx->timeout);
        ngx_http_mangoo_metrics_stream_open(ctx);
        ngx_http_mangoo_sse_start(ctx, msg);
        return;

    case MG_MSG_DATA:
        if (!ctx->streaming) {
            return;
        }

        ngx_add_timer(&ctx->timer, ctx->timeout);
        ngx_http_mangoo_metrics_stream(ctx, (u_char *) msg->body.data,
                                       msg->body.len);
        ngx_http_mangoo_sse_data(ctx, (u_char *) msg->body.data,
                                 msg->body.len);
        return;

    case MG_MSG_END:
        ngx_http_mangoo_detach(ctx, 0);

        if (!ctx->streaming) {
            ngx_http_mangoo_finish(r, ngx_http_mangoo_send_error(r,
                                   NGX_HTTP_BAD_GATEWAY, "bad_reply",
                                   "the worker ended without an answer"));
            return;
        }

        ngx_http_mangoo_sse_end(ctx, NULL, NULL);
        return;

    default:
        return;
    }
}
