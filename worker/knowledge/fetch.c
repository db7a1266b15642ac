/*
 * mg_fetch: owns fetching a knowledge base's web page by URL (fetch.h).
 *
 * Invariants:
 * - No socket is ever opened to a forbidden address.  libcurl opens every
 *   socket through mg_fetch_open() (CURLOPT_OPENSOCKETFUNCTION) with the
 *   resolved address in hand: the first connection, each redirect hop,
 *   each address of a name (a refused one makes libcurl try the next).
 *   So names that resolve to a forbidden address, redirects to one and
 *   numeric spellings of one ("2130706433", "[::ffff:127.0.0.1]") are all
 *   caught before any packet leaves, and no DNS answer is trusted twice.
 * - Only http and https, in the URL and in every redirect; at most
 *   MG_FETCH_MAX_REDIRECTS hops; one deadline for the whole transfer.
 * - No proxy unless MANGOO_FETCH_PROXY names one (the environment's
 *   http_proxy and friends are ignored, and a proxy then gets every
 *   request: the guard checks the connection to it).
 * - The body never grows past MANGOO_FETCH_MAX_BYTES, whatever the
 *   Content-Length says or whether it is there at all.
 * - A final response that is not 2xx or not one of the allowed types is
 *   abandoned at the end of its headers, before its body is read.
 * - The settings are read once per process (pthread_once) and never
 *   change; every fetch has its own easy handle, so threads share nothing.
 */
#include "knowledge/fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "util/errf.h"
#include "util/log.h"
#include "util/sb.h"

#define MG_FETCH_DEFAULT_MAX_BYTES  (5L * 1024 * 1024)
#define MG_FETCH_DEFAULT_TIMEOUT    15L
#define MG_FETCH_CONNECT_MAX        10L         /* seconds, within the whole timeout */
#define MG_FETCH_USER_AGENT         "Mangoo/1.0 (knowledge fetcher)"
#define MG_FETCH_TYPE_MAX           128

/* What the extractor reads (knowledge/extract.h). */
static const char *const mg_fetch_types[] = {
    "text/html", "text/plain", "text/markdown", "application/pdf"
};
#define MG_FETCH_TYPES_TEXT "text/html, text/plain, text/markdown or application/pdf"

typedef struct {
    int         rc;             /* mg_fetch_init's answer */
    char        err[256];
    long        max_bytes;
    long        timeout_s;
    mg_cidr_t  *allow;          /* process lifetime */
    size_t      nallow;
    char       *proxy;          /* NULL: none */
} mg_fetch_cfg_t;

/* One transfer's state, shared by its callbacks. */
typedef struct {
    const mg_fetch_cfg_t  *cfg;
    mg_sb_t                body;
    int                    too_big;
    int                    refused;         /* a socket was refused: why in refusal */
    char                   refusal[256];
    /* the response whose headers are arriving */
    long                   status;
    char                   type[MG_FETCH_TYPE_MAX];
    int                    in_body;         /* headers after this are trailers */
    int                    bad_status;      /* abandoned: final and not 2xx */
    int                    wrong_type;      /* abandoned: a type not allowed */
} mg_fetch_ctx_t;

static pthread_once_t  mg_fetch_once = PTHREAD_ONCE_INIT;
static mg_fetch_cfg_t  mg_fetch_cfg;


/* ---- the address classifier ------------------------------------------ */

static const char *const mg_addr_kind_names[] = {
    [MG_ADDR_OK]            = "",
    [MG_ADDR_UNSPECIFIED]   = "unspecified",
    [MG_ADDR_LOOPBACK]      = "loopback",
    [MG_ADDR_PRIVATE]       = "private",
    [MG_ADDR_LINK_LOCAL]    = "link-local",
    [MG_ADDR_METADATA]      = "cloud metadata",
    [MG_ADDR_UNIQUE_LOCAL]  = "unique local",
    [MG_ADDR_MULTICAST]     = "multicast",
    [MG_ADDR_BROADCAST]     = "broadcast",
    [MG_ADDR_RESERVED]      = "reserved",
    [MG_ADDR_DOCUMENTATION] = "documentation",
};

/* The same kinds as the end of "the address X is ... and may not be fetched". */
static const char *const mg_addr_kind_phrases[] = {
    [MG_ADDR_OK]            = "allowed",
    [MG_ADDR_UNSPECIFIED]   = "unspecified",
    [MG_ADDR_LOOPBACK]      = "loopback",
    [MG_ADDR_PRIVATE]       = "private",
    [MG_ADDR_LINK_LOCAL]    = "link-local",
    [MG_ADDR_METADATA]      = "a cloud metadata service",
    [MG_ADDR_UNIQUE_LOCAL]  = "unique local (private)",
    [MG_ADDR_MULTICAST]     = "multicast",
    [MG_ADDR_BROADCAST]     = "the broadcast address",
    [MG_ADDR_RESERVED]      = "reserved",
    [MG_ADDR_DOCUMENTATION] = "reserved for documentation",
};

const char *
mg_addr_kind_name(mg_addr_kind_t kind)
{
    if ((size_t) kind >= sizeof(mg_addr_kind_names) / sizeof(mg_addr_kind_names[0])) {
        return "reserved";
    }
    return mg_addr_kind_names[kind];
}

/* a: host order */
static mg_addr_kind_t
mg_addr_kind4(uint32_t a)
{
    if (a == 0xA9FEA9FEu                        /* 169.254.169.254: AWS, GCP, Azure, ... */
        || a == 0x646464C8u)                    /* 100.100.100.200: Alibaba Cloud */
    {
        return MG_ADDR_METADATA;
    }
    if ((a >> 24) == 0) {                       /* 0.0.0.0/8: "this network" */
        return MG_ADDR_UNSPECIFIED;
    }
    if ((a >> 24) == 127) {
        return MG_ADDR_LOOPBACK;
    }
    if ((a >> 24) == 10                         /* RFC 1918 */
        || (a & 0xFFF00000u) == 0xAC100000u     /* 172.16/12 */
        || (a & 0xFFFF0000u) == 0xC0A80000u     /* 192.168/16 */
        || (a & 0xFFC00000u) == 0x64400000u)    /* 100.64/10: carrier-grade NAT */
    {
        return MG_ADDR_PRIVATE;
    }
    if ((a & 0xFFFF0000u) == 0xA9FE0000u) {     /* 169.254/16 */
        return MG_ADDR_LINK_LOCAL;
    }
    if ((a & 0xFFFFFF00u) == 0xC0000200u        /* 192.0.2/24 TEST-NET-1 */
        || (a & 0xFFFFFF00u) == 0xC6336400u     /* 198.51.100/24 TEST-NET-2 */
        || (a & 0xFFFFFF00u) == 0xCB007100u)    /* 203.0.113/24 TEST-NET-3 */
    {
        return MG_ADDR_DOCUMENTATION;
    }
    if ((a & 0xFFFFFF00u) == 0xC0000000u        /* 192.0.0/24: IETF protocol assignments */
        || (a & 0xFFFE0000u) == 0xC6120000u)    /* 198.18/15: benchmarking */
    {
        return MG_ADDR_RESERVED;
    }
    if (a == 0xFFFFFFFFu) {
        return MG_ADDR_BROADCAST;
    }
    if ((a & 0xF0000000u) == 0xE0000000u) {     /* 224/4 */
        return MG_ADDR_MULTICAST;
    }
    if ((a & 0xF0000000u) == 0xF0000000u) {     /* 240/4 */
        return MG_ADDR_RESERVED;
    }
    return MG_ADDR_OK;
}

static int
mg_bytes_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* The IPv4 address an IPv6 one carries: 1 for IPv4-mapped (::ffff:0:0/96),
 * 2 for NAT64 (64:ff9b::/96), with *v4 (host order); 0 for neither. */
static int
mg_addr6_embedded(const unsigned char *b, uint32_t *v4)
{
    static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
    int                        form = 0;

    if (mg_bytes_zero(b, 10) && b[10] == 0xff && b[11] == 0xff) {
        form = 1;
    } else if (memcmp(b, nat64, 12) == 0) {
        form = 2;
    }
    if (form != 0) {
        *v4 = ((uint32_t) b[12] << 24) | ((uint32_t) b[13] << 16)
              | ((uint32_t) b[14] << 8) | (uint32_t) b[15];
    }
    return form;
}

static mg_addr_kind_t
mg_addr_kind6(const unsigned char *b)
{
    static const unsigned char metadata[16] = {     /* fd00:ec2::254 (AWS) */
        0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54
    };
    static const unsigned char nat64_local[6] = { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 };

    if (mg_bytes_zero(b, 16)) {
        return MG_ADDR_UNSPECIFIED;
    }
    if (mg_bytes_zero(b, 15) && b[15] == 1) {
        return MG_ADDR_LOOPBACK;
    }
    if (memcmp(b, metadata, 16) == 0) {
        return MG_ADDR_METADATA;
    }
    if (memcmp(b, nat64_local, 6) == 0) {            /* 64:ff9b:1::/48, local-use NAT64 */
        return MG_ADDR_PRIVATE;
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {     /* fe80::/10 */
        return MG_ADDR_LINK_LOCAL;
    }
    if ((b[0] & 0xfe) == 0xfc                         /* fc00::/7 */
        || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))   /* fec0::/10, the old site-local */
    {
        return MG_ADDR_UNIQUE_LOCAL;
    }
    if (b[0] == 0xff) {                               /* ff00::/8 */
        return MG_ADDR_MULTICAST;
    }
    if ((b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)   /* 2001:db8::/32 */
        || (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0))          /* 3fff::/20 */
    {
        return MG_ADDR_DOCUMENTATION;
    }
    if ((b[0] & 0xe0) != 0x20) {
        /* only 2000::/3 is global unicast; the rest (::/96 IPv4-compatible,
         * 100::/64 discard, ...) has no business being fetched */
        return MG_ADDR_RESERVED;
    }
    return MG_ADDR_OK;
}

mg_addr_kind_t
mg_addr_forbidden(const struct sockaddr *sa, char *why, size_t whylen)
{
    const unsigned char  *b;
    mg_addr_kind_t        kind;
    uint32_t              v4;
    int                   form;
    char                  text[INET_ADDRSTRLEN];
    struct in_addr        in;

    if (sa->sa_family == AF_INET) {
        kind = mg_addr_kind4(ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr));
        mg_errf(why, whylen, "%s", mg_addr_kind_name(kind));
        return kind;
    }
    if (sa->sa_family != AF_INET6) {
        mg_errf(why, whylen, "%s", mg_addr_kind_name(MG_ADDR_RESERVED));
        return MG_ADDR_RESERVED;
    }
    b = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
    form = mg_addr6_embedded(b, &v4);
    if (form == 0) {
        kind = mg_addr_kind6(b);
        mg_errf(why, whylen, "%s", mg_addr_kind_name(kind));
        return kind;
    }
    kind = mg_addr_kind4(v4);
    if (kind == MG_ADDR_OK) {
        mg_errf(why, whylen, "%s", "");
        return kind;
    }
    in.s_addr = htonl(v4);
    inet_ntop(AF_INET, &in, text, sizeof(text));
    mg_errf(why, whylen, "%s (%s %s)", mg_addr_kind_name(kind),
            form == 1 ? "IPv4-mapped" : "NAT64 of", text);
    return kind;
}


/* ---- the allow-list ---------------------------------------------------- */

/* One item, already trimmed, of length n. */
static int
mg_cidr_parse_one(const char *item, size_t n, mg_cidr_t *c, char *err, size_t errlen)
{
    char          buf[64];
    char         *slash;
    int           max, prefix = -1;
    size_t        whole, bits;

    if (n >= sizeof(buf)) {
        mg_errf(err, errlen, "\"%.*s...\" is not a CIDR", 40, item);
        return -1;
    }
    memcpy(buf, item, n);
    buf[n] = '\0';
    memset(c, 0, sizeof(*c));

    slash = strchr(buf, '/');
    if (slash != NULL) {
        const char *p = slash + 1;

        *slash = '\0';
        if (p[0] == '\0' || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p)) {
            mg_errf(err, errlen, "\"%.*s\" has a bad prefix length", (int) n, item);
            return -1;
        }
        prefix = atoi(p);
    }
    if (strchr(buf, ':') != NULL) {
        c->family = AF_INET6;
        max = 128;
    } else {
        c->family = AF_INET;
        max = 32;
    }
    if (inet_pton(c->family, buf, c->addr) != 1) {
        mg_errf(err, errlen, "\"%.*s\" is not an IP address or CIDR", (int) n, item);
        return -1;
    }
    if (prefix < 0) {
        prefix = max;
    }
    if (prefix > max) {
        mg_errf(err, errlen, "\"%.*s\" has a prefix longer than %d", (int) n, item, max);
        return -1;
    }
    c->prefix = prefix;

    /* bits past the prefix: most likely a typo (10.0.0.1/8 for 10.0.0.0/8) */
    whole = (size_t) prefix / 8;
    bits = (size_t) prefix % 8;
    for (size_t i = whole; i < (size_t) max / 8; i++) {
        unsigned char keep = (i == whole && bits != 0) ? (unsigned char) (0xff << (8 - bits)) : 0;

        if ((c->addr[i] & (unsigned char) ~keep) != 0) {
            mg_errf(err, errlen, "\"%.*s\" has bits set past its prefix length", (int) n, item);
            return -1;
        }
    }
    return 0;
}

int
mg_cidr_parse_list(const char *s, mg_cidr_t **out, size_t *n, char *err, size_t errlen)
{
    mg_cidr_t   *list = NULL, *grown;
    size_t       count = 0;
    const char  *p = s, *end, *a, *b;

    *out = NULL;
    *n = 0;
    while (p != NULL && *p != '\0') {
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }
        a = p;
        b = end;
        while (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        }
        if (b > a) {
            grown = realloc(list, (count + 1) * sizeof(*list));
            if (grown == NULL) {
                mg_errf(err, errlen, "out of memory");
                free(list);
                return -1;
            }
            list = grown;
            if (mg_cidr_parse_one(a, (size_t) (b - a), &list[count], err, errlen) != 0) {
                free(list);
                return -1;
            }
            count++;
        }
        p = (*end == ',') ? end + 1 : end;
    }
    *out = list;
    *n = count;
    return 0;
}

static int
mg_cidr_contains(const mg_cidr_t *c, int family, const unsigned char *addr)
{
    size_t  whole = (size_t) c->prefix / 8;
    size_t  bits = (size_t) c->prefix % 8;

    if (c->family != family || memcmp(c->addr, addr, whole) != 0) {
        return 0;
    }
    if (bits != 0) {
        unsigned char mask = (unsigned char) (0xff << (8 - bits));

        return (c->addr[whole] & mask) == (addr[whole] & mask);
    }
    return 1;
}

int
mg_cidr_match(const mg_cidr_t *list, size_t n, const struct sockaddr *sa)
{
    const unsigned char  *addr;
    unsigned char         v4b[4];
    uint32_t              v4;
    int                   family, embedded = 0;

    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        addr = (const unsigned char *) &((const struct sockaddr_in *) sa)->sin_addr.s_addr;
    } else if (sa->sa_family == AF_INET6) {
        family = AF_INET6;
        addr = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
        if (mg_addr6_embedded(addr, &v4) != 0) {
            embedded = 1;
            v4b[0] = (unsigned char) (v4 >> 24);
            v4b[1] = (unsigned char) (v4 >> 16);
            v4b[2] = (unsigned char) (v4 >> 8);
            v4b[3] = (unsigned char) v4;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (mg_cidr_contains(&list[i], family, addr)
            || (embedded && mg_cidr_contains(&list[i], AF_INET, v4b)))
        {
            return 1;
        }
    }
    return 0;
}

int
mg_fetch_check_addr(const struct sockaddr *sa, const mg_cidr_t *allow, size_t nallow,
                    char *err, size_t errlen)
{
    mg_addr_kind_t  kind;
    char            text[INET6_ADDRSTRLEN] = "?";
    char            why[96];
    const void     *a;

    kind = mg_addr_forbidden(sa, why, sizeof(why));
    if (kind == MG_ADDR_OK || mg_cidr_match(allow, nallow, sa)) {
        return 0;
    }
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        a = sa->sa_family == AF_INET
            ? (const void *) &((const struct sockaddr_in *) sa)->sin_addr
            : (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
        inet_ntop(sa->sa_family, a, text, sizeof(text));
    }
    /* why past the kind's name: the IPv4 address a mapped/NAT64 one carries */
    mg_errf(err, errlen, "the address %s%s is %s and may not be fetched", text,
            why + strlen(mg_addr_kind_name(kind)), mg_addr_kind_phrases[kind]);
    return -1;
}


/* ---- settings ----------------------------------------------------------- */

static int
mg_fetch_env_long(const char *name, long def, long min, long max, long *out, char *err,
                  size_t errlen)
{
    const char  *v = getenv(name);
    char        *end;
    long long    x;

    if (v == NULL || v[0] == '\0') {
        *out = def;
        return 0;
    }
    errno = 0;
    x = strtoll(v, &end, 10);
    if (*end != '\0' || errno != 0 || x < min || x > max) {
        mg_errf(err, errlen, "%s must be an integer between %ld and %ld, not \"%s\"",
                name, min, max, v);
        return -1;
    }
    *out = (long) x;
    return 0;
}

static void
mg_fetch_load(void)
{
    mg_fetch_cfg_t  *c = &mg_fetch_cfg;
    const char      *allow = getenv("MANGOO_FETCH_ALLOW");
    const char      *proxy = getenv("MANGOO_FETCH_PROXY");
    char             why[200];

    c->rc = -1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {     /* ref-counted */
        mg_errf(c->err, sizeof(c->err), "libcurl unavailable");
        return;
    }
    if (mg_fetch_env_long("MANGOO_FETCH_MAX_BYTES", MG_FETCH_DEFAULT_MAX_BYTES, 1,
                          1024L * 1024 * 1024, &c->max_bytes, c->err, sizeof(c->err)) != 0
        || mg_fetch_env_long("MANGOO_FETCH_TIMEOUT", MG_FETCH_DEFAULT_TIMEOUT, 1, 3600,
                             &c->timeout_s, c->err, sizeof(c->err)) != 0)
    {
        return;
    }
    if (allow != NULL && mg_cidr_parse_list(allow, &c->allow, &c->nallow, why, sizeof(why)) != 0) {
        mg_errf(c->err, sizeof(c->err), "MANGOO_FETCH_ALLOW: %s", why);
        return;
    }
    if (proxy != NULL && proxy[0] != '\0') {
        c->proxy = strdup(proxy);
        if (c->proxy == NULL) {
            mg_errf(c->err, sizeof(c->err), "out of memory");
            return;
        }
    }
    c->rc = 0;
}

int
mg_fetch_init(char *err, size_t errlen)
{
    pthread_once(&mg_fetch_once, mg_fetch_load);
    if (mg_fetch_cfg.rc != 0) {
        mg_errf(err, errlen, "%s", mg_fetch_cfg.err);
    }
    return mg_fetch_cfg.rc;
}


/* ---- the transfer --------------------------------------------------------- */

/* The media type of a Content-Type value, lower case, without parameters
 * or spaces, into out. */
static void
mg_fetch_media_type(const char *v, size_t n, char *out, size_t outlen)
{
    size_t  o = 0;

    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    for (size_t i = 0; i < n && v[i] != ';' && o + 1 < outlen; i++) {
        unsigned char ch = (unsigned char) v[i];

        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            continue;
        }
        out[o++] = (char) ((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    }
    out[o] = '\0';
}

static int
mg_fetch_type_ok(const char *type)
{
    for (size_t i = 0; i < sizeof(mg_fetch_types) / sizeof(mg_fetch_types[0]); i++) {
        if (strcmp(type, mg_fetch_types[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Every socket libcurl wants: the guard. */
static curl_socket_t
mg_fetch_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    mg_fetch_ctx_t  *ctx = clientp;
    char             why[256];
    curl_socket_t    s;

    if ((a->family != AF_INET && a->family != AF_INET6)
        || a->addrlen < (a->family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6)))
    {
        mg_errf(why, sizeof(why), "only internet addresses may be fetched");
    } else if (mg_fetch_check_addr(&a->addr, ctx->cfg->allow, ctx->cfg->nallow,
                                   why, sizeof(why)) == 0)
    {
        s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        return s < 0 ? CURL_SOCKET_BAD : s;
    }
    if (!ctx->refused) {            /* the first refusal is the one to report */
        ctx->refused = 1;
        mg_errf(ctx->refusal, sizeof(ctx->refusal), "%s", why);
    }
    mg_log_debug("fetch: no socket: %s", why);
    return CURL_SOCKET_BAD;
}

/* Header lines of every response (redirects and interim ones included). */
static size_t
mg_fetch_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    mg_fetch_ctx_t  *ctx = userdata;
    size_t           n = size * nitems;
    const char      *p;

    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {          /* a new response */
        p = memchr(buf, ' ', n);
        ctx->status = 0;
        ctx->type[0] = '\0';
        ctx->in_body = 0;
        if (p != NULL) {
            while (p < buf + n && *p == ' ') {
                p++;
            }
            for (int i = 0; i < 3 && p < buf + n && *p >= '0' && *p <= '9'; i++, p++) {
                ctx->status = ctx->status * 10 + (*p - '0');
            }
        }
        return n;
    }
    if (ctx->in_body) {
        return n;                   /* trailers */
    }
    if (n > 13 && strncasecmp(buf, "content-type:", 13) == 0) {
        mg_fetch_media_type(buf + 13, n - 13, ctx->type, sizeof(ctx->type));
        return n;
    }
    if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {     /* end of this response's headers */
        if (ctx->status < 200 || (ctx->status >= 300 && ctx->status < 400)) {
            return n;               /* interim, or a redirect libcurl may follow */
        }
        if (ctx->status > 299) {
            ctx->bad_status = 1;
            return 0;               /* abandons the transfer */
        }
        if (!mg_fetch_type_ok(ctx->type)) {
            ctx->wrong_type = 1;
            return 0;
        }
    }
    return n;
}

static size_t
mg_fetch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mg_fetch_ctx_t  *ctx = userdata;
    size_t           n = size * nmemb;

    ctx->in_body = 1;
    if (ctx->status < 200 || ctx->status > 299) {
        return n;                   /* a redirect's body: not kept */
    }
    if (n > (size_t) ctx->cfg->max_bytes - ctx->body.len) {
        ctx->too_big = 1;
        return 0;                   /* abandons the transfer */
    }
    mg_sb_add(&ctx->body, ptr, n);
    if (ctx->body.oom) {
        return 0;
    }
    return n;
}

/* The URL before libcurl sees it: http or https, a host, not too long.
 * 0 with *u (curl_url_cleanup), or -1 with err. */
static int
mg_fetch_parse_url(const char *url, CURLU **u, char *err, size_t errlen)
{
    char  *scheme = NULL, *host = NULL;
    int    rc = -1;

    *u = NULL;
    if (strlen(url) > MG_FETCH_URL_MAX) {
        mg_errf(err, errlen, "the URL is longer than %d characters", MG_FETCH_URL_MAX);
        return -1;
    }
    *u = curl_url();
    if (*u == NULL) {
        mg_errf(err, errlen, "out of memory");
        return -1;
    }
    if (curl_url_set(*u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK
        || curl_url_get(*u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
    {
        mg_errf(err, errlen, "the URL is not valid: it must be an http:// or https:// address");
        goto done;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        mg_errf(err, errlen, "only http and https URLs may be fetched, not %.32s", scheme);
        goto done;
    }
    if (curl_url_get(*u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        mg_errf(err, errlen, "the URL has no host");
        goto done;
    }
    rc = 0;

done:
    curl_free(scheme);
    curl_free(host);
    if (rc != 0) {
        curl_url_cleanup(*u);
        *u = NULL;
    }
    return rc;
}

/* Why a finished transfer failed, for the user. */
static void
mg_fetch_explain(const mg_fetch_ctx_t *ctx, CURLcode rc, const char *curl_err, char *err,
                 size_t errlen)
{
    if (ctx->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        mg_errf(err, errlen, "the page is larger than the limit of %ld bytes",
                ctx->cfg->max_bytes);
    } else if (ctx->wrong_type && ctx->type[0] == '\0') {
        mg_errf(err, errlen, "the server did not say what type the page is");
    } else if (ctx->wrong_type) {
        mg_errf(err, errlen, "the page's type is %s, not " MG_FETCH_TYPES_TEXT, ctx->type);
    } else if (ctx->bad_status) {
        mg_errf(err, errlen, "the server answered HTTP %ld", ctx->status);
    } else if (ctx->refused && rc == CURLE_COULDNT_CONNECT) {
        mg_errf(err, errlen, "%s", ctx->refusal);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        mg_errf(err, errlen, "the page did not arrive within %ld seconds", ctx->cfg->timeout_s);
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
        mg_errf(err, errlen, "the page redirected more than %d times", MG_FETCH_MAX_REDIRECTS);
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
        /* the URL itself was checked: this was a redirect */
        mg_errf(err, errlen, "the page redirected to a URL that is not http or https");
    } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
        mg_errf(err, errlen, "the host name could not be resolved");
    } else {
        mg_errf(err, errlen, "the page could not be fetched: %s",
                curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
    }
}

int
mg_fetch_url(const char *url, char **body, size_t *len, char *content_type, size_t ctlen,
             char *err, size_t errlen)
{
    const mg_fetch_cfg_t  *cfg = &mg_fetch_cfg;
    mg_fetch_ctx_t         ctx;
    CURLU                 *u = NULL;
    CURL                  *curl = NULL;
    CURLcode               rc;
    char                   curl_err[CURL_ERROR_SIZE] = "";
    char                   type[MG_FETCH_TYPE_MAX];
    const char            *ca = getenv("MANGOO_CA_FILE");
    char                  *ct = NULL;
    long                   status = 0;
    int                    ret = -1;

    *body = NULL;
    *len = 0;
    if (ctlen > 0) {
        content_type[0] = '\0';
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = cfg;

    if (mg_fetch_init(err, errlen) != 0 || mg_fetch_parse_url(url, &u, err, errlen) != 0) {
        return -1;
    }
    curl = curl_easy_init();
    if (curl == NULL) {
        mg_errf(err, errlen, "libcurl unavailable");
        goto done;
    }
    if (curl_easy_setopt(curl, CURLOPT_CURLU, u) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_MAXREDIRS, (long) MG_FETCH_MAX_REDIRECTS) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, mg_fetch_open) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &ctx) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, mg_fetch_header) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ctx) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mg_fetch_write) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ctx) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) cfg->max_bytes) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_TIMEOUT, cfg->timeout_s) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
                            cfg->timeout_s < MG_FETCH_CONNECT_MAX ? cfg->timeout_s
                                                                  : MG_FETCH_CONNECT_MAX) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        /* "": no proxy, whatever http_proxy and friends say */
        || curl_easy_setopt(curl, CURLOPT_PROXY, cfg->proxy != NULL ? cfg->proxy : "") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_NOPROXY, "") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_USERAGENT, MG_FETCH_USER_AGENT) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK
        || (ca != NULL && ca[0] != '\0' && curl_easy_setopt(curl, CURLOPT_CAINFO, ca) != CURLE_OK))
    {
        mg_errf(err, errlen, "libcurl refused an option");
        goto done;
    }

    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        mg_fetch_explain(&ctx, rc, curl_err, err, errlen);
        goto done;
    }
    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        mg_errf(err, errlen, "the server answered HTTP %ld", status);
        goto done;
    }
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || ct == NULL) {
        mg_errf(err, errlen, "the server did not say what type the page is");
        goto done;
    }
    mg_fetch_media_type(ct, strlen(ct), type, sizeof(type));
    if (!mg_fetch_type_ok(type)) {
        mg_errf(err, errlen, "the page's type is %s, not " MG_FETCH_TYPES_TEXT, type);
        goto done;
    }
    mg_sb_add(&ctx.body, "", 0);           /* an empty page: still a body */
    *len = ctx.body.len;
    *body = mg_sb_done(&ctx.body);
    if (*body == NULL) {
        mg_errf(err, errlen, "out of memory");
        goto done;
    }
    mg_errf(content_type, ctlen, "%s", type);
    ret = 0;

done:
    if (ret != 0 && err != NULL && errlen > 0) {
        mg_log_debug("fetch: %s", err);       /* the caller reports it */
    }
    free(mg_sb_done(&ctx.body));
    curl_easy_cleanup(curl);
    curl_url_cleanup(u);
    return ret;
}
