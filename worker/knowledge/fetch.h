/*
 * mg_fetch: fetching a web page by URL for a knowledge base, safely.
 *
 * The guard is the socket, not the URL: every connection libcurl opens
 * (the first, each redirect hop, each address a name resolves to) passes
 * through mg_fetch_check_addr() on the address actually about to be
 * used, and a forbidden one gets no socket at all, so nothing is sent to
 * it.  What is forbidden is decided by mg_addr_forbidden(); the operator's
 * MANGOO_FETCH_ALLOW (comma-separated CIDRs) lets chosen ranges through.
 *
 * Settings, read once from the environment (mg_fetch_init):
 *   MANGOO_FETCH_MAX_BYTES  largest body, bytes (5 MiB)
 *   MANGOO_FETCH_TIMEOUT    seconds for the whole transfer, redirects included (15)
 *   MANGOO_FETCH_ALLOW      CIDRs exempt from the guard ("": none)
 *   MANGOO_FETCH_PROXY      a proxy for every fetch (unset: none; the usual
 *                           http_proxy variables are ignored).  The guard
 *                           then checks the connection to the proxy.
 */
#ifndef MG_FETCH_H
#define MG_FETCH_H

#include <stddef.h>
#include <sys/socket.h>

#define MG_FETCH_MAX_REDIRECTS  5
#define MG_FETCH_URL_MAX        2048

/* What kind of address a forbidden one is; 0 (MG_ADDR_OK) for an address
 * that may be fetched. */
typedef enum {
    MG_ADDR_OK = 0,
    MG_ADDR_UNSPECIFIED,        /* 0.0.0.0/8, :: */
    MG_ADDR_LOOPBACK,           /* 127/8, ::1 */
    MG_ADDR_PRIVATE,            /* 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT) */
    MG_ADDR_LINK_LOCAL,         /* 169.254/16, fe80::/10 */
    MG_ADDR_METADATA,           /* 169.254.169.254, fd00:ec2::254, 100.100.100.200 */
    MG_ADDR_UNIQUE_LOCAL,       /* fc00::/7, fec0::/10 (the old site-local) */
    MG_ADDR_MULTICAST,          /* 224/4, ff00::/8 */
    MG_ADDR_BROADCAST,          /* 255.255.255.255 */
    MG_ADDR_RESERVED,           /* 192.0.0/24, 198.18/15, 240/4, IPv6 outside 2000::/3 */
    MG_ADDR_DOCUMENTATION       /* 192.0.2/24, 198.51.100/24, 203.0.113/24,
                                   2001:db8::/32, 3fff::/20 */
} mg_addr_kind_t;

/* The kind's short name: "loopback", "private", "link-local", "cloud
 * metadata", ... ("" for MG_ADDR_OK). */
const char *mg_addr_kind_name(mg_addr_kind_t kind);

/* Classify an AF_INET or AF_INET6 address.  IPv4-mapped (::ffff:0:0/96)
 * and NAT64 (64:ff9b::/96) addresses are classified by the IPv4 address
 * they carry.  Returns the kind (MG_ADDR_OK: may be fetched); when why is
 * not NULL it gets the kind's name, followed for a mapped or NAT64 form by
 * the IPv4 address it carries ("loopback (IPv4-mapped 127.0.0.1)").  Any
 * other family is MG_ADDR_RESERVED. */
mg_addr_kind_t mg_addr_forbidden(const struct sockaddr *sa, char *why, size_t whylen);

/* One CIDR of an allow-list. */
typedef struct {
    int            family;      /* AF_INET or AF_INET6 */
    unsigned char  addr[16];    /* network order; 4 bytes used for AF_INET */
    int            prefix;      /* 0..32 or 0..128 */
} mg_cidr_t;

/* Parse a comma-separated list of CIDRs ("127.0.0.1/32, fd00::/8"; an
 * address alone is a single host; spaces around items and empty items are
 * ignored; bits set past the prefix are an error, as a typo would be).
 * 0 with *out (malloc'd, NULL when empty; free()) and *n, or -1 with a
 * message naming the bad item in err. */
int mg_cidr_parse_list(const char *s, mg_cidr_t **out, size_t *n, char *err, size_t errlen);

/* 1 when sa is inside one of the n CIDRs.  An IPv4-mapped or NAT64 IPv6
 * address also matches through the IPv4 address it carries. */
int mg_cidr_match(const mg_cidr_t *list, size_t n, const struct sockaddr *sa);

/* The guard's decision for one connection: 0 (allowed: not forbidden, or
 * inside the allow-list), or -1 with the reason for the user in err ("the
 * address 10.0.0.5 is private and may not be fetched"). */
int mg_fetch_check_addr(const struct sockaddr *sa, const mg_cidr_t *allow, size_t nallow,
                        char *err, size_t errlen);

/* Read and check the MANGOO_FETCH_* settings (once per process; later
 * calls return the first answer).  0, or -1 with a message naming the
 * setting in err.  mg_fetch_url() calls it itself; `serve` calls it first
 * so that a bad setting stops the worker at start. */
int mg_fetch_init(char *err, size_t errlen);

/* GET url with libcurl under limits (MANGOO_FETCH_MAX_BYTES default 5 MiB, MANGOO_FETCH_TIMEOUT
 * seconds default 15, at most 5 redirects, http/https only, content types text/html,
 * text/plain, text/markdown, application/pdf).  Every connection (the first and each redirect)
 * is checked at connect time on the address actually used: loopback, private (RFC 1918, CGNAT
 * 100.64/10), link-local (169.254/16 incl. the metadata 169.254.169.254, fe80::/10), unique
 * local fc00::/7, unspecified, multicast, IPv4-mapped/NAT64 forms of these, and the cloud
 * metadata IPv6 address fd00:ec2::254 are refused unless inside MANGOO_FETCH_ALLOW (comma-
 * separated CIDRs, e.g. "127.0.0.1/32").  0 with *body (owned, malloc) and content_type (the
 * media type without parameters, at least 128 bytes); -1 with a reason for the user in err
 * ("the address 10.0.0.5 is private and may not be fetched").
 * The body has a NUL after its *len bytes (never NULL on success, even when empty).
 * Blocking: call it from the ingest thread or a pool thread, never an event loop. */
int mg_fetch_url(const char *url, char **body, size_t *len, char *content_type, size_t ctlen,
                 char *err, size_t errlen);

#endif
