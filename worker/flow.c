/*
 * mg_flow: per-peer credit, packing and backlog on the broker's frontend
 * (flow.h).
 *
 * Invariants: a message is packed only with credit to spend (or as a
 * probe), so a peer has at most MG_FLOW_WINDOW unacknowledged messages
 * plus one probe a second; a peer with held messages packs nothing past
 * them (order is kept); a peer is reported blocked exactly while it holds
 * messages; credit never exceeds MG_FLOW_WINDOW, so a CREDIT that answers
 * a probe, or one from before this process started, cannot widen it.
 */
#include "flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "util/clock.h"
#include "metrics.h"
#include "util/log.h"
#include "util/sb.h"

typedef struct mg_flow_held_s mg_flow_held_t;

/* one message, packed, waiting for credit */
struct mg_flow_held_s {
    mg_flow_held_t  *next;
    size_t           len;
    char             bytes[];
};

typedef struct mg_flow_peer_s mg_flow_peer_t;

struct mg_flow_peer_s {
    mg_flow_peer_t  *next;
    unsigned char    id[MG_PEER_MAX];
    size_t           id_len;
    long             credit;
    mg_sb_t          pack;          /* messages for the next frame */
    mg_flow_held_t  *head, *tail;
    size_t           held_n;
    int              reached;       /* a frame went out to it */
    long long        seen_ms;       /* last send or credit */
    long long        probe_ms;      /* last probe of a blocked peer */
};

struct mg_flow_s {
    void               *sock;
    mg_flow_peer_t     *peers;
    size_t              held;
    mg_flow_notify_fn   notify;
    void               *ud;
};

mg_flow_t *
mg_flow_new(void *sock, mg_flow_notify_fn notify, void *ud)
{
    mg_flow_t *f = calloc(1, sizeof(*f));

    if (f != NULL) {
        f->sock = sock;
        f->notify = notify;
        f->ud = ud;
    }
    return f;
}

static void
mg_flow_peer_free(mg_flow_t *f, mg_flow_peer_t *peer)
{
    while (peer->head != NULL) {
        mg_flow_held_t *h = peer->head;

        peer->head = h->next;
        free(h);
    }
    f->held -= peer->held_n;
    free(mg_sb_done(&peer->pack));
    free(peer);
}

void
mg_flow_free(mg_flow_t *f)
{
    if (f == NULL) {
        return;
    }
    while (f->peers != NULL) {
        mg_flow_peer_t *peer = f->peers;

        f->peers = peer->next;
        mg_flow_peer_free(f, peer);
    }
    free(f);
}

size_t
mg_flow_held(const mg_flow_t *f)
{
    return f->held;
}

size_t
mg_flow_blocked(const mg_flow_t *f)
{
    size_t n = 0;

    /* a walk, not a count kept in step: it runs once per scrape */
    for (const mg_flow_peer_t *peer = f->peers; peer != NULL; peer = peer->next) {
        n += peer->head != NULL;
    }
    return n;
}

/* A routing id for a log line: hex, as ZeroMQ's own are binary. */
static const char *
mg_flow_peer_name(const mg_flow_peer_t *peer, char *buf, size_t size)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < peer->id_len && 2 * i + 2 < size; i++) {
        buf[2 * i] = hex[peer->id[i] >> 4];
        buf[2 * i + 1] = hex[peer->id[i] & 15];
    }
    buf[2 * i] = '\0';
    return buf;
}

static mg_flow_peer_t *
mg_flow_find(mg_flow_t *f, const void *id, size_t len, int create)
{
    mg_flow_peer_t **pp, *peer;

    for (pp = &f->peers; *pp != NULL; pp = &(*pp)->next) {
        peer = *pp;
        if (peer->id_len == len && memcmp(peer->id, id, len) == 0) {
            return peer;
        }
    }
    if (!create || len == 0 || len > MG_PEER_MAX || (peer = calloc(1, sizeof(*peer))) == NULL) {
        return NULL;
    }
    memcpy(peer->id, id, len);
    peer->id_len = len;
    peer->credit = MG_FLOW_WINDOW;
    peer->seen_ms = mg_now_ms();
    peer->next = f->peers;
    f->peers = peer;
    return peer;
}

static void
mg_flow_unlink(mg_flow_t *f, mg_flow_peer_t *peer)
{
    for (mg_flow_peer_t **pp = &f->peers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == peer) {
            *pp = peer->next;
            return;
        }
    }
}

/* The peer left: forget it, with what it held, and say so. */
static void
mg_flow_gone(mg_flow_t *f, mg_flow_peer_t *peer)
{
    char  name[2 * MG_PEER_MAX + 1];

    /* the replies that still come for a peer gone long ago say nothing new */
    mg_log(peer->reached ? MG_LOG_WARN : MG_LOG_DEBUG,
           "flow: peer %s is gone (%zu held message(s) dropped); its streams end",
           mg_flow_peer_name(peer, name, sizeof(name)), peer->held_n);
    mg_flow_unlink(f, peer);
    if (f->notify != NULL) {
        f->notify(f->ud, peer->id, peer->id_len, MG_FLOW_GONE);
    }
    mg_flow_peer_free(f, peer);
}

void
mg_flow_free_data(void *data, void *hint)
{
    (void) hint;
    free(data);
}

/* Send the peer's pack as one frame.  0 (sent, or nothing to send, or the
 * pipe is full: kept for the next flush); -1 when the peer is gone (then
 * it is freed). */
static int
mg_flow_send_pack(mg_flow_t *f, mg_flow_peer_t *peer)
{
    zmq_msg_t  id, body;
    char       name[2 * MG_PEER_MAX + 1];
    int        err = 0;

    if (peer->pack.len == 0) {
        return 0;
    }
    if (zmq_msg_init_size(&id, peer->id_len) != 0) {
        return 0;                   /* out of memory: the next flush tries again */
    }
    memcpy(zmq_msg_data(&id), peer->id, peer->id_len);
    if (zmq_msg_send(&id, f->sock, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
        err = errno;
        zmq_msg_close(&id);
    } else if (zmq_msg_init_data(&body, peer->pack.p, peer->pack.len, mg_flow_free_data,
                                 NULL) != 0)
    {
        /* the routing id went alone: ROUTER drops the message it began */
        (void) zmq_send(f->sock, "", 0, ZMQ_DONTWAIT);
        return 0;
    } else {
        /* a multipart message is queued whole or not at all: after the
         * first part, the second cannot fail */
        (void) mg_sb_done(&peer->pack);         /* its bytes went with body */
        if (zmq_msg_send(&body, f->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&body);
        }
        peer->reached = 1;
        return 0;
    }
    if (err == EHOSTUNREACH) {
        mg_flow_gone(f, peer);
        return -1;
    }
    if (err != EAGAIN) {
        mg_log_warn("flow: a frame to peer %s not sent: %s",
                    mg_flow_peer_name(peer, name, sizeof(name)), zmq_strerror(err));
    }
    return 0;
}

/* The frames of a message, from its parts. */
static int
mg_flow_frames(zmq_msg_t *parts, int n, mg_str_t *frames)
{
    if (n < 1 || n > MG_PROTO_MAX_FRAMES) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        frames[i].data = zmq_msg_data(&parts[i]);
        frames[i].len = zmq_msg_size(&parts[i]);
    }
    return 0;
}

/* Move held messages into the pack while credit lasts (one more: probe).
 * 0, or -1 when the peer turned out to be gone (then it is freed). */
static int
mg_flow_release(mg_flow_t *f, mg_flow_peer_t *peer, int probe)
{
    char    name[2 * MG_PEER_MAX + 1];
    size_t  moved = 0;

    while (peer->head != NULL && (peer->credit > 0 || probe)) {
        mg_flow_held_t  *h = peer->head;
        char            *at = mg_sb_reserve(&peer->pack, h->len);

        if (at == NULL) {
            break;                  /* out of memory: it waits on */
        }
        memcpy(at, h->bytes, h->len);
        peer->head = h->next;
        if (peer->head == NULL) {
            peer->tail = NULL;
        }
        free(h);
        peer->held_n--;
        f->held--;
        if (peer->credit > 0) {
            peer->credit--;
        } else {
            probe = 0;              /* a probe is one message */
        }
        moved++;
        if (peer->pack.len >= MG_FLOW_PACK_MAX && mg_flow_send_pack(f, peer) != 0) {
            return -1;
        }
    }
    if (moved > 0 && mg_flow_send_pack(f, peer) != 0) {
        return -1;
    }
    if (moved > 0 && peer->head == NULL) {
        mg_log_info("flow: peer %s took what it held; its streams go on",
                    mg_flow_peer_name(peer, name, sizeof(name)));
        if (f->notify != NULL) {
            f->notify(f->ud, peer->id, peer->id_len, MG_FLOW_RESUMED);
        }
    }
    return 0;
}

/* Where a message of len packed bytes goes for the peer: its pack, when
 * it has credit and holds nothing (the credit is spent), else a new held
 * record behind the others.  NULL when out of memory. */
static char *
mg_flow_place(mg_flow_t *f, mg_flow_peer_t *peer, size_t len)
{
    mg_flow_held_t  *h;
    char             name[2 * MG_PEER_MAX + 1];
    char            *at;

    if (peer->head == NULL && peer->credit > 0) {
        at = mg_sb_reserve(&peer->pack, len);
        if (at != NULL) {
            peer->credit--;
        }
        return at;
    }
    h = malloc(sizeof(*h) + len);
    if (h == NULL) {
        return NULL;
    }
    h->next = NULL;
    h->len = len;
    if (peer->tail != NULL) {
        peer->tail->next = h;
    } else {
        peer->head = h;
        peer->probe_ms = mg_now_ms();
        mg_log_info("flow: peer %s is out of credit: its messages wait, its streams pause",
                    mg_flow_peer_name(peer, name, sizeof(name)));
        if (f->notify != NULL) {
            f->notify(f->ud, peer->id, peer->id_len, MG_FLOW_BLOCKED);
        }
    }
    peer->tail = h;
    peer->held_n++;
    f->held++;
    return h->bytes;
}

int
mg_flow_send(mg_flow_t *f, zmq_msg_t *parts, int n)
{
    mg_flow_peer_t  *peer;
    mg_str_t         frames[MG_PROTO_MAX_FRAMES];
    size_t           len;
    char            *at;
    int              rc = -1;

    if (mg_flow_frames(parts + 1, n - 1, frames) != 0) {
        mg_log_error("flow: a message of %d parts dropped", n);
        goto done;
    }
    peer = mg_flow_find(f, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), 1);
    if (peer == NULL) {
        mg_log_error("flow: a message dropped: out of memory (or a bad peer id)");
        goto done;
    }
    peer->seen_ms = mg_now_ms();
    len = mg_proto_packed_size(frames, n - 1);
    at = mg_flow_place(f, peer, len);
    if (at == NULL) {
        mg_log_error("flow: a message dropped: out of memory");
        goto done;
    }
    mg_proto_pack(frames, n - 1, at);
    rc = 0;
    if (peer->pack.len >= MG_FLOW_PACK_MAX && mg_flow_send_pack(f, peer) != 0) {
        rc = -1;
    }

done:
    for (int i = 0; i < n; i++) {
        zmq_msg_close(&parts[i]);
    }
    return rc;
}

int
mg_flow_send_packed(mg_flow_t *f, const void *id, size_t id_len, const char *bytes,
                    size_t len)
{
    mg_flow_peer_t  *peer = mg_flow_find(f, id, id_len, 1);
    mg_str_t         frames[MG_PROTO_MAX_FRAMES];
    size_t           off = 0, from = 0, lost = 0;
    char            *at;
    int              k;

    if (peer == NULL) {
        mg_log_error("flow: messages dropped: out of memory (or a bad peer id)");
        return -1;
    }
    peer->seen_ms = mg_now_ms();
    /* each message spends its own credit, and may be held on its own */
    while ((k = mg_proto_unpack(bytes, len, &off, frames)) > 0) {
        at = mg_flow_place(f, peer, off - from);
        if (at != NULL) {
            memcpy(at, bytes + from, off - from);
        } else {
            lost++;
        }
        from = off;
    }
    if (k < 0) {
        mg_log_error("flow: a malformed pack from the engine; its rest dropped");
    }
    if (lost > 0) {
        mg_log_error("flow: %zu message(s) dropped: out of memory", lost);
    }
    if (peer->pack.len >= MG_FLOW_PACK_MAX && mg_flow_send_pack(f, peer) != 0) {
        return -1;
    }
    return k < 0 || lost > 0 ? -1 : 0;
}

/* One packed message (mg_proto_pack) to every nginx process known: the
 * ones sent to or credited by lately. */
void
mg_flow_send_all(mg_flow_t *f, const char *bytes, size_t len)
{
    for (mg_flow_peer_t *peer = f->peers; peer != NULL; peer = peer->next) {
        if (mg_flow_send_packed(f, peer->id, peer->id_len, bytes, len) != 0) {
            mg_log_warn("flow: a message to every peer missed one");
        }
    }
}

void
mg_flow_flush(mg_flow_t *f)
{
    mg_flow_peer_t *peer = f->peers, *next;

    for (; peer != NULL; peer = next) {
        next = peer->next;
        (void) mg_flow_send_pack(f, peer);
    }
}

void
mg_flow_credit(mg_flow_t *f, const void *id, size_t len, long n)
{
    mg_flow_peer_t *peer = mg_flow_find(f, id, len, 1);

    if (peer == NULL) {
        return;
    }
    peer->seen_ms = mg_now_ms();
    if (n > 0) {
        mg_mcounter_add(mg_wm.flow_credit, NULL, (double) n);
    }
    peer->credit = n >= MG_FLOW_WINDOW - peer->credit ? MG_FLOW_WINDOW : peer->credit + n;
    (void) mg_flow_release(f, peer, 0);
}

void
mg_flow_tick(mg_flow_t *f, long long now)
{
    mg_flow_peer_t *peer = f->peers, *next;

    for (; peer != NULL; peer = next) {
        next = peer->next;
        if (mg_flow_send_pack(f, peer) != 0) {
            continue;               /* gone, and freed */
        }
        if (peer->head != NULL) {
            if (now - peer->probe_ms >= MG_FLOW_PROBE_MS) {
                peer->probe_ms = now;
                (void) mg_flow_release(f, peer, 1);
            }
        } else if (peer->pack.len == 0 && now - peer->seen_ms >= MG_FLOW_FORGET_MS) {
            /* back with full credit if it speaks again: the cap holds */
            mg_flow_unlink(f, peer);
            mg_flow_peer_free(f, peer);
        }
    }
}
