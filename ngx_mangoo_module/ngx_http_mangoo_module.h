
/*
 * Mangoo's nginx module: types shared by its files.
 *
 *   ngx_http_mangoo_module.c    directives, conf, the content handlers
 *   ngx_http_mangoo_variables.c the $mangoo_* variables
 *   ngx_http_mangoo_cors.c      cross-origin requests (mangoo_cors_origins)
 *   ngx_http_mangoo_auth.c      JWKS and bearer token verification
 *   ngx_http_mangoo_api_key.c   published bots' API keys: checked, cached
 *   ngx_http_mangoo_key_limit.c each API key's rate limit (shared zone)
 *   ngx_http_mangoo_dispatch.c  ZeroMQ sockets driven by the event loop
 *   ngx_http_mangoo_discovery.c worker names looked up again and again
 *                               through nginx's resolver ("resolve")
 *   ngx_http_mangoo_response.c  replies and errors written to the client
 *   ngx_http_mangoo_sse.c       streamed replies: buffers, back-pressure,
 *                               keepalives, the closing error event
 *   ngx_http_mangoo_metrics.c   Prometheus metrics: shared counters and
 *                               the mangoo_metrics location, with the
 *                               workers' own metrics merged in
 */


#ifndef _NGX_HTTP_MANGOO_MODULE_H_INCLUDED_
#define _NGX_HTTP_MANGOO_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mg_protocol.h"
#include "mg_routes.h"


#define NGX_HTTP_MANGOO_API     1
#define NGX_HTTP_MANGOO_HEALTH  2
#define NGX_HTTP_MANGOO_ERROR   3
#define NGX_HTTP_MANGOO_METRICS 4

/* ctx->route for requests no route of the table names (metrics label) */
#define NGX_HTTP_MANGOO_ROUTE_UNMATCHED  -2
#define NGX_HTTP_MANGOO_ROUTE_HEALTH     -3
#define NGX_HTTP_MANGOO_ROUTE_ERROR      -4

/* ngx_http_mangoo_metrics_jwt() outcomes */
#define NGX_HTTP_MANGOO_JWT_VERIFIED     0
#define NGX_HTTP_MANGOO_JWT_REJECTED     1
#define NGX_HTTP_MANGOO_JWT_CACHE_HIT    2
#define NGX_HTTP_MANGOO_JWT_OUTCOMES     3


/* a worker name that follows DNS: mangoo_workers tcp://NAME:PORT resolve */
typedef struct {
    ngx_str_t                   host;
    in_port_t                   port;
    ngx_uint_t                  index;          /* in endpoints (metrics) */
} ngx_http_mangoo_discover_t;


typedef struct {
    ngx_array_t                *endpoints;      /* ngx_str_t, NUL-terminated */
    ngx_array_t                *discover;       /* ngx_http_mangoo_discover_t */
    ngx_msec_t                  resolve_interval;
    ngx_resolver_t             *resolver;       /* http{}'s "resolver" */
    ngx_msec_t                  resolver_timeout;
    ngx_str_t                   jwks;
    ngx_str_t                   issuer;
    ngx_str_t                   audience;
    time_t                      leeway;
    time_t                      jwks_min_refresh;
    ngx_uint_t                  token_cache;
    ngx_uint_t                  api_key_cache;
    size_t                      api_key_zone;
    ngx_msec_t                  unavailable_wait;
    ngx_flag_t                  metrics;        /* mangoo_metrics_collect */
} ngx_http_mangoo_main_conf_t;


typedef struct {
    ngx_uint_t                  kind;
    ngx_msec_t                  timeout;
    ngx_msec_t                  sse_keepalive;
    size_t                      sse_max_buffered;
    ngx_array_t                *cors_origins;   /* ngx_str_t; NULL: off */
} ngx_http_mangoo_loc_conf_t;


typedef struct ngx_http_mangoo_peer_s  ngx_http_mangoo_peer_t;
typedef struct ngx_http_mangoo_ctx_s   ngx_http_mangoo_ctx_t;
typedef struct ngx_http_mangoo_sse_s   ngx_http_mangoo_sse_t;

/* the reply to a job of the module's own (ctx->request is NULL) */
typedef void (*ngx_http_mangoo_reply_pt)(ngx_http_mangoo_ctx_t *ctx,
    mg_msg_t *msg);


struct ngx_http_mangoo_ctx_s {
    ngx_http_request_t         *request;    /* NULL for the module's own jobs */
    ngx_http_mangoo_reply_pt    on_reply;
    ngx_rbtree_node_t           node;       /* key: the request counter */
    ngx_queue_t                 queue;      /* peer's in-flight or parked */
    ngx_http_mangoo_peer_t     *peer;
    ngx_http_mangoo_peer_t     *target;     /* only this peer (metrics) */
    ngx_http_mangoo_peer_t     *avoid;      /* not this one (it is stopping) */
    ngx_event_t                 timer;
    ngx_msec_t                  timeout;
    ngx_uint_t                  flags;      /* the route's MG_ROUTE_* */
    ngx_int_t                   route;      /* mg_routes index, or _ROUTE_* */
    uint64_t                    start_us;   /* the ctx was made (metrics) */
    uint64_t                    sent_us;    /* the job went to a worker */
    uint64_t                    replied_us; /* its first reply came */

    u_char                      rid[MG_RID_LEN];
    ngx_str_t                   user_id;
    ngx_str_t                   job;
    ngx_str_t                   params;
    ngx_str_t                   params_stored;  /* MG_ROUTE_FIND's last try */
    ngx_uint_t                  find_next;      /* live peer it asks next */
    ngx_str_t                   claims;
    ngx_str_t                   body;
    u_char                     *api_key_digest;     /* MG_ROUTE_APIKEY */

    ngx_http_mangoo_sse_t      *sse;        /* once HEAD came: the stream */

    unsigned                    waiting:1;  /* in the tree: a reply is due */
    unsigned                    parked:1;   /* no worker reachable yet */
    unsigned                    streaming:1;
    unsigned                    awaiting_keys:1;    /* queued in auth */
    unsigned                    counted_open:1;     /* in streams_open */
    unsigned                    counted_first:1;    /* first event timed */
    unsigned                    peeked:1;           /* auth_peek ran */
    unsigned                    peek_verified:1;    /* ... and verified */
    unsigned                    from_cache:1;       /* last check: cached */
    unsigned                    finding:1;  /* MG_ROUTE_FIND: asking in turn */
    unsigned                    awaiting_api_key:1; /* queued in api_key */
};


/*
 * ngx_http_mangoo_authenticate() returns NGX_DECLINED when the request may
 * go on, NGX_AGAIN when it waits for the key set (it is resumed later), and
 * anything else is final (an error was sent) and is the handler's rc.
 */
ngx_http_mangoo_ctx_t *ngx_http_mangoo_request_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_mangoo_add_variables(ngx_conf_t *cf);
void ngx_http_mangoo_route_name(ngx_int_t route, const char **pattern,
    const char **method);

ngx_int_t ngx_http_mangoo_cors_init(ngx_conf_t *cf);
char *ngx_http_mangoo_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mangoo_cors_preflight(ngx_http_request_t *r,
    const char *allow);

ngx_int_t ngx_http_mangoo_auth_check_conf(ngx_conf_t *cf,
    ngx_http_mangoo_main_conf_t *mcf);
ngx_int_t ngx_http_mangoo_auth_init_process(ngx_cycle_t *cycle,
    ngx_http_mangoo_main_conf_t *mcf);
void ngx_http_mangoo_auth_exit_process(void);
ngx_int_t ngx_http_mangoo_authenticate(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx, ngx_uint_t flags);
void ngx_http_mangoo_auth_cleanup(ngx_http_mangoo_ctx_t *ctx);
/* 401 with WWW-Authenticate: Bearer error="invalid_token" */
ngx_int_t ngx_http_mangoo_unauthorized(ngx_http_request_t *r,
    const char *code, const char *message);
ngx_table_elt_t *ngx_http_mangoo_header_in(ngx_http_request_t *r,
    const char *name, size_t len);
void ngx_http_mangoo_auth_peek(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx);
ngx_int_t ngx_http_mangoo_proceed(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx);

/*
 * API keys (MG_ROUTE_APIKEY): check() is authenticate()'s counterpart,
 * with the same return values; forget() drops the request's key from the
 * cache after a worker refused it.
 */
void ngx_http_mangoo_api_key_init_process(ngx_uint_t max);
void ngx_http_mangoo_api_key_exit_process(void);
ngx_int_t ngx_http_mangoo_api_key_check(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx);
void ngx_http_mangoo_api_key_forget(ngx_http_mangoo_ctx_t *ctx);
void ngx_http_mangoo_api_key_cleanup(ngx_http_mangoo_ctx_t *ctx);
ngx_int_t ngx_http_mangoo_key_limit_add_zone(ngx_conf_t *cf, size_t size);
ngx_int_t ngx_http_mangoo_key_limit_take(ngx_str_t *id, double rate,
    ngx_uint_t burst, time_t *retry_after, ngx_log_t *log);

void ngx_http_mangoo_token_cache_init(ngx_uint_t max);
void ngx_http_mangoo_token_cache_flush(void);
void ngx_http_mangoo_token_digest(ngx_str_t *token, u_char *digest);
ngx_int_t ngx_http_mangoo_token_cache_get(u_char *digest, ngx_str_t *sub,
    ngx_str_t *claims, ngx_uint_t *admin);
void ngx_http_mangoo_token_cache_put(u_char *digest, time_t expires,
    ngx_str_t *sub, ngx_str_t *claims, ngx_uint_t admin, ngx_log_t *log);

ngx_int_t ngx_http_mangoo_dispatch_init_process(ngx_cycle_t *cycle,
    ngx_http_mangoo_main_conf_t *mcf);
void ngx_http_mangoo_dispatch_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_mangoo_dispatch_ready(void);
void ngx_http_mangoo_new_rid(ngx_http_mangoo_ctx_t *ctx);
void ngx_http_mangoo_dispatch(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx);
ngx_int_t ngx_http_mangoo_dispatch_system(ngx_http_mangoo_ctx_t *ctx,
    ngx_msec_t timeout);
ngx_uint_t ngx_http_mangoo_dispatch_npeers(void);
ngx_str_t *ngx_http_mangoo_dispatch_endpoint(ngx_uint_t peer);
ngx_str_t *ngx_http_mangoo_peer_endpoint(ngx_http_mangoo_peer_t *peer);
void ngx_http_mangoo_dispatch_system_to(ngx_http_mangoo_ctx_t *ctx,
    ngx_uint_t peer, ngx_msec_t timeout);
void ngx_http_mangoo_detach(ngx_http_mangoo_ctx_t *ctx, ngx_uint_t cancel);

/*
 * Peers that come and go (ngx_http_mangoo_discovery.c): add() connects to
 * endpoint (copied) and counts it under the configured endpoint index;
 * drain() gives a peer no new jobs and closes it once nothing waits on it.
 */
ngx_http_mangoo_peer_t *ngx_http_mangoo_peer_add(ngx_str_t *endpoint,
    ngx_uint_t index, void *group);
void ngx_http_mangoo_peer_drain(ngx_http_mangoo_peer_t *peer);

ngx_uint_t ngx_http_mangoo_discovery_owns(ngx_http_mangoo_main_conf_t *mcf,
    ngx_uint_t index);
ngx_int_t ngx_http_mangoo_discovery_init_process(ngx_cycle_t *cycle,
    ngx_http_mangoo_main_conf_t *mcf);
void ngx_http_mangoo_discovery_exit_process(void);
void ngx_http_mangoo_discovery_lost(void *group);
void ngx_http_mangoo_dispatch_cleanup(ngx_http_mangoo_ctx_t *ctx);

/*
 * A stream, once the worker's HEAD came: start() sends the header, data()
 * forwards one DATA frame, end() writes the last bytes (with code set, an
 * "error" event first) and finalizes the request.  Faults while writing
 * (a client gone, too slow or timed out) cancel the job and finalize the
 * request themselves.  cleanup() is for the request's pool cleanup.
 */
void ngx_http_mangoo_sse_start(ngx_http_mangoo_ctx_t *ctx,
    const mg_msg_t *head);
void ngx_http_mangoo_sse_data(ngx_http_mangoo_ctx_t *ctx, const u_char *data,
    size_t len);
void ngx_http_mangoo_sse_end(ngx_http_mangoo_ctx_t *ctx, const char *code,
    const char *message);
void ngx_http_mangoo_sse_cleanup(ngx_http_mangoo_ctx_t *ctx);

/*
 * Metrics (ngx_http_mangoo_metrics.c).  Every update is an atomic add in
 * the shared zone; all of them are no-ops without "mangoo_workers".
 */
ngx_int_t ngx_http_mangoo_metrics_add_zone(ngx_conf_t *cf);
ngx_int_t ngx_http_mangoo_metrics_add_log_handler(ngx_conf_t *cf);
ngx_int_t ngx_http_mangoo_metrics_init_process(ngx_cycle_t *cycle,
    ngx_array_t *endpoints);
ngx_int_t ngx_http_mangoo_metrics_handler(ngx_http_request_t *r);
uint64_t ngx_http_mangoo_now_us(void);
void ngx_http_mangoo_metrics_stream_open(ngx_http_mangoo_ctx_t *ctx);
void ngx_http_mangoo_metrics_stream(ngx_http_mangoo_ctx_t *ctx,
    const u_char *data, size_t len);
void ngx_http_mangoo_metrics_stream_done(ngx_http_mangoo_ctx_t *ctx);
void ngx_http_mangoo_metrics_failure(const char *code);
void ngx_http_mangoo_metrics_jwt(ngx_uint_t outcome);
void ngx_http_mangoo_metrics_jwks(ngx_uint_t ok);
void ngx_http_mangoo_metrics_endpoint(ngx_uint_t index, ngx_uint_t connected);

ngx_int_t ngx_http_mangoo_json_to_pool(ngx_pool_t *pool, json_t *value,
    ngx_str_t *out);
ngx_uint_t ngx_http_mangoo_media_type_is(const u_char *type, size_t len,
    const char *want, size_t want_len);

ngx_int_t ngx_http_mangoo_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_http_mangoo_send_reply(ngx_http_request_t *r,
    const mg_msg_t *msg);
ngx_int_t ngx_http_mangoo_send_head(ngx_http_request_t *r,
    const mg_msg_t *msg);
void ngx_http_mangoo_finish(ngx_http_request_t *r, ngx_int_t rc);


extern ngx_module_t  ngx_http_mangoo_module;


#endif /* _NGX_HTTP_MANGOO_MODULE_H_INCLUDED_ */
