/*
 * config: config.get, GET /api/v1/config, public: what the web app needs
 * before anyone signs in: which identity signs people in (local or
 * Cognito, with what the browser needs for the hosted UI: never a
 * secret), the registration policy, and whether a new account could be
 * created right now.  Never cached: can_register changes with the first
 * administrator.
 */
#include "jobs/jobs.h"

#include <string.h>

#include "util/log.h"

int
mg_job_config_get(mg_job_t *job)
{
    const mg_auth_config_t  *cfg = mg_auth_config();
    json_t                  *body, *cognito, *headers;
    PGresult                *res = NULL;
    mg_db_rc_t               rc;
    char                     domain[1200];
    size_t                   n;
    int                      can_register, sent;

    if (cfg->cognito_domain != NULL) {
        /* the domain as the browser should prefix "/oauth2/authorize" with */
        n = strlen(cfg->cognito_domain);
        while (n > 0 && cfg->cognito_domain[n - 1] == '/') {
            n--;
        }
        if (n >= sizeof(domain)) {
            return mg_job_reply_error(job, 500, "internal", "internal error");
        }
        memcpy(domain, cfg->cognito_domain, n);
        domain[n] = '\0';
        cognito = json_pack("{s:s, s:s, s:s}", "domain", domain, "client_id", cfg->client_id,
                            "scopes", cfg->cognito_scopes != NULL ? cfg->cognito_scopes
                                                                  : "openid email profile");
        can_register = 0;       /* sign-up, if any, is Cognito's hosted UI */
    } else {
        cognito = json_null();
        switch (cfg->registration) {
        case MG_REGISTRATION_OPEN:
            can_register = 1;
            break;
        case MG_REGISTRATION_FIRST_ADMIN:
            rc = mg_db_exec(job->db, MG_Q_AUTH_ADMIN_EXISTS, NULL, &res);
            if (rc != MG_DB_OK) {
                sent = mg_job_reply_db_error(job, rc, res, "config.get");
                PQclear(res);
                json_decref(cognito);
                return sent;
            }
            can_register = PQgetvalue(res, 0, 0)[0] != 't';
            PQclear(res);
            break;
        default:
            can_register = 0;
        }
    }

    /* "o" takes cognito over, even when packing fails */
    body = json_pack("{s:s, s:s, s:b, s:o}",
                     "identity", cfg->cognito_domain != NULL ? "cognito" : "local",
                     "registration", mg_registration_name(cfg->registration),
                     "can_register", can_register,
                     "cognito", cognito);
    headers = json_pack("{s:s}", "Cache-Control", "no-store");
    if (body == NULL || headers == NULL) {
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
    } else {
        sent = mg_job_reply_json(job, 200, body, headers);
    }
    json_decref(headers);
    json_decref(body);
    return sent;
}
