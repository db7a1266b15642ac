/*
 * jwks: the "jwks.fetch" job, the module's own (it is in no route, so no
 * client can ask for it): fetch the identity provider's JWKS over HTTPS
 * for nginx, which must not do network I/O in its event loop.  The module
 * parses and checks the set; here we only fetch, bounded in size and time.
 */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"

#define MG_JWKS_MAX_BYTES   (1024 * 1024)
#define MG_JWKS_TIMEOUT_MS  5000L

typedef struct {
    char    *data;
    size_t   len;
    int      too_big;
} mg_jwks_buf_t;

static pthread_once_t mg_curl_once = PTHREAD_ONCE_INIT;
static CURLcode       mg_curl_init_rc;

static void
mg_curl_init(void)
{
    mg_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
mg_jwks_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mg_jwks_buf_t  *b = userdata;
    size_t          n = size * nmemb;
    char           *grown;

    if (b->len + n > MG_JWKS_MAX_BYTES) {
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
    return n;
}

int
mg_job_jwks_fetch(mg_job_t *job)
{
    const char     *url, *ca;
    CURL           *curl = NULL;
    CURLcode        rc;
    long            status = 0;
    mg_jwks_buf_t   buf = { NULL, 0, 0 };
    char            why[CURL_ERROR_SIZE] = "";
    int             sent;

    url = json_string_value(json_object_get(job->params, "url"));
    if (url == NULL || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        return mg_job_reply_error(job, 400, "invalid_field", "jwks.fetch needs an http(s) url");
    }

    pthread_once(&mg_curl_once, mg_curl_init);
    if (mg_curl_init_rc != CURLE_OK || (curl = curl_easy_init()) == NULL) {
        mg_log_error("jwks.fetch rid=%s: libcurl unavailable", job->rid);
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }

    ca = getenv("MANGOO_CA_FILE");      /* a private CA (and the tests') */
    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, MG_JWKS_TIMEOUT_MS) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mg_jwks_write) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf) != CURLE_OK
        || (ca != NULL && *ca != '\0'
            && curl_easy_setopt(curl, CURLOPT_CAINFO, ca) != CURLE_OK))
    {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }

    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    if (rc != CURLE_OK || status != 200) {
        char msg[CURL_ERROR_SIZE + 64];

        if (rc != CURLE_OK) {
            snprintf(msg, sizeof(msg), "%s", buf.too_big ? "JWKS larger than 1 MiB"
                     : why[0] ? why : curl_easy_strerror(rc));
        } else {
            snprintf(msg, sizeof(msg), "the JWKS URL answered HTTP %ld", status);
        }
        mg_log_warn("jwks.fetch rid=%s: %s: %s", job->rid, url, msg);
        sent = mg_job_reply_error(job, 502, "jwks_fetch_failed", msg);
        goto done;
    }

    sent = mg_job_reply_raw(job, 200, buf.data ? buf.data : "", buf.len, NULL);

done:
    free(buf.data);
    curl_easy_cleanup(curl);
    return sent;
}
