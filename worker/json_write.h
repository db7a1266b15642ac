/* mg_json_write: JSON written straight from result rows in one pass, for
 * the list endpoints, where building a jansson tree per row and dumping it
 * cost more than the query.  Callers size the buffer with mg_jw_text_max. */
#ifndef MG_JSON_WRITE_H
#define MG_JSON_WRITE_H

#include <stddef.h>

#include <libpq-fe.h>

/* "key":"escaped text", or "key":null for a NULL column. */
char *mg_jw_str(char *p, const char *key, const PGresult *r, int row, int col);

/* "key":"2026-11-24T12:38:54.986556Z" from a column of microseconds since
 * the epoch: fixed width, so the strings also sort in time order. */
char *mg_jw_ts(char *p, const char *key, const PGresult *r, int row, int col);

/* What mg_jw_str may write for columns first..last of row, values only. */
size_t mg_jw_text_max(const PGresult *r, int row, int first, int last);

#endif
