/* The providers' settings, read from the environment by mg_providers_init. */
#ifndef MG_PROVIDERS_CONFIG_H
#define MG_PROVIDERS_CONFIG_H

#define MG_PROVIDER_URL_MAX 2048

typedef struct {
    const char  *openai_base_url;   /* NULL: not configured */
    const char  *openai_api_key;    /* NULL: none sent */
    int          bedrock;           /* AWS credentials found */
    long         local_delay_ms;    /* between the local responder's pieces */
    /* what GET /models lists (jobs/models.c): comma-separated */
    const char  *bedrock_models;    /* MANGOO_BEDROCK_MODELS; NULL: a default list */
    const char  *openai_models;     /* MANGOO_OPENAI_MODELS; NULL: none */
} mg_providers_config_t;

extern mg_providers_config_t mg_providers_cfg;

#endif
