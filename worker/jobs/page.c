/*
 * page: the keyset paging behind page.h, shared by the list jobs.  A
 * cursor is base64url, so it is written without escaping.
 */
#include "jobs/page.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"
#include "validate.h"

int
mg_page_query(mg_job_t *job, long def, long max, mg_page_req_t *req, int *sent)
{
    const char  *query;
    size_t       qlen;
    mg_verr_t    err;

    query = mg_job_query(job, &qlen);
    if (mg_query_limit(query, qlen, def, 1, max, &req->limit, &err) != 0
        || mg_query_cursor(query, qlen, &req->after, &req->has_cursor, &err) != 0)
    {
        *sent = mg_job_reply_verr(job, &err);
        return -1;
    }
    return 0;
}

mg_db_rc_t
mg_page_exec(mg_job_t *job, mg_query_t first, mg_query_t after, const char **values,
             int nfixed, const mg_page_req_t *req, PGresult **res)
{
    char  limit_buf[24], ts_buf[24];

    /* one row more than asked tells whether another page exists */
    snprintf(limit_buf, sizeof(limit_buf), "%ld", req->limit + 1);
    if (!req->has_cursor) {
        values[nfixed] = limit_buf;
        return mg_db_exec(job->db, first, values, res);
    }
    snprintf(ts_buf, sizeof(ts_buf), "%lld", req->after.ts_us);
    values[nfixed] = ts_buf;
    values[nfixed + 1] = req->after.id;
    values[nfixed + 2] = limit_buf;
    return mg_db_exec(job->db, after, values, res);
}

void
mg_page_init(mg_page_t *pg, const PGresult *res, const mg_page_req_t *req, int ts_col,
             int id_col, size_t (*item_max)(const PGresult *r, int row),
             char *(*item_write)(char *p, const PGresult *r, int row))
{
    int  n = PQntuples(res);

    pg->res = res;
    pg->rows = n < req->limit ? n : (int) req->limit;
    pg->more = n > req->limit;
    pg->ts_col = ts_col;
    pg->id_col = id_col;
    pg->item_max = item_max;
    pg->item_write = item_write;
}

size_t
mg_page_max(const mg_page_t *pg)
{
    size_t  size = sizeof("[],\"next_cursor\":\"\"") + MG_CURSOR_MAX;

    for (int i = 0; i < pg->rows; i++) {
        size += pg->item_max(pg->res, i) + 1;
    }
    return size;
}

char *
mg_page_write(char *p, const mg_page_t *pg)
{
    mg_cursor_t  c;
    char         next[MG_CURSOR_MAX];
    int          last = pg->rows - 1;

    *p++ = '[';
    for (int i = 0; i < pg->rows; i++) {
        if (i > 0) {
            *p++ = ',';
        }
        p = pg->item_write(p, pg->res, i);
    }
    *p++ = ']';

    if (!pg->more) {
        return p + sprintf(p, ",\"next_cursor\":null");
    }
    c.ts_us = strtoll(PQgetvalue(pg->res, last, pg->ts_col), NULL, 10);
    snprintf(c.id, sizeof(c.id), "%s", PQgetvalue(pg->res, last, pg->id_col));
    if (mg_cursor_encode(&c, next) != 0) {
        return NULL;
    }
    return p + sprintf(p, ",\"next_cursor\":\"%s\"", next);
}

int
mg_page_reply_items(mg_job_t *job, const mg_page_t *pg, const char *what)
{
    char  *body, *p;
    int    sent;

    body = malloc(sizeof("{\"items\":}") + mg_page_max(pg));
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    p = body + sprintf(body, "{\"items\":");
    p = mg_page_write(p, pg);
    if (p == NULL) {
        mg_log_error("%s rid=%s: cannot encode cursor", what, job->rid);
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
    } else {
        *p++ = '}';
        sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);
    }
    free(body);
    return sent;
}

int
mg_page_list(mg_job_t *job, const mg_page_req_t *req, mg_query_t first, mg_query_t after,
             const char **values, int nfixed, const mg_page_cols_t *cols, const char *what)
{
    mg_page_t    pg;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    rc = mg_page_exec(job, first, after, values, nfixed, req, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, what);
    } else {
        mg_page_init(&pg, res, req, cols->ts_col, cols->id_col, cols->item_max, cols->item_write);
        sent = mg_page_reply_items(job, &pg, what);
    }
    PQclear(res);
    return sent;
}
