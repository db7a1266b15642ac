/*
 * mg_sigv4: AWS Signature Version 4, header signing (the Authorization
 * header) of one HTTP request.  Pure computation: no I/O, no globals, safe
 * from any thread.
 */
#ifndef MG_SIGV4_H
#define MG_SIGV4_H

#include <stddef.h>
#include <time.h>

typedef struct {
    const char *name;                   /* any case */
    const char *value;
} mg_sigv4_header_t;

typedef struct {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;          /* NULL or "" when none */
} mg_sigv4_creds_t;

typedef struct {
    const char               *method;   /* "POST" */
    /* Exactly as sent on the wire (already percent-encoded), e.g.
     * "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream".
     * The canonical URI encodes it once more ("%3A" -> "%253A"), as every
     * service but S3 expects (S3's single encoding is not offered).  NULL
     * or "" means "/". */
    const char               *path;
    const char               *query;    /* raw, without '?'; NULL or "" when none */
    const mg_sigv4_header_t  *headers;  /* headers to sign; must include host */
    size_t                    nheaders;
    const void               *body;
    size_t                    body_len;
    const char               *region;   /* "us-east-1" */
    const char               *service;  /* "bedrock" */
    time_t                    now;      /* ignored when headers carry X-Amz-Date */
    int                       normalize_path;   /* 1 for every non-S3 service */
    int                       sign_body;        /* 1: also sign x-amz-content-sha256 (S3) */
    int                       omit_session_token;  /* 1: token sent, not signed (rare) */
} mg_sigv4_request_t;

typedef struct {
    char   amz_date[17];                /* YYYYMMDDTHHMMSSZ: send as X-Amz-Date */
    char   payload_hash[65];            /* hex SHA-256 of the body: send as
                                           x-amz-content-sha256 when sign_body */
    char  *authorization;               /* value of the Authorization header */
    char  *canonical_request;           /* for tests and debug logs */
    char  *string_to_sign;
    char   signature[65];
} mg_sigv4_out_t;

/*
 * Sign req with creds into out (which needs no initialisation).  The
 * signer always signs x-amz-date, x-amz-security-token when there is a
 * session token (unless omit_session_token) and x-amz-content-sha256 when
 * sign_body, adding each to the signed set itself unless headers already
 * hold it; the caller then sends out->amz_date as X-Amz-Date, the session
 * token as X-Amz-Security-Token and out->authorization as Authorization.
 * A caller's X-Amz-Date must be YYYYMMDDTHHMMSSZ and is used instead of now.
 *
 * Header values are trimmed and each run of spaces, tabs or line breaks
 * inside becomes one space; headers of the same name are joined with ','
 * in the order given.  0, or -1 with the reason in err (out is then empty).
 */
int  mg_sigv4_sign(const mg_sigv4_request_t *req, const mg_sigv4_creds_t *creds,
                   mg_sigv4_out_t *out, char *err, size_t errlen);

/* Frees what mg_sigv4_sign allocated; safe on an emptied or freed out. */
void mg_sigv4_out_free(mg_sigv4_out_t *out);

#endif
