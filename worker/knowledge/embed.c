/*
 * embed: text -> MG_EMBED_DIM-dimensional unit vectors, by the knowledge
 * base's embedding model:
 *
 *   "local"                          signed feature hashing, offline
 *       (embed_local.c, with the vector helpers).
 *   "amazon.titan-embed-text-v2:0"   Bedrock InvokeModel, one text per call
 *       (Titan takes no batch), SigV4-signed by aws/sigv4.c (the path is
 *       sent with ':' as %3A, which the canonical URI encodes once more) or
 *       a Bedrock API key; credentials and endpoint from aws/credentials.c.
 *   "openai:<model>"                 POST $MANGOO_OPENAI_BASE_URL/embeddings
 *       with the batch and "dimensions": 1024.
 *
 * Invariants: every vector handed back has MG_EMBED_DIM finite floats and
 * unit length (an answer of another size, or a zero vector, is an error,
 * never padded); remote calls are tried MG_EMBED_TRIES times on 408, 429,
 * 5xx and transport failures with a growing pause, and a failure says
 * whether retrying later may help.  Blocking: pool or ingest thread only.
 * Secrets (keys, signatures) do not outlive the call.
 */
#include "knowledge/embed.h"
#include "knowledge/embed_wire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "aws/credentials.h"
#include "aws/sigv4.h"
#include "providers/config.h"
#include "util/errf.h"
#include "util/http_get.h"

#define MG_EMBED_TRIES          3
#define MG_EMBED_BACKOFF_MS     250     /* then 4x that */
#define MG_EMBED_ANSWER_MAX     (8u << 20)
#define MG_EMBED_OPENAI_BATCH   64      /* inputs per request */

/* ------------------------------------------------------------------ */
/* Wire formats                                                        */

char *
mg_embed_titan_body(const char *text, size_t len)
{
    json_t  *body = json_pack("{s:s%, s:i, s:b}", "inputText", text, len,
                              "dimensions", MG_EMBED_DIM, "normalize", 1);
    char    *out = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    return out;
}

/* A JSON array of MG_EMBED_DIM numbers -> out, normalised. */
static int
mg_embed_vector(const json_t *a, float *out, const char *who, char *err, size_t errlen)
{
    size_t   i;
    json_t  *x;

    if (!json_is_array(a)) {
        mg_errf(err, errlen, "%s answered without an embedding", who);
        return -1;
    }
    if (json_array_size(a) != MG_EMBED_DIM) {
        mg_errf(err, errlen, "%s answered with %zu dimensions, not %d", who,
                json_array_size(a), MG_EMBED_DIM);
        return -1;
    }
    json_array_foreach(a, i, x) {
        if (!json_is_number(x)) {
            mg_errf(err, errlen, "%s answered with an embedding that is not all numbers", who);
            return -1;
        }
        out[i] = (float) json_number_value(x);
    }
    if (mg_embed_normalise(out, MG_EMBED_DIM) != 0) {
        mg_errf(err, errlen, "%s answered with a zero embedding", who);
        return -1;
    }
    return 0;
}

int
mg_embed_titan_parse(const char *body, size_t len, float *out, char *err, size_t errlen)
{
    json_t  *v = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    int      rc;

    if (!json_is_object(v)) {
        json_decref(v);
        mg_errf(err, errlen, "Bedrock answered with something that is not JSON");
        return -1;
    }
    rc = mg_embed_vector(json_object_get(v, "embedding"), out, "Bedrock", err, errlen);
    json_decref(v);
    return rc;
}

char *
mg_embed_openai_body(const char *model, const char *const *texts, const size_t *lens, size_t n)
{
    json_t  *input = json_array(), *body;
    char    *out = NULL;

    for (size_t i = 0; input != NULL && i < n; i++) {
        if (json_array_append_new(input, json_stringn(texts[i], lens[i])) != 0) {
            json_decref(input);
            return NULL;
        }
    }
    body = json_pack("{s:s, s:o, s:i}", "model", model, "input", input,
                     "dimensions", MG_EMBED_DIM);
    if (body != NULL) {
        out = json_dumps(body, JSON_COMPACT);
    }
    json_decref(body);
    return out;
}

int
mg_embed_openai_parse(const char *body, size_t len, size_t n, float *out,
                      char *err, size_t errlen)
{
    json_t         *v = body != NULL ? json_loadb(body, len, 0, NULL) : NULL, *data, *item;
    unsigned char  *seen = calloc(n ? n : 1, 1);
    size_t          i;
    int             rc = -1;

    if (seen == NULL) {
        mg_errf(err, errlen, "out of memory");
        goto done;
    }
    data = json_object_get(v, "data");
    if (!json_is_array(data)) {
        mg_errf(err, errlen, "the embeddings server answered without data");
        goto done;
    }
    if (json_array_size(data) != n) {
        mg_errf(err, errlen, "the embeddings server answered %zu embeddings for %zu inputs",
                json_array_size(data), n);
        goto done;
    }
    json_array_foreach(data, i, item) {
        json_t     *ix = json_object_get(item, "index");
        json_int_t  at = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t) i;

        if (at < 0 || (size_t) at >= n || seen[at]) {
            mg_errf(err, errlen, "the embeddings server answered with a bad index");
            goto done;
        }
        seen[at] = 1;
        if (mg_embed_vector(json_object_get(item, "embedding"), out + (size_t) at * MG_EMBED_DIM,
                            "the embeddings server", err, errlen) != 0)
        {
            goto done;
        }
    }
    rc = 0;

done:
    free(seen);
    json_decref(v);
    return rc;
}

void
mg_embed_error_message(const char *body, size_t len, char *buf, size_t buflen)
{
    json_t      *v = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    const char  *m = json_string_value(json_object_get(v, "message"));
    size_t       n;

    if (m == NULL) {
        m = json_string_value(json_object_get(json_object_get(v, "error"), "message"));
    }
    if (m == NULL) {
        m = json_string_value(json_object_get(v, "Message"));
    }
    if (m != NULL) {
        snprintf(buf, buflen, "%s", m);
    } else {
        n = body != NULL ? len : 0;
        n = n < 200 ? n : 200;
        if (n >= buflen) {
            n = buflen - 1;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char) body[i];

            buf[i] = c >= 0x20 && c < 0x7F ? (char) c : ' ';
        }
        buf[n] = '\0';
        if (n == 0) {
            snprintf(buf, buflen, "no details");
        }
    }
    json_decref(v);
}

/* ------------------------------------------------------------------ */
/* The HTTP call, with retries                                         */

/* Headers for one attempt (Bedrock signs afresh each time). */
typedef struct curl_slist *(*mg_embed_headers_fn)(void *ctx, const char *body, size_t len,
                                                  char *err, size_t errlen);

static void
mg_embed_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int
mg_embed_retryable_status(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

static void
mg_slist_free_secret(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next) {
        explicit_bzero(p->data, strlen(p->data));
    }
    curl_slist_free_all(l);
}

/* POST body to url; 0 with *resp (free it) on a 200. */
static int
mg_embed_post(const char *who, const char *url, const char *body, mg_embed_headers_fn hf,
              void *ctx, char **resp, size_t *rlen, int *retryable, char *err, size_t errlen)
{
    mg_http_get_opts_t   o;
    long                 status = 0;
    char                 why[512], msg[300];
    size_t               blen = strlen(body);

    *resp = NULL;
    *rlen = 0;
    *retryable = 0;
    for (int attempt = 0; attempt < MG_EMBED_TRIES; attempt++) {
        struct curl_slist  *h;
        int                 rc;

        if (attempt > 0) {
            mg_embed_sleep_ms(MG_EMBED_BACKOFF_MS << (2 * (attempt - 1)));
        }
        h = hf(ctx, body, blen, err, errlen);
        if (h == NULL) {
            return -1;
        }
        memset(&o, 0, sizeof(o));
        o.headers = h;
        o.max_bytes = MG_EMBED_ANSWER_MAX;
        o.connect_ms = 5000;
        o.total_ms = 60000;
        o.post = body;
        o.post_len = blen;
        why[0] = '\0';
        rc = mg_http_get(url, &o, resp, rlen, &status, why, sizeof(why));
        mg_slist_free_secret(h);
        if (rc == MG_HTTP_GET_OK && status == 200) {
            return 0;
        }
        if (rc == MG_HTTP_GET_OK) {
            mg_embed_error_message(*resp, *rlen, msg, sizeof(msg));
            free(*resp);
            *resp = NULL;
            mg_errf(err, errlen, "%s answered %ld: %s", who, status, msg);
            if (!mg_embed_retryable_status(status)) {
                return -1;
            }
        } else if (rc == MG_HTTP_GET_TOO_BIG) {
            mg_errf(err, errlen, "%s answered with more than %u bytes", who, MG_EMBED_ANSWER_MAX);
            return -1;
        } else if (rc == MG_HTTP_GET_FAILED) {
            mg_errf(err, errlen, "%s could not be reached: %s", who, why);
        } else {
            mg_errf(err, errlen, "%s: %s", who, why[0] ? why : "the request could not be set up");
            return -1;
        }
    }
    *retryable = 1;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Bedrock Titan                                                       */

typedef struct {
    char              host[256];
    char              region[64];
    const char       *path;
    const char       *bearer;
    mg_aws_creds_t    creds;
} mg_titan_t;

static struct curl_slist *
mg_titan_headers(void *ctx, const char *body, size_t len, char *err, size_t errlen)
{
    mg_titan_t          *t = ctx;
    mg_sigv4_header_t    sh[2] = { { "host", t->host }, { "content-type", "application/json" } };
    mg_sigv4_request_t   req;
    mg_sigv4_creds_t     creds;
    mg_sigv4_out_t       out;
    char                 line[5000];
    struct curl_slist   *l = NULL, *nl;
    int                  ok = 1;

#define MG_ADD(s) do { nl = curl_slist_append(l, (s)); if (nl == NULL) ok = 0; else l = nl; } while (0)
    snprintf(line, sizeof(line), "Host: %s", t->host);
    MG_ADD(line);
    MG_ADD("Content-Type: application/json");
    MG_ADD("Accept: application/json");
    MG_ADD("Expect:");
    if (t->bearer != NULL) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", t->bearer);
        MG_ADD(line);
    } else {
        memset(&req, 0, sizeof(req));
        req.method = "POST";
        req.path = t->path;
        req.query = "";
        req.headers = sh;
        req.nheaders = 2;
        req.body = body;
        req.body_len = len;
        req.region = t->region;
        req.service = "bedrock";
        req.now = time(NULL);
        req.normalize_path = 1;
        creds.access_key_id = t->creds.access_key_id;
        creds.secret_access_key = t->creds.secret_access_key;
        creds.session_token = t->creds.session_token;
        if (mg_sigv4_sign(&req, &creds, &out, err, errlen) != 0) {
            mg_slist_free_secret(l);
            return NULL;
        }
        snprintf(line, sizeof(line), "X-Amz-Date: %s", out.amz_date);
        MG_ADD(line);
        if (t->creds.session_token[0] != '\0') {
            snprintf(line, sizeof(line), "X-Amz-Security-Token: %s", t->creds.session_token);
            MG_ADD(line);
        }
        snprintf(line, sizeof(line), "Authorization: %s", out.authorization);
        MG_ADD(line);
        mg_sigv4_out_free(&out);
    }
#undef MG_ADD
    explicit_bzero(line, sizeof(line));
    if (!ok) {
        mg_slist_free_secret(l);
        mg_errf(err, errlen, "out of memory");
        return NULL;
    }
    return l;
}

static int
mg_embed_titan(const char *model, const char *const *texts, const size_t *lens, size_t n,
               float *out, int *retryable, char *err, size_t errlen)
{
    mg_titan_t   t;
    char         endpoint[MG_PROVIDER_URL_MAX], *path = NULL, *url = NULL;
    const char  *h;
    size_t       hlen;
    int          rc = -1;

    memset(&t, 0, sizeof(t));
    if (mg_aws_bedrock_endpoint(endpoint, sizeof(endpoint)) != 0) {
        mg_errf(err, errlen, "the Bedrock endpoint is not usable (AWS_REGION or "
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME)");
        return -1;
    }
    h = strstr(endpoint, "://");
    h = h != NULL ? h + 3 : endpoint;
    hlen = strcspn(h, "/");
    if (hlen == 0 || hlen >= sizeof(t.host)) {
        mg_errf(err, errlen, "the Bedrock endpoint URL has no usable host");
        return -1;
    }
    memcpy(t.host, h, hlen);
    endpoint[(size_t) (h - endpoint) + hlen] = '\0';      /* the origin only */
    snprintf(t.region, sizeof(t.region), "%s", mg_aws_region());
    t.bearer = mg_aws_bearer_token();
    if (t.bearer == NULL && mg_aws_creds_get(&t.creds, err, errlen) != 0) {
        *retryable = 1;                     /* the container endpoint may come back */
        return -1;
    }
    path = mg_aws_bedrock_path(model, "invoke");
    url = path != NULL ? malloc(strlen(endpoint) + strlen(path) + 1) : NULL;
    if (url == NULL) {
        mg_errf(err, errlen, "out of memory");
        goto done;
    }
    sprintf(url, "%s%s", endpoint, path);
    t.path = path;

    for (size_t i = 0; i < n; i++) {
        char    *body = mg_embed_titan_body(texts[i], lens[i]), *resp;
        size_t   rlen;
        int      r;

        if (body == NULL) {
            mg_errf(err, errlen, "out of memory");
            goto done;
        }
        r = mg_embed_post("Bedrock", url, body, mg_titan_headers, &t, &resp, &rlen,
                          retryable, err, errlen);
        free(body);
        if (r != 0) {
            goto done;
        }
        r = mg_embed_titan_parse(resp, rlen, out + i * MG_EMBED_DIM, err, errlen);
        free(resp);
        if (r != 0) {
            goto done;
        }
    }
    rc = 0;

done:
    explicit_bzero(&t.creds, sizeof(t.creds));
    free(path);
    free(url);
    return rc;
}

/* ------------------------------------------------------------------ */
/* OpenAI-compatible                                                   */

static const char *
mg_embed_openai_setting(const char *configured, const char *name)
{
    const char *v;

    if (configured != NULL) {
        return configured;
    }
    v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static struct curl_slist *
mg_openai_headers(void *ctx, const char *body, size_t len, char *err, size_t errlen)
{
    const char         *key = ctx;
    struct curl_slist  *l = NULL, *nl;
    char                line[1100];
    int                 ok = 1;

    (void) body; (void) len;
#define MG_ADD(s) do { nl = curl_slist_append(l, (s)); if (nl == NULL) ok = 0; else l = nl; } while (0)
    MG_ADD("Content-Type: application/json");
    MG_ADD("Accept: application/json");
    MG_ADD("Expect:");
    if (key != NULL) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", key);
        MG_ADD(line);
        explicit_bzero(line, sizeof(line));
    }
#undef MG_ADD
    if (!ok) {
        mg_slist_free_secret(l);
        mg_errf(err, errlen, "out of memory");
        return NULL;
    }
    return l;
}

static int
mg_embed_openai(const char *model, const char *const *texts, const size_t *lens, size_t n,
                float *out, int *retryable, char *err, size_t errlen)
{
    const char  *base = mg_embed_openai_setting(mg_providers_cfg.openai_base_url,
                                                "MANGOO_OPENAI_BASE_URL");
    const char  *key = mg_embed_openai_setting(mg_providers_cfg.openai_api_key,
                                               "MANGOO_OPENAI_API_KEY");
    size_t       blen;
    char        *url;
    int          rc = 0;

    if (base == NULL) {
        mg_errf(err, errlen, "embedding model \"%s\" needs an OpenAI-compatible server "
                "(MANGOO_OPENAI_BASE_URL), which is not configured", model);
        return -1;
    }
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    url = malloc(blen + sizeof("/embeddings"));
    if (url == NULL) {
        mg_errf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(url, base, blen);
    strcpy(url + blen, "/embeddings");

    for (size_t i = 0; i < n && rc == 0; i += MG_EMBED_OPENAI_BATCH) {
        size_t   k = n - i < MG_EMBED_OPENAI_BATCH ? n - i : MG_EMBED_OPENAI_BATCH, rlen;
        char    *body = mg_embed_openai_body(model + 7, texts + i, lens + i, k), *resp;

        if (body == NULL) {
            mg_errf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        rc = mg_embed_post("the embeddings server", url, body, mg_openai_headers,
                           (void *) key, &resp, &rlen, retryable, err, errlen);
        free(body);
        if (rc == 0) {
            rc = mg_embed_openai_parse(resp, rlen, k, out + i * MG_EMBED_DIM, err, errlen);
            free(resp);
        }
    }
    free(url);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The interface                                                       */

int
mg_embed_available(const char *model)
{
    if (model == NULL) {
        return 0;
    }
    if (strcmp(model, "local") == 0) {
        return 1;
    }
    if (strcmp(model, MG_EMBED_TITAN_MODEL) == 0) {
        return mg_providers_cfg.bedrock || mg_aws_creds_configured();
    }
    if (strncmp(model, "openai:", 7) == 0 && model[7] != '\0') {
        return mg_embed_openai_setting(mg_providers_cfg.openai_base_url,
                                       "MANGOO_OPENAI_BASE_URL") != NULL;
    }
    return 0;
}

int
mg_embed(const char *model, const char *const *texts, const size_t *lens, size_t n,
         float *out, int *retryable, char *err, size_t errlen)
{
    int  dummy;

    retryable = retryable != NULL ? retryable : &dummy;
    *retryable = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;

        while (k < lens[i] && (texts[i][k] == ' ' || texts[i][k] == '\t'
                               || texts[i][k] == '\n' || texts[i][k] == '\r'))
        {
            k++;
        }
        if (k == lens[i]) {
            mg_errf(err, errlen, "nothing to embed: text %zu is empty", i + 1);
            return -1;
        }
    }
    if (model == NULL || !mg_embed_available(model)) {
        mg_errf(err, errlen, "embedding model \"%s\" is not configured here",
                model != NULL ? model : "");
        return -1;
    }
    if (strcmp(model, "local") == 0) {
        for (size_t i = 0; i < n; i++) {
            if (mg_embed_local(texts[i], lens[i], out + i * MG_EMBED_DIM) != 0) {
                mg_errf(err, errlen, "nothing to embed in text %zu", i + 1);
                return -1;
            }
        }
        return 0;
    }
    if (strcmp(model, MG_EMBED_TITAN_MODEL) == 0) {
        return mg_embed_titan(model, texts, lens, n, out, retryable, err, errlen);
    }
    return mg_embed_openai(model, texts, lens, n, out, retryable, err, errlen);
}
