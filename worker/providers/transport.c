/*
 * mg_transport: the provider connections of the stream engine.
 *
 * Choices, and why:
 *   - CURLPIPE_MULTIPLEX with CURL_HTTP_VERSION_2TLS: https:// offers h2
 *     and http/1.1 by ALPN, the server picks; http:// never tries h2c.
 *   - CURLOPT_PIPEWAIT: a new stream waits for a connection being set up
 *     to its origin instead of opening its own, so a burst of streams
 *     shares one handshake.  libcurl (7.88) lets waiting streams start one
 *     connection at a time when that connection turns out HTTP/1.1, which
 *     would queue every stream behind the handshakes of the others; so an
 *     origin seen answering in HTTP/1.1 is remembered for a while and its
 *     streams do not wait.
 *   - At most MG_TRANSPORT_STREAMS_PER_CONN (20) streams a connection (the
 *     server's SETTINGS may say fewer).  libcurl 7.88 runs every transfer
 *     of a connection on each of its socket events, so the worker's CPU per
 *     event grows with the streams a connection carries (bench hold of
 *     2,000 Bedrock streams: 45 us over HTTP/1.1 in the clear, 83 at 20 a
 *     connection, 157 at 100), while a TLS connection's memory shared by
 *     20 streams is about 4 KiB a stream.  No cap on connections per host:
 *     libcurl would queue the streams over it until another transfer ends;
 *     the engine's max_streams bounds the whole.  (PIPEWAIT covers a
 *     connection's first setup only: in a burst past a full connection,
 *     libcurl 7.88 opens one for each new stream until one is up.)
 *   - A share handle keeps TLS sessions across easy handles: each
 *     stream's handle is new, and without it every connection would do a
 *     full handshake.  (The multi handle already shares connections and
 *     DNS among its transfers.)
 *   - The receive buffer: over HTTP/1.1 libcurl's smallest (1 KiB), as an
 *     event is a few hundred bytes and every open stream holds one.  Where
 *     HTTP/2 may be spoken, 16 KiB, the largest DATA frame a server may
 *     send us: libcurl 7.88 keeps the rest of a frame that did not fit and
 *     delivers it only on the connection's next read, so the end of an
 *     answer could wait for the idle timeout (seen with the bench's fake).
 *   - SSL_MODE_RELEASE_BUFFERS: an idle TLS connection gives OpenSSL's
 *     record buffers back (a KiB or so a connection in the bench; most of
 *     a TLS connection's memory is the SSL_CTX libcurl makes for each).
 */
#include "providers/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

typedef struct {
    char       origin[MG_TRANSPORT_ORIGIN_MAX];     /* "" when free */
    long long  seen_ms;
} mg_h1_origin_t;

struct mg_transport_s {
    CURLSH          *share;
    mg_h1_origin_t   h1[MG_TRANSPORT_H1_ORIGINS];
};

/* The authority of an https:// URL into out; 0 when url is not https://
 * or its authority does not fit. */
static int
mg_transport_origin(const char *url, char *out, size_t cap)
{
    size_t n;

    if (url == NULL || strncasecmp(url, "https://", 8) != 0) {
        return 0;
    }
    url += 8;
    n = strcspn(url, "/?#");
    if (n == 0 || n >= cap) {
        return 0;
    }
    memcpy(out, url, n);
    out[n] = '\0';
    return 1;
}

static mg_h1_origin_t *
mg_transport_find(mg_transport_t *t, const char *origin, long long now_ms)
{
    for (int i = 0; i < MG_TRANSPORT_H1_ORIGINS; i++) {
        mg_h1_origin_t *o = &t->h1[i];

        if (o->origin[0] != '\0' && now_ms - o->seen_ms > MG_TRANSPORT_H1_FORGET_MS) {
            o->origin[0] = '\0';            /* it may offer h2 by now */
        }
        if (o->origin[0] != '\0' && strcmp(o->origin, origin) == 0) {
            return o;
        }
    }
    return NULL;
}

int
mg_transport_wait(mg_transport_t *t, const char *url, long long now_ms)
{
    char origin[MG_TRANSPORT_ORIGIN_MAX];

    return mg_transport_origin(url, origin, sizeof(origin))
           && mg_transport_find(t, origin, now_ms) == NULL;
}

void
mg_transport_note(mg_transport_t *t, const char *url, int major, long long now_ms)
{
    char             origin[MG_TRANSPORT_ORIGIN_MAX];
    mg_h1_origin_t  *o;

    if (!mg_transport_origin(url, origin, sizeof(origin))) {
        return;
    }
    o = mg_transport_find(t, origin, now_ms);
    if (major >= 2) {
        if (o != NULL) {
            o->origin[0] = '\0';
        }
        return;
    }
    if (o == NULL) {
        /* a free slot, else the one seen longest ago */
        o = &t->h1[0];
        for (int i = 0; i < MG_TRANSPORT_H1_ORIGINS && o->origin[0] != '\0'; i++) {
            if (t->h1[i].origin[0] == '\0' || t->h1[i].seen_ms < o->seen_ms) {
                o = &t->h1[i];
            }
        }
        memcpy(o->origin, origin, strlen(origin) + 1);
    }
    o->seen_ms = now_ms;
}

static CURLcode
mg_transport_ssl_ctx(CURL *easy, void *ssl_ctx, void *ud)
{
    SSL_CTX_set_mode((SSL_CTX *) ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    return CURLE_OK;
}

mg_transport_t *
mg_transport_new(CURLM *multi, char *err, size_t errlen)
{
    mg_transport_t *t = calloc(1, sizeof(*t));

    if (t == NULL || (t->share = curl_share_init()) == NULL) {
        snprintf(err, errlen, "out of memory");
        mg_transport_free(t);
        return NULL;
    }
    if (curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK
        || curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
                             MG_TRANSPORT_STREAMS_PER_CONN) != CURLM_OK)
    {
        snprintf(err, errlen, "libcurl refuses HTTP/2 multiplexing or a share handle");
        mg_transport_free(t);
        return NULL;
    }
    return t;
}

void
mg_transport_free(mg_transport_t *t)
{
    if (t == NULL) {
        return;
    }
    if (t->share != NULL) {
        curl_share_cleanup(t->share);
    }
    free(t);
}

int
mg_transport_easy(mg_transport_t *t, CURL *easy, const char *ca_file,
                  long connect_timeout_ms, long long now_ms)
{
    char     *url = NULL;
    int       h2;
    CURLcode  rc;

    if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK) {
        return -1;
    }
    h2 = mg_transport_wait(t, url, now_ms);
    if (curl_easy_setopt(easy, CURLOPT_SHARE, t->share) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_PIPEWAIT, (long) h2) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_BUFFERSIZE,
                            h2 ? MG_TRANSPORT_H2_BUFFER : MG_TRANSPORT_H1_BUFFER) != CURLE_OK
        || (ca_file != NULL && curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file) != CURLE_OK))
    {
        return -1;
    }
    /* only the OpenSSL backend has it (Debian's libcurl4-openssl): on
     * another backend the buffers stay, nothing else changes */
    rc = curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, mg_transport_ssl_ctx);
    if (rc != CURLE_OK && rc != CURLE_NOT_BUILT_IN && rc != CURLE_UNKNOWN_OPTION) {
        return -1;
    }
    return 0;
}

void
mg_transport_learn(mg_transport_t *t, CURL *easy, long long now_ms)
{
    char  *url = NULL;
    long   version = 0;

    if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK
        || curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version) != CURLE_OK
        || version == 0)
    {
        return;                             /* nothing learned: streams keep waiting */
    }
    mg_transport_note(t, url, version >= CURL_HTTP_VERSION_2_0 ? 2 : 1, now_ms);
}
