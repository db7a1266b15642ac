-- 002_local_identity: what the local identity (worker/jobs/auth.c) needs
-- beyond 001: refresh token families and rotation, the per-account login
-- lockout, and registration as one serialised step.  Applied inside one
-- transaction by `mangoo-worker migrate` (no BEGIN/COMMIT here).

-- Refresh tokens rotate: each use marks the token used and issues its
-- successor in the same family (all tokens descending from one login).
-- Presenting a used or revoked token again revokes the whole family.
-- replaced_by names the successor, so a refresh statement that is re-run
-- after a lost connection recognises its own rotation instead of taking
-- it for a reuse.  auth_time is when the family's login happened (the
-- access tokens' auth_time claim).  Rows made before this migration (there
-- should be none) each become a family of their own.
ALTER TABLE refresh_tokens
    ADD COLUMN family_id   uuid        NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN used_at     timestamptz,
    ADD COLUMN replaced_by uuid,
    ADD COLUMN auth_time   timestamptz NOT NULL DEFAULT now();
ALTER TABLE refresh_tokens ALTER COLUMN family_id DROP DEFAULT;

-- revoking a family; expired rows are swept a few at a time by logins
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Consecutive failed logins per lowercase username, for the lockout.
-- Unknown usernames are counted as well (so the answer does not reveal
-- which accounts exist), hence no foreign key; stale rows are swept a
-- few at a time by later failures.  A success deletes the row.
CREATE TABLE login_attempts (
    username_key     text        PRIMARY KEY CHECK (username_key = lower(username_key)),
    failures         integer     NOT NULL CHECK (failures > 0),
    last_failure_at  timestamptz NOT NULL,
    locked_until     timestamptz
);

CREATE INDEX login_attempts_last_failure_idx ON login_attempts (last_failure_at);

-- "Is there an admin yet?" decides a registrant's role.
CREATE INDEX users_admin_idx ON users (id) WHERE role = 'admin';

-- Registration in one statement: the advisory lock serialises
-- registrations, so "no admin exists yet" and the insert that makes the
-- first admin cannot interleave with another registration (each statement
-- below takes a fresh snapshot, after the lock).  A re-run of a call that
-- committed (the worker retries once after a lost connection) finds its
-- own user id and reports it as created.
--   outcome: 'created' (user_role set), 'taken' (username in use, any
--   case), 'closed' (p_first_admin_only and an admin exists).
CREATE FUNCTION mg_local_register(p_id text, p_username text, p_email text,
                                  p_password_hash text, p_first_admin_only boolean,
                                  OUT outcome text, OUT user_role text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7161126935252784);

    SELECT u.role INTO user_role
      FROM users u JOIN local_credentials c ON c.user_id = u.id
     WHERE u.id = p_id;
    IF FOUND THEN
        outcome := 'created';
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM users u WHERE u.role = 'admin') THEN
        IF p_first_admin_only THEN
            outcome := 'closed';
            RETURN;
        END IF;
        user_role := 'user';
    ELSE
        user_role := 'admin';
    END IF;

    IF EXISTS (SELECT 1 FROM local_credentials c WHERE lower(c.username) = lower(p_username)) THEN
        outcome := 'taken';
        user_role := NULL;
        RETURN;
    END IF;

    INSERT INTO users (id, username, email, role)
    VALUES (p_id, p_username, p_email, user_role);
    INSERT INTO local_credentials (user_id, username, password_hash)
    VALUES (p_id, p_username, p_password_hash);
    -- failures recorded against the name before it existed are not its own
    DELETE FROM login_attempts WHERE username_key = lower(p_username);
    outcome := 'created';
END
$$;
