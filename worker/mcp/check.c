/*
 * mcp check: owns `mangoo-worker mcp-check`, the MCP client driven from
 * the command line, for an administrator trying a server before
 * registering it and for the MCP conformance suite (which starts a
 * client with the URL of its scenario server last):
 *
 *   mangoo-worker mcp-check [--timeout MS] URL            Streamable HTTP
 *   mangoo-worker mcp-check [--timeout MS] -- CMD ARG...  stdio
 *
 * It initialises, lists the tools and calls each once with arguments made
 * from its input schema (each enum's first value, numbers 2 then 3,
 * strings "hello", true, empty arrays and objects).  Exit 0 when every
 * call got a result (one the tool marks isError included), 1 otherwise,
 * 2 for bad usage.
 */
#include "mcp/check.h"
#include "mcp/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MG_MCP_CHECK_SHOWN  300     /* bytes of a result printed */



static json_t *
mg_mcp_check_args(json_t *tool)
{
    json_t      *props = json_object_get(json_object_get(tool, "inputSchema"), "properties");
    json_t      *args = json_object(), *p, *en;
    const char  *key, *type;
    int          numbers = 0;

    json_object_foreach(props, key, p) {
        type = json_string_value(json_object_get(p, "type"));
        en = json_object_get(p, "enum");
        if (json_array_size(en) > 0) {
            json_object_set(args, key, json_array_get(en, 0));
        } else if (type == NULL || strcmp(type, "string") == 0) {
            json_object_set_new(args, key, json_string("hello"));
        } else if (strcmp(type, "number") == 0 || strcmp(type, "integer") == 0) {
            json_object_set_new(args, key, json_integer(numbers++ == 0 ? 2 : 3));
        } else if (strcmp(type, "boolean") == 0) {
            json_object_set_new(args, key, json_true());
        } else if (strcmp(type, "array") == 0) {
            json_object_set_new(args, key, json_array());
        } else if (strcmp(type, "object") == 0) {
            json_object_set_new(args, key, json_object());
        }
    }
    return args;
}

int
mg_mcp_check_main(int argc, char **argv)
{
    mg_mcp_config_t   cfg = { .name = "mcp-check", .max_result = 1 << 20 };
    mg_mcp_client_t  *c;
    json_t           *tools = NULL, *tool;
    long              timeout = 15000;
    char              err[1024], version[16];
    int               i = 1, failed = 0;
    size_t            k;

    if (i + 1 < argc && strcmp(argv[i], "--timeout") == 0) {
        timeout = atol(argv[i + 1]);
        i += 2;
    }
    if (i >= argc || (strcmp(argv[i], "--") == 0 && i + 1 >= argc)) {
        fprintf(stderr, "usage: mangoo-worker mcp-check [--timeout MS] URL\n"
                        "       mangoo-worker mcp-check [--timeout MS] -- COMMAND [ARG...]\n");
        return 2;
    }
    if (strcmp(argv[i], "--") == 0) {
        cfg.transport = MG_MCP_STDIO;
        cfg.command = json_array();
        for (i++; i < argc; i++) {
            json_array_append_new(cfg.command, json_string(argv[i]));
        }
    } else {
        cfg.transport = MG_MCP_HTTP;
        cfg.url = argv[argc - 1];
    }
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    if (c == NULL) {
        fprintf(stderr, "mcp-check: out of memory\n");
        return 1;
    }
    if (mg_mcp_list_tools(c, timeout, &tools, err, sizeof(err)) != 0) {
        printf("tools/list failed: %s\n", err);
        mg_mcp_client_free(c);
        return 1;
    }
    mg_mcp_client_version(c, version, sizeof(version));
    printf("protocol %s, %zu tools\n", version, json_array_size(tools));
    json_array_foreach(tools, k, tool) {
        const char  *name = json_string_value(json_object_get(tool, "name"));
        json_t      *args = mg_mcp_check_args(tool);
        mg_sb_t      out = { 0 };
        int          is_error = 0, rc;
        char        *text;

        if (name == NULL) {
            json_decref(args);
            continue;
        }
        rc = mg_mcp_call_tool(c, name, args, timeout, NULL, &out, &is_error, err, sizeof(err));
        text = mg_sb_done(&out);
        if (rc == 0) {
            printf("%s: %s%.*s\n", name, is_error ? "[isError] " : "", MG_MCP_CHECK_SHOWN,
                   text != NULL ? text : "");
        } else {
            printf("%s: failed: %s\n", name, err);
            failed = 1;
        }
        free(text);
        json_decref(args);
    }
    json_decref(tools);
    mg_mcp_client_free(c);
    return failed;
}
