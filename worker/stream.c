/*
 * mg_streams: owns the engine thread and every stream submitted to it.
 *
 * One epoll loop watches: an eventfd (the inbox: new streams, cancels,
 * stop, quit, all pushed under one mutex so their order is kept), libcurl's
 * sockets (multi socket API), and deadlines: curl's timer, per-stream
 * timers in a binary heap (local provider pacing, retry backoff), and a
 * periodic sweep for providers that went silent.
 *
 * Provider hooks may end a stream from inside a libcurl callback, where
 * the handle cannot be removed; so ending only marks the stream and queues
 * it, and mg_engine_reap() does the rest outside callbacks: remove the
 * transfer, forget the stream, send "P" so a pool thread finishes it.
 *
 * Frames to the client leave through the engine's own DEALER to the
 * broker, packed (mg_protocol.h) per peer: ["B"][peer][packed messages].
 * A stream's head and its events up to its first delta go at the end of
 * the round (time to first token); later events may wait up to
 * cfg.batch_ms for others to travel with, since every frame costs nginx a
 * wake-up of its ZeroMQ thread and of its event loop.  Everything goes
 * before a stream's "P", so the finishing thread's done event always
 * comes last.
 *
 * Flow control (flow.h): while the broker holds messages for a peer, that
 * peer's streams are parked as they next produce: a transfer is paused
 * (CURL_WRITEFUNC_PAUSE: libcurl keeps the bytes and stops reading, so
 * the provider's own connection carries the back-pressure), a
 * timer-driven stream skips its turn.  Events that are not the model's
 * output (tool progress, keep-alives) still go: they are few.
 *
 * Resumable answers: every event of an SSE answer gets an id and a place
 * in the answer's replay buffer (replay.h), and goes to every client
 * attached: the one that asked unless it went away, and those that came
 * back or joined from another tab (mg_streams_find, each a client record
 * in a second hash so its CANCEL finds it).  When the last one goes, the
 * answer goes on for cfg.grace_ms; nobody back by then ends it as
 * cancelled.  The stream stays here, hashed, until the pool thread that
 * finishes it (mg_streams_finished) gives back its last event, so an
 * answer being stored can still be joined and nobody misses its end.
 */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "agents/loop.h"
#include "agents/toolrun.h"
#include "jobs/jobs.h"
#include "metrics.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/sb.h"
#include "mg_json.h"
#include "providers/provider.h"
#include "providers/transport.h"

#define MG_ENGINE_BUCKETS    16384      /* rid hash; a power of two */
#define MG_ENGINE_SWEEP_MS   250
#define MG_ENGINE_EVENTS     256
#define MG_ENGINE_HWM        100000
#define MG_ERRBODY_MAX       4096
#define MG_BACKOFF_CAP_MS    8000
/* A stream waiting on its tools sends an SSE comment this often, so the
 * module (mangoo_timeout bounds the silence between a worker's frames)
 * and the proxies between it and the client know it is alive. */
#define MG_ENGINE_KEEPALIVE_MS 2000
#define MG_SSE_KEEPALIVE       ": tools running\n\n"

typedef enum {
    MG_INBOX_SUBMIT = 0,
    MG_INBOX_CANCEL,
    MG_INBOX_TOOL_DONE,
    MG_INBOX_RELAY,
    MG_INBOX_FLOW,
    MG_INBOX_FIND,
    MG_INBOX_FINISHED,
    MG_INBOX_STOP,
    MG_INBOX_QUIT
} mg_inbox_kind_t;

typedef struct mg_inbox_item_s mg_inbox_item_t;

struct mg_inbox_item_s {
    mg_inbox_kind_t   kind;
    mg_stream_t      *stream;                   /* SUBMIT, FINISHED */
    mg_tool_job_t    *job;                      /* TOOL_DONE */
    mg_flow_event_t   flow;                     /* FLOW, about peer */
    char             *event;                    /* RELAY: a whole SSE event; FINISHED:
                                                 * the last, without its id; owned */
    size_t            event_len;
    mg_find_kind_t    find;                     /* FIND: for the job rid of peer */
    char             *user_id;                  /* FIND, owned */
    char              chat_id[MG_UUID_LEN + 1];
    char              message_id[MG_UUID_LEN + 1];
    uint32_t          seen;
    char              rid[MG_RID_LEN];          /* CANCEL, FIND */
    unsigned char     peer[MG_PEER_MAX];
    size_t            peer_len;
    mg_inbox_item_t  *next;
};

typedef struct {
    unsigned char   id[MG_PEER_MAX];
    size_t          len;
} mg_peer_id_t;

/* A client attached to an answer by resuming it. */
struct mg_client_s {
    char            rid[MG_RID_LEN + 1];
    unsigned char   peer[MG_PEER_MAX];
    size_t          peer_len;
    mg_stream_t    *stream;
    mg_client_t    *hnext;                      /* the client hash */
    mg_client_t    *next;                       /* the stream's clients */
};

/* messages for one peer, packed, until the round's flush */
typedef struct {
    unsigned char   peer[MG_PEER_MAX];
    size_t          peer_len;
    mg_sb_t         out;                        /* packed messages */
} mg_engine_pack_t;

typedef struct {
    mg_streams_config_t   cfg;
    pthread_t             tid;
    int                   started;
    void                 *zctx;
    const char           *backend;
    void                 *sock;
    int                   epfd;
    int                   evfd;
    CURLM                *multi;
    mg_transport_t       *transport;            /* the multi's connection policy */
    long long             curl_due;             /* 0: no curl timer */
    long long             sweep_due;

    mg_stream_t          *buckets[MG_ENGINE_BUCKETS];
    mg_client_t          *cbuckets[MG_ENGINE_BUCKETS];   /* attached clients by rid */
    char                 *evbuf;                /* an event with its id line */
    size_t                evcap;
    mg_stream_t         **heap;                 /* streams with a timer */
    size_t                heap_n, heap_cap;
    mg_stream_t          *reap;                 /* ended or retrying: handle outside callbacks */
    mg_stream_t          *parked;               /* streams of blocked peers */
    mg_peer_id_t         *blocked;              /* peers out of credit */
    size_t                blocked_n, blocked_cap;
    mg_engine_pack_t     *packs;                /* one per peer written to */
    size_t                packs_n, packs_cap;
    long long             flush_due;            /* 0: nothing packed */
    int                   flush_now;            /* a message that must not wait */

    pthread_mutex_t       lock;                 /* guards the inbox and stopping */
    mg_inbox_item_t      *inbox_head, *inbox_tail;
    int                   stopping;
    atomic_int            open;                 /* submitted, not yet freed */
    mg_stream_sink_fn     sink;
} mg_engine_t;

static mg_engine_t mg_engine = { .lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .evfd = -1 };

/* ---- frames out ---------------------------------------------------------- */

static int
mg_engine_send_frames(const mg_str_t *frames, int n)
{
    mg_engine_t *e = &mg_engine;

    if (e->sink != NULL) {
        return e->sink(frames, n);
    }
    for (int i = 0; i < n; i++) {
        /* blocking: the broker drains continuously, and a full pipe is
         * the right back-pressure on the engine */
        if (zmq_send(e->sock, frames[i].data, frames[i].len, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
            mg_log_error("engine: cannot reach the broker: %s", zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* ["B"][peer][packed]: the pack's buffer goes with it. */
static int
mg_engine_flush_pack(mg_engine_t *e, mg_engine_pack_t *pk)
{
    zmq_msg_t  body;
    size_t     len = pk->out.len;
    char      *bytes;
    int        rc = 0;

    if (len == 0) {
        return 0;
    }
    bytes = mg_sb_done(&pk->out);
    if (zmq_send(e->sock, "B", 1, ZMQ_SNDMORE) < 0
        || zmq_send(e->sock, pk->peer, pk->peer_len, ZMQ_SNDMORE) < 0
        || zmq_msg_init_data(&body, bytes, len, mg_flow_free_data, NULL) != 0)
    {
        free(bytes);
        rc = -1;
    } else if (zmq_msg_send(&body, e->sock, 0) < 0) {
        zmq_msg_close(&body);
        rc = -1;
    }
    if (rc != 0) {
        mg_log_error("engine: cannot reach the broker: %s", zmq_strerror(errno));
    }
    return rc;
}

/* Every peer's pack to the broker: a round of the loop is over. */
static int
mg_engine_flush(mg_engine_t *e)
{
    int rc = 0;

    for (size_t i = 0; i < e->packs_n; i++) {
        rc |= mg_engine_flush_pack(e, &e->packs[i]);
    }
    e->packs_n = 0;                 /* the next round finds its peers again */
    e->flush_due = 0;
    e->flush_now = 0;
    return rc;
}

static mg_engine_pack_t *
mg_engine_pack_for(mg_engine_t *e, const unsigned char *peer, size_t peer_len)
{
    mg_engine_pack_t *pk;

    for (size_t i = 0; i < e->packs_n; i++) {
        pk = &e->packs[i];
        if (pk->peer_len == peer_len && memcmp(pk->peer, peer, peer_len) == 0) {
            return pk;
        }
    }
    if (e->packs_n == e->packs_cap) {
        size_t             cap = e->packs_cap ? e->packs_cap * 2 : 4;
        mg_engine_pack_t  *p = realloc(e->packs, cap * sizeof(*p));

        if (p == NULL) {
            return NULL;
        }
        e->packs = p;
        e->packs_cap = cap;
    }
    pk = &e->packs[e->packs_n++];
    memcpy(pk->peer, peer, peer_len);
    pk->peer_len = peer_len;
    memset(&pk->out, 0, sizeof(pk->out));
    return pk;
}

/* A message to the job rid of peer, packed with the round's others;
 * may_wait: it may wait for the round's batch time (a flowing answer). */
static int
mg_engine_forward_to(const char *rid, const unsigned char *peer, size_t peer_len, mg_msg_t *msg,
                     int may_wait)
{
    mg_engine_t       *e = &mg_engine;
    mg_str_t           frames[2 + MG_PROTO_MAX_FRAMES];
    char               status[4];
    mg_engine_pack_t  *pk;
    char              *at;
    int                n;

    msg->rid.data = rid;
    msg->rid.len = MG_RID_LEN;
    n = mg_proto_frames(msg, frames + 2, status);
    if (n < 0) {
        return -1;
    }
    if (e->sink != NULL) {
        /* unit tests read each message as ["F"][peer][msg...] */
        frames[0].data = "F";
        frames[0].len = 1;
        frames[1].data = (const char *) peer;
        frames[1].len = peer_len;
        mg_mcounter_add(mg_wm.stream_events, NULL, 1);
        return mg_engine_send_frames(frames, n + 2);
    }
    pk = mg_engine_pack_for(e, peer, peer_len);
    at = pk != NULL ? mg_sb_reserve(&pk->out, mg_proto_packed_size(frames + 2, n)) : NULL;
    if (at == NULL) {
        return -1;
    }
    mg_proto_pack(frames + 2, n, at);
    mg_mcounter_add(mg_wm.stream_events, NULL, 1);
    if (e->flush_due == 0) {
        e->flush_due = mg_now_ms() + e->cfg.batch_ms;
    }
    if (msg->type != MG_MSG_DATA || !may_wait) {
        e->flush_now = 1;
    }
    return pk->out.len >= MG_FLOW_PACK_MAX ? mg_engine_flush_pack(e, pk) : 0;
}

/* A message of s's to every client attached to it. */
static int
mg_engine_forward(mg_stream_t *s, mg_msg_t *msg)
{
    int rc = 0;

    if (!s->origin_gone) {
        rc = mg_engine_forward_to(s->rid, s->peer, s->peer_len, msg, s->answer_flowing);
    }
    for (mg_client_t *c = s->clients; c != NULL && rc == 0; c = c->next) {
        rc = mg_engine_forward_to(c->rid, c->peer, c->peer_len, msg, s->answer_flowing);
    }
    return rc;
}

static int
mg_engine_send_data(mg_stream_t *s, const char *data, size_t len)
{
    mg_msg_t msg = { .type = MG_MSG_DATA };

    s->sent_ms = mg_now_ms();
    msg.body.data = data;
    msg.body.len = len;
    return mg_engine_forward(s, &msg);
}

/* Log the event whose id was just written (a delta: its text ends where
 * the answer's now does), for resumes.  A sub-agent's turn is never
 * resumed, and without an engine (unit tests, fuzzing) there is no log:
 * the events are numbered, not held. */
static void
mg_engine_log(mg_stream_t *s, const char *ev, size_t len, int delta)
{
    int rc;

    if (s->subrun || mg_engine.cfg.replay_max == 0) {
        mg_replay_skip(&s->replay);
        return;
    }
    rc = delta ? mg_replay_add_delta(&s->replay, s->text_len, mg_engine.cfg.replay_max)
               : mg_replay_add_event(&s->replay, ev, len, mg_engine.cfg.replay_max);
    if (rc != 0) {
        mg_log_warn("stream rid=%s: out of memory to keep event %u; a resume from before "
                    "it gets a snapshot", s->rid, s->replay.last);
    }
}

/* An event of s's answer that is not a delta (ev: without its id line):
 * numbered, logged, sent to whoever is attached. */
static int
mg_engine_emit_any(mg_stream_t *s, const char *ev, size_t len)
{
    mg_engine_t  *e = &mg_engine;
    size_t        n;

    if (MG_REPLAY_ID_MAX + len > e->evcap) {
        size_t  cap = e->evcap ? e->evcap : 4096;
        char   *b;

        while (cap < MG_REPLAY_ID_MAX + len) {
            cap *= 2;
        }
        b = realloc(e->evbuf, cap);
        if (b == NULL) {
            return -1;
        }
        e->evbuf = b;
        e->evcap = cap;
    }
    n = mg_replay_id_line(&s->replay, e->evbuf);
    memcpy(e->evbuf + n, ev, len);
    mg_engine_log(s, ev, len, 0);
    return mg_engine_send_data(s, e->evbuf, n + len);
}

static int
mg_engine_emit(mg_stream_t *s, const char *ev, size_t len)
{
    /* at a pool thread, only its last event (mg_streams_finished) goes */
    return s->handed ? 0 : mg_engine_emit_any(s, ev, len);
}

void
mg_sse_head(mg_msg_t *msg)
{
    static const char  ctype[] = "text/event-stream; charset=utf-8";
    static const char  headers[] = "{\"Cache-Control\":\"no-cache\"}";

    memset(msg, 0, sizeof(*msg));
    msg->type = MG_MSG_HEAD;
    msg->status = 200;
    msg->content_type.data = ctype;
    msg->content_type.len = sizeof(ctype) - 1;
    msg->headers.data = headers;
    msg->headers.len = sizeof(headers) - 1;
}

static int
mg_engine_send_head_to(const char *rid, const unsigned char *peer, size_t peer_len)
{
    mg_msg_t msg;

    mg_sse_head(&msg);
    return mg_engine_forward_to(rid, peer, peer_len, &msg, 0);
}

static int
mg_engine_send_head(mg_stream_t *s)
{
    if (mg_engine_send_head_to(s->rid, s->peer, s->peer_len) != 0
        || mg_engine_emit(s, s->start_event, strlen(s->start_event)) != 0)
    {
        return -1;
    }
    /* a grounded turn's sources, before any message delta */
    if (s->citations_event != NULL) {
        return mg_engine_emit(s, s->citations_event, strlen(s->citations_event));
    }
    return 0;
}

/* ["P"][pointer]: the stream goes to a pool thread (mg_chat_finish). */
static int
mg_engine_hand_on(mg_stream_t *s)
{
    mg_str_t frames[2];

    frames[0].data = "P";
    frames[0].len = 1;
    frames[1].data = (const char *) &s;
    frames[1].len = sizeof(s);
    /* after its messages: the finishing thread's done event comes last */
    if (mg_engine.sink == NULL && mg_engine_flush(&mg_engine) != 0) {
        return -1;
    }
    return mg_engine_send_frames(frames, 2);
}

char *
mg_sse_event(const char *name, const char *json, size_t json_len, size_t *len)
{
    size_t  nlen = strlen(name);
    size_t  total = sizeof("event: \ndata: \n\n") - 1 + nlen + json_len;
    char   *out = malloc(total + 1);
    char   *p = out;

    if (out == NULL) {
        return NULL;
    }
    /* compact JSON has no raw newline, so one data: line carries it */
    memcpy(p, "event: ", 7);
    p += 7;
    memcpy(p, name, nlen);
    p += nlen;
    memcpy(p, "\ndata: ", 7);
    p += 7;
    memcpy(p, json, json_len);
    p += json_len;
    memcpy(p, "\n\n", 3);
    *len = total;
    return out;
}

/* ---- stream records -------------------------------------------------------- */

mg_stream_t *
mg_stream_new(const char *rid, const void *peer, size_t peer_len)
{
    mg_stream_t *s;

    if (peer_len > MG_PEER_MAX || strlen(rid) != MG_RID_LEN) {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    memcpy(s->rid, rid, MG_RID_LEN + 1);
    memcpy(s->peer, peer, peer_len);
    s->peer_len = peer_len;
    return s;
}

void
mg_stream_free(mg_stream_t *s)
{
    if (s == NULL) {
        return;
    }
    if (s->provider != NULL && s->provider->release != NULL) {
        s->provider->release(s);
    }
    if (s->easy != NULL) {
        curl_easy_cleanup(s->easy);
    }
    if (s->counted) {
        atomic_fetch_sub(&mg_engine.open, 1);
    }
    mg_agent_run_free(s->run);
    while (s->clients != NULL) {
        mg_client_t *c = s->clients;

        s->clients = c->next;
        free(c);
    }
    mg_replay_free(&s->replay);
    free(s->start_event);
    free(s->citations_event);
    free(s->citations);
    free(s->user_id);
    free(s->model_id);
    free(s->errbody);
    free(s->text);
    free(s);
}

int
mg_streams_open(void)
{
    return atomic_load(&mg_engine.open);
}

/* ---- the rid hash ---------------------------------------------------------- */

static size_t
mg_engine_bucket(const char *rid)
{
    uint64_t h = 1469598103934665603ULL;      /* FNV-1a */

    for (int i = 0; i < MG_RID_LEN; i++) {
        h = (h ^ (unsigned char) rid[i]) * 1099511628211ULL;
    }
    return (size_t) h & (MG_ENGINE_BUCKETS - 1);
}

static void
mg_engine_hash_add(mg_stream_t *s)
{
    size_t b = mg_engine_bucket(s->rid);

    s->hnext = mg_engine.buckets[b];
    mg_engine.buckets[b] = s;
}

static void
mg_engine_hash_remove(mg_stream_t *s)
{
    mg_stream_t **pp = &mg_engine.buckets[mg_engine_bucket(s->rid)];

    for (; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            s->hnext = NULL;
            return;
        }
    }
}

/* 1 when (rid, peer) names the job (a_rid, a_peer). */
static int
mg_engine_same_job(const char *a_rid, const unsigned char *a_peer, size_t a_len,
                   const char *rid, const void *peer, size_t peer_len)
{
    return memcmp(a_rid, rid, MG_RID_LEN) == 0 && a_len == peer_len
           && memcmp(a_peer, peer, peer_len) == 0;
}

static mg_stream_t *
mg_engine_hash_find(const char *rid, const void *peer, size_t peer_len)
{
    mg_stream_t *s = mg_engine.buckets[mg_engine_bucket(rid)];

    while (s != NULL && !mg_engine_same_job(s->rid, s->peer, s->peer_len, rid, peer, peer_len)) {
        s = s->hnext;
    }
    return s;
}

/* Clients attached by resuming: their own hash, by the rid of their job. */
static void
mg_engine_client_add(mg_stream_t *s, mg_client_t *c)
{
    size_t b = mg_engine_bucket(c->rid);

    c->stream = s;
    c->hnext = mg_engine.cbuckets[b];
    mg_engine.cbuckets[b] = c;
    c->next = s->clients;
    s->clients = c;
}

static mg_client_t *
mg_engine_client_find(const char *rid, const void *peer, size_t peer_len)
{
    mg_client_t *c = mg_engine.cbuckets[mg_engine_bucket(rid)];

    while (c != NULL && !mg_engine_same_job(c->rid, c->peer, c->peer_len, rid, peer, peer_len)) {
        c = c->hnext;
    }
    return c;
}

/* c leaves the hash and its stream, and is freed. */
static void
mg_engine_client_drop(mg_client_t *c)
{
    mg_client_t **pp = &mg_engine.cbuckets[mg_engine_bucket(c->rid)];

    for (; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            break;
        }
    }
    for (pp = &c->stream->clients; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
}

/* ---- the timer heap (min-heap on timer_due; heap_index is 1-based, 0 = out) */

static void
mg_heap_swap(mg_engine_t *e, size_t a, size_t b)
{
    mg_stream_t *t = e->heap[a];

    e->heap[a] = e->heap[b];
    e->heap[b] = t;
    e->heap[a]->heap_index = a + 1;
    e->heap[b]->heap_index = b + 1;
}

static void
mg_heap_up(mg_engine_t *e, size_t i)
{
    while (i > 0 && e->heap[(i - 1) / 2]->timer_due > e->heap[i]->timer_due) {
        mg_heap_swap(e, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
mg_heap_down(mg_engine_t *e, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < e->heap_n && e->heap[l]->timer_due < e->heap[m]->timer_due) {
            m = l;
        }
        if (r < e->heap_n && e->heap[r]->timer_due < e->heap[m]->timer_due) {
            m = r;
        }
        if (m == i) {
            return;
        }
        mg_heap_swap(e, i, m);
        i = m;
    }
}

static void
mg_heap_remove(mg_engine_t *e, mg_stream_t *s)
{
    size_t i;

    if (s->heap_index == 0) {
        return;
    }
    i = s->heap_index - 1;
    s->heap_index = 0;
    s->timer_due = 0;
    e->heap_n--;
    if (i == e->heap_n) {
        return;
    }
    e->heap[i] = e->heap[e->heap_n];
    e->heap[i]->heap_index = i + 1;
    mg_heap_up(e, i);
    mg_heap_down(e, e->heap[i]->heap_index - 1);
}

static int
mg_heap_add(mg_engine_t *e, mg_stream_t *s, long long due)
{
    mg_heap_remove(e, s);
    if (e->heap_n == e->heap_cap) {
        size_t         cap = e->heap_cap ? e->heap_cap * 2 : 1024;
        mg_stream_t  **h = realloc(e->heap, cap * sizeof(*h));

        if (h == NULL) {
            return -1;
        }
        e->heap = h;
        e->heap_cap = cap;
    }
    s->timer_due = due;
    e->heap[e->heap_n] = s;
    s->heap_index = ++e->heap_n;
    mg_heap_up(e, e->heap_n - 1);
    return 0;
}

/* ---- provider-facing calls ------------------------------------------------ */

static void
mg_engine_queue_reap(mg_stream_t *s)
{
    if (!s->reaping) {
        s->reaping = 1;
        s->next = mg_engine.reap;
        mg_engine.reap = s;
    }
}

/* ---- metrics (metrics.h): the provider side of a stream ------------------ */

static const char *
mg_engine_provider_name(const mg_stream_t *s)
{
    return s->provider != NULL ? s->provider->name : "unknown";
}

static const char *
mg_engine_model(const mg_stream_t *s)
{
    return s->metric_model != NULL ? s->metric_model : "other";
}

/* The provider request in flight ended (ok, or an error code): counted
 * once, whichever way it ended. */
static void
mg_engine_count_request(mg_stream_t *s, const char *outcome)
{
    if (!s->attempt_open) {
        return;                             /* none was made, or it was counted */
    }
    s->attempt_open = 0;
    mg_mcounter_add(mg_wm.provider_requests,
                    (const char *[]) { mg_engine_provider_name(s), mg_engine_model(s), outcome }, 1);
}

/* The stream ended, however: its last request and its whole time. */
static void
mg_engine_count_end(mg_stream_t *s)
{
    const char *outcome = s->status == MG_STREAM_COMPLETE ? "ok"
                          : s->status == MG_STREAM_CANCELLED ? "cancelled"
                          : s->error_code[0] != '\0' ? s->error_code : "provider_error";

    mg_engine_count_request(s, outcome);
    mg_mhist_observe(mg_wm.provider_seconds,
                     (const char *[]) { mg_engine_provider_name(s), mg_engine_model(s) },
                     mg_metrics_clock() - s->metric_start);
}

void
mg_stream_count_tokens(const mg_stream_t *s)
{
    long long  in = s->input_tokens - s->sub_in, out = s->output_tokens - s->sub_out;

    mg_mcounter_add(mg_wm.provider_tokens,
                    (const char *[]) { mg_engine_provider_name(s), mg_engine_model(s), "input" },
                    in > 0 ? (double) in : 0);
    mg_mcounter_add(mg_wm.provider_tokens,
                    (const char *[]) { mg_engine_provider_name(s), mg_engine_model(s), "output" },
                    out > 0 ? (double) out : 0);
}

int
mg_stream_delta(mg_stream_t *s, const char *text, size_t len)
{
    char    *ev;
    size_t   evlen;
    int      rc;

    if (s->ended || len == 0) {
        return 0;
    }
    if (s->step_sep) {
        /* an agent's steps read as paragraphs, not one run-on line */
        s->step_sep = 0;
        if (s->text_len > 0 && s->text[s->text_len - 1] != '\n'
            && mg_stream_delta(s, "\n\n", 2) != 0)
        {
            return -1;
        }
    }
    if (s->text_len + len + 1 > s->text_cap) {
        size_t  cap = s->text_cap ? s->text_cap : 256;
        char   *t;

        while (cap < s->text_len + len + 1) {
            cap *= 2;
        }
        t = realloc(s->text, cap);
        if (t == NULL) {
            mg_stream_fail(s, 0, "internal", "out of memory");
            return -1;
        }
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, text, len);
    s->text_len += len;
    s->text[s->text_len] = '\0';
    s->output_started = 1;
    s->activity_ms = mg_now_ms();
    if (!s->first_token && s->in_engine) {
        /* the turn's first text, retries and their back-off included */
        s->first_token = 1;
        mg_mhist_observe(mg_wm.provider_first_token,
                         (const char *[]) { mg_engine_provider_name(s), mg_engine_model(s) },
                         mg_metrics_clock() - s->metric_start);
    }

    if (!s->sse) {
        return 0;
    }
    if (s->handed) {
        return 0;
    }
    /* the hot path: the whole event, id first, written in one buffer, one
     * pass; the log keeps only where its text ends */
    ev = malloc(MG_REPLAY_ID_MAX + MG_REPLAY_DELTA_MAX(len));
    if (ev == NULL) {
        mg_stream_fail(s, 0, "internal", "out of memory");
        return -1;
    }
    evlen = mg_replay_id_line(&s->replay, ev);
    evlen += mg_replay_delta_event(ev + evlen, text, len);
    mg_engine_log(s, NULL, 0, 1);
    rc = mg_engine_send_data(s, ev, evlen);
    s->answer_flowing = 1;
    free(ev);
    return rc;
}

void
mg_stream_set_usage(mg_stream_t *s, long long in, long long out)
{
    s->input_tokens = s->usage_base_in + (in < 0 ? 0 : in);
    s->output_tokens = s->usage_base_out + (out < 0 ? 0 : out);
    s->usage_known = 1;
}

int
mg_stream_event(mg_stream_t *s, const char *name, json_t *v)
{
    char    *json, *ev;
    size_t   len;
    int      rc;

    if (!s->sse) {
        return 0;
    }
    json = json_dumps(v, JSON_COMPACT);
    ev = json ? mg_sse_event(name, json, strlen(json), &len) : NULL;
    free(json);
    if (ev == NULL) {
        return -1;
    }
    rc = mg_engine_emit(s, ev, len);
    free(ev);
    return rc;
}

void
mg_stream_set_stop_reason(mg_stream_t *s, const char *reason)
{
    snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", reason);
}

void
mg_stream_complete(mg_stream_t *s)
{
    if (s->ended || s->tool_wait) {
        return;
    }
    if (s->stop_reason[0] == '\0') {
        mg_stream_set_stop_reason(s, "end_turn");
    }
    if (s->run != NULL && mg_agent_step_end(s) != 0) {
        if (!s->ended) {
            /* the step's tools run: the transfer goes, the stream waits */
            mg_engine_count_request(s, "ok");
            s->tool_wait = 1;
            mg_stream_timer(s, mg_agent_tools_due(s->run) - mg_now_ms());
            mg_engine_queue_reap(s);
        }
        return;
    }
    s->ended = 1;
    s->status = MG_STREAM_COMPLETE;
    mg_engine_queue_reap(s);
}

void
mg_stream_fail(mg_stream_t *s, int retryable, const char *code, const char *fmt, ...)
{
    mg_engine_t  *e = &mg_engine;
    va_list       ap;

    if (s->ended) {
        return;
    }
    snprintf(s->error_code, sizeof(s->error_code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(s->error_message, sizeof(s->error_message), fmt, ap);
    va_end(ap);

    if (retryable && !s->output_started && s->attempt < e->cfg.max_attempts && s->in_engine) {
        /* full jitter: a crowd throttled together comes back spread out */
        long long  cap = e->cfg.backoff_ms << (s->attempt - 1);
        long       delay;

        if (cap > MG_BACKOFF_CAP_MS) {
            cap = MG_BACKOFF_CAP_MS;
        }
        delay = (long) (cap / 2 + random() % (cap / 2 + 1));
        mg_log_info("stream rid=%s: attempt %d failed (%s: %s), retrying in %ld ms",
                    s->rid, s->attempt, code, s->error_message, delay);
        mg_engine_count_request(s, s->error_code);
        mg_mcounter_add(mg_wm.provider_retries, (const char *[]) { mg_engine_provider_name(s) },
                        1);
        s->retry_wait = 1;
        mg_stream_timer(s, delay);
        mg_engine_queue_reap(s);            /* drops the failed transfer */
        return;
    }
    s->ended = 1;
    s->status = MG_STREAM_ERROR;
    mg_log_warn("stream rid=%s model=%s: %s: %s", s->rid, s->model_id ? s->model_id : "",
                code, s->error_message);
    mg_engine_queue_reap(s);
}

void
mg_stream_timer(mg_stream_t *s, long delay_ms)
{
    if (mg_heap_add(&mg_engine, s, mg_now_ms() + (delay_ms < 0 ? 0 : delay_ms)) != 0) {
        mg_stream_fail(s, 0, "internal", "out of memory");
    }
}

/* ---- flow control ------------------------------------------------------------ */

static int
mg_engine_peer_is(const mg_stream_t *s, const void *peer, size_t peer_len)
{
    return s->peer_len == peer_len && memcmp(s->peer, peer, peer_len) == 0;
}

/* 1 when the peer of a client of s's is out of credit; cheap while no
 * peer is. */
static int
mg_engine_blocked(const mg_engine_t *e, const mg_stream_t *s)
{
    for (size_t i = 0; i < e->blocked_n; i++) {
        const mg_peer_id_t *b = &e->blocked[i];

        if (!s->origin_gone && mg_engine_peer_is(s, b->id, b->len)) {
            return 1;
        }
        for (const mg_client_t *c = s->clients; c != NULL; c = c->next) {
            if (c->peer_len == b->len && memcmp(c->peer, b->id, b->len) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* ---- clients that go and come back ------------------------------------------ */

/* An SSE answer of a chat outlives its clients for a while; a JSON one,
 * and a sub-agent's turn (its caller stops it on purpose), do not. */
static int
mg_engine_resumable(const mg_engine_t *e, const mg_stream_t *s)
{
    return s->sse && !s->subrun && e->cfg.grace_ms > 0;
}

static void
mg_engine_end_cancelled(mg_stream_t *s, const char *why)
{
    if (s->ended) {
        return;
    }
    s->ended = 1;
    s->status = MG_STREAM_CANCELLED;
    mg_log_info("stream rid=%s: %s after %zu bytes; stopped", s->rid, why, s->text_len);
    mg_engine_queue_reap(s);
}

/* Nobody is attached to s any more: its grace period starts. */
static void
mg_engine_check_orphan(const mg_engine_t *e, mg_stream_t *s)
{
    if (s->origin_gone && s->clients == NULL && s->orphan_ms == 0 && !s->ended) {
        s->orphan_ms = mg_now_ms();
        mg_log_info("stream rid=%s: no client after %zu bytes; it goes on for %ld ms for "
                    "one to come back", s->rid, s->text_len, e->cfg.grace_ms);
    }
}

/* The job rid of peer went away: its client leaves the answer. */
static void
mg_engine_on_cancel(mg_engine_t *e, const char *rid, const unsigned char *peer, size_t peer_len)
{
    mg_stream_t  *s = mg_engine_hash_find(rid, peer, peer_len);
    mg_client_t  *c;

    if (s != NULL) {
        if (!mg_engine_resumable(e, s)) {
            mg_engine_end_cancelled(s, "client went away");
        } else if (!s->origin_gone) {
            s->origin_gone = 1;
            mg_engine_check_orphan(e, s);
        }
        return;
    }
    c = mg_engine_client_find(rid, peer, peer_len);
    if (c != NULL) {
        s = c->stream;
        mg_engine_client_drop(c);
        mg_engine_check_orphan(e, s);
    }
}

static void
mg_engine_park(mg_engine_t *e, mg_stream_t *s)
{
    if (s->parked) {
        return;
    }
    s->parked = 1;
    s->park_prev = NULL;
    s->park_next = e->parked;
    if (e->parked != NULL) {
        e->parked->park_prev = s;
    }
    e->parked = s;
}

static void
mg_engine_unpark(mg_engine_t *e, mg_stream_t *s)
{
    if (!s->parked) {
        return;
    }
    if (s->park_prev != NULL) {
        s->park_prev->park_next = s->park_next;
    } else {
        e->parked = s->park_next;
    }
    if (s->park_next != NULL) {
        s->park_next->park_prev = s->park_prev;
    }
    s->parked = 0;
    s->park_prev = s->park_next = NULL;
}

static void
mg_engine_on_flow(mg_engine_t *e, const unsigned char *peer, size_t peer_len,
                  mg_flow_event_t event)
{
    size_t       i;
    mg_stream_t *s, *next;

    for (i = 0; i < e->blocked_n; i++) {
        if (e->blocked[i].len == peer_len && memcmp(e->blocked[i].id, peer, peer_len) == 0) {
            break;
        }
    }
    if (event == MG_FLOW_BLOCKED) {
        if (i < e->blocked_n) {
            return;
        }
        if (e->blocked_n == e->blocked_cap) {
            size_t         cap = e->blocked_cap ? e->blocked_cap * 2 : 4;
            mg_peer_id_t  *b = realloc(e->blocked, cap * sizeof(*b));

            if (b == NULL) {
                /* its streams go on unparked: the broker still holds their frames */
                mg_log_error("engine: out of memory to park a peer's streams");
                return;
            }
            e->blocked = b;
            e->blocked_cap = cap;
        }
        memcpy(e->blocked[e->blocked_n].id, peer, peer_len);
        e->blocked[e->blocked_n++].len = peer_len;
        return;
    }
    if (i < e->blocked_n) {
        e->blocked[i] = e->blocked[--e->blocked_n];
    }
    /* nobody is left to read these answers there: their clients leave
     * them, as clients that went away (before unparking: an ended stream
     * is only unlinked) */
    for (size_t b = 0; event == MG_FLOW_GONE && b < MG_ENGINE_BUCKETS; b++) {
        mg_client_t *c, *cnext;

        for (s = e->buckets[b]; s != NULL; s = s->hnext) {
            if (s->origin_gone || !mg_engine_peer_is(s, peer, peer_len)) {
                continue;
            }
            if (!mg_engine_resumable(e, s)) {
                mg_engine_end_cancelled(s, "its nginx process is gone");
            } else {
                s->origin_gone = 1;
                mg_engine_check_orphan(e, s);
            }
        }
        for (c = e->cbuckets[b]; c != NULL; c = cnext) {
            cnext = c->hnext;
            if (c->peer_len == peer_len && memcmp(c->peer, peer, peer_len) == 0) {
                s = c->stream;
                mg_engine_client_drop(c);
                mg_engine_check_orphan(e, s);
            }
        }
    }
    for (s = e->parked; s != NULL; s = next) {
        next = s->park_next;
        if (mg_engine_blocked(e, s)) {
            continue;                       /* another of its clients' peers still is */
        }
        mg_engine_unpark(e, s);
        s->activity_ms = mg_now_ms();
        if (s->ended) {
            continue;
        }
        if (s->easy != NULL) {
            /* may deliver the kept bytes at once, through on_write */
            curl_easy_pause(s->easy, CURLPAUSE_CONT);
        } else {
            mg_stream_timer(s, 0);
        }
    }
}

/* ---- transfers -------------------------------------------------------------- */

static size_t
mg_engine_on_write(char *data, size_t size, size_t n, void *ud)
{
    mg_stream_t  *s = ud;
    size_t        len = size * n;

    if (s->ended || s->retry_wait || s->tool_wait) {
        return 0;                           /* aborts the transfer */
    }
    if (mg_engine.blocked_n > 0 && mg_engine_blocked(&mg_engine, s)) {
        mg_engine_park(&mg_engine, s);
        return CURL_WRITEFUNC_PAUSE;        /* the same bytes come again on CONT */
    }
    s->activity_ms = mg_now_ms();
    if (s->http_status == 0) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->http_status);
        mg_transport_learn(mg_engine.transport, s->easy, s->activity_ms);
    }
    if (s->http_status < 200 || s->http_status > 299) {
        size_t room = MG_ERRBODY_MAX - s->errbody_len;

        if (s->errbody == NULL) {
            s->errbody = malloc(MG_ERRBODY_MAX + 1);
            if (s->errbody == NULL) {
                return 0;
            }
        }
        if (len < room) {
            room = len;
        }
        memcpy(s->errbody + s->errbody_len, data, room);
        s->errbody_len += room;
        s->errbody[s->errbody_len] = '\0';
        return len;
    }
    return s->provider->on_body(s, data, len) == 0 ? len : 0;
}

static void
mg_engine_start_attempt(mg_stream_t *s)
{
    mg_engine_t  *e = &mg_engine;
    CURL         *easy = NULL;
    char          err[256];

    s->attempt++;
    s->attempt_open = 1;
    s->retry_wait = 0;
    s->http_status = 0;
    s->errbody_len = 0;
    s->activity_ms = mg_now_ms();

    if (s->provider->start(s, &easy, err, sizeof(err)) != 0) {
        mg_stream_fail(s, 0, "provider_error", "%s", err);
        return;
    }
    if (easy == NULL) {
        return;                             /* timer-driven (local) */
    }
    s->easy = easy;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, mg_engine_on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, s);
    if (mg_transport_easy(e->transport, easy, e->cfg.ca_file, e->cfg.connect_timeout_ms,
                          s->activity_ms) != 0
        || curl_multi_add_handle(e->multi, easy) != CURLM_OK)
    {
        mg_stream_fail(s, 0, "internal", "cannot start the provider request");
    }
}

static void
mg_engine_transfer_done(mg_stream_t *s, CURLcode result)
{
    if (s->ended || s->retry_wait || s->tool_wait) {
        return;                             /* decided inside a callback */
    }
    if (result == CURLE_OPERATION_TIMEDOUT) {
        mg_stream_fail(s, 1, "provider_timeout", "the model provider did not answer in time");
    } else if (result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CACERT_BADFILE) {
        /* not retried: a certificate will not be trusted a moment later */
        mg_stream_fail(s, 0, "provider_unavailable",
                       "the model provider's TLS certificate is not trusted: %s",
                       curl_easy_strerror(result));
    } else if (result != CURLE_OK) {
        mg_stream_fail(s, 1, "provider_unavailable", "cannot reach the model provider: %s",
                       curl_easy_strerror(result));
    } else if (s->http_status < 200 || s->http_status > 299) {
        s->provider->on_http_error(s, s->http_status, s->errbody ? s->errbody : "",
                                   s->errbody_len);
    } else {
        s->provider->on_end(s);
    }
    if (!s->ended && !s->retry_wait && !s->tool_wait) {
        /* a provider hook that decided nothing: never leave a stream open */
        mg_stream_fail(s, 0, "provider_error", "the model's answer ended unexpectedly");
    }
}

/* An agent's step has every tool result: the next step starts. */
static void
mg_engine_next_step(mg_engine_t *e, mg_stream_t *s)
{
    s->tool_wait = 0;
    mg_heap_remove(e, s);
    if (s->easy != NULL) {
        /* the last step's transfer, if the reaper has not dropped it yet */
        curl_multi_remove_handle(e->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    if (mg_agent_next_step(s) != 0) {
        return;                             /* failed: queued for the reaper */
    }
    s->attempt = 0;                         /* a new request: retries start over */
    s->output_started = 0;
    s->stop_reason[0] = '\0';
    s->step_sep = 1;
    mg_engine_start_attempt(s);
}

static void
mg_engine_check_multi(mg_engine_t *e)
{
    CURLMsg  *m;
    int       left;

    while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
        mg_stream_t *s = NULL;

        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &s);
        if (s != NULL) {
            mg_engine_transfer_done(s, m->data.result);
            mg_engine_queue_reap(s);
        }
    }
}

/* Outside every callback: drop finished transfers, hand ended streams on. */
static void
mg_engine_reap(mg_engine_t *e)
{
    while (e->reap != NULL) {
        mg_stream_t *s = e->reap;

        e->reap = s->next;
        s->next = NULL;
        s->reaping = 0;
        if (s->easy != NULL && (s->ended || s->retry_wait || s->tool_wait)) {
            curl_multi_remove_handle(e->multi, s->easy);
            curl_easy_cleanup(s->easy);
            s->easy = NULL;
        }
        if (!s->ended || s->handed) {
            continue;                       /* waiting for its retry timer or its tools */
        }
        mg_heap_remove(e, s);
        mg_engine_unpark(e, s);
        mg_engine_count_end(s);
        s->in_engine = 0;
        s->handed = 1;                      /* still hashed: see mg_streams_finished */
        if (s->tool_wait) {
            /* the turn ended while tools ran: sub-agents stop too */
            mg_toolrun_cancel(s->rid, s->peer, s->peer_len, 0, -1);
        }
        if (mg_engine_hand_on(s) != 0) {
            /* the broker is gone: only process exit remains */
            mg_log_error("stream rid=%s: cannot hand the answer on; it is lost", s->rid);
        }
    }
}

/* ---- libcurl's socket and timer callbacks --------------------------------- */

static int
mg_engine_on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
    mg_engine_t         *e = ud;
    struct epoll_event   ev = { 0 };

    ev.data.fd = fd;
    if (what == CURL_POLL_REMOVE) {
        (void) epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0
        && (errno != ENOENT || epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0))
    {
        mg_log_error("engine: cannot watch a provider socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int
mg_engine_on_curl_timer(CURLM *multi, long timeout_ms, void *ud)
{
    mg_engine_t *e = ud;

    e->curl_due = timeout_ms < 0 ? 0 : mg_now_ms() + timeout_ms;
    return 0;
}

/* ---- the inbox ------------------------------------------------------------ */

static int
mg_engine_push(mg_inbox_item_t *item)
{
    mg_engine_t  *e = &mg_engine;
    uint64_t      one = 1;

    item->next = NULL;
    if (e->inbox_tail != NULL) {
        e->inbox_tail->next = item;
    } else {
        e->inbox_head = item;
    }
    e->inbox_tail = item;
    return write(e->evfd, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

int
mg_streams_submit(mg_stream_t *s)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item;
    int               rc = MG_STREAMS_FULL;

    item = calloc(1, sizeof(*item));
    if (item == NULL) {
        return MG_STREAMS_FULL;
    }
    item->kind = MG_INBOX_SUBMIT;
    item->stream = s;

    pthread_mutex_lock(&e->lock);
    if (!e->started || e->stopping) {
        rc = MG_STREAMS_STOPPED;
    } else if (atomic_load(&e->open) < e->cfg.max_streams) {
        atomic_fetch_add(&e->open, 1);
        s->counted = 1;
        (void) mg_engine_push(item);
        item = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&e->lock);
    free(item);
    return rc;
}

static void
mg_engine_push_simple(mg_inbox_kind_t kind)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item = calloc(1, sizeof(*item));

    if (item == NULL) {
        mg_log_error("engine: out of memory for a control message");
        return;
    }
    item->kind = kind;
    pthread_mutex_lock(&e->lock);
    if (kind == MG_INBOX_STOP) {
        e->stopping = 1;
    }
    (void) mg_engine_push(item);
    pthread_mutex_unlock(&e->lock);
}

/* An inbox item about one stream (rid) or peer; flow counts for FLOW only.
 * -1 when out of memory. */
static int
mg_engine_push_about(mg_inbox_kind_t kind, const char *rid, const void *peer, size_t peer_len,
                     mg_flow_event_t flow)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item = calloc(1, sizeof(*item));

    if (item == NULL) {
        return -1;
    }
    item->kind = kind;
    item->flow = flow;
    if (rid != NULL) {
        memcpy(item->rid, rid, MG_RID_LEN);
    }
    memcpy(item->peer, peer, peer_len);
    item->peer_len = peer_len;
    pthread_mutex_lock(&e->lock);
    (void) mg_engine_push(item);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void
mg_streams_cancel(const char *rid, const void *peer, size_t peer_len)
{
    if (mg_engine.started && peer_len <= MG_PEER_MAX
        && mg_engine_push_about(MG_INBOX_CANCEL, rid, peer, peer_len, MG_FLOW_GONE) != 0)
    {
        mg_log_error("engine: out of memory for a cancel; rid=%.*s streams on", MG_RID_LEN, rid);
    }
}

void
mg_streams_peer_flow(const void *peer, size_t peer_len, mg_flow_event_t event)
{
    if (mg_engine.started && peer_len <= MG_PEER_MAX
        && mg_engine_push_about(MG_INBOX_FLOW, NULL, peer, peer_len, event) != 0)
    {
        mg_log_error("engine: out of memory for a flow message; streams not %s",
                     event == MG_FLOW_BLOCKED ? "parked" : "resumed");
    }
}

void
mg_streams_tool_done(mg_tool_job_t *job)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item = calloc(1, sizeof(*item));

    pthread_mutex_lock(&e->lock);
    if (item != NULL && e->started) {
        item->kind = MG_INBOX_TOOL_DONE;
        item->job = job;
        (void) mg_engine_push(item);
        item = NULL;
        job = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (job != NULL) {
        /* no engine to take it: the step's deadline answers for it */
        mg_log_warn("engine: a tool's result for rid=%s is dropped", job->rid);
        mg_tool_job_free(job);
    }
    free(item);
}

void
mg_streams_relay(const char *rid, const void *peer, size_t peer_len, const char *name,
                 json_t *v)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item;
    char             *json;

    if (peer_len > MG_PEER_MAX) {
        return;
    }
    item = calloc(1, sizeof(*item));
    json = json_dumps(v, JSON_COMPACT);
    if (item == NULL || json == NULL
        || (item->event = mg_sse_event(name, json, strlen(json), &item->event_len)) == NULL)
    {
        mg_log_warn("engine: out of memory for a relayed event; rid=%.*s misses it",
                    MG_RID_LEN, rid);
        free(json);
        free(item);
        return;
    }
    free(json);
    item->kind = MG_INBOX_RELAY;
    memcpy(item->rid, rid, MG_RID_LEN);
    memcpy(item->peer, peer, peer_len);
    item->peer_len = peer_len;
    pthread_mutex_lock(&e->lock);
    if (e->started) {
        (void) mg_engine_push(item);
        item = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (item != NULL) {
        free(item->event);
        free(item);
    }
}

int
mg_streams_find(mg_find_kind_t kind, const char *rid, const void *peer, size_t peer_len,
                const char *user_id, const char *chat_id, const char *message_id, uint32_t seen)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item;

    if (peer_len > MG_PEER_MAX || strlen(chat_id) > MG_UUID_LEN
        || strlen(message_id) > MG_UUID_LEN)
    {
        return -1;
    }
    item = calloc(1, sizeof(*item));
    if (item == NULL || (item->user_id = strdup(user_id)) == NULL) {
        free(item);
        return -1;
    }
    item->kind = MG_INBOX_FIND;
    item->find = kind;
    memcpy(item->rid, rid, MG_RID_LEN);
    memcpy(item->peer, peer, peer_len);
    item->peer_len = peer_len;
    strcpy(item->chat_id, chat_id);
    strcpy(item->message_id, message_id);
    item->seen = seen;
    pthread_mutex_lock(&e->lock);
    if (e->started) {
        (void) mg_engine_push(item);
        item = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (item != NULL) {
        free(item->user_id);
        free(item);
        return -1;
    }
    return 0;
}

void
mg_streams_finished(mg_stream_t *s, char *final, size_t final_len)
{
    mg_engine_t      *e = &mg_engine;
    mg_inbox_item_t  *item = calloc(1, sizeof(*item));

    pthread_mutex_lock(&e->lock);
    if (item != NULL && e->started && e->sink == NULL) {
        item->kind = MG_INBOX_FINISHED;
        item->stream = s;
        item->event = final;
        item->event_len = final_len;
        (void) mg_engine_push(item);
        item = NULL;
        s = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (s != NULL) {
        /* no engine to take it (stopped, or a unit test): nobody to tell */
        if (item == NULL) {
            mg_log_error("engine: out of memory for the end of stream rid=%s", s->rid);
        }
        free(final);
        mg_stream_free(s);
    }
    free(item);
}

uint32_t
mg_stream_final_id(const mg_stream_t *s)
{
    return s->replay.last + 1;
}

static void
mg_engine_register(mg_engine_t *e, mg_stream_t *s)
{
    s->in_engine = 1;
    s->started_ms = mg_now_ms();
    s->metric_start = mg_metrics_clock();   /* to the microsecond: a first token is quick */
    /* a bot's model id is free text: only a listed one becomes a label */
    s->metric_model = s->provider == &mg_provider_local ? "local"
                      : s->model_id != NULL && mg_models_listed(s->model_id) ? s->model_id
                      : "other";
    mg_engine_hash_add(s);
    if (s->sse && mg_engine_send_head(s) != 0) {
        mg_stream_fail(s, 0, "internal", "cannot reach the broker");
        return;
    }
    mg_engine_start_attempt(s);
}

/* End every stream still open; returns how many it ended. */
static int
mg_engine_end_all(mg_engine_t *e, const char *code, const char *message)
{
    int n = 0;

    for (size_t b = 0; b < MG_ENGINE_BUCKETS; b++) {
        for (mg_stream_t *s = e->buckets[b]; s != NULL; s = s->hnext) {
            if (!s->ended) {
                mg_stream_fail(s, 0, code, "%s", message);
                n++;
            }
        }
    }
    return n;
}

/* ---- resumes and stops (mg_streams_find) ------------------------------------- */

/* The answer item asks for: the caller's, of its chat, the newest if it
 * names no message.  A scan: resumes are rare, and every open stream is
 * in the hash. */
static mg_stream_t *
mg_engine_find_answer(mg_engine_t *e, const mg_inbox_item_t *it)
{
    mg_stream_t *best = NULL;

    for (size_t b = 0; b < MG_ENGINE_BUCKETS; b++) {
        for (mg_stream_t *s = e->buckets[b]; s != NULL; s = s->hnext) {
            if (!s->sse || s->subrun || strcmp(s->chat_id, it->chat_id) != 0
                || (it->message_id[0] != '\0' && strcmp(s->message_id, it->message_id) != 0)
                || s->user_id == NULL || strcmp(s->user_id, it->user_id) != 0)
            {
                continue;
            }
            if (best == NULL || s->started_ms > best->started_ms) {
                best = s;
            }
        }
    }
    return best;
}

static void
mg_engine_answer_error(const mg_inbox_item_t *it, int status, const char *code,
                       const char *message)
{
    mg_msg_t msg = { .type = MG_MSG_ERR, .status = status };

    msg.code.data = code;
    msg.code.len = strlen(code);
    msg.message.data = message;
    msg.message.len = strlen(message);
    if (mg_engine_forward_to(it->rid, it->peer, it->peer_len, &msg, 0) != 0) {
        mg_log_error("engine: cannot answer job rid=%.*s", MG_RID_LEN, it->rid);
    }
}

/* "id: <latest>\nevent: snapshot\ndata: {...}\n\n": the answer so far, for
 * a client whose missed events are no longer held; NULL when out of memory. */
static char *
mg_engine_snapshot(const mg_stream_t *s, size_t *len)
{
    json_t  *v, *cites;
    char    *json, *ev, *out = NULL;
    char     idl[MG_REPLAY_ID_MAX];
    size_t   evlen, idlen;

    v = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s%}", "chat_id", s->chat_id,
                  "message_id", s->message_id, "user_message_id", s->user_message_id,
                  "bot_id", s->bot_id[0] ? s->bot_id : NULL,
                  "agent_id", s->agent_id[0] ? s->agent_id : NULL, "model", s->model_id,
                  "content", s->text ? s->text : "", s->text_len);
    if (v != NULL && s->citations != NULL) {
        cites = json_loads(s->citations, 0, NULL);
        if (cites != NULL) {
            json_object_set_new(v, "citations", cites);
        }
    }
    json = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    ev = json ? mg_sse_event("snapshot", json, strlen(json), &evlen) : NULL;
    free(json);
    if (ev != NULL) {
        idlen = (size_t) snprintf(idl, sizeof(idl), "id: %u\n", s->replay.last);
        out = malloc(idlen + evlen + 1);
        if (out != NULL) {
            memcpy(out, idl, idlen);
            memcpy(out + idlen, ev, evlen + 1);
            *len = idlen + evlen;
        }
    }
    free(ev);
    return out;
}

/* A client joins s: the stream's head, what it missed, then it is sent
 * what comes like every other client. */
static void
mg_engine_attach(mg_engine_t *e, const mg_inbox_item_t *it, mg_stream_t *s)
{
    mg_msg_t      data = { .type = MG_MSG_DATA };
    mg_client_t  *c;
    mg_sb_t       missed = { 0 };
    const char   *at;
    char         *snap = NULL;
    size_t        len;
    int           held;

    held = mg_replay_since(&s->replay, it->seen, s->text, &missed);
    if (held == MG_REPLAY_AHEAD) {
        mg_engine_answer_error(it, 400, "invalid_last_event_id",
                               "Last-Event-ID is past this answer's latest event");
        return;
    }
    len = missed.len;
    snap = mg_sb_done(&missed);
    if (held == MG_REPLAY_GONE) {
        free(snap);
        snap = mg_engine_snapshot(s, &len);
    }
    at = snap;
    c = calloc(1, sizeof(*c));
    if (c == NULL || (len > 0 && snap == NULL)) {
        free(c);
        free(snap);
        mg_engine_answer_error(it, 500, "internal", "out of memory");
        return;
    }
    memcpy(c->rid, it->rid, MG_RID_LEN);
    memcpy(c->peer, it->peer, it->peer_len);
    c->peer_len = it->peer_len;
    data.body.data = at;
    data.body.len = len;
    if (mg_engine_send_head_to(c->rid, c->peer, c->peer_len) != 0
        || (len > 0 && mg_engine_forward_to(c->rid, c->peer, c->peer_len, &data, 0) != 0))
    {
        mg_log_error("engine: cannot reach the broker for job rid=%s", c->rid);
        free(c);
        free(snap);
        return;
    }
    mg_engine_client_add(s, c);
    s->orphan_ms = 0;
    mg_log_info("stream rid=%s: job rid=%s attached after event %u of %u%s", s->rid, c->rid,
                it->seen, s->replay.last,
                held == MG_REPLAY_GONE ? " (a snapshot: the rest is gone)" : "");
    free(snap);
}

static void
mg_engine_on_find(mg_engine_t *e, const mg_inbox_item_t *it)
{
    mg_stream_t  *s = mg_engine_find_answer(e, it);
    mg_msg_t      res = { .type = MG_MSG_RES, .status = 200 };
    char          body[128];

    if (s == NULL) {
        mg_engine_answer_error(it, 404, MG_STREAMS_ELSEWHERE, "no such answer in progress here");
        return;
    }
    if (it->find == MG_FIND_ATTACH) {
        mg_engine_attach(e, it, s);
        return;
    }
    if (s->ended) {
        mg_engine_answer_error(it, 409, "not_streaming", "the answer has already ended");
        return;
    }
    s->stopped = 1;
    mg_engine_end_cancelled(s, "stopped by its user");
    res.content_type.data = "application/json";
    res.content_type.len = sizeof("application/json") - 1;
    res.body.data = body;
    res.body.len = (size_t) snprintf(body, sizeof(body),
                                     "{\"message_id\":\"%s\",\"status\":\"cancelled\"}",
                                     s->message_id);
    if (mg_engine_forward_to(it->rid, it->peer, it->peer_len, &res, 0) != 0) {
        mg_log_error("engine: cannot answer job rid=%.*s", MG_RID_LEN, it->rid);
    }
}

/* s's pool thread is done with it: its last event, END, and s is freed. */
static void
mg_engine_finished(mg_engine_t *e, mg_stream_t *s, char *final, size_t final_len)
{
    mg_msg_t end = { .type = MG_MSG_END };

    if (final != NULL && (mg_engine_emit_any(s, final, final_len) != 0
                          || mg_engine_forward(s, &end) != 0))
    {
        mg_log_error("stream rid=%s: its end cannot reach the broker", s->rid);
    }
    free(final);
    mg_engine_hash_remove(s);
    while (s->clients != NULL) {
        mg_engine_client_drop(s->clients);
    }
    mg_stream_free(s);
}

/* Returns 1 when the thread should exit. */
static int
mg_engine_drain_inbox(mg_engine_t *e)
{
    mg_inbox_item_t  *item, *next;
    uint64_t          count;
    int               quit = 0;

    (void) read(e->evfd, &count, sizeof(count));
    pthread_mutex_lock(&e->lock);
    item = e->inbox_head;
    e->inbox_head = e->inbox_tail = NULL;
    pthread_mutex_unlock(&e->lock);

    for (; item != NULL; item = next) {
        next = item->next;
        switch (item->kind) {
        case MG_INBOX_SUBMIT:
            mg_engine_register(e, item->stream);
            break;
        case MG_INBOX_CANCEL:
            mg_engine_on_cancel(e, item->rid, item->peer, item->peer_len);
            break;
        case MG_INBOX_FIND:
            mg_engine_on_find(e, item);
            free(item->user_id);
            break;
        case MG_INBOX_FINISHED:
            mg_engine_finished(e, item->stream, item->event, item->event_len);
            break;
        case MG_INBOX_TOOL_DONE: {
            mg_tool_job_t  *job = item->job;
            mg_stream_t    *s = mg_engine_hash_find(job->rid, job->peer, job->peer_len);

            /* the stream may have ended (or gone) while the tool ran */
            if (s != NULL && !s->ended && s->tool_wait && mg_agent_tool_done(s, job) == 1) {
                mg_engine_next_step(e, s);
            }
            mg_tool_job_free(job);
            break;
        }
        case MG_INBOX_RELAY: {
            mg_stream_t *s = mg_engine_hash_find(item->rid, item->peer, item->peer_len);

            if (s != NULL && !s->ended && s->sse
                && mg_engine_emit(s, item->event, item->event_len) != 0)
            {
                mg_stream_fail(s, 0, "internal", "cannot reach the broker");
            }
            free(item->event);
            break;
        }
        case MG_INBOX_FLOW:
            mg_engine_on_flow(e, item->peer, item->peer_len, item->flow);
            break;
        case MG_INBOX_STOP: {
            /* ["D"][how many it ended], after their "P"s (pool.c logs it) */
            char      count[16];
            mg_str_t  d[2] = { { "D", 1 }, { count, 0 } };

            d[1].len = (size_t) snprintf(count, sizeof(count), "%d",
                                         mg_engine_end_all(e, MG_STREAMS_STOP_CODE,
                                                           MG_STREAMS_STOP_MESSAGE));
            mg_engine_reap(e);
            (void) mg_engine_flush(e);
            (void) mg_engine_send_frames(d, 2);
            break;
        }
        case MG_INBOX_QUIT:
            quit = 1;
            break;
        }
        free(item);
    }
    return quit;
}

/* ---- the loop --------------------------------------------------------------- */

static void
mg_engine_run_timers(mg_engine_t *e, long long now)
{
    int running;

    while (e->heap_n > 0 && e->heap[0]->timer_due <= now) {
        mg_stream_t *s = e->heap[0];

        mg_heap_remove(e, s);
        if (s->ended) {
            continue;
        }
        if (s->retry_wait) {
            mg_engine_start_attempt(s);
        } else if (s->tool_wait) {
            if (mg_agent_tools_expire(s)) {
                mg_engine_next_step(e, s);
            } else if (!s->ended) {
                mg_stream_timer(s, mg_agent_tools_due(s->run) - now);
            }
        } else if (s->provider->on_timer != NULL) {
            if (e->blocked_n > 0 && mg_engine_blocked(e, s)) {
                mg_engine_park(e, s);       /* its turn comes again on RESUMED */
            } else {
                s->provider->on_timer(s);
            }
        }
    }
    if (e->curl_due != 0 && e->curl_due <= now) {
        e->curl_due = 0;
        curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        mg_engine_check_multi(e);
    }
    if (now >= e->sweep_due) {
        e->sweep_due = now + MG_ENGINE_SWEEP_MS;
        for (size_t b = 0; b < MG_ENGINE_BUCKETS; b++) {
            for (mg_stream_t *s = e->buckets[b]; s != NULL; s = s->hnext) {
                if (s->tool_wait && s->sse && !s->ended
                    && now - s->sent_ms >= MG_ENGINE_KEEPALIVE_MS
                    && mg_engine_send_data(s, MG_SSE_KEEPALIVE,
                                           sizeof(MG_SSE_KEEPALIVE) - 1) != 0)
                {
                    mg_stream_fail(s, 0, "internal", "cannot reach the broker");
                }
                if (s->orphan_ms != 0 && !s->ended && now - s->orphan_ms >= e->cfg.grace_ms) {
                    mg_engine_end_cancelled(s, "no client came back in time");
                } else if (s->deadline_ms != 0 && !s->ended && now >= s->deadline_ms) {
                    s->output_started = 1;      /* final: no retry */
                    mg_stream_fail(s, 0, "agent_time_limit",
                                   "the agent ran out of its time for one turn");
                } else if (s->easy != NULL && !s->ended && !s->parked
                           && now - s->activity_ms > e->cfg.idle_timeout_ms)
                {
                    s->output_started = 1;      /* a silent provider: no retry */
                    mg_stream_fail(s, 0, "provider_timeout",
                                   "the model sent nothing for %ld s", e->cfg.idle_timeout_ms / 1000);
                }
            }
        }
    }
}

static int
mg_engine_wait_ms(mg_engine_t *e, long long now)
{
    long long due = e->sweep_due;

    if (e->heap_n > 0 && e->heap[0]->timer_due < due) {
        due = e->heap[0]->timer_due;
    }
    if (e->curl_due != 0 && e->curl_due < due) {
        due = e->curl_due;
    }
    if (e->flush_due != 0 && e->flush_due < due) {
        due = e->flush_due;
    }
    return due <= now ? 0 : (int) (due - now);
}

static void *
mg_engine_main(void *arg)
{
    mg_engine_t         *e = arg;
    struct epoll_event   evs[MG_ENGINE_EVENTS];
    int                  n, running, quit = 0, hwm = MG_ENGINE_HWM, linger = 0;

    e->sock = zmq_socket(e->zctx, ZMQ_DEALER);
    if (e->sock == NULL
        || zmq_setsockopt(e->sock, ZMQ_ROUTING_ID, "e", 1) != 0
        || zmq_setsockopt(e->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0
        || zmq_setsockopt(e->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0
        || zmq_connect(e->sock, e->backend) != 0)
    {
        mg_log_error("engine: cannot connect to the broker: %s", zmq_strerror(errno));
        return NULL;
    }
    e->sweep_due = mg_now_ms() + MG_ENGINE_SWEEP_MS;

    while (!quit) {
        long long now = mg_now_ms();

        n = epoll_wait(e->epfd, evs, MG_ENGINE_EVENTS, mg_engine_wait_ms(e, now));
        if (n < 0 && errno != EINTR) {
            mg_log_error("engine: epoll_wait failed: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd, mask = 0;

            if (fd == e->evfd) {
                quit |= mg_engine_drain_inbox(e);
                continue;
            }
            mask |= evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0;
            mask |= evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0;
            mask |= evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0;
            curl_multi_socket_action(e->multi, fd, mask, &running);
        }
        mg_engine_check_multi(e);
        mg_engine_run_timers(e, mg_now_ms());
        mg_engine_reap(e);
        if (e->flush_due != 0 && (e->flush_now || mg_now_ms() >= e->flush_due)) {
            (void) mg_engine_flush(e);
        }
    }

    /* quit comes after stop, so nothing is left; free what a failed start left */
    (void) mg_engine_end_all(e, MG_STREAMS_STOP_CODE, MG_STREAMS_STOP_MESSAGE);
    mg_engine_reap(e);
    zmq_close(e->sock);
    e->sock = NULL;
    return NULL;
}

int
mg_streams_start(const mg_streams_config_t *cfg, void *zctx, const char *backend)
{
    mg_engine_t *e = &mg_engine;
    struct epoll_event ev = { .events = EPOLLIN };
    char why[128];
    int err;

    e->cfg = *cfg;
    e->zctx = zctx;
    e->backend = backend;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e->multi = curl_multi_init();
    if (e->epfd < 0 || e->evfd < 0 || e->multi == NULL) {
        mg_log_error("engine: cannot set up its loop: %s", strerror(errno));
        return -1;
    }
    e->transport = mg_transport_new(e->multi, why, sizeof(why));
    if (e->transport == NULL) {
        mg_log_error("engine: cannot set up provider connections: %s", why);
        return -1;
    }
    ev.data.fd = e->evfd;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev) != 0) {
        mg_log_error("engine: cannot watch its inbox: %s", strerror(errno));
        return -1;
    }
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, mg_engine_on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, mg_engine_on_curl_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);

    err = pthread_create(&e->tid, NULL, mg_engine_main, e);
    if (err != 0) {
        mg_log_error("engine: cannot start its thread: %s", strerror(err));
        return -1;
    }
    pthread_mutex_lock(&e->lock);
    e->started = 1;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void
mg_streams_stop(void)
{
    if (mg_engine.started) {
        mg_engine_push_simple(MG_INBOX_STOP);
    }
}

void
mg_streams_quit(void)
{
    mg_engine_t *e = &mg_engine;

    if (e->started) {
        mg_inbox_item_t *left;

        mg_engine_push_simple(MG_INBOX_QUIT);
        pthread_join(e->tid, NULL);
        pthread_mutex_lock(&e->lock);
        e->started = 0;
        left = e->inbox_head;               /* tool results that came too late */
        e->inbox_head = e->inbox_tail = NULL;
        pthread_mutex_unlock(&e->lock);
        while (left != NULL) {
            mg_inbox_item_t *next = left->next;

            if (left->kind == MG_INBOX_TOOL_DONE) {
                mg_tool_job_free(left->job);
            }
            if (left->kind == MG_INBOX_FINISHED) {
                mg_stream_free(left->stream);
            }
            free(left->user_id);
            free(left->event);
            free(left);
            left = next;
        }
    }
    if (e->multi != NULL) {
        curl_multi_cleanup(e->multi);
        e->multi = NULL;
    }
    mg_transport_free(e->transport);        /* after every handle that used its share */
    e->transport = NULL;
    if (e->epfd >= 0) {
        close(e->epfd);
        e->epfd = -1;
    }
    if (e->evfd >= 0) {
        close(e->evfd);
        e->evfd = -1;
    }
    free(e->heap);
    e->heap = NULL;
    e->heap_n = e->heap_cap = 0;
    /* streams still listed are their pool threads' (and so their clients) */
    memset(e->buckets, 0, sizeof(e->buckets));
    memset(e->cbuckets, 0, sizeof(e->cbuckets));
    free(e->evbuf);
    e->evbuf = NULL;
    e->evcap = 0;
    free(e->blocked);
    e->blocked = NULL;
    e->blocked_n = e->blocked_cap = 0;
    for (size_t i = 0; i < e->packs_n; i++) {
        free(mg_sb_done(&e->packs[i].out));
    }
    free(e->packs);
    e->packs = NULL;
    e->packs_n = e->packs_cap = 0;
    e->parked = NULL;
}

void
mg_streams_set_sink(mg_stream_sink_fn sink)
{
    mg_engine.sink = sink;
}
