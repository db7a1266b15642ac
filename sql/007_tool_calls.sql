-- Tool calls: what an agent's turn did on its way to the answer.
--
-- messages.steps holds an agent's turn step by step, for the chat's
-- history and the user's export: [{"step", "text", "stop_reason", "ms",
-- "tool_calls": [{"id", "name", "input", "ok", "output", "error",
-- "ms"}]}], NULL for a bot's turn.  tool_calls is the audit: one row per
-- call, written by the statement that stores the answer
-- (MG_Q_CHAT_FINISH), kept when the user deletes the chat (no foreign key
-- to it) and gone with the user's account.  output is cut to 2000
-- characters here; the model saw up to the worker's tool output limit.

ALTER TABLE messages ADD COLUMN steps jsonb
    CHECK (steps IS NULL OR jsonb_typeof(steps) = 'array');

CREATE TABLE tool_calls (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id      uuid        NOT NULL,
    message_id   uuid        NOT NULL,
    agent_id     uuid        REFERENCES agents (id) ON DELETE SET NULL,
    step         integer     NOT NULL CHECK (step >= 1),
    call_id      text        NOT NULL,
    tool         text        NOT NULL,
    input        jsonb       NOT NULL,
    ok           boolean     NOT NULL,
    output       text        NOT NULL DEFAULT '',
    error        text,
    duration_ms  integer     NOT NULL CHECK (duration_ms >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- administrators: everyone's newest first, or one user's
CREATE INDEX tool_calls_created_idx ON tool_calls (created_at DESC, id DESC);
CREATE INDEX tool_calls_user_idx ON tool_calls (user_id, created_at DESC, id DESC);
