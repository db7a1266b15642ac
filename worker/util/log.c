/*
 * mg_log: owns the worker's log line format.  Every line is built in one
 * buffer and written with a single write(2), so lines from different
 * threads never interleave.  Callers never pass tokens or passwords here.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int mg_log_min = MG_LOG_INFO;

static const char *const mg_log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

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

void
mg_log(mg_log_level_t level, const char *fmt, ...)
{
    char             line[2048];
    struct timespec  ts;
    struct tm        tm;
    size_t           n;
    int              r;
    va_list          ap;

    if (!mg_log_enabled(level)) {
        return;
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ",
                 ts.tv_nsec / 1000000, mg_log_names[level]);
    if (r > 0) {
        n += (size_t) r;
    }

    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (r > 0) {
        n += (size_t) r < sizeof(line) - n ? (size_t) r : sizeof(line) - n - 1;
    }

    /* one line per event: newlines inside a message would forge lines */
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    if (n >= sizeof(line) - 1) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';

    /* a failed log write has nowhere better to be reported */
    if (write(STDERR_FILENO, line, n) < 0) {
        return;
    }
}
