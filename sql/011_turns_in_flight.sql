-- 011_turns_in_flight: a chat turn being answered, and which worker
-- process answers it, so that an answer whose worker died (kill -9, a
-- crash, the host gone) is still stored: "No orphaned turns".
--
-- The row is written by the statement that stores the user's message
-- (mg_chat_begin) and deleted by the one that stores the answer
-- (mg_chat_finish).  owner is the answering process's instance id, a
-- random 63-bit number; the process holds the session-level advisory lock
-- pg_advisory_lock(owner) on a connection of its own for as long as it
-- lives (worker/instance.c), and PostgreSQL releases it when that
-- connection drops, a dead process's included.  So a row whose owner's
-- lock is not held anywhere belongs to a dead process: the sweep
-- (worker/instance.c, every few seconds in every worker process, and at
-- its start) stores its answer as status 'error', error 'worker_lost',
-- and deletes the row.  No timer decides who is dead.
--
-- No foreign keys: the row lives seconds, and the sweep, like
-- mg_chat_finish, writes nothing for a chat, bot or agent gone meanwhile.
-- A new table that older workers never touch: safe to apply while they
-- serve (their turns are simply not tracked).
CREATE TABLE turns_in_flight (
    message_id  uuid        PRIMARY KEY,         -- the answer's id, chosen before it exists
    chat_id     uuid        NOT NULL,
    user_id     text        NOT NULL,
    bot_id      uuid,
    agent_id    uuid,
    model_id    text        NOT NULL,
    owner       bigint      NOT NULL CHECK (owner > 0),
    started_at  timestamptz NOT NULL DEFAULT now()   -- the user message's created_at
);

-- The sweep visits each owner once (a loose index scan), not every turn.
CREATE INDEX turns_in_flight_owner_idx ON turns_in_flight (owner);
