/*
 * mg_ustatus: owns the user status cache (see user_status.h for the rules
 * it keeps).  An open-addressing hash table with linear probing, keyed by
 * the id string; one mutex guards everything because the critical
 * sections are a hash and a few compares, far below a database round trip.
 */
#include "identity/user_status.h"

#include <stdlib.h>
#include <string.h>

/* 8192 slots, at most 4096 users: ~100 KiB of slots and ids at most. */
mg_ustatus_cache_t mg_user_statuses = MG_USTATUS_INITIALIZER(8192);

static size_t
mg_ustatus_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */

    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    }
    return (size_t) h;
}

/* Slot holding id, or the empty slot where it would go.  Lock held,
 * slots allocated; never loops forever since at most half are used. */
static size_t
mg_ustatus_slot(const mg_ustatus_cache_t *c, const char *id)
{
    size_t mask = c->nslots - 1;
    size_t i = mg_ustatus_hash(id) & mask;

    while (c->slots[i].id != NULL && strcmp(c->slots[i].id, id) != 0) {
        i = (i + 1) & mask;
    }
    return i;
}

static void
mg_ustatus_clear_locked(mg_ustatus_cache_t *c)
{
    if (c->slots != NULL) {
        for (size_t i = 0; i < c->nslots; i++) {
            free(c->slots[i].id);
            c->slots[i].id = NULL;
        }
    }
    c->count = 0;
}

/* Remove id and re-seat the rest of its probe run, so that lookups of
 * ids placed after it still find them.  Lock held. */
static void
mg_ustatus_remove_locked(mg_ustatus_cache_t *c, const char *id)
{
    size_t mask = c->nslots - 1;
    size_t i, j;

    if (c->slots == NULL) {
        return;
    }
    i = mg_ustatus_slot(c, id);
    if (c->slots[i].id == NULL) {
        return;
    }
    free(c->slots[i].id);
    c->slots[i].id = NULL;
    c->count--;
    for (j = (i + 1) & mask; c->slots[j].id != NULL; j = (j + 1) & mask) {
        mg_ustatus_slot_t moved = c->slots[j];

        c->slots[j].id = NULL;
        c->slots[mg_ustatus_slot(c, moved.id)] = moved;
    }
}

/* Forget id (NULL or "": all) and bump the generation.  Lock held. */
static void
mg_ustatus_invalidate_locked(mg_ustatus_cache_t *c, const char *id)
{
    if (id == NULL || id[0] == '\0') {
        mg_ustatus_clear_locked(c);
    } else if (strlen(id) <= MG_USTATUS_ID_MAX) {
        mg_ustatus_remove_locked(c, id);
    }
    c->gen++;
}

mg_ustatus_t
mg_ustatus_get(mg_ustatus_cache_t *c, const char *id, uint64_t *gen)
{
    mg_ustatus_t st = MG_USTATUS_MISS;

    pthread_mutex_lock(&c->lock);
    *gen = c->gen;
    if (c->trusted && c->slots != NULL && strlen(id) <= MG_USTATUS_ID_MAX) {
        size_t i = mg_ustatus_slot(c, id);

        if (c->slots[i].id != NULL) {
            st = (mg_ustatus_t) c->slots[i].status;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

void
mg_ustatus_put(mg_ustatus_cache_t *c, const char *id, mg_ustatus_t status, uint64_t gen)
{
    char   *copy;
    size_t  i;

    if (status == MG_USTATUS_MISS || strlen(id) > MG_USTATUS_ID_MAX) {
        return;
    }
    /* copied outside the lock: allocation is the slow part */
    copy = strdup(id);
    if (copy == NULL) {
        return;
    }

    pthread_mutex_lock(&c->lock);
    if (!c->trusted || c->gen != gen || c->nslots < 2) {
        goto done;
    }
    if (c->slots == NULL) {
        c->slots = calloc(c->nslots, sizeof(*c->slots));
        if (c->slots == NULL) {
            goto done;
        }
    }
    if (c->count >= c->nslots / 2) {
        /* full: start over rather than track recency on every hit */
        mg_ustatus_clear_locked(c);
    }
    i = mg_ustatus_slot(c, id);
    if (c->slots[i].id == NULL) {
        c->slots[i].id = copy;
        c->count++;
        copy = NULL;
    }
    c->slots[i].status = (unsigned char) status;

done:
    pthread_mutex_unlock(&c->lock);
    free(copy);
}

void
mg_ustatus_forget(mg_ustatus_cache_t *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    mg_ustatus_invalidate_locked(c, id);
    pthread_mutex_unlock(&c->lock);
}

void
mg_ustatus_set_trusted(mg_ustatus_cache_t *c, int trusted)
{
    pthread_mutex_lock(&c->lock);
    mg_ustatus_invalidate_locked(c, NULL);
    c->trusted = trusted != 0;
    pthread_mutex_unlock(&c->lock);
}

int
mg_ustatus_trusted(mg_ustatus_cache_t *c)
{
    int t;

    pthread_mutex_lock(&c->lock);
    t = c->trusted;
    pthread_mutex_unlock(&c->lock);
    return t;
}

size_t
mg_ustatus_count(mg_ustatus_cache_t *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void
mg_ustatus_reset(mg_ustatus_cache_t *c)
{
    pthread_mutex_lock(&c->lock);
    mg_ustatus_clear_locked(c);
    free(c->slots);
    c->slots = NULL;
    c->trusted = 0;
    c->gen++;
    pthread_mutex_unlock(&c->lock);
}
