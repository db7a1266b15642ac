/*
 * mg_tools: the tools an agent may be given, by name.  Built in:
 * calculator, current_time, knowledge_search, http_fetch.  An agent's
 * tools are checked against this table on every save (jobs/agents.c), so
 * an agent never names a tool the workers do not have.  Each runs on a
 * tool thread (agents/toolrun.c), never on the stream engine's loop.
 */
#ifndef MG_AGENTS_TOOLS_H
#define MG_AGENTS_TOOLS_H

#include <stddef.h>

#include <jansson.h>

#include "db/db.h"
#include "util/sb.h"

typedef struct mg_tool_job_s mg_tool_job_t;

/* What a tool call may use.  db is the tool thread's own connection
 * (connected on first use), never one of the pool's. */
typedef struct {
    mg_db_t        *db;
    const char     *user_id;    /* whose turn it is: knowledge_search sees only theirs */
    long            timeout_ms; /* the call's limit; the engine enforces it too */
    mg_tool_job_t  *job;        /* the call itself (a sub-agent reads its agent, path,
                                   cancel flag, and leaves its usage and steps) */
} mg_tool_ctx_t;

/* Run the tool on input (a JSON object).  0 with the result text for the
 * model in out, or -1 with the reason for the model and the user in err. */
typedef int (*mg_tool_exec_fn)(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                               char *err, size_t errlen);

typedef struct {
    const char       *name;
    const char       *description;   /* what the model is told the tool does */
    const char       *input_schema;  /* JSON Schema of its input, as JSON text */
    mg_tool_exec_fn   exec;
    /* a sub-agent offered as a tool (agents/subagent.c); NULL for the
     * others */
    const char       *agent_id;
    const char       *agent_name;
    /* a tool of an MCP server (mcp/tool.c): the server and the tool's own
     * name; NULL for the others */
    const char       *mcp_server_id;
    const char       *mcp_tool;
} mg_tool_def_t;

extern const mg_tool_def_t  mg_tools_builtin[];
extern const size_t         mg_tools_builtin_count;

/* The built-in tool called name[0..len), or NULL. */
const mg_tool_def_t *mg_tool_find(const char *name, size_t len);

/* The built-in tools' bodies (agents/builtin.c). */
int mg_tool_calculator(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                       char *err, size_t errlen);
int mg_tool_current_time(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                         char *err, size_t errlen);
int mg_tool_knowledge_search(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                             char *err, size_t errlen);
int mg_tool_http_fetch(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                       char *err, size_t errlen);
/* A sub-agent's run, on another (or the same) worker process
 * (agents/subagent.c). */
int mg_tool_subagent(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out,
                     char *err, size_t errlen);
/* A tool of an MCP server (mcp/tool.c). */
int mg_tool_mcp(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out, char *err, size_t errlen);

/* This process's own endpoint (its --bind), where sub-agents go unless
 * MANGOO_AGENT_ENDPOINT(S) say otherwise.  Call before the tool threads. */
void mg_subagent_set_self(const char *bind);

#endif
