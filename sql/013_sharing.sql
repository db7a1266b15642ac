-- 013_sharing: who besides its owner may use a bot (worker/jobs/bots.c,
-- bot_sharing.c, store.c).  A bot is 'private' (its owner only), 'shared'
-- (anyone signed in who has its id may chat with it; named users also
-- list it under "shared with me") or 'store' (listed in the bot store as
-- well).  Others never read its instructions or knowledge base: the
-- worker writes a reduced view for them.  No BEGIN/COMMIT (see 001).

ALTER TABLE bots
    ADD COLUMN visibility text NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('private', 'shared', 'store')),
    -- chats started with the bot, by anyone (bumped by the chat turn)
    ADD COLUMN use_count bigint NOT NULL DEFAULT 0 CHECK (use_count >= 0);

-- The store: most used first.
CREATE INDEX bots_store_idx ON bots (use_count DESC, id DESC) WHERE visibility = 'store';

-- Named users a bot is shared with.  Rows may outlive a visibility change
-- back to private; they grant nothing then (the access rule is the
-- visibility alone).
CREATE TABLE bot_shares (
    bot_id      uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, user_id)
);
CREATE INDEX bot_shares_user_idx ON bot_shares (user_id);

CREATE TABLE bot_pins (
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bot_id      uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, bot_id)
);
CREATE INDEX bot_pins_bot_idx ON bot_pins (bot_id);

-- Every answer by the bot, whoever asked, per UTC day (no content).
CREATE TABLE bot_usage (
    bot_id         uuid   NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    day            date   NOT NULL,
    requests       bigint NOT NULL DEFAULT 0,
    input_tokens   bigint NOT NULL DEFAULT 0,
    output_tokens  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (bot_id, day)
);

-- The read cache (sql/010) keeps others' views of a bot under their own
-- ids, so a change to a bot that anyone but its owner may see (before or
-- after the change) is announced to everyone: going private must cut
-- them off at once.  A private bot's changes still concern its owner only.
CREATE OR REPLACE FUNCTION mg_reads_bots_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM mg_reads_notify_id('');
        RETURN NULL;
    END IF;
    IF (TG_OP IN ('UPDATE', 'DELETE') AND OLD.visibility <> 'private')
       OR (TG_OP IN ('INSERT', 'UPDATE') AND NEW.visibility <> 'private') THEN
        PERFORM mg_reads_notify_id('');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM mg_reads_notify_id(OLD.owner_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.owner_id IS DISTINCT FROM OLD.owner_id) THEN
        PERFORM mg_reads_notify_id(NEW.owner_id);
    END IF;
    RETURN NULL;
END
$$;

-- A pin shows in the pinning user's view of the bot ("pinned").
CREATE FUNCTION mg_reads_bot_pins_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM mg_reads_notify_id('');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM mg_reads_notify_id(OLD.user_id);
    ELSE
        PERFORM mg_reads_notify_id(NEW.user_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bot_pins_reads_notify
    AFTER INSERT OR DELETE ON bot_pins
    FOR EACH ROW EXECUTE FUNCTION mg_reads_bot_pins_notify();
CREATE TRIGGER bot_pins_reads_truncate_notify
    AFTER TRUNCATE ON bot_pins
    FOR EACH STATEMENT EXECUTE FUNCTION mg_reads_bot_pins_notify();

-- Others' views name the owner (owner.username): a rename of someone
-- whose bots others may see is announced to everyone.
CREATE FUNCTION mg_reads_owner_rename_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bots b WHERE b.owner_id = NEW.id AND b.visibility <> 'private') THEN
        PERFORM mg_reads_notify_id('');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_owner_rename_reads_notify
    AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE FUNCTION mg_reads_owner_rename_notify();
