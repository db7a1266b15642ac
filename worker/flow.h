/*
 * mg_flow: credit-based flow control from the broker to each module peer
 * (one nginx worker process on the other end of the frontend socket).
 *
 * Messages to a peer are packed (mg_protocol.h) into one ZeroMQ frame per
 * round of the broker's loop (mg_flow_flush), up to MG_FLOW_PACK_MAX
 * bytes: many streams' events cost the module one wake-up and one read.
 *
 * A peer starts with MG_FLOW_WINDOW messages of credit; every message sent
 * to it spends one, and its CREDIT messages (mg_protocol.h) give them back
 * as its event loop takes messages off its socket.  A message with no
 * credit to spend waits in that peer's backlog, in order, and the peer is
 * reported blocked until the backlog is gone: the stream engine then stops
 * reading that peer's answers from their providers.  So an nginx process
 * that is stopped or slow holds up its own streams only, and nothing
 * meant for it is dropped while it lives.
 *
 * The window is far below both sockets' HWMs, so a send within credit
 * never finds a full pipe.  A blocked peer is probed once a second with
 * its oldest held message; EHOSTUNREACH (ZMQ_ROUTER_MANDATORY) says it is
 * gone (its process exited, or ZeroMQ's heartbeat gave up on it): what it
 * held is dropped and its streams are ended.
 *
 * Used by the broker thread only; nothing here locks.
 */
#ifndef MG_FLOW_H
#define MG_FLOW_H

#include <stddef.h>

#include <zmq.h>

#define MG_FLOW_WINDOW      4096        /* messages in flight per peer */
#define MG_FLOW_PACK_MAX    65536       /* bytes packed before a frame goes */
#define MG_FLOW_PROBE_MS    1000
#define MG_FLOW_FORGET_MS   60000       /* an idle peer's record is freed */

typedef enum {
    MG_FLOW_BLOCKED = 0,    /* out of credit: messages are held */
    MG_FLOW_RESUMED,        /* what was held went out */
    MG_FLOW_GONE            /* the peer left; what was held is dropped */
} mg_flow_event_t;

typedef void (*mg_flow_notify_fn)(void *ud, const void *peer, size_t peer_len,
                                  mg_flow_event_t event);

typedef struct mg_flow_s mg_flow_t;

/* sock: the ROUTER the peers connect to.  NULL when out of memory. */
mg_flow_t *mg_flow_new(void *sock, mg_flow_notify_fn notify, void *ud);
void       mg_flow_free(mg_flow_t *f);

/* Pack the message parts[1..n) for the peer parts[0] (its routing id), to
 * go with the next flush, or hold it behind the peer's earlier messages
 * when it is out of credit.  The parts are consumed either way.  0 when
 * packed or held; -1 when the peer is gone or memory ran out (the message
 * is dropped and logged). */
int  mg_flow_send(mg_flow_t *f, zmq_msg_t *parts, int n);

/* The same for messages packed already (mg_protocol.h), as the stream
 * engine sends them: each spends its own credit, or is held on its own. */
int  mg_flow_send_packed(mg_flow_t *f, const void *peer, size_t peer_len, const char *bytes,
                         size_t len);

/* One packed message to every nginx process known (sent to or credited by
 * lately), each within its own window. */
void mg_flow_send_all(mg_flow_t *f, const char *bytes, size_t len);

/* Send what is packed, one frame per peer. */
void mg_flow_flush(mg_flow_t *f);

/* The peer took n more messages: send what it held, as credit allows. */
void mg_flow_credit(mg_flow_t *f, const void *peer, size_t peer_len, long n);

/* Probe blocked peers and forget idle ones (flushes); call about once a
 * second. */
void mg_flow_tick(mg_flow_t *f, long long now_ms);

/* A zmq_msg_init_data free function for malloc'd bytes (packs given away). */
void mg_flow_free_data(void *data, void *hint);

/* Messages held for every peer (for logs, metrics and tests). */
size_t mg_flow_held(const mg_flow_t *f);
/* Peers holding messages, i.e. reported blocked (for metrics). */
size_t mg_flow_blocked(const mg_flow_t *f);

#endif
