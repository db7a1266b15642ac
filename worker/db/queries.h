/*
 * mg_queries: every SQL statement the worker runs while serving, prepared
 * once per connection by mg_db.  Handlers name statements by id, so a typo
 * is a compile error and a schema mismatch shows up at connect time.
 */
#ifndef MG_QUERIES_H
#define MG_QUERIES_H

typedef enum {
    MG_Q_PING = 0,
    MG_Q_USER_ENSURE,
    MG_Q_BOT_INSERT,
    MG_Q_BOT_GET,
    MG_Q_BOT_LIST_FIRST,
    MG_Q_BOT_LIST_AFTER,
    MG_Q_BOT_UPDATE,
    MG_Q_BOT_DELETE,
    MG_Q__COUNT
} mg_query_t;

typedef struct {
    const char  *name;      /* prepared statement name */
    const char  *sql;
    int          nparams;
} mg_query_def_t;

extern const mg_query_def_t mg_queries[MG_Q__COUNT];

/* Column order of the bot queries' results (MG_Q_BOT_*, except DELETE). */
enum {
    MG_BOT_COL_ID = 0,
    MG_BOT_COL_OWNER_ID,
    MG_BOT_COL_NAME,
    MG_BOT_COL_DESCRIPTION,
    MG_BOT_COL_MODEL_ID,
    MG_BOT_COL_INSTRUCTIONS,
    MG_BOT_COL_TEMPERATURE,
    MG_BOT_COL_MAX_TOKENS,
    MG_BOT_COL_RAG_ENABLED,
    MG_BOT_COL_KNOWLEDGE_BASE_ID,
    MG_BOT_COL_CREATED_US,      /* microseconds since the epoch (also the cursor) */
    MG_BOT_COL_UPDATED_US,
    MG_BOT_COLS
};

#endif
