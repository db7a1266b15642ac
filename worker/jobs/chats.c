/*
 * chats: owns the read, rename and delete side of the chats API
 * (chats.list/get/update/delete).  Chats and their messages are written by
 * chat streaming, never here.  As in bots.c, every statement is scoped by
 * owner_id = the caller, so another user's chat, a missing one and an id
 * that is not a UUID all get the same 404 chat_not_found.  Replies are
 * written in one pass from the result rows (json_write.c): the list is a
 * hot path and a chat may carry a thousand messages.
 *
 * Paging is keyset (jobs/page.c, with the cursors of cursor.c): the list
 * walks (updated_at, id) backwards, newest activity first; a chat's
 * messages walk (created_at, id) forwards, oldest first.  A chat that gets a message
 * while a client pages the list moves above that client's cursor: later
 * pages never repeat it, and if it had not been reached yet they do not
 * show it either (it is on the first page again).  That is the usual
 * trade of activity-ordered lists; updated_at only ever moves forward
 * (a rename leaves it alone), so nothing is listed twice.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "jobs/page.h"
#include "util/log.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_CHATS_LIMIT_DEFAULT     20
#define MG_CHATS_LIMIT_MAX         100
#define MG_MESSAGES_LIMIT_DEFAULT  100
#define MG_MESSAGES_LIMIT_MAX      1000

/* chats.update's body (PATCH: every field optional).  Mirrors the CHECK on
 * chats.title in sql/001_init.sql, which also allows the '' a new chat
 * starts with; a rename must say something. */
const mg_field_t mg_chat_fields[] = {
    { "title", MG_FIELD_STRING, MG_FIELD_NOT_BLANK, 1, 255, NULL },
};

const size_t mg_chat_fields_count = sizeof(mg_chat_fields) / sizeof(mg_chat_fields[0]);

/* ---- one-pass JSON ---------------------------------------------------- */

/* Bytes mg_chat_fields_write may use for row (an upper bound). */
static size_t
mg_chat_json_max(const PGresult *r, int row)
{
    /* keys and punctuation ~85, three uuids 108, two timestamps ~60 */
    return 320 + mg_jw_text_max(r, row, MG_CHAT_COL_TITLE, MG_CHAT_COL_TITLE);
}

/* The chat's members without the braces, so chats.get can add its
 * messages inside the same object. */
static char *
mg_chat_fields_write(char *p, const PGresult *r, int row)
{
    p += sprintf(p, "\"id\":\"%s\",", PQgetvalue(r, row, MG_CHAT_COL_ID));
    p = mg_jw_str(p, "bot_id", r, row, MG_CHAT_COL_BOT_ID);
    *p++ = ',';
    p = mg_jw_str(p, "agent_id", r, row, MG_CHAT_COL_AGENT_ID);
    *p++ = ',';
    p = mg_jw_str(p, "title", r, row, MG_CHAT_COL_TITLE);
    *p++ = ',';
    p = mg_jw_ts(p, "created_at", r, row, MG_CHAT_COL_CREATED_US);
    *p++ = ',';
    p = mg_jw_ts(p, "updated_at", r, row, MG_CHAT_COL_UPDATED_US);
    return p;
}

static size_t
mg_chat_item_max(const PGresult *r, int row)
{
    return mg_chat_json_max(r, row) + 2;
}

static char *
mg_chat_item_write(char *p, const PGresult *r, int row)
{
    *p++ = '{';
    p = mg_chat_fields_write(p, r, row);
    *p++ = '}';
    return p;
}

/* Bytes mg_msg_write may use for row (an upper bound). */
static size_t
mg_msg_json_max(const PGresult *r, int row)
{
    /* keys and punctuation ~200, the id 36, two int4 texts 22, a
     * timestamp ~30: under 300 besides the text columns */
    return 576 + mg_jw_text_max(r, row, MG_MSG_COL_ROLE, MG_MSG_COL_BOT_ID)
           + (size_t) PQgetlength(r, row, MG_MSG_COL_CITATIONS)
           + (size_t) PQgetlength(r, row, MG_MSG_COL_STEPS);
}

static char *
mg_msg_write(char *p, const PGresult *r, int row)
{
    p += sprintf(p, "{\"id\":\"%s\",", PQgetvalue(r, row, MG_MSG_COL_ID));
    p = mg_jw_str(p, "role", r, row, MG_MSG_COL_ROLE);
    *p++ = ',';
    p = mg_jw_str(p, "content", r, row, MG_MSG_COL_CONTENT);
    *p++ = ',';
    p = mg_jw_str(p, "status", r, row, MG_MSG_COL_STATUS);
    *p++ = ',';
    p = mg_jw_str(p, "stop_reason", r, row, MG_MSG_COL_STOP_REASON);
    *p++ = ',';
    p = mg_jw_str(p, "error", r, row, MG_MSG_COL_ERROR);
    *p++ = ',';
    p = mg_jw_str(p, "model_id", r, row, MG_MSG_COL_MODEL_ID);
    *p++ = ',';
    p = mg_jw_str(p, "bot_id", r, row, MG_MSG_COL_BOT_ID);
    *p++ = ',';
    p = mg_jw_str(p, "agent_id", r, row, MG_MSG_COL_AGENT_ID);
    /* int4 text is JSON as it is */
    p += sprintf(p, ",\"input_tokens\":%s,\"output_tokens\":%s,",
                 PQgetvalue(r, row, MG_MSG_COL_INPUT_TOKENS),
                 PQgetvalue(r, row, MG_MSG_COL_OUTPUT_TOKENS));
    p = mg_jw_ts(p, "created_at", r, row, MG_MSG_COL_CREATED_US);
    /* jsonb text is JSON as it is */
    if (PQgetisnull(r, row, MG_MSG_COL_CITATIONS)) {
        p += sprintf(p, ",\"citations\":null");
    } else {
        size_t len = (size_t) PQgetlength(r, row, MG_MSG_COL_CITATIONS);

        p += sprintf(p, ",\"citations\":");
        memcpy(p, PQgetvalue(r, row, MG_MSG_COL_CITATIONS), len);
        p += len;
    }
    if (PQgetisnull(r, row, MG_MSG_COL_STEPS)) {
        p += sprintf(p, ",\"steps\":null");
    } else {
        size_t len = (size_t) PQgetlength(r, row, MG_MSG_COL_STEPS);

        p += sprintf(p, ",\"steps\":");
        memcpy(p, PQgetvalue(r, row, MG_MSG_COL_STEPS), len);
        p += len;
    }
    *p++ = '}';
    return p;
}

/* ---- replies ------------------------------------------------------------ */

static int
mg_chat_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "chat_not_found", "chat not found");
}

static int
mg_chat_internal(mg_job_t *job)
{
    return mg_job_reply_error(job, 500, "internal", "internal error");
}

/* Reply 200 with the chat in row 0 of r (no messages). */
static int
mg_chat_reply(mg_job_t *job, const PGresult *r)
{
    char  *body, *end;
    int    sent;

    body = malloc(mg_chat_item_max(r, 0));
    if (body == NULL) {
        return mg_chat_internal(job);
    }
    end = mg_chat_item_write(body, r, 0);
    sent = mg_job_reply_raw(job, 200, body, (size_t) (end - body), NULL);
    free(body);
    return sent;
}

/* The {id} path parameter when it can name a chat at all, else NULL. */
static const char *
mg_chat_path_id(mg_job_t *job)
{
    size_t       len;
    const char  *id = mg_job_param(job, "id", &len);

    return (id != NULL && mg_uuid_valid(id, len)) ? id : NULL;
}

/* Fetch the caller's chat id.  MG_DB_OK with *res (0 or 1 row) or a db error. */
static mg_db_rc_t
mg_chat_fetch(mg_job_t *job, const char *id, PGresult **res)
{
    const char *values[2] = { id, job->user_id };

    return mg_db_exec(job->db, MG_Q_CHAT_GET, values, res);
}

/* ---- handlers ------------------------------------------------------------ */

static const mg_page_cols_t mg_chat_cols = {
    MG_CHAT_COL_UPDATED_US, MG_CHAT_COL_ID, mg_chat_item_max, mg_chat_item_write
};

int
mg_job_chats_list(mg_job_t *job)
{
    const char     *values[4];
    mg_page_req_t   req;
    int             sent;

    if (mg_page_query(job, MG_CHATS_LIMIT_DEFAULT, MG_CHATS_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    values[0] = job->user_id;
    return mg_page_list(job, &req, MG_Q_CHAT_LIST_FIRST, MG_Q_CHAT_LIST_AFTER, values, 1,
                        &mg_chat_cols, "chats.list");
}

int
mg_job_chats_get(mg_job_t *job)
{
    const char      *id, *values[5];
    mg_page_req_t    req;
    mg_page_t        pg;
    char            *body = NULL, *p;
    PGresult        *chat = NULL, *msgs = NULL;
    mg_db_rc_t       rc;
    int              sent;

    id = mg_chat_path_id(job);
    if (id == NULL) {
        return mg_chat_not_found(job);
    }
    if (mg_page_query(job, MG_MESSAGES_LIMIT_DEFAULT, MG_MESSAGES_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }

    rc = mg_chat_fetch(job, id, &chat);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, chat, "chats.get");
        goto done;
    }
    if (PQntuples(chat) == 0) {
        sent = mg_chat_not_found(job);
        goto done;
    }

    /* A second statement: a chat deleted in between just shows no
     * messages (the messages statement checks ownership again itself). */
    values[0] = id;
    values[1] = job->user_id;
    rc = mg_page_exec(job, MG_Q_CHAT_MESSAGES_FIRST, MG_Q_CHAT_MESSAGES_AFTER, values, 2, &req,
                      &msgs);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, msgs, "chats.get");
        goto done;
    }
    mg_page_init(&pg, msgs, &req, MG_MSG_COL_CREATED_US, MG_MSG_COL_ID,
                 mg_msg_json_max, mg_msg_write);

    /* {chat members,"messages":[message,...],"next_cursor":...} */
    body = malloc(mg_chat_item_max(chat, 0) + sizeof(",\"messages\":") + mg_page_max(&pg));
    if (body == NULL) {
        sent = mg_chat_internal(job);
        goto done;
    }
    p = body;
    *p++ = '{';
    p = mg_chat_fields_write(p, chat, 0);
    p += sprintf(p, ",\"messages\":");
    p = mg_page_write(p, &pg);
    if (p == NULL) {
        mg_log_error("chats.get rid=%s: cannot encode cursor", job->rid);
        sent = mg_chat_internal(job);
        goto done;
    }
    *p++ = '}';
    sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);

done:
    free(body);
    PQclear(msgs);
    PQclear(chat);
    return sent;
}

int
mg_job_chats_update(mg_job_t *job)
{
    json_t       *v = NULL;
    mg_verr_t     err;
    const char   *id, *values[3];
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent;

    id = mg_chat_path_id(job);
    if (id == NULL) {
        sent = mg_chat_not_found(job);
        goto done;
    }

    v = mg_validate_body(job->body, job->body_len, mg_chat_fields, mg_chat_fields_count,
                         MG_VALIDATE_PATCH, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }

    if (json_object_size(v) == 0) {
        /* {} changes nothing: the chat as it is, like bots.update */
        rc = mg_chat_fetch(job, id, &res);
    } else {
        /* The rename leaves updated_at alone (see MG_Q_CHAT_RENAME):
         * updated_at is the last message activity the list is ordered by,
         * and renaming a chat must not move it to the top. */
        values[0] = id;
        values[1] = job->user_id;
        values[2] = json_string_value(json_object_get(v, "title"));
        rc = mg_db_exec(job->db, MG_Q_CHAT_RENAME, values, &res);
    }
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "chats.update");
    } else if (PQntuples(res) == 0) {
        sent = mg_chat_not_found(job);
    } else {
        sent = mg_chat_reply(job, res);
    }

done:
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_chats_delete(mg_job_t *job)
{
    const char  *id = mg_chat_path_id(job), *values[2];

    if (id == NULL) {
        return mg_chat_not_found(job);
    }
    values[0] = id;
    values[1] = job->user_id;
    return mg_job_delete_owned(job, MG_Q_CHAT_DELETE, values, mg_chat_not_found, "chats.delete");
}
