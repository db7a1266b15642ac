-- 014_signup: permission groups of local users, and the sign-up rules an
-- administrator edits (worker/jobs/signup.c): the registration mode, an
-- allow-list of e-mail domains and invitations.  Applied inside one
-- transaction by `mangoo-worker migrate`: no BEGIN/COMMIT here.

-- The groups a local user's access tokens carry in cognito:groups, beside
-- "admin" for role admin (which is why "admin" is not allowed here: the
-- role says that).  Cognito users' groups come from Cognito; this column
-- stays empty for them.  Names as the worker validates them: 1..128
-- printable characters without spaces, at most 20.  A change takes
-- effect with the user's next access token (refresh or sign-in).
ALTER TABLE users
    ADD COLUMN groups text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(groups) <= 20 AND NOT ('admin' = ANY (groups)));

-- The sign-up rules, one row at most.  registration NULL: the worker's
-- MANGOO_REGISTRATION (the default until an administrator sets one).
-- allowed_domains: lowercase domains; non-empty, a registration needs an
-- e-mail address in one of them (invitations bypass it).
CREATE TABLE signup_settings (
    id               boolean     PRIMARY KEY DEFAULT true CHECK (id),
    registration     text        CHECK (registration IN ('open', 'first-admin', 'closed')),
    allowed_domains  text[]      NOT NULL DEFAULT '{}'
                                 CHECK (cardinality(allowed_domains) <= 100),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text        REFERENCES users (id) ON DELETE SET NULL
);

-- Invitations by an administrator: the code is shown once, only its
-- SHA-256 is kept.  Usable once, until expires_at, unless revoked, by a
-- registration with the same e-mail address (any case), in any
-- registration mode.
CREATE TABLE invitations (
    id          uuid        PRIMARY KEY,
    email       text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    role        text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    groups      text[]      NOT NULL DEFAULT '{}'
                            CHECK (cardinality(groups) <= 20 AND NOT ('admin' = ANY (groups))),
    code_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(code_hash) = 32),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        REFERENCES users (id) ON DELETE SET NULL,
    used_at     timestamptz,
    used_by     text        REFERENCES users (id) ON DELETE SET NULL,
    revoked_at  timestamptz
);

CREATE INDEX invitations_created_idx ON invitations (created_at DESC, id DESC);

-- Registration with an invitation, in one statement, under the same lock
-- as mg_local_register (sql/002), so the invitation is used exactly once
-- and the username check cannot interleave with another registration.
-- p_email NULL: the invitation's address.  A re-run of a call that
-- committed (the worker retries once after a lost connection) finds its
-- own user id and reports it as created.
--   outcome: 'created' (user_role, user_groups, user_email set), 'taken'
--   (username in use, any case), 'invalid' (no such code, used, revoked,
--   expired, or another e-mail address).
CREATE FUNCTION mg_local_register_invited(p_id text, p_username text, p_email text,
                                          p_password_hash text, p_code_hash bytea,
                                          OUT outcome text, OUT user_role text,
                                          OUT user_groups text, OUT user_email text)
LANGUAGE plpgsql AS $$
DECLARE
    inv invitations%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(7161126935252784);

    SELECT u.role, to_json(u.groups)::text, u.email INTO user_role, user_groups, user_email
      FROM users u JOIN local_credentials c ON c.user_id = u.id
     WHERE u.id = p_id;
    IF FOUND THEN
        outcome := 'created';
        RETURN;
    END IF;

    SELECT * INTO inv FROM invitations i WHERE i.code_hash = p_code_hash FOR UPDATE;
    IF NOT FOUND OR inv.used_at IS NOT NULL OR inv.revoked_at IS NOT NULL
       OR inv.expires_at <= now()
       OR (p_email IS NOT NULL AND lower(p_email) <> lower(inv.email))
    THEN
        outcome := 'invalid';
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM local_credentials c WHERE lower(c.username) = lower(p_username)) THEN
        outcome := 'taken';
        RETURN;
    END IF;

    user_email := COALESCE(p_email, inv.email);
    INSERT INTO users (id, username, email, role, groups)
    VALUES (p_id, p_username, user_email, inv.role, inv.groups);
    INSERT INTO local_credentials (user_id, username, password_hash)
    VALUES (p_id, p_username, p_password_hash);
    DELETE FROM login_attempts WHERE username_key = lower(p_username);
    UPDATE invitations SET used_at = now(), used_by = p_id WHERE id = inv.id;
    user_role := inv.role;
    user_groups := to_json(inv.groups)::text;
    outcome := 'created';
END
$$;
