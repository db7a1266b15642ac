/*
 * mg_rcache: owns the process's cached answers (read_cache.h): a hash
 * table of entries, also on one list in order of use for eviction.  The
 * key is "<user>\0<job>\0<params>", so the entries of a user are found by
 * their key's first string.  One lock; a hit copies the answer out and
 * sends it after letting go.
 *
 * "No change since the lookup" is a single generation bumped by every
 * forget: a write of any user may keep a concurrent read of another from
 * being stored, never a stale answer from being refused.
 */
#include "read_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "identity/user_status.h"
#include "jobs/dispatch.h"
#include "jobs/jobs.h"
#include "metrics.h"
#include "util/log.h"

#define MG_RC_BUCKETS    4096           /* a power of two */
#define MG_RC_SHARE      8              /* one answer: at most 1/8 of the budget */

typedef struct mg_rc_entry_s mg_rc_entry_t;

struct mg_rc_entry_s {
    mg_rc_entry_t  *chain;              /* the bucket's next */
    mg_rc_entry_t  *newer, *older;      /* the use list */
    uint64_t        hash;
    size_t          key_len;
    size_t          body_len;
    char           *key;                /* key_len bytes, then the body */
};

static struct {
    pthread_mutex_t  lock;
    size_t           max;               /* bytes; 0: off */
    size_t           bytes;
    size_t           count;
    uint64_t         gen;
    mg_rc_entry_t   *buckets[MG_RC_BUCKETS];
    mg_rc_entry_t   *newest, *oldest;
} mg_rc = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* What a handler answered, captured on its way out. */
typedef struct {
    mg_job_send_fn   send;
    void            *ctx;
    char            *body;              /* a copy of a 200 JSON answer, or NULL */
    size_t           body_len;
    int              seen;
} mg_rc_capture_t;

void
mg_rcache_configure(size_t max_bytes)
{
    mg_rc.max = max_bytes;
}

/* FNV-1a, 64 bits. */
static uint64_t
mg_rc_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t
mg_rc_cost(const mg_rc_entry_t *e)
{
    return sizeof(*e) + e->key_len + e->body_len;
}

static void
mg_rc_unuse(mg_rc_entry_t *e)
{
    if (e->newer != NULL) {
        e->newer->older = e->older;
    } else {
        mg_rc.newest = e->older;
    }
    if (e->older != NULL) {
        e->older->newer = e->newer;
    } else {
        mg_rc.oldest = e->newer;
    }
    e->newer = e->older = NULL;
}

static void
mg_rc_use(mg_rc_entry_t *e)
{
    e->older = mg_rc.newest;
    e->newer = NULL;
    if (mg_rc.newest != NULL) {
        mg_rc.newest->newer = e;
    } else {
        mg_rc.oldest = e;
    }
    mg_rc.newest = e;
}

/* Unlink e everywhere and free it; lock held. */
static void
mg_rc_drop(mg_rc_entry_t *e)
{
    mg_rc_entry_t **pp = &mg_rc.buckets[e->hash & (MG_RC_BUCKETS - 1)];

    while (*pp != e) {
        pp = &(*pp)->chain;
    }
    *pp = e->chain;
    mg_rc_unuse(e);
    mg_rc.bytes -= mg_rc_cost(e);
    mg_rc.count--;
    free(e->key);
    free(e);
}

static mg_rc_entry_t *
mg_rc_find(const char *key, size_t key_len, uint64_t hash)
{
    for (mg_rc_entry_t *e = mg_rc.buckets[hash & (MG_RC_BUCKETS - 1)]; e != NULL; e = e->chain) {
        if (e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Keep body under key unless a forget came after gen; takes body. */
static void
mg_rc_store(char *key, size_t key_len, uint64_t hash, uint64_t gen, char *body,
            size_t body_len)
{
    mg_rc_entry_t  *e = calloc(1, sizeof(*e));
    char           *both = malloc(key_len + body_len);

    if (e == NULL || both == NULL) {
        free(e);
        free(both);
        free(body);
        return;                             /* only a cache */
    }
    memcpy(both, key, key_len);
    memcpy(both + key_len, body, body_len);
    free(body);
    e->key = both;
    e->key_len = key_len;
    e->body_len = body_len;
    e->hash = hash;

    pthread_mutex_lock(&mg_rc.lock);
    if (gen != mg_rc.gen || !mg_ustatus_trusted(&mg_user_statuses)
        || mg_rc_find(key, key_len, hash) != NULL)
    {
        pthread_mutex_unlock(&mg_rc.lock);
        free(both);
        free(e);
        return;
    }
    while (mg_rc.oldest != NULL && mg_rc.bytes + mg_rc_cost(e) > mg_rc.max) {
        mg_rc_drop(mg_rc.oldest);
    }
    e->chain = mg_rc.buckets[hash & (MG_RC_BUCKETS - 1)];
    mg_rc.buckets[hash & (MG_RC_BUCKETS - 1)] = e;
    mg_rc_use(e);
    mg_rc.bytes += mg_rc_cost(e);
    mg_rc.count++;
    pthread_mutex_unlock(&mg_rc.lock);
}

static int
mg_rc_capture(void *ctx, const mg_msg_t *msg)
{
    mg_rc_capture_t *cap = ctx;

    if (!cap->seen) {
        cap->seen = 1;
        if (msg->type == MG_MSG_RES && msg->status == 200 && msg->headers.len == 0
            && msg->content_type.len == sizeof("application/json") - 1
            && memcmp(msg->content_type.data, "application/json", msg->content_type.len) == 0
            && msg->body.len <= mg_rc.max / MG_RC_SHARE
            && (cap->body = malloc(msg->body.len + 1)) != NULL)
        {
            memcpy(cap->body, msg->body.data, msg->body.len);
            cap->body_len = msg->body.len;
        }
    }
    return cap->send(cap->ctx, msg);
}

/* "<user>\0<job>\0<params>", malloc'd, its length in *key_len; NULL when
 * out of memory. */
static char *
mg_rc_key(const char *user, const char *name, size_t name_len, const char *params,
          size_t params_len, size_t *key_len)
{
    size_t  user_len = strlen(user);
    char   *key;

    *key_len = user_len + 1 + name_len + 1 + params_len;
    key = malloc(*key_len);
    if (key != NULL) {
        memcpy(key, user, user_len + 1);
        memcpy(key + user_len + 1, name, name_len);
        key[user_len + 1 + name_len] = '\0';
        memcpy(key + user_len + 2 + name_len, params, params_len);
    }
    return key;
}

/* Each request is counted once, where its answer is decided: the broker's
 * peek counts only its hits, since a miss there is looked up again (and
 * counted) by the thread that runs the job. */
static void
mg_rc_count(int hit)
{
    mg_mcounter_add(mg_wm.rcache_requests, (const char *[]) { hit ? "hit" : "miss" }, 1);
}

/* A copy of the answer kept under key (1, *body malloc'd), else 0; *gen
 * gets the generation to store a fresh answer with. */
static int
mg_rc_get(const char *key, size_t key_len, uint64_t hash, uint64_t *gen, char **body,
          size_t *body_len)
{
    mg_rc_entry_t  *e;
    int             hit = 0;

    *body = NULL;
    pthread_mutex_lock(&mg_rc.lock);
    *gen = mg_rc.gen;
    e = mg_rc_find(key, key_len, hash);
    if (e != NULL && (*body = malloc(e->body_len + 1)) != NULL) {
        memcpy(*body, e->key + e->key_len, e->body_len);
        *body_len = e->body_len;
        mg_rc_unuse(e);
        mg_rc_use(e);
        hit = 1;
    }
    pthread_mutex_unlock(&mg_rc.lock);
    return hit;
}

int
mg_rcache_find(const char *user, const char *space, const char *key, char **body,
               size_t *len, uint64_t *gen)
{
    size_t   key_len;
    char    *k;
    int      hit;

    *body = NULL;
    *gen = 0;
    if (mg_rc.max == 0 || !mg_ustatus_trusted(&mg_user_statuses)
        || (k = mg_rc_key(user, space, strlen(space), key, strlen(key), &key_len)) == NULL)
    {
        return 0;
    }
    hit = mg_rc_get(k, key_len, mg_rc_hash(k, key_len), gen, body, len);
    free(k);
    mg_rc_count(hit);
    return hit;
}

void
mg_rcache_keep(const char *user, const char *space, const char *key, uint64_t gen,
               const char *body, size_t len)
{
    size_t   key_len;
    char    *k, *copy;

    if (mg_rc.max == 0 || len > mg_rc.max / MG_RC_SHARE
        || (k = mg_rc_key(user, space, strlen(space), key, strlen(key), &key_len)) == NULL)
    {
        return;
    }
    if ((copy = malloc(len + 1)) != NULL) {
        memcpy(copy, body, len);
        mg_rc_store(k, key_len, mg_rc_hash(k, key_len), gen, copy, len);
    }
    free(k);
}

int
mg_rcache_peek(const mg_msg_t *req, char **body, size_t *len)
{
    const mg_job_def_t  *def;
    json_t              *claims, *sub;
    size_t               key_len;
    uint64_t             gen;
    char                *key = NULL;
    int                  hit = 0;

    *body = NULL;
    if (mg_rc.max == 0 || !mg_ustatus_trusted(&mg_user_statuses)
        || (def = mg_dispatch_find(req->job.data, req->job.len)) == NULL
        || !(def->flags & MG_JOB_CACHED))
    {
        return 0;
    }
    claims = json_loadb(req->claims.data, req->claims.len, 0, NULL);
    sub = json_object_get(claims, "sub");
    if (json_is_string(sub)
        && mg_ustatus_get(&mg_user_statuses, json_string_value(sub), &gen) == MG_USTATUS_ACTIVE
        && (key = mg_rc_key(json_string_value(sub), req->job.data, req->job.len,
                            req->params.data, req->params.len, &key_len)) != NULL)
    {
        hit = mg_rc_get(key, key_len, mg_rc_hash(key, key_len), &gen, body, len);
    }
    free(key);
    json_decref(claims);
    if (hit) {
        mg_rc_count(1);
    }
    return hit;
}

int
mg_rcache_serve(mg_job_t *job, int (*handler)(mg_job_t *job))
{
    mg_rc_capture_t  cap = { 0 };
    size_t           key_len, body_len = 0;
    uint64_t         hash, gen;
    char            *key, *body = NULL;
    int              rc;

    if (mg_rc.max == 0 || job->user_id == NULL || !mg_ustatus_trusted(&mg_user_statuses)) {
        return handler(job);
    }
    key = mg_rc_key(job->user_id, job->name, job->name_len, job->params_text, job->params_len,
                    &key_len);
    if (key == NULL) {
        return handler(job);
    }
    hash = mg_rc_hash(key, key_len);
    if (mg_rc_get(key, key_len, hash, &gen, &body, &body_len)) {
        mg_rc_count(1);
        free(key);
        rc = mg_job_reply_raw(job, 200, body, body_len, NULL);
        free(body);
        return rc < 0 ? -1 : 0;
    }

    mg_rc_count(0);
    cap.send = job->send;
    cap.ctx = job->send_ctx;
    job->send = mg_rc_capture;
    job->send_ctx = &cap;
    rc = handler(job);
    job->send = cap.send;
    job->send_ctx = cap.ctx;
    if (cap.body != NULL) {
        mg_rc_store(key, key_len, hash, gen, cap.body, cap.body_len);
    }
    free(key);
    return rc;
}

/* A write's answer, held back until every process has heard. */
typedef struct {
    mg_job_send_fn   send;
    void            *ctx;
    mg_job_t        *job;
    int              seen;
} mg_rc_write_t;

static int
mg_rc_announce(void *ctx, const mg_msg_t *msg)
{
    mg_rc_write_t *w = ctx;

    if (!w->seen) {
        w->seen = 1;
        if ((msg->type == MG_MSG_RES || msg->type == MG_MSG_HEAD) && msg->status / 100 == 2) {
            mg_users_announce(w->job, w->job->user_id);
        }
    }
    return w->send(w->ctx, msg);
}

int
mg_rcache_write(mg_job_t *job, int (*handler)(mg_job_t *job))
{
    mg_rc_write_t  w = { job->send, job->send_ctx, job, 0 };
    int            rc;

    if (mg_rc.max == 0 || job->user_id == NULL) {
        return handler(job);
    }
    job->send = mg_rc_announce;
    job->send_ctx = &w;
    rc = handler(job);
    job->send = w.send;
    job->send_ctx = w.ctx;
    return rc;
}

void
mg_rcache_forget(const char *id)
{
    mg_rc_entry_t *e, *older;

    pthread_mutex_lock(&mg_rc.lock);
    mg_rc.gen++;
    for (e = mg_rc.newest; e != NULL; e = older) {
        older = e->older;
        if (id == NULL || id[0] == '\0' || strcmp(e->key, id) == 0) {
            mg_rc_drop(e);
        }
    }
    pthread_mutex_unlock(&mg_rc.lock);
}

size_t
mg_rcache_count(size_t *bytes)
{
    size_t n;

    pthread_mutex_lock(&mg_rc.lock);
    n = mg_rc.count;
    if (bytes != NULL) {
        *bytes = mg_rc.bytes;
    }
    pthread_mutex_unlock(&mg_rc.lock);
    return n;
}

void
mg_rcache_clear(void)
{
    mg_rcache_forget(NULL);
}
