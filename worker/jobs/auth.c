/*
 * auth: owns the local identity, the embedded default when there is no
 * Cognito: auth.register, auth.login, auth.refresh and auth.logout.  These
 * routes are public (the module forwards them without claims).  It also
 * owns the session's two forms: API clients get the refresh token in JSON;
 * browsers get it in the HttpOnly cookie (shared/mg_cookie), set on
 * login/register with "session":"cookie", read by refresh/logout when the
 * body names no token, cleared by logout and by a refusal that ends the
 * session.  In Cognito mode refresh and logout go to cognito.c, and local
 * sign-in is refused (403 local_identity_disabled).
 *
 * What it guarantees:
 *  - passwords are kept only as scrypt strings (password.c) and never
 *    logged; refresh tokens only as their SHA-256; access tokens are
 *    never logged either;
 *  - a wrong password and an unknown username get the same answer after
 *    the same work (a verification against mg_password_dummy_hash), and
 *    both count towards the per-name lockout;
 *  - a locked name is answered 429 before any password is looked at;
 *  - refresh tokens rotate in one statement; presenting a used or revoked
 *    one revokes its whole family (a stolen token is useful once at most);
 *  - input is validated completely before any statement runs.
 * Access tokens are shaped like Cognito access tokens, so the module
 * verifies them exactly like Cognito's.  Their cognito:groups is "admin"
 * for role admin, then the user's stored groups (sql/014), read at every
 * sign-in and refresh: an administrator's change reaches the next token.
 *
 * Registration follows the sign-up rules (signup.c): the mode an
 * administrator set, else MANGOO_REGISTRATION, and the allowed e-mail
 * domains; an invitation opens every mode, once, and gives its role and
 * groups (mg_local_register_invited, sql/014).
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/log.h"
#include "mg_base64url.h"
#include "mg_cookie.h"
#include "mg_json.h"
#include "identity/password.h"
#include "identity/signer.h"
#include "util/uuid.h"
#include "validate.h"

/* Lockout: from the 5th consecutive failure a name is locked for 30 s,
 * doubling with each further failure up to 15 minutes.  A name with no
 * failure for a day starts counting afresh. */
#define MG_AUTH_LOCK_AFTER      "5"
#define MG_AUTH_LOCK_FIRST_S    "30"
#define MG_AUTH_LOCK_MAX_S      "900"
#define MG_AUTH_FORGET_AFTER_S  "86400"

#define MG_USERNAME_MIN   3
#define MG_USERNAME_MAX   64
#define MG_EMAIL_MAX      254

/* a local refresh token is MG_REFRESH_TOKEN_LEN; Cognito's are ~2 KB */
#define MG_REFRESH_BODY_MAX     512
#define MG_REFRESH_COGNITO_MAX  MG_COOKIE_VALUE_MAX

#define MG_SQLSTATE_UNIQUE  "23505"
#define MG_SQLSTATE_FK      "23503"

static const mg_auth_config_t mg_auth_defaults = {
    .signer = NULL, .registration = MG_REGISTRATION_OPEN, .issuer = "mangoo-local",
    .client_id = "mangoo-web", .access_ttl = 900, .refresh_ttl = 30LL * 24 * 3600
};

static mg_auth_config_t mg_auth_cfg = {
    .signer = NULL, .registration = MG_REGISTRATION_OPEN, .issuer = "mangoo-local",
    .client_id = "mangoo-web", .access_ttl = 900, .refresh_ttl = 30LL * 24 * 3600
};

void
mg_auth_configure(const mg_auth_config_t *cfg)
{
    mg_auth_cfg = cfg != NULL ? *cfg : mg_auth_defaults;
}

const mg_auth_config_t *
mg_auth_config(void)
{
    return &mg_auth_cfg;
}

const char *
mg_registration_name(mg_registration_t r)
{
    switch (r) {
    case MG_REGISTRATION_FIRST_ADMIN: return "first-admin";
    case MG_REGISTRATION_CLOSED:      return "closed";
    default:                          return "open";
    }
}

int
mg_registration_parse(const char *name, mg_registration_t *out)
{
    if (strcmp(name, "open") == 0) {
        *out = MG_REGISTRATION_OPEN;
    } else if (strcmp(name, "first-admin") == 0) {
        *out = MG_REGISTRATION_FIRST_ADMIN;
    } else if (strcmp(name, "closed") == 0) {
        *out = MG_REGISTRATION_CLOSED;
    } else {
        return -1;
    }
    return 0;
}

/* ---- pure helpers ---------------------------------------------------- */

int
mg_auth_username_valid(const char *s, size_t len)
{
    static const char allowed[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

    if (len < MG_USERNAME_MIN || len > MG_USERNAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(allowed, s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

int
mg_auth_secret_new(const char *prefix, char *out)
{
    unsigned char  raw[MG_SECRET_RANDOM];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }
    memcpy(out, prefix, MG_SECRET_PREFIX_LEN);
    mg_b64url_encode(raw, sizeof(raw), out + MG_SECRET_PREFIX_LEN);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

int
mg_auth_secret_wellformed(const char *prefix, const char *s, size_t len)
{
    unsigned char  raw[MG_SECRET_RANDOM + 1];

    if (len != MG_SECRET_LEN || memcmp(s, prefix, MG_SECRET_PREFIX_LEN) != 0) {
        return 0;
    }
    return mg_b64url_decode(s + MG_SECRET_PREFIX_LEN, len - MG_SECRET_PREFIX_LEN, raw,
                            sizeof(raw)) == MG_SECRET_RANDOM;
}

int
mg_auth_refresh_token_new(char *out)
{
    return mg_auth_secret_new(MG_REFRESH_TOKEN_PREFIX, out);
}

int
mg_auth_refresh_token_wellformed(const char *s, size_t len)
{
    return mg_auth_secret_wellformed(MG_REFRESH_TOKEN_PREFIX, s, len);
}

int
mg_auth_token_hash(const char *s, size_t len, char *hex)
{
    static const char  digits[] = "0123456789abcdef";
    unsigned char      md[EVP_MAX_MD_SIZE];
    unsigned int       mdlen = 0;

    if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        return -1;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[2 * mdlen] = '\0';
    return 0;
}

json_t *
mg_auth_access_claims(const mg_auth_config_t *cfg, const char *sub, const char *username,
                      int admin, json_t *extra, long long iat, long long auth_time)
{
    char     jti[MG_UUID_LEN + 1];
    json_t  *groups, *g;
    size_t   i;

    if (mg_uuid_v4(jti) != 0) {
        return NULL;
    }
    groups = admin ? json_pack("[s]", "admin") : json_array();
    if (groups == NULL) {
        return NULL;
    }
    /* "admin" only ever from the role: a stored group cannot make one */
    json_array_foreach(extra, i, g) {
        if (json_is_string(g) && strcmp(json_string_value(g), "admin") != 0
            && json_array_append(groups, g) != 0)
        {
            json_decref(groups);
            return NULL;
        }
    }
    /* "o" takes groups over, even when packing fails */
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
                     "sub", sub,
                     "username", username,
                     "cognito:groups", groups,
                     "token_use", "access",
                     "client_id", cfg->client_id,
                     "iss", cfg->issuer,
                     "iat", (json_int_t) iat,
                     "exp", (json_int_t) (iat + cfg->access_ttl),
                     "auth_time", (json_int_t) auth_time,
                     "jti", jti);
}

/* ---- input and replies ------------------------------------------------ */

static const mg_field_t mg_register_fields[] = {
    { "username", MG_FIELD_STRING, MG_FIELD_REQUIRED, MG_USERNAME_MIN, MG_USERNAME_MAX, NULL },
    { "password", MG_FIELD_STRING, MG_FIELD_REQUIRED,
      MG_PASSWORD_MIN_CHARS, MG_PASSWORD_MAX_CHARS, NULL },
    { "email",    MG_FIELD_STRING, MG_FIELD_NULLABLE, 0, MG_EMAIL_MAX, NULL },
    { "session",  MG_FIELD_STRING, 0, 1, 16, NULL },
    { "invitation", MG_FIELD_STRING, 0, 1, 128, NULL },
};

/* Login takes whatever a user may type: a name or password that could
 * never have been registered is simply wrong (401), not malformed.  The
 * bounds only keep absurd inputs out of the KDF and the lockout table. */
static const mg_field_t mg_login_fields[] = {
    { "username", MG_FIELD_STRING, MG_FIELD_REQUIRED, 1, 256,  NULL },
    { "password", MG_FIELD_STRING, MG_FIELD_REQUIRED, 1, 1024, NULL },
    { "session",  MG_FIELD_STRING, 0, 1, 16, NULL },
};

/* No refresh_token: the session cookie's (the browser form). */
static const mg_field_t mg_refresh_fields[] = {
    { "refresh_token", MG_FIELD_STRING, 0, 1, MG_REFRESH_BODY_MAX, NULL },
};

static const mg_field_t mg_refresh_cognito_fields[] = {
    { "refresh_token", MG_FIELD_STRING, 0, 1, MG_REFRESH_COGNITO_MAX, NULL },
};

#define MG_NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static int
mg_auth_internal(mg_job_t *job)
{
    return mg_job_reply_error(job, 500, "internal", "internal error");
}

static int
mg_auth_invalid_credentials(mg_job_t *job)
{
    /* no username in the log: a mistyped password often is one */
    mg_log_warn("auth.login rid=%s: refused: wrong username or password", job->rid);
    return mg_job_reply_error(job, 401, "invalid_credentials", "wrong username or password");
}

int
mg_auth_invalid_refresh(mg_job_t *job, const mg_session_t *s)
{
    if (s->token == NULL) {
        return mg_job_reply_error(job, 401, "invalid_refresh_token",
                                  s->cookie ? "no session: sign in again (no refresh_token "
                                              "in the body and no " MG_COOKIE_REFRESH
                                              " cookie)"
                                            : "no refresh token");
    }
    mg_log_warn("%.*s rid=%s: refused: refresh token invalid, expired or revoked",
                (int) job->name_len, job->name, job->rid);
    return mg_auth_reply_session_error(job, s, 401, "invalid_refresh_token",
                                       "refresh token is invalid, expired or revoked");
}

static int
mg_auth_disabled(mg_job_t *job, const mg_session_t *s)
{
    return mg_auth_reply_session_error(job, s, 403, "account_disabled",
                                       "this account is disabled");
}

static int
mg_auth_local_disabled(mg_job_t *job)
{
    return mg_job_reply_error(job, 403, "local_identity_disabled",
                              "this server signs in through Amazon Cognito: "
                              "use POST /api/v1/auth/cognito");
}

static int
mg_auth_closed(mg_job_t *job)
{
    return mg_job_reply_error(job, 403, "registration_closed", "registration is closed");
}

static int
mg_auth_invitation_invalid(mg_job_t *job)
{
    return mg_job_reply_error(job, 403, "invitation_invalid",
                              "this invitation is unknown, used, revoked or expired, "
                              "or was made for another e-mail address");
}

static int
mg_auth_domain_refused(mg_job_t *job)
{
    return mg_job_reply_error(job, 403, "domain_not_allowed",
                              "registration needs an e-mail address in one of the allowed "
                              "domains (GET /api/v1/config lists them)");
}

static int
mg_auth_taken(mg_job_t *job)
{
    return mg_job_reply_error(job, 409, "username_taken", "this username is already taken");
}

/* 429 in the API's error shape, with Retry-After (an ERR cannot carry
 * headers, so the error body is written here). */
static int
mg_auth_locked(mg_job_t *job, const char *seconds)
{
    json_t  *headers = json_pack("{s:s}", "Retry-After", seconds);
    int      sent;

    if (headers == NULL) {
        return mg_auth_internal(job);
    }
    sent = mg_job_reply_error_with(job, 429, "too_many_attempts",
                                   "too many failed logins: try again later", headers);
    json_decref(headers);
    return sent;
}

/* ---- the session's two forms ------------------------------------------ */

void
mg_session_from_cookie(const mg_job_t *job, mg_session_t *s)
{
    json_t  *secure = json_object_get(job->params, "cookie_secure");

    s->cookie = 1;
    /* without the module's word (a test, an old module): the safe side */
    s->secure = json_is_boolean(secure) ? json_is_true(secure) : 1;
    s->token = mg_job_param(job, "refresh_cookie", &s->len);
    if (s->token == NULL) {
        s->len = 0;
    }
}

/* Token responses must not be cached anywhere (RFC 6749 section 5.1);
 * with set, a Set-Cookie of the session cookie: value (vlen bytes; none:
 * cleared) for max_age seconds.  A new reference or NULL. */
static json_t *
mg_auth_headers(const mg_session_t *s, int set, const char *value, size_t vlen,
                long long max_age)
{
    char     cookie[MG_COOKIE_HEADER_MAX];
    json_t  *h = json_pack("{s:s, s:s}", "Cache-Control", "no-store", "Pragma", "no-cache");

    if (h == NULL || !set) {
        return h;
    }
    if (mg_cookie_format(cookie, sizeof(cookie), MG_COOKIE_REFRESH, value, vlen,
                         vlen ? max_age : 0, s->secure) < 0
        || json_object_set_new(h, "Set-Cookie", json_string(cookie)) != 0)
    {
        json_decref(h);
        h = NULL;
    }
    OPENSSL_cleanse(cookie, sizeof(cookie));
    return h;
}

int
mg_auth_reply_session(mg_job_t *job, int status, json_t *body, const mg_session_t *s,
                      const char *refresh)
{
    json_t  *headers;
    char    *token = NULL;
    int      sent;

    if (s->cookie) {
        if (refresh == NULL) {
            refresh = json_string_value(json_object_get(body, "refresh_token"));
        }
        if (refresh == NULL || (token = strdup(refresh)) == NULL) {
            mg_log_error("job %.*s rid=%s: no refresh token for the session cookie",
                         (int) job->name_len, job->name, job->rid);
            return mg_auth_internal(job);
        }
        /* the browser never sees it: HttpOnly cookie only */
        (void) json_object_del(body, "refresh_token");
    }
    headers = mg_auth_headers(s, s->cookie, token, token ? strlen(token) : 0,
                              mg_auth_cfg.refresh_ttl);
    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    if (headers == NULL) {
        mg_log_error("job %.*s rid=%s: cannot write the session cookie",
                     (int) job->name_len, job->name, job->rid);
        return mg_auth_internal(job);
    }
    sent = mg_job_reply_json(job, status, body, headers);
    json_decref(headers);
    return sent;
}

int
mg_auth_reply_session_error(mg_job_t *job, const mg_session_t *s, int status,
                            const char *code, const char *message)
{
    json_t  *headers;
    int      sent;

    if (!s->cookie) {
        return mg_job_reply_error(job, status, code, message);
    }
    headers = mg_auth_headers(s, 1, NULL, 0, 0);
    if (headers == NULL) {
        return mg_auth_internal(job);
    }
    sent = mg_job_reply_error_with(job, status, code, message, headers);
    json_decref(headers);
    return sent;
}

int
mg_auth_reply_logged_out(mg_job_t *job, const mg_session_t *s)
{
    json_t  *headers;
    int      sent;

    if (!s->cookie) {
        return mg_job_reply_empty(job, 204);
    }
    headers = mg_auth_headers(s, 1, NULL, 0, 0);
    if (headers == NULL) {
        return mg_auth_internal(job);
    }
    sent = mg_job_reply_raw(job, 204, "", 0, headers);
    json_decref(headers);
    return sent;
}

/* "session" of a login or registration body: absent, the JSON form;
 * "cookie", the browser form.  0, or -1 after answering 400. */
static int
mg_auth_session_field(mg_job_t *job, json_t *v, mg_session_t *s, int *sent)
{
    json_t  *f = json_object_get(v, "session");

    memset(s, 0, sizeof(*s));
    if (f == NULL) {
        return 0;
    }
    if (strcmp(json_string_value(f), "cookie") != 0) {
        *sent = mg_job_reply_error(job, 400, "invalid_field",
                                   "field \"session\" must be \"cookie\" (or absent)");
        return -1;
    }
    mg_session_from_cookie(job, s);
    s->token = NULL;                /* a new session replaces any old cookie */
    s->len = 0;
    return 0;
}

/* {"access_token","refresh_token","token_type","expires_in"} for this
 * user, or NULL (logged) when no token could be signed.  groups: the
 * user's stored groups as JSON text (NULL: none). */
static json_t *
mg_auth_tokens_body(mg_job_t *job, const char *sub, const char *username,
                    const char *role, const char *groups, long long auth_time,
                    const char *refresh)
{
    json_t     *claims = NULL, *body = NULL, *extra = NULL;
    char       *access = NULL;
    long long   now = (long long) time(NULL);

    if (mg_auth_cfg.signer == NULL) {
        mg_log_error("job %.*s rid=%s: no signer configured", (int) job->name_len,
                     job->name, job->rid);
        return NULL;
    }
    /* json_is_array() is a macro that reads its argument twice */
    extra = groups != NULL ? json_loads(groups, 0, NULL) : NULL;
    if (groups != NULL && !json_is_array(extra)) {
        mg_log_error("job %.*s rid=%s: the user's groups are not a JSON array",
                     (int) job->name_len, job->name, job->rid);
        goto done;
    }
    claims = mg_auth_access_claims(&mg_auth_cfg, sub, username, strcmp(role, "admin") == 0,
                                   extra, now, auth_time);
    if (claims == NULL) {
        mg_log_error("job %.*s rid=%s: cannot build claims", (int) job->name_len,
                     job->name, job->rid);
        goto done;
    }
    access = mg_signer_sign(mg_auth_cfg.signer, claims, NULL);
    if (access == NULL) {
        mg_log_error("job %.*s rid=%s: no access token: no usable signing key",
                     (int) job->name_len, job->name, job->rid);
        goto done;
    }
    body = json_pack("{s:s, s:s, s:s, s:I}",
                     "access_token", access,
                     "refresh_token", refresh,
                     "token_type", "Bearer",
                     "expires_in", (json_int_t) mg_auth_cfg.access_ttl);

done:
    free(access);
    json_decref(claims);
    json_decref(extra);
    return body;
}

/* Start a session (a new refresh token family) for a user whose password
 * was just verified or set; refresh receives its token
 * (MG_REFRESH_TOKEN_LEN + 1).  0, or -1 after answering: 401 when the user
 * was deleted meanwhile, 503 or 500. */
static int
mg_auth_session_create(mg_job_t *job, const char *user_id, const char *username,
                       long long auth_time, char *refresh, int *sent)
{
    char         id[MG_UUID_LEN + 1], hash[MG_SHA256_HEX_LEN + 1];
    char         ttl[24], at[24];
    const char  *values[6];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;

    if (mg_uuid_v4(id) != 0 || mg_auth_refresh_token_new(refresh) != 0
        || mg_auth_token_hash(refresh, strlen(refresh), hash) != 0)
    {
        mg_log_error("job %.*s rid=%s: no randomness for a refresh token",
                     (int) job->name_len, job->name, job->rid);
        *sent = mg_auth_internal(job);
        return -1;
    }
    snprintf(ttl, sizeof(ttl), "%lld", mg_auth_cfg.refresh_ttl);
    snprintf(at, sizeof(at), "%lld", auth_time);
    values[0] = id;
    values[1] = user_id;
    values[2] = hash;
    values[3] = ttl;
    values[4] = at;
    values[5] = username;

    rc = mg_db_exec(job->db, MG_Q_AUTH_SESSION_CREATE, values, &res);
    if (rc == MG_DB_OK) {
        PQclear(res);
        return 0;
    }
    if (rc == MG_DB_FAILED && strcmp(mg_db_sqlstate(res), MG_SQLSTATE_FK) == 0) {
        *sent = mg_auth_invalid_credentials(job);       /* deleted meanwhile */
    } else {
        *sent = mg_job_reply_db_error(job, rc, res, "session");
    }
    PQclear(res);
    return -1;
}

/* ---- auth.register ----------------------------------------------------- */

/* Full validation of a registration body; NULL after replying 400. */
static json_t *
mg_register_input(mg_job_t *job, int *sent)
{
    json_t       *v, *f;
    mg_verr_t     err;
    char          rule[128];
    const char   *s;

    v = mg_validate_body(job->body, job->body_len, mg_register_fields,
                         MG_NFIELDS(mg_register_fields), MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        *sent = mg_job_reply_verr(job, &err);
        return NULL;
    }
    f = json_object_get(v, "username");
    if (!mg_auth_username_valid(json_string_value(f), json_string_length(f))) {
        mg_verr_set(&err, 400, "invalid_field",
                    "field \"username\" must be %d to %d characters of A-Z, a-z, 0-9, "
                    "\".\", \"_\" and \"-\"", MG_USERNAME_MIN, MG_USERNAME_MAX);
        goto invalid;
    }
    f = json_object_get(v, "email");
    /* the same rule as PATCH /users/me */
    if (json_is_string(f) && !mg_users_email_valid(json_string_value(f), json_string_length(f))) {
        mg_verr_set(&err, 400, "invalid_field",
                    "field \"email\" must be an email address (one \"@\", no spaces, "
                    "at most %d characters) or null", MG_EMAIL_MAX);
        goto invalid;
    }
    f = json_object_get(v, "password");
    s = json_string_value(f);
    if (mg_password_policy(s, json_string_length(f), rule, sizeof(rule)) != 0) {
        mg_verr_set(&err, 400, "invalid_field", "field \"password\" %s", rule);
        goto invalid;
    }
    return v;

invalid:
    json_decref(v);
    *sent = mg_job_reply_verr(job, &err);
    return NULL;
}

int
mg_job_auth_register(mg_job_t *job)
{
    json_t             *v = NULL, *body = NULL, *user, *groups = NULL;
    const char         *username, *email, *password, *values[5], *role, *gtext = NULL;
    const char         *code;
    size_t              password_len, code_len;
    char                id[MG_UUID_LEN + 1], stored[MG_PASSWORD_HASH_MAX];
    char                refresh[MG_REFRESH_TOKEN_LEN + 1], code_hash[MG_SHA256_HEX_LEN + 1];
    PGresult           *res = NULL, *reg = NULL;
    mg_db_rc_t          rc;
    mg_session_t        session;
    mg_signup_rules_t   rules = { .registration = MG_REGISTRATION_OPEN, .domains = NULL };
    int                 sent, first_admin_only = 0, invited;
    long long           now;

    stored[0] = '\0';
    /* a policy, not an input problem: no point reading the body */
    if (mg_auth_cfg.cognito_domain != NULL) {
        return mg_auth_local_disabled(job);
    }
    v = mg_register_input(job, &sent);
    if (v == NULL || mg_auth_session_field(job, v, &session, &sent) != 0) {
        goto done;
    }
    username = json_string_value(json_object_get(v, "username"));
    email = json_string_value(json_object_get(v, "email"));     /* NULL when absent or null */
    password = json_string_value(json_object_get(v, "password"));
    password_len = json_string_length(json_object_get(v, "password"));

    /* An invitation opens every mode and bypasses the domain list; only
     * a registration without one is judged by the rules. */
    invited = json_object_get(v, "invitation") != NULL;
    if (!invited) {
        if (mg_signup_rules_load(job, &rules, &sent) != 0) {
            goto done;
        }
        first_admin_only = rules.registration == MG_REGISTRATION_FIRST_ADMIN;
        if (rules.registration == MG_REGISTRATION_CLOSED
            || (first_admin_only && rules.admin_exists))
        {
            sent = mg_auth_closed(job);
            goto done;
        }
    }

    if (invited) {
        code = json_string_value(json_object_get(v, "invitation"));
        code_len = json_string_length(json_object_get(v, "invitation"));
        if (!mg_invite_code_wellformed(code, code_len)) {
            sent = mg_auth_invitation_invalid(job);
            goto done;
        }
        if (mg_auth_token_hash(code, code_len, code_hash) != 0) {
            sent = mg_auth_internal(job);
            goto done;
        }
    } else if (!mg_signup_email_allowed(email, rules.domains)) {
        sent = mg_auth_domain_refused(job);
        goto done;
    }

    /* the cheap sure answers before the slow hash */
    values[0] = username;
    rc = mg_db_exec(job->db, MG_Q_AUTH_REGISTER_CHECK, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "auth.register check");
        goto done;
    }
    if (first_admin_only && PQgetvalue(res, 0, 0)[0] == 't') {
        sent = mg_auth_closed(job);
        goto done;
    }
    if (PQgetvalue(res, 0, 1)[0] == 't') {
        sent = mg_auth_taken(job);
        goto done;
    }
    PQclear(res);
    res = NULL;

    if (mg_password_hash(password, password_len, stored, sizeof(stored)) != 0
        || mg_uuid_v4(id) != 0)
    {
        sent = mg_auth_internal(job);
        goto done;
    }

    values[0] = id;
    values[1] = username;
    values[2] = email;
    values[3] = stored;
    values[4] = invited ? code_hash : first_admin_only ? "true" : "false";
    rc = mg_db_exec(job->db, invited ? MG_Q_AUTH_REGISTER_INVITED : MG_Q_AUTH_REGISTER,
                    values, &reg);
    if (rc == MG_DB_FAILED && strcmp(mg_db_sqlstate(reg), MG_SQLSTATE_UNIQUE) == 0) {
        sent = mg_auth_taken(job);  /* the index caught what the lock did not */
        goto done;
    }
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, reg, "auth.register");
        goto done;
    }
    if (strcmp(PQgetvalue(reg, 0, 0), "closed") == 0) {
        sent = mg_auth_closed(job);
        goto done;
    }
    if (strcmp(PQgetvalue(reg, 0, 0), "taken") == 0) {
        sent = mg_auth_taken(job);
        goto done;
    }
    if (strcmp(PQgetvalue(reg, 0, 0), "invalid") == 0) {
        mg_log_warn("auth.register rid=%s: refused: invitation invalid", job->rid);
        sent = mg_auth_invitation_invalid(job);
        goto done;
    }
    role = strcmp(PQgetvalue(reg, 0, 1), "admin") == 0 ? "admin" : "user";
    if (invited) {
        gtext = PQgetvalue(reg, 0, 2);
        email = PQgetisnull(reg, 0, 3) ? NULL : PQgetvalue(reg, 0, 3);
    }
    mg_log_info("auth.register rid=%s: user %s registered (%s%s)", job->rid, id, role,
                invited ? ", invited" : "");

    now = (long long) time(NULL);
    if (mg_auth_session_create(job, id, username, now, refresh, &sent) != 0) {
        goto done;                  /* registered, but no session: the client can log in */
    }

    body = mg_auth_tokens_body(job, id, username, role, gtext, now, refresh);
    groups = gtext != NULL ? json_loads(gtext, 0, NULL) : json_array();
    user = json_pack("{s:s, s:s, s:s?, s:s, s:O}", "id", id, "username", username,
                     "email", email, "role", role, "groups", groups);
    if (body == NULL || user == NULL || json_object_set_new(body, "user", user) != 0) {
        sent = mg_auth_internal(job);
        goto done;
    }
    sent = mg_auth_reply_session(job, 201, body, &session, refresh);

done:
    json_decref(groups);
    json_decref(body);
    PQclear(reg);
    PQclear(res);
    json_decref(v);
    mg_signup_rules_free(&rules);
    return sent;
}

/* ---- auth.login -------------------------------------------------------- */

enum {
    MG_LOGIN_COL_USER_ID = 0,
    MG_LOGIN_COL_HASH,
    MG_LOGIN_COL_USERNAME,
    MG_LOGIN_COL_ROLE,
    MG_LOGIN_COL_DISABLED,
    MG_LOGIN_COL_EMAIL,
    MG_LOGIN_COL_LOCKED_S,
    MG_LOGIN_COL_GROUPS
};

/* Count a failed attempt against username, then answer 401. */
static int
mg_login_failed(mg_job_t *job, const char *username)
{
    const char  *values[5] = { username, MG_AUTH_LOCK_AFTER, MG_AUTH_LOCK_FIRST_S,
                               MG_AUTH_LOCK_MAX_S, MG_AUTH_FORGET_AFTER_S };
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    rc = mg_db_exec(job->db, MG_Q_AUTH_LOGIN_FAILED, values, &res);
    if (rc != MG_DB_OK) {
        /* the attempt must count, or the lockout could be dodged */
        sent = mg_job_reply_db_error(job, rc, res, "auth.login failure");
    } else {
        if (!PQgetisnull(res, 0, 1)) {
            mg_log_warn("auth.login rid=%s: a username is locked for %ss after %s failures",
                        job->rid, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
        }
        sent = mg_auth_invalid_credentials(job);
    }
    PQclear(res);
    return sent;
}

int
mg_job_auth_login(mg_job_t *job)
{
    json_t       *v = NULL, *f, *body = NULL;
    mg_verr_t     err;
    const char   *username, *password, *stored, *values[1];
    size_t        password_len;
    char          refresh[MG_REFRESH_TOKEN_LEN + 1];
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    mg_session_t  session;
    int           sent, known, ok;
    long long     now;

    if (mg_auth_cfg.cognito_domain != NULL) {
        return mg_auth_local_disabled(job);
    }
    v = mg_validate_body(job->body, job->body_len, mg_login_fields,
                         MG_NFIELDS(mg_login_fields), MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    if (mg_auth_session_field(job, v, &session, &sent) != 0) {
        goto done;
    }
    username = json_string_value(json_object_get(v, "username"));
    f = json_object_get(v, "password");
    password = json_string_value(f);
    password_len = json_string_length(f);

    values[0] = username;
    rc = mg_db_exec(job->db, MG_Q_AUTH_LOGIN_LOOKUP, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "auth.login lookup");
        goto done;
    }
    if (!PQgetisnull(res, 0, MG_LOGIN_COL_LOCKED_S)) {
        sent = mg_auth_locked(job, PQgetvalue(res, 0, MG_LOGIN_COL_LOCKED_S));
        goto done;
    }

    /* same work whether or not the name exists */
    known = !PQgetisnull(res, 0, MG_LOGIN_COL_USER_ID);
    stored = known ? PQgetvalue(res, 0, MG_LOGIN_COL_HASH) : mg_password_dummy_hash;
    ok = mg_password_verify(password, password_len, stored);
    if (ok < 0) {
        mg_log_error("auth.login rid=%s: cannot verify %s", job->rid,
                     known ? "a stored password hash" : "the dummy hash");
        sent = mg_auth_internal(job);
        goto done;
    }
    if (!ok || !known) {
        sent = mg_login_failed(job, username);
        goto done;
    }
    if (PQgetvalue(res, 0, MG_LOGIN_COL_DISABLED)[0] == 't') {
        sent = mg_auth_disabled(job, &session);
        goto done;
    }

    now = (long long) time(NULL);
    if (mg_auth_session_create(job, PQgetvalue(res, 0, MG_LOGIN_COL_USER_ID), username,
                               now, refresh, &sent) != 0)
    {
        goto done;
    }

    body = mg_auth_tokens_body(job, PQgetvalue(res, 0, MG_LOGIN_COL_USER_ID),
                               PQgetvalue(res, 0, MG_LOGIN_COL_USERNAME),
                               PQgetvalue(res, 0, MG_LOGIN_COL_ROLE),
                               PQgetvalue(res, 0, MG_LOGIN_COL_GROUPS), now, refresh);
    sent = body != NULL ? mg_auth_reply_session(job, 200, body, &session, refresh)
                        : mg_auth_internal(job);

done:
    json_decref(body);
    PQclear(res);
    json_decref(v);
    return sent;
}

/* ---- auth.refresh and auth.logout -------------------------------------- */

/* The presented refresh token, validated, into s: the body's
 * refresh_token (the JSON form), else the session cookie's (the browser
 * form; an empty body counts as {}).  s->token stays NULL when there is
 * neither.  The parsed body (s points into it), or NULL after replying
 * 400. */
static json_t *
mg_refresh_input(mg_job_t *job, mg_session_t *s, int *sent)
{
    json_t            *v, *f;
    mg_verr_t          err;
    const mg_field_t  *fields = mg_auth_cfg.cognito_domain != NULL ? mg_refresh_cognito_fields
                                                                   : mg_refresh_fields;

    memset(s, 0, sizeof(*s));
    if (job->body_len == 0) {
        v = json_object();
        if (v == NULL) {
            *sent = mg_auth_internal(job);
            return NULL;
        }
    } else {
        v = mg_validate_body(job->body, job->body_len, fields, 1, MG_VALIDATE_CREATE, &err);
        if (v == NULL) {
            *sent = mg_job_reply_verr(job, &err);
            return NULL;
        }
    }
    f = json_object_get(v, "refresh_token");
    if (f != NULL) {
        s->token = json_string_value(f);
        s->len = json_string_length(f);
    } else {
        mg_session_from_cookie(job, s);
    }
    return v;
}

/* Rotation found nothing: tell unknown/expired (401), reuse (revoke the
 * family, 401) and a disabled user (403) apart. */
static int
mg_refresh_rejected(mg_job_t *job, const char *hash, const mg_session_t *s)
{
    const char  *values[1] = { hash };
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    rc = mg_db_exec(job->db, MG_Q_AUTH_REFRESH_REJECT, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "auth.refresh reject");
    } else if (PQntuples(res) == 0) {
        sent = mg_auth_invalid_refresh(job, s);
    } else if (PQgetvalue(res, 0, 0)[0] == 't') {
        mg_log_warn("auth.refresh rid=%s: a used or revoked refresh token was presented; "
                    "its family is revoked (%s more tokens)", job->rid, PQgetvalue(res, 0, 3));
        sent = mg_auth_invalid_refresh(job, s);
    } else if (PQgetvalue(res, 0, 2)[0] == 't' && PQgetvalue(res, 0, 1)[0] != 't') {
        sent = mg_auth_disabled(job, s);
    } else {
        sent = mg_auth_invalid_refresh(job, s);
    }
    PQclear(res);
    return sent;
}

int
mg_job_auth_refresh(mg_job_t *job)
{
    json_t        *v, *body = NULL;
    const char    *values[4];
    char           hash[MG_SHA256_HEX_LEN + 1], new_hash[MG_SHA256_HEX_LEN + 1];
    char           id[MG_UUID_LEN + 1], ttl[24];
    char           refresh[MG_REFRESH_TOKEN_LEN + 1];
    PGresult      *res = NULL;
    mg_db_rc_t     rc;
    mg_session_t   s;
    int            sent;

    v = mg_refresh_input(job, &s, &sent);
    if (v == NULL) {
        return sent;
    }
    if (mg_auth_cfg.cognito_domain != NULL) {
        sent = mg_cognito_refresh(job, &s);
        goto done;
    }
    if (s.token == NULL || !mg_auth_refresh_token_wellformed(s.token, s.len)) {
        sent = mg_auth_invalid_refresh(job, &s);
        goto done;
    }
    if (mg_auth_token_hash(s.token, s.len, hash) != 0 || mg_uuid_v4(id) != 0
        || mg_auth_refresh_token_new(refresh) != 0
        || mg_auth_token_hash(refresh, strlen(refresh), new_hash) != 0)
    {
        sent = mg_auth_internal(job);
        goto done;
    }
    snprintf(ttl, sizeof(ttl), "%lld", mg_auth_cfg.refresh_ttl);

    values[0] = hash;
    values[1] = id;
    values[2] = new_hash;
    values[3] = ttl;
    rc = mg_db_exec(job->db, MG_Q_AUTH_REFRESH_ROTATE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "auth.refresh");
        goto done;
    }
    if (PQntuples(res) == 0) {
        sent = mg_refresh_rejected(job, hash, &s);
        goto done;
    }

    body = mg_auth_tokens_body(job, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 4),
                               strtoll(PQgetvalue(res, 0, 3), NULL, 10), refresh);
    sent = body != NULL ? mg_auth_reply_session(job, 200, body, &s, refresh)
                        : mg_auth_internal(job);

done:
    OPENSSL_cleanse(refresh, sizeof(refresh));
    json_decref(body);
    PQclear(res);
    json_decref(v);
    return sent;
}

int
mg_job_auth_logout(mg_job_t *job)
{
    json_t        *v;
    const char    *values[1];
    char           hash[MG_SHA256_HEX_LEN + 1];
    PGresult      *res = NULL;
    mg_db_rc_t     rc;
    mg_session_t   s;
    int            sent;

    v = mg_refresh_input(job, &s, &sent);
    if (v == NULL) {
        return sent;
    }
    if (mg_auth_cfg.cognito_domain != NULL) {
        sent = mg_cognito_logout(job, &s);
        goto done;
    }
    /* logout is idempotent: a token that is not ours has nothing to revoke */
    if (s.token == NULL || !mg_auth_refresh_token_wellformed(s.token, s.len)) {
        sent = mg_auth_reply_logged_out(job, &s);
        goto done;
    }
    if (mg_auth_token_hash(s.token, s.len, hash) != 0) {
        sent = mg_auth_internal(job);
        goto done;
    }
    values[0] = hash;
    rc = mg_db_exec(job->db, MG_Q_AUTH_LOGOUT, values, &res);
    sent = rc == MG_DB_OK ? mg_auth_reply_logged_out(job, &s)
                          : mg_job_reply_db_error(job, rc, res, "auth.logout");

done:
    PQclear(res);
    json_decref(v);
    return sent;
}
