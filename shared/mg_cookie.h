/*
 * mg_cookie: the browser session cookie, shared by both sides: the module
 * reads it from the Cookie header(s) and decides whether it must be
 * Secure; the worker writes Set-Cookie.  The cookie holds a refresh token
 * (local or Cognito's), is HttpOnly so page scripts never see it, and is
 * sent only to /api/v1/auth (its Path).
 */
#ifndef MG_COOKIE_H
#define MG_COOKIE_H

#include <stddef.h>

#define MG_COOKIE_REFRESH     "mangoo_refresh"
#define MG_COOKIE_PATH        "/api/v1/auth"
/* browsers keep at least 4096 bytes per cookie, name included */
#define MG_COOKIE_VALUE_MAX   4000
/* the longest Set-Cookie value mg_cookie_format writes, NUL included */
#define MG_COOKIE_HEADER_MAX  (MG_COOKIE_VALUE_MAX + 160)

/* Find the cookie name in one Cookie header value ("a=1; b=2"):
 * pairs split on ';', blanks around names and values ignored, a value in
 * double quotes unquoted, pairs without '=' skipped, the first match
 * wins.  1 with *value and *vlen pointing into header, or 0. */
int mg_cookie_find(const char *header, size_t len, const char *name,
                   const char **value, size_t *vlen);

/* 1 when s is a cookie value RFC 6265 allows (cookie-octets: printable
 * ASCII but space, '"', ',', ';' and '\') of 1..MG_COOKIE_VALUE_MAX
 * bytes. */
int mg_cookie_value_valid(const char *s, size_t len);

/* 1 when a Host header value names this machine's loopback:
 * 127.0.0.1, localhost (any case, a trailing dot allowed) or [::1], with
 * or without a port.  Browsers accept cookies without Secure only there
 * over plain HTTP; everywhere else the cookie is Secure. */
int mg_host_is_loopback(const char *host, size_t len);

/* "name=value; Path=/api/v1/auth; Max-Age=N; HttpOnly; SameSite=Strict"
 * and "; Secure" when secure, with a NUL, into out.  An empty value with
 * max_age 0 clears the cookie.  Its length, or -1 when value is not a
 * valid cookie value (empty is allowed), max_age is negative, or cap is
 * too small. */
int mg_cookie_format(char *out, size_t cap, const char *name, const char *value,
                     size_t vlen, long long max_age, int secure);

#endif
