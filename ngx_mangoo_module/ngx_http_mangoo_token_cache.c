
/*
 * ngx_http_mangoo_token_cache: tokens this worker process has verified
 * already, so a client sending the same token again costs a SHA-256 and a
 * tree lookup instead of an RSA verification and two JSON passes.
 *
 * Entries are keyed by the SHA-256 of the whole token and hold what the
 * request needs (sub, admin, the claims JSON); one valid until the token's
 * exp (plus leeway).  The set is bounded (least recently used goes first)
 * and emptied whenever the key set changes, so a retired key retires its
 * tokens too.  Rejections are never cached.  What a token cannot say (a
 * user disabled or deleted since) the worker checks on every request.
 * Entries are malloc'd and owned here; all of it is per process.
 */


#include <openssl/sha.h>

#include "ngx_http_mangoo_module.h"


typedef struct {
    ngx_rbtree_node_t   node;       /* key: the digest's first bytes */
    ngx_queue_t         lru;
    u_char              digest[SHA256_DIGEST_LENGTH];
    time_t              expires;
    ngx_uint_t          admin;
    size_t              sub_len;
    size_t              claims_len;
    u_char              data[1];    /* sub, then claims */
} ngx_http_mangoo_token_entry_t;


typedef struct {
    ngx_rbtree_t        tree;
    ngx_rbtree_node_t   sentinel;
    ngx_queue_t         lru;        /* most recently used first */
    ngx_uint_t          count;
    ngx_uint_t          max;
} ngx_http_mangoo_token_cache_t;


static ngx_http_mangoo_token_cache_t  ngx_http_mangoo_token_cache;


void
ngx_http_mangoo_token_cache_init(ngx_uint_t max)
{
    ngx_http_mangoo_token_cache_t  *c = &ngx_http_mangoo_token_cache;

    ngx_rbtree_init(&c->tree, &c->sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&c->lru);
    c->count = 0;
    c->max = max;
}


static void
ngx_http_mangoo_token_cache_remove(ngx_http_mangoo_token_entry_t *e)
{
    ngx_http_mangoo_token_cache_t  *c = &ngx_http_mangoo_token_cache;

    ngx_rbtree_delete(&c->tree, &e->node);
    ngx_queue_remove(&e->lru);
    c->count--;
    ngx_free(e);
}


void
ngx_http_mangoo_token_cache_flush(void)
{
    ngx_queue_t                    *q;
    ngx_http_mangoo_token_cache_t  *c = &ngx_http_mangoo_token_cache;

    if (c->lru.next == NULL) {
        return;     /* never initialised */
    }

    while (!ngx_queue_empty(&c->lru)) {
        q = ngx_queue_head(&c->lru);
        ngx_http_mangoo_token_cache_remove(
            ngx_queue_data(q, ngx_http_mangoo_token_entry_t, lru));
    }
}


void
ngx_http_mangoo_token_digest(ngx_str_t *token, u_char *digest)
{
    SHA256(token->data, token->len, digest);
}


static ngx_rbtree_key_t
ngx_http_mangoo_token_key(u_char *digest)
{
    ngx_rbtree_key_t  key;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    return key;
}


/* The entry whose key (digest prefix) matches, whatever the rest says. */
static ngx_http_mangoo_token_entry_t *
ngx_http_mangoo_token_find(u_char *digest)
{
    ngx_rbtree_key_t                key;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_mangoo_token_cache_t  *c = &ngx_http_mangoo_token_cache;

    key = ngx_http_mangoo_token_key(digest);
    node = c->tree.root;
    sentinel = c->tree.sentinel;

    while (node != sentinel) {
        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_http_mangoo_token_entry_t *) node;
    }

    return NULL;
}


ngx_int_t
ngx_http_mangoo_token_cache_get(u_char *digest, ngx_str_t *sub,
    ngx_str_t *claims, ngx_uint_t *admin)
{
    ngx_http_mangoo_token_entry_t  *e;
    ngx_http_mangoo_token_cache_t  *c = &ngx_http_mangoo_token_cache;

    if (c->max == 0) {
        return NGX_DECLINED;
    }

    e = ngx_http_mangoo_token_find(digest);

    /* a 64-bit prefix shared by two tokens: the second is never cached */
    if (e == NULL
        || ngx_memcmp(e->digest, digest, SHA256_DIGEST_LENGTH) != 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_time() >= e->expires) {
        ngx_http_mangoo_token_cache_remove(e);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&c->lru, &e->lru);

    /* valid until the next call into the cache: callers copy at once */
    sub->data = e->data;
    sub->len = e->sub_len;
    claims->data = e->data + e->sub_len;
    claims->len = e->claims_len;
    *admin = e->admin;

    return NGX_OK;
}


void
ngx_http_mangoo_token_cache_put(u_char *digest, time_t expires,
    ngx_str_t *sub, ngx_str_t *claims, ngx_uint_t admin, ngx_log_t *log)
{
    ngx_queue_t                    *q;
    ngx_http_mangoo_token_entry_t  *e;
    ngx_http_mangoo_token_cache_t  *c = &ngx_http_mangoo_token_cache;

    if (c->max == 0 || expires <= ngx_time()
        || ngx_http_mangoo_token_find(digest) != NULL)
    {
        return;
    }

    if (c->count >= c->max) {
        q = ngx_queue_last(&c->lru);
        ngx_http_mangoo_token_cache_remove(
            ngx_queue_data(q, ngx_http_mangoo_token_entry_t, lru));
    }

    e = ngx_alloc(sizeof(ngx_http_mangoo_token_entry_t) + sub->len
                  + claims->len, log);
    if (e == NULL) {
        return;     /* only a missed speed-up */
    }

    ngx_memcpy(e->digest, digest, SHA256_DIGEST_LENGTH);
    e->node.key = ngx_http_mangoo_token_key(digest);
    e->expires = expires;
    e->admin = admin;
    e->sub_len = sub->len;
    e->claims_len = claims->len;
    ngx_memcpy(e->data, sub->data, sub->len);
    ngx_memcpy(e->data + sub->len, claims->data, claims->len);

    ngx_rbtree_insert(&c->tree, &e->node);
    ngx_queue_insert_head(&c->lru, &e->lru);
    c->count++;
}
