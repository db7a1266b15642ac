/*
 * fuzz_protocol: the wire protocol's decoder as both sides run it on
 * what arrives from ZeroMQ: mg_proto_unpack over one packed frame (one or
 * more messages), mg_proto_parse on each message, and for a REQ what the
 * worker does next with it (mg_job_init: params and claims JSON, the
 * query).  A message that parses must encode again (mg_proto_frames,
 * mg_proto_pack) into one that unpacks and parses to the same type and
 * request id.  Input: the packed bytes.
 */
#include <assert.h>

#include "fuzz.h"
#include "job.h"
#include "mg_protocol.h"

static void
mg_fuzz_roundtrip(const mg_msg_t *msg)
{
    mg_str_t   frames[MG_PROTO_MAX_FRAMES], back[MG_PROTO_MAX_FRAMES];
    char       status[4];
    char      *packed;
    size_t     size, off = 0;
    int        n, m;
    mg_msg_t   again;

    n = mg_proto_frames(msg, frames, status);
    assert(n > 0);
    size = mg_proto_packed_size(frames, n);
    packed = malloc(size);
    assert(packed != NULL);
    mg_proto_pack(frames, n, packed);
    m = mg_proto_unpack(packed, size, &off, back);
    assert(m == n && off == size);
    assert(mg_proto_parse(back, (size_t) m, &again) == 0);
    assert(again.type == msg->type);
    assert(again.rid.len == msg->rid.len
           && (msg->rid.len == 0 || memcmp(again.rid.data, msg->rid.data, msg->rid.len) == 0));
    free(packed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char      *buf = mg_fuzz_dup(data, size, 0);
    size_t     off = 0;
    mg_str_t   frames[MG_PROTO_MAX_FRAMES];
    mg_msg_t   msg;
    int        n;

    while ((n = mg_proto_unpack(buf, size, &off, frames)) > 0) {
        assert(n <= MG_PROTO_MAX_FRAMES && off <= size);
        for (int i = 0; i < n; i++) {
            assert(frames[i].data >= buf && frames[i].data + frames[i].len <= buf + size);
        }
        if (mg_proto_parse(frames, (size_t) n, &msg) != 0) {
            continue;
        }
        (void) mg_proto_type_name(msg.type);
        mg_fuzz_roundtrip(&msg);
        if (msg.type == MG_MSG_REQ) {
            mg_job_t  job;
            char      err[128];
            size_t    qlen;

            if (mg_job_init(&job, &msg, err, sizeof(err)) == 0) {
                (void) mg_job_query(&job, &qlen);
                (void) mg_job_param(&job, "id", &qlen);
            }
            mg_job_free(&job);
        }
    }
    free(buf);
    return 0;
}
