/*
 * page: the keyset-paged lists of the list jobs, with the opaque cursors
 * of cursor.c.  limit and cursor come from the query string; the statement
 * runs with LIMIT limit + 1 (the extra row only tells that another page
 * exists); the rows are written in one pass as [item,...] followed by
 * "next_cursor", taken from the last row shown.
 */
#ifndef MG_JOBS_PAGE_H
#define MG_JOBS_PAGE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "cursor.h"
#include "job.h"

/* What the client asked for. */
typedef struct {
    long         limit;
    int          has_cursor;
    mg_cursor_t  after;                         /* when has_cursor */
} mg_page_req_t;

/* One page of rows fetched by mg_page_exec, and how to write and resume it. */
typedef struct {
    const PGresult  *res;
    int              rows;                      /* rows on this page */
    int              more;                      /* another page follows */
    int              ts_col, id_col;            /* the keyset: µs since the epoch, uuid */
    size_t         (*item_max)(const PGresult *r, int row);   /* bytes item_write may use */
    char          *(*item_write)(char *p, const PGresult *r, int row);
} mg_page_t;

/* limit (def when absent, 1 to max) and cursor from the query string: 0,
 * or -1 after a 400 reply, whose result is in *sent. */
int mg_page_query(mg_job_t *job, long def, long max, mg_page_req_t *req, int *sent);

/* Run first, or after when req has a cursor, with LIMIT limit + 1.
 * values[0 .. nfixed - 1] are the statement's own parameters; the
 * cursor's (µs, id) when there is one, then the limit, follow them, so
 * values has room for nfixed + 3. */
mg_db_rc_t mg_page_exec(mg_job_t *job, mg_query_t first, mg_query_t after,
                        const char **values, int nfixed, const mg_page_req_t *req,
                        PGresult **res);

/* pg for the rows of res, a result of mg_page_exec with req's limit. */
void mg_page_init(mg_page_t *pg, const PGresult *res, const mg_page_req_t *req, int ts_col,
                  int id_col, size_t (*item_max)(const PGresult *r, int row),
                  char *(*item_write)(char *p, const PGresult *r, int row));

/* Bytes mg_page_write may use, its NUL included (an upper bound). */
size_t mg_page_max(const mg_page_t *pg);

/* [item,item,...],"next_cursor":"..."|null.  The end of what was
 * written, or NULL when the cursor cannot be encoded. */
char *mg_page_write(char *p, const mg_page_t *pg);

/* Reply 200 with {"items":[item,...],"next_cursor":...}, or 500 (what
 * names the job in the log when the cursor cannot be encoded). */
int mg_page_reply_items(mg_job_t *job, const mg_page_t *pg, const char *what);

/* How a list's rows are keyed and written (see mg_page_t). */
typedef struct mg_page_cols_s {
    int       ts_col, id_col;
    size_t  (*item_max)(const PGresult *r, int row);
    char   *(*item_write)(char *p, const PGresult *r, int row);
} mg_page_cols_t;

/* A whole list job after mg_page_query: run the statement (as
 * mg_page_exec), reply with the page, or with the database's error
 * (what names the job in the log). */
int mg_page_list(mg_job_t *job, const mg_page_req_t *req, mg_query_t first, mg_query_t after,
                 const char **values, int nfixed, const mg_page_cols_t *cols, const char *what);

#endif
