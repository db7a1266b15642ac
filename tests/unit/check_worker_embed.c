/*
 * check_worker_embed: the embedders (worker/knowledge/embed.c).  The local
 * one: unit length, determinism, similar texts closer than unrelated ones,
 * case and script handling, refusal of empty text; the pgvector text form
 * read back.  The remote ones: request bodies and answer parsing as pure
 * functions, then whole calls against a loopback HTTP server scripted
 * here (the path with its ':' encoded, SigV4 or bearer headers, one Titan
 * call per text, the OpenAI batch placed by index, retries on 429/5xx and
 * none on 4xx).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/credentials.h"
#include "knowledge/embed.h"
#include "knowledge/embed_wire.h"

#define DIM MG_EMBED_DIM

static float  va[DIM], vb[DIM], vc[DIM];

/* Helpers */

static double
dot(const float *a, const float *b)
{
    double s = 0;

    for (int i = 0; i < DIM; i++) {
        s += (double) a[i] * b[i];
    }
    return s;
}

static void
local(const char *text, float *out)
{
    ck_assert_msg(mg_embed_local(text, strlen(text), out) == 0, "embedding \"%s\"", text);
}

/* A JSON array of DIM numbers, not of unit length: 0.5 + i % 7 - 3 (times k). */
static char *
vector_json(double k)
{
    json_t  *a = json_array();
    char    *s;

    for (int i = 0; i < DIM; i++) {
        json_array_append_new(a, json_real(k * (0.5 + i % 7 - 3)));
    }
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void
check_vector_json(const float *v, double k)
{
    double norm = 0;

    for (int i = 0; i < DIM; i++) {
        norm += (0.5 + i % 7 - 3) * (0.5 + i % 7 - 3);
    }
    norm = sqrt(norm);
    for (int i = 0; i < DIM; i++) {
        ck_assert_double_eq_tol(v[i], (k > 0 ? 1 : -1) * (0.5 + i % 7 - 3) / norm, 1e-6);
    }
}


/* The local embedder */

START_TEST(test_local_unit_and_deterministic)
{
    const char  *t = "Postgres stores the vectors; pgvector searches them.";
    double       n = 0;
    int          nonzero = 0;

    local(t, va);
    local(t, vb);
    ck_assert_int_eq(memcmp(va, vb, sizeof(va)), 0);
    for (int i = 0; i < DIM; i++) {
        n += (double) va[i] * va[i];
        nonzero += va[i] != 0;
    }
    ck_assert_double_eq_tol(n, 1.0, 1e-5);
    ck_assert_int_gt(nonzero, 30);              /* words and trigrams spread out */
    /* a fixed hash: the same text gives the same vector in every process */
    ck_assert_uint_eq(mg_embed_hash("", 0), mg_embed_hash("", 0));
    ck_assert_uint_ne(mg_embed_hash("a", 1), mg_embed_hash("b", 1));
    /* pinned: stored vectors depend on it (FNV-1a 64 of "abc", then fmix64) */
    ck_assert_uint_eq(mg_embed_hash("abc", 3), 0x33ebaf9927cbc5bdULL);
}
END_TEST

START_TEST(test_local_similarity)
{
    local("How do I reset my password in the account settings?", va);
    local("To reset your password, open the account settings page.", vb);
    local("The quarterly revenue grew by twelve percent in Europe.", vc);
    ck_assert_double_gt(dot(va, vb), dot(va, vc) + 0.2);
    ck_assert_double_gt(dot(va, vb), 0.3);
    ck_assert_double_lt(fabs(dot(va, vc)), 0.2);

    /* case does not matter, punctuation neither */
    local("Kubernetes Deployment", va);
    local("kubernetes, deployment!", vb);
    ck_assert_double_gt(dot(va, vb), 0.999);

    /* morphology is caught by the trigrams */
    local("configuration", va);
    local("configure", vb);
    local("elephant", vc);
    ck_assert_double_gt(dot(va, vb), dot(va, vc) + 0.2);
}
END_TEST

START_TEST(test_local_unicode)
{
    /* lower-casing beyond ASCII, and non-Latin scripts are words */
    local("\xC3\x89T\xC3\x89 \xD0\x9C\xD0\x9E\xD0\xA1\xD0\x9A\xD0\x92\xD0\x90", va);   /* ÉTÉ МОСКВА */
    local("\xC3\xA9t\xC3\xA9 \xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0", vb);   /* été москва */
    ck_assert_double_gt(dot(va, vb), 0.999);
    local("\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xAE\xE5\xA4\xA9\xE6\xB0\x97", va);        /* 東京の天気 */
    local("\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xAE\xE5\xA4\xA9\xE6\xB0\x97\xE4\xBA\x88\xE5\xA0\xB1", vb);
    local("banana bread recipe", vc);
    ck_assert_double_gt(dot(va, vb), dot(va, vc) + 0.3);
    /* invalid UTF-8 does not crash and still embeds the rest */
    ck_assert_int_eq(mg_embed_local("ab\xFF\xFE" "cd", 6, va), 0);
    /* symbols only: still a vector */
    local("*** --- ***", va);
    local("\xF0\x9F\x98\x80", vb);                                                 /* an emoji */
}
END_TEST

START_TEST(test_empty_refused)
{
    const char  *texts[2] = { "fine", "  \n\t " };
    size_t       lens[2] = { 4, 5 };
    float       *out = calloc(2 * DIM, sizeof(float));
    char         err[256] = "";
    int          retry = 7;

    ck_assert_int_eq(mg_embed_local("", 0, va), -1);
    ck_assert_int_eq(mg_embed_local("   ", 3, va), -1);
    ck_assert_int_eq(mg_embed("local", texts, lens, 2, out, &retry, err, sizeof(err)), -1);
    ck_assert_int_eq(retry, 0);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    ck_assert_int_eq(mg_embed("local", texts, lens, 1, out, &retry, err, sizeof(err)), 0);
    local("fine", va);
    ck_assert_int_eq(memcmp(out, va, sizeof(va)), 0);
    ck_assert_int_eq(mg_embed("no-such-model", texts, lens, 1, out, &retry, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not configured"));
    free(out);
}
END_TEST

START_TEST(test_text_form_parses_back)
{
    static char  buf[MG_EMBED_TEXT_MAX];
    size_t       n;
    json_t      *a;
    size_t       i;
    json_t      *x;

    local("pgvector text form", va);
    va[0] = -1.17549435e-38f;                  /* the longest forms still fit */
    va[1] = -0.000123456789f;
    n = mg_embed_text(va, buf);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_uint_lt(n, MG_EMBED_TEXT_MAX);
    ck_assert_int_eq(buf[0], '[');
    ck_assert_int_eq(buf[n - 1], ']');
    ck_assert_ptr_null(strchr(buf, ' '));
    a = json_loads(buf, 0, NULL);               /* "[x,y,...]" is also JSON */
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(json_array_size(a), DIM);
    json_array_foreach(a, i, x) {
        ck_assert_float_eq((float) json_number_value(x), va[i]);
    }
    json_decref(a);
    for (i = 0; i < DIM; i++) {                 /* the worst case for every number */
        vb[i] = -1.23456789e-30f;
    }
    ck_assert_uint_lt(mg_embed_text(vb, buf), MG_EMBED_TEXT_MAX);
}
END_TEST


/* Wire formats */

/* pgvector's binary input: 16-bit dimensions and zero, then big-endian
 * IEEE floats; not-finite values go as 0, as in the text form. */
START_TEST(test_binary_form)
{
    float          v[MG_EMBED_DIM];
    unsigned char  buf[MG_EMBED_BINARY_LEN];

    memset(v, 0, sizeof(v));
    v[0] = 1.0f;                    /* 0x3F800000 */
    v[1] = -2.5f;                   /* 0xC0200000 */
    v[MG_EMBED_DIM - 1] = 0.15625f; /* 0x3E200000 */
    v[2] = NAN;
    mg_embed_binary(v, buf);
    ck_assert_int_eq(buf[0], MG_EMBED_DIM >> 8);
    ck_assert_int_eq(buf[1], MG_EMBED_DIM & 0xff);
    ck_assert_int_eq(buf[2], 0);
    ck_assert_int_eq(buf[3], 0);
    ck_assert_int_eq(buf[4], 0x3F);
    ck_assert_int_eq(buf[5], 0x80);
    ck_assert_int_eq(buf[7], 0x00);
    ck_assert_int_eq(buf[8], 0xC0);
    ck_assert_int_eq(buf[9], 0x20);
    for (int i = 12; i < 16; i++) {
        ck_assert_int_eq(buf[i], 0);
    }
    ck_assert_int_eq(buf[MG_EMBED_BINARY_LEN - 4], 0x3E);
    ck_assert_int_eq(buf[MG_EMBED_BINARY_LEN - 3], 0x20);
}
END_TEST

START_TEST(test_titan_wire)
{
    char    *path = mg_aws_bedrock_path(MG_EMBED_TITAN_MODEL, "invoke");
    char    *body = mg_embed_titan_body("caf\xC3\xA9 \"quoted\"", 14);
    char    *vec = vector_json(2.5), *answer, err[256] = "";
    json_t  *j = json_loads(body, 0, NULL);

    ck_assert_str_eq(path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_object_size(j), 3);
    ck_assert_str_eq(json_string_value(json_object_get(j, "inputText")), "caf\xC3\xA9 \"quoted\"");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "dimensions")), 1024);
    ck_assert(json_is_true(json_object_get(j, "normalize")));
    json_decref(j);

    ck_assert_int_ne(asprintf(&answer, "{\"embedding\":%s,\"inputTextTokenCount\":3}", vec), -1);
    ck_assert_int_eq(mg_embed_titan_parse(answer, strlen(answer), va, err, sizeof(err)), 0);
    check_vector_json(va, 2.5);
    free(answer);

    ck_assert_int_eq(mg_embed_titan_parse("{\"embedding\":[1,2,3]}", strlen("{\"embedding\":[1,2,3]}"), va, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "3 dimensions"));
    ck_assert_int_eq(mg_embed_titan_parse("nope", strlen("nope"), va, err, sizeof(err)), -1);
    ck_assert_int_eq(mg_embed_titan_parse("{\"message\":\"x\"}", strlen("{\"message\":\"x\"}"), va, err, sizeof(err)), -1);
    ck_assert_int_ne(asprintf(&answer, "{\"embedding\":%s}", vec), -1);
    answer[15] = '"';                           /* a string among the numbers */
    ck_assert_int_eq(mg_embed_titan_parse(answer, strlen(answer), va, err, sizeof(err)), -1);
    free(answer);
    free(vec);
    free(path);
    free(body);
}
END_TEST

START_TEST(test_openai_wire)
{
    const char  *texts[2] = { "first", "second text" };
    size_t       lens[2] = { 5, 6 };
    char        *body = mg_embed_openai_body("text-embedding-3-small", texts, lens, 2);
    char        *v1 = vector_json(1), *v2 = vector_json(-3), *answer, err[256] = "";
    float       *out = calloc(2 * DIM, sizeof(float));
    json_t      *j = json_loads(body, 0, NULL);

    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "text-embedding-3-small");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "input")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "input"), 1)), "second");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "dimensions")), 1024);
    json_decref(j);

    /* answers come back by index, in any order */
    ck_assert_int_ne(asprintf(&answer, "{\"object\":\"list\",\"data\":["
                              "{\"object\":\"embedding\",\"index\":1,\"embedding\":%s},"
                              "{\"object\":\"embedding\",\"index\":0,\"embedding\":%s}]}",
                              v2, v1), -1);
    ck_assert_int_eq(mg_embed_openai_parse(answer, strlen(answer), 2, out, err, sizeof(err)), 0);
    check_vector_json(out, 1);
    check_vector_json(out + DIM, -3);
    ck_assert_int_eq(mg_embed_openai_parse(answer, strlen(answer), 3, out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "2 embeddings for 3 inputs"));
    free(answer);
    ck_assert_int_ne(asprintf(&answer, "{\"data\":[{\"index\":0,\"embedding\":%s},"
                              "{\"index\":0,\"embedding\":%s}]}", v1, v2), -1);
    ck_assert_int_eq(mg_embed_openai_parse(answer, strlen(answer), 2, out, err, sizeof(err)), -1);
    free(answer);
    answer = "{\"data\":[{\"index\":0,\"embedding\":[0,0]}]}";
    ck_assert_int_eq(mg_embed_openai_parse(answer, strlen(answer), 1, out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "2 dimensions"));

    answer = "{\"error\":{\"message\":\"Incorrect API key\"}}";
    mg_embed_error_message(answer, strlen(answer), err, sizeof(err));
    ck_assert_str_eq(err, "Incorrect API key");
    answer = "{\"message\":\"Too many requests\"}";
    mg_embed_error_message(answer, strlen(answer), err, sizeof(err));
    ck_assert_str_eq(err, "Too many requests");
    answer = "<html>\n</html>";
    mg_embed_error_message(answer, strlen(answer), err, sizeof(err));
    ck_assert_str_eq(err, "<html> </html>");
    free(v1);
    free(v2);
    free(out);
    free(body);
}
END_TEST


/* A scripted loopback HTTP server */

#define FAKE_MAX 8

static struct {
    int              fd, port, stop, nscript, requests;
    int              status[FAKE_MAX];
    char            *body[FAKE_MAX];
    char             path[FAKE_MAX][256];
    char             auth[FAKE_MAX][1024];
    char             amz_date[FAKE_MAX][32];
    char             host[FAKE_MAX][128];
    char            *req_body[FAKE_MAX];
    pthread_t        thread;
    pthread_mutex_t  lock;
} fake;

static void
header_value(const char *req, const char *name, char *out, size_t len)
{
    size_t      n = strlen(name);
    const char *p = req;

    out[0] = '\0';
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            size_t k;

            p += n + 1;
            while (*p == ' ') {
                p++;
            }
            k = strcspn(p, "\r\n");
            k = k < len - 1 ? k : len - 1;
            memcpy(out, p, k);
            out[k] = '\0';
            return;
        }
    }
}

static void
fake_serve(int c)
{
    static char  req[1 << 20];
    char         clen[32], *hend, *resp;
    size_t       got = 0, need = 0;
    ssize_t      r;
    int          k, n;

    for ( ;; ) {
        r = read(c, req + got, sizeof(req) - 1 - got);
        if (r <= 0) {
            return;
        }
        got += (size_t) r;
        req[got] = '\0';
        hend = strstr(req, "\r\n\r\n");
        if (hend != NULL) {
            header_value(req, "Content-Length", clen, sizeof(clen));
            need = (size_t) (hend + 4 - req) + (size_t) atol(clen);
            if (got >= need) {
                break;
            }
        }
    }
    pthread_mutex_lock(&fake.lock);
    k = fake.requests < FAKE_MAX ? fake.requests : FAKE_MAX - 1;
    sscanf(req, "POST %255s ", fake.path[k]);
    header_value(req, "Authorization", fake.auth[k], sizeof(fake.auth[k]));
    header_value(req, "X-Amz-Date", fake.amz_date[k], sizeof(fake.amz_date[k]));
    header_value(req, "Host", fake.host[k], sizeof(fake.host[k]));
    free(fake.req_body[k]);
    fake.req_body[k] = strdup(hend + 4);
    n = fake.requests < fake.nscript ? fake.requests : fake.nscript - 1;
    fake.requests++;
    ck_assert_int_ne(asprintf(&resp, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                              fake.status[n], strlen(fake.body[n]), fake.body[n]), -1);
    pthread_mutex_unlock(&fake.lock);
    for (size_t off = 0, len = strlen(resp); off < len; ) {
        r = write(c, resp + off, len - off);
        if (r <= 0) {
            break;
        }
        off += (size_t) r;
    }
    free(resp);
}

static void *
fake_main(void *arg)
{
    struct pollfd  p;
    int            c, stop;

    (void) arg;
    for ( ;; ) {
        pthread_mutex_lock(&fake.lock);
        stop = fake.stop;
        pthread_mutex_unlock(&fake.lock);
        if (stop) {
            return NULL;
        }
        p.fd = fake.fd;
        p.events = POLLIN;
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        c = accept(fake.fd, NULL, NULL);
        if (c >= 0) {
            fake_serve(c);
            close(c);
        }
    }
}

/* Start answering with the script: status and body of each request in
 * turn, the last one repeated. */
static void
fake_start(int n, const int *status, char *const *body)
{
    struct sockaddr_in  a;
    socklen_t           alen = sizeof(a);

    memset(&fake, 0, sizeof(fake));
    pthread_mutex_init(&fake.lock, NULL);
    fake.fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fake.fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fake.fd, (struct sockaddr *) &a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fake.fd, 16), 0);
    ck_assert_int_eq(getsockname(fake.fd, (struct sockaddr *) &a, &alen), 0);
    fake.port = ntohs(a.sin_port);
    fake.nscript = n;
    for (int i = 0; i < n; i++) {
        fake.status[i] = status[i];
        fake.body[i] = strdup(body[i]);
    }
    ck_assert_int_eq(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
}

static void
fake_stop(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.stop = 1;
    pthread_mutex_unlock(&fake.lock);
    pthread_join(fake.thread, NULL);
    close(fake.fd);
    for (int i = 0; i < FAKE_MAX; i++) {
        free(fake.body[i]);
        free(fake.req_body[i]);
    }
    pthread_mutex_destroy(&fake.lock);
}

static const char *const env_names[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "MANGOO_OPENAI_BASE_URL", "MANGOO_OPENAI_API_KEY",
};
#define NENV (sizeof(env_names) / sizeof(env_names[0]))
static char *saved_env[NENV];

static void
setup(void)
{
    for (size_t i = 0; i < NENV; i++) {
        const char *v = getenv(env_names[i]);

        saved_env[i] = v != NULL ? strdup(v) : NULL;
        unsetenv(env_names[i]);
    }
    mg_aws_creds_reset();
}

static void
teardown(void)
{
    for (size_t i = 0; i < NENV; i++) {
        if (saved_env[i] != NULL) {
            setenv(env_names[i], saved_env[i], 1);
        } else {
            unsetenv(env_names[i]);
        }
        free(saved_env[i]);
        saved_env[i] = NULL;
    }
    mg_aws_creds_reset();
}

static void
titan_env(void)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake.port);
    setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret/TEST", 1);
    setenv("AWS_REGION", "eu-west-3", 1);
}


/* Whole calls */

START_TEST(test_availability)
{
    ck_assert_int_eq(mg_embed_available("local"), 1);
    ck_assert_int_eq(mg_embed_available(MG_EMBED_TITAN_MODEL), 0);
    ck_assert_int_eq(mg_embed_available("openai:text-embedding-3-small"), 0);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    setenv("MANGOO_OPENAI_BASE_URL", "http://127.0.0.1:9/v1", 1);
    ck_assert_int_eq(mg_embed_available(MG_EMBED_TITAN_MODEL), 1);
    ck_assert_int_eq(mg_embed_available("openai:text-embedding-3-small"), 1);
    ck_assert_int_eq(mg_embed_available("openai:"), 0);
    ck_assert_int_eq(mg_embed_available("amazon.titan-embed-text-v1"), 0);
    ck_assert_int_eq(mg_embed_available(NULL), 0);
}
END_TEST

START_TEST(test_titan_calls_one_per_text_signed)
{
    const char  *texts[2] = { "first text", "second text" };
    size_t       lens[2] = { 10, 11 };
    char        *vec = vector_json(4), *answer, err[256] = "";
    float       *out = calloc(2 * DIM, sizeof(float));
    int          st[1] = { 200 }, retry = 9;
    json_t      *j;

    ck_assert_int_ne(asprintf(&answer, "{\"embedding\":%s,\"inputTextTokenCount\":2}", vec), -1);
    fake_start(1, st, &answer);
    titan_env();
    ck_assert_msg(mg_embed(MG_EMBED_TITAN_MODEL, texts, lens, 2, out, &retry, err,
                           sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(retry, 0);
    ck_assert_int_eq(fake.requests, 2);
    check_vector_json(out, 4);
    check_vector_json(out + DIM, 4);
    for (int i = 0; i < 2; i++) {
        char want[64];

        ck_assert_str_eq(fake.path[i], "/model/amazon.titan-embed-text-v2%3A0/invoke");
        ck_assert_int_eq(strncmp(fake.auth[i], "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37), 0);
        snprintf(want, sizeof(want), "/eu-west-3/bedrock/aws4_request");
        ck_assert_ptr_nonnull(strstr(fake.auth[i], want));
        ck_assert_ptr_nonnull(strstr(fake.auth[i], "SignedHeaders=content-type;host;x-amz-date"));
        ck_assert_uint_eq(strlen(fake.amz_date[i]), 16);
        snprintf(want, sizeof(want), "127.0.0.1:%d", fake.port);
        ck_assert_str_eq(fake.host[i], want);
        j = json_loads(fake.req_body[i], 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(j, "inputText")), texts[i]);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "dimensions")), 1024);
        ck_assert(json_is_true(json_object_get(j, "normalize")));
        json_decref(j);
    }
    fake_stop();
    free(answer);
    free(vec);
    free(out);
}
END_TEST

START_TEST(test_titan_retries_throttling_then_succeeds)
{
    const char  *texts[1] = { "hello" };
    size_t       lens[1] = { 5 };
    char        *vec = vector_json(1), *ok, err[256] = "";
    char        *bodies[3];
    int          st[3] = { 429, 503, 200 }, retry = 9;

    ck_assert_int_ne(asprintf(&ok, "{\"embedding\":%s}", vec), -1);
    bodies[0] = "{\"message\":\"Too many requests, please wait before trying again.\"}";
    bodies[1] = "{\"message\":\"Bedrock is unable to process your request.\"}";
    bodies[2] = ok;
    fake_start(3, st, bodies);
    titan_env();
    ck_assert_msg(mg_embed(MG_EMBED_TITAN_MODEL, texts, lens, 1, va, &retry, err,
                           sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(fake.requests, 3);
    check_vector_json(va, 1);
    /* each attempt is signed afresh */
    ck_assert_str_ne(fake.auth[0], "");
    fake_stop();
    free(ok);
    free(vec);
}
END_TEST

START_TEST(test_titan_gives_up_after_three_tries)
{
    const char  *texts[1] = { "hello" };
    size_t       lens[1] = { 5 };
    char        *bodies[1] = { "{\"message\":\"The server encountered an internal error.\"}" };
    char         err[256] = "";
    int          st[1] = { 500 }, retry = 0;

    fake_start(1, st, bodies);
    titan_env();
    ck_assert_int_eq(mg_embed(MG_EMBED_TITAN_MODEL, texts, lens, 1, va, &retry, err,
                              sizeof(err)), -1);
    ck_assert_int_eq(fake.requests, 3);
    ck_assert_int_eq(retry, 1);
    ck_assert_msg(strstr(err, "500") && strstr(err, "internal error"), "%s", err);
    fake_stop();
}
END_TEST

START_TEST(test_titan_client_error_is_final)
{
    const char  *texts[1] = { "hello" };
    size_t       lens[1] = { 5 };
    char        *bodies[1] = { "{\"message\":\"The security token included in the request is invalid.\"}" };
    char         err[256] = "";
    int          st[1] = { 403 }, retry = 1;

    fake_start(1, st, bodies);
    titan_env();
    ck_assert_int_eq(mg_embed(MG_EMBED_TITAN_MODEL, texts, lens, 1, va, &retry, err,
                              sizeof(err)), -1);
    ck_assert_int_eq(fake.requests, 1);
    ck_assert_int_eq(retry, 0);
    ck_assert_msg(strstr(err, "403") && strstr(err, "security token"), "%s", err);
    fake_stop();
}
END_TEST

START_TEST(test_bedrock_api_key)
{
    const char  *texts[1] = { "hello" };
    size_t       lens[1] = { 5 };
    char        *vec = vector_json(1), *ok, err[256] = "";
    int          st[1] = { 200 }, retry;

    ck_assert_int_ne(asprintf(&ok, "{\"embedding\":%s}", vec), -1);
    fake_start(1, st, &ok);
    titan_env();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-123", 1);
    ck_assert_msg(mg_embed(MG_EMBED_TITAN_MODEL, texts, lens, 1, va, &retry, err,
                           sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(fake.auth[0], "Bearer bedrock-api-key-123");
    fake_stop();
    free(ok);
    free(vec);
}
END_TEST

START_TEST(test_openai_batch)
{
    const char  *texts[3] = { "a", "b", "c" };
    size_t       lens[3] = { 1, 1, 1 };
    char        *v1 = vector_json(1), *v2 = vector_json(-1), *ok, *bodies[2], url[64];
    char         err[256] = "";
    float       *out = calloc(3 * DIM, sizeof(float));
    int          st[2] = { 429, 200 }, retry;
    json_t      *j;

    ck_assert_int_ne(asprintf(&ok, "{\"data\":[{\"index\":2,\"embedding\":%s},"
                              "{\"index\":0,\"embedding\":%s},{\"index\":1,\"embedding\":%s}]}",
                              v2, v1, v1), -1);
    bodies[0] = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}";
    bodies[1] = ok;
    fake_start(2, st, bodies);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/", fake.port);
    setenv("MANGOO_OPENAI_BASE_URL", url, 1);
    setenv("MANGOO_OPENAI_API_KEY", "sk-test", 1);
    ck_assert_msg(mg_embed("openai:emb-model", texts, lens, 3, out, &retry, err,
                           sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(fake.requests, 2);            /* one batch, retried once */
    ck_assert_str_eq(fake.path[1], "/v1/embeddings");
    ck_assert_str_eq(fake.auth[1], "Bearer sk-test");
    j = json_loads(fake.req_body[1], 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "emb-model");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "input")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "dimensions")), 1024);
    json_decref(j);
    check_vector_json(out, 1);
    check_vector_json(out + DIM, 1);
    check_vector_json(out + 2 * DIM, -1);
    fake_stop();

    /* the wrong size is an error, not retried */
    bodies[0] = "{\"data\":[{\"index\":0,\"embedding\":[0.1,0.2]}]}";
    st[0] = 200;
    fake_start(1, st, bodies);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", fake.port);
    setenv("MANGOO_OPENAI_BASE_URL", url, 1);
    unsetenv("MANGOO_OPENAI_API_KEY");
    ck_assert_int_eq(mg_embed("openai:emb-model", texts, lens, 1, out, &retry, err,
                              sizeof(err)), -1);
    ck_assert_int_eq(retry, 0);
    ck_assert_int_eq(fake.requests, 1);
    ck_assert_str_eq(fake.auth[0], "");             /* no key, no header */
    ck_assert_ptr_nonnull(strstr(err, "2 dimensions"));
    fake_stop();
    free(ok);
    free(v1);
    free(v2);
    free(out);
}
END_TEST

START_TEST(test_unreachable_is_retryable)
{
    const char  *texts[1] = { "a" };
    size_t       lens[1] = { 1 };
    char         err[256] = "";
    int          retry = 0, st[1] = { 200 };
    char        *bodies[1] = { "{}" };
    char         url[64];

    /* a port nobody listens on: take one, then close it */
    fake_start(1, st, bodies);
    fake_stop();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", fake.port);
    setenv("MANGOO_OPENAI_BASE_URL", url, 1);
    ck_assert_int_eq(mg_embed("openai:m", texts, lens, 1, va, &retry, err, sizeof(err)), -1);
    ck_assert_int_eq(retry, 1);
    ck_assert_ptr_nonnull(strstr(err, "could not be reached"));
}
END_TEST

static Suite *
embed_suite(void)
{
    Suite  *s = suite_create("mg_embed");
    TCase  *tc = tcase_create("local and wire");
    TCase  *calls = tcase_create("calls");

    tcase_add_test(tc, test_local_unit_and_deterministic);
    tcase_add_test(tc, test_local_similarity);
    tcase_add_test(tc, test_local_unicode);
    tcase_add_test(tc, test_empty_refused);
    tcase_add_test(tc, test_text_form_parses_back);
    tcase_add_test(tc, test_binary_form);
    tcase_add_test(tc, test_titan_wire);
    tcase_add_test(tc, test_openai_wire);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(calls, setup, teardown);
    tcase_set_timeout(calls, 60);
    tcase_add_test(calls, test_availability);
    tcase_add_test(calls, test_titan_calls_one_per_text_signed);
    tcase_add_test(calls, test_titan_retries_throttling_then_succeeds);
    tcase_add_test(calls, test_titan_gives_up_after_three_tries);
    tcase_add_test(calls, test_titan_client_error_is_final);
    tcase_add_test(calls, test_bedrock_api_key);
    tcase_add_test(calls, test_openai_batch);
    tcase_add_test(calls, test_unreachable_is_retryable);
    suite_add_tcase(s, calls);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(embed_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
