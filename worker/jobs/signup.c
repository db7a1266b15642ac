/*
 * signup: owns the sign-up rules of the local identity and what the
 * administrators see of permissions: admin.signup.get/update (the
 * registration mode and the allowed e-mail domains, kept in
 * signup_settings, sql/014), admin.invitations.create/list/revoke, and
 * admin.permissions (the configured group names, read-only).  auth.c asks
 * it for the rules a registration is judged by (mg_signup_rules_load) and
 * config.c for what the sign-up screen may say.
 *
 * What it guarantees:
 *  - MANGOO_REGISTRATION is the mode until an administrator sets one;
 *  - an invitation's code is shown once, in the answer that created it;
 *    only its SHA-256 is stored, and it is never logged;
 *  - a bad request changes nothing: every field is checked before any
 *    statement runs.
 * The module refuses these routes without group "admin" (MG_ROUTE_ADMIN);
 * each handler checks the claims again, as admin.c does.
 */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/log.h"
#include "mg_base64url.h"
#include "jobs/permissions.h"
#include "util/uuid.h"
#include "validate.h"

#define MG_SIGNUP_GROUPS_MAX       20
#define MG_SIGNUP_GROUP_MAX_CHARS  128
#define MG_SIGNUP_DOMAINS_MAX      100
#define MG_SIGNUP_DOMAIN_MAX       253
#define MG_SIGNUP_LABEL_MAX        63
#define MG_INVITE_DAYS_DEFAULT     "7"

static const mg_field_t mg_signup_fields[] = {
    { "registration", MG_FIELD_STRING, 0, 1, 16, NULL },
};

static const mg_field_t mg_invite_fields[] = {
    { "email",           MG_FIELD_STRING,  MG_FIELD_REQUIRED, 3, 254, NULL },
    { "role",            MG_FIELD_STRING,  0, 1, 16, "\"user\"" },
    { "expires_in_days", MG_FIELD_INTEGER, 0, 1, 90, MG_INVITE_DAYS_DEFAULT },
};

#define MG_NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- pure helpers (exported for the unit tests) ------------------------- */

int
mg_signup_group_valid(const char *s, size_t len)
{
    if (len == 0 || strlen(s) != len || !mg_admin_text_valid(s, len)
        || mg_utf8_chars(s, len) > MG_SIGNUP_GROUP_MAX_CHARS || strcmp(s, "admin") == 0)
    {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        /* no spaces or controls: a group name is one word in any list */
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int
mg_signup_groups_valid(json_t *groups)
{
    json_t  *g;
    size_t   i;

    if (!json_is_array(groups) || json_array_size(groups) > MG_SIGNUP_GROUPS_MAX) {
        return 0;
    }
    json_array_foreach(groups, i, g) {
        if (!json_is_string(g) || !mg_signup_group_valid(json_string_value(g),
                                                         json_string_length(g)))
        {
            return 0;
        }
    }
    return 1;
}

int
mg_signup_domain_valid(const char *s, size_t len)
{
    size_t label = 0;

    /* host names as DNS has them (letters, digits, hyphens; labels of 1
     * to 63 not starting or ending with a hyphen), without a trailing dot:
     * what follows the '@' of an address */
    if (len == 0 || len > MG_SIGNUP_DOMAIN_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || (c == '-' && label > 0)))
        {
            return 0;
        }
        if (++label > MG_SIGNUP_LABEL_MAX) {
            return 0;
        }
    }
    return label > 0 && s[len - 1] != '-';
}

int
mg_signup_email_allowed(const char *email, json_t *domains)
{
    const char  *at;
    json_t      *d;
    size_t       i;

    if (json_array_size(domains) == 0) {
        return 1;
    }
    if (email == NULL || (at = strrchr(email, '@')) == NULL) {
        return 0;
    }
    /* exact domain: a subdomain is another organisation's to allow */
    json_array_foreach(domains, i, d) {
        if (json_is_string(d) && strcasecmp(at + 1, json_string_value(d)) == 0) {
            return 1;
        }
    }
    return 0;
}

int
mg_body_take_array(const char *body, size_t len, const char *name, json_t **arr,
                   char **rest, size_t *rest_len)
{
    json_t  *v;

    *arr = NULL;
    *rest = NULL;
    v = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(v) && json_object_get(v, name) != NULL) {
        *arr = json_incref(json_object_get(v, name));
        (void) json_object_del(v, name);
        *rest = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        if (*rest == NULL) {
            json_decref(*arr);
            *arr = NULL;
            return -1;
        }
        *rest_len = strlen(*rest);
        return 0;
    }
    json_decref(v);
    /* nothing to take: mg_validate_body judges the body as it is */
    *rest = malloc(len + 1);
    if (*rest == NULL) {
        return -1;
    }
    memcpy(*rest, body, len);
    (*rest)[len] = '\0';
    *rest_len = len;
    return 0;
}

static int
mg_signup_internal(mg_job_t *job)
{
    return mg_job_reply_error(job, 500, "internal", "internal error");
}

/* ---- the rules ----------------------------------------------------------- */

int
mg_signup_rules_load(mg_job_t *job, mg_signup_rules_t *rules, int *sent)
{
    PGresult    *res = NULL;
    mg_db_rc_t   rc;

    memset(rules, 0, sizeof(*rules));
    rc = mg_db_exec(job->db, MG_Q_SIGNUP_RULES, NULL, &res);
    if (rc != MG_DB_OK) {
        *sent = mg_job_reply_db_error(job, rc, res, "sign-up rules");
        PQclear(res);
        return -1;
    }
    rules->registration = mg_auth_config()->registration;
    if (!PQgetisnull(res, 0, MG_SIGNUP_COL_REGISTRATION)) {
        /* the CHECK of sql/014 allows only names this parses */
        (void) mg_registration_parse(PQgetvalue(res, 0, MG_SIGNUP_COL_REGISTRATION),
                                     &rules->registration);
    }
    rules->domains = json_loads(PQgetvalue(res, 0, MG_SIGNUP_COL_DOMAINS), 0, NULL);
    rules->admin_exists = PQgetvalue(res, 0, MG_SIGNUP_COL_ADMIN_EXISTS)[0] == 't';
    PQclear(res);
    if (!json_is_array(rules->domains)) {
        json_decref(rules->domains);
        rules->domains = NULL;
        *sent = mg_signup_internal(job);
        return -1;
    }
    return 0;
}

void
mg_signup_rules_free(mg_signup_rules_t *rules)
{
    json_decref(rules->domains);
    rules->domains = NULL;
}

/* {"registration","allowed_domains"} from a MG_Q_SIGNUP_* row. */
static int
mg_signup_reply(mg_job_t *job, PGresult *res)
{
    mg_registration_t   reg = mg_auth_config()->registration;
    json_t             *domains, *body;
    int                 sent;

    if (!PQgetisnull(res, 0, MG_SIGNUP_COL_REGISTRATION)) {
        (void) mg_registration_parse(PQgetvalue(res, 0, MG_SIGNUP_COL_REGISTRATION), &reg);
    }
    domains = json_loads(PQgetvalue(res, 0, MG_SIGNUP_COL_DOMAINS), 0, NULL);
    if (!json_is_array(domains)) {
        json_decref(domains);
        return mg_signup_internal(job);
    }
    body = json_pack("{s:s, s:o}", "registration", mg_registration_name(reg),
                     "allowed_domains", domains);
    sent = body != NULL ? mg_job_reply_json(job, 200, body, NULL) : mg_signup_internal(job);
    json_decref(body);
    return sent;
}

int
mg_job_admin_signup_get(mg_job_t *job)
{
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    rc = mg_db_exec(job->db, MG_Q_SIGNUP_RULES, NULL, &res);
    sent = rc == MG_DB_OK ? mg_signup_reply(job, res)
                          : mg_job_reply_db_error(job, rc, res, "admin.signup.get");
    PQclear(res);
    return sent;
}

/* allowed_domains of a PATCH: an array of valid domains, at most
 * MG_SIGNUP_DOMAINS_MAX, lowercased into a new array.  NULL with err. */
static json_t *
mg_signup_domains_input(json_t *in, mg_verr_t *err)
{
    json_t  *out, *d;
    size_t   i;
    char     low[MG_SIGNUP_DOMAIN_MAX + 1];

    if (!json_is_array(in) || json_array_size(in) > MG_SIGNUP_DOMAINS_MAX) {
        goto invalid;
    }
    out = json_array();
    if (out == NULL) {
        mg_verr_set(err, 500, "internal", "internal error");
        return NULL;
    }
    json_array_foreach(in, i, d) {
        size_t n = json_string_length(d);

        if (!json_is_string(d) || !mg_signup_domain_valid(json_string_value(d), n)) {
            json_decref(out);
            goto invalid;
        }
        for (size_t k = 0; k < n; k++) {
            char c = json_string_value(d)[k];

            low[k] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
        }
        low[n] = '\0';
        if (json_array_append_new(out, json_string(low)) != 0) {
            json_decref(out);
            mg_verr_set(err, 500, "internal", "internal error");
            return NULL;
        }
    }
    return out;

invalid:
    mg_verr_set(err, 400, "invalid_field",
                "field \"allowed_domains\" must be an array of at most %d domain names "
                "(e.g. \"example.com\": letters, digits, hyphens and dots, no \"@\")",
                MG_SIGNUP_DOMAINS_MAX);
    return NULL;
}

int
mg_job_admin_signup_update(mg_job_t *job)
{
    json_t             *v = NULL, *arr = NULL, *domains = NULL, *f;
    char               *rest = NULL, *dtext = NULL;
    size_t              rest_len = 0;
    mg_verr_t           err;
    mg_registration_t   reg;
    const char         *values[3];
    PGresult           *res = NULL;
    mg_db_rc_t          rc;
    int                 sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    if (mg_body_take_array(job->body, job->body_len, "allowed_domains", &arr, &rest,
                           &rest_len) != 0)
    {
        return mg_signup_internal(job);
    }
    v = mg_validate_body(rest, rest_len, mg_signup_fields, MG_NFIELDS(mg_signup_fields),
                         MG_VALIDATE_PATCH, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    f = json_object_get(v, "registration");
    if (f != NULL && mg_registration_parse(json_string_value(f), &reg) != 0) {
        sent = mg_job_reply_error(job, 400, "invalid_field", "field \"registration\" must be "
                                  "\"open\", \"first-admin\" or \"closed\"");
        goto done;
    }
    if (arr != NULL) {
        domains = mg_signup_domains_input(arr, &err);
        if (domains == NULL || (dtext = json_dumps(domains, JSON_COMPACT)) == NULL) {
            sent = domains == NULL ? mg_job_reply_verr(job, &err) : mg_signup_internal(job);
            goto done;
        }
    }

    values[0] = f != NULL ? json_string_value(f) : NULL;
    values[1] = dtext;
    values[2] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_SIGNUP_UPDATE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.signup.update");
        goto done;
    }
    mg_log_info("sign-up rules: set by administrator %s (registration %s, %zu domain(s))",
                job->user_id, PQgetisnull(res, 0, 0) ? "from the environment"
                                                     : PQgetvalue(res, 0, 0),
                json_array_size(domains));
    sent = mg_signup_reply(job, res);

done:
    PQclear(res);
    free(dtext);
    json_decref(domains);
    json_decref(v);
    json_decref(arr);
    free(rest);
    return sent;
}

/* ---- invitations ---------------------------------------------------------- */

int
mg_invite_code_new(char *out)
{
    return mg_auth_secret_new(MG_INVITE_CODE_PREFIX, out);
}

int
mg_invite_code_wellformed(const char *s, size_t len)
{
    return mg_auth_secret_wellformed(MG_INVITE_CODE_PREFIX, s, len);
}

int
mg_job_admin_invitations_create(mg_job_t *job)
{
    json_t       *v = NULL, *groups = NULL, *f, *body = NULL;
    char         *rest = NULL, *gtext = NULL;
    size_t        rest_len = 0;
    mg_verr_t     err;
    const char   *role, *values[7];
    char          id[MG_UUID_LEN + 1], code[MG_INVITE_CODE_LEN + 1];
    char          hash[MG_SHA256_HEX_LEN + 1], days[24];
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent;

    code[0] = '\0';
    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    if (mg_body_take_array(job->body, job->body_len, "groups", &groups, &rest,
                           &rest_len) != 0)
    {
        return mg_signup_internal(job);
    }
    v = mg_validate_body(rest, rest_len, mg_invite_fields, MG_NFIELDS(mg_invite_fields),
                         MG_VALIDATE_CREATE, &err);
    if (v == NULL) {
        sent = mg_job_reply_verr(job, &err);
        goto done;
    }
    f = json_object_get(v, "email");
    if (!mg_users_email_valid(json_string_value(f), json_string_length(f))) {
        sent = mg_job_reply_error(job, 400, "invalid_field",
                                  "field \"email\" must be an email address (one \"@\", "
                                  "no spaces, at most 254 characters)");
        goto done;
    }
    role = json_string_value(json_object_get(v, "role"));
    if (strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
        sent = mg_job_reply_error(job, 400, "invalid_field",
                                  "field \"role\" must be \"user\" or \"admin\"");
        goto done;
    }
    if (groups == NULL) {
        groups = json_array();
    }
    if (!mg_signup_groups_valid(groups)) {
        sent = mg_job_reply_error(job, 400, "invalid_field", MG_SIGNUP_GROUPS_RULE);
        goto done;
    }
    gtext = json_dumps(groups, JSON_COMPACT);
    if (gtext == NULL || mg_uuid_v4(id) != 0 || mg_invite_code_new(code) != 0
        || mg_auth_token_hash(code, strlen(code), hash) != 0)
    {
        sent = mg_signup_internal(job);
        goto done;
    }
    snprintf(days, sizeof(days), "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(v, "expires_in_days")));

    values[0] = id;
    values[1] = json_string_value(json_object_get(v, "email"));
    values[2] = role;
    values[3] = gtext;
    values[4] = hash;
    values[5] = days;
    values[6] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_INVITE_INSERT, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.invitations.create");
        goto done;
    }
    body = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (body == NULL || json_object_set_new(body, "code", json_string(code)) != 0) {
        sent = mg_signup_internal(job);
        goto done;
    }
    /* the address is the invitee's: the id says enough in the log */
    mg_log_info("invitation %s (%s) created by administrator %s, valid %s day(s)", id, role,
                job->user_id, days);
    sent = mg_job_reply_json(job, 201, body, NULL);

done:
    OPENSSL_cleanse(code, sizeof(code));
    json_decref(body);
    PQclear(res);
    free(gtext);
    json_decref(v);
    json_decref(groups);
    free(rest);
    return sent;
}

int
mg_job_admin_invitations_list(mg_job_t *job)
{
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    rc = mg_db_exec(job->db, MG_Q_INVITE_LIST, NULL, &res);
    sent = rc == MG_DB_OK ? mg_job_reply_raw(job, 200, PQgetvalue(res, 0, 0),
                                             (size_t) PQgetlength(res, 0, 0), NULL)
                          : mg_job_reply_db_error(job, rc, res, "admin.invitations.list");
    PQclear(res);
    return sent;
}

int
mg_job_admin_invitations_revoke(mg_job_t *job)
{
    const char  *id, *values[1];
    size_t       idlen;
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    id = mg_job_param(job, "id", &idlen);
    if (id == NULL || idlen != MG_UUID_LEN || !mg_uuid_valid(id, idlen)) {
        return mg_job_reply_error(job, 404, "not_found", "invitation not found");
    }
    values[0] = id;
    rc = mg_db_exec(job->db, MG_Q_INVITE_REVOKE, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "admin.invitations.revoke");
    } else if (PQntuples(res) == 0) {
        sent = mg_job_reply_error(job, 404, "not_found", "invitation not found");
    } else {
        mg_log_info("invitation %s revoked by administrator %s", id, job->user_id);
        sent = mg_job_reply_empty(job, 204);
    }
    PQclear(res);
    return sent;
}

/* ---- permissions ------------------------------------------------------------ */

int
mg_job_admin_permissions(mg_job_t *job)
{
    const char  *create = mg_perm_create_group();
    json_t      *body;
    int          sent;

    if (!mg_users_claims_admin(job->claims)) {
        return mg_admin_forbidden(job);
    }
    body = json_pack("{s:s, s:s?, s:s}", "admin_group", "admin", "create_group", create,
                     "publish_group", mg_perm_publish_group());
    sent = body != NULL ? mg_job_reply_json(job, 200, body, NULL) : mg_signup_internal(job);
    json_decref(body);
    return sent;
}
