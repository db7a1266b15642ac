
/*
 * ngx_http_mangoo_module: directives, configuration, and the content
 * handlers for mangoo_api, mangoo_health and mangoo_error.
 *
 * A request is routed with the shared route table, authenticated, its body
 * read asynchronously, then handed to ngx_http_mangoo_dispatch(), which
 * owns it until a worker's reply (or a timeout) finalizes it.  Only the
 * auth routes (MG_ROUTE_COOKIE) pass the session cookie on to the worker;
 * upload routes (MG_ROUTE_UPLOAD) take a body of any type and pass its
 * Content-Type on.
 */


#include <jansson.h>

#include "ngx_http_mangoo_module.h"
#include "mg_cookie.h"
#include "mg_json.h"


static ngx_int_t ngx_http_mangoo_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mangoo_route(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx, ngx_uint_t *flags);
static ngx_int_t ngx_http_mangoo_build_params(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx, mg_route_match_t *m);
static ngx_int_t ngx_http_mangoo_cookie_params(ngx_http_request_t *r,
    json_t *params);
static ngx_int_t ngx_http_mangoo_find_params(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx, json_t *params);
static ngx_int_t ngx_http_mangoo_check_content_type(ngx_http_request_t *r,
    ngx_uint_t flags);
static ngx_int_t ngx_http_mangoo_error_page(ngx_http_request_t *r);
static void ngx_http_mangoo_body_handler(ngx_http_request_t *r);
static void ngx_http_mangoo_cleanup(void *data);

static ngx_int_t ngx_http_mangoo_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_mangoo_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mangoo_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mangoo_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mangoo_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mangoo_workers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mangoo_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mangoo_init_process(ngx_cycle_t *cycle);
static void ngx_http_mangoo_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_mangoo_commands[] = {

    { ngx_string("mangoo_workers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mangoo_workers,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mangoo_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, jwks),
      NULL },

    { ngx_string("mangoo_jwks_min_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, jwks_min_refresh),
      NULL },

    { ngx_string("mangoo_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, issuer),
      NULL },

    { ngx_string("mangoo_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, audience),
      NULL },

    { ngx_string("mangoo_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, leeway),
      NULL },

    { ngx_string("mangoo_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, token_cache),
      NULL },

    { ngx_string("mangoo_api_key_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, api_key_cache),
      NULL },

    { ngx_string("mangoo_api_key_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, api_key_zone),
      NULL },

    { ngx_string("mangoo_workers_resolve_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, resolve_interval),
      NULL },

    { ngx_string("mangoo_unavailable_wait"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, unavailable_wait),
      NULL },

    { ngx_string("mangoo_metrics_collect"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mangoo_main_conf_t, metrics),
      NULL },

    { ngx_string("mangoo_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mangoo_loc_conf_t, timeout),
      NULL },

    { ngx_string("mangoo_sse_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mangoo_loc_conf_t, sse_keepalive),
      NULL },

    { ngx_string("mangoo_sse_max_buffered"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mangoo_loc_conf_t, sse_max_buffered),
      NULL },

    { ngx_string("mangoo_cors_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mangoo_cors_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mangoo_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mangoo_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MANGOO_API,
      NULL },

    { ngx_string("mangoo_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mangoo_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MANGOO_HEALTH,
      NULL },

    { ngx_string("mangoo_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mangoo_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MANGOO_ERROR,
      NULL },

    { ngx_string("mangoo_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mangoo_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_MANGOO_METRICS,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mangoo_module_ctx = {
    ngx_http_mangoo_add_variables,         /* preconfiguration */
    ngx_http_mangoo_postconfiguration,     /* postconfiguration */

    ngx_http_mangoo_create_main_conf,      /* create main configuration */
    ngx_http_mangoo_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mangoo_create_loc_conf,       /* create location configuration */
    ngx_http_mangoo_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_mangoo_module = {
    NGX_MODULE_V1,
    &ngx_http_mangoo_module_ctx,           /* module context */
    ngx_http_mangoo_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mangoo_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mangoo_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The request's ctx, made on first use: by the content handler, or earlier
 * by a variable ($mangoo_user_id as limit_req's key).  Its cleanup runs
 * when the request's pool goes.
 */
ngx_http_mangoo_ctx_t *
ngx_http_mangoo_request_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);
    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mangoo_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->route = NGX_HTTP_MANGOO_ROUTE_UNMATCHED;
    ctx->start_us = ngx_http_mangoo_now_us();
    ngx_http_mangoo_new_rid(ctx);
    ngx_http_set_ctx(r, ctx, ngx_http_mangoo_module);

    cln->handler = ngx_http_mangoo_cleanup;
    cln->data = ctx;

    return ctx;
}


static ngx_int_t
ngx_http_mangoo_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   flags = 0;
    ngx_http_mangoo_ctx_t       *ctx;
    ngx_http_mangoo_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);

    ctx = ngx_http_mangoo_request_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_http_mangoo_dispatch_ready()) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mangoo: no \"mangoo_workers\" configured");
        ngx_http_mangoo_metrics_failure("no_workers");
        return ngx_http_mangoo_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "no_workers",
                                          "no workers are configured");
    }

    if (mlcf->kind == NGX_HTTP_MANGOO_ERROR) {
        ctx->route = NGX_HTTP_MANGOO_ROUTE_ERROR;

        /* the redirect here dropped the first ctx: whose request was it
         * (a limit_req refusal is logged with its user) */
        ngx_http_mangoo_auth_peek(r, ctx);

        return ngx_http_mangoo_error_page(r);
    }

    if (mlcf->kind == NGX_HTTP_MANGOO_HEALTH) {
        if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
            return ngx_http_mangoo_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                              "method_not_allowed",
                                              "method not allowed");
        }

        ctx->route = NGX_HTTP_MANGOO_ROUTE_HEALTH;
        ngx_str_set(&ctx->job, "health");
        ngx_str_set(&ctx->params, "{}");
        flags = MG_ROUTE_PUBLIC;

    } else {
        rc = ngx_http_mangoo_route(r, ctx, &flags);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ngx_str_set(&ctx->claims, "{}");
    ctx->flags = flags;

    if (flags & MG_ROUTE_APIKEY) {
        rc = ngx_http_mangoo_api_key_check(r, ctx);

        if (rc == NGX_AGAIN) {
            /* a worker is asked about the key; api_key resumes us */
            r->read_event_handler = ngx_http_test_reading;
            r->main->count++;
            return NGX_DONE;
        }

        if (rc != NGX_DECLINED) {
            return rc;
        }

    } else if (!(flags & MG_ROUTE_PUBLIC)) {
        rc = ngx_http_mangoo_authenticate(r, ctx, flags);

        if (rc == NGX_AGAIN) {
            /* waiting for the key set; auth resumes us with proceed() */
            r->read_event_handler = ngx_http_test_reading;
            r->main->count++;
            return NGX_DONE;
        }

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_mangoo_proceed(r, ctx);
}


/* Authenticated (or public): read the body, then hand the job over.
 * Returns what a content handler returns. */
ngx_int_t
ngx_http_mangoo_proceed(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH)) {
        rc = ngx_http_mangoo_check_content_type(r, ctx->flags);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_mangoo_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;
    ngx_http_mangoo_dispatch(r, ctx);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_mangoo_route(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx,
    ngx_uint_t *flags)
{
    ngx_int_t          rc;
    ngx_table_elt_t   *h;
    mg_route_match_t   m;

    if (mg_route_match((const char *) r->method_name.data,
                       r->method_name.len, (const char *) r->uri.data,
                       r->uri.len, &m)
        != 0)
    {
        /* no route takes OPTIONS: a browser's preflight, if CORS is on */
        rc = ngx_http_mangoo_cors_preflight(r, m.allow);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        if (m.allow[0] == '\0') {
            return ngx_http_mangoo_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", "no such endpoint");
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.len = ngx_strlen(m.allow);
        h->value.data = ngx_pnalloc(r->pool, h->value.len);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(h->value.data, m.allow, h->value.len);

        return ngx_http_mangoo_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "method not allowed");
    }

    ctx->route = m.route - mg_routes;
    ctx->job.data = (u_char *) m.route->job;
    ctx->job.len = ngx_strlen(m.route->job);
    *flags = m.route->flags;

    return ngx_http_mangoo_build_params(r, ctx, &m);
}


/*
 * "error_page 413 ... @mangoo_error" lands here: errors nginx itself raises
 * (body or headers too large, bad request line) get the API's JSON shape.
 */
static ngx_int_t
ngx_http_mangoo_error_page(ngx_http_request_t *r)
{
    ngx_uint_t        status;
    ngx_table_elt_t  *h;

    status = r->err_status ? r->err_status : NGX_HTTP_INTERNAL_SERVER_ERROR;

    /* the status sent is ours, not the one error_page carried here */
    r->err_status = 0;

    switch (status) {

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return ngx_http_mangoo_send_error(r, status, "payload_too_large",
                                          "request body is too large");

    case NGX_HTTP_TOO_MANY_REQUESTS:
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "1");

        return ngx_http_mangoo_send_error(r, status, "too_many_requests",
                                          "too many requests, slow down");

    case NGX_HTTP_REQUEST_HEADER_TOO_LARGE:
        return ngx_http_mangoo_send_error(r, 431, "header_too_large",
                                          "request headers are too large");

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        return ngx_http_mangoo_send_error(r, status, "uri_too_long",
                                          "request URI is too long");

    case NGX_HTTP_REQUEST_TIME_OUT:
        return ngx_http_mangoo_send_error(r, status, "request_timeout",
                                          "the request was not sent in time");

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_mangoo_send_error(r, status, "forbidden",
                                          "access to this resource is denied");

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_mangoo_send_error(r, status, "not_found",
                                          "no such resource");

    case NGX_HTTP_NOT_ALLOWED:
        return ngx_http_mangoo_send_error(r, status, "method_not_allowed",
                                          "method not allowed");

    default:
        if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
            return ngx_http_mangoo_send_error(r, status, "internal",
                                              "internal server error");
        }

        return ngx_http_mangoo_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "bad_request", "malformed request");
    }
}


/* {"id": "...", "query": "..."}: path captures plus the raw query string */
static ngx_int_t
ngx_http_mangoo_build_params(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx,
    mg_route_match_t *m)
{
    size_t       i;
    json_t      *params;
    ngx_int_t    rc;

    rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    params = json_object();
    if (params == NULL) {
        return rc;
    }

    for (i = 0; i < m->nparams; i++) {
        if (json_object_setn_new_nocheck(params, m->params[i].name,
                                         m->params[i].name_len,
                                         json_stringn(m->params[i].value,
                                                      m->params[i].value_len))
            != 0)
        {
            /* a capture that is not UTF-8 cannot name anything */
            rc = ngx_http_mangoo_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found", "no such resource");
            goto done;
        }
    }

    /* jansson wants a valid pointer even for an empty string */
    if (json_object_set_new_nocheck(params, "query",
                                    json_stringn(r->args.len
                                                 ? (char *) r->args.data : "",
                                                 r->args.len))
        != 0)
    {
        rc = ngx_http_mangoo_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_query",
                                        "query string is not valid UTF-8");
        goto done;
    }

    if ((m->route->flags & MG_ROUTE_COOKIE)
        && ngx_http_mangoo_cookie_params(r, params) != NGX_OK)
    {
        goto done;
    }

    /* an upload's type travels with it; absent when the client sent none */
    if ((m->route->flags & MG_ROUTE_UPLOAD) && r->headers_in.content_type
        && json_object_set_new_nocheck(params, "content_type",
                             json_stringn((char *) r->headers_in.content_type
                                                            ->value.data,
                                          r->headers_in.content_type
                                                            ->value.len))
           != 0)
    {
        rc = ngx_http_mangoo_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "unsupported_media_type",
                                        "Content-Type is not valid UTF-8");
        goto done;
    }

    if ((m->route->flags & MG_ROUTE_FIND)
        && ngx_http_mangoo_find_params(r, ctx, params) != NGX_OK)
    {
        goto done;
    }

    if (ngx_http_mangoo_json_to_pool(r->pool, params, &ctx->params)
        == NGX_OK)
    {
        rc = NGX_DECLINED;
    }

done:

    json_decref(params);

    return rc;
}


/*
 * A route about what one worker holds: Last-Event-ID goes as
 * "last_event_id" (the worker judges it), and the params of the last try,
 * after every worker said it is elsewhere, get "stored": true.
 */
/* The first request header called name (any case), or NULL. */
ngx_table_elt_t *
ngx_http_mangoo_header_in(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_http_mangoo_find_params(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx,
    json_t *params)
{
    ngx_table_elt_t  *h;

    h = ngx_http_mangoo_header_in(r, "Last-Event-ID",
                                  sizeof("Last-Event-ID") - 1);

    if (h != NULL
        && json_object_set_new_nocheck(params, "last_event_id",
                   json_stringn((char *) h->value.data, h->value.len))
           != 0)
    {
        /* not UTF-8: no id of ours */
        json_object_set_new_nocheck(params, "last_event_id",
                                    json_string("invalid"));
    }

    if (json_object_set_new_nocheck(params, "stored", json_true()) != 0
        || ngx_http_mangoo_json_to_pool(r->pool, params, &ctx->params_stored)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    json_object_del(params, "stored");
    ctx->finding = 1;

    return NGX_OK;
}


/*
 * The auth routes get the session cookie ("refresh_cookie", absent when
 * there is none) and whether a cookie set now must be Secure
 * ("cookie_secure"): only plain HTTP to a loopback Host may do without,
 * because browsers drop Secure cookies there.  The value is never logged.
 */
static ngx_int_t
ngx_http_mangoo_cookie_params(ngx_http_request_t *r, json_t *params)
{
    size_t             vlen;
    ngx_uint_t         secure;
    const char        *value;
    ngx_table_elt_t   *h;
#if (nginx_version < 1023000)
    ngx_uint_t         i;
    ngx_table_elt_t  **hh;
#endif

    secure = 1;

    h = r->headers_in.host;
    if (h != NULL && mg_host_is_loopback((const char *) h->value.data,
                                         h->value.len))
    {
        secure = 0;
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        secure = 1;
    }
#endif

    value = NULL;
    vlen = 0;

    /* several Cookie headers may come (HTTP/2 splits them): first wins */
#if (nginx_version >= 1023000)
    for (h = r->headers_in.cookie; h; h = h->next) {
        if (mg_cookie_find((const char *) h->value.data, h->value.len,
                           MG_COOKIE_REFRESH, &value, &vlen))
        {
            break;
        }
    }
#else
    hh = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        if (mg_cookie_find((const char *) hh[i]->value.data, hh[i]->value.len,
                           MG_COOKIE_REFRESH, &value, &vlen))
        {
            break;
        }
    }
#endif

    /* a value no cookie of ours could have is no session at all */
    if (value != NULL && mg_cookie_value_valid(value, vlen)) {
        if (json_object_set_new_nocheck(params, "refresh_cookie",
                                        json_stringn(value, vlen))
            != 0)
        {
            return NGX_ERROR;
        }
    }

    if (json_object_set_new_nocheck(params, "cookie_secure",
                                    json_boolean(secure))
        != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Compact JSON text of value, owned by pool. */
ngx_int_t
ngx_http_mangoo_json_to_pool(ngx_pool_t *pool, json_t *value, ngx_str_t *out)
{
    char    *dump;
    size_t   len;

    dump = mg_json_dump(value, &len);
    if (dump == NULL) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, len);
    out->len = len;
    free(dump);

    return NGX_OK;
}


/* "type/subtype", any case, alone or followed by parameters */
ngx_uint_t
ngx_http_mangoo_media_type_is(const u_char *type, size_t len,
    const char *want, size_t want_len)
{
    return len >= want_len
           && ngx_strncasecmp((u_char *) type, (u_char *) want, want_len) == 0
           && (len == want_len || type[want_len] == ';'
               || type[want_len] == ' ');
}


/* the API speaks JSON only (upload routes take any body, the worker judges
 * its type): say so before reading anything */
static ngx_int_t
ngx_http_mangoo_check_content_type(ngx_http_request_t *r, ngx_uint_t flags)
{
    ngx_str_t  *type;

    if (flags & MG_ROUTE_UPLOAD) {
        return NGX_DECLINED;
    }

    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        return NGX_DECLINED;
    }

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type != NULL
        && ngx_http_mangoo_media_type_is(type->data, type->len,
                                         "application/json",
                                         sizeof("application/json") - 1))
    {
        return NGX_DECLINED;
    }

    return ngx_http_mangoo_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      "unsupported_media_type",
                                      "request body must be application/json");
}


static void
ngx_http_mangoo_body_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    off_t                        len;
    ssize_t                      n;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_mangoo_ctx_t       *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    /* client_max_body_size has bounded it already */
    len = 0;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len) {
        p = ngx_pnalloc(r->pool, (size_t) len);
        if (p == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ctx->body.data = p;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                /* only when client_body_buffer_size is below the limit */
                n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                        - b->file_pos),
                                  b->file_pos);
                if (n == NGX_ERROR) {
                    ngx_http_finalize_request(r,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                p += n;
                continue;
            }

            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }

        ctx->body.len = p - ctx->body.data;
    }

    ngx_http_mangoo_dispatch(r, ctx);
}


static void
ngx_http_mangoo_cleanup(void *data)
{
    ngx_http_mangoo_ctx_t  *ctx = data;

    ngx_http_mangoo_auth_cleanup(ctx);
    ngx_http_mangoo_api_key_cleanup(ctx);
    ngx_http_mangoo_metrics_stream_done(ctx);
    ngx_http_mangoo_sse_cleanup(ctx);
    ngx_http_mangoo_dispatch_cleanup(ctx);
}


static ngx_int_t
ngx_http_mangoo_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_mangoo_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mangoo_module);

    if (ngx_http_mangoo_cors_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mcf->endpoints == NULL || !mcf->metrics) {
        return NGX_OK;
    }

    return ngx_http_mangoo_metrics_add_log_handler(cf);
}


static void *
ngx_http_mangoo_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mangoo_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mangoo_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->endpoints = NULL;
     *     mcf->discover = NULL;
     *     mcf->resolver = NULL;
     *     mcf->jwks = { 0, NULL };
     *     mcf->issuer = { 0, NULL };
     *     mcf->audience = { 0, NULL };
     */

    mcf->leeway = NGX_CONF_UNSET;
    mcf->jwks_min_refresh = NGX_CONF_UNSET;
    mcf->token_cache = NGX_CONF_UNSET_UINT;
    mcf->api_key_cache = NGX_CONF_UNSET_UINT;
    mcf->api_key_zone = NGX_CONF_UNSET_SIZE;
    mcf->unavailable_wait = NGX_CONF_UNSET_MSEC;
    mcf->resolve_interval = NGX_CONF_UNSET_MSEC;
    mcf->metrics = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_mangoo_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mangoo_main_conf_t *mcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_init_value(mcf->leeway, 30);
    ngx_conf_init_value(mcf->jwks_min_refresh, 60);
    ngx_conf_init_uint_value(mcf->token_cache, 10000);
    ngx_conf_init_uint_value(mcf->api_key_cache, 10000);
    ngx_conf_init_size_value(mcf->api_key_zone, 1024 * 1024);
    ngx_conf_init_msec_value(mcf->unavailable_wait, 1000);
    ngx_conf_init_msec_value(mcf->resolve_interval, 5000);
    ngx_conf_init_value(mcf->metrics, 1);

    if (mcf->endpoints == NULL) {
        return NGX_CONF_OK;
    }

    if (mcf->discover) {
        /* http{}'s own; without a "resolver" the core module has given
         * it a dummy one, with no server, by now */
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mangoo_workers ... resolve\" requires "
                               "a \"resolver\" in the http block");
            return NGX_CONF_ERROR;
        }

        mcf->resolver = clcf->resolver;
        mcf->resolver_timeout = (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
                                ? 30000 : clcf->resolver_timeout;

        if (mcf->resolve_interval == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mangoo_workers_resolve_interval\" "
                               "must be more than 0");
            return NGX_CONF_ERROR;
        }
    }

    /* a token from any issuer or for any app would be accepted otherwise */
    if (mcf->jwks.len == 0 || mcf->issuer.len == 0 || mcf->audience.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mangoo_workers\" requires \"mangoo_jwks\", "
                           "\"mangoo_jwt_issuer\" and "
                           "\"mangoo_jwt_audience\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mangoo_auth_check_conf(cf, mcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (mcf->metrics && ngx_http_mangoo_metrics_add_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (mcf->api_key_zone < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mangoo_api_key_zone\" must be at least %uz",
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mangoo_key_limit_add_zone(cf, mcf->api_key_zone) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mangoo_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mangoo_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mangoo_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->timeout = NGX_CONF_UNSET_MSEC;
    mlcf->sse_keepalive = NGX_CONF_UNSET_MSEC;
    mlcf->sse_max_buffered = NGX_CONF_UNSET_SIZE;
    mlcf->cors_origins = NGX_CONF_UNSET_PTR;

    return mlcf;
}


static char *
ngx_http_mangoo_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mangoo_loc_conf_t *prev = parent;
    ngx_http_mangoo_loc_conf_t *conf = child;

    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 60000);
    ngx_conf_merge_msec_value(conf->sse_keepalive, prev->sse_keepalive, 15000);
    ngx_conf_merge_size_value(conf->sse_max_buffered, prev->sse_max_buffered,
                              256 * 1024);
    ngx_conf_merge_ptr_value(conf->cors_origins, prev->cors_origins, NULL);

    return NGX_CONF_OK;
}


/*
 * "tcp://host:port" resolves here, at configuration time, to every address
 * of host, so "mangoo_workers tcp://worker:5555" reaches all the replicas a
 * DNS name has; a reload picks up new ones.  With a last argument
 * "resolve", a host that is a name is looked up again while nginx runs
 * (ngx_http_mangoo_discovery.c) instead.  Other transports pass through.
 */
static char *
ngx_http_mangoo_workers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mangoo_main_conf_t *mcf = conf;

    u_char                      *p;
    ngx_url_t                    u;
    ngx_str_t                   *value, *ep;
    ngx_uint_t                   i, j, n, resolve;
    ngx_http_mangoo_discover_t  *dc;

    if (mcf->endpoints) {
        return "is duplicate";
    }

    mcf->endpoints = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    if (mcf->endpoints == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    n = cf->args->nelts;
    resolve = 0;

    if (ngx_strcmp(value[n - 1].data, "resolve") == 0) {
        resolve = 1;
        n--;

        if (n == 1) {
            return "has no endpoint before \"resolve\"";
        }
    }

    for (i = 1; i < n; i++) {

        if (ngx_strncmp(value[i].data, "ipc://", 6) == 0
            || ngx_strncmp(value[i].data, "inproc://", 9) == 0)
        {
            ep = ngx_array_push(mcf->endpoints);
            if (ep == NULL) {
                return NGX_CONF_ERROR;
            }

            *ep = value[i];     /* conf args are NUL-terminated */
            continue;
        }

        if (ngx_strncmp(value[i].data, "tcp://", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid worker endpoint \"%V\": "
                               "expected tcp://, ipc:// or inproc://",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url.data = value[i].data + 6;
        u.url.len = value[i].len - 6;
        u.no_resolve = resolve;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in worker endpoint \"%V\"",
                               u.err ? u.err : "error", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (u.no_port) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no port in worker endpoint \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (resolve && u.naddrs == 0) {
            /* a name, not an address: followed through DNS at run time */
            if (mcf->discover == NULL) {
                mcf->discover = ngx_array_create(cf->pool, 2,
                                    sizeof(ngx_http_mangoo_discover_t));
                if (mcf->discover == NULL) {
                    return NGX_CONF_ERROR;
                }
            }

            dc = ngx_array_push(mcf->discover);
            ep = ngx_array_push(mcf->endpoints);
            if (dc == NULL || ep == NULL) {
                return NGX_CONF_ERROR;
            }

            dc->host = u.host;
            dc->port = u.port;
            dc->index = mcf->endpoints->nelts - 1;
            *ep = value[i];
            continue;
        }

        for (j = 0; j < u.naddrs; j++) {
            ep = ngx_array_push(mcf->endpoints);
            if (ep == NULL) {
                return NGX_CONF_ERROR;
            }

            ep->data = ngx_pnalloc(cf->pool,
                                   sizeof("tcp://") + u.addrs[j].name.len);
            if (ep->data == NULL) {
                return NGX_CONF_ERROR;
            }

            p = ngx_cpymem(ep->data, "tcp://", 6);
            p = ngx_cpymem(p, u.addrs[j].name.data, u.addrs[j].name.len);
            *p = '\0';
            ep->len = p - ep->data;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mangoo_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mangoo_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->kind) {
        return "is duplicate";
    }

    mlcf->kind = cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = (mlcf->kind == NGX_HTTP_MANGOO_METRICS)
                    ? ngx_http_mangoo_metrics_handler
                    : ngx_http_mangoo_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mangoo_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mangoo_main_conf_t  *mcf;

    /* helper processes (cache manager, loader) serve no requests */
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mangoo_module);
    if (mcf == NULL || mcf->endpoints == NULL) {
        return NGX_OK;
    }

    ngx_http_mangoo_api_key_init_process(mcf->api_key_cache);

    if (ngx_http_mangoo_auth_init_process(cycle, mcf) != NGX_OK
        || ngx_http_mangoo_metrics_init_process(cycle, mcf->endpoints)
           != NGX_OK
        || ngx_http_mangoo_dispatch_init_process(cycle, mcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mangoo_discovery_init_process(cycle, mcf);
}


static void
ngx_http_mangoo_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mangoo_discovery_exit_process();
    ngx_http_mangoo_dispatch_exit_process(cycle);
    ngx_http_mangoo_auth_exit_process();
    ngx_http_mangoo_api_key_exit_process();
}
