/*
 * check_worker_aws_credentials: where AWS settings come from (worker/aws/
 * credentials.c).  Environment precedence for keys, region and endpoint;
 * the container endpoint served by a small HTTP server on a loopback port
 * run by this test in a thread (canned answers, counted requests): the
 * cache, the refresh before expiry, the Authorization token from the
 * variable and from the file, clear errors, stale credentials kept when a
 * refresh fails, one fetch for many threads.  Every test starts from an
 * environment without AWS variables and puts the old one back after.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials.h"

static const char *const env_names[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL",
};
#define NENV (sizeof(env_names) / sizeof(env_names[0]))

static char  *saved_env[NENV];


/* The fake container endpoint */

#define FAKE_ANSWERS 8

typedef struct {
    int              fd, port;
    pthread_t        thread;
    pthread_mutex_t  lock;
    int              stop;
    int              requests;          /* answered so far */
    char             path[256];         /* of the last request */
    char             auth[512];         /* its Authorization value, "" without */
    int              status[FAKE_ANSWERS];
    char             body[FAKE_ANSWERS][1024];
    int              delay_ms;          /* before each answer */
} fake_t;

static fake_t  fake;

/* Answer request k (0-based) with status and body; the last set answer
 * also serves every later request. */
static void
fake_answer(int k, int status, const char *body)
{
    ck_assert_int_lt(k, FAKE_ANSWERS);
    pthread_mutex_lock(&fake.lock);
    fake.status[k] = status;
    snprintf(fake.body[k], sizeof(fake.body[k]), "%s", body);
    pthread_mutex_unlock(&fake.lock);
}

static int
fake_requests(void)
{
    int  n;

    pthread_mutex_lock(&fake.lock);
    n = fake.requests;
    pthread_mutex_unlock(&fake.lock);
    return n;
}

/* What the last request carried (copied under the lock). */
static const char *
fake_seen(int auth)
{
    static char  buf[512];

    pthread_mutex_lock(&fake.lock);
    snprintf(buf, sizeof(buf), "%s", auth ? fake.auth : fake.path);
    pthread_mutex_unlock(&fake.lock);
    return buf;
}

static void
fake_delay(int ms)
{
    pthread_mutex_lock(&fake.lock);
    fake.delay_ms = ms;
    pthread_mutex_unlock(&fake.lock);
}

/* The value of header name in the request head req, into out. */
static void
header_value(const char *req, const char *name, char *out, size_t len)
{
    const char  *p = req, *e;
    size_t       n = strlen(name);

    out[0] = '\0';
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ') {
                p++;
            }
            e = strstr(p, "\r\n");
            n = e != NULL ? (size_t) (e - p) : strlen(p);
            n = n < len - 1 ? n : len - 1;
            memcpy(out, p, n);
            out[n] = '\0';
            return;
        }
    }
}

static void
fake_serve(int c)
{
    char             req[8192], resp[2048], path[256] = "", auth[512];
    size_t           got = 0;
    ssize_t          r;
    int              k, n, status, delay;
    struct timespec  ts;

    while (got < sizeof(req) - 1) {
        r = read(c, req + got, sizeof(req) - 1 - got);
        if (r <= 0) {
            return;
        }
        got += (size_t) r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL) {
            break;
        }
    }
    sscanf(req, "GET %255s ", path);
    header_value(req, "Authorization", auth, sizeof(auth));

    pthread_mutex_lock(&fake.lock);
    k = fake.requests < FAKE_ANSWERS ? fake.requests : FAKE_ANSWERS - 1;
    while (k > 0 && fake.status[k] == 0) {
        k--;
    }
    status = fake.status[k];
    n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
                 strlen(fake.body[k]), fake.body[k]);
    memcpy(fake.path, path, sizeof(path));
    memcpy(fake.auth, auth, sizeof(auth));
    fake.requests++;
    delay = fake.delay_ms;
    pthread_mutex_unlock(&fake.lock);

    if (delay > 0) {
        ts.tv_sec = delay / 1000;
        ts.tv_nsec = (long) (delay % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
    if (n > 0 && (size_t) n < sizeof(resp)) {
        (void) !write(c, resp, (size_t) n);
    }
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

/* A listening loopback socket on a free port; *port its number. */
static int
loopback_listener(int *port)
{
    struct sockaddr_in  a;
    socklen_t           alen = sizeof(a);
    int                 fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void
fake_start(void)
{
    char  url[128];

    memset(&fake, 0, sizeof(fake));
    pthread_mutex_init(&fake.lock, NULL);
    fake.fd = loopback_listener(&fake.port);
    ck_assert_int_eq(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds?role=r1", fake.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

static void
fake_stop(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.stop = 1;
    pthread_mutex_unlock(&fake.lock);
    pthread_join(fake.thread, NULL);
    close(fake.fd);
    pthread_mutex_destroy(&fake.lock);
}

/* The endpoint's JSON for credentials expiring in secs from now. */
static const char *
creds_json(const char *akid, long secs)
{
    static char  buf[1024];
    char         when[32];
    time_t       t = time(NULL) + secs;
    struct tm    tm;

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, sizeof(buf), "{\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"secret-%s\","
             "\"Token\":\"token-%s\",\"Expiration\":\"%s\",\"RoleArn\":\"arn:x\"}",
             akid, akid, akid, when);
    return buf;
}


/* Fixtures: a clean environment, an empty cache */

static void
setup(void)
{
    size_t       i;
    const char  *v;

    for (i = 0; i < NENV; i++) {
        v = getenv(env_names[i]);
        saved_env[i] = v != NULL ? strdup(v) : NULL;
        unsetenv(env_names[i]);
    }
    mg_aws_creds_reset();
}

static void
teardown(void)
{
    size_t  i;

    for (i = 0; i < NENV; i++) {
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


/* The environment */

START_TEST(test_env_keys)
{
    mg_aws_creds_t  c;
    char            err[256];

    ck_assert_int_eq(mg_aws_creds_configured(), 0);
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "no AWS credentials") != NULL, "%s", err);

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    ck_assert_int_eq(mg_aws_creds_configured(), 1);
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY"), "%s",
                  err);

    setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.access_key_id, "AKIDENV");
    ck_assert_str_eq(c.secret_access_key, "SECRETENV");
    ck_assert_str_eq(c.session_token, "");
    ck_assert_int_eq(c.expiration, 0);

    setenv("AWS_SESSION_TOKEN", "TOKENENV", 1);
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.session_token, "TOKENENV");

    /* static keys win over a container endpoint, which is never asked */
    fake_start();
    fake_answer(0, 200, creds_json("AKIDFAKE", 3600));
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.access_key_id, "AKIDENV");
    ck_assert_int_eq(fake_requests(), 0);
    fake_stop();

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID"), "%s",
                  err);

    /* empty counts as unset */
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    ck_assert_int_eq(mg_aws_creds_configured(), 0);
    ck_assert_int_eq(mg_aws_creds_get(&c, NULL, 0), -1);  /* no err buffer: fine */
}
END_TEST

START_TEST(test_bearer_token)
{
    mg_aws_creds_t  c;
    char            err[256];

    ck_assert_ptr_null(mg_aws_bearer_token());
    setenv("AWS_BEARER_TOKEN_BEDROCK", "", 1);
    ck_assert_ptr_null(mg_aws_bearer_token());
    ck_assert_int_eq(mg_aws_creds_configured(), 0);
    setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKQmVkcm9ja0FQSUtleS1example", 1);
    ck_assert_str_eq(mg_aws_bearer_token(), "ABSKQmVkcm9ja0FQSUtleS1example");
    ck_assert_int_eq(mg_aws_creds_configured(), 1);
    /* an API key is not SigV4 credentials */
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);

    unsetenv("AWS_BEARER_TOKEN_BEDROCK");
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x", 1);
    ck_assert_int_eq(mg_aws_creds_configured(), 1);
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x", 1);
    ck_assert_int_eq(mg_aws_creds_configured(), 1);
}
END_TEST

START_TEST(test_region_and_endpoint)
{
    char  ep[128], small[20];

    ck_assert_str_eq(mg_aws_region(), "us-east-1");
    ck_assert_int_eq(mg_aws_bedrock_endpoint(ep, sizeof(ep)), 0);
    ck_assert_str_eq(ep, "https://bedrock-runtime.us-east-1.amazonaws.com");

    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    ck_assert_str_eq(mg_aws_region(), "eu-west-3");
    setenv("AWS_REGION", "ap-northeast-1", 1);
    ck_assert_str_eq(mg_aws_region(), "ap-northeast-1");
    ck_assert_int_eq(mg_aws_bedrock_endpoint(ep, sizeof(ep)), 0);
    ck_assert_str_eq(ep, "https://bedrock-runtime.ap-northeast-1.amazonaws.com");
    ck_assert_int_eq(mg_aws_bedrock_endpoint(small, sizeof(small)), -1);
    setenv("AWS_REGION", "", 1);        /* empty: the next one */
    ck_assert_str_eq(mg_aws_region(), "eu-west-3");
    setenv("AWS_REGION", "us-east-1.evil.example/x", 1);
    ck_assert_int_eq(mg_aws_bedrock_endpoint(ep, sizeof(ep)), -1);

    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000//", 1);
    ck_assert_int_eq(mg_aws_bedrock_endpoint(ep, sizeof(ep)), 0);
    ck_assert_str_eq(ep, "http://127.0.0.1:9000");
    setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://bedrock.internal.example/", 1);
    ck_assert_int_eq(mg_aws_bedrock_endpoint(ep, sizeof(ep)), 0);
    ck_assert_str_eq(ep, "https://bedrock.internal.example");
    ck_assert_int_eq(mg_aws_bedrock_endpoint(small, sizeof(small)), -1);
    setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "ftp://x", 1);
    ck_assert_int_eq(mg_aws_bedrock_endpoint(ep, sizeof(ep)), -1);
}
END_TEST

START_TEST(test_container_url)
{
    static const struct {
        const char  *full;
        int          ok;
    } fulls[] = {
        { "http://127.0.0.1:8080/creds",        1 },
        { "http://127.1.2.3/creds",             1 },
        { "http://localhost/creds",             1 },
        { "http://LOCALHOST:1/",                1 },
        { "http://[::1]:8080/creds",            1 },
        { "http://169.254.170.2/v2/x",          1 },
        { "http://169.254.170.23/v1/credentials", 1 },
        { "http://[fd00:ec2::23]/v1/credentials", 1 },
        { "https://creds.example.com/x",        1 },
        { "http://creds.example.com/x",         0 },
        { "http://10.0.0.1/x",                  0 },
        { "http://169.254.169.254/latest",      0 },
        { "http://127.0.0.1@evil.example/x",    0 },
        { "http://[::2]/x",                     0 },
        { "http://[::1/x",                      0 },
        { "ftp://127.0.0.1/x",                  0 },
        { "127.0.0.1/x",                        0 },
    };
    char            url[256], err[256], small[24];
    mg_aws_creds_t  c;
    size_t          i;

    ck_assert_int_eq(mg_aws_container_url(url, sizeof(url), err, sizeof(err)), 0);

    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/1f2e-uuid?a=1", 1);
    ck_assert_int_eq(mg_aws_container_url(url, sizeof(url), err, sizeof(err)), 1);
    ck_assert_str_eq(url, "http://169.254.170.2/v2/credentials/1f2e-uuid?a=1");
    ck_assert_int_eq(mg_aws_container_url(small, sizeof(small), err, sizeof(err)), -1);
    /* the relative URI wins over the full one */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/full", 1);
    ck_assert_int_eq(mg_aws_container_url(url, sizeof(url), err, sizeof(err)), 1);
    ck_assert_str_eq(url, "http://169.254.170.2/v2/credentials/1f2e-uuid?a=1");
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/credentials", 1);
    ck_assert_int_eq(mg_aws_container_url(url, sizeof(url), err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "must start with '/'") != NULL, "%s", err);
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");

    for (i = 0; i < sizeof(fulls) / sizeof(fulls[0]); i++) {
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", fulls[i].full, 1);
        err[0] = '\0';
        ck_assert_msg(mg_aws_container_url(url, sizeof(url), err, sizeof(err))
                      == (fulls[i].ok ? 1 : -1), "%s", fulls[i].full);
        if (fulls[i].ok) {
            ck_assert_str_eq(url, fulls[i].full);
        } else {
            ck_assert_msg(strstr(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL, "%s", err);
        }
    }

    /* a refused URL is the error get answers, with no request made */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://creds.example.com/x", 1);
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "use https") != NULL, "%s", err);
}
END_TEST


/* The container endpoint */

START_TEST(test_fetch_and_cache)
{
    mg_aws_creds_t  c;
    char            err[256] = "";
    time_t          before = time(NULL);

    fake_start();
    fake_answer(0, 200, creds_json("AKIDONE", 3600));
    ck_assert_int_eq(mg_aws_creds_configured(), 1);
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDONE");
    ck_assert_str_eq(c.secret_access_key, "secret-AKIDONE");
    ck_assert_str_eq(c.session_token, "token-AKIDONE");
    ck_assert_int_ge(c.expiration, before + 3600);
    ck_assert_int_le(c.expiration, time(NULL) + 3600);
    ck_assert_str_eq(fake_seen(0), "/creds?role=r1");
    ck_assert_str_eq(fake_seen(1), "");    /* no token configured, none sent */

    /* the second get is served from the cache */
    fake_answer(0, 200, creds_json("AKIDTWO", 3600));
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDONE");
    ck_assert_int_eq(fake_requests(), 1);

    /* a reset forgets it */
    mg_aws_creds_reset();
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDTWO");
    ck_assert_int_eq(fake_requests(), 2);
    fake_stop();
}
END_TEST

START_TEST(test_refresh_before_expiry)
{
    mg_aws_creds_t  c;
    char            err[256] = "";

    fake_start();
    fake_answer(0, 200, creds_json("AKIDSOON", 240));      /* 4 minutes left */
    fake_answer(1, 200, creds_json("AKIDLATER", 3600));
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDSOON");
    ck_assert_int_eq(fake_requests(), 1);
    /* under 5 minutes left: fetched again */
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDLATER");
    ck_assert_int_eq(fake_requests(), 2);
    /* an hour left: not again */
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDLATER");
    ck_assert_int_eq(fake_requests(), 2);
    fake_stop();
}
END_TEST

START_TEST(test_authorization_token)
{
    mg_aws_creds_t  c;
    char            err[256] = "", path[] = "/tmp/check-aws-token-XXXXXX";
    int             fd;

    fake_start();
    fake_answer(0, 200, creds_json("AKIDAUTH", 3600));

    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic abcd", 1);
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(fake_seen(1), "Basic abcd");

    /* the file wins over the variable, read again on each fetch */
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "eks-pod-identity-token-1\n", 25), 25);
    close(fd);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
    mg_aws_creds_reset();
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(fake_seen(1), "eks-pod-identity-token-1");
    ck_assert_int_eq(fake_requests(), 2);

    /* a token that would break the header line is refused, not sent */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "a\r\nX-Evil: 1", 12), 12);
    close(fd);
    mg_aws_creds_reset();
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "control character") != NULL, "%s", err);
    ck_assert_int_eq(fake_requests(), 2);

    /* an empty file, then a missing one */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mg_aws_creds_reset();
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "is empty") != NULL, "%s", err);
    unlink(path);
    mg_aws_creds_reset();
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") != NULL
                  && strstr(err, path) != NULL, "%s", err);
    ck_assert_int_eq(fake_requests(), 2);

    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer x\ny", 1);
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    mg_aws_creds_reset();
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "control character") != NULL, "%s", err);
    fake_stop();
}
END_TEST

START_TEST(test_endpoint_errors)
{
    static const struct {
        int          status;
        const char  *body;
        const char  *want;
    } cases[] = {
        { 500, "{\"code\":\"InternalError\",\"message\":\"agent broke\"}",
               "answered HTTP 500: agent broke" },
        { 403, "forbidden",                     "answered HTTP 403" },
        { 200, "<html>not json</html>",         "not a JSON object" },
        { 200, "[1,2]",                         "not a JSON object" },
        { 200, "{\"AccessKeyId\":\"A\",\"Expiration\":\"2099-01-01T00:00:00Z\"}",
               "lacks AccessKeyId or SecretAccessKey" },
        { 200, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", "no valid Expiration" },
        { 200, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"tomorrow\"}",
               "no valid Expiration" },
        { 200, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
               "\"Expiration\":\"2015-08-30T12:36:00Z\"}", "expired credentials" },
    };
    mg_aws_creds_t  c;
    char            err[256], url[128];
    size_t          i;
    int             fd, port;

    fake_start();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_aws_creds_reset();
        fake_answer(0, cases[i].status, cases[i].body);
        err[0] = '\0';
        ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: \"%s\", want \"%s\"", i,
                      err, cases[i].want);
        ck_assert_int_eq(fake_requests(), (int) i + 1);

        /* failed a moment ago: the same reason, without asking again */
        ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu again: \"%s\"", i, err);
        ck_assert_int_eq(fake_requests(), (int) i + 1);
    }
    fake_stop();

    /* nobody listening */
    fd = loopback_listener(&port);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    mg_aws_creds_reset();
    ck_assert_int_eq(mg_aws_creds_get(&c, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "the credentials endpoint failed") != NULL, "%s", err);
}
END_TEST

/* Times the endpoint may write */
START_TEST(test_expiration_forms)
{
    static const struct {
        const char  *exp;
        long long    want;
    } cases[] = {
        { "2099-01-01T00:00:00Z",           4070908800LL },
        { "2099-01-01T00:00:00.123456Z",    4070908800LL },
        { "2099-01-01T01:00:00+01:00",      4070908800LL },
        { "2098-12-31T23:30:00-00:30",      4070908800LL },
    };
    mg_aws_creds_t  c;
    char            err[256] = "", body[256];
    size_t          i;

    fake_start();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
                 "\"Expiration\":\"%s\"}", cases[i].exp);
        fake_answer(0, 200, body);
        mg_aws_creds_reset();
        ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s: %s", cases[i].exp, err);
        ck_assert_msg((long long) c.expiration == cases[i].want, "%s: %lld", cases[i].exp,
                      (long long) c.expiration);
        ck_assert_str_eq(c.session_token, "");          /* no Token: none */
    }
    fake_stop();
}
END_TEST

/* Run get with stderr going to a file; what mg_log wrote into out. */
static int
get_capturing_log(mg_aws_creds_t *c, char *err, size_t errlen, char *out, size_t outlen)
{
    char  path[] = "/tmp/check-aws-log-XXXXXX";
    int   fd = mkstemp(path), saved = dup(2), rc;
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    rc = mg_aws_creds_get(c, err, errlen);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

START_TEST(test_stale_kept_when_refresh_fails)
{
    mg_aws_creds_t  c;
    char            err[256] = "", log[2048];

    fake_start();
    fake_answer(0, 200, creds_json("AKIDSTALE", 240));     /* refresh due, still valid */
    fake_answer(1, 503, "{\"message\":\"agent restarting\"}");
    ck_assert_msg(mg_aws_creds_get(&c, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDSTALE");

    /* the refresh fails: the cached credentials serve, with a warning */
    memset(&c, 0, sizeof(c));
    ck_assert_msg(get_capturing_log(&c, err, sizeof(err), log, sizeof(log)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDSTALE");
    ck_assert_str_eq(c.secret_access_key, "secret-AKIDSTALE");
    ck_assert_int_eq(fake_requests(), 2);
    ck_assert_msg(strstr(log, "\"level\":\"warn\"") != NULL && strstr(log, "agent restarting") != NULL
                  && strstr(log, "cached") != NULL, "log: %s", log);
    ck_assert_ptr_null(strstr(log, "secret-AKIDSTALE"));

    /* within the retry delay: served again, not fetched again, not logged again */
    ck_assert_msg(get_capturing_log(&c, err, sizeof(err), log, sizeof(log)) == 0, "%s", err);
    ck_assert_str_eq(c.access_key_id, "AKIDSTALE");
    ck_assert_int_eq(fake_requests(), 2);
    ck_assert_str_eq(log, "");
    fake_stop();
}
END_TEST

/* Many threads, no credentials yet, a slow endpoint: one fetch. */
static void *
getter(void *arg)
{
    mg_aws_creds_t  c;
    char            err[256];
    int            *ok = arg;

    *ok = mg_aws_creds_get(&c, err, sizeof(err)) == 0 && strcmp(c.access_key_id, "AKIDMANY") == 0;
    return NULL;
}

START_TEST(test_one_fetch_for_many_threads)
{
    pthread_t  t[8];
    int        ok[8], i;

    fake_start();
    fake_answer(0, 200, creds_json("AKIDMANY", 3600));
    fake_delay(300);
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, getter, &ok[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(ok[i], "thread %d", i);
    }
    ck_assert_int_eq(fake_requests(), 1);
    fake_stop();
}
END_TEST


static Suite *
credentials_suite(void)
{
    Suite  *s = suite_create("mg_aws_credentials");
    TCase  *tc = tcase_create("credentials");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_env_keys);
    tcase_add_test(tc, test_bearer_token);
    tcase_add_test(tc, test_region_and_endpoint);
    tcase_add_test(tc, test_container_url);
    tcase_add_test(tc, test_fetch_and_cache);
    tcase_add_test(tc, test_refresh_before_expiry);
    tcase_add_test(tc, test_authorization_token);
    tcase_add_test(tc, test_endpoint_errors);
    tcase_add_test(tc, test_expiration_forms);
    tcase_add_test(tc, test_stale_kept_when_refresh_fails);
    tcase_add_test(tc, test_one_fetch_for_many_threads);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(credentials_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
