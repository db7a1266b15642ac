/*
 * mg_http_get: one blocking, bounded HTTP(S) GET (or POST) with libcurl,
 * for the worker's few outbound calls (the JWKS, container credentials,
 * Cognito's token endpoint).  The body is capped in bytes and the
 * transfer in time; redirects are not followed; MANGOO_CA_FILE, when set,
 * names the CA bundle to trust.
 */
#ifndef MG_HTTP_GET_H
#define MG_HTTP_GET_H

#include <stddef.h>

#include <curl/curl.h>

typedef struct {
    const struct curl_slist  *headers;     /* extra request headers, or NULL */
    size_t                    max_bytes;   /* a longer body aborts the transfer */
    long                      connect_ms;  /* 0: libcurl's default */
    long                      total_ms;
    int                       no_proxy;    /* 1: ignore http_proxy and friends */
    const char               *post;        /* a request body to POST; NULL: GET */
    size_t                    post_len;
} mg_http_get_opts_t;

#define MG_HTTP_GET_OK        0     /* an answer came: *status, *body, *len set */
#define MG_HTTP_GET_SETUP    (-1)   /* libcurl unavailable or refused an option */
#define MG_HTTP_GET_FAILED   (-2)   /* the transfer failed: err says why */
#define MG_HTTP_GET_TOO_BIG  (-3)   /* the body was over max_bytes */

/* GET url (POST o->post when it is set; its Content-Type goes in
 * o->headers).  On MG_HTTP_GET_OK, whatever the HTTP status, *body is the
 * malloc'd answer with a NUL after its *len bytes (NULL when it was
 * empty), for the caller to free.  Otherwise *body is NULL, err (if not
 * NULL) says why, and any partial body was wiped before it was freed. */
int mg_http_get(const char *url, const mg_http_get_opts_t *o, char **body, size_t *len,
                long *status, char *err, size_t errlen);

/* application/x-www-form-urlencoded text of npairs name/value pairs
 * (pairs[2i] the name, pairs[2i + 1] the value; a pair whose value is
 * NULL is left out), every byte but A-Z a-z 0-9 - . _ ~ percent-encoded:
 * a malloc'd string for the caller to free, or NULL when out of memory. */
char *mg_http_form(const char *const *pairs, size_t npairs);

#endif
