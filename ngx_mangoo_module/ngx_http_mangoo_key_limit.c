
/*
 * ngx_http_mangoo_key_limit: each API key's rate limit, a token bucket per
 * key shared by all nginx worker processes (the "mangoo_api_keys" zone).
 *
 * A bucket holds up to burst tokens and gains rate tokens a second; a
 * request takes one or is refused with the seconds until one is there.
 * Rate and burst come with each call (from the key's cached record), so a
 * key whose limits change simply refills at the new pace.  Buckets are
 * kept least recently used first out: when the zone is full the oldest go,
 * and a key that comes back starts full again.  The zone's size is
 * mangoo_api_key_zone (default 1m: about 8,000 keys).
 */


#include "ngx_http_mangoo_module.h"


#define NGX_HTTP_MANGOO_KEY_ID_MAX  64


typedef struct {
    ngx_str_node_t      sn;         /* sn.str points at id */
    ngx_queue_t         lru;        /* most recently used first */
    ngx_msec_t          last;
    double              tokens;
    u_char              id[NGX_HTTP_MANGOO_KEY_ID_MAX];
} ngx_http_mangoo_bucket_t;


typedef struct {
    ngx_rbtree_t        tree;
    ngx_rbtree_node_t   sentinel;
    ngx_queue_t         lru;
} ngx_http_mangoo_buckets_t;


static ngx_shm_zone_t  *ngx_http_mangoo_key_zone;


static ngx_int_t
ngx_http_mangoo_key_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t            *sp;
    ngx_http_mangoo_buckets_t  *b;

    /* a reload keeps the buckets */
    if (data != NULL) {
        shm_zone->data = data;
        return NGX_OK;
    }

    sp = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = sp->data;
        return NGX_OK;
    }

    b = ngx_slab_alloc(sp, sizeof(ngx_http_mangoo_buckets_t));
    if (b == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&b->tree, &b->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&b->lru);

    sp->data = b;
    shm_zone->data = b;

    /* an over-full zone logs once per nginx process at most, not per request */
    sp->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_mangoo_key_limit_add_zone(ngx_conf_t *cf, size_t size)
{
    ngx_str_t        name = ngx_string("mangoo_api_keys");
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_mangoo_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_mangoo_key_limit_init_zone;
    ngx_http_mangoo_key_zone = zone;

    return NGX_OK;
}


static void
ngx_http_mangoo_bucket_free(ngx_slab_pool_t *sp, ngx_http_mangoo_buckets_t *b,
    ngx_http_mangoo_bucket_t *k)
{
    ngx_rbtree_delete(&b->tree, &k->sn.node);
    ngx_queue_remove(&k->lru);
    ngx_slab_free_locked(sp, k);
}


/* A new bucket, full; the oldest make room when the zone is full. */
static ngx_http_mangoo_bucket_t *
ngx_http_mangoo_bucket_new(ngx_slab_pool_t *sp, ngx_http_mangoo_buckets_t *b,
    ngx_str_t *id, uint32_t hash, ngx_uint_t burst)
{
    ngx_uint_t                 n;
    ngx_http_mangoo_bucket_t  *k;

    for (n = 0; n < 4; n++) {
        k = ngx_slab_alloc_locked(sp, sizeof(ngx_http_mangoo_bucket_t));
        if (k != NULL) {
            ngx_memcpy(k->id, id->data, id->len);
            k->sn.str.data = k->id;
            k->sn.str.len = id->len;
            k->sn.node.key = hash;
            k->last = ngx_current_msec;
            k->tokens = (double) burst;

            ngx_rbtree_insert(&b->tree, &k->sn.node);
            ngx_queue_insert_head(&b->lru, &k->lru);

            return k;
        }

        if (ngx_queue_empty(&b->lru)) {
            break;
        }

        ngx_http_mangoo_bucket_free(sp, b,
            ngx_queue_data(ngx_queue_last(&b->lru), ngx_http_mangoo_bucket_t,
                           lru));
    }

    return NULL;
}


/*
 * Take one request from key id's bucket: NGX_OK, or NGX_BUSY with
 * *retry_after the whole seconds (at least 1) until the next may pass.
 * Without a zone, or when no bucket fits even after evicting, the request
 * passes: the limit protects capacity, an outage of it must not refuse
 * every caller.
 */
ngx_int_t
ngx_http_mangoo_key_limit_take(ngx_str_t *id, double rate, ngx_uint_t burst,
    time_t *retry_after, ngx_log_t *log)
{
    double                      tokens, wait;
    uint32_t                    hash;
    ngx_int_t                   rc;
    ngx_msec_t                  now;
    ngx_msec_int_t              elapsed;
    ngx_str_node_t             *sn;
    ngx_slab_pool_t            *sp;
    ngx_http_mangoo_bucket_t   *k;
    ngx_http_mangoo_buckets_t  *b;

    if (ngx_http_mangoo_key_zone == NULL
        || ngx_http_mangoo_key_zone->data == NULL
        || id->len == 0 || id->len > NGX_HTTP_MANGOO_KEY_ID_MAX
        || rate <= 0 || burst == 0)
    {
        return NGX_OK;
    }

    sp = (ngx_slab_pool_t *) ngx_http_mangoo_key_zone->shm.addr;
    b = ngx_http_mangoo_key_zone->data;
    hash = ngx_crc32_short(id->data, id->len);
    now = ngx_current_msec;
    rc = NGX_OK;

    ngx_shmtx_lock(&sp->mutex);

    sn = ngx_str_rbtree_lookup(&b->tree, id, hash);

    if (sn != NULL) {
        k = (ngx_http_mangoo_bucket_t *) sn;

        elapsed = (ngx_msec_int_t) (now - k->last);
        if (elapsed < 0) {
            elapsed = 0;    /* another process's clock ran a little ahead */
        }

        tokens = k->tokens + rate * (double) elapsed / 1000.0;
        if (tokens > (double) burst) {
            tokens = (double) burst;
        }

        k->tokens = tokens;
        k->last = now;
        ngx_queue_remove(&k->lru);
        ngx_queue_insert_head(&b->lru, &k->lru);

    } else {
        k = ngx_http_mangoo_bucket_new(sp, b, id, hash, burst);
    }

    if (k == NULL) {
        ngx_shmtx_unlock(&sp->mutex);
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "mangoo: \"mangoo_api_keys\" zone is full, "
                      "a request passed unlimited");
        return NGX_OK;
    }

    if (k->tokens >= 1.0) {
        k->tokens -= 1.0;

    } else {
        wait = (1.0 - k->tokens) / rate;
        *retry_after = (time_t) wait + ((double) (time_t) wait < wait ? 1 : 0);
        if (*retry_after < 1) {
            *retry_after = 1;
        }
        rc = NGX_BUSY;
    }

    ngx_shmtx_unlock(&sp->mutex);

    return rc;
}
