/* Unit tests for shared/mg_protocol.c: every message type round-trips, and
 * malformed frame sets are rejected. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mg_protocol.h"

#define RID "0123456789abcdef0123456789abcdef"

static mg_str_t
S(const char *s)
{
    mg_str_t v = { s, strlen(s) };
    return v;
}

static int
eq(mg_str_t a, const char *b)
{
    return a.len == strlen(b) && memcmp(a.data, b, a.len) == 0;
}

START_TEST(test_req_round_trip)
{
    mg_msg_t in, out;
    mg_str_t frames[MG_PROTO_MAX_FRAMES];
    char status[4];

    memset(&in, 0, sizeof(in));
    in.type = MG_MSG_REQ;
    in.rid = S(RID);
    in.job = S("bots.get");
    in.params = S("{\"id\":\"x\"}");
    in.claims = S("{\"sub\":\"u\"}");
    /* body left NULL: must become an empty frame with a valid pointer */

    int n = mg_proto_frames(&in, frames, status);
    ck_assert_int_eq(n, 6);
    ck_assert(eq(frames[0], "REQ"));
    ck_assert_ptr_nonnull(frames[5].data);
    ck_assert_uint_eq(frames[5].len, 0);

    ck_assert_int_eq(mg_proto_parse(frames, (size_t) n, &out), 0);
    ck_assert_int_eq(out.type, MG_MSG_REQ);
    ck_assert(eq(out.rid, RID));
    ck_assert(eq(out.job, "bots.get"));
    ck_assert(eq(out.params, "{\"id\":\"x\"}"));
    ck_assert(eq(out.claims, "{\"sub\":\"u\"}"));
    ck_assert_uint_eq(out.body.len, 0);
}
END_TEST

START_TEST(test_res_and_err_round_trip)
{
    mg_msg_t in, out;
    mg_str_t frames[MG_PROTO_MAX_FRAMES];
    char status[4];

    memset(&in, 0, sizeof(in));
    in.type = MG_MSG_RES;
    in.rid = S(RID);
    in.status = 201;
    in.content_type = S("application/json");
    in.headers = S("{\"Location\":\"/x\"}");
    in.body = S("{}");
    int n = mg_proto_frames(&in, frames, status);
    ck_assert_int_eq(n, 6);
    ck_assert(eq(frames[2], "201"));
    ck_assert_int_eq(mg_proto_parse(frames, (size_t) n, &out), 0);
    ck_assert_int_eq(out.status, 201);
    ck_assert(eq(out.content_type, "application/json"));
    ck_assert(eq(out.headers, "{\"Location\":\"/x\"}"));
    ck_assert(eq(out.body, "{}"));

    memset(&in, 0, sizeof(in));
    in.type = MG_MSG_ERR;
    in.rid = S(RID);
    in.status = 503;
    in.code = S("overloaded");
    in.message = S("all workers are busy");
    n = mg_proto_frames(&in, frames, status);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(mg_proto_parse(frames, (size_t) n, &out), 0);
    ck_assert_int_eq(out.type, MG_MSG_ERR);
    ck_assert_int_eq(out.status, 503);
    ck_assert(eq(out.code, "overloaded"));
    ck_assert(eq(out.message, "all workers are busy"));
}
END_TEST

START_TEST(test_stream_messages)
{
    static const mg_msg_type_t types[] = { MG_MSG_HEAD, MG_MSG_DATA, MG_MSG_END, MG_MSG_CANCEL };
    static const int nframes[] = { 5, 3, 2, 2 };

    for (size_t i = 0; i < 4; i++) {
        mg_msg_t in, out;
        mg_str_t frames[MG_PROTO_MAX_FRAMES];
        char status[4];

        memset(&in, 0, sizeof(in));
        in.type = types[i];
        in.rid = S(RID);
        in.status = 200;
        in.content_type = S("text/event-stream");
        in.body = S("event: message\ndata: {}\n\n");
        int n = mg_proto_frames(&in, frames, status);
        ck_assert_int_eq(n, nframes[i]);
        ck_assert_int_eq(mg_proto_parse(frames, (size_t) n, &out), 0);
        ck_assert_int_eq(out.type, types[i]);
        ck_assert_str_eq(mg_proto_type_name(out.type), mg_proto_type_name(types[i]));
        if (types[i] == MG_MSG_DATA) {
            ck_assert(eq(out.body, "event: message\ndata: {}\n\n"));
        }
    }
}
END_TEST

START_TEST(test_rejects_malformed)
{
    mg_msg_t out;
    mg_str_t f[7];

    /* unknown type */
    f[0] = S("NOPE"); f[1] = S(RID);
    ck_assert_int_eq(mg_proto_parse(f, 2, &out), -1);
    ck_assert_int_eq(out.type, MG_MSG_INVALID);

    /* too few frames */
    f[0] = S("END");
    ck_assert_int_eq(mg_proto_parse(f, 1, &out), -1);

    /* wrong frame count for the type */
    f[0] = S("END"); f[1] = S(RID); f[2] = S("extra");
    ck_assert_int_eq(mg_proto_parse(f, 3, &out), -1);

    /* bad request ids: short, upper case, non hex */
    f[0] = S("END");
    f[1] = S("0123");
    ck_assert_int_eq(mg_proto_parse(f, 2, &out), -1);
    f[1] = S("0123456789ABCDEF0123456789abcdef");
    ck_assert_int_eq(mg_proto_parse(f, 2, &out), -1);
    f[1] = S("0123456789abcdeg0123456789abcdef");
    ck_assert_int_eq(mg_proto_parse(f, 2, &out), -1);

    /* bad statuses */
    f[0] = S("ERR"); f[1] = S(RID); f[3] = S("c"); f[4] = S("m");
    const char *bad[] = { "20", "2000", "2x0", "099", "600", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f[2] = S(bad[i]);
        ck_assert_int_eq(mg_proto_parse(f, 5, &out), -1);
    }
    f[2] = S("404");
    ck_assert_int_eq(mg_proto_parse(f, 5, &out), 0);

    /* a request without a job */
    f[0] = S("REQ"); f[1] = S(RID); f[2] = S(""); f[3] = S("{}"); f[4] = S("{}"); f[5] = S("");
    ck_assert_int_eq(mg_proto_parse(f, 6, &out), -1);
}
END_TEST

START_TEST(test_credit)
{
    mg_msg_t in, out;
    mg_str_t frames[MG_PROTO_MAX_FRAMES];
    char status[4];
    const char *bad[] = { "", "0", "-1", "12a", "1234567890", " 5" };

    memset(&in, 0, sizeof(in));
    in.type = MG_MSG_CREDIT;
    in.body = S("512");
    ck_assert_int_eq(mg_proto_frames(&in, frames, status), 2);
    ck_assert(eq(frames[0], "CREDIT"));
    ck_assert_int_eq(mg_proto_parse(frames, 2, &out), 0);
    ck_assert_int_eq(out.type, MG_MSG_CREDIT);
    ck_assert_int_eq(out.credit, 512);
    ck_assert_uint_eq(out.rid.len, 0);

    /* a count needs no rid, and a rid is no count */
    frames[1] = S(RID);
    ck_assert_int_eq(mg_proto_parse(frames, 2, &out), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        frames[1] = S(bad[i]);
        ck_assert_int_eq(mg_proto_parse(frames, 2, &out), -1);
        in.body = S(bad[i]);
        ck_assert_int_eq(mg_proto_frames(&in, frames, status), -1);
    }
    frames[1] = S("7");
    frames[2] = S("extra");
    ck_assert_int_eq(mg_proto_parse(frames, 3, &out), -1);
}
END_TEST

START_TEST(test_stopping)
{
    mg_msg_t in, out;
    mg_str_t frames[MG_PROTO_MAX_FRAMES];
    char status[4];

    memset(&in, 0, sizeof(in));
    in.type = MG_MSG_STOPPING;
    ck_assert_int_eq(mg_proto_frames(&in, frames, status), 1);
    ck_assert(eq(frames[0], "STOPPING"));
    ck_assert_int_eq(mg_proto_parse(frames, 1, &out), 0);
    ck_assert_int_eq(out.type, MG_MSG_STOPPING);
    ck_assert_uint_eq(out.rid.len, 0);
    ck_assert_str_eq(mg_proto_type_name(MG_MSG_STOPPING), "STOPPING");

    /* nothing may follow it */
    frames[1] = S(RID);
    ck_assert_int_eq(mg_proto_parse(frames, 2, &out), -1);
}
END_TEST

START_TEST(test_pack_round_trip)
{
    mg_str_t  a[3] = { S("DATA"), S(RID), S("") };
    mg_str_t  b[2] = { S("END"), S(RID) };
    mg_str_t  out[MG_PROTO_MAX_FRAMES];
    char      buf[256];
    size_t    la = mg_proto_packed_size(a, 3), lb = mg_proto_packed_size(b, 2), off = 0;

    ck_assert_uint_eq(la, 1 + 3 * 4 + 4 + 32);
    mg_proto_pack(a, 3, buf);
    mg_proto_pack(b, 2, buf + la);

    ck_assert_int_eq(mg_proto_unpack(buf, la + lb, &off, out), 3);
    ck_assert(eq(out[0], "DATA") && eq(out[1], RID) && out[2].len == 0);
    ck_assert_uint_eq(off, la);
    ck_assert_int_eq(mg_proto_unpack(buf, la + lb, &off, out), 2);
    ck_assert(eq(out[0], "END") && eq(out[1], RID));
    ck_assert_int_eq(mg_proto_unpack(buf, la + lb, &off, out), 0);

    /* cut anywhere inside a message: malformed, never read past the end */
    for (size_t cut = 1; cut < la; cut++) {
        off = 0;
        ck_assert_int_eq(mg_proto_unpack(buf, cut, &off, out), -1);
        ck_assert_uint_eq(off, 0);
    }
    /* no frames, or more than a message has */
    buf[0] = 0;
    off = 0;
    ck_assert_int_eq(mg_proto_unpack(buf, la, &off, out), -1);
    buf[0] = MG_PROTO_MAX_FRAMES + 1;
    ck_assert_int_eq(mg_proto_unpack(buf, la, &off, out), -1);
}
END_TEST

START_TEST(test_frames_rejects_invalid)
{
    mg_msg_t in;
    mg_str_t frames[MG_PROTO_MAX_FRAMES];
    char status[4];

    memset(&in, 0, sizeof(in));
    in.type = MG_MSG_RES;
    in.rid = S(RID);
    in.status = 42;
    ck_assert_int_eq(mg_proto_frames(&in, frames, status), -1);

    in.status = 200;
    in.rid = S("short");
    ck_assert_int_eq(mg_proto_frames(&in, frames, status), -1);

    in.type = MG_MSG_INVALID;
    in.rid = S(RID);
    ck_assert_int_eq(mg_proto_frames(&in, frames, status), -1);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mg_protocol");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_req_round_trip);
    tcase_add_test(tc, test_res_and_err_round_trip);
    tcase_add_test(tc, test_stream_messages);
    tcase_add_test(tc, test_rejects_malformed);
    tcase_add_test(tc, test_frames_rejects_invalid);
    tcase_add_test(tc, test_credit);
    tcase_add_test(tc, test_stopping);
    tcase_add_test(tc, test_pack_round_trip);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
