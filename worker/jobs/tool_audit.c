/*
 * tool_audit: owns GET /api/v1/admin/tool-calls (admin.tool_calls), the
 * audit of agents' tool calls: newest first, everyone's or one user's
 * (?user_id=), one tool's (?tool=), keyset-paged.  The rows are written
 * by the statement that stores an agent's answer (MG_Q_CHAT_FINISH).
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <string.h>

#include "jobs/page.h"
#include "validate.h"

#define MG_TOOL_CALLS_LIMIT_DEFAULT  50
#define MG_TOOL_CALLS_LIMIT_MAX      200
#define MG_TOOL_CALLS_PARAM_MAX      1024   /* a user id is a token's sub */

enum { MG_TC_COL_JSON = 0, MG_TC_COL_CREATED_US, MG_TC_COL_ID };

static size_t
mg_tool_call_max(const PGresult *r, int row)
{
    return (size_t) PQgetlength(r, row, MG_TC_COL_JSON) + 1;
}

static char *
mg_tool_call_write(char *p, const PGresult *r, int row)
{
    size_t n = (size_t) PQgetlength(r, row, MG_TC_COL_JSON);

    memcpy(p, PQgetvalue(r, row, MG_TC_COL_JSON), n);
    return p + n;
}

static const mg_page_cols_t mg_tool_call_cols = {
    MG_TC_COL_CREATED_US, MG_TC_COL_ID, mg_tool_call_max, mg_tool_call_write
};

/* An optional filter of the query string: 0 with *out (NULL when absent
 * or empty), or -1 after a 400 reply in *sent. */
static int
mg_tool_calls_filter(mg_job_t *job, const char *name, char *buf, const char **out, int *sent)
{
    size_t       qlen, n = 0;
    const char  *query = mg_job_query(job, &qlen);
    int          rc = mg_query_get(query, qlen, name, buf, MG_TOOL_CALLS_PARAM_MAX + 1, &n);
    char         m[128];

    *out = NULL;
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc < 0 || !mg_admin_text_valid(buf, n)) {
        snprintf(m, sizeof(m), "query parameter \"%s\" must be text of at most %d bytes", name,
                 MG_TOOL_CALLS_PARAM_MAX);
        *sent = mg_job_reply_error(job, 400, "invalid_query", m);
        return -1;
    }
    *out = buf;
    return 0;
}

int
mg_job_admin_tool_calls(mg_job_t *job)
{
    const char     *values[5];
    char            user[MG_TOOL_CALLS_PARAM_MAX + 1], tool[MG_TOOL_CALLS_PARAM_MAX + 1];
    mg_page_req_t   req;
    int             sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    if (mg_page_query(job, MG_TOOL_CALLS_LIMIT_DEFAULT, MG_TOOL_CALLS_LIMIT_MAX, &req, &sent) != 0
        || mg_tool_calls_filter(job, "user_id", user, &values[0], &sent) != 0
        || mg_tool_calls_filter(job, "tool", tool, &values[1], &sent) != 0)
    {
        return sent;
    }
    return mg_page_list(job, &req, MG_Q_TOOL_CALLS_FIRST, MG_Q_TOOL_CALLS_AFTER, values, 2,
                        &mg_tool_call_cols, "admin.tool_calls");
}
