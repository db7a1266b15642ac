/*
 * check_worker_mcp: the MCP client (worker/mcp/): JSON-RPC classification,
 * the event-stream reader, a tool result as text (pure), then the stdio
 * transport against tests/mcp/fake_stdio_server.py and Streamable HTTP
 * against tests/mcp/fake_http_server.py (python3, started here; found from
 * MANGOO_TOP or the working directory, the repository's top).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcp/client.h"
#include "mcp/content.h"
#include "mcp/rpc.h"
#include "mcp/sse.h"
#include "util/clock.h"
#include "util/http_get.h"
#include "util/log.h"

extern char **environ;

/* For calls that may start a python child: generous, for a busy machine. */
#define SESSION_MS  30000

static char top[4096];


/* ---- JSON-RPC ------------------------------------------------------------ */

static mg_rpc_kind_t
kind_of(const char *text, char *why, size_t whylen)
{
    json_t          *v = json_loads(text, 0, NULL);
    mg_rpc_kind_t    k;

    ck_assert_msg(v != NULL, "bad test JSON %s", text);
    why[0] = '\0';
    k = mg_rpc_classify(v, why, whylen);
    json_decref(v);
    return k;
}

START_TEST(test_rpc_classify)
{
    static const struct { const char *text; mg_rpc_kind_t kind; const char *why; } cases[] = {
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", MG_RPC_REQUEST, "" },
        { "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\",\"params\":{}}",
          MG_RPC_REQUEST, "" },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}",
          MG_RPC_NOTIFICATION, "" },
        { "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", MG_RPC_RESULT, "" },
        { "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":null}", MG_RPC_RESULT, "" },
        { "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-1,\"message\":\"x\"}}",
          MG_RPC_ERROR, "" },
        { "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}",
          MG_RPC_ERROR, "" },
        { "{\"id\":5,\"result\":{}}", MG_RPC_INVALID, "\"jsonrpc\" is not \"2.0\"" },
        { "{\"jsonrpc\":\"1.0\",\"id\":5,\"result\":{}}", MG_RPC_INVALID, "is not \"2.0\"" },
        { "{\"jsonrpc\":2,\"id\":5,\"result\":{}}", MG_RPC_INVALID, "is not \"2.0\"" },
        { "{\"jsonrpc\":\"2.0\",\"id\":5}", MG_RPC_INVALID, "neither a result nor an error" },
        { "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{},\"error\":{}}", MG_RPC_INVALID,
          "both a result and an error" },
        { "{\"jsonrpc\":\"2.0\",\"result\":{}}", MG_RPC_INVALID, "neither a method nor an id" },
        { "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":\"boom\"}", MG_RPC_INVALID, "not an object" },
        { "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", MG_RPC_INVALID, "neither a string" },
        { "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}", MG_RPC_INVALID, "neither a string" },
        { "{\"jsonrpc\":\"2.0\",\"method\":5}", MG_RPC_INVALID, "method is not a string" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{}}", MG_RPC_INVALID,
          "both a method and" },
        { "[1]", MG_RPC_INVALID, "not an object" },
    };
    char why[160];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_rpc_kind_t k = kind_of(cases[i].text, why, sizeof(why));

        ck_assert_msg(k == cases[i].kind, "%s: kind %d, want %d (%s)", cases[i].text, k,
                      cases[i].kind, why);
        ck_assert_msg(strstr(why, cases[i].why) != NULL, "%s: why \"%s\"", cases[i].text, why);
    }
}
END_TEST

START_TEST(test_rpc_parse_and_build)
{
    char     why[160], *t;
    json_t  *v, *id, *params;
    long long n;

    ck_assert_ptr_null(mg_rpc_parse("not json", 8, why, sizeof(why)));
    ck_assert_msg(strstr(why, "not JSON") != NULL, "%s", why);
    ck_assert_ptr_null(mg_rpc_parse("42", 2, why, sizeof(why)));
    ck_assert_msg(strstr(why, "neither an object nor an array") != NULL, "%s", why);
    ck_assert_ptr_null(mg_rpc_parse("{\"a\":1,\"a\":2}", 13, why, sizeof(why)));
    v = mg_rpc_parse("[{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]", 32, why, sizeof(why));
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_array(v));
    json_decref(v);

    params = json_pack("{s:s}", "cursor", "a\nb");
    t = mg_rpc_request(7, "tools/list", params);
    ck_assert_str_eq(t, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\","
                        "\"params\":{\"cursor\":\"a\\nb\"}}");
    ck_assert_ptr_null(strchr(t, '\n'));        /* one line, for stdio */
    free(t);
    json_decref(params);
    t = mg_rpc_notification("notifications/initialized", NULL);
    ck_assert_str_eq(t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    free(t);

    id = json_string("srv-1");
    params = json_object();
    t = mg_rpc_reply(id, params, 0, NULL);
    ck_assert_str_eq(t, "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"result\":{}}");
    free(t);
    t = mg_rpc_reply(id, NULL, -32601, "Method not found");
    ck_assert_str_eq(t, "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"error\":{\"code\":-32601,"
                        "\"message\":\"Method not found\"}}");
    free(t);
    json_decref(id);
    json_decref(params);

    v = json_loads("{\"id\":12}", 0, NULL);
    ck_assert_int_eq(mg_rpc_int_id(v, &n), 1);
    ck_assert_int_eq(n, 12);
    json_decref(v);
    v = json_loads("{\"id\":\"12\"}", 0, NULL);
    ck_assert_int_eq(mg_rpc_int_id(v, &n), 0);
    json_decref(v);
}
END_TEST

START_TEST(test_rpc_result)
{
    char     why[300];
    json_t  *v, *result;
    int      rpc_error;

    v = json_loads("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"ok\":true}}", 0, NULL);
    ck_assert_int_eq(mg_rpc_result(v, 3, &result, &rpc_error, why, sizeof(why)), 0);
    ck_assert(json_is_true(json_object_get(result, "ok")));
    ck_assert_int_eq(rpc_error, 0);
    ck_assert_int_eq(mg_rpc_result(v, 4, &result, &rpc_error, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "a response to another request (id 3, expected 4)");
    ck_assert_ptr_null(result);
    json_decref(v);

    v = json_loads("{\"jsonrpc\":\"2.0\",\"id\":\"3\",\"result\":{}}", 0, NULL);
    ck_assert_int_eq(mg_rpc_result(v, 3, &result, &rpc_error, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "a response to another request (id \"3\", expected 3)");
    json_decref(v);

    v = json_loads("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,"
                   "\"message\":\"Unknown tool: x\"}}", 0, NULL);
    ck_assert_int_eq(mg_rpc_result(v, 3, &result, &rpc_error, why, sizeof(why)), -1);
    ck_assert_int_eq(rpc_error, 1);
    ck_assert_str_eq(why, "Unknown tool: x (code -32602)");
    json_decref(v);

    v = json_loads("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                   "\"message\":\"Parse error\"}}", 0, NULL);
    ck_assert_int_eq(mg_rpc_result(v, 3, &result, &rpc_error, why, sizeof(why)), -1);
    ck_assert_int_eq(rpc_error, 1);
    ck_assert_str_eq(why, "Parse error (code -32700)");
    json_decref(v);

    v = json_loads("{\"jsonrpc\":\"2.0\",\"id\":3}", 0, NULL);
    ck_assert_int_eq(mg_rpc_result(v, 3, &result, &rpc_error, why, sizeof(why)), -1);
    ck_assert_int_eq(rpc_error, 0);
    ck_assert_msg(strstr(why, "neither a result nor an error") != NULL, "%s", why);
    json_decref(v);

    v = json_loads("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}", 0, NULL);
    ck_assert_int_eq(mg_rpc_result(v, 3, &result, &rpc_error, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "instead of a response") != NULL, "%s", why);
    json_decref(v);
}
END_TEST


/* ---- the event-stream reader --------------------------------------------- */

typedef struct {
    char    text[4096];     /* "type|data;" per event */
    int     events;
    int     stop_after;     /* 0: never */
} sse_seen_t;

static int
sse_collect(void *ud, const char *type, const char *data, size_t len)
{
    sse_seen_t *s = ud;
    size_t      n = strlen(s->text);

    ck_assert_uint_eq(strlen(data), len);
    snprintf(s->text + n, sizeof(s->text) - n, "%s|%s;", type, data);
    s->events++;
    return s->stop_after > 0 && s->events >= s->stop_after;
}

/* Feed text in pieces of step bytes (0: at once). */
static int
sse_run(const char *text, size_t step, size_t max, sse_seen_t *seen)
{
    mg_sse_t     p;
    size_t       len = strlen(text), off = 0;
    int          rc = 0;

    memset(seen, 0, sizeof(*seen));
    mg_sse_init(&p, max);
    while (off < len && rc == 0) {
        size_t n = step == 0 || len - off < step ? len - off : step;

        rc = mg_sse_feed(&p, text + off, n, sse_collect, seen);
        off += n;
    }
    mg_sse_free(&p);
    return rc;
}

START_TEST(test_sse_events)
{
    static const char stream[] =
        "\xEF\xBB\xBF: a comment\n"
        "id: 1\ndata:\n\n"                           /* data, empty */
        "event: message\r\ndata: {\"a\":1}\r\n\r\n"
        "data: line one\rdata:line two\r\r"
        "retry: 10\nunknown: x\ndata\n\n"            /* "data" alone: empty data */
        "event: other\ndata: x\n\n"
        "event: ignored\n\n"                         /* no data: no event */
        "data:  two spaces\n\n"
        "data: unfinished";
    static const char want[] =
        "message|;message|{\"a\":1};message|line one\nline two;message|;other|x;"
        "message| two spaces;";
    sse_seen_t seen;

    for (size_t step = 0; step <= 7; step++) {
        ck_assert_int_eq(sse_run(stream, step, 1024, &seen), 0);
        ck_assert_msg(strcmp(seen.text, want) == 0, "step %zu: %s", step, seen.text);
    }
}
END_TEST

START_TEST(test_sse_limits)
{
    sse_seen_t  seen;
    char        big[300];

    /* one line over max */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "data: ", 6);
    ck_assert_int_eq(sse_run(big, 0, 100, &seen), -1);
    ck_assert_int_eq(sse_run(big, 13, 100, &seen), -1);
    /* one event over max, in short lines */
    ck_assert_int_eq(sse_run("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", 0, 30,
                             &seen), -1);
    ck_assert_int_eq(sse_run("data: 0123456789\n\ndata: 0123456789\n\n", 0, 30, &seen), 0);
    ck_assert_int_eq(seen.events, 2);

    /* the callback stops it */
    memset(&seen, 0, sizeof(seen));
    {
        mg_sse_t p;

        seen.stop_after = 1;
        mg_sse_init(&p, 100);
        ck_assert_int_eq(mg_sse_feed(&p, "data: a\n\ndata: b\n\n", 18, sse_collect, &seen), 1);
        mg_sse_free(&p);
        ck_assert_str_eq(seen.text, "message|a;");
    }
    /* a BOM split across pieces, and a lookalike that is not one */
    ck_assert_int_eq(sse_run("\xEF\xBB\xBF" "data: bom\n\n", 1, 100, &seen), 0);
    ck_assert_str_eq(seen.text, "message|bom;");
    ck_assert_int_eq(sse_run("\xEF" "data: x\n\n", 1, 100, &seen), 0);
    ck_assert_int_eq(seen.events, 0);                /* "\xEFdata" is another field */
}
END_TEST

/* The last id and retry, what a resumption sends back and waits. */
START_TEST(test_sse_id_and_retry)
{
    static const struct {
        const char  *stream;
        size_t       len;           /* 0: strlen */
        const char  *last_id;
        long         retry_ms;
    } cases[] = {
        { "data: x\n\n", 0, "", -1 },
        { "id: 7\nretry: 500\ndata:\n\n", 0, "7", 500 },
        { "id: a\ndata: x\n\nid: b\n\n", 0, "b", -1 },          /* kept without an event */
        { "id: a\n\nid\n\n", 0, "", -1 },                        /* "id" alone empties it */
        { "id: a\nid: b\0c\n\n", 15, "a", -1 },                   /* with a NUL: ignored */
        { "retry: 12x\nretry: -5\nretry:\n\n", 0, "", -1 },      /* not digits: ignored */
        { "retry: 99999999999999999999\n\n", 0, "", 60000 },     /* cut, no overflow */
        { "retry: 300\nretry: 0\n\n", 0, "", 0 },
    };
    char long_id[400];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t      len = cases[i].len ? cases[i].len : strlen(cases[i].stream);
        mg_sse_t    p;
        sse_seen_t  seen = { 0 };

        mg_sse_init(&p, 1024);
        ck_assert_int_eq(mg_sse_feed(&p, cases[i].stream, len, sse_collect, &seen), 0);
        ck_assert_msg(strcmp(p.last_id, cases[i].last_id) == 0, "case %zu: id \"%s\"", i,
                      p.last_id);
        ck_assert_msg(p.retry_ms == cases[i].retry_ms, "case %zu: retry %ld", i, p.retry_ms);
        mg_sse_free(&p);
    }

    /* an id too long to send back is forgotten, not cut */
    {
        mg_sse_t    p;
        sse_seen_t  seen = { 0 };

        snprintf(long_id, sizeof(long_id), "id: first\n\nid: %0300d\n\n", 1);
        mg_sse_init(&p, 1024);
        ck_assert_int_eq(mg_sse_feed(&p, long_id, strlen(long_id), sse_collect, &seen), 0);
        ck_assert_str_eq(p.last_id, "");
        mg_sse_free(&p);
    }
}
END_TEST


/* ---- a result as text ------------------------------------------------------ */

static int
text_of(const char *json, char *out, size_t outlen, int *is_error, char *why, size_t whylen)
{
    json_t  *v = json_loads(json, 0, NULL);
    mg_sb_t  sb = { 0 };
    char    *s;
    int      rc;

    ck_assert_msg(v != NULL, "bad test JSON %s", json);
    why[0] = '\0';
    rc = mg_mcp_content_text(v, &sb, is_error, why, whylen);
    json_decref(v);
    s = mg_sb_done(&sb);
    snprintf(out, outlen, "%s", s != NULL ? s : "");
    free(s);
    return rc;
}

START_TEST(test_content_text)
{
    char    out[1024], why[200];
    int     is_error;

    ck_assert_int_eq(text_of("{\"content\":[{\"type\":\"text\",\"text\":\"one\"},"
                             "{\"type\":\"text\",\"text\":\"two\"}]}", out, sizeof(out),
                             &is_error, why, sizeof(why)), 0);
    ck_assert_str_eq(out, "one\ntwo");
    ck_assert_int_eq(is_error, 0);

    ck_assert_int_eq(text_of("{\"content\":[{\"type\":\"image\",\"data\":\"iVBORw0KGgo=\","
                             "\"mimeType\":\"image/png\"},{\"type\":\"audio\",\"data\":\"AAAA\","
                             "\"mimeType\":\"audio/wav\"},{\"type\":\"resource_link\","
                             "\"uri\":\"file:///a\",\"name\":\"a\"},{\"type\":\"resource\","
                             "\"resource\":{\"uri\":\"mem://b\",\"text\":\"hidden\"}},"
                             "{\"type\":\"hologram\"},{\"type\":\"text\",\"text\":\"end\"}],"
                             "\"structuredContent\":{\"x\":1}}",
                             out, sizeof(out), &is_error, why, sizeof(why)), 0);
    ck_assert_str_eq(out, "[image: image/png, 8 bytes]\n[audio: audio/wav, 3 bytes]\n"
                          "[resource: file:///a]\n[resource: mem://b]\n[hologram]\nend");

    ck_assert_int_eq(text_of("{\"content\":[],\"structuredContent\":{\"t\":21.5,\"u\":\"C\"},"
                             "\"isError\":true}", out, sizeof(out), &is_error, why,
                             sizeof(why)), 0);
    ck_assert_str_eq(out, "{\"t\":21.5,\"u\":\"C\"}");
    ck_assert_int_eq(is_error, 1);

    ck_assert_int_eq(text_of("{\"content\":[{\"type\":\"image\",\"data\":\"\","
                             "\"mimeType\":\"image/gif\"}],\"structuredContent\":[1,2]}",
                             out, sizeof(out), &is_error, why, sizeof(why)), 0);
    ck_assert_str_eq(out, "[image: image/gif, 0 bytes]\n[1,2]");

    ck_assert_int_eq(text_of("{}", out, sizeof(out), &is_error, why, sizeof(why)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(text_of("{\"content\":[{\"type\":\"text\",\"text\":\"\"}],"
                             "\"structuredContent\":{\"x\":1}}", out, sizeof(out), &is_error,
                             why, sizeof(why)), 0);
    ck_assert_str_eq(out, "");                   /* there was text, even if empty */

    ck_assert_int_eq(text_of("[]", out, sizeof(out), &is_error, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "the tool's result is not an object");
    ck_assert_int_eq(text_of("{\"content\":{}}", out, sizeof(out), &is_error, why,
                             sizeof(why)), -1);
    ck_assert_str_eq(why, "the tool's result has a content that is not an array");
    ck_assert_int_eq(text_of("{\"content\":[{\"text\":\"x\"}]}", out, sizeof(out), &is_error,
                             why, sizeof(why)), -1);
    ck_assert_str_eq(why, "the tool's result has a content item without a type");
    ck_assert_int_eq(text_of("{\"content\":[],\"isError\":\"yes\"}", out, sizeof(out),
                             &is_error, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "the tool's result has an isError that is not true or false");
}
END_TEST

START_TEST(test_base64_bytes)
{
    ck_assert_uint_eq(mg_mcp_base64_bytes("", 0), 0);
    ck_assert_uint_eq(mg_mcp_base64_bytes("QQ==", 4), 1);
    ck_assert_uint_eq(mg_mcp_base64_bytes("QUI=", 4), 2);
    ck_assert_uint_eq(mg_mcp_base64_bytes("QUJD", 4), 3);
    ck_assert_uint_eq(mg_mcp_base64_bytes("QUJD\nREVG", 9), 6);
}
END_TEST


/* ---- helpers for the transports ------------------------------------------- */

static void
script_path(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/tests/mcp/%s", top, name);
    ck_assert_msg(access(out, R_OK) == 0, "%s not found (set MANGOO_TOP or run from the "
                  "repository's top)", out);
}

/* A stdio client for the fake with extra arguments (NULL-terminated). */
static mg_mcp_client_t *
stdio_client(size_t max_result, json_t *env, ...)
{
    char             path[4200];
    json_t          *cmd = json_array();
    mg_mcp_config_t  cfg = { 0 };
    mg_mcp_client_t *c;
    const char      *arg;
    va_list          ap;

    script_path("fake_stdio_server.py", path, sizeof(path));
    json_array_append_new(cmd, json_string("python3"));
    json_array_append_new(cmd, json_string(path));
    va_start(ap, env);
    while ((arg = va_arg(ap, const char *)) != NULL) {
        json_array_append_new(cmd, json_string(arg));
    }
    va_end(ap);
    cfg.name = "fake";
    cfg.transport = MG_MCP_STDIO;
    cfg.command = cmd;
    cfg.env = env;
    cfg.max_result = max_result;
    c = mg_mcp_client_new(&cfg);
    json_decref(cmd);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* tools/call with arguments as JSON text; the text in out. */
static int
call(mg_mcp_client_t *c, const char *name, const char *args, long timeout_ms,
     const atomic_int *cancel, char *out, size_t outlen, int *is_error, char *err, size_t errlen)
{
    json_t  *a = args != NULL ? json_loads(args, 0, NULL) : NULL;
    mg_sb_t  sb = { 0 };
    char    *s;
    int      rc;

    ck_assert_msg(args == NULL || a != NULL, "bad test JSON %s", args);
    err[0] = '\0';
    rc = mg_mcp_call_tool(c, name, a, timeout_ms, cancel, &sb, is_error, err, errlen);
    json_decref(a);
    s = mg_sb_done(&sb);
    snprintf(out, outlen, "%s", s != NULL ? s : "");
    free(s);
    return rc;
}

#define ERR_HAS(err, what) \
    ck_assert_msg(strstr((err), (what)) != NULL, "error \"%s\" lacks \"%s\"", (err), (what))

/* Names of the tools, comma-separated. */
static void
tool_names(json_t *tools, char *out, size_t outlen)
{
    size_t   i, n = 0;
    json_t  *t;

    out[0] = '\0';
    json_array_foreach(tools, i, t) {
        n += (size_t) snprintf(out + n, outlen - n, "%s%s", i ? "," : "",
                               json_string_value(json_object_get(t, "name")));
    }
}

typedef struct {
    atomic_int  *flag;
    long         after_ms;
} cancel_later_t;

static void *
cancel_later(void *arg)
{
    cancel_later_t *cl = arg;

    usleep((useconds_t) cl->after_ms * 1000);
    atomic_store(cl->flag, 1);
    return NULL;
}


/* ---- stdio ---------------------------------------------------------------- */

START_TEST(test_stdio_list_and_call)
{
    mg_mcp_client_t *c = stdio_client(0, NULL, (const char *) NULL);
    json_t          *tools = NULL;
    char             err[512], out[512], names[512], version[16];
    int              is_error;

    mg_mcp_client_version(c, version, sizeof(version));
    ck_assert_str_eq(version, "");
    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), 0);
    tool_names(tools, names, sizeof(names));
    ck_assert_str_eq(names, "echo,add,image,structured,fail,sleep,malformed,huge,hang,exit,cancels,list_changed");     /* two pages */
    ck_assert_ptr_nonnull(json_object_get(json_array_get(tools, 0), "inputSchema"));
    json_decref(tools);
    mg_mcp_client_version(c, version, sizeof(version));
    ck_assert_str_eq(version, "2025-06-18");

    ck_assert_int_eq(call(c, "echo", "{\"text\":\"hi there\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "hi there");
    ck_assert_int_eq(is_error, 0);
    ck_assert_int_eq(call(c, "add", "{\"a\":2,\"b\":40}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "42");
    ck_assert_int_eq(call(c, "image", NULL, 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), 0);
    ck_assert_str_eq(out, "[image: image/png, 8 bytes]\n[resource: file:///tmp/x.txt]\ndone");
    ck_assert_int_eq(call(c, "structured", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), 0);
    ck_assert_str_eq(out, "{\"temperature\":21.5,\"unit\":\"C\"}");
    ck_assert_int_eq(call(c, "fail", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), 0);
    ck_assert_str_eq(out, "it went wrong");
    ck_assert_int_eq(is_error, 1);

    /* a JSON-RPC error object */
    ck_assert_int_eq(call(c, "nosuch", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake answered tools/call with an error: "
                          "Unknown tool: nosuch (code -32602)");
    /* arguments that are not an object never leave */
    ck_assert_int_eq(call(c, "echo", "[1]", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ERR_HAS(err, "must be an object");

    /* the server pings us mid-call: we answer {} */
    ck_assert_int_eq(call(c, "ping_me", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), 0);
    ck_assert_msg(strstr(out, "\"result\": {}") != NULL, "%s", out);

    /* notifications/tools/list_changed */
    ck_assert_uint_eq(mg_mcp_tools_generation(c), 0);
    ck_assert_int_eq(call(c, "list_changed", "{}", 5000, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), 0);
    ck_assert_str_eq(out, "changed");
    ck_assert_uint_eq(mg_mcp_tools_generation(c), 1);
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_stdio_versions)
{
    mg_mcp_client_t *c;
    json_t          *tools = NULL;
    char             err[512], version[16];

    c = stdio_client(0, NULL, "--protocol", "2025-03-26", (const char *) NULL);
    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), 0);
    json_decref(tools);
    mg_mcp_client_version(c, version, sizeof(version));
    ck_assert_str_eq(version, "2025-03-26");
    mg_mcp_client_free(c);

    c = stdio_client(0, NULL, "--protocol", "2024-11-05", (const char *) NULL);
    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), -1);
    ck_assert_ptr_null(tools);
    ck_assert_str_eq(err, "the MCP server fake speaks protocol version \"2024-11-05\", which "
                          "this client does not (it speaks 2025-06-18 and 2025-03-26)");
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_stdio_malformed)
{
    mg_mcp_client_t *c = stdio_client(64 * 1024, NULL, (const char *) NULL);
    char             err[512], out[512];
    int              is_error;
    long long        t0;
    json_t          *tools = NULL;

    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), 0);
    json_decref(tools);
    ck_assert_int_eq(call(c, "malformed", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ERR_HAS(err, "the MCP server fake wrote output that is not JSON");
    ERR_HAS(err, "this is {not json");
    ck_assert_int_eq(call(c, "no_result", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ERR_HAS(err, "malformed response to tools/call");
    ERR_HAS(err, "neither a result nor an error");
    ck_assert_int_eq(call(c, "bad_jsonrpc", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ERR_HAS(err, "not a JSON-RPC 2.0 message");
    ck_assert_int_eq(call(c, "null_id_error", "{}", 5000, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake answered with an error: Parse error");
    ck_assert_int_eq(call(c, "huge", "{\"bytes\":200000}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake sent a message over 65536 bytes");
    /* a response to another id: nobody takes it, the caller times out */
    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "wrong_id", "{}", 400, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake did not answer tools/call within 400 ms");
    ck_assert_int_lt(mg_now_ms() - t0, 2000);
    /* none of it broke the stream */
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"still here\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "still here");
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_stdio_timeout_and_cancel)
{
    mg_mcp_client_t *c = stdio_client(0, NULL, (const char *) NULL);
    char             err[512], out[2048];
    int              is_error;
    long long        t0;
    atomic_int       flag = 0;
    cancel_later_t   cl = { &flag, 300 };
    pthread_t        th;
    json_t          *seen;

    /* start the session first, so the timings below are the call's */
    ck_assert_int_eq(call(c, "echo", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), 0);
    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "hang", "{}", 500, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake did not answer tools/call within 500 ms");
    ck_assert_int_ge(mg_now_ms() - t0, 480);
    ck_assert_int_lt(mg_now_ms() - t0, 2000);

    pthread_create(&th, NULL, cancel_later, &cl);
    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "hang", "{}", 20000, &flag, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    pthread_join(th, NULL);
    ck_assert_str_eq(err, "the call to the MCP server fake was cancelled");
    ck_assert_int_lt(mg_now_ms() - t0, 2000);

    /* the server heard of both */
    ck_assert_int_eq(call(c, "cancels", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), 0);
    seen = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(seen) == 2, "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 0), "reason")),
                     "timed out");
    ck_assert(json_is_integer(json_object_get(json_array_get(seen, 0), "requestId")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 1), "reason")),
                     "cancelled");
    json_decref(seen);

    /* a flag already set: nothing waits */
    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "echo", "{}", 5000, &flag, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the call to the MCP server fake was cancelled");
    ck_assert_int_lt(mg_now_ms() - t0, 1000);
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_stdio_exit_and_restart)
{
    char             counter[] = "/tmp/mcp_starts_XXXXXX", err[512], out[512];
    int              fd = mkstemp(counter), is_error;
    json_t          *env;
    mg_mcp_client_t *c;
    long long        t0;

    ck_assert_int_ge(fd, 0);
    close(fd);
    env = json_pack("{s:s, s:s}", "FAKE_MCP_COUNTER", counter, "FAKE_MCP_ENV", "from cfg");
    c = stdio_client(0, env, (const char *) NULL);
    json_decref(env);

    ck_assert_int_eq(call(c, "starts", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), 0);
    ck_assert_str_eq(out, "1 from cfg");
    ck_assert_int_eq(call(c, "exit", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake exited (status 3)");
    /* the next call starts it again: a second after the last start at the earliest */
    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "starts", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), 0);
    ck_assert_str_eq(out, "2 from cfg");
    ck_assert_int_lt(mg_now_ms() - t0, 8000);
    mg_mcp_client_free(c);
    unlink(counter);
}
END_TEST

START_TEST(test_stdio_mode_argv)
{
    mg_mcp_client_t *c;
    char             err[512], out[512];
    int              is_error;
    unsigned         gen;
    json_t          *tools;

    /* the behaviours chosen by argv rather than by tool name */
    c = stdio_client(0, NULL, "--mode", "list_changed", "--pages", "3", (const char *) NULL);
    gen = mg_mcp_tools_generation(c);
    ck_assert_int_eq(call(c, "anything", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), 0);
    ck_assert_uint_eq(mg_mcp_tools_generation(c), gen + 1);
    mg_mcp_client_free(c);

    c = stdio_client(0, NULL, "--mode", "exit", (const char *) NULL);
    ck_assert_int_eq(call(c, "anything", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fake exited (status 3)");
    mg_mcp_client_free(c);

    c = stdio_client(0, NULL, "--mode", "malformed", (const char *) NULL);
    ck_assert_int_eq(call(c, "anything", "{}", SESSION_MS, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), -1);
    ERR_HAS(err, "not JSON");
    mg_mcp_client_free(c);

    c = stdio_client(0, NULL, "--mode", "hang", (const char *) NULL);
    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), 0);
    json_decref(tools);
    ck_assert_int_eq(call(c, "anything", "{}", 1500, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ERR_HAS(err, "did not answer tools/call within 1500 ms");
    mg_mcp_client_free(c);
}
END_TEST

typedef struct {
    mg_mcp_client_t *c;
    int              n;
    int              ok;
    char             err[512];
} worker_t;

static void *
concurrent_calls(void *arg)
{
    worker_t    *w = arg;
    char         args[64], out[256], want[64];
    int          is_error;

    w->ok = 1;
    for (int i = 0; i < 5 && w->ok; i++) {
        /* later threads sleep less: their answers overtake earlier ones */
        snprintf(args, sizeof(args), "{\"ms\":%d}", (4 - w->n) * 40 + i);
        snprintf(want, sizeof(want), "slept %d", (4 - w->n) * 40 + i);
        if (call(w->c, "sleep", args, SESSION_MS, NULL, out, sizeof(out), &is_error, w->err,
                 sizeof(w->err)) != 0 || strcmp(out, want) != 0)
        {
            w->ok = 0;
            snprintf(w->err + strlen(w->err), sizeof(w->err) - strlen(w->err), " [got %s]", out);
            break;
        }
        snprintf(args, sizeof(args), "{\"text\":\"thread %d call %d\"}", w->n, i);
        snprintf(want, sizeof(want), "thread %d call %d", w->n, i);
        if (call(w->c, "echo", args, SESSION_MS, NULL, out, sizeof(out), &is_error, w->err,
                 sizeof(w->err)) != 0 || strcmp(out, want) != 0)
        {
            w->ok = 0;
            snprintf(w->err + strlen(w->err), sizeof(w->err) - strlen(w->err), " [got %s]", out);
        }
    }
    return NULL;
}

static void
run_concurrently(mg_mcp_client_t *c)
{
    pthread_t   th[4];
    worker_t    w[4];

    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].c = c;
        w[i].n = i;
        pthread_create(&th[i], NULL, concurrent_calls, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(w[i].ok, "thread %d: %s", i, w[i].err);
    }
}

START_TEST(test_stdio_concurrent)
{
    mg_mcp_client_t *c = stdio_client(0, NULL, (const char *) NULL);

    run_concurrently(c);        /* the first calls race to begin the session too */
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_stdio_bad_config)
{
    mg_mcp_config_t  cfg = { 0 };
    mg_mcp_client_t *c;
    char             err[512], out[64];
    int              is_error;
    json_t          *tools = NULL;
    long long        t0;

    cfg.name = "nocmd";
    cfg.transport = MG_MCP_STDIO;
    cfg.command = json_pack("[s]", "no-such-mcp-server-here");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    ck_assert_int_eq(mg_mcp_list_tools(c, 1000, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "cannot run the MCP server nocmd: \"no-such-mcp-server-here\" is not "
                          "in PATH");
    mg_mcp_client_free(c);

    cfg.command = json_pack("[s]", "/nonexistent/server");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    ck_assert_int_eq(mg_mcp_list_tools(c, 1000, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "cannot run the MCP server nocmd (/nonexistent/server): No such file "
                          "or directory");
    mg_mcp_client_free(c);

    cfg.command = json_pack("[]");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    ck_assert_int_eq(call(c, "x", NULL, 1000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the command of the MCP server nocmd must be a non-empty array of "
                          "strings");
    mg_mcp_client_free(c);

    cfg.command = json_pack("[s]", "true");
    cfg.env = json_pack("{s:i}", "N", 1);
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    json_decref(cfg.env);
    cfg.env = NULL;
    ck_assert_int_eq(call(c, "x", NULL, 1000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ERR_HAS(err, "must map names");
    mg_mcp_client_free(c);

    /* a server that exits at once, without a word */
    cfg.command = json_pack("[s]", "true");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), -1);
    ck_assert_msg(strcmp(err, "the MCP server nocmd exited (status 0)") == 0
                  || strstr(err, "does not read its input") != NULL, "%s", err);
    mg_mcp_client_free(c);

    /* one that exits at once, again and again: restarted once a second */
    cfg.command = json_pack("[s, s, s]", "sh", "-c", "exit 4");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    t0 = mg_now_ms();
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), -1);
    ck_assert_msg(strcmp(err, "the MCP server nocmd exited (status 4)") == 0
                  || strstr(err, "does not read its input") != NULL, "%s", err);
    ck_assert_int_eq(mg_mcp_list_tools(c, 100, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server nocmd exited (status 4); it is restarted at most once "
                          "a second");
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), -1);
    ck_assert_msg(strcmp(err, "the MCP server nocmd exited (status 4)") == 0
                  || strstr(err, "does not read its input") != NULL, "%s", err);
    ck_assert_int_ge(mg_now_ms() - t0, 1000);
    mg_mcp_client_free(c);

    /* one that never answers and ignores the end of its input and SIGTERM:
     * freeing it still ends (SIGKILL) */
    cfg.command = json_pack("[s, s, s]", "sh", "-c", "trap '' TERM; exec sleep 30");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    ck_assert_int_eq(mg_mcp_list_tools(c, 300, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server nocmd did not answer initialize within 300 ms");
    t0 = mg_now_ms();
    mg_mcp_client_free(c);
    ck_assert_int_lt(mg_now_ms() - t0, 3000);

    cfg.command = json_pack("[s, s, s]", "sh", "-c", "trap '' TERM; exec sleep 30");
    c = mg_mcp_client_new(&cfg);
    json_decref(cfg.command);
    ck_assert_int_eq(mg_mcp_list_tools(c, 300, &tools, err, sizeof(err)), -1);
    t0 = mg_now_ms();
    mg_mcp_client_free(c);
    ck_assert_int_lt(mg_now_ms() - t0, 3000);
}
END_TEST


/* ---- Streamable HTTP -------------------------------------------------------- */

static pid_t    http_pid;
static int      http_port;
static int      http_stdin = -1;        /* the server exits when this closes */

static void
http_server_start(void)
{
    char                         path[4200], line[64];
    char                        *argv[] = { "python3", path, NULL };
    int                          out[2], in[2];
    posix_spawn_file_actions_t   fa;
    FILE                        *f;

    script_path("fake_http_server.py", path, sizeof(path));
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    ck_assert_int_eq(posix_spawnp(&http_pid, "python3", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);
    http_stdin = in[1];
    f = fdopen(out[0], "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_int_eq(sscanf(line, "PORT %d", &http_port), 1);
    fclose(f);
}

static void
http_server_stop(void)
{
    if (http_stdin >= 0) {
        close(http_stdin);
        http_stdin = -1;
    }
    if (http_pid > 0) {
        kill(http_pid, SIGTERM);
        waitpid(http_pid, NULL, 0);
        http_pid = 0;
    }
}

static mg_mcp_client_t *
http_client(const char *path, size_t max_result, json_t *headers)
{
    char             url[128];
    mg_mcp_config_t  cfg = { 0 };
    mg_mcp_client_t *c;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port, path);
    cfg.name = "fakehttp";
    cfg.transport = MG_MCP_HTTP;
    cfg.url = url;
    cfg.headers = headers;
    cfg.max_result = max_result;
    c = mg_mcp_client_new(&cfg);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* GET /control/<what>; for "log", the entries for path as a new array. */
static json_t *
http_control(const char *what, const char *path)
{
    char                url[128], err[256], *body = NULL, *line, *save = NULL;
    size_t              len;
    long                status;
    mg_http_get_opts_t  o = { .max_bytes = 4 << 20, .total_ms = 5000, .no_proxy = 1 };
    json_t             *all = json_array();

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/control/%s", http_port, what);
    ck_assert_int_eq(mg_http_get(url, &o, &body, &len, &status, err, sizeof(err)), MG_HTTP_GET_OK);
    ck_assert_int_eq(status, 200);
    for (line = strtok_r(body, "\n", &save); line != NULL && path != NULL;
         line = strtok_r(NULL, "\n", &save))
    {
        json_t *e = json_loads(line, 0, NULL);

        ck_assert_ptr_nonnull(e);
        if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0) {
            json_array_append(all, e);
        }
        json_decref(e);
    }
    free(body);
    return all;
}

/* The logged entries for path with method, and no violation anywhere. */
static size_t
http_count(json_t *log, const char *method)
{
    size_t   i, n = 0;
    json_t  *e;

    json_array_foreach(log, i, e) {
        ck_assert_msg(json_object_get(e, "violation") == NULL, "violation: %s",
                      json_string_value(json_object_get(e, "violation")));
        if (strcmp(json_string_value(json_object_get(e, "method")), method) == 0) {
            n++;
        }
    }
    return n;
}

/* Wait up to 10 s for cond, checked every 50 ms. */
#define WAIT_FOR(cond)                                                          \
    do {                                                                        \
        long long until_ = mg_now_ms() + 10000;                                 \
        while (!(cond) && mg_now_ms() < until_) {                               \
            usleep(50000);                                                      \
        }                                                                       \
        ck_assert_msg((cond), "waited 10 s for: %s", #cond);                    \
    } while (0)

/* Entries for path with method, counted afresh from the log. */
static size_t
http_logged(const char *path, const char *method)
{
    json_t *log = http_control("log", path);
    size_t  n = http_count(log, method);

    json_decref(log);
    return n;
}

/* The /listen streams open now. */
static long
http_streams_open(void)
{
    char                url[128], err[256], *body = NULL;
    size_t              len;
    long                status, open;
    mg_http_get_opts_t  o = { .max_bytes = 4096, .total_ms = 5000, .no_proxy = 1 };
    json_t             *v;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/control/streams", http_port);
    ck_assert_int_eq(mg_http_get(url, &o, &body, &len, &status, err, sizeof(err)), MG_HTTP_GET_OK);
    v = json_loadb(body, len, 0, NULL);
    ck_assert_ptr_nonnull(v);
    open = (long) json_integer_value(json_object_get(v, "open"));
    json_decref(v);
    free(body);
    return open;
}

START_TEST(test_http_json)
{
    json_t          *headers = json_pack("{s:s}", "Authorization", "Bearer t0ken");
    mg_mcp_client_t *c = http_client("/json", 0, headers);
    json_t          *tools = NULL, *log, *e;
    char             err[512], out[512], names[256], version[16];
    int              is_error;
    size_t           i;

    json_decref(headers);
    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), 0);
    tool_names(tools, names, sizeof(names));
    ck_assert_str_eq(names, "echo,add,sleep,huge");
    json_decref(tools);
    mg_mcp_client_version(c, version, sizeof(version));
    ck_assert_str_eq(version, "2025-06-18");
    ck_assert_int_eq(call(c, "add", "{\"a\":1.5,\"b\":2}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "3.5");
    ck_assert_int_eq(call(c, "nosuch", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp answered tools/call with an error: "
                          "Unknown tool: nosuch (code -32602)");
    /* the server's own stream is asked for once; a 405 is not asked again */
    WAIT_FOR(http_logged("/json", "GET") == 1);
    ck_assert_int_eq(call(c, "add", "{\"a\":1,\"b\":2}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    mg_mcp_client_free(c);

    log = http_control("log", "/json");
    ck_assert_uint_eq(http_count(log, "GET"), 1);
    ck_assert_uint_eq(http_count(log, "initialize"), 1);
    ck_assert_uint_eq(http_count(log, "notifications/initialized"), 1);
    ck_assert_uint_eq(http_count(log, "DELETE"), 1);
    json_array_foreach(log, i, e) {
        const char *method = json_string_value(json_object_get(e, "method"));

        if (strcmp(method, "DELETE") == 0 || strcmp(method, "GET") == 0) {
            ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "session")));
            continue;
        }
        ck_assert_str_eq(json_string_value(json_object_get(e, "auth")), "Bearer t0ken");
        ck_assert_str_eq(json_string_value(json_object_get(e, "ctype")), "application/json");
        if (strcmp(method, "initialize") == 0) {
            ck_assert(json_is_null(json_object_get(e, "session")));
            ck_assert(json_is_null(json_object_get(e, "version")));
            ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "params"),
                                                               "protocolVersion")), "2025-06-18");
        } else {
            ck_assert_str_eq(json_string_value(json_object_get(e, "version")), "2025-06-18");
        }
    }
    json_decref(log);
}
END_TEST

START_TEST(test_http_sse_and_variants)
{
    mg_mcp_client_t *c;
    json_t          *tools = NULL;
    char             err[512], out[512], version[16];
    int              is_error;

    c = http_client("/sse", 0, NULL);
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"over sse\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "over sse");
    /* initialize and the call each had a list_changed before the response */
    ck_assert_uint_eq(mg_mcp_tools_generation(c), 2);
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), 0);
    ck_assert_uint_eq(json_array_size(tools), 4);
    json_decref(tools);
    mg_mcp_client_free(c);

    c = http_client("/nosession", 0, NULL);
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"no session\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "no session");
    mg_mcp_client_free(c);

    c = http_client("/v0326", 0, NULL);
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"old\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    mg_mcp_client_version(c, version, sizeof(version));
    ck_assert_str_eq(version, "2025-03-26");
    mg_mcp_client_free(c);

    c = http_client("/v1105", 0, NULL);
    ck_assert_int_eq(call(c, "echo", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp speaks protocol version \"2024-11-05\", "
                          "which this client does not (it speaks 2025-06-18 and 2025-03-26)");
    mg_mcp_client_free(c);

    {
        json_t *log = http_control("log", "/sse");

        ck_assert_uint_eq(http_count(log, "tools/call"), 1);
        /* the server's pings in the answers to tools/call and tools/list
         * were answered with {}; initialize's could not be (no version agreed
         * to send with it yet) */
        ck_assert_uint_eq(http_count(log, "response"), 2);
        {
            size_t  i;
            json_t *e;

            json_array_foreach(log, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "method")), "response") == 0) {
                    ck_assert_str_eq(json_string_value(json_object_get(e, "id")), "srv-1");
                    ck_assert(json_is_object(json_object_get(e, "result")));
                    ck_assert_uint_eq(json_object_size(json_object_get(e, "result")), 0);
                    ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "session")));
                }
            }
        }
        json_decref(log);
        log = http_control("log", "/v1105");
        ck_assert_uint_eq(http_count(log, "DELETE"), 1);    /* the refused session ended */
        json_decref(log);
    }
}
END_TEST

START_TEST(test_http_expired_session)
{
    mg_mcp_client_t *c = http_client("/json", 0, NULL);
    json_t          *tools = NULL, *log;
    char             err[512], out[512];
    int              is_error;

    json_decref(http_control("reset", NULL));
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), 0);
    json_decref(tools);
    json_decref(http_control("expire", NULL));
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"again\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "again");
    mg_mcp_client_free(c);

    log = http_control("log", "/json");
    ck_assert_uint_eq(http_count(log, "initialize"), 2);
    ck_assert_uint_eq(http_count(log, "tools/call"), 2);     /* the 404, then the retry */
    json_decref(log);

    /* the same with a 400 naming the session */
    c = http_client("/json400", 0, NULL);
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), 0);
    json_decref(tools);
    json_decref(http_control("expire", NULL));
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"again\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "again");
    /* each call gets its own retry */
    json_decref(http_control("expire", NULL));
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"once more\"}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    mg_mcp_client_free(c);
    log = http_control("log", "/json400");
    ck_assert_uint_eq(http_count(log, "initialize"), 3);
    json_decref(log);

    /* a server that forgets every session at once: one retry, then the error */
    c = http_client("/always404", 0, NULL);
    ck_assert_int_eq(call(c, "echo", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp no longer knows the session");
    mg_mcp_client_free(c);
    log = http_control("log", "/always404");
    ck_assert_uint_eq(http_count(log, "initialize"), 2);
    ck_assert_uint_eq(http_count(log, "tools/call"), 2);
    json_decref(log);
}
END_TEST

START_TEST(test_http_limits_timeout_cancel)
{
    mg_mcp_client_t *c = http_client("/json", 64 * 1024, NULL);
    json_t          *log, *e;
    char             err[512], out[512];
    int              is_error;
    long long        t0, timed_out_id = -1, cancelled_id = -1;
    atomic_int       flag = 0;
    cancel_later_t   cl = { &flag, 300 };
    pthread_t        th;
    size_t           i, cancels = 0, calls = 0;

    json_decref(http_control("reset", NULL));
    ck_assert_int_eq(call(c, "huge", "{\"bytes\":60000}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_int_eq(call(c, "huge", "{\"bytes\":200000}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp sent a response over 65536 bytes");

    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "sleep", "{\"ms\":5000}", 400, NULL, out, sizeof(out), &is_error,
                          err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp did not answer tools/call within 400 ms");
    ck_assert_int_lt(mg_now_ms() - t0, 2000);

    pthread_create(&th, NULL, cancel_later, &cl);
    t0 = mg_now_ms();
    ck_assert_int_eq(call(c, "sleep", "{\"ms\":5000}", 20000, &flag, out, sizeof(out),
                          &is_error, err, sizeof(err)), -1);
    pthread_join(th, NULL);
    ck_assert_str_eq(err, "the call to the MCP server fakehttp was cancelled");
    ck_assert_int_lt(mg_now_ms() - t0, 2000);
    mg_mcp_client_free(c);

    /* both calls were followed by notifications/cancelled naming them */
    log = http_control("log", "/json");
    json_array_foreach(log, i, e) {
        const char  *method = json_string_value(json_object_get(e, "method"));
        json_t      *params = json_object_get(e, "params");

        if (strcmp(method, "tools/call") == 0
            && strcmp(json_string_value(json_object_get(params, "name")), "sleep") == 0)
        {
            if (calls++ == 0) {
                timed_out_id = json_integer_value(json_object_get(e, "id"));
            } else {
                cancelled_id = json_integer_value(json_object_get(e, "id"));
            }
        }
        if (strcmp(method, "notifications/cancelled") == 0) {
            long long   id = json_integer_value(json_object_get(params, "requestId"));
            const char *reason = json_string_value(json_object_get(params, "reason"));

            ck_assert_str_eq(reason, cancels++ == 0 ? "timed out" : "cancelled");
            ck_assert_int_eq(id, cancels == 1 ? timed_out_id : cancelled_id);
        }
    }
    ck_assert_uint_eq(cancels, 2);
    json_decref(log);

    /* one event over the limit in a stream */
    c = http_client("/sse", 64 * 1024, NULL);
    ck_assert_int_eq(call(c, "huge", "{\"bytes\":200000}", 5000, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp sent a response over 65536 bytes");
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_http_bad_answers)
{
    static const struct { const char *path; const char *err; } cases[] = {
        { "/error500", "the MCP server fakehttp answered HTTP 500: boom: the server fell over" },
        { "/garbage", "the MCP server fakehttp sent a response that is not JSON" },
        { "/wrongid", "the MCP server fakehttp sent a malformed response to tools/call: a "
                      "response to another request" },
        { "/noresult", "the MCP server fakehttp sent a malformed response to tools/call: a "
                       "JSON-RPC response with neither a result nor an error" },
        { "/html", "the MCP server fakehttp answered with the type \"text/html\"" },
        { "/accepted", "the MCP server fakehttp answered HTTP 202 without a response" },
    };
    char             err[512], out[512];
    int              is_error;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_mcp_client_t *c = http_client(cases[i].path, 0, NULL);

        ck_assert_int_eq(call(c, "echo", "{}", 5000, NULL, out, sizeof(out), &is_error, err,
                              sizeof(err)), -1);
        ck_assert_msg(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0, "%s: %s",
                      cases[i].path, err);
        mg_mcp_client_free(c);
    }
}
END_TEST

START_TEST(test_http_unreachable_and_config)
{
    mg_mcp_config_t  cfg = { 0 };
    mg_mcp_client_t *c;
    json_t          *tools = NULL, *headers;
    char             err[512], url[64];
    int              fd;

    /* a port nobody listens on: one just closed */
    {
        struct sockaddr_in   a = { .sin_family = AF_INET };
        socklen_t            alen = sizeof(a);

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &alen), 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", ntohs(a.sin_port));
        close(fd);
    }
    cfg.name = "gone";
    cfg.transport = MG_MCP_HTTP;
    cfg.url = url;
    c = mg_mcp_client_new(&cfg);
    ck_assert_int_eq(mg_mcp_list_tools(c, 3000, &tools, err, sizeof(err)), -1);
    ERR_HAS(err, "cannot reach the MCP server gone at http://127.0.0.1:");
    mg_mcp_client_free(c);

    cfg.url = "ftp://example.com/";
    c = mg_mcp_client_new(&cfg);
    ck_assert_int_eq(mg_mcp_list_tools(c, 3000, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server gone needs an http:// or https:// URL");
    mg_mcp_client_free(c);

    cfg.url = url;
    headers = json_pack("{s:s}", "X-Evil", "a\r\nInjected: 1");
    cfg.headers = headers;
    c = mg_mcp_client_new(&cfg);
    ck_assert_int_eq(mg_mcp_list_tools(c, 3000, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the header \"X-Evil\" of the MCP server gone must be a string on "
                          "one line");
    mg_mcp_client_free(c);
    json_decref(headers);

    headers = json_pack("{s:s}", "Mcp-Session-Id", "mine");
    cfg.headers = headers;
    c = mg_mcp_client_new(&cfg);
    ck_assert_int_eq(mg_mcp_list_tools(c, 3000, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the header \"Mcp-Session-Id\" of the MCP server gone is not allowed");
    mg_mcp_client_free(c);
    json_decref(headers);
    cfg.headers = NULL;

    cfg.transport = 7;
    c = mg_mcp_client_new(&cfg);
    ck_assert_int_eq(mg_mcp_list_tools(c, 3000, &tools, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server gone has an unknown transport");
    mg_mcp_client_free(c);
    mg_mcp_client_free(NULL);
}
END_TEST

/* The server's own stream: list_changed and pings when no request runs; a
 * stream that ends is opened again with Last-Event-ID, and what was sent
 * meanwhile arrives. */
START_TEST(test_http_listen)
{
    mg_mcp_client_t *c = http_client("/listen", 0, NULL);
    json_t          *tools = NULL, *log, *e;
    char             err[512], names[256];
    unsigned         gen;
    size_t           i, gets = 0, resumed = 0, answered = 0;

    json_decref(http_control("reset", NULL));
    ck_assert_int_eq(mg_mcp_list_tools(c, SESSION_MS, &tools, err, sizeof(err)), 0);
    json_decref(tools);
    WAIT_FOR(http_streams_open() == 1);
    gen = mg_mcp_tools_generation(c);

    /* a change, with no request running */
    json_decref(http_control("add_tool", NULL));
    WAIT_FOR(mg_mcp_tools_generation(c) == gen + 1);
    ck_assert_int_eq(mg_mcp_list_tools(c, 5000, &tools, err, sizeof(err)), 0);
    tool_names(tools, names, sizeof(names));
    ck_assert_str_eq(names, "echo,add,sleep,huge,extra");
    json_decref(tools);

    /* a ping on the stream is answered */
    json_decref(http_control("ping", NULL));
    WAIT_FOR(http_logged("/listen", "response") == 1);

    /* the stream ends; a change sent before we are back is not lost */
    json_decref(http_control("drop", NULL));
    json_decref(http_control("notify", NULL));
    WAIT_FOR(http_streams_open() == 1);
    WAIT_FOR(mg_mcp_tools_generation(c) == gen + 2);

    mg_mcp_client_free(c);                      /* stops listening */
    WAIT_FOR(http_streams_open() == 0);

    log = http_control("log", "/listen");
    json_array_foreach(log, i, e) {
        const char *method = json_string_value(json_object_get(e, "method"));

        if (strcmp(method, "GET") == 0) {
            gets++;
            ck_assert_str_eq(json_string_value(json_object_get(e, "accept")), "text/event-stream");
            ck_assert_str_eq(json_string_value(json_object_get(e, "version")), "2025-06-18");
            resumed += json_is_string(json_object_get(e, "last_event_id"));
        } else if (strcmp(method, "response") == 0) {
            answered++;
            ck_assert_str_eq(json_string_value(json_object_get(e, "id")), "srv-ping-1");
            ck_assert_uint_eq(json_object_size(json_object_get(e, "result")), 0);
        }
    }
    ck_assert_uint_eq(http_count(log, "GET"), 2);      /* and no violation */
    ck_assert_uint_eq(gets, 2);
    ck_assert_uint_eq(resumed, 1);              /* the second, from the last event seen */
    ck_assert_uint_eq(answered, 1);
    ck_assert_uint_eq(http_count(log, "DELETE"), 1);
    json_decref(log);
}
END_TEST

/* An answer's event stream that ends before the response is resumed with a
 * GET and Last-Event-ID; a server that cannot resume it is a clear error. */
START_TEST(test_http_resume)
{
    mg_mcp_client_t *c = http_client("/resume", 0, NULL);
    json_t          *log, *e;
    char             err[512], out[512];
    int              is_error;
    size_t           i, resumes = 0;

    json_decref(http_control("reset", NULL));
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"came back\"}", SESSION_MS, NULL, out,
                          sizeof(out), &is_error, err, sizeof(err)), 0);
    ck_assert_str_eq(out, "came back");
    ck_assert_int_eq(is_error, 0);
    mg_mcp_client_free(c);
    log = http_control("log", "/resume");
    ck_assert_uint_eq(http_count(log, "tools/call"), 1);       /* never sent twice */
    json_array_foreach(log, i, e) {
        const char *last = json_string_value(json_object_get(e, "last_event_id"));

        if (strcmp(json_string_value(json_object_get(e, "method")), "GET") == 0 && last != NULL) {
            ck_assert_int_eq(last[0], 'r');                     /* the priming event's id */
            resumes++;
        }
    }
    ck_assert_uint_eq(resumes, 1);
    json_decref(log);

    c = http_client("/noresume", 0, NULL);
    ck_assert_int_eq(call(c, "echo", "{\"text\":\"lost\"}", SESSION_MS, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the event stream of the MCP server fakehttp ended without a "
                          "response, and resuming it failed: the MCP server fakehttp "
                          "answered HTTP 405");
    mg_mcp_client_free(c);
    ck_assert_uint_eq(http_logged("/noresume", "tools/call"), 1);

    /* the call's deadline bounds the wait before resuming (retry: 200 ms) */
    c = http_client("/resume", 0, NULL);
    ck_assert_int_eq(call(c, "add", "{\"a\":1,\"b\":1}", SESSION_MS, NULL, out, sizeof(out),
                          &is_error, err, sizeof(err)), 0);
    ck_assert_int_eq(call(c, "echo", "{}", 120, NULL, out, sizeof(out), &is_error, err,
                          sizeof(err)), -1);
    ck_assert_str_eq(err, "the MCP server fakehttp did not answer tools/call within 120 ms");
    mg_mcp_client_free(c);
}
END_TEST

START_TEST(test_http_concurrent)
{
    mg_mcp_client_t *c = http_client("/json", 0, NULL);
    json_t          *log;

    json_decref(http_control("reset", NULL));
    run_concurrently(c);
    mg_mcp_client_free(c);
    log = http_control("log", "/json");
    ck_assert_uint_eq(http_count(log, "initialize"), 1);     /* one session for all */
    json_decref(log);
}
END_TEST

static Suite *
mcp_suite(void)
{
    Suite  *s = suite_create("worker_mcp");
    TCase  *pure = tcase_create("pure");
    TCase  *stdio = tcase_create("stdio");
    TCase  *http = tcase_create("http");

    tcase_add_test(pure, test_rpc_classify);
    tcase_add_test(pure, test_rpc_parse_and_build);
    tcase_add_test(pure, test_rpc_result);
    tcase_add_test(pure, test_sse_events);
    tcase_add_test(pure, test_sse_limits);
    tcase_add_test(pure, test_sse_id_and_retry);
    tcase_add_test(pure, test_content_text);
    tcase_add_test(pure, test_base64_bytes);
    suite_add_tcase(s, pure);

    tcase_set_timeout(stdio, 120);
    tcase_add_test(stdio, test_stdio_list_and_call);
    tcase_add_test(stdio, test_stdio_versions);
    tcase_add_test(stdio, test_stdio_malformed);
    tcase_add_test(stdio, test_stdio_timeout_and_cancel);
    tcase_add_test(stdio, test_stdio_exit_and_restart);
    tcase_add_test(stdio, test_stdio_mode_argv);
    tcase_add_test(stdio, test_stdio_concurrent);
    tcase_add_test(stdio, test_stdio_bad_config);
    suite_add_tcase(s, stdio);

    tcase_set_timeout(http, 120);
    tcase_add_unchecked_fixture(http, http_server_start, http_server_stop);
    tcase_add_test(http, test_http_json);
    tcase_add_test(http, test_http_sse_and_variants);
    tcase_add_test(http, test_http_expired_session);
    tcase_add_test(http, test_http_limits_timeout_cancel);
    tcase_add_test(http, test_http_bad_answers);
    tcase_add_test(http, test_http_unreachable_and_config);
    tcase_add_test(http, test_http_concurrent);
    tcase_add_test(http, test_http_listen);
    tcase_add_test(http, test_http_resume);
    suite_add_tcase(s, http);
    return s;
}

int
main(void)
{
    SRunner     *sr = srunner_create(mcp_suite());
    const char  *env = getenv("MANGOO_TOP");
    int          failed;

    signal(SIGPIPE, SIG_IGN);                   /* as the worker does */
    if (env != NULL && env[0] != '\0') {
        snprintf(top, sizeof(top), "%s", env);
    } else if (getcwd(top, sizeof(top)) == NULL) {
        snprintf(top, sizeof(top), ".");
    }
    /* the servers' stderr lines and the expected warnings stay out of the output */
    if (getenv("MG_MCP_TEST_LOG") == NULL) {
        mg_log_set_level(MG_LOG_ERROR);
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
