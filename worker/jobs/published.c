/*
 * published: owns a published bot's chat, called with an API key:
 * POST /api/v1/published/{bot}/chat/stream (published.stream, SSE) and
 * POST /api/v1/published/{bot}/chat (published.complete, one JSON answer).
 *
 * The module has checked the key against its cache and its rate limit
 * and sends claims {"api_key_id","api_key_hash"}, no "sub".  Its cache
 * may be a moment behind, so here the key is checked again by its hash,
 * and that is what decides (revoked or expired: 401; another bot's: 403).
 * Then, before any model is called, the bot's daily quota over all its
 * keys is checked and the request counted, in one step
 * (mg_api_key_admit, sql/015): over it is 429 quota_exceeded with
 * Retry-After.  The turn itself is chat.c's, run as the bot's owner for
 * the key: the chat is the owner's row marked with the key (no user sees
 * it; only the key continues it), the answer's tokens are counted on the
 * key, and the answers have chat's shapes.
 *
 * Logs name the key by its id, never the key or its hash.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/uuid.h"
#include "validate.h"

/* chat.c's turn fields minus bot_id and agent_id: the path names the bot */
static const mg_field_t mg_published_fields[] = {
    { "chat_id", MG_FIELD_UUID,   MG_FIELD_NULLABLE,                      0, 0,   "null" },
    { "message", MG_FIELD_STRING, MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 1e9, NULL },
};

static int
mg_published_quota(mg_job_t *job, const char *what)
{
    json_t  *headers;
    char     retry[24], m[160];
    int      sent;

    snprintf(retry, sizeof(retry), "%ld", mg_apikey_retry_after());
    snprintf(m, sizeof(m), "this bot's daily quota of %s is used up; it resets at 00:00 UTC",
             what);
    headers = json_pack("{s:s}", "Retry-After", retry);
    sent = mg_job_reply_error_with(job, 429, "quota_exceeded", m, headers);
    json_decref(headers);
    return sent;
}

static int
mg_published_turn(mg_job_t *job, int sse)
{
    json_t             *v = NULL;
    mg_verr_t           verr;
    const char         *hash, *bot, *values[2], *outcome;
    char                key_id[MG_UUID_LEN + 1];
    size_t              len = 0;
    PGresult           *res = NULL;
    mg_db_rc_t          rc;
    mg_chat_turn_in_t   in = { 0 };
    int                 sent;

    hash = json_string_value(json_object_get(job->claims, "api_key_hash"));
    if (hash != NULL) {
        len = json_string_length(json_object_get(job->claims, "api_key_hash"));
    }
    if (!mg_apikey_hash_valid(hash, len)) {
        return mg_job_reply_error(job, 401, "invalid_api_key", "invalid API key");
    }
    bot = mg_job_param(job, "bot", &len);
    if (bot == NULL) {
        return mg_job_reply_error(job, 404, "bot_not_found", "bot not found");
    }

    /* bad input is refused before the request counts */
    v = mg_validate_body(job->body, job->body_len, mg_published_fields,
                         sizeof(mg_published_fields) / sizeof(mg_published_fields[0]),
                         MG_VALIDATE_CREATE, &verr);
    if (v == NULL) {
        return mg_job_reply_verr(job, &verr);
    }
    in.chat_id = json_string_value(json_object_get(v, "chat_id"));
    in.message = json_string_value(json_object_get(v, "message"));
    in.msg_len = json_string_length(json_object_get(v, "message"));
    if (mg_utf8_chars(in.message, in.msg_len) > (size_t) mg_chat_cfg.message_max) {
        char m[96];

        snprintf(m, sizeof(m), "message is longer than %ld characters", mg_chat_cfg.message_max);
        sent = mg_job_reply_error(job, 413, "message_too_large", m);
        goto done;
    }

    values[0] = hash;
    values[1] = bot;
    rc = mg_db_exec(job->db, MG_Q_APIKEY_ADMIT, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "published.admit");
        goto done;
    }
    outcome = PQgetvalue(res, 0, MG_ADMIT_COL_OUTCOME);
    snprintf(key_id, sizeof(key_id), "%s", PQgetvalue(res, 0, MG_ADMIT_COL_KEY_ID));
    if (strcmp(outcome, "ok") != 0) {
        mg_log_info("published rid=%s: key %s refused: %s", job->rid,
                    key_id[0] ? key_id : "(unknown)", outcome);
    }
    if (strcmp(outcome, "invalid") == 0) {
        sent = mg_job_reply_error(job, 401, "invalid_api_key", "invalid API key");
    } else if (strcmp(outcome, "revoked") == 0) {
        sent = mg_job_reply_error(job, 401, "api_key_revoked", "this API key was revoked");
    } else if (strcmp(outcome, "expired") == 0) {
        sent = mg_job_reply_error(job, 401, "api_key_expired", "this API key has expired");
    } else if (strcmp(outcome, "wrong_bot") == 0) {
        sent = mg_job_reply_error(job, 403, "api_key_wrong_bot",
                                  "this API key is for another bot");
    } else if (strcmp(outcome, "quota_requests") == 0) {
        sent = mg_published_quota(job, "requests");
    } else if (strcmp(outcome, "quota_tokens") == 0) {
        sent = mg_published_quota(job, "tokens");
    } else if (strcmp(outcome, "ok") != 0) {
        mg_log_error("published rid=%s: unknown admission outcome", job->rid);
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
    } else {
        in.bot_id = PQgetvalue(res, 0, MG_ADMIT_COL_BOT_ID);
        in.api_key_id = key_id;
        mg_log_debug("published rid=%s: key %s admitted for bot %s", job->rid, key_id,
                     in.bot_id);
        /* the turn is the owner's, for the key; job->user_id borrows the
         * owner's id from res for the call only */
        job->user_id = PQgetvalue(res, 0, MG_ADMIT_COL_OWNER_ID);
        sent = mg_chat_turn(job, sse, &in);
        job->user_id = NULL;
    }

done:
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_published_stream(mg_job_t *job)
{
    return mg_published_turn(job, 1);
}

int
mg_job_published_complete(mg_job_t *job)
{
    return mg_published_turn(job, 0);
}
