/*
 * mg_toolrun: the tool threads of one worker process.  The stream engine
 * never runs a tool itself: an agent's step hands each call here as a job
 * (mg_toolrun_submit), a tool thread runs it with its own database
 * connection, and the finished job goes back to the engine through the
 * done function given at start (mg_streams_tool_done in production), which
 * owns it from then on.  The engine keeps the time limit; a tool that
 * overruns it still finishes here and its late result is dropped there.
 *
 * Settings (read by `serve`, worker/main.c): MANGOO_TOOL_THREADS threads
 * (4), MANGOO_TOOL_OUTPUT_MAX bytes of one result the model is given
 * (16384).
 */
#ifndef MG_AGENTS_TOOLRUN_H
#define MG_AGENTS_TOOLRUN_H

#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>

#include "agents/tools.h"
#include "stream.h"

#define MG_TOOLRUN_QUEUE_MAX  4096      /* jobs waiting for a thread */
#define MG_AGENT_PATH_MAX     320       /* "orchestrator/web_reader/...", 4 names deep */

struct mg_tool_job_s {
    /* which stream and call the result belongs to (the engine finds the
     * stream again by rid and peer: it may have ended meanwhile) */
    char                  rid[MG_RID_LEN + 1];
    unsigned char         peer[MG_PEER_MAX];
    size_t                peer_len;
    int                   step;
    size_t                index;

    /* the call: copies, since the run that offered the tool may end first */
    mg_tool_exec_fn       exec;
    char                  name[65];
    json_t               *input;        /* a reference, owned */
    char                 *user_id;      /* owned */
    long                  timeout_ms;
    size_t                output_max;
    /* a sub-agent's call: the agent, its name, where it runs and how deep */
    char                  agent_id[MG_UUID_LEN + 1];
    char                  agent_name[256];
    char                  path[MG_AGENT_PATH_MAX];
    int                   depth;
    /* an MCP tool's call: the server and the tool's own name */
    char                  mcp_server_id[MG_UUID_LEN + 1];
    char                  mcp_tool[65];
    atomic_int            cancelled;    /* the turn ended: stop (set by the engine) */

    /* the result, set by the tool thread */
    int                   ok;
    char                 *output;       /* the text for the model, or the error; owned */
    long long             ms;
    long long             usage_in, usage_out;  /* a sub-agent's tokens */
    char                 *steps;        /* a sub-agent's steps (JSON), owned */

    mg_tool_job_t        *next;         /* the queue */
    mg_tool_job_t        *rnext;        /* the jobs running */
};

typedef void (*mg_toolrun_done_fn)(mg_tool_job_t *job);

typedef struct {
    const char  *conninfo;      /* copied */
    int          threads;
    size_t       output_max;
} mg_toolrun_config_t;

/* Start the threads (with SIGTERM/SIGINT blocked, as for the pool's).
 * 0, or -1 when none could be started (logged). */
int  mg_toolrun_start(const mg_toolrun_config_t *cfg, mg_toolrun_done_fn done);

/* Stop and join the threads; jobs still queued are finished as failed
 * ("the worker is shutting down") through done.  A no-op when not started. */
void mg_toolrun_stop(void);

/* The output limit in force (for a job's output_max). */
size_t mg_toolrun_output_max(void);

/* Queue job (from the engine thread).  0; -1 when not started, stopping
 * or the queue is full (the caller still owns job). */
int  mg_toolrun_submit(mg_tool_job_t *job);

/* The turn of rid (from peer) ended, or its call (step, index) ran out of
 * time (index -1: every call): its running calls are told to stop.  Only
 * sub-agents act on it; the others are short and bounded. */
void mg_toolrun_cancel(const char *rid, const void *peer, size_t peer_len, int step, long index);

/* Run job on the calling thread: used by the tool threads, and by unit
 * tests without threads.  Sets ok, output and ms. */
void mg_toolrun_exec(mg_tool_job_t *job, mg_db_t *db);

/* A job with its copies; NULL when out of memory. */
mg_tool_job_t *mg_tool_job_new(const mg_tool_def_t *def, json_t *input, const char *user_id);
void           mg_tool_job_free(mg_tool_job_t *job);

#endif
