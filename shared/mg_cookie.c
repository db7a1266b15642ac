/*
 * mg_cookie: parsing the Cookie header, the loopback decision and the
 * Set-Cookie text (see mg_cookie.h).  Nothing here allocates; parsing
 * returns pointers into the caller's header, so the value is never copied
 * (or logged) here.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mg_cookie.h"

static int
mg_cookie_blank(char c)
{
    return c == ' ' || c == '\t';
}

int
mg_cookie_find(const char *header, size_t len, const char *name,
               const char **value, size_t *vlen)
{
    const char  *p = header, *end = header + len;
    size_t       nlen = strlen(name);

    while (p < end) {
        const char *pair = p, *pend, *eq, *n0, *n1, *v0, *v1;

        pend = memchr(p, ';', (size_t) (end - p));
        if (pend == NULL) {
            pend = end;
        }
        p = pend + (pend < end);

        eq = memchr(pair, '=', (size_t) (pend - pair));
        if (eq == NULL) {
            continue;
        }
        n0 = pair;
        n1 = eq;
        while (n0 < n1 && mg_cookie_blank(*n0)) {
            n0++;
        }
        while (n1 > n0 && mg_cookie_blank(n1[-1])) {
            n1--;
        }
        if ((size_t) (n1 - n0) != nlen || memcmp(n0, name, nlen) != 0) {
            continue;
        }
        v0 = eq + 1;
        v1 = pend;
        while (v0 < v1 && mg_cookie_blank(*v0)) {
            v0++;
        }
        while (v1 > v0 && mg_cookie_blank(v1[-1])) {
            v1--;
        }
        if (v1 - v0 >= 2 && *v0 == '"' && v1[-1] == '"') {
            v0++;
            v1--;
        }
        *value = v0;
        *vlen = (size_t) (v1 - v0);
        return 1;
    }
    return 0;
}

int
mg_cookie_value_valid(const char *s, size_t len)
{
    if (len == 0 || len > MG_COOKIE_VALUE_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\') {
            return 0;
        }
    }
    return 1;
}

/* 1 when s[0..len) is empty or ":" and 1 to 5 digits. */
static int
mg_host_port_ok(const char *s, size_t len)
{
    if (len == 0) {
        return 1;
    }
    if (s[0] != ':' || len < 2 || len > 6) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

int
mg_host_is_loopback(const char *host, size_t len)
{
    static const char  *names[] = { "127.0.0.1", "localhost", "localhost.", "[::1]" };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);

        if (len >= n && strncasecmp(host, names[i], n) == 0
            && mg_host_port_ok(host + n, len - n))
        {
            return 1;
        }
    }
    return 0;
}

int
mg_cookie_format(char *out, size_t cap, const char *name, const char *value,
                 size_t vlen, long long max_age, int secure)
{
    int n;

    /* valid values are short: the cast below cannot truncate */
    if ((vlen != 0 && !mg_cookie_value_valid(value, vlen)) || max_age < 0) {
        return -1;
    }
    n = snprintf(out, cap, "%s=%.*s; Path=" MG_COOKIE_PATH "; Max-Age=%lld; HttpOnly; "
                 "SameSite=Strict%s", name, (int) vlen, vlen ? value : "", max_age,
                 secure ? "; Secure" : "");
    if (n < 0 || (size_t) n >= cap) {
        return -1;
    }
    return n;
}
