/*
 * mcp_servers: owns /api/v1/admin/mcp-servers..., the administrators'
 * registration of MCP servers (sql/008_mcp.sql): list, create, read,
 * change, delete, and refresh (list the server's tools now, on this pool
 * thread, with a time limit, and store them).  A server's headers and
 * environment may hold secrets: they are written, never shown back (only
 * their names).  Which of its tools agents may be given is allowed_tools.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/registry.h"
#include "util/log.h"
#include "util/uuid.h"

#define MG_MCP_NAME_KEY         "mcp_servers_name_key"
#define MG_MCP_HEADERS_MAX      32
#define MG_MCP_HEADER_VALUE_MAX 4096
#define MG_MCP_COMMAND_MAX      32
#define MG_MCP_ARG_MAX          1024
#define MG_MCP_ENV_MAX          64
#define MG_MCP_ALLOWED_MAX      256
#define MG_MCP_URL_MAX          2048
#define MG_MCP_DESCRIPTION_MAX  2000

/* What a body may hold, and the statement's text values built from it. */
typedef struct {
    const char  *name, *description, *transport, *url;
    char        *headers, *command, *env, *allowed;     /* owned */
    const char  *enabled;
} mg_mcp_fields_t;

static void
mg_mcp_fields_free(mg_mcp_fields_t *f)
{
    free(f->headers);
    free(f->command);
    free(f->env);
    free(f->allowed);
}

/* The fields in the order both statements take them (insert's $1..$9,
 * update's $2..$10). */
static void
mg_mcp_values(const mg_mcp_fields_t *f, const char **values)
{
    values[0] = f->name;
    values[1] = f->description;
    values[2] = f->transport;
    values[3] = f->url;
    values[4] = f->headers;
    values[5] = f->command;
    values[6] = f->env;
    values[7] = f->allowed;
    values[8] = f->enabled;
}

static int
mg_mcp_bad(mg_job_t *job, const char *message)
{
    return mg_job_reply_error(job, 400, "invalid_field", message);
}

static int
mg_mcp_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "mcp_server_not_found", "MCP server not found");
}

static int
mg_mcp_token(const char *s, int (*ok)(char c), size_t min, size_t max)
{
    size_t len = strlen(s);

    if (len < min || len > max) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!ok(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int mg_mcp_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }
static int mg_mcp_header_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }
static int mg_mcp_env_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
static int mg_mcp_tool_char(char c) { return mg_mcp_header_char(c) || c == '_'; }

/* Text a header value or an argument may hold: no control characters. */
static int
mg_mcp_plain(const char *s, size_t max)
{
    size_t len = strlen(s);

    if (len > max) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }
    return mg_admin_text_valid(s, len);
}

/* An object of strings as jsonb text: NULL when absent, else *out. */
static int
mg_mcp_object(mg_job_t *job, json_t *v, const char *key, size_t max, int (*keyok)(char),
              size_t value_max, char **out, int *sent)
{
    json_t      *o = json_object_get(v, key), *x;
    const char  *k;
    char         m[160];

    *out = NULL;
    if (o == NULL || json_is_null(o)) {
        return 0;
    }
    if (!json_is_object(o) || json_object_size(o) > max) {
        snprintf(m, sizeof(m), "%s must be an object of at most %zu names and text values", key, max);
        *sent = mg_mcp_bad(job, m);
        return -1;
    }
    json_object_foreach(o, k, x) {
        if (!mg_mcp_token(k, keyok, 1, 128) || !json_is_string(x)
            || !mg_mcp_plain(json_string_value(x), value_max))
        {
            snprintf(m, sizeof(m), "%s: \"%.64s\" needs a plain name and a text value of at most "
                     "%zu bytes", key, k, value_max);
            *sent = mg_mcp_bad(job, m);
            return -1;
        }
    }
    *out = json_dumps(o, JSON_COMPACT);
    return *out != NULL ? 0 : -1;
}

/* An array of strings as a text[] literal: NULL when absent, else *out. */
static int
mg_mcp_array(mg_job_t *job, json_t *v, const char *key, size_t min, size_t max,
             int (*ok)(const char *), const char *bad, char **out, int *sent)
{
    json_t  *a = json_object_get(v, key), *x;
    size_t   i, cap = 3;
    char    *lit, *p;

    *out = NULL;
    if (a == NULL || json_is_null(a)) {
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) < min || json_array_size(a) > max) {
        *sent = mg_mcp_bad(job, bad);
        return -1;
    }
    json_array_foreach(a, i, x) {
        if (!json_is_string(x) || !ok(json_string_value(x))) {
            *sent = mg_mcp_bad(job, bad);
            return -1;
        }
        cap += 2 * json_string_length(x) + 3;
    }
    lit = p = malloc(cap);
    if (lit == NULL) {
        *sent = mg_job_reply_error(job, 500, "internal", "internal error");
        return -1;
    }
    *p++ = '{';
    json_array_foreach(a, i, x) {
        const char *s = json_string_value(x);

        if (i > 0) {
            *p++ = ',';
        }
        *p++ = '"';
        for (; *s != '\0'; s++) {
            if (*s == '"' || *s == '\\') {
                *p++ = '\\';
            }
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    *out = lit;
    return 0;
}

static int mg_mcp_arg_ok(const char *s) { return *s != '\0' && mg_mcp_plain(s, MG_MCP_ARG_MAX); }
static int mg_mcp_allowed_ok(const char *s) { return mg_mcp_token(s, mg_mcp_tool_char, 1, 64); }

/* Read and check a body; create: name and transport required, and what
 * the transport needs.  0, or -1 after a reply. */
static int
mg_mcp_read(mg_job_t *job, json_t *v, int create, mg_mcp_fields_t *f, int *sent)
{
    static const char *const known[] = { "name", "description", "transport", "url", "headers",
                                         "command", "env", "allowed_tools", "enabled" };
    const char  *k;
    json_t      *x;
    char         m[160];

    memset(f, 0, sizeof(*f));
    if (!json_is_object(v)) {
        *sent = mg_job_reply_error(job, 400, "invalid_json", "the body must be a JSON object");
        return -1;
    }
    json_object_foreach(v, k, x) {
        size_t i;

        for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(k, known[i]) != 0; i++) {
        }
        if (i == sizeof(known) / sizeof(known[0])) {
            snprintf(m, sizeof(m), "unknown field \"%.64s\"", k);
            *sent = mg_mcp_bad(job, m);
            return -1;
        }
    }
#define MG_MCP_STR(key, field, check, message)                                  \
    x = json_object_get(v, key);                                                \
    if (x != NULL && !json_is_null(x)) {                                        \
        if (!json_is_string(x) || !(check)) {                                   \
            *sent = mg_mcp_bad(job, message);                                   \
            return -1;                                                          \
        }                                                                       \
        f->field = json_string_value(x);                                        \
    }
    MG_MCP_STR("name", name, mg_mcp_token(json_string_value(x), mg_mcp_name_char, 1, 32)
                             && json_string_value(x)[0] != '-' && json_string_value(x)[0] != '_',
               "name must be 1-32 lowercase letters, digits, '-' or '_', starting with a letter "
               "or digit (its tools are offered as <name>__<tool>)")
    MG_MCP_STR("description", description,
               mg_admin_text_valid(json_string_value(x), json_string_length(x))
               && json_string_length(x) <= MG_MCP_DESCRIPTION_MAX,
               "description must be text of at most 2000 bytes")
    MG_MCP_STR("transport", transport, strcmp(json_string_value(x), "http") == 0
                                       || strcmp(json_string_value(x), "stdio") == 0,
               "transport must be \"http\" (Streamable HTTP) or \"stdio\" (a command)")
    MG_MCP_STR("url", url, (strncmp(json_string_value(x), "http://", 7) == 0
                            || strncmp(json_string_value(x), "https://", 8) == 0)
                           && json_string_length(x) <= MG_MCP_URL_MAX
                           && mg_mcp_plain(json_string_value(x), MG_MCP_URL_MAX),
               "url must be an http:// or https:// URL of at most 2048 characters")
#undef MG_MCP_STR
    x = json_object_get(v, "enabled");
    if (x != NULL && !json_is_null(x)) {
        if (!json_is_boolean(x)) {
            *sent = mg_mcp_bad(job, "enabled must be true or false");
            return -1;
        }
        f->enabled = json_is_true(x) ? "true" : "false";
    }
    if (mg_mcp_object(job, v, "headers", MG_MCP_HEADERS_MAX, mg_mcp_header_char,
                      MG_MCP_HEADER_VALUE_MAX, &f->headers, sent) != 0
        || mg_mcp_object(job, v, "env", MG_MCP_ENV_MAX, mg_mcp_env_char, MG_MCP_ARG_MAX,
                         &f->env, sent) != 0
        || mg_mcp_array(job, v, "command", 1, MG_MCP_COMMAND_MAX, mg_mcp_arg_ok,
                        "command must be an array of 1-32 arguments, the program first",
                        &f->command, sent) != 0
        || mg_mcp_array(job, v, "allowed_tools", 0, MG_MCP_ALLOWED_MAX, mg_mcp_allowed_ok,
                        "allowed_tools must be an array of at most 256 tool names "
                        "(letters, digits, '_' and '-')", &f->allowed, sent) != 0)
    {
        return -1;
    }
    if (create && (f->name == NULL || f->transport == NULL)) {
        *sent = mg_mcp_bad(job, "name and transport are required");
        return -1;
    }
    if (f->transport != NULL) {
        int http = strcmp(f->transport, "http") == 0;

        if ((http && (f->url == NULL || f->command != NULL))
            || (!http && (f->command == NULL || f->url != NULL)))
        {
            *sent = mg_mcp_bad(job, http ? "an http server needs url and no command"
                                         : "a stdio server needs command and no url");
            return -1;
        }
    } else if (f->url != NULL || f->command != NULL) {
        *sent = mg_mcp_bad(job, "url or command is changed with its transport");
        return -1;
    }
    return 0;
}

static int
mg_mcp_reply_row(mg_job_t *job, mg_db_rc_t rc, PGresult *res, int status, const char *what)
{
    if (rc != MG_DB_OK) {
        if (rc == MG_DB_FAILED && strcmp(mg_db_constraint(res), MG_MCP_NAME_KEY) == 0) {
            return mg_job_reply_error(job, 409, "mcp_server_name_taken",
                                      "an MCP server with this name exists");
        }
        return mg_job_reply_db_error(job, rc, res, what);
    }
    if (PQntuples(res) == 0) {
        return mg_mcp_not_found(job);
    }
    return mg_job_reply_raw(job, status, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0),
                            NULL);
}

/* The {id} of the path, or NULL after a 404. */
static const char *
mg_mcp_id(mg_job_t *job, int *sent)
{
    size_t       len;
    const char  *id = mg_job_param(job, "id", &len);

    if (id == NULL || !mg_uuid_valid(id, len)) {
        *sent = mg_mcp_not_found(job);
        return NULL;
    }
    return id;
}

int
mg_job_admin_mcp_list(mg_job_t *job)
{
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    json_t       *items, *out;
    int           sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    rc = mg_db_exec(job->db, MG_Q_MCP_LIST, NULL, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.mcp.list");
        PQclear(res);
        return sent;
    }
    items = json_array();
    for (int i = 0; items != NULL && i < PQntuples(res); i++) {
        json_array_append_new(items, json_loads(PQgetvalue(res, i, 0), 0, NULL));
    }
    out = items ? json_pack("{s:o}", "items", items) : NULL;
    sent = out ? mg_job_reply_json(job, 200, out, NULL)
               : mg_job_reply_error(job, 500, "internal", "internal error");
    json_decref(out);
    PQclear(res);
    return sent;
}

int
mg_job_admin_mcp_create(mg_job_t *job)
{
    json_t          *v;
    mg_mcp_fields_t  f;
    const char      *values[9];
    PGresult        *res = NULL;
    mg_db_rc_t       rc;
    int              sent = 0;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    v = json_loadb(job->body, job->body_len, 0, NULL);
    if (mg_mcp_read(job, v, 1, &f, &sent) != 0) {
        goto done;
    }
    mg_mcp_values(&f, values);
    rc = mg_db_exec(job->db, MG_Q_MCP_INSERT, values, &res);
    sent = mg_mcp_reply_row(job, rc, res, 201, "admin.mcp.create");
    if (rc == MG_DB_OK) {
        mg_log_info("mcp server %s (%s) registered by %.64s", f.name, f.transport, job->user_id);
    }
done:
    mg_mcp_fields_free(&f);
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_admin_mcp_get(mg_job_t *job)
{
    const char  *values[1];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent = 0;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    if ((values[0] = mg_mcp_id(job, &sent)) == NULL) {
        return sent;
    }
    rc = mg_db_exec(job->db, MG_Q_MCP_GET, values, &res);
    sent = mg_mcp_reply_row(job, rc, res, 200, "admin.mcp.get");
    PQclear(res);
    return sent;
}

int
mg_job_admin_mcp_update(mg_job_t *job)
{
    json_t          *v;
    mg_mcp_fields_t  f;
    const char      *values[11];
    PGresult        *res = NULL;
    mg_db_rc_t       rc;
    int              sent = 0;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    v = json_loadb(job->body, job->body_len, 0, NULL);
    memset(&f, 0, sizeof(f));
    if ((values[0] = mg_mcp_id(job, &sent)) == NULL || mg_mcp_read(job, v, 0, &f, &sent) != 0) {
        goto done;
    }
    mg_mcp_values(&f, values + 1);
    values[10] = f.transport != NULL ? "true" : "false";
    rc = mg_db_exec(job->db, MG_Q_MCP_UPDATE, values, &res);
    sent = mg_mcp_reply_row(job, rc, res, 200, "admin.mcp.update");
done:
    mg_mcp_fields_free(&f);
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_admin_mcp_delete(mg_job_t *job)
{
    const char  *values[1];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent = 0;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    if ((values[0] = mg_mcp_id(job, &sent)) == NULL) {
        return sent;
    }
    rc = mg_db_exec(job->db, MG_Q_MCP_DELETE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.mcp.delete");
    } else if (PQntuples(res) == 0) {
        sent = mg_mcp_not_found(job);
    } else {
        sent = mg_job_reply_empty(job, 204);
    }
    PQclear(res);
    return sent;
}

int
mg_job_admin_mcp_refresh(mg_job_t *job)
{
    const char  *id;
    char        *server = NULL, err[512] = "";
    int          sent = 0;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    if ((id = mg_mcp_id(job, &sent)) == NULL) {
        return sent;
    }
    if (mg_mcp_refresh(job->db, id, &server, err, sizeof(err)) != 0) {
        if (strcmp(err, "the MCP server is no longer registered") == 0) {
            return mg_mcp_not_found(job);
        }
        return mg_job_reply_error(job, 502, "mcp_unavailable", err);
    }
    sent = mg_job_reply_raw(job, 200, server, strlen(server), NULL);
    free(server);
    return sent;
}
