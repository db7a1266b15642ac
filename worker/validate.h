/*
 * mg_validate: request input checks shared by every job: JSON bodies
 * against a field table, and query-string parameters.  Failures come back
 * as a mg_verr_t (status, code, message) ready for mg_job_reply_verr.
 */
#ifndef MG_VALIDATE_H
#define MG_VALIDATE_H

#include <stddef.h>
#include <jansson.h>

#include "cursor.h"

typedef enum {
    MG_FIELD_STRING = 0,
    MG_FIELD_NUMBER,
    MG_FIELD_INTEGER,
    MG_FIELD_BOOL,
    MG_FIELD_UUID
} mg_field_type_t;

enum {
    MG_FIELD_REQUIRED  = 0x01,   /* must be present on create */
    MG_FIELD_NULLABLE  = 0x02,   /* null is a valid value */
    MG_FIELD_NOT_BLANK = 0x04    /* string: not only whitespace */
};

typedef struct {
    const char       *name;
    mg_field_type_t   type;
    unsigned          flags;
    double            min;   /* string: length in characters; number, integer: value */
    double            max;   /* inclusive, like min */
    const char       *def;   /* JSON text used when absent on create; NULL: none */
} mg_field_t;

typedef enum {
    MG_VALIDATE_CREATE = 0,  /* required fields enforced, defaults filled in */
    MG_VALIDATE_PATCH        /* every field optional, no defaults */
} mg_validate_mode_t;

typedef struct {
    int          status;          /* HTTP status, 400 (500 for a bad field table) */
    const char  *code;            /* static: "invalid_json", "unknown_field", ... */
    char         message[256];
} mg_verr_t;

/* Parse body as a JSON object and check it against fields.  Returns a new
 * object holding the accepted values (integers as JSON integers, strings
 * and UUIDs as given, null where allowed) plus defaults in create mode;
 * the caller owns it.  NULL with *err filled on any failure. */
json_t *mg_validate_body(const char *body, size_t len,
                         const mg_field_t *fields, size_t nfields,
                         mg_validate_mode_t mode, mg_verr_t *err);

/* Number of UTF-8 code points in s (which must be valid UTF-8). */
size_t mg_utf8_chars(const char *s, size_t len);

/* Find parameter name in a raw query string ("a=1&b=x%20y") and
 * percent-decode its value ('+' is a space) into out with a NUL.
 * The first occurrence wins.  Returns 1 (found, *outlen set), 0 (absent),
 * or -1 (a bad %-escape, a NUL, or longer than cap - 1). */
int mg_query_get(const char *query, size_t len, const char *name,
                 char *out, size_t cap, size_t *outlen);

/* "limit": absent -> def; otherwise a decimal integer in [min, max].
 * 0, or -1 with err = 400 invalid_query. */
int mg_query_limit(const char *query, size_t len, long def, long min, long max,
                   long *out, mg_verr_t *err);

/* "cursor": absent or empty -> *present = 0; otherwise it must decode.
 * 0, or -1 with err = 400 invalid_query. */
int mg_query_cursor(const char *query, size_t len, mg_cursor_t *out,
                    int *present, mg_verr_t *err);

void mg_verr_set(mg_verr_t *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
