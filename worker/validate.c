/*
 * mg_validate: owns the rules that turn request bodies and query strings
 * into trusted values, and the exact 400 codes and messages clients see.
 * Handlers describe their fields in a table; nothing reaches SQL that did
 * not pass through here.
 */
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hexval.h"
#include "mg_json.h"
#include "util/uuid.h"

/* Longest field name quoted back in a message, in bytes. */
#define MG_NAME_CLIP 64

void
mg_verr_set(mg_verr_t *err, int status, const char *code, const char *fmt, ...)
{
    va_list  ap;

    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

size_t
mg_utf8_chars(const char *s, size_t len)
{
    size_t  n = 0;

    for (size_t i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* Bytes of s to quote so that at most max bytes are shown and no UTF-8
 * sequence is cut (a cut one would make the message invalid UTF-8). */
static int
mg_clip_utf8(const char *s, size_t max)
{
    size_t  n = strlen(s);

    if (n <= max) {
        return (int) n;
    }
    n = max;
    while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
        n--;
    }
    return (int) n;
}

static int
mg_is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr(" \t\n\r\f\v", s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

/* The rule a field follows, for messages: "a string of 1 to 255 characters". */
static void
mg_field_rule(const mg_field_t *f, char *buf, size_t cap)
{
    switch (f->type) {
    case MG_FIELD_STRING:
        if (f->min > 0) {
            snprintf(buf, cap, "a string of %g to %g characters", f->min, f->max);
        } else {
            snprintf(buf, cap, "a string of at most %g characters", f->max);
        }
        break;
    case MG_FIELD_NUMBER:
        snprintf(buf, cap, "a number between %g and %g", f->min, f->max);
        break;
    case MG_FIELD_INTEGER:
        snprintf(buf, cap, "an integer between %g and %g", f->min, f->max);
        break;
    case MG_FIELD_BOOL:
        snprintf(buf, cap, "a boolean");
        break;
    case MG_FIELD_UUID:
        snprintf(buf, cap, (f->flags & MG_FIELD_NULLABLE) ? "a UUID or null" : "a UUID");
        break;
    }
}

static void
mg_field_invalid(const mg_field_t *f, mg_verr_t *err)
{
    char  rule[96];

    mg_field_rule(f, rule, sizeof(rule));
    mg_verr_set(err, 400, "invalid_field", "field \"%s\" must be %s", f->name, rule);
}

/* Check one present value.  Returns a new reference to the value to keep
 * (integers normalised to JSON integers), or NULL with *err set. */
static json_t *
mg_field_check(const mg_field_t *f, json_t *v, mg_verr_t *err)
{
    const char  *s;
    size_t       len, chars;
    double       d;

    if (json_is_null(v)) {
        if (f->flags & MG_FIELD_NULLABLE) {
            return json_null();
        }
        mg_verr_set(err, 400, "invalid_field", "field \"%s\" must not be null", f->name);
        return NULL;
    }

    switch (f->type) {
    case MG_FIELD_STRING:
        if (!json_is_string(v)) {
            break;
        }
        s = json_string_value(v);
        len = json_string_length(v);
        if (memchr(s, '\0', len) != NULL) {
            break;                  /* PostgreSQL text cannot hold NUL */
        }
        chars = mg_utf8_chars(s, len);
        if ((double) chars < f->min || (double) chars > f->max) {
            break;
        }
        if ((f->flags & MG_FIELD_NOT_BLANK) && mg_is_blank(s, len)) {
            mg_verr_set(err, 400, "invalid_field", "field \"%s\" must not be blank", f->name);
            return NULL;
        }
        return json_incref(v);

    case MG_FIELD_NUMBER:
        if (!json_is_number(v)) {
            break;
        }
        d = json_number_value(v);
        if (!isfinite(d) || d < f->min || d > f->max) {
            break;
        }
        return json_incref(v);

    case MG_FIELD_INTEGER:
        /* 5.0 is accepted as 5 (JSON has one number type); 5.5 is not */
        if (json_is_integer(v)) {
            json_int_t i = json_integer_value(v);
            if ((double) i < f->min || (double) i > f->max) {
                break;
            }
            return json_incref(v);
        }
        if (json_is_real(v)) {
            d = json_real_value(v);
            if (!isfinite(d) || d != floor(d) || d < f->min || d > f->max) {
                break;
            }
            return json_integer((json_int_t) d);
        }
        break;

    case MG_FIELD_BOOL:
        if (!json_is_boolean(v)) {
            break;
        }
        return json_incref(v);

    case MG_FIELD_UUID:
        if (!json_is_string(v)
            || !mg_uuid_valid(json_string_value(v), json_string_length(v)))
        {
            break;
        }
        return json_incref(v);
    }

    mg_field_invalid(f, err);
    return NULL;
}

json_t *
mg_validate_body(const char *body, size_t len, const mg_field_t *fields, size_t nfields,
                 mg_validate_mode_t mode, mg_verr_t *err)
{
    json_t      *root = NULL, *out = NULL, *v, *kept;
    const char  *key;
    char         why[160];
    size_t       i;

    if (len == 0) {
        mg_verr_set(err, 400, "invalid_json", "request body must be a JSON object");
        goto fail;
    }
    root = mg_json_parse_object(body, len, why, sizeof(why));
    if (root == NULL) {
        mg_verr_set(err, 400, "invalid_json", "%s", why);
        goto fail;
    }

    /* unknown fields first: a typo must not pass as "field omitted" */
    json_object_foreach(root, key, v) {
        for (i = 0; i < nfields; i++) {
            if (strcmp(fields[i].name, key) == 0) {
                break;
            }
        }
        if (i == nfields) {
            mg_verr_set(err, 400, "unknown_field", "unknown field \"%.*s\"",
                        mg_clip_utf8(key, MG_NAME_CLIP), key);
            goto fail;
        }
    }

    out = json_object();
    if (out == NULL) {
        mg_verr_set(err, 500, "internal", "out of memory");
        goto fail;
    }

    for (i = 0; i < nfields; i++) {
        const mg_field_t *f = &fields[i];

        v = json_object_get(root, f->name);
        if (v == NULL) {
            if (mode == MG_VALIDATE_PATCH) {
                continue;
            }
            if (f->flags & MG_FIELD_REQUIRED) {
                mg_verr_set(err, 400, "invalid_field", "field \"%s\" is required", f->name);
                goto fail;
            }
            if (f->def == NULL) {
                continue;
            }
            kept = json_loads(f->def, JSON_DECODE_ANY, NULL);
            if (kept == NULL) {
                mg_verr_set(err, 500, "internal", "bad default for field \"%s\"", f->name);
                goto fail;
            }
        } else {
            kept = mg_field_check(f, v, err);
            if (kept == NULL) {
                goto fail;
            }
        }
        if (json_object_set_new(out, f->name, kept) != 0) {
            mg_verr_set(err, 500, "internal", "out of memory");
            goto fail;
        }
    }

    json_decref(root);
    return out;

fail:
    json_decref(out);
    json_decref(root);
    return NULL;
}

/* Percent-decode s[0..len) into out (cap bytes incl. NUL).  Returns the
 * decoded length, or -1 for a bad escape, a NUL or no room. */
static long
mg_pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t  n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len) {          /* needs two hex digits */
                return -1;
            }
            hi = mg_hexval(s[i + 1]);
            lo = mg_hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = (char) (hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || n + 1 >= cap) {
            return -1;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return (long) n;
}

int
mg_query_get(const char *query, size_t len, const char *name,
             char *out, size_t cap, size_t *outlen)
{
    const char  *p = query, *end = query + len;
    char         key[64];

    if (query == NULL) {
        return 0;
    }
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t) (pair_end - p));
        const char *kend = eq ? eq : pair_end;
        long        n;

        /* keys longer than any we look up cannot match; skip them */
        n = mg_pct_decode(p, (size_t) (kend - p), key, sizeof(key));
        if (n >= 0 && strcmp(key, name) == 0) {
            const char *vstart = eq ? eq + 1 : pair_end;

            n = mg_pct_decode(vstart, (size_t) (pair_end - vstart), out, cap);
            if (n < 0) {
                return -1;
            }
            if (outlen != NULL) {
                *outlen = (size_t) n;
            }
            return 1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

int
mg_query_limit(const char *query, size_t len, long def, long min, long max,
               long *out, mg_verr_t *err)
{
    char    buf[32];
    char   *end;
    long    v;
    int     rc;

    rc = mg_query_get(query, len, "limit", buf, sizeof(buf), NULL);
    if (rc == 0) {
        *out = def;
        return 0;
    }
    if (rc < 0 || buf[0] < '0' || buf[0] > '9') {
        goto bad;                   /* no sign, space or empty value */
    }
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        goto bad;
    }
    *out = v;
    return 0;

bad:
    mg_verr_set(err, 400, "invalid_query",
                "query parameter \"limit\" must be an integer between %ld and %ld", min, max);
    return -1;
}

int
mg_query_cursor(const char *query, size_t len, mg_cursor_t *out, int *present, mg_verr_t *err)
{
    char    buf[MG_CURSOR_MAX + 1];
    size_t  n = 0;
    int     rc;

    *present = 0;
    rc = mg_query_get(query, len, "cursor", buf, sizeof(buf), &n);
    if (rc == 0 || (rc == 1 && n == 0)) {
        return 0;
    }
    if (rc < 0 || mg_cursor_decode(buf, n, out) != 0) {
        mg_verr_set(err, 400, "invalid_query", "query parameter \"cursor\" is invalid");
        return -1;
    }
    *present = 1;
    return 0;
}
