/*
 * mg_scrape: `mangoo-worker metrics ENDPOINT`, one worker's metrics
 * without nginx: a DEALER sends the job the module's metrics location
 * sends (REQ, job "metrics", params and claims "{}", empty body) and
 * prints the body of the RES, the Prometheus text, as it came.  For
 * operators, and for the tests that feed a live render to promtool.
 *
 * Exit codes as the other commands: 0 printed, 1 no answer or an error
 * answer, 2 bad usage.
 */
#include "scrape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "metrics.h"
#include "mg_protocol.h"
#include "util/clock.h"

#define MG_SCRAPE_TIMEOUT_MS 5000

/* Wait for the RES (or ERR) of rid on sock and print it.  0, or 1. */
static int
mg_scrape_answer(void *sock, const char *rid, long timeout_ms)
{
    long long  deadline = mg_now_ms() + timeout_ms;
    zmq_msg_t  packed;
    mg_str_t   frames[MG_PROTO_MAX_FRAMES];
    mg_msg_t   msg;
    size_t     off;
    int        n, rc = -1;

    while (rc < 0) {
        zmq_pollitem_t  item = { sock, 0, ZMQ_POLLIN, 0 };
        long long       left = deadline - mg_now_ms();

        if (left <= 0) {
            fprintf(stderr, "mangoo-worker: metrics: no answer within %ld ms\n", timeout_ms);
            return 1;
        }
        if (zmq_poll(&item, 1, (long) left) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "mangoo-worker: metrics: %s\n", zmq_strerror(errno));
            return 1;
        }
        if (!(item.revents & ZMQ_POLLIN)) {
            continue;
        }
        zmq_msg_init(&packed);
        if (zmq_msg_recv(&packed, sock, 0) < 0) {
            zmq_msg_close(&packed);
            fprintf(stderr, "mangoo-worker: metrics: %s\n", zmq_strerror(errno));
            return 1;
        }
        off = 0;
        while (rc < 0 && (n = mg_proto_unpack(zmq_msg_data(&packed), zmq_msg_size(&packed),
                                              &off, frames)) > 0)
        {
            if (mg_proto_parse(frames, (size_t) n, &msg) != 0
                || msg.rid.len != MG_RID_LEN || memcmp(msg.rid.data, rid, MG_RID_LEN) != 0)
            {
                continue;                   /* not ours */
            }
            if (msg.type == MG_MSG_RES && msg.status == 200) {
                rc = fwrite(msg.body.data, 1, msg.body.len, stdout) == msg.body.len
                     && fflush(stdout) == 0 ? 0 : 1;
            } else if (msg.type == MG_MSG_ERR) {
                fprintf(stderr, "mangoo-worker: metrics: %d %.*s: %.*s\n", msg.status,
                        (int) msg.code.len, msg.code.data, (int) msg.message.len,
                        msg.message.data);
                rc = 1;
            } else {
                fprintf(stderr, "mangoo-worker: metrics: unexpected %s %d\n",
                        mg_proto_type_name(msg.type), msg.status);
                rc = 1;
            }
        }
        zmq_msg_close(&packed);
    }
    return rc;
}

int
mg_scrape_main(int argc, char **argv)
{
    const char  *endpoint = NULL;
    long         timeout_ms = MG_SCRAPE_TIMEOUT_MS;
    char         rid[MG_RID_LEN + 1], *end;
    void        *ctx = NULL, *sock = NULL;
    zmq_msg_t    m;
    mg_str_t     frames[6] = {
        { "REQ", 3 }, { NULL, MG_RID_LEN }, { MG_METRICS_JOB, sizeof(MG_METRICS_JOB) - 1 },
        { "{}", 2 }, { "{}", 2 }, { "", 0 }
    };
    int          zero = 0, rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout_ms = strtol(argv[++i], &end, 10);
            if (*end != '\0' || timeout_ms < 1 || timeout_ms > 600000) {
                fprintf(stderr, "mangoo-worker: metrics: --timeout is 1..600000 ms\n");
                return 2;
            }
        } else if (endpoint == NULL && argv[i][0] != '-') {
            endpoint = argv[i];
        } else {
            endpoint = NULL;
            break;
        }
    }
    if (endpoint == NULL) {
        fprintf(stderr, "usage: mangoo-worker metrics ENDPOINT [--timeout MS]\n");
        return 2;
    }

    /* unique enough for one request on a connection of our own */
    snprintf(rid, sizeof(rid), "%016llx%016llx", (unsigned long long) time(NULL),
             (unsigned long long) getpid() * 2654435761ULL);
    frames[1].data = rid;

    ctx = zmq_ctx_new();
    sock = ctx != NULL ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (sock == NULL || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0
        || zmq_connect(sock, endpoint) != 0)
    {
        fprintf(stderr, "mangoo-worker: metrics: cannot connect to %s: %s\n", endpoint,
                zmq_strerror(errno));
        goto done;
    }
    if (zmq_msg_init_size(&m, mg_proto_packed_size(frames, 6)) != 0) {
        fprintf(stderr, "mangoo-worker: metrics: out of memory\n");
        goto done;
    }
    mg_proto_pack(frames, 6, zmq_msg_data(&m));
    /* queued until connected; the answer's wait bounds it all */
    if (zmq_msg_send(&m, sock, 0) < 0) {
        zmq_msg_close(&m);
        fprintf(stderr, "mangoo-worker: metrics: cannot send: %s\n", zmq_strerror(errno));
        goto done;
    }
    rc = mg_scrape_answer(sock, rid, timeout_ms);

done:
    if (sock != NULL) {
        zmq_close(sock);
    }
    if (ctx != NULL) {
        zmq_ctx_term(ctx);
    }
    return rc;
}
