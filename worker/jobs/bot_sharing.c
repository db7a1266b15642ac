/*
 * bot_sharing: owns who else may find a bot (sql/013): the named users a
 * bot is shared with (its owner's: list, add, remove), pins (anyone who
 * may use the bot), the "shared with me" list, and the owner's view of a
 * bot's use per day (counts only: no content).
 *
 * The access rule itself (owner, or visibility shared/store) lives in the
 * statements (db/queries.c MG_BOT_VISIBLE), so a bot gone private is cut
 * off by the very next statement.  Owner-only routes answer 404 for
 * another's bot, exactly as for a missing one.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "jobs/page.h"
#include "mg_json.h"
#include "util/log.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_SHARED_LIMIT_DEFAULT  20
#define MG_SHARED_LIMIT_MAX      100
#define MG_USAGE_DAYS_DEFAULT    30
#define MG_USAGE_DAYS_MAX        366
#define MG_SHARE_USER_MAX        255        /* users.id: a token's sub */

static const mg_field_t mg_share_fields[] = {
    { "username", MG_FIELD_STRING, MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 320, NULL },
};

static int
mg_share_bot_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "not_found", "bot not found");
}

/* The {id} path parameter when it can name a bot at all, else NULL. */
static const char *
mg_share_bot_id(mg_job_t *job)
{
    size_t       len;
    const char  *id = mg_job_param(job, "id", &len);

    return (id != NULL && mg_uuid_valid(id, len)) ? id : NULL;
}

/* A share as the API shows it, from row of res (user, username, email,
 * created µs at cols[0..3]), written in one pass as bots.c writes bots. */
static char *
mg_share_write(char *p, const PGresult *res, int row, const int cols[4])
{
    *p++ = '{';
    p = mg_jw_str(p, "user_id", res, row, cols[0]);
    *p++ = ',';
    p = mg_jw_str(p, "username", res, row, cols[1]);
    *p++ = ',';
    p = mg_jw_str(p, "email", res, row, cols[2]);
    *p++ = ',';
    p = mg_jw_ts(p, "created_at", res, row, cols[3]);
    *p++ = '}';
    return p;
}

/* Bytes mg_share_write may use for row (keys, punctuation and the time
 * take under 96). */
static size_t
mg_share_max(const PGresult *res, int row, const int cols[4])
{
    return 128 + mg_jw_text_max(res, row, cols[0], cols[0])
           + mg_jw_text_max(res, row, cols[1], cols[2]);
}

int
mg_job_bots_shared(mg_job_t *job)
{
    const char     *values[4];
    mg_page_req_t   req;
    int             sent;

    if (mg_page_query(job, MG_SHARED_LIMIT_DEFAULT, MG_SHARED_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    values[0] = job->user_id;
    return mg_page_list(job, &req, MG_Q_BOT_SHARED_FIRST, MG_Q_BOT_SHARED_AFTER, values, 1,
                        &mg_bot_page_cols, "bots.shared");
}

static int
mg_bot_pin_set(mg_job_t *job, int pin)
{
    const char  *id = mg_share_bot_id(job), *values[3];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    json_t      *out;
    int          sent;

    if (id == NULL) {
        return mg_share_bot_not_found(job);
    }
    values[0] = id;
    values[1] = job->user_id;
    values[2] = pin ? "true" : "false";
    rc = mg_db_exec(job->db, MG_Q_BOT_PIN, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, pin ? "bots.pin" : "bots.unpin");
    } else if (PQgetvalue(res, 0, 0)[0] != 't') {
        sent = mg_share_bot_not_found(job);
    } else {
        out = json_pack("{s:b}", "pinned", pin);
        sent = out ? mg_job_reply_json(job, 200, out, NULL)
                   : mg_job_reply_error(job, 500, "internal", "internal error");
        json_decref(out);
    }
    PQclear(res);
    return sent;
}

int
mg_job_bots_pin(mg_job_t *job)
{
    return mg_bot_pin_set(job, 1);
}

int
mg_job_bots_unpin(mg_job_t *job)
{
    return mg_bot_pin_set(job, 0);
}

int
mg_job_bots_shares_list(mg_job_t *job)
{
    static const int  cols[4] = { MG_SHARE_COL_USER_ID, MG_SHARE_COL_USERNAME,
                                  MG_SHARE_COL_EMAIL, MG_SHARE_COL_CREATED_US };
    const char       *id = mg_share_bot_id(job), *values[2];
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    char             *body = NULL, *p;
    size_t            size = sizeof("{\"items\":[]}");
    int               sent;

    if (id == NULL) {
        return mg_share_bot_not_found(job);
    }
    values[0] = id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_BOT_SHARES_LIST, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.shares.list");
        goto done;
    }
    if (PQntuples(res) == 0) {
        sent = mg_share_bot_not_found(job);
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        size += mg_share_max(res, i, cols) + 1;
    }
    body = malloc(size);
    if (body == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    p = body + sprintf(body, "{\"items\":[");
    for (int i = 0, n = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, MG_SHARE_COL_USER_ID)) {
            continue;                       /* the bot without shares */
        }
        if (n++ > 0) {
            *p++ = ',';
        }
        p = mg_share_write(p, res, i, cols);
    }
    p += sprintf(p, "]}");
    sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);
done:
    free(body);
    PQclear(res);
    return sent;
}

int
mg_job_bots_shares_add(mg_job_t *job)
{
    static const int  cols[4] = { MG_SHARE_ADD_COL_USER_ID, MG_SHARE_ADD_COL_USERNAME,
                                  MG_SHARE_ADD_COL_EMAIL, MG_SHARE_ADD_COL_CREATED_US };
    const char       *id = mg_share_bot_id(job), *values[3];
    json_t           *v = NULL;
    char             *body = NULL, *p;
    mg_verr_t         err;
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    int               sent;

    if (id == NULL) {
        return mg_share_bot_not_found(job);
    }
    v = mg_validate_body(job->body, job->body_len, mg_share_fields,
                         sizeof(mg_share_fields) / sizeof(mg_share_fields[0]),
                         MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        return mg_job_reply_verr(job, &err);
    }
    values[0] = id;
    values[1] = job->user_id;
    values[2] = json_string_value(json_object_get(v, "username"));
    rc = mg_db_exec(job->db, MG_Q_BOT_SHARE_ADD, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.shares.add");
        goto done;
    }
    if (PQgetvalue(res, 0, MG_SHARE_ADD_COL_BOT_FOUND)[0] != 't') {
        sent = mg_share_bot_not_found(job);
    } else if (PQgetisnull(res, 0, MG_SHARE_ADD_COL_USER_ID)) {
        sent = mg_job_reply_error(job, 404, "user_not_found", "no user with that username "
                                  "or e-mail");
    } else if (strcmp(PQgetvalue(res, 0, MG_SHARE_ADD_COL_USER_ID), job->user_id) == 0) {
        sent = mg_job_reply_error(job, 400, "invalid_field", "a bot cannot be shared with "
                                  "its owner");
    } else if (PQgetvalue(res, 0, MG_SHARE_ADD_COL_ADDED)[0] != 't') {
        sent = mg_job_reply_error(job, 409, "already_shared", "the bot is already shared "
                                  "with that user");
    } else {
        body = malloc(mg_share_max(res, 0, cols));
        if (body == NULL) {
            sent = mg_job_reply_error(job, 500, "internal", "internal error");
        } else {
            p = mg_share_write(body, res, 0, cols);
            sent = mg_job_reply_raw(job, 201, body, (size_t) (p - body), NULL);
        }
    }
done:
    free(body);
    json_decref(v);
    PQclear(res);
    return sent;
}

int
mg_job_bots_shares_remove(mg_job_t *job)
{
    const char  *id = mg_share_bot_id(job), *user, *values[3];
    char         user_buf[MG_SHARE_USER_MAX + 1];
    size_t       len = 0;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    user = mg_job_param(job, "user", &len);
    if (id == NULL) {
        return mg_share_bot_not_found(job);
    }
    if (user == NULL || len == 0 || len > MG_SHARE_USER_MAX || memchr(user, '\0', len) != NULL) {
        return mg_job_reply_error(job, 404, "not_found", "share not found");
    }
    memcpy(user_buf, user, len);
    user_buf[len] = '\0';
    values[0] = id;
    values[1] = job->user_id;
    values[2] = user_buf;
    rc = mg_db_exec(job->db, MG_Q_BOT_SHARE_REMOVE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.shares.remove");
    } else if (PQgetvalue(res, 0, 0)[0] != 't') {
        sent = mg_share_bot_not_found(job);
    } else if (PQgetvalue(res, 0, 1)[0] != 't') {
        sent = mg_job_reply_error(job, 404, "not_found", "share not found");
    } else {
        sent = mg_job_reply_empty(job, 204);
    }
    PQclear(res);
    return sent;
}

int
mg_bot_usage_days(const char *query, size_t qlen, long *days)
{
    char    buf[16], *end;
    size_t  n = 0;
    int     rc;

    *days = MG_USAGE_DAYS_DEFAULT;
    rc = mg_query_get(query, qlen, "days", buf, sizeof(buf), &n);
    if (rc == 0) {
        return 0;
    }
    if (rc < 0 || n == 0 || buf[0] < '0' || buf[0] > '9') {
        return -1;
    }
    *days = strtol(buf, &end, 10);
    return (*end == '\0' && *days >= 1 && *days <= MG_USAGE_DAYS_MAX) ? 0 : -1;
}

int
mg_job_bots_usage(mg_job_t *job)
{
    const char  *id = mg_share_bot_id(job), *values[3], *query;
    char         days_buf[24];
    size_t       qlen;
    long         days;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    json_t      *arr = NULL, *out = NULL;
    int          sent;

    if (id == NULL) {
        return mg_share_bot_not_found(job);
    }
    query = mg_job_query(job, &qlen);
    if (mg_bot_usage_days(query, qlen, &days) != 0) {
        return mg_job_reply_error(job, 400, "invalid_query",
                                  "query parameter \"days\" must be an integer from 1 to 366");
    }
    snprintf(days_buf, sizeof(days_buf), "%ld", days);
    values[0] = id;
    values[1] = job->user_id;
    values[2] = days_buf;
    rc = mg_db_exec(job->db, MG_Q_BOT_USAGE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.usage");
        goto done;
    }
    if (PQntuples(res) == 0) {
        sent = mg_share_bot_not_found(job);
        goto done;
    }
    arr = json_array();
    for (int i = 0; arr != NULL && i < PQntuples(res); i++) {
        json_t *d = json_pack("{s:s, s:I, s:I, s:I}", "day", PQgetvalue(res, i, 0),
                              "requests", (json_int_t) strtoll(PQgetvalue(res, i, 1), NULL, 10),
                              "input_tokens", (json_int_t) strtoll(PQgetvalue(res, i, 2), NULL, 10),
                              "output_tokens",
                              (json_int_t) strtoll(PQgetvalue(res, i, 3), NULL, 10));

        if (json_array_append_new(arr, d) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    out = arr ? json_pack("{s:s, s:o}", "bot_id", id, "days", arr) : NULL;
    sent = out ? mg_job_reply_json(job, 200, out, NULL)
               : mg_job_reply_error(job, 500, "internal", "internal error");
done:
    json_decref(out);
    PQclear(res);
    return sent;
}
