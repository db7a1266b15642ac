/*
 * mg_log: owns the worker's log line format.  Every line is built in one
 * buffer and written with a single write(2), so lines from different
 * threads never interleave.  Callers never pass tokens, passwords, keys or
 * message contents here (test_secrets greps every suite's logs for them).
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* room kept after the message for the job's context and extra members:
 * its strings escaped at worst six bytes each */
#define MG_LOG_TAIL  1600

static atomic_int mg_log_min = MG_LOG_INFO;
static atomic_int mg_log_json = 1;
static atomic_int mg_log_jobs = 1;

static const char *const mg_log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char *const mg_log_lower[] = { "debug", "info", "warn", "error" };

/* the job this thread runs now (mg_log_job_begin), "" outside one */
static _Thread_local struct {
    char  rid[40];
    char  job[64];
    char  user[160];
} mg_log_ctx;

int
mg_log_set_format(const char *name)
{
    if (strcmp(name, "json") == 0 || strcmp(name, "text") == 0) {
        atomic_store(&mg_log_json, name[0] == 'j');
        return 0;
    }
    return -1;
}

/* Text as it is, but one line per event: newlines inside a message would
 * forge lines. */
static size_t
mg_log_copy_text(char *out, size_t size, const char *msg, size_t len)
{
    if (len > size) {
        len = size;
    }
    for (size_t i = 0; i < len; i++) {
        out[i] = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
    }
    return len;
}

/* a failed log write has nowhere better to be reported */
static void
mg_log_write(const char *line, size_t n)
{
    if (write(STDERR_FILENO, line, n) < 0) {
        return;
    }
}

void
mg_log_set_level(mg_log_level_t level)
{
    atomic_store(&mg_log_min, (int) level);
}

int
mg_log_parse_level(const char *name, mg_log_level_t *level)
{
    for (int i = MG_LOG_DEBUG; i <= MG_LOG_ERROR; i++) {
        if (strcasecmp(name, mg_log_names[i]) == 0) {
            *level = (mg_log_level_t) i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *level = MG_LOG_WARN;
        return 0;
    }
    return -1;
}

int
mg_log_enabled(mg_log_level_t level)
{
    return (int) level >= atomic_load(&mg_log_min);
}

/* JSON string contents: quotes, backslashes and control characters
 * escaped, bytes that are not UTF-8 replaced, cut to fit (never mid-escape). */
static size_t
mg_log_json_str(char *out, size_t size, const char *s, size_t len)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             n = 0, i = 0, need;
    unsigned char      c;

    while (i < len) {
        c = (unsigned char) s[i];
        need = 1;
        if (c >= 0x80) {
            /* a whole, valid sequence or one replacement character */
            need = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            for (size_t k = 1; need > 0 && k < need; k++) {
                if (i + k >= len || ((unsigned char) s[i + k] & 0xc0) != 0x80) {
                    need = 0;
                }
            }
            if (need == 0) {
                if (n + 3 > size) {
                    break;
                }
                memcpy(out + n, "\xef\xbf\xbd", 3);
                n += 3;
                i++;
                continue;
            }
            if (n + need > size) {
                break;
            }
            memcpy(out + n, s + i, need);
            n += need;
            i += need;
            continue;
        }
        if (c == '"' || c == '\\') {
            if (n + 2 > size) {
                break;
            }
            out[n++] = '\\';
            out[n++] = (char) c;
        } else if (c < 0x20 || c == 0x7f) {
            if (n + 6 > size) {
                break;
            }
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[c >> 4];
            out[n + 5] = hex[c & 15];
            n += 6;
        } else {
            if (n + 1 > size) {
                break;
            }
            out[n++] = (char) c;
        }
        i++;
    }
    return n;
}

static size_t
mg_log_put(char *line, size_t n, size_t size, const char *s)
{
    size_t len = strlen(s);

    if (n + len > size) {
        len = size - n;
    }
    memcpy(line + n, s, len);
    return n + len;
}

/* ,"name":"value" */
static size_t
mg_log_field(char *line, size_t n, size_t size, const char *name, const char *value)
{
    n = mg_log_put(line, n, size, ",\"");
    n = mg_log_put(line, n, size, name);
    n = mg_log_put(line, n, size, "\":\"");
    n += mg_log_json_str(line + n, size - n, value, strlen(value));
    return mg_log_put(line, n, size, "\"");
}

/* Write one event: msg (already formatted) and extra JSON members
 * (",\"a\":1", or "") after the job's context. */
static void
mg_log_emit(mg_log_level_t level, const char *msg, size_t msg_len, const char *extra)
{
    char             line[4096];
    char             stamp[40];
    struct timespec  ts;
    struct tm        tm;
    size_t           n = 0, size = sizeof(line) - 2;   /* room for "}\n" */

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    if (!atomic_load(&mg_log_json)) {
        int r = snprintf(line, size, "%s %-5s ", stamp, mg_log_names[level]);

        n = r > 0 ? (size_t) r : 0;
        n += mg_log_copy_text(line + n, size - n, msg, msg_len);
        n = mg_log_put(line, n, size, extra);
        line[n++] = '\n';
        mg_log_write(line, n);
        return;
    }

    n = mg_log_put(line, 0, size, "{\"time\":\"");
    n = mg_log_put(line, n, size, stamp);
    n = mg_log_put(line, n, size, "\",\"level\":\"");
    n = mg_log_put(line, n, size, mg_log_lower[level]);
    n = mg_log_put(line, n, size, "\",\"msg\":\"");
    /* the message gives way to the context and the extra members */
    n += mg_log_json_str(line + n, size - n > MG_LOG_TAIL ? size - n - MG_LOG_TAIL : 0, msg,
                         msg_len);
    n = mg_log_put(line, n, size, "\"");
    if (mg_log_ctx.rid[0] != '\0') {
        n = mg_log_field(line, n, size, "request_id", mg_log_ctx.rid);
        n = mg_log_field(line, n, size, "job", mg_log_ctx.job);
        if (mg_log_ctx.user[0] != '\0') {
            n = mg_log_field(line, n, size, "user", mg_log_ctx.user);
        }
    }
    n = mg_log_put(line, n, size, extra);
    line[n++] = '}';
    line[n++] = '\n';
    mg_log_write(line, n);
}

void
mg_log(mg_log_level_t level, const char *fmt, ...)
{
    char     msg[2048];
    int      r;
    va_list  ap;

    if (!mg_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r < 0) {
        return;
    }
    mg_log_emit(level, msg, (size_t) r < sizeof(msg) ? (size_t) r : sizeof(msg) - 1, "");
}

void
mg_log_job_begin(const char *rid, const char *job, size_t job_len, const char *user)
{
    snprintf(mg_log_ctx.rid, sizeof(mg_log_ctx.rid), "%s", rid);
    snprintf(mg_log_ctx.job, sizeof(mg_log_ctx.job), "%.*s", (int) job_len, job);
    snprintf(mg_log_ctx.user, sizeof(mg_log_ctx.user), "%s", user != NULL ? user : "");
}

void
mg_log_job_end(void)
{
    mg_log_ctx.rid[0] = '\0';
    mg_log_ctx.job[0] = '\0';
    mg_log_ctx.user[0] = '\0';
}

void
mg_log_set_jobs(int on)
{
    atomic_store(&mg_log_jobs, on);
}

void
mg_log_job_done(const char *outcome, double seconds)
{
    char extra[512];

    if (!atomic_load(&mg_log_jobs) || !mg_log_enabled(MG_LOG_INFO)) {
        return;
    }
    if (atomic_load(&mg_log_json)) {
        char  esc[100];
        size_t e = mg_log_json_str(esc, sizeof(esc) - 1, outcome, strlen(outcome));

        esc[e] = '\0';
        snprintf(extra, sizeof(extra), ",\"outcome\":\"%s\",\"duration_ms\":%.3f", esc,
                 seconds * 1000.0);
        mg_log_emit(MG_LOG_INFO, "job done", sizeof("job done") - 1, extra);
        return;
    }
    snprintf(extra, sizeof(extra), " rid=%s job=%s user=%s outcome=%s duration_ms=%.3f",
             mg_log_ctx.rid, mg_log_ctx.job, mg_log_ctx.user, outcome, seconds * 1000.0);
    mg_log_emit(MG_LOG_INFO, "job done", sizeof("job done") - 1, extra);
}
