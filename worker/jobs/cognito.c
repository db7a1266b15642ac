/*
 * cognito: the server side of signing in through Amazon Cognito's hosted
 * UI with an authorization code and PKCE (RFC 7636), for browsers:
 * auth.cognito trades the code for tokens at <domain>/oauth2/token, and,
 * in Cognito mode (MANGOO_COGNITO_DOMAIN set), auth.refresh and
 * auth.logout (auth.c reads their requests) refresh at the same endpoint
 * and revoke at <domain>/oauth2/revoke.
 *
 * What it guarantees:
 *  - Cognito's refresh token travels only in the HttpOnly session cookie
 *    and to Cognito; the client secret (a confidential app client's) only
 *    to Cognito, in HTTP Basic; neither they nor codes are ever logged;
 *  - every call to Cognito is one bounded blocking request on this pool
 *    thread (MG_COGNITO_*_MS); unreachable, throttling or failing (5xx)
 *    is 503 identity_unavailable, a refusal of the grant is 400
 *    invalid_grant (a code) or 401 invalid_refresh_token (a session,
 *    whose cookie is cleared), a refusal of our client (wrong id or
 *    secret) is 502 identity_misconfigured and logged as such;
 *  - input is validated completely before Cognito is called.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/http_get.h"
#include "util/log.h"
#include "mg_cookie.h"

#define MG_COGNITO_CONNECT_MS   3000L
#define MG_COGNITO_TOTAL_MS     10000L
#define MG_COGNITO_MAX_BYTES    (64 * 1024)
#define MG_COGNITO_URL_MAX      2200
#define MG_COGNITO_FIELD_MAX    2048

#define MG_NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static const mg_field_t mg_cognito_fields[] = {
    { "code",          MG_FIELD_STRING, MG_FIELD_REQUIRED, 1, MG_COGNITO_FIELD_MAX, NULL },
    { "code_verifier", MG_FIELD_STRING, MG_FIELD_REQUIRED, 43, 128, NULL },
    { "redirect_uri",  MG_FIELD_STRING, MG_FIELD_REQUIRED, 1, MG_COGNITO_FIELD_MAX, NULL },
};

/* What one call to Cognito came back with. */
typedef enum {
    MG_COGNITO_OK = 0,      /* 200 and a JSON object */
    MG_COGNITO_REFUSED,     /* 4xx: *error holds Cognito's OAuth error code */
    MG_COGNITO_DOWN,        /* unreachable, timed out, 429, 5xx */
    MG_COGNITO_BROKEN       /* an answer we cannot use, or our own failure */
} mg_cognito_rc_t;

/* ---- pure helpers ------------------------------------------------------ */

int
mg_cognito_verifier_valid(const char *s, size_t len)
{
    if (len < 43 || len > 128) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '-' || c == '.' || c == '_' || c == '~'))
        {
            return 0;
        }
    }
    return 1;
}

int
mg_cognito_url(char *out, size_t cap, const char *domain, const char *what)
{
    size_t  n = strlen(domain);
    int     len;

    while (n > 0 && domain[n - 1] == '/') {
        n--;
    }
    len = snprintf(out, cap, "%.*s/oauth2/%s", (int) n, domain, what);
    return len < 0 || (size_t) len >= cap ? -1 : 0;
}

/* ---- one call ---------------------------------------------------------- */

/* "Authorization: Basic base64(client_id:secret)" into a new list entry
 * of *hdrs (RFC 6749 section 2.3.1).  0 or -1. */
static int
mg_cognito_basic(struct curl_slist **hdrs, const char *id, const char *secret)
{
    size_t              plain_len = strlen(id) + 1 + strlen(secret);
    char               *plain, *line;
    struct curl_slist  *grown;
    int                 rc = -1;

    plain = malloc(plain_len + 1);
    line = malloc(sizeof("Authorization: Basic ") + 4 * (plain_len / 3 + 1) + 1);
    if (plain == NULL || line == NULL) {
        goto done;
    }
    snprintf(plain, plain_len + 1, "%s:%s", id, secret);
    memcpy(line, "Authorization: Basic ", sizeof("Authorization: Basic ") - 1);
    EVP_EncodeBlock((unsigned char *) line + sizeof("Authorization: Basic ") - 1,
                    (const unsigned char *) plain, (int) plain_len);
    grown = curl_slist_append(*hdrs, line);     /* copies line */
    if (grown != NULL) {
        *hdrs = grown;
        rc = 0;
    }

done:
    if (plain != NULL) {
        OPENSSL_cleanse(plain, plain_len);
        free(plain);
    }
    if (line != NULL) {
        OPENSSL_cleanse(line, strlen(line));
        free(line);
    }
    return rc;
}

/* POST the form (npairs name/value pairs, client_id added here) to
 * <domain>/oauth2/<what>.  On MG_COGNITO_OK *answer is the parsed
 * object (NULL for an empty 200, as revoke answers); on
 * MG_COGNITO_REFUSED error holds Cognito's "error". */
static mg_cognito_rc_t
mg_cognito_call(mg_job_t *job, const char *what, const char **pairs, size_t npairs,
                json_t **answer, char *error, size_t errlen)
{
    const mg_auth_config_t  *cfg = mg_auth_config();
    const char              *all[12];
    char                     url[MG_COGNITO_URL_MAX], why[CURL_ERROR_SIZE + 64];
    char                    *form = NULL, *body = NULL;
    size_t                   len = 0;
    long                     status = 0;
    struct curl_slist       *hdrs = NULL, *grown;
    mg_http_get_opts_t       o = {
        .max_bytes = MG_COGNITO_MAX_BYTES, .connect_ms = MG_COGNITO_CONNECT_MS,
        .total_ms = MG_COGNITO_TOTAL_MS
    };
    json_t                  *v;
    mg_cognito_rc_t          rc = MG_COGNITO_BROKEN;
    int                      hrc;

    *answer = NULL;
    error[0] = '\0';
    if (2 * npairs + 2 > MG_NFIELDS(all) || mg_cognito_url(url, sizeof(url), cfg->cognito_domain,
                                                           what) != 0)
    {
        return MG_COGNITO_BROKEN;
    }
    memcpy(all, pairs, 2 * npairs * sizeof(*all));
    all[2 * npairs] = "client_id";
    all[2 * npairs + 1] = cfg->client_id;

    form = mg_http_form(all, npairs + 1);
    grown = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    if (grown != NULL) {
        hdrs = grown;
        grown = curl_slist_append(hdrs, "Accept: application/json");
    }
    if (grown != NULL) {
        /* a refresh token makes the form over 1 KiB: no 100-continue wait */
        grown = curl_slist_append(hdrs, "Expect:");
    }
    if (form == NULL || grown == NULL
        || (cfg->cognito_client_secret != NULL
            && mg_cognito_basic(&hdrs, cfg->client_id, cfg->cognito_client_secret) != 0))
    {
        mg_log_error("%.*s rid=%s: out of memory", (int) job->name_len, job->name, job->rid);
        goto done;
    }
    o.headers = hdrs;
    o.post = form;
    o.post_len = strlen(form);

    hrc = mg_http_get(url, &o, &body, &len, &status, why, sizeof(why));
    if (hrc == MG_HTTP_GET_SETUP) {
        mg_log_error("%.*s rid=%s: %s", (int) job->name_len, job->name, job->rid, why);
        goto done;
    }
    if (hrc != MG_HTTP_GET_OK) {
        mg_log_warn("%.*s rid=%s: Cognito %s unreachable: %s", (int) job->name_len, job->name,
                    job->rid, url, hrc == MG_HTTP_GET_TOO_BIG ? "answer too large" : why);
        rc = hrc == MG_HTTP_GET_TOO_BIG ? MG_COGNITO_BROKEN : MG_COGNITO_DOWN;
        goto done;
    }
    if (status == 429 || status >= 500) {
        mg_log_warn("%.*s rid=%s: Cognito %s answered %ld", (int) job->name_len, job->name,
                    job->rid, url, status);
        rc = MG_COGNITO_DOWN;
        goto done;
    }

    v = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    if (status == 200) {
        if (len > 0 && !json_is_object(v)) {
            mg_log_warn("%.*s rid=%s: Cognito %s answered 200 without a JSON object",
                        (int) job->name_len, job->name, job->rid, url);
            json_decref(v);
            goto done;
        }
        *answer = v;
        rc = MG_COGNITO_OK;
        goto done;
    }
    /* {"error":"invalid_grant"}: only the code, never the body, is logged */
    snprintf(error, errlen, "%s", json_is_string(json_object_get(v, "error"))
                                  ? json_string_value(json_object_get(v, "error")) : "");
    json_decref(v);
    if (status >= 400 && status < 500) {
        mg_log_warn("%.*s rid=%s: Cognito refused (%ld %s)", (int) job->name_len, job->name,
                    job->rid, status, error[0] ? error : "no error code");
        rc = MG_COGNITO_REFUSED;
    } else {
        mg_log_warn("%.*s rid=%s: Cognito %s answered %ld", (int) job->name_len, job->name,
                    job->rid, url, status);
    }

done:
    if (body != NULL) {
        OPENSSL_cleanse(body, len);
        free(body);
    }
    if (form != NULL) {
        OPENSSL_cleanse(form, strlen(form));
        free(form);
    }
    curl_slist_free_all(hdrs);
    return rc;
}

/* The answer for a call that did not succeed.  refused_status/code/
 * message: what a refused grant is (invalid_grant and friends); s: the
 * session whose cookie a refusal clears (NULL: none). */
static int
mg_cognito_fail(mg_job_t *job, mg_cognito_rc_t rc, const char *error, const mg_session_t *s,
                int refused_status, const char *refused_code, const char *refused_message)
{
    mg_session_t  none = { NULL, 0, 0, 0 };

    if (rc == MG_COGNITO_DOWN) {
        return mg_job_reply_error(job, 503, "identity_unavailable",
                                  "the identity provider (Amazon Cognito) cannot be reached; "
                                  "try again");
    }
    if (rc == MG_COGNITO_REFUSED) {
        if (strcmp(error, "invalid_grant") == 0 || strcmp(error, "invalid_request") == 0) {
            return mg_auth_reply_session_error(job, s != NULL ? s : &none, refused_status,
                                               refused_code, refused_message);
        }
        if (strcmp(error, "invalid_client") == 0 || strcmp(error, "unauthorized_client") == 0
            || strcmp(error, "unsupported_grant_type") == 0 || strcmp(error, "invalid_scope") == 0)
        {
            mg_log_error("%.*s rid=%s: Cognito refused this server's app client (%s): check "
                         "MANGOO_CLIENT_ID, MANGOO_COGNITO_CLIENT_SECRET and the app client's "
                         "OAuth settings", (int) job->name_len, job->name, job->rid, error);
            return mg_job_reply_error(job, 502, "identity_misconfigured",
                                      "the identity provider refused this server's "
                                      "configuration");
        }
    }
    return mg_job_reply_error(job, 502, "identity_error",
                              "the identity provider gave an answer this server cannot use");
}

/* {"access_token","token_type":"Bearer","expires_in"} from Cognito's
 * token answer, or NULL when it has no usable access token. */
static json_t *
mg_cognito_tokens_body(json_t *answer)
{
    json_t  *access = json_object_get(answer, "access_token");
    json_t  *expires = json_object_get(answer, "expires_in");

    if (!json_is_string(access) || json_string_length(access) == 0 || !json_is_integer(expires)) {
        return NULL;
    }
    return json_pack("{s:O, s:s, s:O}", "access_token", access, "token_type", "Bearer",
                     "expires_in", expires);
}

static int
mg_cognito_not_configured(mg_job_t *job)
{
    return mg_job_reply_error(job, 403, "cognito_identity_disabled",
                              "this server does not sign in through Amazon Cognito "
                              "(MANGOO_COGNITO_DOMAIN is not set)");
}

/* ---- auth.cognito ------------------------------------------------------ */

int
mg_job_auth_cognito(mg_job_t *job)
{
    json_t           *v, *answer = NULL, *body = NULL;
    json_t           *refresh;
    const char       *pairs[8], *uri;
    char              error[64];
    mg_verr_t         err;
    mg_session_t      s;
    mg_cognito_rc_t   rc;
    int               sent;

    if (mg_auth_config()->cognito_domain == NULL) {
        return mg_cognito_not_configured(job);
    }
    v = mg_validate_body(job->body, job->body_len, mg_cognito_fields,
                         MG_NFIELDS(mg_cognito_fields), MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        return mg_job_reply_verr(job, &err);
    }
    pairs[0] = "grant_type";
    pairs[1] = "authorization_code";
    pairs[2] = "code";
    pairs[3] = json_string_value(json_object_get(v, "code"));
    pairs[4] = "code_verifier";
    pairs[5] = json_string_value(json_object_get(v, "code_verifier"));
    pairs[6] = "redirect_uri";
    pairs[7] = uri = json_string_value(json_object_get(v, "redirect_uri"));
    if (!mg_cognito_verifier_valid(pairs[5], strlen(pairs[5]))) {
        sent = mg_job_reply_error(job, 400, "invalid_field",
                                  "field \"code_verifier\" must be 43 to 128 characters of "
                                  "A-Z, a-z, 0-9, \"-\", \".\", \"_\" and \"~\"");
        goto done;
    }
    if (strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0) {
        sent = mg_job_reply_error(job, 400, "invalid_field",
                                  "field \"redirect_uri\" must be an http(s) URL");
        goto done;
    }

    rc = mg_cognito_call(job, "token", pairs, 4, &answer, error, sizeof(error));
    if (rc != MG_COGNITO_OK) {
        sent = mg_cognito_fail(job, rc, error, NULL, 400, "invalid_grant",
                               "the authorization code is invalid, expired or already used, "
                               "or code_verifier or redirect_uri does not match it");
        goto done;
    }
    refresh = json_object_get(answer, "refresh_token");
    body = mg_cognito_tokens_body(answer);
    if (body == NULL || !json_is_string(refresh)
        || !mg_cookie_value_valid(json_string_value(refresh), json_string_length(refresh)))
    {
        mg_log_warn("auth.cognito rid=%s: Cognito's answer lacks a usable access or refresh "
                    "token", job->rid);
        sent = mg_cognito_fail(job, MG_COGNITO_BROKEN, "", NULL, 0, NULL, NULL);
        goto done;
    }
    mg_session_from_cookie(job, &s);
    sent = mg_auth_reply_session(job, 200, body, &s, json_string_value(refresh));

done:
    json_decref(body);
    json_decref(answer);
    json_decref(v);
    return sent;
}

/* ---- refresh and logout in Cognito mode ------------------------------- */

int
mg_cognito_refresh(mg_job_t *job, const mg_session_t *s)
{
    json_t           *answer = NULL, *body = NULL, *rotated;
    const char       *pairs[4], *keep;
    char              error[64], *token = NULL;
    mg_cognito_rc_t   rc;
    int               sent;

    if (s->token == NULL || !mg_cookie_value_valid(s->token, s->len)) {
        return mg_auth_invalid_refresh(job, s);
    }
    token = strndup(s->token, s->len);
    if (token == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    pairs[0] = "grant_type";
    pairs[1] = "refresh_token";
    pairs[2] = "refresh_token";
    pairs[3] = token;
    rc = mg_cognito_call(job, "token", pairs, 2, &answer, error, sizeof(error));
    if (rc != MG_COGNITO_OK) {
        sent = mg_cognito_fail(job, rc, error, s, 401, "invalid_refresh_token",
                               "refresh token is invalid, expired or revoked");
        goto done;
    }
    body = mg_cognito_tokens_body(answer);
    if (body == NULL) {
        sent = mg_cognito_fail(job, MG_COGNITO_BROKEN, "", NULL, 0, NULL, NULL);
        goto done;
    }
    /* Cognito keeps the refresh token unless rotation is on for the app
     * client: then the new one replaces the old (which now fails) */
    rotated = json_object_get(answer, "refresh_token");
    keep = json_is_string(rotated)
           && mg_cookie_value_valid(json_string_value(rotated), json_string_length(rotated))
           ? json_string_value(rotated) : token;
    if (!s->cookie && keep != token && json_object_set(body, "refresh_token", rotated) != 0) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    sent = mg_auth_reply_session(job, 200, body, s, keep);

done:
    if (token != NULL) {
        OPENSSL_cleanse(token, s->len);
        free(token);
    }
    json_decref(body);
    json_decref(answer);
    return sent;
}

int
mg_cognito_logout(mg_job_t *job, const mg_session_t *s)
{
    json_t           *answer = NULL;
    const char       *pairs[2];
    char              error[64], *token;
    mg_cognito_rc_t   rc;
    int               sent;

    if (s->token == NULL || !mg_cookie_value_valid(s->token, s->len)) {
        return mg_auth_reply_logged_out(job, s);
    }
    token = strndup(s->token, s->len);
    if (token == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    pairs[0] = "token";
    pairs[1] = token;
    rc = mg_cognito_call(job, "revoke", pairs, 1, &answer, error, sizeof(error));
    OPENSSL_cleanse(token, s->len);
    free(token);
    json_decref(answer);

    /* a token Cognito does not know (400) has nothing left to revoke */
    if (rc == MG_COGNITO_OK || (rc == MG_COGNITO_REFUSED && strcmp(error, "invalid_request") != 0
                                && strcmp(error, "invalid_client") != 0
                                && strcmp(error, "unauthorized_client") != 0))
    {
        return mg_auth_reply_logged_out(job, s);
    }
    /* the cookie goes anyway: the browser is signed out, whatever Cognito
     * says; the answer tells the token may still be alive there */
    sent = rc == MG_COGNITO_DOWN
           ? mg_auth_reply_session_error(job, s, 503, "identity_unavailable",
                                         "signed out here, but the identity provider (Amazon "
                                         "Cognito) could not be reached to revoke the session")
           : mg_auth_reply_session_error(job, s, 502, "identity_error",
                                         "signed out here, but the identity provider (Amazon "
                                         "Cognito) refused to revoke the session");
    return sent;
}
