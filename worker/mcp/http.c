/*
 * mg_mcp_http: owns the Streamable HTTP exchanges (http.h).
 *
 * A POST runs in its own multi handle so the calling thread can look at
 * the deadline and the cancel flag every MG_MCP_POLL_MS: libcurl's own
 * progress callback may be called only once a second on an idle
 * connection.  Leaving the loop early drops the connection, which a
 * server also takes as the end of the request.
 *
 * The answer is read as it comes: a JSON body into one buffer, an event
 * stream through mg_sse_feed, stopping at our response (a server may keep
 * the stream open after it).  Both are capped at max_result bytes (one
 * event's data for a stream; a stream of many small events is bounded by
 * the deadline instead).  Non-2xx answers keep a short excerpt for the
 * error and are abandoned after it.
 *
 * An event stream that ends or breaks before our response, after events
 * with ids, is resumed: a GET with Last-Event-ID after the server's retry
 * time, as often as it takes within the deadline.  The server's own stream
 * (mg_mcp_http_listen) is a GET read the same way.  What the server asks
 * on any stream is answered in a POST of its own: ping with {}, the rest
 * "method not found", since we declare no capabilities.
 */
#include "mcp/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "mcp/rpc.h"
#include "mcp/sse.h"
#include "util/errf.h"
#include "util/log.h"
#include "util/sb.h"

#define MG_MCP_HTTP_CONNECT_MS   10000L
#define MG_MCP_HTTP_EXCERPT      200        /* bytes of an error body kept for the message */
#define MG_MCP_HTTP_SESSION_MAX  1024
#define MG_MCP_HTTP_USER_AGENT   "Mangoo/1.0 (MCP client)"
#define MG_MCP_HTTP_RETRY_MS     1000L      /* before resuming, when the server named no retry */
#define MG_MCP_HTTP_RESUMES_MAX  10         /* resumptions of one answer */
#define MG_MCP_HTTP_ANSWER_MS    2000L      /* our answer to a server's request */

struct mg_mcp_http_s {
    const char   *name;
    const char   *url;
    char        **headers;      /* "Name: value", NULL-terminated */
    char         *ca_file;      /* NULL: the system's */
    size_t        max;
    atomic_uint  *tools_gen;
};

/* How the body of one answer is read. */
typedef enum {
    MG_MCP_BODY_UNKNOWN = 0,    /* no byte yet */
    MG_MCP_BODY_JSON,
    MG_MCP_BODY_SSE,
    MG_MCP_BODY_EXCERPT         /* not 2xx, or a type we do not read: keep a little */
} mg_mcp_body_t;

/* One answer's state (a POST's, or a GET stream's), shared by its
 * callbacks.  The event stream's last id and retry outlive a reset, for
 * resuming it. */
typedef struct {
    mg_mcp_http_t          *h;
    CURL                   *curl;
    const char             *session_id;     /* of the exchange: for answering the server */
    const char             *version;
    const mg_mcp_wait_t    *w;
    int                     get;            /* a GET: only an event stream will do */
    int                     listening;      /* the server's own stream: no response is ours */
    int                     quiet;          /* answering no requests: ours is a notification,
                                             * or initialize (no version agreed to send) */
    char                    ctype[128];
    char           *session;        /* Mcp-Session-Id of the answer */
    mg_mcp_body_t   kind;
    mg_sb_t         body;           /* JSON, or the excerpt */
    mg_sse_t        sse;
    json_t         *resp;           /* the response, once seen */
    int             too_big;
    char            bad[300];       /* the stream had something unreadable */
} mg_mcp_answer_t;

static pthread_once_t  mg_mcp_curl_once = PTHREAD_ONCE_INIT;
static CURLcode        mg_mcp_curl_rc;

static void
mg_mcp_curl_init(void)
{
    mg_mcp_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);     /* ref-counted */
}

/* Headers the transport sets itself: a configured one would clash. */
static int
mg_mcp_http_reserved(const char *name)
{
    static const char *const reserved[] = {
        "content-type", "accept", "content-length", "host", "mcp-session-id",
        "mcp-protocol-version", "transfer-encoding", "last-event-id"
    };

    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcasecmp(name, reserved[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
mg_mcp_http_token(const char *name)
{
    if (*name == '\0') {
        return 0;
    }
    for (const unsigned char *s = (const unsigned char *) name; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7F || *s == ':') {
            return 0;
        }
    }
    return 1;
}

mg_mcp_http_t *
mg_mcp_http_new(const char *name, const char *url, json_t *headers, size_t max_result,
                atomic_uint *tools_gen, char *err, size_t errlen)
{
    mg_mcp_http_t  *h;
    const char     *key, *ca = getenv("MANGOO_CA_FILE");
    json_t         *value;
    size_t          n = 0;

    if (headers != NULL && !json_is_object(headers)) {
        mg_errf(err, errlen, "the headers of the MCP server %s are not an object", name);
        return NULL;
    }
    json_object_foreach(headers, key, value) {
        if (!mg_mcp_http_token(key) || mg_mcp_http_reserved(key)) {
            mg_errf(err, errlen, "the header \"%.60s\" of the MCP server %s is not allowed",
                    key, name);
            return NULL;
        }
        if (!json_is_string(value) || strpbrk(json_string_value(value), "\r\n") != NULL
            || strlen(json_string_value(value)) != json_string_length(value))
        {
            mg_errf(err, errlen, "the header \"%.60s\" of the MCP server %s must be a string "
                    "on one line", key, name);
            return NULL;
        }
    }

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        goto oom;
    }
    h->name = name;
    h->url = url;
    h->max = max_result;
    h->tools_gen = tools_gen;
    h->headers = calloc(json_object_size(headers) + 1, sizeof(char *));
    if (h->headers == NULL || (ca != NULL && ca[0] != '\0' && (h->ca_file = strdup(ca)) == NULL)) {
        goto oom;
    }
    json_object_foreach(headers, key, value) {
        size_t len = strlen(key) + json_string_length(value) + 3;

        if ((h->headers[n] = malloc(len)) == NULL) {
            goto oom;
        }
        snprintf(h->headers[n++], len, "%s: %s", key, json_string_value(value));
    }
    return h;

oom:
    mg_mcp_http_free(h);
    mg_errf(err, errlen, "out of memory");
    return NULL;
}

void
mg_mcp_http_free(mg_mcp_http_t *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; h->headers != NULL && h->headers[i] != NULL; i++) {
        free(h->headers[i]);
    }
    free(h->headers);
    free(h->ca_file);
    free(h);
}

/* What a request is, for its headers. */
typedef enum { MG_MCP_REQ_POST, MG_MCP_REQ_GET, MG_MCP_REQ_DELETE } mg_mcp_req_t;

/* The request's headers: ours, the session's, the configured ones. */
static struct curl_slist *
mg_mcp_http_headers(mg_mcp_http_t *h, mg_mcp_req_t req, const char *session_id,
                    const char *version, const char *last_id)
{
    struct curl_slist  *list = NULL, *next;
    char                line[MG_MCP_HTTP_SESSION_MAX + 32];

#define MG_MCP_ADD(s) \
    do { if ((next = curl_slist_append(list, (s))) == NULL) goto fail; list = next; } while (0)

    if (req == MG_MCP_REQ_POST) {
        MG_MCP_ADD("Content-Type: application/json");
        MG_MCP_ADD("Accept: application/json, text/event-stream");
    } else if (req == MG_MCP_REQ_GET) {
        MG_MCP_ADD("Accept: text/event-stream");
    }
    if (session_id != NULL) {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", session_id);
        MG_MCP_ADD(line);
    }
    if (version != NULL) {
        snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", version);
        MG_MCP_ADD(line);
    }
    if (last_id != NULL) {
        snprintf(line, sizeof(line), "Last-Event-ID: %s", last_id);
        MG_MCP_ADD(line);
    }
    MG_MCP_ADD("Expect:");              /* no 100-continue round trip for large bodies */
    for (size_t i = 0; h->headers[i] != NULL; i++) {
        MG_MCP_ADD(h->headers[i]);
    }
    return list;
#undef MG_MCP_ADD

fail:
    curl_slist_free_all(list);
    return NULL;
}

static size_t
mg_mcp_http_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    mg_mcp_answer_t  *p = userdata;
    size_t          n = size * nitems, name_len, vlen;
    const char     *colon, *v;

    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        p->ctype[0] = '\0';                 /* a new response (after a 1xx) */
        free(p->session);
        p->session = NULL;
        return n;
    }
    colon = memchr(buf, ':', n);
    if (colon == NULL) {
        return n;
    }
    name_len = (size_t) (colon - buf);
    v = colon + 1;
    vlen = n - name_len - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && isspace((unsigned char) v[vlen - 1])) {
        vlen--;
    }
    if (name_len == 12 && strncasecmp(buf, "content-type", 12) == 0) {
        snprintf(p->ctype, sizeof(p->ctype), "%.*s", (int) vlen, v);
    } else if (name_len == 14 && strncasecmp(buf, "mcp-session-id", 14) == 0
               && vlen > 0 && vlen <= MG_MCP_HTTP_SESSION_MAX)
    {
        /* visible ASCII only, as the specification requires: it goes back in a header */
        for (size_t i = 0; i < vlen; i++) {
            if ((unsigned char) v[i] < 0x21 || (unsigned char) v[i] > 0x7E) {
                return n;
            }
        }
        free(p->session);
        p->session = strndup(v, vlen);
    }
    return n;
}

/* ctype is type, ignoring case and parameters ("; charset=utf-8"). */
static int
mg_mcp_http_type_is(const char *ctype, const char *type)
{
    size_t n = strlen(type);

    return strncasecmp(ctype, type, n) == 0
           && (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ' || ctype[n] == '\t');
}

/* The server asked us something: ping gets its empty result, anything
 * else "method not found", each in a POST of its own.  The stream we are
 * reading waits meanwhile, for at most MG_MCP_HTTP_ANSWER_MS. */
static void
mg_mcp_http_answer(mg_mcp_answer_t *p, json_t *msg)
{
    int             ping = mg_rpc_is_method(msg, "ping");
    json_t         *empty = ping ? json_object() : NULL;
    char           *text = NULL, why[300];
    long long       due = mg_now_ms() + MG_MCP_HTTP_ANSWER_MS;
    mg_mcp_wait_t   w = { due < p->w->deadline ? due : p->w->deadline, p->w->cancel };

    if (!ping) {
        mg_log_debug("mcp %s: refused the server's request %s", p->h->name,
                     json_string_value(json_object_get(msg, "method")));
    }
    if ((!ping || empty != NULL)
        && (text = mg_rpc_reply(json_object_get(msg, "id"), empty, -32601,
                                "Method not found")) != NULL
        && mg_mcp_http_post(p->h, text, -1, p->session_id, p->version, &w, NULL, NULL,
                            why, sizeof(why)) != MG_MCP_OK)
    {
        mg_log_debug("mcp %s: could not answer the server's %s: %s", p->h->name,
                     json_string_value(json_object_get(msg, "method")), why);
    }
    json_decref(empty);
    free(text);
}

/* One message from the server, in a stream or a batch. */
static void
mg_mcp_http_message(mg_mcp_answer_t *p, json_t *msg)
{
    char            why[160];
    mg_rpc_kind_t   kind = mg_rpc_classify(msg, why, sizeof(why));

    switch (kind) {
    case MG_RPC_NOTIFICATION:
        if (mg_rpc_is_method(msg, "notifications/tools/list_changed")) {
            atomic_fetch_add(p->h->tools_gen, 1);
        }
        return;
    case MG_RPC_REQUEST:
        if (!p->quiet) {                    /* never an answer to an answer */
            mg_mcp_http_answer(p, msg);
        }
        return;
    case MG_RPC_RESULT:
    case MG_RPC_ERROR:
        if (p->resp == NULL && !p->listening) {
            p->resp = json_incref(msg);     /* the caller checks the id */
        }
        return;
    case MG_RPC_INVALID:
        if (p->resp == NULL && !p->listening && json_object_get(msg, "id") != NULL) {
            p->resp = json_incref(msg);     /* the caller says what is wrong with it */
        } else if (p->bad[0] == '\0') {
            snprintf(p->bad, sizeof(p->bad), "%s", why);
        }
        return;
    }
}

/* A message or a batch. */
static void
mg_mcp_http_messages(mg_mcp_answer_t *p, json_t *v)
{
    size_t   i;
    json_t  *m;

    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            mg_mcp_http_message(p, m);
        }
    } else {
        mg_mcp_http_message(p, v);
    }
}

static int
mg_mcp_http_event(void *ud, const char *type, const char *data, size_t len)
{
    mg_mcp_answer_t  *p = ud;
    json_t         *v;
    char            why[160];
    size_t          i;

    for (i = 0; i < len && isspace((unsigned char) data[i]); i++) {
    }
    if (strcmp(type, "message") != 0 || i == len) {
        return 0;                           /* other types, and the empty priming events */
    }
    v = mg_rpc_parse(data, len, why, sizeof(why));
    if (v == NULL) {
        snprintf(p->bad, sizeof(p->bad), "an event that is %s", why);
        return 1;
    }
    mg_mcp_http_messages(p, v);
    json_decref(v);
    return p->resp != NULL || p->bad[0] != '\0';
}

static size_t
mg_mcp_http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mg_mcp_answer_t  *p = userdata;
    size_t          n = size * nmemb;
    long            status = 0;
    int             rc;

    if (p->kind == MG_MCP_BODY_UNKNOWN) {
        (void) curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status / 100 != 2) {
            p->kind = MG_MCP_BODY_EXCERPT;
        } else if (mg_mcp_http_type_is(p->ctype, "application/json") && !p->get) {
            p->kind = MG_MCP_BODY_JSON;
        } else if (mg_mcp_http_type_is(p->ctype, "text/event-stream")) {
            p->kind = MG_MCP_BODY_SSE;
        } else {
            p->kind = MG_MCP_BODY_EXCERPT;
        }
    }

    switch (p->kind) {
    case MG_MCP_BODY_JSON:
        if (p->body.len + n > p->h->max) {
            p->too_big = 1;
            return 0;                       /* aborts the transfer */
        }
        mg_sb_add(&p->body, ptr, n);
        return p->body.oom ? 0 : n;
    case MG_MCP_BODY_SSE:
        rc = mg_sse_feed(&p->sse, ptr, n, mg_mcp_http_event, p);
        if (rc < 0) {
            p->too_big = 1;
        }
        return rc == 0 ? n : 0;             /* stop at our response or a problem */
    default:
        mg_sb_add(&p->body, ptr, n < MG_MCP_HTTP_EXCERPT ? n : MG_MCP_HTTP_EXCERPT);
        return p->body.len >= MG_MCP_HTTP_EXCERPT ? 0 : n;
    }
}

/* Run curl to its end, the deadline or the cancel flag. */
static int
mg_mcp_http_run(CURL *curl, const mg_mcp_wait_t *w, CURLcode *result)
{
    CURLM     *m = curl_multi_init();
    CURLMsg   *msg;
    int        running = 1, left, rc = MG_MCP_OK;

    *result = CURLE_OK;
    if (m == NULL || curl_multi_add_handle(m, curl) != CURLM_OK) {
        curl_multi_cleanup(m);
        *result = CURLE_OUT_OF_MEMORY;
        return MG_MCP_OK;
    }
    for (;;) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            *result = CURLE_OUT_OF_MEMORY;
            break;
        }
        if (running == 0) {
            while ((msg = curl_multi_info_read(m, &left)) != NULL) {
                if (msg->msg == CURLMSG_DONE) {
                    *result = msg->data.result;
                }
            }
            break;
        }
        if ((rc = mg_mcp_wait_over(w)) != 0) {
            break;
        }
        if (curl_multi_poll(m, NULL, 0, (int) mg_mcp_wait_slice(w), NULL) != CURLM_OK) {
            *result = CURLE_OUT_OF_MEMORY;
            break;
        }
    }
    curl_multi_remove_handle(m, curl);
    curl_multi_cleanup(m);
    return rc;
}

/* The excerpt of an error body, one line of printable text. */
static void
mg_mcp_http_excerpt(mg_sb_t *body, char *out, size_t outlen)
{
    size_t n = 0;

    for (size_t i = 0; i < body->len && n + 1 < outlen; i++) {
        unsigned char c = (unsigned char) body->p[i];

        out[n++] = (c < 0x20 || c == 0x7F) ? ' ' : (char) c;
    }
    out[n] = '\0';
}

/* Did the server forget our session?  404 is what the specification
 * says; servers made from the SDK's examples (the reference "everything"
 * server among them) answer 400 "No valid session ID provided" instead.
 * Either way the request was refused before it ran, so sending it again
 * in a new session is safe. */
static int
mg_mcp_http_expired(long status, const mg_sb_t *body)
{
    if (status == 404) {
        return 1;
    }
    if (status != 400 || body->p == NULL) {
        return 0;
    }
    for (size_t i = 0; i + 7 <= body->len; i++) {
        if (strncasecmp(body->p + i, "session", 7) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
mg_mcp_http_setup(mg_mcp_http_t *h, CURL *curl, struct curl_slist *headers, long total_ms,
                  char *why)
{
    long connect_ms = total_ms < MG_MCP_HTTP_CONNECT_MS ? total_ms : MG_MCP_HTTP_CONNECT_MS;

    return curl_easy_setopt(curl, CURLOPT_URL, h->url) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_USERAGENT, MG_MCP_HTTP_USER_AGENT) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK
           || curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why) != CURLE_OK
           || (h->ca_file != NULL && curl_easy_setopt(curl, CURLOPT_CAINFO, h->ca_file) != CURLE_OK)
           ? -1 : 0;
}

static void
mg_mcp_answer_init(mg_mcp_answer_t *p, mg_mcp_http_t *h, const char *session_id,
                   const char *version, const mg_mcp_wait_t *w)
{
    memset(p, 0, sizeof(*p));
    p->h = h;
    p->session_id = session_id;
    p->version = version;
    p->w = w;
    mg_sse_init(&p->sse, h->max);
}

static void
mg_mcp_answer_free(mg_mcp_answer_t *p)
{
    json_decref(p->resp);
    p->resp = NULL;
    free(p->session);
    p->session = NULL;
    free(mg_sb_done(&p->body));
    mg_sse_free(&p->sse);
}

/* Ready for another answer, keeping where the event stream was left. */
static void
mg_mcp_answer_reset(mg_mcp_answer_t *p)
{
    char    last_id[MG_SSE_ID_MAX];
    long    retry_ms = p->sse.retry_ms;

    memcpy(last_id, p->sse.last_id, sizeof(last_id));
    mg_mcp_answer_free(p);
    p->ctype[0] = '\0';
    p->kind = MG_MCP_BODY_UNKNOWN;
    p->too_big = 0;
    p->bad[0] = '\0';
    mg_sse_init(&p->sse, p->h->max);
    memcpy(p->sse.last_id, last_id, sizeof(last_id));
    p->sse.retry_ms = retry_ms;
}

/* POST body, or GET the server's stream (body NULL), from after last_id
 * when not NULL.  Runs until the answer ends, p has what it wanted, or p's
 * wait is over: then the wait's code; else MG_MCP_OK with *res, *status
 * and libcurl's words in why. */
static int
mg_mcp_http_exchange(mg_mcp_answer_t *p, const char *body, const char *last_id,
                     CURLcode *res, long *status, char *why)
{
    struct curl_slist   *headers = NULL;
    CURL                *curl = NULL;
    long                 total_ms = (long) (p->w->deadline - mg_now_ms());
    int                  rc = MG_MCP_OK;

    *res = CURLE_OK;
    *status = 0;
    p->get = (body == NULL);
    pthread_once(&mg_mcp_curl_once, mg_mcp_curl_init);
    if (total_ms < 1) {
        total_ms = 1;
    }
    if (mg_mcp_curl_rc != CURLE_OK || (curl = curl_easy_init()) == NULL
        || (headers = mg_mcp_http_headers(p->h, body != NULL ? MG_MCP_REQ_POST : MG_MCP_REQ_GET,
                                          p->session_id, p->version, last_id)) == NULL)
    {
        *res = CURLE_OUT_OF_MEMORY;
        snprintf(why, CURL_ERROR_SIZE, "libcurl unavailable (out of memory?)");
        goto done;
    }
    p->curl = curl;
    if (mg_mcp_http_setup(p->h, curl, headers, total_ms, why) != 0
        || (body != NULL
            && (curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t) strlen(body)) != CURLE_OK
                || curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK))
        /* a stream may be quiet for hours: keepalive finds a peer that vanished */
        || (body == NULL && curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK)
        || curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, mg_mcp_http_header) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_HEADERDATA, p) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mg_mcp_http_write) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEDATA, p) != CURLE_OK)
    {
        *res = CURLE_FAILED_INIT;
        snprintf(why, CURL_ERROR_SIZE, "libcurl refused an option");
        goto done;
    }
    rc = mg_mcp_http_run(curl, p->w, res);
    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);

done:
    p->curl = NULL;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/* What an exchange came to: MG_MCP_OK when p has the response (or, for a
 * notification, id < 0, the server accepted it); else a code and why in
 * err. */
static int
mg_mcp_http_outcome(mg_mcp_answer_t *p, long long id, int rc, CURLcode res, long status,
                    const char *why, char *err, size_t errlen)
{
    mg_mcp_http_t  *h = p->h;
    char            excerpt[MG_MCP_HTTP_EXCERPT + 1], reason[160];

    if (p->resp != NULL) {
        return MG_MCP_OK;                   /* it came, whatever happened after */
    }
    if (rc != MG_MCP_OK) {
        mg_errf(err, errlen, rc == MG_MCP_CANCELLED ? "cancelled" : "timed out");
        return rc;
    }
    if (res == CURLE_OPERATION_TIMEDOUT) {
        mg_errf(err, errlen, "timed out");
        return MG_MCP_TIMEOUT;
    }
    if (p->too_big) {
        mg_errf(err, errlen, "the MCP server %s sent a response over %zu bytes", h->name, h->max);
        return MG_MCP_FAILED;
    }
    if (p->bad[0] != '\0') {
        mg_errf(err, errlen, "the MCP server %s sent %s", h->name, p->bad);
        return MG_MCP_FAILED;
    }
    if (p->body.oom || res == CURLE_OUT_OF_MEMORY) {
        mg_errf(err, errlen, "out of memory");
        return MG_MCP_FAILED;
    }
    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && p->kind == MG_MCP_BODY_EXCERPT)) {
        if (status == 0) {
            mg_errf(err, errlen, "cannot reach the MCP server %s at %s: %s", h->name, h->url,
                    why[0] ? why : curl_easy_strerror(res));
        } else {
            mg_errf(err, errlen, "the connection to the MCP server %s failed: %s", h->name,
                    why[0] ? why : curl_easy_strerror(res));
        }
        return MG_MCP_FAILED;
    }
    if (p->session_id != NULL && mg_mcp_http_expired(status, &p->body)) {
        mg_errf(err, errlen, "the MCP server %s no longer knows the session", h->name);
        return MG_MCP_EXPIRED;
    }
    if (status / 100 != 2) {
        mg_mcp_http_excerpt(&p->body, excerpt, sizeof(excerpt));
        mg_errf(err, errlen, "the MCP server %s answered HTTP %ld%s%s", h->name, status,
                excerpt[0] ? ": " : "", excerpt);
        return MG_MCP_FAILED;
    }
    if (id < 0 && !p->get) {
        return MG_MCP_OK;                   /* a notification: accepted */
    }
    if (status == 202 || (p->kind == MG_MCP_BODY_UNKNOWN && p->body.len == 0)) {
        mg_errf(err, errlen, "the MCP server %s answered HTTP %ld without %s", h->name, status,
                p->get ? "an event stream" : "a response");
        return MG_MCP_FAILED;
    }
    if (p->kind == MG_MCP_BODY_EXCERPT) {
        mg_errf(err, errlen, "the MCP server %s answered with the type \"%.60s\" instead of %s",
                h->name, p->ctype[0] ? p->ctype : "none",
                p->get ? "text/event-stream" : "application/json or text/event-stream");
        return MG_MCP_FAILED;
    }
    if (p->kind == MG_MCP_BODY_SSE) {
        mg_errf(err, errlen, "the event stream of the MCP server %s ended without a response",
                h->name);
        return MG_MCP_FAILED;
    }
    {
        json_t *v = mg_rpc_parse(p->body.p != NULL ? p->body.p : "", p->body.len, reason,
                                 sizeof(reason));

        if (v == NULL) {
            mg_errf(err, errlen, "the MCP server %s sent a response that is %s", h->name, reason);
            return MG_MCP_FAILED;
        }
        mg_mcp_http_messages(p, v);
        json_decref(v);
    }
    if (p->resp == NULL) {
        mg_errf(err, errlen, "the MCP server %s sent %s", h->name,
                p->bad[0] ? p->bad : "no response in its answer");
        return MG_MCP_FAILED;
    }
    return MG_MCP_OK;
}

/* An event stream that ended or broke before our response, after an event
 * with an id: the server can send the rest on a GET. */
static int
mg_mcp_http_resumable(const mg_mcp_answer_t *p, CURLcode res, long status)
{
    return p->kind == MG_MCP_BODY_SSE && status / 100 == 2 && p->sse.last_id[0] != '\0'
           && !p->too_big && p->bad[0] == '\0' && !p->body.oom
           && res != CURLE_OPERATION_TIMEDOUT && res != CURLE_OUT_OF_MEMORY;
}

/* Sleep ms, or until w is over: 0 or the wait's code. */
static int
mg_mcp_http_pause(const mg_mcp_wait_t *w, long ms)
{
    long long   until = mg_now_ms() + ms;
    int         rc;

    while ((rc = mg_mcp_wait_over(w)) == 0 && mg_now_ms() < until) {
        long long       left = until - mg_now_ms();
        long            slice = mg_mcp_wait_slice(w);
        struct timespec ts;

        if (left < slice) {
            slice = left > 0 ? (long) left : 1;
        }
        ts.tv_sec = slice / 1000;
        ts.tv_nsec = (slice % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    return rc;
}

int
mg_mcp_http_post(mg_mcp_http_t *h, const char *body, long long id,
                 const char *session_id, const char *version, const mg_mcp_wait_t *w,
                 json_t **resp, char **session_out, char *err, size_t errlen)
{
    mg_mcp_answer_t  p;
    CURLcode         res;
    char             why[CURL_ERROR_SIZE] = "", last_id[MG_SSE_ID_MAX], first[300];
    long             status = 0;
    int              rc, resumes;

    if (session_out != NULL) {
        *session_out = NULL;
    }
    mg_mcp_answer_init(&p, h, session_id, version, w);
    p.quiet = (id < 0 || version == NULL);
    rc = mg_mcp_http_exchange(&p, body, NULL, &res, &status, why);
    rc = mg_mcp_http_outcome(&p, id, rc, res, status, why, err, errlen);

    for (resumes = 0; rc == MG_MCP_FAILED && id >= 0 && mg_mcp_http_resumable(&p, res, status);
         resumes++)
    {
        if (resumes == MG_MCP_HTTP_RESUMES_MAX) {
            mg_errf(err, errlen, "the event stream of the MCP server %s broke %d times before "
                    "the response", h->name, resumes);
            break;
        }
        snprintf(first, sizeof(first), "%s", err);
        snprintf(last_id, sizeof(last_id), "%s", p.sse.last_id);
        rc = mg_mcp_http_pause(w, p.sse.retry_ms >= 0 ? p.sse.retry_ms : MG_MCP_HTTP_RETRY_MS);
        if (rc != MG_MCP_OK) {
            mg_errf(err, errlen, rc == MG_MCP_CANCELLED ? "cancelled" : "timed out");
            break;
        }
        mg_log_debug("mcp %s: resuming the event stream after event %s", h->name, last_id);
        mg_mcp_answer_reset(&p);
        why[0] = '\0';
        rc = mg_mcp_http_exchange(&p, NULL, last_id, &res, &status, why);
        rc = mg_mcp_http_outcome(&p, id, rc, res, status, why, err, errlen);
        if (rc == MG_MCP_EXPIRED || (rc == MG_MCP_FAILED && !mg_mcp_http_resumable(&p, res, status))) {
            /* never MG_MCP_EXPIRED here: the request reached the server, and
             * sending it again in a new session could run it twice */
            snprintf(why, sizeof(why), "%s", err);
            mg_errf(err, errlen, "%s, and resuming it failed: %s", first, why);
            rc = MG_MCP_FAILED;
        }
    }

    if (rc == MG_MCP_OK) {
        if (id >= 0) {
            *resp = p.resp;
            p.resp = NULL;
        }
        if (session_out != NULL) {
            *session_out = p.session;
            p.session = NULL;
        }
    }
    mg_mcp_answer_free(&p);
    return rc;
}

int
mg_mcp_http_listen(mg_mcp_http_t *h, const char *session_id, const char *version,
                   mg_mcp_resume_t *at, const mg_mcp_wait_t *w, int *opened, long *status,
                   char *err, size_t errlen)
{
    mg_mcp_answer_t  p;
    CURLcode         res;
    char             why[CURL_ERROR_SIZE] = "";
    int              rc;

    mg_mcp_answer_init(&p, h, session_id, version, w);
    p.listening = 1;
    memcpy(p.sse.last_id, at->last_id, sizeof(p.sse.last_id));
    p.sse.retry_ms = at->retry_ms;
    rc = mg_mcp_http_exchange(&p, NULL, at->last_id[0] != '\0' ? at->last_id : NULL, &res,
                              status, why);
    *opened = (p.kind == MG_MCP_BODY_SSE);
    memcpy(at->last_id, p.sse.last_id, sizeof(at->last_id));
    at->retry_ms = p.sse.retry_ms;
    if (*opened && rc == MG_MCP_OK) {
        /* it ended or broke: either way the caller listens again */
        if (res != CURLE_OK || p.bad[0] != '\0' || p.too_big) {
            mg_log_debug("mcp %s: the server's stream ended: %s", h->name,
                         p.bad[0] ? p.bad : p.too_big ? "an event too large"
                                          : why[0] ? why : curl_easy_strerror(res));
        }
    } else if (!*opened) {
        rc = mg_mcp_http_outcome(&p, -1, rc, res, *status, why, err, errlen);
        if (rc == MG_MCP_OK) {
            rc = MG_MCP_FAILED;             /* 2xx, yet no stream: said in err */
        }
    } else {
        mg_errf(err, errlen, rc == MG_MCP_CANCELLED ? "cancelled" : "timed out");
    }
    mg_mcp_answer_free(&p);
    return rc;
}

static size_t
mg_mcp_http_discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

void
mg_mcp_http_delete(mg_mcp_http_t *h, const char *session_id, const char *version,
                   long timeout_ms)
{
    struct curl_slist  *headers = NULL;
    CURL               *curl = NULL;
    char                why[CURL_ERROR_SIZE] = "";

    pthread_once(&mg_mcp_curl_once, mg_mcp_curl_init);
    if (session_id == NULL || mg_mcp_curl_rc != CURLE_OK || (curl = curl_easy_init()) == NULL
        || (headers = mg_mcp_http_headers(h, MG_MCP_REQ_DELETE, session_id, version,
                                          NULL)) == NULL)
    {
        goto done;
    }
    if (mg_mcp_http_setup(h, curl, headers, timeout_ms, why) == 0
        && curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK
        && curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mg_mcp_http_discard) == CURLE_OK)
    {
        /* 405 is allowed: a server that lets sessions expire on their own */
        (void) curl_easy_perform(curl);
    }

done:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}
