/*
 * fake-stream: the benchmark's fast fake model server.
 *
 *   fake-stream [--bind ADDR] [--port P] [--pieces N] [--delay-ms D]
 *               [--first-delay-ms F] [--tls-cert FILE --tls-key FILE]
 *               [--alpn h2,http/1.1 | --alpn http/1.1] [--h2-max-streams M]
 *
 * It answers, over HTTP/1.1 with keep-alive and chunked responses, or with
 * --tls-cert/--tls-key over TLS (OpenSSL, non-blocking): HTTP/2 when the
 * client offers "h2" by ALPN and --alpn lists it (the default), else
 * HTTP/1.1 as in the clear.  Over HTTP/2 (libnghttp2's server session) a
 * connection carries up to M streams at once (SETTINGS, default 128), each
 * answered as an HTTP/1.1 request would be, without chunked framing:
 *
 *   POST /model/{modelId}/converse-stream   Bedrock Runtime ConverseStream:
 *        200 application/vnd.amazon.eventstream with the real framing
 *        (prelude and message CRC-32, string headers :event-type,
 *        :content-type, :message-type): messageStart, N contentBlockDelta
 *        ({"text":"w1 "}, "w2 ", ...), contentBlockStop, messageStop
 *        (end_turn), metadata (usage, metrics).
 *        A request that offers tools (toolConfig) and whose last user
 *        message holds no toolResult is answered at once with one toolUse
 *        of its first tool (toolConfig.tools[0].toolSpec.name; input
 *        {"expression":"1+1"} for `calculator`, {"task":"1+1"} for any
 *        other, such as a sub-agent), stopReason tool_use; anything else
 *        (no toolConfig, or toolResult blocks in the last user message)
 *        gets the N text pieces above: an agent's tool loop in two steps.
 *   POST /model/{modelId}/converse          the text answer as one JSON body.
 *   GET|POST /sse                           text/event-stream: N events
 *        `event: message` / `data: {"content":"w1 "}`, then `event: done`;
 *        the yardstick nginx proxies with proxy_pass.
 *   GET /health                             200 "ok".
 *   GET /stats                              the transport counters, as JSON:
 *        {"connections":accepted,"open_connections":N,"tls_handshakes":H,
 *        "tls_resumed":R (SSL_session_reused),"h2_connections":C,
 *        "streams":answers started,"open_streams":O}.
 *   GET /tool-gaps                          the tool round trips measured
 *        since the last call, and forgets them: {"gaps":[[n,ns],...],
 *        "tool_steps":T,"results":R,"unmatched":U}.  A round trip is from
 *        the moment the last byte of a toolUse step went to the socket to
 *        the moment the request carrying its toolResult has been read
 *        whole; the two are paired by "bench-<n>" in the request body (the
 *        user's message), so concurrent turns each give their own gap.
 *   GET|POST /config?pieces=N&delay_ms=D&first_delay_ms=F
 *        changes the defaults for the streams that start afterwards (the
 *        worker's path is fixed, so the benchmark retunes the fake this way
 *        instead of restarting it); answers the settings as JSON.
 *
 * Any stream path also takes those three query parameters for itself.
 * Timing: the response head (and messageStart) goes out F ms after the
 * request's body was read, piece i at F + i*D ms, the closing events right
 * after the last piece (the layout of tests/e2e/fakes.py).
 *
 * It does NOT verify SigV4 signatures and checks no request body: it reads
 * the body by Content-Length, looks into a converse-stream body only for
 * toolConfig, toolResult and bench-<n> (plain string search: a compact
 * JSON string cannot hold an unescaped quote, so "toolConfig": is a key),
 * and discards every other body unread.  The end-to-end tests
 * use the strict Python fake (tests/e2e/fakes.py) for correctness; this one
 * exists so that the benchmark measures Mangoo, not its fake.
 *
 * One thread, one epoll set (level-triggered), non-blocking sockets, a
 * binary min-heap of stream deadlines behind one timerfd.  Invariants:
 *   - a connection reads only while it has no response in progress
 *     (pipelined requests wait in the kernel or in c->in);
 *   - output is written straight to the socket; only what the socket would
 *     not take is copied to c->out, so an open stream costs its conn_t and
 *     nothing else while it waits for its next piece;
 *   - a closed connection is freed only after the current batch of epoll
 *     events, which may still name it;
 *   - a client that shuts down its sending side while it is answered is
 *     taken as gone (EPOLLRDHUP), as nginx and libcurl never do that.
 *   - over TLS, bytes go through SSL_read/SSL_write (partial writes on,
 *     so c->out keeps what OpenSSL did not take, as with send); OpenSSL's
 *     buffers are released while a connection is idle;
 *   - an HTTP/2 stream is an fs_conn_t of its own (fd -1, parent its
 *     connection) that runs the same answer code: its output waits in its
 *     c->out until nghttp2 asks for DATA, and connections with something
 *     to send are flushed once after each batch of events and timers (never
 *     from inside an nghttp2 callback), many frames to one SSL_write.
 * RLIMIT_NOFILE is raised to its hard limit at start.  SIGTERM and SIGINT
 * close everything and exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define FS_HEAD_MAX     65536           /* request line + headers */
#define FS_PIECES_MAX   100000
#define FS_DELAY_MAX_MS 3600000
#define FS_EVENTS       512
#define FS_INPUT_TOKENS 10
#define FS_BODY_KEEP    (8 << 20)       /* converse-stream bodies looked into */
#define FS_TURNS        65536           /* toolUse steps awaiting their result */
#define FS_TOOL_NAME    64
#define FS_H2_WRITE     65536           /* HTTP/2 output gathered for one SSL_write */

typedef enum { FS_READ, FS_BODY, FS_ANSWER } fs_state_e;

typedef enum {
    FS_FIXED,           /* a small answer built at once (health, config, errors) */
    FS_EVENTSTREAM,     /* converse-stream */
    FS_CONVERSE,        /* converse: one JSON body after all the pieces' time */
    FS_SSE,             /* /sse */
    FS_TOOLUSE          /* converse-stream: one toolUse at once, stopReason tool_use */
} fs_kind_e;

typedef struct fs_conn_s fs_conn_t;

struct fs_conn_s {
    int          fd;
    uint8_t      state;         /* fs_state_e */
    uint8_t      kind;          /* fs_kind_e */
    uint8_t      close_after;   /* Connection: close, HTTP/1.0, or an error */
    uint8_t      raw;           /* HTTP/1.0: no chunked framing, close at the end */
    uint8_t      finished;      /* the whole answer has been produced */
    uint8_t      dead;
    uint8_t      counted;       /* in fs_stat_open */
    uint32_t     mask;          /* events registered with epoll */
    int32_t      heap;          /* index in the timer heap, -1 if none */
    uint32_t     step;          /* next part of the answer to produce */
    uint32_t     pieces;
    uint64_t     delay;         /* ns between pieces */
    uint64_t     begin;         /* ns: when the head goes out */
    uint64_t     due;           /* ns: when step is due (heap key) */
    uint64_t     body_left;     /* request body bytes still to discard */
    char        *in;            /* unparsed request bytes */
    uint32_t     in_len, in_cap;
    char        *out;           /* bytes the socket has not taken yet */
    uint32_t     out_len, out_off;
    struct fs_pending_s *pending;   /* the request whose body is being read */
    char        *tool;          /* FS_TOOLUSE: the tool called */
    int64_t      turn;          /* FS_TOOLUSE: bench-<n> of its request, -1 if none */
    fs_conn_t   *next_dead;
    /* TLS and HTTP/2 */
    SSL         *ssl;           /* NULL: plain TCP */
    uint8_t      handshake;     /* the TLS handshake is not done yet */
    uint8_t      want_out;      /* OpenSSL must write before it can read on */
    uint8_t      dirty;         /* on fs_dirty: HTTP/2 output to flush */
    uint8_t      broken;        /* HTTP/2: close at the next flush */
    nghttp2_session *h2;        /* an HTTP/2 connection's session */
    fs_conn_t   *parent;        /* an HTTP/2 stream: its connection */
    fs_conn_t   *kids;          /* an HTTP/2 connection: its streams */
    fs_conn_t   *kid_prev, *kid_next;
    fs_conn_t   *next_dirty;
    int32_t      sid;           /* an HTTP/2 stream's id */
};

typedef struct {
    char   *p;
    size_t  len, cap;
} fs_buf_t;

typedef struct {
    char    *p;
    uint32_t len;
} fs_seg_t;

/* settings for streams that start from now on */
static struct {
    uint32_t  pieces;
    uint64_t  delay_ms, first_delay_ms;
} fs_conf = { 20, 0, 0 };

static int         fs_ep = -1, fs_listen = -1, fs_tfd = -1, fs_sfd = -1, fs_spare = -1;
static uint64_t    fs_armed;            /* deadline the timerfd holds, 0 if none */
static fs_conn_t **fs_conns;            /* by fd */
static int         fs_conns_max;
static fs_conn_t **fs_heap;
static uint32_t    fs_heap_len, fs_heap_cap;
static fs_conn_t  *fs_dead;
static fs_buf_t    fs_scratch;
static char        fs_rbuf[65536];
static uint64_t    fs_request_id;
static uint64_t    fs_stat_conns, fs_stat_streams, fs_stat_open;
static uint64_t    fs_stat_conns_open, fs_stat_tls, fs_stat_resumed, fs_stat_h2;

/* TLS: NULL when serving in the clear */
static SSL_CTX    *fs_tls;
static int         fs_offer_h2 = 1;
static uint32_t    fs_h2_max_streams = 128;
static fs_conn_t  *fs_dirty;            /* HTTP/2 connections with output to flush */
static fs_buf_t    fs_h2out;

/* tool round trips: when each turn's toolUse step went out (by n modulo
 * FS_TURNS, n kept to check), and the gaps measured since /tool-gaps */
typedef struct {
    uint64_t n, sent;           /* sent: ns, 0 if none awaits */
} fs_turn_t;

static fs_turn_t  *fs_turns;
static uint64_t   *fs_gaps;             /* pairs: n, ns */
static size_t      fs_gaps_len, fs_gaps_cap;
static uint64_t    fs_tool_id, fs_stat_tool_steps, fs_stat_results, fs_stat_unmatched;

/* precomputed frames; piece i (1-based) is at index i - 1 */
static fs_seg_t   *fs_es_piece, *fs_sse_piece;
static uint32_t    fs_have_pieces;
static fs_seg_t    fs_es_start, fs_es_block_stop, fs_es_message_stop, fs_es_tool_stop;
static const char  fs_sse_done[] = "event: done\ndata: {}\n\n";

/* sentinels in epoll_event.data.ptr */
static char fs_tag_listen, fs_tag_timer, fs_tag_signal;

static void fs_close(fs_conn_t *c);
static void fs_emit(fs_conn_t *c, uint64_t now);
static void fs_parse(fs_conn_t *c);
static void fs_pending_free(struct fs_pending_s *pd);
static void fs_h2_close(fs_conn_t *c);
static void fs_h2_send(fs_conn_t *c, const char *p, size_t n);
static void fs_h2_head(fs_conn_t *c, int status, const char *type, long length,
                       const char *extra);
static void fs_readable(fs_conn_t *c);

static void
fs_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fake-stream: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *
fs_xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fs_die("out of memory");
    }
    return p;
}

static uint64_t
fs_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ---- byte buffers ------------------------------------------------------ */

static void
fs_buf_put(fs_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = fs_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void
fs_buf_printf(fs_buf_t *b, const char *fmt, ...)
{
    char    tmp[1024];
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        fs_die("internal: formatted text too long");
    }
    fs_buf_put(b, tmp, (size_t) n);
}

static void
fs_buf_u32be(fs_buf_t *b, uint32_t v)
{
    unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };

    fs_buf_put(b, x, 4);
}

/* ---- AWS event-stream framing ----------------------------------------- */

static uint32_t fs_crc_table[256];

static void
fs_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        fs_crc_table[i] = c;
    }
}

/* CRC-32 (IEEE 802.3, reflected), as zlib.crc32 */
static uint32_t
fs_crc32(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t             c = 0xFFFFFFFFu;

    while (n--) {
        c = fs_crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

static void
fs_es_header(fs_buf_t *b, const char *name, const char *value)
{
    size_t        nl = strlen(name), vl = strlen(value);
    unsigned char x[3];

    x[0] = (unsigned char) nl;
    fs_buf_put(b, x, 1);
    fs_buf_put(b, name, nl);
    x[0] = 7;                                       /* string */
    x[1] = (unsigned char) (vl >> 8);
    x[2] = (unsigned char) vl;
    fs_buf_put(b, x, 3);
    fs_buf_put(b, value, vl);
}

/* One event message: prelude (total, headers length, CRC), headers,
 * payload, message CRC. */
static void
fs_es_event(fs_buf_t *out, const char *type, const char *payload, size_t plen)
{
    fs_buf_t  h = { 0 };
    size_t    start = out->len, total;

    fs_es_header(&h, ":event-type", type);
    fs_es_header(&h, ":content-type", "application/json");
    fs_es_header(&h, ":message-type", "event");
    total = 12 + h.len + plen + 4;
    fs_buf_u32be(out, (uint32_t) total);
    fs_buf_u32be(out, (uint32_t) h.len);
    fs_buf_u32be(out, fs_crc32(out->p + start, 8));
    fs_buf_put(out, h.p, h.len);
    fs_buf_put(out, payload, plen);
    fs_buf_u32be(out, fs_crc32(out->p + start, out->len - start));
    free(h.p);
}

static fs_seg_t
fs_seg_take(fs_buf_t *b)
{
    fs_seg_t s = { b->p, (uint32_t) b->len };

    b->p = NULL;
    b->len = b->cap = 0;
    return s;
}

static fs_seg_t
fs_es_segment(const char *type, const char *payload)
{
    fs_buf_t b = { 0 };

    fs_es_event(&b, type, payload, strlen(payload));
    return fs_seg_take(&b);
}

/* Frames for pieces 1..n, built once and kept (the table only grows, so a
 * stream that started with more pieces than today's default is safe). */
static void
fs_need_pieces(uint32_t n)
{
    char payload[128];

    if (n <= fs_have_pieces) {
        return;
    }
    fs_es_piece = fs_xrealloc(fs_es_piece, n * sizeof(fs_seg_t));
    fs_sse_piece = fs_xrealloc(fs_sse_piece, n * sizeof(fs_seg_t));
    for (uint32_t i = fs_have_pieces; i < n; i++) {
        fs_buf_t b = { 0 };

        snprintf(payload, sizeof(payload),
                 "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"w%u \"}}", i + 1);
        fs_es_piece[i] = fs_es_segment("contentBlockDelta", payload);
        fs_buf_printf(&b, "event: message\ndata: {\"content\":\"w%u \"}\n\n", i + 1);
        fs_sse_piece[i] = fs_seg_take(&b);
    }
    fs_have_pieces = n;
}

/* ---- timers ------------------------------------------------------------- */

static void
fs_heap_set(uint32_t i, fs_conn_t *c)
{
    fs_heap[i] = c;
    c->heap = (int32_t) i;
}

static void
fs_heap_up(uint32_t i)
{
    fs_conn_t *c = fs_heap[i];

    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (fs_heap[parent]->due <= c->due) {
            break;
        }
        fs_heap_set(i, fs_heap[parent]);
        i = parent;
    }
    fs_heap_set(i, c);
}

static void
fs_heap_down(uint32_t i)
{
    fs_conn_t *c = fs_heap[i];

    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= fs_heap_len) {
            break;
        }
        m = (l + 1 < fs_heap_len && fs_heap[l + 1]->due < fs_heap[l]->due) ? l + 1 : l;
        if (c->due <= fs_heap[m]->due) {
            break;
        }
        fs_heap_set(i, fs_heap[m]);
        i = m;
    }
    fs_heap_set(i, c);
}

static void
fs_timer_remove(fs_conn_t *c)
{
    uint32_t   i = (uint32_t) c->heap;
    fs_conn_t *last;

    if (c->heap < 0) {
        return;
    }
    c->heap = -1;
    last = fs_heap[--fs_heap_len];
    if (i == fs_heap_len) {
        return;
    }
    fs_heap_set(i, last);
    fs_heap_down(i);
    fs_heap_up((uint32_t) last->heap);
}

static void
fs_timer_add(fs_conn_t *c, uint64_t due)
{
    fs_timer_remove(c);
    if (fs_heap_len == fs_heap_cap) {
        fs_heap_cap = fs_heap_cap ? fs_heap_cap * 2 : 1024;
        fs_heap = fs_xrealloc(fs_heap, fs_heap_cap * sizeof(*fs_heap));
    }
    c->due = due;
    fs_heap_set(fs_heap_len, c);
    fs_heap_up(fs_heap_len++);
}

/* Point the timerfd at the earliest deadline (one syscall only when it moves). */
static void
fs_timer_arm(void)
{
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };
    uint64_t          due = fs_heap_len ? fs_heap[0]->due : 0;

    if (due == fs_armed) {
        return;
    }
    if (due) {
        its.it_value.tv_sec = (time_t) (due / 1000000000u);
        its.it_value.tv_nsec = (long) (due % 1000000000u);
    }
    if (timerfd_settime(fs_tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        fs_die("timerfd_settime: %s", strerror(errno));
    }
    fs_armed = due;
}

static void
fs_timer_run(void)
{
    uint64_t now = fs_now();

    while (fs_heap_len && fs_heap[0]->due <= now) {
        fs_conn_t *c = fs_heap[0];
        fs_timer_remove(c);
        fs_emit(c, now);
        if (!c->dead && c->state == FS_READ && c->in_len) {
            fs_parse(c);
        }
    }
}

/* ---- connections -------------------------------------------------------- */

/* Bytes the socket (or OpenSSL) took, 0 when it would block, -1 when the
 * connection is broken. */
static ssize_t
fs_io_write(fs_conn_t *c, const char *p, size_t n)
{
    ssize_t w;
    int     rc;

    if (c->ssl == NULL) {
        w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        }
        return w;
    }
    if (n == 0) {
        return 0;
    }
    ERR_clear_error();
    rc = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int) n);
    if (rc > 0) {
        return rc;
    }
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_READ:
        return 0;
    default:
        return -1;
    }
}

/* Bytes read, 0 at the end of the stream, -1 broken, -2 nothing yet. */
static ssize_t
fs_io_read(fs_conn_t *c, char *p, size_t n)
{
    ssize_t r;
    int     rc;

    if (c->ssl == NULL) {
        r = recv(c->fd, p, n, 0);
        if (r < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -2 : -1;
        }
        return r;
    }
    ERR_clear_error();
    rc = SSL_read(c->ssl, p, (int) n);
    if (rc > 0) {
        return rc;
    }
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return -2;
    case SSL_ERROR_WANT_WRITE:
        c->want_out = 1;
        return -2;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        return -1;
    }
}

static void
fs_watch(fs_conn_t *c)
{
    struct epoll_event ev;
    uint32_t           want;

    if (c->parent != NULL) {
        return;                 /* an HTTP/2 stream: its connection is watched */
    }
    if (c->handshake) {
        want = c->want_out ? EPOLLOUT : EPOLLIN;
    } else if (c->h2 != NULL) {
        want = EPOLLIN | EPOLLRDHUP | (c->out_len > c->out_off || c->want_out ? EPOLLOUT : 0);
    } else if (c->state != FS_ANSWER) {
        want = EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0);
    } else {
        want = EPOLLRDHUP | (c->out_len > c->out_off ? EPOLLOUT : 0);
    }
    if (want == c->mask) {
        return;
    }
    ev.events = want;
    ev.data.ptr = c;
    if (epoll_ctl(fs_ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        fs_close(c);
        return;
    }
    c->mask = want;
}

static void
fs_close(fs_conn_t *c)
{
    if (c->dead) {
        return;
    }
    if (c->counted) {
        fs_stat_open--;
    }
    fs_timer_remove(c);
    if (c->parent != NULL || c->h2 != NULL) {
        fs_h2_close(c);         /* a stream leaves its connection; a connection its streams */
    }
    if (c->parent == NULL) {
        fs_conns[c->fd] = NULL;
        SSL_free(c->ssl);
        c->ssl = NULL;
        close(c->fd);
        fs_stat_conns_open--;
    }
    free(c->in);
    free(c->out);
    free(c->tool);
    fs_pending_free(c->pending);
    c->in = c->out = NULL;
    c->tool = NULL;
    c->pending = NULL;
    c->dead = 1;
    c->next_dead = fs_dead;
    fs_dead = c;
}

static void
fs_reap(void)
{
    while (fs_dead) {
        fs_conn_t *c = fs_dead;
        fs_dead = c->next_dead;
        free(c);
    }
}

static void
fs_consume(fs_conn_t *c, uint32_t n)
{
    c->in_len -= n;
    if (c->in_len == 0) {
        free(c->in);            /* an idle connection keeps no buffer */
        c->in = NULL;
        c->in_cap = 0;
    } else {
        memmove(c->in, c->in + n, c->in_len);
    }
}

static void
fs_stash(fs_conn_t *c, const char *p, size_t n)
{
    if ((size_t) c->in_len + n > (size_t) FS_HEAD_MAX * 4) {
        fs_close(c);            /* a client that floods us while we answer */
        return;
    }
    if (c->in_len + n > c->in_cap) {
        uint32_t cap = c->in_cap ? c->in_cap : 1024;
        while (cap < c->in_len + n) {
            cap *= 2;
        }
        c->in = fs_xrealloc(c->in, cap);
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += (uint32_t) n;
}

/* Keep p[0..n) after what c->out holds, the part already written dropped. */
static void
fs_keep_out(fs_conn_t *c, const char *p, size_t n)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    c->out = fs_xrealloc(c->out, c->out_len + n);
    memcpy(c->out + c->out_len, p, n);
    c->out_len += (uint32_t) n;
}

/* Write now what the socket takes, keep the rest (after anything already kept). */
static void
fs_send(fs_conn_t *c, const char *p, size_t n)
{
    ssize_t w = 0;

    if (c->parent != NULL) {
        fs_h2_send(c, p, n);
        return;
    }
    if (c->out_len == c->out_off) {
        w = fs_io_write(c, p, n);
        if (w < 0) {
            fs_close(c);
            return;
        }
        if ((size_t) w == n) {
            return;
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }
    p += w;
    n -= (size_t) w;
    fs_keep_out(c, p, n);
}

/* The answer is out: next request on this connection, or close. */
static void
fs_answer_done(fs_conn_t *c)
{
    /* (for an HTTP/2 stream: once its last DATA went to nghttp2, maybe again
     * after; only the bookkeeping here, nghttp2 closes the stream) */
    if (c->counted) {
        fs_stat_open--;
        c->counted = 0;
    }
    if (c->tool != NULL) {
        /* the toolUse step is out whole: its turn's round trip starts */
        if (c->kind == FS_TOOLUSE && c->turn >= 0) {
            fs_turn_t *t = &fs_turns[(uint64_t) c->turn % FS_TURNS];
            t->n = (uint64_t) c->turn;
            t->sent = fs_now();
        }
        fs_stat_tool_steps += c->kind == FS_TOOLUSE;
        free(c->tool);
        c->tool = NULL;
        c->turn = -1;
    }
    if (c->parent != NULL) {
        return;
    }
    if (c->close_after) {
        fs_close(c);
        return;
    }
    c->state = FS_READ;
    c->step = 0;
    c->finished = 0;
    fs_watch(c);
}

/* Write what c->out holds.  1 when all of it went (c->out freed); 0 when
 * the socket would not take the rest (watched for it) or c was closed. */
static int
fs_write_out(fs_conn_t *c)
{
    ssize_t w;

    while (c->out_off < c->out_len) {
        w = fs_io_write(c, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            fs_close(c);
            return 0;
        }
        if (w == 0) {
            fs_watch(c);
            return 0;
        }
        c->out_off += (uint32_t) w;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return 1;
}

static void
fs_flush(fs_conn_t *c)
{
    if (!fs_write_out(c)) {
        return;
    }
    if (c->finished) {
        fs_answer_done(c);
        if (!c->dead && c->in_len) {
            fs_parse(c);
        }
    } else {
        fs_watch(c);
    }
}

/* ---- answers ------------------------------------------------------------ */

static void
fs_chunk(fs_conn_t *c, fs_buf_t *b, const char *p, size_t n)
{
    if (!c->raw) {
        fs_buf_printf(b, "%zx\r\n", n);
    }
    fs_buf_put(b, p, n);
    if (!c->raw) {
        fs_buf_put(b, "\r\n", 2);
    }
}

static void
fs_head(fs_conn_t *c, fs_buf_t *b, int status, const char *type, long length,
        const char *extra)
{
    static const char *reason[] = { [200] = "OK", [400] = "Bad Request",
        [404] = "Not Found", [411] = "Length Required",
        [431] = "Request Header Fields Too Large" };

    if (c->parent != NULL) {
        fs_h2_head(c, status, type, length, extra);
        return;
    }
    fs_buf_printf(b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
                  status < 432 && reason[status] ? reason[status] : "Error", type);
    if (length >= 0) {
        fs_buf_printf(b, "Content-Length: %ld\r\n", length);
    } else if (!c->raw) {
        fs_buf_printf(b, "Transfer-Encoding: chunked\r\n");
    }
    if (extra) {
        fs_buf_printf(b, "%s", extra);
    }
    fs_buf_printf(b, "%s\r\n", c->close_after ? "Connection: close\r\n" : "");
}

static void
fs_usage(fs_buf_t *b, uint32_t pieces, uint64_t latency_ms)
{
    fs_buf_printf(b, "\"usage\":{\"inputTokens\":%d,\"outputTokens\":%u,\"totalTokens\":%u},"
                  "\"metrics\":{\"latencyMs\":%" PRIu64 "}",
                  FS_INPUT_TOKENS, pieces, pieces + FS_INPUT_TOKENS, latency_ms);
}

static uint64_t
fs_latency_ms(fs_conn_t *c, uint64_t now)
{
    uint64_t ms = now > c->begin ? (now - c->begin) / 1000000u : 0;

    return ms ? ms : 1;
}

static void
fs_chunk_event(fs_conn_t *c, fs_buf_t *b, const char *type, const char *payload, size_t plen)
{
    fs_buf_t m = { 0 };

    fs_es_event(&m, type, payload, plen);
    fs_chunk(c, b, m.p, m.len);
    free(m.p);
}

/* A whole step that asks for c->tool: its input in two pieces, as models
 * stream it (the cut inside the JSON text). */
static void
fs_tool_step(fs_conn_t *c, fs_buf_t *b, uint64_t now)
{
    static const char *calc[] = { "{\\\"expression\\\":", "\\\"1+1\\\"}" };
    static const char *task[] = { "{\\\"task\\\":", "\\\"1+1\\\"}" };
    const char       **in = strcmp(c->tool, "calculator") == 0 ? calc : task;
    char               rid[96];
    fs_buf_t           t = { 0 };

    snprintf(rid, sizeof(rid), "x-amzn-RequestId: 00000000-0000-4000-8000-%012" PRIx64 "\r\n",
             ++fs_request_id);
    fs_head(c, b, 200, "application/vnd.amazon.eventstream", -1, rid);
    fs_chunk(c, b, fs_es_start.p, fs_es_start.len);
    fs_buf_printf(&t, "{\"contentBlockIndex\":0,\"start\":{\"toolUse\":{\"toolUseId\":"
                  "\"tooluse_bench%" PRIu64 "\",\"name\":\"%s\"}}}", ++fs_tool_id, c->tool);
    fs_chunk_event(c, b, "contentBlockStart", t.p, t.len);
    for (int i = 0; i < 2; i++) {
        t.len = 0;
        fs_buf_printf(&t, "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{\"input\":\"%s\"}}}",
                      in[i]);
        fs_chunk_event(c, b, "contentBlockDelta", t.p, t.len);
    }
    fs_chunk(c, b, fs_es_block_stop.p, fs_es_block_stop.len);
    fs_chunk(c, b, fs_es_tool_stop.p, fs_es_tool_stop.len);
    t.len = 0;
    fs_buf_put(&t, "{", 1);
    fs_usage(&t, 2, fs_latency_ms(c, now));
    fs_buf_put(&t, "}", 1);
    fs_chunk_event(c, b, "metadata", t.p, t.len);
    free(t.p);
    if (!c->raw) {
        fs_buf_put(b, "0\r\n\r\n", 5);
    }
    c->finished = 1;
}

/* Produce part `step` of a stream into b. */
static void
fs_step(fs_conn_t *c, fs_buf_t *b, uint64_t now)
{
    char     rid[96];
    fs_buf_t t = { 0 };

    if (c->kind == FS_TOOLUSE) {
        fs_tool_step(c, b, now);
        return;
    }

    if (c->kind == FS_CONVERSE) {
        fs_buf_printf(&t, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"");
        for (uint32_t i = 1; i <= c->pieces; i++) {
            fs_buf_printf(&t, "w%u ", i);
        }
        fs_buf_printf(&t, "\"}]}},\"stopReason\":\"end_turn\",");
        fs_usage(&t, c->pieces, fs_latency_ms(c, now));
        fs_buf_put(&t, "}", 1);
        snprintf(rid, sizeof(rid), "x-amzn-RequestId: 00000000-0000-4000-8000-%012" PRIx64 "\r\n",
                 ++fs_request_id);
        fs_head(c, b, 200, "application/json", (long) t.len, rid);
        fs_buf_put(b, t.p, t.len);
        free(t.p);
        c->finished = 1;
        return;
    }
    if (c->step == 0) {
        if (c->kind == FS_EVENTSTREAM) {
            snprintf(rid, sizeof(rid), "x-amzn-RequestId: 00000000-0000-4000-8000-%012" PRIx64 "\r\n",
                     ++fs_request_id);
            fs_head(c, b, 200, "application/vnd.amazon.eventstream", -1, rid);
            fs_chunk(c, b, fs_es_start.p, fs_es_start.len);
        } else {
            fs_head(c, b, 200, "text/event-stream", -1,
                    "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
        }
    } else {
        fs_seg_t *s = c->kind == FS_EVENTSTREAM ? &fs_es_piece[c->step - 1]
                                                : &fs_sse_piece[c->step - 1];
        fs_chunk(c, b, s->p, s->len);
    }
    if (c->step < c->pieces) {
        return;
    }
    /* the last piece is out: close the stream */
    if (c->kind == FS_EVENTSTREAM) {
        fs_chunk(c, b, fs_es_block_stop.p, fs_es_block_stop.len);
        fs_chunk(c, b, fs_es_message_stop.p, fs_es_message_stop.len);
        fs_buf_t m = { 0 };

        fs_buf_put(&t, "{", 1);
        fs_usage(&t, c->pieces, fs_latency_ms(c, now));
        fs_buf_put(&t, "}", 1);
        fs_es_event(&m, "metadata", t.p, t.len);
        fs_chunk(c, b, m.p, m.len);
        free(m.p);
        free(t.p);
    } else {
        fs_chunk(c, b, fs_sse_done, sizeof(fs_sse_done) - 1);
    }
    if (!c->raw) {
        fs_buf_put(b, "0\r\n\r\n", 5);
    }
    c->finished = 1;
}

static uint64_t
fs_step_due(fs_conn_t *c)
{
    if (c->kind == FS_CONVERSE) {
        return c->begin + (uint64_t) c->pieces * c->delay;
    }
    return c->begin + (uint64_t) c->step * c->delay;
}

/* Produce every part that is due, write it, and wait for the next one. */
static void
fs_emit(fs_conn_t *c, uint64_t now)
{
    fs_scratch.len = 0;
    while (!c->finished && fs_step_due(c) <= now) {
        fs_step(c, &fs_scratch, now);
        c->step++;
    }
    if (fs_scratch.len || c->parent != NULL) {    /* HTTP/2: a head alone is news too */
        fs_send(c, fs_scratch.p, fs_scratch.len);
        if (c->dead) {
            return;
        }
    }
    if (!c->finished) {
        fs_timer_add(c, fs_step_due(c));
    } else if (c->out_len == c->out_off) {
        fs_answer_done(c);
        return;
    }
    fs_watch(c);
}

static void
fs_fixed(fs_conn_t *c, int status, const char *type, const char *body)
{
    fs_scratch.len = 0;
    fs_head(c, &fs_scratch, status, type, (long) strlen(body), NULL);
    fs_buf_put(&fs_scratch, body, strlen(body));
    c->kind = FS_FIXED;
    c->state = FS_ANSWER;
    c->finished = 1;
    fs_send(c, fs_scratch.p, fs_scratch.len);
    if (c->dead) {
        return;
    }
    if (c->out_len == c->out_off) {
        fs_answer_done(c);
    } else {
        fs_watch(c);
    }
}

/* ---- requests ----------------------------------------------------------- */

typedef struct {
    const char *method, *path, *query;
    size_t      method_len, path_len, query_len;
    int         http10;
    int         close, expect_continue, chunked, bad;
    uint64_t    length;
} fs_request_t;

static int
fs_token_in(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);

    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, token, tl) == 0
            && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ')
            && (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ')) {
            return 1;
        }
    }
    return 0;
}

static int
fs_parse_head(const char *p, size_t n, fs_request_t *r)
{
    const char *end = p + n, *eol, *sp;

    memset(r, 0, sizeof(*r));
    eol = memmem(p, n, "\r\n", 2);
    if (eol == NULL) {
        return -1;
    }
    sp = memchr(p, ' ', (size_t) (eol - p));
    if (sp == NULL || sp == p) {
        return -1;
    }
    r->method = p;
    r->method_len = (size_t) (sp - p);
    p = sp + 1;
    sp = memchr(p, ' ', (size_t) (eol - p));
    if (sp == NULL || sp == p || (size_t) (eol - sp - 1) != 8 || memcmp(sp + 1, "HTTP/1.", 7) != 0) {
        return -1;
    }
    r->http10 = sp[8] == '0';
    r->path = p;
    r->path_len = (size_t) (sp - p);
    {
        const char *q = memchr(p, '?', r->path_len);
        if (q) {
            r->query = q + 1;
            r->query_len = (size_t) (sp - q - 1);
            r->path_len = (size_t) (q - p);
        }
    }
    for (p = eol + 2; p < end; p = eol + 2) {
        const char *colon, *v;
        size_t      nl, vl;

        eol = memmem(p, (size_t) (end - p), "\r\n", 2);
        if (eol == NULL || eol == p) {
            break;
        }
        colon = memchr(p, ':', (size_t) (eol - p));
        if (colon == NULL) {
            return -1;
        }
        nl = (size_t) (colon - p);
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }
        vl = (size_t) (eol - v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
            vl--;
        }
        if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
            uint64_t x = 0;
            if (vl == 0 || vl > 18) {
                r->bad = 1;
            }
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9') {
                    r->bad = 1;
                    break;
                }
                x = x * 10 + (uint64_t) (v[i] - '0');
            }
            r->length = x;
        } else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
            r->chunked = 1;
        } else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
            r->close = fs_token_in(v, vl, "close");
        } else if (nl == 6 && strncasecmp(p, "expect", 6) == 0) {
            r->expect_continue = vl == 12 && strncasecmp(v, "100-continue", 12) == 0;
        }
    }
    return 0;
}

static int
fs_is(const fs_request_t *r, const char *method)
{
    return r->method_len == strlen(method) && memcmp(r->method, method, r->method_len) == 0;
}

static int
fs_path_is(const fs_request_t *r, const char *path)
{
    return r->path_len == strlen(path) && memcmp(r->path, path, r->path_len) == 0;
}

static int
fs_path_ends(const fs_request_t *r, const char *suffix)
{
    size_t sl = strlen(suffix);

    return r->path_len > 7 + sl && memcmp(r->path, "/model/", 7) == 0
           && memcmp(r->path + r->path_len - sl, suffix, sl) == 0
           && memchr(r->path + 7, '/', r->path_len - 7 - sl) == NULL;
}

/* pieces / delay_ms / first_delay_ms from a query string; -1 on a bad value */
static int
fs_query(const fs_request_t *r, uint32_t *pieces, uint64_t *delay_ms, uint64_t *first_ms)
{
    const char *p = r->query, *end = r->query + r->query_len;

    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p)), *eq;
        const char *stop = amp ? amp : end;
        char        name[32];
        uint64_t    v = 0;
        size_t      nl;

        eq = memchr(p, '=', (size_t) (stop - p));
        if (eq == NULL || eq + 1 == stop || (nl = (size_t) (eq - p)) >= sizeof(name)) {
            return -1;
        }
        memcpy(name, p, nl);
        name[nl] = '\0';
        for (const char *d = eq + 1; d < stop; d++) {
            if (*d < '0' || *d > '9' || v > FS_DELAY_MAX_MS) {
                return -1;
            }
            v = v * 10 + (uint64_t) (*d - '0');
        }
        if (strcmp(name, "pieces") == 0 && v <= FS_PIECES_MAX) {
            *pieces = (uint32_t) v;
        } else if (strcmp(name, "delay_ms") == 0 && v <= FS_DELAY_MAX_MS) {
            *delay_ms = v;
        } else if (strcmp(name, "first_delay_ms") == 0 && v <= FS_DELAY_MAX_MS) {
            *first_ms = v;
        } else {
            return -1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

static void
fs_start(fs_conn_t *c, fs_kind_e kind, const fs_request_t *r, uint64_t now)
{
    uint32_t pieces = fs_conf.pieces;
    uint64_t delay = fs_conf.delay_ms, first = fs_conf.first_delay_ms;

    if (fs_query(r, &pieces, &delay, &first) != 0) {
        c->close_after = 1;
        fs_fixed(c, 400, "application/json",
                 "{\"message\":\"query: pieces, delay_ms, first_delay_ms (integers)\"}");
        return;
    }
    fs_need_pieces(pieces);
    c->kind = (uint8_t) kind;
    c->state = FS_ANSWER;
    c->pieces = pieces;
    c->delay = delay * 1000000u;
    c->begin = now + first * 1000000u;
    c->step = 0;
    c->finished = 0;
    c->counted = 1;
    fs_stat_streams++;
    fs_stat_open++;
    fs_emit(c, now);
}

/* ---- agents' steps ------------------------------------------------------ */

static const char *
fs_strrstr(const char *hay, const char *needle)
{
    const char *last = NULL;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
        last = p;
    }
    return last;
}

/* n of the first "bench-<n>" in a body, -1 if none */
static int64_t
fs_bench_n(const char *body)
{
    for (const char *p = body; (p = strstr(p, "bench-")) != NULL; p += 6) {
        int64_t n = 0;
        int     digits = 0;

        while (p[6 + digits] >= '0' && p[6 + digits] <= '9' && digits < 18) {
            n = n * 10 + (p[6 + digits] - '0');
            digits++;
        }
        if (digits > 0) {
            return n;
        }
    }
    return -1;
}

/* The name of the first tool the request offers (toolConfig.tools[0]
 * .toolSpec.name) into out; 0 if it offers none. */
static int
fs_first_tool(const char *body, char *out, size_t cap)
{
    const char *p = strstr(body, "\"toolConfig\":");
    size_t      n = 0;

    if (p == NULL || (p = strstr(p, "\"toolSpec\":")) == NULL
        || (p = strstr(p, "\"name\":\"")) == NULL) {
        return 0;
    }
    p += 8;
    while (p[n] != '\0' && p[n] != '"' && p[n] != '\\' && n + 1 < cap) {
        n++;
    }
    if (n == 0 || p[n] != '"') {
        return 0;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* Whether the last user message holds toolResult blocks (the worker's
 * messages come first in its body, role before content). */
static int
fs_has_result(const char *body)
{
    const char *p = fs_strrstr(body, "\"role\":\"user\"");

    return p != NULL && strstr(p, "\"toolResult\":") != NULL;
}

/* A request carrying turn n's tool results has arrived: its round trip. */
static void
fs_tool_result(int64_t n, uint64_t now)
{
    fs_turn_t *t;

    fs_stat_results++;
    if (n < 0) {
        fs_stat_unmatched++;
        return;
    }
    t = &fs_turns[(uint64_t) n % FS_TURNS];
    if (t->sent == 0 || t->n != (uint64_t) n) {
        fs_stat_unmatched++;
        return;
    }
    if (fs_gaps_len + 2 > fs_gaps_cap) {
        fs_gaps_cap = fs_gaps_cap ? fs_gaps_cap * 2 : 4096;
        fs_gaps = fs_xrealloc(fs_gaps, fs_gaps_cap * sizeof(*fs_gaps));
    }
    fs_gaps[fs_gaps_len++] = (uint64_t) n;
    fs_gaps[fs_gaps_len++] = now - t->sent;
    t->sent = 0;
}

/* GET /tool-gaps: the round trips so far, then forget them. */
static void
fs_tool_gaps(fs_conn_t *c)
{
    fs_buf_t b = { 0 };

    fs_buf_printf(&b, "{\"gaps\":[");
    for (size_t i = 0; i < fs_gaps_len; i += 2) {
        fs_buf_printf(&b, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : "", fs_gaps[i], fs_gaps[i + 1]);
    }
    fs_buf_printf(&b, "],\"tool_steps\":%" PRIu64 ",\"results\":%" PRIu64 ",\"unmatched\":%"
                  PRIu64 "}\n", fs_stat_tool_steps, fs_stat_results, fs_stat_unmatched);
    fs_buf_put(&b, "", 1);
    fs_gaps_len = 0;
    fs_stat_tool_steps = fs_stat_results = fs_stat_unmatched = 0;
    fs_fixed(c, 200, "application/json", b.p);
    free(b.p);
}

/* converse-stream: a toolUse when the request offers tools and is not
 * bringing results back, else the text pieces. */
static void
fs_converse_stream(fs_conn_t *c, const fs_request_t *r, const char *body)
{
    char     tool[FS_TOOL_NAME + 1];
    uint64_t now = fs_now();
    int      result = body != NULL && fs_has_result(body);

    if (result) {
        fs_tool_result(fs_bench_n(body), now);
    } else if (body != NULL && fs_first_tool(body, tool, sizeof(tool))) {
        c->tool = strdup(tool);
        if (c->tool == NULL) {
            fs_die("out of memory");
        }
        c->turn = fs_bench_n(body);
        fs_start(c, FS_TOOLUSE, r, now);
        return;
    }
    fs_start(c, FS_EVENTSTREAM, r, now);
}

/* The request's body has been read (body: the kept body of a
 * converse-stream request, NUL-terminated, or NULL): answer it. */
static void
fs_route(fs_conn_t *c, const fs_request_t *r, const char *body)
{
    int post = fs_is(r, "POST");

    if (post && fs_path_ends(r, "/converse-stream")) {
        fs_converse_stream(c, r, body);
    } else if (fs_is(r, "GET") && fs_path_is(r, "/tool-gaps")) {
        fs_tool_gaps(c);
    } else if (post && fs_path_ends(r, "/converse")) {
        fs_start(c, FS_CONVERSE, r, fs_now());
    } else if ((post || fs_is(r, "GET")) && fs_path_is(r, "/sse")) {
        fs_start(c, FS_SSE, r, fs_now());
    } else if (fs_is(r, "GET") && fs_path_is(r, "/health")) {
        fs_fixed(c, 200, "text/plain", "ok\n");
    } else if (fs_is(r, "GET") && fs_path_is(r, "/stats")) {
        char body[320];

        snprintf(body, sizeof(body),
                 "{\"connections\":%" PRIu64 ",\"open_connections\":%" PRIu64
                 ",\"tls_handshakes\":%" PRIu64 ",\"tls_resumed\":%" PRIu64
                 ",\"h2_connections\":%" PRIu64 ",\"streams\":%" PRIu64
                 ",\"open_streams\":%" PRIu64 "}\n", fs_stat_conns, fs_stat_conns_open,
                 fs_stat_tls, fs_stat_resumed, fs_stat_h2, fs_stat_streams, fs_stat_open);
        fs_fixed(c, 200, "application/json", body);
    } else if (fs_path_is(r, "/config")) {
        uint32_t pieces = fs_conf.pieces;
        uint64_t delay = fs_conf.delay_ms, first = fs_conf.first_delay_ms;
        char     body[160];

        if (fs_query(r, &pieces, &delay, &first) != 0) {
            fs_fixed(c, 400, "application/json",
                     "{\"message\":\"query: pieces, delay_ms, first_delay_ms (integers)\"}");
            return;
        }
        fs_conf.pieces = pieces;
        fs_conf.delay_ms = delay;
        fs_conf.first_delay_ms = first;
        fs_need_pieces(pieces);
        snprintf(body, sizeof(body),
                 "{\"pieces\":%u,\"delay_ms\":%" PRIu64 ",\"first_delay_ms\":%" PRIu64 "}\n",
                 pieces, delay, first);
        fs_fixed(c, 200, "application/json", body);
    } else {
        fs_fixed(c, 404, "application/json", "{\"message\":\"Unknown operation\"}");
    }
}

/* a request whose body is still being read (its head bytes are gone) */
typedef struct fs_pending_s {
    fs_request_t r;
    char         path[512], query[256], method[16];
    uint8_t      keep;          /* a converse-stream body: kept in body */
    fs_buf_t     body;
} fs_pending_t;

static void
fs_pending_free(fs_pending_t *pd)
{
    if (pd != NULL) {
        free(pd->body.p);
        free(pd);
    }
}

/*
 * Parse what c->in holds: request heads, bodies (discarded), answers.
 * Runs until the input is used up or an answer is in progress.
 */

static void
fs_parse(fs_conn_t *c)
{
    while (!c->dead && c->state != FS_ANSWER) {
        if (c->state == FS_BODY) {
            uint64_t      k = c->body_left < c->in_len ? c->body_left : c->in_len;
            fs_pending_t *pd;

            if (k) {
                if (c->pending->keep) {
                    fs_buf_put(&c->pending->body, c->in, (size_t) k);
                }
                fs_consume(c, (uint32_t) k);
                c->body_left -= k;
            }
            if (c->body_left) {
                return;
            }
            pd = c->pending;
            c->pending = NULL;
            if (pd->keep) {
                fs_buf_put(&pd->body, "", 1);
            }
            fs_route(c, &pd->r, pd->keep ? pd->body.p : NULL);
            fs_pending_free(pd);
            continue;
        }
        {
            const char   *end;
            fs_request_t  r;
            uint32_t      head_len;
            fs_pending_t *pd;

            if (c->in_len == 0) {
                return;
            }
            end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
            if (end == NULL) {
                if (c->in_len > FS_HEAD_MAX) {
                    c->close_after = 1;
                    fs_fixed(c, 431, "application/json", "{\"message\":\"Request header too large\"}");
                }
                return;
            }
            head_len = (uint32_t) (end - c->in) + 4;
            if (fs_parse_head(c->in, head_len, &r) != 0 || r.bad
                || r.method_len >= sizeof(pd->method) || r.path_len >= sizeof(pd->path)
                || r.query_len >= sizeof(pd->query)) {
                c->close_after = 1;
                fs_fixed(c, 400, "application/json", "{\"message\":\"Bad request\"}");
                return;
            }
            if (r.chunked) {
                c->close_after = 1;
                fs_fixed(c, 411, "application/json", "{\"message\":\"Content-Length required\"}");
                return;
            }
            c->raw = (uint8_t) r.http10;
            c->close_after = (uint8_t) (r.http10 || r.close);
            /* the head's bytes go away with fs_consume: copy what routing needs */
            pd = fs_xrealloc(NULL, sizeof(*pd));
            memcpy(pd->method, r.method, r.method_len);
            memcpy(pd->path, r.path, r.path_len);
            memcpy(pd->query, r.query ? r.query : "", r.query_len);
            pd->r = r;
            pd->r.method = pd->method;
            pd->r.path = pd->path;
            pd->r.query = r.query ? pd->query : NULL;
            pd->keep = (uint8_t) (fs_is(&pd->r, "POST") && fs_path_ends(&pd->r, "/converse-stream")
                                  && r.length <= FS_BODY_KEEP);
            memset(&pd->body, 0, sizeof(pd->body));
            fs_consume(c, head_len);
            c->body_left = r.length;
            c->state = FS_BODY;
            c->pending = pd;
            if (r.expect_continue && !r.http10 && r.length > c->in_len) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                fs_send(c, cont, sizeof(cont) - 1);
            }
        }
    }
}

static void
fs_readable(fs_conn_t *c)
{
    ssize_t n;

    if (c->state == FS_ANSWER) {
        return;
    }
    n = fs_io_read(c, fs_rbuf, sizeof(fs_rbuf));
    if (n == 0 || n == -1) {
        fs_close(c);
        return;
    }
    if (n == -2) {
        fs_watch(c);            /* OpenSSL may want the socket writable */
        return;
    }
    if (c->state == FS_BODY && c->in_len == 0) {
        /* discard body bytes without copying them */
        uint64_t k = c->body_left < (uint64_t) n ? c->body_left : (uint64_t) n;
        if (k && c->pending->keep) {
            fs_buf_put(&c->pending->body, fs_rbuf, (size_t) k);
        }
        c->body_left -= k;
        if ((uint64_t) n > k) {
            fs_stash(c, fs_rbuf + k, (size_t) n - k);
        }
    } else {
        fs_stash(c, fs_rbuf, (size_t) n);
    }
    if (!c->dead) {
        fs_parse(c);
    }
}

/* ---- HTTP/2 ---------------------------------------------------------------- */

static void
fs_h2_dirty(fs_conn_t *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = fs_dirty;
        fs_dirty = c;
    }
}

/* A stream's bytes wait in its c->out until nghttp2 asks for them. */
static void
fs_h2_send(fs_conn_t *c, const char *p, size_t n)
{
    int rc;

    if (n) {
        fs_keep_out(c, p, n);
    }
    rc = nghttp2_session_resume_data(c->parent->h2, c->sid);
    if (rc != 0 && rc != NGHTTP2_ERR_INVALID_ARGUMENT) {   /* not deferred: nothing to resume */
        c->parent->broken = 1;  /* closed at the flush, outside nghttp2's callbacks */
    }
    fs_h2_dirty(c->parent);
}

static ssize_t
fs_h2_read(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
           nghttp2_data_source *src, void *ud)
{
    fs_conn_t *c = src->ptr;
    size_t     n = c->out_len - c->out_off;

    if (n > len) {
        n = len;
    }
    if (n) {
        memcpy(buf, c->out + c->out_off, n);
        c->out_off += (uint32_t) n;
    }
    if (c->out_off == c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        if (c->finished) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            fs_answer_done(c);
        } else if (n == 0) {
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t) n;
}

static void
fs_h2_nv(nghttp2_nv *nv, const char *name, size_t nl, const char *value, size_t vl)
{
    nv->name = (uint8_t *) name;
    nv->namelen = nl;
    nv->value = (uint8_t *) value;
    nv->valuelen = vl;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/* The response's HEADERS: what fs_head writes for HTTP/1.1, names in
 * lower case, no framing headers. */
static void
fs_h2_head(fs_conn_t *c, int status, const char *type, long length, const char *extra)
{
    nghttp2_nv             nv[8];
    nghttp2_data_provider  prd;
    char                   st[8], len[24], names[256];
    size_t                 n = 0, used = 0;

    snprintf(st, sizeof(st), "%d", status);
    fs_h2_nv(&nv[n++], ":status", 7, st, strlen(st));
    fs_h2_nv(&nv[n++], "content-type", 12, type, strlen(type));
    if (length >= 0) {
        snprintf(len, sizeof(len), "%ld", length);
        fs_h2_nv(&nv[n++], "content-length", 14, len, strlen(len));
    }
    for (const char *p = extra; p != NULL && *p != '\0' && n < 8; ) {
        const char *colon = strchr(p, ':'), *eol = strstr(p, "\r\n"), *v;
        size_t      nl;

        if (colon == NULL || eol == NULL || colon > eol) {
            break;
        }
        nl = (size_t) (colon - p);
        if (used + nl > sizeof(names)) {
            break;
        }
        for (size_t i = 0; i < nl; i++) {
            names[used + i] = (char) (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        }
        for (v = colon + 1; *v == ' '; v++) {
        }
        fs_h2_nv(&nv[n++], names + used, nl, v, (size_t) (eol - v));
        used += nl;
        p = eol + 2;
    }
    prd.source.ptr = c;
    prd.read_callback = fs_h2_read;
    /* nghttp2 copies the names and values */
    if (nghttp2_submit_response(c->parent->h2, c->sid, nv, n, &prd) != 0) {
        c->parent->broken = 1;  /* closed at the flush, outside nghttp2's callbacks */
    }
    fs_h2_dirty(c->parent);
}

static int
fs_h2_on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    fs_conn_t *conn = ud, *c;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->pending = calloc(1, sizeof(*c->pending))) == NULL) {
        free(c);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    c->fd = -1;
    c->heap = -1;
    c->turn = -1;
    c->raw = 1;                 /* HTTP/2 frames the body itself */
    c->state = FS_BODY;
    c->parent = conn;
    c->sid = f->hd.stream_id;
    c->kid_next = conn->kids;
    if (conn->kids != NULL) {
        conn->kids->kid_prev = c;
    }
    conn->kids = c;
    return nghttp2_session_set_stream_user_data(h2, c->sid, c) == 0
           ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int
fs_h2_on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    fs_conn_t    *c = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    fs_pending_t *pd;

    if (c == NULL || c->pending == NULL || f->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    pd = c->pending;
    if (nl == 7 && memcmp(name, ":method", 7) == 0) {
        if (vl >= sizeof(pd->method)) {
            pd->r.bad = 1;
            return 0;
        }
        memcpy(pd->method, value, vl);
        pd->r.method = pd->method;
        pd->r.method_len = vl;
    } else if (nl == 5 && memcmp(name, ":path", 5) == 0) {
        const uint8_t *q = memchr(value, '?', vl);
        size_t         pl = q ? (size_t) (q - value) : vl, ql = q ? vl - pl - 1 : 0;

        if (pl >= sizeof(pd->path) || ql >= sizeof(pd->query)) {
            pd->r.bad = 1;
            return 0;
        }
        memcpy(pd->path, value, pl);
        pd->r.path = pd->path;
        pd->r.path_len = pl;
        if (q != NULL) {
            memcpy(pd->query, q + 1, ql);
            pd->r.query = pd->query;
            pd->r.query_len = ql;
        }
    }
    return 0;
}

static int
fs_h2_on_data(nghttp2_session *h2, uint8_t flags, int32_t sid, const uint8_t *data,
              size_t len, void *ud)
{
    fs_conn_t *c = nghttp2_session_get_stream_user_data(h2, sid);

    if (c != NULL && c->pending != NULL && c->pending->keep) {
        if (c->pending->body.len + len > FS_BODY_KEEP) {
            c->pending->keep = 0;       /* too big to look into, as in HTTP/1.1 */
        } else {
            fs_buf_put(&c->pending->body, data, len);
        }
    }
    return 0;
}

static int
fs_h2_on_frame(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    fs_conn_t    *c;
    fs_pending_t *pd;

    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    c = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (c == NULL || c->pending == NULL) {
        return 0;
    }
    pd = c->pending;
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (pd->r.method == NULL || pd->r.path == NULL) {
            pd->r.bad = 1;
        }
        pd->keep = (uint8_t) (!pd->r.bad && fs_is(&pd->r, "POST")
                              && fs_path_ends(&pd->r, "/converse-stream"));
    }
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    c->pending = NULL;
    if (pd->r.bad) {
        fs_fixed(c, 400, "application/json", "{\"message\":\"Bad request\"}");
    } else {
        if (pd->keep) {
            fs_buf_put(&pd->body, "", 1);
        }
        fs_route(c, &pd->r, pd->keep ? pd->body.p : NULL);
    }
    fs_pending_free(pd);
    return 0;
}

static int
fs_h2_on_close(nghttp2_session *h2, int32_t sid, uint32_t error, void *ud)
{
    fs_conn_t *c = nghttp2_session_get_stream_user_data(h2, sid);

    if (c != NULL) {
        fs_close(c);
    }
    return 0;
}

/* ALPN chose h2: a server session, our SETTINGS queued. */
static int
fs_h2_start(fs_conn_t *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry     iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, fs_h2_max_streams },
    };
    int                        rc;

    if (nghttp2_session_callbacks_new(&cb) != 0) {
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, fs_h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, fs_h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, fs_h2_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, fs_h2_on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, fs_h2_on_close);
    rc = nghttp2_session_server_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0 || nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 1) != 0) {
        return -1;
    }
    fs_stat_h2++;
    fs_h2_dirty(c);
    return 0;
}

/* A stream leaves its connection, or a connection closes its streams. */
static void
fs_h2_close(fs_conn_t *c)
{
    nghttp2_session *h2;

    if (c->parent != NULL) {
        fs_conn_t *conn = c->parent;

        if (conn->h2 != NULL) {
            /* nghttp2 may still name the stream (a reset): no dangling pointer */
            (void) nghttp2_session_set_stream_user_data(conn->h2, c->sid, NULL);
        }
        if (c->kid_prev != NULL) {
            c->kid_prev->kid_next = c->kid_next;
        } else {
            conn->kids = c->kid_next;
        }
        if (c->kid_next != NULL) {
            c->kid_next->kid_prev = c->kid_prev;
        }
        c->kid_prev = c->kid_next = NULL;
        return;
    }
    h2 = c->h2;
    c->h2 = NULL;               /* its streams see a connection going away */
    while (c->kids != NULL) {
        fs_close(c->kids);      /* unlinks it */
    }
    nghttp2_session_del(h2);
}

/* Write what nghttp2 has for the connection: what OpenSSL did not take
 * last time first, then frames gathered FS_H2_WRITE bytes at a time. */
static void
fs_h2_flush(fs_conn_t *c)
{
    ssize_t w;

    if (c->broken) {
        fs_close(c);
        return;
    }
    if (!fs_write_out(c)) {
        return;
    }
    for (;;) {
        const uint8_t *data;
        ssize_t        n = 0;

        fs_h2out.len = 0;
        while (fs_h2out.len < FS_H2_WRITE && (n = nghttp2_session_mem_send(c->h2, &data)) > 0) {
            fs_buf_put(&fs_h2out, data, (size_t) n);
        }
        if (n < 0 || c->broken) {
            fs_close(c);
            return;
        }
        if (fs_h2out.len == 0) {
            break;
        }
        w = fs_io_write(c, fs_h2out.p, fs_h2out.len);
        if (w < 0) {
            fs_close(c);
            return;
        }
        if ((size_t) w < fs_h2out.len) {
            c->out = fs_xrealloc(NULL, fs_h2out.len - (size_t) w);
            memcpy(c->out, fs_h2out.p + w, fs_h2out.len - (size_t) w);
            c->out_len = (uint32_t) (fs_h2out.len - (size_t) w);
            break;
        }
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)
        && c->out_len == c->out_off) {
        fs_close(c);            /* GOAWAY both ways */
        return;
    }
    fs_watch(c);
}

static void
fs_h2_flush_all(void)
{
    while (fs_dirty != NULL) {
        fs_conn_t *c = fs_dirty;

        fs_dirty = c->next_dirty;
        c->dirty = 0;
        if (!c->dead) {
            fs_h2_flush(c);
        }
    }
}

static void
fs_h2_readable(fs_conn_t *c)
{
    ssize_t n = fs_io_read(c, fs_rbuf, sizeof(fs_rbuf));

    if (n == 0 || n == -1) {
        fs_close(c);
        return;
    }
    if (n == -2) {
        fs_watch(c);
        return;
    }
    if (nghttp2_session_mem_recv(c->h2, (const uint8_t *) fs_rbuf, (size_t) n) < 0) {
        fs_close(c);
        return;
    }
    fs_h2_dirty(c);             /* SETTINGS acks, WINDOW_UPDATEs, answers begun */
}

/* ---- TLS ------------------------------------------------------------------- */

static int
fs_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
               const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char both[] = "\x02h2\x08http/1.1", h1[] = "\x08http/1.1";

    if (SSL_select_next_proto((unsigned char **) out, outlen,
                              fs_offer_h2 ? both : h1,
                              fs_offer_h2 ? sizeof(both) - 1 : sizeof(h1) - 1,
                              in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;        /* no ALPN: HTTP/1.1 */
    }
    return SSL_TLSEXT_ERR_OK;
}

static void
fs_tls_setup(const char *cert, const char *key)
{
    fs_tls = SSL_CTX_new(TLS_server_method());
    if (fs_tls == NULL
        || !SSL_CTX_set_min_proto_version(fs_tls, TLS1_2_VERSION)
        || SSL_CTX_use_certificate_chain_file(fs_tls, cert) != 1
        || SSL_CTX_use_PrivateKey_file(fs_tls, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(fs_tls) != 1
        || !SSL_CTX_set_session_id_context(fs_tls, (const unsigned char *) "fake-stream", 11)) {
        fs_die("TLS with %s and %s: %s", cert, key, ERR_error_string(ERR_get_error(), NULL));
    }
    /* writes as send() does; buffers given back while a connection idles */
    SSL_CTX_set_mode(fs_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                             | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(fs_tls, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_alpn_select_cb(fs_tls, fs_alpn_select, NULL);
}

static void
fs_tls_handshake(fs_conn_t *c)
{
    const unsigned char *alpn = NULL;
    unsigned int         alen = 0;
    int                  rc;

    ERR_clear_error();
    rc = SSL_do_handshake(c->ssl);
    if (rc != 1) {
        switch (SSL_get_error(c->ssl, rc)) {
        case SSL_ERROR_WANT_READ:
            c->want_out = 0;
            fs_watch(c);
            return;
        case SSL_ERROR_WANT_WRITE:
            c->want_out = 1;
            fs_watch(c);
            return;
        default:
            fs_close(c);        /* e.g. the client does not trust our certificate */
            return;
        }
    }
    c->handshake = 0;
    c->want_out = 0;
    fs_stat_tls++;
    fs_stat_resumed += SSL_session_reused(c->ssl) ? 1 : 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    if (alen == 2 && memcmp(alpn, "h2", 2) == 0 && fs_h2_start(c) != 0) {
        fs_close(c);
        return;
    }
    fs_watch(c);
}

static void
fs_accept(void)
{
    for (int i = 0; i < 256; i++) {
        struct epoll_event ev;
        fs_conn_t         *c;
        int                fd, one = 1;

        fd = accept4(fs_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* out of descriptors: refuse one client instead of spinning */
                close(fs_spare);
                fd = accept(fs_listen, NULL, NULL);
                if (fd >= 0) {
                    close(fd);
                }
                fs_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fprintf(stderr, "fake-stream: out of file descriptors (%" PRIu64 " open streams)\n",
                        fs_stat_open);
            }
            return;
        }
        if (fd >= fs_conns_max) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->heap = -1;
        c->turn = -1;
        c->state = FS_READ;
        c->mask = EPOLLIN | EPOLLRDHUP;
        if (fs_tls != NULL) {
            c->ssl = SSL_new(fs_tls);
            if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
                SSL_free(c->ssl);
                close(fd);
                free(c);
                continue;
            }
            SSL_set_accept_state(c->ssl);
            c->handshake = 1;
            c->mask = EPOLLIN;
        }
        ev.events = c->mask;
        ev.data.ptr = c;
        if (epoll_ctl(fs_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            SSL_free(c->ssl);
            close(fd);
            free(c);
            continue;
        }
        fs_conns[fd] = c;
        fs_stat_conns++;
        fs_stat_conns_open++;
    }
}

/* ---- main ------------------------------------------------------------------ */

static void
fs_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fs_die("getrlimit: %s", strerror(errno));
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fprintf(stderr, "fake-stream: cannot raise RLIMIT_NOFILE: %s\n", strerror(errno));
        }
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    fs_conns_max = rl.rlim_cur > 4000000 ? 4000000 : (int) rl.rlim_cur;
}

static long
fs_opt_num(const char *name, const char *v, long max)
{
    char *end;
    long  x;

    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || *v == '\0' || *end != '\0' || x < 0 || x > max) {
        fs_die("--%s must be an integer in 0..%ld (got \"%s\")", name, max, v);
    }
    return x;
}

static void
fs_usage_exit(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: fake-stream [--bind ADDR] [--port P] [--pieces N] [--delay-ms D]\n"
            "                   [--first-delay-ms F] [--tls-cert FILE --tls-key FILE]\n"
            "                   [--alpn h2,http/1.1|http/1.1] [--h2-max-streams M]\n"
            "  Bedrock ConverseStream (POST /model/ID/converse-stream) and plain SSE\n"
            "  (GET|POST /sse) with N pieces, D ms apart, the first after F ms;\n"
            "  a converse-stream request offering tools gets a toolUse of its first\n"
            "  tool, and GET /tool-gaps the tool round trips measured (see the source).\n"
            "  With a certificate and its key it speaks TLS: HTTP/2 when the client\n"
            "  offers h2 and --alpn lists it (M streams a connection), else HTTP/1.1.\n"
            "  GET /stats counts connections, TLS handshakes (resumed) and streams.\n"
            "  Port 0 picks a free port; the first line on stdout names it.\n");
    exit(code);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bind", required_argument, NULL, 'b' },
        { "port", required_argument, NULL, 'p' },
        { "pieces", required_argument, NULL, 'n' },
        { "delay-ms", required_argument, NULL, 'd' },
        { "first-delay-ms", required_argument, NULL, 'f' },
        { "tls-cert", required_argument, NULL, 'c' },
        { "tls-key", required_argument, NULL, 'k' },
        { "alpn", required_argument, NULL, 'a' },
        { "h2-max-streams", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct sockaddr_in  sa = { .sin_family = AF_INET };
    socklen_t           salen = sizeof(sa);
    struct epoll_event  ev, events[FS_EVENTS];
    const char         *bind_addr = "127.0.0.1", *cert = NULL, *key = NULL;
    long                port = 0;
    sigset_t            sigs;
    int                 one = 1, o, running = 1;

    while ((o = getopt_long(argc, argv, "b:p:n:d:f:c:k:a:m:h", opts, NULL)) != -1) {
        switch (o) {
        case 'b': bind_addr = optarg; break;
        case 'p': port = fs_opt_num("port", optarg, 65535); break;
        case 'n': fs_conf.pieces = (uint32_t) fs_opt_num("pieces", optarg, FS_PIECES_MAX); break;
        case 'd': fs_conf.delay_ms = (uint64_t) fs_opt_num("delay-ms", optarg, FS_DELAY_MAX_MS); break;
        case 'f': fs_conf.first_delay_ms = (uint64_t) fs_opt_num("first-delay-ms", optarg,
                                                                 FS_DELAY_MAX_MS); break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'a':
            if (strcmp(optarg, "h2,http/1.1") == 0) {
                fs_offer_h2 = 1;
            } else if (strcmp(optarg, "http/1.1") == 0) {
                fs_offer_h2 = 0;
            } else {
                fs_die("--alpn takes h2,http/1.1 or http/1.1 (got \"%s\")", optarg);
            }
            break;
        case 'm': fs_h2_max_streams = (uint32_t) fs_opt_num("h2-max-streams", optarg, 1000000);
            break;
        case 'h': fs_usage_exit(0); break;
        default: fs_usage_exit(2);
        }
    }
    if (optind != argc || (cert == NULL) != (key == NULL) || fs_h2_max_streams == 0) {
        fs_usage_exit(2);
    }
    if (cert != NULL) {
        fs_tls_setup(cert, key);
    }

    fs_crc_init();
    fs_es_start = fs_es_segment("messageStart", "{\"role\":\"assistant\"}");
    fs_es_block_stop = fs_es_segment("contentBlockStop", "{\"contentBlockIndex\":0}");
    fs_es_message_stop = fs_es_segment("messageStop", "{\"stopReason\":\"end_turn\"}");
    fs_es_tool_stop = fs_es_segment("messageStop", "{\"stopReason\":\"tool_use\"}");
    fs_turns = calloc(FS_TURNS, sizeof(*fs_turns));
    fs_need_pieces(fs_conf.pieces);
    fs_raise_nofile();
    fs_conns = calloc((size_t) fs_conns_max, sizeof(*fs_conns));
    if (fs_conns == NULL || fs_turns == NULL) {
        fs_die("out of memory");
    }

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    fs_sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    fs_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    fs_ep = epoll_create1(EPOLL_CLOEXEC);
    fs_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fs_sfd < 0 || fs_tfd < 0 || fs_ep < 0 || fs_spare < 0) {
        fs_die("setup: %s", strerror(errno));
    }

    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fs_die("--bind takes an IPv4 address (got \"%s\")", bind_addr);
    }
    sa.sin_port = htons((uint16_t) port);
    fs_listen = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fs_listen < 0
        || setsockopt(fs_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fs_listen, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(fs_listen, 65535) != 0
        || getsockname(fs_listen, (struct sockaddr *) &sa, &salen) != 0) {
        fs_die("listen on %s:%ld: %s", bind_addr, port, strerror(errno));
    }

    ev.events = EPOLLIN;
    ev.data.ptr = &fs_tag_listen;
    epoll_ctl(fs_ep, EPOLL_CTL_ADD, fs_listen, &ev);
    ev.data.ptr = &fs_tag_timer;
    epoll_ctl(fs_ep, EPOLL_CTL_ADD, fs_tfd, &ev);
    ev.data.ptr = &fs_tag_signal;
    epoll_ctl(fs_ep, EPOLL_CTL_ADD, fs_sfd, &ev);

    printf("fake-stream listening on %s:%d (pieces %u, delay %" PRIu64 " ms, first delay %"
           PRIu64 " ms, up to %d descriptors; %s)\n", bind_addr, ntohs(sa.sin_port),
           fs_conf.pieces, fs_conf.delay_ms, fs_conf.first_delay_ms, fs_conns_max,
           fs_tls == NULL ? "HTTP/1.1" : fs_offer_h2 ? "TLS, h2 and http/1.1" : "TLS, http/1.1");
    fflush(stdout);

    while (running) {
        int n = epoll_wait(fs_ep, events, FS_EVENTS, -1);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fs_die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            void     *tag = events[i].data.ptr;
            uint32_t  e = events[i].events;

            if (tag == &fs_tag_listen) {
                fs_accept();
            } else if (tag == &fs_tag_timer) {
                uint64_t expirations;
                if (read(fs_tfd, &expirations, sizeof(expirations)) > 0) {
                    fs_armed = 0;
                }
            } else if (tag == &fs_tag_signal) {
                running = 0;
            } else {
                fs_conn_t *c = tag;
                if (c->dead) {
                    continue;
                }
                if (e & (EPOLLERR | EPOLLHUP)) {
                    fs_close(c);
                } else if (c->handshake) {
                    fs_tls_handshake(c);
                } else if (c->h2 != NULL) {
                    if (e & EPOLLOUT) {
                        fs_h2_dirty(c);
                    }
                    if (e & EPOLLIN || (e & EPOLLOUT && c->want_out)) {
                        c->want_out = 0;
                        fs_h2_readable(c);
                    } else if (e & EPOLLRDHUP) {
                        fs_close(c);
                    }
                } else if (e & EPOLLOUT && c->want_out) {
                    c->want_out = 0;
                    fs_readable(c);   /* OpenSSL wrote what it needed to read on */
                } else if (e & EPOLLOUT) {
                    fs_flush(c);
                } else if (e & EPOLLIN) {
                    fs_readable(c);   /* a close after the request shows as a read of 0 */
                } else if (e & EPOLLRDHUP) {
                    fs_close(c);      /* the client left while we answer */
                }
            }
        }
        fs_timer_run();
        fs_h2_flush_all();
        fs_timer_arm();
        fs_reap();
    }

    for (int fd = 0; fd < fs_conns_max; fd++) {
        if (fs_conns[fd]) {
            fs_close(fs_conns[fd]);
        }
    }
    fs_reap();
    SSL_CTX_free(fs_tls);
    free(fs_h2out.p);
    fprintf(stderr, "fake-stream: stopped after %" PRIu64 " connections, %" PRIu64 " answers\n",
            fs_stat_conns, fs_stat_streams);
    return 0;
}
