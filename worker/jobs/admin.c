/*
 * admin: owns the administrators' user management (admin.users.list,
 * admin.users.update).  The module already refuses these routes without
 * group "admin" in the token (MG_ROUTE_ADMIN); every handler here checks
 * the claims again, so a mis-routed or hand-crafted job cannot reach them.
 *
 * An administrator cannot disable or demote themselves: there must always
 * be someone left who can undo a mistake.
 *
 * A user's groups (sql/014) go into the local identity's access tokens;
 * a change reaches the user with their next token (a refresh or a
 * sign-in, at most the access token's lifetime later), since the tokens
 * already issued keep the groups they were signed with.
 */
#include "jobs/jobs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "validate.h"

#define MG_ADMIN_LIMIT_DEFAULT  20
#define MG_ADMIN_LIMIT_MAX      100
#define MG_ADMIN_Q_MAX_CHARS    256

static const mg_field_t mg_admin_user_fields[] = {
    { "role",     MG_FIELD_STRING, 0, 1, 16, NULL },
    { "disabled", MG_FIELD_BOOL,   0, 0, 0,  NULL },
};

#define MG_ADMIN_USER_FIELDS (sizeof(mg_admin_user_fields) / sizeof(mg_admin_user_fields[0]))

/* ---- pure helpers (exported for the unit tests) ------------------------- */

int
mg_admin_text_valid(const char *s, size_t len)
{
    size_t i = 0;

    /* UTF-8 as PostgreSQL accepts it: no NUL, no overlongs, no surrogates,
     * nothing above U+10FFFF.  Anything else would make the statement fail
     * with a 500 instead of the 400 it deserves. */
    while (i < len) {
        unsigned char  c = (unsigned char) s[i];
        size_t         n;
        uint32_t       cp;

        if (c == 0) {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i - 1 < n) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            unsigned char cc = (unsigned char) s[i + k];

            if ((cc & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

size_t
mg_admin_like_pattern(const char *q, size_t len, char *out)
{
    char *p = out;

    /* "%" q "%" with LIKE's metacharacters taken literally; backslash is
     * ILIKE's default escape character */
    *p++ = '%';
    for (size_t i = 0; i < len; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\') {
            *p++ = '\\';
        }
        *p++ = q[i];
    }
    *p++ = '%';
    *p = '\0';
    return (size_t) (p - out);
}

/* Cursors are worker/cursor.c's text form: users.id is any text (a
 * token's sub), not a UUID. */
int
mg_user_cursor_encode(long long ts_us, const char *id, char *out, size_t cap)
{
    return mg_cursor_encode_text(ts_us, id, out, cap);
}

int
mg_user_cursor_decode(const char *s, size_t len, long long *ts_us, char *id, size_t idcap)
{
    if (mg_cursor_decode_text(s, len, ts_us, id, idcap) != 0
        || !mg_admin_text_valid(id, strlen(id)))
    {
        return -1;
    }
    return 0;
}

int
mg_admin_forbidden(mg_job_t *job)
{
    mg_log_warn("job %.*s rid=%s: user %s without group admin reached an admin job",
                (int) job->name_len, job->name, job->rid, job->user_id);
    return mg_job_reply_error(job, 403, "forbidden", "administrators only");
}

/* q: absent or empty -> *pattern = NULL; else the LIKE pattern in buf
 * (which holds 2 * MG_ADMIN_Q_MAX_BYTES + 3).  0, or -1 with err. */
#define MG_ADMIN_Q_MAX_BYTES (4 * MG_ADMIN_Q_MAX_CHARS)

static int
mg_admin_query_q(const char *query, size_t qlen, char *buf, const char **pattern,
                 mg_verr_t *err)
{
    char    q[MG_ADMIN_Q_MAX_BYTES + 1];
    size_t  n = 0;
    int     rc;

    *pattern = NULL;
    rc = mg_query_get(query, qlen, "q", q, sizeof(q), &n);
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc < 0 || !mg_admin_text_valid(q, n) || mg_utf8_chars(q, n) > MG_ADMIN_Q_MAX_CHARS) {
        mg_verr_set(err, 400, "invalid_query",
                    "query parameter \"q\" must be text of at most %d characters",
                    MG_ADMIN_Q_MAX_CHARS);
        return -1;
    }
    mg_admin_like_pattern(q, n, buf);
    *pattern = buf;
    return 0;
}

int
mg_job_admin_users_list(mg_job_t *job)
{
    const char   *query, *values[4], *pattern;
    size_t        qlen;
    long          limit;
    long long     after_ts = 0;
    int           has_cursor = 0, n, rows, sent, rc;
    mg_verr_t     err;
    char          pattern_buf[2 * MG_ADMIN_Q_MAX_BYTES + 3];
    char          cursor_in[MG_USER_CURSOR_MAX + 1], after_id[MG_USER_CURSOR_ID_MAX + 1];
    char          limit_buf[24], ts_buf[24], next[MG_USER_CURSOR_MAX];
    char         *body = NULL, *p;
    size_t        size, clen = 0;
    PGresult     *res = NULL;
    mg_db_rc_t    dbrc;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }

    query = mg_job_query(job, &qlen);
    if (mg_query_limit(query, qlen, MG_ADMIN_LIMIT_DEFAULT, 1, MG_ADMIN_LIMIT_MAX,
                       &limit, &err) != 0
        || mg_admin_query_q(query, qlen, pattern_buf, &pattern, &err) != 0)
    {
        return mg_job_reply_verr(job, &err);
    }
    rc = mg_query_get(query, qlen, "cursor", cursor_in, sizeof(cursor_in), &clen);
    if (rc == 1 && clen > 0) {
        if (mg_user_cursor_decode(cursor_in, clen, &after_ts, after_id, sizeof(after_id)) != 0) {
            rc = -1;
        } else {
            has_cursor = 1;
        }
    }
    if (rc < 0) {
        mg_verr_set(&err, 400, "invalid_query", "query parameter \"cursor\" is invalid");
        return mg_job_reply_verr(job, &err);
    }

    /* one row more than asked tells whether another page exists */
    snprintf(limit_buf, sizeof(limit_buf), "%ld", limit + 1);
    values[0] = pattern;
    if (has_cursor) {
        snprintf(ts_buf, sizeof(ts_buf), "%lld", after_ts);
        values[1] = ts_buf;
        values[2] = after_id;
        values[3] = limit_buf;
        dbrc = mg_db_exec(job->db, MG_Q_ADMIN_USER_LIST_AFTER, values, &res);
    } else {
        values[1] = limit_buf;
        dbrc = mg_db_exec(job->db, MG_Q_ADMIN_USER_LIST_FIRST, values, &res);
    }
    if (dbrc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, dbrc, res, "admin.users.list");
        goto done;
    }

    n = PQntuples(res);
    rows = n < limit ? n : (int) limit;

    size = sizeof("{\"items\":[],\"next_cursor\":null}") + MG_USER_CURSOR_MAX + 2;
    for (int i = 0; i < rows; i++) {
        size += mg_user_json_max(res, i) + 1;
    }
    body = malloc(size);
    if (body == NULL) {
        goto fail;
    }
    p = body;
    p += sprintf(p, "{\"items\":[");
    for (int i = 0; i < rows; i++) {
        if (i > 0) {
            *p++ = ',';
        }
        p = mg_user_write(p, res, i);
    }
    if (n > limit) {
        int last = (int) limit - 1;

        if (mg_user_cursor_encode(strtoll(PQgetvalue(res, last, MG_USER_COL_CREATED_US), NULL, 10),
                                  PQgetvalue(res, last, MG_USER_COL_ID), next, sizeof(next)) != 0)
        {
            /* only an id over MG_USER_CURSOR_ID_MAX bytes gets here */
            mg_log_error("admin.users.list rid=%s: cannot encode a cursor after user %.64s...",
                         job->rid, PQgetvalue(res, last, MG_USER_COL_ID));
            goto fail;
        }
        p += sprintf(p, "],\"next_cursor\":\"%s\"}", next);
    } else {
        p += sprintf(p, "],\"next_cursor\":null}");
    }
    sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);
    goto done;

fail:
    sent = mg_job_reply_error(job, 500, "internal", "internal error");

done:
    free(body);
    PQclear(res);
    return sent;
}

static int
mg_admin_user_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "not_found", "user not found");
}

int
mg_job_admin_users_update(mg_job_t *job)
{
    json_t       *v = NULL, *f, *groups = NULL;
    mg_verr_t     err;
    const char   *id, *role = NULL, *disabled = NULL, *values[4];
    char         *rest = NULL, *gtext = NULL;
    size_t        idlen, rest_len = 0;
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }

    id = mg_job_param(job, "id", &idlen);
    if (id == NULL || idlen == 0 || strlen(id) != idlen || !mg_admin_text_valid(id, idlen)) {
        return mg_admin_user_not_found(job);
    }

    /* "groups" is an array, which the field table cannot describe */
    if (mg_body_take_array(job->body, job->body_len, "groups", &groups, &rest, &rest_len) != 0) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    v = mg_validate_body(rest, rest_len, mg_admin_user_fields, MG_ADMIN_USER_FIELDS,
                         MG_VALIDATE_PATCH, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    if (groups != NULL) {
        if (!mg_signup_groups_valid(groups)) {
            sent = mg_job_reply_error(job, 400, "invalid_field", MG_SIGNUP_GROUPS_RULE);
            goto done;
        }
        gtext = json_dumps(groups, JSON_COMPACT);
        if (gtext == NULL) {
            sent = mg_job_reply_error(job, 500, "internal", "internal error");
            goto done;
        }
    }
    f = json_object_get(v, "role");
    if (f != NULL) {
        role = json_string_value(f);
        if (strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
            sent = mg_job_reply_error(job, 400, "invalid_field",
                                      "field \"role\" must be \"user\" or \"admin\"");
            goto done;
        }
    }
    f = json_object_get(v, "disabled");
    if (f != NULL) {
        disabled = json_is_true(f) ? "true" : "false";
    }

    if (strcmp(id, job->user_id) == 0) {
        if (disabled != NULL && strcmp(disabled, "true") == 0) {
            sent = mg_job_reply_error(job, 400, "invalid_field",
                                      "administrators cannot disable their own account; "
                                      "ask another administrator");
            goto done;
        }
        if (role != NULL && strcmp(role, "user") == 0) {
            sent = mg_job_reply_error(job, 400, "invalid_field",
                                      "administrators cannot remove their own admin role; "
                                      "ask another administrator");
            goto done;
        }
    }

    values[0] = id;
    if (role == NULL && disabled == NULL && gtext == NULL) {
        /* {} changes nothing: answer with the user as it is */
        rc = mg_db_exec(job->db, MG_Q_USER_GET, values, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "admin.users.update");
        } else if (PQntuples(res) == 0) {
            sent = mg_admin_user_not_found(job);
        } else {
            sent = mg_user_reply(job, 200, res);
        }
        goto done;
    }

    values[1] = role;
    values[2] = disabled;
    values[3] = gtext;
    rc = mg_db_exec(job->db, MG_Q_ADMIN_USER_UPDATE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.users.update");
        goto done;
    }
    if (PQntuples(res) == 0) {
        sent = mg_admin_user_not_found(job);
        goto done;
    }

    if (strcmp(PQgetvalue(res, 0, MG_USER_COL_DISABLED),
               PQgetvalue(res, 0, MG_USER_COL_OLD_DISABLED)) != 0
        || strcmp(PQgetvalue(res, 0, MG_USER_COL_ROLE),
                  PQgetvalue(res, 0, MG_USER_COL_OLD_ROLE)) != 0)
    {
        mg_log_info("user %s: set to role %s, %s by administrator %s", id,
                    PQgetvalue(res, 0, MG_USER_COL_ROLE),
                    PQgetvalue(res, 0, MG_USER_COL_DISABLED)[0] == 't' ? "disabled" : "enabled",
                    job->user_id);
        mg_users_forget(id);
        mg_users_announce(job, id);
    }
    if (gtext != NULL) {
        /* nothing cached holds groups: tokens carry them (see the top) */
        mg_log_info("user %s: groups set to %s by administrator %s", id,
                    PQgetvalue(res, 0, MG_USER_COL_GROUPS), job->user_id);
    }
    sent = mg_user_reply(job, 200, res);

done:
    PQclear(res);
    free(gtext);
    json_decref(groups);
    json_decref(v);
    free(rest);
    return sent;
}
