
/*
 * ngx_http_mangoo_metrics: Prometheus metrics, and the location that
 * serves them ("mangoo_metrics").
 *
 * nginx's own figures live in one shared memory zone, "mangoo_metrics",
 * as atomic counters every nginx worker process adds to: a scrape served
 * by any of them sees the sum.  The zone outlives reloads (same layout,
 * same size), so counters only ever grow while the master runs.
 *
 * A scrape also asks every worker endpoint this process is connected to
 * for its own metrics (job "metrics", answered by the worker's broker
 * without a pool thread) and merges the answers: each family once, each
 * sample labelled worker="<endpoint>".  An endpoint that does not answer
 * in NGX_HTTP_MANGOO_SCRAPE_MS shows as mangoo_endpoint_scrape_success 0.
 */


#include <time.h>

#include "ngx_http_mangoo_module.h"


#define NGX_HTTP_MANGOO_M_ROUTES      128   /* >= mg_routes_count */
#define NGX_HTTP_MANGOO_M_SPECIAL     3     /* unmatched, health, error */
#define NGX_HTTP_MANGOO_M_SLOTS       (NGX_HTTP_MANGOO_M_ROUTES              \
                                       + NGX_HTTP_MANGOO_M_SPECIAL)
#define NGX_HTTP_MANGOO_M_CODES       600
#define NGX_HTTP_MANGOO_M_ENDPOINTS   64
#define NGX_HTTP_MANGOO_M_EP_NAME     120
#define NGX_HTTP_MANGOO_SCRAPE_MS     3000
#define NGX_HTTP_MANGOO_SCRAPE_MAX    (8 * 1024 * 1024)


/* upper bounds in microseconds; one more bucket for +Inf */
static const uint64_t  ngx_http_mangoo_m_bounds[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000
};

#define NGX_HTTP_MANGOO_M_BUCKETS                                            \
    (sizeof(ngx_http_mangoo_m_bounds) / sizeof(ngx_http_mangoo_m_bounds[0]))


static const char  *ngx_http_mangoo_m_causes[] = {
    "no_workers", "overloaded", "timeout", "worker_lost", "auth_unavailable"
};

#define NGX_HTTP_MANGOO_M_CAUSES                                             \
    (sizeof(ngx_http_mangoo_m_causes) / sizeof(ngx_http_mangoo_m_causes[0]))


typedef struct {
    ngx_atomic_t                  bucket[NGX_HTTP_MANGOO_M_BUCKETS + 1];
    ngx_atomic_t                  sum_us;
} ngx_http_mangoo_histogram_t;


typedef struct {
    u_char                        name[NGX_HTTP_MANGOO_M_EP_NAME];
    ngx_atomic_t                  connected;    /* nginx processes */
    ngx_atomic_t                  connects;
    ngx_atomic_t                  disconnects;
} ngx_http_mangoo_m_endpoint_t;


typedef struct {
    size_t                        layout;       /* sizeof, to reuse safely */
    ngx_atomic_t                  requests[NGX_HTTP_MANGOO_M_SLOTS]
                                          [NGX_HTTP_MANGOO_M_CODES];
    ngx_http_mangoo_histogram_t   duration[NGX_HTTP_MANGOO_M_SLOTS];
    ngx_atomic_t                  streams_open;
    ngx_atomic_t                  stream_events;
    ngx_atomic_t                  stream_bytes;
    ngx_http_mangoo_histogram_t   first_event;
    ngx_atomic_t                  failures[NGX_HTTP_MANGOO_M_CAUSES];
    ngx_atomic_t                  jwt[NGX_HTTP_MANGOO_JWT_OUTCOMES];
    ngx_atomic_t                  jwks_ok;
    ngx_atomic_t                  jwks_failed;
    ngx_http_mangoo_m_endpoint_t  endpoints[NGX_HTTP_MANGOO_M_ENDPOINTS];
} ngx_http_mangoo_metrics_t;


/* output: a chain of buffers filled one line at a time */
typedef struct {
    ngx_pool_t                   *pool;
    ngx_chain_t                  *first;
    ngx_chain_t                 **last;
    ngx_buf_t                    *b;
} ngx_http_mangoo_m_out_t;


typedef struct ngx_http_mangoo_scrape_s  ngx_http_mangoo_scrape_t;

typedef struct {
    ngx_http_mangoo_ctx_t         ctx;          /* first: on_reply casts */
    ngx_http_mangoo_scrape_t     *scrape;
    ngx_str_t                     endpoint;
    ngx_str_t                     text;
    unsigned                      done:1;
    unsigned                      ok:1;
} ngx_http_mangoo_scrape_peer_t;


struct ngx_http_mangoo_scrape_s {
    ngx_http_request_t           *request;
    ngx_http_mangoo_scrape_peer_t *peers;
    ngx_uint_t                    npeers;
    ngx_uint_t                    pending;
    unsigned                      asking:1;    /* still sending the jobs */
    unsigned                      waiting:1;   /* the handler returned */
};


/* one metric family of the workers' answers, merged */
typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     help;         /* whole lines */
    ngx_str_t                     type;
    ngx_array_t                   samples;      /* ngx_http_mangoo_m_sample_t */
} ngx_http_mangoo_m_family_t;


typedef struct {
    ngx_str_t                     line;
    ngx_str_t                    *endpoint;
} ngx_http_mangoo_m_sample_t;


static ngx_http_mangoo_metrics_t     *ngx_http_mangoo_m;
static ngx_http_mangoo_m_endpoint_t  *ngx_http_mangoo_m_eps[
                                                 NGX_HTTP_MANGOO_M_ENDPOINTS];


static ngx_int_t ngx_http_mangoo_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_mangoo_metrics_log(ngx_http_request_t *r);
static void ngx_http_mangoo_metrics_reply(ngx_http_mangoo_ctx_t *ctx,
    mg_msg_t *msg);
static void ngx_http_mangoo_metrics_scrape_cleanup(void *data);
static ngx_int_t ngx_http_mangoo_metrics_send(ngx_http_request_t *r,
    ngx_http_mangoo_scrape_t *scrape);


uint64_t
ngx_http_mangoo_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


ngx_int_t
ngx_http_mangoo_metrics_add_zone(ngx_conf_t *cf)
{
    size_t                      size;
    ngx_str_t                   name = ngx_string("mangoo_metrics");
    ngx_shm_zone_t             *zone;

    if (mg_routes_count > NGX_HTTP_MANGOO_M_ROUTES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mangoo: %uz routes, metrics have room for %d",
                           mg_routes_count, NGX_HTTP_MANGOO_M_ROUTES);
        return NGX_ERROR;
    }

    /* the struct, the slab allocator's page bookkeeping, and room to spare */
    size = sizeof(ngx_http_mangoo_metrics_t);
    size += size / 64 + 16 * ngx_pagesize;

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_mangoo_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_mangoo_metrics_init_zone;

    return NGX_OK;
}


/* After ngx_http_init_phases(): the log phase counts each request. */
ngx_int_t
ngx_http_mangoo_metrics_add_log_handler(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mangoo_metrics_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t            *sp;
    ngx_http_mangoo_metrics_t  *m = data;

    /* a reload: the previous cycle's counters go on */
    if (m != NULL && m->layout == sizeof(ngx_http_mangoo_metrics_t)) {
        shm_zone->data = m;
        return NGX_OK;
    }

    sp = (ngx_slab_pool_t *) shm_zone->shm.addr;

    m = ngx_slab_calloc(sp, sizeof(ngx_http_mangoo_metrics_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->layout = sizeof(ngx_http_mangoo_metrics_t);
    sp->data = m;
    shm_zone->data = m;

    return NGX_OK;
}


/*
 * The zone of this process's cycle, if it has one: a reload that turned
 * metrics off has none, and the previous cycle's zone may be gone.  Then
 * each endpoint of this process gets its slot, found by name.
 */
ngx_int_t
ngx_http_mangoo_metrics_init_process(ngx_cycle_t *cycle, ngx_array_t *eps)
{
    ngx_str_t                     *ep;
    ngx_uint_t                     i, j;
    ngx_slab_pool_t               *sp;
    ngx_shm_zone_t                *zone;
    ngx_list_part_t               *part;
    ngx_http_mangoo_m_endpoint_t  *slot, *free_slot;

    ngx_http_mangoo_m = NULL;
    sp = NULL;
    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].shm.name.len == sizeof("mangoo_metrics") - 1
            && ngx_strncmp(zone[i].shm.name.data, "mangoo_metrics",
                           zone[i].shm.name.len) == 0)
        {
            sp = (ngx_slab_pool_t *) zone[i].shm.addr;
            ngx_http_mangoo_m = zone[i].data;
            break;
        }
    }

    if (ngx_http_mangoo_m == NULL) {
        return NGX_OK;
    }

    ep = eps->elts;

    ngx_shmtx_lock(&sp->mutex);

    for (i = 0; i < eps->nelts && i < NGX_HTTP_MANGOO_M_ENDPOINTS; i++) {
        free_slot = NULL;
        ngx_http_mangoo_m_eps[i] = NULL;

        for (j = 0; j < NGX_HTTP_MANGOO_M_ENDPOINTS; j++) {
            slot = &ngx_http_mangoo_m->endpoints[j];

            if (slot->name[0] == '\0') {
                if (free_slot == NULL) {
                    free_slot = slot;
                }
                continue;
            }

            if (ngx_strncmp(slot->name, ep[i].data, ep[i].len) == 0
                && slot->name[ep[i].len] == '\0')
            {
                ngx_http_mangoo_m_eps[i] = slot;
                break;
            }
        }

        if (ngx_http_mangoo_m_eps[i] == NULL && free_slot != NULL
            && ep[i].len < NGX_HTTP_MANGOO_M_EP_NAME)
        {
            ngx_memcpy(free_slot->name, ep[i].data, ep[i].len);
            free_slot->name[ep[i].len] = '\0';
            ngx_http_mangoo_m_eps[i] = free_slot;
        }
    }

    ngx_shmtx_unlock(&sp->mutex);

    return NGX_OK;
}


static void
ngx_http_mangoo_m_observe(ngx_http_mangoo_histogram_t *h, uint64_t us)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_MANGOO_M_BUCKETS; i++) {
        if (us <= ngx_http_mangoo_m_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum_us, (ngx_atomic_int_t) us);
}


/* The log phase: every request a mangoo location handled, by route. */
static ngx_int_t
ngx_http_mangoo_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t              status, slot;
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    if (ctx == NULL || ngx_http_mangoo_m == NULL || ctx->start_us == 0) {
        return NGX_OK;
    }

    /* as nginx's $status says it */
    status = r->err_status ? r->err_status : r->headers_out.status;
    if (status >= NGX_HTTP_MANGOO_M_CODES) {
        status = 0;
    }

    slot = ctx->route >= 0
           ? (ngx_uint_t) ctx->route
           : NGX_HTTP_MANGOO_M_ROUTES + (ngx_uint_t) (-ctx->route - 2);

    (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->requests[slot][status], 1);
    ngx_http_mangoo_m_observe(&ngx_http_mangoo_m->duration[slot],
                              ngx_http_mangoo_now_us() - ctx->start_us);

    return NGX_OK;
}


void
ngx_http_mangoo_metrics_stream(ngx_http_mangoo_ctx_t *ctx, const u_char *data,
    size_t len)
{
    const u_char  *p, *end;
    ngx_uint_t     events;

    if (ngx_http_mangoo_m == NULL) {
        return;
    }

    if (!ctx->counted_first) {
        ctx->counted_first = 1;
        ngx_http_mangoo_m_observe(&ngx_http_mangoo_m->first_event,
                                  ngx_http_mangoo_now_us() - ctx->start_us);
    }

    /* an event ends with a blank line; a frame may carry several */
    events = 0;
    end = data + len;

    for (p = data; p < end; p++) {
        p = ngx_strlchr((u_char *) p, (u_char *) end, '\n');
        if (p == NULL) {
            break;
        }

        if (p + 1 < end && p[1] == '\n') {
            events++;
            p++;
        }
    }

    (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->stream_events, events);
    (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->stream_bytes, len);
}


/* A stream's HEAD came: it is open until its request is freed. */
void
ngx_http_mangoo_metrics_stream_open(ngx_http_mangoo_ctx_t *ctx)
{
    if (!ctx->counted_open && ngx_http_mangoo_m != NULL) {
        ctx->counted_open = 1;
        (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->streams_open, 1);
    }
}


void
ngx_http_mangoo_metrics_stream_done(ngx_http_mangoo_ctx_t *ctx)
{
    if (ctx->counted_open && ngx_http_mangoo_m != NULL) {
        ctx->counted_open = 0;
        (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->streams_open, -1);
    }
}


void
ngx_http_mangoo_metrics_failure(const char *code)
{
    ngx_uint_t  i;

    if (ngx_http_mangoo_m == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_MANGOO_M_CAUSES; i++) {
        if (ngx_strcmp(code, ngx_http_mangoo_m_causes[i]) == 0) {
            (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->failures[i], 1);
            return;
        }
    }
}


void
ngx_http_mangoo_metrics_jwt(ngx_uint_t outcome)
{
    if (ngx_http_mangoo_m != NULL && outcome < NGX_HTTP_MANGOO_JWT_OUTCOMES) {
        (void) ngx_atomic_fetch_add(&ngx_http_mangoo_m->jwt[outcome], 1);
    }
}


void
ngx_http_mangoo_metrics_jwks(ngx_uint_t ok)
{
    if (ngx_http_mangoo_m != NULL) {
        (void) ngx_atomic_fetch_add(ok ? &ngx_http_mangoo_m->jwks_ok
                                       : &ngx_http_mangoo_m->jwks_failed, 1);
    }
}


/* connected: 1 on a handshake, 0 on a disconnect or when leaving */
void
ngx_http_mangoo_metrics_endpoint(ngx_uint_t index, ngx_uint_t connected)
{
    ngx_http_mangoo_m_endpoint_t  *slot;

    if (index >= NGX_HTTP_MANGOO_M_ENDPOINTS) {
        return;
    }

    slot = ngx_http_mangoo_m_eps[index];
    if (slot == NULL) {
        return;
    }

    if (connected) {
        (void) ngx_atomic_fetch_add(&slot->connected, 1);
        (void) ngx_atomic_fetch_add(&slot->connects, 1);

    } else {
        (void) ngx_atomic_fetch_add(&slot->connected, -1);
        (void) ngx_atomic_fetch_add(&slot->disconnects, 1);
    }
}


/* ---- the exposition ---------------------------------------------------- */


/* Room for n more bytes in the last buffer (a line is far less than 4k). */
static u_char *
ngx_http_mangoo_m_room(ngx_http_mangoo_m_out_t *out, size_t n)
{
    ngx_chain_t  *cl;

    if (out->b != NULL && (size_t) (out->b->end - out->b->last) >= n) {
        return out->b->last;
    }

    cl = ngx_alloc_chain_link(out->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = ngx_create_temp_buf(out->pool, ngx_max(n, 64 * 1024));
    if (cl->buf == NULL) {
        return NULL;
    }

    cl->next = NULL;
    *out->last = cl;
    out->last = &cl->next;
    out->b = cl->buf;

    return out->b->last;
}


static ngx_int_t
ngx_http_mangoo_m_printf(ngx_http_mangoo_m_out_t *out, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_http_mangoo_m_room(out, 4096);
    if (p == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    out->b->last = ngx_vslprintf(p, out->b->end, fmt, args);
    va_end(args);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_m_bytes(ngx_http_mangoo_m_out_t *out, const u_char *data,
    size_t len)
{
    u_char  *p;

    p = ngx_http_mangoo_m_room(out, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_cpymem(p, data, len);

    return NGX_OK;
}


/* A label value: backslash, double quote and newline escaped. */
static ngx_int_t
ngx_http_mangoo_m_label(ngx_http_mangoo_m_out_t *out, const u_char *v,
    size_t len)
{
    u_char  *p;
    size_t   i;

    p = ngx_http_mangoo_m_room(out, 2 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        switch (v[i]) {
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '"':  *p++ = '\\'; *p++ = '"'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        default:   *p++ = v[i];
        }
    }

    out->b->last = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_m_family(ngx_http_mangoo_m_out_t *out, const char *name,
    const char *type, const char *help)
{
    return ngx_http_mangoo_m_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
                                    name, help, name, type);
}


/* seconds from microseconds, exactly and short: "1.2345", "0.0005", "30" */
static ngx_int_t
ngx_http_mangoo_m_seconds(ngx_http_mangoo_m_out_t *out, uint64_t us)
{
    u_char  *p, *last;

    p = ngx_http_mangoo_m_room(out, 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "%uL.%06uL", us / 1000000, us % 1000000);

    while (last[-1] == '0') {
        last--;
    }

    if (last[-1] == '.') {
        last--;
    }

    out->b->last = last;

    return NGX_OK;
}


/* name{labels,le="..."} cumulative, then _sum and _count; labels may be "" */
static ngx_int_t
ngx_http_mangoo_m_histogram(ngx_http_mangoo_m_out_t *out, const char *name,
    const u_char *labels, size_t labels_len, ngx_http_mangoo_histogram_t *h)
{
    uint64_t    total;
    ngx_uint_t  i;
    const char *sep = labels_len ? "," : "";

    total = 0;

    for (i = 0; i <= NGX_HTTP_MANGOO_M_BUCKETS; i++) {
        total += h->bucket[i];

        if (ngx_http_mangoo_m_printf(out, "%s_bucket{%*s%sle=\"", name,
                                     labels_len, labels, sep)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (i == NGX_HTTP_MANGOO_M_BUCKETS) {
            if (ngx_http_mangoo_m_printf(out, "+Inf") != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (ngx_http_mangoo_m_seconds(out, ngx_http_mangoo_m_bounds[i])
                   != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_mangoo_m_printf(out, "\"} %uL\n", total) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_mangoo_m_printf(out, "%s_sum%s%*s%s ", name,
                                 labels_len ? "{" : "", labels_len, labels,
                                 labels_len ? "}" : "")
        != NGX_OK
        || ngx_http_mangoo_m_seconds(out, h->sum_us) != NGX_OK
        || ngx_http_mangoo_m_printf(out, "\n%s_count%s%*s%s %uL\n", name,
                                    labels_len ? "{" : "", labels_len, labels,
                                    labels_len ? "}" : "", total)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* route="...",method="..." for a slot, into buf */
static size_t
ngx_http_mangoo_m_route_labels(ngx_uint_t slot, u_char *buf, size_t size)
{
    const char  *pattern, *method;

    ngx_http_mangoo_route_name(slot < NGX_HTTP_MANGOO_M_ROUTES
                               ? (ngx_int_t) slot
                               : -(ngx_int_t) (slot - NGX_HTTP_MANGOO_M_ROUTES)
                                 - 2,
                               &pattern, &method);

    return ngx_snprintf(buf, size, "route=\"%s\",method=\"%s\"", pattern,
                        method) - buf;
}


static ngx_int_t
ngx_http_mangoo_m_render_nginx(ngx_http_mangoo_m_out_t *out)
{
    u_char                         labels[256];
    size_t                         len;
    ngx_uint_t                     slot, code, i, used;
    ngx_http_mangoo_metrics_t     *m = ngx_http_mangoo_m;
    ngx_http_mangoo_m_endpoint_t  *ep;

    static const char  *jwt[NGX_HTTP_MANGOO_JWT_OUTCOMES] = {
        "verified", "rejected", "cache_hit"
    };

#define NGX_HTTP_MANGOO_M_SLOT_USED(s)                                        \
    ((s) < mg_routes_count || (s) >= NGX_HTTP_MANGOO_M_ROUTES)

    if (ngx_http_mangoo_m_family(out, "mangoo_http_requests_total", "counter",
            "Requests the Mangoo locations answered, by route, method and "
            "status code.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (slot = 0; slot < NGX_HTTP_MANGOO_M_SLOTS; slot++) {
        if (!NGX_HTTP_MANGOO_M_SLOT_USED(slot)) {
            continue;
        }

        len = ngx_http_mangoo_m_route_labels(slot, labels, sizeof(labels));

        for (code = 0; code < NGX_HTTP_MANGOO_M_CODES; code++) {
            if (m->requests[slot][code] == 0) {
                continue;
            }

            if (ngx_http_mangoo_m_printf(out,
                    "mangoo_http_requests_total{%*s,code=\"%ui\"} %uA\n",
                    len, labels, code, m->requests[slot][code])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_http_request_duration_seconds",
            "histogram", "Time from the Mangoo handler to the log phase, "
            "by route and method (a stream: until it ended).") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (slot = 0; slot < NGX_HTTP_MANGOO_M_SLOTS; slot++) {
        if (!NGX_HTTP_MANGOO_M_SLOT_USED(slot)) {
            continue;
        }

        used = 0;
        for (i = 0; i <= NGX_HTTP_MANGOO_M_BUCKETS; i++) {
            used |= m->duration[slot].bucket[i] != 0;
        }

        if (!used) {
            continue;
        }

        len = ngx_http_mangoo_m_route_labels(slot, labels, sizeof(labels));

        if (ngx_http_mangoo_m_histogram(out,
                "mangoo_http_request_duration_seconds", labels, len,
                &m->duration[slot]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_http_streams_open", "gauge",
            "Event streams open now, every nginx process together.")
            != NGX_OK
        || ngx_http_mangoo_m_printf(out, "mangoo_http_streams_open %uA\n",
                                    m->streams_open) != NGX_OK
        || ngx_http_mangoo_m_family(out, "mangoo_http_stream_events_total",
            "counter", "Server-sent events forwarded to clients.") != NGX_OK
        || ngx_http_mangoo_m_printf(out,
                "mangoo_http_stream_events_total %uA\n", m->stream_events)
           != NGX_OK
        || ngx_http_mangoo_m_family(out, "mangoo_http_stream_bytes_total",
            "counter", "Bytes of event streams forwarded to clients.")
           != NGX_OK
        || ngx_http_mangoo_m_printf(out,
                "mangoo_http_stream_bytes_total %uA\n", m->stream_bytes)
           != NGX_OK
        || ngx_http_mangoo_m_family(out,
            "mangoo_http_stream_first_event_seconds", "histogram",
            "Time from the Mangoo handler to a stream's first event.")
           != NGX_OK
        || ngx_http_mangoo_m_histogram(out,
                "mangoo_http_stream_first_event_seconds", NULL, 0,
                &m->first_event) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_http_worker_failures_total",
            "counter", "Requests nginx itself failed for want of a worker "
            "answer, by cause (503 no_workers, overloaded, auth_unavailable; "
            "504 timeout; 502 worker_lost).") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_MANGOO_M_CAUSES; i++) {
        if (ngx_http_mangoo_m_printf(out,
                "mangoo_http_worker_failures_total{cause=\"%s\"} %uA\n",
                ngx_http_mangoo_m_causes[i], m->failures[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_jwt_verifications_total",
            "counter", "Bearer tokens checked: verified or rejected by "
            "signature and claims, or found in the token cache.") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_MANGOO_JWT_OUTCOMES; i++) {
        if (ngx_http_mangoo_m_printf(out,
                "mangoo_jwt_verifications_total{outcome=\"%s\"} %uA\n",
                jwt[i], m->jwt[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_jwks_refreshes_total",
            "counter", "Key sets loaded (a changed file, or a fetch).")
            != NGX_OK
        || ngx_http_mangoo_m_printf(out,
                "mangoo_jwks_refreshes_total{outcome=\"ok\"} %uA\n"
                "mangoo_jwks_refreshes_total{outcome=\"failed\"} %uA\n",
                m->jwks_ok, m->jwks_failed) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_endpoint_connections", "gauge",
            "Connections of nginx processes to each worker endpoint "
            "now (a name with resolve: to all its addresses).")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* three families over the same slots: one pass each */
    for (i = 0; i < 3; i++) {
        if (i == 1
            && ngx_http_mangoo_m_family(out, "mangoo_endpoint_connects_total",
                   "counter", "Connections to worker endpoints made "
                   "(ZeroMQ handshakes done).") != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (i == 2
            && ngx_http_mangoo_m_family(out,
                   "mangoo_endpoint_disconnects_total", "counter",
                   "Connections to worker endpoints lost.") != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (slot = 0; slot < NGX_HTTP_MANGOO_M_ENDPOINTS; slot++) {
            ep = &m->endpoints[slot];

            if (ep->name[0] == '\0') {
                continue;
            }

            if (ngx_http_mangoo_m_printf(out, "%s{worker=\"",
                    i == 0 ? "mangoo_endpoint_connections"
                           : i == 1 ? "mangoo_endpoint_connects_total"
                                    : "mangoo_endpoint_disconnects_total")
                != NGX_OK
                || ngx_http_mangoo_m_label(out, ep->name,
                                           ngx_strlen(ep->name)) != NGX_OK
                || ngx_http_mangoo_m_printf(out, "\"} %uA\n",
                       i == 0 ? ep->connected
                              : i == 1 ? ep->connects : ep->disconnects)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

#undef NGX_HTTP_MANGOO_M_SLOT_USED

    return NGX_OK;
}


static ngx_http_mangoo_m_family_t *
ngx_http_mangoo_m_family_get(ngx_array_t *families, ngx_str_t *name,
    ngx_pool_t *pool)
{
    ngx_uint_t                   i;
    ngx_http_mangoo_m_family_t  *f;

    f = families->elts;

    for (i = 0; i < families->nelts; i++) {
        if (f[i].name.len == name->len
            && ngx_strncmp(f[i].name.data, name->data, name->len) == 0)
        {
            return &f[i];
        }
    }

    f = ngx_array_push(families);
    if (f == NULL) {
        return NULL;
    }

    ngx_memzero(f, sizeof(ngx_http_mangoo_m_family_t));
    f->name = *name;

    if (ngx_array_init(&f->samples, pool, 8,
                       sizeof(ngx_http_mangoo_m_sample_t)) != NGX_OK)
    {
        return NULL;
    }

    return f;
}


/* The name after "# HELP " or "# TYPE ", up to the next space. */
static void
ngx_http_mangoo_m_comment_name(u_char *line, size_t len, ngx_str_t *name)
{
    u_char  *p, *end;

    p = line + 7;
    end = line + len;
    name->data = p;

    while (p < end && *p != ' ') {
        p++;
    }

    name->len = p - name->data;
}


/* Sort the workers' lines into families, in the order they first came. */
static ngx_int_t
ngx_http_mangoo_m_collect(ngx_http_mangoo_scrape_peer_t *peer,
    ngx_array_t *families, ngx_pool_t *pool)
{
    u_char                      *p, *end, *eol;
    size_t                       len;
    ngx_str_t                    name;
    ngx_http_mangoo_m_family_t  *cur;
    ngx_http_mangoo_m_sample_t  *s;

    cur = NULL;
    p = peer->text.data;
    end = p + peer->text.len;

    for ( /* void */ ; p < end; p = eol + 1) {
        eol = ngx_strlchr(p, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        len = eol - p;

        if (len > 7 && (ngx_strncmp(p, "# HELP ", 7) == 0
                        || ngx_strncmp(p, "# TYPE ", 7) == 0))
        {
            ngx_http_mangoo_m_comment_name(p, len, &name);

            cur = ngx_http_mangoo_m_family_get(families, &name, pool);
            if (cur == NULL) {
                return NGX_ERROR;
            }

            if (p[2] == 'H' && cur->help.len == 0) {
                cur->help.data = p;
                cur->help.len = len;

            } else if (p[2] == 'T' && cur->type.len == 0) {
                cur->type.data = p;
                cur->type.len = len;
            }

            continue;
        }

        /* other comments, blank lines, or samples before any family */
        if (len == 0 || p[0] == '#' || cur == NULL) {
            continue;
        }

        s = ngx_array_push(&cur->samples);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->line.data = p;
        s->line.len = len;
        s->endpoint = &peer->endpoint;
    }

    return NGX_OK;
}


/* A worker's sample with worker="<endpoint>" first among its labels. */
static ngx_int_t
ngx_http_mangoo_m_sample(ngx_http_mangoo_m_out_t *out,
    ngx_http_mangoo_m_sample_t *s)
{
    u_char  *p, *end;

    p = s->line.data;
    end = p + s->line.len;

    while (p < end && *p != '{' && *p != ' ') {
        p++;
    }

    if (p == end) {
        return NGX_OK;      /* no value: not a sample */
    }

    if (ngx_http_mangoo_m_bytes(out, s->line.data, p - s->line.data)
            != NGX_OK
        || ngx_http_mangoo_m_bytes(out, (u_char *) "{worker=\"", 9) != NGX_OK
        || ngx_http_mangoo_m_label(out, s->endpoint->data, s->endpoint->len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (*p == '{') {
        p++;

        if (ngx_http_mangoo_m_bytes(out, (u_char *) (*p == '}' ? "\"" : "\","),
                                    *p == '}' ? 1 : 2) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_mangoo_m_bytes(out, (u_char *) "\"}", 2) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_mangoo_m_bytes(out, p, end - p) != NGX_OK
        || ngx_http_mangoo_m_bytes(out, (u_char *) "\n", 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_m_render_workers(ngx_http_mangoo_m_out_t *out,
    ngx_http_mangoo_scrape_t *scrape)
{
    ngx_uint_t                   i, j;
    ngx_array_t                  families;
    ngx_http_mangoo_m_family_t  *f;
    ngx_http_mangoo_m_sample_t  *s;

    if (scrape->npeers == 0) {
        return NGX_OK;
    }

    if (ngx_http_mangoo_m_family(out, "mangoo_endpoint_scrape_success",
            "gauge", "Whether the worker at each endpoint answered this "
            "scrape (1) or not (0).") != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < scrape->npeers; i++) {
        if (ngx_http_mangoo_m_printf(out,
                "mangoo_endpoint_scrape_success{worker=\"") != NGX_OK
            || ngx_http_mangoo_m_label(out, scrape->peers[i].endpoint.data,
                                       scrape->peers[i].endpoint.len)
               != NGX_OK
            || ngx_http_mangoo_m_printf(out, "\"} %d\n",
                                        scrape->peers[i].ok ? 1 : 0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_array_init(&families, out->pool, 32,
                       sizeof(ngx_http_mangoo_m_family_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < scrape->npeers; i++) {
        if (scrape->peers[i].ok
            && ngx_http_mangoo_m_collect(&scrape->peers[i], &families,
                                         out->pool) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    f = families.elts;

    for (i = 0; i < families.nelts; i++) {
        /* a family the workers did not describe is left out whole */
        if (f[i].help.len == 0 || f[i].type.len == 0) {
            continue;
        }

        if (ngx_http_mangoo_m_bytes(out, f[i].help.data, f[i].help.len)
                != NGX_OK
            || ngx_http_mangoo_m_bytes(out, (u_char *) "\n", 1) != NGX_OK
            || ngx_http_mangoo_m_bytes(out, f[i].type.data, f[i].type.len)
               != NGX_OK
            || ngx_http_mangoo_m_bytes(out, (u_char *) "\n", 1) != NGX_OK)
        {
            return NGX_ERROR;
        }

        s = f[i].samples.elts;

        for (j = 0; j < f[i].samples.nelts; j++) {
            if (ngx_http_mangoo_m_sample(out, &s[j]) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* ---- the location -------------------------------------------------------- */


ngx_int_t
ngx_http_mangoo_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                 *ep;
    ngx_uint_t                 i, n;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mangoo_scrape_t  *scrape;
    ngx_http_mangoo_scrape_peer_t  *peer;

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return ngx_http_mangoo_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "method not allowed");
    }

    if (ngx_http_mangoo_m == NULL) {
        return ngx_http_mangoo_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "metrics are not collected here");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    scrape = ngx_pcalloc(r->pool, sizeof(ngx_http_mangoo_scrape_t));
    if (scrape == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    scrape->request = r;
    n = ngx_http_mangoo_dispatch_npeers();

    if (n) {
        scrape->peers = ngx_pcalloc(r->pool,
                                    n * sizeof(ngx_http_mangoo_scrape_peer_t));
        if (scrape->peers == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* a client that leaves first takes the pool: no reply may find it */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mangoo_metrics_scrape_cleanup;
    cln->data = scrape;

    scrape->npeers = n;
    scrape->asking = 1;

    for (i = 0; i < n; i++) {
        peer = &scrape->peers[i];
        peer->scrape = scrape;
        /* a copy: a peer that DNS drops may be closed before we answer */
        ep = ngx_http_mangoo_dispatch_endpoint(i);
        peer->endpoint.data = ngx_pstrdup(r->pool, ep);
        if (peer->endpoint.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        peer->endpoint.len = ep->len;

        peer->ctx.on_reply = ngx_http_mangoo_metrics_reply;
        ngx_str_set(&peer->ctx.job, "metrics");
        ngx_str_set(&peer->ctx.params, "{}");
        ngx_str_set(&peer->ctx.claims, "{}");

        scrape->pending++;

        /* a worker not connected answers at once, through on_reply */
        ngx_http_mangoo_dispatch_system_to(&peer->ctx, i,
                                           NGX_HTTP_MANGOO_SCRAPE_MS);
    }

    scrape->asking = 0;

    if (scrape->pending == 0) {
        return ngx_http_mangoo_metrics_send(r, scrape);
    }

    scrape->waiting = 1;
    r->read_event_handler = ngx_http_test_reading;
    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_mangoo_metrics_reply(ngx_http_mangoo_ctx_t *ctx, mg_msg_t *msg)
{
    ngx_http_request_t             *r;
    ngx_http_mangoo_scrape_t       *scrape;
    ngx_http_mangoo_scrape_peer_t  *peer;

    peer = (ngx_http_mangoo_scrape_peer_t *) ctx;
    scrape = peer->scrape;
    r = scrape->request;

    if (peer->done) {
        return;
    }

    peer->done = 1;
    scrape->pending--;

    if (msg->type == MG_MSG_RES && msg->status == NGX_HTTP_OK
        && msg->body.len <= NGX_HTTP_MANGOO_SCRAPE_MAX)
    {
        peer->text.data = ngx_pnalloc(r->pool, msg->body.len + 1);

        if (peer->text.data != NULL) {
            ngx_memcpy(peer->text.data, msg->body.data, msg->body.len);
            peer->text.len = msg->body.len;
            peer->ok = 1;
        }

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mangoo: no metrics from worker \"%V\": %d %*s",
                      &peer->endpoint, msg->status, msg->message.len,
                      msg->message.data);
    }

    if (scrape->pending == 0 && !scrape->asking && scrape->waiting) {
        scrape->waiting = 0;
        ngx_http_finalize_request(r, ngx_http_mangoo_metrics_send(r, scrape));
    }
}


static void
ngx_http_mangoo_metrics_scrape_cleanup(void *data)
{
    ngx_uint_t                 i;
    ngx_http_mangoo_scrape_t  *scrape = data;

    for (i = 0; i < scrape->npeers; i++) {
        scrape->peers[i].done = 1;
        ngx_http_mangoo_detach(&scrape->peers[i].ctx, 0);
    }
}


static ngx_int_t
ngx_http_mangoo_metrics_send(ngx_http_request_t *r,
    ngx_http_mangoo_scrape_t *scrape)
{
    off_t                    len;
    ngx_int_t                rc;
    ngx_chain_t             *cl;
    ngx_table_elt_t         *h;
    ngx_http_mangoo_m_out_t  out;

    out.pool = r->pool;
    out.first = NULL;
    out.last = &out.first;
    out.b = NULL;

    if (ngx_http_mangoo_m_render_nginx(&out) != NGX_OK
        || ngx_http_mangoo_m_render_workers(&out, scrape) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;
    for (cl = out.first; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
        cl->buf->memory = 1;
        cl->buf->temporary = 0;
    }

    out.b->last_buf = (r == r->main) ? 1 : 0;
    out.b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out.first);
}
