/*
 * fuzz_json_validate: the worker's checks of request input
 * (worker/validate.c), as the jobs run them before any SQL: JSON bodies
 * against the bots' and chats' field tables (every field type: string,
 * number, integer, bool, uuid, nullable, not blank, defaults), in create
 * and patch mode; and raw query strings (mg_query_get, _limit, _cursor).
 * Input: one selector byte, then the body or the query string:
 *   bit 0: 0 body, 1 query string;  bit 1: create or patch;
 *   bit 2: the bots' or the chats' table.
 * An accepted body comes back as an object holding only table fields.
 */
#include <assert.h>

#include "fuzz.h"
#include "jobs/jobs.h"
#include "validate.h"

static int
mg_fuzz_known(const mg_field_t *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
mg_fuzz_body(uint8_t sel, const char *body, size_t len)
{
    const mg_field_t  *fields = (sel & 4) ? mg_chat_fields : mg_bot_fields;
    size_t             n = (sel & 4) ? mg_chat_fields_count : mg_bot_fields_count;
    mg_verr_t          err;
    json_t            *v;
    const char        *key;
    json_t            *val;

    v = mg_validate_body(body, len, fields, n,
                         (sel & 2) ? MG_VALIDATE_PATCH : MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        assert(err.status == 400 && err.code != NULL);
        assert(memchr(err.message, '\0', sizeof(err.message)) != NULL);
        return;
    }
    assert(json_is_object(v));
    json_object_foreach(v, key, val) {
        assert(mg_fuzz_known(fields, n, key));
        if (json_is_string(val)) {
            (void) mg_utf8_chars(json_string_value(val), json_string_length(val));
        }
    }
    json_decref(v);
}

static void
mg_fuzz_query(const char *q, size_t len)
{
    char          out[256];
    size_t        outlen;
    long          limit;
    mg_cursor_t   cursor;
    int           present;
    mg_verr_t     err;

    if (mg_query_get(q, len, "q", out, sizeof(out), &outlen) == 1) {
        assert(outlen < sizeof(out) && out[outlen] == '\0');
    }
    if (mg_query_limit(q, len, 20, 1, 100, &limit, &err) == 0) {
        assert(limit >= 1 && limit <= 100);
    }
    if (mg_query_cursor(q, len, &cursor, &present, &err) == 0 && present) {
        assert(strlen(cursor.id) == MG_UUID_LEN);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size < 1) {
        return 0;
    }
    text = mg_fuzz_dup(data + 1, size - 1, 0);
    if (data[0] & 1) {
        mg_fuzz_query(text, size - 1);
    } else {
        mg_fuzz_body(data[0], text, size - 1);
    }
    free(text);
    return 0;
}
