/*
 * mg_mcp_stdio: owns an MCP server's child process, its pipes and its
 * reader thread (stdio.h).
 *
 * Invariants:
 * - The child is spawned with posix_spawn: its own process group (so
 *   signals reach what it starts, npx's node for one), every signal at
 *   its default and none blocked (the worker's threads block SIGTERM and
 *   ignore SIGPIPE, which exec would pass on), and no descriptor but its
 *   three pipes (closefrom 3: the worker's sockets stay ours).
 * - in_fd is written only with wlock held, and closed only with wlock and
 *   lock held, so a writer never writes to a descriptor reused by the next
 *   child.  A line half written (a deadline passed in the middle) would
 *   corrupt the stream, so the child is stopped then.
 * - The reader owns out_fd and err_fd; it reaps the child (polling
 *   waitpid, so a grandchild holding stdout open cannot keep it waiting),
 *   sends the signals stop scheduled, and only then marks the child gone
 *   and fails the callers still waiting.
 * - Output that cannot be given to one caller (not JSON, over the size
 *   limit, an error with a null id) fails every caller waiting at that
 *   moment, with what was wrong: waiting for the deadline would hide it.
 *   A response for an id nobody waits for (the caller gave up) is dropped.
 */
#define _GNU_SOURCE                     /* pipe2, posix_spawn_file_actions_addclosefrom_np */

#include "mcp/stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcp/rpc.h"
#include "util/errf.h"
#include "util/log.h"
#include "util/sb.h"

extern char **environ;

#define MG_MCP_STDIO_RESTART_MS    1000     /* at most one start a second */
#define MG_MCP_STDIO_KILL_MS       1000     /* SIGTERM to SIGKILL */
#define MG_MCP_STDIO_REPLY_MS      500      /* our answer to a server's ping */
#define MG_MCP_STDIO_LOG_LINE      512      /* bytes of one stderr line logged */
#define MG_MCP_STDIO_LOG_PER_SEC   50       /* stderr lines logged a second */
#define MG_MCP_STDIO_DRAIN_READS   16       /* reads of what an exited child left */
#define MG_MCP_STDIO_EXCERPT       120

typedef struct mg_mcp_pending_s mg_mcp_pending_t;

/* A caller waiting for the response to id; lives on its stack. */
struct mg_mcp_pending_s {
    long long          id;
    int                rc;              /* 0 waiting, 1 answered, or an MG_MCP_* failure */
    json_t            *resp;
    char               err[400];
    mg_mcp_pending_t  *next;
};

struct mg_mcp_stdio_s {
    const char        *name;
    char             **argv;            /* owned, NULL-terminated */
    char             **envp;            /* owned, NULL-terminated */
    size_t             max;
    atomic_uint       *tools_gen;

    pthread_mutex_t    lock;            /* everything below */
    pthread_cond_t     cond;            /* a caller answered, or the child gone */
    pthread_mutex_t    wlock;           /* one writer on in_fd */
    pid_t              pid;
    int                in_fd, out_fd, err_fd;
    int                running;         /* spawned and not yet reaped */
    int                reader_live;     /* a reader to join */
    pthread_t          reader;
    unsigned           gen;
    long long          started_ms;
    long long          term_at, kill_at;    /* 0: not scheduled */
    int                stopping;
    char               gone[200];       /* why the last child is not running */
    mg_mcp_pending_t  *pending;

    /* the reader's own */
    mg_sb_t            line, errline;
    int                line_skip, errline_cut;
    long long          log_window;
    int                log_lines, log_dropped;
};


/* ---- configuration ----------------------------------------------------- */

static void
mg_mcp_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        free(v[i]);
    }
    free(v);
}

static int
mg_mcp_stdio_argv(mg_mcp_stdio_t *s, json_t *command, char *err, size_t errlen)
{
    size_t   i;
    json_t  *v;

    if (!json_is_array(command) || json_array_size(command) == 0) {
        mg_errf(err, errlen, "the command of the MCP server %s must be a non-empty array of "
                "strings", s->name);
        return -1;
    }
    json_array_foreach(command, i, v) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)
            || (i == 0 && json_string_length(v) == 0))
        {
            mg_errf(err, errlen, "the command of the MCP server %s must be a non-empty array "
                    "of strings", s->name);
            return -1;
        }
    }
    if ((s->argv = calloc(json_array_size(command) + 1, sizeof(char *))) == NULL) {
        goto oom;
    }
    json_array_foreach(command, i, v) {
        if ((s->argv[i] = strdup(json_string_value(v))) == NULL) {
            goto oom;
        }
    }
    return 0;
oom:
    mg_errf(err, errlen, "out of memory");
    return -1;
}

/* The worker's environment with env's names replaced or added. */
static int
mg_mcp_stdio_envp(mg_mcp_stdio_t *s, json_t *env, char *err, size_t errlen)
{
    const char  *key;
    json_t      *v;
    size_t       n = 0, total = 0;

    if (env != NULL && !json_is_object(env)) {
        mg_errf(err, errlen, "the env of the MCP server %s must be an object", s->name);
        return -1;
    }
    json_object_foreach(env, key, v) {
        if (key[0] == '\0' || strchr(key, '=') != NULL || !json_is_string(v)
            || strlen(json_string_value(v)) != json_string_length(v))
        {
            mg_errf(err, errlen, "the env of the MCP server %s must map names (without '=') "
                    "to strings", s->name);
            return -1;
        }
    }
    while (environ != NULL && environ[total] != NULL) {
        total++;
    }
    if ((s->envp = calloc(total + json_object_size(env) + 1, sizeof(char *))) == NULL) {
        goto oom;
    }
    for (size_t i = 0; i < total; i++) {
        const char  *eq = strchr(environ[i], '=');
        size_t       len = eq != NULL ? (size_t) (eq - environ[i]) : strlen(environ[i]);
        int          replaced = 0;

        json_object_foreach(env, key, v) {
            if (strlen(key) == len && strncmp(key, environ[i], len) == 0) {
                replaced = 1;
            }
        }
        if (!replaced && (s->envp[n++] = strdup(environ[i])) == NULL) {
            goto oom;
        }
    }
    json_object_foreach(env, key, v) {
        size_t len = strlen(key) + json_string_length(v) + 2;

        if ((s->envp[n] = malloc(len)) == NULL) {
            goto oom;
        }
        snprintf(s->envp[n++], len, "%s=%s", key, json_string_value(v));
    }
    return 0;
oom:
    mg_errf(err, errlen, "out of memory");
    return -1;
}

mg_mcp_stdio_t *
mg_mcp_stdio_new(const char *name, json_t *command, json_t *env, size_t max_result,
                 atomic_uint *tools_gen, char *err, size_t errlen)
{
    mg_mcp_stdio_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        mg_errf(err, errlen, "out of memory");
        return NULL;
    }
    s->name = name;
    s->max = max_result;
    s->tools_gen = tools_gen;
    s->in_fd = s->out_fd = s->err_fd = -1;
    snprintf(s->gone, sizeof(s->gone), "the MCP server %s is not running", name);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        mg_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&s->wlock, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        mg_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (mg_mcp_cond_init(&s->cond) != 0) {
        pthread_mutex_destroy(&s->wlock);
        pthread_mutex_destroy(&s->lock);
        free(s);
        mg_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (mg_mcp_stdio_argv(s, command, err, errlen) != 0
        || mg_mcp_stdio_envp(s, env, err, errlen) != 0)
    {
        mg_mcp_stdio_free(s);
        return NULL;
    }
    return s;
}


/* ---- the reader ---------------------------------------------------------- */

/* Fail every caller waiting now (lock held). */
static void
mg_mcp_stdio_fail_all(mg_mcp_stdio_t *s, int rc, const char *why)
{
    for (mg_mcp_pending_t *p = s->pending; p != NULL; p = p->next) {
        if (p->rc == 0) {
            p->rc = rc;
            snprintf(p->err, sizeof(p->err), "%s", why);
        }
    }
    pthread_cond_broadcast(&s->cond);
}

/* Text on one line for a message: printable bytes, cut. */
static void
mg_mcp_stdio_excerpt(const char *text, size_t len, char *out, size_t outlen)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 4 < outlen; i++) {
        unsigned char c = (unsigned char) text[i];

        out[n++] = (c < 0x20 || c == 0x7F) ? ' ' : (char) c;
    }
    if (n < len && n + 4 <= outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static int mg_mcp_stdio_write(mg_mcp_stdio_t *s, unsigned gen, const char *line,
                              const mg_mcp_wait_t *w, char *err, size_t errlen);

/* A request from the server: ping gets {}, anything else "method not
 * found" (we offer no capabilities).  Given up after a short while: a
 * writer may be waiting for the child to read, while the child waits for
 * us to read. */
static void
mg_mcp_stdio_answer(mg_mcp_stdio_t *s, json_t *msg)
{
    json_t         *empty = json_object();
    char           *reply;
    unsigned        gen;
    mg_mcp_wait_t   w = { mg_now_ms() + MG_MCP_STDIO_REPLY_MS, NULL };

    if (mg_rpc_is_method(msg, "ping")) {
        reply = mg_rpc_reply(json_object_get(msg, "id"), empty, 0, NULL);
    } else {
        reply = mg_rpc_reply(json_object_get(msg, "id"), NULL, -32601, "Method not found");
    }
    json_decref(empty);
    pthread_mutex_lock(&s->lock);
    gen = s->gen;
    pthread_mutex_unlock(&s->lock);
    if (reply != NULL) {
        (void) mg_mcp_stdio_write(s, gen, reply, &w, NULL, 0);
    }
    free(reply);
}

/* One message from the child; takes msg.  A response goes to its caller
 * whole: the reader touches it no more once it is handed over, so no
 * reference count is shared between the threads. */
static void
mg_mcp_stdio_route(mg_mcp_stdio_t *s, json_t *msg)
{
    char            why[160], text[320];
    mg_rpc_kind_t   kind = mg_rpc_classify(msg, why, sizeof(why));
    long long       id;
    int             has_id = mg_rpc_int_id(msg, &id), found = 0;

    if (kind == MG_RPC_NOTIFICATION) {
        if (mg_rpc_is_method(msg, "notifications/tools/list_changed")) {
            atomic_fetch_add(s->tools_gen, 1);
        }
        json_decref(msg);
        return;
    }
    if (kind == MG_RPC_REQUEST) {
        mg_mcp_stdio_answer(s, msg);
        json_decref(msg);
        return;
    }

    pthread_mutex_lock(&s->lock);
    if (has_id) {
        for (mg_mcp_pending_t *p = s->pending; p != NULL; p = p->next) {
            if (p->id == id && p->rc == 0) {
                p->resp = msg;                  /* checked (and explained) by the caller */
                msg = NULL;
                p->rc = 1;
                found = 1;
                pthread_cond_broadcast(&s->cond);
                break;
            }
        }
    }
    if (!found) {
        if (kind == MG_RPC_INVALID) {
            snprintf(text, sizeof(text), "the MCP server %s sent %s", s->name, why);
            mg_log_warn("mcp %s: %s", s->name, why);
            mg_mcp_stdio_fail_all(s, MG_MCP_FAILED, text);
        } else if (kind == MG_RPC_ERROR && json_is_null(json_object_get(msg, "id"))) {
            json_t *m = json_object_get(json_object_get(msg, "error"), "message");

            snprintf(text, sizeof(text), "the MCP server %s answered with an error: %.200s",
                     s->name, json_is_string(m) ? json_string_value(m) : "no message");
            mg_mcp_stdio_fail_all(s, MG_MCP_FAILED, text);
        } else {
            mg_log_debug("mcp %s: a response nobody waits for (late, or a wrong id)", s->name);
        }
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(msg);
}

/* One line of the child's stdout. */
static void
mg_mcp_stdio_line(mg_mcp_stdio_t *s, const char *line, size_t len)
{
    char     why[160], shown[MG_MCP_STDIO_EXCERPT + 4], text[400];
    json_t  *v, *m, **msgs;
    size_t   i, n;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        return;
    }
    v = mg_rpc_parse(line, len, why, sizeof(why));
    if (v == NULL) {
        mg_mcp_stdio_excerpt(line, len, shown, sizeof(shown));
        mg_log_warn("mcp %s: output that is %s: %s", s->name, why, shown);
        snprintf(text, sizeof(text), "the MCP server %s wrote output that is %s: %s",
                 s->name, why, shown);
        pthread_mutex_lock(&s->lock);
        mg_mcp_stdio_fail_all(s, MG_MCP_FAILED, text);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (!json_is_array(v)) {
        mg_mcp_stdio_route(s, v);
        return;
    }
    /* a batch: its messages are taken out of it before any is handed over */
    n = json_array_size(v);
    msgs = calloc(n > 0 ? n : 1, sizeof(*msgs));
    if (msgs == NULL) {
        mg_log_error("mcp %s: out of memory reading a batch", s->name);
        json_decref(v);
        return;
    }
    json_array_foreach(v, i, m) {
        msgs[i] = json_incref(m);
    }
    json_decref(v);
    for (i = 0; i < n; i++) {
        mg_mcp_stdio_route(s, msgs[i]);
    }
    free(msgs);
}

/* Bytes of stdout: whole lines are handled, a line over max is dropped
 * (and fails the callers waiting). */
static void
mg_mcp_stdio_out(mg_mcp_stdio_t *s, const char *buf, size_t n)
{
    while (n > 0) {
        const char  *nl = memchr(buf, '\n', n);
        size_t       part = nl != NULL ? (size_t) (nl - buf) : n;

        if (!s->line_skip) {
            if (s->line.len + part > s->max) {
                char text[200];

                snprintf(text, sizeof(text), "the MCP server %s sent a message over %zu bytes",
                         s->name, s->max);
                mg_log_warn("mcp %s: dropped a message over %zu bytes", s->name, s->max);
                pthread_mutex_lock(&s->lock);
                mg_mcp_stdio_fail_all(s, MG_MCP_FAILED, text);
                pthread_mutex_unlock(&s->lock);
                s->line.len = 0;
                s->line_skip = 1;
            } else {
                mg_sb_add(&s->line, buf, part);
            }
        }
        if (nl == NULL) {
            return;
        }
        if (!s->line_skip && s->line.oom) {
            mg_log_error("mcp %s: out of memory reading a message", s->name);
            free(mg_sb_done(&s->line));
        } else if (!s->line_skip && s->line.len > 0) {
            mg_mcp_stdio_line(s, s->line.p, s->line.len);
        }
        s->line.len = 0;
        s->line_skip = 0;
        buf = nl + 1;
        n -= part + 1;
    }
}

/* One line of stderr to the log, within the rate. */
static void
mg_mcp_stdio_log_line(mg_mcp_stdio_t *s, const char *line, size_t len, int cut)
{
    char        shown[MG_MCP_STDIO_LOG_LINE + 4];
    long long   now = mg_now_ms();

    if (now - s->log_window >= 1000) {
        if (s->log_dropped > 0) {
            mg_log_info("mcp %s: (%d more lines on stderr not logged)", s->name, s->log_dropped);
        }
        s->log_window = now;
        s->log_lines = 0;
        s->log_dropped = 0;
    }
    if (s->log_lines >= MG_MCP_STDIO_LOG_PER_SEC) {
        s->log_dropped++;
        return;
    }
    s->log_lines++;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
        len--;
    }
    mg_mcp_stdio_excerpt(line, len, shown, sizeof(shown));
    mg_log_info("mcp %s: %s%s", s->name, shown, cut ? "..." : "");
}

static void
mg_mcp_stdio_err(mg_mcp_stdio_t *s, const char *buf, size_t n, int eof)
{
    while (n > 0) {
        const char  *nl = memchr(buf, '\n', n);
        size_t       part = nl != NULL ? (size_t) (nl - buf) : n;
        size_t       room = MG_MCP_STDIO_LOG_LINE - s->errline.len;

        mg_sb_add(&s->errline, buf, part < room ? part : room);
        if (part > room) {
            s->errline_cut = 1;
        }
        if (nl == NULL) {
            break;
        }
        mg_mcp_stdio_log_line(s, s->errline.p != NULL ? s->errline.p : "", s->errline.len,
                              s->errline_cut);
        s->errline.len = 0;
        s->errline_cut = 0;
        buf = nl + 1;
        n -= part + 1;
    }
    if (eof && s->errline.len > 0) {
        mg_mcp_stdio_log_line(s, s->errline.p, s->errline.len, s->errline_cut);
        s->errline.len = 0;
    }
}

/* Read what fd has now.  -1 at its end (or a hard error), else 0. */
static int
mg_mcp_stdio_drain(mg_mcp_stdio_t *s, int fd, int is_err, int max_reads)
{
    char buf[16384];

    for (int i = 0; i < max_reads; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
            if (is_err) {
                mg_mcp_stdio_err(s, buf, (size_t) n, 0);
            } else {
                mg_mcp_stdio_out(s, buf, (size_t) n);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (is_err) {
            mg_mcp_stdio_err(s, "", 0, 1);
        }
        return -1;
    }
    return 0;
}

/* sig to the child's process group, or to the child when it left it. */
static void
mg_mcp_stdio_signal(pid_t pid, int sig)
{
    if (kill(-pid, sig) != 0) {
        (void) kill(pid, sig);
    }
}

static void *
mg_mcp_stdio_main(void *arg)
{
    mg_mcp_stdio_t  *s = arg;
    pid_t            pid;
    int              out_fd = s->out_fd, err_fd = s->err_fd, status = 0, reaped = 0;
    int              termed = 0, killed = 0, stopping;
    char             gone[200];

    pthread_mutex_lock(&s->lock);
    pid = s->pid;
    pthread_mutex_unlock(&s->lock);

    while (!reaped) {
        struct pollfd   pf[2];
        nfds_t          nf = 0;
        long long       now;
        pid_t           r;

        if (out_fd >= 0) {
            pf[nf].fd = out_fd;
            pf[nf++].events = POLLIN;
        }
        if (err_fd >= 0) {
            pf[nf].fd = err_fd;
            pf[nf++].events = POLLIN;
        }
        (void) poll(nf > 0 ? pf : NULL, nf, MG_MCP_POLL_MS);
        for (nfds_t i = 0; i < nf; i++) {
            if (pf[i].revents == 0) {
                continue;
            }
            if (mg_mcp_stdio_drain(s, pf[i].fd, pf[i].fd == err_fd, 64) == 0) {
                continue;
            }
            if (pf[i].fd == out_fd) {
                close(out_fd);
                out_fd = -1;
                /* no more answers can come: give it a moment to exit by itself */
                pthread_mutex_lock(&s->lock);
                if (s->term_at == 0) {
                    s->term_at = mg_now_ms() + MG_MCP_STDIO_KILL_MS;
                    s->kill_at = s->term_at + MG_MCP_STDIO_KILL_MS;
                }
                pthread_mutex_unlock(&s->lock);
            } else {
                close(err_fd);
                err_fd = -1;
            }
        }

        now = mg_now_ms();
        pthread_mutex_lock(&s->lock);
        if (s->term_at != 0 && now >= s->term_at && !termed) {
            mg_mcp_stdio_signal(pid, SIGTERM);
            termed = 1;
        }
        if (s->kill_at != 0 && now >= s->kill_at && !killed) {
            mg_mcp_stdio_signal(pid, SIGKILL);
            killed = 1;
        }
        pthread_mutex_unlock(&s->lock);

        r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            reaped = 1;
        } else if (r < 0 && errno == ECHILD) {
            reaped = 2;                     /* someone else reaped it: no status */
        }
    }

    /* the child wrote its last lines before it exited: read them */
    if (out_fd >= 0) {
        (void) mg_mcp_stdio_drain(s, out_fd, 0, MG_MCP_STDIO_DRAIN_READS);
        close(out_fd);
    }
    if (err_fd >= 0) {
        (void) mg_mcp_stdio_drain(s, err_fd, 1, MG_MCP_STDIO_DRAIN_READS);
        mg_mcp_stdio_err(s, "", 0, 1);
        close(err_fd);
    }

    pthread_mutex_lock(&s->lock);
    stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (reaped == 2) {
        snprintf(gone, sizeof(gone), "the MCP server %s exited", s->name);
    } else if (WIFEXITED(status)) {
        snprintf(gone, sizeof(gone), "the MCP server %s exited (status %d)", s->name,
                 WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(gone, sizeof(gone), "the MCP server %s was %s by signal %d", s->name,
                 stopping ? "stopped" : "killed", WTERMSIG(status));
    } else {
        snprintf(gone, sizeof(gone), "the MCP server %s exited", s->name);
    }
    if (stopping) {
        mg_log_debug("mcp %s: %s", s->name, gone);
    } else {
        mg_log_warn("mcp %s: %s", s->name, gone);
    }

    free(mg_sb_done(&s->line));
    free(mg_sb_done(&s->errline));
    s->line_skip = 0;
    s->errline_cut = 0;

    pthread_mutex_lock(&s->lock);
    s->running = 0;
    s->pid = 0;
    snprintf(s->gone, sizeof(s->gone), "%s", gone);
    mg_mcp_stdio_fail_all(s, MG_MCP_GONE, gone);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}


/* ---- the child ----------------------------------------------------------- */

/* argv[0] as a path: itself when it has a '/', else found in the child's
 * PATH.  NULL with why in err.  Checked here, not only by exec, so the
 * reason is the same everywhere (under valgrind posix_spawn cannot report
 * a failed exec). */
static char *
mg_mcp_stdio_path(mg_mcp_stdio_t *s, char *err, size_t errlen)
{
    const char  *name = s->argv[0], *path = "/usr/local/bin:/usr/bin:/bin";
    struct stat  st;

    if (strchr(name, '/') != NULL) {
        if (stat(name, &st) != 0 || access(name, X_OK) != 0) {
            mg_errf(err, errlen, "cannot run the MCP server %s (%.100s): %s", s->name, name,
                    strerror(errno));
            return NULL;
        }
        if (!S_ISREG(st.st_mode)) {
            mg_errf(err, errlen, "cannot run the MCP server %s (%.100s): not a file", s->name,
                    name);
            return NULL;
        }
        return strdup(name);
    }
    for (size_t i = 0; s->envp[i] != NULL; i++) {
        if (strncmp(s->envp[i], "PATH=", 5) == 0) {
            path = s->envp[i] + 5;
        }
    }
    while (*path != '\0') {
        const char  *end = strchrnul(path, ':');
        size_t       dlen = (size_t) (end - path);
        char        *full;

        /* an empty element is the current directory */
        if (asprintf(&full, "%.*s/%s", (int) (dlen > 0 ? dlen : 1), dlen > 0 ? path : ".",
                     name) < 0)
        {
            return NULL;
        }
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
            return full;
        }
        free(full);
        path = *end == ':' ? end + 1 : end;
    }
    mg_errf(err, errlen, "cannot run the MCP server %s: \"%.100s\" is not in PATH", s->name,
            name);
    return NULL;
}

static void
mg_mcp_close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
}

static int
mg_mcp_stdio_spawn(mg_mcp_stdio_t *s, unsigned *gen, char *err, size_t errlen)
{
    int                          in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
    posix_spawn_file_actions_t   fa;
    posix_spawnattr_t            attr;
    sigset_t                     none, all, old;
    char                        *path;
    pid_t                        pid;
    int                          rc;

    path = mg_mcp_stdio_path(s, err, errlen);
    if (path == NULL) {
        return MG_MCP_FAILED;
    }
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(er, O_CLOEXEC) != 0) {
        mg_errf(err, errlen, "cannot run the MCP server %s: %s", s->name, strerror(errno));
        mg_mcp_close_pair(in);
        mg_mcp_close_pair(out);
        mg_mcp_close_pair(er);
        free(path);
        return MG_MCP_FAILED;
    }

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    rc = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    rc = rc ? rc : posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                                   | POSIX_SPAWN_SETSIGDEF);
    rc = rc ? rc : posix_spawnattr_setpgroup(&attr, 0);
    rc = rc ? rc : posix_spawnattr_setsigmask(&attr, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&attr, &all);
    rc = rc ? rc : posix_spawn(&pid, path, &fa, &attr, s->argv, s->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    close(er[1]);
    if (rc != 0) {
        mg_errf(err, errlen, "cannot run the MCP server %s (%.100s): %s", s->name, path,
                strerror(rc));
        close(in[1]);
        close(out[0]);
        close(er[0]);
        free(path);
        return MG_MCP_FAILED;
    }
    free(path);
    (void) fcntl(in[1], F_SETFL, O_NONBLOCK);
    (void) fcntl(out[0], F_SETFL, O_NONBLOCK);
    (void) fcntl(er[0], F_SETFL, O_NONBLOCK);

    pthread_mutex_lock(&s->lock);
    s->pid = pid;
    s->in_fd = in[1];
    s->out_fd = out[0];
    s->err_fd = er[0];
    s->running = 1;
    s->stopping = 0;
    s->term_at = s->kill_at = 0;
    s->gen++;
    s->started_ms = mg_now_ms();
    *gen = s->gen;
    pthread_mutex_unlock(&s->lock);

    /* the reader takes no signal meant for the worker */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&s->reader, NULL, mg_mcp_stdio_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        mg_mcp_stdio_signal(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        pthread_mutex_lock(&s->lock);
        close(s->in_fd);
        close(s->out_fd);
        close(s->err_fd);
        s->in_fd = s->out_fd = s->err_fd = -1;
        s->running = 0;
        s->pid = 0;
        pthread_mutex_unlock(&s->lock);
        mg_errf(err, errlen, "cannot run the MCP server %s: no thread to read it", s->name);
        return MG_MCP_FAILED;
    }
    s->reader_live = 1;
    mg_log_info("mcp %s: started %s (pid %d)", s->name, s->argv[0], (int) pid);
    return MG_MCP_OK;
}

int
mg_mcp_stdio_running(mg_mcp_stdio_t *s, unsigned *gen)
{
    int running;

    pthread_mutex_lock(&s->lock);
    running = s->running && !s->stopping;
    *gen = s->gen;
    pthread_mutex_unlock(&s->lock);
    return running;
}

void
mg_mcp_stdio_stop(mg_mcp_stdio_t *s, long grace_ms)
{
    pthread_mutex_lock(&s->wlock);
    pthread_mutex_lock(&s->lock);
    if (s->running) {
        s->stopping = 1;
        if (s->in_fd >= 0) {
            close(s->in_fd);                /* a well-behaved server exits at end of input */
            s->in_fd = -1;
        }
        if (s->term_at == 0 || s->term_at > mg_now_ms() + grace_ms) {
            s->term_at = mg_now_ms() + grace_ms;
            s->kill_at = s->term_at + MG_MCP_STDIO_KILL_MS;
        }
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&s->wlock);
}

int
mg_mcp_stdio_start(mg_mcp_stdio_t *s, const mg_mcp_wait_t *w, unsigned *gen,
                   char *err, size_t errlen)
{
    long long   wait_ms;
    int         rc;

    mg_mcp_stdio_stop(s, 0);
    pthread_mutex_lock(&s->lock);
    while (s->running) {
        if ((rc = mg_mcp_wait_over(w)) != 0) {
            pthread_mutex_unlock(&s->lock);
            mg_errf(err, errlen, "the MCP server %s is still stopping", s->name);
            return rc;
        }
        mg_mcp_cond_wait_ms(&s->cond, &s->lock, mg_mcp_wait_slice(w));
    }
    if (s->in_fd >= 0) {
        close(s->in_fd);
        s->in_fd = -1;
    }
    pthread_mutex_unlock(&s->lock);
    if (s->reader_live) {
        pthread_join(s->reader, NULL);      /* it has reaped its child: ends at once */
        s->reader_live = 0;
    }

    wait_ms = s->started_ms == 0 ? 0 : s->started_ms + MG_MCP_STDIO_RESTART_MS - mg_now_ms();
    if (wait_ms > 0) {
        if (mg_now_ms() + wait_ms > w->deadline) {
            mg_errf(err, errlen, "%s; it is restarted at most once a second", s->gone);
            return MG_MCP_FAILED;
        }
        while (mg_now_ms() < s->started_ms + MG_MCP_STDIO_RESTART_MS) {
            if ((rc = mg_mcp_wait_over(w)) != 0) {
                mg_errf(err, errlen, rc == MG_MCP_CANCELLED ? "cancelled" : "timed out");
                return rc;
            }
            (void) poll(NULL, 0, (int) mg_mcp_wait_slice(w));
        }
    }
    return mg_mcp_stdio_spawn(s, gen, err, errlen);
}

void
mg_mcp_stdio_free(mg_mcp_stdio_t *s)
{
    if (s == NULL) {
        return;
    }
    if (s->argv != NULL) {
        mg_mcp_stdio_stop(s, MG_MCP_STDIO_KILL_MS);
        if (s->reader_live) {
            pthread_join(s->reader, NULL);
        }
        if (s->in_fd >= 0) {
            close(s->in_fd);
        }
    }
    mg_mcp_strv_free(s->argv);
    mg_mcp_strv_free(s->envp);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}


/* ---- requests ------------------------------------------------------------ */

/* Write line and a newline to child gen, by w's deadline (the cancel flag
 * is not looked at: half a line would corrupt the stream). */
static int
mg_mcp_stdio_write(mg_mcp_stdio_t *s, unsigned gen, const char *line, const mg_mcp_wait_t *w,
                   char *err, size_t errlen)
{
    size_t           len = strlen(line), done = 0;
    char            *buf;
    int              fd, rc = MG_MCP_OK;
    struct timespec  ts;
    long long        left = w->deadline - mg_now_ms();

    /* the wall clock, as pthread_mutex_timedlock wants (a step of the clock
     * only bends this one wait, still bounded) */
    clock_gettime(CLOCK_REALTIME, &ts);
    left = left < 1 ? 1 : left;
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&s->wlock, &ts) != 0) {
        mg_errf(err, errlen, "timed out");
        return MG_MCP_TIMEOUT;
    }
    pthread_mutex_lock(&s->lock);
    fd = s->running && !s->stopping && s->gen == gen ? s->in_fd : -1;
    if (fd < 0) {
        mg_errf(err, errlen, "%s", s->gone);
    }
    pthread_mutex_unlock(&s->lock);
    if (fd < 0) {
        pthread_mutex_unlock(&s->wlock);
        return MG_MCP_GONE;
    }
    if ((buf = malloc(len + 1)) == NULL) {
        pthread_mutex_unlock(&s->wlock);
        mg_errf(err, errlen, "out of memory");
        return MG_MCP_FAILED;
    }
    memcpy(buf, line, len);
    buf[len++] = '\n';

    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);

        if (n > 0) {
            done += (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = { fd, POLLOUT, 0 };

            if (mg_now_ms() >= w->deadline) {
                rc = MG_MCP_TIMEOUT;
                mg_errf(err, errlen, "timed out");
                break;
            }
            (void) poll(&pf, 1, MG_MCP_POLL_MS);
            continue;
        }
        rc = MG_MCP_GONE;
        mg_errf(err, errlen, "the MCP server %s does not read its input (%s)", s->name,
                n < 0 ? strerror(errno) : "closed");
        break;
    }
    free(buf);
    pthread_mutex_unlock(&s->wlock);
    if (rc != MG_MCP_OK && done > 0 && done < len) {
        mg_log_warn("mcp %s: a message was cut off; stopping the server", s->name);
        mg_mcp_stdio_stop(s, 0);
    }
    return rc;
}

int
mg_mcp_stdio_notify(mg_mcp_stdio_t *s, unsigned gen, const char *line,
                    const mg_mcp_wait_t *w, char *err, size_t errlen)
{
    return mg_mcp_stdio_write(s, gen, line, w, err, errlen);
}

static void
mg_mcp_stdio_unlink(mg_mcp_stdio_t *s, mg_mcp_pending_t *p)
{
    for (mg_mcp_pending_t **pp = &s->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

int
mg_mcp_stdio_request(mg_mcp_stdio_t *s, unsigned gen, const char *line, long long id,
                     const mg_mcp_wait_t *w, json_t **resp, char *err, size_t errlen)
{
    mg_mcp_pending_t   p;
    int                rc;

    memset(&p, 0, sizeof(p));
    p.id = id;
    pthread_mutex_lock(&s->lock);
    if (!s->running || s->stopping || s->gen != gen) {
        mg_errf(err, errlen, "%s", s->gone);
        pthread_mutex_unlock(&s->lock);
        return MG_MCP_GONE;
    }
    p.next = s->pending;
    s->pending = &p;
    pthread_mutex_unlock(&s->lock);

    rc = mg_mcp_stdio_write(s, gen, line, w, err, errlen);

    pthread_mutex_lock(&s->lock);
    while (rc == MG_MCP_OK && p.rc == 0) {
        if ((rc = mg_mcp_wait_over(w)) != 0) {
            mg_errf(err, errlen, rc == MG_MCP_CANCELLED ? "cancelled" : "timed out");
            break;
        }
        mg_mcp_cond_wait_ms(&s->cond, &s->lock, mg_mcp_wait_slice(w));
    }
    mg_mcp_stdio_unlink(s, &p);
    pthread_mutex_unlock(&s->lock);

    if (p.rc == 1) {
        *resp = p.resp;
        return MG_MCP_OK;
    }
    if (p.rc < 0) {
        mg_errf(err, errlen, "%s", p.err);
        return p.rc;
    }
    return rc;
}
