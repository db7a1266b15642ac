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

#define MG_BOT_SELECT                                                       \
    "b.id::text, b.owner_id, b.name, b.description, b.model_id, "          \
    "b.instructions, b.temperature, b.max_tokens, b.rag_enabled, "         \
    "b.knowledge_base_id::text, " MG_US("b.created_at") ", "               \
    MG_US("b.updated_at")

/* A knowledge base may only be attached by its owner. */
#define MG_KB_OWNED(kb, owner)                                              \
    "EXISTS (SELECT 1 FROM knowledge_bases k WHERE k.id = " kb            \
    " AND k.owner_id = " owner ")"

const mg_query_def_t mg_queries[MG_Q__COUNT] = {

    [MG_Q_PING] = { "mg_ping", "SELECT 1", 0 },

    /* $1 id (token sub), $2 username, $3 email or NULL, $4 role */
    [MG_Q_USER_ENSURE] = { "mg_user_ensure",
        "INSERT INTO users (id, username, email, role) "
        "VALUES ($1::text, $2::text, $3::text, $4::text) "
        "ON CONFLICT (id) DO NOTHING", 4 },

    /* $1 id, $2 owner, $3 name, $4 description, $5 model_id,
     * $6 instructions, $7 temperature, $8 max_tokens, $9 rag_enabled,
     * $10 knowledge_base_id or NULL.  No row: the knowledge base is not
     * the owner's, or (after a retry) the first run already inserted id. */
    [MG_Q_BOT_INSERT] = { "mg_bot_insert",
        "INSERT INTO bots AS b (id, owner_id, name, description, model_id, "
        "instructions, temperature, max_tokens, rag_enabled, knowledge_base_id) "
        "SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, "
        "$7::float8, $8::int, $9::boolean, $10::uuid "
        "WHERE $10::uuid IS NULL OR " MG_KB_OWNED("$10::uuid", "$2::text") " "
        "ON CONFLICT (id) DO NOTHING "
        "RETURNING " MG_BOT_SELECT, 10 },

    /* $1 id, $2 owner */
    [MG_Q_BOT_GET] = { "mg_bot_get",
        "SELECT " MG_BOT_SELECT " FROM bots b "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text", 2 },

    /* $1 owner, $2 limit */
    [MG_Q_BOT_LIST_FIRST] = { "mg_bot_list_first",
        "SELECT " MG_BOT_SELECT " FROM bots b WHERE b.owner_id = $1::text "
        "ORDER BY b.created_at DESC, b.id DESC LIMIT $2::int", 2 },

    /* $1 owner, $2 cursor created_at (µs), $3 cursor id, $4 limit */
    [MG_Q_BOT_LIST_AFTER] = { "mg_bot_list_after",
        "SELECT " MG_BOT_SELECT " FROM bots b WHERE b.owner_id = $1::text "
        "AND (b.created_at, b.id) < "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid) "
        "ORDER BY b.created_at DESC, b.id DESC LIMIT $4::int", 4 },

    /* $1 id, $2 owner, $3..$9 new values or NULL to keep (none of those
     * columns is nullable), $10 whether knowledge_base_id is being set,
     * $11 its new value (NULL clears it).  No row: no such bot of the
     * owner, or the knowledge base is not the owner's. */
    [MG_Q_BOT_UPDATE] = { "mg_bot_update",
        "UPDATE bots AS b SET "
        "name = COALESCE($3::text, b.name), "
        "description = COALESCE($4::text, b.description), "
        "model_id = COALESCE($5::text, b.model_id), "
        "instructions = COALESCE($6::text, b.instructions), "
        "temperature = COALESCE($7::float8, b.temperature), "
        "max_tokens = COALESCE($8::int, b.max_tokens), "
        "rag_enabled = COALESCE($9::boolean, b.rag_enabled), "
        "knowledge_base_id = CASE WHEN $10::boolean THEN $11::uuid "
        "ELSE b.knowledge_base_id END, "
        "updated_at = now() "
        "WHERE b.id = $1::uuid AND b.owner_id = $2::text "
        "AND (NOT $10::boolean OR $11::uuid IS NULL OR "
        MG_KB_OWNED("$11::uuid", "$2::text") ") "
        "RETURNING " MG_BOT_SELECT, 11 },

    /* $1 id, $2 owner */
    [MG_Q_BOT_DELETE] = { "mg_bot_delete",
        "DELETE FROM bots b WHERE b.id = $1::uuid AND b.owner_id = $2::text "
        "RETURNING b.id::text", 2 },
};
