/*
 * store: owns the bot store (GET /api/v1/store/bots): the bots their
 * owners listed there (visibility 'store', which needs the publish group:
 * bots.c), anyone's including the caller's, most used first, searchable
 * by name and description.  Rows are written by bots.c's writer, so a
 * bot not the caller's shows only the others' view.
 *
 * The cursor is the page helper's (number, id) pair with the use count as
 * its number; counts move while someone pages, so a bot may show twice or
 * be skipped then, which a ranking list can live with.
 */
#include "jobs/jobs.h"

#include <stdio.h>

#include "jobs/page.h"
#include "validate.h"

#define MG_STORE_LIMIT_DEFAULT  20
#define MG_STORE_LIMIT_MAX      100
#define MG_STORE_Q_MAX_BYTES    400         /* 100 characters of up to 4 bytes */

int
mg_job_store_bots(mg_job_t *job)
{
    const char     *values[5], *query;
    char            q[MG_STORE_Q_MAX_BYTES + 1], pattern[2 * MG_STORE_Q_MAX_BYTES + 3];
    size_t          qlen, n = 0;
    mg_page_req_t   req;
    mg_page_cols_t  cols = mg_bot_page_cols;
    int             sent, rc;

    if (mg_page_query(job, MG_STORE_LIMIT_DEFAULT, MG_STORE_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    query = mg_job_query(job, &qlen);
    rc = mg_query_get(query, qlen, "q", q, sizeof(q), &n);
    if (rc < 0 || (rc == 1 && (!mg_admin_text_valid(q, n) || mg_utf8_chars(q, n) > 100))) {
        return mg_job_reply_error(job, 400, "invalid_query",
                                  "query parameter \"q\" must be text of at most 100 characters");
    }
    values[0] = job->user_id;
    values[1] = NULL;                       /* no search: the whole store */
    if (rc == 1 && n > 0) {
        mg_admin_like_pattern(q, n, pattern);
        values[1] = pattern;
    }
    cols.ts_col = MG_BOT_COL_USE_COUNT;     /* the ranking is the keyset */
    return mg_page_list(job, &req, MG_Q_STORE_FIRST, MG_Q_STORE_AFTER, values, 2, &cols,
                        "store.bots");
}
