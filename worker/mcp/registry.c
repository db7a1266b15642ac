/*
 * mg_mcp_registry: owns the process's MCP clients (registry.h).
 */
#include "mcp/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct mg_mcp_entry_s {
    char              id[37];
    char              updated_us[24];   /* the row this client was made from */
    mg_mcp_client_t  *client;
    int               refs;
    int               stale;            /* replaced: closed by its last user */
    unsigned          seen_generation;  /* tools/list_changed already handled */
    mg_mcp_entry_t   *next;
};

static pthread_mutex_t  mg_mcp_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_mcp_entry_t  *mg_mcp_entries;

static void
mg_mcp_entry_free(mg_mcp_entry_t *e)
{
    if (e != NULL) {
        mg_mcp_client_free(e->client);
        free(e);
    }
}

/* A client from the row of MG_Q_MCP_CONFIG. */
static mg_mcp_client_t *
mg_mcp_client_from_row(const PGresult *r, char *err, size_t errlen)
{
    mg_mcp_config_t   cfg;
    mg_mcp_client_t  *c;

    memset(&cfg, 0, sizeof(cfg));
    cfg.name = PQgetvalue(r, 0, 0);
    cfg.transport = strcmp(PQgetvalue(r, 0, 1), "http") == 0 ? MG_MCP_HTTP : MG_MCP_STDIO;
    cfg.url = PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2);
    cfg.headers = json_loads(PQgetvalue(r, 0, 3), 0, NULL);
    cfg.command = PQgetisnull(r, 0, 4) ? NULL : json_loads(PQgetvalue(r, 0, 4), 0, NULL);
    cfg.env = json_loads(PQgetvalue(r, 0, 5), 0, NULL);
    cfg.max_result = MG_MCP_RESULT_MAX;
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.headers);
    json_decref(cfg.command);
    json_decref(cfg.env);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
    }
    return c;
}

mg_mcp_client_t *
mg_mcp_acquire(mg_db_t *db, const char *server_id, mg_mcp_entry_t **entry, char *err,
               size_t errlen)
{
    const char      *values[1] = { server_id };
    PGresult        *r = NULL;
    mg_mcp_entry_t  *e, *old = NULL, *dup = NULL;
    mg_mcp_client_t *c = NULL;

    *entry = NULL;
    if (mg_db_exec(db, MG_Q_MCP_CONFIG, values, &r) != MG_DB_OK) {
        snprintf(err, errlen, "the MCP server's settings cannot be read right now");
        goto done;
    }
    if (PQntuples(r) == 0) {
        snprintf(err, errlen, "the MCP server is no longer registered");
        goto done;
    }
    if (*PQgetvalue(r, 0, 6) != 't') {
        snprintf(err, errlen, "the MCP server %s is disabled", PQgetvalue(r, 0, 0));
        goto done;
    }
    pthread_mutex_lock(&mg_mcp_lock);
    for (mg_mcp_entry_t **pp = &mg_mcp_entries; *pp != NULL; pp = &(*pp)->next) {
        e = *pp;
        if (strcmp(e->id, server_id) != 0) {
            continue;
        }
        if (strcmp(e->updated_us, PQgetvalue(r, 0, 7)) == 0) {
            e->refs++;
            *entry = e;
            c = e->client;
            pthread_mutex_unlock(&mg_mcp_lock);
            goto done;
        }
        /* the row changed: this client goes once nobody uses it */
        *pp = e->next;
        e->stale = 1;
        if (e->refs == 0) {
            old = e;
        }
        break;
    }
    pthread_mutex_unlock(&mg_mcp_lock);
    mg_mcp_entry_free(old);

    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->client = mg_mcp_client_from_row(r, err, errlen)) == NULL) {
        free(e);
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    snprintf(e->id, sizeof(e->id), "%s", server_id);
    snprintf(e->updated_us, sizeof(e->updated_us), "%s", PQgetvalue(r, 0, 7));
    e->refs = 1;
    pthread_mutex_lock(&mg_mcp_lock);
    for (mg_mcp_entry_t *twin = mg_mcp_entries; twin != NULL; twin = twin->next) {
        if (strcmp(twin->id, e->id) == 0 && strcmp(twin->updated_us, e->updated_us) == 0) {
            /* another thread made the same client meanwhile: one is enough */
            twin->refs++;
            dup = e;
            e = twin;
            break;
        }
    }
    if (dup == NULL) {
        e->next = mg_mcp_entries;
        mg_mcp_entries = e;
    }
    pthread_mutex_unlock(&mg_mcp_lock);
    mg_mcp_entry_free(dup);
    *entry = e;
    c = e->client;
done:
    PQclear(r);
    return c;
}

void
mg_mcp_release(mg_mcp_entry_t *entry)
{
    int last;

    if (entry == NULL) {
        return;
    }
    pthread_mutex_lock(&mg_mcp_lock);
    last = --entry->refs == 0 && entry->stale;
    pthread_mutex_unlock(&mg_mcp_lock);
    if (last) {
        mg_mcp_entry_free(entry);
    }
}

/* tools/list and store; the entry's generation as seen before listing. */
static int
mg_mcp_list_store(mg_db_t *db, const char *server_id, mg_mcp_client_t *c, char **server_json,
                  char *err, size_t errlen)
{
    json_t      *tools = NULL;
    char        *text;
    const char  *values[2];
    PGresult    *r = NULL;
    int          rc = -1;

    if (mg_mcp_list_tools(c, MG_MCP_LIST_TIMEOUT_MS, &tools, err, errlen) != 0) {
        values[0] = server_id;
        values[1] = err;
        if (mg_db_exec(db, MG_Q_MCP_FAILED, values, &r) != MG_DB_OK) {
            mg_log_warn("mcp %s: cannot record the failure: %s", server_id, err);
        }
        PQclear(r);
        return -1;
    }
    text = json_dumps(tools, JSON_COMPACT);
    json_decref(tools);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    values[0] = server_id;
    values[1] = text;
    if (mg_db_exec(db, MG_Q_MCP_TOOLS_SET, values, &r) != MG_DB_OK || PQntuples(r) == 0) {
        snprintf(err, errlen, "the tools could not be stored");
    } else {
        rc = 0;
        if (server_json != NULL) {
            *server_json = strdup(PQgetvalue(r, 0, 0));
            rc = *server_json != NULL ? 0 : -1;
        }
    }
    PQclear(r);
    free(text);
    return rc;
}

int
mg_mcp_refresh(mg_db_t *db, const char *server_id, char **server_json, char *err, size_t errlen)
{
    mg_mcp_entry_t   *e;
    mg_mcp_client_t  *c = mg_mcp_acquire(db, server_id, &e, err, errlen);
    unsigned          gen;
    int               rc;

    *server_json = NULL;
    if (c == NULL) {
        return -1;
    }
    gen = mg_mcp_tools_generation(c);
    rc = mg_mcp_list_store(db, server_id, c, server_json, err, errlen);
    if (rc == 0) {
        pthread_mutex_lock(&mg_mcp_lock);
        e->seen_generation = gen;
        pthread_mutex_unlock(&mg_mcp_lock);
    }
    mg_mcp_release(e);
    return rc;
}

void
mg_mcp_refresh_if_changed(mg_db_t *db, const char *server_id, mg_mcp_entry_t *entry)
{
    unsigned  gen = mg_mcp_tools_generation(entry->client);
    int       changed;
    char      err[256];

    pthread_mutex_lock(&mg_mcp_lock);
    changed = gen != entry->seen_generation;
    entry->seen_generation = gen;
    pthread_mutex_unlock(&mg_mcp_lock);
    if (changed && mg_mcp_list_store(db, server_id, entry->client, NULL, err, sizeof(err)) != 0) {
        mg_log_warn("mcp %s: its tool list changed and cannot be listed again: %s",
                    server_id, err);
    } else if (changed) {
        mg_log_info("mcp %s: its tool list changed; listed again", server_id);
    }
}

static void *
mg_mcp_close_entries(void *arg)
{
    mg_mcp_entry_t *e = arg;

    while (e != NULL) {
        mg_mcp_entry_t *next = e->next;

        mg_mcp_entry_free(e);
        e = next;
    }
    return NULL;
}

void
mg_mcp_forget(const char *server_id)
{
    mg_mcp_entry_t  *closing = NULL, *e;
    pthread_attr_t   attr;
    pthread_t        tid;
    int              started = 0;

    pthread_mutex_lock(&mg_mcp_lock);
    for (mg_mcp_entry_t **pp = &mg_mcp_entries; *pp != NULL; ) {
        e = *pp;
        if (server_id != NULL && strcmp(e->id, server_id) != 0) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        e->stale = 1;                   /* in use: its last user closes it */
        if (e->refs == 0) {
            e->next = closing;
            closing = e;
        }
    }
    pthread_mutex_unlock(&mg_mcp_lock);
    if (closing == NULL) {
        return;
    }
    mg_log_info("mcp %s: changed; its client is closed", server_id ? server_id : "every server");
    if (pthread_attr_init(&attr) == 0) {
        started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0
                  && pthread_create(&tid, &attr, mg_mcp_close_entries, closing) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        mg_mcp_close_entries(closing);  /* slower for the caller, still right */
    }
}

void
mg_mcp_registry_clear(void)
{
    mg_mcp_entry_t *e;

    pthread_mutex_lock(&mg_mcp_lock);
    e = mg_mcp_entries;
    mg_mcp_entries = NULL;
    pthread_mutex_unlock(&mg_mcp_lock);
    while (e != NULL) {
        mg_mcp_entry_t *next = e->next;

        mg_mcp_entry_free(e);
        e = next;
    }
}

static int
mg_mcp_name_char(char c, int dash_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (dash_ok && c == '-');
}

int
mg_mcp_ref_valid(const char *ref, size_t len)
{
    const char  *slash;
    size_t       slen, tlen;

    if (len < 7 || memcmp(ref, "mcp:", 4) != 0) {
        return 0;
    }
    ref += 4;
    len -= 4;
    slash = memchr(ref, '/', len);
    if (slash == NULL) {
        return 0;
    }
    slen = (size_t) (slash - ref);
    tlen = len - slen - 1;
    if (slen < 1 || slen > 32 || ref[0] == '-' || ref[0] == '_' || tlen < 1 || tlen > 64
        || slen + 2 + tlen > 64)
    {
        return 0;
    }
    for (size_t i = 0; i < slen; i++) {
        if (!mg_mcp_name_char(ref[i], 1)) {
            return 0;
        }
    }
    for (size_t i = 0; i < tlen; i++) {
        char c = slash[1 + i];

        if (!(mg_mcp_name_char(c, 1) || (c >= 'A' && c <= 'Z'))) {
            return 0;
        }
    }
    return 1;
}
