/*
 * mg_agent: owns an agent turn's run state (loop.h): the tools offered,
 * the calls of the step being run and their results, and the step log.
 */
#include "agents/loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/toolcalls.h"
#include "providers/provider.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/utf8.h"

typedef struct {
    int         done, ok;
    char       *output;             /* the result text, or the error; owned */
    long long   ms;
    long long   due_ms;             /* it fails when still running then */
} mg_agent_result_t;

/* A sub-agent offered as a tool: the definition and the strings it owns. */
typedef struct {
    mg_tool_def_t   def;
    char            name[MG_TOOLCALL_NAME_MAX + 1];
    char           *description;
    char            agent_id[MG_UUID_LEN + 1];
    char           *agent_name;
} mg_agent_sub_t;

/* An MCP server's tool offered: the definition and the strings it owns. */
typedef struct {
    mg_tool_def_t   def;
    char            name[MG_TOOLCALL_NAME_MAX + 1];    /* "<server>__<tool>" */
    char           *description;
    char           *schema;
    char            server_id[MG_UUID_LEN + 1];
    char            tool[MG_TOOLCALL_NAME_MAX + 1];
} mg_agent_mcp_t;

struct mg_agent_run_s {
    mg_agent_limits_t       lim;
    const mg_tool_def_t    *tools[MG_AGENT_TOOLS_MAX + MG_AGENT_SUBS_MAX];
    size_t                  ntools;
    mg_agent_sub_t          subs[MG_AGENT_SUBS_MAX];
    size_t                  nsubs;
    mg_agent_mcp_t          mcps[MG_AGENT_TOOLS_MAX];
    size_t                  nmcps;
    char                    path[MG_AGENT_PATH_MAX];    /* "orchestrator/web_reader" */
    int                     depth;                      /* 0: the agent the user chats with */

    int                     step;               /* 1-based: the step running */
    long long               step_started_ms;
    size_t                  step_text_start;    /* where its text begins in s->text */
    mg_toolcalls_t          calls;
    mg_agent_result_t       results[MG_TOOLCALLS_MAX];
    size_t                  pending;
    long long               started_ms;         /* the calls' dispatch */
    json_t                 *log;                /* the steps so far */
    json_t                 *cur;                /* the step waiting on its tools (in log) */
};

mg_agent_run_t *
mg_agent_run_new(const mg_agent_limits_t *lim, const mg_tool_def_t *const *tools, size_t n)
{
    mg_agent_run_t *run = calloc(1, sizeof(*run));

    if (run == NULL) {
        return NULL;
    }
    run->lim = *lim;
    run->ntools = n < MG_AGENT_TOOLS_MAX ? n : MG_AGENT_TOOLS_MAX;
    memcpy(run->tools, tools, run->ntools * sizeof(*tools));
    run->step = 1;
    run->step_started_ms = mg_now_ms();
    run->log = json_array();
    if (run->log == NULL) {
        free(run);
        return NULL;
    }
    return run;
}

static void
mg_agent_results_clear(mg_agent_run_t *run)
{
    for (size_t i = 0; i < MG_TOOLCALLS_MAX; i++) {
        free(run->results[i].output);
    }
    memset(run->results, 0, sizeof(run->results));
    run->pending = 0;
}

void
mg_agent_run_free(mg_agent_run_t *run)
{
    if (run == NULL) {
        return;
    }
    for (size_t i = 0; i < run->nsubs; i++) {
        free(run->subs[i].description);
        free(run->subs[i].agent_name);
    }
    for (size_t i = 0; i < run->nmcps; i++) {
        free(run->mcps[i].description);
        free(run->mcps[i].schema);
    }
    mg_toolcalls_clear(&run->calls);
    mg_agent_results_clear(run);
    json_decref(run->log);
    free(run);
}

/* name as a tool name: lowercase letters, digits and single '_'. */
static void
mg_agent_slug(const char *name, char *out, size_t cap)
{
    size_t o = 0;

    for (const char *p = name; *p != '\0' && o + 1 < cap; p++) {
        char c = *p;

        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out[o++] = c;
        } else if (o > 0 && out[o - 1] != '_') {
            out[o++] = '_';
        }
    }
    while (o > 0 && out[o - 1] == '_') {
        o--;
    }
    if (o == 0) {
        memcpy(out, "agent", 6);
        return;
    }
    out[o] = '\0';
}

static int
mg_agent_tool_taken(const mg_agent_run_t *run, const char *name)
{
    for (size_t i = 0; i < run->ntools; i++) {
        if (strcmp(run->tools[i]->name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

#define MG_AGENT_SUB_SCHEMA                                                 \
    "{\"type\":\"object\",\"properties\":{\"task\":{\"type\":\"string\","        \
    "\"description\":\"what the agent should do, with everything it needs to know\"}}," \
    "\"required\":[\"task\"]}"

int
mg_agent_add_sub(mg_agent_run_t *run, const char *agent_id, const char *name,
                 const char *description)
{
    mg_agent_sub_t  *sub;
    char             slug[MG_TOOLCALL_NAME_MAX - 3];
    size_t           dlen;

    if (run->nsubs == MG_AGENT_SUBS_MAX || run->depth >= MG_AGENT_DEPTH_MAX) {
        return 0;                           /* too many, too deep: not offered */
    }
    sub = &run->subs[run->nsubs];
    mg_agent_slug(name, slug, sizeof(slug));
    snprintf(sub->name, sizeof(sub->name), "%s", slug);
    for (int k = 2; mg_agent_tool_taken(run, sub->name) && k < 100; k++) {
        int n = snprintf(sub->name, sizeof(sub->name), "%s_%d", slug, k);

        if (n < 0 || (size_t) n >= sizeof(sub->name)) {
            return 0;                       /* no name left for it: not offered */
        }
    }
    dlen = strlen(name) + strlen(description) + 96;
    sub->description = malloc(dlen);
    sub->agent_name = strdup(name);
    if (sub->description == NULL || sub->agent_name == NULL) {
        free(sub->description);
        free(sub->agent_name);
        return -1;
    }
    snprintf(sub->description, dlen, "Hands a task to the agent \"%s\" and returns its answer. %s",
             name, description);
    snprintf(sub->agent_id, sizeof(sub->agent_id), "%s", agent_id);
    sub->def.name = sub->name;
    sub->def.description = sub->description;
    sub->def.input_schema = MG_AGENT_SUB_SCHEMA;
    sub->def.exec = mg_tool_subagent;
    sub->def.agent_id = sub->agent_id;
    sub->def.agent_name = sub->agent_name;
    run->tools[run->ntools++] = &sub->def;
    run->nsubs++;
    return 0;
}

int
mg_agent_add_mcp(mg_agent_run_t *run, const char *server_id, const char *server_name,
                 const char *tool_json)
{
    json_t          *t = json_loads(tool_json, 0, NULL);
    const char      *name = json_string_value(json_object_get(t, "name"));
    const char      *desc = json_string_value(json_object_get(t, "description"));
    json_t          *schema = json_object_get(t, "inputSchema");
    mg_agent_mcp_t  *m;
    int              n;

    if (run->nmcps == MG_AGENT_TOOLS_MAX || name == NULL) {
        json_decref(t);
        return 0;
    }
    m = &run->mcps[run->nmcps];
    n = snprintf(m->name, sizeof(m->name), "%s__%s", server_name, name);
    if (n < 0 || (size_t) n >= sizeof(m->name) || mg_agent_tool_taken(run, m->name)) {
        json_decref(t);
        return 0;                           /* a name the model cannot be given */
    }
    snprintf(m->tool, sizeof(m->tool), "%s", name);
    snprintf(m->server_id, sizeof(m->server_id), "%s", server_id);
    m->description = strdup(desc != NULL && *desc != '\0' ? desc : name);
    m->schema = json_is_object(schema) ? json_dumps(schema, JSON_COMPACT)
                                       : strdup("{\"type\":\"object\"}");
    json_decref(t);
    if (m->description == NULL || m->schema == NULL) {
        free(m->description);
        free(m->schema);
        return -1;
    }
    m->def.name = m->name;
    m->def.description = m->description;
    m->def.input_schema = m->schema;
    m->def.exec = mg_tool_mcp;
    m->def.mcp_server_id = m->server_id;
    m->def.mcp_tool = m->tool;
    run->tools[run->ntools++] = &m->def;
    run->nmcps++;
    return 0;
}

mg_agent_run_t *
mg_agent_run_from_json(const char *agent_json, long long turn_tokens, const char *parent_path,
                       int depth)
{
    json_t               *a = json_loads(agent_json, 0, NULL), *name;
    json_t               *lim = json_object_get(a, "limits");
    const mg_tool_def_t  *tools[MG_AGENT_TOOLS_MAX];
    mg_agent_limits_t     limits;
    mg_agent_run_t       *run;
    size_t                i, n = 0;
    char                  slug[MG_TOOLCALL_NAME_MAX + 1];

    if (a == NULL) {
        return NULL;
    }
    json_array_foreach(json_object_get(a, "tools"), i, name) {
        const mg_tool_def_t *def = mg_tool_find(json_string_value(name) ? json_string_value(name)
                                                : "", json_string_length(name));

        /* a tool the workers no longer have is left out */
        if (def != NULL && n < MG_AGENT_TOOLS_MAX) {
            tools[n++] = def;
        }
    }
    limits.max_steps = (int) json_integer_value(json_object_get(lim, "max_steps"));
    limits.timeout_ms = (long) json_integer_value(json_object_get(lim, "timeout_seconds")) * 1000;
    limits.tool_timeout_ms = (long) json_integer_value(json_object_get(lim,
                                                                       "tool_timeout_seconds")) * 1000;
    limits.max_turn_tokens = turn_tokens;
    run = mg_agent_run_new(&limits, tools, n);
    if (run != NULL) {
        mg_agent_slug(json_string_value(json_object_get(a, "name")) ? json_string_value(
                          json_object_get(a, "name")) : "", slug, sizeof(slug));
        snprintf(run->path, sizeof(run->path), "%s%s%s", parent_path ? parent_path : "",
                 parent_path ? "/" : "", slug);
        run->depth = depth;
    }
    json_decref(a);
    return run;
}

const char *
mg_agent_path(const mg_agent_run_t *run)
{
    return run->path;
}

void
mg_agent_set_path(mg_agent_run_t *run, const char *path)
{
    snprintf(run->path, sizeof(run->path), "%s", path);
}

long
mg_agent_timeout_ms(const mg_agent_run_t *run)
{
    return run->lim.timeout_ms;
}

const mg_tool_def_t *const *
mg_agent_tools(const mg_agent_run_t *run, size_t *n)
{
    *n = run->ntools;
    return run->tools;
}

long long
mg_agent_tools_due(const mg_agent_run_t *run)
{
    long long due = 0;

    if (run->pending == 0) {
        return mg_now_ms();
    }
    for (size_t i = 0; i < run->calls.n; i++) {
        if (!run->results[i].done && (due == 0 || run->results[i].due_ms < due)) {
            due = run->results[i].due_ms;
        }
    }
    return due;
}

/* ---- the model's requests, piece by piece ----------------------------- */

int
mg_agent_tool_begin(mg_stream_t *s, int index, const char *id, size_t id_len,
                    const char *name, size_t name_len)
{
    char err[160];

    if (s->run == NULL) {
        mg_stream_fail(s, 0, "provider_error", "the model asked for a tool, and none was offered");
        return -1;
    }
    if (mg_toolcalls_begin(&s->run->calls, index, id, id_len, name, name_len,
                           err, sizeof(err)) != 0)
    {
        mg_stream_fail(s, 0, "provider_error", "%s", err);
        return -1;
    }
    return 0;
}

int
mg_agent_tool_input(mg_stream_t *s, int index, const char *piece, size_t len)
{
    char err[160];

    if (s->run == NULL) {
        mg_stream_fail(s, 0, "provider_error", "the model sent tool input, and no tool was offered");
        return -1;
    }
    s->activity_ms = mg_now_ms();
    if (mg_toolcalls_input(&s->run->calls, index, piece, len, err, sizeof(err)) != 0) {
        mg_stream_fail(s, 0, "provider_error", "%s", err);
        return -1;
    }
    return 0;
}

/* ---- events and the log -------------------------------------------------- */

/* The step that just ended, as logged: its text and how it stopped. */
static json_t *
mg_agent_step_record(mg_agent_run_t *run, const mg_stream_t *s, const char *stop)
{
    size_t from = run->step_text_start < s->text_len ? run->step_text_start : s->text_len;

    while (from < s->text_len && s->text[from] == '\n') {
        from++;                             /* the separator between steps */
    }
    return json_pack("{s:i, s:s%, s:s, s:I, s:[]}", "step", run->step,
                     "text", s->text ? s->text + from : "", s->text_len - from,
                     "stop_reason", stop, "ms", (json_int_t) (mg_now_ms() - run->step_started_ms),
                     "tool_calls");
}

/* At most max bytes of text, cut at a character, with "…" when cut. */
static json_t *
mg_agent_cut_string(const char *text, size_t max)
{
    size_t   len = strlen(text), keep = mg_utf8_cut(text, len, max);
    json_t  *v;
    char    *t;

    if (len <= max) {
        return json_stringn(text, len);
    }
    t = malloc(keep + 4);
    if (t == NULL) {
        return NULL;
    }
    memcpy(t, text, keep);
    memcpy(t + keep, "\xE2\x80\xA6", 4);
    v = json_string(t);
    free(t);
    return v;
}

/* Result i is in: log it, tell the client. */
static void
mg_agent_result(mg_stream_t *s, size_t i, int ok, const char *output, long long ms)
{
    mg_agent_run_t     *run = s->run;
    mg_agent_result_t  *r = &run->results[i];
    json_t             *call = json_array_get(json_object_get(run->cur, "tool_calls"), i);
    json_t             *ev;

    r->done = 1;
    r->ok = ok;
    r->ms = ms;
    r->output = strdup(output);
    if (r->output == NULL) {
        r->ok = 0;
        r->output = strdup("");
    }
    run->pending--;
    if (call != NULL) {
        json_object_set_new(call, "ok", json_boolean(ok));
        json_object_set_new(call, "output", ok ? mg_agent_cut_string(output, MG_AGENT_LOG_OUTPUT_MAX)
                                               : json_null());
        json_object_set_new(call, "error", ok ? json_null() : json_string(output));
        json_object_set_new(call, "ms", json_integer(ms));
    }
    ev = json_pack("{s:s, s:s, s:b, s:o, s:I}", "id", run->calls.calls[i].id,
                   "name", run->calls.calls[i].name, "ok", ok,
                   "summary", mg_agent_cut_string(output, MG_AGENT_SUMMARY_MAX),
                   "ms", (json_int_t) ms);
    if (ev == NULL || mg_stream_event(s, "tool_result", ev) != 0) {
        mg_stream_fail(s, 0, "internal", "cannot send a tool's result");
    }
    json_decref(ev);
}

static const mg_tool_def_t *
mg_agent_offered(const mg_agent_run_t *run, const char *name)
{
    for (size_t i = 0; i < run->ntools; i++) {
        if (strcmp(run->tools[i]->name, name) == 0) {
            return run->tools[i];
        }
    }
    return NULL;
}

/* ---- the engine's side ------------------------------------------------------ */

/* The step's limits before its tools run: the next step must be allowed. */
static int
mg_agent_limits_ok(mg_stream_t *s)
{
    mg_agent_run_t *run = s->run;

    s->output_started = 1;          /* a limit is final: never retried */
    if (run->step >= run->lim.max_steps) {
        mg_stream_fail(s, 0, "agent_step_limit", "the agent used all of its %d steps without "
                       "finishing its answer", run->lim.max_steps);
        return 0;
    }
    if (s->input_tokens + s->output_tokens >= run->lim.max_turn_tokens) {
        mg_stream_fail(s, 0, "agent_token_limit", "the agent used %lld tokens, its limit for "
                       "one turn is %lld", s->input_tokens + s->output_tokens,
                       run->lim.max_turn_tokens);
        return 0;
    }
    if (s->deadline_ms != 0 && mg_now_ms() >= s->deadline_ms) {
        mg_stream_fail(s, 0, "agent_time_limit", "the agent ran out of its %ld s for one turn",
                       run->lim.timeout_ms / 1000);
        return 0;
    }
    return 1;
}

/* Ask a tool thread to run call i; a call that cannot run fails at once. */
static void
mg_agent_dispatch(mg_stream_t *s, size_t i)
{
    mg_agent_run_t       *run = s->run;
    mg_toolcall_t        *c = &run->calls.calls[i];
    const mg_tool_def_t  *def = mg_agent_offered(run, c->name);
    mg_tool_job_t        *job;
    char                  why[160];

    if (c->input_error[0] != '\0') {
        snprintf(why, sizeof(why), "%s: call %s again with a JSON object", c->input_error, c->name);
        mg_agent_result(s, i, 0, why, 0);
        return;
    }
    if (def == NULL) {
        snprintf(why, sizeof(why), "this agent has no tool called %s", c->name);
        mg_agent_result(s, i, 0, why, 0);
        return;
    }
    job = mg_tool_job_new(def, c->input, s->user_id);
    if (job == NULL) {
        mg_agent_result(s, i, 0, "out of memory", 0);
        return;
    }
    memcpy(job->rid, s->rid, sizeof(job->rid));
    memcpy(job->peer, s->peer, s->peer_len);
    job->peer_len = s->peer_len;
    job->step = run->step;
    job->index = i;
    job->timeout_ms = run->lim.tool_timeout_ms;
    if (def->agent_id != NULL) {
        /* a sub-agent has the rest of the turn, not one tool's time */
        long long left = s->deadline_ms != 0 ? s->deadline_ms - mg_now_ms() : run->lim.timeout_ms;

        int       n = snprintf(job->path, sizeof(job->path), "%s/%s", run->path, def->name);

        job->timeout_ms = left > 0 ? (long) left : 1;
        job->depth = run->depth + 1;
        if (n < 0 || (size_t) n >= sizeof(job->path)) {
            mg_tool_job_free(job);
            mg_agent_result(s, i, 0, "the chain of agents is too long", 0);
            return;
        }
    }
    run->results[i].due_ms = mg_now_ms() + job->timeout_ms;
    if (mg_toolrun_submit(job) != 0) {
        mg_tool_job_free(job);
        mg_agent_result(s, i, 0, "the worker's tool threads are all busy; try again shortly", 0);
    }
}

int
mg_agent_step_end(mg_stream_t *s)
{
    mg_agent_run_t  *run = s->run;
    json_t          *step, *calls;
    char             err[160];

    /* the tokens so far are the base of the next step's */
    s->usage_base_in = s->input_tokens;
    s->usage_base_out = s->output_tokens;

    if (strcmp(s->stop_reason, "tool_use") != 0) {
        step = mg_agent_step_record(run, s, s->stop_reason);
        if (step == NULL || json_array_append_new(run->log, step) != 0) {
            mg_stream_fail(s, 0, "internal", "out of memory");
            return -1;
        }
        return 0;
    }
    if (run->calls.n == 0) {
        mg_stream_fail(s, 0, "provider_error", "the model stopped to use tools, and named none");
        return -1;
    }
    if (mg_toolcalls_finish(&run->calls, err, sizeof(err)) != 0) {
        mg_stream_fail(s, 0, "provider_error", "%s", err);
        return -1;
    }
    step = mg_agent_step_record(run, s, "tool_use");
    if (step == NULL || json_array_append_new(run->log, step) != 0) {
        mg_stream_fail(s, 0, "internal", "out of memory");
        return -1;
    }
    run->cur = step;
    calls = json_object_get(step, "tool_calls");
    for (size_t i = 0; i < run->calls.n; i++) {
        mg_toolcall_t  *c = &run->calls.calls[i];
        json_t         *ev;

        json_array_append_new(calls, json_pack("{s:s, s:s, s:O, s:n, s:n, s:n, s:i}",
                                               "id", c->id, "name", c->name, "input", c->input,
                                               "ok", "output", "error", "ms", 0));
        ev = json_pack("{s:s, s:s, s:O, s:i}", "id", c->id, "name", c->name,
                       "input", c->input, "step", run->step);
        if (ev == NULL || mg_stream_event(s, "tool_call", ev) != 0) {
            json_decref(ev);
            mg_stream_fail(s, 0, "internal", "cannot send a tool call");
            return -1;
        }
        json_decref(ev);
    }
    if (!mg_agent_limits_ok(s)) {
        return -1;
    }
    run->pending = run->calls.n;
    run->started_ms = mg_now_ms();
    for (size_t i = 0; i < run->calls.n && !s->ended; i++) {
        mg_agent_dispatch(s, i);
    }
    return s->ended ? -1 : 1;
}

int
mg_agent_tool_done(mg_stream_t *s, const mg_tool_job_t *job)
{
    mg_agent_run_t *run = s->run;

    if (run == NULL || job->step != run->step || job->index >= run->calls.n
        || run->results[job->index].done || run->pending == 0)
    {
        return 0;                           /* late: the step moved on */
    }
    /* a sub-agent's tokens are the turn's too */
    s->usage_base_in += job->usage_in;
    s->usage_base_out += job->usage_out;
    s->sub_in += job->usage_in;
    s->sub_out += job->usage_out;
    s->input_tokens += job->usage_in;
    s->output_tokens += job->usage_out;
    mg_agent_result(s, job->index, job->ok, job->output ? job->output : "", job->ms);
    if (job->steps != NULL) {
        json_t *call = json_array_get(json_object_get(run->cur, "tool_calls"), job->index);

        json_object_set_new(call, "steps", json_loads(job->steps, 0, NULL));
    }
    return run->pending == 0 && !s->ended;
}

int
mg_agent_tools_expire(mg_stream_t *s)
{
    mg_agent_run_t       *run = s->run;
    const mg_tool_def_t  *def;
    long long             now = mg_now_ms();
    char                  why[96];

    snprintf(why, sizeof(why), "the tool did not finish within its %ld s",
             (run->lim.tool_timeout_ms + 999) / 1000);
    for (size_t i = 0; i < run->calls.n && !s->ended; i++) {
        if (!run->results[i].done && run->results[i].due_ms <= now) {
            mg_log_info("stream rid=%s: tool %s timed out", s->rid, run->calls.calls[i].name);
            /* a sub-agent still running is told to stop */
            mg_toolrun_cancel(s->rid, s->peer, s->peer_len, run->step, (long) i);
            def = mg_agent_offered(run, run->calls.calls[i].name);
            mg_agent_result(s, i, 0, def != NULL && def->agent_id != NULL
                                     ? "the agent did not finish in the time the turn had left"
                                     : why, now - run->started_ms);
        }
    }
    return run->pending == 0 && !s->ended;
}

int
mg_agent_next_step(mg_stream_t *s)
{
    mg_agent_run_t      *run = s->run;
    mg_tool_exchange_t   x[MG_TOOLCALLS_MAX];
    size_t               from = run->step_text_start < s->text_len ? run->step_text_start
                                                                  : s->text_len;
    char                 err[256];

    if (s->deadline_ms != 0 && mg_now_ms() >= s->deadline_ms) {
        mg_stream_fail(s, 0, "agent_time_limit", "the agent ran out of its %ld s for one turn",
                       run->lim.timeout_ms / 1000);
        return -1;
    }
    for (size_t i = 0; i < run->calls.n; i++) {
        x[i].id = run->calls.calls[i].id;
        x[i].name = run->calls.calls[i].name;
        x[i].input = run->calls.calls[i].input;
        x[i].ok = run->results[i].ok;
        x[i].output = run->results[i].output ? run->results[i].output : "";
    }
    if (s->provider->add_tool_results(s, s->text ? s->text + from : "", s->text_len - from,
                                      x, run->calls.n, err, sizeof(err)) != 0)
    {
        mg_stream_fail(s, 0, "internal", "%s", err);
        return -1;
    }
    mg_toolcalls_clear(&run->calls);
    mg_agent_results_clear(run);
    run->cur = NULL;
    run->step++;
    run->step_started_ms = mg_now_ms();
    run->step_text_start = s->text_len;
    return 0;
}

char *
mg_agent_steps_json(mg_agent_run_t *run, const mg_stream_t *s)
{
    size_t       n = json_array_size(run->log);
    const char  *why = s->status == MG_STREAM_CANCELLED ? "cancelled"
                       : s->status == MG_STREAM_ERROR ? s->error_code : s->stop_reason;
    json_t      *last = n > 0 ? json_array_get(run->log, n - 1) : NULL;

    if (run->cur != NULL) {
        /* the turn ended while tools ran: those calls never finished */
        json_t  *calls = json_object_get(run->cur, "tool_calls"), *c;
        size_t   i;
        char     stopped[80];

        snprintf(stopped, sizeof(stopped), "stopped: %s", why);
        json_array_foreach(calls, i, c) {
            if (json_is_null(json_object_get(c, "ok"))) {
                json_object_set_new(c, "ok", json_false());
                json_object_set_new(c, "error", json_string(stopped));
            }
        }
    } else if (last == NULL || json_integer_value(json_object_get(last, "step")) != run->step) {
        /* a step cut short by an error or the client leaving */
        json_array_append_new(run->log, mg_agent_step_record(run, s, why));
    }
    return json_dumps(run->log, JSON_COMPACT);
}
