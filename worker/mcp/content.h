/*
 * mg_mcp_content: a tools/call result (CallToolResult) as the text a model
 * is given.  Text items are kept whole; the others become one-line
 * summaries ("[image: image/png, 1234 bytes]", "[resource: uri]"), since a
 * model reading text cannot use their bytes; items are joined by "\n".
 * When no item is text, structuredContent (if any) follows as compact
 * JSON.  Pure: no I/O.
 */
#ifndef MG_MCP_CONTENT_H
#define MG_MCP_CONTENT_H

#include <stddef.h>

#include <jansson.h>

#include "util/sb.h"

/* Append result's text to out and set *is_error from result.isError.
 * 0, or -1 with why in err when result is not a CallToolResult (not an
 * object, content not an array of objects, isError not a boolean).  Out
 * of memory shows as out->oom. */
int mg_mcp_content_text(json_t *result, mg_sb_t *out, int *is_error, char *err, size_t errlen);

/* The bytes that base64 text of len characters decodes to. */
size_t mg_mcp_base64_bytes(const char *text, size_t len);

#endif
