/*
 * fuzz_routes: mg_route_match, which the module runs on every request's
 * method and path.  Input: "METHOD PATH" (split at the first space; no
 * space: all of it is the method and the path is empty).  Besides the
 * sanitizers, a match must name a route of the table, its parameters
 * must lie inside the path, and allow must be a NUL-terminated string.
 */
#include <assert.h>

#include "fuzz.h"
#include "mg_routes.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t     *sp = memchr(data, ' ', size);
    size_t             mlen = sp ? (size_t) (sp - data) : size;
    size_t             plen = sp ? size - mlen - 1 : 0;
    char              *method = mg_fuzz_dup(data, mlen, 0);
    char              *path = mg_fuzz_dup(sp ? sp + 1 : data, plen, 0);
    mg_route_match_t   m;

    if (mg_route_match(method, mlen, path, plen, &m) == 0) {
        assert(m.route >= mg_routes && m.route < mg_routes + mg_routes_count);
        assert(m.nparams <= MG_ROUTE_MAX_PARAMS);
        for (size_t i = 0; i < m.nparams; i++) {
            assert(m.params[i].value >= path
                   && m.params[i].value + m.params[i].value_len <= path + plen);
            assert(m.params[i].value_len > 0);
        }
    } else {
        assert(m.route == NULL);
        assert(memchr(m.allow, '\0', sizeof(m.allow)) != NULL);
    }
    free(method);
    free(path);
    return 0;
}
