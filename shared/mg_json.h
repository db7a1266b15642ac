/* mg_json: JSON helpers both sides use, over jansson. */
#ifndef MG_JSON_H
#define MG_JSON_H

#include <stddef.h>
#include <jansson.h>

/* {"error":{"code":code,"message":message,"request_id":request_id}} as a
 * malloc'd compact string (caller frees); NULL on allocation failure.
 * request_id may be NULL (then it is omitted). */
char *mg_json_error_body(const char *code, const char *message, const char *request_id);

/* The inner object alone, {"code":...,"message":...,"request_id":...}, as
 * the data of a streamed "error" event; the same rules as above. */
char *mg_json_error_object(const char *code, const char *message, const char *request_id);

/* Compact serialisation, malloc'd; *len gets its length.  NULL on failure. */
char *mg_json_dump(const json_t *value, size_t *len);

/* Parse an object strictly (duplicate keys rejected).  Returns a new
 * reference, or NULL with a short reason in err ("malformed JSON at line 1
 * column 5", "expected a JSON object"). */
json_t *mg_json_parse_object(const char *data, size_t len, char *err, size_t errlen);

/* Escape len bytes of UTF-8 text as the inside of a JSON string (no
 * quotes) into out, which must hold MG_JSON_ESCAPED_MAX(len) bytes.
 * Returns the bytes written.  For hot paths that write JSON text row by
 * row without building a jansson tree; the input must already be valid
 * UTF-8 (text from the database is). */
#define MG_JSON_ESCAPED_MAX(len)  ((len) * 6)
size_t mg_json_escape(char *out, const char *in, size_t len);

#endif
