/*
 * mg_streams: the stream engine.  One thread per worker process runs every
 * open model stream (chat answers) on one epoll loop: libcurl's multi
 * interface for the HTTP providers and timers for the local one.  A pool
 * thread prepares a stream (database work, the provider request) and
 * submits it; from then on no database connection is held until the
 * answer ends, so the number of open streams is bounded by memory, not by
 * the pool.  When a stream ends, its record goes back through the broker
 * to a pool thread (mg_chat_finish) that stores the answer, then to the
 * engine (mg_streams_finished), which sends the last event to every
 * client attached and frees it.
 *
 * Ownership: a stream belongs to the pool thread that creates it until
 * mg_streams_submit, then to the engine thread; after the engine's "P"
 * message the finishing pool thread owns its outcome fields and the
 * engine only its clients and replay log, until mg_streams_finished gives
 * it all back to the engine.
 */
#ifndef MG_STREAM_H
#define MG_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mg_protocol.h"
#include "flow.h"
#include "replay.h"
#include "util/uuid.h"

#define MG_PEER_MAX 255       /* ZeroMQ routing ids are at most 255 bytes */

typedef struct mg_stream_s    mg_stream_t;
typedef struct mg_provider_s  mg_provider_t;
typedef struct mg_agent_run_s mg_agent_run_t;
typedef struct mg_tool_job_s  mg_tool_job_t;
typedef struct mg_client_s    mg_client_t;

typedef enum {
    MG_STREAM_COMPLETE = 0,   /* the model finished (any stop reason) */
    MG_STREAM_ERROR,          /* the provider failed or timed out */
    MG_STREAM_CANCELLED       /* stopped (chats.cancel), or nobody came back in time */
} mg_stream_status_t;

/* Where the engine sends its frames (the broker's backend in production,
 * a capture in unit tests).  frames[0] is the kind ("F" or "P"). */
typedef int (*mg_stream_sink_fn)(const mg_str_t *frames, int n);

struct mg_stream_s {
    /* set by the pool thread before submit, read-only afterwards */
    char                  rid[MG_RID_LEN + 1];
    unsigned char         peer[MG_PEER_MAX];
    size_t                peer_len;
    int                   sse;          /* 1: SSE to the client; 0: one JSON answer */
    char                 *start_event;  /* the first SSE event, owned */
    char                 *citations_event; /* sent right after start, or NULL; owned */
    char                 *citations;    /* JSON array stored with the answer, or NULL; owned */
    char                 *user_id;      /* owned */
    char                 *model_id;     /* owned: the bot's model id */
    char                  chat_id[MG_UUID_LEN + 1];
    char                  bot_id[MG_UUID_LEN + 1];    /* "": a chat with an agent */
    char                  agent_id[MG_UUID_LEN + 1];  /* "": a chat with a bot */
    /* a published call's key (jobs/published.c): its answer's tokens are
     * counted on it; "": a user's turn */
    char                  api_key_id[MG_UUID_LEN + 1];
    char                  message_id[MG_UUID_LEN + 1];        /* the answer's */
    char                  user_message_id[MG_UUID_LEN + 1];
    int                   chat_created;
    int                   subrun;       /* a sub-agent's turn (jobs/agent_run.c): nothing stored */
    long long             input_estimate;   /* tokens, when the provider reports none */
    const mg_provider_t  *provider;
    void                 *pdata;        /* the provider's state, its release frees it */
    mg_agent_run_t       *run;          /* an agent's turn (agents/loop.h), owned; NULL: a bot's */
    long long             deadline_ms;  /* an agent's turn ends by then; 0: no limit */

    /* engine-owned while it runs */
    CURL                 *easy;
    int                   attempt;      /* 1-based */
    long                  http_status;
    char                 *errbody;      /* a failed answer's body, bounded */
    size_t                errbody_len;
    long long             started_ms;
    long long             activity_ms;  /* last byte from the provider */
    long long             sent_ms;      /* last frame to the client */
    long long             timer_due;    /* 0: no timer */
    size_t                heap_index;
    int                   counted;      /* in the engine's open count */
    int                   in_engine;
    int                   ended;        /* status is final */
    int                   retry_wait;   /* between attempts */
    int                   reaping;      /* queued for mg_engine_reap */
    int                   tool_wait;    /* an agent's step waits for its tools */
    int                   step_sep;     /* a new step: separate its text from the last */
    mg_stream_t          *hnext;        /* rid hash chain */
    mg_stream_t          *next;         /* inbox, finish queue */
    int                   parked;       /* its peer is out of credit (flow.h): not read */
    mg_stream_t          *park_prev, *park_next;
    const char           *metric_model; /* the model label (metrics.h): model_id,
                                         * "local" or "other"; borrowed */
    double                metric_start; /* mg_metrics_clock() on entering the engine */
    int                   attempt_open; /* a provider request not yet counted */
    int                   first_token;  /* its first text was timed */

    /* the outcome, complete once the engine hands the stream on */
    char                 *text;         /* the answer so far, owned */
    size_t                text_len, text_cap;
    mg_stream_status_t    status;
    int                   output_started;   /* a delta went out: no retry */
    int                   answer_flowing;   /* its first delta is on its way */
    char                  stop_reason[32];
    long long             input_tokens, output_tokens;
    long long             usage_base_in, usage_base_out;   /* an agent's earlier steps */
    long long             sub_in, sub_out;  /* of those, sub-agents' turns (their own
                                             * workers count them in metrics) */
    int                   usage_known;
    char                  error_code[40];
    char                  error_message[256];
    int                   stopped;          /* CANCELLED by an explicit stop */

    /* engine-owned for the stream's whole life, also while a pool thread
     * finishes it (which reads none of these but replay.last) */
    mg_replay_t           replay;       /* its latest events, for resumes */
    mg_client_t          *clients;      /* attached by resuming (chats.resume), owned */
    int                   origin_gone;  /* the client that asked went away */
    long long             orphan_ms;    /* since then nobody is attached; 0: somebody is */
    int                   handed;       /* at a pool thread: its events are over */
};

typedef struct {
    int        max_streams;        /* open streams per process */
    long       idle_timeout_ms;    /* provider silent this long: provider_timeout */
    long       connect_timeout_ms;
    int        max_attempts;       /* before the first token, for retryable errors */
    long       backoff_ms;         /* first retry's base delay, doubled each time */
    const char *ca_file;           /* NULL: the system's */
    long       batch_ms;           /* a stream's later events may wait this long to
                                    * travel with others; 0: every round */
    long       grace_ms;           /* an SSE answer whose clients all went away goes
                                    * on this long for one to come back; 0: ends */
    size_t     replay_max;         /* bytes of recent events kept per answer */
} mg_streams_config_t;

#define MG_STREAM_GRACE_DEFAULT      "30"       /* seconds */
#define MG_STREAM_REPLAY_DEFAULT     "16384"    /* bytes */

/* How a stream ended by mg_streams_stop ends: its error event's code and
 * message, and the answer's stored error (README, shared/openapi.json). */
#define MG_STREAMS_STOP_CODE    "unavailable"
#define MG_STREAMS_STOP_MESSAGE "the worker was shut down before the answer was finished"

/* Engine lifecycle, called by the pool.  start: 0 or -1.  stop: end every
 * stream still open now (MG_STREAMS_STOP_CODE), hand them all on, then
 * report ["D"][how many it ended] to the broker; no stream is taken after
 * it.  Until stop, open streams run normally while the worker drains
 * (drain.h).  quit: the thread exits and is joined. */
int  mg_streams_start(const mg_streams_config_t *cfg, void *zctx, const char *backend);
void mg_streams_stop(void);
void mg_streams_quit(void);

/* For unit tests: frames go to sink instead of a socket, and the calls
 * below run on the caller's thread without an engine. */
void mg_streams_set_sink(mg_stream_sink_fn sink);

/* A new, zeroed stream with its ids; NULL when out of memory. */
mg_stream_t *mg_stream_new(const char *rid, const void *peer, size_t peer_len);
void         mg_stream_free(mg_stream_t *s);

/* Hand s to the engine (from a pool thread).  0; MG_STREAMS_FULL when the
 * engine holds max_streams already, MG_STREAMS_STOPPED when it was
 * stopped (the caller still owns s either way). */
#define MG_STREAMS_FULL     (-1)
#define MG_STREAMS_STOPPED  (-2)
int  mg_streams_submit(mg_stream_t *s);
/* The client of rid went away (from the broker); unknown rids are ignored.
 * An SSE chat answer goes on for grace_ms for a client to resume it; any
 * other stream ends. */
void mg_streams_cancel(const char *rid, const void *peer, size_t peer_len);

/* The answer of a caller's chat that is in progress in this process
 * (message_id "" = the chat's latest), asked for by the job rid of peer
 * (jobs/chat_resume.c).  ATTACH: the job gets a stream of the events after
 * `seen` (0: all), or a snapshot when those are gone, then the live rest;
 * STOP: it ends as cancelled and the job gets {"message_id","status"}.
 * The engine answers the job, with ERR 404 MG_STREAMS_ELSEWHERE when no
 * such answer is here.  0, or -1 (no engine, out of memory: the caller
 * answers). */
typedef enum { MG_FIND_ATTACH = 0, MG_FIND_STOP } mg_find_kind_t;
#define MG_STREAMS_ELSEWHERE "stream_elsewhere"
int  mg_streams_find(mg_find_kind_t kind, const char *rid, const void *peer, size_t peer_len,
                     const char *user_id, const char *chat_id, const char *message_id,
                     uint32_t seen);

/* A pool thread finished s (mg_chat_finish): final, its last SSE event
 * without an id line (owned; NULL: none), goes to every client attached,
 * with END, and the engine frees s.  Without an engine s is freed here. */
void mg_streams_finished(mg_stream_t *s, char *final, size_t final_len);
/* The id that last event carries (and the answer's count of events). */
uint32_t mg_stream_final_id(const mg_stream_t *s);
/* Flow control about a peer (from the broker): BLOCKED parks its streams
 * as they next produce (their providers are not read), RESUMED lets them
 * go on, GONE ends them as cancelled. */
void mg_streams_peer_flow(const void *peer, size_t peer_len, mg_flow_event_t event);
int  mg_streams_open(void);

/* Provider side, on the engine thread. */
int  mg_stream_delta(mg_stream_t *s, const char *text, size_t len);
void mg_stream_set_usage(mg_stream_t *s, long long in, long long out);
void mg_stream_set_stop_reason(mg_stream_t *s, const char *reason);
/* The provider's answer ended (local provider; HTTP ones end with their
 * transfer). */
void mg_stream_complete(mg_stream_t *s);
/* End s with an error; retryable errors before the first delta are retried
 * with backoff up to max_attempts. */
void mg_stream_fail(mg_stream_t *s, int retryable, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Call s->provider->on_timer after delay_ms. */
void mg_stream_timer(mg_stream_t *s, long delay_ms);

/* An SSE event to s's client, on the engine thread (nothing for a JSON
 * answer).  0, or -1 when the broker cannot be reached. */
int  mg_stream_event(mg_stream_t *s, const char *name, json_t *v);

/* Metrics: the tokens of an ended stream's answer, as stored for usage
 * (the finishing pool thread calls it once the estimate is filled in);
 * sub-agents' tokens are left to the workers that ran them. */
void mg_stream_count_tokens(const mg_stream_t *s);

/* A tool thread's job is done (agents/toolrun.h): the engine takes it. */
void mg_streams_tool_done(mg_tool_job_t *job);

/* An event for the client of rid from another thread (a sub-agent's
 * progress, agents/subagent.c); dropped when that stream has ended. */
void mg_streams_relay(const char *rid, const void *peer, size_t peer_len, const char *name,
                      json_t *v);

/* The HEAD of an SSE answer: 200, text/event-stream, never cached. */
void  mg_sse_head(mg_msg_t *msg);

/* One SSE event "event: NAME\ndata: JSON\n\n" into a new string. */
char *mg_sse_event(const char *name, const char *json, size_t json_len, size_t *len);

#endif
