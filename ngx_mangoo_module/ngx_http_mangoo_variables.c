
/*
 * ngx_http_mangoo_variables: the $mangoo_* variables, for log_format and
 * limit_req.
 *
 *   $mangoo_request_id   the request's id (X-Request-Id, error bodies, the
 *                        worker's log lines, the provider's request)
 *   $mangoo_user_id      the token's sub; evaluated before the content
 *                        handler (limit_req's key) it verifies the token
 *                        then, with the keys in hand, without answering
 *   $mangoo_route        the route table's pattern, or "unmatched",
 *                        "/health", "error_page"
 *   $mangoo_job          the worker job
 *   $mangoo_worker       the worker endpoint the job went to
 *   $mangoo_worker_time  seconds from handing the job over to the worker's
 *                        first reply (microseconds)
 */


#include "ngx_http_mangoo_module.h"


static ngx_int_t ngx_http_mangoo_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mangoo_user_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mangoo_route_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mangoo_job_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mangoo_worker_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mangoo_worker_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_mangoo_vars[] = {

    { ngx_string("mangoo_request_id"), NULL,
      ngx_http_mangoo_request_id_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mangoo_user_id"), NULL,
      ngx_http_mangoo_user_id_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mangoo_route"), NULL,
      ngx_http_mangoo_route_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mangoo_job"), NULL,
      ngx_http_mangoo_job_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mangoo_worker"), NULL,
      ngx_http_mangoo_worker_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mangoo_worker_time"), NULL,
      ngx_http_mangoo_worker_time_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_mangoo_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mangoo_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* A route's name and method (the special ones have method ""). */
void
ngx_http_mangoo_route_name(ngx_int_t route, const char **pattern,
    const char **method)
{
    *method = "";

    switch (route) {

    case NGX_HTTP_MANGOO_ROUTE_HEALTH:
        *pattern = "/health";
        return;

    case NGX_HTTP_MANGOO_ROUTE_ERROR:
        *pattern = "error_page";
        return;

    default:
        if (route >= 0 && (size_t) route < mg_routes_count) {
            *pattern = mg_routes[route].pattern;
            *method = mg_routes[route].method;
            return;
        }

        *pattern = "unmatched";
    }
}


static ngx_int_t
ngx_http_mangoo_variable_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    if (len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = data;

    return NGX_OK;
}


/* The request's ctx, or NULL with v marked not found. */
static ngx_http_mangoo_ctx_t *
ngx_http_mangoo_variable_ctx(ngx_http_request_t *r,
    ngx_http_variable_value_t *v)
{
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    if (ctx == NULL) {
        v->not_found = 1;
    }

    return ctx;
}


static ngx_int_t
ngx_http_mangoo_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_mangoo_variable_ctx(r, v);
    if (ctx == NULL) {
        return NGX_OK;
    }

    return ngx_http_mangoo_variable_set(v, ctx->rid, MG_RID_LEN);
}


static ngx_int_t
ngx_http_mangoo_user_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mangoo_ctx_t       *ctx;
    ngx_http_mangoo_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    /* before the content handler, only where the API is served */
    if (ctx == NULL || (ctx->user_id.len == 0 && !ctx->peeked)) {
        mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);

        if (mlcf->kind == NGX_HTTP_MANGOO_API
            && r->headers_in.authorization != NULL)
        {
            ctx = ngx_http_mangoo_request_ctx(r);
            if (ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_http_mangoo_auth_peek(r, ctx);
        }
    }

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_mangoo_variable_set(v, ctx->user_id.data,
                                        ctx->user_id.len);
}


static ngx_int_t
ngx_http_mangoo_route_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char             *pattern, *method;
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_mangoo_variable_ctx(r, v);
    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_http_mangoo_route_name(ctx->route, &pattern, &method);

    return ngx_http_mangoo_variable_set(v, (u_char *) pattern,
                                        ngx_strlen(pattern));
}


static ngx_int_t
ngx_http_mangoo_job_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_mangoo_variable_ctx(r, v);
    if (ctx == NULL) {
        return NGX_OK;
    }

    return ngx_http_mangoo_variable_set(v, ctx->job.data, ctx->job.len);
}


static ngx_int_t
ngx_http_mangoo_worker_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *ep;
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    if (ctx == NULL || ctx->peer == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ep = ngx_http_mangoo_peer_endpoint(ctx->peer);

    return ngx_http_mangoo_variable_set(v, ep->data, ep->len);
}


static ngx_int_t
ngx_http_mangoo_worker_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    uint64_t                us;
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    if (ctx == NULL || ctx->sent_us == 0 || ctx->replied_us == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    us = ctx->replied_us - ctx->sent_us;

    return ngx_http_mangoo_variable_set(v, p,
               ngx_sprintf(p, "%uL.%06uL", us / 1000000, us % 1000000) - p);
}
