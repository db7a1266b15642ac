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

typedef struct {
    int         done, ok;
    char       *output;             /* the result text, or the error; owned */
    long long   ms;
} mg_agent_result_t;

struct mg_agent_run_s {
    mg_agent_limits_t       lim;
    const mg_tool_def_t    *tools[MG_AGENT_TOOLS_MAX];
    size_t                  ntools;

    int                     step;               /* 1-based: the step running */
    long long               step_started_ms;
    size_t                  step_text_start;    /* where its text begins in s->text */
    mg_toolcalls_t          calls;
    mg_agent_result_t       results[MG_TOOLCALLS_MAX];
    size_t                  pending;
    long long               started_ms;         /* the calls' dispatch */
    long long               tools_due_ms;       /* 0: no tool running */
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
    run->tools_due_ms = 0;
}

void
mg_agent_run_free(mg_agent_run_t *run)
{
    if (run == NULL) {
        return;
    }
    mg_toolcalls_clear(&run->calls);
    mg_agent_results_clear(run);
    json_decref(run->log);
    free(run);
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
    return run->pending == 0 ? mg_now_ms() : run->tools_due_ms;
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
    size_t   len = strlen(text), keep = max;
    json_t  *v;
    char    *t;

    if (len <= max) {
        return json_stringn(text, len);
    }
    while (keep > 0 && ((unsigned char) text[keep] & 0xC0) == 0x80) {
        keep--;
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
    run->tools_due_ms = run->started_ms + run->lim.tool_timeout_ms;
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
    mg_agent_result(s, job->index, job->ok, job->output ? job->output : "", job->ms);
    return run->pending == 0 && !s->ended;
}

void
mg_agent_tools_expire(mg_stream_t *s)
{
    mg_agent_run_t  *run = s->run;
    char             why[96];

    snprintf(why, sizeof(why), "the tool did not finish within its %ld s",
             (run->lim.tool_timeout_ms + 999) / 1000);
    for (size_t i = 0; i < run->calls.n && !s->ended; i++) {
        if (!run->results[i].done) {
            mg_log_info("stream rid=%s: tool %s timed out", s->rid, run->calls.calls[i].name);
            mg_agent_result(s, i, 0, why, mg_now_ms() - run->started_ms);
        }
    }
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
