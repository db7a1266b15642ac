-- 003_user_admin: account deletion that sticks, and the invalidation feed
-- behind the workers' user status cache (worker/user_status.c,
-- worker/user_listener.c).  Applied inside one transaction by
-- `mangoo-worker migrate`: no BEGIN/COMMIT here.

-- A user who deleted their account (DELETE /api/v1/users/me).  Tokens are
-- stateless and outlive the account, and users rows are created on first
-- sight of a token: without this table the next request carrying an old
-- token would quietly re-create the account.  The worker refuses such
-- tokens with 401 instead.  Rows are kept for good (an id is a token sub,
-- which the identity provider never reuses).
CREATE TABLE deleted_users (
    id          text        PRIMARY KEY CHECK (id <> ''),
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

-- Serialises "create the users row" against "delete the account" for one
-- id.  Without it a request that races the deletion could re-create the
-- row: its INSERT ... ON CONFLICT waits for the deleting transaction's
-- row lock, then finds no conflict and inserts, after the tombstone was
-- written but before its own snapshot could see it.  Both sides take the
-- same transaction-scoped advisory lock (two-key form, class 0x6d67 "mg",
-- so it cannot meet the migrations' one-key lock) before touching the row;
-- the insert side then looks for the tombstone with a fresh snapshot
-- (a VOLATILE function takes one per statement).  Costs one lock per
-- insert attempt, i.e. per status-cache miss, not per request.
CREATE FUNCTION mg_users_id_lock(uid text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(28007, hashtext(uid))
$$;

CREATE FUNCTION mg_users_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mg_users_id_lock(NEW.id);
    IF EXISTS (SELECT 1 FROM deleted_users d WHERE d.id = NEW.id) THEN
        -- the worker maps this SQLSTATE to 401 "user no longer exists"
        RAISE EXCEPTION 'user % was deleted', NEW.id USING ERRCODE = 'MG410';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION mg_users_before_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mg_users_id_lock(OLD.id);
    RETURN OLD;
END
$$;

CREATE TRIGGER users_tombstone_guard BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION mg_users_before_insert();
CREATE TRIGGER users_delete_lock BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mg_users_before_delete();

-- Invalidation: every change that can alter what a worker caches about a
-- user (exists, disabled, deleted) sends NOTIFY mangoo_users with the id
-- as payload, at commit.  Each worker process LISTENs on its own
-- connection and evicts the id.  An empty payload means "forget everyone"
-- (TRUNCATE, or an id too long for a NOTIFY payload, which is capped at
-- 8000 bytes: failing the user's UPDATE over it would be worse).
-- role is included although the cache does not hold it, so a later cache
-- that does needs no new migration.
CREATE FUNCTION mg_users_notify_id(uid text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify('mangoo_users',
                     CASE WHEN octet_length(uid) <= 1024 THEN uid ELSE '' END)
$$;

CREATE FUNCTION mg_users_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM mg_users_notify_id('');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM mg_users_notify_id(OLD.id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) THEN
        PERFORM mg_users_notify_id(NEW.id);
    END IF;
    RETURN NULL;
END
$$;

-- The WHEN clause keeps no-op updates (e.g. PATCH with the same value)
-- from flushing every worker's cache entry.
CREATE TRIGGER users_status_notify
    AFTER UPDATE OF id, disabled, role ON users
    FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id
          OR OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION mg_users_notify();
CREATE TRIGGER users_delete_notify
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mg_users_notify();
CREATE TRIGGER users_truncate_notify
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION mg_users_notify();
CREATE TRIGGER deleted_users_notify
    AFTER INSERT OR DELETE OR UPDATE ON deleted_users
    FOR EACH ROW EXECUTE FUNCTION mg_users_notify();
CREATE TRIGGER deleted_users_truncate_notify
    AFTER TRUNCATE ON deleted_users
    FOR EACH STATEMENT EXECUTE FUNCTION mg_users_notify();

-- "At once" across processes.  NOTIFY reaches each worker's listener a
-- little after the commit, so a request racing into another worker could
-- still be judged by that worker's old cache entry.  A write that must be
-- seen by the very next request (an admin disabling someone, an account
-- deletion) therefore ends with a barrier: it NOTIFYs mangoo_users_barrier
-- with a number from the sequence, in a transaction of its own after its
-- change committed, and waits until every live listener has acknowledged
-- that number (or one above it) in user_status_listeners.  PostgreSQL
-- delivers notifications in commit order and a listener applies them in
-- order, so a listener past the barrier has evicted the changed id.
--   pid, backend_start: the listener's session (a pid alone may be
--   reused); rows of sessions that are gone are ignored, then swept.
--   (pg_stat_activity shows backend_start of sessions of one's own role:
--   the workers all connect as the same role.)
--   passed: the highest barrier acknowledged.  A listener registers with
--   the sequence's current value: its cache starts empty, so no barrier
--   allocated before it can concern it.
-- UNLOGGED: after a crash every session is gone anyway.
CREATE SEQUENCE mangoo_users_barrier_seq;

CREATE UNLOGGED TABLE user_status_listeners (
    pid            integer     PRIMARY KEY,
    backend_start  timestamptz NOT NULL,
    passed         bigint      NOT NULL
);

-- Called by each listener (worker/user_listener.c) right after LISTEN.
CREATE FUNCTION mg_user_listener_register() RETURNS void
LANGUAGE sql VOLATILE AS $$
    DELETE FROM user_status_listeners l
     WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                        WHERE a.pid = l.pid AND a.backend_start = l.backend_start);
    INSERT INTO user_status_listeners (pid, backend_start, passed)
    SELECT a.pid, a.backend_start,
           (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
              FROM mangoo_users_barrier_seq)
      FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()
    ON CONFLICT (pid) DO UPDATE
       SET backend_start = EXCLUDED.backend_start, passed = EXCLUDED.passed;
$$;

-- Admin search (GET /api/v1/admin/users?q=) is a case-insensitive
-- substring match over username, email and id.  No btree can serve a
-- leading-wildcard ILIKE and pg_trgm is not available to us, so a search
-- walks users_created_idx (001) newest first and filters row by row,
-- stopping once a page is full: fine at the scale of an admin screen (tens
-- of thousands of users cost a few milliseconds per page).  Without q the
-- same index serves the keyset paging directly; nothing to add here.
