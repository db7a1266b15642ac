/*
 * agent_run: owns agent.run, a sub-agent's turn asked for by another
 * agent's turn (agents/subagent.c on the caller's tool thread).  It is
 * not an HTTP route: workers send it to each other over ZeroMQ, so a
 * specialised agent can run on its own worker processes (MANGOO_AGENTS
 * says which agents a process serves).
 *
 * Body: {"agent_id", "task", "path", "depth", "time_left_ms"}; claims:
 * the user whose turn it is.  The answer streams like a chat turn, as SSE
 * to the caller: `start`, `message` deltas, the sub-agent's own `agent`
 * events when it hands work on, then `done` {"stop_reason", "usage",
 * "steps"} or `error` {"code", "message"}.  Nothing is stored here: the
 * turn that asked stores the whole turn, this run's steps inside its own.
 */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/loop.h"
#include "providers/provider.h"
#include "stream.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/uuid.h"

#define MG_AGENT_TASK_MAX  32000            /* bytes of a task */

/* MANGOO_AGENTS: the agents this process serves, by name or id,
 * comma-separated; unset or "*": all. */
static char            *mg_served;
static pthread_once_t   mg_served_once = PTHREAD_ONCE_INIT;

static void
mg_served_init(void)
{
    const char *v = getenv("MANGOO_AGENTS");

    if (v != NULL && *v != '\0' && strcmp(v, "*") != 0) {
        mg_served = strdup(v);
    }
}

static int
mg_agent_served(const char *id, const char *name)
{
    const char  *p;

    pthread_once(&mg_served_once, mg_served_init);
    if (mg_served == NULL) {
        return 1;
    }
    for (p = mg_served; *p != '\0';) {
        size_t len = strcspn(p, ",");
        size_t a = 0, b = len;

        while (a < b && p[a] == ' ') {
            a++;
        }
        while (b > a && p[b - 1] == ' ') {
            b--;
        }
        if ((strlen(id) == b - a && memcmp(p + a, id, b - a) == 0)
            || (strlen(name) == b - a && memcmp(p + a, name, b - a) == 0))
        {
            return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

static char *
mg_agent_run_start_event(const char *agent_id, const char *path)
{
    json_t  *v = json_pack("{s:s, s:s}", "agent_id", agent_id, "path", path);
    char    *json = v ? json_dumps(v, JSON_COMPACT) : NULL, *ev = NULL;
    size_t   len;

    json_decref(v);
    if (json != NULL) {
        ev = mg_sse_event("start", json, strlen(json), &len);
    }
    free(json);
    return ev;
}

int
mg_job_agent_run(mg_job_t *job)
{
    json_t               *v = json_loadb(job->body, job->body_len, 0, NULL);
    const char           *agent_id, *task, *path, *model, *values[2];
    json_int_t            depth, left;
    PGresult             *agent = NULL;
    mg_db_rc_t            rc;
    const mg_provider_t  *provider;
    mg_stream_t          *s = NULL;
    mg_chat_turn_t        turn;
    mg_chat_request_t     req;
    char                  err[256], parent[MG_AGENT_PATH_MAX];
    const char           *slash;
    int                   sent, submitted;

    agent_id = json_string_value(json_object_get(v, "agent_id"));
    task = json_string_value(json_object_get(v, "task"));
    path = json_string_value(json_object_get(v, "path"));
    depth = json_integer_value(json_object_get(v, "depth"));
    left = json_integer_value(json_object_get(v, "time_left_ms"));
    if (agent_id == NULL || !mg_uuid_valid(agent_id, strlen(agent_id)) || task == NULL
        || *task == '\0' || strlen(task) > MG_AGENT_TASK_MAX || path == NULL
        || strlen(path) >= MG_AGENT_PATH_MAX || (slash = strrchr(path, '/')) == NULL
        || depth < 1 || depth > MG_AGENT_DEPTH_MAX || left < 1)
    {
        sent = mg_job_reply_error(job, 400, "invalid_body",
                                  "agent.run needs agent_id, task, path, depth and time_left_ms");
        goto done;
    }
    values[0] = agent_id;
    values[1] = "true";                     /* a draft may be a sub-agent; a retired one not */
    rc = mg_db_exec(job->db, MG_Q_AGENT_GET, values, &agent);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, agent, "agent.run");
        goto done;
    }
    if (PQntuples(agent) == 0 || strcmp(PQgetvalue(agent, 0, MG_AGENT_COL_STATUS), "retired") == 0) {
        sent = mg_job_reply_error(job, 404, "agent_not_found", "agent not found");
        goto done;
    }
    if (!mg_agent_served(agent_id, PQgetvalue(agent, 0, MG_AGENT_COL_NAME))) {
        sent = mg_job_reply_error(job, 421, "agent_not_served",
                                  "this worker does not serve that agent");
        goto done;
    }
    provider = mg_provider_for(PQgetvalue(agent, 0, MG_AGENT_COL_MODEL_ID), &model, err,
                               sizeof(err));
    if (provider == NULL) {
        sent = mg_job_reply_error(job, 503, "model_unavailable", err);
        goto done;
    }

    s = mg_stream_new(job->rid, job->peer, job->peer_len);
    if (s == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "out of memory");
        goto done;
    }
    s->sse = 1;
    s->subrun = 1;
    s->provider = provider;
    snprintf(s->agent_id, sizeof(s->agent_id), "%s", agent_id);
    snprintf(parent, sizeof(parent), "%.*s", (int) (slash - path), path);
    s->user_id = strdup(job->user_id);
    s->model_id = strdup(PQgetvalue(agent, 0, MG_AGENT_COL_MODEL_ID));
    if (s->user_id == NULL || s->model_id == NULL || mg_uuid_v4(s->message_id) != 0) {
        sent = mg_job_reply_error(job, 500, "internal", "out of memory");
        goto done;
    }
    if (mg_chat_agent_run(job, agent_id, PQgetvalue(agent, 0, MG_AGENT_COL_JSON), parent,
                          (int) depth, &s->run) != 0)
    {
        sent = 0;                           /* answered */
        goto done;
    }
    mg_agent_set_path(s->run, path);
    s->deadline_ms = mg_now_ms() + (left < mg_agent_timeout_ms(s->run)
                                    ? (long long) left : mg_agent_timeout_ms(s->run));

    turn.role = "user";
    turn.text = task;
    turn.len = strlen(task);
    memset(&req, 0, sizeof(req));
    req.model = model;
    req.system = PQgetvalue(agent, 0, MG_AGENT_COL_INSTRUCTIONS);
    req.turns = &turn;
    req.nturns = 1;
    req.temperature = strtod(PQgetvalue(agent, 0, MG_AGENT_COL_TEMPERATURE), NULL);
    req.max_tokens = atoi(PQgetvalue(agent, 0, MG_AGENT_COL_MAX_TOKENS));
    req.tools = mg_agent_tools(s->run, &req.ntools);
    if (req.ntools == 0) {
        req.tools = NULL;
    }
    s->input_estimate = mg_tokens_estimate(turn.len + strlen(req.system));
    if (provider->prepare(s, &req, err, sizeof(err)) != 0) {
        sent = mg_job_reply_error(job, 502, "provider_error", err);
        goto done;
    }
    s->start_event = mg_agent_run_start_event(agent_id, path);
    if (s->start_event == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "out of memory");
        goto done;
    }
    submitted = mg_streams_submit(s);
    if (submitted != 0) {
        sent = mg_chat_reply_refused(job, submitted);
        goto done;
    }
    if (mg_job_cancelled(job)) {
        mg_streams_cancel(s->rid, s->peer, s->peer_len);
    }
    mg_log_info("agent.run rid=%s: %s (%s) for user %.64s", job->rid, path, agent_id,
                job->user_id);
    s = NULL;
    mg_job_handed_off(job);
    sent = 0;

done:
    mg_stream_free(s);
    PQclear(agent);
    json_decref(v);
    return sent;
}

int
mg_agent_run_finish(mg_stream_t *s, mg_job_send_fn send, void *send_ctx)
{
    mg_job_t   job;
    mg_msg_t   msg = { .type = MG_MSG_DATA }, end = { .type = MG_MSG_END };
    json_t    *v;
    char      *steps, *json, *ev = NULL;
    size_t     len;
    int        rc = -1;

    if (!s->usage_known) {
        s->input_tokens = s->input_estimate;
        s->output_tokens = mg_tokens_estimate(s->text_len);
    }
    /* spent even when the caller went away, as a bot's cancelled answer */
    mg_stream_count_tokens(s);
    if (s->status == MG_STREAM_CANCELLED) {
        return 0;                           /* nobody is listening */
    }
    memset(&job, 0, sizeof(job));
    memcpy(job.rid, s->rid, sizeof(job.rid));
    job.name = "agent.run";
    job.name_len = sizeof("agent.run") - 1;
    job.send = send;
    job.send_ctx = send_ctx;

    steps = mg_agent_steps_json(s->run, s);
    if (s->status == MG_STREAM_COMPLETE) {
        v = json_pack("{s:s, s:{s:I, s:I}, s:o}", "stop_reason", s->stop_reason, "usage",
                      "input_tokens", (json_int_t) s->input_tokens,
                      "output_tokens", (json_int_t) s->output_tokens,
                      "steps", steps ? json_loads(steps, 0, NULL) : json_null());
    } else {
        v = json_pack("{s:s, s:s, s:{s:I, s:I}, s:o}", "code", s->error_code,
                      "message", s->error_message, "usage",
                      "input_tokens", (json_int_t) s->input_tokens,
                      "output_tokens", (json_int_t) s->output_tokens,
                      "steps", steps ? json_loads(steps, 0, NULL) : json_null());
    }
    free(steps);
    json = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (json != NULL) {
        ev = mg_sse_event(s->status == MG_STREAM_COMPLETE ? "done" : "error", json,
                          strlen(json), &len);
    }
    if (ev != NULL) {
        msg.body.data = ev;
        msg.body.len = len;
        rc = mg_job_send_part(&job, &msg);
    }
    if (mg_job_send_part(&job, &end) != 0) {
        rc = -1;
    }
    free(ev);
    free(json);
    json_decref(v);
    return rc;
}
