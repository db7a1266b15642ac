/*
 * mg_protocol: encode and decode module <-> worker messages as frame
 * arrays.  Frame layouts are documented in mg_protocol.h.  Nothing here
 * allocates or touches ZeroMQ, so both sides and the unit tests share it.
 */
#include <string.h>

#include "mg_protocol.h"

typedef struct {
    const char     *name;
    mg_msg_type_t   type;
    size_t          nframes;
} mg_msg_kind_t;

static const mg_msg_kind_t mg_msg_kinds[] = {
    { "REQ",    MG_MSG_REQ,    6 },
    { "CANCEL", MG_MSG_CANCEL, 2 },
    { "RES",    MG_MSG_RES,    6 },
    { "HEAD",   MG_MSG_HEAD,   5 },
    { "DATA",   MG_MSG_DATA,   3 },
    { "END",    MG_MSG_END,    2 },
    { "ERR",    MG_MSG_ERR,    5 },
    { "CREDIT", MG_MSG_CREDIT, 2 },
    { "STOPPING", MG_MSG_STOPPING, 1 },
};

#define MG_MSG_KINDS (sizeof(mg_msg_kinds) / sizeof(mg_msg_kinds[0]))


static const mg_msg_kind_t *
mg_proto_kind_by_type(mg_msg_type_t type)
{
    for (size_t i = 0; i < MG_MSG_KINDS; i++) {
        if (mg_msg_kinds[i].type == type) {
            return &mg_msg_kinds[i];
        }
    }
    return NULL;
}


const char *
mg_proto_type_name(mg_msg_type_t type)
{
    const mg_msg_kind_t *k = mg_proto_kind_by_type(type);

    return k ? k->name : "INVALID";
}


size_t
mg_proto_packed_size(const mg_str_t *frames, int n)
{
    size_t size = 1;

    for (int i = 0; i < n; i++) {
        size += 4 + frames[i].len;
    }
    return size;
}


void
mg_proto_pack(const mg_str_t *frames, int n, char *out)
{
    unsigned char *p = (unsigned char *) out;

    *p++ = (unsigned char) n;
    for (int i = 0; i < n; i++) {
        size_t len = frames[i].len;

        *p++ = (unsigned char) (len >> 24);
        *p++ = (unsigned char) (len >> 16);
        *p++ = (unsigned char) (len >> 8);
        *p++ = (unsigned char) len;
        if (len > 0) {
            memcpy(p, frames[i].data, len);
        }
        p += len;
    }
}


int
mg_proto_unpack(const char *buf, size_t len, size_t *off, mg_str_t *frames)
{
    const unsigned char *p = (const unsigned char *) buf;
    size_t               at = *off;
    int                  n;

    if (at >= len) {
        return 0;
    }
    n = p[at++];
    if (n == 0 || n > MG_PROTO_MAX_FRAMES) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        size_t flen;

        if (len - at < 4) {
            return -1;
        }
        flen = ((size_t) p[at] << 24) | ((size_t) p[at + 1] << 16)
               | ((size_t) p[at + 2] << 8) | (size_t) p[at + 3];
        at += 4;
        if (flen > len - at) {
            return -1;
        }
        frames[i].data = buf + at;
        frames[i].len = flen;
        at += flen;
    }
    *off = at;
    return n;
}


int
mg_proto_rid_valid(const char *rid, size_t len)
{
    if (rid == NULL || len != MG_RID_LEN) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = rid[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}


static int
mg_proto_parse_status(mg_str_t s)
{
    if (s.len != 3) {
        return -1;
    }
    int status = 0;
    for (size_t i = 0; i < 3; i++) {
        if (s.data[i] < '0' || s.data[i] > '9') {
            return -1;
        }
        status = status * 10 + (s.data[i] - '0');
    }
    return (status >= 100 && status <= 599) ? status : -1;
}


/* 1 to 9 decimal digits: a count > 0, or -1. */
static long
mg_proto_parse_count(mg_str_t s)
{
    long n = 0;

    if (s.len == 0 || s.len > 9) {
        return -1;
    }
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] < '0' || s.data[i] > '9') {
            return -1;
        }
        n = n * 10 + (s.data[i] - '0');
    }
    return n > 0 ? n : -1;
}


int
mg_proto_parse(const mg_str_t *frames, size_t n, mg_msg_t *msg)
{
    const mg_msg_kind_t *kind = NULL;

    memset(msg, 0, sizeof(*msg));
    msg->type = MG_MSG_INVALID;

    if (n < 1) {
        return -1;
    }
    for (size_t i = 0; i < MG_MSG_KINDS; i++) {
        size_t l = strlen(mg_msg_kinds[i].name);
        if (frames[0].len == l && memcmp(frames[0].data, mg_msg_kinds[i].name, l) == 0) {
            kind = &mg_msg_kinds[i];
            break;
        }
    }
    if (kind == NULL || n != kind->nframes) {
        return -1;
    }
    if (kind->type == MG_MSG_STOPPING) {
        msg->type = MG_MSG_STOPPING;
        return 0;
    }
    if (kind->type == MG_MSG_CREDIT) {
        msg->credit = mg_proto_parse_count(frames[1]);
        if (msg->credit <= 0) {
            return -1;
        }
        msg->body = frames[1];
        msg->type = MG_MSG_CREDIT;
        return 0;
    }
    if (!mg_proto_rid_valid(frames[1].data, frames[1].len)) {
        return -1;
    }

    msg->rid = frames[1];

    switch (kind->type) {
    case MG_MSG_REQ:
        if (frames[2].len == 0) {
            return -1;
        }
        msg->job = frames[2];
        msg->params = frames[3];
        msg->claims = frames[4];
        msg->body = frames[5];
        break;
    case MG_MSG_RES:
    case MG_MSG_HEAD:
        msg->status = mg_proto_parse_status(frames[2]);
        if (msg->status < 0) {
            return -1;
        }
        msg->content_type = frames[3];
        msg->headers = frames[4];
        if (kind->type == MG_MSG_RES) {
            msg->body = frames[5];
        }
        break;
    case MG_MSG_DATA:
        msg->body = frames[2];
        break;
    case MG_MSG_ERR:
        msg->status = mg_proto_parse_status(frames[2]);
        if (msg->status < 0) {
            return -1;
        }
        msg->code = frames[3];
        msg->message = frames[4];
        break;
    default:
        break;
    }

    msg->type = kind->type;
    return 0;
}


int
mg_proto_frames(const mg_msg_t *msg, mg_str_t *frames, char *status_buf)
{
    const mg_msg_kind_t *kind = mg_proto_kind_by_type(msg->type);
    mg_str_t status;

    if (kind == NULL) {
        return -1;
    }
    if (msg->type == MG_MSG_STOPPING) {
        frames[0].data = kind->name;
        frames[0].len = strlen(kind->name);
        return 1;
    }
    if (msg->type == MG_MSG_CREDIT) {
        if (mg_proto_parse_count(msg->body) <= 0) {
            return -1;
        }
        frames[0].data = kind->name;
        frames[0].len = strlen(kind->name);
        frames[1] = msg->body;
        return 2;
    }
    if (!mg_proto_rid_valid(msg->rid.data, msg->rid.len)) {
        return -1;
    }

    frames[0].data = kind->name;
    frames[0].len = strlen(kind->name);
    frames[1] = msg->rid;

    status.data = status_buf;
    status.len = 3;
    if (msg->type == MG_MSG_RES || msg->type == MG_MSG_HEAD || msg->type == MG_MSG_ERR) {
        if (msg->status < 100 || msg->status > 599) {
            return -1;
        }
        status_buf[0] = (char) ('0' + msg->status / 100);
        status_buf[1] = (char) ('0' + msg->status / 10 % 10);
        status_buf[2] = (char) ('0' + msg->status % 10);
        status_buf[3] = '\0';
    }

    switch (msg->type) {
    case MG_MSG_REQ:
        if (msg->job.len == 0) {
            return -1;
        }
        frames[2] = msg->job;
        frames[3] = msg->params;
        frames[4] = msg->claims;
        frames[5] = msg->body;
        break;
    case MG_MSG_RES:
    case MG_MSG_HEAD:
        frames[2] = status;
        frames[3] = msg->content_type;
        frames[4] = msg->headers;
        if (msg->type == MG_MSG_RES) {
            frames[5] = msg->body;
        }
        break;
    case MG_MSG_DATA:
        frames[2] = msg->body;
        break;
    case MG_MSG_ERR:
        frames[2] = status;
        frames[3] = msg->code;
        frames[4] = msg->message;
        break;
    default:
        break;
    }

    /* empty frames still need a valid pointer for zmq_send */
    for (size_t i = 0; i < kind->nframes; i++) {
        if (frames[i].data == NULL) {
            frames[i].data = "";
            frames[i].len = 0;
        }
    }

    return (int) kind->nframes;
}
