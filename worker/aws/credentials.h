/*
 * mg_aws_credentials: where the worker's AWS settings come from, as the
 * AWS SDKs read them from the environment: SigV4 credentials (static keys,
 * or the ECS/EKS container endpoint, cached process-wide), a Bedrock API
 * key, the region and the Bedrock runtime endpoint.  Thread-safe.
 */
#ifndef MG_AWS_CREDENTIALS_H
#define MG_AWS_CREDENTIALS_H

#include <stddef.h>
#include <time.h>

/* Refresh container credentials when less than this is left. */
#define MG_AWS_REFRESH_BEFORE_S  300
/* After a failed fetch, do not fetch again for this long. */
#define MG_AWS_RETRY_AFTER_MS    5000

typedef struct {
    char    access_key_id[128];
    char    secret_access_key[128];
    char    session_token[4096];        /* "" when none */
    time_t  expiration;                 /* 0: static (environment) */
} mg_aws_creds_t;

/* 1 when the environment names any credential source: a Bedrock API key,
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or a container endpoint. */
int mg_aws_creds_configured(void);

/*
 * SigV4 credentials, in the SDKs' order: AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN); else the container
 * endpoint, http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to loopback or the
 * ECS/EKS agent addresses), sending as Authorization the content of the
 * file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *
 * Container credentials are cached and fetched again (one blocking GET:
 * 1 s to connect, 3 s in all) only when less than MG_AWS_REFRESH_BEFORE_S
 * is left, by one thread while the others keep using the cached ones.  A
 * failed refresh keeps serving credentials that have not yet expired
 * (logged as a warning) and is not retried for MG_AWS_RETRY_AFTER_MS.
 * 0, or -1 with a reason in err that names the setting or the endpoint's
 * answer (never a secret).
 */
int mg_aws_creds_get(mg_aws_creds_t *out, char *err, size_t errlen);

/* AWS_BEARER_TOKEN_BEDROCK (sent as "Authorization: Bearer ..." instead of
 * a signature), or NULL when unset or empty. */
const char *mg_aws_bearer_token(void);

/* AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1". */
const char *mg_aws_region(void);

/* AWS_ENDPOINT_URL_BEDROCK_RUNTIME, else AWS_ENDPOINT_URL, else
 * https://bedrock-runtime.{region}.amazonaws.com; no trailing slash.  0,
 * or -1 when it does not fit in len, an override is not http(s), or the
 * region is not a plain name. */
int mg_aws_bedrock_endpoint(char *out, size_t len);

/* "/model/<model id, %XX-escaped but for RFC 3986's unreserved>/<action>"
 * (a Bedrock model id holds ':'), malloc'd; NULL when out of memory. */
char *mg_aws_bedrock_path(const char *model, const char *action);

/* The container credentials URL the environment names (for logs and
 * tests).  1 with the URL in out; 0 when none is set; -1 with the reason
 * in err when it is refused or does not fit. */
int mg_aws_container_url(char *out, size_t len, char *err, size_t errlen);

/* Forget cached credentials and any retry delay (tests; at exit). */
void mg_aws_creds_reset(void);

#endif
