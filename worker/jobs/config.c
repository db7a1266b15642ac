/*
 * config: config.get, GET /api/v1/config, public: what the web app needs
 * before anyone signs in: which identity signs people in (local or
 * Cognito, with what the browser needs for the hosted UI: never a
 * secret), the registration policy (an administrator's, signup.c, else
 * MANGOO_REGISTRATION), the allowed e-mail domains, whether invitations
 * exist, and whether a new account could be created right now.  Never cached: can_register changes with the first
 * administrator.
 */
#include "jobs/jobs.h"

#include <string.h>

#include "util/log.h"

int
mg_job_config_get(mg_job_t *job)
{
    const mg_auth_config_t  *cfg = mg_auth_config();
    json_t                  *body, *cognito, *headers, *domains;
    mg_signup_rules_t        rules = { .registration = cfg->registration, .domains = NULL };
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
        domains = json_array();
    } else {
        /* the rules an administrator set (signup.c), else the environment's */
        if (mg_signup_rules_load(job, &rules, &sent) != 0) {
            mg_signup_rules_free(&rules);
            return sent;
        }
        cognito = json_null();
        switch (rules.registration) {
        case MG_REGISTRATION_OPEN:
            can_register = 1;
            break;
        case MG_REGISTRATION_FIRST_ADMIN:
            can_register = !rules.admin_exists;
            break;
        default:
            can_register = 0;
        }
        domains = json_incref(rules.domains);
        mg_signup_rules_free(&rules);
    }

    /* "o" takes cognito and domains over, even when packing fails;
     * invitations: only the local identity has them (signup.c) */
    body = json_pack("{s:s, s:s, s:b, s:o, s:o, s:b}",
                     "identity", cfg->cognito_domain != NULL ? "cognito" : "local",
                     "registration", mg_registration_name(rules.registration),
                     "can_register", can_register,
                     "cognito", cognito,
                     "allowed_domains", domains,
                     "invitations", cfg->cognito_domain == NULL);
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
