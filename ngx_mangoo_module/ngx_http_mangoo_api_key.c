
/*
 * ngx_http_mangoo_api_key: the API key of a published bot's call
 * (MG_ROUTE_APIKEY), checked in the event loop.
 *
 * The key comes as "X-API-Key: mgk_..." or "Authorization: Bearer mgk_...".
 * Only its SHA-256 is kept or sent anywhere; the key itself is never
 * logged.  What a worker said about a digest ("apikeys.verify") is cached
 * per nginx process: a valid key for NGX_HTTP_MANGOO_KEY_TRUST seconds (at
 * most until it expires), an unknown, revoked or expired one for a few
 * seconds, so a flood of made-up keys costs a worker one lookup per key
 * and pause.  Requests for a digest being looked up wait for that one
 * answer, resumed from a posted event.
 *
 * The cache is a speed-up, not the authority: every published job is
 * checked again by the worker against the database, so a revoked key is
 * refused by its very next request on any nginx process.  That refusal
 * (401) drops the digest from this process's cache, and the next request
 * there asks again and is refused here.
 *
 * A key that passes takes a token from its bucket (key_limit.c) before
 * any job is sent: over the limit is 429 with Retry-After.
 */


#include <openssl/sha.h>

#include "ngx_http_mangoo_module.h"


#define NGX_HTTP_MANGOO_KEY_PREFIX      "mgk_"
#define NGX_HTTP_MANGOO_KEY_LEN         47      /* "mgk_" + 43 base64url */
#define NGX_HTTP_MANGOO_KEY_TRUST       60      /* s a verified key is believed */
#define NGX_HTTP_MANGOO_KEY_DENY_TRUST  5       /* s a refusal is believed */
#define NGX_HTTP_MANGOO_KEY_PENDING     256     /* lookups in flight */
#define NGX_HTTP_MANGOO_KEY_VERIFY_MS   5000
#define NGX_HTTP_MANGOO_UUID_LEN        36

#define NGX_HTTP_MANGOO_KEY_VALID       0
#define NGX_HTTP_MANGOO_KEY_UNKNOWN     1
#define NGX_HTTP_MANGOO_KEY_REVOKED     2
#define NGX_HTTP_MANGOO_KEY_EXPIRED     3


typedef struct {
    ngx_uint_t          state;
    time_t              until;      /* believed until */
    time_t              expires;    /* the key's own expiry, 0: never */
    double              rate;
    ngx_uint_t          burst;
    u_char              key_id[NGX_HTTP_MANGOO_UUID_LEN];
    u_char              bot_id[NGX_HTTP_MANGOO_UUID_LEN];
} ngx_http_mangoo_key_t;


typedef struct {
    ngx_rbtree_node_t       node;   /* key: the digest's first bytes */
    ngx_queue_t             lru;
    u_char                  digest[SHA256_DIGEST_LENGTH];
    ngx_http_mangoo_key_t   key;
} ngx_http_mangoo_key_entry_t;


/* one "apikeys.verify" in flight, and the requests waiting on it */
typedef struct {
    ngx_queue_t             link;       /* pending, then done */
    ngx_queue_t             waiters;    /* ctx->queue */
    u_char                  digest[SHA256_DIGEST_LENGTH];
    ngx_pool_t             *pool;       /* owns the job's ctx */
    ngx_uint_t              answered;   /* key holds the answer */
    ngx_http_mangoo_key_t   key;
    ngx_uint_t              status;     /* otherwise: why not */
    u_char                  code[32];
    u_char                  message[128];
} ngx_http_mangoo_verify_t;


/* the job's ctx first, so on_reply finds its verify */
typedef struct {
    ngx_http_mangoo_ctx_t       ctx;
    ngx_http_mangoo_verify_t   *verify;
} ngx_http_mangoo_verify_ctx_t;


typedef struct {
    ngx_rbtree_t            tree;
    ngx_rbtree_node_t       sentinel;
    ngx_queue_t             lru;        /* most recently used first */
    ngx_uint_t              count;
    ngx_uint_t              max;
    ngx_queue_t             pending;
    ngx_uint_t              npending;
    ngx_queue_t             done;
    ngx_event_t             resume;
} ngx_http_mangoo_keys_t;


static ngx_http_mangoo_keys_t  ngx_http_mangoo_keys;


static void ngx_http_mangoo_api_key_resume(ngx_event_t *ev);


void
ngx_http_mangoo_api_key_init_process(ngx_uint_t max)
{
    ngx_http_mangoo_keys_t  *k = &ngx_http_mangoo_keys;

    ngx_rbtree_init(&k->tree, &k->sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&k->lru);
    ngx_queue_init(&k->pending);
    ngx_queue_init(&k->done);
    k->count = 0;
    k->npending = 0;
    k->max = max;

    k->resume.handler = ngx_http_mangoo_api_key_resume;
    k->resume.log = ngx_cycle->log;
    k->resume.data = k;
}


static void
ngx_http_mangoo_key_remove(ngx_http_mangoo_key_entry_t *e)
{
    ngx_http_mangoo_keys_t  *k = &ngx_http_mangoo_keys;

    ngx_rbtree_delete(&k->tree, &e->node);
    ngx_queue_remove(&e->lru);
    k->count--;
    ngx_free(e);
}


void
ngx_http_mangoo_api_key_exit_process(void)
{
    ngx_http_mangoo_keys_t  *k = &ngx_http_mangoo_keys;

    if (k->lru.next == NULL) {
        return;     /* never initialised */
    }

    while (!ngx_queue_empty(&k->lru)) {
        ngx_http_mangoo_key_remove(ngx_queue_data(ngx_queue_head(&k->lru),
                                   ngx_http_mangoo_key_entry_t, lru));
    }
}


static ngx_http_mangoo_key_entry_t *
ngx_http_mangoo_key_find(u_char *digest)
{
    ngx_rbtree_key_t         key;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_mangoo_keys_t  *k = &ngx_http_mangoo_keys;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));
    node = k->tree.root;
    sentinel = k->tree.sentinel;

    while (node != sentinel) {
        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        /* a 64-bit prefix shared by two keys: the second is never cached */
        if (ngx_memcmp(((ngx_http_mangoo_key_entry_t *) node)->digest,
                       digest, SHA256_DIGEST_LENGTH) != 0)
        {
            return NULL;
        }

        return (ngx_http_mangoo_key_entry_t *) node;
    }

    return NULL;
}


static void
ngx_http_mangoo_key_put(u_char *digest, ngx_http_mangoo_key_t *key,
    ngx_log_t *log)
{
    ngx_rbtree_key_t              rkey;
    ngx_http_mangoo_keys_t       *k = &ngx_http_mangoo_keys;
    ngx_http_mangoo_key_entry_t  *e;

    if (k->max == 0) {
        return;
    }

    e = ngx_http_mangoo_key_find(digest);
    if (e != NULL) {
        e->key = *key;
        return;
    }

    ngx_memcpy(&rkey, digest, sizeof(ngx_rbtree_key_t));

    if (k->count >= k->max) {
        ngx_http_mangoo_key_remove(ngx_queue_data(ngx_queue_last(&k->lru),
                                   ngx_http_mangoo_key_entry_t, lru));
    }

    e = ngx_alloc(sizeof(ngx_http_mangoo_key_entry_t), log);
    if (e == NULL) {
        return;     /* only a missed speed-up */
    }

    ngx_memcpy(e->digest, digest, SHA256_DIGEST_LENGTH);
    e->node.key = rkey;
    e->key = *key;

    ngx_rbtree_insert(&k->tree, &e->node);
    ngx_queue_insert_head(&k->lru, &e->lru);
    k->count++;
}


/* A worker refused a key this process let through: ask again next time. */
void
ngx_http_mangoo_api_key_forget(ngx_http_mangoo_ctx_t *ctx)
{
    ngx_http_mangoo_key_entry_t  *e;

    if (ctx->api_key_digest == NULL) {
        return;
    }

    e = ngx_http_mangoo_key_find(ctx->api_key_digest);
    if (e != NULL) {
        ngx_http_mangoo_key_remove(e);
    }
}


/* The key as sent (NGX_OK), or why not (NGX_DECLINED). */
static ngx_int_t
ngx_http_mangoo_api_key_read(ngx_http_request_t *r, ngx_str_t *key,
    const char **why)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    key->len = 0;

    h = ngx_http_mangoo_header_in(r, "X-API-Key", sizeof("X-API-Key") - 1);
    if (h != NULL) {
        *key = h->value;
    }

    if (key->len == 0 && r->headers_in.authorization != NULL) {
        *key = r->headers_in.authorization->value;

        if (key->len < sizeof("Bearer ") - 1
            || ngx_strncasecmp(key->data, (u_char *) "Bearer ",
                               sizeof("Bearer ") - 1) != 0)
        {
            *why = "expected an API key: X-API-Key or Bearer mgk_...";
            return NGX_DECLINED;
        }

        key->data += sizeof("Bearer ") - 1;
        key->len -= sizeof("Bearer ") - 1;

        while (key->len && key->data[0] == ' ') {
            key->data++;
            key->len--;
        }
    }

    if (key->len == 0) {
        *why = "this endpoint takes an API key: "
               "send X-API-Key or Authorization: Bearer mgk_...";
        return NGX_DECLINED;
    }

    if (key->len != NGX_HTTP_MANGOO_KEY_LEN
        || ngx_strncmp(key->data, NGX_HTTP_MANGOO_KEY_PREFIX,
                       sizeof(NGX_HTTP_MANGOO_KEY_PREFIX) - 1) != 0)
    {
        *why = "not an API key (they start with mgk_)";
        return NGX_DECLINED;
    }

    for (i = sizeof(NGX_HTTP_MANGOO_KEY_PREFIX) - 1; i < key->len; i++) {
        u_char c = key->data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            *why = "not an API key (they start with mgk_)";
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* The bot's id in /api/v1/published/{bot}/... */
static ngx_int_t
ngx_http_mangoo_api_key_bot(ngx_http_request_t *r, ngx_str_t *bot)
{
    u_char  *p, *end;
    size_t   skip = sizeof("/api/v1/published/") - 1;

    if (r->uri.len <= skip
        || ngx_strncmp(r->uri.data, "/api/v1/published/", skip) != 0)
    {
        return NGX_DECLINED;
    }

    p = r->uri.data + skip;
    end = r->uri.data + r->uri.len;
    bot->data = p;

    while (p < end && *p != '/') {
        p++;
    }

    bot->len = p - bot->data;

    return bot->len ? NGX_OK : NGX_DECLINED;
}


static void
ngx_http_mangoo_hex(u_char *dst, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }
}


/* What the cache or a worker said about the key, applied to r. */
static ngx_int_t
ngx_http_mangoo_api_key_decide(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx, ngx_http_mangoo_key_t *key)
{
    u_char           *p;
    time_t            retry;
    ngx_str_t         bot, id;
    ngx_table_elt_t  *h;

    switch (key->state) {

    case NGX_HTTP_MANGOO_KEY_UNKNOWN:
        return ngx_http_mangoo_unauthorized(r, "invalid_api_key",
                                            "unknown API key");

    case NGX_HTTP_MANGOO_KEY_REVOKED:
        return ngx_http_mangoo_unauthorized(r, "api_key_revoked",
                                            "this API key was revoked");

    case NGX_HTTP_MANGOO_KEY_EXPIRED:
        return ngx_http_mangoo_unauthorized(r, "api_key_expired",
                                            "this API key has expired");
    }

    if (key->expires && ngx_time() >= key->expires) {
        return ngx_http_mangoo_unauthorized(r, "api_key_expired",
                                            "this API key has expired");
    }

    if (ngx_http_mangoo_api_key_bot(r, &bot) != NGX_OK
        || bot.len != NGX_HTTP_MANGOO_UUID_LEN
        || ngx_strncasecmp(bot.data, key->bot_id, NGX_HTTP_MANGOO_UUID_LEN)
           != 0)
    {
        return ngx_http_mangoo_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "api_key_wrong_bot",
                                          "this API key is for another bot");
    }

    id.data = key->key_id;
    id.len = NGX_HTTP_MANGOO_UUID_LEN;

    if (ngx_http_mangoo_key_limit_take(&id, key->rate, key->burst, &retry,
                                       r->connection->log)
        == NGX_BUSY)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        h->value.len = ngx_sprintf(h->value.data, "%T", retry)
                       - h->value.data;

        return ngx_http_mangoo_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                          "rate_limited",
                                          "this API key's rate limit is "
                                          "reached: retry later");
    }

    /* {"api_key_id":"<uuid>","api_key_hash":"<hex>"} */
    p = ngx_pnalloc(r->pool, sizeof("{\"api_key_id\":\"\",\"api_key_hash\":\"\"}")
                    - 1 + NGX_HTTP_MANGOO_UUID_LEN + 2 * SHA256_DIGEST_LENGTH);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->claims.data = p;
    p = ngx_cpymem(p, "{\"api_key_id\":\"", sizeof("{\"api_key_id\":\"") - 1);
    p = ngx_cpymem(p, key->key_id, NGX_HTTP_MANGOO_UUID_LEN);
    p = ngx_cpymem(p, "\",\"api_key_hash\":\"",
                   sizeof("\",\"api_key_hash\":\"") - 1);
    ngx_http_mangoo_hex(p, ctx->api_key_digest, SHA256_DIGEST_LENGTH);
    p += 2 * SHA256_DIGEST_LENGTH;
    p = ngx_cpymem(p, "\"}", 2);
    ctx->claims.len = p - ctx->claims.data;

    return NGX_DECLINED;
}


/* A uuid as the database writes it: 8-4-4-4-12 lowercase hex. */
static ngx_uint_t
ngx_http_mangoo_is_uuid(const char *s, size_t len)
{
    size_t  i;

    if (len != NGX_HTTP_MANGOO_UUID_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
            continue;
        }

        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* A worker's 200 to "apikeys.verify": NGX_OK and *key filled, or NGX_ERROR. */
static ngx_int_t
ngx_http_mangoo_api_key_parse(mg_msg_t *msg, ngx_http_mangoo_key_t *key)
{
    json_t        *v, *id, *bot, *rate, *burst, *exp;
    json_error_t   err;
    ngx_int_t      rc = NGX_ERROR;

    v = json_loadb(msg->body.data, msg->body.len, 0, &err);
    if (v == NULL) {
        return NGX_ERROR;
    }

    id = json_object_get(v, "key_id");
    bot = json_object_get(v, "bot_id");
    rate = json_object_get(v, "rate_per_second");
    burst = json_object_get(v, "burst");
    exp = json_object_get(v, "expires_at");

    if (json_is_string(id)
        && ngx_http_mangoo_is_uuid(json_string_value(id),
                                   json_string_length(id))
        && json_is_string(bot)
        && ngx_http_mangoo_is_uuid(json_string_value(bot),
                                   json_string_length(bot))
        && json_is_number(rate) && json_number_value(rate) > 0
        && json_is_integer(burst) && json_integer_value(burst) > 0
        && (exp == NULL || json_is_null(exp) || json_is_integer(exp)))
    {
        key->state = NGX_HTTP_MANGOO_KEY_VALID;
        key->rate = json_number_value(rate);
        key->burst = (ngx_uint_t) json_integer_value(burst);
        key->expires = json_is_integer(exp)
                       ? (time_t) json_integer_value(exp) : 0;
        key->until = ngx_time() + NGX_HTTP_MANGOO_KEY_TRUST;
        if (key->expires && key->until > key->expires) {
            key->until = key->expires;
        }
        ngx_memcpy(key->key_id, json_string_value(id),
                   NGX_HTTP_MANGOO_UUID_LEN);
        ngx_memcpy(key->bot_id, json_string_value(bot),
                   NGX_HTTP_MANGOO_UUID_LEN);
        rc = NGX_OK;
    }

    json_decref(v);

    return rc;
}


static ngx_uint_t
ngx_http_mangoo_code_is(mg_msg_t *msg, const char *code)
{
    return msg->code.len == ngx_strlen(code)
           && ngx_strncmp(msg->code.data, code, msg->code.len) == 0;
}


/* The reply to "apikeys.verify": remember it, wake its waiters. */
static void
ngx_http_mangoo_api_key_verified(ngx_http_mangoo_ctx_t *ctx, mg_msg_t *msg)
{
    size_t                     n;
    ngx_http_mangoo_keys_t    *k = &ngx_http_mangoo_keys;
    ngx_http_mangoo_verify_t  *v;

    v = ((ngx_http_mangoo_verify_ctx_t *) ctx)->verify;
    v->answered = 0;

    if (msg->type == MG_MSG_RES && msg->status == NGX_HTTP_OK) {
        if (ngx_http_mangoo_api_key_parse(msg, &v->key) == NGX_OK) {
            v->answered = 1;

        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "mangoo: a worker's answer to apikeys.verify "
                          "is malformed");
        }

    } else if (msg->status == NGX_HTTP_UNAUTHORIZED) {
        ngx_memzero(&v->key, sizeof(ngx_http_mangoo_key_t));
        v->key.until = ngx_time() + NGX_HTTP_MANGOO_KEY_DENY_TRUST;
        v->key.state = ngx_http_mangoo_code_is(msg, "api_key_revoked")
                       ? NGX_HTTP_MANGOO_KEY_REVOKED
                       : ngx_http_mangoo_code_is(msg, "api_key_expired")
                       ? NGX_HTTP_MANGOO_KEY_EXPIRED
                       : NGX_HTTP_MANGOO_KEY_UNKNOWN;
        v->answered = 1;
    }

    if (v->answered) {
        ngx_http_mangoo_key_put(v->digest, &v->key, ngx_cycle->log);

    } else {
        /* no answer (no worker, a timeout, a fault): nothing to cache */
        v->status = (msg->status >= 500 && msg->status <= 599)
                    ? (ngx_uint_t) msg->status : NGX_HTTP_BAD_GATEWAY;

        n = ngx_min(msg->code.len, sizeof(v->code) - 1);
        ngx_memcpy(v->code, msg->code.data, n);
        v->code[n] = '\0';
        if (n == 0) {
            ngx_memcpy(v->code, "bad_reply", sizeof("bad_reply"));
        }

        n = ngx_min(msg->message.len, sizeof(v->message) - 1);
        ngx_memcpy(v->message, msg->message.data, n);
        v->message[n] = '\0';
        if (n == 0) {
            ngx_memcpy(v->message, "the API key could not be checked",
                       sizeof("the API key could not be checked"));
        }
    }

    ngx_queue_remove(&v->link);
    k->npending--;
    ngx_queue_insert_tail(&k->done, &v->link);

    /* ctx lives in the verify's pool: nothing may touch it after this */
    ngx_destroy_pool(v->pool);
    v->pool = NULL;

    if (!k->resume.posted) {
        ngx_post_event(&k->resume, &ngx_posted_events);
    }
}


/* Ask a worker about the digest, or join the lookup already asking. */
static ngx_int_t
ngx_http_mangoo_api_key_verify(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx)
{
    u_char                        *p;
    ngx_str_t                      bot;
    ngx_queue_t                   *q;
    ngx_pool_t                    *pool;
    ngx_http_mangoo_keys_t        *k = &ngx_http_mangoo_keys;
    ngx_http_mangoo_verify_t      *v;
    ngx_http_mangoo_verify_ctx_t  *vctx;

    for (q = ngx_queue_head(&k->pending);
         q != ngx_queue_sentinel(&k->pending);
         q = ngx_queue_next(q))
    {
        v = ngx_queue_data(q, ngx_http_mangoo_verify_t, link);

        if (ngx_memcmp(v->digest, ctx->api_key_digest, SHA256_DIGEST_LENGTH)
            == 0)
        {
            ngx_queue_insert_tail(&v->waiters, &ctx->queue);
            ctx->awaiting_api_key = 1;
            return NGX_AGAIN;
        }
    }

    if (k->npending >= NGX_HTTP_MANGOO_KEY_PENDING) {
        return ngx_http_mangoo_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "busy",
                                          "too many API keys are being "
                                          "checked: retry shortly");
    }

    if (ngx_http_mangoo_api_key_bot(r, &bot) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = ngx_calloc(sizeof(ngx_http_mangoo_verify_t), r->connection->log);
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the lookup outlives the request that starts it: the cycle's log */
    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        ngx_free(v);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    vctx = ngx_pcalloc(pool, sizeof(ngx_http_mangoo_verify_ctx_t));

    /* {"bot":"<path segment, as JSON>","key_hash":"<hex>"} */
    p = ngx_pnalloc(pool, sizeof("{\"bot\":,\"key_hash\":\"\"}") - 1
                    + 2 * SHA256_DIGEST_LENGTH + 2 + bot.len * 6);

    if (vctx == NULL || p == NULL) {
        ngx_destroy_pool(pool);
        ngx_free(v);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    vctx->verify = v;
    vctx->ctx.params.data = p;
    p = ngx_cpymem(p, "{\"bot\":\"", sizeof("{\"bot\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, bot.data, bot.len);
    p = ngx_cpymem(p, "\",\"key_hash\":\"", sizeof("\",\"key_hash\":\"") - 1);
    ngx_http_mangoo_hex(p, ctx->api_key_digest, SHA256_DIGEST_LENGTH);
    p += 2 * SHA256_DIGEST_LENGTH;
    p = ngx_cpymem(p, "\"}", 2);
    vctx->ctx.params.len = p - vctx->ctx.params.data;

    vctx->ctx.on_reply = ngx_http_mangoo_api_key_verified;
    ngx_str_set(&vctx->ctx.job, "apikeys.verify");
    ngx_str_set(&vctx->ctx.claims, "{}");

    ngx_memcpy(v->digest, ctx->api_key_digest, SHA256_DIGEST_LENGTH);
    ngx_queue_init(&v->waiters);
    v->pool = pool;
    ngx_queue_insert_tail(&k->pending, &v->link);
    k->npending++;

    ngx_queue_insert_tail(&v->waiters, &ctx->queue);
    ctx->awaiting_api_key = 1;

    /* may answer at once (no worker): verified() only posts the resume */
    if (ngx_http_mangoo_dispatch_system(&vctx->ctx,
                                        NGX_HTTP_MANGOO_KEY_VERIFY_MS)
        != NGX_OK)
    {
        ngx_queue_remove(&ctx->queue);
        ctx->awaiting_api_key = 0;
        ngx_queue_remove(&v->link);
        k->npending--;
        ngx_destroy_pool(pool);
        ngx_free(v);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * NGX_DECLINED: the key is good and its request may go on (ctx->claims
 * set); NGX_AGAIN: waiting for a worker's word on it (resumed later with
 * proceed()); anything else is final, as for ngx_http_mangoo_authenticate.
 */
ngx_int_t
ngx_http_mangoo_api_key_check(ngx_http_request_t *r,
    ngx_http_mangoo_ctx_t *ctx)
{
    ngx_str_t                     key;
    const char                   *why;
    ngx_http_mangoo_keys_t       *k = &ngx_http_mangoo_keys;
    ngx_http_mangoo_key_entry_t  *e;

    if (ngx_http_mangoo_api_key_read(r, &key, &why) != NGX_OK) {
        return ngx_http_mangoo_unauthorized(r, "invalid_api_key", why);
    }

    ctx->api_key_digest = ngx_pnalloc(r->pool, SHA256_DIGEST_LENGTH);
    if (ctx->api_key_digest == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    SHA256(key.data, key.len, ctx->api_key_digest);

    e = ngx_http_mangoo_key_find(ctx->api_key_digest);

    if (e != NULL && ngx_time() >= e->key.until) {
        ngx_http_mangoo_key_remove(e);
        e = NULL;
    }

    if (e != NULL) {
        ngx_queue_remove(&e->lru);
        ngx_queue_insert_head(&k->lru, &e->lru);
        return ngx_http_mangoo_api_key_decide(r, ctx, &e->key);
    }

    return ngx_http_mangoo_api_key_verify(r, ctx);
}


/* Lookups answered: each waiting request is decided by its answer. */
static void
ngx_http_mangoo_api_key_resume(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_queue_t               *q;
    ngx_http_request_t        *r;
    ngx_http_mangoo_ctx_t     *ctx;
    ngx_http_mangoo_keys_t    *k = &ngx_http_mangoo_keys;
    ngx_http_mangoo_verify_t  *v;

    while (!ngx_queue_empty(&k->done)) {
        q = ngx_queue_head(&k->done);
        ngx_queue_remove(q);
        v = ngx_queue_data(q, ngx_http_mangoo_verify_t, link);

        while (!ngx_queue_empty(&v->waiters)) {
            q = ngx_queue_head(&v->waiters);
            ngx_queue_remove(q);

            ctx = ngx_queue_data(q, ngx_http_mangoo_ctx_t, queue);
            ctx->awaiting_api_key = 0;
            r = ctx->request;

            if (v->answered) {
                rc = ngx_http_mangoo_api_key_decide(r, ctx, &v->key);

            } else {
                ngx_http_mangoo_metrics_failure((char *) v->code);
                rc = ngx_http_mangoo_send_error(r, v->status,
                                                (char *) v->code,
                                                (char *) v->message);
            }

            if (rc == NGX_DECLINED) {
                rc = ngx_http_mangoo_proceed(r, ctx);
            }

            /* the handler returned NGX_DONE for us: this stands in for it */
            ngx_http_mangoo_finish(r, rc);
        }

        ngx_free(v);
    }
}


void
ngx_http_mangoo_api_key_cleanup(ngx_http_mangoo_ctx_t *ctx)
{
    if (ctx->awaiting_api_key) {
        ngx_queue_remove(&ctx->queue);
        ctx->awaiting_api_key = 0;
    }
}
