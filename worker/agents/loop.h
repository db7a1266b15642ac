/*
 * mg_agent: an agent's turn, the tool-use loop inside the stream engine
 * (loop.c).  A turn is steps: each step is one model call; a step that
 * ends asking for tools (Bedrock's stopReason tool_use, OpenAI's
 * finish_reason tool_calls) has its calls run on the tool threads
 * (toolrun.h), their results given back to the model (the provider's
 * add_tool_results) and the next step started, until the model answers or
 * a limit stops it: steps, tokens or wall time for the turn (an error that
 * says which), time and output size for each call (a failed or cut result
 * the model is told about).  No database connection is held meanwhile.
 *
 * Everything here runs on the engine thread, on the stream it was given,
 * except mg_agent_run_new (the pool thread that prepares the turn) and
 * mg_agent_steps_json / mg_agent_run_free (the pool thread that finishes
 * it).  The client sees `tool_call` {id, name, input, step} and
 * `tool_result` {id, name, ok, summary, ms} events; every step is logged
 * for the stored answer (messages.steps) and the audit (tool_calls).
 */
#ifndef MG_AGENTS_LOOP_H
#define MG_AGENTS_LOOP_H

#include <stddef.h>

#include <jansson.h>

#include "agents/tools.h"
#include "agents/toolrun.h"
#include "stream.h"

#define MG_AGENT_TOOLS_MAX      32      /* an agent's built-in tools */
#define MG_AGENT_SUBS_MAX       10      /* an agent's sub-agents */
#define MG_AGENT_DEPTH_MAX      3       /* hand-offs along the longest chain of sub-agents */
#define MG_AGENT_SUMMARY_MAX    200     /* bytes of a result in its SSE event */
#define MG_AGENT_LOG_OUTPUT_MAX 4000    /* bytes of a result kept in the step log */

typedef struct mg_agent_run_s mg_agent_run_t;

typedef struct {
    int         max_steps;          /* model calls in a turn */
    long        timeout_ms;         /* the whole turn */
    long        tool_timeout_ms;    /* one tool call */
    long long   max_turn_tokens;    /* input + output over every step */
} mg_agent_limits_t;

/* The run of the agent whose row (as the API shows it) is agent_json:
 * its built-in tools (any the workers no longer have left out), its
 * limits, turn_tokens for the turn; its path is parent_path/its name
 * (its name alone when parent_path is NULL), depth its hand-offs from the
 * agent the user chats with.  NULL when out of memory. */
mg_agent_run_t *mg_agent_run_from_json(const char *agent_json, long long turn_tokens,
                                       const char *parent_path, int depth);
/* Offer the agent agent_id as a tool (named after name), unless the run
 * has MG_AGENT_SUBS_MAX already or is MG_AGENT_DEPTH_MAX deep.  0, or -1
 * when out of memory. */
int mg_agent_add_sub(mg_agent_run_t *run, const char *agent_id, const char *name,
                     const char *description);
/* Offer the MCP server's tool (its tools/list entry as JSON text) as
 * "<server>__<tool>", unless that name is too long or taken.  0, or -1
 * when out of memory. */
int mg_agent_add_mcp(mg_agent_run_t *run, const char *server_id, const char *server_name,
                     const char *tool_json);

/* "orchestrator/web_reader": where this run is among the agents; set as
 * the caller named it for a sub-agent's run. */
const char *mg_agent_path(const mg_agent_run_t *run);
void        mg_agent_set_path(mg_agent_run_t *run, const char *path);

/* A run offering tools[0..n) under lim; NULL when out of memory. */
mg_agent_run_t *mg_agent_run_new(const mg_agent_limits_t *lim, const mg_tool_def_t *const *tools,
                                 size_t n);
void            mg_agent_run_free(mg_agent_run_t *run);

/* The turn's wall time, for the stream's deadline. */
long mg_agent_timeout_ms(const mg_agent_run_t *run);

/* The tools offered, for the provider's request. */
const mg_tool_def_t *const *mg_agent_tools(const mg_agent_run_t *run, size_t *n);

/* Provider side: the model opens a tool call at its block index, and
 * streams the call's input in pieces.  0, or -1 after failing s (a stream
 * without a run, too many calls, input too large). */
int  mg_agent_tool_begin(mg_stream_t *s, int index, const char *id, size_t id_len,
                         const char *name, size_t name_len);
int  mg_agent_tool_input(mg_stream_t *s, int index, const char *piece, size_t len);

/* The engine's side.  step_end: a step of s completed (its stop reason
 * set): 0 when that was the answer (complete s as usual); 1 when its
 * tools are running (wait: results come through tool_done, the deadline
 * through tools_expire); -1 when s was failed (a limit, a malformed
 * request for tools). */
int  mg_agent_step_end(mg_stream_t *s);
/* A tool thread's job for s came back (owned by the caller still).  1
 * when it was the step's last result; 0 otherwise (stale jobs ignored). */
int  mg_agent_tool_done(mg_stream_t *s, const mg_tool_job_t *job);
/* A call's time ran out: the calls past their time fail (a sub-agent is
 * told to stop).  1 when that was the step's last result. */
int  mg_agent_tools_expire(mg_stream_t *s);
/* When the next of the step's calls is due (monotonic ms): now when
 * every result is in already. */
long long mg_agent_tools_due(const mg_agent_run_t *run);
/* Every result is in: hand them to the model (the provider's
 * add_tool_results) and open the next step.  0, or -1 after failing s. */
int  mg_agent_next_step(mg_stream_t *s);

/* The steps as stored with the answer (a JSON array, malloc'd), the step
 * that was running when s ended included.  NULL when out of memory. */
char *mg_agent_steps_json(mg_agent_run_t *run, const mg_stream_t *s);

#endif
