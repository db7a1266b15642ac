/*
 * mg_protocol: the wire protocol between ngx_http_mangoo_module and
 * mangoo-worker, carried as ZeroMQ multipart messages.
 *
 * Every message starts with a type frame and the request id frame.  The
 * request id is 32 lowercase hex characters chosen by the module; replies
 * carry it back unchanged so the module can match them to requests.
 *
 * module -> worker
 *   REQ     [ "REQ" ][ rid ][ job ][ params-json ][ claims-json ][ body ]
 *           job: a name from mg_routes (e.g. "bots.get"); params-json: an
 *           object of path parameters plus "query" (the raw query string);
 *           claims-json: the verified JWT payload ("{}" for public routes);
 *           body: the request body, possibly empty.
 *   CANCEL  [ "CANCEL" ][ rid ]      the client went away: stop the job.
 *   CREDIT  [ "CREDIT" ][ n ]        the module took n more messages from
 *           this worker: it may send n more (flow control, worker/flow.c).
 *           n is 1 to 9 ASCII digits, in the body field; no rid.
 *
 * worker -> module
 *   RES     [ "RES" ][ rid ][ status ][ content-type ][ headers-json ][ body ]
 *           a whole response in one message (the common case).
 *   HEAD    [ "HEAD" ][ rid ][ status ][ content-type ][ headers-json ]
 *   DATA    [ "DATA" ][ rid ][ bytes ]       one body piece or one SSE event
 *   END     [ "END" ][ rid ]
 *   ERR     [ "ERR" ][ rid ][ status ][ code ][ message ]
 *           the job failed; before HEAD it becomes a JSON error response,
 *           after HEAD (a stream) the module ends the stream.
 *   STOPPING [ "STOPPING" ]   the worker is shutting down: send it no
 *           more jobs (those it has not started come back as ERR 503
 *           "worker_stopping", for another worker); no rid.
 *
 * status is 3 ASCII digits; headers-json is "" or a JSON object of extra
 * response header name -> string value.
 *
 * Messages travel packed: one ZeroMQ frame holds one message from the
 * module to a worker, one or more from a worker to the module, each as
 *     [ u8 frame count ] then per frame [ u32 length, big-endian ][ bytes ]
 * A frame that is one part (not a multipart message) never leaves the
 * reader holding half a message when a connection drops (libzmq asserts
 * on that), and a frame of many messages is one wake-up and one send for
 * many streams' events.
 *
 * The codec works on arrays of frames and never allocates: parsed fields
 * point into the frames they came from.
 */
#ifndef MG_PROTOCOL_H
#define MG_PROTOCOL_H

#include <stddef.h>

#define MG_RID_LEN          32
#define MG_PROTO_MAX_FRAMES 8

typedef struct {
    const char  *data;
    size_t       len;
} mg_str_t;

typedef enum {
    MG_MSG_INVALID = 0,
    MG_MSG_REQ,
    MG_MSG_CANCEL,
    MG_MSG_RES,
    MG_MSG_HEAD,
    MG_MSG_DATA,
    MG_MSG_END,
    MG_MSG_ERR,
    MG_MSG_CREDIT,
    MG_MSG_STOPPING
} mg_msg_type_t;

typedef struct {
    mg_msg_type_t  type;
    mg_str_t       rid;
    int            status;        /* RES, HEAD, ERR */
    mg_str_t       job;           /* REQ */
    mg_str_t       params;        /* REQ */
    mg_str_t       claims;        /* REQ */
    mg_str_t       content_type;  /* RES, HEAD */
    mg_str_t       headers;       /* RES, HEAD */
    mg_str_t       body;          /* REQ, RES, DATA */
    mg_str_t       code;          /* ERR */
    mg_str_t       message;       /* ERR */
    long           credit;        /* CREDIT, parsed from body */
} mg_msg_t;

/* Parse n frames into *msg.  Returns 0, or -1 when the frames do not form a
 * valid message (unknown type, wrong frame count, bad rid or status). */
int mg_proto_parse(const mg_str_t *frames, size_t n, mg_msg_t *msg);

/* Fill frames (at least MG_PROTO_MAX_FRAMES) from *msg for its type
 * (a CREDIT's count is written by the caller, as digits, into msg->body).
 * Returns the number of frames, or -1 for an invalid message.  The status
 * digits are written into status_buf (4 bytes), which must outlive frames. */
int mg_proto_frames(const mg_msg_t *msg, mg_str_t *frames, char *status_buf);

/* The packed size of a message of n frames. */
size_t mg_proto_packed_size(const mg_str_t *frames, int n);

/* Write the message's frames packed at out (mg_proto_packed_size bytes). */
void mg_proto_pack(const mg_str_t *frames, int n, char *out);

/* Read the packed message at *off in buf[0..len): its frames (at most
 * MG_PROTO_MAX_FRAMES) point into buf, *off moves past it.  Returns the
 * frame count, 0 at the end of buf, -1 when what is there is malformed. */
int mg_proto_unpack(const char *buf, size_t len, size_t *off, mg_str_t *frames);

/* A request id is exactly MG_RID_LEN lowercase hex characters. */
int mg_proto_rid_valid(const char *rid, size_t len);

const char *mg_proto_type_name(mg_msg_type_t type);

#endif
