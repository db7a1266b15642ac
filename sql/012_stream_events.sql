-- 012_stream_events: how many SSE events an answer had, its last (`done`
-- or `error`) included.  Event ids run 1..stream_events within an answer,
-- and a client resuming a finished answer with Last-Event-ID is sent only
-- what comes after its id (worker/jobs/chat_resume.c).  NULL for answers
-- that were not streamed, and for those stored before this column.
ALTER TABLE messages
    ADD COLUMN stream_events integer CHECK (stream_events > 0);
