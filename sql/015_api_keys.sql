-- 015_api_keys: a bot published as an API (issue 15, part C).  The bot's
-- owner creates API keys for it; anyone holding one calls
-- POST /api/v1/published/{bot}/chat[/stream] (worker/jobs/published.c).
--
-- A key is "mgk_" + base64url of 32 random bytes, shown once by the create
-- (worker/jobs/api_keys.c); only its SHA-256 is stored, and its first 12
-- characters (prefix) so the owner can tell keys apart.  Keys are revoked,
-- not deleted: their usage stays countable.  A key goes with its bot and
-- with its owner.
--
-- The chats a published call makes are the bot owner's rows (so history,
-- storage and the turn machinery are chat.c's), marked with the key that
-- made them: no user's chat list, get or export shows them, and only that
-- key can continue them.

CREATE TABLE api_keys (
    id               uuid             PRIMARY KEY,
    bot_id           uuid             NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    owner_id         text             NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text             NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix           text             NOT NULL CHECK (char_length(prefix) = 12),
    key_hash         bytea            NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    rate_per_second  double precision NOT NULL DEFAULT 5
                                      CHECK (rate_per_second BETWEEN 0.1 AND 1000),
    burst            int              NOT NULL DEFAULT 10 CHECK (burst BETWEEN 1 AND 10000),
    expires_at       timestamptz,
    revoked_at       timestamptz,
    created_at       timestamptz      NOT NULL DEFAULT now(),
    last_used_at     timestamptz
);

-- the owner's list: a bot's keys, newest first
CREATE INDEX api_keys_bot_idx ON api_keys (bot_id, created_at DESC, id DESC);

-- Per key per UTC day.  requests is counted when a call is admitted
-- (before any model call), tokens when its answer is stored.
CREATE TABLE api_key_usage (
    key_id         uuid   NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    day            date   NOT NULL,
    requests       bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    input_tokens   bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    PRIMARY KEY (key_id, day)
);

-- The bot's daily quota over all its keys (per UTC day, NULL: unlimited).
ALTER TABLE bots
    ADD COLUMN api_quota_requests bigint CHECK (api_quota_requests >= 0),
    ADD COLUMN api_quota_tokens   bigint CHECK (api_quota_tokens >= 0);

ALTER TABLE chats
    ADD COLUMN api_key_id uuid REFERENCES api_keys (id) ON DELETE CASCADE;

CREATE INDEX chats_api_key_idx ON chats (api_key_id) WHERE api_key_id IS NOT NULL;

-- Admit one published call: the key by its hash, then the bot's quota and
-- the count of the request in one go (with a quota, under the bot's row
-- lock: each statement after it takes a fresh snapshot).  p_bot is the path's text: anything but the key's bot
-- (malformed included) is 'wrong_bot'.
--   outcome: 'ok' (key_id, owner_id, bot_id set), 'invalid' (no such key,
--   or its owner is disabled),
--   'revoked', 'expired', 'wrong_bot', 'quota_requests', 'quota_tokens'.
CREATE FUNCTION mg_api_key_admit(p_key_hash bytea, p_bot text,
                                 OUT outcome text, OUT key_id uuid, OUT owner_id text,
                                 OUT bot_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    k        api_keys%ROWTYPE;
    q_req    bigint;
    q_tok    bigint;
    used_req bigint;
    used_tok bigint;
    today    date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    SELECT * INTO k FROM api_keys a WHERE a.key_hash = p_key_hash;
    IF NOT FOUND THEN
        outcome := 'invalid';
        RETURN;
    END IF;
    key_id := k.id;
    bot_id := k.bot_id;
    IF k.revoked_at IS NOT NULL THEN
        outcome := 'revoked';
        RETURN;
    END IF;
    IF k.expires_at IS NOT NULL AND k.expires_at <= now() THEN
        outcome := 'expired';
        RETURN;
    END IF;
    IF k.bot_id::text <> lower(p_bot) THEN
        outcome := 'wrong_bot';
        RETURN;
    END IF;

    SELECT b.api_quota_requests, b.api_quota_tokens, b.owner_id INTO q_req, q_tok, owner_id
      FROM bots b WHERE b.id = k.bot_id;
    -- the bot went since, or its owner is disabled: the key is no more
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = owner_id AND NOT u.disabled)
    THEN
        outcome := 'invalid';
        owner_id := NULL;
        RETURN;
    END IF;
    -- With a quota, the bot's row is locked and its quotas read again, so
    -- concurrent calls of one bot are counted one after the other and none
    -- slips past it.  Without one, calls need not wait for each other.
    IF q_req IS NOT NULL OR q_tok IS NOT NULL THEN
        SELECT b.api_quota_requests, b.api_quota_tokens INTO q_req, q_tok
          FROM bots b WHERE b.id = k.bot_id FOR NO KEY UPDATE;
        SELECT COALESCE(sum(u.requests), 0), COALESCE(sum(u.input_tokens + u.output_tokens), 0)
          INTO used_req, used_tok
          FROM api_key_usage u JOIN api_keys a ON a.id = u.key_id
         WHERE a.bot_id = k.bot_id AND u.day = today;
        IF q_req IS NOT NULL AND used_req >= q_req THEN
            outcome := 'quota_requests';
            RETURN;
        END IF;
        IF q_tok IS NOT NULL AND used_tok >= q_tok THEN
            outcome := 'quota_tokens';
            RETURN;
        END IF;
    END IF;

    INSERT INTO api_key_usage (key_id, day, requests) VALUES (k.id, today, 1)
    ON CONFLICT ON CONSTRAINT api_key_usage_pkey
    DO UPDATE SET requests = api_key_usage.requests + 1;
    -- to the second: a busy key's row is not rewritten on every call
    IF k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 second' THEN
        UPDATE api_keys a SET last_used_at = now() WHERE a.id = k.id;
    END IF;
    outcome := 'ok';
END
$$;
