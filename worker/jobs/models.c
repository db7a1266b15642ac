/*
 * models: models.list, GET /api/v1/models: the models this server can
 * answer with, by the same rule providers.c picks a provider with:
 * "local" always (the offline responder); Bedrock's models when Bedrock
 * credentials are configured (MANGOO_BEDROCK_MODELS, or a short default
 * list); an OpenAI-compatible server's when MANGOO_OPENAI_BASE_URL is set
 * (MANGOO_OPENAI_MODELS; none listed without it: nothing here asks the
 * server).  No network and no database: the list is built from the
 * configuration read at startup.
 */
#include "jobs/jobs.h"

#include <string.h>

#include "providers/config.h"

/* a bot's model_id holds at most this much (jobs/bots.c) */
#define MG_MODEL_ID_MAX  255

/* current Anthropic Claude models on Bedrock; the first is the default */
static const char mg_bedrock_default_models[] =
    "anthropic.claude-3-5-sonnet-20241022-v2:0,"
    "anthropic.claude-3-5-haiku-20241022-v1:0,"
    "anthropic.claude-3-haiku-20240307-v1:0";

static const struct {
    const char  *id;
    const char  *name;
} mg_model_names[] = {
    { "anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2" },
    { "anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet" },
    { "anthropic.claude-3-5-haiku-20241022-v1:0",  "Claude 3.5 Haiku" },
    { "anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet" },
    { "anthropic.claude-3-haiku-20240307-v1:0",    "Claude 3 Haiku" },
    { "anthropic.claude-3-opus-20240229-v1:0",     "Claude 3 Opus" },
    { "anthropic.claude-sonnet-4-20250514-v1:0",   "Claude Sonnet 4" },
    { "anthropic.claude-opus-4-20250514-v1:0",     "Claude Opus 4" },
};

const char *
mg_model_name(const char *id)
{
    const char  *dot = strchr(id, '.');

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(mg_model_names) / sizeof(mg_model_names[0]); i++) {
            if (strcmp(id, mg_model_names[i].id) == 0) {
                return mg_model_names[i].name;
            }
        }
        /* a cross-region inference profile ("us.", "eu.", "apac.") names
         * the same model */
        if (dot == NULL || dot - id > 6 || strchr(dot + 1, '.') == NULL) {
            break;
        }
        id = dot + 1;
    }
    return NULL;
}

/* 1 when items already holds id. */
static int
mg_models_has(json_t *items, const char *id)
{
    size_t   i;
    json_t  *item;

    json_array_foreach(items, i, item) {
        if (strcmp(json_string_value(json_object_get(item, "id")), id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Append each comma-separated entry of list as a model of provider
 * (prefix before the id, "openai:" or "").  0, or -1 out of memory. */
static int
mg_models_add(json_t *items, const char *list, const char *provider, const char *prefix)
{
    char         id[MG_MODEL_ID_MAX + 1];
    const char  *p = list, *end, *a, *b, *name;
    size_t       plen = strlen(prefix);
    json_t      *item;

    while (*p != '\0') {
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }
        a = p;
        b = end;
        p = *end == ',' ? end + 1 : end;
        while (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        }
        /* "openai:x" in the OpenAI list means x */
        if (plen > 0 && (size_t) (b - a) > plen && memcmp(a, prefix, plen) == 0) {
            a += plen;
        }
        if (a == b || plen + (size_t) (b - a) > MG_MODEL_ID_MAX) {
            continue;
        }
        memcpy(id, prefix, plen);
        memcpy(id + plen, a, (size_t) (b - a));
        id[plen + (size_t) (b - a)] = '\0';
        /* an id another provider would answer is not this one's */
        if (plen == 0 && (strcmp(id, "local") == 0 || strncmp(id, "openai:", 7) == 0)) {
            continue;
        }
        if (mg_models_has(items, id)) {
            continue;
        }
        name = mg_model_name(id);
        item = json_pack("{s:s, s:s, s:s, s:b}", "id", id,
                         "name", name != NULL ? name : plen > 0 ? id + plen : id,
                         "provider", provider, "offline", 0);
        if (json_array_append_new(items, item) != 0) {
            return -1;
        }
    }
    return 0;
}

json_t *
mg_models_build(const mg_models_input_t *in)
{
    json_t      *items, *first;
    const char  *def = "local";

    items = json_array();
    if (items == NULL
        || json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:b}", "id", "local",
                                                  "name", "Offline model", "provider", "local",
                                                  "offline", 1)) != 0
        || (in->bedrock
            && mg_models_add(items, in->bedrock_models != NULL ? in->bedrock_models
                                                               : mg_bedrock_default_models,
                             "bedrock", "") != 0)
        || (in->openai && in->openai_models != NULL
            && mg_models_add(items, in->openai_models, "openai", "openai:") != 0))
    {
        json_decref(items);
        return NULL;
    }
    first = json_array_get(items, 1);
    if (first != NULL) {
        def = json_string_value(json_object_get(first, "id"));
    }
    /* "o" takes items over, even when packing fails */
    return json_pack("{s:o, s:s}", "items", items, "default", def);
}

int
mg_models_listed(const char *model_id)
{
    mg_models_input_t  in = {
        mg_providers_cfg.bedrock, mg_providers_cfg.bedrock_models,
        mg_providers_cfg.openai_base_url != NULL, mg_providers_cfg.openai_models
    };
    json_t            *v = mg_models_build(&in);
    int                listed;

    /* out of memory: not listed, the label says "other" */
    listed = v != NULL && mg_models_has(json_object_get(v, "items"), model_id);
    json_decref(v);
    return listed;
}

int
mg_job_models_list(mg_job_t *job)
{
    mg_models_input_t  in = {
        mg_providers_cfg.bedrock, mg_providers_cfg.bedrock_models,
        mg_providers_cfg.openai_base_url != NULL, mg_providers_cfg.openai_models
    };
    json_t            *body = mg_models_build(&in);
    int                sent;

    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    sent = mg_job_reply_json(job, 200, body, NULL);
    json_decref(body);
    return sent;
}
