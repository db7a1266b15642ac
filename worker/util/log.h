/* mg_log: one line per event on stderr: by default one JSON object
 * ({"time","level","msg"} and, inside a job, "request_id", "job", "user"),
 * or text (a UTC timestamp, a level, the message). */
#ifndef MG_LOG_H
#define MG_LOG_H

#include <stddef.h>

typedef enum {
    MG_LOG_DEBUG = 0,
    MG_LOG_INFO,
    MG_LOG_WARN,
    MG_LOG_ERROR
} mg_log_level_t;

/* Messages below level are dropped.  Default: MG_LOG_INFO. */
void mg_log_set_level(mg_log_level_t level);
/* "debug", "info", "warn", "error" -> 0 and *level; -1 for anything else. */
int  mg_log_parse_level(const char *name, mg_log_level_t *level);
int  mg_log_enabled(mg_log_level_t level);

/* "json" (the default) or "text"; 0, or -1 for anything else. */
int  mg_log_set_format(const char *name);

/* The job this thread runs now: its lines carry these until cleared.
 * Strings are copied (cut to fit); user may be NULL. */
void mg_log_job_begin(const char *rid, const char *job, size_t job_len, const char *user);
void mg_log_job_end(void);
/* One line for the job that ends: its outcome ("ok" or the error code)
 * and duration; off with mg_log_set_jobs(0). */
void mg_log_job_done(const char *outcome, double seconds);
void mg_log_set_jobs(int on);

void mg_log(mg_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define mg_log_debug(...) \
    do { if (mg_log_enabled(MG_LOG_DEBUG)) mg_log(MG_LOG_DEBUG, __VA_ARGS__); } while (0)
#define mg_log_info(...)  mg_log(MG_LOG_INFO, __VA_ARGS__)
#define mg_log_warn(...)  mg_log(MG_LOG_WARN, __VA_ARGS__)
#define mg_log_error(...) mg_log(MG_LOG_ERROR, __VA_ARGS__)

#endif
