/*
 * providers: owns the providers' configuration and the choice of provider
 * for a bot's model id:
 *   "local"            the offline responder (always there);
 *   "openai:<model>"   an OpenAI-compatible server ($MANGOO_OPENAI_BASE_URL);
 *   anything else      a Bedrock model id (AWS credentials in the environment).
 * With neither remote provider configured, the local responder answers for
 * every model: a fresh install chats out of the box, and says so.
 */
#include "providers/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/credentials.h"
#include "util/log.h"
#include "providers/config.h"

mg_providers_config_t mg_providers_cfg;

static const char *
mg_env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : def;
}

int
mg_providers_init(void)
{
    mg_providers_config_t  *c = &mg_providers_cfg;
    const char             *v;
    char                   *end;
    long                    n;

    memset(c, 0, sizeof(*c));
    c->openai_base_url = mg_env_or("MANGOO_OPENAI_BASE_URL", NULL);
    c->openai_api_key = mg_env_or("MANGOO_OPENAI_API_KEY", NULL);
    c->bedrock = mg_aws_creds_configured();
    c->bedrock_models = mg_env_or("MANGOO_BEDROCK_MODELS", NULL);
    c->openai_models = mg_env_or("MANGOO_OPENAI_MODELS", NULL);

    v = mg_env_or("MANGOO_LOCAL_DELAY_MS", "10");
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < 0 || n > 60000) {
        mg_log_error("MANGOO_LOCAL_DELAY_MS must be 0..60000 (got \"%s\")", v);
        return -1;
    }
    c->local_delay_ms = n;
    if (c->openai_base_url != NULL && strlen(c->openai_base_url) > MG_PROVIDER_URL_MAX - 64) {
        mg_log_error("MANGOO_OPENAI_BASE_URL is too long");
        return -1;
    }
    mg_log_info("providers: local%s%s%s", c->openai_base_url ? ", openai at " : "",
                c->openai_base_url ? c->openai_base_url : "",
                c->bedrock ? ", bedrock" : "");
    return 0;
}

const mg_provider_t *
mg_provider_for(const char *model_id, const char **model, char *err, size_t errlen)
{
    mg_providers_config_t *c = &mg_providers_cfg;

    *model = model_id;
    if (strcmp(model_id, "local") == 0) {
        return &mg_provider_local;
    }
    if (c->openai_base_url == NULL && !c->bedrock) {
        return &mg_provider_local;
    }
    if (strncmp(model_id, "openai:", 7) == 0) {
        *model = model_id + 7;
        if (c->openai_base_url == NULL || **model == '\0') {
            snprintf(err, errlen, "model \"%s\" needs an OpenAI-compatible server, "
                     "which is not configured", model_id);
            return NULL;
        }
        return &mg_provider_openai;
    }
    if (!c->bedrock) {
        snprintf(err, errlen, "model \"%s\" needs Amazon Bedrock, which is not configured",
                 model_id);
        return NULL;
    }
    return &mg_provider_bedrock;
}

long
mg_tokens_estimate(size_t bytes)
{
    return (long) ((bytes + 3) / 4);
}

void
mg_provider_http_fail(mg_stream_t *s, const char *provider, long status, const char *body,
                      size_t len, const char *outer)
{
    json_t      *v = json_loadb(body, len, 0, NULL);
    json_t      *o = outer != NULL ? json_object_get(v, outer) : v;
    const char  *m = json_string_value(json_object_get(o, "message"));
    char         d[200];

    snprintf(d, sizeof(d), "%s", m != NULL && *m != '\0' ? m : "no details");
    json_decref(v);

    if (status == 429) {
        mg_stream_fail(s, 1, "provider_throttled", "%s is throttling requests (429): %s",
                       provider, d);
    } else if (status == 408 || status >= 500) {
        mg_stream_fail(s, 1, "provider_unavailable", "%s answered %ld: %s", provider, status, d);
    } else {
        mg_stream_fail(s, 0, "provider_error", "%s refused the request (%ld): %s",
                       provider, status, d);
    }
}
