/*
 * chat_resume: owns the two routes that reach an answer already under way,
 * GET /api/v1/chats/{id}/stream (chats.resume) and POST
 * /api/v1/chats/{id}/cancel (chats.cancel).
 *
 * An answer in progress lives in one worker process's engine (stream.c),
 * which may not be this one.  The module asks each worker in turn
 * (MG_ROUTE_FIND): here the engine is asked (mg_streams_find) and answers
 * the job itself, with ERR 404 MG_STREAMS_ELSEWHERE when the answer is not
 * here.  When every worker said so, the module asks once more with
 * "stored": the answer is then read from the database, as it was stored
 * when it ended.  Its events were numbered 1..stream_events, so a client
 * resuming it gets only what comes after its Last-Event-ID: a `snapshot`
 * of the whole answer (the events themselves are not stored) and its
 * `done` or `error`, or 204 when it has seen everything.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"
#include "replay.h"
#include "stream.h"
#include "util/log.h"
#include "util/sb.h"
#include "util/uuid.h"
#include "validate.h"

/* the columns of MG_Q_CHAT_STORED_ANSWER */
enum {
    MG_SA_ID = 0, MG_SA_ROLE, MG_SA_CONTENT, MG_SA_STATUS, MG_SA_STOP_REASON, MG_SA_ERROR,
    MG_SA_INPUT, MG_SA_OUTPUT, MG_SA_EVENTS, MG_SA_CITATIONS, MG_SA_BOT, MG_SA_AGENT,
    MG_SA_MODEL, MG_SA_USER_MESSAGE
};

typedef struct {
    const char  *chat_id;
    char         message_id[MG_UUID_LEN + 1];     /* "": the chat's latest answer */
    uint32_t     seen;                            /* Last-Event-ID; 0: none */
    int          stored;                          /* the module's last try */
} mg_resume_req_t;

static int
mg_resume_chat_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "chat_not_found", "chat not found");
}

/* The request's chat, answer and Last-Event-ID (header, as EventSource
 * sends it, or ?last_event_id=).  0, or -1 once answered. */
static int
mg_resume_parse(mg_job_t *job, mg_resume_req_t *req, int *sent)
{
    char         value[16];
    const char  *query, *id;
    size_t       qlen, len;
    int          found;

    memset(req, 0, sizeof(*req));
    id = mg_job_param(job, "id", &len);
    if (id == NULL || !mg_uuid_valid(id, len)) {
        *sent = mg_resume_chat_not_found(job);
        return -1;
    }
    req->chat_id = id;
    req->stored = json_is_true(json_object_get(job->params, "stored"));

    query = mg_job_query(job, &qlen);
    found = mg_query_get(query, qlen, "message_id", req->message_id, sizeof(req->message_id),
                         &len);
    if (found < 0 || (found == 1 && !mg_uuid_valid(req->message_id, len))) {
        *sent = mg_job_reply_error(job, 404, "no_stream", "no such answer in this chat");
        return -1;
    }
    id = mg_job_param(job, "last_event_id", &len);
    found = 1;
    if (id == NULL) {
        found = mg_query_get(query, qlen, "last_event_id", value, sizeof(value), &len);
        id = value;
    }
    /* found < 0: a bad escape, or too long to be an id */
    if (found != 0 && (found < 0 || mg_replay_parse_id(id, len, &req->seen) != 0)) {
        *sent = mg_job_reply_error(job, 400, "invalid_last_event_id",
                                   "Last-Event-ID must be the id of an event of this answer");
        return -1;
    }
    return 0;
}

/* Ask this process's engine; it answers the job.  1 when it took it. */
static int
mg_resume_ask_engine(mg_job_t *job, mg_find_kind_t kind, const mg_resume_req_t *req)
{
    if (mg_streams_find(kind, job->rid, job->peer, job->peer_len, job->user_id, req->chat_id,
                        req->message_id, req->seen) != 0)
    {
        return 0;
    }
    /* a CANCEL the broker had before the engine knew the client must
     * still detach it (as in chat.c) */
    if (mg_job_cancelled(job)) {
        mg_streams_cancel(job->rid, job->peer, job->peer_len);
    }
    mg_job_handed_off(job);
    return 1;
}

/* The stored answer's last event, without its id line; NULL when out of
 * memory.  Its message is the code's: the one the client was sent then
 * is not stored. */
static char *
mg_resume_final_event(const PGresult *r, size_t *len)
{
    const char  *status = PQgetvalue(r, 0, MG_SA_STATUS);
    const char  *code = PQgetisnull(r, 0, MG_SA_ERROR) ? "internal" : PQgetvalue(r, 0, MG_SA_ERROR);
    char         message[128];

    if (strcmp(status, "complete") == 0 || strcmp(status, "cancelled") == 0) {
        return mg_chat_end_event(PQgetvalue(r, 0, MG_SA_ID),
                                 strcmp(status, "cancelled") == 0 ? "cancelled"
                                 : PQgetisnull(r, 0, MG_SA_STOP_REASON) ? "end_turn"
                                 : PQgetvalue(r, 0, MG_SA_STOP_REASON),
                                 strtoll(PQgetvalue(r, 0, MG_SA_INPUT), NULL, 10),
                                 strtoll(PQgetvalue(r, 0, MG_SA_OUTPUT), NULL, 10),
                                 NULL, NULL, 1, len);
    }
    snprintf(message, sizeof(message), "the answer ended with an error (%s)", code);
    return mg_chat_end_event(PQgetvalue(r, 0, MG_SA_ID), NULL, 0, 0, code, message, 1, len);
}

/* The stored answer as a `snapshot` event; NULL when out of memory. */
static char *
mg_resume_snapshot_event(const PGresult *r, const char *chat_id, size_t *len)
{
    json_t  *v;
    char    *json, *ev;

    v = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s}", "chat_id", chat_id,
                  "message_id", PQgetvalue(r, 0, MG_SA_ID),
                  "user_message_id", PQgetisnull(r, 0, MG_SA_USER_MESSAGE)
                                     ? NULL : PQgetvalue(r, 0, MG_SA_USER_MESSAGE),
                  "bot_id", PQgetisnull(r, 0, MG_SA_BOT) ? NULL : PQgetvalue(r, 0, MG_SA_BOT),
                  "agent_id", PQgetisnull(r, 0, MG_SA_AGENT)
                              ? NULL : PQgetvalue(r, 0, MG_SA_AGENT),
                  "model", PQgetisnull(r, 0, MG_SA_MODEL) ? NULL : PQgetvalue(r, 0, MG_SA_MODEL),
                  "content", PQgetvalue(r, 0, MG_SA_CONTENT));
    if (v != NULL && !PQgetisnull(r, 0, MG_SA_CITATIONS)) {
        json_object_set_new(v, "citations", json_loads(PQgetvalue(r, 0, MG_SA_CITATIONS), 0,
                                                       NULL));
    }
    json = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    ev = json ? mg_sse_event("snapshot", json, strlen(json), len) : NULL;
    free(json);
    return ev;
}

static void
mg_resume_add_event(mg_sb_t *out, uint32_t id, const char *ev, size_t len)
{
    char idl[MG_REPLAY_ID_MAX];

    mg_sb_add(out, idl, (size_t) snprintf(idl, sizeof(idl), "id: %u\n", id));
    mg_sb_add(out, ev, len);
}

/* A finished answer, from the database, as the rest of its stream. */
static int
mg_resume_stored(mg_job_t *job, const mg_resume_req_t *req)
{
    const char        *values[3];
    PGresult          *r = NULL;
    mg_db_rc_t         rc;
    mg_msg_t           head;
    mg_msg_t           data = { .type = MG_MSG_DATA }, end = { .type = MG_MSG_END };
    mg_sb_t            out = { 0 };
    char              *final = NULL, *snap = NULL, *body = NULL;
    size_t             final_len = 0, snap_len = 0, body_len;
    uint32_t           events;
    int                sent;

    values[0] = req->chat_id;
    values[1] = job->user_id;
    values[2] = req->message_id[0] ? req->message_id : NULL;
    rc = mg_db_exec(job->db, MG_Q_CHAT_STORED_ANSWER, values, &r);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, r, "chats.resume");
        goto done;
    }
    if (PQntuples(r) == 0) {
        sent = mg_resume_chat_not_found(job);
        goto done;
    }
    if (PQgetisnull(r, 0, MG_SA_ID) || strcmp(PQgetvalue(r, 0, MG_SA_ROLE), "assistant") != 0) {
        /* a question with no answer anywhere: being asked, or its worker died */
        sent = mg_job_reply_error(job, 404, "no_stream",
                                  "no answer of this chat is in progress or stored");
        goto done;
    }
    /* No count: the answer was not streamed, or its worker died and the
     * sweep stored it (instance.c), so no client got its end.  Whatever
     * the client saw, a snapshot and the end come after it. */
    events = PQgetisnull(r, 0, MG_SA_EVENTS)
             ? (req->seen > UINT32_MAX - 2 ? UINT32_MAX : req->seen + 2)
             : (uint32_t) strtoul(PQgetvalue(r, 0, MG_SA_EVENTS), NULL, 10);
    if (events < 2) {
        events = 2;
    }
    if (req->seen > events) {
        sent = mg_job_reply_error(job, 400, "invalid_last_event_id",
                                  "Last-Event-ID is past this answer's last event");
        goto done;
    }
    if (req->seen == events) {
        sent = mg_job_reply_empty(job, 204);    /* EventSource stops on 204 */
        goto done;
    }
    final = mg_resume_final_event(r, &final_len);
    if (req->seen < events - 1) {
        snap = mg_resume_snapshot_event(r, req->chat_id, &snap_len);
        if (snap != NULL) {
            mg_resume_add_event(&out, events - 1, snap, snap_len);
        }
    }
    if (final != NULL) {
        mg_resume_add_event(&out, events, final, final_len);
    }
    body_len = out.len;
    body = mg_sb_done(&out);
    if (final == NULL || (req->seen < events - 1 && snap == NULL) || body == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "out of memory");
        goto done;
    }
    mg_sse_head(&head);
    data.body.data = body;
    data.body.len = body_len;
    sent = mg_job_send_part(job, &head) == 0 && mg_job_send_part(job, &data) == 0
           && mg_job_send_part(job, &end) == 0 ? 0 : -1;
    mg_job_handed_off(job);

done:
    free(body);
    free(final);
    free(snap);
    PQclear(r);
    return sent;
}

int
mg_job_chats_resume(mg_job_t *job)
{
    mg_resume_req_t  req;
    int              sent;

    if (mg_resume_parse(job, &req, &sent) != 0) {
        return sent;
    }
    if (!req.stored && mg_resume_ask_engine(job, MG_FIND_ATTACH, &req)) {
        return 0;
    }
    return mg_resume_stored(job, &req);
}

int
mg_job_chats_cancel(mg_job_t *job)
{
    mg_resume_req_t  req;
    const char      *values[2];
    PGresult        *r = NULL;
    mg_db_rc_t       rc;
    int              sent;

    if (mg_resume_parse(job, &req, &sent) != 0) {
        return sent;
    }
    if (!req.stored && mg_resume_ask_engine(job, MG_FIND_STOP, &req)) {
        return 0;
    }
    /* running nowhere: say whether there is a chat to speak of */
    values[0] = req.chat_id;
    values[1] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_CHAT_GET, values, &r);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, r, "chats.cancel");
    } else if (PQntuples(r) == 0) {
        sent = mg_resume_chat_not_found(job);
    } else {
        sent = mg_job_reply_error(job, 409, "not_streaming",
                                  "no answer of this chat is in progress");
    }
    PQclear(r);
    return sent;
}
