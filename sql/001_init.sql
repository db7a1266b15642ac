-- 001_init: Mangoo's base data model (design.md "Data model", grown from
-- the seed schema).  Applied by `mangoo-worker migrate` inside one
-- transaction together with its schema_migrations row, so: no BEGIN/COMMIT
-- here and no CREATE INDEX CONCURRENTLY.
--
-- Conventions: ids are uuid (chosen by the worker or gen_random_uuid()),
-- except users.id, which is the token's sub.  Every row a user owns carries
-- owner_id and disappears with the user (ON DELETE CASCADE).  CHECK
-- constraints mirror the worker's input validation (worker/jobs/*.c), so
-- the database refuses what the API would refuse.  Length limits count
-- characters in a UTF8 database.  Timestamps are timestamptz, set by the
-- database.

CREATE EXTENSION IF NOT EXISTS vector;

-- Users are created on first sight of a verified token (worker/jobs/users.c).
-- username and email come from the identity provider and are not unique
-- here: two issuers may well reuse a name.
CREATE TABLE users (
    id          text        PRIMARY KEY CHECK (id <> ''),
    username    text        NOT NULL CHECK (username <> ''),
    email       text,
    role        text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX users_created_idx ON users (created_at DESC, id DESC);

-- Local identity (the embedded default when there is no Cognito): one
-- credential per user; the password is stored only as a salted hash string
-- (PHC format, e.g. "$scrypt$...").
CREATE TABLE local_credentials (
    user_id        text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    username       text        NOT NULL CHECK (char_length(username) BETWEEN 1 AND 128),
    password_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX local_credentials_username_key ON local_credentials (lower(username));

-- Refresh tokens are kept only as a SHA-256 of the token.
CREATE TABLE refresh_tokens (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE knowledge_bases (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255
                                             AND btrim(name, E' \t\n\r\f\v') <> ''),
    description  text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX knowledge_bases_owner_idx ON knowledge_bases (owner_id, created_at DESC, id DESC);

-- Limits mirror mg_bot_fields in worker/jobs/bots.c.  Constraint names of
-- the foreign keys are relied upon by the worker.
CREATE TABLE bots (
    id                 uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id           text             NOT NULL,
    name               text             NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255
                                                        AND btrim(name, E' \t\n\r\f\v') <> ''),
    description        text             NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    model_id           text             NOT NULL DEFAULT 'local'
                                        CHECK (char_length(model_id) BETWEEN 1 AND 255),
    instructions       text             NOT NULL DEFAULT '' CHECK (char_length(instructions) <= 32000),
    temperature        double precision NOT NULL DEFAULT 0.7 CHECK (temperature BETWEEN 0 AND 1),
    max_tokens         integer          NOT NULL DEFAULT 4096 CHECK (max_tokens BETWEEN 1 AND 65536),
    rag_enabled        boolean          NOT NULL DEFAULT false,
    knowledge_base_id  uuid,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    updated_at         timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT bots_owner_id_fkey FOREIGN KEY (owner_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT bots_knowledge_base_id_fkey FOREIGN KEY (knowledge_base_id)
        REFERENCES knowledge_bases (id) ON DELETE SET NULL
);

-- bots.list: owner's bots newest first, keyset on (created_at, id).
CREATE INDEX bots_owner_created_idx ON bots (owner_id, created_at DESC, id DESC);
-- ON DELETE SET NULL from knowledge_bases looks bots up by it.
CREATE INDEX bots_knowledge_base_idx ON bots (knowledge_base_id) WHERE knowledge_base_id IS NOT NULL;

CREATE TABLE documents (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id  uuid        NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    owner_id           text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename           text        NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    content_type       text        NOT NULL CHECK (char_length(content_type) BETWEEN 1 AND 255),
    size_bytes         bigint      NOT NULL CHECK (size_bytes >= 0),
    status             text        NOT NULL DEFAULT 'pending'
                                   CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    error              text,       -- why status is 'failed'
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX documents_kb_idx ON documents (knowledge_base_id, created_at DESC, id DESC);
CREATE INDEX documents_owner_idx ON documents (owner_id);

-- Embeddings are 1024-dimensional (Titan Text Embeddings v2 and the local
-- hashing embedder alike).  HNSW with cosine distance answers the
-- nearest-neighbour search; the knowledge_base_id index serves the filter
-- and cascades.
CREATE TABLE knowledge_chunks (
    id                 uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id  uuid         NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    document_id        uuid         NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_index        integer      NOT NULL CHECK (chunk_index >= 0),
    text               text         NOT NULL,
    embedding          vector(1024) NOT NULL,
    metadata           jsonb        NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (document_id, chunk_index)
);

CREATE INDEX knowledge_chunks_embedding_idx ON knowledge_chunks
    USING hnsw (embedding vector_cosine_ops);
CREATE INDEX knowledge_chunks_kb_idx ON knowledge_chunks (knowledge_base_id);

CREATE TABLE chats (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bot_id      uuid        REFERENCES bots (id) ON DELETE SET NULL,
    title       text        NOT NULL DEFAULT '' CHECK (char_length(title) <= 255),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- chats list: most recently active first.
CREATE INDEX chats_owner_updated_idx ON chats (owner_id, updated_at DESC, id DESC);
CREATE INDEX chats_bot_idx ON chats (bot_id) WHERE bot_id IS NOT NULL;

-- user_id is the chat's owner for every message (assistant ones included),
-- so ownership checks and per-user export need no join.
CREATE TABLE messages (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id        uuid        NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    bot_id         uuid        REFERENCES bots (id) ON DELETE SET NULL,
    user_id        text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role           text        NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content        text        NOT NULL,
    status         text        NOT NULL DEFAULT 'complete'
                               CHECK (status IN ('streaming', 'complete', 'error', 'cancelled')),
    citations      jsonb,      -- RAG sources of an assistant answer
    input_tokens   integer     NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  integer     NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX messages_chat_created_idx ON messages (chat_id, created_at, id);
CREATE INDEX messages_user_idx ON messages (user_id);
CREATE INDEX messages_bot_idx ON messages (bot_id) WHERE bot_id IS NOT NULL;

-- Marketplace agents (seed columns plus description, published, owner).
-- owner_id is NULL for built-in agents.
CREATE TABLE agents (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text        NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 255),
    category     text        NOT NULL CHECK (char_length(category) BETWEEN 1 AND 100),
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    config       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    description  text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    published    boolean     NOT NULL DEFAULT false,
    owner_id     text        REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- marketplace listing: published active agents by category.
CREATE INDEX agents_marketplace_idx ON agents (category, name)
    WHERE published AND status = 'active';
CREATE INDEX agents_owner_idx ON agents (owner_id) WHERE owner_id IS NOT NULL;

-- Per user per UTC day; incremented with INSERT ... ON CONFLICT DO UPDATE.
CREATE TABLE usage (
    user_id        text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day            date   NOT NULL,
    requests       bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    input_tokens   bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    PRIMARY KEY (user_id, day)
);

-- admin usage report over a date range.
CREATE INDEX usage_day_idx ON usage (day);
