/*
 * mcp tool: owns the call of an MCP server's tool for an agent
 * (tools.h, mg_tool_mcp), on a tool thread: the process's client for the
 * server (mcp/registry.c), tools/call under the call's time limit and
 * the turn's cancel flag, the result's text for the model.  A result the
 * server marks isError, and every failure to get one (down, slow,
 * malformed, too large), is a failed call the model is told about.
 */
#include "agents/tools.h"

#include <stdio.h>
#include <string.h>

#include "agents/toolrun.h"
#include "mcp/registry.h"

int
mg_tool_mcp(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out, char *err, size_t errlen)
{
    mg_tool_job_t    *job = ctx->job;
    mg_mcp_entry_t   *entry;
    mg_mcp_client_t  *c = mg_mcp_acquire(ctx->db, job->mcp_server_id, &entry, err, errlen);
    int               is_error = 0, rc;

    if (c == NULL) {
        return -1;
    }
    rc = mg_mcp_call_tool(c, job->mcp_tool, input, ctx->timeout_ms, &job->cancelled, out,
                          &is_error, err, errlen);
    if (rc == 0 && is_error) {
        /* the tool's own failure: its text is the reason */
        snprintf(err, errlen, "%s", out->len > 0 ? out->p : "the tool reported an error");
        rc = -1;
    }
    mg_mcp_refresh_if_changed(ctx->db, job->mcp_server_id, entry);
    mg_mcp_release(entry);
    return rc;
}
