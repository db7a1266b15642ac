/*
 * fuzz_cookie: the module's reading of Cookie and Host headers
 * (mg_cookie_find, mg_cookie_value_valid, mg_host_is_loopback) and the
 * worker's Set-Cookie writer given what was read.  Input: one header
 * value.  A value found must lie inside the header; a value judged valid
 * must format into a Set-Cookie that fits MG_COOKIE_HEADER_MAX.
 */
#include <assert.h>

#include "fuzz.h"
#include "mg_cookie.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *h = mg_fuzz_dup(data, size, 0);
    const char  *v;
    size_t       vlen;
    char         out[MG_COOKIE_HEADER_MAX];

    if (mg_cookie_find(h, size, MG_COOKIE_REFRESH, &v, &vlen)) {
        assert(v >= h && v + vlen <= h + size);
        if (mg_cookie_value_valid(v, vlen)) {
            int n = mg_cookie_format(out, sizeof(out), MG_COOKIE_REFRESH, v, vlen,
                                     2592000, 1);

            assert(n > 0 && (size_t) n < sizeof(out) && out[n] == '\0');
        }
    }
    (void) mg_cookie_value_valid(h, size);
    (void) mg_host_is_loopback(h, size);
    free(h);
    return 0;
}
