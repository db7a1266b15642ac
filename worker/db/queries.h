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
    /* local identity (jobs/auth.c) */
    MG_Q_AUTH_REGISTER_CHECK,
    MG_Q_AUTH_REGISTER,
    MG_Q_AUTH_LOGIN_LOOKUP,
    MG_Q_AUTH_LOGIN_FAILED,
    MG_Q_AUTH_SESSION_CREATE,
    MG_Q_AUTH_REFRESH_ROTATE,
    MG_Q_AUTH_REFRESH_REJECT,
    MG_Q_AUTH_LOGOUT,
    MG_Q_AUTH_ADMIN_EXISTS,     /* jobs/config.c: can anyone register now */
    /* users and admin (jobs/users.c, jobs/admin.c) */
    MG_Q_USER_GET,
    MG_Q_USER_UPDATE_ME,
    MG_Q_USER_DELETE,
    MG_Q_USER_EXPORT,
    MG_Q_ADMIN_USER_LIST_FIRST,
    MG_Q_ADMIN_USER_LIST_AFTER,
    MG_Q_ADMIN_USER_UPDATE,
    MG_Q_USER_BARRIER,
    MG_Q_USER_BARRIER_PENDING,
    /* chat streaming (jobs/chat.c) */
    MG_Q_CHAT_BEGIN,
    MG_Q_CHAT_ABANDON,
    MG_Q_CHAT_HISTORY,
    MG_Q_CHAT_FINISH,
    MG_Q_CHAT_STORED_ANSWER,
    /* chats (jobs/chats.c): read, rename, delete */
    MG_Q_CHAT_LIST_FIRST,
    MG_Q_CHAT_LIST_AFTER,
    MG_Q_CHAT_GET,
    MG_Q_CHAT_MESSAGES_FIRST,
    MG_Q_CHAT_MESSAGES_AFTER,
    MG_Q_CHAT_RENAME,
    MG_Q_CHAT_DELETE,
    /* usage (jobs/usage.c) */
    MG_Q_USAGE_TODAY,
    MG_Q_USAGE_DAYS,
    MG_Q_USAGE_BY_USER,
    /* hybrid search (knowledge/search.c) and RAG turns (jobs/chat.c) */
    MG_Q_KB_SEARCH_MODELS,
    MG_Q_KB_SEARCH_VEC,
    MG_Q_KB_SEARCH_TXT,
    MG_Q_KB_SEARCH_ROWS,
    MG_Q_BOT_RAG_KBS,
    MG_Q_AGENT_LIST_FIRST,
    MG_Q_AGENT_LIST_AFTER,
    MG_Q_AGENT_CATEGORIES,
    MG_Q_AGENT_GET,
    MG_Q_AGENT_INSERT,
    MG_Q_AGENT_UPDATE,
    MG_Q_AGENT_SUBS_RUN,
    /* knowledge bases (jobs/knowledge.c) */
    MG_Q_KB_INSERT,
    MG_Q_KB_GET,
    MG_Q_KB_LIST_FIRST,
    MG_Q_KB_LIST_AFTER,
    MG_Q_KB_UPDATE,
    MG_Q_KB_DELETE,
    MG_Q_KB_OWNED,
    /* documents (jobs/documents.c) */
    MG_Q_DOC_INSERT,
    MG_Q_DOC_BY_SHA,
    MG_Q_DOC_GET,
    MG_Q_DOC_LIST_FIRST,
    MG_Q_DOC_LIST_AFTER,
    MG_Q_DOC_DELETE,
    MG_Q_DOC_RETRY,
    MG_Q_INGEST_NOTIFY,
    /* the ingest queue (knowledge/ingest.c, on its own connection) */
    MG_Q_INGEST_CLAIM,
    MG_Q_INGEST_BODY,
    MG_Q_INGEST_STORE_BODY,
    MG_Q_INGEST_PROGRESS,
    MG_Q_INGEST_FAIL,
    MG_Q_INGEST_CHUNK_DELETE,
    MG_Q_INGEST_CHUNK_INSERT,
    MG_Q_INGEST_READY,
    /* bots' knowledge bases (jobs/bots.c) */
    MG_Q_BOT_KBS_SET,
    /* agents' tools (agents/builtin.c) and their audit (jobs/agents.c) */
    MG_Q_TOOL_KB_IDS,
    MG_Q_TOOL_CALLS_FIRST,
    MG_Q_TOOL_CALLS_AFTER,
    /* MCP servers (jobs/mcp_servers.c, mcp/registry.c) */
    MG_Q_MCP_LIST,
    MG_Q_MCP_GET,
    MG_Q_MCP_INSERT,
    MG_Q_MCP_UPDATE,
    MG_Q_MCP_DELETE,
    MG_Q_MCP_CONFIG,
    MG_Q_MCP_TOOLS_SET,
    MG_Q_MCP_FAILED,
    MG_Q_MCP_AGENT_TOOLS,
    /* API keys and the published bot (jobs/api_keys.c, jobs/published.c) */
    MG_Q_APIKEY_BOT,
    MG_Q_APIKEY_INSERT,
    MG_Q_APIKEY_LIST,
    MG_Q_APIKEY_REVOKE,
    MG_Q_APIKEY_USAGE,
    MG_Q_APIKEY_VERIFY,
    MG_Q_APIKEY_ADMIT,
    MG_Q_PUBLICATION_UPDATE,
    /* groups and sign-up (jobs/signup.c, jobs/auth.c, jobs/admin.c) */
    MG_Q_SIGNUP_RULES,
    MG_Q_SIGNUP_UPDATE,
    MG_Q_AUTH_REGISTER_INVITED,
    MG_Q_INVITE_INSERT,
    MG_Q_INVITE_LIST,
    MG_Q_INVITE_REVOKE,
    /* sharing, the store, pins, a bot's usage (jobs/bot_sharing.c, store.c) */
    MG_Q_BOT_SEE,
    MG_Q_BOT_SHARED_FIRST,
    MG_Q_BOT_SHARED_AFTER,
    MG_Q_STORE_FIRST,
    MG_Q_STORE_AFTER,
    MG_Q_BOT_PIN,
    MG_Q_BOT_SHARES_LIST,
    MG_Q_BOT_SHARE_ADD,
    MG_Q_BOT_SHARE_REMOVE,
    MG_Q_BOT_USAGE,
    MG_Q__COUNT
} mg_query_t;

/* Column order of the knowledge base queries (MG_Q_KB_*, except DELETE
 * and OWNED). */
enum {
    MG_KB_COL_ID = 0,
    MG_KB_COL_NAME,
    MG_KB_COL_DESCRIPTION,
    MG_KB_COL_EMBEDDING_MODEL,
    MG_KB_COL_EMBEDDING_DIM,
    MG_KB_COL_DOCUMENT_COUNT,
    MG_KB_COL_CHUNK_COUNT,
    MG_KB_COL_CREATED_US,       /* microseconds since the epoch (also the cursor) */
    MG_KB_COL_UPDATED_US,
    MG_KB_COLS
};

/* Column order of the document queries (MG_Q_DOC_*, except DELETE). */
enum {
    MG_DOC_COL_ID = 0,
    MG_DOC_COL_KB_ID,
    MG_DOC_COL_FILENAME,
    MG_DOC_COL_CONTENT_TYPE,
    MG_DOC_COL_SOURCE_URL,      /* NULL: an upload */
    MG_DOC_COL_SIZE_BYTES,
    MG_DOC_COL_STATUS,
    MG_DOC_COL_ERROR,           /* NULL unless failed */
    MG_DOC_COL_CHUNKS_DONE,
    MG_DOC_COL_CHUNKS_TOTAL,
    MG_DOC_COL_CHUNK_COUNT,
    MG_DOC_COL_CREATED_US,      /* microseconds since the epoch (also the cursor) */
    MG_DOC_COL_UPDATED_US,
    MG_DOC_COLS
};

/* Column order of MG_Q_INGEST_CLAIM's row. */
enum {
    MG_CLAIM_COL_ID = 0,
    MG_CLAIM_COL_KB_ID,
    MG_CLAIM_COL_CONTENT_TYPE,
    MG_CLAIM_COL_SOURCE_URL,    /* NULL: an upload */
    MG_CLAIM_COL_HAS_BODY,
    MG_CLAIM_COL_MODEL,         /* the knowledge base's embedding model */
    MG_CLAIM_COL_ATTEMPTS,
    MG_CLAIM_COLS
};

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
    MG_BOT_COL_KB_IDS,          /* text[] of bot_knowledge_bases, the bot's knowledge_base_id first */
    MG_BOT_COL_VISIBILITY,      /* private, shared, store (sql/013) */
    MG_BOT_COL_USE_COUNT,
    MG_BOT_COL_OWNER_NAME,      /* the owner's username */
    MG_BOT_COL_PINNED,          /* by the caller of the statement */
    MG_BOT_COL_IS_OWNER,        /* the caller owns it: else only the others' view */
    MG_BOT_COLS
};

/* Column order of MG_Q_BOT_SHARES_LIST's rows. */
enum {
    MG_SHARE_COL_USER_ID = 0,   /* NULL: the bot has no shares */
    MG_SHARE_COL_USERNAME,
    MG_SHARE_COL_EMAIL,
    MG_SHARE_COL_CREATED_US
};

/* Column order of MG_Q_BOT_SHARE_ADD's one row. */
enum {
    MG_SHARE_ADD_COL_BOT_FOUND = 0,
    MG_SHARE_ADD_COL_USER_ID,   /* NULL: no such user */
    MG_SHARE_ADD_COL_USERNAME,
    MG_SHARE_ADD_COL_EMAIL,
    MG_SHARE_ADD_COL_ADDED,     /* false: already shared (or the owner) */
    MG_SHARE_ADD_COL_CREATED_US
};

/* Column order of MG_Q_USER_ENSURE's one row. */
enum {
    MG_ENSURE_COL_GONE = 0,     /* tombstoned: the account was deleted */
    MG_ENSURE_COL_DISABLED,     /* NULL: the row is not visible (see users.c) */
    MG_ENSURE_COL_CREATED
};

/* Column order of the user queries' results (MG_Q_USER_GET, _UPDATE_ME,
 * MG_Q_ADMIN_USER_*); MG_Q_ADMIN_USER_UPDATE adds the previous disabled
 * and role after them. */
enum {
    MG_USER_COL_ID = 0,
    MG_USER_COL_USERNAME,
    MG_USER_COL_EMAIL,
    MG_USER_COL_ROLE,
    MG_USER_COL_DISABLED,
    MG_USER_COL_CREATED_US,     /* microseconds since the epoch (also the cursor) */
    MG_USER_COL_UPDATED_US,
    MG_USER_COL_GROUPS,         /* a JSON array of strings (sql/014) */
    MG_USER_COLS,
    MG_USER_COL_OLD_DISABLED = MG_USER_COLS,
    MG_USER_COL_OLD_ROLE
};

/* Column order of MG_Q_APIKEY_VERIFY's row (none: no such key, or its
 * bot is gone). */
enum {
    MG_VERIFY_COL_KEY_ID = 0,
    MG_VERIFY_COL_BOT_ID,
    MG_VERIFY_COL_RATE,
    MG_VERIFY_COL_BURST,
    MG_VERIFY_COL_EXPIRES,      /* epoch seconds, NULL: never */
    MG_VERIFY_COL_REVOKED,      /* 't' / 'f' */
    MG_VERIFY_COL_EXPIRED,
    MG_VERIFY_COLS
};

/* Column order of MG_Q_APIKEY_ADMIT's one row (sql/015 mg_api_key_admit). */
enum {
    MG_ADMIT_COL_OUTCOME = 0,
    MG_ADMIT_COL_KEY_ID,
    MG_ADMIT_COL_OWNER_ID,
    MG_ADMIT_COL_BOT_ID,
    MG_ADMIT_COLS
};

/* Column order of MG_Q_SIGNUP_RULES's and MG_Q_SIGNUP_UPDATE's one row. */
enum {
    MG_SIGNUP_COL_REGISTRATION = 0, /* NULL: not set by an administrator */
    MG_SIGNUP_COL_DOMAINS,          /* a JSON array of lowercase domains */
    MG_SIGNUP_COL_ADMIN_EXISTS,
    MG_SIGNUP_COLS
};

/* Column order of MG_Q_CHAT_BEGIN's one row. */
enum {
    MG_BEGIN_COL_BOT_FOUND = 0,     /* the bot (or published agent) */
    MG_BEGIN_COL_CHAT_FOUND,
    MG_BEGIN_COL_TOKENS_USED,   /* today's input + output tokens */
    MG_BEGIN_COL_ALLOWED,       /* the checks passed and the writes were done */
    MG_BEGIN_COL_MODEL_ID,
    MG_BEGIN_COL_INSTRUCTIONS,
    MG_BEGIN_COL_TEMPERATURE,
    MG_BEGIN_COL_MAX_TOKENS,
    MG_BEGIN_COLS
};

/* Column order of the chat queries' results (MG_Q_CHAT_LIST_*, _GET,
 * _RENAME). */
enum {
    MG_CHAT_COL_ID = 0,
    MG_CHAT_COL_BOT_ID,         /* NULL: no bot, or the bot was deleted */
    MG_CHAT_COL_TITLE,
    MG_CHAT_COL_CREATED_US,     /* microseconds since the epoch */
    MG_CHAT_COL_UPDATED_US,     /* last message activity (also the list cursor) */
    MG_CHAT_COL_AGENT_ID,       /* NULL: a chat with a bot */
    MG_CHAT_COLS
};

/* Column order of MG_Q_CHAT_MESSAGES_*. */
enum {
    MG_MSG_COL_ID = 0,
    MG_MSG_COL_ROLE,
    MG_MSG_COL_CONTENT,
    MG_MSG_COL_STATUS,
    MG_MSG_COL_STOP_REASON,     /* this and the next three may be NULL */
    MG_MSG_COL_ERROR,
    MG_MSG_COL_MODEL_ID,
    MG_MSG_COL_BOT_ID,
    MG_MSG_COL_INPUT_TOKENS,
    MG_MSG_COL_OUTPUT_TOKENS,
    MG_MSG_COL_CREATED_US,      /* microseconds since the epoch (also the cursor) */
    MG_MSG_COL_CITATIONS,       /* JSON text of the sources, or NULL */
    MG_MSG_COL_AGENT_ID,        /* NULL: not with an agent */
    MG_MSG_COL_STEPS,           /* JSON text of an agent's steps, or NULL */
    MG_MSG_COLS
};

/* Column order of MG_Q_KB_SEARCH_ROWS. */
enum {
    MG_HIT_COL_CHUNK_ID = 0,
    MG_HIT_COL_DOCUMENT_ID,
    MG_HIT_COL_FILENAME,
    MG_HIT_COL_HEADING,
    MG_HIT_COL_TEXT,
    MG_HIT_COL_PAGE,            /* NULL: the format has no pages */
    MG_HIT_COL_WORDS_MATCH,     /* holds two thirds of the query's words */
    MG_HIT_COLS
};

/* Column order of an agent row (MG_Q_AGENT_LIST_*, MG_Q_AGENT_GET). */
enum {
    MG_AGENT_COL_JSON = 0,      /* the agent as the API shows it */
    MG_AGENT_COL_CREATED_US,
    MG_AGENT_COL_ID,
    MG_AGENT_COL_MODEL_ID,
    MG_AGENT_COL_INSTRUCTIONS,
    MG_AGENT_COL_TEMPERATURE,
    MG_AGENT_COL_MAX_TOKENS,
    MG_AGENT_COL_STATUS,
    MG_AGENT_COL_NAME,
    MG_AGENT_COLS
};

/* Column order of MG_Q_AGENT_INSERT's row; MG_Q_AGENT_UPDATE's has
 * "found" first, then the same. */
enum {
    MG_AGENT_SAVE_COL_SUBS_OK = 0,  /* every sub-agent exists and is not retired */
    MG_AGENT_SAVE_COL_ACYCLIC,
    MG_AGENT_SAVE_COL_SHALLOW,
    MG_AGENT_SAVE_COL_JSON,         /* NULL: not written */
    MG_AGENT_SAVE_COLS
};

/* Column order of MG_Q_USAGE_DAYS: the first six are the same on every
 * row; the day columns are NULL on the one row of a range without usage. */
enum {
    MG_UDAY_COL_TODAY_INPUT = 0,
    MG_UDAY_COL_TODAY_OUTPUT,
    MG_UDAY_COL_REMAINING,      /* NULL: no quota */
    MG_UDAY_COL_TOTAL_REQUESTS,
    MG_UDAY_COL_TOTAL_INPUT,
    MG_UDAY_COL_TOTAL_OUTPUT,
    MG_UDAY_COL_DAY,            /* days since 1970-01-01 */
    MG_UDAY_COL_REQUESTS,
    MG_UDAY_COL_INPUT,
    MG_UDAY_COL_OUTPUT,
    MG_UDAY_COLS
};

/* Column order of MG_Q_USAGE_BY_USER: the totals are the same on every
 * row; the user columns are NULL on the one row of an empty page. */
enum {
    MG_UUSER_COL_TOTAL_REQUESTS = 0,
    MG_UUSER_COL_TOTAL_INPUT,
    MG_UUSER_COL_TOTAL_OUTPUT,
    MG_UUSER_COL_USER_ID,
    MG_UUSER_COL_USERNAME,
    MG_UUSER_COL_REQUESTS,
    MG_UUSER_COL_INPUT,
    MG_UUSER_COL_OUTPUT,
    MG_UUSER_COL_TOKENS,        /* input + output: the order and the cursor */
    MG_UUSER_COLS
};

#endif
