/*
 * mg_json_write: owns the one-pass JSON writers of result rows (see the
 * header).  Database text is valid UTF-8, so escaping is all it needs.
 */
#include "json_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mg_json.h"

char *
mg_jw_str(char *p, const char *key, const PGresult *r, int row, int col)
{
    p += sprintf(p, "\"%s\":", key);
    if (PQgetisnull(r, row, col)) {
        return p + sprintf(p, "null");
    }
    *p++ = '"';
    p += mg_json_escape(p, PQgetvalue(r, row, col), (size_t) PQgetlength(r, row, col));
    *p++ = '"';
    return p;
}

char *
mg_jw_ts(char *p, const char *key, const PGresult *r, int row, int col)
{
    long long  us = strtoll(PQgetvalue(r, row, col), NULL, 10);
    time_t     secs = (time_t) (us / 1000000);
    struct tm  tm;

    gmtime_r(&secs, &tm);
    return p + sprintf(p, "\"%s\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ\"", key,
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}

size_t
mg_jw_text_max(const PGresult *r, int row, int first, int last)
{
    size_t n = 0;

    for (int col = first; col <= last; col++) {
        n += MG_JSON_ESCAPED_MAX((size_t) PQgetlength(r, row, col));
    }
    return n;
}
