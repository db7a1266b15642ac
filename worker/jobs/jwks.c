/*
 * jwks: the "jwks.fetch" job, the module's own (it is in no route, so no
 * client can ask for it): fetch the identity provider's JWKS over HTTPS
 * for nginx, which must not do network I/O in its event loop.  The module
 * parses and checks the set; here we only fetch, bounded in size and time.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http_get.h"
#include "util/log.h"

#define MG_JWKS_MAX_BYTES   (1024 * 1024)
#define MG_JWKS_TIMEOUT_MS  5000L

int
mg_job_jwks_fetch(mg_job_t *job)
{
    static const mg_http_get_opts_t  get = {
        .max_bytes = MG_JWKS_MAX_BYTES, .total_ms = MG_JWKS_TIMEOUT_MS
    };
    const char  *url;
    char        *body;
    size_t       len;
    long         status;
    char         msg[CURL_ERROR_SIZE + 64];
    int          rc, sent;

    url = json_string_value(json_object_get(job->params, "url"));
    if (url == NULL || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        return mg_job_reply_error(job, 400, "invalid_field", "jwks.fetch needs an http(s) url");
    }

    rc = mg_http_get(url, &get, &body, &len, &status, msg, sizeof(msg));
    if (rc == MG_HTTP_GET_SETUP) {
        mg_log_error("jwks.fetch rid=%s: %s", job->rid, msg);
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    if (rc != MG_HTTP_GET_OK || status != 200) {
        if (rc == MG_HTTP_GET_TOO_BIG) {
            snprintf(msg, sizeof(msg), "JWKS larger than 1 MiB");
        } else if (rc == MG_HTTP_GET_OK) {
            snprintf(msg, sizeof(msg), "the JWKS URL answered HTTP %ld", status);
        }
        mg_log_warn("jwks.fetch rid=%s: %s: %s", job->rid, url, msg);
        sent = mg_job_reply_error(job, 502, "jwks_fetch_failed", msg);
    } else {
        sent = mg_job_reply_raw(job, 200, body ? body : "", len, NULL);
    }
    free(body);
    return sent;
}
