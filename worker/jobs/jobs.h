/* The job handlers, one group per API area (one file each), and the user
 * bookkeeping every authenticated job goes through. */
#ifndef MG_JOBS_H
#define MG_JOBS_H

#include "cursor.h"
#include "job.h"

/* A handler answers its job (see job.h) and returns 0, or -1 when the
 * answer could not be sent. */
typedef int (*mg_job_handler_t)(mg_job_t *job);

/* health.c */
int mg_job_health(mg_job_t *job);

/* bots.c; the field table is exported for the validation unit tests */
extern const mg_field_t mg_bot_fields[];
extern const size_t     mg_bot_fields_count;

int mg_job_bots_list(mg_job_t *job);
int mg_job_bots_create(mg_job_t *job);
int mg_job_bots_get(mg_job_t *job);
int mg_job_bots_update(mg_job_t *job);
int mg_job_bots_delete(mg_job_t *job);
/* How bot rows (MG_BOT_COL_*) are paged and written: the owner's view for
 * the owner's rows, the others' view for the rest. */
struct mg_page_cols_s;
extern const struct mg_page_cols_s mg_bot_page_cols;

/* bot_sharing.c: named shares, pins, "shared with me", a bot's usage;
 * store.c: the bot store (sql/013) */
int mg_job_bots_shared(mg_job_t *job);
int mg_job_bots_pin(mg_job_t *job);
int mg_job_bots_unpin(mg_job_t *job);
int mg_job_bots_shares_list(mg_job_t *job);
int mg_job_bots_shares_add(mg_job_t *job);
int mg_job_bots_shares_remove(mg_job_t *job);
int mg_job_bots_usage(mg_job_t *job);
/* ?days= of bots.usage: absent 30, else 1..366.  0, or -1 when bad. */
int mg_bot_usage_days(const char *query, size_t qlen, long *days);
int mg_job_store_bots(mg_job_t *job);

/* knowledge.c: knowledge bases (CRUD, counts); documents.c: their
 * documents (uploads, URLs, list, get, delete, retry) */
int mg_job_knowledge_list(mg_job_t *job);
int mg_job_knowledge_create(mg_job_t *job);
int mg_job_knowledge_get(mg_job_t *job);
int mg_job_knowledge_update(mg_job_t *job);
int mg_job_knowledge_delete(mg_job_t *job);
/* 1 when s is a well-formed uuid that names a knowledge base of job's
 * user; 0 when not (unknown, foreign, malformed); -1 after replying 503. */
int mg_knowledge_owned(mg_job_t *job, const char *id, size_t len);

int mg_job_documents_list(mg_job_t *job);
int mg_job_documents_create(mg_job_t *job);
int mg_job_documents_get(mg_job_t *job);
int mg_job_documents_delete(mg_job_t *job);
int mg_job_documents_retry(mg_job_t *job);

/* knowledge_search.c: hybrid search over one knowledge base */
int mg_job_knowledge_search(mg_job_t *job);

/* agents.c: the marketplace and its administration */
int mg_job_agents_list(mg_job_t *job);
int mg_job_agents_categories(mg_job_t *job);
int mg_job_agents_get(mg_job_t *job);
int mg_job_admin_agents_list(mg_job_t *job);
int mg_job_admin_agents_create(mg_job_t *job);
int mg_job_admin_agents_get(mg_job_t *job);
int mg_job_admin_agents_update(mg_job_t *job);

/* agent_run.c: a sub-agent's turn for another agent's (not a route) */
struct mg_stream_s;
int mg_job_agent_run(mg_job_t *job);
int mg_agent_run_finish(struct mg_stream_s *s, mg_job_send_fn send, void *send_ctx);

/* mcp_servers.c: the administrators' MCP servers */
int mg_job_admin_mcp_list(mg_job_t *job);
int mg_job_admin_mcp_create(mg_job_t *job);
int mg_job_admin_mcp_get(mg_job_t *job);
int mg_job_admin_mcp_update(mg_job_t *job);
int mg_job_admin_mcp_delete(mg_job_t *job);
int mg_job_admin_mcp_refresh(mg_job_t *job);

/* tool_audit.c: every agent's tool calls, for administrators */
int mg_job_admin_tool_calls(mg_job_t *job);

/* documents.c's multipart/form-data reader, exported for the unit tests.
 * The part named "file" of body (boundary from content_type): pointers
 * into body, filename and its Content-Type NUL-free slices (ctype_len 0:
 * the part had none).  0; -1 when the body is not well-formed multipart
 * or has no "file" part. */
typedef struct {
    const char  *data;
    size_t       len;
    const char  *filename;
    size_t       filename_len;
    const char  *ctype;
    size_t       ctype_len;
} mg_multipart_file_t;
int mg_multipart_file(const char *content_type, size_t ct_len, const char *body,
                      size_t len, mg_multipart_file_t *out);

/* chats.c: read, rename and delete (chat streaming creates them); the
 * field table is exported for the validation unit tests */
extern const mg_field_t mg_chat_fields[];
extern const size_t     mg_chat_fields_count;

int mg_job_chats_list(mg_job_t *job);
int mg_job_chats_get(mg_job_t *job);
int mg_job_chats_update(mg_job_t *job);
int mg_job_chats_delete(mg_job_t *job);
/* The `done` (stop_reason set) or `error` event that ends an answer,
 * without its id line, owned; NULL when out of memory (jobs/chat.c). */
char *mg_chat_end_event(const char *message_id, const char *stop_reason, long long input_tokens,
                        long long output_tokens, const char *code, const char *message,
                        int saved, size_t *len);
/* jobs/chat_resume.c */
int mg_job_chats_resume(mg_job_t *job);
int mg_job_chats_cancel(mg_job_t *job);

/* users.c: make sure the caller's users row exists and set job->user_id.
 * 0, or -1 after replying with an error (401, 503, 500).  force skips the
 * already-ensured cache (the row vanished behind it). */
int  mg_users_ensure(mg_job_t *job, int force);
int  mg_job_jwks_fetch(mg_job_t *job);      /* jobs/jwks.c: the module's own */
/* Drop an id from the already-ensured cache (its row was deleted). */
void mg_users_forget(const char *id);
/* Empty the cache and free its memory (at shutdown). */
void mg_users_cache_clear(void);

/* users.c: the caller's own account, and what admin.c shares. */
int      mg_job_users_me(mg_job_t *job);
int      mg_job_users_update_me(mg_job_t *job);
int      mg_job_users_export(mg_job_t *job);
int      mg_job_users_delete_me(mg_job_t *job);
/* 1 when the claims' cognito:groups holds "admin". */
int      mg_users_claims_admin(json_t *claims);
/* The string members of the claims' cognito:groups, a new array (NULL
 * when out of memory). */
json_t  *mg_users_claims_groups(json_t *claims);
/* At most 254 characters, exactly one '@' with something on both sides,
 * no spaces or control characters. */
int      mg_users_email_valid(const char *s, size_t len);
/* After a write that changed id's status committed: wait (briefly) until
 * every worker process's listener has applied it, so the next request
 * anywhere is judged by the new status.  Problems are logged only. */
void     mg_users_announce(mg_job_t *job, const char *id);
/* User JSON of a MG_USER_COL_* row, written in one pass: bytes needed at
 * most, the writer (returns the end), and a whole reply from row 0. */
size_t   mg_user_json_max(const PGresult *r, int row);
char    *mg_user_write(char *p, const PGresult *r, int row);
int      mg_user_reply(mg_job_t *job, int status, const PGresult *r);

/* admin.c: the administrators' user management. */
int      mg_job_admin_users_list(mg_job_t *job);
int      mg_job_admin_users_update(mg_job_t *job);
/* 403 forbidden for a job that reached an admin handler without group
 * "admin" (logged: the module should have refused it). */
int      mg_admin_forbidden(mg_job_t *job);
/* Pure helpers, exported for the unit tests.  Text PostgreSQL accepts
 * (valid UTF-8, no NUL); "%" q "%" with % _ \ escaped into out (2 * len
 * + 3 bytes), returning its length; list cursors over (created_at, text
 * id), ids up to MG_USER_CURSOR_ID_MAX bytes, encoded into
 * MG_USER_CURSOR_MAX bytes. */
#define MG_USER_CURSOR_ID_MAX  MG_CURSOR_ID_MAX
#define MG_USER_CURSOR_MAX     1400
int      mg_admin_text_valid(const char *s, size_t len);
size_t   mg_admin_like_pattern(const char *q, size_t len, char *out);
int      mg_user_cursor_encode(long long ts_us, const char *id, char *out, size_t cap);
int      mg_user_cursor_decode(const char *s, size_t len, long long *ts_us,
                               char *id, size_t idcap);

/* usage.c: the usage reports (users.usage: the caller's days; admin.usage:
 * per-user totals), and their pure helpers, exported for the unit tests.
 * Dates are UTC days counted from 1970-01-01, within 0001-01-01 ..
 * 9999-12-31 (PostgreSQL has no year 0). */
int      mg_job_users_usage(mg_job_t *job);
int      mg_job_admin_usage(mg_job_t *job);

#define MG_DATE_LEN       10            /* "YYYY-MM-DD" */
#define MG_DATE_DAYS_MIN  (-719162L)    /* 0001-01-01 */
#define MG_DATE_DAYS_MAX  2932896L      /* 9999-12-31 */

/* "YYYY-MM-DD" -> *days.  0; -1 when it is not that shape (digits, two
 * dashes, 10 characters); -2 when it has it but names no calendar day
 * (2026-02-30, month 13, year 0000). */
int      mg_date_parse(const char *s, size_t len, long *days);
/* days -> "YYYY-MM-DD" and a NUL into out (MG_DATE_LEN + 1 bytes).  0, or
 * -1 outside the range above. */
int      mg_date_format(long days, char *out);

/* A report's range of days, from and to inclusive. */
typedef struct {
    int   has_from, has_to;   /* given (parse), or filled in (resolve) */
    long  from, to;
} mg_usage_range_t;

/* "from" and "to" of a raw query string; absent or empty: not given.
 * 0, or -1 with err = 400 invalid_query (a bad or impossible date). */
int      mg_usage_range_parse(const char *query, size_t len, mg_usage_range_t *r,
                              mg_verr_t *err);
/* Fill in what was not given (to = today, from = to - 29 days, never
 * before 0001-01-01; today is only read then) and check from <= to and
 * at most 366 days.  0, or -1 with err = 400 invalid_query. */
int      mg_usage_range_resolve(mg_usage_range_t *r, long today, mg_verr_t *err);

/* auth.c: the local identity (auth.register/login/refresh/logout). */
typedef enum {
    MG_REGISTRATION_OPEN = 0,       /* anyone; the first user becomes admin */
    MG_REGISTRATION_FIRST_ADMIN,    /* only while no admin exists */
    MG_REGISTRATION_CLOSED
} mg_registration_t;

struct mg_signer_s;

typedef struct {
    struct mg_signer_s  *signer;        /* borrowed; NULL: no tokens (500) */
    mg_registration_t    registration;
    const char          *issuer;        /* borrowed, like client_id */
    const char          *client_id;
    long long            access_ttl;    /* seconds */
    long long            refresh_ttl;   /* seconds; also the session cookie's Max-Age */
    /* Amazon Cognito (jobs/cognito.c): the hosted UI's base URL
     * (MANGOO_COGNITO_DOMAIN); NULL: the local identity.  client_id above
     * is the app client's id. */
    const char          *cognito_domain;
    const char          *cognito_client_secret;    /* NULL: a public client */
    const char          *cognito_scopes;           /* what the browser asks for */
} mg_auth_config_t;

/* Copy cfg (its strings and signer must outlive the pool).  Call before
 * the pool starts: handlers read it without a lock.  NULL restores the
 * defaults (no signer). */
void mg_auth_configure(const mg_auth_config_t *cfg);
/* "open", "first-admin", "closed" -> 0 and *out; -1 for anything else. */
int  mg_registration_parse(const char *name, mg_registration_t *out);
/* ... and back. */
const char *mg_registration_name(mg_registration_t r);
/* The configuration handlers read (set by mg_auth_configure). */
const mg_auth_config_t *mg_auth_config(void);

int mg_job_auth_register(mg_job_t *job);
int mg_job_auth_login(mg_job_t *job);
int mg_job_auth_refresh(mg_job_t *job);
int mg_job_auth_logout(mg_job_t *job);

/* A sign-in's session, as the request asked for it: API clients send and
 * get the refresh token in JSON; browsers ("session":"cookie" on
 * login/register, or no refresh_token in the body of refresh/logout) keep
 * it in the HttpOnly cookie the worker sets and clears (shared/mg_cookie). */
typedef struct {
    const char  *token;         /* the refresh token presented; NULL: none */
    size_t       len;
    int          cookie;        /* 1: the browser form */
    int          secure;        /* a cookie set now carries Secure (the module says) */
} mg_session_t;

/* The browser form's settings from the module's params ("cookie_secure",
 * "refresh_cookie"): s->cookie = 1, the cookie's token if any. */
void mg_session_from_cookie(const mg_job_t *job, mg_session_t *s);
/* Answer a sign-in: body (the tokens, refresh_token included when the
 * identity has one for the client) as it is for the JSON form; for the
 * browser form refresh_token leaves the body for a Set-Cookie of refresh
 * (NULL: the body's own).  Never cached (Cache-Control: no-store). */
int mg_auth_reply_session(mg_job_t *job, int status, json_t *body, const mg_session_t *s,
                          const char *refresh);
/* An error that ends the browser's session: the cookie is cleared with it
 * (the JSON form gets the plain error). */
int mg_auth_reply_session_error(mg_job_t *job, const mg_session_t *s, int status,
                                const char *code, const char *message);
/* 204 after a logout; the browser form's cookie is cleared. */
int mg_auth_reply_logged_out(mg_job_t *job, const mg_session_t *s);
/* 401 invalid_refresh_token: none presented, or not valid (logged). */
int mg_auth_invalid_refresh(mg_job_t *job, const mg_session_t *s);

/* cognito.c: sign-in through Cognito's hosted UI (authorization code +
 * PKCE); refresh and logout in Cognito mode, called by auth.c after it
 * read the request.  Pure helpers exported for the unit tests. */
int mg_job_auth_cognito(mg_job_t *job);
int mg_cognito_refresh(mg_job_t *job, const mg_session_t *s);
int mg_cognito_logout(mg_job_t *job, const mg_session_t *s);
/* 1 when s is a PKCE code_verifier (RFC 7636: 43..128 of A-Z a-z 0-9 - . _ ~). */
int mg_cognito_verifier_valid(const char *s, size_t len);
/* "<domain>/oauth2/<what>" into out (a trailing '/' of domain dropped).
 * 0, or -1 when it does not fit. */
int mg_cognito_url(char *out, size_t cap, const char *domain, const char *what);

/* config.c: GET /api/v1/config, public: how the web app signs people in. */
int mg_job_config_get(mg_job_t *job);

/* openapi.c: GET /api/v1/openapi.json, public: the API's OpenAPI 3.1
 * document, shared/openapi.json as compiled into the binary (the Makefile
 * generates mg_openapi_json from it; NUL-terminated, len without the NUL). */
extern const char   mg_openapi_json[];
extern const size_t mg_openapi_json_len;
int mg_job_openapi_get(mg_job_t *job);

/* models.c: GET /api/v1/models, what this server can answer with. */
int mg_job_models_list(mg_job_t *job);

/* The inputs of the models list: providers.c's configuration. */
typedef struct {
    int          bedrock;           /* Bedrock credentials configured */
    const char  *bedrock_models;    /* comma-separated ids; NULL: the default list */
    int          openai;            /* an OpenAI-compatible server configured */
    const char  *openai_models;     /* comma-separated names; NULL: none */
} mg_models_input_t;

/* {"items":[{"id","name","provider","offline"}],"default"}: "local" first,
 * then Bedrock's models, then the OpenAI-compatible ones ("openai:<name>");
 * blanks around ids, empty, duplicate and over-long ids are skipped;
 * "default" is the first remote model, or "local".  A new reference, or
 * NULL when out of memory. */
json_t *mg_models_build(const mg_models_input_t *in);
/* A readable name for a known model id ("Claude 3.5 Sonnet v2"), or NULL. */
const char *mg_model_name(const char *id);
/* 1 when GET /api/v1/models lists model_id with this process's
 * configuration (metrics label a bot's model by it only then: a bot's
 * model id is free text). */
int mg_models_listed(const char *model_id);

/* signup.c: the local identity's sign-up rules (registration mode,
 * allowed e-mail domains, invitations) and the permissions screen, for
 * administrators. */
int mg_job_admin_signup_get(mg_job_t *job);
int mg_job_admin_signup_update(mg_job_t *job);
int mg_job_admin_invitations_create(mg_job_t *job);
int mg_job_admin_invitations_list(mg_job_t *job);
int mg_job_admin_invitations_revoke(mg_job_t *job);
int mg_job_admin_permissions(mg_job_t *job);

/* The rules a registration is judged by, from the database. */
typedef struct {
    mg_registration_t   registration;   /* an administrator's, else MANGOO_REGISTRATION */
    json_t             *domains;        /* owned: array of lowercase domains; [] = any */
    int                 admin_exists;
} mg_signup_rules_t;

/* 0 with rules filled (free with mg_signup_rules_free, also after -1),
 * or -1 after replying with an error (*sent: the reply's result). */
int  mg_signup_rules_load(mg_job_t *job, mg_signup_rules_t *rules, int *sent);
void mg_signup_rules_free(mg_signup_rules_t *rules);

/* secrets handed out once: see mg_auth_secret_new() */
#define MG_SECRET_PREFIX_LEN   4
#define MG_SECRET_RANDOM       32
#define MG_SECRET_LEN          47           /* prefix + 43 base64url (32 bytes) */

#define MG_INVITE_CODE_PREFIX  "mgi_"
#define MG_INVITE_CODE_LEN     MG_SECRET_LEN
#define MG_SIGNUP_GROUPS_RULE                                               \
    "field \"groups\" must be an array of at most 20 group names, each 1 to 128 " \
    "printable characters without spaces; \"admin\" is not one (the role says that)"

/* signup.c's pure helpers (exported for the unit tests). */
/* 1..128 characters of UTF-8, none a space or control; not "admin". */
int mg_signup_group_valid(const char *s, size_t len);
/* An array of at most 20 valid group names. */
int mg_signup_groups_valid(json_t *groups);
/* A DNS host name (LDH labels of 1..63, at most 253, no trailing dot). */
int mg_signup_domain_valid(const char *s, size_t len);
/* 1 when domains is empty, or email's part after its '@' equals one of
 * them (any case; a subdomain does not count); 0 too for a NULL email. */
int mg_signup_email_allowed(const char *email, json_t *domains);
/* A fresh invitation code into out (MG_INVITE_CODE_LEN + 1).  0 or -1. */
int mg_invite_code_new(char *out);
/* 1 when s has the shape of an invitation code. */
int mg_invite_code_wellformed(const char *s, size_t len);
/* For bodies with an array member the field tables cannot describe: the
 * member name taken out into *arr (a new reference; NULL when absent or
 * when body is no JSON object), the rest as JSON text in *rest (malloc'd,
 * *rest_len bytes) for mg_validate_body.  0, or -1 out of memory. */
int mg_body_take_array(const char *body, size_t len, const char *name, json_t **arr,
                       char **rest, size_t *rest_len);

/* auth.c's pure helpers (exported for the unit tests). */
#define MG_REFRESH_TOKEN_PREFIX  "mgr_"
#define MG_REFRESH_TOKEN_LEN     MG_SECRET_LEN
#define MG_SHA256_HEX_LEN        64

/* 3..64 characters of [A-Za-z0-9._-]. */
int     mg_auth_username_valid(const char *s, size_t len);
/* A secret handed out once (refresh token, invitation code, API key):
 * a 4-character prefix naming its kind, then base64url of 32 random
 * bytes.  Only its SHA-256 is ever stored.  new() writes one into out
 * (MG_SECRET_LEN + 1), 0 or -1; wellformed() is 1 when s has its shape. */
int     mg_auth_secret_new(const char *prefix, char *out);
int     mg_auth_secret_wellformed(const char *prefix, const char *s, size_t len);
/* A fresh refresh token into out (MG_REFRESH_TOKEN_LEN + 1).  0 or -1. */
int     mg_auth_refresh_token_new(char *out);
/* 1 when s has the shape of a refresh token this worker issues. */
int     mg_auth_refresh_token_wellformed(const char *s, size_t len);
/* Lowercase hex SHA-256 of s into hex (MG_SHA256_HEX_LEN + 1).  0 or -1. */
int     mg_auth_token_hash(const char *s, size_t len, char *hex);
/* The claims of an access token (Cognito's shape), a new reference or
 * NULL.  cognito:groups is ["admin"] for admin, then the strings of
 * groups (borrowed; NULL: none) but "admin". */
json_t *mg_auth_access_claims(const mg_auth_config_t *cfg, const char *sub,
                              const char *username, int admin, json_t *groups,
                              long long iat, long long auth_time);

/* chat.c: the chat turn (see there) and its settings, set at startup */
typedef struct {
    long        history_tokens;     /* history sent to the model, estimated tokens */
    long long   daily_token_quota;  /* per user per UTC day; 0: none */
    long        message_max;        /* characters of one message */
    int         max_streams;        /* open streams per worker process */
    long long   agent_turn_tokens;  /* an agent's turn: input + output over its steps */
} mg_chat_config_t;

extern mg_chat_config_t mg_chat_cfg;

/* The run of an agent's turn (agents/loop.h) for agent_id, whose row as
 * the API shows it is agent_json: its tools, its sub-agents that can run,
 * its limits; parent_path and depth as for mg_agent_run_from_json.  0
 * with *run, or -1 after replying. */
typedef struct mg_agent_run_s mg_agent_run_t;
int mg_chat_agent_run(mg_job_t *job, const char *agent_id, const char *agent_json,
                      const char *parent_path, int depth, mg_agent_run_t **run);

int mg_job_chat_stream(mg_job_t *job);
int mg_job_chat_complete(mg_job_t *job);
/* One turn, validated input (pointers borrowed for the call), for
 * job->user_id: with bot_id (that user's bot) or agent_id, chat_id NULL
 * for a new chat, api_key_id set for a published call (the chat is marked
 * with it, only it continues the chat, its tokens are counted on it).
 * Answers the job (or hands it to the stream engine); 0 or -1 as a
 * handler. */
typedef struct {
    const char  *bot_id, *agent_id, *chat_id, *message;
    size_t       msg_len;
    const char  *api_key_id;
} mg_chat_turn_in_t;
int mg_chat_turn(mg_job_t *job, int sse, const mg_chat_turn_in_t *in);
/* The answer to a stream mg_streams_submit refused (its rc): 503, the
 * engine full ("overloaded") or stopped by the drain. */
int mg_chat_reply_refused(mg_job_t *job, int submitted);
struct mg_stream_s;
/* Store a stream's answer; a JSON answer is sent here, an SSE answer's
 * last event is left in *final (owned) for mg_streams_finished, which the
 * caller calls next.  0, or -1 when the client could not be told. */
int mg_chat_finish(struct mg_stream_s *s, mg_db_t *db, mg_job_send_fn send, void *send_ctx,
                   char **final, size_t *final_len);

/* api_keys.c: a bot's API keys and its publication, for its owner; the
 * module's key check (apikeys.verify, not a route). */
int mg_job_apikeys_list(mg_job_t *job);
int mg_job_apikeys_create(mg_job_t *job);
int mg_job_apikeys_revoke(mg_job_t *job);
int mg_job_apikeys_usage(mg_job_t *job);
int mg_job_apikeys_verify(mg_job_t *job);
int mg_job_publication_get(mg_job_t *job);
int mg_job_publication_update(mg_job_t *job);
/* API keys are secrets (mg_auth_secret_new) of this prefix */
#define MG_APIKEY_KEY_PREFIX "mgk_"
#define MG_APIKEY_LEN     MG_SECRET_LEN
#define MG_APIKEY_PREFIX  12            /* characters shown in lists */
/* 1 when s is 64 lowercase hex digits (a key's SHA-256 as the module
 * sends it). */
int mg_apikey_hash_valid(const char *s, size_t len);
/* Seconds from now to the next 00:00 UTC, when daily quotas reset (>= 1). */
long mg_apikey_retry_after(void);
/* A new key into key (MG_APIKEY_LEN + 1) and the lowercase hex SHA-256
 * of it into hash (MG_SHA256_HEX_LEN + 1).  0, or -1 (no randomness). */
int  mg_apikey_new(char *key, char *hash);
/* RFC 3339 ("2030-01-02T03:04:05Z", a fraction and an offset allowed)
 * into epoch seconds.  0, or -1 when s is not one. */
int  mg_apikey_time_parse(const char *s, double *epoch);

/* published.c: a published bot's chat, called with an API key */
int mg_job_published_stream(mg_job_t *job);
int mg_job_published_complete(mg_job_t *job);

#endif
