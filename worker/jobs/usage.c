/*
 * usage: owns the usage reports over the usage table that chat turns write
 * per user per UTC day (chat.c): the caller's own days (users.usage) and
 * the administrators' per-user totals (admin.usage).
 *
 * Both take a range of UTC days, from and to inclusive, as YYYY-MM-DD.
 * The text is checked here, completely, before it goes to PostgreSQL as
 * a ::date: a malformed or impossible date is a 400, never a SQL error.
 * Missing bounds default to the last 30 days up to today, and "today" is
 * the database's UTC day, the one chat.c writes usage under; it costs one
 * tiny statement when a report needs it (users.usage always does, for
 * today's quota).  A range given in full is judged before any SQL runs.
 *
 * admin.usage pages with worker/cursor.c's text cursors over (input +
 * output tokens, user id), through admin.c's user cursor codec (its number
 * is the token count here; it checks the id is text PostgreSQL accepts):
 * biggest users first, ties by id.  Users keep using tokens while someone
 * pages, so a user whose total grows past the cursor is not shown again on
 * later pages; totals only grow, so nothing is listed twice.
 */
#include "jobs/jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_write.h"
#include "util/log.h"
#include "validate.h"

#define MG_USAGE_DEFAULT_DAYS   30
#define MG_USAGE_MAX_DAYS       366
#define MG_USAGE_LIMIT_DEFAULT  50
#define MG_USAGE_LIMIT_MAX      500

#define MG_SECONDS_PER_DAY      86400L

/* ---- dates (pure helpers, exported for the unit tests) ------------------ */

static int
mg_date_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
mg_date_month_days(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    return m == 2 && mg_date_leap(y) ? 29 : days[m - 1];
}

/* n digits of s as a number (s holds them: the caller checked). */
static int
mg_date_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int
mg_date_parse(const char *s, size_t len, long *days)
{
    struct tm  tm;
    time_t     t;
    int        y, m, d;

    if (s == NULL || len != MG_DATE_LEN || s[4] != '-' || s[7] != '-') {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    y = mg_date_digits(s, 4);
    m = mg_date_digits(s + 5, 2);
    d = mg_date_digits(s + 8, 2);
    /* PostgreSQL has no year 0 (it would read it as 1 BC) */
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mg_date_month_days(y, m)) {
        return -2;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    /* midnight UTC is a multiple of a day: -1 can only be the error */
    t = timegm(&tm);
    if (t == (time_t) -1) {
        return -2;
    }
    *days = (long) (t / MG_SECONDS_PER_DAY);
    return 0;
}

int
mg_date_format(long days, char *out)
{
    time_t     t = (time_t) days * MG_SECONDS_PER_DAY;
    struct tm  tm;
    char       buf[48];     /* room for any int fields: no truncation to reason about */
    int        n;

    if (days < MG_DATE_DAYS_MIN || days > MG_DATE_DAYS_MAX || gmtime_r(&t, &tm) == NULL) {
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%04d-%02d-%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (n != MG_DATE_LEN) {
        return -1;
    }
    memcpy(out, buf, MG_DATE_LEN + 1);
    return 0;
}

/* One date parameter: absent or empty -> *present = 0.  0, or -1 with
 * err = 400 invalid_query. */
static int
mg_usage_query_date(const char *query, size_t len, const char *name, long *days,
                    int *present, mg_verr_t *err)
{
    char    buf[MG_DATE_LEN + 2];   /* one more: a longer value fails to fit */
    size_t  n = 0;
    int     rc;

    *present = 0;
    rc = mg_query_get(query, len, name, buf, sizeof(buf), &n);
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc == 1) {
        rc = mg_date_parse(buf, n, days);
    }
    if (rc == -2) {
        /* the text has the date's shape, digits and dashes: safe to quote */
        mg_verr_set(err, 400, "invalid_query",
                    "query parameter \"%s\" is not a calendar date: %s", name, buf);
        return -1;
    }
    if (rc != 0) {
        mg_verr_set(err, 400, "invalid_query",
                    "query parameter \"%s\" must be a date as YYYY-MM-DD", name);
        return -1;
    }
    *present = 1;
    return 0;
}

int
mg_usage_range_parse(const char *query, size_t len, mg_usage_range_t *r, mg_verr_t *err)
{
    memset(r, 0, sizeof(*r));
    if (mg_usage_query_date(query, len, "from", &r->from, &r->has_from, err) != 0
        || mg_usage_query_date(query, len, "to", &r->to, &r->has_to, err) != 0)
    {
        return -1;
    }
    return 0;
}

int
mg_usage_range_resolve(mg_usage_range_t *r, long today, mg_verr_t *err)
{
    char  from[MG_DATE_LEN + 1], to[MG_DATE_LEN + 1];
    long  span;

    if (!r->has_to) {
        r->to = today;
    }
    if (!r->has_from) {
        r->from = r->to - (MG_USAGE_DEFAULT_DAYS - 1);
        if (r->from < MG_DATE_DAYS_MIN) {
            r->from = MG_DATE_DAYS_MIN;     /* a default cannot be wrong */
        }
    }
    r->has_from = r->has_to = 1;

    if (mg_date_format(r->from, from) != 0 || mg_date_format(r->to, to) != 0) {
        /* only a today outside 0001-9999 gets here */
        mg_verr_set(err, 500, "internal", "internal error");
        return -1;
    }
    if (r->from > r->to) {
        mg_verr_set(err, 400, "invalid_query",
                    "\"from\" (%s) is after \"to\" (%s)", from, to);
        return -1;
    }
    span = r->to - r->from + 1;
    if (span > MG_USAGE_MAX_DAYS) {
        mg_verr_set(err, 400, "invalid_query",
                    "the range may span at most %d days; %s to %s is %ld days",
                    MG_USAGE_MAX_DAYS, from, to, span);
        return -1;
    }
    return 0;
}

/* ---- shared by both reports --------------------------------------------- */

static int
mg_usage_internal(mg_job_t *job)
{
    return mg_job_reply_error(job, 500, "internal", "internal error");
}

/* An integer column of row as a long long; 0, or -1 (NULL, not a bigint). */
static int
mg_usage_col_ll(const PGresult *r, int row, int col, long long *out)
{
    const char  *s;
    char        *end;
    long long    v;

    if (PQgetisnull(r, row, col)) {
        return -1;
    }
    s = PQgetvalue(r, row, col);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* "key":<the column's integer text>, or "key":null.  The columns are
 * integers (bigint, or numeric sums of them): their text is JSON. */
static char *
mg_usage_num(char *p, const char *key, const PGresult *r, int row, int col)
{
    size_t n;

    p += sprintf(p, "\"%s\":", key);
    if (PQgetisnull(r, row, col)) {
        return p + sprintf(p, "null");
    }
    n = (size_t) PQgetlength(r, row, col);
    memcpy(p, PQgetvalue(r, row, col), n);
    return p + n;
}

/* Bytes the number columns first..last of row may need, keys aside. */
static size_t
mg_usage_nums_max(const PGresult *r, int row, int first, int last)
{
    size_t n = 0;

    for (int col = first; col <= last; col++) {
        n += (size_t) PQgetlength(r, row, col) + 4;     /* or "null" */
    }
    return n;
}

/* The range from the query string, with today (from the database) filling
 * in missing bounds.  A full range is judged before any SQL runs.
 * *today is fetched when want_today or a bound is missing (else -1).
 * 0, or -1 after replying (*sent). */
static int
mg_usage_range_get(mg_job_t *job, const char *what, int want_today, mg_usage_range_t *r,
                   long *today, int *sent)
{
    const char  *query;
    size_t       qlen;
    mg_verr_t    err;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    long long    v;

    *today = -1;
    query = mg_job_query(job, &qlen);
    if (mg_usage_range_parse(query, qlen, r, &err) != 0
        || (r->has_from && r->has_to && mg_usage_range_resolve(r, 0, &err) != 0))
    {
        *sent = mg_job_reply_verr(job, &err);
        return -1;
    }
    if (!want_today && r->has_from && r->has_to) {
        return 0;
    }

    rc = mg_db_exec(job->db, MG_Q_USAGE_TODAY, NULL, &res);
    if (rc != MG_DB_OK) {
        *sent = mg_job_reply_db_error(job, rc, res, what);
        PQclear(res);
        return -1;
    }
    if (mg_usage_col_ll(res, 0, 0, &v) != 0 || v < MG_DATE_DAYS_MIN || v > MG_DATE_DAYS_MAX) {
        mg_log_error("%s rid=%s: the database's today is not a date: \"%.32s\"",
                     what, job->rid, PQgetvalue(res, 0, 0));
        PQclear(res);
        *sent = mg_usage_internal(job);
        return -1;
    }
    PQclear(res);
    *today = (long) v;

    if (mg_usage_range_resolve(r, *today, &err) != 0) {
        *sent = mg_job_reply_verr(job, &err);
        return -1;
    }
    return 0;
}

/* ---- users.usage: the caller's own days --------------------------------- */

/* {"day":"YYYY-MM-DD","requests":n,"input_tokens":n,"output_tokens":n},
 * or NULL when the day column is not a date. */
static char *
mg_usage_day_write(char *p, const PGresult *r, int row)
{
    long long  day;
    char       date[MG_DATE_LEN + 1];

    if (mg_usage_col_ll(r, row, MG_UDAY_COL_DAY, &day) != 0
        || day < MG_DATE_DAYS_MIN || day > MG_DATE_DAYS_MAX
        || mg_date_format((long) day, date) != 0)
    {
        return NULL;
    }
    p += sprintf(p, "{\"day\":\"%s\",", date);
    p = mg_usage_num(p, "requests", r, row, MG_UDAY_COL_REQUESTS);
    *p++ = ',';
    p = mg_usage_num(p, "input_tokens", r, row, MG_UDAY_COL_INPUT);
    *p++ = ',';
    p = mg_usage_num(p, "output_tokens", r, row, MG_UDAY_COL_OUTPUT);
    *p++ = '}';
    return p;
}

int
mg_job_users_usage(mg_job_t *job)
{
    mg_usage_range_t   range;
    long               today;
    char               from[MG_DATE_LEN + 1], to[MG_DATE_LEN + 1], today_s[MG_DATE_LEN + 1];
    char               quota[24];
    const char        *values[5];
    PGresult          *res = NULL;
    mg_db_rc_t         rc;
    char              *body = NULL, *p;
    size_t             size;
    int                n, sent;

    if (mg_usage_range_get(job, "users.usage", 1, &range, &today, &sent) != 0) {
        return sent;
    }
    /* resolved dates are within 0001-9999: these cannot fail */
    if (mg_date_format(range.from, from) != 0 || mg_date_format(range.to, to) != 0
        || mg_date_format(today, today_s) != 0)
    {
        return mg_usage_internal(job);
    }
    snprintf(quota, sizeof(quota), "%lld", mg_chat_cfg.daily_token_quota);

    values[0] = job->user_id;
    values[1] = from;
    values[2] = to;
    values[3] = today_s;
    values[4] = quota;
    rc = mg_db_exec(job->db, MG_Q_USAGE_DAYS, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "users.usage");
        goto done;
    }
    n = PQntuples(res);
    if (n < 1) {
        mg_log_error("users.usage rid=%s: the days statement returned no row", job->rid);
        goto fail;
    }

    /* keys and punctuation of the frame ~230, a day's ~70 */
    size = 512 + mg_usage_nums_max(res, 0, MG_UDAY_COL_TODAY_INPUT, MG_UDAY_COL_TOTAL_OUTPUT);
    for (int i = 0; i < n; i++) {
        size += 128 + mg_usage_nums_max(res, i, MG_UDAY_COL_REQUESTS, MG_UDAY_COL_OUTPUT);
    }
    body = malloc(size);
    if (body == NULL) {
        goto fail;
    }

    p = body;
    p += sprintf(p, "{\"from\":\"%s\",\"to\":\"%s\",\"days\":[", from, to);
    /* a range without usage is one row without a day */
    for (int i = 0; i < n && !PQgetisnull(res, i, MG_UDAY_COL_DAY); i++) {
        if (i > 0) {
            *p++ = ',';
        }
        p = mg_usage_day_write(p, res, i);
        if (p == NULL) {
            mg_log_error("users.usage rid=%s: a usage day is not a date: \"%.32s\"",
                         job->rid, PQgetvalue(res, i, MG_UDAY_COL_DAY));
            goto fail;
        }
    }
    p += sprintf(p, "],\"total\":{");
    p = mg_usage_num(p, "requests", res, 0, MG_UDAY_COL_TOTAL_REQUESTS);
    *p++ = ',';
    p = mg_usage_num(p, "input_tokens", res, 0, MG_UDAY_COL_TOTAL_INPUT);
    *p++ = ',';
    p = mg_usage_num(p, "output_tokens", res, 0, MG_UDAY_COL_TOTAL_OUTPUT);
    p += sprintf(p, "},\"today\":{");
    p = mg_usage_num(p, "input_tokens", res, 0, MG_UDAY_COL_TODAY_INPUT);
    *p++ = ',';
    p = mg_usage_num(p, "output_tokens", res, 0, MG_UDAY_COL_TODAY_OUTPUT);
    if (mg_chat_cfg.daily_token_quota > 0) {
        p += sprintf(p, ",\"quota\":%lld,", mg_chat_cfg.daily_token_quota);
    } else {
        p += sprintf(p, ",\"quota\":null,");
    }
    p = mg_usage_num(p, "remaining", res, 0, MG_UDAY_COL_REMAINING);
    p += sprintf(p, "}}");

    sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);
    goto done;

fail:
    sent = mg_usage_internal(job);

done:
    free(body);
    PQclear(res);
    return sent;
}

/* ---- admin.usage: per-user totals ---------------------------------------- */

/* user_id: absent or empty -> *present = 0; else text PostgreSQL accepts,
 * at most MG_USER_CURSOR_ID_MAX bytes, into id.  0, or -1 with err. */
static int
mg_usage_query_user(const char *query, size_t len, char *id, size_t cap, int *present,
                    mg_verr_t *err)
{
    size_t  n = 0;
    int     rc;

    *present = 0;
    rc = mg_query_get(query, len, "user_id", id, cap, &n);
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc < 0 || !mg_admin_text_valid(id, n)) {
        mg_verr_set(err, 400, "invalid_query",
                    "query parameter \"user_id\" must be a user id (text of at most %d bytes)",
                    (int) cap - 1);
        return -1;
    }
    *present = 1;
    return 0;
}

/* cursor: absent or empty -> *present = 0; else (tokens, user id) as
 * admin.usage wrote it.  0, or -1 with err. */
static int
mg_usage_query_cursor(const char *query, size_t len, long long *tokens, char *id, size_t idcap,
                      int *present, mg_verr_t *err)
{
    char    buf[MG_USER_CURSOR_MAX + 1];
    size_t  n = 0;
    int     rc;

    *present = 0;
    rc = mg_query_get(query, len, "cursor", buf, sizeof(buf), &n);
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc < 0 || mg_user_cursor_decode(buf, n, tokens, id, idcap) != 0 || *tokens < 0) {
        mg_verr_set(err, 400, "invalid_query", "query parameter \"cursor\" is invalid");
        return -1;
    }
    *present = 1;
    return 0;
}

/* {"user_id":..,"username":..,"requests":n,"input_tokens":n,"output_tokens":n} */
static size_t
mg_usage_user_max(const PGresult *r, int row)
{
    /* keys and punctuation ~80 */
    return 128 + mg_jw_text_max(r, row, MG_UUSER_COL_USER_ID, MG_UUSER_COL_USERNAME)
           + mg_usage_nums_max(r, row, MG_UUSER_COL_REQUESTS, MG_UUSER_COL_OUTPUT);
}

static char *
mg_usage_user_write(char *p, const PGresult *r, int row)
{
    *p++ = '{';
    p = mg_jw_str(p, "user_id", r, row, MG_UUSER_COL_USER_ID);
    *p++ = ',';
    p = mg_jw_str(p, "username", r, row, MG_UUSER_COL_USERNAME);
    *p++ = ',';
    p = mg_usage_num(p, "requests", r, row, MG_UUSER_COL_REQUESTS);
    *p++ = ',';
    p = mg_usage_num(p, "input_tokens", r, row, MG_UUSER_COL_INPUT);
    *p++ = ',';
    p = mg_usage_num(p, "output_tokens", r, row, MG_UUSER_COL_OUTPUT);
    *p++ = '}';
    return p;
}

int
mg_job_admin_usage(mg_job_t *job)
{
    mg_usage_range_t   range;
    long               today, limit;
    long long          after_tokens = 0, last_tokens;
    int                has_user, has_cursor, n, rows, sent;
    const char        *query, *values[6];
    size_t             qlen, size;
    mg_verr_t          err;
    char               from[MG_DATE_LEN + 1], to[MG_DATE_LEN + 1];
    char               user_id[MG_USER_CURSOR_ID_MAX + 1], after_id[MG_USER_CURSOR_ID_MAX + 1];
    char               tokens_buf[24], limit_buf[24], next[MG_USER_CURSOR_MAX];
    char              *body = NULL, *p;
    PGresult          *res = NULL;
    mg_db_rc_t         rc;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }

    query = mg_job_query(job, &qlen);
    if (mg_query_limit(query, qlen, MG_USAGE_LIMIT_DEFAULT, 1, MG_USAGE_LIMIT_MAX,
                       &limit, &err) != 0
        || mg_usage_query_user(query, qlen, user_id, sizeof(user_id), &has_user, &err) != 0
        || mg_usage_query_cursor(query, qlen, &after_tokens, after_id, sizeof(after_id),
                                 &has_cursor, &err) != 0)
    {
        return mg_job_reply_verr(job, &err);
    }
    if (mg_usage_range_get(job, "admin.usage", 0, &range, &today, &sent) != 0) {
        return sent;
    }
    if (mg_date_format(range.from, from) != 0 || mg_date_format(range.to, to) != 0) {
        return mg_usage_internal(job);
    }

    /* one row more than asked tells whether another page exists */
    snprintf(limit_buf, sizeof(limit_buf), "%ld", limit + 1);
    snprintf(tokens_buf, sizeof(tokens_buf), "%lld", after_tokens);
    values[0] = from;
    values[1] = to;
    values[2] = has_user ? user_id : NULL;
    values[3] = has_cursor ? tokens_buf : NULL;
    values[4] = has_cursor ? after_id : NULL;
    values[5] = limit_buf;
    rc = mg_db_exec(job->db, MG_Q_USAGE_BY_USER, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.usage");
        goto done;
    }
    n = PQntuples(res);
    if (n < 1) {
        mg_log_error("admin.usage rid=%s: the usage statement returned no row", job->rid);
        goto fail;
    }
    /* an empty page is one row without a user */
    if (PQgetisnull(res, 0, MG_UUSER_COL_USER_ID)) {
        n = 0;
    }
    rows = n < limit ? n : (int) limit;

    size = 512 + MG_USER_CURSOR_MAX
           + mg_usage_nums_max(res, 0, MG_UUSER_COL_TOTAL_REQUESTS, MG_UUSER_COL_TOTAL_OUTPUT);
    for (int i = 0; i < rows; i++) {
        size += mg_usage_user_max(res, i) + 1;
    }
    body = malloc(size);
    if (body == NULL) {
        goto fail;
    }

    p = body;
    p += sprintf(p, "{\"from\":\"%s\",\"to\":\"%s\",\"items\":[", from, to);
    for (int i = 0; i < rows; i++) {
        if (i > 0) {
            *p++ = ',';
        }
        p = mg_usage_user_write(p, res, i);
    }
    p += sprintf(p, "],\"total\":{");
    p = mg_usage_num(p, "requests", res, 0, MG_UUSER_COL_TOTAL_REQUESTS);
    *p++ = ',';
    p = mg_usage_num(p, "input_tokens", res, 0, MG_UUSER_COL_TOTAL_INPUT);
    *p++ = ',';
    p = mg_usage_num(p, "output_tokens", res, 0, MG_UUSER_COL_TOTAL_OUTPUT);
    *p++ = '}';

    if (n > limit) {
        int last = (int) limit - 1;

        if (mg_usage_col_ll(res, last, MG_UUSER_COL_TOKENS, &last_tokens) != 0
            || mg_user_cursor_encode(last_tokens, PQgetvalue(res, last, MG_UUSER_COL_USER_ID),
                                     next, sizeof(next)) != 0)
        {
            /* only an id over MG_USER_CURSOR_ID_MAX bytes gets here */
            mg_log_error("admin.usage rid=%s: cannot encode a cursor after user %.64s...",
                         job->rid, PQgetvalue(res, last, MG_UUSER_COL_USER_ID));
            goto fail;
        }
        p += sprintf(p, ",\"next_cursor\":\"%s\"}", next);
    } else {
        p += sprintf(p, ",\"next_cursor\":null}");
    }
    sent = mg_job_reply_raw(job, 200, body, (size_t) (p - body), NULL);
    goto done;

fail:
    sent = mg_usage_internal(job);

done:
    free(body);
    PQclear(res);
    return sent;
}
