/* mg_json: JSON helpers both sides use, over jansson. */
#ifndef MG_JSON_H
#define MG_JSON_H

#include <stddef.h>
#include <jansson.h>

/* {"error":{"code":code,"message":message,"request_id":request_id}} as a
 * malloc'd compact string (caller frees); NULL on allocation failure.
 * request_id may be NULL (then it is omitted). */
char *mg_json_error_body(const char *code, const char *message, const char *request_id);

/* Compact serialisation, malloc'd; *len gets its length.  NULL on failure. */
char *mg_json_dump(const json_t *value, size_t *len);

/* Parse an object strictly (duplicate keys rejected).  Returns a new
 * reference, or NULL with a short reason in err ("malformed JSON at line 1
 * column 5", "expected a JSON object"). */
json_t *mg_json_parse_object(const char *data, size_t len, char *err, size_t errlen);

#endif
