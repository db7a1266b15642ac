/*
 * mg_sigv4: owns the SigV4 canonical forms (URI, query, headers), the
 * string to sign, the HMAC key chain and the Authorization value.  Every
 * string is built in a growable buffer that remembers an allocation
 * failure, so building code stays straight-line and one check at the end
 * decides.  Derived keys are wiped from the stack after use.
 */
#include "aws/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/errf.h"
#include "util/hexval.h"
#include "util/sb.h"

#define MG_SIGV4_ALGORITHM  "AWS4-HMAC-SHA256"

typedef struct {
    char        *name;                  /* lower-case copy */
    const char  *value;
    size_t       order;                 /* keeps same-name values in caller order */
} mg_sigv4_hdr_t;

typedef struct {
    char  *key, *value;                 /* both already canonically encoded */
} mg_sigv4_param_t;


static void
mg_sb_addc(mg_sb_t *b, char c)
{
    mg_sb_add(b, &c, 1);
}

/* The buffer's string (an empty one if nothing was added), or NULL after
 * an allocation failure.  Ownership moves to the caller. */
static char *
mg_sb_take(mg_sb_t *b)
{
    char  *s;

    if (!b->oom && b->p == NULL) {
        mg_sb_add(b, "", 0);
    }
    if (b->oom) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    s = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return s;
}


/* Encoding */

static int
mg_sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 encoding as SigV4 wants it: unreserved bytes as they are,
 * every other byte %XX in upper-case hex ('/' kept when keep_slash). */
static void
mg_sigv4_encode(mg_sb_t *b, const char *s, size_t n, int keep_slash)
{
    static const char  hex[] = "0123456789ABCDEF";
    unsigned char      c;
    char               esc[3];
    size_t             i;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];
        if (mg_sigv4_unreserved(c) || (keep_slash && c == '/')) {
            mg_sb_addc(b, (char) c);
        } else {
            esc[0] = '%';
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 0x0f];
            mg_sb_add(b, esc, 3);
        }
    }
}

/* A query key or value, percent-decoded (a '%' not followed by two hex
 * digits stays a '%'; '+' stays a '+') and encoded again, so "%E1%88%B4"
 * and the raw UTF-8 bytes give the same canonical text. */
static char *
mg_sigv4_query_part(const char *s, size_t n)
{
    mg_sb_t  b = { 0 };
    char     c;
    int      hi, lo;
    size_t   i;

    for (i = 0; i < n; i++) {
        c = s[i];
        if (c == '%' && n - i >= 3
            && (hi = mg_hexval(s[i + 1])) >= 0 && (lo = mg_hexval(s[i + 2])) >= 0)
        {
            c = (char) (hi << 4 | lo);
            i += 2;
        }
        mg_sigv4_encode(&b, &c, 1, 0);
    }
    return mg_sb_take(&b);
}


/* Canonical URI */

/* Dot segments and empty segments removed: "." goes, ".." drops the
 * segment before it, "//" counts as "/"; a trailing '/' stays when any
 * segment does.  Then each segment is encoded. */
static int
mg_sigv4_canonical_uri(mg_sb_t *b, const char *path, int normalize)
{
    const char  **seg = NULL;
    size_t       *seglen = NULL;
    size_t        nseg = 0, maxseg = 1, len, i, start, n;

    if (path == NULL || path[0] == '\0') {
        mg_sb_addc(b, '/');
        return 0;
    }
    len = strlen(path);
    if (!normalize) {
        mg_sigv4_encode(b, path, len, 1);
        return 0;
    }
    for (i = 0; i < len; i++) {
        maxseg += path[i] == '/';
    }
    seg = malloc(maxseg * sizeof(*seg));
    seglen = malloc(maxseg * sizeof(*seglen));
    if (seg == NULL || seglen == NULL) {
        free(seg);
        free(seglen);
        return -1;
    }
    for (start = 0; start <= len; start = i + 1) {
        for (i = start; i < len && path[i] != '/'; i++) {
        }
        n = i - start;
        if (n == 0 || (n == 1 && path[start] == '.')) {
            continue;
        }
        if (n == 2 && path[start] == '.' && path[start + 1] == '.') {
            nseg -= nseg > 0;
            continue;
        }
        seg[nseg] = path + start;
        seglen[nseg++] = n;
    }
    mg_sb_addc(b, '/');
    for (i = 0; i < nseg; i++) {
        if (i > 0) {
            mg_sb_addc(b, '/');
        }
        mg_sigv4_encode(b, seg[i], seglen[i], 0);
    }
    if (nseg > 0 && path[len - 1] == '/') {
        mg_sb_addc(b, '/');
    }
    free(seg);
    free(seglen);
    return 0;
}


/* Canonical query */

static int
mg_sigv4_param_cmp(const void *a, const void *b)
{
    const mg_sigv4_param_t  *x = a, *y = b;
    int                      c = strcmp(x->key, y->key);

    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Parameters sorted by encoded key, then value; "k" alone becomes "k=". */
static int
mg_sigv4_canonical_query(mg_sb_t *b, const char *query)
{
    mg_sigv4_param_t  *params;
    const char        *p, *amp, *eq, *val;
    size_t             n = 1, np = 0, i;
    int                rc = -1;

    if (query == NULL || query[0] == '\0') {
        return 0;
    }
    for (p = query; *p; p++) {
        n += *p == '&';
    }
    params = calloc(n, sizeof(*params));
    if (params == NULL) {
        return -1;
    }
    for (p = query; ; p = amp + 1) {
        amp = strchr(p, '&');
        if (amp == NULL) {
            amp = p + strlen(p);
        }
        if (amp > p) {
            eq = memchr(p, '=', (size_t) (amp - p));
            val = eq != NULL ? eq + 1 : amp;
            params[np].key = mg_sigv4_query_part(p, (size_t) ((eq != NULL ? eq : amp) - p));
            params[np].value = mg_sigv4_query_part(val, (size_t) (amp - val));
            np++;
            if (params[np - 1].key == NULL || params[np - 1].value == NULL) {
                goto done;
            }
        }
        if (*amp == '\0') {
            break;
        }
    }
    qsort(params, np, sizeof(*params), mg_sigv4_param_cmp);
    for (i = 0; i < np; i++) {
        if (i > 0) {
            mg_sb_addc(b, '&');
        }
        mg_sb_adds(b, params[i].key);
        mg_sb_addc(b, '=');
        mg_sb_adds(b, params[i].value);
    }
    rc = 0;

done:
    for (i = 0; i < np; i++) {
        free(params[i].key);
        free(params[i].value);
    }
    free(params);
    return rc;
}


/* Canonical headers */

static int
mg_sigv4_hdr_cmp(const void *a, const void *b)
{
    const mg_sigv4_hdr_t  *x = a, *y = b;
    int                    c = strcmp(x->name, y->name);

    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

static int
mg_sigv4_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed, each inner run of white space (line breaks of a folded value
 * included) as one space. */
static void
mg_sigv4_add_value(mg_sb_t *b, const char *v)
{
    int  pending = 0;

    while (mg_sigv4_space(*v)) {
        v++;
    }
    for (; *v; v++) {
        if (mg_sigv4_space(*v)) {
            pending = 1;
            continue;
        }
        if (pending) {
            mg_sb_addc(b, ' ');
            pending = 0;
        }
        mg_sb_addc(b, *v);
    }
}

/* A header field name (RFC 9110 token characters), lower-cased into a
 * new string; NULL when it is not one or memory ran out (*bad says which). */
static char *
mg_sigv4_lower_name(const char *name, int *bad)
{
    static const char  delims[] = "\"(),/:;<=>?@[\\]{}";
    size_t             n, i;
    char              *lower;
    unsigned char      c;

    *bad = 0;
    n = name != NULL ? strlen(name) : 0;
    for (i = 0; i < n; i++) {
        c = (unsigned char) name[i];
        if (c <= 0x20 || c >= 0x7f || strchr(delims, c) != NULL) {
            break;
        }
    }
    if (n == 0 || i < n) {
        *bad = 1;
        return NULL;
    }
    lower = malloc(n + 1);
    if (lower == NULL) {
        return NULL;
    }
    for (i = 0; i <= n; i++) {
        lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char) (name[i] - 'A' + 'a') : name[i];
    }
    return lower;
}

static int
mg_sigv4_amz_date_ok(const char *v)
{
    size_t  i;

    if (strlen(v) != 16 || v[8] != 'T' || v[15] != 'Z') {
        return 0;
    }
    for (i = 0; i < 15; i++) {
        if (i != 8 && (v[i] < '0' || v[i] > '9')) {
            return 0;
        }
    }
    return 1;
}

/* Region and service go into the scope and the host: plain names only. */
static int
mg_sigv4_name_ok(const char *s)
{
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
              || *s == '-' || *s == '_' || *s == '.'))
        {
            return 0;
        }
    }
    return 1;
}


/* Hashing */

static void
mg_sigv4_hex(const unsigned char *d, size_t n, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int
mg_sigv4_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char  md[32];

    if (EVP_Digest(data != NULL ? data : "", n, md, NULL, EVP_sha256(), NULL) != 1) {
        return -1;
    }
    mg_sigv4_hex(md, sizeof(md), out);
    return 0;
}

static int
mg_sigv4_hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int  n = 32;

    if (keylen > INT32_MAX
        || HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg, strlen(msg),
                out, &n) == NULL || n != 32)
    {
        return -1;
    }
    return 0;
}

/* kSigning = HMAC chain over date, region, service, "aws4_request" from
 * "AWS4" + secret; then the signature of sts. */
static int
mg_sigv4_signature(const char *secret, const char *date, const char *region,
                   const char *service, const char *sts, char out[65])
{
    unsigned char  k[32], sig[32];
    char          *ksecret;
    size_t         n = strlen(secret) + 4;
    int            rc;

    ksecret = malloc(n + 1);
    if (ksecret == NULL) {
        return -1;
    }
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret, n - 4 + 1);
    rc = mg_sigv4_hmac(ksecret, n, date, k) != 0
         || mg_sigv4_hmac(k, 32, region, k) != 0
         || mg_sigv4_hmac(k, 32, service, k) != 0
         || mg_sigv4_hmac(k, 32, "aws4_request", k) != 0
         || mg_sigv4_hmac(k, 32, sts, sig) != 0 ? -1 : 0;
    if (rc == 0) {
        mg_sigv4_hex(sig, sizeof(sig), out);
    }
    OPENSSL_cleanse(ksecret, n);
    OPENSSL_cleanse(k, sizeof(k));
    free(ksecret);
    return rc;
}


/* Signing */

void
mg_sigv4_out_free(mg_sigv4_out_t *out)
{
    if (out == NULL) {
        return;
    }
    free(out->authorization);
    free(out->canonical_request);
    free(out->string_to_sign);
    memset(out, 0, sizeof(*out));
}

int
mg_sigv4_sign(const mg_sigv4_request_t *req, const mg_sigv4_creds_t *creds,
              mg_sigv4_out_t *out, char *err, size_t errlen)
{
    mg_sigv4_hdr_t  *h = NULL;
    mg_sb_t          creq = { 0 }, sts = { 0 }, auth = { 0 }, signed_names = { 0 };
    const char      *token, *caller_date = NULL;
    char             scope[128], creq_hash[65], date[9];
    size_t           nh = 0, i, j;
    int              has_host = 0, has_token = 0, has_sha = 0, bad;
    struct tm        tm;

    if (out == NULL) {
        mg_errf(err, errlen, "no output");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (req == NULL || creds == NULL) {
        mg_errf(err, errlen, "no request or no credentials");
        return -1;
    }
    if (req->method == NULL || req->method[0] == '\0') {
        mg_errf(err, errlen, "no method");
        return -1;
    }
    if (creds->access_key_id == NULL || creds->access_key_id[0] == '\0'
        || creds->secret_access_key == NULL || creds->secret_access_key[0] == '\0')
    {
        mg_errf(err, errlen, "access key id or secret access key missing");
        return -1;
    }
    if (strpbrk(creds->access_key_id, "/, \t\r\n") != NULL) {
        mg_errf(err, errlen, "access key id has characters it cannot have");
        return -1;
    }
    if (!mg_sigv4_name_ok(req->region) || !mg_sigv4_name_ok(req->service)) {
        mg_errf(err, errlen, "region and service must be plain names");
        return -1;
    }
    if (req->path != NULL && req->path[0] != '\0' && req->path[0] != '/') {
        mg_errf(err, errlen, "path must start with '/'");
        return -1;
    }
    if (req->body == NULL && req->body_len > 0) {
        mg_errf(err, errlen, "body_len without a body");
        return -1;
    }
    token = creds->session_token != NULL && creds->session_token[0] != '\0'
            ? creds->session_token : NULL;

    /* The caller's headers, lower-cased, plus the ones the signer owns. */
    h = calloc(req->nheaders + 3, sizeof(*h));
    if (h == NULL) {
        goto oom;
    }
    for (i = 0; i < req->nheaders; i++) {
        if (req->headers[i].value == NULL) {
            mg_errf(err, errlen, "header %zu has no value", i);
            goto fail;
        }
        h[nh].name = mg_sigv4_lower_name(req->headers[i].name, &bad);
        if (h[nh].name == NULL) {
            if (bad) {
                mg_errf(err, errlen, "header %zu has an invalid name", i);
                goto fail;
            }
            goto oom;
        }
        h[nh].value = req->headers[i].value;
        h[nh].order = nh;
        nh++;
        if (strcmp(h[nh - 1].name, "authorization") == 0) {
            mg_errf(err, errlen, "the Authorization header cannot be signed");
            goto fail;
        }
        has_host |= strcmp(h[nh - 1].name, "host") == 0;
        has_token |= strcmp(h[nh - 1].name, "x-amz-security-token") == 0;
        has_sha |= strcmp(h[nh - 1].name, "x-amz-content-sha256") == 0;
        if (strcmp(h[nh - 1].name, "x-amz-date") == 0) {
            if (caller_date != NULL || !mg_sigv4_amz_date_ok(h[nh - 1].value)) {
                mg_errf(err, errlen, "X-Amz-Date must be one YYYYMMDDTHHMMSSZ");
                goto fail;
            }
            caller_date = h[nh - 1].value;
        }
    }
    if (!has_host) {
        mg_errf(err, errlen, "the host header must be signed");
        goto fail;
    }

    if (caller_date != NULL) {
        memcpy(out->amz_date, caller_date, 16);
    } else if (gmtime_r(&req->now, &tm) == NULL || tm.tm_year + 1900 < 1000
               || tm.tm_year + 1900 > 9999
               || strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
    {
        mg_errf(err, errlen, "time out of range");
        goto fail;
    }
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    if (mg_sigv4_sha256_hex(req->body, req->body_len, out->payload_hash) != 0) {
        mg_errf(err, errlen, "SHA-256 failed");
        goto fail;
    }

    if (caller_date == NULL) {
        h[nh].name = strdup("x-amz-date");
        h[nh].value = out->amz_date;
        h[nh].order = nh;
        if (h[nh++].name == NULL) {
            goto oom;
        }
    }
    if (token != NULL && !req->omit_session_token && !has_token) {
        h[nh].name = strdup("x-amz-security-token");
        h[nh].value = token;
        h[nh].order = nh;
        if (h[nh++].name == NULL) {
            goto oom;
        }
    }
    if (req->sign_body && !has_sha) {
        h[nh].name = strdup("x-amz-content-sha256");
        h[nh].value = out->payload_hash;
        h[nh].order = nh;
        if (h[nh++].name == NULL) {
            goto oom;
        }
    }
    qsort(h, nh, sizeof(*h), mg_sigv4_hdr_cmp);

    /* 1. The canonical request. */
    mg_sb_adds(&creq, req->method);
    mg_sb_addc(&creq, '\n');
    if (mg_sigv4_canonical_uri(&creq, req->path, req->normalize_path) != 0) {
        goto oom;
    }
    mg_sb_addc(&creq, '\n');
    if (mg_sigv4_canonical_query(&creq, req->query) != 0) {
        goto oom;
    }
    mg_sb_addc(&creq, '\n');
    for (i = 0; i < nh; i = j) {
        mg_sb_adds(&creq, h[i].name);
        mg_sb_addc(&creq, ':');
        if (i > 0) {
            mg_sb_addc(&signed_names, ';');
        }
        mg_sb_adds(&signed_names, h[i].name);
        for (j = i; j < nh && strcmp(h[j].name, h[i].name) == 0; j++) {
            if (j > i) {
                mg_sb_addc(&creq, ',');
            }
            mg_sigv4_add_value(&creq, h[j].value);
        }
        mg_sb_addc(&creq, '\n');
    }
    mg_sb_addc(&creq, '\n');
    mg_sb_add(&creq, signed_names.p != NULL ? signed_names.p : "", signed_names.len);
    mg_sb_addc(&creq, '\n');
    mg_sb_adds(&creq, out->payload_hash);
    if (creq.oom || signed_names.oom) {
        goto oom;
    }

    /* 2. The string to sign. */
    if ((size_t) snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, req->region,
                          req->service) >= sizeof(scope))
    {
        mg_errf(err, errlen, "region or service too long");
        goto fail;
    }
    if (mg_sigv4_sha256_hex(creq.p, creq.len, creq_hash) != 0) {
        mg_errf(err, errlen, "SHA-256 failed");
        goto fail;
    }
    mg_sb_adds(&sts, MG_SIGV4_ALGORITHM "\n");
    mg_sb_adds(&sts, out->amz_date);
    mg_sb_addc(&sts, '\n');
    mg_sb_adds(&sts, scope);
    mg_sb_addc(&sts, '\n');
    mg_sb_adds(&sts, creq_hash);
    if (sts.oom) {
        goto oom;
    }

    /* 3. and 4. The signature and the header carrying it. */
    if (mg_sigv4_signature(creds->secret_access_key, date, req->region, req->service, sts.p,
                           out->signature) != 0)
    {
        mg_errf(err, errlen, "HMAC-SHA256 failed");
        goto fail;
    }
    mg_sb_adds(&auth, MG_SIGV4_ALGORITHM " Credential=");
    mg_sb_adds(&auth, creds->access_key_id);
    mg_sb_addc(&auth, '/');
    mg_sb_adds(&auth, scope);
    mg_sb_adds(&auth, ", SignedHeaders=");
    mg_sb_add(&auth, signed_names.p, signed_names.len);
    mg_sb_adds(&auth, ", Signature=");
    mg_sb_adds(&auth, out->signature);

    out->authorization = mg_sb_take(&auth);
    out->canonical_request = mg_sb_take(&creq);
    out->string_to_sign = mg_sb_take(&sts);
    if (out->authorization == NULL || out->canonical_request == NULL
        || out->string_to_sign == NULL)
    {
        goto oom;
    }
    for (i = 0; i < nh; i++) {
        free(h[i].name);
    }
    free(h);
    free(signed_names.p);
    return 0;

oom:
    mg_errf(err, errlen, "out of memory");
fail:
    for (i = 0; h != NULL && i < nh; i++) {
        free(h[i].name);
    }
    free(h);
    free(creq.p);
    free(sts.p);
    free(auth.p);
    free(signed_names.p);
    mg_sigv4_out_free(out);
    return -1;
}
