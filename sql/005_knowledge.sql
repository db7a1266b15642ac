-- Knowledge bases: documents ingested by the workers through a queue in
-- this table, chunks with their embeddings and full-text vectors, the
-- bots they ground, and the citations stored with an answer.
--
-- Invariants:
--  - a knowledge base records its embedding model and dimension; every
--    chunk records the model that embedded it, so a query embedded with
--    another model is refused, never mixed;
--  - a document's chunks are searchable only once it is 'ready' (search
--    joins on the status), so a failed or half-done ingestion shows nothing;
--  - the queue is the documents table itself: a worker claims a 'queued'
--    document, or a 'processing' one whose lease ran out (its worker died),
--    with FOR UPDATE SKIP LOCKED, and replaces all its chunks in the
--    transaction that marks it 'ready' (a re-run duplicates nothing);
--  - the same content twice in one knowledge base is one document.

ALTER TABLE knowledge_bases
    ADD COLUMN embedding_model  text    NOT NULL DEFAULT 'local'
                                CHECK (char_length(embedding_model) BETWEEN 1 AND 255),
    ADD COLUMN embedding_dim    integer NOT NULL DEFAULT 1024 CHECK (embedding_dim = 1024);

-- A bot grounds its answers in one or more of its owner's knowledge bases.
CREATE TABLE bot_knowledge_bases (
    bot_id             uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    knowledge_base_id  uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    PRIMARY KEY (bot_id, knowledge_base_id)
);
CREATE INDEX bot_knowledge_bases_kb_idx ON bot_knowledge_bases (knowledge_base_id);
INSERT INTO bot_knowledge_bases (bot_id, knowledge_base_id)
    SELECT id, knowledge_base_id FROM bots WHERE knowledge_base_id IS NOT NULL;

ALTER TABLE documents DROP CONSTRAINT documents_status_check;
UPDATE documents SET status = 'queued' WHERE status = 'pending';
ALTER TABLE documents
    ALTER COLUMN status SET DEFAULT 'queued',
    ADD CONSTRAINT documents_status_check
        CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    ADD COLUMN source_url     text    CHECK (char_length(source_url) <= 2048),
    ADD COLUMN content_sha256 text    NOT NULL DEFAULT '',
    -- the upload itself (or the fetched page), kept for retries
    ADD COLUMN body           bytea,
    ADD COLUMN chunks_total   integer NOT NULL DEFAULT 0 CHECK (chunks_total >= 0),
    ADD COLUMN chunks_done    integer NOT NULL DEFAULT 0 CHECK (chunks_done >= 0),
    ADD COLUMN attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN lease_until    timestamptz,
    ADD COLUMN leased_by      text;

CREATE UNIQUE INDEX documents_kb_sha256_key ON documents (knowledge_base_id, content_sha256)
    WHERE content_sha256 <> '';
-- the ingest queue: what is waiting, oldest first
CREATE INDEX documents_queue_idx ON documents (created_at)
    WHERE status IN ('queued', 'processing');

ALTER TABLE knowledge_chunks
    ADD COLUMN page             integer CHECK (page >= 1),
    ADD COLUMN heading          text    NOT NULL DEFAULT '',
    ADD COLUMN char_start       integer NOT NULL DEFAULT 0 CHECK (char_start >= 0),
    ADD COLUMN char_end         integer NOT NULL DEFAULT 0,
    ADD COLUMN embedding_model  text    NOT NULL DEFAULT 'local',
    ADD COLUMN tsv              tsvector GENERATED ALWAYS AS
        (to_tsvector('english', heading || E'\n' || text)) STORED;

-- HNSW for the vector half of hybrid search (cosine), rebuilt with stated
-- parameters; GIN for the full-text half.
DROP INDEX knowledge_chunks_embedding_idx;
CREATE INDEX knowledge_chunks_embedding_idx ON knowledge_chunks
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv);

-- The sources an answer was grounded in: [{"n","document_id","document",
-- "page","heading","snippet","score","chunk_id"}], or NULL.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS citations jsonb;  -- 001 already has it
