/*
 * users: owns "a user exists once we have seen their token".  The users
 * row is created on first sight from the verified claims the module
 * forwards (sub -> id).  A process-wide set of ids already ensured spares
 * a write per request; it is bounded (emptied when full, costing one
 * idempotent INSERT per active user) and guarded by a mutex because every
 * pool thread consults it.
 */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MG_USERS_SLOTS    8192          /* power of two */
#define MG_USERS_MAX      (MG_USERS_SLOTS / 2)
#define MG_USERS_ID_MAX   255           /* longer ids are never cached */

static pthread_mutex_t  mg_users_lock = PTHREAD_MUTEX_INITIALIZER;
static char            *mg_users_set[MG_USERS_SLOTS];   /* NULL or strdup'd id */
static size_t           mg_users_count;

static size_t
mg_users_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */

    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    }
    return (size_t) h;
}

/* Slot holding id, or the empty slot where it would go.  Lock held. */
static size_t
mg_users_slot(const char *id)
{
    size_t i = mg_users_hash(id) & (MG_USERS_SLOTS - 1);

    while (mg_users_set[i] != NULL && strcmp(mg_users_set[i], id) != 0) {
        i = (i + 1) & (MG_USERS_SLOTS - 1);
    }
    return i;
}

static void
mg_users_clear_locked(void)
{
    for (size_t i = 0; i < MG_USERS_SLOTS; i++) {
        free(mg_users_set[i]);
        mg_users_set[i] = NULL;
    }
    mg_users_count = 0;
}

static int
mg_users_known(const char *id)
{
    int known;

    pthread_mutex_lock(&mg_users_lock);
    known = mg_users_set[mg_users_slot(id)] != NULL;
    pthread_mutex_unlock(&mg_users_lock);
    return known;
}

static void
mg_users_remember(const char *id)
{
    size_t  i;
    char   *copy;

    if (strlen(id) > MG_USERS_ID_MAX) {
        return;
    }
    copy = strdup(id);
    if (copy == NULL) {
        return;                 /* only a cache: the next request inserts again */
    }

    pthread_mutex_lock(&mg_users_lock);
    if (mg_users_count >= MG_USERS_MAX) {
        mg_users_clear_locked();
    }
    i = mg_users_slot(id);
    if (mg_users_set[i] == NULL) {
        mg_users_set[i] = copy;
        mg_users_count++;
        copy = NULL;
    }
    pthread_mutex_unlock(&mg_users_lock);
    free(copy);
}

void
mg_users_forget(const char *id)
{
    size_t i, j;

    pthread_mutex_lock(&mg_users_lock);
    i = mg_users_slot(id);
    if (mg_users_set[i] != NULL) {
        free(mg_users_set[i]);
        mg_users_set[i] = NULL;
        mg_users_count--;
        /* re-seat the rest of the probe run so lookups still find them */
        for (j = (i + 1) & (MG_USERS_SLOTS - 1); mg_users_set[j] != NULL;
             j = (j + 1) & (MG_USERS_SLOTS - 1))
        {
            char *moved = mg_users_set[j];

            mg_users_set[j] = NULL;
            mg_users_set[mg_users_slot(moved)] = moved;
        }
    }
    pthread_mutex_unlock(&mg_users_lock);
}

void
mg_users_cache_clear(void)
{
    pthread_mutex_lock(&mg_users_lock);
    mg_users_clear_locked();
    pthread_mutex_unlock(&mg_users_lock);
}

/* A non-empty string claim, or NULL. */
static const char *
mg_claim_str(json_t *claims, const char *name)
{
    json_t *v = json_object_get(claims, name);

    if (!json_is_string(v) || json_string_length(v) == 0
        || strlen(json_string_value(v)) != json_string_length(v))
    {
        return NULL;
    }
    return json_string_value(v);
}

static int
mg_claims_admin(json_t *claims)
{
    json_t  *groups = json_object_get(claims, "cognito:groups"), *g;
    size_t   i;

    json_array_foreach(groups, i, g) {
        if (json_is_string(g) && strcmp(json_string_value(g), "admin") == 0) {
            return 1;
        }
    }
    return 0;
}

int
mg_users_ensure(mg_job_t *job, int force)
{
    const char  *sub, *username, *values[4];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;

    sub = mg_claim_str(job->claims, "sub");
    if (sub == NULL) {
        (void) mg_job_reply_error(job, 401, "unauthorized", "token has no subject");
        return -1;
    }

    if (force || !mg_users_known(sub)) {
        username = mg_claim_str(job->claims, "username");
        if (username == NULL) {
            username = mg_claim_str(job->claims, "cognito:username");
        }
        values[0] = sub;
        values[1] = username ? username : sub;
        values[2] = mg_claim_str(job->claims, "email");
        values[3] = mg_claims_admin(job->claims) ? "admin" : "user";

        rc = mg_db_exec(job->db, MG_Q_USER_ENSURE, values, &res);
        if (rc != MG_DB_OK) {
            (void) mg_job_reply_db_error(job, rc, res, "ensuring user");
            PQclear(res);
            return -1;
        }
        if (PQcmdTuples(res)[0] == '1') {
            mg_log_info("user %s: first seen, created", sub);
        }
        PQclear(res);
        mg_users_remember(sub);
    }

    job->user_id = sub;
    return 0;
}
