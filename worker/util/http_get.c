/*
 * mg_http_get: the blocking GET or POST behind mg_http_get.h.  The body grows in
 * one buffer through the write callback, which aborts the transfer past
 * the cap.  libcurl's global setup is done once here too, for callers
 * (the unit tests) that run without main's.
 *
 * Every call has a new easy handle, from any pool or ingest thread, so TLS
 * sessions and DNS answers live in one share handle for the process
 * (made with the global setup, kept until exit like it), its data guarded
 * by a mutex a kind: a second call to the same host (the embeddings of a
 * document, a token endpoint) resumes its TLS session.
 */
#include "util/http_get.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

typedef struct {
    char    *data;
    size_t   len;
    size_t   max;
    int      too_big;
} mg_http_body_t;

static pthread_once_t   mg_http_curl_once = PTHREAD_ONCE_INIT;
static CURLcode         mg_http_curl_rc;
static CURLSH          *mg_http_share;          /* NULL: each call on its own */
static pthread_mutex_t  mg_http_share_locks[CURL_LOCK_DATA_LAST];

static void
mg_http_share_lock(CURL *curl, curl_lock_data data, curl_lock_access access, void *ud)
{
    pthread_mutex_lock(&mg_http_share_locks[data]);
}

static void
mg_http_share_unlock(CURL *curl, curl_lock_data data, void *ud)
{
    pthread_mutex_unlock(&mg_http_share_locks[data]);
}

static void
mg_http_curl_init(void)
{
    /* reference-counted: harmless after main's own call */
    mg_http_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mg_http_curl_rc != CURLE_OK) {
        return;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&mg_http_share_locks[i], NULL);
    }
    mg_http_share = curl_share_init();
    if (mg_http_share != NULL
        && (curl_share_setopt(mg_http_share, CURLSHOPT_LOCKFUNC, mg_http_share_lock) != CURLSHE_OK
            || curl_share_setopt(mg_http_share, CURLSHOPT_UNLOCKFUNC, mg_http_share_unlock)
               != CURLSHE_OK
            || curl_share_setopt(mg_http_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)
               != CURLSHE_OK
            || curl_share_setopt(mg_http_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK))
    {
        curl_share_cleanup(mg_http_share);      /* calls still work, without resumption */
        mg_http_share = NULL;
    }
}

static size_t
mg_http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mg_http_body_t  *b = userdata;
    size_t           n = size * nmemb;
    char            *grown;

    if (b->len + n > b->max) {
        b->too_big = 1;
        return 0;                       /* aborts the transfer */
    }
    grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int
mg_http_get(const char *url, const mg_http_get_opts_t *o, char **body, size_t *len,
            long *status, char *err, size_t errlen)
{
    CURL            *curl;
    CURLcode         rc;
    mg_http_body_t   b = { NULL, 0, o->max_bytes, 0 };
    char             why[CURL_ERROR_SIZE] = "";
    const char      *ca = getenv("MANGOO_CA_FILE");     /* a private CA (and the tests') */
    int              ret;

    *body = NULL;
    *len = 0;
    *status = 0;
    pthread_once(&mg_http_curl_once, mg_http_curl_init);
    if (mg_http_curl_rc != CURLE_OK || (curl = curl_easy_init()) == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "libcurl unavailable");
        }
        return MG_HTTP_GET_SETUP;
    }

    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || (mg_http_share != NULL
            && curl_easy_setopt(curl, CURLOPT_SHARE, mg_http_share) != CURLE_OK)
        || (o->connect_ms > 0
            && curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o->connect_ms) != CURLE_OK)
        || curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->total_ms) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
        || (o->no_proxy && curl_easy_setopt(curl, CURLOPT_PROXY, "") != CURLE_OK)
        || (o->headers != NULL
            && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, o->headers) != CURLE_OK)
        || (o->post != NULL
            && (curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t) o->post_len) != CURLE_OK
                || curl_easy_setopt(curl, CURLOPT_POSTFIELDS, o->post) != CURLE_OK))
        || curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mg_http_write) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b) != CURLE_OK
        || (ca != NULL && ca[0] != '\0' && curl_easy_setopt(curl, CURLOPT_CAINFO, ca) != CURLE_OK))
    {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "libcurl refused an option");
        }
        ret = MG_HTTP_GET_SETUP;
        goto done;
    }

    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s", why[0] ? why : curl_easy_strerror(rc));
        }
        ret = b.too_big ? MG_HTTP_GET_TOO_BIG : MG_HTTP_GET_FAILED;
        goto done;
    }
    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    *body = b.data;
    *len = b.len;
    b.data = NULL;
    ret = MG_HTTP_GET_OK;

done:
    if (b.data != NULL) {
        OPENSSL_cleanse(b.data, b.len);
        free(b.data);
    }
    curl_easy_cleanup(curl);
    return ret;
}

static int
mg_http_form_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

char *
mg_http_form(const char *const *pairs, size_t npairs)
{
    static const char   hex[] = "0123456789ABCDEF";
    size_t              cap = 1;
    char               *out, *p;

    for (size_t i = 0; i < npairs; i++) {
        if (pairs[2 * i + 1] != NULL) {
            cap += 3 * (strlen(pairs[2 * i]) + strlen(pairs[2 * i + 1])) + 2;
        }
    }
    out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    p = out;
    for (size_t i = 0; i < npairs; i++) {
        if (pairs[2 * i + 1] == NULL) {
            continue;
        }
        if (p != out) {
            *p++ = '&';
        }
        for (int part = 0; part < 2; part++) {
            for (const unsigned char *s = (const unsigned char *) pairs[2 * i + part]; *s; s++) {
                if (mg_http_form_plain(*s)) {
                    *p++ = (char) *s;
                } else {
                    *p++ = '%';
                    *p++ = hex[*s >> 4];
                    *p++ = hex[*s & 0x0f];
                }
            }
            if (part == 0) {
                *p++ = '=';
            }
        }
    }
    *p = '\0';
    return out;
}
