-- 004_chat: what chat streaming records about an answer.  An assistant
-- message is stored when its stream ends, however it ends: status says how
-- (complete, error, cancelled), stop_reason why the model stopped
-- (end_turn, max_tokens, ...), error the code the client was sent, and
-- model_id which model wrote it (the bot's model may change later).
ALTER TABLE messages
    ADD COLUMN stop_reason text CHECK (char_length(stop_reason) <= 64),
    ADD COLUMN error       text CHECK (char_length(error) <= 64),
    ADD COLUMN model_id    text CHECK (char_length(model_id) <= 255);
