/*
 * users: owns "who is calling, and may they": the users row created on
 * first sight of a token (sub -> id), the account status every
 * authenticated job is checked against, and the caller's own account API
 * (users.me, users.update_me, users.export, users.delete_me).  users.me
 * shows the token's groups and what they permit (permissions.h).
 *
 * Status checks go through the process's user status cache
 * (user_status.c): a known user costs a mutex and a hash lookup, no
 * database round trip.  On a miss one statement creates the row if needed
 * and reports whether the account is disabled or was deleted
 * (MG_Q_USER_ENSURE).  The listener thread (user_listener.c) evicts ids as
 * PostgreSQL announces changes, and the cache is bypassed whenever the
 * listener is not listening, so a disable or a deletion is seen by the
 * next request.
 */
#include "jobs/jobs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "json_write.h"
#include "util/log.h"
#include "mg_json.h"
#include "identity/user_status.h"
#include "jobs/permissions.h"
#include "validate.h"

/* How long a write that changes a user's status waits for every worker's
 * listener to confirm it (mg_users_announce), and how often it looks. */
#define MG_USERS_BARRIER_WAIT_MS  1000
#define MG_USERS_BARRIER_POLL_US  500

/* SQLSTATE raised by sql/003's guard when an id is tombstoned while a
 * statement inserts it. */
#define MG_SQLSTATE_USER_DELETED "MG410"

/* users.update_me; mirrors local_credentials' username limit in 001 */
static const mg_field_t mg_user_me_fields[] = {
    { "username", MG_FIELD_STRING, MG_FIELD_NOT_BLANK, 1, 128, NULL },
    { "email",    MG_FIELD_STRING, MG_FIELD_NULLABLE,  0, 254, NULL },
};

#define MG_USER_ME_FIELDS (sizeof(mg_user_me_fields) / sizeof(mg_user_me_fields[0]))

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

int
mg_users_claims_admin(json_t *claims)
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
mg_users_email_valid(const char *s, size_t len)
{
    const char  *at = NULL;
    size_t       chars = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c <= 0x20 || c == 0x7f) {
            return 0;               /* spaces, controls, NUL */
        }
        if (c == '@') {
            if (at != NULL) {
                return 0;
            }
            at = s + i;
        }
        if ((c & 0xc0) != 0x80) {
            chars++;
        }
    }
    return at != NULL && at > s && at < s + len - 1 && chars <= 254;
}

/* Ask the database for sub's status, creating the row on first sight.
 * 0 with *st set, or -1 after replying with an error. */
static int
mg_users_lookup(mg_job_t *job, const char *sub, mg_ustatus_t *st)
{
    const char  *username, *values[4];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;

    username = mg_claim_str(job->claims, "username");
    if (username == NULL) {
        username = mg_claim_str(job->claims, "cognito:username");
    }
    values[0] = sub;
    values[1] = username ? username : sub;
    values[2] = mg_claim_str(job->claims, "email");
    values[3] = mg_users_claims_admin(job->claims) ? "admin" : "user";

    /* twice at most: a NULL status means another request inserted the
     * row after our snapshot was taken, and a new statement will see it */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = mg_db_exec(job->db, MG_Q_USER_ENSURE, values, &res);
        if (rc == MG_DB_FAILED && strcmp(mg_db_sqlstate(res), MG_SQLSTATE_USER_DELETED) == 0) {
            PQclear(res);
            *st = MG_USTATUS_DELETED;
            return 0;
        }
        if (rc != MG_DB_OK) {
            (void) mg_job_reply_db_error(job, rc, res, "ensuring user");
            PQclear(res);
            return -1;
        }
        if (PQgetvalue(res, 0, MG_ENSURE_COL_GONE)[0] == 't') {
            *st = MG_USTATUS_DELETED;
        } else if (!PQgetisnull(res, 0, MG_ENSURE_COL_DISABLED)) {
            *st = PQgetvalue(res, 0, MG_ENSURE_COL_DISABLED)[0] == 't'
                  ? MG_USTATUS_DISABLED : MG_USTATUS_ACTIVE;
            if (PQgetvalue(res, 0, MG_ENSURE_COL_CREATED)[0] == 't') {
                mg_log_info("user %s: first seen, created", sub);
            }
        } else {
            PQclear(res);
            res = NULL;
            continue;
        }
        PQclear(res);
        return 0;
    }

    mg_log_error("job %.*s rid=%s: user %s exists but stays invisible",
                 (int) job->name_len, job->name, job->rid, sub);
    (void) mg_job_reply_error(job, 500, "internal", "internal error");
    return -1;
}

static int
mg_user_gone(mg_job_t *job)
{
    return mg_job_reply_error(job, 401, "unauthorized", "user no longer exists");
}

int
mg_users_ensure(mg_job_t *job, int force)
{
    const char    *sub;
    mg_ustatus_t   st;
    uint64_t       gen;

    sub = mg_claim_str(job->claims, "sub");
    if (sub == NULL) {
        (void) mg_job_reply_error(job, 401, "unauthorized", "token has no subject");
        return -1;
    }

    st = mg_ustatus_get(&mg_user_statuses, sub, &gen);
    if (force || st == MG_USTATUS_MISS) {
        if (mg_users_lookup(job, sub, &st) != 0) {
            return -1;
        }
        mg_ustatus_put(&mg_user_statuses, sub, st, gen);
    }

    switch (st) {
    case MG_USTATUS_ACTIVE:
        job->user_id = sub;
        return 0;
    case MG_USTATUS_DISABLED:
        mg_log_warn("job %.*s rid=%s: refused: user %.64s is disabled",
                    (int) job->name_len, job->name, job->rid, sub);
        (void) mg_job_reply_error(job, 403, "account_disabled", "this account is disabled");
        return -1;
    default:
        mg_log_warn("job %.*s rid=%s: refused: token of deleted user %.64s",
                    (int) job->name_len, job->name, job->rid, sub);
        (void) mg_user_gone(job);
        return -1;
    }
}

void
mg_users_forget(const char *id)
{
    mg_ustatus_forget(&mg_user_statuses, id);
}

void
mg_users_cache_clear(void)
{
    mg_ustatus_reset(&mg_user_statuses);
}

void
mg_users_announce(mg_job_t *job, const char *id)
{
    const char       *values[1];
    char              num[24];
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    long long         deadline = mg_now_ms() + MG_USERS_BARRIER_WAIT_MS;
    long long         pending = -1;
    struct timespec   pause = { 0, MG_USERS_BARRIER_POLL_US * 1000L };

    /* Without this, a request that reaches another worker process before
     * its listener has read the NOTIFY would still be let through.  The
     * barrier (sql/003) is acknowledged by each listener only after it
     * applied every change committed before it: about a millisecond, paid
     * only by the rare writes that change a user's status. */
    rc = mg_db_exec(job->db, MG_Q_USER_BARRIER, NULL, &res);
    if (rc == MG_DB_OK) {
        snprintf(num, sizeof(num), "%s", PQgetvalue(res, 0, 0));
        values[0] = num;
        for (;;) {
            PQclear(res);
            res = NULL;
            rc = mg_db_exec(job->db, MG_Q_USER_BARRIER_PENDING, values, &res);
            if (rc != MG_DB_OK) {
                break;
            }
            pending = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            if (pending == 0 || mg_now_ms() >= deadline) {
                break;
            }
            nanosleep(&pause, NULL);
        }
    }

    /* either way the change is committed and the notifications will
     * come; only "from the very next request on" is not assured */
    if (rc != MG_DB_OK) {
        mg_log_warn("user %s: cannot confirm the change with every worker: %s", id,
                    rc == MG_DB_UNAVAILABLE ? "database unavailable" : mg_db_sqlstate(res));
    } else if (pending != 0) {
        mg_log_warn("user %s: %lld worker process(es) did not confirm the change within %d ms",
                    id, pending, MG_USERS_BARRIER_WAIT_MS);
    }
    PQclear(res);
}

/* ---- user JSON, written in one pass (as bots.c does) ------------------- */

size_t
mg_user_json_max(const PGresult *r, int row)
{
    /* keys and punctuation ~100, bool 5, two timestamps 58: under 256;
     * groups come as JSON text already (to_json) */
    return 256 + mg_jw_text_max(r, row, MG_USER_COL_ID, MG_USER_COL_ROLE)
           + (size_t) PQgetlength(r, row, MG_USER_COL_GROUPS);
}

/* Every member but "groups", without the closing brace. */
static char *
mg_user_write_fields(char *p, const PGresult *r, int row)
{
    *p++ = '{';
    p = mg_jw_str(p, "id", r, row, MG_USER_COL_ID);
    *p++ = ',';
    p = mg_jw_str(p, "username", r, row, MG_USER_COL_USERNAME);
    *p++ = ',';
    p = mg_jw_str(p, "email", r, row, MG_USER_COL_EMAIL);
    *p++ = ',';
    p = mg_jw_str(p, "role", r, row, MG_USER_COL_ROLE);
    p += sprintf(p, ",\"disabled\":%s",
                 PQgetvalue(r, row, MG_USER_COL_DISABLED)[0] == 't' ? "true" : "false");
    *p++ = ',';
    p = mg_jw_ts(p, "created_at", r, row, MG_USER_COL_CREATED_US);
    *p++ = ',';
    p = mg_jw_ts(p, "updated_at", r, row, MG_USER_COL_UPDATED_US);
    return p;
}

char *
mg_user_write(char *p, const PGresult *r, int row)
{
    size_t  n = (size_t) PQgetlength(r, row, MG_USER_COL_GROUPS);

    p = mg_user_write_fields(p, r, row);
    /* the stored groups: what the local identity puts in the next token */
    p += sprintf(p, ",\"groups\":");
    if (n == 0) {
        p += sprintf(p, "[]");
    } else {
        memcpy(p, PQgetvalue(r, row, MG_USER_COL_GROUPS), n);
        p += n;
    }
    *p++ = '}';
    return p;
}

int
mg_user_reply(mg_job_t *job, int status, const PGresult *r)
{
    char  *body, *end;
    int    sent;

    body = malloc(mg_user_json_max(r, 0));
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    end = mg_user_write(body, r, 0);
    sent = mg_job_reply_raw(job, status, body, (size_t) (end - body), NULL);
    free(body);
    return sent;
}

json_t *
mg_users_claims_groups(json_t *claims)
{
    json_t  *groups = json_object_get(claims, "cognito:groups"), *g, *out;
    size_t   i;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }
    json_array_foreach(groups, i, g) {
        if (json_is_string(g) && json_array_append(out, g) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The caller's own user: the row, but the groups and permissions of the
 * token the request carries (that is what every job decides by, and for
 * Cognito users the only place their groups are). */
static int
mg_users_me_reply(mg_job_t *job, const PGresult *r)
{
    json_t  *groups = mg_users_claims_groups(job->claims);
    char    *gtext = groups != NULL ? json_dumps(groups, JSON_COMPACT) : NULL;
    char    *body = NULL, *p;
    int      sent;

    if (gtext != NULL) {
        body = malloc(mg_user_json_max(r, 0) + strlen(gtext) + 128);
    }
    if (body == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    p = mg_user_write_fields(body, r, 0);
    p += sprintf(p, ",\"groups\":%s,\"permissions\":{\"admin\":%s,\"create_bots\":%s,"
                 "\"publish_bots\":%s}}", gtext,
                 mg_users_claims_admin(job->claims) ? "true" : "false",
                 mg_perm_may_create(job->claims) ? "true" : "false",
                 mg_perm_may_publish(job->claims) ? "true" : "false");
    sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);

done:
    free(body);
    free(gtext);
    json_decref(groups);
    return sent;
}

/* ---- the caller's own account ------------------------------------------ */

int
mg_job_users_me(mg_job_t *job)
{
    const char  *values[1] = { job->user_id };
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    rc = mg_db_exec(job->db, MG_Q_USER_GET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "users.me");
    } else if (PQntuples(res) == 0) {
        sent = mg_user_gone(job);           /* deleted since the status check */
    } else {
        sent = mg_users_me_reply(job, res);
    }
    PQclear(res);
    return sent;
}

int
mg_job_users_update_me(mg_job_t *job)
{
    json_t       *v = NULL, *f;
    mg_verr_t     err;
    const char   *values[4];
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent;

    v = mg_validate_body(job->body, job->body_len, mg_user_me_fields, MG_USER_ME_FIELDS,
                         MG_VALIDATE_PATCH, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    f = json_object_get(v, "email");
    if (json_is_string(f) && !mg_users_email_valid(json_string_value(f), json_string_length(f))) {
        sent = mg_job_reply_error(job, 400, "invalid_field",
                                  "field \"email\" must be an email address (one \"@\", "
                                  "no spaces, at most 254 characters) or null");
        goto done;
    }
    if (json_object_size(v) == 0) {
        sent = mg_job_users_me(job);        /* {} changes nothing */
        goto done;
    }

    f = json_object_get(v, "username");
    values[0] = job->user_id;
    values[1] = json_is_string(f) ? json_string_value(f) : NULL;
    f = json_object_get(v, "email");
    values[2] = f != NULL ? "true" : "false";
    values[3] = json_is_string(f) ? json_string_value(f) : NULL;

    rc = mg_db_exec(job->db, MG_Q_USER_UPDATE_ME, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "users.update_me");
    } else if (PQntuples(res) == 0) {
        sent = mg_user_gone(job);
    } else {
        sent = mg_users_me_reply(job, res);
    }

done:
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_users_export(mg_job_t *job)
{
    const char  *values[1] = { job->user_id };
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    /* one statement, one snapshot: the export is consistent even while
     * the user's other requests write */
    rc = mg_db_exec(job->db, MG_Q_USER_EXPORT, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "users.export");
    } else if (PQntuples(res) == 0) {
        sent = mg_user_gone(job);
    } else {
        sent = mg_job_reply_raw(job, 200, PQgetvalue(res, 0, 0),
                                (size_t) PQgetlength(res, 0, 0), NULL);
    }
    PQclear(res);
    return sent;
}

int
mg_job_users_delete_me(mg_job_t *job)
{
    const char  *values[1] = { job->user_id };
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    rc = mg_db_exec(job->db, MG_Q_USER_DELETE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "users.delete_me");
        goto done;
    }
    /* no row: a re-run after a lost connection, or a concurrent delete;
     * either way the tombstone is there and the account is gone */
    mg_log_info("user %s: account deleted by its owner", job->user_id);
    mg_users_forget(job->user_id);
    mg_users_announce(job, job->user_id);
    sent = mg_job_reply_empty(job, 204);

done:
    PQclear(res);
    return sent;
}
