/*
 * mg_toolcalls: the tool calls a model asks for in one step, gathered from
 * the pieces its stream sends them in.  Bedrock's ConverseStream opens a
 * toolUse content block (contentBlockStart: toolUseId and name), streams
 * its input as fragments of JSON text (contentBlockDelta) and closes it
 * (contentBlockStop); OpenAI's chat completions stream tool_calls deltas
 * by index, the id and name first, then arguments in fragments.  Both
 * arrive here by block index.  Bounded: at most MG_TOOLCALLS_MAX calls a
 * step and MG_TOOLCALL_INPUT_MAX bytes of input each.
 */
#ifndef MG_AGENTS_TOOLCALLS_H
#define MG_AGENTS_TOOLCALLS_H

#include <stddef.h>

#include <jansson.h>

#include "util/sb.h"

#define MG_TOOLCALLS_MAX        8
#define MG_TOOLCALL_INPUT_MAX   (64 * 1024)
#define MG_TOOLCALL_ID_MAX      64
#define MG_TOOLCALL_NAME_MAX    64

typedef struct {
    int      index;                         /* the provider's block index */
    char     id[MG_TOOLCALL_ID_MAX + 1];
    char     name[MG_TOOLCALL_NAME_MAX + 1];
    mg_sb_t  input_text;                    /* the JSON text so far */
    json_t  *input;                         /* parsed by mg_toolcalls_finish, owned */
    char     input_error[96];               /* "": input is a JSON object; else why
                                               not (input is then {}) */
} mg_toolcall_t;

typedef struct {
    mg_toolcall_t  calls[MG_TOOLCALLS_MAX];
    size_t         n;
} mg_toolcalls_t;

/* Zero tc to start; mg_toolcalls_clear frees what it holds (reusable). */
void mg_toolcalls_clear(mg_toolcalls_t *tc);

/* A call opens at index (OpenAI may repeat id and name on later deltas:
 * the same index is the same call; an empty id or name keeps the one
 * known).  0, or -1 with a reason in err: too many calls, an id or name
 * too long or with characters outside [A-Za-z0-9_.:-]. */
int  mg_toolcalls_begin(mg_toolcalls_t *tc, int index, const char *id, size_t id_len,
                        const char *name, size_t name_len, char *err, size_t errlen);

/* A fragment of the input of the call at index.  0, or -1 with a reason:
 * no call open at index, the input too large, out of memory. */
int  mg_toolcalls_input(mg_toolcalls_t *tc, int index, const char *piece, size_t len,
                        char *err, size_t errlen);

/* The step ended asking for tools: every call needs an id and a name
 * (0, or -1 with the first problem in err).  An input that is not a JSON
 * object (no input at all is {}) does not fail the step: the call gets {}
 * and the reason in input_error, so the model is told and can try again. */
int  mg_toolcalls_finish(mg_toolcalls_t *tc, char *err, size_t errlen);

#endif
