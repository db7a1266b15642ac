/*
 * api_keys: owns a published bot's API keys and its publication settings,
 * for the bot's owner (apikeys.list/create/revoke/usage,
 * publication.get/update), and the module's key check (apikeys.verify).
 *
 * Owner routes: the bot must be the caller's (else 404, like any bot of
 * another user) and the caller must be allowed to publish
 * (mg_perm_may_publish, else 403 publish_not_allowed naming the group).
 * Input is checked in full before anything is written.
 *
 * A key is "mgk_" + base64url of 32 random bytes (OpenSSL's RAND_bytes).
 * It exists in this process only while the create answers: the database
 * gets its SHA-256 and its first 12 characters, the log gets its id.
 * Nothing here logs a key or its hash.
 */
#include "jobs/jobs.h"
#include "jobs/permissions.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "mg_base64url.h"
#include "util/log.h"
#include "util/sb.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_APIKEY_DAYS_DEFAULT  30
#define MG_APIKEY_DAYS_MAX      366
#define MG_APIKEY_QUOTA_MAX     1e15    /* JSON numbers stay exact below 2^53 */

/* Mirrors the CHECK constraints on api_keys in sql/015_api_keys.sql;
 * expires_at is checked apart (a time, in the future). */
static const mg_field_t mg_apikey_fields[] = {
    { "name",            MG_FIELD_STRING, MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 100, NULL },
    { "rate_per_second", MG_FIELD_NUMBER, 0,                 0.1, 1000,  "5" },
    { "burst",           MG_FIELD_INTEGER, 0,                1,   10000, "10" },
    { "expires_at",      MG_FIELD_STRING, MG_FIELD_NULLABLE, 1,   64,    "null" },
};

static const mg_field_t mg_publication_fields[] = {
    { "quota_requests", MG_FIELD_INTEGER, MG_FIELD_NULLABLE, 0, MG_APIKEY_QUOTA_MAX, NULL },
    { "quota_tokens",   MG_FIELD_INTEGER, MG_FIELD_NULLABLE, 0, MG_APIKEY_QUOTA_MAX, NULL },
};

int
mg_apikey_hash_valid(const char *s, size_t len)
{
    if (s == NULL || len != MG_SHA256_HEX_LEN) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

long
mg_apikey_retry_after(void)
{
    return 86400L - (long) (time(NULL) % 86400);
}

int
mg_apikey_time_parse(const char *s, double *epoch)
{
    struct tm   tm;
    int         y, mo, d, h, mi, sec, n = 0, off = 0;
    double      frac = 0;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10
        || (s[10] != 'T' && s[10] != 't')
        || sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
    {
        return -1;
    }
    for (int i = 0; i < 19; i++) {          /* digits where digits go, no signs */
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16
            && (s[i] < '0' || s[i] > '9'))
        {
            return -1;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    p = s + 19;
    if (*p == '.') {
        double scale = 0.1;

        if (p[1] < '0' || p[1] > '9') {
            return -1;
        }
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0'
               && p[2] <= '9' && p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0'
               && p[5] <= '9')
    {
        int oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');

        if (oh > 23 || om > 59) {
            return -1;
        }
        off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *epoch = (double) timegm(&tm) - off + frac;
    /* timegm normalises 2030-02-31 into March: a date that moved is not one */
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) {
        return -1;
    }
    return 0;
}

int
mg_apikey_new(char *key, char *hash)
{
    if (mg_auth_secret_new(MG_APIKEY_KEY_PREFIX, key) != 0) {
        return -1;
    }
    if (mg_auth_token_hash(key, MG_APIKEY_LEN, hash) != 0) {
        OPENSSL_cleanse(key, MG_APIKEY_LEN + 1);
        return -1;
    }
    return 0;
}

static int
mg_apikey_bot_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "not_found", "bot not found");
}

static int
mg_apikey_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "not_found", "API key not found");
}

/* The owner's checks every owner route starts with: the bot (path "id")
 * is the caller's, and the caller may publish.  0 with *quotas (the
 * bot's row, owned: MG_Q_APIKEY_BOT) when given; -1 after replying. */
static int
mg_apikey_owner(mg_job_t *job, const char **bot_id, PGresult **quotas)
{
    const char  *values[2];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    size_t       len;

    *bot_id = mg_job_param(job, "id", &len);
    if (*bot_id == NULL || !mg_uuid_valid(*bot_id, len)) {
        mg_apikey_bot_not_found(job);
        return -1;
    }
    values[0] = *bot_id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_BOT, values, &res);
    if (rc != MG_DB_OK) {
        mg_job_reply_db_error(job, rc, res, "apikeys.bot");
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        mg_apikey_bot_not_found(job);
        return -1;
    }
    if (!mg_perm_may_publish(job->claims)) {
        char m[200];

        PQclear(res);
        snprintf(m, sizeof(m), "publishing bots is for the group \"%s\" and administrators",
                 mg_perm_publish_group());
        mg_job_reply_error(job, 403, "publish_not_allowed", m);
        return -1;
    }
    if (quotas != NULL) {
        *quotas = res;
    } else {
        PQclear(res);
    }
    return 0;
}

/* The key path parameter, a uuid; NULL after replying 404. */
static const char *
mg_apikey_param(mg_job_t *job)
{
    size_t       len;
    const char  *key = mg_job_param(job, "key", &len);

    if (key == NULL || !mg_uuid_valid(key, len)) {
        mg_apikey_not_found(job);
        return NULL;
    }
    return key;
}

int
mg_job_apikeys_list(mg_job_t *job)
{
    const char  *bot_id, *values[2];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    mg_sb_t      sb = { 0 };
    char        *body;
    int          sent;

    if (mg_apikey_owner(job, &bot_id, NULL) != 0) {
        return 0;
    }
    values[0] = bot_id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_LIST, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "apikeys.list");
        PQclear(res);
        return sent;
    }
    mg_sb_add(&sb, "{\"items\":[", 10);
    for (int i = 0; i < PQntuples(res); i++) {
        if (i > 0) {
            mg_sb_add(&sb, ",", 1);
        }
        mg_sb_add(&sb, PQgetvalue(res, i, 0), (size_t) PQgetlength(res, i, 0));
    }
    mg_sb_add(&sb, "]}", 2);
    PQclear(res);
    body = mg_sb_done(&sb);
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    sent = mg_job_reply_raw(job, 200, body, strlen(body), NULL);
    free(body);
    return sent;
}

int
mg_job_apikeys_create(mg_job_t *job)
{
    json_t          *v;
    mg_verr_t        verr;
    const char      *bot_id, *values[9], *expires;
    char             key[MG_APIKEY_LEN + 1], prefix[MG_APIKEY_PREFIX + 1];
    char             hash[MG_SHA256_HEX_LEN + 1], id[MG_UUID_LEN + 1];
    char             rate[32], burst[24], exp_s[32], *body = NULL;
    double           exp_epoch = 0;
    PGresult        *res = NULL;
    mg_db_rc_t       rc;
    size_t           len = 0;
    int              sent;

    if (mg_apikey_owner(job, &bot_id, NULL) != 0) {
        return 0;
    }
    v = mg_validate_body(job->body, job->body_len, mg_apikey_fields,
                         sizeof(mg_apikey_fields) / sizeof(mg_apikey_fields[0]),
                         MG_VALIDATE_CREATE, &verr);
    if (v == NULL) {
        return mg_job_reply_verr(job, &verr);
    }
    expires = json_string_value(json_object_get(v, "expires_at"));
    if (expires != NULL) {
        if (mg_apikey_time_parse(expires, &exp_epoch) != 0) {
            json_decref(v);
            return mg_job_reply_error(job, 400, "invalid_field",
                                      "expires_at must be an RFC 3339 time "
                                      "(2030-01-31T00:00:00Z) or null");
        }
        if (exp_epoch <= (double) time(NULL)) {
            json_decref(v);
            return mg_job_reply_error(job, 400, "invalid_field",
                                      "expires_at must be in the future");
        }
    }

    if (mg_uuid_v4(id) != 0 || mg_apikey_new(key, hash) != 0) {
        json_decref(v);
        mg_log_error("apikeys rid=%s: no randomness for a key", job->rid);
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    memcpy(prefix, key, MG_APIKEY_PREFIX);
    prefix[MG_APIKEY_PREFIX] = '\0';
    snprintf(rate, sizeof(rate), "%.17g", json_number_value(json_object_get(v, "rate_per_second")));
    snprintf(burst, sizeof(burst), "%lld",
             (long long) json_integer_value(json_object_get(v, "burst")));
    snprintf(exp_s, sizeof(exp_s), "%.6f", exp_epoch);
    values[0] = id;
    values[1] = bot_id;
    values[2] = job->user_id;
    values[3] = json_string_value(json_object_get(v, "name"));
    values[4] = prefix;
    values[5] = hash;
    values[6] = rate;
    values[7] = burst;
    values[8] = expires != NULL ? exp_s : NULL;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_INSERT, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "apikeys.create");
        goto done;
    }
    if (PQntuples(res) == 0) {
        sent = mg_apikey_bot_not_found(job);    /* deleted since the check */
        goto done;
    }
    /* the key JSON, with "key" added: {...} -> {...,"key":"mgk_..."}
     * (base64url needs no escaping) */
    len = (size_t) PQgetlength(res, 0, 0);
    body = malloc(len + sizeof(",\"key\":\"\"") + MG_APIKEY_LEN);
    if (body == NULL || len < 2) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    memcpy(body, PQgetvalue(res, 0, 0), len - 1);
    len--;
    len += (size_t) sprintf(body + len, ",\"key\":\"%s\"}", key);
    mg_log_info("apikeys rid=%s: key %s created for bot %s", job->rid, id, bot_id);
    sent = mg_job_reply_raw(job, 201, body, len, NULL);

done:
    if (body != NULL) {
        OPENSSL_cleanse(body, len);
    }
    free(body);
    OPENSSL_cleanse(key, sizeof(key));
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_apikeys_revoke(mg_job_t *job)
{
    const char  *bot_id, *key, *values[3];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (mg_apikey_owner(job, &bot_id, NULL) != 0 || (key = mg_apikey_param(job)) == NULL) {
        return 0;
    }
    values[0] = key;
    values[1] = bot_id;
    values[2] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_REVOKE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "apikeys.revoke");
    } else if (PQntuples(res) == 0) {
        sent = mg_apikey_not_found(job);
    } else {
        mg_log_info("apikeys rid=%s: key %s of bot %s revoked", job->rid, key, bot_id);
        sent = mg_job_reply_raw(job, 200, PQgetvalue(res, 0, 0),
                                (size_t) PQgetlength(res, 0, 0), NULL);
    }
    PQclear(res);
    return sent;
}

int
mg_job_apikeys_usage(mg_job_t *job)
{
    const char  *bot_id, *key, *query, *values[4];
    char         buf[16], days_s[16], *end;
    size_t       qlen;
    long         days = MG_APIKEY_DAYS_DEFAULT;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent, got;

    if (mg_apikey_owner(job, &bot_id, NULL) != 0 || (key = mg_apikey_param(job)) == NULL) {
        return 0;
    }
    query = mg_job_query(job, &qlen);
    got = mg_query_get(query, qlen, "days", buf, sizeof(buf), NULL);
    if (got != 0) {
        errno = 0;
        days = got > 0 && buf[0] >= '0' && buf[0] <= '9' ? strtol(buf, &end, 10) : -1;
        if (got < 0 || days < 1 || days > MG_APIKEY_DAYS_MAX || errno != 0 || *end != '\0') {
            return mg_job_reply_error(job, 400, "invalid_query", "days must be 1..366");
        }
    }
    snprintf(days_s, sizeof(days_s), "%ld", days);
    values[0] = key;
    values[1] = bot_id;
    values[2] = job->user_id;
    values[3] = days_s;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_USAGE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "apikeys.usage");
    } else if (PQntuples(res) == 0) {
        sent = mg_apikey_not_found(job);
    } else {
        sent = mg_job_reply_raw(job, 200, PQgetvalue(res, 0, 0),
                                (size_t) PQgetlength(res, 0, 0), NULL);
    }
    PQclear(res);
    return sent;
}

/* {"quota_requests","quota_tokens","endpoint","stream_endpoint"} from a
 * row of the two quotas. */
static int
mg_publication_reply(mg_job_t *job, const char *bot_id, const PGresult *res)
{
    json_t  *v;
    char     path[96];
    int      sent;

    v = json_object();
    for (int c = 0; v != NULL && c < 2; c++) {
        json_object_set_new(v, c == 0 ? "quota_requests" : "quota_tokens",
                            PQgetisnull(res, 0, c) ? json_null()
                            : json_integer(strtoll(PQgetvalue(res, 0, c), NULL, 10)));
    }
    if (v != NULL) {
        snprintf(path, sizeof(path), "/api/v1/published/%s/chat", bot_id);
        json_object_set_new(v, "endpoint", json_string(path));
        snprintf(path, sizeof(path), "/api/v1/published/%s/chat/stream", bot_id);
        json_object_set_new(v, "stream_endpoint", json_string(path));
    }
    if (v == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    sent = mg_job_reply_json(job, 200, v, NULL);
    json_decref(v);
    return sent;
}

int
mg_job_publication_get(mg_job_t *job)
{
    const char  *bot_id;
    PGresult    *res = NULL;
    int          sent;

    if (mg_apikey_owner(job, &bot_id, &res) != 0) {
        return 0;
    }
    sent = mg_publication_reply(job, bot_id, res);
    PQclear(res);
    return sent;
}

int
mg_job_publication_update(mg_job_t *job)
{
    json_t      *v, *q;
    mg_verr_t    verr;
    const char  *bot_id, *values[6];
    char         nums[2][24];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (mg_apikey_owner(job, &bot_id, NULL) != 0) {
        return 0;
    }
    v = mg_validate_body(job->body, job->body_len, mg_publication_fields,
                         sizeof(mg_publication_fields) / sizeof(mg_publication_fields[0]),
                         MG_VALIDATE_PATCH, &verr);
    if (v == NULL) {
        return mg_job_reply_verr(job, &verr);
    }
    values[0] = bot_id;
    values[1] = job->user_id;
    for (int i = 0; i < 2; i++) {
        q = json_object_get(v, i == 0 ? "quota_requests" : "quota_tokens");
        values[2 + 2 * i] = q != NULL ? "true" : "false";
        values[3 + 2 * i] = NULL;
        if (json_is_integer(q)) {
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long) json_integer_value(q));
            values[3 + 2 * i] = nums[i];
        }
    }
    rc = mg_db_exec(job->db, MG_Q_PUBLICATION_UPDATE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "publication.update");
    } else if (PQntuples(res) == 0) {
        sent = mg_apikey_bot_not_found(job);
    } else {
        sent = mg_publication_reply(job, bot_id, res);
    }
    PQclear(res);
    json_decref(v);
    return sent;
}

/* ---- the module's check (not a route) ------------------------------------ */

int
mg_job_apikeys_verify(mg_job_t *job)
{
    const char  *hash, *values[1];
    size_t       len = 0;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    json_t      *v;
    int          sent;

    hash = json_string_value(json_object_get(job->params, "key_hash"));
    if (hash != NULL) {
        len = json_string_length(json_object_get(job->params, "key_hash"));
    }
    if (!mg_apikey_hash_valid(hash, len)) {
        return mg_job_reply_error(job, 401, "invalid_api_key", "invalid API key");
    }
    values[0] = hash;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_VERIFY, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "apikeys.verify");
    } else if (PQntuples(res) == 0) {
        sent = mg_job_reply_error(job, 401, "invalid_api_key", "invalid API key");
    } else if (*PQgetvalue(res, 0, MG_VERIFY_COL_REVOKED) == 't') {
        sent = mg_job_reply_error(job, 401, "api_key_revoked", "this API key was revoked");
    } else if (*PQgetvalue(res, 0, MG_VERIFY_COL_EXPIRED) == 't') {
        sent = mg_job_reply_error(job, 401, "api_key_expired", "this API key has expired");
    } else {
        v = json_pack("{s:s, s:s, s:f, s:I}",
                      "key_id", PQgetvalue(res, 0, MG_VERIFY_COL_KEY_ID),
                      "bot_id", PQgetvalue(res, 0, MG_VERIFY_COL_BOT_ID),
                      "rate_per_second", strtod(PQgetvalue(res, 0, MG_VERIFY_COL_RATE), NULL),
                      "burst", (json_int_t) strtoll(PQgetvalue(res, 0, MG_VERIFY_COL_BURST),
                                                    NULL, 10));
        if (v != NULL) {
            json_object_set_new(v, "expires_at",
                                PQgetisnull(res, 0, MG_VERIFY_COL_EXPIRES) ? json_null()
                                : json_integer(strtoll(PQgetvalue(res, 0, MG_VERIFY_COL_EXPIRES),
                                                       NULL, 10)));
        }
        sent = v != NULL ? mg_job_reply_json(job, 200, v, NULL)
                         : mg_job_reply_error(job, 500, "internal", "internal error");
        json_decref(v);
    }
    PQclear(res);
    return sent;
}
