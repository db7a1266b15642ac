/*
 * subagent: owns the calling side of a sub-agent (tools.h,
 * mg_tool_subagent).  On a tool thread, the call becomes an agent.run job
 * (jobs/agent_run.c) sent over ZeroMQ to the worker process that serves
 * the agent, which may be this one: its own DEALER socket per call, the
 * answer read as the SSE stream the job sends back.  The sub-agent's
 * `agent` events, and its start and end, are relayed to the client of the
 * turn that called it (mg_streams_relay), so the client sees the tree.
 *
 * Routing, read once: MANGOO_AGENT_ENDPOINTS, comma-separated
 * "<agent name or id>=<endpoint>" (tcp://host:port), for agents served by
 * their own workers; any other agent goes to MANGOO_AGENT_ENDPOINT, by
 * default this process's own (mg_subagent_set_self).
 *
 * It never hangs: the call stops when the turn that made it ends (the
 * engine sets job->cancelled; a CANCEL goes down, and the sub-agent's own
 * calls stop in turn), when the turn's time is up, when the serving
 * process cannot be reached, and when that process goes away mid-run
 * (ZeroMQ's heartbeats and a socket monitor tell).
 */
#include "agents/tools.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "agents/toolrun.h"
#include "mg_protocol.h"
#include "stream.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/uuid.h"

#define MG_SUB_POLL_MS        100
#define MG_SUB_CONNECT_MS     5000      /* no handshake by then: unreachable */
#define MG_SUB_HEARTBEAT_MS   1000
#define MG_SUB_HEARTBEAT_TTL  3000      /* silent this long: gone */
#define MG_SUB_ENDPOINT_MAX   256
#define MG_SUB_EVENT_MAX      (1024 * 1024)
#define MG_SUB_CREDIT_EVERY   512       /* well under MG_FLOW_WINDOW */

typedef struct {
    char   key[256];                    /* an agent's name or id */
    char   endpoint[MG_SUB_ENDPOINT_MAX];
} mg_sub_route_t;

static struct {
    pthread_once_t   once;
    void            *zctx;
    mg_sub_route_t  *routes;
    size_t           nroutes;
    char             fallback[MG_SUB_ENDPOINT_MAX];
    atomic_uint      monitors;          /* names the monitors' inproc endpoints */
} mg_sub = { .once = PTHREAD_ONCE_INIT };

static char mg_sub_self[MG_SUB_ENDPOINT_MAX] = "tcp://127.0.0.1:5555";

void
mg_subagent_set_self(const char *bind)
{
    const char *port;

    /* a wildcard bind is reached on loopback */
    if ((strncmp(bind, "tcp://*:", 8) == 0 || strncmp(bind, "tcp://0.0.0.0:", 14) == 0)
        && (port = strrchr(bind, ':')) != NULL)
    {
        snprintf(mg_sub_self, sizeof(mg_sub_self), "tcp://127.0.0.1%s", port);
        return;
    }
    snprintf(mg_sub_self, sizeof(mg_sub_self), "%s", bind);
}

static void
mg_sub_init(void)
{
    const char  *v = getenv("MANGOO_AGENT_ENDPOINTS"), *d = getenv("MANGOO_AGENT_ENDPOINT");
    const char  *p;

    snprintf(mg_sub.fallback, sizeof(mg_sub.fallback), "%s",
             d != NULL && *d != '\0' ? d : mg_sub_self);
    mg_sub.zctx = zmq_ctx_new();
    if (mg_sub.zctx == NULL) {
        mg_log_error("sub-agents: cannot create a ZeroMQ context: %s", zmq_strerror(errno));
    }
    for (p = v; p != NULL && *p != '\0';) {
        size_t           len = strcspn(p, ",");
        const char      *eq = memchr(p, '=', len);
        mg_sub_route_t  *r;

        if (eq != NULL && eq > p && (size_t) (eq - p) < sizeof(r->key)
            && len - (size_t) (eq - p) - 1 < MG_SUB_ENDPOINT_MAX)
        {
            r = realloc(mg_sub.routes, (mg_sub.nroutes + 1) * sizeof(*r));
            if (r == NULL) {
                break;
            }
            mg_sub.routes = r;
            r = &mg_sub.routes[mg_sub.nroutes++];
            snprintf(r->key, sizeof(r->key), "%.*s", (int) (eq - p), p);
            snprintf(r->endpoint, sizeof(r->endpoint), "%.*s", (int) (len - (size_t) (eq - p) - 1),
                     eq + 1);
        } else {
            mg_log_warn("MANGOO_AGENT_ENDPOINTS: \"%.*s\" is not <agent>=<endpoint>; ignored",
                        (int) len, p);
        }
        p += len + (p[len] == ',');
    }
}

static const char *
mg_sub_endpoint(const mg_tool_job_t *job)
{
    for (size_t i = 0; i < mg_sub.nroutes; i++) {
        if (strcmp(mg_sub.routes[i].key, job->agent_name) == 0
            || strcmp(mg_sub.routes[i].key, job->agent_id) == 0)
        {
            return mg_sub.routes[i].endpoint;
        }
    }
    return mg_sub.fallback;
}

/* The client of the calling turn sees the sub-agent start and end. */
static void
mg_sub_relay_state(const mg_tool_job_t *job, const char *state, int ok)
{
    json_t *v = json_pack("{s:s, s:s, s:s}", "path", job->path, "state", state,
                          "agent_id", job->agent_id);

    if (v != NULL && strcmp(state, "end") == 0) {
        json_object_set_new(v, "ok", json_boolean(ok));
    }
    if (v != NULL) {
        mg_streams_relay(job->rid, job->peer, job->peer_len, "agent", v);
    }
    json_decref(v);
}

/* What one call is reading. */
typedef struct {
    mg_tool_job_t  *job;
    mg_sb_t        *out;                /* the sub-agent's answer */
    int             finished;           /* done or error seen */
    int             ok;
    char           *err;
    size_t          errlen;
} mg_sub_read_t;

/* One SSE event of the sub-agent's stream. */
static void
mg_sub_event(mg_sub_read_t *r, const char *ev, size_t len)
{
    const char  *data = NULL, *nl;
    char         name[32] = "";
    json_t      *v;

    for (const char *p = ev, *end = ev + len; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }
        if ((size_t) (nl - p) > 7 && memcmp(p, "event: ", 7) == 0) {
            snprintf(name, sizeof(name), "%.*s", (int) (nl - p - 7), p + 7);
        } else if ((size_t) (nl - p) > 6 && memcmp(p, "data: ", 6) == 0) {
            data = p + 6;
            v = json_loadb(data, (size_t) (nl - data), 0, NULL);
            goto parsed;
        }
    }
    return;

parsed:
    if (strcmp(name, "message") == 0) {
        json_t *c = json_object_get(v, "content");

        mg_sb_add(r->out, json_string_value(c) ? json_string_value(c) : "",
                  json_string_length(c));
    } else if (strcmp(name, "agent") == 0) {
        /* its own sub-agents: the client sees the whole tree */
        mg_streams_relay(r->job->rid, r->job->peer, r->job->peer_len, "agent", v);
    } else if (strcmp(name, "done") == 0 || strcmp(name, "error") == 0) {
        json_t *u = json_object_get(v, "usage");

        r->finished = 1;
        r->ok = name[0] == 'd';
        r->job->usage_in = json_integer_value(json_object_get(u, "input_tokens"));
        r->job->usage_out = json_integer_value(json_object_get(u, "output_tokens"));
        free(r->job->steps);
        r->job->steps = json_dumps(json_object_get(v, "steps"), JSON_COMPACT);
        if (!r->ok) {
            const char *m = json_string_value(json_object_get(v, "message"));

            snprintf(r->err, r->errlen, "the agent %s failed: %s", r->job->agent_name,
                     m != NULL ? m : "no reason given");
        }
    }
    json_decref(v);
}

/* One message from the serving worker.  1 when the call is over, 0 to
 * read on. */
static int
mg_sub_message(mg_sub_read_t *r, const mg_str_t *frames, int n)
{
    mg_msg_t  msg;
    json_t   *v;

    if (n <= 0 || mg_proto_parse(frames, (size_t) n, &msg) != 0) {
        snprintf(r->err, r->errlen, "the worker running agent %s sent a malformed message",
                 r->job->agent_name);
        return 1;
    }
    switch (msg.type) {
    case MG_MSG_RES:
    case MG_MSG_ERR:
        /* refused before it started (unknown or retired agent, not served
         * there, overloaded, no model) */
        v = json_loadb(msg.body.data, msg.body.len, 0, NULL);
        snprintf(r->err, r->errlen, "the agent %s could not run: %.*s", r->job->agent_name,
                 msg.type == MG_MSG_ERR ? (int) msg.message.len : 200,
                 msg.type == MG_MSG_ERR ? msg.message.data
                 : json_string_value(json_object_get(json_object_get(v, "error"), "message"))
                   ? json_string_value(json_object_get(json_object_get(v, "error"), "message"))
                   : "it was refused");
        json_decref(v);
        return 1;
    case MG_MSG_DATA:
        if (msg.body.len < MG_SUB_EVENT_MAX) {
            mg_sub_event(r, msg.body.data, msg.body.len);
        }
        return 0;
    case MG_MSG_END:
        if (!r->finished) {
            snprintf(r->err, r->errlen, "the agent %s ended without an answer",
                     r->job->agent_name);
        }
        return 1;
    default:
        return 0;                           /* HEAD */
    }
}

/* One message, packed into one frame (mg_protocol.h). */
static int
mg_sub_send(void *sock, const mg_str_t *frames, int n)
{
    zmq_msg_t packed;

    if (zmq_msg_init_size(&packed, mg_proto_packed_size(frames, n)) != 0) {
        return -1;
    }
    mg_proto_pack(frames, n, zmq_msg_data(&packed));
    if (zmq_msg_send(&packed, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&packed);
        return -1;
    }
    return 0;
}

/* Room for more: the serving worker sends no more than its window of
 * messages ahead of what was taken (flow.h). */
static void
mg_sub_credit(void *sock, long *taken)
{
    char      digits[16];
    mg_str_t  credit[2] = { { "CREDIT", 6 }, { digits, 0 } };

    if (*taken < MG_SUB_CREDIT_EVERY) {
        return;
    }
    credit[1].len = (size_t) snprintf(digits, sizeof(digits), "%ld", *taken);
    if (mg_sub_send(sock, credit, 2) == 0) {
        *taken = 0;
    }
}

/* The request: [REQ][rid][agent.run][{}][claims][body]. */
static int
mg_sub_request(void *sock, const mg_tool_job_t *job, const char *rid, const char *task)
{
    json_t      *claims = json_pack("{s:s}", "sub", job->user_id);
    json_t      *body = json_pack("{s:s, s:s, s:s, s:i, s:I}", "agent_id", job->agent_id,
                                  "task", task, "path", job->path, "depth", job->depth,
                                  "time_left_ms", (json_int_t) job->timeout_ms);
    char        *c = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    char        *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    mg_str_t     frames[6] = {
        { "REQ", 3 }, { rid, MG_RID_LEN }, { "agent.run", 9 }, { "{}", 2 },
        { c, c ? strlen(c) : 0 }, { b, b ? strlen(b) : 0 }
    };
    int          rc = c != NULL && b != NULL ? mg_sub_send(sock, frames, 6) : -1;

    free(c);
    free(b);
    json_decref(claims);
    json_decref(body);
    return rc;
}

/* A socket monitor event: its number, or 0 when none could be read. */
static int
mg_sub_monitor_event(void *monitor)
{
    zmq_msg_t  m;
    uint16_t   event = 0;

    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, monitor, ZMQ_DONTWAIT) >= 6) {
        memcpy(&event, zmq_msg_data(&m), sizeof(event));
    }
    while (zmq_msg_more(&m)) {              /* the address frame */
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, monitor, ZMQ_DONTWAIT) < 0) {
            break;
        }
    }
    zmq_msg_close(&m);
    return event;
}

int
mg_tool_subagent(const mg_tool_ctx_t *ctx, json_t *input, mg_sb_t *out, char *err,
                 size_t errlen)
{
    mg_tool_job_t  *job = ctx->job;
    const char     *task = json_string_value(json_object_get(input, "task"));
    const char     *endpoint;
    void           *sock = NULL, *monitor = NULL;
    char            uuid[MG_UUID_LEN + 1], rid[MG_RID_LEN + 1], addr[64];
    int             zero = 0, hb = MG_SUB_HEARTBEAT_MS, ttl = MG_SUB_HEARTBEAT_TTL;
    int             connected = 0, over = 0, started = 0;
    long            taken = 0;      /* messages not yet credited */
    long long       start = mg_now_ms(), deadline = start + job->timeout_ms;
    mg_sub_read_t   r = { job, out, 0, 0, err, errlen };

    if (task == NULL || *task == '\0') {
        snprintf(err, errlen, "\"task\" must be given as a string saying what to do");
        return -1;
    }
    pthread_once(&mg_sub.once, mg_sub_init);
    if (mg_sub.zctx == NULL || mg_uuid_v4(uuid) != 0) {
        snprintf(err, errlen, "the agent %s cannot be reached from here", job->agent_name);
        return -1;
    }
    /* a fresh request id: the uuid's 32 hex digits */
    for (size_t i = 0, o = 0; uuid[i] != '\0'; i++) {
        if (uuid[i] != '-') {
            rid[o++] = uuid[i];
        }
    }
    rid[MG_RID_LEN] = '\0';
    endpoint = mg_sub_endpoint(job);
    snprintf(addr, sizeof(addr), "inproc://mangoo-sub-%u", atomic_fetch_add(&mg_sub.monitors, 1));

    sock = zmq_socket(mg_sub.zctx, ZMQ_DEALER);
    monitor = zmq_socket(mg_sub.zctx, ZMQ_PAIR);
    if (sock == NULL || monitor == NULL
        || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0
        || zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof(zero)) != 0
        || zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) != 0
        || zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof(ttl)) != 0
        || zmq_socket_monitor(sock, addr, ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                          | ZMQ_EVENT_DISCONNECTED) != 0
        || zmq_connect(monitor, addr) != 0
        || zmq_connect(sock, endpoint) != 0
        || mg_sub_request(sock, job, rid, task) != 0)
    {
        snprintf(err, errlen, "the agent %s cannot be reached at %s: %s", job->agent_name,
                 endpoint, zmq_strerror(errno));
        goto done;
    }
    mg_sub_relay_state(job, "start", 0);
    started = 1;

    while (!over) {
        zmq_pollitem_t  items[2] = { { sock, 0, ZMQ_POLLIN, 0 }, { monitor, 0, ZMQ_POLLIN, 0 } };
        long long       now = mg_now_ms();
        const char     *stop = NULL;

        if (atomic_load(&job->cancelled)) {
            stop = "stopped: the turn that asked for it ended";
        } else if (now >= deadline) {
            stop = "the agent did not finish in the time the turn had left";
        } else if (!connected && now - start >= MG_SUB_CONNECT_MS) {
            stop = "the worker serving the agent cannot be reached";
        }
        if (stop != NULL) {
            mg_str_t cancel[2] = { { "CANCEL", 6 }, { rid, MG_RID_LEN } };

            (void) mg_sub_send(sock, cancel, 2);
            snprintf(err, errlen, "%s (%s)", stop, job->agent_name);
            break;
        }
        if (zmq_poll(items, 2, MG_SUB_POLL_MS) < 0) {
            continue;                       /* EINTR */
        }
        if (items[1].revents & ZMQ_POLLIN) {
            int ev = mg_sub_monitor_event(monitor);

            if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                connected = 1;
            } else if (ev == ZMQ_EVENT_DISCONNECTED && connected) {
                snprintf(err, errlen, "the worker running agent %s went away mid-run",
                         job->agent_name);
                break;
            }
        }
        while (!over && (items[0].revents & ZMQ_POLLIN)) {
            zmq_msg_t  packed;
            mg_str_t   frames[MG_PROTO_MAX_FRAMES];
            size_t     off = 0;
            int        n;

            zmq_msg_init(&packed);
            if (zmq_msg_recv(&packed, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&packed);
                break;                      /* nothing more for now */
            }
            /* a frame holds one or more whole messages */
            while (!over && (n = mg_proto_unpack(zmq_msg_data(&packed), zmq_msg_size(&packed),
                                                 &off, frames)) != 0)
            {
                taken++;
                over = mg_sub_message(&r, frames, n);
            }
            zmq_msg_close(&packed);
            mg_sub_credit(sock, &taken);
        }
    }

done:
    if (sock != NULL) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(sock);
    }
    if (monitor != NULL) {
        zmq_close(monitor);
    }
    if (started) {
        mg_sub_relay_state(job, "end", r.finished && r.ok);
    }
    if (r.finished && r.ok) {
        return 0;
    }
    if (err[0] == '\0') {
        snprintf(err, errlen, "the agent %s failed", job->agent_name);
    }
    return -1;
}
