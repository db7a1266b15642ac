/*
 * mg_tools: owns the table of built-in tools (tools.h): their names, what
 * the model is told about each and the JSON Schema of their input.
 */
#include "agents/tools.h"

#include <string.h>

const mg_tool_def_t mg_tools_builtin[] = {
    { "calculator",
      "Evaluates an arithmetic expression exactly: numbers, + - * / % ^, parentheses, "
      "and sqrt, abs, round, floor, ceil, min, max. Use it for any arithmetic.",
      "{\"type\":\"object\",\"properties\":{\"expression\":{\"type\":\"string\","
      "\"description\":\"for example 2*(3+4)\"}},\"required\":[\"expression\"]}",
      mg_tool_calculator, NULL, NULL, NULL, NULL },
    { "current_time",
      "The current date and time, in UTC or in the given IANA time zone.",
      "{\"type\":\"object\",\"properties\":{\"timezone\":{\"type\":\"string\","
      "\"description\":\"for example Europe/Paris; UTC when absent\"}}}",
      mg_tool_current_time, NULL, NULL, NULL, NULL },
    { "knowledge_search",
      "Searches the user's own knowledge bases and returns the most relevant passages "
      "with their document and page.",
      "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},"
      "\"top_k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}},\"required\":[\"query\"]}",
      mg_tool_knowledge_search, NULL, NULL, NULL, NULL },
    { "http_fetch",
      "Fetches a public web page by URL (GET) and returns its text.",
      "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\","
      "\"description\":\"an http or https URL\"}},\"required\":[\"url\"]}",
      mg_tool_http_fetch, NULL, NULL, NULL, NULL },
};

const size_t mg_tools_builtin_count = sizeof(mg_tools_builtin) / sizeof(mg_tools_builtin[0]);

const mg_tool_def_t *
mg_tool_find(const char *name, size_t len)
{
    for (size_t i = 0; i < mg_tools_builtin_count; i++) {
        if (strlen(mg_tools_builtin[i].name) == len
            && memcmp(mg_tools_builtin[i].name, name, len) == 0)
        {
            return &mg_tools_builtin[i];
        }
    }
    return NULL;
}
