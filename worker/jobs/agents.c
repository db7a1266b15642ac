/*
 * agents: owns the marketplace (agents.list, agents.get,
 * agents.categories) and its administration (admin.agents.list, .get,
 * .create, .update).  Users see published agents only: a draft or retired
 * agent is 404 to them, as a missing one.  A save is checked whole before
 * anything is written (fields, tools known to the workers, at most
 * MG_AGENT_SUBS_MAX sub-agents) and inside the statement that writes
 * (sub-agents exist and are not retired, no cycle, at most
 * MG_AGENT_DEPTH_MAX hand-offs deep), so a refused save changes nothing.
 *
 * Limits may come flat (max_steps, ...) or as the "limits" object the API
 * shows; the row's JSON is built by the statements (MG_AGENT_JSON).
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/loop.h"
#include "agents/tools.h"
#include "jobs/page.h"
#include "mcp/registry.h"
#include "util/log.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_AGENTS_LIMIT_DEFAULT  20
#define MG_AGENTS_LIMIT_MAX      100
#define MG_AGENT_STR_(x)         #x
#define MG_AGENT_STR(x)          MG_AGENT_STR_(x)
#define MG_AGENT_DEPTH_TEXT      MG_AGENT_STR(MG_AGENT_DEPTH_MAX)
#define MG_AGENT_Q_MAX           200    /* bytes of q and category */

#define MG_AGENTS_NAME_KEY       "agents_name_key"
#define MG_AGENTS_SUB_FK         "agent_sub_agents_sub_agent_id_fkey"

/* Mirrors the CHECK constraints of sql/006_agents.sql. */
static const mg_field_t mg_agent_fields[] = {
    { "name",                 MG_FIELD_STRING,  MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 255, NULL },
    { "category",             MG_FIELD_STRING,  MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 100, NULL },
    { "description",          MG_FIELD_STRING,  0, 0, 2000,  "\"\"" },
    { "model_id",             MG_FIELD_STRING,  0, 1, 255,   "\"local\"" },
    { "instructions",         MG_FIELD_STRING,  0, 0, 32000, "\"\"" },
    { "temperature",          MG_FIELD_NUMBER,  0, 0, 1,     "0.7" },
    { "max_tokens",           MG_FIELD_INTEGER, 0, 1, 65536, "4096" },
    { "max_steps",            MG_FIELD_INTEGER, 0, 1, 50,    "8" },
    { "timeout_seconds",      MG_FIELD_INTEGER, 0, 1, 3600,  "120" },
    { "tool_timeout_seconds", MG_FIELD_INTEGER, 0, 1, 600,   "20" },
    { "status",               MG_FIELD_STRING,  0, 1, 16,    "\"draft\"" },
};

static const char *const mg_agent_limit_names[] = {
    "max_steps", "timeout_seconds", "tool_timeout_seconds"
};

/* What a save writes besides the validated fields. */
typedef struct {
    int    tools_given, subs_given;
    char  *tools;                       /* "{a,b}", owned */
    char  *subs;                        /* "{uuid,uuid}", owned */
} mg_agent_lists_t;

static void
mg_agent_lists_free(mg_agent_lists_t *l)
{
    free(l->tools);
    free(l->subs);
}

static size_t
mg_agent_item_max(const PGresult *r, int row)
{
    return (size_t) PQgetlength(r, row, MG_AGENT_COL_JSON) + 1;
}

static char *
mg_agent_item_write(char *p, const PGresult *r, int row)
{
    size_t n = (size_t) PQgetlength(r, row, MG_AGENT_COL_JSON);

    memcpy(p, PQgetvalue(r, row, MG_AGENT_COL_JSON), n);
    return p + n;
}

static const mg_page_cols_t mg_agent_cols = {
    MG_AGENT_COL_CREATED_US, MG_AGENT_COL_ID, mg_agent_item_max, mg_agent_item_write
};

static int
mg_agent_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "agent_not_found", "agent not found");
}

/* An optional text parameter of the query string into buf: 0 with *out
 * (NULL when absent or empty), or -1 with err. */
static int
mg_agent_query_text(const char *query, size_t qlen, const char *name, char *buf, size_t cap,
                    const char **out, mg_verr_t *err)
{
    size_t  n = 0;
    int     rc = mg_query_get(query, qlen, name, buf, cap, &n);

    *out = NULL;
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc < 0 || !mg_admin_text_valid(buf, n)) {
        mg_verr_set(err, 400, "invalid_query",
                    "query parameter \"%s\" must be text of at most %zu bytes", name, cap - 1);
        return -1;
    }
    *out = buf;
    return 0;
}

static int
mg_agents_list(mg_job_t *job, int all, const char *what)
{
    const char     *query, *values[7];
    char            category[MG_AGENT_Q_MAX + 1], q[MG_AGENT_Q_MAX + 1];
    size_t          qlen;
    mg_page_req_t   req;
    mg_verr_t       err;
    int             sent;

    if (mg_page_query(job, MG_AGENTS_LIMIT_DEFAULT, MG_AGENTS_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    query = mg_job_query(job, &qlen);
    if (mg_agent_query_text(query, qlen, "category", category, sizeof(category), &values[0],
                            &err) != 0
        || mg_agent_query_text(query, qlen, "q", q, sizeof(q), &values[1], &err) != 0)
    {
        return mg_job_reply_verr(job, &err);
    }
    values[2] = all ? "true" : "false";
    return mg_page_list(job, &req, MG_Q_AGENT_LIST_FIRST, MG_Q_AGENT_LIST_AFTER, values, 3,
                        &mg_agent_cols, what);
}

static int
mg_agents_get(mg_job_t *job, int all, const char *what)
{
    const char  *id, *values[2];
    size_t       len;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    id = mg_job_param(job, "id", &len);
    if (id == NULL || !mg_uuid_valid(id, len)) {
        return mg_agent_not_found(job);
    }
    values[0] = id;
    values[1] = all ? "true" : "false";
    rc = mg_db_exec(job->db, MG_Q_AGENT_GET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, what);
    } else if (PQntuples(res) == 0) {
        sent = mg_agent_not_found(job);
    } else {
        sent = mg_job_reply_raw(job, 200, PQgetvalue(res, 0, MG_AGENT_COL_JSON),
                                (size_t) PQgetlength(res, 0, MG_AGENT_COL_JSON), NULL);
    }
    PQclear(res);
    return sent;
}

int
mg_job_agents_list(mg_job_t *job)
{
    return mg_agents_list(job, 0, "agents.list");
}

int
mg_job_agents_get(mg_job_t *job)
{
    return mg_agents_get(job, 0, "agents.get");
}

int
mg_job_agents_categories(mg_job_t *job)
{
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    json_t      *items, *out;
    json_error_t jerr;
    int          sent;

    rc = mg_db_exec(job->db, MG_Q_AGENT_CATEGORIES, NULL, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "agents.categories");
        PQclear(res);
        return sent;
    }
    items = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    out = items ? json_pack("{s:o}", "items", items) : NULL;
    sent = out ? mg_job_reply_json(job, 200, out, NULL)
               : mg_job_reply_error(job, 500, "internal", "internal error");
    json_decref(out);
    PQclear(res);
    return sent;
}

int
mg_job_admin_agents_list(mg_job_t *job)
{
    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    return mg_agents_list(job, 1, "admin.agents.list");
}

int
mg_job_admin_agents_get(mg_job_t *job)
{
    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    return mg_agents_get(job, 1, "admin.agents.get");
}

/* ---- saving ---------------------------------------------------------- */

static int
mg_agent_invalid(mg_job_t *job, const char *msg)
{
    return mg_job_reply_error(job, 400, "invalid_field", msg);
}

/* "{a,b}" of the strings of arr (already checked to be plain names or
 * uuids, which need no quoting in an array literal). */
static char *
mg_agent_array_literal(json_t *arr)
{
    size_t   i, cap = 3, o = 0;
    json_t  *x;
    char    *lit;

    json_array_foreach(arr, i, x) {
        cap += json_string_length(x) + 1;
    }
    lit = malloc(cap);
    if (lit == NULL) {
        return NULL;
    }
    lit[o++] = '{';
    json_array_foreach(arr, i, x) {
        o += (size_t) sprintf(lit + o, "%s%s", i ? "," : "", json_string_value(x));
    }
    lit[o++] = '}';
    lit[o] = '\0';
    return lit;
}

static int
mg_agent_tool_ok(const json_t *x)
{
    return json_is_string(x)
           && (mg_tool_find(json_string_value(x), json_string_length(x)) != NULL
               || mg_mcp_ref_valid(json_string_value(x), json_string_length(x)));
}

static int
mg_agent_uuid_ok(const json_t *x)
{
    return json_is_string(x) && mg_uuid_valid(json_string_value(x), json_string_length(x));
}

/* Take the list key out of v when present: at most max items, each ok,
 * repeats (by same) dropped, made the array literal *lit (owned).  0, or
 * -1 after a reply (*sent): bad when the list is not as it must be. */
static int
mg_agent_take_list(mg_job_t *job, json_t *v, const char *key, size_t max,
                   int (*ok)(const json_t *), int (*same)(const char *, const char *),
                   const char *bad, int *given, char **lit, int *sent)
{
    json_t  *list = json_object_get(v, key), *uniq, *x;
    size_t   i, j;

    if (list == NULL) {
        return 0;
    }
    if (!json_is_array(list) || json_array_size(list) > max) {
        *sent = mg_agent_invalid(job, bad);
        return -1;
    }
    uniq = json_array();
    json_array_foreach(list, i, x) {
        if (!ok(x)) {
            json_decref(uniq);
            *sent = mg_agent_invalid(job, bad);
            return -1;
        }
        for (j = 0; j < json_array_size(uniq)
                    && same(json_string_value(json_array_get(uniq, j)), json_string_value(x)) != 0; j++) {
        }
        if (j == json_array_size(uniq)) {
            json_array_append(uniq, x);
        }
    }
    *given = 1;
    *lit = mg_agent_array_literal(uniq);
    json_decref(uniq);
    json_object_del(v, key);
    if (*lit == NULL) {
        *sent = mg_job_reply_error(job, 500, "internal", "internal error");
        return -1;
    }
    return 0;
}

/*
 * Take "tools", "sub_agents" and "limits" out of the body v (the field
 * table has no arrays or objects): the lists checked and made array
 * literals in l, the limits moved to the top level.  0, or -1 after a 400
 * reply (*sent).
 */
static int
mg_agent_take_lists(mg_job_t *job, json_t *v, mg_agent_lists_t *l, int *sent)
{
    json_t      *limits, *x;
    size_t       i;
    const char  *key;

    limits = json_object_get(v, "limits");
    if (limits != NULL) {
        if (!json_is_object(limits)) {
            *sent = mg_agent_invalid(job, "limits must be an object of max_steps, "
                                          "timeout_seconds and tool_timeout_seconds");
            return -1;
        }
        json_object_foreach(limits, key, x) {
            for (i = 0; i < sizeof(mg_agent_limit_names) / sizeof(mg_agent_limit_names[0]); i++) {
                if (strcmp(key, mg_agent_limit_names[i]) == 0) {
                    break;
                }
            }
            if (i == sizeof(mg_agent_limit_names) / sizeof(mg_agent_limit_names[0])
                || json_object_get(v, key) != NULL)
            {
                char m[160];

                snprintf(m, sizeof(m), "limits.%.40s is not a limit, or is also given at the top "
                         "level", key);
                *sent = mg_agent_invalid(job, m);
                return -1;
            }
        }
        json_object_update(v, limits);
        json_object_del(v, "limits");
    }

    if (mg_agent_take_list(job, v, "tools", MG_AGENT_TOOLS_MAX, mg_agent_tool_ok, strcmp,
                           "tools must be an array of at most 32 names of tools this server has "
                           "(built in: calculator, current_time, knowledge_search, http_fetch) "
                           "or of MCP servers' tools as mcp:<server>/<tool>",
                           &l->tools_given, &l->tools, sent) != 0
        || mg_agent_take_list(job, v, "sub_agents", MG_AGENT_SUBS_MAX, mg_agent_uuid_ok,
                              strcasecmp, "sub_agents must be an array of at most 10 agent ids",
                              &l->subs_given, &l->subs, sent) != 0)
    {
        return -1;
    }
    return 0;
}

/* Parse the body, take the lists out, validate the rest: the accepted
 * fields, or NULL after a reply (*sent). */
static json_t *
mg_agent_body(mg_job_t *job, mg_validate_mode_t mode, mg_agent_lists_t *l, int *sent)
{
    json_t       *raw, *v, *st;
    json_error_t  jerr;
    mg_verr_t     err;
    char         *rest;

    memset(l, 0, sizeof(*l));
    raw = json_loadb(job->body, job->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(raw)) {
        json_decref(raw);
        /* the validator words every kind of unreadable body (it fails on
         * all of them: bad JSON, not an object) */
        v = mg_validate_body(job->body, job->body_len, mg_agent_fields,
                             sizeof(mg_agent_fields) / sizeof(mg_agent_fields[0]), mode, &err);
        if (v != NULL) {
            json_decref(v);
            mg_verr_set(&err, 400, "invalid_json", "the body must be a JSON object");
        }
        *sent = mg_job_reply_verr(job, &err);
        return NULL;
    }
    if (mg_agent_take_lists(job, raw, l, sent) != 0) {
        json_decref(raw);
        return NULL;
    }
    rest = json_dumps(raw, JSON_COMPACT);
    json_decref(raw);
    if (rest == NULL) {
        *sent = mg_job_reply_error(job, 500, "internal", "internal error");
        return NULL;
    }
    v = mg_validate_body(rest, strlen(rest), mg_agent_fields,
                         sizeof(mg_agent_fields) / sizeof(mg_agent_fields[0]), mode, &err);
    free(rest);
    if (v == NULL) {
        *sent = mg_job_reply_verr(job, &err);
        return NULL;
    }
    st = json_object_get(v, "status");
    if (st != NULL && strcmp(json_string_value(st), "draft") != 0
        && strcmp(json_string_value(st), "published") != 0
        && strcmp(json_string_value(st), "retired") != 0)
    {
        json_decref(v);
        *sent = mg_agent_invalid(job, "status must be draft, published or retired");
        return NULL;
    }
    return v;
}

/* The text of field name in v, numbers as the database reads them; NULL
 * when absent.  buf holds a number's text. */
static const char *
mg_agent_value(json_t *v, const char *name, char *buf, size_t cap)
{
    json_t *f = json_object_get(v, name);

    if (f == NULL) {
        return NULL;
    }
    if (json_is_string(f)) {
        return json_string_value(f);
    }
    if (json_is_integer(f)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(f));
    } else {
        snprintf(buf, cap, "%.17g", json_number_value(f));
    }
    return buf;
}

/* Answer a save's row (cols from first): 400 for a failed check, 409 for
 * a taken name, else status with the agent. */
static int
mg_agent_save_reply(mg_job_t *job, mg_db_rc_t rc, PGresult *res, int first, int status,
                    const char *what)
{
    const char *c;

    if (rc != MG_DB_OK) {
        c = res ? mg_db_constraint(res) : NULL;
        if (c != NULL && strcmp(c, MG_AGENTS_NAME_KEY) == 0) {
            return mg_job_reply_error(job, 409, "agent_name_taken", "an agent has this name already");
        }
        if (c != NULL && strcmp(c, MG_AGENTS_SUB_FK) == 0) {
            return mg_agent_invalid(job, "a sub-agent does not exist");
        }
        return mg_job_reply_db_error(job, rc, res, what);
    }
    if (*PQgetvalue(res, 0, first + MG_AGENT_SAVE_COL_SUBS_OK) != 't') {
        return mg_agent_invalid(job, "every sub-agent must be an existing agent that is not retired");
    }
    if (*PQgetvalue(res, 0, first + MG_AGENT_SAVE_COL_ACYCLIC) != 't') {
        return mg_agent_invalid(job, "these sub-agents would make a cycle: an agent cannot hand "
                                     "work back to itself");
    }
    if (*PQgetvalue(res, 0, first + MG_AGENT_SAVE_COL_SHALLOW) != 't') {
        return mg_agent_invalid(job, "sub-agents may be nested at most " MG_AGENT_DEPTH_TEXT
                                     " deep");
    }
    if (PQgetisnull(res, 0, first + MG_AGENT_SAVE_COL_JSON)) {
        return mg_agent_not_found(job);
    }
    return mg_job_reply_raw(job, status, PQgetvalue(res, 0, first + MG_AGENT_SAVE_COL_JSON),
                            (size_t) PQgetlength(res, 0, first + MG_AGENT_SAVE_COL_JSON), NULL);
}

/* The fields a save writes, in the statements' order; NULL: tools. */
static const char *const mg_agent_save_names[] = {
    "name", "category", "description", "model_id", "instructions", "temperature",
    "max_tokens", NULL, "max_steps", "timeout_seconds", "tool_timeout_seconds", "status"
};
#define MG_AGENT_SAVE_NAMES (sizeof(mg_agent_save_names) / sizeof(mg_agent_save_names[0]))

int
mg_job_admin_agents_create(mg_job_t *job)
{
    mg_agent_lists_t  l;
    json_t           *v;
    const char       *values[4 + MG_AGENT_SAVE_NAMES];
    char              id[MG_UUID_LEN + 1], nums[MG_AGENT_SAVE_NAMES][32];
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    int               sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    v = mg_agent_body(job, MG_VALIDATE_CREATE, &l, &sent);
    if (v == NULL) {
        mg_agent_lists_free(&l);
        return sent;
    }
    if (mg_uuid_v4(id) != 0) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    values[0] = id;
    values[1] = l.subs_given ? l.subs : "{}";
    values[2] = MG_AGENT_DEPTH_TEXT;
    values[3] = job->user_id;
    for (size_t i = 0; i < MG_AGENT_SAVE_NAMES; i++) {
        values[4 + i] = mg_agent_save_names[i]
                        ? mg_agent_value(v, mg_agent_save_names[i], nums[i], sizeof(nums[i]))
                        : (l.tools_given ? l.tools : "{}");
    }
    rc = mg_db_exec(job->db, MG_Q_AGENT_INSERT, values, &res);
    sent = mg_agent_save_reply(job, rc, res, 0, 201, "admin.agents.create");

done:
    PQclear(res);
    json_decref(v);
    mg_agent_lists_free(&l);
    return sent;
}

int
mg_job_admin_agents_update(mg_job_t *job)
{
    mg_agent_lists_t  l;
    json_t           *v;
    const char       *id, *values[3 + MG_AGENT_SAVE_NAMES];
    char              nums[MG_AGENT_SAVE_NAMES][32];
    size_t            len;
    PGresult         *res = NULL;
    mg_db_rc_t        rc;
    int               sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    id = mg_job_param(job, "id", &len);
    if (id == NULL || !mg_uuid_valid(id, len)) {
        return mg_agent_not_found(job);
    }
    v = mg_agent_body(job, MG_VALIDATE_PATCH, &l, &sent);
    if (v == NULL) {
        mg_agent_lists_free(&l);
        return sent;
    }
    values[0] = id;
    values[1] = l.subs_given ? l.subs : NULL;
    values[2] = MG_AGENT_DEPTH_TEXT;
    for (size_t i = 0; i < MG_AGENT_SAVE_NAMES; i++) {
        values[3 + i] = mg_agent_save_names[i]
                        ? mg_agent_value(v, mg_agent_save_names[i], nums[i], sizeof(nums[i]))
                        : (l.tools_given ? l.tools : NULL);
    }
    rc = mg_db_exec(job->db, MG_Q_AGENT_UPDATE, values, &res);
    if (rc == MG_DB_OK && *PQgetvalue(res, 0, 0) != 't') {
        sent = mg_agent_not_found(job);
    } else {
        sent = mg_agent_save_reply(job, rc, res, 1, 200, "admin.agents.update");
    }
    PQclear(res);
    json_decref(v);
    mg_agent_lists_free(&l);
    return sent;
}
