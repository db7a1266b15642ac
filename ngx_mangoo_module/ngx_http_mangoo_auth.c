
/*
 * ngx_http_mangoo_auth: bearer token verification in the event loop.
 *
 * Each worker process holds the parsed JWKS (OpenSSL keys, owned here and
 * freed at exit).  The file is re-read when its identity or mtime changes,
 * checked at most once a second, so keys rotate without a reload; a file
 * that fails to parse keeps the previous set.  Verification itself is pure
 * CPU (one RSA verify), so it never blocks.
 */


#include <jansson.h>

#include "ngx_http_mangoo_module.h"
#include "mg_jwt.h"


#define NGX_HTTP_MANGOO_JWKS_MAX  (1024 * 1024)


typedef struct {
    mg_jwks_t                     *jwks;
    ngx_http_mangoo_main_conf_t   *mcf;
    char                          *issuer;
    char                          *audience;
    time_t                         checked;
    time_t                         mtime;
    off_t                          size;
    ngx_file_uniq_t                uniq;
} ngx_http_mangoo_auth_t;


static ngx_http_mangoo_auth_t  ngx_http_mangoo_auth;


static mg_jwks_t *
ngx_http_mangoo_jwks_load(ngx_str_t *path, ngx_log_t *log,
    ngx_file_info_t *fi)
{
    char        err[256];
    u_char     *buf;
    ssize_t     n;
    ngx_fd_t    fd;
    mg_jwks_t  *jwks;

    jwks = NULL;
    buf = NULL;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", path);
        return NULL;
    }

    if (ngx_fd_info(fd, fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", path);
        goto done;
    }

    if (ngx_file_size(fi) > NGX_HTTP_MANGOO_JWKS_MAX) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "mangoo: JWKS \"%V\" is too large",
                      path);
        goto done;
    }

    buf = ngx_alloc((size_t) ngx_file_size(fi) + 1, log);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(fi));
    if (n == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_read_fd_n " \"%V\" failed", path);
        goto done;
    }

    jwks = mg_jwks_parse((char *) buf, (size_t) n, err, sizeof(err));
    if (jwks == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "mangoo: JWKS \"%V\": %s",
                      path, err);
    }

done:

    ngx_free(buf);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return jwks;
}


ngx_int_t
ngx_http_mangoo_auth_check_conf(ngx_conf_t *cf,
    ngx_http_mangoo_main_conf_t *mcf)
{
    mg_jwks_t        *jwks;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, &mcf->jwks, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    jwks = ngx_http_mangoo_jwks_load(&mcf->jwks, cf->log, &fi);
    if (jwks == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mangoo_jwks\" \"%V\" has no usable key",
                           &mcf->jwks);
        return NGX_ERROR;
    }

    mg_jwks_free(jwks);

    return NGX_OK;
}


static char *
ngx_http_mangoo_cstr(ngx_str_t *s, ngx_log_t *log)
{
    char  *p;

    if (s->len == 0) {
        return NULL;
    }

    p = ngx_alloc(s->len + 1, log);
    if (p != NULL) {
        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
    }

    return p;
}


ngx_int_t
ngx_http_mangoo_auth_init_process(ngx_cycle_t *cycle,
    ngx_http_mangoo_main_conf_t *mcf)
{
    ngx_file_info_t          fi;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    a->mcf = mcf;
    a->issuer = ngx_http_mangoo_cstr(&mcf->issuer, cycle->log);
    a->audience = ngx_http_mangoo_cstr(&mcf->audience, cycle->log);

    if ((mcf->issuer.len && a->issuer == NULL)
        || (mcf->audience.len && a->audience == NULL))
    {
        return NGX_ERROR;
    }

    a->jwks = ngx_http_mangoo_jwks_load(&mcf->jwks, cycle->log, &fi);
    if (a->jwks) {
        a->mtime = ngx_file_mtime(&fi);
        a->size = ngx_file_size(&fi);
        a->uniq = ngx_file_uniq(&fi);
    }

    a->checked = ngx_time();

    return NGX_OK;
}


void
ngx_http_mangoo_auth_exit_process(void)
{
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (a->jwks) {
        mg_jwks_free(a->jwks);
        a->jwks = NULL;
    }

    ngx_free(a->issuer);
    ngx_free(a->audience);
    a->issuer = NULL;
    a->audience = NULL;
}


/* at most once a second: a stat() of a local file, then a parse on change */
static void
ngx_http_mangoo_jwks_refresh(ngx_log_t *log)
{
    mg_jwks_t               *jwks;
    ngx_file_info_t          fi;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (a->checked == ngx_time()) {
        return;
    }

    a->checked = ngx_time();

    if (ngx_file_info(a->mcf->jwks.data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_file_info_n " \"%V\" failed", &a->mcf->jwks);
        return;
    }

    if (a->jwks
        && ngx_file_mtime(&fi) == a->mtime
        && ngx_file_size(&fi) == a->size
        && ngx_file_uniq(&fi) == a->uniq)
    {
        return;
    }

    jwks = ngx_http_mangoo_jwks_load(&a->mcf->jwks, log, &fi);
    if (jwks == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "mangoo: loaded %uz keys from \"%V\"",
                  mg_jwks_count(jwks), &a->mcf->jwks);

    if (a->jwks) {
        mg_jwks_free(a->jwks);
    }

    a->jwks = jwks;
    a->mtime = ngx_file_mtime(&fi);
    a->size = ngx_file_size(&fi);
    a->uniq = ngx_file_uniq(&fi);
}


static ngx_int_t
ngx_http_mangoo_unauthorized(ngx_http_request_t *r, const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");

    return ngx_http_mangoo_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                      "unauthorized", message);
}


static ngx_uint_t
ngx_http_mangoo_in_group(json_t *claims, const char *group)
{
    size_t   i;
    json_t  *groups, *g;

    groups = json_object_get(claims, "cognito:groups");

    json_array_foreach(groups, i, g) {
        if (json_is_string(g) && ngx_strcmp(json_string_value(g), group) == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_mangoo_authenticate(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx,
    ngx_uint_t flags)
{
    char                     kid[MG_JWK_KID_MAX + 1];
    json_t                  *claims;
    ngx_int_t                rc;
    ngx_str_t                token;
    const char              *sub;
    mg_jwt_policy_t          policy;
    mg_jwt_status_t          status;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (r->headers_in.authorization == NULL) {
        return ngx_http_mangoo_unauthorized(r, "missing bearer token");
    }

    token = r->headers_in.authorization->value;

    if (token.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(token.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return ngx_http_mangoo_unauthorized(r, "expected a bearer token");
    }

    token.data += sizeof("Bearer ") - 1;
    token.len -= sizeof("Bearer ") - 1;

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    ngx_http_mangoo_jwks_refresh(r->connection->log);

    if (a->jwks == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mangoo: no JWKS loaded, request %*s refused",
                      (size_t) MG_RID_LEN, ctx->rid);
        return ngx_http_mangoo_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "auth_unavailable",
                                          "token keys are not available");
    }

    policy.issuer = a->issuer;
    policy.audience = a->audience;
    policy.token_use = "access";
    policy.now = (long long) ngx_time();
    policy.leeway = (int) a->mcf->leeway;

    claims = NULL;
    kid[0] = '\0';

    status = mg_jwt_verify((char *) token.data, token.len, a->jwks, &policy,
                           &claims, kid);

    if (status != MG_JWT_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mangoo: token rejected: %s, kid \"%s\", request %*s",
                      mg_jwt_status_str(status), kid,
                      (size_t) MG_RID_LEN, ctx->rid);
        return ngx_http_mangoo_unauthorized(r, mg_jwt_status_str(status));
    }

    rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    sub = json_string_value(json_object_get(claims, "sub"));

    ctx->user_id.len = ngx_strlen(sub);
    ctx->user_id.data = ngx_pnalloc(r->pool, ctx->user_id.len);
    if (ctx->user_id.data == NULL) {
        goto done;
    }

    ngx_memcpy(ctx->user_id.data, sub, ctx->user_id.len);

    if ((flags & MG_ROUTE_ADMIN) && !ngx_http_mangoo_in_group(claims, "admin"))
    {
        rc = ngx_http_mangoo_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "this endpoint is for administrators");
        goto done;
    }

    if (ngx_http_mangoo_json_to_pool(r->pool, claims, &ctx->claims) == NGX_OK)
    {
        rc = NGX_DECLINED;
    }

done:

    json_decref(claims);

    return rc;
}
