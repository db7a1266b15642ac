/*
 * mg_mcp_content: a CallToolResult as text (content.h).  Content types of
 * MCP 2025-06-18: text, image, audio, resource_link, resource (embedded);
 * an unknown type is named rather than dropped, so the model knows
 * something was there.
 */
#include "mcp/content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errf.h"

size_t
mg_mcp_base64_bytes(const char *text, size_t len)
{
    size_t chars = 0, pad = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == '=') {
            pad++;
        } else if (c != '\n' && c != '\r' && c != ' ') {
            chars += 1 + pad;                   /* '=' inside the text is not padding */
            pad = 0;
        }
    }
    return chars * 3 / 4;
}

static const char *
mg_mcp_str(json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : def;
}

/* "[image: image/png, 1234 bytes]" and the like. */
static void
mg_mcp_summary(mg_sb_t *out, const char *type, json_t *item)
{
    char    line[600];
    json_t *data = json_object_get(item, "data");

    if (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0) {
        snprintf(line, sizeof(line), "[%s: %.200s, %zu bytes]", type,
                 mg_mcp_str(item, "mimeType", "unknown type"),
                 json_is_string(data)
                     ? mg_mcp_base64_bytes(json_string_value(data), json_string_length(data))
                     : (size_t) 0);
    } else if (strcmp(type, "resource_link") == 0) {
        snprintf(line, sizeof(line), "[resource: %.500s]", mg_mcp_str(item, "uri", "no uri"));
    } else if (strcmp(type, "resource") == 0) {
        snprintf(line, sizeof(line), "[resource: %.500s]",
                 mg_mcp_str(json_object_get(item, "resource"), "uri", "no uri"));
    } else {
        snprintf(line, sizeof(line), "[%.100s]", type);
    }
    mg_sb_adds(out, line);
}

int
mg_mcp_content_text(json_t *result, mg_sb_t *out, int *is_error, char *err, size_t errlen)
{
    json_t  *content, *flag, *structured, *item;
    size_t   i, texts = 0, items = 0;

    *is_error = 0;
    if (!json_is_object(result)) {
        mg_errf(err, errlen, "the tool's result is not an object");
        return -1;
    }
    flag = json_object_get(result, "isError");
    if (flag != NULL && !json_is_boolean(flag)) {
        mg_errf(err, errlen, "the tool's result has an isError that is not true or false");
        return -1;
    }
    content = json_object_get(result, "content");
    if (content != NULL && !json_is_array(content)) {
        mg_errf(err, errlen, "the tool's result has a content that is not an array");
        return -1;
    }
    json_array_foreach(content, i, item) {
        if (!json_is_object(item) || !json_is_string(json_object_get(item, "type"))) {
            mg_errf(err, errlen, "the tool's result has a content item without a type");
            return -1;
        }
    }
    *is_error = json_is_true(flag);

    json_array_foreach(content, i, item) {
        const char  *type = json_string_value(json_object_get(item, "type"));
        json_t      *text = json_object_get(item, "text");

        if (items++ > 0) {
            mg_sb_add(out, "\n", 1);
        }
        if (strcmp(type, "text") == 0) {
            if (json_is_string(text)) {
                mg_sb_add(out, json_string_value(text), json_string_length(text));
            }
            texts++;
        } else {
            mg_mcp_summary(out, type, item);
        }
    }

    structured = json_object_get(result, "structuredContent");
    if (texts == 0 && structured != NULL && !json_is_null(structured)) {
        char *s = json_dumps(structured, JSON_COMPACT | JSON_ENCODE_ANY);

        if (s == NULL) {
            out->oom = 1;
            return 0;
        }
        if (items > 0) {
            mg_sb_add(out, "\n", 1);
        }
        mg_sb_adds(out, s);
        free(s);
    }
    return 0;
}
