/*
 * mg_json: owns the JSON conventions both sides share over jansson: the
 * error body shape, compact serialisation, and strict parsing of request
 * objects (duplicate keys rejected, so two parsers can never disagree on
 * which of two values counts).  Nothing here keeps state between calls.
 */
#include "mg_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string for s.  Text that is not UTF-8 (say a strerror() in some
 * locale) is kept readable by turning its non-ASCII bytes into '?' rather
 * than losing the whole error body. */
static json_t *
mg_json_string_lossy(const char *s)
{
    json_t  *v;
    char    *copy;
    size_t   i;

    v = json_string(s);
    if (v != NULL) {
        return v;
    }

    copy = strdup(s);
    if (copy == NULL) {
        return NULL;
    }
    for (i = 0; copy[i] != '\0'; i++) {
        if ((unsigned char) copy[i] >= 0x80) {
            copy[i] = '?';
        }
    }
    v = json_string(copy);
    free(copy);
    return v;
}

/* {"code","message","request_id"}: the error object both shapes carry.
 * jansson keeps insertion order.  NULL on a bad argument or no memory. */
static json_t *
mg_json_error_new(const char *code, const char *message, const char *request_id)
{
    json_t  *err, *v;

    if (code == NULL || message == NULL) {
        return NULL;
    }

    err = json_object();
    if (err == NULL) {
        return NULL;
    }

    v = mg_json_string_lossy(code);
    if (v == NULL || json_object_set_new(err, "code", v) != 0) {
        goto failed;
    }
    v = mg_json_string_lossy(message);
    if (v == NULL || json_object_set_new(err, "message", v) != 0) {
        goto failed;
    }
    if (request_id != NULL) {
        v = mg_json_string_lossy(request_id);
        if (v == NULL || json_object_set_new(err, "request_id", v) != 0) {
            goto failed;
        }
    }
    return err;

failed:
    json_decref(err);
    return NULL;
}

char *
mg_json_error_body(const char *code, const char *message, const char *request_id)
{
    json_t  *err, *root;
    char    *out;

    err = mg_json_error_new(code, message, request_id);
    if (err == NULL) {
        return NULL;
    }

    /* "o" steals err, also when packing fails */
    root = json_pack("{s:o}", "error", err);
    out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}

char *
mg_json_error_object(const char *code, const char *message, const char *request_id)
{
    json_t  *err;
    char    *out;

    err = mg_json_error_new(code, message, request_id);
    if (err == NULL) {
        return NULL;
    }
    out = json_dumps(err, JSON_COMPACT);
    json_decref(err);
    return out;
}

char *
mg_json_dump(const json_t *value, size_t *len)
{
    char  *out;

    if (value == NULL) {
        return NULL;
    }

    /* ENCODE_ANY: claims and bodies are objects, but a bare string or
     * number is still valid JSON and callers may dump one. */
    out = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (out != NULL && len != NULL) {
        *len = strlen(out);
    }
    return out;
}

json_t *
mg_json_parse_object(const char *data, size_t len, char *err, size_t errlen)
{
    json_t        *root = NULL;
    json_error_t   jerr;

    if (data == NULL || len == 0) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "empty body");
        }
        goto fail;
    }

    /* DECODE_ANY so that "42" is reported as the wrong type, not as
     * broken JSON. */
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "malformed JSON: %s at line %d column %d",
                     jerr.text, jerr.line, jerr.column);
        }
        goto fail;
    }

    if (!json_is_object(root)) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "expected a JSON object");
        }
        goto fail;
    }

    return root;

fail:
    json_decref(root);
    return NULL;
}


size_t
mg_json_escape(char *out, const char *in, size_t len)
{
    static const char  hex[] = "0123456789abcdef";
    char              *p = out;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) in[i];

        switch (c) {
        case '"':  *p++ = '\\'; *p++ = '"';  break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\n': *p++ = '\\'; *p++ = 'n';  break;
        case '\r': *p++ = '\\'; *p++ = 'r';  break;
        case '\t': *p++ = '\\'; *p++ = 't';  break;
        default:
            if (c < 0x20 || c == 0x7f) {
                *p++ = '\\'; *p++ = 'u'; *p++ = '0'; *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];
            } else {
                *p++ = (char) c;
            }
        }
    }
    return (size_t) (p - out);
}
