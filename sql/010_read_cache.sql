-- The workers' read cache (worker/read_cache.h) keeps whole answers to
-- reads of a user's bots (GET /bots, GET /bots/{id}).  Any change to what
-- they are made of (bots, bot_knowledge_bases) is announced on
-- mangoo_reads with the owner's id, at commit, and every worker process
-- drops that user's answers (its listener, worker/identity/
-- user_listener.c).  A writer that must be seen by the very next read
-- then waits at the barrier of sql/003, which covers this channel too: a
-- listener applies notifications in commit order, whatever the channel.
-- An empty payload means "everyone" (TRUNCATE, an id too long for a
-- payload).

CREATE FUNCTION mg_reads_notify_id(uid text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify('mangoo_reads',
                     CASE WHEN octet_length(uid) <= 1024 THEN uid ELSE '' END)
$$;

CREATE FUNCTION mg_reads_bots_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
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

-- A bot's knowledge bases: announced for the bot's owner.  When the bot
-- itself is being deleted its row is gone already, and its own trigger
-- has announced it.
CREATE FUNCTION mg_reads_bot_kbs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM mg_reads_notify_id('');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT b.owner_id INTO owner FROM bots b WHERE b.id = OLD.bot_id;
        IF owner IS NOT NULL THEN
            PERFORM mg_reads_notify_id(owner);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT b.owner_id INTO owner FROM bots b WHERE b.id = NEW.bot_id;
        IF owner IS NOT NULL THEN
            PERFORM mg_reads_notify_id(owner);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bots_reads_notify
    AFTER INSERT OR UPDATE OR DELETE ON bots
    FOR EACH ROW EXECUTE FUNCTION mg_reads_bots_notify();
CREATE TRIGGER bots_reads_truncate_notify
    AFTER TRUNCATE ON bots
    FOR EACH STATEMENT EXECUTE FUNCTION mg_reads_bots_notify();
CREATE TRIGGER bot_kbs_reads_notify
    AFTER INSERT OR UPDATE OR DELETE ON bot_knowledge_bases
    FOR EACH ROW EXECUTE FUNCTION mg_reads_bot_kbs_notify();
CREATE TRIGGER bot_kbs_reads_truncate_notify
    AFTER TRUNCATE ON bot_knowledge_bases
    FOR EACH STATEMENT EXECUTE FUNCTION mg_reads_bot_kbs_notify();
