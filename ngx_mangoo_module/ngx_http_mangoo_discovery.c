
/*
 * ngx_http_mangoo_discovery: worker endpoints that follow DNS.
 *
 * "mangoo_workers tcp://NAME:PORT ... resolve" makes NAME a group: each
 * nginx worker process looks it up through nginx's own non-blocking
 * resolver (the "resolver" directive) every
 * mangoo_workers_resolve_interval, and soon after one of the group's
 * connections is lost.  Each address found is a peer of the dispatcher
 * (ngx_http_mangoo_dispatch.c); an address that is no longer in the answer
 * is drained: it gets no new jobs, and its socket closes once its last
 * reply has come.  So workers that autoscaling adds start serving within
 * one interval, and those it removes finish what they hold.
 *
 * A failed lookup (timeout, server failure) keeps the peers as they are:
 * a DNS hiccup must not drain a healthy pool.  NXDOMAIN is an answer: the
 * name has no workers now.
 */


#include "ngx_http_mangoo_module.h"


/* more addresses than this in one answer are ignored (and logged) */
#define NGX_HTTP_MANGOO_GROUP_MAX  256

#define NGX_HTTP_MANGOO_EP_LEN  (sizeof("tcp://") - 1 + NGX_SOCKADDR_STRLEN)

/*
 * After a lost connection, look again this soon: not at once, since
 * nginx's resolver keeps even a TTL 0 answer until the second is over,
 * and the answer of this very second may be the one that had the worker.
 */
#define NGX_HTTP_MANGOO_LOST_LOOKUP_MS  1100


typedef struct {
    ngx_http_mangoo_discover_t  *conf;
    ngx_event_t                  timer;
    ngx_resolver_ctx_t          *rctx;      /* a lookup in progress */
    ngx_array_t                  peers;     /* ngx_http_mangoo_peer_t * */
    unsigned                     lost:1;    /* ... and a connection lost */
} ngx_http_mangoo_group_t;


typedef struct {
    ngx_http_mangoo_group_t     *groups;
    ngx_uint_t                   ngroups;
    ngx_http_mangoo_main_conf_t *mcf;
} ngx_http_mangoo_discovery_t;


static ngx_http_mangoo_discovery_t  ngx_http_mangoo_discovery;


static void ngx_http_mangoo_discovery_timer(ngx_event_t *ev);
static void ngx_http_mangoo_discovery_resolved(ngx_resolver_ctx_t *rctx);
static void ngx_http_mangoo_discovery_apply(ngx_http_mangoo_group_t *g,
    u_char (*found)[NGX_HTTP_MANGOO_EP_LEN], size_t *lens, ngx_uint_t n);
static ngx_int_t ngx_http_mangoo_discovery_find(
    u_char (*found)[NGX_HTTP_MANGOO_EP_LEN], size_t *lens, ngx_uint_t n,
    u_char *ep, size_t len);


ngx_uint_t
ngx_http_mangoo_discovery_owns(ngx_http_mangoo_main_conf_t *mcf,
    ngx_uint_t index)
{
    ngx_uint_t                   i;
    ngx_http_mangoo_discover_t  *dc;

    if (mcf->discover == NULL) {
        return 0;
    }

    dc = mcf->discover->elts;

    for (i = 0; i < mcf->discover->nelts; i++) {
        if (dc[i].index == index) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_mangoo_discovery_init_process(ngx_cycle_t *cycle,
    ngx_http_mangoo_main_conf_t *mcf)
{
    ngx_uint_t                    i;
    ngx_http_mangoo_group_t      *g;
    ngx_http_mangoo_discover_t   *dc;
    ngx_http_mangoo_discovery_t  *dd = &ngx_http_mangoo_discovery;

    dd->mcf = mcf;

    if (mcf->discover == NULL) {
        return NGX_OK;
    }

    dd->ngroups = mcf->discover->nelts;
    dd->groups = ngx_pcalloc(cycle->pool,
                             dd->ngroups * sizeof(ngx_http_mangoo_group_t));
    if (dd->groups == NULL) {
        return NGX_ERROR;
    }

    dc = mcf->discover->elts;

    for (i = 0; i < dd->ngroups; i++) {
        g = &dd->groups[i];
        g->conf = &dc[i];

        if (ngx_array_init(&g->peers, cycle->pool, 4,
                           sizeof(ngx_http_mangoo_peer_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        g->timer.handler = ngx_http_mangoo_discovery_timer;
        g->timer.data = g;
        g->timer.log = cycle->log;
        /* an nginx process that is shutting down need not wait for it */
        g->timer.cancelable = 1;

        /* the first lookup right away: requests park until it answers */
        ngx_add_timer(&g->timer, 1);
    }

    return NGX_OK;
}


void
ngx_http_mangoo_discovery_exit_process(void)
{
    ngx_uint_t                    i;
    ngx_http_mangoo_group_t      *g;
    ngx_http_mangoo_discovery_t  *dd = &ngx_http_mangoo_discovery;

    /* the peers themselves are the dispatcher's to close */
    for (i = 0; i < dd->ngroups; i++) {
        g = &dd->groups[i];

        if (g->timer.timer_set) {
            ngx_del_timer(&g->timer);
        }

        if (g->rctx) {
            ngx_resolve_name_done(g->rctx);
            g->rctx = NULL;
        }

        g->peers.nelts = 0;
    }

    dd->ngroups = 0;
}


/* One of a group's connections was lost: the worker may be gone for good. */
void
ngx_http_mangoo_discovery_lost(void *group)
{
    ngx_msec_t                delay;
    ngx_http_mangoo_group_t  *g = group;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* its answer may be from before the loss: look again after it */
    if (g->rctx) {
        g->lost = 1;
        return;
    }

    delay = ngx_min(ngx_http_mangoo_discovery.mcf->resolve_interval,
                    NGX_HTTP_MANGOO_LOST_LOOKUP_MS);

    /* a lookup due sooner stays as it is */
    if (g->timer.timer_set
        && (ngx_msec_int_t) (g->timer.timer.key - ngx_current_msec)
           <= (ngx_msec_int_t) delay)
    {
        return;
    }

    if (g->timer.timer_set) {
        ngx_del_timer(&g->timer);
    }

    ngx_add_timer(&g->timer, delay);
}


static void
ngx_http_mangoo_discovery_timer(ngx_event_t *ev)
{
    ngx_resolver_ctx_t           *rctx;
    ngx_http_mangoo_group_t      *g = ev->data;
    ngx_http_mangoo_main_conf_t  *mcf = ngx_http_mangoo_discovery.mcf;

    if (g->rctx || ngx_exiting) {
        return;
    }

    rctx = ngx_resolve_start(mcf->resolver, NULL);

    if (rctx == NULL || rctx == NGX_NO_RESOLVER) {
        goto failed;
    }

    rctx->name = g->conf->host;
    rctx->handler = ngx_http_mangoo_discovery_resolved;
    rctx->data = g;
    rctx->timeout = mcf->resolver_timeout;
    rctx->cancelable = 1;

    /* the handler may run before ngx_resolve_name() returns (a cached
     * answer) and clears g->rctx itself */
    g->rctx = rctx;

    if (ngx_resolve_name(rctx) == NGX_OK) {
        return;
    }

    /* rctx is freed by the resolver */
    g->rctx = NULL;

failed:

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "mangoo: cannot look up worker name \"%V\"",
                  &g->conf->host);
    ngx_add_timer(&g->timer, mcf->resolve_interval);
}


static void
ngx_http_mangoo_discovery_resolved(ngx_resolver_ctx_t *rctx)
{
    size_t                        *lens;
    u_char                        (*found)[NGX_HTTP_MANGOO_EP_LEN], *p;
    ngx_uint_t                     i, j, n;
    ngx_sockaddr_t                 sa;
    ngx_http_mangoo_group_t       *g = rctx->data;
    ngx_http_mangoo_main_conf_t   *mcf = ngx_http_mangoo_discovery.mcf;

    g->rctx = NULL;
    found = NULL;
    lens = NULL;

    if (rctx->state != NGX_OK && rctx->state != NGX_RESOLVE_NXDOMAIN) {
        ngx_log_error(NGX_LOG_WARN, g->timer.log, 0,
                      "mangoo: worker name \"%V\" could not be resolved "
                      "(%i: %s), keeping its %ui address(es)",
                      &g->conf->host, rctx->state,
                      ngx_resolver_strerror(rctx->state), g->peers.nelts);
        goto done;
    }

    n = (rctx->state == NGX_OK) ? rctx->naddrs : 0;

    if (n > NGX_HTTP_MANGOO_GROUP_MAX) {
        ngx_log_error(NGX_LOG_WARN, g->timer.log, 0,
                      "mangoo: worker name \"%V\" has %ui addresses, "
                      "using the first %d", &g->conf->host, n,
                      NGX_HTTP_MANGOO_GROUP_MAX);
        n = NGX_HTTP_MANGOO_GROUP_MAX;
    }

    if (n) {
        found = ngx_alloc(n * NGX_HTTP_MANGOO_EP_LEN, g->timer.log);
        lens = ngx_alloc(n * sizeof(size_t), g->timer.log);

        if (found == NULL || lens == NULL) {
            goto done;
        }
    }

    /* "tcp://a.b.c.d:port" or "tcp://[v6]:port", without duplicates */
    for (i = 0, j = 0; i < n; i++) {
        if (rctx->addrs[i].socklen > sizeof(ngx_sockaddr_t)) {
            continue;
        }

        ngx_memcpy(&sa, rctx->addrs[i].sockaddr, rctx->addrs[i].socklen);
        ngx_inet_set_port(&sa.sockaddr, g->conf->port);

        p = ngx_cpymem(found[j], "tcp://", 6);
        p += ngx_sock_ntop(&sa.sockaddr, rctx->addrs[i].socklen, p,
                           NGX_SOCKADDR_STRLEN, 1);
        lens[j] = p - found[j];

        if (ngx_http_mangoo_discovery_find(found, lens, j, found[j], lens[j])
            == NGX_ERROR)
        {
            j++;
        }
    }

    ngx_http_mangoo_discovery_apply(g, found, lens, j);

done:

    if (found) {
        ngx_free(found);
    }

    if (lens) {
        ngx_free(lens);
    }

    ngx_resolve_name_done(rctx);

    if (!ngx_exiting) {
        ngx_add_timer(&g->timer, mcf->resolve_interval);
    }

    if (g->lost) {
        g->lost = 0;
        ngx_http_mangoo_discovery_lost(g);
    }
}


/* Drain the peers the answer no longer has, add the ones it has new. */
static void
ngx_http_mangoo_discovery_apply(ngx_http_mangoo_group_t *g,
    u_char (*found)[NGX_HTTP_MANGOO_EP_LEN], size_t *lens, ngx_uint_t n)
{
    ngx_str_t                ep, *known;
    ngx_uint_t               i, j;
    ngx_http_mangoo_peer_t  *peer, **peers, **pp;

    peers = g->peers.elts;

    for (i = 0; i < g->peers.nelts; /* void */) {
        known = ngx_http_mangoo_peer_endpoint(peers[i]);

        if (ngx_http_mangoo_discovery_find(found, lens, n, known->data,
                                           known->len)
            != NGX_ERROR)
        {
            i++;
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, g->timer.log, 0,
                      "mangoo: worker \"%V\" is no longer in \"%V\": "
                      "draining it", known, &g->conf->host);

        ngx_http_mangoo_peer_drain(peers[i]);
        peers[i] = peers[--g->peers.nelts];
    }

    for (j = 0; j < n; j++) {
        for (i = 0; i < g->peers.nelts; i++) {
            known = ngx_http_mangoo_peer_endpoint(peers[i]);

            if (known->len == lens[j]
                && ngx_memcmp(known->data, found[j], lens[j]) == 0)
            {
                break;
            }
        }

        if (i < g->peers.nelts) {
            continue;
        }

        ep.data = found[j];
        ep.len = lens[j];

        peer = ngx_http_mangoo_peer_add(&ep, g->conf->index, g);
        if (peer == NULL) {
            continue;
        }

        pp = ngx_array_push(&g->peers);
        if (pp == NULL) {
            ngx_http_mangoo_peer_drain(peer);
            continue;
        }

        *pp = peer;
        peers = g->peers.elts;

        ngx_log_error(NGX_LOG_NOTICE, g->timer.log, 0,
                      "mangoo: worker \"%V\" found in \"%V\"",
                      ngx_http_mangoo_peer_endpoint(peer), &g->conf->host);
    }
}


static ngx_int_t
ngx_http_mangoo_discovery_find(u_char (*found)[NGX_HTTP_MANGOO_EP_LEN],
    size_t *lens, ngx_uint_t n, u_char *ep, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (lens[i] == len && ngx_memcmp(found[i], ep, len) == 0) {
            return (ngx_int_t) i;
        }
    }

    return NGX_ERROR;
}
