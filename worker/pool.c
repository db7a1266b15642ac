/*
 * mg_pool: owns the broker loop, the pool threads and the bounded queue of
 * jobs waiting for a thread.
 *
 * Sockets:
 *   frontend  ROUTER bound to cfg->bind; module peers connect to it.
 *             Messages are packed (mg_protocol.h), shown here unpacked:
 *             in:  [peer][REQ|CANCEL][rid]...   out: [peer][RES|ERR|...][rid]...
 *             in:  [peer][CREDIT][n]            every message out spends credit
 *             (flow.h): a peer out of it has its messages held, not waited for;
 *             out, messages are packed, one frame per peer and loop round
 *   backend   ROUTER bound to inproc; thread i connects a DEALER whose
 *             routing id is "t<i>".
 * Broker <-> thread messages (after the routing id the ROUTER adds/strips):
 *   thread -> broker  ["R"]                    idle, give me a job
 *                     ["F"][peer][msg...]      forward msg to peer
 *   engine -> broker  ["B"][peer][packed]      a round's messages for peer (stream.c)
 *                     ["P"][stream pointer]    a stream ended: finish it
 *                     ["D"][n]                 stopped, after ending n streams
 *   broker -> thread  ["J"][peer][REQ...]      run this job
 *                     ["P"][stream pointer]    finish this stream (jobs/chat.c)
 *                     ["S"]                    stop
 *
 * Invariants: only the broker thread touches the sockets it owns and the
 * broker-side fields of mg_pool_thread_t; a thread is IDLE exactly when its
 * index is in the idle ring; a job is either in the queue, at one thread,
 * or answered; an ended stream is in the finish queue or at one thread,
 * and finishes go before new jobs (they hold answers nobody else has).  The only state shared across threads is each thread's
 * atomic cancel flag (broker writes, thread reads), the user status
 * cache (user_status.c) and the read cache (read_cache.c, from which the
 * broker answers kept reads itself), each with its own lock, which the
 * listener thread (user_listener.c) keeps in step with the database, and
 * the metrics registry (metrics.c, a lock per family).  The module's
 * scrape (job "metrics") is answered by the broker too, never queued: it
 * reads the queue, the threads' states and flow control into their gauges
 * here, on the thread that owns them.
 *
 * Stopping (drain.h): the first SIGTERM or SIGINT stops the taking of
 * jobs; running ones and open streams go on until the stop timeout, and
 * the process leaves as soon as nothing runs.  Only then, or at the
 * deadline, is the engine told to stop (mg_streams_stop: it ends what is
 * still open), so a draining engine serves its streams as before:
 * provider reads, CREDITs (the frontend is read as usual) and CANCELs.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "drain.h"
#include "job.h"
#include "jobs/dispatch.h"
#include "util/clock.h"
#include "util/log.h"
#include "mg_protocol.h"
#include "stream.h"
#include "identity/user_listener.h"
#include "identity/user_status.h"
#include "mcp/registry.h"
#include "read_cache.h"
#include "flow.h"
#include "metrics.h"
#include "emf.h"

#define MG_POOL_BACKEND     "inproc://mg-pool"
#define MG_REQ_FRAMES       6               /* REQ rid job params claims body */
#define MG_JOB_PARTS        2               /* peer, the packed REQ */
#define MG_FRONT_PARTS      2               /* peer, one packed message */
#define MG_BACK_PARTS       (2 + 1 + MG_PROTO_MAX_FRAMES)
#define MG_THREAD_PARTS     (1 + MG_JOB_PARTS)
#define MG_BURST            256             /* messages per socket per poll round */
#define MG_FRONT_HWM        100000          /* streams send many small frames */
#define MG_FRONT_MAXMSG     (64LL * 1024 * 1024)   /* an upload fits (documents.c) */
/* A clean stop closes the frontend with this linger: the last answers
 * queued for nginx still leave. */
#define MG_FRONT_LINGER_MS  1000

typedef enum {
    MG_T_STARTING = 0,      /* no READY yet */
    MG_T_IDLE,
    MG_T_BUSY,
    MG_T_STOPPED            /* told to stop */
} mg_thread_state_t;

typedef struct mg_pool_s mg_pool_t;

typedef struct {
    mg_pool_t          *pool;
    int                 index;
    pthread_t           tid;
    int                 created;
    atomic_int          cancel;
    /* broker-only below */
    mg_thread_state_t   state;
    unsigned char       peer[MG_PEER_MAX];   /* the job it runs, for CANCEL */
    size_t              peer_len;
    char                rid[MG_RID_LEN];
} mg_pool_thread_t;

typedef struct {
    zmq_msg_t  parts[MG_JOB_PARTS];         /* peer, then the packed REQ */
    char       rid[MG_RID_LEN];
} mg_pending_t;

struct mg_pool_s {
    const mg_pool_config_t  *cfg;
    void                    *ctx;
    void                    *frontend;
    void                    *backend;
    mg_flow_t               *flow;          /* credit and backlog per peer */
    long long                flow_tick_ms;
    mg_pool_thread_t        *threads;
    int                     *idle;          /* ring: least recently idle first */
    size_t                   idle_head, idle_n;
    mg_pending_t            *slots;         /* queue storage, cfg->queue entries */
    mg_pending_t           **free_slots;    /* stack of unused slots */
    size_t                   free_n;
    mg_pending_t           **queue;         /* ring of waiting jobs, FIFO */
    size_t                   q_head, q_n;
    mg_stream_t             *fin_head;      /* ended streams to finish, FIFO */
    mg_stream_t             *fin_tail;
    size_t                   fin_n;
    int                      engine_drained;
    int                      engine_told;   /* mg_streams_stop called */
    int                      stopping;
    mg_drain_t               drain;         /* the stop sequence's phase and deadlines */
    long long                last_req_ms;   /* stopping: the last job refused, or the
                                             * moment nothing ran any more */
    unsigned long            handed_on;     /* streams that ended while stopping */
    long                     ended_by_stop; /* of those, ended by mg_streams_stop */
    unsigned long            rejected;      /* overloaded answers not yet logged */
    long long                rejected_log_ms;
};

/* SIGTERM and SIGINT so far, and the last one; handled on the broker
 * thread only (the others block them), never nested (sa_mask). */
static volatile sig_atomic_t mg_pool_signals;
static volatile sig_atomic_t mg_pool_last_signal;

static void
mg_pool_on_signal(int sig)
{
    mg_pool_last_signal = sig;
    mg_pool_signals++;
}


/* ---- multipart helpers ------------------------------------------------ */

static void
mg_parts_close(zmq_msg_t *parts, int n)
{
    for (int i = 0; i < n; i++) {
        zmq_msg_close(&parts[i]);
    }
}

/* Receive one whole multipart message into parts[0..max).  Returns the
 * part count; 0 when nothing is waiting (only with ZMQ_DONTWAIT); -1 on
 * error (errno set); -2 when it had more than max parts (then dropped). */
static int
mg_recv_parts(void *sock, zmq_msg_t *parts, int max, int flags)
{
    zmq_msg_t  extra;
    int        n = 0, more, overflow = 0;

    for (;;) {
        zmq_msg_t *m = n < max ? &parts[n] : &extra;

        zmq_msg_init(m);
        /* parts of one message arrive together: only the first can block */
        if (zmq_msg_recv(m, sock, n == 0 ? flags : 0) < 0) {
            int e = errno;

            zmq_msg_close(m);
            mg_parts_close(parts, n);
            errno = e;
            return (e == EAGAIN && n == 0) ? 0 : -1;
        }
        more = zmq_msg_more(m);
        if (m == &extra) {
            zmq_msg_close(m);
            overflow = 1;
        } else {
            n++;
        }
        if (!more) {
            break;
        }
    }
    if (overflow) {
        mg_parts_close(parts, n);
        return -2;
    }
    return n;
}

/* Send parts[0..n) as the rest of a message, without waiting.  The parts
 * are consumed either way.  0 or -1. */
static int
mg_send_parts(void *sock, zmq_msg_t *parts, int n)
{
    int rc = 0;

    for (int i = 0; i < n && rc == 0; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;

        if (zmq_msg_send(&parts[i], sock, flags | ZMQ_DONTWAIT) < 0) {
            rc = -1;
        }
    }
    mg_parts_close(parts, n);
    return rc;
}

static int
mg_send_bytes(void *sock, const void *data, size_t len, int flags)
{
    return zmq_send(sock, data, len, flags) < 0 ? -1 : 0;
}

/* Send an encoded protocol message, preceded by prefix[0..nprefix). */
static int
mg_send_msg(void *sock, const mg_str_t *prefix, int nprefix, const mg_msg_t *msg, int flags)
{
    mg_str_t  frames[MG_PROTO_MAX_FRAMES];
    char      status[4];
    int       n;

    n = mg_proto_frames(msg, frames, status);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < nprefix; i++) {
        if (mg_send_bytes(sock, prefix[i].data, prefix[i].len, flags | ZMQ_SNDMORE) != 0) {
            return -1;
        }
    }
    for (int i = 0; i < n; i++) {
        if (mg_send_bytes(sock, frames[i].data, frames[i].len,
                          flags | (i + 1 < n ? ZMQ_SNDMORE : 0)) != 0)
        {
            return -1;
        }
    }
    return 0;
}

/* An encoded protocol message to a module peer, through flow control.
 * 0, or -1 when it could not be built or the peer is gone. */
static int
mg_pool_to_peer(mg_pool_t *p, const zmq_msg_t *peer, const mg_msg_t *msg)
{
    zmq_msg_t  parts[1 + MG_PROTO_MAX_FRAMES];
    mg_str_t   frames[MG_PROTO_MAX_FRAMES];
    char       status[4];
    int        n = mg_proto_frames(msg, frames, status);

    if (n < 0 || zmq_msg_init_size(&parts[0], zmq_msg_size(peer)) != 0) {
        return -1;
    }
    memcpy(zmq_msg_data(&parts[0]), zmq_msg_data((zmq_msg_t *) peer), zmq_msg_size(peer));
    for (int i = 0; i < n; i++) {
        if (zmq_msg_init_size(&parts[i + 1], frames[i].len) != 0) {
            mg_parts_close(parts, i + 1);
            return -1;
        }
        memcpy(zmq_msg_data(&parts[i + 1]), frames[i].data, frames[i].len);
    }
    return mg_flow_send(p->flow, parts, n + 1);
}

/* A job answered, for metrics: its name only when the dispatch table
 * knows it (the label stays bounded whatever a peer sends); seconds < 0
 * when it never ran (refused by the broker). */
static void
mg_pool_count_job(const char *name, size_t len, const char *outcome, double seconds)
{
    const mg_job_def_t  *def = mg_dispatch_find(name, len);
    const char          *job = def != NULL ? def->name : "unknown";

    mg_mcounter_add(mg_wm.jobs, (const char *[]) { job, outcome }, 1);
    if (seconds >= 0) {
        mg_mhist_observe(mg_wm.job_seconds, (const char *[]) { job }, seconds);
    }
}

/* ---- pool threads ------------------------------------------------------ */

typedef struct {
    void        *sock;
    const void  *peer;
    size_t       peer_len;
} mg_thread_send_t;

/* mg_job_send_fn: ["F"][peer][msg...] to the broker. */
static int
mg_thread_send(void *ctx, const mg_msg_t *msg)
{
    mg_thread_send_t  *s = ctx;
    mg_str_t           prefix[2];

    prefix[0].data = "F";
    prefix[0].len = 1;
    prefix[1].data = s->peer;
    prefix[1].len = s->peer_len;
    /* inproc to our own broker: blocking is bounded by one job's replies */
    return mg_send_msg(s->sock, prefix, 2, msg, 0);
}

static void
mg_thread_run_job(mg_pool_thread_t *t, void *sock, mg_db_t *db, zmq_msg_t *parts)
{
    mg_str_t          f[MG_PROTO_MAX_FRAMES];
    mg_msg_t          req;
    mg_job_t          job;
    mg_thread_send_t  sctx = { sock, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]) };
    char              err[96];
    long long         start = mg_now_ms();
    double            started = mg_metrics_clock();
    size_t            off = 0;
    int               n = mg_proto_unpack(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]),
                                          &off, f);

    if (n != MG_REQ_FRAMES || mg_proto_parse(f, (size_t) n, &req) != 0
        || req.type != MG_MSG_REQ)
    {
        mg_log_error("thread %d: broker handed over a malformed job", t->index);
        return;
    }

    if (mg_job_init(&job, &req, err, sizeof(err)) != 0) {
        job.send = mg_thread_send;
        job.send_ctx = &sctx;
        mg_log_error("job %.*s rid=%s: %s", (int) job.name_len, job.name, job.rid, err);
        (void) mg_job_reply_error(&job, 500, "internal", "internal error");
        mg_pool_count_job(job.name, job.name_len, mg_job_outcome(&job),
                          mg_metrics_clock() - started);
        mg_job_free(&job);
        return;
    }
    mg_log_job_begin(job.rid, job.name, job.name_len,
                     json_string_value(json_object_get(job.claims, "sub")));
    job.db = db;
    job.nthreads = t->pool->cfg->threads;
    job.cancel = &t->cancel;
    job.send = mg_thread_send;
    job.send_ctx = &sctx;
    job.peer = sctx.peer;
    job.peer_len = sctx.peer_len;

    if (mg_job_cancelled(&job)) {
        snprintf(job.outcome, sizeof(job.outcome), "cancelled");
        mg_log_debug("job %.*s rid=%s: cancelled before it started",
                     (int) job.name_len, job.name, job.rid);
    } else if (mg_dispatch_run(&job) != 0) {
        mg_log_warn("job %.*s rid=%s: reply failed", (int) job.name_len, job.name, job.rid);
    }
    mg_log_debug("job %.*s rid=%s: done in %lld ms on thread %d",
                 (int) job.name_len, job.name, job.rid, mg_now_ms() - start, t->index);
    mg_pool_count_job(job.name, job.name_len, mg_job_outcome(&job), mg_metrics_clock() - started);
    mg_log_job_done(mg_job_outcome(&job), mg_metrics_clock() - started);
    mg_log_job_end();
    mg_job_free(&job);
}

/* ["P"][pointer]: store an ended stream's answer, tell its clients. */
static void
mg_thread_finish(mg_pool_thread_t *t, void *sock, mg_db_t *db, zmq_msg_t *ptr)
{
    mg_stream_t       *s;
    mg_thread_send_t   sctx;
    char              *final;
    size_t             final_len;

    memcpy(&s, zmq_msg_data(ptr), sizeof(s));
    sctx.sock = sock;
    sctx.peer = s->peer;
    sctx.peer_len = s->peer_len;
    if (mg_chat_finish(s, db, mg_thread_send, &sctx, &final, &final_len) != 0) {
        mg_log_warn("thread %d: end of stream rid=%s not delivered", t->index, s->rid);
    }
    /* the engine sends an SSE answer's last event to its clients, frees s */
    mg_streams_finished(s, final, final_len);
}

static void *
mg_thread_main(void *arg)
{
    mg_pool_thread_t  *t = arg;
    mg_pool_t         *p = t->pool;
    void              *sock = NULL;
    mg_db_t           *db = NULL;
    zmq_msg_t          parts[MG_THREAD_PARTS];
    char               id[16], label[32];
    int                n, linger = 0;

    snprintf(id, sizeof(id), "t%d", t->index);
    snprintf(label, sizeof(label), "thread %d", t->index);

    sock = zmq_socket(p->ctx, ZMQ_DEALER);
    if (sock == NULL
        || zmq_setsockopt(sock, ZMQ_ROUTING_ID, id, strlen(id)) != 0
        || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0
        || zmq_connect(sock, MG_POOL_BACKEND) != 0)
    {
        mg_log_error("%s: cannot connect to the broker: %s", label, zmq_strerror(errno));
        goto done;
    }

    db = mg_db_new(p->cfg->conninfo, label);
    if (db == NULL) {
        mg_log_error("%s: out of memory", label);
        goto done;
    }
    /* a database that is down now is not fatal: jobs answer 503 and
     * every job tries to connect again */
    (void) mg_db_connect(db);

    for (;;) {
        if (mg_send_bytes(sock, "R", 1, 0) != 0) {
            if (errno != ETERM) {
                mg_log_error("%s: cannot reach the broker: %s", label, zmq_strerror(errno));
            }
            break;
        }
        n = mg_recv_parts(sock, parts, MG_THREAD_PARTS, 0);
        if (n == -1) {
            if (errno != ETERM) {
                mg_log_error("%s: receive failed: %s", label, zmq_strerror(errno));
            }
            break;
        }
        if (n == 1 && zmq_msg_size(&parts[0]) == 1
            && *(const char *) zmq_msg_data(&parts[0]) == 'S')
        {
            mg_parts_close(parts, n);
            break;
        }
        if (n == MG_THREAD_PARTS && zmq_msg_size(&parts[0]) == 1
            && *(const char *) zmq_msg_data(&parts[0]) == 'J')
        {
            mg_thread_run_job(t, sock, db, parts);
        } else if (n == 2 && zmq_msg_size(&parts[0]) == 1
                   && *(const char *) zmq_msg_data(&parts[0]) == 'P'
                   && zmq_msg_size(&parts[1]) == sizeof(mg_stream_t *))
        {
            mg_thread_finish(t, sock, db, &parts[1]);
        } else {
            mg_log_error("%s: unexpected message from the broker (%d parts)", label, n);
        }
        if (n > 0) {
            mg_parts_close(parts, n);
        }
    }

done:
    mg_db_free(db);
    if (sock != NULL) {
        zmq_close(sock);
    }
    return NULL;
}

/* ---- broker ------------------------------------------------------------ */

static int
mg_pool_send_thread(mg_pool_t *p, mg_pool_thread_t *t, const char *kind, int more)
{
    char id[16];

    snprintf(id, sizeof(id), "t%d", t->index);
    if (mg_send_bytes(p->backend, id, strlen(id), ZMQ_SNDMORE) != 0
        || mg_send_bytes(p->backend, kind, 1, more ? ZMQ_SNDMORE : 0) != 0)
    {
        mg_log_error("broker: cannot reach thread %d: %s", t->index, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* ERR straight from the broker (overloaded, shutting down). */
static void
mg_pool_reply_err(mg_pool_t *p, zmq_msg_t *peer, const char *rid, int status,
                  const char *code, const char *message)
{
    mg_msg_t  msg = { .type = MG_MSG_ERR, .status = status };

    msg.rid.data = rid;
    msg.rid.len = MG_RID_LEN;
    msg.code.data = code;
    msg.code.len = strlen(code);
    msg.message.data = message;
    msg.message.len = strlen(message);
    if (mg_pool_to_peer(p, peer, &msg) != 0) {
        mg_log_warn("broker: %d %s for rid=%.*s not delivered", status, code, MG_RID_LEN, rid);
    }
}

/* Hand a job (parts: peer + REQ frames, consumed) to thread t. */
static void
mg_pool_dispatch(mg_pool_t *p, mg_pool_thread_t *t, zmq_msg_t *parts, const char *rid)
{
    zmq_msg_t  peer;

    t->peer_len = zmq_msg_size(&parts[0]);
    memcpy(t->peer, zmq_msg_data(&parts[0]), t->peer_len);
    memcpy(t->rid, rid, MG_RID_LEN);
    /* cleared before the job leaves, so a late CANCEL for the thread's
     * previous job cannot hit this one */
    atomic_store(&t->cancel, 0);
    t->state = MG_T_BUSY;

    if (mg_pool_send_thread(p, t, "J", 1) != 0) {
        mg_parts_close(parts, MG_JOB_PARTS);
    } else if (mg_send_parts(p->backend, parts, MG_JOB_PARTS) == 0) {
        return;                     /* mg_send_parts consumed parts either way */
    }

    /* the thread is gone (it can only fail to receive if it exited):
     * retire it and answer the job rather than let it time out */
    mg_log_error("broker: thread %d unreachable, retired; job rid=%.*s answered 503",
                 t->index, MG_RID_LEN, rid);
    t->state = MG_T_STOPPED;
    if (zmq_msg_init_size(&peer, t->peer_len) == 0) {
        memcpy(zmq_msg_data(&peer), t->peer, t->peer_len);
        mg_pool_reply_err(p, &peer, t->rid, 503, "unavailable", "worker is unavailable");
        zmq_msg_close(&peer);
    }
}

/* Hand an ended stream to thread t for mg_chat_finish. */
static void
mg_pool_dispatch_finish(mg_pool_t *p, mg_pool_thread_t *t, mg_stream_t *s)
{
    t->peer_len = s->peer_len;
    memcpy(t->peer, s->peer, s->peer_len);
    memcpy(t->rid, s->rid, MG_RID_LEN);
    atomic_store(&t->cancel, 0);
    t->state = MG_T_BUSY;

    if (mg_pool_send_thread(p, t, "P", 1) == 0
        && mg_send_bytes(p->backend, &s, sizeof(s), 0) == 0)
    {
        return;
    }
    /* the thread is gone; the stream waits for another */
    mg_log_error("broker: thread %d unreachable, retired", t->index);
    t->state = MG_T_STOPPED;
    s->next = p->fin_head;
    p->fin_head = s;
    if (p->fin_tail == NULL) {
        p->fin_tail = s;
    }
    p->fin_n++;
}

static mg_stream_t *
mg_pool_fin_pop(mg_pool_t *p)
{
    mg_stream_t *s = p->fin_head;

    p->fin_head = s->next;
    if (p->fin_head == NULL) {
        p->fin_tail = NULL;
    }
    s->next = NULL;
    p->fin_n--;
    return s;
}

static mg_pending_t *
mg_pool_queue_at(mg_pool_t *p, size_t i)
{
    return p->queue[(p->q_head + i) % (size_t) p->cfg->queue];
}

/* Remove the i-th waiting job from the queue and return its slot (the
 * caller consumes its parts, then gives the slot back). */
static mg_pending_t *
mg_pool_queue_take(mg_pool_t *p, size_t i)
{
    size_t         cap = (size_t) p->cfg->queue;
    mg_pending_t  *e = mg_pool_queue_at(p, i);

    if (i == 0) {               /* the usual case: the oldest job leaves */
        p->q_head = (p->q_head + 1) % cap;
        p->q_n--;
        return e;
    }
    for (size_t j = i; j + 1 < p->q_n; j++) {
        p->queue[(p->q_head + j) % cap] = p->queue[(p->q_head + j + 1) % cap];
    }
    p->q_n--;
    return e;
}

static void
mg_pool_slot_free(mg_pool_t *p, mg_pending_t *e)
{
    mg_parts_close(e->parts, MG_JOB_PARTS);
    p->free_slots[p->free_n++] = e;
}

static void
mg_pool_thread_ready(mg_pool_t *p, mg_pool_thread_t *t)
{
    if (p->fin_n > 0) {
        mg_pool_dispatch_finish(p, t, mg_pool_fin_pop(p));
        return;
    }
    if (p->stopping && p->engine_drained) {
        t->state = MG_T_STOPPED;
        (void) mg_pool_send_thread(p, t, "S", 0);
        return;
    }
    if (p->q_n > 0) {
        mg_pending_t *e = mg_pool_queue_take(p, 0);

        mg_pool_dispatch(p, t, e->parts, e->rid);
        mg_pool_slot_free(p, e);
        return;
    }
    t->state = MG_T_IDLE;
    p->idle[(p->idle_head + p->idle_n) % (size_t) p->cfg->threads] = t->index;
    p->idle_n++;
}

static void
mg_pool_cancel(mg_pool_t *p, zmq_msg_t *peer, const char *rid)
{
    const void  *pd = zmq_msg_data(peer);
    size_t       pl = zmq_msg_size(peer);

    for (size_t i = 0; i < p->q_n; i++) {
        mg_pending_t *e = mg_pool_queue_at(p, i);

        if (memcmp(e->rid, rid, MG_RID_LEN) == 0 && zmq_msg_size(&e->parts[0]) == pl
            && memcmp(zmq_msg_data(&e->parts[0]), pd, pl) == 0)
        {
            mg_pool_slot_free(p, mg_pool_queue_take(p, i));
            mg_log_debug("broker: rid=%.*s cancelled while queued", MG_RID_LEN, rid);
            return;
        }
    }
    for (int i = 0; i < p->cfg->threads; i++) {
        mg_pool_thread_t *t = &p->threads[i];

        if (t->state == MG_T_BUSY && memcmp(t->rid, rid, MG_RID_LEN) == 0
            && t->peer_len == pl && memcmp(t->peer, pd, pl) == 0)
        {
            atomic_store(&t->cancel, 1);
            mg_log_debug("broker: rid=%.*s cancelled on thread %d", MG_RID_LEN, rid, i);
            break;
        }
    }
    /* it may be a stream, or about to become one (see jobs/chat.c) */
    mg_streams_cancel(rid, pd, pl);
}

/* Overload is logged at most once a second however hard we are hit; the
 * broker loop calls this at least that often. */
static void
mg_pool_log_rejected(mg_pool_t *p)
{
    long long now;

    if (p->rejected == 0) {
        return;
    }
    now = mg_now_ms();
    if (now - p->rejected_log_ms >= 1000) {
        mg_log_warn("broker: overloaded, %lu job(s) answered 503", p->rejected);
        p->rejected = 0;
        p->rejected_log_ms = now;
    }
}

/* A read the read cache answers (read_cache.h) is answered here, without
 * the two trips to and from a thread: 1 when it was. */
static int
mg_pool_from_cache(mg_pool_t *p, zmq_msg_t *peer, const mg_msg_t *req)
{
    mg_msg_t   msg = { .type = MG_MSG_RES, .status = 200 };
    double     started = mg_metrics_clock();
    char      *body;
    size_t     len;

    if (!mg_rcache_peek(req, &body, &len)) {
        return 0;
    }
    msg.rid = req->rid;
    msg.content_type.data = "application/json";
    msg.content_type.len = sizeof("application/json") - 1;
    msg.body.data = body;
    msg.body.len = len;
    if (mg_pool_to_peer(p, peer, &msg) != 0) {
        mg_log_warn("broker: reply for rid=%.*s not delivered", MG_RID_LEN, req->rid.data);
    }
    free(body);
    mg_pool_count_job(req->job.data, req->job.len, "ok", mg_metrics_clock() - started);
    return 1;
}

/* What lives on the broker's side (the queue, the threads' states, flow
 * control) and the engine's open count, into their gauges: read here, on
 * the thread that owns them, just before a render. */
static void
mg_pool_metrics_gauges(mg_pool_t *p)
{
    int busy = 0, idle = 0;

    for (int i = 0; i < p->cfg->threads; i++) {
        busy += p->threads[i].state == MG_T_BUSY;
        idle += p->threads[i].state == MG_T_IDLE;
    }
    mg_mgauge_set(mg_wm.queue_depth, NULL, (double) p->q_n);
    mg_mgauge_set(mg_wm.pool_threads, (const char *[]) { "busy" }, busy);
    mg_mgauge_set(mg_wm.pool_threads, (const char *[]) { "idle" }, idle);
    mg_mgauge_set(mg_wm.flow_held, NULL, (double) mg_flow_held(p->flow));
    mg_mgauge_set(mg_wm.flow_blocked, NULL, (double) mg_flow_blocked(p->flow));
    mg_mgauge_set(mg_wm.streams_open, NULL, mg_streams_open());
    mg_mgauge_set(mg_wm.stopping, NULL, p->stopping);
}

/* The module's scrape (job "metrics", outside the route table): answered
 * here, so a pool busy with long jobs never delays it.  1 when it was. */
static int
mg_pool_metrics(mg_pool_t *p, zmq_msg_t *peer, const mg_msg_t *req)
{
    mg_msg_t   msg = { .type = MG_MSG_RES, .status = 200 };
    char      *body;
    size_t     len;

    if (req->job.len != sizeof(MG_METRICS_JOB) - 1
        || memcmp(req->job.data, MG_METRICS_JOB, req->job.len) != 0)
    {
        return 0;
    }
    mg_pool_metrics_gauges(p);
    if (mg_metrics_render(mg_wm.reg, &body, &len) != 0) {
        mg_log_error("broker: metrics: out of memory");
        mg_pool_reply_err(p, peer, req->rid.data, 500, "internal", "internal error");
        return 1;
    }
    msg.rid = req->rid;
    msg.content_type.data = MG_METRICS_CONTENT_TYPE;
    msg.content_type.len = sizeof(MG_METRICS_CONTENT_TYPE) - 1;
    msg.body.data = body;
    msg.body.len = len;
    if (mg_pool_to_peer(p, peer, &msg) != 0) {
        mg_log_warn("broker: metrics for rid=%.*s not delivered", MG_RID_LEN, req->rid.data);
    }
    free(body);
    return 1;
}

/* One message from a module peer. */
static void
mg_pool_on_frontend(mg_pool_t *p, zmq_msg_t *parts, int n)
{
    mg_str_t   f[MG_PROTO_MAX_FRAMES];
    mg_msg_t   msg;
    char       rid[MG_RID_LEN];
    size_t     off = 0;
    int        nf = -1;

    if (n == MG_FRONT_PARTS) {
        nf = mg_proto_unpack(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), &off, f);
    }
    /* one message, and nothing after it */
    if (nf <= 0 || off != zmq_msg_size(&parts[1]) || mg_proto_parse(f, (size_t) nf, &msg) != 0) {
        mg_log_warn("broker: malformed message from a peer dropped (%d parts)", n);
        goto done;
    }
    if (msg.type == MG_MSG_CREDIT) {
        mg_flow_credit(p->flow, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), msg.credit);
        goto done;
    }
    memcpy(rid, msg.rid.data, MG_RID_LEN);

    if (msg.type == MG_MSG_CANCEL) {
        mg_pool_cancel(p, &parts[0], rid);
        goto done;
    }
    if (msg.type != MG_MSG_REQ) {
        mg_log_warn("broker: unexpected %s from a peer dropped", mg_proto_type_name(msg.type));
        goto done;
    }

    if (mg_pool_metrics(p, &parts[0], &msg)) {
        goto done;                  /* answered even while stopping */
    }
    if (p->stopping) {
        p->last_req_ms = mg_now_ms();
        mg_pool_reply_err(p, &parts[0], rid, 503, "worker_stopping", "worker is shutting down");
        mg_pool_count_job(msg.job.data, msg.job.len, "worker_stopping", -1);
        goto done;
    }

    if (mg_pool_from_cache(p, &parts[0], &msg)) {
        goto done;
    }

    if (p->idle_n > 0) {
        int i = p->idle[p->idle_head];

        p->idle_head = (p->idle_head + 1) % (size_t) p->cfg->threads;
        p->idle_n--;
        mg_pool_dispatch(p, &p->threads[i], parts, rid);
        return;                     /* parts consumed */
    }

    if (p->free_n > 0) {
        mg_pending_t *e = p->free_slots[--p->free_n];

        for (int i = 0; i < MG_JOB_PARTS; i++) {
            zmq_msg_init(&e->parts[i]);
            zmq_msg_move(&e->parts[i], &parts[i]);
        }
        memcpy(e->rid, rid, MG_RID_LEN);
        p->queue[(p->q_head + p->q_n) % (size_t) p->cfg->queue] = e;
        p->q_n++;
        goto done;
    }

    p->rejected++;
    mg_pool_log_rejected(p);
    mg_pool_reply_err(p, &parts[0], rid, 503, "overloaded", "all workers are busy");
    mg_pool_count_job(msg.job.data, msg.job.len, "overloaded", -1);

done:
    mg_parts_close(parts, n);
}

/* ["F"][peer][msg...] from a thread or the engine (parts: its routing
 * id first): [peer][msg...] to the module, now or, when the peer is out
 * of credit, after what it holds (flow.h).  Never waits: a stopped nginx
 * process must not slow the others' answers. */
static void
mg_pool_forward(mg_pool_t *p, zmq_msg_t *parts, int n)
{
    (void) mg_flow_send(p->flow, &parts[2], n - 2);
    mg_parts_close(parts, 2);
}

/* What flow control says about a peer, for the engine's streams. */
static void
mg_pool_on_flow(void *ud, const void *peer, size_t peer_len, mg_flow_event_t event)
{
    mg_streams_peer_flow(peer, peer_len, event);
}

/* Stop the idle threads once nothing more can come for them. */
static void
mg_pool_stop_idle(mg_pool_t *p)
{
    if (!p->stopping || !p->engine_drained || p->fin_n > 0) {
        return;
    }
    while (p->idle_n > 0) {
        mg_pool_thread_t *t = &p->threads[p->idle[p->idle_head]];

        p->idle_head = (p->idle_head + 1) % (size_t) p->cfg->threads;
        p->idle_n--;
        t->state = MG_T_STOPPED;
        (void) mg_pool_send_thread(p, t, "S", 0);
    }
}

/* One message from the stream engine. */
static void
mg_pool_on_engine(mg_pool_t *p, zmq_msg_t *parts, int n)
{
    const char *kind = zmq_msg_data(&parts[1]);

    if (*kind == 'B' && n == 4) {
        (void) mg_flow_send_packed(p->flow, zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]),
                                   zmq_msg_data(&parts[3]), zmq_msg_size(&parts[3]));
        mg_parts_close(parts, n);
        return;
    }
    if (*kind == 'P' && n == 3 && zmq_msg_size(&parts[2]) == sizeof(mg_stream_t *)) {
        mg_stream_t *s;

        memcpy(&s, zmq_msg_data(&parts[2]), sizeof(s));
        mg_parts_close(parts, n);
        p->handed_on += p->stopping;
        if (p->idle_n > 0) {
            int i = p->idle[p->idle_head];

            p->idle_head = (p->idle_head + 1) % (size_t) p->cfg->threads;
            p->idle_n--;
            mg_pool_dispatch_finish(p, &p->threads[i], s);
            return;
        }
        s->next = NULL;
        if (p->fin_tail != NULL) {
            p->fin_tail->next = s;
        } else {
            p->fin_head = s;
        }
        p->fin_tail = s;
        p->fin_n++;
        return;
    }
    if (*kind == 'D' && n == 3) {
        char count[16];
        size_t len = zmq_msg_size(&parts[2]);

        len = len < sizeof(count) - 1 ? len : sizeof(count) - 1;
        memcpy(count, zmq_msg_data(&parts[2]), len);
        count[len] = '\0';
        p->ended_by_stop = strtol(count, NULL, 10);
        p->engine_drained = 1;
        mg_parts_close(parts, n);
        mg_pool_stop_idle(p);
        return;
    }
    mg_log_error("broker: unexpected message from the stream engine (%d parts)", n);
    mg_parts_close(parts, n);
}

/* One message from a pool thread. */
static void
mg_pool_on_backend(mg_pool_t *p, zmq_msg_t *parts, int n)
{
    char               id[8];
    size_t             idlen = zmq_msg_size(&parts[0]);
    char              *end;
    long               index;
    mg_pool_thread_t  *t;
    const char        *kind;

    if (n < 2 || idlen >= sizeof(id) || zmq_msg_size(&parts[1]) != 1) {
        goto bad;
    }
    if (idlen == 1 && *(const char *) zmq_msg_data(&parts[0]) == 'e') {
        mg_pool_on_engine(p, parts, n);
        return;
    }
    if (idlen < 2) {
        goto bad;
    }
    memcpy(id, zmq_msg_data(&parts[0]), idlen);
    id[idlen] = '\0';
    index = strtol(id + 1, &end, 10);
    if (id[0] != 't' || *end != '\0' || index < 0 || index >= p->cfg->threads) {
        goto bad;
    }
    t = &p->threads[index];
    kind = zmq_msg_data(&parts[1]);

    if (*kind == 'R' && n == 2) {
        mg_pool_thread_ready(p, t);
        mg_parts_close(parts, n);
        return;
    }
    if (*kind == 'F' && n >= 5) {
        mg_pool_forward(p, parts, n);
        return;
    }

bad:
    mg_log_error("broker: unexpected message from a pool thread (%d parts)", n);
    mg_parts_close(parts, n);
}

/* Tell every nginx process to send no more jobs, so that none is in
 * flight when the socket closes. */
static void
mg_pool_say_stopping(mg_pool_t *p)
{
    mg_msg_t  msg = { .type = MG_MSG_STOPPING };
    mg_str_t  frames[MG_PROTO_MAX_FRAMES];
    char      status[4], packed[32];
    int       n = mg_proto_frames(&msg, frames, status);

    if (n < 0 || mg_proto_packed_size(frames, n) > sizeof(packed)) {
        mg_log_error("broker: STOPPING could not be made");
        return;
    }
    mg_proto_pack(frames, n, packed);
    mg_flow_send_all(p->flow, packed, mg_proto_packed_size(frames, n));
}

static int
mg_pool_busy(const mg_pool_t *p)
{
    int busy = 0;

    for (int i = 0; i < p->cfg->threads; i++) {
        busy += p->threads[i].state == MG_T_BUSY;
    }
    return busy;
}

static const char *
mg_pool_signal_name(void)
{
    return mg_pool_last_signal == SIGINT ? "SIGINT" : "SIGTERM";
}

/* Stop taking jobs: queued ones are answered 503 now (worker_stopping:
 * nginx gives them to another worker), nginx processes told to send no
 * more.  Running jobs and open streams go on (drain.h). */
static void
mg_pool_begin_stop(mg_pool_t *p)
{
    size_t queued = p->q_n;

    p->stopping = 1;
    mg_log_info("broker: %s received, draining: no new jobs; %d running, %zu queued "
                "(sent back to nginx), %d stream(s) open; they get %lld s",
                mg_pool_signal_name(), mg_pool_busy(p), queued, mg_streams_open(),
                p->drain.timeout_ms / 1000);

    while (p->q_n > 0) {
        mg_pending_t *e = mg_pool_queue_take(p, 0);

        /* never started: the module may give it to another worker */
        mg_pool_reply_err(p, &e->parts[0], e->rid, 503, "worker_stopping",
                          "worker is shutting down");
        mg_pool_slot_free(p, e);
    }
    mg_pool_say_stopping(p);
    p->last_req_ms = mg_now_ms();
}

/* The engine stops: what is still open ends (its answers come back as
 * finishes for the threads), then it reports "D" and threads may stop. */
static void
mg_pool_tell_engine(mg_pool_t *p)
{
    if (p->engine_told) {
        return;
    }
    p->engine_told = 1;
    mg_streams_stop();
    /* the quiet period runs from here too: the last answers' bytes leave */
    p->last_req_ms = mg_now_ms();
}

/* Nothing runs: no job or finish at a thread or waiting, no stream open
 * (a stream is counted from its submit until its finish freed it, and a
 * thread stays busy until then). */
static int
mg_pool_idle(const mg_pool_t *p)
{
    return p->q_n == 0 && p->fin_n == 0 && mg_streams_open() == 0 && mg_pool_busy(p) == 0;
}

/* The stop timeout ran out, or the operator asked again: open streams end
 * now; running jobs get until the drain abandons them. */
static void
mg_pool_end_streams(mg_pool_t *p)
{
    mg_log_info("broker: %s after %lld ms: ending %d open stream(s) now; %d job(s) running",
                p->drain.cause, mg_now_ms() - p->drain.begin_ms, mg_streams_open(),
                mg_pool_busy(p));
    mg_pool_tell_engine(p);
}

/* The drain is over and the process leaves. */
static void
mg_pool_log_drained(const mg_pool_t *p)
{
    long ended = p->ended_by_stop;
    long on_own = (long) p->handed_on - ended;

    mg_log_info("broker: drain over in %lld ms: %ld stream(s) ended on their own, "
                "%ld ended by the stop (%s)", mg_now_ms() - p->drain.begin_ms,
                on_own > 0 ? on_own : 0, ended, p->drain.cause != NULL ? p->drain.cause : "none");
}

/* What still runs is left: answer the jobs so the module need not wait
 * for its timeout, and give the I/O thread a moment to send (the process
 * is about to _exit without closing anything). */
static void
mg_pool_abandon(mg_pool_t *p)
{
    struct timespec  pause = { 0, 100 * 1000 * 1000 };
    zmq_msg_t        peer;
    int              busy = 0;

    for (int i = 0; i < p->cfg->threads; i++) {
        mg_pool_thread_t *t = &p->threads[i];

        if (t->state != MG_T_BUSY) {
            continue;
        }
        atomic_store(&t->cancel, 1);
        busy++;
        if (zmq_msg_init_size(&peer, t->peer_len) == 0) {
            memcpy(zmq_msg_data(&peer), t->peer, t->peer_len);
            mg_pool_reply_err(p, &peer, t->rid, 503, "unavailable", "worker is shutting down");
            zmq_msg_close(&peer);
        }
    }
    for (mg_stream_t *s = p->fin_head; s != NULL; s = s->next) {
        mg_log_error("broker: answer of stream rid=%s not stored (no thread left)", s->rid);
    }
    mg_log_warn("broker: %d job(s) still running %lld ms after %s, exiting anyway",
                busy, mg_now_ms() - p->drain.begin_ms, mg_pool_signal_name());
    mg_flow_flush(p->flow);
    nanosleep(&pause, NULL);
}

static int
mg_pool_all_stopped(const mg_pool_t *p)
{
    if (!p->engine_drained || p->fin_n > 0) {
        return 0;
    }
    for (int i = 0; i < p->cfg->threads; i++) {
        if (p->threads[i].created && p->threads[i].state != MG_T_STOPPED) {
            return 0;
        }
    }
    return 1;
}

/* Drain up to MG_BURST messages from one socket. */
static int
mg_pool_drain(mg_pool_t *p, void *sock, int backend)
{
    zmq_msg_t  parts[MG_BACK_PARTS];
    int        max = backend ? MG_BACK_PARTS : MG_FRONT_PARTS;

    for (int i = 0; i < MG_BURST; i++) {
        int n = mg_recv_parts(sock, parts, max, ZMQ_DONTWAIT);

        if (n == 0) {
            return 0;
        }
        if (n == -2) {
            mg_log_warn("broker: oversized message dropped");
            continue;
        }
        if (n < 0) {
            if (errno == EINTR) {
                return 0;
            }
            mg_log_error("broker: receive failed: %s", zmq_strerror(errno));
            return -1;
        }
        if (backend) {
            mg_pool_on_backend(p, parts, n);
        } else {
            mg_pool_on_frontend(p, parts, n);
        }
    }
    return 0;
}

static int
mg_pool_loop(mg_pool_t *p)
{
    zmq_pollitem_t  items[2] = {
        { p->frontend, 0, ZMQ_POLLIN, 0 },
        { p->backend,  0, ZMQ_POLLIN, 0 },
    };
    long long       now;
    long            timeout;
    int             acts;

    for (;;) {
        now = mg_now_ms();
        acts = mg_drain_step(&p->drain, mg_pool_signals, now);
        if (acts & MG_DRAIN_BEGIN) {
            mg_pool_begin_stop(p);
        }
        if (acts & MG_DRAIN_END_STREAMS) {
            mg_pool_end_streams(p);
        }
        if (acts & MG_DRAIN_ABANDON) {
            return 1;
        }
        timeout = mg_flow_held(p->flow) > 0 ? MG_FLOW_PROBE_MS / 4 : 1000;
        if (p->stopping) {
            /* nothing left to wait for: the engine has nothing to end */
            if (!p->engine_told && mg_pool_idle(p)) {
                mg_pool_tell_engine(p);
            }
            /* and no job came for a while: no nginx process still sends;
             * what is held for one out of credit is waited for while the
             * stop timeout lasts */
            if (mg_pool_all_stopped(p) && now - p->last_req_ms >= MG_POOL_QUIET_MS
                && (mg_flow_held(p->flow) == 0 || p->drain.phase == MG_DRAIN_ENDING))
            {
                mg_pool_log_drained(p);
                return 0;
            }
            timeout = mg_drain_wait_ms(&p->drain, now, 100);
        }

        if (zmq_poll(items, 2, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            mg_log_error("broker: poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        /* threads first: their replies and READYs free capacity */
        if ((items[1].revents & ZMQ_POLLIN) && mg_pool_drain(p, p->backend, 1) != 0) {
            return -1;
        }
        if ((items[0].revents & ZMQ_POLLIN) && mg_pool_drain(p, p->frontend, 0) != 0) {
            return -1;
        }
        /* what this round packed for each peer: one frame each (flow.h) */
        mg_flow_flush(p->flow);
        mg_pool_log_rejected(p);
        now = mg_now_ms();
        if (now - p->flow_tick_ms >= MG_FLOW_PROBE_MS / 4) {
            p->flow_tick_ms = now;
            mg_flow_tick(p->flow, now);
        }
        /* CloudWatch's figures in the log (emf.h; MANGOO_EMF_INTERVAL):
         * one line, one write(2), as the log's own lines */
        if (mg_emf_due(now)) {
            mg_pool_metrics_gauges(p);
            if (mg_emf_emit(STDERR_FILENO, now) != 0) {
                mg_log_warn("broker: the metrics line for CloudWatch was not written");
            }
        }
    }
}

static int
mg_pool_open_frontend(mg_pool_t *p)
{
    int        zero = 0, one = 1, ivl = 1000, tmo = 3000, ttl = 3000, hwm = MG_FRONT_HWM;
    int64_t    maxmsg = MG_FRONT_MAXMSG;

    p->frontend = zmq_socket(p->ctx, ZMQ_ROUTER);
    if (p->frontend == NULL
        || zmq_setsockopt(p->frontend, ZMQ_LINGER, &zero, sizeof(zero)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_HEARTBEAT_TIMEOUT, &tmo, sizeof(tmo)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_HEARTBEAT_TTL, &ttl, sizeof(ttl)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0
        || zmq_setsockopt(p->frontend, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0)
    {
        mg_log_error("broker: cannot create the frontend socket: %s", zmq_strerror(errno));
        return -1;
    }
    if (zmq_bind(p->frontend, p->cfg->bind) != 0) {
        mg_log_error("broker: cannot bind %s: %s", p->cfg->bind, zmq_strerror(errno));
        return -1;
    }
    p->flow = mg_flow_new(p->frontend, mg_pool_on_flow, p);
    if (p->flow == NULL) {
        mg_log_error("broker: out of memory");
        return -1;
    }
    return 0;
}

static int
mg_pool_open_backend(mg_pool_t *p)
{
    int zero = 0, one = 1;

    p->backend = zmq_socket(p->ctx, ZMQ_ROUTER);
    if (p->backend == NULL
        || zmq_setsockopt(p->backend, ZMQ_LINGER, &zero, sizeof(zero)) != 0
        || zmq_setsockopt(p->backend, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0
        || zmq_bind(p->backend, MG_POOL_BACKEND) != 0)
    {
        mg_log_error("broker: cannot create the thread socket: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static int
mg_pool_alloc(mg_pool_t *p)
{
    size_t nt = (size_t) p->cfg->threads, nq = (size_t) p->cfg->queue;

    p->threads = calloc(nt, sizeof(*p->threads));
    p->idle = calloc(nt, sizeof(*p->idle));
    if (p->threads == NULL || p->idle == NULL) {
        return -1;
    }
    if (nq > 0) {
        p->slots = calloc(nq, sizeof(*p->slots));
        p->free_slots = calloc(nq, sizeof(*p->free_slots));
        p->queue = calloc(nq, sizeof(*p->queue));
        if (p->slots == NULL || p->free_slots == NULL || p->queue == NULL) {
            return -1;
        }
        for (size_t i = 0; i < nq; i++) {
            p->free_slots[i] = &p->slots[i];
        }
        p->free_n = nq;
    }
    for (size_t i = 0; i < nt; i++) {
        p->threads[i].pool = p;
        p->threads[i].index = (int) i;
        atomic_init(&p->threads[i].cancel, 0);
    }
    return 0;
}

static void
mg_pool_free(mg_pool_t *p)
{
    free(p->threads);
    free(p->idle);
    free(p->slots);
    free(p->free_slots);
    free(p->queue);
}

/* The process's other caches that follow PostgreSQL's announcements: the
 * read cache (read_cache.h) and the MCP clients (mcp/registry.h). */
static const mg_ulistener_also_t mg_pool_caches[] = {
    { MG_RCACHE_CHANNEL, mg_rcache_forget },
    { MG_MCP_CHANNEL,    mg_mcp_forget },
    { NULL,              NULL }
};

int
mg_pool_run(const mg_pool_config_t *cfg)
{
    mg_pool_t         pool = { .cfg = cfg };
    mg_pool_t        *p = &pool;
    struct sigaction  sa;
    sigset_t          block, old;
    mg_ulistener_t   *listener = NULL;
    int               rc = -1, masked = 0, start_failed = 0, engine = 0;

    if (cfg->threads < 1 || cfg->queue < 0 || cfg->stop_timeout_ms < 0) {
        mg_log_error("pool: need at least one thread, a queue >= 0 and a stop timeout >= 0");
        return -1;
    }
    mg_drain_init(&p->drain, cfg->stop_timeout_ms);
    if (mg_pool_alloc(p) != 0) {
        mg_log_error("pool: out of memory");
        goto done;
    }

    /* no SA_RESTART: the signal must interrupt zmq_poll */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = mg_pool_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);        /* one handler at a time: the count */
    sigaddset(&sa.sa_mask, SIGINT);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
        mg_log_error("pool: cannot install signal handlers: %s", strerror(errno));
        goto done;
    }
    /* threads created while these are blocked (ours and libzmq's) inherit
     * the mask, so the signal lands on the broker thread */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    masked = 1;

    p->ctx = zmq_ctx_new();
    if (p->ctx == NULL) {
        mg_log_error("pool: cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto done;
    }
    if (mg_pool_open_backend(p) != 0 || mg_pool_open_frontend(p) != 0) {
        goto done;
    }
    if (mg_streams_start(&cfg->streams, p->ctx, MG_POOL_BACKEND) != 0) {
        goto done;
    }
    engine = 1;

    for (int i = 0; i < cfg->threads; i++) {
        int e = pthread_create(&p->threads[i].tid, NULL, mg_thread_main, &p->threads[i]);

        if (e != 0) {
            mg_log_error("pool: cannot start thread %d: %s", i, strerror(e));
            mg_pool_signals = 1;                /* stop the ones already running */
            start_failed = 1;
            break;
        }
        p->threads[i].created = 1;
    }
    /* created here, signals blocked, like the pool threads; without it
     * the status cache stays off (slower, still correct) */
    if (!start_failed) {
        listener = mg_ulistener_start(cfg->conninfo, &mg_user_statuses, mg_pool_caches);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    masked = 0;

    if (!mg_pool_signals) {
        mg_log_info("serving on %s with %d thread(s), queue %d, stop timeout %lld s",
                    cfg->bind, cfg->threads, cfg->queue, cfg->stop_timeout_ms / 1000);
    }
    rc = mg_pool_loop(p);
    if (rc == 0 && start_failed) {
        rc = -1;
    }

    if (rc == 1) {
        mg_pool_abandon(p);
        return 1;               /* their threads still use p: leave it all to _exit */
    }
    mg_ulistener_stop(listener);
    if (rc == -1) {
        mg_streams_stop();
        /* a broken broker: make the threads stop so they can be joined */
        for (int i = 0; i < cfg->threads; i++) {
            atomic_store(&p->threads[i].cancel, 1);
        }
    }

done:
    if (masked) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (engine) {
        mg_streams_quit();
    }
    mg_flow_free(p->flow);
    if (p->frontend != NULL) {
        int linger = MG_FRONT_LINGER_MS;

        /* a clean stop: what is queued for nginx (the last events of the
         * last answers) still goes, for a bounded time */
        if (rc == 0 && zmq_setsockopt(p->frontend, ZMQ_LINGER, &linger, sizeof(linger)) != 0) {
            mg_log_warn("broker: answers still queued for nginx may be lost: %s",
                        zmq_strerror(errno));
        }
        zmq_close(p->frontend);
    }
    if (p->backend != NULL) {
        zmq_close(p->backend);
    }
    if (p->ctx != NULL) {
        /* wakes threads blocked in ZeroMQ with ETERM, waits for them to
         * close their sockets */
        zmq_ctx_shutdown(p->ctx);
    }
    for (int i = 0; p->threads != NULL && i < cfg->threads; i++) {
        if (p->threads[i].created) {
            pthread_join(p->threads[i].tid, NULL);
        }
    }
    if (p->ctx != NULL) {
        zmq_ctx_term(p->ctx);
    }
    for (size_t i = 0; i < p->q_n; i++) {
        mg_parts_close(mg_pool_queue_at(p, i)->parts, MG_JOB_PARTS);
    }
    while (p->fin_n > 0) {
        mg_stream_t *s = mg_pool_fin_pop(p);

        mg_log_error("broker: answer of stream rid=%s not stored (no thread left)", s->rid);
        mg_stream_free(s);
    }
    mg_pool_free(p);
    mg_users_cache_clear();
    if (rc == 0) {
        mg_log_info("broker: stopped");
    }
    return rc;
}
