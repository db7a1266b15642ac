/*
 * mg_queries: owns the SQL text of the serving path.  Every statement is a
 * single autocommit statement, so mg_db may safely re-run one after a
 * reconnect: inserts carry ids generated in C (ON CONFLICT (id) DO
 * NOTHING makes the re-run a no-op if the first run did commit), updates
 * set absolute values, deletes are naturally idempotent.
 */
#include "db/queries.h"

/* Plain columns: the worker writes the JSON itself in one pass (jobs/
 * bots.c).  Timestamps leave as microseconds since the epoch, formatted in
 * C: Postgres's to_char and row_to_json cost more than the query. */
#define MG_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

#define MG_BOT_SELECT_FOR(caller)                                           \
    "b.id::text, b.owner_id, b.name, b.description, b.model_id, "          \
    "b.instructions, b.temperature, b.max_tokens, b.rag_enabled, "         \
    "b.knowledge_base_id::text, " MG_US("b.created_at") ", "               \
    MG_US("b.updated_at") ", "                                              \
    "ARRAY(SELECT x.knowledge_base_id::text FROM bot_knowledge_bases x "   \
    "WHERE x.bot_id = b.id ORDER BY (x.knowledge_base_id IS NOT DISTINCT FROM " \
    "b.knowledge_base_id) DESC, x.knowledge_base_id), "                     \
    "b.visibility, b.use_count, "                                           \
    "(SELECT u.username FROM users u WHERE u.id = b.owner_id), "            \
    "EXISTS (SELECT 1 FROM bot_pins p WHERE p.bot_id = b.id AND p.user_id = " caller "), " \
    "(b.owner_id = " caller ")"

/* "Shared with me": others' bots, not private, shared with caller by
 * name or pinned by them. */
#define MG_BOT_SHARED_WITH(caller)                                          \
    "b.owner_id <> " caller " AND b.visibility IN ('shared', 'store') AND " \
    "(EXISTS (SELECT 1 FROM bot_shares s WHERE s.bot_id = b.id AND s.user_id = " caller ") " \
    "OR EXISTS (SELECT 1 FROM bot_pins p WHERE p.bot_id = b.id AND p.user_id = " caller "))"

/* The store's search: $2 is a LIKE pattern (jobs/store.c) or NULL. */
#define MG_STORE_SEARCH                                                     \
    "($2::text IS NULL OR b.name ILIKE $2::text OR b.description ILIKE $2::text)"

/* Who may use a bot (sql/013): its owner, or anyone when it is not private. */
#define MG_BOT_VISIBLE(caller)                                              \
    "(b.owner_id = " caller " OR b.visibility IN ('shared', 'store'))"

/* A knowledge base may only be attached by its owner. */
#define MG_KB_OWNED(kb, owner)                                              \
    "EXISTS (SELECT 1 FROM knowledge_bases k WHERE k.id = " kb            \
    " AND k.owner_id = " owner ")"

/* Login lockout (MG_Q_AUTH_LOGIN_FAILED): the failure count after this
 * one (restarting at 1 once the last failure is older than $5 seconds,
 * capped so 2^n stays finite), and the lock that count earns. */
#define MG_AUTH_FAILURES                                                    \
    "(CASE WHEN a.last_failure_at < now() - $5::int * interval '1 second' " \
    "THEN 1 ELSE least(a.failures + 1, 1000) END)"
#define MG_AUTH_LOCK_UNTIL(n)                                               \
    "(CASE WHEN " n " >= $2::int THEN now() + least($3::float8 * "          \
    "power(2::float8, " n " - $2::int), $4::float8) * interval '1 second' END)"

#define MG_USER_SELECT                                                      \
    "u.id, u.username, u.email, u.role, u.disabled, "                      \
    MG_US("u.created_at") ", " MG_US("u.updated_at") ", to_json(u.groups)::text"

/* Export only (not a hot path): RFC 3339 UTC with microseconds, as the
 * C writers print them, done by Postgres inside the one JSON statement. */
#define MG_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define MG_JSON_LIST(agg, from) "COALESCE((SELECT " agg " " from "), '[]'::json)"

/* An invitation as the API shows it (never its code, which is not
 * kept). */
#define MG_INVITE_JSON                                                      \
    "json_build_object('id', i.id, 'email', i.email, 'role', i.role, "     \
    "'groups', to_json(i.groups), 'expires_at', " MG_TS("i.expires_at") ", " \
    "'created_at', " MG_TS("i.created_at") ", 'used_at', " MG_TS("i.used_at") ", " \
    "'revoked_at', " MG_TS("i.revoked_at") ")"

/* An agent as the API shows it (one JSON text). */
#define MG_AGENT_JSON(subs)                                                 \
    "json_build_object('id', a.id, 'name', a.name, 'category', a.category, " \
    "'description', a.description, 'model_id', a.model_id, "              \
    "'instructions', a.instructions, 'temperature', a.temperature, "       \
    "'max_tokens', a.max_tokens, 'tools', to_json(a.tools), "              \
    "'sub_agents', " subs ", 'limits', json_build_object("                 \
    "'max_steps', a.max_steps, 'timeout_seconds', a.timeout_seconds, "     \
    "'tool_timeout_seconds', a.tool_timeout_seconds), "                    \
    "'status', a.status, 'created_at', " MG_TS("a.created_at") ", "        \
    "'updated_at', " MG_TS("a.updated_at") ")::text"

/* The agent's sub-agents as stored, in order. */
#define MG_AGENT_SUBS                                                       \
    "to_json(ARRAY(SELECT x.sub_agent_id FROM agent_sub_agents x "         \
    "WHERE x.agent_id = a.id ORDER BY x.position))"

/* The columns of an agent row: MG_AGENT_COL_*. */
#define MG_AGENT_SELECT                                                     \
    MG_AGENT_JSON(MG_AGENT_SUBS) ", " MG_US("a.created_at") ", a.id::text, " \
    "a.model_id, a.instructions, a.temperature, a.max_tokens, a.status, a.name"

/* An agent's save is allowed (its statement writes only when it is):
 * $1 the agent, $2 its sub-agents in order (NULL: unchanged), $3 the
 * deepest chain of sub-agents allowed.  Every sub-agent exists and is not
 * retired; the agent is not among its sub-agents' descendants (a cycle);
 * the longest chain through it, its ancestors' side plus its new
 * sub-agents' side, is at most $3 hand-offs.  Recursion is capped in case
 * older rows hold a cycle. */
#define MG_AGENT_GRAPH_CHECK                                                \
    "new_subs AS (SELECT s.id, s.ord FROM unnest($2::uuid[]) WITH ORDINALITY s(id, ord)), " \
    "edges AS (SELECT e.agent_id, e.sub_agent_id FROM agent_sub_agents e "  \
    "  WHERE e.agent_id <> $1::uuid), "                                      \
    "down(node, depth) AS (SELECT n.id, 1 FROM new_subs n "                  \
    "  UNION ALL SELECT e.sub_agent_id, d.depth + 1 FROM down d "            \
    "  JOIN edges e ON e.agent_id = d.node WHERE d.depth < 16 AND d.node <> $1::uuid), " \
    "up(node, depth) AS (SELECT $1::uuid, 0 "                                \
    "  UNION ALL SELECT e.agent_id, u.depth + 1 FROM up u "                  \
    "  JOIN edges e ON e.sub_agent_id = u.node WHERE u.depth < 16), "        \
    "verdict AS (SELECT "                                                    \
    "  NOT EXISTS (SELECT 1 FROM new_subs n WHERE NOT EXISTS (SELECT 1 FROM agents s " \
    "    WHERE s.id = n.id AND s.status <> 'retired')) AS subs_ok, "         \
    "  NOT EXISTS (SELECT 1 FROM down WHERE node = $1::uuid) AS acyclic, "    \
    "  COALESCE((SELECT max(depth) FROM down), 0) + (SELECT max(depth) FROM up) <= $3::int AS shallow) "

/* chats (jobs/chats.c) */
#define MG_CHAT_SELECT                                                      \
    "c.id::text, c.bot_id::text, c.title, " MG_US("c.created_at") ", "     \
    MG_US("c.updated_at") ", c.agent_id::text"

#define MG_MSG_SELECT                                                       \
    "m.id::text, m.role, m.content, m.status, m.stop_reason, m.error, "    \
    "m.model_id, m.bot_id::text, m.input_tokens, m.output_tokens, "        \
    MG_US("m.created_at") ", m.citations::text, m.agent_id::text, m.steps::text"

/* A tool call as the audit shows it, then the cursor's two columns. */
#define MG_TOOL_CALL_SELECT                                                 \
    "json_build_object('id', t.id, 'user_id', t.user_id, "                 \
    "'username', (SELECT u.username FROM users u WHERE u.id = t.user_id), " \
    "'chat_id', t.chat_id, 'message_id', t.message_id, 'agent_id', t.agent_id, " \
    "'step', t.step, 'call_id', t.call_id, 'tool', t.tool, 'input', t.input, " \
    "'ok', t.ok, 'output', t.output, 'error', t.error, "                   \
    "'duration_ms', t.duration_ms, 'created_at', " MG_TS("t.created_at") ")::text, " \
    MG_US("t.created_at") ", t.id::text"

/* An MCP server as administrators see it: header names, never values. */
#define MG_MCP_JSON                                                         \
    "json_build_object('id', m.id, 'name', m.name, 'description', m.description, " \
    "'transport', m.transport, 'url', m.url, "                             \
    "'headers', to_json(ARRAY(SELECT jsonb_object_keys(m.headers) ORDER BY 1)), " \
    "'command', to_json(m.command), "                                      \
    "'env', to_json(ARRAY(SELECT jsonb_object_keys(m.env) ORDER BY 1)), "  \
    "'allowed_tools', to_json(m.allowed_tools), 'enabled', m.enabled, "    \
    "'tools', m.tools, 'tools_listed_at', " MG_TS("m.tools_listed_at") ", " \
    "'last_error', m.last_error, "                                         \
    "'created_at', " MG_TS("m.created_at") ", 'updated_at', " MG_TS("m.updated_at") ")::text"

/* Messages are read only through their chat's owner: the check is an
 * uncorrelated subquery, evaluated once per statement. */
/* An API key as its owner sees it (one JSON text), with today's usage;
 * never its hash. */
#define MG_APIKEY_JSON                                                      \
    "json_build_object('id', k.id, 'name', k.name, 'prefix', k.prefix, "   \
    "'rate_per_second', k.rate_per_second, 'burst', k.burst, "             \
    "'expires_at', " MG_TS("k.expires_at") ", "                            \
    "'revoked_at', " MG_TS("k.revoked_at") ", "                            \
    "'created_at', " MG_TS("k.created_at") ", "                            \
    "'last_used_at', " MG_TS("k.last_used_at") ", "                        \
    "'today', (SELECT json_build_object('requests', COALESCE(max(u.requests), 0), " \
    "'input_tokens', COALESCE(max(u.input_tokens), 0), "                   \
    "'output_tokens', COALESCE(max(u.output_tokens), 0)) FROM api_key_usage u " \
    "WHERE u.key_id = k.id AND u.day = (now() AT TIME ZONE 'UTC')::date))::text"

#define MG_CHAT_OWNED(chat, owner)                                          \
    "EXISTS (SELECT 1 FROM chats o WHERE o.id = " chat                    \
    " AND o.owner_id = " owner " AND o.api_key_id IS NULL)"


/* Admin search: $1 is "%" q "%" with q's %, _ and backslash escaped by a
 * backslash, ILIKE's default escape character (jobs/admin.c), or NULL for
 * no search.  A NULL email simply does not match. */
#define MG_USER_SEARCH                                                      \
    "($1::text IS NULL OR u.username ILIKE $1::text OR u.email ILIKE $1::text " \
    "OR u.id ILIKE $1::text)"

/* A usage row that counts something. */
#define MG_USAGE_COUNTS(g)                                                  \
    "(" g ".requests > 0 OR " g ".input_tokens > 0 OR " g ".output_tokens > 0)"

/* knowledge bases (jobs/knowledge.c): the counts are subqueries over
 * indexed columns, evaluated per row shown (a page at most) */
#define MG_KB_SELECT                                                        \
    "k.id::text, k.name, k.description, k.embedding_model, k.embedding_dim, " \
    "(SELECT count(*) FROM documents d WHERE d.knowledge_base_id = k.id), " \
    "(SELECT count(*) FROM knowledge_chunks c WHERE c.knowledge_base_id = k.id), " \
    MG_US("k.created_at") ", " MG_US("k.updated_at")

/* documents (jobs/documents.c); never the body */
#define MG_DOC_SELECT                                                       \
    "d.id::text, d.knowledge_base_id::text, d.filename, d.content_type, "  \
    "d.source_url, d.size_bytes, d.status, d.error, d.chunks_done, "       \
    "d.chunks_total, (SELECT count(*) FROM knowledge_chunks c "            \
    "WHERE c.document_id = d.id), " MG_US("d.created_at") ", "             \
    MG_US("d.updated_at")

/* The ingest thread's hold on a document: it is still there, still
 * processing, and still leased by this thread ($1 id, $2 lease holder). */
#define MG_INGEST_HELD                                                      \
    "d.id = $1::uuid AND d.leased_by = $2::text AND d.status = 'processing'"

const mg_query_def_t mg_queries[MG_Q__COUNT] = {

    [MG_Q_PING] = { "mg_ping", "SELECT 1", 0 },

    /* $1 id (token sub), $2 username, $3 email or NULL, $4 role.
     * Creates the row on first sight unless the id is tombstoned, and
     * reports in one row (MG_ENSURE_COL_*): tombstoned, disabled, created.
     * disabled is NULL when the row exists but this statement's snapshot
     * cannot see it (another request inserted it a moment ago): run it
     * again.  SQLSTATE MG410: tombstoned while we ran (sql/003). */
    [MG_Q_USER_ENSURE] = { "mg_user_ensure",
        "WITH tomb AS (SELECT EXISTS (SELECT 1 FROM deleted_users d "
        "WHERE d.id = $1::text) AS gone), "
        "ins AS (INSERT INTO users (id, username, email, role) "
        "SELECT $1::text, $2::text, $3::text, $4::text FROM tomb WHERE NOT tomb.gone "
        "ON CONFLICT (id) DO NOTHING RETURNING disabled) "
        "SELECT tomb.gone, COALESCE((SELECT i.disabled FROM ins i), "
        "(SELECT u.disabled FROM users u WHERE u.id = $1::text)), "
        "EXISTS (SELECT 1 FROM ins) FROM tomb", 4 },

    /* $1 id, $2 owner, $3 name, $4 description, $5 model_id,
     * $6 instructions, $7 temperature, $8 max_tokens, $9 rag_enabled,
     * $10 knowledge_base_id or NULL, $11 visibility.  No row: the
     * knowledge base is not the owner's, or (after a retry) the first run
     * already inserted id. */
    [MG_Q_BOT_INSERT] = { "mg_bot_insert",
        "INSERT INTO bots AS b (id, owner_id, name, description, model_id, "
        "instructions, temperature, max_tokens, rag_enabled, knowledge_base_id, visibility) "
        "SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, "
        "$7::float8, $8::int, $9::boolean, $10::uuid, $11::text "
        "WHERE $10::uuid IS NULL OR " MG_KB_OWNED("$10::uuid", "$2::text") " "
        "ON CONFLICT (id) DO NOTHING "
        "RETURNING " MG_BOT_SELECT_FOR("$2::text"), 11 },

    /* $1 id, $2 owner */
    [MG_Q_BOT_GET] = { "mg_bot_get",
        "SELECT " MG_BOT_SELECT_FOR("$2::text") " FROM bots b "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text", 2 },

    /* $1 id, $2 caller: the bot when the caller may use it (sql/013) */
    [MG_Q_BOT_SEE] = { "mg_bot_see",
        "SELECT " MG_BOT_SELECT_FOR("$2::text") " FROM bots b "
        "WHERE b.id = $1::uuid AND " MG_BOT_VISIBLE("$2::text"), 2 },

    /* $1 owner, $2 limit */
    [MG_Q_BOT_LIST_FIRST] = { "mg_bot_list_first",
        "SELECT " MG_BOT_SELECT_FOR("$1::text") " FROM bots b WHERE b.owner_id = $1::text "
        "ORDER BY b.created_at DESC, b.id DESC LIMIT $2::int", 2 },

    /* $1 owner, $2 cursor created_at (µs), $3 cursor id, $4 limit */
    [MG_Q_BOT_LIST_AFTER] = { "mg_bot_list_after",
        "SELECT " MG_BOT_SELECT_FOR("$1::text") " FROM bots b WHERE b.owner_id = $1::text "
        "AND (b.created_at, b.id) < "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid) "
        "ORDER BY b.created_at DESC, b.id DESC LIMIT $4::int", 4 },

    /* $1 id, $2 owner, $3..$9 new values or NULL to keep (none of those
     * columns is nullable), $10 whether knowledge_base_id is being set,
     * $11 its new value (NULL clears it), $12 visibility or NULL to keep.
     * No row: no such bot of the owner, or the knowledge base is not the
     * owner's. */
    [MG_Q_BOT_UPDATE] = { "mg_bot_update",
        "UPDATE bots AS b SET "
        "name = COALESCE($3::text, b.name), "
        "description = COALESCE($4::text, b.description), "
        "model_id = COALESCE($5::text, b.model_id), "
        "instructions = COALESCE($6::text, b.instructions), "
        "temperature = COALESCE($7::float8, b.temperature), "
        "max_tokens = COALESCE($8::int, b.max_tokens), "
        "rag_enabled = COALESCE($9::boolean, b.rag_enabled), "
        "visibility = COALESCE($12::text, b.visibility), "
        "knowledge_base_id = CASE WHEN $10::boolean THEN $11::uuid "
        "ELSE b.knowledge_base_id END, "
        "updated_at = now() "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text "
        "AND (NOT $10::boolean OR $11::uuid IS NULL OR "
        MG_KB_OWNED("$11::uuid", "$2::text") ") "
        "RETURNING " MG_BOT_SELECT_FOR("$2::text"), 12 },

    /* $1 id, $2 owner */
    [MG_Q_BOT_DELETE] = { "mg_bot_delete",
        "DELETE FROM bots b WHERE b.id = $1::uuid AND b.owner_id = $2::text "
        "RETURNING b.id::text", 2 },

    /* ---- local identity (jobs/auth.c).  Refresh tokens are matched by
     * the hex SHA-256 of the token text; the token itself never reaches
     * the database. */

    /* $1 username.  Before the slow password hash: is there an admin
     * yet, is the name taken (either case).  mg_local_register decides
     * again under its lock; this only spares the hash on a sure no. */
    [MG_Q_AUTH_REGISTER_CHECK] = { "mg_auth_register_check",
        "SELECT EXISTS (SELECT 1 FROM users u WHERE u.role = 'admin'), "
        "EXISTS (SELECT 1 FROM local_credentials c "
        "WHERE lower(c.username) = lower($1::text))", 1 },

    /* $1 new user id, $2 username, $3 email or NULL, $4 password hash,
     * $5 first-admin-only.  One row: outcome, role (sql/002).  A re-run
     * finds its own id and says 'created' again. */
    [MG_Q_AUTH_REGISTER] = { "mg_auth_register",
        "SELECT outcome, user_role FROM mg_local_register($1::text, $2::text, "
        "$3::text, $4::text, $5::boolean)", 5 },

    /* $1 username.  Always exactly one row, so an unknown user is just
     * NULLs: user id, password hash, username, role, disabled, email, the
     * seconds the name stays locked (NULL: not locked), groups (JSON). */
    [MG_Q_AUTH_LOGIN_LOOKUP] = { "mg_auth_login_lookup",
        "SELECT c.user_id, c.password_hash, u.username, u.role, u.disabled, u.email, "
        "(SELECT ceil(extract(epoch FROM a.locked_until - now()))::bigint "
        "FROM login_attempts a WHERE a.username_key = lower($1::text) "
        "AND a.locked_until > now()), to_json(u.groups)::text "
        "FROM (SELECT 1) one "
        "LEFT JOIN local_credentials c ON lower(c.username) = lower($1::text) "
        "LEFT JOIN users u ON u.id = c.user_id", 1 },

    /* $1 username, $2 failures that lock, $3 first lock (s), $4 longest
     * lock (s), $5 seconds after which old failures are forgotten.  One
     * more consecutive failure; from the $2nd on the name is locked for
     * $3 * 2^(failures - $2) seconds, at most $4.  Also sweeps a few
     * forgotten rows (never the one being written: a statement must not
     * touch a row twice).  Re-run after a lost connection it counts the
     * failure twice, which only errs on the careful side.
     * Returns failures, seconds locked (NULL: not locked). */
    [MG_Q_AUTH_LOGIN_FAILED] = { "mg_auth_login_failed",
        "WITH sweep AS (DELETE FROM login_attempts WHERE username_key IN ("
        "SELECT s.username_key FROM login_attempts s "
        "WHERE s.last_failure_at < now() - $5::int * interval '1 second' "
        "AND s.username_key <> lower($1::text) LIMIT 10)) "
        "INSERT INTO login_attempts AS a (username_key, failures, last_failure_at, locked_until) "
        "VALUES (lower($1::text), 1, now(), " MG_AUTH_LOCK_UNTIL("1") ") "
        "ON CONFLICT (username_key) DO UPDATE SET "
        "failures = " MG_AUTH_FAILURES ", last_failure_at = now(), "
        "locked_until = " MG_AUTH_LOCK_UNTIL(MG_AUTH_FAILURES) " "
        "RETURNING a.failures, ceil(extract(epoch FROM a.locked_until - now()))::bigint", 5 },

    /* $1 new token id (also the new family's id), $2 user id, $3 token
     * hash, $4 lifetime (s), $5 auth_time (unix s), $6 username whose
     * failed attempts a successful login clears.  Sweeps a few tokens
     * expired a day ago or more.  FK violation on user_id: the user was
     * deleted meanwhile. */
    [MG_Q_AUTH_SESSION_CREATE] = { "mg_auth_session_create",
        "WITH reset AS (DELETE FROM login_attempts WHERE username_key = lower($6::text)), "
        "sweep AS (DELETE FROM refresh_tokens WHERE id IN (SELECT s.id FROM refresh_tokens s "
        "WHERE s.expires_at < now() - interval '1 day' AND s.id <> $1::uuid LIMIT 10)) "
        "INSERT INTO refresh_tokens (id, user_id, token_hash, family_id, expires_at, auth_time) "
        "VALUES ($1::uuid, $2::text, decode($3::text, 'hex'), $1::uuid, "
        "now() + $4::bigint * interval '1 second', to_timestamp($5::bigint)) "
        "ON CONFLICT (id) DO NOTHING", 6 },

    /* $1 presented token hash, $2 successor id, $3 successor hash, $4
     * its lifetime (s).  Rotation in one statement: mark the presented
     * token used (only if unused, unrevoked, unexpired and its user not
     * disabled) and insert its successor in the same family.  A re-run
     * with the same $2 finds the token replaced by $2 and succeeds again.
     * No row: see MG_Q_AUTH_REFRESH_REJECT.  Returns user id, username,
     * role, auth_time (unix s), groups (JSON: read now, so an
     * administrator's change reaches the next access token). */
    [MG_Q_AUTH_REFRESH_ROTATE] = { "mg_auth_refresh_rotate",
        "WITH old AS (UPDATE refresh_tokens t "
        "SET used_at = COALESCE(t.used_at, now()), replaced_by = $2::uuid "
        "WHERE t.token_hash = decode($1::text, 'hex') "
        "AND (t.used_at IS NULL OR t.replaced_by = $2::uuid) "
        "AND t.revoked_at IS NULL AND t.expires_at > now() "
        "AND EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id AND NOT u.disabled) "
        "RETURNING t.user_id, t.family_id, t.auth_time), "
        "new AS (INSERT INTO refresh_tokens (id, user_id, token_hash, family_id, expires_at, auth_time) "
        "SELECT $2::uuid, o.user_id, decode($3::text, 'hex'), o.family_id, "
        "now() + $4::bigint * interval '1 second', o.auth_time FROM old o "
        "ON CONFLICT (id) DO NOTHING) "
        "SELECT o.user_id, u.username, u.role, extract(epoch FROM o.auth_time)::bigint, "
        "to_json(u.groups)::text FROM old o JOIN users u ON u.id = o.user_id", 4 },

    /* $1 presented token hash, after a rotation found nothing.  A token
     * already used or revoked is a reuse: its whole family is revoked.
     * No row: unknown.  Else: reused, expired, user disabled, tokens
     * revoked now. */
    [MG_Q_AUTH_REFRESH_REJECT] = { "mg_auth_refresh_reject",
        "WITH t AS (SELECT family_id, user_id, "
        "(used_at IS NOT NULL OR revoked_at IS NOT NULL) AS reused, "
        "expires_at <= now() AS expired "
        "FROM refresh_tokens WHERE token_hash = decode($1::text, 'hex')), "
        "rev AS (UPDATE refresh_tokens r SET revoked_at = now() FROM t "
        "WHERE t.reused AND r.family_id = t.family_id AND r.revoked_at IS NULL "
        "RETURNING r.id) "
        "SELECT t.reused, t.expired, u.disabled, (SELECT count(*) FROM rev) "
        "FROM t JOIN users u ON u.id = t.user_id", 1 },

    /* $1 token hash: revoke its family (nothing for an unknown token). */
    [MG_Q_AUTH_LOGOUT] = { "mg_auth_logout",
        "UPDATE refresh_tokens r SET revoked_at = now() "
        "WHERE r.family_id = (SELECT t.family_id FROM refresh_tokens t "
        "WHERE t.token_hash = decode($1::text, 'hex')) AND r.revoked_at IS NULL", 1 },

    /* No parameters.  Whether an administrator exists: with registration
     * first-admin, sign-up is open exactly until then (the rule
     * mg_local_register applies, sql/002), and GET /config says so. */
    [MG_Q_AUTH_ADMIN_EXISTS] = { "mg_auth_admin_exists",
        "SELECT EXISTS (SELECT 1 FROM users u WHERE u.role = 'admin')", 0 },

    /* ---- users and admin (jobs/users.c, jobs/admin.c) ---- */

    /* $1 id */
    [MG_Q_USER_GET] = { "mg_user_get",
        "SELECT " MG_USER_SELECT " FROM users u WHERE u.id = $1::text", 1 },

    /* $1 id, $2 username or NULL to keep, $3 whether email is being set,
     * $4 its new value (NULL clears it).  No row: the user is gone. */
    [MG_Q_USER_UPDATE_ME] = { "mg_user_update_me",
        "UPDATE users u SET username = COALESCE($2::text, u.username), "
        "email = CASE WHEN $3::boolean THEN $4::text ELSE u.email END, "
        "updated_at = now() WHERE u.id = $1::text "
        "RETURNING " MG_USER_SELECT, 4 },

    /* $1 id.  The tombstone and the deletion commit together (one
     * statement); ON DELETE CASCADE takes everything the user owns.  A
     * re-run finds the tombstone and no row: still deleted. */
    [MG_Q_USER_DELETE] = { "mg_user_delete",
        "WITH tomb AS (INSERT INTO deleted_users (id) VALUES ($1::text) "
        "ON CONFLICT (id) DO NOTHING) "
        "DELETE FROM users u WHERE u.id = $1::text RETURNING u.id", 1 },

    /* $1 id.  Everything stored about the user as one JSON text, built
     * from one snapshot.  Names only columns of 001 (never password or
     * token hashes, nor embeddings, which are derived from the chunk
     * text).  No row: the user is gone. */
    [MG_Q_USER_EXPORT] = { "mg_user_export",
        "SELECT json_build_object("
        "'user', json_build_object('id', u.id, 'username', u.username, "
        "'email', u.email, 'role', u.role, 'disabled', u.disabled, "
        "'created_at', " MG_TS("u.created_at") ", 'updated_at', " MG_TS("u.updated_at") ", "
        "'groups', to_json(u.groups)), "
        "'bots', " MG_JSON_LIST(
            "json_agg(json_build_object('id', b.id, 'owner_id', b.owner_id, "
            "'name', b.name, 'description', b.description, 'model_id', b.model_id, "
            "'instructions', b.instructions, 'temperature', b.temperature, "
            "'max_tokens', b.max_tokens, 'rag_enabled', b.rag_enabled, "
            "'knowledge_base_id', b.knowledge_base_id, "
            "'knowledge_base_ids', ARRAY(SELECT x.knowledge_base_id FROM bot_knowledge_bases x "
            "WHERE x.bot_id = b.id ORDER BY x.knowledge_base_id), "
            "'visibility', b.visibility, 'use_count', b.use_count, 'is_owner', true, "
            "'pinned', EXISTS (SELECT 1 FROM bot_pins p WHERE p.bot_id = b.id "
            "AND p.user_id = u.id), "
            "'created_at', " MG_TS("b.created_at") ", 'updated_at', " MG_TS("b.updated_at") ") "
            "ORDER BY b.created_at, b.id)",
            "FROM bots b WHERE b.owner_id = u.id") ", "
        "'chats', " MG_JSON_LIST(
            "json_agg(json_build_object('id', c.id, 'bot_id', c.bot_id, 'agent_id', c.agent_id, "
            "'title', c.title, "
            "'created_at', " MG_TS("c.created_at") ", 'updated_at', " MG_TS("c.updated_at") ", "
            "'messages', " MG_JSON_LIST(
                "json_agg(json_build_object('id', m.id, 'bot_id', m.bot_id, "
                "'role', m.role, 'content', m.content, 'status', m.status, "
                "'agent_id', m.agent_id, 'citations', m.citations, 'steps', m.steps, "
                "'input_tokens', m.input_tokens, "
                "'output_tokens', m.output_tokens, 'stop_reason', m.stop_reason, "
                "'error', m.error, 'model_id', m.model_id, "
                "'created_at', " MG_TS("m.created_at") ") "
                "ORDER BY m.created_at, m.id)",
                "FROM messages m WHERE m.chat_id = c.id") ") "
            "ORDER BY c.created_at, c.id)",
            "FROM chats c WHERE c.owner_id = u.id AND c.api_key_id IS NULL") ", "
        "'knowledge_bases', " MG_JSON_LIST(
            "json_agg(json_build_object('id', k.id, 'name', k.name, "
            "'description', k.description, 'embedding_model', k.embedding_model, "
            "'embedding_dim', k.embedding_dim, "
            "'created_at', " MG_TS("k.created_at") ", 'updated_at', " MG_TS("k.updated_at") ", "
            "'documents', " MG_JSON_LIST(
                "json_agg(json_build_object('id', d.id, 'filename', d.filename, "
                "'content_type', d.content_type, 'source_url', d.source_url, "
                "'size_bytes', d.size_bytes, 'content_sha256', NULLIF(d.content_sha256, ''), "
                "'status', d.status, 'error', d.error, "
                "'chunk_count', (SELECT count(*) FROM knowledge_chunks ch "
                "WHERE ch.document_id = d.id), "
                "'created_at', " MG_TS("d.created_at") ", 'updated_at', " MG_TS("d.updated_at") ", "
                "'chunks', " MG_JSON_LIST(
                    "json_agg(json_build_object('chunk_index', ch.chunk_index, "
                    "'text', ch.text, 'page', ch.page, 'heading', ch.heading, "
                    "'metadata', ch.metadata) ORDER BY ch.chunk_index)",
                    "FROM knowledge_chunks ch WHERE ch.document_id = d.id") ") "
                "ORDER BY d.created_at, d.id)",
                "FROM documents d WHERE d.knowledge_base_id = k.id") ") "
            "ORDER BY k.created_at, k.id)",
            "FROM knowledge_bases k WHERE k.owner_id = u.id") ", "
        "'agents', " MG_JSON_LIST(
            "json_agg(json_build_object('id', a.id, 'name', a.name, "
            "'category', a.category, 'status', a.status, 'config', a.config, "
            "'description', a.description, 'model_id', a.model_id, "
            "'instructions', a.instructions, 'tools', a.tools, "
            "'created_at', " MG_TS("a.created_at") ", 'updated_at', " MG_TS("a.updated_at") ") "
            "ORDER BY a.created_at, a.id)",
            "FROM agents a WHERE a.owner_id = u.id") ", "
        "'usage', " MG_JSON_LIST(
            "json_agg(json_build_object('day', g.day, 'requests', g.requests, "
            "'input_tokens', g.input_tokens, 'output_tokens', g.output_tokens) "
            "ORDER BY g.day)",
            "FROM usage g WHERE g.user_id = u.id") ", "
        "'credentials', (SELECT json_build_object('username', lc.username, "
        "'created_at', " MG_TS("lc.created_at") ", 'updated_at', " MG_TS("lc.updated_at") ") "
        "FROM local_credentials lc WHERE lc.user_id = u.id), "
        "'refresh_tokens', " MG_JSON_LIST(
            "json_agg(json_build_object('id', r.id, "
            "'created_at', " MG_TS("r.created_at") ", 'expires_at', " MG_TS("r.expires_at") ", "
            "'revoked_at', " MG_TS("r.revoked_at") ") ORDER BY r.created_at, r.id)",
            "FROM refresh_tokens r WHERE r.user_id = u.id") ", "
        "'exported_at', " MG_TS("now()") ")::text "
        "FROM users u WHERE u.id = $1::text", 1 },

    /* $1 search pattern or NULL, $2 limit.  Newest first. */
    [MG_Q_ADMIN_USER_LIST_FIRST] = { "mg_admin_user_list_first",
        "SELECT " MG_USER_SELECT " FROM users u WHERE " MG_USER_SEARCH " "
        "ORDER BY u.created_at DESC, u.id DESC LIMIT $2::int", 2 },

    /* $1 search pattern or NULL, $2 cursor created_at (µs), $3 cursor id,
     * $4 limit */
    [MG_Q_ADMIN_USER_LIST_AFTER] = { "mg_admin_user_list_after",
        "SELECT " MG_USER_SELECT " FROM users u WHERE " MG_USER_SEARCH " "
        "AND (u.created_at, u.id) < "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::text) "
        "ORDER BY u.created_at DESC, u.id DESC LIMIT $4::int", 4 },

    /* $1 id, $2 role or NULL to keep, $3 disabled or NULL to keep, $4
     * groups (a JSON array of valid names) or NULL to keep: stored
     * without duplicates, sorted.  The row is locked first so the
     * previous role and disabled come back too (MG_USER_COL_OLD_*): the
     * caller learns whether anything the workers cache changed.  No row:
     * no such user. */
    [MG_Q_ADMIN_USER_UPDATE] = { "mg_admin_user_update",
        "UPDATE users u SET role = COALESCE($2::text, u.role), "
        "disabled = COALESCE($3::boolean, u.disabled), "
        "groups = CASE WHEN $4::jsonb IS NULL THEN u.groups ELSE ARRAY("
        "SELECT DISTINCT g FROM jsonb_array_elements_text($4::jsonb) g ORDER BY g) END, "
        "updated_at = now() "
        "FROM (SELECT o.id, o.disabled, o.role FROM users o "
        "WHERE o.id = $1::text FOR UPDATE) old "
        "WHERE u.id = old.id "
        "RETURNING " MG_USER_SELECT ", old.disabled, old.role", 4 },

    /* A barrier after a status change committed (sql/003): a new number,
     * notified to every listener in its own transaction, after the
     * change.  Returns the number.  A re-run just sends another one. */
    [MG_Q_USER_BARRIER] = { "mg_user_barrier",
        "SELECT s.n, pg_notify('mangoo_users_barrier', s.n::text) "
        "FROM (SELECT nextval('mangoo_users_barrier_seq') AS n) s", 0 },

    /* $1 barrier number: how many live listeners have not passed it. */
    [MG_Q_USER_BARRIER_PENDING] = { "mg_user_barrier_pending",
        "SELECT count(*) FROM user_status_listeners l "
        "JOIN pg_stat_activity a ON a.pid = l.pid AND a.backend_start = l.backend_start "
        "WHERE l.passed < $1::bigint", 1 },

    /* ---- chat streaming (jobs/chat.c).  "Today" is the UTC day of
     * usage rows. */

    /* $1 user, $2 bot, $3 chat or NULL for a new one, $4 the new chat's
     * id, $5 its title, $6 the user message's id, $7 its text, $8 the
     * daily token quota (0: none), $9 the agent or NULL, $10 the answer's
     * id, $11 this process's instance id (worker/instance.h), $12 the
     * model, $13 the API key of a published call (jobs/published.c) or
     * NULL: a chat is continued only by whoever began it, a user (NULL)
     * or that key.  In one statement: check the user may use the bot
     * (theirs, or another's that is not private: sql/013), the chat is
     * the user's and the quota is not used up; only then create the chat
     * (counting it in the bot's use_count), store the
     * user's message (before any generation, so it survives whatever
     * happens next), record the turn as in flight on this process (so
     * that its answer is stored as worker_lost should the process die:
     * sql/011_turns_in_flight.sql) and bump the chat's activity.  A re-run after a reconnect is a no-op (ids chosen in
     * C).  The request is counted in usage when the turn ends, with its
     * tokens: one write to the user's usage row per turn, which
     * concurrent turns of one user contend for. */
    [MG_Q_CHAT_BEGIN] = { "mg_chat_begin",
        "WITH bot AS (SELECT b.id, b.model_id, b.instructions, b.temperature, b.max_tokens "
        "  FROM bots b WHERE b.id = $2::uuid AND " MG_BOT_VISIBLE("$1::text") " "
        "  UNION ALL SELECT a.id, a.model_id, a.instructions, a.temperature, a.max_tokens "
        "  FROM agents a WHERE a.id = $9::uuid AND a.status = 'published'), "
        "chat AS (SELECT c.id FROM chats c WHERE c.id = $3::uuid AND c.owner_id = $1::text "
        "  AND c.api_key_id IS NOT DISTINCT FROM $13::uuid), "
        "used AS (SELECT COALESCE((SELECT u.input_tokens + u.output_tokens FROM usage u "
        "  WHERE u.user_id = $1::text AND u.day = (now() AT TIME ZONE 'UTC')::date), 0) AS tokens), "
        "go AS (SELECT 1 FROM bot, used WHERE ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM chat)) "
        "  AND ($8::bigint = 0 OR used.tokens < $8::bigint)), "
        "new_chat AS (INSERT INTO chats (id, owner_id, bot_id, agent_id, title, api_key_id) "
        "  SELECT $4::uuid, $1::text, $2::uuid, $9::uuid, $5::text, $13::uuid FROM go "
        "  WHERE $3::uuid IS NULL "
        "  ON CONFLICT (id) DO NOTHING RETURNING id), "
        /* the bot's use count: chats started with it, by anyone */
        "bump AS (UPDATE bots x SET use_count = x.use_count + 1 FROM new_chat "
        "  WHERE x.id = $2::uuid), "
        "touch AS (UPDATE chats c SET updated_at = now() FROM go "
        "  WHERE c.id = $3::uuid AND c.owner_id = $1::text RETURNING c.id), "
        "msg AS (INSERT INTO messages (id, chat_id, bot_id, agent_id, user_id, role, content) "
        "  SELECT $6::uuid, COALESCE($3::uuid, $4::uuid), $2::uuid, $9::uuid, $1::text, 'user', "
        "  $7::text "
        "  FROM go ON CONFLICT (id) DO NOTHING RETURNING id), "
        "turn AS (INSERT INTO turns_in_flight (message_id, chat_id, user_id, bot_id, agent_id, "
        "  model_id, owner) "
        "  SELECT $10::uuid, COALESCE($3::uuid, $4::uuid), $1::text, $2::uuid, $9::uuid, "
        "  $12::text, $11::bigint FROM go ON CONFLICT (message_id) DO NOTHING) "
        "SELECT EXISTS (SELECT 1 FROM bot), ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM chat)), "
        "  (SELECT tokens FROM used), EXISTS (SELECT 1 FROM go), "
        "  b.model_id, b.instructions, b.temperature, b.max_tokens "
        "FROM (SELECT 1) one LEFT JOIN bot b ON true", 13 },

    /* $1 the answer's id.  A turn that ended before its stream began (an
     * error answered instead) is no longer in flight. */
    [MG_Q_CHAT_ABANDON] = { "mg_chat_abandon",
        "DELETE FROM turns_in_flight t WHERE t.message_id = $1::uuid", 1 },

    /* $1 chat, $2 the message being answered (left out), $3 limit.  Newest
     * first: the caller keeps what fits its token budget. */
    [MG_Q_CHAT_HISTORY] = { "mg_chat_history",
        "SELECT m.role, m.content FROM messages m "
        "WHERE m.chat_id = $1::uuid AND m.id <> $2::uuid AND m.content <> '' "
        "AND m.role IN ('user', 'assistant') "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT $3::int", 3 },

    /* $1 answer id, $2 chat, $3 bot, $4 user, $5 text, $6 status, $7 input
     * tokens, $8 output tokens, $9 stop reason or NULL, $10 error code or
     * NULL, $11 model id, $12 the citations (JSON array) or NULL for a turn
     * without retrieval, $13 the agent or NULL, $14 an agent's steps (JSON
     * array) or NULL, $15 an SSE answer's count of events or NULL, $16 the
     * API key of a published call or NULL.  Stores
     * the answer (unless the chat was deleted meanwhile), bumps the chat's
     * activity, counts the request and its tokens in today's usage (the
     * user's, and the bot's in bot_usage whoever asked: sql/013), writes
     * each tool call to the audit and ends the turn's in-flight record.
     * The usage only counts when the answer was not stored yet, so a re-run
     * after a reconnect counts nothing twice.  An answer the sweep stored
     * as worker_lost (worker/instance.c; a worker itself never stores that
     * code) is replaced: its process was alive after all, its lock lost
     * for a moment with its connection (a database restart), and this is
     * the real outcome. */
    [MG_Q_CHAT_FINISH] = { "mg_chat_finish",
        "WITH fresh AS (SELECT NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = $1::uuid "
        "  AND m.error IS DISTINCT FROM 'worker_lost') AS yes), "
        "ended AS (DELETE FROM turns_in_flight t WHERE t.message_id = $1::uuid), "
        "ins AS (INSERT INTO messages (id, chat_id, bot_id, agent_id, user_id, role, content, "
        "  status, input_tokens, output_tokens, stop_reason, error, model_id, citations, steps, "
        "  stream_events) "
        "  SELECT $1::uuid, c.id, (SELECT b.id FROM bots b WHERE b.id = $3::uuid), "
        "  (SELECT a.id FROM agents a WHERE a.id = $13::uuid), $4::text, "
        "  'assistant', $5::text, $6::text, $7::int, $8::int, $9::text, $10::text, $11::text, "
        "  $12::jsonb, $14::jsonb, $15::int "
        "  FROM chats c WHERE c.id = $2::uuid ON CONFLICT (id) DO UPDATE SET "
        "  content = EXCLUDED.content, status = EXCLUDED.status, "
        "  input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens, "
        "  stop_reason = EXCLUDED.stop_reason, error = EXCLUDED.error, "
        "  model_id = EXCLUDED.model_id, citations = EXCLUDED.citations, steps = EXCLUDED.steps, "
        "  stream_events = EXCLUDED.stream_events "
        "  WHERE messages.status = 'error' AND messages.error = 'worker_lost' RETURNING chat_id), "
        "touch AS (UPDATE chats c SET updated_at = now() FROM ins WHERE c.id = ins.chat_id "
        "  RETURNING c.id), "
        "use AS (INSERT INTO usage (user_id, day, requests, input_tokens, output_tokens) "
        "  SELECT u.id, (now() AT TIME ZONE 'UTC')::date, 1, $7::bigint, $8::bigint "
        "  FROM users u, fresh WHERE u.id = $4::text AND fresh.yes "
        "  ON CONFLICT (user_id, day) DO UPDATE SET requests = usage.requests + 1, "
        "  input_tokens = usage.input_tokens + EXCLUDED.input_tokens, "
        "  output_tokens = usage.output_tokens + EXCLUDED.output_tokens RETURNING 1), "
        /* a published call's tokens, on its key (its request was counted
         * when it was admitted: mg_api_key_admit, sql/015) */
        "key_use AS (INSERT INTO api_key_usage (key_id, day, input_tokens, output_tokens) "
        "  SELECT k.id, (now() AT TIME ZONE 'UTC')::date, $7::bigint, $8::bigint "
        "  FROM api_keys k, fresh WHERE k.id = $16::uuid AND fresh.yes "
        "  ON CONFLICT (key_id, day) DO UPDATE SET "
        "  input_tokens = api_key_usage.input_tokens + EXCLUDED.input_tokens, "
        "  output_tokens = api_key_usage.output_tokens + EXCLUDED.output_tokens), "
        /* the bot's own day, whoever asked (its owner's usage page) */
        "buse AS (INSERT INTO bot_usage (bot_id, day, requests, input_tokens, output_tokens) "
        "  SELECT b.id, (now() AT TIME ZONE 'UTC')::date, 1, $7::bigint, $8::bigint "
        "  FROM bots b, fresh WHERE b.id = $3::uuid AND fresh.yes "
        "  ON CONFLICT (bot_id, day) DO UPDATE SET requests = bot_usage.requests + 1, "
        "  input_tokens = bot_usage.input_tokens + EXCLUDED.input_tokens, "
        "  output_tokens = bot_usage.output_tokens + EXCLUDED.output_tokens), "
        /* the audit, kept even when the chat went during the answer */
        "calls AS (INSERT INTO tool_calls (user_id, chat_id, message_id, agent_id, step, "
        "  call_id, tool, input, ok, output, error, duration_ms) "
        "  SELECT u.id, $2::uuid, $1::uuid, (SELECT a.id FROM agents a WHERE a.id = $13::uuid), "
        "  (st->>'step')::int, c->>'id', c->>'name', c->'input', (c->>'ok')::boolean, "
        "  left(COALESCE(c->>'output', ''), 2000), c->>'error', (c->>'ms')::int "
        "  FROM users u, fresh, jsonb_array_elements(COALESCE($14::jsonb, '[]')) st, "
        "  jsonb_array_elements(st->'tool_calls') c WHERE u.id = $4::text AND fresh.yes) "
        "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM use)", 16 },

    /* $1 chat, $2 owner, $3 a message of it or NULL (its latest).  No row:
     * not the owner's chat; a row with a NULL id: no such message.  The
     * message as a resume from the database sends it (jobs/chat_resume.c),
     * with the id of the user's message it answers. */
    [MG_Q_CHAT_STORED_ANSWER] = { "mg_chat_stored_answer",
        "SELECT m.id, m.role, m.content, m.status, m.stop_reason, m.error, m.input_tokens, "
        "  m.output_tokens, m.stream_events, m.citations, m.bot_id, m.agent_id, m.model_id, "
        "  (SELECT u.id FROM messages u WHERE u.chat_id = c.id AND u.role = 'user' "
        "   AND (u.created_at, u.id) < (m.created_at, m.id) "
        "   ORDER BY u.created_at DESC, u.id DESC LIMIT 1) "
        "FROM chats c LEFT JOIN LATERAL (SELECT * FROM messages x WHERE x.chat_id = c.id "
        "  AND ($3::uuid IS NULL OR x.id = $3::uuid) "
        "  ORDER BY x.created_at DESC, x.id DESC LIMIT 1) m ON true "
        "WHERE c.id = $1::uuid AND c.owner_id = $2::text AND c.api_key_id IS NULL", 3 },

    /* ---- chats (jobs/chats.c).  Chats are created and their messages
     * written by the chat turn (above); these read, rename and delete
     * them.  updated_at is the chat's last message activity. */

    /* $1 owner, $2 limit.  Most recently active first. */
    [MG_Q_CHAT_LIST_FIRST] = { "mg_chat_list_first",
        "SELECT " MG_CHAT_SELECT " FROM chats c WHERE c.owner_id = $1::text "
        "AND c.api_key_id IS NULL "
        "ORDER BY c.updated_at DESC, c.id DESC LIMIT $2::int", 2 },

    /* $1 owner, $2 cursor updated_at (µs), $3 cursor id, $4 limit */
    [MG_Q_CHAT_LIST_AFTER] = { "mg_chat_list_after",
        "SELECT " MG_CHAT_SELECT " FROM chats c WHERE c.owner_id = $1::text "
        "AND c.api_key_id IS NULL AND (c.updated_at, c.id) < "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid) "
        "ORDER BY c.updated_at DESC, c.id DESC LIMIT $4::int", 4 },

    /* $1 id, $2 owner */
    [MG_Q_CHAT_GET] = { "mg_chat_get",
        "SELECT " MG_CHAT_SELECT " FROM chats c "
        "WHERE c.id = $1::uuid AND c.owner_id = $2::text AND c.api_key_id IS NULL", 2 },

    /* $1 chat id, $2 owner, $3 limit.  Oldest first. */
    [MG_Q_CHAT_MESSAGES_FIRST] = { "mg_chat_messages_first",
        "SELECT " MG_MSG_SELECT " FROM messages m WHERE m.chat_id = $1::uuid "
        "AND " MG_CHAT_OWNED("$1::uuid", "$2::text") " "
        "ORDER BY m.created_at, m.id LIMIT $3::int", 3 },

    /* $1 chat id, $2 owner, $3 cursor created_at (µs), $4 cursor id,
     * $5 limit */
    [MG_Q_CHAT_MESSAGES_AFTER] = { "mg_chat_messages_after",
        "SELECT " MG_MSG_SELECT " FROM messages m WHERE m.chat_id = $1::uuid "
        "AND " MG_CHAT_OWNED("$1::uuid", "$2::text") " "
        "AND (m.created_at, m.id) > "
        "('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid) "
        "ORDER BY m.created_at, m.id LIMIT $5::int", 5 },

    /* $1 id, $2 owner, $3 title.  Leaves updated_at alone: it orders the
     * list by message activity, and a rename is not activity.  No row: no
     * such chat of the owner. */
    [MG_Q_CHAT_RENAME] = { "mg_chat_rename",
        "UPDATE chats c SET title = $3::text "
        "WHERE c.id = $1::uuid AND c.owner_id = $2::text AND c.api_key_id IS NULL "
        "RETURNING " MG_CHAT_SELECT, 3 },

    /* $1 id, $2 owner.  Its messages go with it (ON DELETE CASCADE). */
    [MG_Q_CHAT_DELETE] = { "mg_chat_delete",
        "DELETE FROM chats c WHERE c.id = $1::uuid AND c.owner_id = $2::text "
        "AND c.api_key_id IS NULL RETURNING c.id::text", 2 },

    /* ---- hybrid search (knowledge/search.c) and RAG turns (jobs/chat.c).
     * Knowledge base ids travel as one uuid[] literal ("{a,b}"): the
     * caller has already checked they are the user's. */

    /* $1 knowledge base ids, $2 the caller.  The embedding models the
     * caller's bases among them use: a query is embedded once, so more
     * than one row is refused by the caller, and none means not found. */
    [MG_Q_KB_SEARCH_MODELS] = { "mg_kb_search_models",
        "SELECT DISTINCT k.embedding_model FROM knowledge_bases k "
        "WHERE k.id = ANY($1::uuid[]) AND k.owner_id = $2::text", 2 },

    /* Hybrid retrieval in three statements (knowledge/search.c fuses the
     * halves by reciprocal rank fusion and keeps the best): as one
     * statement with the fusion in SQL, planning alone cost 1.3-1.9 ms
     * and the fusion 2-3 ms more, twice what both halves cost.  Each
     * takes its LIMIT as a parameter on purpose: it keeps every execution
     * on a custom plan (a generic plan costed with an unknown LIMIT
     * loses), which for a small base among many walks that base's btree
     * index exactly (1.8 ms for 20 chunks among 100k) where a generic
     * HNSW plan took 100 ms and came back empty for one query in three.
     * Only chunks of 'ready' documents of the given bases ever appear. */

    /* $1 knowledge base ids, $2 the query's embedding (pgvector text), $3
     * how many.  The vector half: nearest chunks by cosine distance, on
     * the HNSW index.  The knowledge-base and 'ready' filters sit in the
     * same scan; with hnsw.iterative_scan = relaxed_order (set on every
     * connection, db.c) the index keeps scanning until $3 rows pass the
     * filter instead of returning ef_search candidates and filtering them
     * to nothing.  relaxed_order may yield rows slightly out of order:
     * the caller ranks them by distance again. */
    [MG_Q_KB_SEARCH_VEC] = { "mg_kb_search_vec",
        "SELECT c.id::text, (c.embedding <=> $2::vector)::float8 "
        "FROM knowledge_chunks c WHERE c.knowledge_base_id = ANY($1::uuid[]) "
        "AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
        "ORDER BY c.embedding <=> $2::vector LIMIT $3::int", 3 },

    /* $1 knowledge base ids, $2 the query text, $3 how many, $4 the
     * query's embedding.  The full-text half, best first, on the
     * GIN-indexed tsv: chunks holding every word of the question first
     * (txt_all), then, only when those are fewer than $3, chunks holding
     * some of them (txt_any: a question rarely shares every word with its
     * answer, "colour" is not in "painted red"); each tier ranked by
     * ts_rank over the ORed words, so chunks with more of them come
     * first.  Tiers keep a common word from making every query rank a
     * topic's whole share of chunks (~900 of 100k for four words of one
     * topic, against ~120 with all four), and ts_rank, not ts_rank_cd,
     * whose proximity measure cost 7 ms there.  With each chunk's cosine
     * distance to the query, for the threshold. */
    [MG_Q_KB_SEARCH_TXT] = { "mg_kb_search_txt",
        "WITH tq AS (SELECT NULLIF(replace(plainto_tsquery('english', $2::text)::text, '&', '|'), '')::tsquery AS q, "
        "  plainto_tsquery('english', $2::text) AS qall), "
        "txt_all AS MATERIALIZED (SELECT c.id, ts_rank(c.tsv, tq.q) AS rank "
        "  FROM knowledge_chunks c, tq WHERE c.tsv @@ tq.qall "
        "  AND c.knowledge_base_id = ANY($1::uuid[]) "
        "  AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
        "  ORDER BY rank DESC, c.id LIMIT $3::int), "
        "txt_any AS MATERIALIZED (SELECT c.id, ts_rank(c.tsv, tq.q) AS rank "
        "  FROM knowledge_chunks c, tq WHERE (SELECT count(*) FROM txt_all) < $3::int "
        "  AND c.tsv @@ tq.q AND NOT c.tsv @@ tq.qall "
        "  AND c.knowledge_base_id = ANY($1::uuid[]) "
        "  AND EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.status = 'ready') "
        "  ORDER BY rank DESC, c.id LIMIT $3::int) "
        "SELECT c.id::text, (c.embedding <=> $4::vector)::float8 "
        "FROM (SELECT id, rank, 0 AS tier FROM txt_all UNION ALL SELECT id, rank, 1 FROM txt_any) u "
        "JOIN knowledge_chunks c ON c.id = u.id "
        "ORDER BY u.tier, u.rank DESC, u.id LIMIT $3::int", 4 },

    /* $1 chunk ids (the fused best), $2 the query text.  Those chunks
     * whole, in any order, with whether each holds at least two thirds of
     * the question's words (what chat grounding counts as relevant beside
     * similarity; one shared common word is not enough). */
    [MG_Q_KB_SEARCH_ROWS] = { "mg_kb_search_rows",
        "WITH tq AS (SELECT tsvector_to_array(to_tsvector('english', $2::text)) AS words) "
        "SELECT c.id::text, c.document_id::text, d.filename, c.heading, c.text, c.page, "
        "  3 * (SELECT count(*) FROM tq, unnest(tq.words) w WHERE c.tsv @@ quote_literal(w)::tsquery) "
        "    >= 2 * (SELECT cardinality(words) FROM tq) "
        "FROM knowledge_chunks c JOIN documents d ON d.id = c.document_id AND d.status = 'ready' "
        "WHERE c.id = ANY($1::uuid[])", 2 },

    /* ---- agents (jobs/agents.c): the marketplace shows published
     * agents; administrators see and manage all. */

    /* $1 category or NULL, $2 text to find in the name or description
     * (case-insensitive) or NULL, $3 every status (administrators) or only
     * published, $4 limit.  Newest first. */
    [MG_Q_AGENT_LIST_FIRST] = { "mg_agent_list_first",
        "SELECT " MG_AGENT_SELECT " FROM agents a "
        "WHERE ($3::boolean OR a.status = 'published') "
        "AND ($1::text IS NULL OR a.category = $1::text) "
        "AND ($2::text IS NULL OR strpos(lower(a.name), lower($2::text)) > 0 "
        "  OR strpos(lower(a.description), lower($2::text)) > 0) "
        "ORDER BY a.created_at DESC, a.id DESC LIMIT $4::int", 4 },

    /* The same after the cursor: $4 created_at (µs), $5 id, $6 limit. */
    [MG_Q_AGENT_LIST_AFTER] = { "mg_agent_list_after",
        "SELECT " MG_AGENT_SELECT " FROM agents a "
        "WHERE ($3::boolean OR a.status = 'published') "
        "AND ($1::text IS NULL OR a.category = $1::text) "
        "AND ($2::text IS NULL OR strpos(lower(a.name), lower($2::text)) > 0 "
        "  OR strpos(lower(a.description), lower($2::text)) > 0) "
        "AND (a.created_at, a.id) < "
        "('epoch'::timestamptz + $4::bigint * interval '1 microsecond', $5::uuid) "
        "ORDER BY a.created_at DESC, a.id DESC LIMIT $6::int", 6 },

    /* The marketplace's categories with how many published agents each. */
    [MG_Q_AGENT_CATEGORIES] = { "mg_agent_categories",
        "SELECT COALESCE(json_agg(json_build_object('category', c.category, 'agents', c.n) "
        "  ORDER BY c.category), '[]'::json)::text "
        "FROM (SELECT a.category, count(*) AS n FROM agents a WHERE a.status = 'published' "
        "  GROUP BY a.category) c", 0 },

    /* $1 id, $2 any status (administrators) or only published. */
    [MG_Q_AGENT_GET] = { "mg_agent_get",
        "SELECT " MG_AGENT_SELECT " FROM agents a "
        "WHERE a.id = $1::uuid AND ($2::boolean OR a.status = 'published')", 2 },

    /* $1 new id, $2 sub-agents, $3 deepest chain, $4 creator, $5 name,
     * $6 category, $7 description, $8 model, $9 instructions, $10
     * temperature, $11 max_tokens, $12 tools, $13 max_steps, $14
     * timeout_seconds, $15 tool_timeout_seconds, $16 status.  One row:
     * the verdict's three checks, then the agent or NULL when one failed
     * (nothing written).  A taken name is the unique violation
     * agents_name_key. */
    [MG_Q_AGENT_INSERT] = { "mg_agent_insert",
        "WITH RECURSIVE " MG_AGENT_GRAPH_CHECK ", "
        "ins AS (INSERT INTO agents AS a (id, owner_id, name, category, description, model_id, "
        "  instructions, temperature, max_tokens, tools, max_steps, timeout_seconds, "
        "  tool_timeout_seconds, status) "
        "  SELECT $1::uuid, (SELECT u.id FROM users u WHERE u.id = $4::text), $5::text, $6::text, "
        "  $7::text, $8::text, $9::text, $10::float8, $11::int, $12::text[], $13::int, $14::int, "
        "  $15::int, $16::text FROM verdict WHERE subs_ok AND acyclic AND shallow "
        "  RETURNING " MG_AGENT_JSON("to_json(COALESCE($2::uuid[], '{}'))") "), "
        "links AS (INSERT INTO agent_sub_agents (agent_id, sub_agent_id, position) "
        "  SELECT $1::uuid, n.id, n.ord - 1 FROM new_subs n WHERE EXISTS (SELECT 1 FROM ins)) "
        "SELECT v.subs_ok, v.acyclic, v.shallow, (SELECT * FROM ins) FROM verdict v", 16 },

    /* $1 id, $2 sub-agents or NULL (unchanged), $3 deepest chain, $4..$15
     * new values or NULL to keep: name, category, description, model,
     * instructions, temperature, max_tokens, tools, max_steps,
     * timeout_seconds, tool_timeout_seconds, status.  One row: found, the
     * verdict, then the agent or NULL. */
    /* $1 agent: the sub-agents its turn may hand work to (not retired), in
     * the order its model is offered them: id, name, description */
    [MG_Q_AGENT_SUBS_RUN] = { "mg_agent_subs_run",
        "SELECT s.id::text, s.name, s.description FROM agent_sub_agents x "
        "JOIN agents s ON s.id = x.sub_agent_id "
        "WHERE x.agent_id = $1::uuid AND s.status <> 'retired' ORDER BY x.position", 1 },

    [MG_Q_AGENT_UPDATE] = { "mg_agent_update",
        "WITH RECURSIVE " MG_AGENT_GRAPH_CHECK ", "
        "upd AS (UPDATE agents AS a SET name = COALESCE($4::text, a.name), "
        "  category = COALESCE($5::text, a.category), "
        "  description = COALESCE($6::text, a.description), "
        "  model_id = COALESCE($7::text, a.model_id), "
        "  instructions = COALESCE($8::text, a.instructions), "
        "  temperature = COALESCE($9::float8, a.temperature), "
        "  max_tokens = COALESCE($10::int, a.max_tokens), "
        "  tools = COALESCE($11::text[], a.tools), "
        "  max_steps = COALESCE($12::int, a.max_steps), "
        "  timeout_seconds = COALESCE($13::int, a.timeout_seconds), "
        "  tool_timeout_seconds = COALESCE($14::int, a.tool_timeout_seconds), "
        "  status = COALESCE($15::text, a.status), updated_at = now() "
        "  FROM verdict v WHERE a.id = $1::uuid "
        "  AND ($2::uuid[] IS NULL OR (v.subs_ok AND v.acyclic AND v.shallow)) "
        "  RETURNING " MG_AGENT_JSON("CASE WHEN $2::uuid[] IS NULL THEN " MG_AGENT_SUBS
                                     " ELSE to_json($2::uuid[]) END") "), "
        "drop_links AS (DELETE FROM agent_sub_agents x WHERE x.agent_id = $1::uuid "
        "  AND $2::uuid[] IS NOT NULL AND EXISTS (SELECT 1 FROM upd) "
        "  AND x.sub_agent_id <> ALL($2::uuid[])), "
        "links AS (INSERT INTO agent_sub_agents (agent_id, sub_agent_id, position) "
        "  SELECT $1::uuid, n.id, n.ord - 1 FROM new_subs n WHERE EXISTS (SELECT 1 FROM upd) "
        "  ON CONFLICT (agent_id, sub_agent_id) DO UPDATE SET position = EXCLUDED.position) "
        "SELECT EXISTS (SELECT 1 FROM agents a WHERE a.id = $1::uuid), "
        "  $2::uuid[] IS NULL OR v.subs_ok, $2::uuid[] IS NULL OR v.acyclic, "
        "  $2::uuid[] IS NULL OR v.shallow, (SELECT * FROM upd) FROM verdict v", 15 },

    /* $1 bot, $2 the bot's owner.  The knowledge bases a RAG bot grounds
     * its answers in (only its owner's: whoever chats reads them through
     * the bot). */
    [MG_Q_BOT_RAG_KBS] = { "mg_bot_rag_kbs",
        "SELECT l.knowledge_base_id::text FROM bot_knowledge_bases l "
        "JOIN knowledge_bases k ON k.id = l.knowledge_base_id AND k.owner_id = $2::text "
        "WHERE l.bot_id = $1::uuid ORDER BY l.knowledge_base_id LIMIT 10", 2 },

    /* ---- usage (jobs/usage.c): reports over the usage rows chat turns
     * write, per user per UTC day.  Dates come in as 'YYYY-MM-DD' text
     * the worker has already checked, and leave as days since
     * 1970-01-01 (the worker formats them: no DateStyle dependence).  A
     * row that counts nothing (only a hand-made one can) is no usage. */

    /* Today, the UTC day usage rows are written under (as chat.c's
     * statements do), in days since 1970-01-01. */
    [MG_Q_USAGE_TODAY] = { "mg_usage_today",
        "SELECT (now() AT TIME ZONE 'UTC')::date - DATE '1970-01-01'", 0 },

    /* $1 user, $2 from, $3 to (inclusive), $4 today, $5 the daily token
     * quota (0: none).  One snapshot for the days, their totals and
     * today's tokens; the days oldest first, or one row with NULL day
     * columns when the range has none (MG_UDAY_COL_*).  The total sums
     * are numeric: they cannot overflow. */
    [MG_Q_USAGE_DAYS] = { "mg_usage_days",
        "SELECT t.i, t.o, "
        "  CASE WHEN $5::bigint > 0 THEN greatest($5::bigint - t.i - t.o, 0) END, "
        "  COALESCE(sum(g.requests) OVER (), 0), COALESCE(sum(g.input_tokens) OVER (), 0), "
        "  COALESCE(sum(g.output_tokens) OVER (), 0), "
        "  g.day - DATE '1970-01-01', g.requests, g.input_tokens, g.output_tokens "
        "FROM (SELECT COALESCE(max(u.input_tokens), 0) AS i, COALESCE(max(u.output_tokens), 0) AS o "
        "  FROM usage u WHERE u.user_id = $1::text AND u.day = $4::date) t "
        "LEFT JOIN usage g ON g.user_id = $1::text AND g.day BETWEEN $2::date AND $3::date "
        "  AND " MG_USAGE_COUNTS("g") " "
        "ORDER BY g.day", 5 },

    /* $1 from, $2 to (inclusive), $3 one user's id or NULL for everyone,
     * $4 the cursor's tokens or NULL for the first page, $5 the cursor's
     * user id, $6 limit.  Per-user totals over the range, most tokens
     * (input + output) first, then by id; the keyset runs over those
     * aggregates, so there is no index to seek and FIRST/AFTER variants
     * would buy nothing.  Every row carries the totals over all the
     * users selected (not just this page), from the same snapshot; an
     * empty page is one row with NULL user columns (MG_UUSER_COL_*). */
    [MG_Q_USAGE_BY_USER] = { "mg_usage_by_user",
        "WITH per AS (SELECT g.user_id, sum(g.requests)::bigint AS requests, "
        "  sum(g.input_tokens)::bigint AS input_tokens, "
        "  sum(g.output_tokens)::bigint AS output_tokens "
        "  FROM usage g WHERE g.day BETWEEN $1::date AND $2::date "
        "  AND ($3::text IS NULL OR g.user_id = $3::text) AND " MG_USAGE_COUNTS("g") " "
        "  GROUP BY g.user_id), "
        "tot AS (SELECT COALESCE(sum(p.requests), 0) AS requests, "
        "  COALESCE(sum(p.input_tokens), 0) AS input_tokens, "
        "  COALESCE(sum(p.output_tokens), 0) AS output_tokens FROM per p), "
        "page AS (SELECT p.user_id, p.requests, p.input_tokens, p.output_tokens, "
        "  p.input_tokens + p.output_tokens AS tokens FROM per p "
        "  WHERE $4::bigint IS NULL OR p.input_tokens + p.output_tokens < $4::bigint "
        "  OR (p.input_tokens + p.output_tokens = $4::bigint AND p.user_id > $5::text) "
        "  ORDER BY tokens DESC, p.user_id LIMIT $6::int) "
        "SELECT tot.requests, tot.input_tokens, tot.output_tokens, "
        "  pg.user_id, u.username, pg.requests, pg.input_tokens, pg.output_tokens, pg.tokens "
        "FROM tot LEFT JOIN (page pg JOIN users u ON u.id = pg.user_id) ON true "
        "ORDER BY pg.tokens DESC, pg.user_id", 6 },
    /* ---- knowledge bases (jobs/knowledge.c).  Every statement is scoped
     * by owner, so another user's base is a missing one. */

    /* $1 id, $2 owner, $3 name, $4 description, $5 embedding model */
    [MG_Q_KB_INSERT] = { "mg_kb_insert",
        "INSERT INTO knowledge_bases AS k (id, owner_id, name, description, "
        "embedding_model) VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text) "
        "ON CONFLICT (id) DO NOTHING RETURNING " MG_KB_SELECT, 5 },

    /* $1 id, $2 owner */
    [MG_Q_KB_GET] = { "mg_kb_get",
        "SELECT " MG_KB_SELECT " FROM knowledge_bases k "
        "WHERE k.id = $1::uuid AND k.owner_id = $2::text", 2 },

    /* $1 owner, $2 limit */
    [MG_Q_KB_LIST_FIRST] = { "mg_kb_list_first",
        "SELECT " MG_KB_SELECT " FROM knowledge_bases k WHERE k.owner_id = $1::text "
        "ORDER BY k.created_at DESC, k.id DESC LIMIT $2::int", 2 },

    /* $1 owner, $2 cursor created_at (µs), $3 cursor id, $4 limit */
    [MG_Q_KB_LIST_AFTER] = { "mg_kb_list_after",
        "SELECT " MG_KB_SELECT " FROM knowledge_bases k WHERE k.owner_id = $1::text "
        "AND (k.created_at, k.id) < "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid) "
        "ORDER BY k.created_at DESC, k.id DESC LIMIT $4::int", 4 },

    /* $1 id, $2 owner, $3 name, $4 description (NULL: keep) */
    [MG_Q_KB_UPDATE] = { "mg_kb_update",
        "UPDATE knowledge_bases AS k SET name = COALESCE($3::text, k.name), "
        "description = COALESCE($4::text, k.description), updated_at = now() "
        "WHERE k.id = $1::uuid AND k.owner_id = $2::text RETURNING " MG_KB_SELECT, 4 },

    /* $1 id, $2 owner.  Documents, chunks and bot links cascade. */
    [MG_Q_KB_DELETE] = { "mg_kb_delete",
        "DELETE FROM knowledge_bases k WHERE k.id = $1::uuid AND k.owner_id = $2::text "
        "RETURNING k.id::text", 2 },

    /* $1 id, $2 owner: its embedding model, no row when not the owner's */
    [MG_Q_KB_OWNED] = { "mg_kb_owned",
        "SELECT k.embedding_model FROM knowledge_bases k "
        "WHERE k.id = $1::uuid AND k.owner_id = $2::text", 2 },

    /* ---- documents (jobs/documents.c) */

    /* $1 id, $2 knowledge base, $3 owner, $4 filename, $5 content type,
     * $6 source URL or NULL, $7 size, $8 sha256 hex ('' for a URL), $9 the
     * body (bytea text form) or NULL.  No row: the base is not the
     * owner's, the same content is already in it (the unique index; a
     * concurrent twin waits for the first and does nothing), or a re-run
     * found its own row. */
    [MG_Q_DOC_INSERT] = { "mg_doc_insert",
        "INSERT INTO documents AS d (id, knowledge_base_id, owner_id, filename, "
        "content_type, source_url, size_bytes, content_sha256, body) "
        "SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text, "
        "$7::bigint, $8::text, $9::bytea WHERE " MG_KB_OWNED("$2::uuid", "$3::text") " "
        "ON CONFLICT DO NOTHING RETURNING " MG_DOC_SELECT, 9 },

    /* $1 knowledge base, $2 owner, $3 sha256 hex: the document holding
     * that content */
    [MG_Q_DOC_BY_SHA] = { "mg_doc_by_sha",
        "SELECT " MG_DOC_SELECT " FROM documents d WHERE d.knowledge_base_id = $1::uuid "
        "AND d.owner_id = $2::text AND d.content_sha256 = $3::text AND $3::text <> ''", 3 },

    /* $1 id, $2 knowledge base, $3 owner */
    [MG_Q_DOC_GET] = { "mg_doc_get",
        "SELECT " MG_DOC_SELECT " FROM documents d WHERE d.id = $1::uuid "
        "AND d.knowledge_base_id = $2::uuid AND d.owner_id = $3::text", 3 },

    /* $1 knowledge base, $2 owner, $3 limit */
    [MG_Q_DOC_LIST_FIRST] = { "mg_doc_list_first",
        "SELECT " MG_DOC_SELECT " FROM documents d WHERE d.knowledge_base_id = $1::uuid "
        "AND d.owner_id = $2::text ORDER BY d.created_at DESC, d.id DESC LIMIT $3::int", 3 },

    /* $1 knowledge base, $2 owner, $3 cursor created_at (µs), $4 cursor id,
     * $5 limit */
    [MG_Q_DOC_LIST_AFTER] = { "mg_doc_list_after",
        "SELECT " MG_DOC_SELECT " FROM documents d WHERE d.knowledge_base_id = $1::uuid "
        "AND d.owner_id = $2::text AND (d.created_at, d.id) < "
        "('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid) "
        "ORDER BY d.created_at DESC, d.id DESC LIMIT $5::int", 5 },

    /* $1 id, $2 knowledge base, $3 owner.  Its chunks cascade; an ingest
     * under way finds it gone at its next step. */
    [MG_Q_DOC_DELETE] = { "mg_doc_delete",
        "DELETE FROM documents d WHERE d.id = $1::uuid AND d.knowledge_base_id = $2::uuid "
        "AND d.owner_id = $3::text RETURNING d.id::text", 3 },

    /* $1 id, $2 knowledge base, $3 owner: a failed document back in the
     * queue.  No row: no such document, or it is not failed. */
    [MG_Q_DOC_RETRY] = { "mg_doc_retry",
        "UPDATE documents AS d SET status = 'queued', error = NULL, chunks_done = 0, "
        "chunks_total = 0, attempts = 0, lease_until = NULL, leased_by = NULL, "
        "updated_at = now() WHERE d.id = $1::uuid AND d.knowledge_base_id = $2::uuid "
        "AND d.owner_id = $3::text AND d.status = 'failed' RETURNING " MG_DOC_SELECT, 3 },

    /* wake the ingest threads (knowledge/ingest.h) */
    [MG_Q_INGEST_NOTIFY] = { "mg_ingest_notify",
        "SELECT pg_notify('mangoo_ingest', '')", 0 },

    /* ---- the ingest queue (knowledge/ingest.c).  Run unprepared on the
     * ingest thread's own connection. */

    /* $1 lease holder, $2 lease seconds.  The oldest document waiting, or
     * one whose lease ran out (its worker died), or one this holder let go
     * of when its connection failed; skipping rows another thread is
     * claiming.  One row (MG_CLAIM_COL_*) or none. */
    [MG_Q_INGEST_CLAIM] = { "mg_ingest_claim",
        "UPDATE documents AS d SET status = 'processing', leased_by = $1::text, "
        "lease_until = now() + $2::int * interval '1 second', attempts = d.attempts + 1, "
        "chunks_done = 0, error = NULL, updated_at = now() "
        "FROM knowledge_bases k WHERE k.id = d.knowledge_base_id AND d.id = ("
        "SELECT q.id FROM documents q WHERE q.status IN ('queued', 'processing') "
        "AND (q.status = 'queued' OR q.lease_until < now() OR q.leased_by = $1::text) "
        "ORDER BY q.created_at LIMIT 1 FOR UPDATE OF q SKIP LOCKED) "
        "RETURNING d.id::text, d.knowledge_base_id::text, d.content_type, d.source_url, "
        "d.body IS NOT NULL, k.embedding_model, d.attempts", 2 },

    /* $1 id, $2 lease holder: the stored body (read in binary) */
    [MG_Q_INGEST_BODY] = { "mg_ingest_body",
        "SELECT d.body FROM documents d WHERE " MG_INGEST_HELD, 2 },

    /* $1 id, $2 lease holder, $3 the fetched page (binary), $4 its media
     * type, $5 its size: kept for retries */
    [MG_Q_INGEST_STORE_BODY] = { "mg_ingest_store_body",
        "UPDATE documents AS d SET body = $3::bytea, content_type = $4::text, "
        "size_bytes = $5::bigint, updated_at = now() WHERE " MG_INGEST_HELD
        " RETURNING 1", 5 },

    /* $1 id, $2 lease holder, $3 chunks embedded, $4 chunks in all, $5
     * lease seconds.  Renews the lease; no row: the document was deleted
     * or another thread took it over, so this one stops. */
    [MG_Q_INGEST_PROGRESS] = { "mg_ingest_progress",
        "UPDATE documents AS d SET chunks_done = $3::int, chunks_total = $4::int, "
        "lease_until = now() + $5::int * interval '1 second', updated_at = now() "
        "WHERE " MG_INGEST_HELD " RETURNING 1", 5 },

    /* $1 id, $2 lease holder, $3 the reason.  Failed and nothing of it
     * left searchable. */
    [MG_Q_INGEST_FAIL] = { "mg_ingest_fail",
        "WITH f AS (UPDATE documents AS d SET status = 'failed', error = $3::text, "
        "chunks_done = 0, lease_until = NULL, leased_by = NULL, updated_at = now() "
        "WHERE " MG_INGEST_HELD " RETURNING d.id) "
        "DELETE FROM knowledge_chunks c USING f WHERE c.document_id = f.id", 3 },

    /* $1 id, $2 lease holder, inside the final transaction: lock the row
     * while still held and drop any chunks of an earlier run.  One row:
     * 1 when held, 0 when not (then roll back). */
    [MG_Q_INGEST_CHUNK_DELETE] = { "mg_ingest_chunk_delete",
        "WITH h AS (SELECT d.id FROM documents d WHERE " MG_INGEST_HELD " FOR UPDATE), "
        "x AS (DELETE FROM knowledge_chunks c USING h WHERE c.document_id = h.id) "
        "SELECT count(*) FROM h", 2 },

    /* $1 document, $2 knowledge base, $3 ordinal, $4 text, $5 embedding
     * (pgvector text), $6 page or NULL, $7 heading path, $8 first
     * character, $9 character after the last, $10 embedding model */
    [MG_Q_INGEST_CHUNK_INSERT] = { "mg_ingest_chunk_insert",
        "INSERT INTO knowledge_chunks (document_id, knowledge_base_id, chunk_index, "
        "text, embedding, page, heading, char_start, char_end, embedding_model) "
        "VALUES ($1::uuid, $2::uuid, $3::int, $4::text, $5::vector, $6::int, $7::text, "
        "$8::int, $9::int, $10::text)", 10 },

    /* $1 id, $2 lease holder, $3 chunks.  Last step of the final
     * transaction; no row: not held any more (roll back). */
    [MG_Q_INGEST_READY] = { "mg_ingest_ready",
        "UPDATE documents AS d SET status = 'ready', error = NULL, chunks_done = $3::int, "
        "chunks_total = $3::int, lease_until = NULL, leased_by = NULL, updated_at = now() "
        "WHERE " MG_INGEST_HELD " RETURNING 1", 3 },

    /* ---- bots' knowledge bases (jobs/bots.c) */

    /* $1 bot, $2 owner, $3 the new ids (uuid[], distinct, first = the
     * bot's knowledge_base_id).  One row: all the ids are the owner's,
     * and the bot was updated.  Nothing changes unless both. */
    [MG_Q_BOT_KBS_SET] = { "mg_bot_kbs_set",
        "WITH ok AS (SELECT count(*) = cardinality($3::uuid[]) AS good "
        "FROM knowledge_bases k WHERE k.id = ANY ($3::uuid[]) AND k.owner_id = $2::text), "
        "b AS (UPDATE bots SET knowledge_base_id = ($3::uuid[])[1], updated_at = now() "
        "WHERE id = $1::uuid AND owner_id = $2::text AND (SELECT good FROM ok) RETURNING id), "
        "del AS (DELETE FROM bot_knowledge_bases x USING b WHERE x.bot_id = b.id "
        "AND x.knowledge_base_id <> ALL ($3::uuid[])), "
        "ins AS (INSERT INTO bot_knowledge_bases (bot_id, knowledge_base_id) "
        "SELECT b.id, u FROM b, unnest($3::uuid[]) u ON CONFLICT DO NOTHING) "
        "SELECT (SELECT good FROM ok), EXISTS (SELECT 1 FROM b)", 3 },

    /* ---- agents' tools */

    /* $1 owner: the bases one knowledge_search covers, those sharing the
     * embedding model of the one changed last (a query vector fits one
     * model), newest first, as many as mg_search takes */
    [MG_Q_TOOL_KB_IDS] = { "mg_tool_kb_ids",
        "SELECT k.id::text FROM knowledge_bases k WHERE k.owner_id = $1::text "
        "AND k.embedding_model = (SELECT l.embedding_model FROM knowledge_bases l "
        "  WHERE l.owner_id = $1::text ORDER BY l.updated_at DESC, l.id DESC LIMIT 1) "
        "ORDER BY k.updated_at DESC, k.id DESC LIMIT 10", 1 },

    /* The audit of tool calls, newest first: $1 one user or NULL for
     * everyone, $2 one tool or NULL, $3 limit. */
    [MG_Q_TOOL_CALLS_FIRST] = { "mg_tool_calls_first",
        "SELECT " MG_TOOL_CALL_SELECT " FROM tool_calls t "
        "WHERE ($1::text IS NULL OR t.user_id = $1::text) AND ($2::text IS NULL OR t.tool = $2::text) "
        "ORDER BY t.created_at DESC, t.id DESC LIMIT $3::int", 3 },

    /* The same after the cursor: $3 created_at (µs), $4 id, $5 limit. */
    [MG_Q_TOOL_CALLS_AFTER] = { "mg_tool_calls_after",
        "SELECT " MG_TOOL_CALL_SELECT " FROM tool_calls t "
        "WHERE ($1::text IS NULL OR t.user_id = $1::text) AND ($2::text IS NULL OR t.tool = $2::text) "
        "AND (t.created_at, t.id) < "
        "('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid) "
        "ORDER BY t.created_at DESC, t.id DESC LIMIT $5::int", 5 },

    /* ---- MCP servers */

    [MG_Q_MCP_LIST] = { "mg_mcp_list",
        "SELECT " MG_MCP_JSON " FROM mcp_servers m ORDER BY m.name", 0 },

    /* $1 id */
    [MG_Q_MCP_GET] = { "mg_mcp_get",
        "SELECT " MG_MCP_JSON " FROM mcp_servers m WHERE m.id = $1::uuid", 1 },

    /* $1 name, $2 description, $3 transport, $4 url, $5 headers, $6
     * command, $7 env, $8 allowed tools, $9 enabled.  A taken name is the
     * unique violation mcp_servers_name_key. */
    [MG_Q_MCP_INSERT] = { "mg_mcp_insert",
        "INSERT INTO mcp_servers AS m (name, description, transport, url, headers, command, env, "
        "  allowed_tools, enabled) "
        "VALUES ($1::text, COALESCE($2::text, ''), $3::text, $4::text, "
        "  COALESCE($5::jsonb, '{}'), $6::text[], COALESCE($7::jsonb, '{}'), "
        "  COALESCE($8::text[], '{}'), COALESCE($9::boolean, true)) "
        "RETURNING " MG_MCP_JSON, 9 },

    /* $1 id, then as for insert, NULL to keep; $10 true: the transport
     * changed (url and command replaced by $4 and $6 as given).  A change
     * of how the server is reached drops the cached tools. */
    [MG_Q_MCP_UPDATE] = { "mg_mcp_update",
        "UPDATE mcp_servers AS m SET name = COALESCE($2::text, m.name), "
        "  description = COALESCE($3::text, m.description), "
        "  transport = COALESCE($4::text, m.transport), "
        "  url = CASE WHEN $11::boolean THEN $5::text ELSE COALESCE($5::text, m.url) END, "
        "  headers = COALESCE($6::jsonb, m.headers), "
        "  command = CASE WHEN $11::boolean THEN $7::text[] ELSE COALESCE($7::text[], m.command) END, "
        "  env = COALESCE($8::jsonb, m.env), "
        "  allowed_tools = COALESCE($9::text[], m.allowed_tools), "
        "  enabled = COALESCE($10::boolean, m.enabled), "
        "  tools = CASE WHEN $11::boolean OR $5::text IS NOT NULL OR $7::text[] IS NOT NULL "
        "    THEN NULL ELSE m.tools END, "
        "  updated_at = now() "
        "WHERE m.id = $1::uuid RETURNING " MG_MCP_JSON, 11 },

    /* $1 id */
    [MG_Q_MCP_DELETE] = { "mg_mcp_delete",
        "DELETE FROM mcp_servers m WHERE m.id = $1::uuid RETURNING m.id::text", 1 },

    /* $1 id: how to reach it (with the secrets), for a worker's client */
    [MG_Q_MCP_CONFIG] = { "mg_mcp_config",
        "SELECT m.name, m.transport, m.url, m.headers::text, to_json(m.command)::text, "
        "  m.env::text, m.enabled, " MG_US("m.updated_at") " "
        "FROM mcp_servers m WHERE m.id = $1::uuid", 1 },

    /* $1 id, $2 its tools (a JSON array) */
    [MG_Q_MCP_TOOLS_SET] = { "mg_mcp_tools_set",
        "UPDATE mcp_servers m SET tools = $2::jsonb, tools_listed_at = now(), last_error = NULL "
        "WHERE m.id = $1::uuid RETURNING " MG_MCP_JSON, 2 },

    /* $1 id, $2 why the server could not be reached */
    [MG_Q_MCP_FAILED] = { "mg_mcp_failed",
        "UPDATE mcp_servers m SET last_error = $2::text WHERE m.id = $1::uuid", 2 },

    /* $1 agent: for each of its tools "mcp:<server>/<tool>" of an
     * enabled server that allows it and listed it, the server's id and
     * name, and the tool as listed (JSON), in the agent's order */
    [MG_Q_MCP_AGENT_TOOLS] = { "mg_mcp_agent_tools",
        "SELECT m.id::text, m.name, t::text FROM agents a "
        "CROSS JOIN LATERAL unnest(a.tools) WITH ORDINALITY r(ref, ord) "
        "JOIN mcp_servers m ON r.ref LIKE 'mcp:%' "
        "  AND m.name = split_part(substr(r.ref, 5), '/', 1) AND m.enabled "
        "CROSS JOIN LATERAL jsonb_array_elements(COALESCE(m.tools, '[]')) t "
        "WHERE a.id = $1::uuid AND t->>'name' = split_part(substr(r.ref, 5), '/', 2) "
        "  AND t->>'name' = ANY (m.allowed_tools) ORDER BY r.ord", 1 },
    /* ---- API keys and the published bot (jobs/api_keys.c, published.c).
     * Keys are matched by their SHA-256 as 64 hex digits; the key itself
     * never reaches the database.  Every owner statement names the bot
     * and its owner, so another's bot is simply not found. */

    /* $1 bot, $2 owner.  No row: not the owner's bot.  Its quotas. */
    [MG_Q_APIKEY_BOT] = { "mg_apikey_bot",
        "SELECT b.api_quota_requests, b.api_quota_tokens FROM bots b "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text", 2 },

    /* $1 id, $2 bot, $3 owner, $4 name, $5 prefix, $6 hex SHA-256 of the
     * key, $7 rate per second, $8 burst, $9 expiry (epoch seconds) or
     * NULL.  No row: not the owner's bot. */
    [MG_Q_APIKEY_INSERT] = { "mg_apikey_insert",
        "INSERT INTO api_keys AS k (id, bot_id, owner_id, name, prefix, key_hash, "
        "  rate_per_second, burst, expires_at) "
        "SELECT $1::uuid, b.id, b.owner_id, $4::text, $5::text, decode($6::text, 'hex'), "
        "  $7::float8, $8::int, to_timestamp($9::float8) "
        "FROM bots b WHERE b.id = $2::uuid AND b.owner_id = $3::text "
        "RETURNING " MG_APIKEY_JSON, 9 },

    /* $1 bot, $2 owner.  Newest first; a bot has few keys. */
    [MG_Q_APIKEY_LIST] = { "mg_apikey_list",
        "SELECT " MG_APIKEY_JSON " FROM api_keys k "
        "WHERE k.bot_id = $1::uuid AND k.owner_id = $2::text "
        "ORDER BY k.created_at DESC, k.id DESC LIMIT 1000", 2 },

    /* $1 key, $2 bot, $3 owner.  Revoked once: a second revoke keeps the
     * first time.  No row: no such key of that bot of the owner. */
    [MG_Q_APIKEY_REVOKE] = { "mg_apikey_revoke",
        "UPDATE api_keys k SET revoked_at = COALESCE(k.revoked_at, now()) "
        "WHERE k.id = $1::uuid AND k.bot_id = $2::uuid AND k.owner_id = $3::text "
        "RETURNING " MG_APIKEY_JSON, 3 },

    /* $1 key, $2 bot, $3 owner, $4 days (1..366).  No row: no such key.
     * Every day of the range up to today (UTC), oldest first, zeros
     * where nothing was used. */
    [MG_Q_APIKEY_USAGE] = { "mg_apikey_usage",
        "SELECT json_build_object('key_id', k.id, 'days', "
        "  (SELECT json_agg(json_build_object('day', to_char(d.day, 'YYYY-MM-DD'), "
        "   'requests', COALESCE(u.requests, 0), 'input_tokens', COALESCE(u.input_tokens, 0), "
        "   'output_tokens', COALESCE(u.output_tokens, 0)) ORDER BY d.day) "
        "   FROM (SELECT g::date AS day FROM generate_series("
        "     (now() AT TIME ZONE 'UTC')::date - ($4::int - 1), "
        "     (now() AT TIME ZONE 'UTC')::date, interval '1 day') g) d "
        "   LEFT JOIN api_key_usage u ON u.key_id = k.id AND u.day = d.day))::text "
        "FROM api_keys k "
        "WHERE k.id = $1::uuid AND k.bot_id = $2::uuid AND k.owner_id = $3::text", 4 },

    /* $1 hex SHA-256 of a key.  For the module's cache (apikeys.verify):
     * what the key may do and until when.  No row: no such key, its bot
     * is gone or its owner disabled (the key is simply invalid). */
    [MG_Q_APIKEY_VERIFY] = { "mg_apikey_verify",
        "SELECT k.id::text, k.bot_id::text, k.rate_per_second, k.burst, "
        "  floor(extract(epoch FROM k.expires_at))::bigint, k.revoked_at IS NOT NULL, "
        "  k.expires_at IS NOT NULL AND k.expires_at <= now() "
        "FROM api_keys k JOIN bots b ON b.id = k.bot_id "
        "JOIN users u ON u.id = k.owner_id AND NOT u.disabled "
        "WHERE k.key_hash = decode($1::text, 'hex')", 1 },

    /* $1 hex SHA-256 of a key, $2 the path's bot.  sql/015. */
    [MG_Q_APIKEY_ADMIT] = { "mg_apikey_admit",
        "SELECT outcome, key_id::text, owner_id, bot_id::text "
        "FROM mg_api_key_admit(decode($1::text, 'hex'), $2::text)", 2 },

    /* $1 bot, $2 owner, $3 whether quota_requests is set, $4 its value
     * (NULL: unlimited), $5 and $6 the same for quota_tokens.  No row:
     * not the owner's bot. */
    [MG_Q_PUBLICATION_UPDATE] = { "mg_publication_update",
        "UPDATE bots b SET "
        "api_quota_requests = CASE WHEN $3::boolean THEN $4::bigint ELSE b.api_quota_requests END, "
        "api_quota_tokens = CASE WHEN $5::boolean THEN $6::bigint ELSE b.api_quota_tokens END "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text "
        "RETURNING b.api_quota_requests, b.api_quota_tokens", 6 },

    /* ---- groups and sign-up (jobs/signup.c).  The settings row may be
     * missing: every setting then has its default. */

    /* No parameters.  The registration mode set by an administrator
     * (NULL: MANGOO_REGISTRATION's), the allowed domains (JSON), whether
     * an administrator exists. */
    [MG_Q_SIGNUP_RULES] = { "mg_signup_rules",
        "SELECT s.registration, to_json(COALESCE(s.allowed_domains, '{}'))::text, "
        "EXISTS (SELECT 1 FROM users u WHERE u.role = 'admin') "
        "FROM (SELECT 1) one LEFT JOIN signup_settings s ON s.id", 0 },

    /* $1 registration or NULL to keep, $2 allowed domains (a JSON array
     * of valid lowercase domains) or NULL to keep, $3 the administrator.
     * Same columns as MG_Q_SIGNUP_RULES. */
    [MG_Q_SIGNUP_UPDATE] = { "mg_signup_update",
        "WITH up AS (INSERT INTO signup_settings AS s (id, registration, allowed_domains, "
        "updated_by) VALUES (true, $1::text, COALESCE(ARRAY("
        "SELECT DISTINCT d FROM jsonb_array_elements_text($2::jsonb) d ORDER BY d), '{}'), "
        "$3::text) "
        "ON CONFLICT (id) DO UPDATE SET registration = COALESCE($1::text, s.registration), "
        "allowed_domains = CASE WHEN $2::jsonb IS NULL THEN s.allowed_domains "
        "ELSE EXCLUDED.allowed_domains END, updated_at = now(), updated_by = $3::text "
        "RETURNING s.registration, s.allowed_domains) "
        "SELECT up.registration, to_json(up.allowed_domains)::text, "
        "EXISTS (SELECT 1 FROM users u WHERE u.role = 'admin') FROM up", 3 },

    /* $1 new user id, $2 username, $3 email or NULL (the invitation's),
     * $4 password hash, $5 the invitation code's SHA-256 (hex).  One
     * row: outcome, role, groups (JSON), email (sql/014). */
    [MG_Q_AUTH_REGISTER_INVITED] = { "mg_auth_register_invited",
        "SELECT outcome, user_role, user_groups, user_email FROM mg_local_register_invited("
        "$1::text, $2::text, $3::text, $4::text, decode($5::text, 'hex'))", 5 },

    /* $1 id, $2 email, $3 role, $4 groups (JSON array), $5 code hash
     * (hex), $6 days valid, $7 the administrator.  The invitation's
     * JSON.  A re-run finds its own id and returns nothing: the caller
     * treats that as done (its code was never shown). */
    [MG_Q_INVITE_INSERT] = { "mg_invite_insert",
        "INSERT INTO invitations AS i (id, email, role, groups, code_hash, expires_at, "
        "created_by) VALUES ($1::uuid, $2::text, $3::text, ARRAY("
        "SELECT DISTINCT g FROM jsonb_array_elements_text($4::jsonb) g ORDER BY g), "
        "decode($5::text, 'hex'), now() + $6::int * interval '1 day', $7::text) "
        "ON CONFLICT (id) DO NOTHING RETURNING " MG_INVITE_JSON "::text", 7 },

    /* No parameters.  {"items":[...]} of the newest invitations. */
    [MG_Q_INVITE_LIST] = { "mg_invite_list",
        "SELECT json_build_object('items', COALESCE(json_agg(x.j ORDER BY x.c DESC, x.id DESC), "
        "'[]'::json))::text FROM (SELECT " MG_INVITE_JSON " AS j, i.created_at AS c, i.id "
        "FROM invitations i ORDER BY i.created_at DESC, i.id DESC LIMIT 1000) x", 0 },

    /* $1 id: revoked from now on (an earlier revocation stays).  No row:
     * no such invitation. */
    [MG_Q_INVITE_REVOKE] = { "mg_invite_revoke",
        "UPDATE invitations i SET revoked_at = COALESCE(i.revoked_at, now()) "
        "WHERE i.id = $1::uuid RETURNING i.id::text", 1 },
    /* ---- sharing, the store, pins, a bot's usage (jobs/bot_sharing.c,
     * jobs/store.c; sql/013) */

    /* $1 caller, $2 limit.  Others' bots shared with the caller by name or
     * pinned by them, that are not private: newest first. */
    [MG_Q_BOT_SHARED_FIRST] = { "mg_bot_shared_first",
        "SELECT " MG_BOT_SELECT_FOR("$1::text") " FROM bots b "
        "WHERE " MG_BOT_SHARED_WITH("$1::text") " "
        "ORDER BY b.created_at DESC, b.id DESC LIMIT $2::int", 2 },

    /* $1 caller, $2 cursor created_at (µs), $3 cursor id, $4 limit */
    [MG_Q_BOT_SHARED_AFTER] = { "mg_bot_shared_after",
        "SELECT " MG_BOT_SELECT_FOR("$1::text") " FROM bots b "
        "WHERE " MG_BOT_SHARED_WITH("$1::text") " AND (b.created_at, b.id) < "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid) "
        "ORDER BY b.created_at DESC, b.id DESC LIMIT $4::int", 4 },

    /* $1 caller, $2 LIKE pattern or NULL, $3 limit.  The store, most used
     * first (the cursor's number is the use count). */
    [MG_Q_STORE_FIRST] = { "mg_store_first",
        "SELECT " MG_BOT_SELECT_FOR("$1::text") " FROM bots b "
        "WHERE b.visibility = 'store' AND " MG_STORE_SEARCH " "
        "ORDER BY b.use_count DESC, b.id DESC LIMIT $3::int", 3 },

    /* $1 caller, $2 pattern or NULL, $3 cursor use count, $4 cursor id, $5 limit */
    [MG_Q_STORE_AFTER] = { "mg_store_after",
        "SELECT " MG_BOT_SELECT_FOR("$1::text") " FROM bots b "
        "WHERE b.visibility = 'store' AND " MG_STORE_SEARCH " "
        "AND (b.use_count, b.id) < ($3::bigint, $4::uuid) "
        "ORDER BY b.use_count DESC, b.id DESC LIMIT $5::int", 5 },

    /* $1 bot, $2 caller, $3 pin (true) or unpin.  One row: whether the
     * caller may use the bot (nothing changes otherwise).  Idempotent. */
    [MG_Q_BOT_PIN] = { "mg_bot_pin",
        "WITH bot AS (SELECT b.id FROM bots b WHERE b.id = $1::uuid AND "
        MG_BOT_VISIBLE("$2::text") "), "
        "pin AS (INSERT INTO bot_pins (user_id, bot_id) SELECT $2::text, bot.id FROM bot "
        "  WHERE $3::boolean ON CONFLICT DO NOTHING), "
        "unpin AS (DELETE FROM bot_pins p USING bot WHERE NOT $3::boolean "
        "  AND p.bot_id = bot.id AND p.user_id = $2::text) "
        "SELECT EXISTS (SELECT 1 FROM bot)", 3 },

    /* $1 bot, $2 owner.  No row: not the owner's bot; a row with a NULL
     * user: no shares.  MG_SHARE_COL_*. */
    [MG_Q_BOT_SHARES_LIST] = { "mg_bot_shares_list",
        "SELECT s.user_id, u.username, u.email, " MG_US("s.created_at") " "
        "FROM bots b LEFT JOIN bot_shares s ON s.bot_id = b.id "
        "LEFT JOIN users u ON u.id = s.user_id "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text "
        "ORDER BY s.created_at, s.user_id", 2 },

    /* $1 bot, $2 owner, $3 a username or e-mail (either case).  One row
     * (MG_SHARE_ADD_COL_*): bot is the owner's, the user found (id,
     * username, email; an exact username match is preferred, then the
     * oldest), whether the share is new, its time. */
    [MG_Q_BOT_SHARE_ADD] = { "mg_bot_share_add",
        "WITH bot AS (SELECT b.id FROM bots b WHERE b.id = $1::uuid AND b.owner_id = $2::text), "
        "who AS (SELECT u.id, u.username, u.email FROM users u "
        "  WHERE lower(u.username) = lower($3::text) OR lower(u.email) = lower($3::text) "
        "  ORDER BY (u.username = $3::text) DESC, u.created_at, u.id LIMIT 1), "
        "ins AS (INSERT INTO bot_shares (bot_id, user_id) SELECT bot.id, who.id FROM bot, who "
        "  WHERE who.id <> $2::text ON CONFLICT DO NOTHING RETURNING created_at) "
        "SELECT EXISTS (SELECT 1 FROM bot), w.id, w.username, w.email, "
        "  EXISTS (SELECT 1 FROM ins), "
        "  " MG_US("COALESCE((SELECT i.created_at FROM ins i), now())") " "
        "FROM (SELECT 1) one LEFT JOIN who w ON true", 3 },

    /* $1 bot, $2 owner, $3 the user.  One row: the bot is the owner's,
     * a share was removed. */
    [MG_Q_BOT_SHARE_REMOVE] = { "mg_bot_share_remove",
        "WITH bot AS (SELECT b.id FROM bots b WHERE b.id = $1::uuid AND b.owner_id = $2::text), "
        "del AS (DELETE FROM bot_shares s USING bot WHERE s.bot_id = bot.id "
        "  AND s.user_id = $3::text RETURNING 1) "
        "SELECT EXISTS (SELECT 1 FROM bot), EXISTS (SELECT 1 FROM del)", 3 },

    /* $1 bot, $2 owner, $3 days (1..366).  No row: not the owner's bot.
     * Otherwise one row per UTC day, oldest first, up to today, zero when
     * nothing was counted: day (YYYY-MM-DD), requests, tokens in, out. */
    [MG_Q_BOT_USAGE] = { "mg_bot_usage",
        "SELECT to_char(d.day, 'YYYY-MM-DD'), COALESCE(g.requests, 0), "
        "  COALESCE(g.input_tokens, 0), COALESCE(g.output_tokens, 0) "
        "FROM bots b CROSS JOIN LATERAL (SELECT s::date AS day FROM generate_series("
        "  (now() AT TIME ZONE 'UTC')::date - ($3::int - 1), "
        "  (now() AT TIME ZONE 'UTC')::date, interval '1 day') s) d "
        "LEFT JOIN bot_usage g ON g.bot_id = b.id AND g.day = d.day "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text ORDER BY d.day", 3 },
};
