/*
 * builtin: owns the bodies of the built-in tools (tools.h).  Each turns its
 * JSON input into text for the model, or a reason it could not.  They run
 * on tool threads and may block: knowledge_search on the thread's own
 * database connection, http_fetch on the network (through the same
 * address guard and limits as knowledge-base URLs, knowledge/fetch.c).
 */
#include "agents/tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/calculator.h"
#include "agents/zone.h"
#include "knowledge/extract.h"
#include "knowledge/fetch.h"
#include "knowledge/search.h"
#include "util/utf8.h"

#define MG_TOOL_SEARCH_TOP_K   5
#define MG_TOOL_SEARCH_KBS     10       /* mg_search's limit */
#define MG_TOOL_PASSAGE_MAX    1500     /* bytes of one passage the model is given */

/* input[key] as a string, or NULL with the reason in err. */
static const char *
mg_tool_string(json_t *input, const char *key, int required, char *err, size_t errlen)
{
    json_t *v = json_object_get(input, key);

    if (v == NULL && !required) {
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" must be %s string", key, required ? "given as a" : "a");
        return NULL;
    }
    return json_string_value(v);
}

int
mg_tool_calculator(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                   char *err, size_t errlen)
{
    const char  *expr = mg_tool_string(input, "expression", 1, err, errlen);
    double       x;
    char         buf[MG_CALC_RESULT_MAX];

    if (expr == NULL) {
        return -1;
    }
    if (mg_calc_eval(expr, strlen(expr), &x, err, errlen) != 0) {
        return -1;
    }
    mg_calc_format(x, buf);
    mg_sb_adds(out, buf);
    return 0;
}

int
mg_tool_current_time(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                     char *err, size_t errlen)
{
    const char       *zone = mg_tool_string(input, "timezone", 0, err, errlen);
    time_t            now = time(NULL), local;
    mg_zone_local_t   z;
    struct tm         tm;
    char              buf[160], stamp[64];
    long              off;

    if (zone == NULL && json_object_get(input, "timezone") != NULL) {
        return -1;
    }
    if (zone == NULL || *zone == '\0') {
        zone = "UTC";
    }
    if (strcmp(zone, "UTC") == 0) {
        /* needs no zone file */
        memset(&z, 0, sizeof(z));
        memcpy(z.abbrev, "UTC", 4);
    } else if (mg_zone_at(zone, now, &z, err, errlen) != 0) {
        return -1;
    }
    local = now + z.utc_offset;
    if (gmtime_r(&local, &tm) == NULL) {
        snprintf(err, errlen, "the date is out of range");
        return -1;
    }
    off = z.utc_offset < 0 ? -z.utc_offset : z.utc_offset;
    strftime(stamp, sizeof(stamp), "%A %d %B %Y, %H:%M:%S", &tm);
    snprintf(buf, sizeof(buf), "%s %s (%s, UTC%c%02ld:%02ld%s)", stamp, z.abbrev, zone,
             z.utc_offset < 0 ? '-' : '+', off / 3600, off % 3600 / 60,
             z.is_dst ? ", daylight saving time" : "");
    mg_sb_adds(out, buf);
    return 0;
}

/* The caller's knowledge bases that one search can cover: those sharing
 * the embedding model of the one most recently changed (a query vector
 * fits one model), newest first. */
static int
mg_tool_kb_ids(mg_db_t *db, const char *user_id, PGresult **res, char *err, size_t errlen)
{
    const char *values[1] = { user_id };

    if (mg_db_exec(db, MG_Q_TOOL_KB_IDS, values, res) != MG_DB_OK) {
        snprintf(err, errlen, "the knowledge bases cannot be read right now");
        return -1;
    }
    return 0;
}

int
mg_tool_knowledge_search(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                         char *err, size_t errlen)
{
    const char  *query = mg_tool_string(input, "query", 1, err, errlen);
    const char  *ids[MG_TOOL_SEARCH_KBS], *code = NULL;
    json_t      *k = json_object_get(input, "top_k");
    PGresult    *kbs = NULL;
    mg_hit_t    *hits = NULL;
    size_t       n = 0;
    int          top_k = MG_TOOL_SEARCH_TOP_K, rows, status = 0, rc = -1;
    char         line[128];

    if (query == NULL) {
        return -1;
    }
    if (k != NULL) {
        if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 10) {
            snprintf(err, errlen, "\"top_k\" must be a whole number from 1 to 10");
            return -1;
        }
        top_k = (int) json_integer_value(k);
    }
    if (mg_tool_kb_ids(ctx->db, ctx->user_id, &kbs, err, errlen) != 0) {
        goto done;
    }
    rows = PQntuples(kbs);
    if (rows == 0) {
        mg_sb_adds(out, "The user has no knowledge bases: there is nothing to search.");
        rc = 0;
        goto done;
    }
    for (int i = 0; i < rows && i < MG_TOOL_SEARCH_KBS; i++) {
        ids[i] = PQgetvalue(kbs, i, 0);
    }
    if (mg_search(ctx->db, ctx->user_id, ids, (size_t) (rows < MG_TOOL_SEARCH_KBS ? rows
                                                                 : MG_TOOL_SEARCH_KBS),
                  query, top_k, 0.0, &hits, &n, &status, NULL, &code, err, errlen) != 0)
    {
        goto done;
    }
    if (n == 0) {
        mg_sb_adds(out, "Nothing in the user's knowledge bases matches that query.");
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(hits[i].text);

        snprintf(line, sizeof(line), "%s[%zu] ", i ? "\n\n" : "", i + 1);
        mg_sb_adds(out, line);
        mg_sb_adds(out, hits[i].document);
        if (hits[i].page > 0) {
            snprintf(line, sizeof(line), ", page %d", hits[i].page);
            mg_sb_adds(out, line);
        }
        if (hits[i].heading != NULL && hits[i].heading[0] != '\0') {
            mg_sb_adds(out, " — ");
            mg_sb_adds(out, hits[i].heading);
        }
        mg_sb_adds(out, "\n");
        mg_sb_add(out, hits[i].text, mg_utf8_cut(hits[i].text, len, MG_TOOL_PASSAGE_MAX));
        if (len > MG_TOOL_PASSAGE_MAX) {
            mg_sb_adds(out, "…");
        }
    }
    rc = 0;
done:
    mg_hits_free(hits, n);
    PQclear(kbs);
    return rc;
}

int
mg_tool_http_fetch(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                   char *err, size_t errlen)
{
    const char  *url = mg_tool_string(input, "url", 1, err, errlen);
    char        *body = NULL, ctype[128];
    size_t       len = 0;
    mg_doc_t     doc;
    int          rc;

    if (url == NULL) {
        return -1;
    }
    if (strlen(url) > MG_FETCH_URL_MAX) {
        snprintf(err, errlen, "the URL is longer than %d bytes", MG_FETCH_URL_MAX);
        return -1;
    }
    if (mg_fetch_url(url, &body, &len, ctype, sizeof(ctype), err, errlen) != 0) {
        return -1;
    }
    memset(&doc, 0, sizeof(doc));
    rc = mg_extract(ctype, body, len, &doc, err, errlen);
    free(body);
    if (rc != 0) {
        return -1;
    }
    mg_sb_add(out, doc.text, doc.len);
    mg_doc_free(&doc);
    return 0;
}
