/*
 * chat: owns the chat turn, POST /api/v1/chat/stream (chat.stream, SSE)
 * and POST /api/v1/chat (chat.complete, one JSON answer).
 *
 * mg_chat_turn runs a turn for whoever job->user_id is; a published
 * bot's call (published.c) runs one as the bot's owner, for an API key.
 *
 * A turn has three parts:
 *   1. here, on a pool thread: validate, check the bot and chat belong to
 *      the caller, for a bot with rag_enabled retrieve the sources from
 *      its knowledge bases (mg_chat_retrieve: the bot row already says
 *      whether, so other bots run no extra statement), check the daily
 *      quota allows it, store the user's message,
 *      gather the history within a token budget, let the provider build
 *      its request, and submit the stream to the engine (stream.c);
 *   2. the engine streams the model's answer to the client, holding no
 *      database connection;
 *   3. mg_chat_finish, on a pool thread again: store the answer (partial
 *      ones too, with their status, and for SSE how many events it had),
 *      add the tokens to today's usage, and give the engine the `done` or
 *      `error` event that ends the stream for every client attached to it
 *      (a resumed answer may have several, or none).
 */
#include "jobs/jobs.h"
#include "read_cache.h"
#include "instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/loop.h"
#include "knowledge/rag.h"
#include "knowledge/search.h"
#include "util/clock.h"
#include "util/log.h"
#include "mg_json.h"
#include "providers/provider.h"
#include "stream.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_CHAT_HISTORY_ROWS  "200"
#define MG_CHAT_TITLE_MAX     60        /* characters of the first message */

mg_chat_config_t mg_chat_cfg;          /* set from the environment by main.c */

static const mg_field_t mg_chat_turn_fields[] = {
    /* one of bot_id (the caller's bot) and agent_id (a published agent) */
    { "bot_id",   MG_FIELD_UUID,  0,                                      0, 0,   NULL },
    { "agent_id", MG_FIELD_UUID,  0,                                      0, 0,   NULL },
    { "chat_id", MG_FIELD_UUID,   MG_FIELD_NULLABLE,                      0, 0,   "null" },
    /* the length limit is checked apart: too long is 413, not 400 */
    { "message", MG_FIELD_STRING, MG_FIELD_REQUIRED | MG_FIELD_NOT_BLANK, 1, 1e9, NULL },
};

/* A title from the first message: its first line, spaces collapsed, cut
 * at a word boundary near MG_CHAT_TITLE_MAX characters. */
static void
mg_chat_title(const char *msg, size_t len, char *out, size_t cap)
{
    size_t  o = 0, chars = 0, last_space = 0;
    int     space = 0, cut = 0;

    for (size_t i = 0; i < len && msg[i] != '\n' && msg[i] != '\r'; i++) {
        unsigned char c = (unsigned char) msg[i];

        if (c == ' ' || c == '\t') {
            space = o > 0;
            continue;
        }
        if ((c & 0xC0) != 0x80) {       /* a character starts here */
            if (chars + (space ? 1 : 0) >= MG_CHAT_TITLE_MAX || o + 8 >= cap) {
                cut = 1;
                break;
            }
            if (space) {
                last_space = o;
                out[o++] = ' ';
                chars++;
                space = 0;
            }
            chars++;
        }
        out[o++] = (char) c;
    }
    if (cut) {
        if (last_space > MG_CHAT_TITLE_MAX / 2) {
            o = last_space;
        } else {
            while (o > 0 && ((unsigned char) out[o] & 0xC0) == 0x80) {
                o--;            /* never end inside a character */
            }
        }
        memcpy(out + o, "\xE2\x80\xA6", 3);    /* … */
        o += 3;
    }
    if (o == 0) {
        memcpy(out, "New chat", 8);
        o = 8;
    }
    out[o] = '\0';
}

/* The turns sent to the model: history (oldest first) that fits the token
 * budget, then the new message.  Roles must alternate starting with the
 * user (Bedrock refuses anything else), so runs of one role are joined
 * and a leading answer is dropped.  turns and joined have room for rows
 * + 1; texts point into res or msg, or for joined runs into joined[i]
 * (zeroed by the caller, which frees each).  0 when out of memory. */
static size_t
mg_chat_turns(const PGresult *res, const char *msg, size_t msg_len, long budget,
              mg_chat_turn_t *turns, char **joined, long long *tokens)
{
    int     rows = res ? PQntuples(res) : 0, keep = 0;
    long    used = mg_tokens_estimate(msg_len);
    size_t  n = 0;

    for (keep = 0; keep < rows; keep++) {
        long t = mg_tokens_estimate((size_t) PQgetlength(res, keep, 1));

        if (used + t > budget) {
            break;                          /* older ones are dropped */
        }
        used += t;
    }
    *tokens = used;

    for (int i = keep - 1; i >= -1; i--) {
        const char  *role = i >= 0 ? PQgetvalue(res, i, 0) : "user";
        const char  *text = i >= 0 ? PQgetvalue(res, i, 1) : msg;
        size_t       len = i >= 0 ? (size_t) PQgetlength(res, i, 1) : msg_len;

        if (n == 0 && strcmp(role, "user") != 0) {
            continue;
        }
        if (n > 0 && strcmp(turns[n - 1].role, role) == 0) {
            /* two in a row (an answer failed before any text): join them */
            size_t  plen = turns[n - 1].len;
            char   *j = malloc(plen + 2 + len + 1);

            if (j == NULL) {
                return 0;
            }
            memcpy(j, turns[n - 1].text, plen);
            memcpy(j + plen, "\n\n", 2);
            memcpy(j + plen + 2, text, len);
            j[plen + 2 + len] = '\0';
            free(joined[n - 1]);
            joined[n - 1] = j;
            turns[n - 1].text = j;
            turns[n - 1].len = plen + 2 + len;
            continue;
        }
        turns[n].role = strcmp(role, "user") == 0 ? "user" : "assistant";
        turns[n].text = text;
        turns[n].len = len;
        n++;
    }
    return n;
}

/* {"chat_id",...}: the start event. */
static char *
mg_chat_start_event(const mg_stream_t *s, const char *title)
{
    json_t  *v;
    char    *json, *ev;
    size_t   len;

    v = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:b}", "chat_id", s->chat_id,
                  "message_id", s->message_id, "user_message_id", s->user_message_id,
                  "bot_id", s->bot_id[0] ? s->bot_id : NULL,
                  "agent_id", s->agent_id[0] ? s->agent_id : NULL,
                  "model", s->model_id, "chat_created", s->chat_created);
    if (v != NULL && title != NULL) {
        json_object_set_new(v, "title", json_string(title));
    }
    json = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (json == NULL) {
        return NULL;
    }
    ev = mg_sse_event("start", json, strlen(json), &len);
    free(json);
    return ev;
}

static int
mg_chat_reply_oom(mg_job_t *job)
{
    mg_log_error("chat rid=%s: out of memory", job->rid);
    return mg_job_reply_error(job, 500, "internal", "internal error");
}

/* Retrieval for a bot with rag_enabled: its knowledge bases, then the top
 * MG_RAG_TOP_K chunks for the message, keeping only relevant ones
 * (mg_rag_keep_relevant).  The bases are the bot owner's, read through the
 * bot whoever chats (a shared bot: the caller needs no access of their
 * own).  0 with *grounded set (0: the bot has no knowledge bases, an
 * ordinary turn) and *hits, *n; -1 after replying. */
static int
mg_chat_retrieve(mg_job_t *job, const char *bot_id, const char *owner, const char *message,
                 int *grounded, mg_hit_t **hits, size_t *n)
{
    const char  *values[2], *ids[10], *code = "";
    PGresult    *kbs = NULL;
    mg_db_rc_t   rc;
    char         err[256];
    int          status = 0, rows, ret = -1;

    *grounded = 0;
    values[0] = bot_id;
    values[1] = owner;
    rc = mg_db_exec(job->db, MG_Q_BOT_RAG_KBS, values, &kbs);
    if (rc != MG_DB_OK) {
        mg_job_reply_db_error(job, rc, kbs, "chat.retrieve");
        goto done;
    }
    rows = PQntuples(kbs);
    for (int i = 0; i < rows && i < 10; i++) {
        ids[i] = PQgetvalue(kbs, i, 0);
    }
    if (rows > 0) {
        if (mg_search(job->db, owner, ids, (size_t) (rows < 10 ? rows : 10), message,
                      MG_RAG_TOP_K, 0.0, hits, n, &status, NULL, &code, err, sizeof(err)) != 0
            && status != 404)               /* 404: the bases went since: nothing found */
        {
            mg_log_warn("chat rid=%s: retrieval failed: %s", job->rid, err);
            mg_job_reply_error(job, status ? status : 500, *code ? code : "internal", err);
            goto done;
        }
        *n = mg_rag_keep_relevant(*hits, *n, MG_RAG_FLOOR);
        *grounded = 1;
    }
    ret = 0;
done:
    PQclear(kbs);
    return ret;
}

/* The citations of a grounded turn on s: the JSON stored with the answer
 * and the SSE event sent after start; for anyone but the bot's owner
 * (owner 0) only which sources, never their text.  0 or -1 (out of
 * memory). */
static int
mg_chat_cite(mg_stream_t *s, const mg_hit_t *hits, size_t n, const char *message, size_t msg_len,
             int owner)
{
    json_t  *arr = owner ? mg_rag_citations(hits, n, message, msg_len)
                         : mg_rag_citations_others(hits, n), *ev;
    char    *json;
    size_t   len;

    if (arr == NULL) {
        return -1;
    }
    s->citations = json_dumps(arr, JSON_COMPACT);
    ev = json_pack("{s:o}", "citations", arr);
    json = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (json != NULL && s->sse) {
        s->citations_event = mg_sse_event("citations", json, strlen(json), &len);
    }
    free(json);
    if (s->citations == NULL || (s->sse && s->citations_event == NULL)) {
        return -1;
    }
    return 0;
}

/* An agent's run: its tools, its sub-agents that can run, its limits.
 * 0 with *run, or -1 after replying. */
int
mg_chat_agent_run(mg_job_t *job, const char *agent_id, const char *agent_json,
                  const char *parent_path, int depth, mg_agent_run_t **run)
{
    const char  *values[1] = { agent_id };
    PGresult    *subs = NULL, *mcp = NULL;
    mg_db_rc_t   rc;

    *run = NULL;
    rc = mg_db_exec(job->db, MG_Q_AGENT_SUBS_RUN, values, &subs);
    if (rc != MG_DB_OK) {
        mg_job_reply_db_error(job, rc, subs, "chat.agent");
        PQclear(subs);
        return -1;
    }
    /* its MCP servers' tools, only when it names any */
    if (strstr(agent_json, "\"mcp:") != NULL) {
        rc = mg_db_exec(job->db, MG_Q_MCP_AGENT_TOOLS, values, &mcp);
        if (rc != MG_DB_OK) {
            mg_job_reply_db_error(job, rc, mcp, "chat.agent");
            PQclear(subs);
            PQclear(mcp);
            return -1;
        }
    }
    *run = mg_agent_run_from_json(agent_json, mg_chat_cfg.agent_turn_tokens, parent_path, depth);
    for (int i = 0; *run != NULL && mcp != NULL && i < PQntuples(mcp); i++) {
        if (mg_agent_add_mcp(*run, PQgetvalue(mcp, i, 0), PQgetvalue(mcp, i, 1),
                             PQgetvalue(mcp, i, 2)) != 0)
        {
            mg_agent_run_free(*run);
            *run = NULL;
        }
    }
    PQclear(mcp);
    for (int i = 0; *run != NULL && i < PQntuples(subs); i++) {
        if (mg_agent_add_sub(*run, PQgetvalue(subs, i, 0), PQgetvalue(subs, i, 1),
                             PQgetvalue(subs, i, 2)) != 0)
        {
            mg_agent_run_free(*run);
            *run = NULL;
        }
    }
    PQclear(subs);
    if (*run == NULL) {
        mg_chat_reply_oom(job);
        return -1;
    }
    return 0;
}

/* What a turn needs of a bot: its record "model\0instructions\0
 * temperature\0max_tokens\0rag_enabled\0owner_id\0" (owned), and
 * pointers into it.  The owner may be another user (a shared bot). */
typedef struct {
    char        *record;
    const char  *model, *instructions, *temperature, *max_tokens, *owner;
    int          rag_enabled;
} mg_chat_bot_t;

#define MG_CHAT_BOT_SPACE  "chat.bot"   /* its key space in the read cache */

/* Point the fields of b at its record's strings; -1 when it is not one. */
static int
mg_chat_bot_parse(mg_chat_bot_t *b, size_t len)
{
    const char  *f[6];
    size_t       off = 0;

    for (int i = 0; i < 6; i++) {
        const char *end = memchr(b->record + off, '\0', len - off);

        if (end == NULL) {
            return -1;
        }
        f[i] = b->record + off;
        off = (size_t) (end - b->record) + 1;
    }
    b->model = f[0];
    b->instructions = f[1];
    b->temperature = f[2];
    b->max_tokens = f[3];
    b->rag_enabled = f[4][0] == 't';
    b->owner = f[5];
    return 0;
}

/* Bot bot_id when the caller may use it (theirs, or another's that is not
 * private), from the read cache or the database (then kept: bots' changes
 * are announced, sql/010, and a change to a bot others may use is
 * announced to everyone, sql/013).  The chat's own statement checks the
 * access again, so a stale entry grants nothing.  0; 1 when there is no
 * such bot for the caller (not answered yet); -1 answered (an error). */
static int
mg_chat_bot_settings(mg_job_t *job, const char *bot_id, mg_chat_bot_t *b)
{
    const char  *values[2] = { bot_id, job->user_id };
    const int    cols[6] = { MG_BOT_COL_MODEL_ID, MG_BOT_COL_INSTRUCTIONS,
                             MG_BOT_COL_TEMPERATURE, MG_BOT_COL_MAX_TOKENS,
                             MG_BOT_COL_RAG_ENABLED, MG_BOT_COL_OWNER_ID };
    PGresult    *res = NULL;
    mg_sb_t      rec = { 0 };
    size_t       len = 0;
    uint64_t     gen;
    mg_db_rc_t   rc;

    if (mg_rcache_find(job->user_id, MG_CHAT_BOT_SPACE, bot_id, &b->record, &len, &gen)
        && mg_chat_bot_parse(b, len) == 0)
    {
        return 0;
    }
    free(b->record);
    b->record = NULL;
    rc = mg_db_exec(job->db, MG_Q_BOT_SEE, values, &res);
    if (rc != MG_DB_OK) {
        (void) mg_job_reply_db_error(job, rc, res, "chat.begin");
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    for (int i = 0; i < 6; i++) {
        mg_sb_add(&rec, PQgetvalue(res, 0, cols[i]), (size_t) PQgetlength(res, 0, cols[i]));
        mg_sb_add(&rec, "", 1);
    }
    PQclear(res);
    len = rec.len;
    b->record = mg_sb_done(&rec);
    if (b->record == NULL || mg_chat_bot_parse(b, len) != 0) {
        (void) mg_chat_reply_oom(job);
        return -1;
    }
    mg_rcache_keep(job->user_id, MG_CHAT_BOT_SPACE, bot_id, gen, b->record, len);
    return 0;
}

int
mg_chat_reply_refused(mg_job_t *job, int submitted)
{
    /* stopped: the stop timeout ran out while this turn was prepared */
    if (submitted == MG_STREAMS_STOPPED) {
        return mg_job_reply_error(job, 503, MG_STREAMS_STOP_CODE, "the worker is shutting down");
    }
    return mg_job_reply_error(job, 503, "overloaded", "too many open chat streams, retry shortly");
}

/* A turn recorded as in flight that ends before its stream began (an
 * error was answered instead): its record goes, else this process's
 * sweep-able turns would outlive it and be stored as worker_lost when it
 * stops.  Should the database be unreachable, that is what happens. */
static void
mg_chat_abandon(mg_job_t *job, const char *answer_id)
{
    const char  *values[1] = { answer_id };
    PGresult    *res = NULL;
    mg_db_rc_t   rc;

    rc = mg_db_exec(job->db, MG_Q_CHAT_ABANDON, values, &res);
    if (rc != MG_DB_OK) {
        mg_log_warn("chat rid=%s: turn %s not taken off the turns in flight: %s", job->rid,
                    answer_id, res ? PQresultErrorMessage(res) : "database unavailable");
    }
    PQclear(res);
}

int
mg_chat_turn(mg_job_t *job, int sse, const mg_chat_turn_in_t *in)
{
    const char           *bot_id = in->bot_id, *agent_id = in->agent_id;
    const char           *chat_id = in->chat_id, *message = in->message;
    const char           *model, *values[13];
    const char           *t_model, *t_instructions, *t_temperature, *t_max_tokens;
    size_t                msg_len = in->msg_len;
    char                  new_chat[MG_UUID_LEN + 1], user_msg[MG_UUID_LEN + 1];
    char                  answer_msg[MG_UUID_LEN + 1];
    char                  title[MG_CHAT_TITLE_MAX * 4 + 8], quota[24], err[256];
    PGresult             *bot = NULL, *begin = NULL, *hist = NULL;
    mg_chat_bot_t         settings = { 0 };
    mg_db_rc_t            rc;
    const mg_provider_t  *provider;
    mg_stream_t          *s = NULL;
    mg_chat_turn_t       *turns = NULL;
    mg_chat_request_t     req;
    char                **joined = NULL, *grounded_system = NULL;
    size_t                nrows = 0, nhits = 0;
    mg_hit_t             *hits = NULL;
    int                   sent, grounded = 0, submitted, in_flight = 0;

    if (mg_utf8_chars(message, msg_len) > (size_t) mg_chat_cfg.message_max) {
        char m[96];

        snprintf(m, sizeof(m), "message is longer than %ld characters", mg_chat_cfg.message_max);
        sent = mg_job_reply_error(job, 413, "message_too_large", m);
        goto done;
    }
    /* refuse before anything is stored when no stream could be opened */
    if (mg_streams_open() >= mg_chat_cfg.max_streams) {
        sent = mg_job_reply_error(job, 503, "overloaded", "too many open chat streams, retry shortly");
        goto done;
    }

    if ((bot_id == NULL) == (agent_id == NULL)) {
        sent = mg_job_reply_error(job, 400, "invalid_field",
                                  "give one of bot_id (your bot) and agent_id (an agent)");
        goto done;
    }

    /* what answers: the caller's bot (its settings from the read cache when
     * kept there), or a published agent */
    if (bot_id != NULL) {
        int found = mg_chat_bot_settings(job, bot_id, &settings);

        if (found != 0) {
            sent = found == 1 ? mg_job_reply_error(job, 404, "bot_not_found", "bot not found")
                              : 0;                  /* answered */
            goto done;
        }
        t_model = settings.model;
        t_instructions = settings.instructions;
        t_temperature = settings.temperature;
        t_max_tokens = settings.max_tokens;
    } else {
        values[0] = agent_id;
        values[1] = "false";
        rc = mg_db_exec(job->db, MG_Q_AGENT_GET, values, &bot);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, bot, "chat.begin");
            goto done;
        }
        if (PQntuples(bot) == 0) {
            sent = mg_job_reply_error(job, 404, "agent_not_found", "agent not found");
            goto done;
        }
        t_model = PQgetvalue(bot, 0, MG_AGENT_COL_MODEL_ID);
        t_instructions = PQgetvalue(bot, 0, MG_AGENT_COL_INSTRUCTIONS);
        t_temperature = PQgetvalue(bot, 0, MG_AGENT_COL_TEMPERATURE);
        t_max_tokens = PQgetvalue(bot, 0, MG_AGENT_COL_MAX_TOKENS);
    }
    provider = mg_provider_for(t_model, &model, err, sizeof(err));
    if (provider == NULL) {
        sent = mg_job_reply_error(job, 503, "model_unavailable", err);
        goto done;
    }

    if (bot_id != NULL && settings.rag_enabled
        && mg_chat_retrieve(job, bot_id, settings.owner, message, &grounded, &hits, &nhits) != 0)
    {
        sent = 0;                           /* answered */
        goto done;
    }

    if (mg_uuid_v4(new_chat) != 0 || mg_uuid_v4(user_msg) != 0 || mg_uuid_v4(answer_msg) != 0) {
        mg_log_error("chat rid=%s: no randomness for an id", job->rid);
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    mg_chat_title(message, msg_len, title, sizeof(title));
    snprintf(quota, sizeof(quota), "%lld", mg_chat_cfg.daily_token_quota);
    values[0] = job->user_id;
    values[1] = bot_id;
    values[2] = chat_id;
    values[3] = new_chat;
    values[4] = title;
    values[5] = user_msg;
    values[6] = message;
    values[7] = quota;
    values[8] = agent_id;
    values[9] = answer_msg;
    values[10] = mg_instance_id();
    values[11] = t_model;
    values[12] = in->api_key_id;
    rc = mg_db_exec(job->db, MG_Q_CHAT_BEGIN, values, &begin);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, begin, "chat.begin");
        goto done;
    }
    /* recorded as in flight when allowed (below): from here until the
     * engine owns the turn, a failure must end that record */
    in_flight = *PQgetvalue(begin, 0, MG_BEGIN_COL_ALLOWED) == 't';
    if (*PQgetvalue(begin, 0, MG_BEGIN_COL_BOT_FOUND) != 't') {
        sent = bot_id ? mg_job_reply_error(job, 404, "bot_not_found", "bot not found")
                      : mg_job_reply_error(job, 404, "agent_not_found", "agent not found");
        goto done;
    }
    if (*PQgetvalue(begin, 0, MG_BEGIN_COL_CHAT_FOUND) != 't') {
        sent = mg_job_reply_error(job, 404, "chat_not_found", "chat not found");
        goto done;
    }
    if (*PQgetvalue(begin, 0, MG_BEGIN_COL_ALLOWED) != 't') {
        char m[160];

        snprintf(m, sizeof(m), "the daily quota of %lld tokens is used up; it resets at "
                 "00:00 UTC", mg_chat_cfg.daily_token_quota);
        sent = mg_job_reply_error(job, 429, "quota_exceeded", m);
        goto done;
    }

    if (chat_id != NULL) {
        values[0] = chat_id;
        values[1] = user_msg;
        values[2] = MG_CHAT_HISTORY_ROWS;
        rc = mg_db_exec(job->db, MG_Q_CHAT_HISTORY, values, &hist);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, hist, "chat.history");
            goto done;
        }
    }

    s = mg_stream_new(job->rid, job->peer, job->peer_len);
    nrows = (size_t) (hist ? PQntuples(hist) : 0) + 1;
    turns = calloc(nrows, sizeof(*turns));
    joined = calloc(nrows, sizeof(*joined));
    if (s == NULL || turns == NULL || joined == NULL) {
        sent = mg_chat_reply_oom(job);
        goto done;
    }
    s->sse = sse;
    s->provider = provider;
    s->chat_created = chat_id == NULL;
    snprintf(s->chat_id, sizeof(s->chat_id), "%s", chat_id ? chat_id : new_chat);
    snprintf(s->bot_id, sizeof(s->bot_id), "%s", bot_id ? bot_id : "");
    snprintf(s->agent_id, sizeof(s->agent_id), "%s", agent_id ? agent_id : "");
    snprintf(s->api_key_id, sizeof(s->api_key_id), "%s", in->api_key_id ? in->api_key_id : "");
    snprintf(s->user_message_id, sizeof(s->user_message_id), "%s", user_msg);
    s->user_id = strdup(job->user_id);
    s->model_id = strdup(t_model);
    memcpy(s->message_id, answer_msg, sizeof(answer_msg));
    if (s->user_id == NULL || s->model_id == NULL) {
        sent = mg_chat_reply_oom(job);
        goto done;
    }
    if (agent_id != NULL
        && mg_chat_agent_run(job, agent_id, PQgetvalue(bot, 0, MG_AGENT_COL_JSON), NULL, 0,
                             &s->run) != 0)
    {
        sent = 0;                           /* answered */
        goto done;
    }

    memset(&req, 0, sizeof(req));
    req.model = model;
    req.system = t_instructions;
    if (grounded) {
        grounded_system = mg_rag_system_prompt(req.system, hits, nhits);
        if (grounded_system == NULL || mg_chat_cite(s, hits, nhits, message, msg_len,
                                                      strcmp(settings.owner, job->user_id) == 0) != 0) {
            sent = mg_chat_reply_oom(job);
            goto done;
        }
        req.system = grounded_system;
        req.grounded = 1;
        req.sources = hits;
        req.nsources = nhits;
    }
    req.temperature = strtod(t_temperature, NULL);
    req.max_tokens = atoi(t_max_tokens);
    if (s->run != NULL) {
        req.tools = mg_agent_tools(s->run, &req.ntools);
        if (req.ntools == 0) {
            req.tools = NULL;
        }
        s->deadline_ms = mg_now_ms() + mg_agent_timeout_ms(s->run);
    }
    req.turns = turns;
    req.nturns = mg_chat_turns(hist, message, msg_len,
                               mg_chat_cfg.history_tokens - mg_tokens_estimate(strlen(req.system)),
                               turns, joined, &s->input_estimate);
    if (req.nturns == 0) {
        sent = mg_chat_reply_oom(job);
        goto done;
    }
    s->input_estimate += mg_tokens_estimate(strlen(req.system));

    if (provider->prepare(s, &req, err, sizeof(err)) != 0) {
        mg_log_error("chat rid=%s: %s could not prepare: %s", job->rid, provider->name, err);
        sent = mg_job_reply_error(job, 502, "provider_error", err);
        goto done;
    }
    if (sse) {
        s->start_event = mg_chat_start_event(s, s->chat_created ? title : NULL);
        if (s->start_event == NULL) {
            sent = mg_chat_reply_oom(job);
            goto done;
        }
    }

    submitted = mg_streams_submit(s);
    if (submitted != 0) {
        sent = mg_chat_reply_refused(job, submitted);
        goto done;
    }
    /* a CANCEL that reached this thread before the engine knew the
     * stream must still stop it (the broker tells both) */
    if (mg_job_cancelled(job)) {
        mg_streams_cancel(s->rid, s->peer, s->peer_len);
    }
    s = NULL;
    in_flight = 0;                          /* mg_chat_finish ends it */
    mg_job_handed_off(job);
    sent = 0;

done:
    if (in_flight) {
        mg_chat_abandon(job, answer_msg);
    }
    mg_stream_free(s);
    for (size_t i = 0; joined != NULL && i < nrows; i++) {
        free(joined[i]);
    }
    free(joined);
    free(turns);
    free(grounded_system);
    mg_hits_free(hits, nhits);
    PQclear(bot);
    free(settings.record);
    PQclear(begin);
    PQclear(hist);
    return sent;
}

/* A user's turn: the body names the bot (one of the caller's) or agent. */
static int
mg_chat_begin(mg_job_t *job, int sse)
{
    json_t             *v;
    mg_verr_t           verr;
    mg_chat_turn_in_t   in = { 0 };
    int                 sent;

    v = mg_validate_body(job->body, job->body_len, mg_chat_turn_fields,
                         sizeof(mg_chat_turn_fields) / sizeof(mg_chat_turn_fields[0]),
                         MG_VALIDATE_CREATE, &verr);
    if (v == NULL) {
        return mg_job_reply_verr(job, &verr);
    }
    in.bot_id = json_string_value(json_object_get(v, "bot_id"));
    in.agent_id = json_string_value(json_object_get(v, "agent_id"));
    in.chat_id = json_string_value(json_object_get(v, "chat_id"));     /* NULL: new chat */
    in.message = json_string_value(json_object_get(v, "message"));
    in.msg_len = json_string_length(json_object_get(v, "message"));
    sent = mg_chat_turn(job, sse, &in);
    json_decref(v);
    return sent;
}

int
mg_job_chat_stream(mg_job_t *job)
{
    return mg_chat_begin(job, 1);
}

int
mg_job_chat_complete(mg_job_t *job)
{
    return mg_chat_begin(job, 0);
}

/* ---- the end of a turn ------------------------------------------------------ */

static const char *
mg_chat_status_name(mg_stream_status_t st)
{
    switch (st) {
    case MG_STREAM_COMPLETE:  return "complete";
    case MG_STREAM_CANCELLED: return "cancelled";
    default:                  return "error";
    }
}

/* The HTTP status of a failed non-streamed answer. */
static int
mg_chat_error_status(const char *code)
{
    if (strcmp(code, "provider_timeout") == 0) {
        return 504;
    }
    if (strcmp(code, "provider_throttled") == 0 || strcmp(code, "provider_unavailable") == 0
        || strcmp(code, "unavailable") == 0)
    {
        return 503;
    }
    return 502;
}

static int
mg_chat_store(mg_stream_t *s, mg_db_t *db)
{
    char         in[24], out[24], events[16];
    const char  *values[16];
    char        *steps = NULL;
    PGresult    *res = NULL;
    mg_db_rc_t   rc = MG_DB_UNAVAILABLE;
    struct timespec pause = { 0, 200 * 1000 * 1000 };

    snprintf(in, sizeof(in), "%lld", s->input_tokens);
    snprintf(out, sizeof(out), "%lld", s->output_tokens);
    values[0] = s->message_id;
    values[1] = s->chat_id;
    values[2] = s->bot_id[0] ? s->bot_id : NULL;
    values[3] = s->user_id;
    values[4] = s->text ? s->text : "";
    values[5] = mg_chat_status_name(s->status);
    values[6] = in;
    values[7] = out;
    values[8] = s->status == MG_STREAM_COMPLETE ? s->stop_reason : NULL;
    values[9] = s->status == MG_STREAM_ERROR ? s->error_code : NULL;
    values[10] = s->model_id;
    values[11] = s->citations;              /* NULL: not a grounded turn */
    values[12] = s->agent_id[0] ? s->agent_id : NULL;
    if (s->run != NULL) {
        steps = mg_agent_steps_json(s->run, s);
        if (steps == NULL) {
            mg_log_error("chat rid=%s: out of memory for the steps; stored without them", s->rid);
        }
    }
    values[13] = steps;
    /* the events a resume from the database counts with (chat_resume.c) */
    snprintf(events, sizeof(events), "%u", mg_stream_final_id(s));
    values[14] = s->sse ? events : NULL;
    values[15] = s->api_key_id[0] ? s->api_key_id : NULL;

    /* the answer exists nowhere else: ride out a short database outage */
    for (int attempt = 0; attempt < 4; attempt++) {
        if (attempt > 0) {
            nanosleep(&pause, NULL);
            pause.tv_nsec = 900 * 1000 * 1000;
        }
        PQclear(res);
        res = NULL;
        rc = mg_db_exec(db, MG_Q_CHAT_FINISH, values, &res);
        if (rc != MG_DB_UNAVAILABLE) {
            break;
        }
    }
    if (rc != MG_DB_OK) {
        mg_log_error("chat rid=%s: answer %s (%zu bytes) of chat %s NOT stored: %s", s->rid,
                     s->message_id, s->text_len, s->chat_id,
                     res ? PQresultErrorMessage(res) : "database unavailable");
    } else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        mg_log_info("chat rid=%s: chat %s was deleted during the answer; not stored",
                    s->rid, s->chat_id);
    }
    free(steps);
    PQclear(res);
    return rc == MG_DB_OK ? 0 : -1;
}

char *
mg_chat_end_event(const char *message_id, const char *stop_reason, long long input_tokens,
                  long long output_tokens, const char *code, const char *message, int saved,
                  size_t *len)
{
    json_t  *v;
    char    *json, *ev;

    if (stop_reason != NULL) {
        v = json_pack("{s:s, s:s, s:{s:I, s:I}}", "message_id", message_id,
                      "stop_reason", stop_reason, "usage", "input_tokens",
                      (json_int_t) input_tokens, "output_tokens", (json_int_t) output_tokens);
    } else {
        v = json_pack("{s:s, s:s, s:s, s:b}", "code", code, "message", message,
                      "message_id", message_id, "saved", saved);
    }
    json = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    ev = json ? mg_sse_event(stop_reason != NULL ? "done" : "error", json, strlen(json), len)
              : NULL;
    free(json);
    return ev;
}

/* s's last event.  A stopped answer ends with `done` too: the user asked
 * for it. */
static char *
mg_chat_final_event(const mg_stream_t *s, int stored, size_t *len)
{
    if (stored && (s->status == MG_STREAM_COMPLETE || s->status == MG_STREAM_CANCELLED)) {
        return mg_chat_end_event(s->message_id, s->status == MG_STREAM_CANCELLED
                                                ? "cancelled" : s->stop_reason,
                                 s->input_tokens, s->output_tokens, NULL, NULL, 1, len);
    }
    if (s->status != MG_STREAM_ERROR) {
        return mg_chat_end_event(s->message_id, NULL, 0, 0, "database_unavailable",
                                 "the answer could not be saved", stored, len);
    }
    return mg_chat_end_event(s->message_id, NULL, 0, 0, s->error_code, s->error_message,
                             stored, len);
}

static int
mg_chat_reply_whole(mg_job_t *job, mg_stream_t *s, int stored)
{
    json_t  *v;
    int      rc;

    if (s->status != MG_STREAM_COMPLETE) {
        return mg_job_reply_error(job, mg_chat_error_status(s->error_code), s->error_code,
                                  s->error_message);
    }
    if (!stored) {
        return mg_job_reply_error(job, 503, "database_unavailable", "the answer could not be saved");
    }
    v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I}}",
                  "chat_id", s->chat_id, "message_id", s->message_id,
                  "user_message_id", s->user_message_id, "model", s->model_id,
                  "content", s->text ? s->text : "", "stop_reason", s->stop_reason,
                  "usage", "input_tokens", (json_int_t) s->input_tokens,
                  "output_tokens", (json_int_t) s->output_tokens);
    if (v == NULL) {
        return mg_chat_reply_oom(job);
    }
    json_object_set_new(v, "citations",
                        s->citations ? json_loads(s->citations, 0, NULL) : json_null());
    if (s->run != NULL) {
        char *steps = mg_agent_steps_json(s->run, s);

        json_object_set_new(v, "steps", steps ? json_loads(steps, 0, NULL) : json_null());
        free(steps);
    }
    rc = mg_job_reply_json(job, 200, v, NULL);
    json_decref(v);
    return rc;
}

int
mg_chat_finish(mg_stream_t *s, mg_db_t *db, mg_job_send_fn send, void *send_ctx, char **final,
               size_t *final_len)
{
    mg_job_t  job;
    int       stored, rc = 0;

    *final = NULL;
    *final_len = 0;
    if (s->subrun) {
        return mg_agent_run_finish(s, send, send_ctx);
    }
    if (!s->usage_known) {
        s->input_tokens = s->input_estimate;
        s->output_tokens = mg_tokens_estimate(s->text_len);
    }
    mg_stream_count_tokens(s);
    stored = mg_chat_store(s, db) == 0;

    if (s->sse) {
        /* whoever is attached then gets it (none: it is dropped) */
        *final = mg_chat_final_event(s, stored, final_len);
        rc = *final != NULL ? 0 : -1;
    } else if (s->status == MG_STREAM_CANCELLED) {
        return 0;                           /* nobody is listening */
    }
    mg_log_debug("chat rid=%s: %s, %zu bytes, %lld+%lld tokens, %lld ms", s->rid,
                 mg_chat_status_name(s->status), s->text_len, s->input_tokens,
                 s->output_tokens, mg_now_ms() - s->started_ms);
    if (s->sse) {
        return rc;
    }
    memset(&job, 0, sizeof(job));
    memcpy(job.rid, s->rid, sizeof(job.rid));
    job.name = "chat.finish";
    job.name_len = sizeof("chat.finish") - 1;
    job.send = send;
    job.send_ctx = send_ctx;
    return mg_chat_reply_whole(&job, s, stored);
}
