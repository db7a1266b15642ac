/*
 * mg_tools: the tools an agent may be given, by name.  Built in:
 * calculator, current_time, knowledge_search, http_fetch.  An agent's
 * tools are checked against this table on every save (jobs/agents.c), so
 * an agent never names a tool the workers do not have.
 */
#ifndef MG_AGENTS_TOOLS_H
#define MG_AGENTS_TOOLS_H

#include <stddef.h>

typedef struct {
    const char  *name;
    const char  *description;   /* what the model is told the tool does */
    const char  *input_schema;  /* JSON Schema of its input, as JSON text */
} mg_tool_def_t;

extern const mg_tool_def_t  mg_tools_builtin[];
extern const size_t         mg_tools_builtin_count;

/* The built-in tool called name[0..len), or NULL. */
const mg_tool_def_t *mg_tool_find(const char *name, size_t len);

#endif
