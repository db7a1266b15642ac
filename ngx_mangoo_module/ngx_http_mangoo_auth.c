
/*
 * ngx_http_mangoo_auth: bearer token verification in the event loop.
 *
 * Each worker process holds the parsed JWKS (OpenSSL keys, owned here and
 * freed at exit).  A file is re-read when its identity or mtime changes,
 * checked at most once a second, so keys rotate without a reload; a file
 * that fails to parse keeps the previous set.
 *
 * An https URL (Cognito's JWKS) is fetched by a worker, as a "jwks.fetch"
 * job over the usual dispatch path, so nginx itself never does network
 * I/O for it.  The first request fetches; a token with an unknown kid
 * fetches again, at most once per mangoo_jwks_min_refresh, so made-up
 * kids cannot make us fetch per request.  Requests that need the answer
 * wait in a queue and are resumed from a posted event, never from inside
 * their own handler.  Verification itself is pure CPU.
 */


#include <jansson.h>
#include <openssl/sha.h>

#include "ngx_http_mangoo_module.h"
#include "mg_jwt.h"


#define NGX_HTTP_MANGOO_JWKS_MAX  (1024 * 1024)


typedef struct {
    mg_jwks_t                     *jwks;
    ngx_http_mangoo_main_conf_t   *mcf;
    ngx_uint_t                     url;         /* mangoo_jwks is a URL */
    ngx_uint_t                     fetching;
    ngx_msec_t                     fetched;     /* last fetch started, 0: never */
    ngx_pool_t                    *fetch_pool;  /* owns fetch_ctx */
    ngx_http_mangoo_ctx_t         *fetch_ctx;
    ngx_queue_t                    waiters;     /* ctxs awaiting keys */
    ngx_event_t                    resume;
    char                          *issuer;
    char                          *audience;
    time_t                         checked;
    time_t                         mtime;
    off_t                          size;
    ngx_file_uniq_t                uniq;
} ngx_http_mangoo_auth_t;


static ngx_http_mangoo_auth_t  ngx_http_mangoo_auth;


static ngx_uint_t ngx_http_mangoo_jwks_is_url(ngx_str_t *jwks);
static void ngx_http_mangoo_resume_waiters(ngx_event_t *ev);


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


static ngx_uint_t
ngx_http_mangoo_jwks_is_url(ngx_str_t *jwks)
{
    return (jwks->len > 8 && ngx_strncmp(jwks->data, "https://", 8) == 0)
           || (jwks->len > 7 && ngx_strncmp(jwks->data, "http://", 7) == 0);
}


ngx_int_t
ngx_http_mangoo_auth_check_conf(ngx_conf_t *cf,
    ngx_http_mangoo_main_conf_t *mcf)
{
    mg_jwks_t        *jwks;
    ngx_file_info_t   fi;

    if (ngx_http_mangoo_jwks_is_url(&mcf->jwks)) {
        return NGX_OK;      /* fetched by a worker once running */
    }

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

    ngx_queue_init(&a->waiters);
    a->resume.handler = ngx_http_mangoo_resume_waiters;
    a->resume.log = cycle->log;
    a->resume.data = a;

    a->url = ngx_http_mangoo_jwks_is_url(&mcf->jwks);
    if (a->url) {
        a->checked = ngx_time();
        ngx_http_mangoo_token_cache_init(mcf->token_cache);
        return NGX_OK;
    }

    a->jwks = ngx_http_mangoo_jwks_load(&mcf->jwks, cycle->log, &fi);
    if (a->jwks) {
        a->mtime = ngx_file_mtime(&fi);
        a->size = ngx_file_size(&fi);
        a->uniq = ngx_file_uniq(&fi);
    }

    a->checked = ngx_time();

    ngx_http_mangoo_token_cache_init(mcf->token_cache);

    return NGX_OK;
}


void
ngx_http_mangoo_auth_exit_process(void)
{
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    ngx_http_mangoo_token_cache_flush();

    if (a->resume.posted) {
        ngx_delete_posted_event(&a->resume);
    }

    if (a->fetch_pool) {
        if (a->fetch_ctx->timer.timer_set) {
            ngx_del_timer(&a->fetch_ctx->timer);
        }

        ngx_destroy_pool(a->fetch_pool);
        a->fetch_pool = NULL;
    }

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

    if (a->url || a->checked == ngx_time()) {
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
    ngx_http_mangoo_metrics_jwks(jwks != NULL);

    if (jwks == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "mangoo: loaded %uz keys from \"%V\"",
                  mg_jwks_count(jwks), &a->mcf->jwks);

    if (a->jwks) {
        mg_jwks_free(a->jwks);
    }

    /* tokens verified with a key that may be gone now: verify them again */
    ngx_http_mangoo_token_cache_flush();

    a->jwks = jwks;
    a->mtime = ngx_file_mtime(&fi);
    a->size = ngx_file_size(&fi);
    a->uniq = ngx_file_uniq(&fi);
}


/* The reply to a "jwks.fetch" job: install the set, then wake the waiters. */
static void
ngx_http_mangoo_jwks_fetched(ngx_http_mangoo_ctx_t *ctx, mg_msg_t *msg)
{
    char                     err[256];
    mg_jwks_t               *jwks;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (msg->type == MG_MSG_RES && msg->status == NGX_HTTP_OK) {
        jwks = mg_jwks_parse(msg->body.data, msg->body.len, err, sizeof(err));
        ngx_http_mangoo_metrics_jwks(jwks != NULL);

        if (jwks) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "mangoo: loaded %uz keys from \"%V\"",
                          mg_jwks_count(jwks), &a->mcf->jwks);

            if (a->jwks) {
                mg_jwks_free(a->jwks);
            }

            ngx_http_mangoo_token_cache_flush();
            a->jwks = jwks;

        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "mangoo: JWKS from \"%V\": %s", &a->mcf->jwks, err);
        }

    } else {
        ngx_http_mangoo_metrics_jwks(0);
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "mangoo: fetching \"%V\" failed: %d %*s",
                      &a->mcf->jwks, msg->status,
                      msg->message.len, msg->message.data);
    }

    a->fetching = 0;

    /* ctx lives in the fetch's pool: nothing may touch it after this */
    ngx_destroy_pool(a->fetch_pool);
    a->fetch_pool = NULL;

    if (!a->resume.posted) {
        ngx_post_event(&a->resume, &ngx_posted_events);
    }
}


/* The fetch outlives the request that starts it (its client may leave):
 * everything it owns, its pool's log included, belongs to the cycle. */
static ngx_int_t
ngx_http_mangoo_jwks_fetch(void)
{
    json_t                  *params;
    ngx_int_t                rc;
    ngx_pool_t              *pool;
    ngx_http_mangoo_ctx_t   *ctx;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_mangoo_ctx_t));
    params = json_pack("{s:s%}", "url", (char *) a->mcf->jwks.data,
                       a->mcf->jwks.len);

    if (ctx == NULL || params == NULL
        || ngx_http_mangoo_json_to_pool(pool, params, &ctx->params) != NGX_OK)
    {
        json_decref(params);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    json_decref(params);

    ctx->on_reply = ngx_http_mangoo_jwks_fetched;
    ngx_str_set(&ctx->job, "jwks.fetch");
    ngx_str_set(&ctx->claims, "{}");

    a->fetching = 1;
    /* milliseconds: whole seconds would let two fetches be 1.001 s apart */
    a->fetched = ngx_current_msec ? ngx_current_msec : 1;
    a->fetch_pool = pool;
    a->fetch_ctx = ctx;

    /* may answer at once (no worker): jwks_fetched() only posts the resume */
    rc = ngx_http_mangoo_dispatch_system(ctx, 10000);
    if (rc != NGX_OK) {
        a->fetching = 0;
        a->fetch_pool = NULL;
        ngx_destroy_pool(pool);
    }

    return rc;
}


/*
 * Wait for a (new) key set if one is on its way or may be fetched now:
 * NGX_AGAIN, ctx queued.  NGX_DECLINED: no fetch allowed, decide now.
 */
static ngx_int_t
ngx_http_mangoo_await_keys(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx)
{
    ngx_msec_t               interval;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (!a->fetching) {
        /* without any key, try again sooner; never per request */
        interval = (ngx_msec_t) a->mcf->jwks_min_refresh * 1000;
        if (a->jwks == NULL && interval > 5000) {
            interval = 5000;
        }

        if ((a->fetched && ngx_current_msec - a->fetched < interval)
            || ngx_http_mangoo_jwks_fetch() != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    ngx_queue_insert_tail(&a->waiters, &ctx->queue);
    ctx->awaiting_keys = 1;

    return NGX_AGAIN;
}


static void
ngx_http_mangoo_resume_waiters(ngx_event_t *ev)
{
    ngx_int_t                rc;
    ngx_queue_t              work, *q;
    ngx_http_request_t      *r;
    ngx_http_mangoo_ctx_t   *ctx;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    ngx_queue_init(&work);

    if (ngx_queue_empty(&a->waiters)) {
        return;
    }

    ngx_queue_add(&work, &a->waiters);
    ngx_queue_init(&a->waiters);

    while (!ngx_queue_empty(&work)) {
        q = ngx_queue_head(&work);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_mangoo_ctx_t, queue);
        ctx->awaiting_keys = 0;
        r = ctx->request;

        rc = ngx_http_mangoo_authenticate(r, ctx, ctx->flags);

        if (rc == NGX_AGAIN) {
            continue;   /* queued again behind a newer fetch */
        }

        if (rc == NGX_DECLINED) {
            rc = ngx_http_mangoo_proceed(r, ctx);
        }

        /* the handler returned NGX_DONE for us: this stands in for it */
        ngx_http_mangoo_finish(r, rc);
    }
}


void
ngx_http_mangoo_auth_cleanup(ngx_http_mangoo_ctx_t *ctx)
{
    if (ctx->awaiting_keys) {
        ngx_queue_remove(&ctx->queue);
        ctx->awaiting_keys = 0;
    }
}


ngx_int_t
ngx_http_mangoo_unauthorized(ngx_http_request_t *r, const char *code,
    const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");

    return ngx_http_mangoo_send_error(r, NGX_HTTP_UNAUTHORIZED, code,
                                      message);
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


static ngx_int_t
ngx_http_mangoo_authorize(ngx_http_request_t *r, ngx_uint_t flags,
    ngx_uint_t admin)
{
    if ((flags & MG_ROUTE_ADMIN) && !admin) {
        return ngx_http_mangoo_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                          "this endpoint is for "
                                          "administrators");
    }

    return NGX_DECLINED;
}


/* The bearer token of r (NGX_OK), or why there is none (NGX_DECLINED). */
static ngx_int_t
ngx_http_mangoo_bearer(ngx_http_request_t *r, ngx_str_t *token,
    const char **why)
{
    if (r->headers_in.authorization == NULL) {
        *why = "missing bearer token";
        return NGX_DECLINED;
    }

    *token = r->headers_in.authorization->value;

    if (token->len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(token->data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        *why = "expected a bearer token";
        return NGX_DECLINED;
    }

    token->data += sizeof("Bearer ") - 1;
    token->len -= sizeof("Bearer ") - 1;

    while (token->len && token->data[0] == ' ') {
        token->data++;
        token->len--;
    }

    return NGX_OK;
}


/*
 * The token from the cache, or verified with the keys in hand (and then
 * cached).  NGX_OK: ctx->user_id and ctx->claims are the request's copies
 * and *admin is set; NGX_DECLINED: *status says why, *kid names the key
 * asked for; NGX_ERROR: no memory.  count: add the outcome to the metrics
 * (the content handler's check, not the peek's).
 */
static ngx_int_t
ngx_http_mangoo_verify(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx,
    ngx_str_t *token, ngx_uint_t *admin, char *kid, mg_jwt_status_t *status,
    ngx_uint_t count)
{
    u_char                   digest[SHA256_DIGEST_LENGTH];
    time_t                   exp;
    json_t                  *claims;
    ngx_str_t                sub, text;
    mg_jwt_policy_t          policy;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    kid[0] = '\0';

    ngx_http_mangoo_token_digest(token, digest);

    ctx->from_cache = 0;

    if (ngx_http_mangoo_token_cache_get(digest, &sub, &text, admin) == NGX_OK)
    {
        ctx->from_cache = 1;

        /* a token the peek verified for this request counts as verified */
        if (count) {
            ngx_http_mangoo_metrics_jwt(ctx->peek_verified
                                        ? NGX_HTTP_MANGOO_JWT_VERIFIED
                                        : NGX_HTTP_MANGOO_JWT_CACHE_HIT);
        }

        /* cache memory: copy before anything else touches the cache */
        ctx->user_id.data = ngx_pstrdup(r->pool, &sub);
        ctx->claims.data = ngx_pstrdup(r->pool, &text);
        if (ctx->user_id.data == NULL || ctx->claims.data == NULL) {
            return NGX_ERROR;
        }

        ctx->user_id.len = sub.len;
        ctx->claims.len = text.len;

        return NGX_OK;
    }

    policy.issuer = a->issuer;
    policy.audience = a->audience;
    policy.token_use = "access";
    policy.now = (long long) ngx_time();
    policy.leeway = (int) a->mcf->leeway;

    claims = NULL;

    *status = mg_jwt_verify((char *) token->data, token->len, a->jwks,
                            &policy, &claims, kid);

    if (count) {
        ngx_http_mangoo_metrics_jwt(*status == MG_JWT_OK
                                    ? NGX_HTTP_MANGOO_JWT_VERIFIED
                                    : NGX_HTTP_MANGOO_JWT_REJECTED);
    }

    if (*status != MG_JWT_OK) {
        return NGX_DECLINED;
    }

    /* mg_jwt_verify vouches for a non-empty string sub and a numeric exp */
    sub.data = (u_char *) json_string_value(json_object_get(claims, "sub"));
    sub.len = ngx_strlen(sub.data);
    exp = (time_t) json_number_value(json_object_get(claims, "exp"));
    *admin = ngx_http_mangoo_in_group(claims, "admin");

    ctx->user_id.data = ngx_pstrdup(r->pool, &sub);
    if (ctx->user_id.data == NULL
        || ngx_http_mangoo_json_to_pool(r->pool, claims, &ctx->claims)
           != NGX_OK)
    {
        json_decref(claims);
        return NGX_ERROR;
    }

    json_decref(claims);

    ctx->user_id.len = sub.len;

    ngx_http_mangoo_token_cache_put(digest, exp + a->mcf->leeway,
                                    &ctx->user_id, &ctx->claims, *admin,
                                    r->connection->log);

    return NGX_OK;
}


/*
 * $mangoo_user_id before the content handler (limit_req's key, in the
 * preaccess phase): the bearer token's sub when it verifies with the keys
 * in hand.  Nothing is fetched and nothing answered; the content handler
 * still decides, and finds the token cached.
 */
void
ngx_http_mangoo_auth_peek(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx)
{
    char                     kid[MG_JWK_KID_MAX + 1];
    ngx_str_t                token;
    ngx_uint_t               admin;
    const char              *why;
    mg_jwt_status_t          status;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (ctx->peeked || a->mcf == NULL) {
        return;
    }

    ctx->peeked = 1;

    if (ngx_http_mangoo_bearer(r, &token, &why) != NGX_OK) {
        return;
    }

    ngx_http_mangoo_jwks_refresh(r->connection->log);

    if (a->jwks == NULL) {
        return;
    }

    if (ngx_http_mangoo_verify(r, ctx, &token, &admin, kid, &status, 0)
        == NGX_OK)
    {
        /* the signature was checked here unless the cache had it */
        ctx->peek_verified = !ctx->from_cache;
    }
}


ngx_int_t
ngx_http_mangoo_authenticate(ngx_http_request_t *r, ngx_http_mangoo_ctx_t *ctx,
    ngx_uint_t flags)
{
    char                     kid[MG_JWK_KID_MAX + 1];
    ngx_int_t                rc;
    ngx_str_t                token;
    ngx_uint_t               admin;
    const char              *why;
    mg_jwt_status_t          status;
    ngx_http_mangoo_auth_t  *a = &ngx_http_mangoo_auth;

    if (ngx_http_mangoo_bearer(r, &token, &why) != NGX_OK) {
        return ngx_http_mangoo_unauthorized(r, "unauthorized", why);
    }

    ngx_http_mangoo_jwks_refresh(r->connection->log);

    if (a->jwks == NULL && a->url
        && ngx_http_mangoo_await_keys(r, ctx) == NGX_AGAIN)
    {
        return NGX_AGAIN;
    }

    if (a->jwks == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mangoo: no JWKS loaded, request %*s refused",
                      (size_t) MG_RID_LEN, ctx->rid);
        ngx_http_mangoo_metrics_failure("auth_unavailable");
        return ngx_http_mangoo_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "auth_unavailable",
                                          "token keys are not available");
    }

    rc = ngx_http_mangoo_verify(r, ctx, &token, &admin, kid, &status, 1);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        return ngx_http_mangoo_authorize(r, flags, admin);
    }

    /* perhaps the identity provider rotated its keys */
    if (status == MG_JWT_UNKNOWN_KID && a->url
        && ngx_http_mangoo_await_keys(r, ctx) == NGX_AGAIN)
    {
        return NGX_AGAIN;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mangoo: token rejected: %s, kid \"%s\", request %*s",
                  mg_jwt_status_str(status), kid,
                  (size_t) MG_RID_LEN, ctx->rid);

    return ngx_http_mangoo_unauthorized(r, "unauthorized",
                                        mg_jwt_status_str(status));
}
