
/*
 * ngx_http_mangoo_cors: cross-origin requests, for deployments that serve
 * the web app from another origin than the API.  Off unless
 * "mangoo_cors_origins" names the origins (or "*") a browser may call the
 * API from.
 *
 * A header filter marks every answer to an allowed Origin (errors and
 * streams too); the API's content handler answers preflights
 * (OPTIONS with Access-Control-Request-Method) itself, before any token
 * is asked for, with the methods the path really allows.  A named origin
 * may send credentials (the session cookie of the sign-in routes); "*"
 * may not, as browsers require.
 */


#include "ngx_http_mangoo_module.h"


static ngx_http_output_header_filter_pt  ngx_http_mangoo_next_header_filter;


static ngx_int_t ngx_http_mangoo_cors_header_filter(ngx_http_request_t *r);


ngx_int_t
ngx_http_mangoo_cors_init(ngx_conf_t *cf)
{
    ngx_http_mangoo_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mangoo_cors_header_filter;

    return NGX_OK;
}


char *
ngx_http_mangoo_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mangoo_loc_conf_t *mlcf = conf;

    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (mlcf->cors_origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        mlcf->cors_origins = NULL;
        return NGX_CONF_OK;
    }

    mlcf->cors_origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (mlcf->cors_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        /* an origin is scheme://host[:port], nothing after it */
        if (!(value[i].len == 1 && value[i].data[0] == '*')
            && ((ngx_strncmp(value[i].data, "https://", 8) != 0
                 && ngx_strncmp(value[i].data, "http://", 7) != 0)
                || value[i].data[value[i].len - 1] == '/'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\": expected "
                               "scheme://host[:port] or \"*\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(mlcf->cors_origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


/* A request header's value by name (nginx 1.22 has no field for these). */
static ngx_str_t *
ngx_http_mangoo_cors_in(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
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
            return &h[i].value;
        }
    }
}


/* The request's Origin when the location allows it, else NULL. */
static ngx_str_t *
ngx_http_mangoo_cors_origin(ngx_http_request_t *r, ngx_uint_t *any)
{
    ngx_str_t                   *o, *origin;
    ngx_uint_t                   i;
    ngx_http_mangoo_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mangoo_module);

    if (mlcf == NULL || mlcf->cors_origins == NULL
        || mlcf->cors_origins == NGX_CONF_UNSET_PTR)
    {
        return NULL;
    }

    origin = ngx_http_mangoo_cors_in(r, "Origin");
    if (origin == NULL) {
        return NULL;
    }

    o = mlcf->cors_origins->elts;

    for (i = 0; i < mlcf->cors_origins->nelts; i++) {
        if (o[i].len == 1 && o[i].data[0] == '*') {
            *any = 1;
            return origin;
        }

        if (o[i].len == origin->len
            && ngx_strncasecmp(o[i].data, origin->data, origin->len) == 0)
        {
            *any = 0;
            return origin;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_mangoo_cors_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


#define ngx_http_mangoo_cors_set(r, key, value)                               \
    ngx_http_mangoo_cors_header(r, key, (u_char *) value, sizeof(value) - 1)


/* Allow-Origin (and with a named origin, credentials) and Vary. */
static ngx_int_t
ngx_http_mangoo_cors_allow(ngx_http_request_t *r, ngx_str_t *origin,
    ngx_uint_t any)
{
    if (any) {
        return ngx_http_mangoo_cors_set(r, "Access-Control-Allow-Origin", "*");
    }

    if (ngx_http_mangoo_cors_header(r, "Access-Control-Allow-Origin",
                                    origin->data, origin->len) != NGX_OK
        || ngx_http_mangoo_cors_set(r, "Access-Control-Allow-Credentials",
                                    "true") != NGX_OK
        || ngx_http_mangoo_cors_set(r, "Vary", "Origin") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_cors_header_filter(ngx_http_request_t *r)
{
    ngx_str_t   *origin;
    ngx_uint_t   any;

    if (r != r->main || r->method == NGX_HTTP_OPTIONS) {
        /* preflights carry their headers already */
        return ngx_http_mangoo_next_header_filter(r);
    }

    origin = ngx_http_mangoo_cors_origin(r, &any);

    if (origin != NULL
        && (ngx_http_mangoo_cors_allow(r, origin, any) != NGX_OK
            || ngx_http_mangoo_cors_set(r, "Access-Control-Expose-Headers",
                   "ETag, X-Request-Id, Retry-After") != NGX_OK))
    {
        return NGX_ERROR;
    }

    return ngx_http_mangoo_next_header_filter(r);
}


/*
 * A preflight for an allowed origin: 204 with what may follow.  allow is
 * the methods the path takes ("GET, POST"), from the route table.
 * NGX_DECLINED: not a preflight this location answers.
 */
ngx_int_t
ngx_http_mangoo_cors_preflight(ngx_http_request_t *r, const char *allow)
{
    ngx_int_t    rc;
    ngx_str_t   *origin;
    ngx_uint_t   any;

    if (r->method != NGX_HTTP_OPTIONS || allow[0] == '\0') {
        return NGX_DECLINED;
    }

    origin = ngx_http_mangoo_cors_origin(r, &any);

    if (origin == NULL
        || ngx_http_mangoo_cors_in(r, "Access-Control-Request-Method") == NULL)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_mangoo_cors_allow(r, origin, any) != NGX_OK
        || ngx_http_mangoo_cors_header(r, "Access-Control-Allow-Methods",
                                       (u_char *) allow, ngx_strlen(allow))
           != NGX_OK
        || ngx_http_mangoo_cors_set(r, "Access-Control-Allow-Headers",
               "Authorization, Content-Type, If-None-Match, Last-Event-ID, "
               "X-API-Key")
           != NGX_OK
        || ngx_http_mangoo_cors_set(r, "Access-Control-Max-Age", "600")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}
