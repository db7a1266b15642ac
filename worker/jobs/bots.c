/*
 * bots: owns the bots API (bots.list/create/get/update/delete).  Every
 * statement is scoped by owner_id = the caller, so another user's bot is
 * indistinguishable from a missing one: both are 404 "bot not found".
 * Input is fully validated before any statement runs, and the knowledge
 * base check happens inside the same statement as the write, so a
 * rejected request changes nothing.
 *
 * knowledge_base_ids (up to MG_BOT_KBS_MAX of the owner's bases) is kept
 * in bot_knowledge_bases, its first also as knowledge_base_id; setting
 * knowledge_base_id alone makes the list that one (or none).  Every id is
 * checked to be the caller's before anything is written.
 *
 * Sharing (sql/013): a bot that is not private may be read (GET) and used
 * by anyone signed in, but only through the others' view, written by
 * mg_bot_write for every row whose caller is not the owner, so no list or
 * read can leak instructions or knowledge bases.  Changes stay the
 * owner's.  Who may create, and who may put a bot in the store, is
 * jobs/permissions.h's.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json_write.h"
#include "jobs/page.h"
#include "jobs/permissions.h"
#include "util/log.h"
#include "mg_json.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_BOTS_LIMIT_DEFAULT  20
#define MG_BOTS_LIMIT_MAX      100
#define MG_BOT_KBS_MAX         10

/* Constraint names fixed in sql/001_init.sql. */
#define MG_BOTS_FK_OWNER  "bots_owner_id_fkey"
#define MG_BOTS_FK_KB     "bots_knowledge_base_id_fkey"

/* Mirrors the CHECK constraints on bots in sql/001_init.sql. */
const mg_field_t mg_bot_fields[] = {
    { "name",              MG_FIELD_STRING,  MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 255,   NULL },
    { "description",       MG_FIELD_STRING,  0,                 0, 2000,  "\"\"" },
    { "model_id",          MG_FIELD_STRING,  0,                 1, 255,   "\"local\"" },
    { "instructions",      MG_FIELD_STRING,  0,                 0, 32000, "\"\"" },
    { "temperature",       MG_FIELD_NUMBER,  0,                 0, 1,     "0.7" },
    { "max_tokens",        MG_FIELD_INTEGER, 0,                 1, 65536, "4096" },
    { "rag_enabled",       MG_FIELD_BOOL,    0,                 0, 0,     "false" },
    { "knowledge_base_id", MG_FIELD_UUID,    MG_FIELD_NULLABLE, 0, 0,     "null" },
    { "visibility",        MG_FIELD_STRING,  0,                 1, 16,    "\"private\"" },
};

const size_t mg_bot_fields_count = sizeof(mg_bot_fields) / sizeof(mg_bot_fields[0]);

/* Text parameters for the write statements, from validated values. */
typedef struct {
    const char  *name, *description, *model_id, *instructions;
    const char  *temperature, *max_tokens, *rag_enabled, *visibility;
    int          kb_given;              /* knowledge_base_id present in the body */
    const char  *kb;                    /* NULL: SQL NULL */
    char         temperature_buf[32];
    char         max_tokens_buf[24];
} mg_bot_values_t;

static const char *
mg_str_or_null(json_t *v, const char *name)
{
    json_t *f = json_object_get(v, name);

    return json_is_string(f) ? json_string_value(f) : NULL;
}

static void
mg_bot_values(json_t *v, mg_bot_values_t *out)
{
    json_t  *f;

    memset(out, 0, sizeof(*out));
    out->name = mg_str_or_null(v, "name");
    out->description = mg_str_or_null(v, "description");
    out->model_id = mg_str_or_null(v, "model_id");
    out->instructions = mg_str_or_null(v, "instructions");
    out->visibility = mg_str_or_null(v, "visibility");

    f = json_object_get(v, "temperature");
    if (f != NULL) {
        /* 17 digits: the database gets exactly the double we validated */
        snprintf(out->temperature_buf, sizeof(out->temperature_buf), "%.17g",
                 json_number_value(f));
        out->temperature = out->temperature_buf;
    }
    f = json_object_get(v, "max_tokens");
    if (f != NULL) {
        snprintf(out->max_tokens_buf, sizeof(out->max_tokens_buf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(f));
        out->max_tokens = out->max_tokens_buf;
    }
    f = json_object_get(v, "rag_enabled");
    if (f != NULL) {
        out->rag_enabled = json_is_true(f) ? "true" : "false";
    }
    f = json_object_get(v, "knowledge_base_id");
    if (f != NULL) {
        out->kb_given = 1;
        out->kb = json_is_string(f) ? json_string_value(f) : NULL;
    }
}

/* Bytes mg_bot_write may use for row (an upper bound). */
static size_t
mg_bot_json_max(const PGresult *r, int row)
{
    /* keys and punctuation ~290, two uuids 76, float8 text <= 24, int4
     * and int8 text <= 31, visibility 7, two timestamps 58: under 512
     * whatever the row holds */
    return 640 + mg_jw_text_max(r, row, MG_BOT_COL_OWNER_ID, MG_BOT_COL_INSTRUCTIONS)
           + mg_jw_text_max(r, row, MG_BOT_COL_OWNER_NAME, MG_BOT_COL_OWNER_NAME)
           + 2 * (size_t) PQgetlength(r, row, MG_BOT_COL_KB_IDS) + 32;
}

/* The view of a bot for anyone but its owner: what it is and who made
 * it, never how it works (instructions, knowledge bases, settings). */
static char *
mg_bot_write_others(char *p, const PGresult *r, int row)
{
    p += sprintf(p, "{\"id\":\"%s\",", PQgetvalue(r, row, MG_BOT_COL_ID));
    p = mg_jw_str(p, "name", r, row, MG_BOT_COL_NAME);
    *p++ = ',';
    p = mg_jw_str(p, "description", r, row, MG_BOT_COL_DESCRIPTION);
    *p++ = ',';
    p = mg_jw_str(p, "model_id", r, row, MG_BOT_COL_MODEL_ID);
    p += sprintf(p, ",\"visibility\":\"%s\",\"owner\":{",
                 PQgetvalue(r, row, MG_BOT_COL_VISIBILITY));
    p = mg_jw_str(p, "username", r, row, MG_BOT_COL_OWNER_NAME);
    p += sprintf(p, "},\"use_count\":%s,\"is_owner\":false,\"pinned\":%s,\"rag_enabled\":%s,",
                 PQgetvalue(r, row, MG_BOT_COL_USE_COUNT),
                 PQgetvalue(r, row, MG_BOT_COL_PINNED)[0] == 't' ? "true" : "false",
                 PQgetvalue(r, row, MG_BOT_COL_RAG_ENABLED)[0] == 't' ? "true" : "false");
    p = mg_jw_ts(p, "created_at", r, row, MG_BOT_COL_CREATED_US);
    *p++ = ',';
    p = mg_jw_ts(p, "updated_at", r, row, MG_BOT_COL_UPDATED_US);
    *p++ = '}';
    return p;
}

/* The bot JSON of one result row, written in one pass: building a jansson
 * tree per row and dumping it cost more than the query (~70 µs a page).
 * Which view is decided here, per row, from the statement's caller. */
static char *
mg_bot_write(char *p, const PGresult *r, int row)
{
    if (PQgetvalue(r, row, MG_BOT_COL_IS_OWNER)[0] != 't') {
        return mg_bot_write_others(p, r, row);
    }
    p += sprintf(p, "{\"id\":\"%s\",", PQgetvalue(r, row, MG_BOT_COL_ID));
    p = mg_jw_str(p, "owner_id", r, row, MG_BOT_COL_OWNER_ID);
    *p++ = ',';
    p = mg_jw_str(p, "name", r, row, MG_BOT_COL_NAME);
    *p++ = ',';
    p = mg_jw_str(p, "description", r, row, MG_BOT_COL_DESCRIPTION);
    *p++ = ',';
    p = mg_jw_str(p, "model_id", r, row, MG_BOT_COL_MODEL_ID);
    *p++ = ',';
    p = mg_jw_str(p, "instructions", r, row, MG_BOT_COL_INSTRUCTIONS);
    /* float8 and int4 text is JSON as it is (the CHECKs rule out NaN) */
    p += sprintf(p, ",\"temperature\":%s,\"max_tokens\":%s,\"rag_enabled\":%s",
                 PQgetvalue(r, row, MG_BOT_COL_TEMPERATURE),
                 PQgetvalue(r, row, MG_BOT_COL_MAX_TOKENS),
                 PQgetvalue(r, row, MG_BOT_COL_RAG_ENABLED)[0] == 't' ? "true" : "false");
    if (PQgetisnull(r, row, MG_BOT_COL_KNOWLEDGE_BASE_ID)) {
        p += sprintf(p, ",\"knowledge_base_id\":null");
    } else {
        p += sprintf(p, ",\"knowledge_base_id\":\"%s\"",
                     PQgetvalue(r, row, MG_BOT_COL_KNOWLEDGE_BASE_ID));
    }
    /* a text[] of uuids, "{a,b}" or "{}": nothing in it needs quoting */
    {
        const char  *a = PQgetvalue(r, row, MG_BOT_COL_KB_IDS);
        size_t       n = strlen(a);

        p += sprintf(p, ",\"knowledge_base_ids\":[");
        if (n > 2) {
            *p++ = '"';
            for (size_t i = 1; i + 1 < n; i++) {
                if (a[i] == ',') {
                    p += sprintf(p, "\",\"");
                } else {
                    *p++ = a[i];
                }
            }
            *p++ = '"';
        }
        *p++ = ']';
    }
    p += sprintf(p, ",\"visibility\":\"%s\",\"use_count\":%s,\"is_owner\":true,\"pinned\":%s,",
                 PQgetvalue(r, row, MG_BOT_COL_VISIBILITY),
                 PQgetvalue(r, row, MG_BOT_COL_USE_COUNT),
                 PQgetvalue(r, row, MG_BOT_COL_PINNED)[0] == 't' ? "true" : "false");
    p = mg_jw_ts(p, "created_at", r, row, MG_BOT_COL_CREATED_US);
    *p++ = ',';
    p = mg_jw_ts(p, "updated_at", r, row, MG_BOT_COL_UPDATED_US);
    *p++ = '}';
    return p;
}

/* Reply status with the bot in row 0 of r (and Location when given). */
static int
mg_bot_reply(mg_job_t *job, int status, const PGresult *r, int with_location)
{
    json_t  *headers = NULL;
    char    *body, *end;
    int      sent;

    body = malloc(mg_bot_json_max(r, 0));
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    end = mg_bot_write(body, r, 0);

    if (with_location) {
        headers = json_pack("{s:s+}", "Location", "/api/v1/bots/",
                            PQgetvalue(r, 0, MG_BOT_COL_ID));
        if (headers == NULL) {
            free(body);
            return mg_job_reply_error(job, 500, "internal", "internal error");
        }
    }
    sent = mg_job_reply_raw(job, status, body, (size_t) (end - body), headers);
    json_decref(headers);
    free(body);
    return sent;
}

static int
mg_bot_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "not_found", "bot not found");
}

static int
mg_kb_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 400, "invalid_field", "knowledge base not found");
}

/* The {id} path parameter when it can name a bot at all, else NULL. */
static const char *
mg_bot_path_id(mg_job_t *job)
{
    size_t       len;
    const char  *id = mg_job_param(job, "id", &len);

    return (id != NULL && mg_uuid_valid(id, len)) ? id : NULL;
}

/* Fetch the caller's bot id.  MG_DB_OK with *res (0 or 1 row) or a db error. */
static mg_db_rc_t
mg_bot_fetch(mg_job_t *job, const char *id, PGresult **res)
{
    const char *values[2] = { id, job->user_id };

    return mg_db_exec(job->db, MG_Q_BOT_GET, values, res);
}

static int
mg_is_fk_violation(mg_db_rc_t rc, const PGresult *res, const char *constraint)
{
    return rc == MG_DB_FAILED && strcmp(mg_db_sqlstate(res), "23503") == 0
           && strcmp(mg_db_constraint(res), constraint) == 0;
}

/* The knowledge bases a request sets, when it sets them. */
typedef struct {
    int     given;
    size_t  n;
    char    ids[MG_BOT_KBS_MAX][MG_UUID_LEN + 1];
} mg_bot_kbs_t;

/*
 * Take "knowledge_base_ids" out of the body (the field table has no
 * arrays): *body and *len become the rest (*owned: a copy to free, else the
 * job's own).  0, or -1 after a 400 reply (*sent).
 */
static int
mg_bot_kbs_take(mg_job_t *job, const char **body, size_t *len, char **owned,
                mg_bot_kbs_t *kbs, int *sent)
{
    json_t  *v, *a, *e;
    size_t   i, k;

    *body = job->body;
    *len = job->body_len;
    *owned = NULL;
    memset(kbs, 0, sizeof(*kbs));

    v = json_loadb(job->body, job->body_len, JSON_REJECT_DUPLICATES, NULL);
    a = json_is_object(v) ? json_object_get(v, "knowledge_base_ids") : NULL;
    if (a == NULL) {
        json_decref(v);             /* the validator judges the rest */
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) > MG_BOT_KBS_MAX) {
        goto invalid;
    }
    json_array_foreach(a, i, e) {
        const char *id = json_string_value(e);

        if (id == NULL || !mg_uuid_valid(id, json_string_length(e))) {
            goto invalid;
        }
        for (k = 0; k < kbs->n && strcasecmp(kbs->ids[k], id) != 0; k++) {
        }
        if (k == kbs->n) {
            snprintf(kbs->ids[kbs->n++], MG_UUID_LEN + 1, "%s", id);
        }
    }
    kbs->given = 1;
    json_object_del(v, "knowledge_base_ids");
    *owned = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (*owned == NULL) {
        *sent = mg_job_reply_error(job, 500, "internal", "internal error");
        return -1;
    }
    *body = *owned;
    *len = strlen(*owned);
    return 0;

invalid:
    json_decref(v);
    *sent = mg_job_reply_error(job, 400, "invalid_field",
                               "knowledge_base_ids must be an array of at most 10 "
                               "knowledge base ids");
    return -1;
}

/* Reconcile knowledge_base_id and the list: the list's first wins; the
 * single field alone sets a list of it.  Then check every id is the
 * caller's: 0, or -1 after replying (*sent). */
static int
mg_bot_kbs_resolve(mg_job_t *job, mg_bot_values_t *b, mg_bot_kbs_t *kbs, int *sent)
{
    if (kbs->given) {
        b->kb_given = 1;
        b->kb = kbs->n > 0 ? kbs->ids[0] : NULL;
    } else if (b->kb_given) {
        kbs->given = 1;
        kbs->n = 0;
        if (b->kb != NULL) {
            snprintf(kbs->ids[kbs->n++], MG_UUID_LEN + 1, "%s", b->kb);
        }
    }
    for (size_t i = 0; i < kbs->n; i++) {
        int owned = mg_knowledge_owned(job, kbs->ids[i], strlen(kbs->ids[i]));

        if (owned <= 0) {
            *sent = owned < 0 ? 0 : mg_kb_not_found(job);
            return -1;
        }
    }
    return 0;
}

/* Store the list of bot id and answer with the bot (status).  The ids
 * were checked; a base deleted meanwhile is 400 like a foreign one. */
static int
mg_bot_kbs_store_reply(mg_job_t *job, const char *id, const mg_bot_kbs_t *kbs, int status,
                       int with_location)
{
    char         arr[2 + MG_BOT_KBS_MAX * (MG_UUID_LEN + 1) + 1];
    const char  *values[3];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    size_t       at = 0;
    int          sent;

    arr[at++] = '{';
    for (size_t i = 0; i < kbs->n; i++) {
        at += (size_t) sprintf(arr + at, "%s%s", i ? "," : "", kbs->ids[i]);
    }
    arr[at++] = '}';
    arr[at] = '\0';
    values[0] = id;
    values[1] = job->user_id;
    values[2] = arr;
    rc = mg_db_exec(job->db, MG_Q_BOT_KBS_SET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.knowledge_bases");
        PQclear(res);
        return sent;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        PQclear(res);
        return mg_kb_not_found(job);
    }
    PQclear(res);
    res = NULL;
    rc = mg_bot_fetch(job, id, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.knowledge_bases");
    } else if (PQntuples(res) == 0) {
        sent = mg_bot_not_found(job);
    } else {
        sent = mg_bot_reply(job, status, res, with_location);
    }
    PQclear(res);
    return sent;
}

/* visibility, when given, is one of the three, and "store" is for those
 * who may publish: 0, or -1 after a 400 or 403 reply (*sent). */
static int
mg_bot_visibility_check(mg_job_t *job, const char *visibility, int *sent)
{
    char  m[200];

    if (visibility == NULL) {
        return 0;
    }
    if (strcmp(visibility, "private") != 0 && strcmp(visibility, "shared") != 0
        && strcmp(visibility, "store") != 0)
    {
        *sent = mg_job_reply_error(job, 400, "invalid_field",
                                   "visibility must be \"private\", \"shared\" or \"store\"");
        return -1;
    }
    if (strcmp(visibility, "store") == 0 && !mg_perm_may_publish(job->claims)) {
        snprintf(m, sizeof(m), "listing a bot in the store needs membership of the group "
                 "\"%s\"", mg_perm_publish_group());
        *sent = mg_job_reply_error(job, 403, "publish_not_allowed", m);
        return -1;
    }
    return 0;
}

int
mg_job_bots_get(mg_job_t *job)
{
    const char  *id;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    const char  *values[2];

    id = mg_bot_path_id(job);
    if (id == NULL) {
        return mg_bot_not_found(job);
    }

    /* the owner's bot, or another's that is not private (others' view) */
    values[0] = id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_BOT_SEE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.get");
    } else if (PQntuples(res) == 0) {
        sent = mg_bot_not_found(job);
    } else {
        sent = mg_bot_reply(job, 200, res, 0);
    }
    PQclear(res);
    return sent;
}

int
mg_job_bots_create(mg_job_t *job)
{
    json_t           *v = NULL;
    mg_verr_t         err;
    mg_bot_values_t   b;
    char              id[MG_UUID_LEN + 1];
    const char       *values[11], *body;
    char             *body_owned = NULL;
    size_t            body_len;
    mg_bot_kbs_t      kbs;
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    int               sent;

    if (!mg_perm_may_create(job->claims)) {
        char m[200];

        snprintf(m, sizeof(m), "creating bots needs membership of the group \"%s\"",
                 mg_perm_create_group() ? mg_perm_create_group() : "");
        return mg_job_reply_error(job, 403, "create_not_allowed", m);
    }
    if (mg_bot_kbs_take(job, &body, &body_len, &body_owned, &kbs, &sent) != 0) {
        goto done;
    }
    v = mg_validate_body(body, body_len, mg_bot_fields, mg_bot_fields_count,
                         MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    mg_bot_values(v, &b);
    if (mg_bot_visibility_check(job, b.visibility, &sent) != 0) {
        goto done;
    }
    if (!kbs.given && json_is_null(json_object_get(v, "knowledge_base_id"))) {
        b.kb_given = 0;             /* the default: no list to write */
    }
    if (mg_bot_kbs_resolve(job, &b, &kbs, &sent) != 0) {
        goto done;
    }

    /* the id is chosen here, not by the database: see db/queries.c */
    if (mg_uuid_v4(id) != 0) {
        mg_log_error("bots.create rid=%s: no randomness for an id", job->rid);
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }

    values[0] = id;
    values[1] = job->user_id;
    values[2] = b.name;
    values[3] = b.description;
    values[4] = b.model_id;
    values[5] = b.instructions;
    values[6] = b.temperature;
    values[7] = b.max_tokens;
    values[8] = b.rag_enabled;
    values[9] = b.kb;
    values[10] = b.visibility ? b.visibility : "private";

    rc = mg_db_exec(job->db, MG_Q_BOT_INSERT, values, &res);
    if (mg_is_fk_violation(rc, res, MG_BOTS_FK_OWNER)) {
        /* the users row went away behind the ensured-users cache */
        PQclear(res);
        res = NULL;
        mg_users_forget(job->user_id);
        if (mg_users_ensure(job, 1) != 0) {
            sent = 0;
            goto done;
        }
        rc = mg_db_exec(job->db, MG_Q_BOT_INSERT, values, &res);
    }
    if (mg_is_fk_violation(rc, res, MG_BOTS_FK_KB)) {
        sent = mg_kb_not_found(job);       /* deleted while we inserted */
        goto done;
    }
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.create");
        goto done;
    }

    if (PQntuples(res) == 0) {
        /* either the knowledge base is not the caller's, or a retried
         * insert found the row its first run had committed */
        PQclear(res);
        res = NULL;
        rc = mg_bot_fetch(job, id, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "bots.create");
            goto done;
        }
        if (PQntuples(res) == 0) {
            sent = mg_kb_not_found(job);
            goto done;
        }
    }

    if (kbs.given) {
        sent = mg_bot_kbs_store_reply(job, id, &kbs, 201, 1);
    } else {
        sent = mg_bot_reply(job, 201, res, 1);
    }

done:
    PQclear(res);
    json_decref(v);
    free(body_owned);
    return sent;
}

int
mg_job_bots_update(mg_job_t *job)
{
    json_t           *v = NULL;
    mg_verr_t         err;
    mg_bot_values_t   b;
    const char       *id, *values[12], *body;
    char             *body_owned = NULL;
    size_t            body_len;
    mg_bot_kbs_t      kbs;
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    int               sent;

    id = mg_bot_path_id(job);
    if (id == NULL) {
        sent = mg_bot_not_found(job);
        goto done;
    }

    if (mg_bot_kbs_take(job, &body, &body_len, &body_owned, &kbs, &sent) != 0) {
        goto done;
    }
    v = mg_validate_body(body, body_len, mg_bot_fields, mg_bot_fields_count,
                         MG_VALIDATE_PATCH, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    if (json_object_size(v) == 0 && !kbs.given) {
        /* {} changes nothing: the owner's bot as it is */
        rc = mg_bot_fetch(job, id, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "bots.update");
        } else if (PQntuples(res) == 0) {
            sent = mg_bot_not_found(job);
        } else {
            sent = mg_bot_reply(job, 200, res, 0);
        }
        goto done;
    }
    mg_bot_values(v, &b);
    if (mg_bot_visibility_check(job, b.visibility, &sent) != 0) {
        goto done;
    }
    if (kbs.given || b.kb_given) {
        /* the bot's absence wins over a foreign knowledge base */
        rc = mg_bot_fetch(job, id, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "bots.update");
            goto done;
        }
        if (PQntuples(res) == 0) {
            sent = mg_bot_not_found(job);
            goto done;
        }
        PQclear(res);
        res = NULL;
    }
    if (mg_bot_kbs_resolve(job, &b, &kbs, &sent) != 0) {
        goto done;
    }

    values[0] = id;
    values[1] = job->user_id;
    values[2] = b.name;
    values[3] = b.description;
    values[4] = b.model_id;
    values[5] = b.instructions;
    values[6] = b.temperature;
    values[7] = b.max_tokens;
    values[8] = b.rag_enabled;
    values[9] = b.kb_given ? "true" : "false";
    values[10] = b.kb;
    values[11] = b.visibility;

    rc = mg_db_exec(job->db, MG_Q_BOT_UPDATE, values, &res);
    if (mg_is_fk_violation(rc, res, MG_BOTS_FK_KB)) {
        sent = mg_kb_not_found(job);
        goto done;
    }
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "bots.update");
        goto done;
    }

    if (PQntuples(res) == 0) {
        /* no such bot of the caller, or the knowledge base is not theirs:
         * the bot's absence wins, so nothing about others leaks */
        if (!b.kb_given || b.kb == NULL) {
            sent = mg_bot_not_found(job);
            goto done;
        }
        PQclear(res);
        res = NULL;
        rc = mg_bot_fetch(job, id, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "bots.update");
        } else if (PQntuples(res) == 0) {
            sent = mg_bot_not_found(job);
        } else {
            sent = mg_kb_not_found(job);
        }
        goto done;
    }

    if (kbs.given) {
        sent = mg_bot_kbs_store_reply(job, id, &kbs, 200, 0);
    } else {
        sent = mg_bot_reply(job, 200, res, 0);
    }

done:
    PQclear(res);
    json_decref(v);
    free(body_owned);
    return sent;
}

int
mg_job_bots_delete(mg_job_t *job)
{
    const char  *id = mg_bot_path_id(job), *values[2];

    if (id == NULL) {
        return mg_bot_not_found(job);
    }
    values[0] = id;
    values[1] = job->user_id;
    return mg_job_delete_owned(job, MG_Q_BOT_DELETE, values, mg_bot_not_found, "bots.delete");
}

/* also the shared and store lists' (bot_sharing.c, store.c): one writer
 * decides per row which view its caller gets */
const mg_page_cols_t mg_bot_page_cols = {
    MG_BOT_COL_CREATED_US, MG_BOT_COL_ID, mg_bot_json_max, mg_bot_write
};

int
mg_job_bots_list(mg_job_t *job)
{
    const char     *values[4];
    mg_page_req_t   req;
    int             sent;

    if (mg_page_query(job, MG_BOTS_LIMIT_DEFAULT, MG_BOTS_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    values[0] = job->user_id;
    return mg_page_list(job, &req, MG_Q_BOT_LIST_FIRST, MG_Q_BOT_LIST_AFTER, values, 1,
                        &mg_bot_page_cols, "bots.list");
}
