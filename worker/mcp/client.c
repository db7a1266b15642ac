/*
 * mg_mcp_client: owns a server's configuration, its session and the
 * JSON-RPC ids (client.h); the transports (http.c, stdio.c) only move
 * messages.
 *
 * The session: one thread at a time begins it (initializing), the others
 * wait for it, each within its own deadline.  epoch names the session a
 * request went out in, so a 404 seen late by one thread does not throw
 * away a session another thread has just begun: HTTP counts sessions,
 * stdio uses the child's generation.
 *
 * An HTTP client also listens on the server's own stream (a GET), from
 * its first session until it is freed, on a thread of its own: that is
 * where a server says its tools changed when no request is running.  A
 * stream that ends or breaks is opened again after the server's retry
 * time (with Last-Event-ID, so nothing is missed), one that cannot be
 * opened after a growing pause; a server that refuses it (405, or another
 * 4xx) is left alone until the next session.  A stream reopened without
 * an id to resume from counts as a change: one may have been missed.
 */
#include "mcp/client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mcp/content.h"
#include "mcp/http.h"
#include "mcp/rpc.h"
#include "mcp/stdio.h"
#include "mcp/wait.h"
#include "util/errf.h"
#include "util/log.h"

#define MG_MCP_CANCEL_MS   1000     /* for notifications/cancelled, once the call is over */
#define MG_MCP_DELETE_MS   1000     /* for ending an HTTP session */
#define MG_MCP_LISTEN_MS   3600000L /* one GET stream at most; then another */
#define MG_MCP_BACKOFF_MS  1000L    /* the first pause after a stream failed to open */
#define MG_MCP_BACKOFF_MAX 30000L

/* What we accept from a server's initialize, ours first. */
static const char *const mg_mcp_versions[] = { MG_MCP_PROTOCOL_VERSION, "2025-03-26" };

struct mg_mcp_client_s {
    char                *name;
    char                *url;
    mg_mcp_transport_t   transport;
    json_t              *headers, *command, *env;
    size_t               max;
    char                 config_err[300];   /* "": usable */
    mg_mcp_http_t       *http;
    mg_mcp_stdio_t      *stdio;
    atomic_uint          tools_gen;
    atomic_llong         next_id;

    pthread_mutex_t      lock;              /* the session */
    pthread_cond_t       changed;           /* initializing ended */
    int                  initializing;
    int                  ready;
    unsigned             epoch;
    char                 version[16];
    char                *session_id;        /* HTTP; NULL when the server gave none */

    pthread_t            listener;          /* HTTP: the server's own stream */
    int                  listening;         /* the thread runs; under lock */
    atomic_int           listen_stop;
};

mg_mcp_client_t *
mg_mcp_client_new(const mg_mcp_config_t *cfg)
{
    mg_mcp_client_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    if (mg_mcp_cond_init(&c->changed) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    atomic_init(&c->tools_gen, 0);
    atomic_init(&c->next_id, 1);
    atomic_init(&c->listen_stop, 0);
    c->transport = cfg->transport;
    c->max = cfg->max_result > 0 ? cfg->max_result : MG_MCP_MAX_RESULT;
    c->name = strdup(cfg->name != NULL && cfg->name[0] != '\0' ? cfg->name : "mcp");
    if (c->name == NULL
        || (cfg->url != NULL && (c->url = strdup(cfg->url)) == NULL)
        || (cfg->headers != NULL && (c->headers = json_deep_copy(cfg->headers)) == NULL)
        || (cfg->command != NULL && (c->command = json_deep_copy(cfg->command)) == NULL)
        || (cfg->env != NULL && (c->env = json_deep_copy(cfg->env)) == NULL))
    {
        mg_mcp_client_free(c);
        return NULL;
    }

    switch (c->transport) {
    case MG_MCP_HTTP:
        if (c->url == NULL || (strncasecmp(c->url, "http://", 7) != 0
                               && strncasecmp(c->url, "https://", 8) != 0))
        {
            mg_errf(c->config_err, sizeof(c->config_err),
                    "the MCP server %s needs an http:// or https:// URL", c->name);
            break;
        }
        c->http = mg_mcp_http_new(c->name, c->url, c->headers, c->max, &c->tools_gen,
                                  c->config_err, sizeof(c->config_err));
        break;
    case MG_MCP_STDIO:
        c->stdio = mg_mcp_stdio_new(c->name, c->command, c->env, c->max, &c->tools_gen,
                                    c->config_err, sizeof(c->config_err));
        break;
    default:
        mg_errf(c->config_err, sizeof(c->config_err),
                "the MCP server %s has an unknown transport", c->name);
        break;
    }
    if (strcmp(c->config_err, "out of memory") == 0) {
        mg_mcp_client_free(c);
        return NULL;
    }
    return c;
}

void
mg_mcp_client_free(mg_mcp_client_t *c)
{
    if (c == NULL) {
        return;
    }
    if (c->listening) {
        /* its GET sees the flag within MG_MCP_POLL_MS */
        atomic_store(&c->listen_stop, 1);
        pthread_mutex_lock(&c->lock);
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->listener, NULL);
    }
    if (c->http != NULL && c->session_id != NULL) {
        mg_mcp_http_delete(c->http, c->session_id, c->version, MG_MCP_DELETE_MS);
    }
    mg_mcp_http_free(c->http);
    mg_mcp_stdio_free(c->stdio);
    free(c->session_id);
    free(c->name);
    free(c->url);
    json_decref(c->headers);
    json_decref(c->command);
    json_decref(c->env);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

unsigned
mg_mcp_tools_generation(mg_mcp_client_t *c)
{
    return atomic_load(&c->tools_gen);
}

void
mg_mcp_client_version(mg_mcp_client_t *c, char *out, size_t outlen)
{
    pthread_mutex_lock(&c->lock);
    snprintf(out, outlen, "%s", c->ready ? c->version : "");
    pthread_mutex_unlock(&c->lock);
}

/* The sentence for a timeout or a cancellation, replacing a transport's
 * short one; other failures keep theirs. */
static void
mg_mcp_explain(mg_mcp_client_t *c, int rc, const char *method, long timeout_ms,
               char *err, size_t errlen)
{
    if (rc == MG_MCP_TIMEOUT) {
        mg_errf(err, errlen, "the MCP server %s did not answer %s within %ld ms", c->name,
                method, timeout_ms);
    } else if (rc == MG_MCP_CANCELLED) {
        mg_errf(err, errlen, "the call to the MCP server %s was cancelled", c->name);
    }
}

/* The request's text, or -1 (out of memory) in err. */
static char *
mg_mcp_request_text(long long id, const char *method, json_t *params, char *err, size_t errlen)
{
    char *text = mg_rpc_request(id, method, params);

    if (text == NULL) {
        mg_errf(err, errlen, "out of memory");
    }
    return text;
}

/* The answer to initialize: the version we speak with, or why not. */
static int
mg_mcp_check_init(mg_mcp_client_t *c, json_t *resp, long long id, char *version,
                  size_t versionlen, char *err, size_t errlen)
{
    json_t      *result, *v, *info;
    char         why[300];
    int          rpc_error;

    if (mg_rpc_result(resp, id, &result, &rpc_error, why, sizeof(why)) != 0) {
        mg_errf(err, errlen, rpc_error ? "the MCP server %s refused initialize: %s"
                                       : "the MCP server %s sent a malformed answer to "
                                         "initialize: %s", c->name, why);
        return -1;
    }
    v = json_object_get(result, "protocolVersion");
    if (!json_is_object(result) || !json_is_string(v)) {
        mg_errf(err, errlen, "the MCP server %s answered initialize without a protocolVersion",
                c->name);
        return -1;
    }
    for (size_t i = 0; i < sizeof(mg_mcp_versions) / sizeof(mg_mcp_versions[0]); i++) {
        if (strcmp(json_string_value(v), mg_mcp_versions[i]) == 0) {
            snprintf(version, versionlen, "%s", mg_mcp_versions[i]);
            info = json_object_get(result, "serverInfo");
            mg_log_info("mcp %s: session begun (protocol %s, server %.100s %.40s)", c->name,
                        version, json_is_string(json_object_get(info, "name"))
                            ? json_string_value(json_object_get(info, "name")) : "unnamed",
                        json_is_string(json_object_get(info, "version"))
                            ? json_string_value(json_object_get(info, "version")) : "");
            return 0;
        }
    }
    mg_errf(err, errlen, "the MCP server %s speaks protocol version \"%.40s\", which this "
            "client does not (it speaks %s and %s)", c->name, json_string_value(v),
            mg_mcp_versions[0], mg_mcp_versions[1]);
    return -1;
}

static json_t *
mg_mcp_init_params(void)
{
    return json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", MG_MCP_PROTOCOL_VERSION,
                     "capabilities", "clientInfo", "name", "mangoo", "version", "1.0");
}

static int
mg_mcp_init_http(mg_mcp_client_t *c, const mg_mcp_wait_t *w, long timeout_ms,
                 char *err, size_t errlen)
{
    long long    id = atomic_fetch_add(&c->next_id, 1);
    json_t      *params = mg_mcp_init_params(), *resp = NULL;
    char        *body = NULL, *note = NULL, *sid = NULL, version[16];
    int          rc;

    if (params == NULL
        || (body = mg_mcp_request_text(id, "initialize", params, err, errlen)) == NULL
        || (note = mg_rpc_notification("notifications/initialized", NULL)) == NULL)
    {
        mg_errf(err, errlen, "out of memory");
        rc = MG_MCP_FAILED;
        goto done;
    }
    rc = mg_mcp_http_post(c->http, body, id, NULL, NULL, w, &resp, &sid, err, errlen);
    if (rc != MG_MCP_OK) {
        mg_mcp_explain(c, rc, "initialize", timeout_ms, err, errlen);
        goto done;
    }
    if (mg_mcp_check_init(c, resp, id, version, sizeof(version), err, errlen) != 0) {
        if (sid != NULL) {
            mg_mcp_http_delete(c->http, sid, NULL, MG_MCP_DELETE_MS);
        }
        rc = MG_MCP_FAILED;
        goto done;
    }
    rc = mg_mcp_http_post(c->http, note, -1, sid, version, w, NULL, NULL, err, errlen);
    if (rc != MG_MCP_OK) {
        mg_mcp_explain(c, rc, "notifications/initialized", timeout_ms, err, errlen);
        goto done;
    }

    pthread_mutex_lock(&c->lock);
    free(c->session_id);
    c->session_id = sid;
    sid = NULL;
    snprintf(c->version, sizeof(c->version), "%s", version);
    c->epoch++;
    pthread_mutex_unlock(&c->lock);

done:
    json_decref(params);
    json_decref(resp);
    free(body);
    free(note);
    free(sid);
    return rc;
}

static int
mg_mcp_init_stdio(mg_mcp_client_t *c, const mg_mcp_wait_t *w, long timeout_ms,
                  char *err, size_t errlen)
{
    long long    id;
    json_t      *params = NULL, *resp = NULL;
    char        *body = NULL, *note = NULL, version[16];
    unsigned     gen;
    int          rc;

    rc = mg_mcp_stdio_start(c->stdio, w, &gen, err, errlen);
    if (rc != MG_MCP_OK) {
        if (rc == MG_MCP_CANCELLED) {
            mg_mcp_explain(c, rc, "", 0, err, errlen);
        }
        return rc;
    }
    id = atomic_fetch_add(&c->next_id, 1);
    if ((params = mg_mcp_init_params()) == NULL
        || (body = mg_mcp_request_text(id, "initialize", params, err, errlen)) == NULL
        || (note = mg_rpc_notification("notifications/initialized", NULL)) == NULL)
    {
        mg_errf(err, errlen, "out of memory");
        rc = MG_MCP_FAILED;
        goto done;
    }
    rc = mg_mcp_stdio_request(c->stdio, gen, body, id, w, &resp, err, errlen);
    if (rc != MG_MCP_OK) {
        mg_mcp_explain(c, rc, "initialize", timeout_ms, err, errlen);
        goto done;
    }
    if (mg_mcp_check_init(c, resp, id, version, sizeof(version), err, errlen) != 0) {
        rc = MG_MCP_FAILED;
        goto done;
    }
    rc = mg_mcp_stdio_notify(c->stdio, gen, note, w, err, errlen);
    if (rc != MG_MCP_OK) {
        mg_mcp_explain(c, rc, "notifications/initialized", timeout_ms, err, errlen);
        goto done;
    }
    pthread_mutex_lock(&c->lock);
    snprintf(c->version, sizeof(c->version), "%s", version);
    c->epoch = gen;
    pthread_mutex_unlock(&c->lock);

done:
    if (rc != MG_MCP_OK) {
        /* a server left half way through initialize starts over next time */
        mg_mcp_stdio_stop(c->stdio, 0);
    }
    json_decref(params);
    json_decref(resp);
    free(body);
    free(note);
    return rc;
}

/* The session's epoch and, for HTTP, copies of its headers (another
 * thread may begin a new session meanwhile); lock held.  -1 when out of
 * memory. */
static int
mg_mcp_session_copy(mg_mcp_client_t *c, unsigned *epoch, char **sid, char *version,
                    size_t versionlen)
{
    *epoch = c->epoch;
    snprintf(version, versionlen, "%s", c->version);
    *sid = NULL;
    if (c->session_id != NULL && (*sid = strdup(c->session_id)) == NULL) {
        return -1;
    }
    return 0;
}

/* Wait on the session's condition for up to ms, or until stopped; lock held. */
static void
mg_mcp_listen_wait(mg_mcp_client_t *c, long ms)
{
    long long until = mg_now_ms() + ms;

    while (!atomic_load(&c->listen_stop) && mg_now_ms() < until) {
        long long left = until - mg_now_ms();

        mg_mcp_cond_wait_ms(&c->changed, &c->lock, left > 1000 ? 1000 : (long) left + 1);
    }
}

static void *
mg_mcp_listener(void *arg)
{
    mg_mcp_client_t  *c = arg;
    mg_mcp_resume_t   at = { "", -1 };
    unsigned          epoch = 0, refused = 0;
    int               have_epoch = 0, have_refused = 0, streams = 0, failing = 0;
    long              backoff = MG_MCP_BACKOFF_MS;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        mg_mcp_wait_t    w;
        unsigned         now_epoch;
        char            *sid = NULL, version[16], err[300];
        long             status = 0, pause;
        int              rc, opened = 0;

        while (!atomic_load(&c->listen_stop)
               && (!c->ready || c->initializing || (have_refused && c->epoch == refused)))
        {
            mg_mcp_cond_wait_ms(&c->changed, &c->lock, 1000);
        }
        if (atomic_load(&c->listen_stop)) {
            break;
        }
        if (mg_mcp_session_copy(c, &now_epoch, &sid, version, sizeof(version)) != 0) {
            mg_mcp_listen_wait(c, MG_MCP_BACKOFF_MS);       /* out of memory: later */
            continue;
        }
        pthread_mutex_unlock(&c->lock);

        if (!have_epoch || now_epoch != epoch) {
            at.last_id[0] = '\0';           /* a new session's stream starts afresh */
            epoch = now_epoch;
            have_epoch = 1;
        }
        if (streams > 0 && at.last_id[0] == '\0') {
            atomic_fetch_add(&c->tools_gen, 1);
        }
        w.deadline = mg_now_ms() + MG_MCP_LISTEN_MS;
        w.cancel = &c->listen_stop;
        rc = mg_mcp_http_listen(c->http, sid, version[0] ? version : NULL, &at, &w, &opened,
                                &status, err, sizeof(err));
        free(sid);

        pthread_mutex_lock(&c->lock);
        if (atomic_load(&c->listen_stop)) {
            break;
        }
        if (opened) {
            streams++;
            failing = 0;
            backoff = MG_MCP_BACKOFF_MS;
            pause = at.retry_ms >= 0 ? at.retry_ms : MG_MCP_BACKOFF_MS;
        } else if (rc == MG_MCP_TIMEOUT) {
            pause = 0;                      /* MG_MCP_LISTEN_MS passed: at once */
        } else if (rc == MG_MCP_EXPIRED
                   || (status / 100 == 4 && status != 408 && status != 409 && status != 429))
        {
            /* not offered (or not for this session; a call finds out which) */
            mg_log_info("mcp %s: the server offers no stream of its own (%s); changes to "
                        "its tools are seen only in its answers", c->name, err);
            refused = epoch;
            have_refused = 1;
            continue;
        } else {
            if (!failing++) {
                mg_log_warn("mcp %s: cannot open the server's stream: %s; trying again",
                            c->name, err);
            }
            pause = backoff;
            backoff = backoff * 2 < MG_MCP_BACKOFF_MAX ? backoff * 2 : MG_MCP_BACKOFF_MAX;
        }
        mg_mcp_listen_wait(c, pause);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* A session to send in: begun by this thread, or by another meanwhile.
 * MG_MCP_OK, its *epoch, *sid (malloc'd, NULL when the server gave none)
 * and version: the headers of a request in it; or a code with why in
 * err. */
static int
mg_mcp_session(mg_mcp_client_t *c, const mg_mcp_wait_t *w, long timeout_ms, unsigned *epoch,
               char **sid, char *version, size_t versionlen, char *err, size_t errlen)
{
    unsigned     gen;
    int          rc;

    *sid = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (!c->initializing) {
            if (c->ready && (c->transport == MG_MCP_HTTP
                             || (mg_mcp_stdio_running(c->stdio, &gen) && gen == c->epoch)))
            {
                rc = mg_mcp_session_copy(c, epoch, sid, version, versionlen);
                pthread_mutex_unlock(&c->lock);
                if (rc != 0) {
                    mg_errf(err, errlen, "out of memory");
                    return MG_MCP_FAILED;
                }
                return MG_MCP_OK;
            }
            break;
        }
        if ((rc = mg_mcp_wait_over(w)) != 0) {
            pthread_mutex_unlock(&c->lock);
            mg_mcp_explain(c, rc, "initialize", timeout_ms, err, errlen);
            return rc;
        }
        mg_mcp_cond_wait_ms(&c->changed, &c->lock, mg_mcp_wait_slice(w));
    }
    c->initializing = 1;
    c->ready = 0;
    pthread_mutex_unlock(&c->lock);

    rc = c->transport == MG_MCP_HTTP ? mg_mcp_init_http(c, w, timeout_ms, err, errlen)
                                     : mg_mcp_init_stdio(c, w, timeout_ms, err, errlen);

    pthread_mutex_lock(&c->lock);
    c->initializing = 0;
    c->ready = (rc == MG_MCP_OK);
    if (rc == MG_MCP_OK && mg_mcp_session_copy(c, epoch, sid, version, versionlen) != 0) {
        mg_errf(err, errlen, "out of memory");
        rc = MG_MCP_FAILED;
    }
    if (c->ready && c->transport == MG_MCP_HTTP && !c->listening) {
        if (pthread_create(&c->listener, NULL, mg_mcp_listener, c) == 0) {
            c->listening = 1;
        } else {
            mg_log_warn("mcp %s: no thread for the server's stream; changes to its tools "
                        "are seen only in its answers", c->name);
        }
    }
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* The HTTP server forgot session epoch: the next call begins another. */
static void
mg_mcp_session_lost(mg_mcp_client_t *c, unsigned epoch)
{
    pthread_mutex_lock(&c->lock);
    if (c->ready && !c->initializing && c->epoch == epoch) {
        mg_log_info("mcp %s: the server ended the session; beginning another", c->name);
        c->ready = 0;
        free(c->session_id);
        c->session_id = NULL;
    }
    pthread_mutex_unlock(&c->lock);
}

/* Tell the server we gave up on request id (never initialize), in the
 * session it was sent in. */
static void
mg_mcp_send_cancel(mg_mcp_client_t *c, unsigned epoch, const char *sid, const char *version,
                   long long id, const char *reason)
{
    json_t          *params = json_pack("{s:I, s:s}", "requestId", (json_int_t) id,
                                        "reason", reason);
    char            *note = params != NULL ? mg_rpc_notification("notifications/cancelled", params)
                                           : NULL;
    char             why[300];
    mg_mcp_wait_t    w = { mg_now_ms() + MG_MCP_CANCEL_MS, NULL };

    if (note != NULL) {
        if (c->transport == MG_MCP_HTTP) {
            (void) mg_mcp_http_post(c->http, note, -1, sid, version, &w, NULL, NULL,
                                    why, sizeof(why));
        } else {
            (void) mg_mcp_stdio_notify(c->stdio, epoch, note, &w, why, sizeof(why));
        }
    }
    json_decref(params);
    free(note);
}

/* One request and its result: 0, *resp (the caller's) and *result (an
 * object inside it); or -1 with why in err. */
static int
mg_mcp_request(mg_mcp_client_t *c, const char *method, json_t *params, const mg_mcp_wait_t *w,
               long timeout_ms, json_t **resp, json_t **result, char *err, size_t errlen)
{
    unsigned     epoch = 0;
    long long    id = 0;
    char        *body = NULL, *sid = NULL, version[16], why[300];
    int          rc, rpc_error;

    *resp = NULL;
    *result = NULL;
    if (c->config_err[0] != '\0') {
        mg_errf(err, errlen, "%s", c->config_err);
        return -1;
    }
    if ((rc = mg_mcp_wait_over(w)) != 0) {
        mg_mcp_explain(c, rc, method, timeout_ms, err, errlen);    /* nothing was sent */
        return -1;
    }
    for (int attempt = 0; ; attempt++) {
        free(sid);
        sid = NULL;
        rc = mg_mcp_session(c, w, timeout_ms, &epoch, &sid, version, sizeof(version),
                            err, errlen);
        if (rc != MG_MCP_OK) {
            return -1;
        }
        id = atomic_fetch_add(&c->next_id, 1);
        if ((body = mg_mcp_request_text(id, method, params, err, errlen)) == NULL) {
            free(sid);
            return -1;
        }
        if (c->transport == MG_MCP_HTTP) {
            rc = mg_mcp_http_post(c->http, body, id, sid, version, w, resp, NULL, err, errlen);
        } else {
            rc = mg_mcp_stdio_request(c->stdio, epoch, body, id, w, resp, err, errlen);
        }
        free(body);
        body = NULL;
        if (rc == MG_MCP_EXPIRED && attempt == 0) {
            mg_mcp_session_lost(c, epoch);
            continue;
        }
        break;
    }

    if (rc == MG_MCP_TIMEOUT || rc == MG_MCP_CANCELLED) {
        mg_mcp_send_cancel(c, epoch, sid, version, id,
                           rc == MG_MCP_TIMEOUT ? "timed out" : "cancelled");
        mg_mcp_explain(c, rc, method, timeout_ms, err, errlen);
    }
    free(sid);
    if (rc != MG_MCP_OK) {
        return -1;
    }
    if (mg_rpc_result(*resp, id, result, &rpc_error, why, sizeof(why)) == 0
        && !json_is_object(*result))
    {
        snprintf(why, sizeof(why), "a result that is not an object");
        *result = NULL;
    }
    if (*result == NULL) {
        mg_errf(err, errlen, rpc_error ? "the MCP server %s answered %s with an error: %s"
                                       : "the MCP server %s sent a malformed response to %s: %s",
                c->name, method, why);
        json_decref(*resp);
        *resp = NULL;
        *result = NULL;
        return -1;
    }
    return 0;
}

static mg_mcp_wait_t
mg_mcp_wait_for(long *timeout_ms, const atomic_int *cancel)
{
    mg_mcp_wait_t w;

    if (*timeout_ms <= 0) {
        *timeout_ms = MG_MCP_TIMEOUT_DEFAULT;
    }
    w.deadline = mg_now_ms() + *timeout_ms;
    w.cancel = cancel;
    return w;
}

int
mg_mcp_list_tools(mg_mcp_client_t *c, long timeout_ms, json_t **tools, char *err, size_t errlen)
{
    mg_mcp_wait_t    w = mg_mcp_wait_for(&timeout_ms, NULL);
    json_t          *all = json_array(), *params = NULL, *resp = NULL, *result, *list, *tool;
    json_t          *next;
    char            *cursor = NULL;
    int              page, rc = -1;
    size_t           i;

    *tools = NULL;
    if (all == NULL) {
        mg_errf(err, errlen, "out of memory");
        return -1;
    }
    for (page = 0; page < MG_MCP_LIST_PAGES_MAX; page++) {
        params = cursor != NULL ? json_pack("{s:s}", "cursor", cursor) : json_object();
        if (params == NULL) {
            mg_errf(err, errlen, "out of memory");
            goto done;
        }
        if (mg_mcp_request(c, "tools/list", params, &w, timeout_ms, &resp, &result,
                           err, errlen) != 0)
        {
            goto done;
        }
        json_decref(params);
        params = NULL;
        list = json_object_get(result, "tools");
        next = json_object_get(result, "nextCursor");
        if (!json_is_array(list)
            || (next != NULL && !json_is_string(next) && !json_is_null(next)))
        {
            mg_errf(err, errlen, "the MCP server %s sent a malformed tools/list result (%s)",
                    c->name, !json_is_array(list) ? "no tools array" : "a nextCursor that is "
                    "not a string");
            goto done;
        }
        json_array_foreach(list, i, tool) {
            if (!json_is_object(tool) || !json_is_string(json_object_get(tool, "name"))) {
                mg_log_warn("mcp %s: left out a tool without a name", c->name);
                continue;
            }
            if (json_array_size(all) >= MG_MCP_LIST_TOOLS_MAX) {
                mg_log_warn("mcp %s: more than %d tools; the rest are left out", c->name,
                            MG_MCP_LIST_TOOLS_MAX);
                next = NULL;
                break;
            }
            if (json_array_append(all, tool) != 0) {
                mg_errf(err, errlen, "out of memory");
                goto done;
            }
        }
        free(cursor);
        cursor = NULL;
        if (json_is_string(next) && (cursor = strdup(json_string_value(next))) == NULL) {
            mg_errf(err, errlen, "out of memory");
            goto done;
        }
        json_decref(resp);          /* next was in it */
        resp = NULL;
        if (cursor == NULL) {
            break;
        }
    }
    if (cursor != NULL) {
        mg_log_warn("mcp %s: more than %d pages of tools; the rest are left out", c->name,
                    MG_MCP_LIST_PAGES_MAX);
    }
    *tools = all;
    all = NULL;
    rc = 0;

done:
    json_decref(all);
    json_decref(params);
    json_decref(resp);
    free(cursor);
    return rc;
}

int
mg_mcp_call_tool(mg_mcp_client_t *c, const char *name, json_t *arguments, long timeout_ms,
                 const atomic_int *cancel, mg_sb_t *out, int *is_error, char *err, size_t errlen)
{
    mg_mcp_wait_t    w = mg_mcp_wait_for(&timeout_ms, cancel);
    json_t          *params, *resp, *result;
    char             why[200];
    int              rc;

    *is_error = 0;
    if (arguments != NULL && !json_is_object(arguments)) {
        mg_errf(err, errlen, "the arguments of %.64s must be an object", name);
        return -1;
    }
    params = json_object();
    if (params == NULL || json_object_set_new(params, "name", json_string(name)) != 0
        || json_object_set_new(params, "arguments",
                               arguments != NULL ? json_incref(arguments) : json_object()) != 0)
    {
        json_decref(params);
        mg_errf(err, errlen, "out of memory");
        return -1;
    }
    rc = mg_mcp_request(c, "tools/call", params, &w, timeout_ms, &resp, &result, err, errlen);
    json_decref(params);
    if (rc != 0) {
        return -1;
    }
    rc = mg_mcp_content_text(result, out, is_error, why, sizeof(why));
    json_decref(resp);
    if (rc != 0) {
        mg_errf(err, errlen, "the MCP server %s sent a malformed tools/call result: %s",
                c->name, why);
        return -1;
    }
    if (out->oom) {
        mg_errf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
