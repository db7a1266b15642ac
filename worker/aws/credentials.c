/*
 * mg_aws_credentials: owns the process-wide cache of container
 * credentials.  One mutex guards the cache, the "a thread is fetching"
 * flag, the retry delay and the last error; the fetch itself runs outside
 * the lock, so threads holding still-valid credentials never wait on the
 * network, and those with none wait on a condition for the one fetch.
 * A reset bumps a generation so a fetch started before it cannot refill
 * the cache afterwards.  Secrets are wiped when the cache is dropped and
 * never logged.
 */
#include "aws/credentials.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "util/clock.h"
#include "util/errf.h"
#include "util/http_get.h"
#include "util/log.h"

#define MG_AWS_ECS_HOST            "http://169.254.170.2"
#define MG_AWS_CONNECT_TIMEOUT_MS  1000L
#define MG_AWS_TIMEOUT_MS          3000L
#define MG_AWS_MAX_BODY            (64 * 1024)
#define MG_AWS_MAX_TOKEN_FILE      (16 * 1024)
#define MG_AWS_URL_MAX             2048

static pthread_mutex_t  mg_aws_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t   mg_aws_fetched = PTHREAD_COND_INITIALIZER;
static mg_aws_creds_t   mg_aws_cache;
static int              mg_aws_cached;          /* mg_aws_cache holds fetched credentials */
static int              mg_aws_fetching;        /* a thread is fetching now */
static long long        mg_aws_retry_ms;        /* monotonic: no fetch before this */
static char             mg_aws_last_err[256];
static unsigned         mg_aws_generation;


/* The variable's value, or NULL when unset or empty. */
static const char *
mg_aws_env(const char *name)
{
    const char  *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Copy src into dst[size]; -1 when it does not fit. */
static int
mg_aws_copy(char *dst, size_t size, const char *src)
{
    size_t  n = strlen(src);

    if (n >= size) {
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}


/* Settings */

int
mg_aws_creds_configured(void)
{
    return mg_aws_env("AWS_BEARER_TOKEN_BEDROCK") != NULL
           || mg_aws_env("AWS_ACCESS_KEY_ID") != NULL
           || mg_aws_env("AWS_SECRET_ACCESS_KEY") != NULL
           || mg_aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL
           || mg_aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL;
}

const char *
mg_aws_bearer_token(void)
{
    return mg_aws_env("AWS_BEARER_TOKEN_BEDROCK");
}

const char *
mg_aws_region(void)
{
    const char  *r = mg_aws_env("AWS_REGION");

    if (r == NULL) {
        r = mg_aws_env("AWS_DEFAULT_REGION");
    }
    return r != NULL ? r : "us-east-1";
}

int
mg_aws_bedrock_endpoint(char *out, size_t len)
{
    const char  *url = mg_aws_env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
    const char  *region, *p;
    size_t       n;

    if (url == NULL) {
        url = mg_aws_env("AWS_ENDPOINT_URL");
    }
    if (url != NULL) {
        if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
            return -1;
        }
        n = strlen(url);
        while (n > 0 && url[n - 1] == '/') {
            n--;
        }
        if (n >= len) {
            return -1;
        }
        memcpy(out, url, n);
        out[n] = '\0';
        return 0;
    }
    region = mg_aws_region();
    for (p = region; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            return -1;
        }
    }
    n = (size_t) snprintf(out, len, "https://bedrock-runtime.%s.amazonaws.com", region);
    return n < len ? 0 : -1;
}

/* An http:// host credentials may be fetched from in the clear: loopback,
 * or the ECS (169.254.170.2) and EKS Pod Identity agents. */
static int
mg_aws_host_allowed(const char *host, size_t n)
{
    char             h[64];
    struct in_addr   a4;
    struct in6_addr  a6, eks6;

    if (n == 0 || n >= sizeof(h)) {
        return 0;
    }
    memcpy(h, host, n);
    h[n] = '\0';
    if (strcasecmp(h, "localhost") == 0) {
        return 1;
    }
    if (inet_pton(AF_INET, h, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127
               || strcmp(h, "169.254.170.2") == 0 || strcmp(h, "169.254.170.23") == 0;
    }
    if (h[0] == '[' && h[n - 1] == ']') {
        h[n - 1] = '\0';
        if (inet_pton(AF_INET6, h + 1, &a6) == 1
            && inet_pton(AF_INET6, "fd00:ec2::23", &eks6) == 1)
        {
            return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0
                   || memcmp(&a6, &eks6, sizeof(a6)) == 0;
        }
    }
    return 0;
}

int
mg_aws_container_url(char *out, size_t len, char *err, size_t errlen)
{
    const char  *rel = mg_aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char  *full = mg_aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char  *host, *end, *colon;
    size_t       n;

    if (rel != NULL) {
        if (rel[0] != '/') {
            mg_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
            return -1;
        }
        if ((size_t) snprintf(out, len, "%s%s", MG_AWS_ECS_HOST, rel) >= len) {
            mg_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is too long");
            return -1;
        }
        return 1;
    }
    if (full == NULL) {
        return 0;
    }
    if (strncmp(full, "https://", 8) != 0) {
        if (strncmp(full, "http://", 7) != 0) {
            mg_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http(s) URL");
            return -1;
        }
        host = full + 7;
        n = strcspn(host, "/?#");
        end = host + n;
        if (memchr(host, '@', n) != NULL) {
            mg_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must not hold a user");
            return -1;
        }
        colon = host[0] == '[' ? memchr(host, ']', n) : host;
        colon = colon != NULL ? memchr(colon, ':', (size_t) (end - colon)) : NULL;
        if (!mg_aws_host_allowed(host, (size_t) ((colon != NULL ? colon : end) - host))) {
            mg_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI over http must name "
                    "a loopback address or the ECS/EKS agent; use https otherwise");
            return -1;
        }
    }
    if (mg_aws_copy(out, len, full) != 0) {
        mg_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI is too long");
        return -1;
    }
    return 1;
}

/* The Authorization value for the container endpoint into out: the token
 * file (read on every fetch: the agent rotates it), else the variable.
 * 1 with one, 0 without, -1 with err. */
static int
mg_aws_container_auth(char *out, size_t len, char *err, size_t errlen)
{
    const char  *path = mg_aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char  *tok = mg_aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char  *what = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
    FILE        *f;
    size_t       n, i;

    if (path != NULL) {
        what = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
        f = fopen(path, "rb");
        if (f == NULL) {
            mg_errf(err, errlen, "%s: cannot read %s: %s", what, path, strerror(errno));
            return -1;
        }
        n = fread(out, 1, len - 1, f);
        if (ferror(f) || (n == len - 1 && fgetc(f) != EOF)) {
            mg_errf(err, errlen, "%s: %s is unreadable or too long", what, path);
            fclose(f);
            return -1;
        }
        fclose(f);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '
                         || out[n - 1] == '\t'))
        {
            n--;
        }
        out[n] = '\0';
        if (n == 0) {
            mg_errf(err, errlen, "%s: %s is empty", what, path);
            return -1;
        }
    } else if (tok != NULL) {
        if (mg_aws_copy(out, len, tok) != 0) {
            mg_errf(err, errlen, "%s is too long", what);
            return -1;
        }
    } else {
        return 0;
    }
    /* it goes into a header line: no control characters */
    for (i = 0; out[i] != '\0'; i++) {
        if ((unsigned char) out[i] < 0x20 && out[i] != '\t') {
            mg_errf(err, errlen, "%s holds a control character", what);
            return -1;
        }
    }
    return 1;
}


/* Fetching */

/* ISO 8601 UTC time as the endpoint writes it, "2026-11-24T12:00:00Z",
 * with optional fractional seconds and a numeric offset instead of Z. */
static int
mg_aws_parse_time(const char *s, time_t *out)
{
    struct tm  tm;
    int        used = 0, oh, om;
    long       off = 0;
    char       sign;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 || used != 19)
    {
        return -1;
    }
    s += used;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
        }
    }
    if (*s == 'Z' && s[1] == '\0') {
        off = 0;
    } else if ((*s == '+' || *s == '-')
               && sscanf(s, "%c%2d:%2d%n", &sign, &oh, &om, &used) == 3 && s[used] == '\0'
               && oh <= 23 && om <= 59)
    {
        off = (sign == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31
        || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm) - off;
    return 0;
}

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} into out. */
static int
mg_aws_parse_creds(const char *body, size_t len, mg_aws_creds_t *out, char *err,
                   size_t errlen)
{
    json_t      *j = json_loadb(body, len, 0, NULL);
    const char  *akid, *secret, *token, *exp;
    int          rc = -1;

    if (!json_is_object(j)) {
        mg_errf(err, errlen, "the credentials endpoint answered something that is not "
                "a JSON object");
        goto done;
    }
    akid = json_string_value(json_object_get(j, "AccessKeyId"));
    secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    token = json_string_value(json_object_get(j, "Token"));
    exp = json_string_value(json_object_get(j, "Expiration"));
    if (akid == NULL || akid[0] == '\0' || secret == NULL || secret[0] == '\0') {
        mg_errf(err, errlen, "the credentials endpoint's answer lacks AccessKeyId or "
                "SecretAccessKey");
        goto done;
    }
    if (exp == NULL || mg_aws_parse_time(exp, &out->expiration) != 0) {
        mg_errf(err, errlen, "the credentials endpoint's answer has no valid Expiration");
        goto done;
    }
    if (mg_aws_copy(out->access_key_id, sizeof(out->access_key_id), akid) != 0
        || mg_aws_copy(out->secret_access_key, sizeof(out->secret_access_key), secret) != 0
        || mg_aws_copy(out->session_token, sizeof(out->session_token),
                       token != NULL ? token : "") != 0)
    {
        mg_errf(err, errlen, "the credentials endpoint's answer has a field too long");
        goto done;
    }
    if (out->expiration <= time(NULL)) {
        mg_errf(err, errlen, "the credentials endpoint answered expired credentials "
                "(Expiration %s)", exp);
        goto done;
    }
    rc = 0;

done:
    json_decref(j);
    if (rc != 0) {
        OPENSSL_cleanse(out, sizeof(*out));
    }
    return rc;
}

/* One blocking GET of url; the credentials into out, or -1 with err. */
static int
mg_aws_fetch(const char *url, const char *auth, mg_aws_creds_t *out, char *err, size_t errlen)
{
    mg_http_get_opts_t   get = {
        .max_bytes = MG_AWS_MAX_BODY, .connect_ms = MG_AWS_CONNECT_TIMEOUT_MS,
        .total_ms = MG_AWS_TIMEOUT_MS,
        .no_proxy = 1   /* the agent is local: an http_proxy from the environment
                         * must not see the token */
    };
    struct curl_slist   *hdrs = NULL, *grown;
    char                 why[CURL_ERROR_SIZE] = "";
    char                *line = NULL, *body = NULL;
    const char          *msg;
    size_t               len;
    long                 status;
    json_t              *j;
    int                  ret = -1;

    if (auth != NULL) {
        line = malloc(strlen(auth) + sizeof("Authorization: "));
        if (line == NULL) {
            mg_errf(err, errlen, "out of memory");
            goto done;
        }
        sprintf(line, "Authorization: %s", auth);
        grown = curl_slist_append(hdrs, line);
        OPENSSL_cleanse(line, strlen(line));
        if (grown == NULL) {
            mg_errf(err, errlen, "out of memory");
            goto done;
        }
        hdrs = grown;
    }
    grown = curl_slist_append(hdrs, "Accept: application/json");
    if (grown == NULL) {
        mg_errf(err, errlen, "out of memory");
        goto done;
    }
    hdrs = grown;
    get.headers = hdrs;

    switch (mg_http_get(url, &get, &body, &len, &status, why, sizeof(why))) {
    case MG_HTTP_GET_OK:
        break;
    case MG_HTTP_GET_SETUP:
        mg_errf(err, errlen, "%s", why);
        goto done;
    case MG_HTTP_GET_TOO_BIG:
        mg_errf(err, errlen, "the credentials endpoint failed: answer over 64 KiB");
        goto done;
    default:
        mg_errf(err, errlen, "the credentials endpoint failed: %s", why);
        goto done;
    }
    if (status != 200) {
        /* errors may come as {"code","message"}: worth passing on */
        j = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
        msg = json_string_value(json_object_get(j, "message"));
        mg_errf(err, errlen, "the credentials endpoint answered HTTP %ld%s%.160s", status,
                msg != NULL ? ": " : "", msg != NULL ? msg : "");
        json_decref(j);
        goto done;
    }
    ret = mg_aws_parse_creds(body != NULL ? body : "", len, out, err, errlen);

done:
    if (body != NULL) {
        OPENSSL_cleanse(body, len);
    }
    free(body);
    free(line);
    curl_slist_free_all(hdrs);
    return ret;
}


/* Credentials */

/* AWS_ACCESS_KEY_ID and friends: 1 with out filled, 0 when unset, -1. */
static int
mg_aws_env_creds(mg_aws_creds_t *out, char *err, size_t errlen)
{
    const char  *akid = mg_aws_env("AWS_ACCESS_KEY_ID");
    const char  *secret = mg_aws_env("AWS_SECRET_ACCESS_KEY");
    const char  *token = mg_aws_env("AWS_SESSION_TOKEN");

    if (akid == NULL && secret == NULL) {
        return 0;
    }
    if (akid == NULL || secret == NULL) {
        mg_errf(err, errlen, "%s is set without %s",
                akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    if (mg_aws_copy(out->access_key_id, sizeof(out->access_key_id), akid) != 0
        || mg_aws_copy(out->secret_access_key, sizeof(out->secret_access_key), secret) != 0
        || mg_aws_copy(out->session_token, sizeof(out->session_token), token ? token : "") != 0)
    {
        OPENSSL_cleanse(out, sizeof(*out));
        mg_errf(err, errlen, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN "
                "is too long");
        return -1;
    }
    out->expiration = 0;
    return 1;
}

int
mg_aws_creds_get(mg_aws_creds_t *out, char *err, size_t errlen)
{
    char             url[MG_AWS_URL_MAX], auth[MG_AWS_MAX_TOKEN_FILE + 1];
    char             why[sizeof(mg_aws_last_err)] = "";
    mg_aws_creds_t   fresh;
    unsigned         gen;
    time_t           now;
    int              rc, have_auth;

    rc = mg_aws_env_creds(out, err, errlen);
    if (rc != 0) {
        return rc > 0 ? 0 : -1;
    }
    rc = mg_aws_container_url(url, sizeof(url), err, errlen);
    if (rc <= 0) {
        if (rc == 0) {
            mg_errf(err, errlen, "no AWS credentials: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or run where AWS_CONTAINER_CREDENTIALS_"
                    "RELATIVE_URI or _FULL_URI is set");
        }
        return -1;
    }

    pthread_mutex_lock(&mg_aws_lock);
    for ( ;; ) {
        now = time(NULL);
        if (mg_aws_cached && mg_aws_cache.expiration - now >= MG_AWS_REFRESH_BEFORE_S) {
            goto cached;
        }
        if (!mg_aws_fetching && mg_now_ms() >= mg_aws_retry_ms) {
            break;
        }
        /* being fetched, or failed a moment ago: what we hold still serves */
        if (mg_aws_cached && mg_aws_cache.expiration > now) {
            goto cached;
        }
        if (!mg_aws_fetching) {
            mg_errf(err, errlen, "%s (retrying in a few seconds)", mg_aws_last_err);
            pthread_mutex_unlock(&mg_aws_lock);
            return -1;
        }
        pthread_cond_wait(&mg_aws_fetched, &mg_aws_lock);
    }
    mg_aws_fetching = 1;
    gen = mg_aws_generation;
    pthread_mutex_unlock(&mg_aws_lock);

    /* outside the lock: it may take seconds */
    have_auth = mg_aws_container_auth(auth, sizeof(auth), why, sizeof(why));
    rc = have_auth < 0 ? -1 : mg_aws_fetch(url, have_auth ? auth : NULL, &fresh, why, sizeof(why));
    OPENSSL_cleanse(auth, sizeof(auth));

    pthread_mutex_lock(&mg_aws_lock);
    mg_aws_fetching = 0;
    pthread_cond_broadcast(&mg_aws_fetched);
    if (rc == 0) {
        if (gen == mg_aws_generation) {
            mg_aws_cache = fresh;
            mg_aws_cached = 1;
            mg_aws_retry_ms = 0;
        }
        pthread_mutex_unlock(&mg_aws_lock);
        *out = fresh;
        OPENSSL_cleanse(&fresh, sizeof(fresh));
        mg_log_info("aws: credentials from the container endpoint, valid for %lld s",
                    (long long) (out->expiration - time(NULL)));
        return 0;
    }
    if (gen == mg_aws_generation) {
        mg_aws_retry_ms = mg_now_ms() + MG_AWS_RETRY_AFTER_MS;
        memcpy(mg_aws_last_err, why, sizeof(why));
    }
    now = time(NULL);
    if (mg_aws_cached && mg_aws_cache.expiration > now) {
        mg_log_warn("aws: refreshing credentials failed (%s); the cached ones serve for "
                    "%lld s more", why, (long long) (mg_aws_cache.expiration - now));
        goto cached;
    }
    pthread_mutex_unlock(&mg_aws_lock);
    mg_errf(err, errlen, "%s", why);
    return -1;

cached:
    *out = mg_aws_cache;
    pthread_mutex_unlock(&mg_aws_lock);
    return 0;
}

void
mg_aws_creds_reset(void)
{
    pthread_mutex_lock(&mg_aws_lock);
    OPENSSL_cleanse(&mg_aws_cache, sizeof(mg_aws_cache));
    mg_aws_cached = 0;
    mg_aws_retry_ms = 0;
    mg_aws_last_err[0] = '\0';
    mg_aws_generation++;
    pthread_mutex_unlock(&mg_aws_lock);
}

char *
mg_aws_bedrock_path(const char *model, const char *action)
{
    static const char  pre[] = "/model/";
    size_t             len = strlen(model);
    char              *out = malloc(sizeof(pre) + 3 * len + 1 + strlen(action)), *p;

    if (out == NULL) {
        return NULL;
    }
    p = out + sprintf(out, "%s", pre);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) model[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~')
        {
            *p++ = (char) c;
        } else {
            p += sprintf(p, "%%%02X", c);
        }
    }
    sprintf(p, "/%s", action);
    return out;
}
