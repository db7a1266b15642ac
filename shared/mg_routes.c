/*
 * mg_routes: the API's route table and the matcher the module routes with.
 * Adding an endpoint means one line here and a handler in the worker's
 * dispatch table (a unit test checks that every job here has one).
 */
#include <string.h>

#include "mg_routes.h"

const mg_route_t mg_routes[] = {
    { "GET",    "/api/v1/bots",      "bots.list",   0 },
    { "POST",   "/api/v1/bots",      "bots.create", 0 },
    /* sharing (sql/013); "shared" before "{id}": the first match wins */
    { "GET",    "/api/v1/bots/shared", "bots.shared", 0 },
    { "GET",    "/api/v1/store/bots",  "store.bots",  0 },
    { "GET",    "/api/v1/bots/{id}", "bots.get",    0 },
    { "PATCH",  "/api/v1/bots/{id}", "bots.update", 0 },
    { "DELETE", "/api/v1/bots/{id}", "bots.delete", 0 },
    /* a bot published as an API: its keys and quotas, for its owner */
    { "GET",    "/api/v1/bots/{id}/api-keys",             "apikeys.list",   0 },
    { "POST",   "/api/v1/bots/{id}/api-keys",             "apikeys.create", 0 },
    { "DELETE", "/api/v1/bots/{id}/api-keys/{key}",       "apikeys.revoke", 0 },
    { "GET",    "/api/v1/bots/{id}/api-keys/{key}/usage", "apikeys.usage",  0 },
    { "GET",    "/api/v1/bots/{id}/publication",          "publication.get",    0 },
    { "PATCH",  "/api/v1/bots/{id}/publication",          "publication.update", 0 },
    /* ... and called with one of those keys, not a token */
    { "POST",   "/api/v1/published/{bot}/chat/stream", "published.stream",
      MG_ROUTE_APIKEY|MG_ROUTE_STREAM },
    { "POST",   "/api/v1/published/{bot}/chat",        "published.complete", MG_ROUTE_APIKEY },
    { "PUT",    "/api/v1/bots/{id}/pin",            "bots.pin",           0 },
    { "DELETE", "/api/v1/bots/{id}/pin",            "bots.unpin",         0 },
    { "GET",    "/api/v1/bots/{id}/shares",         "bots.shares.list",   0 },
    { "POST",   "/api/v1/bots/{id}/shares",         "bots.shares.add",    0 },
    { "DELETE", "/api/v1/bots/{id}/shares/{user}",  "bots.shares.remove", 0 },
    { "GET",    "/api/v1/bots/{id}/usage",          "bots.usage",         0 },

    { "POST",   "/api/v1/chat/stream", "chat.stream",   MG_ROUTE_STREAM },
    { "POST",   "/api/v1/chat",        "chat.complete", 0 },
    { "GET",    "/api/v1/chats",      "chats.list",   0 },
    { "GET",    "/api/v1/chats/{id}", "chats.get",    0 },
    { "PATCH",  "/api/v1/chats/{id}", "chats.update", 0 },
    { "DELETE", "/api/v1/chats/{id}", "chats.delete", 0 },
    /* an answer under way, in whichever worker holds it (MG_ROUTE_FIND) */
    { "GET",    "/api/v1/chats/{id}/stream", "chats.resume", MG_ROUTE_STREAM|MG_ROUTE_FIND },
    { "POST",   "/api/v1/chats/{id}/cancel", "chats.cancel", MG_ROUTE_FIND },

    /* the only routes that see the session cookie (params
     * "refresh_cookie" and "cookie_secure") */
    { "POST",   "/api/v1/auth/register", "auth.register", MG_ROUTE_PUBLIC|MG_ROUTE_COOKIE },
    { "POST",   "/api/v1/auth/login",    "auth.login",    MG_ROUTE_PUBLIC|MG_ROUTE_COOKIE },
    { "POST",   "/api/v1/auth/refresh",  "auth.refresh",  MG_ROUTE_PUBLIC|MG_ROUTE_COOKIE },
    { "POST",   "/api/v1/auth/logout",   "auth.logout",   MG_ROUTE_PUBLIC|MG_ROUTE_COOKIE },
    { "POST",   "/api/v1/auth/cognito",  "auth.cognito",  MG_ROUTE_PUBLIC|MG_ROUTE_COOKIE },

    { "GET",    "/api/v1/config",        "config.get",    MG_ROUTE_PUBLIC },
    /* the API's OpenAPI document (shared/openapi.json), which must name
     * every route here (tests/unit/check_worker_openapi.c) */
    { "GET",    "/api/v1/openapi.json",  "openapi.get",   MG_ROUTE_PUBLIC },
    { "GET",    "/api/v1/models",        "models.list",   0 },

    { "GET",    "/api/v1/users/me",        "users.me",        0 },
    { "PATCH",  "/api/v1/users/me",        "users.update_me", 0 },
    { "DELETE", "/api/v1/users/me",        "users.delete_me", 0 },
    { "GET",    "/api/v1/users/me/export", "users.export",    0 },
    { "GET",    "/api/v1/users/me/usage",  "users.usage",     0 },

    /* knowledge bases and their documents; an upload takes any body type */
    { "GET",    "/api/v1/knowledge-bases",      "knowledge.list",   0 },
    { "POST",   "/api/v1/knowledge-bases",      "knowledge.create", 0 },
    { "GET",    "/api/v1/knowledge-bases/{id}", "knowledge.get",    0 },
    { "PATCH",  "/api/v1/knowledge-bases/{id}", "knowledge.update", 0 },
    { "DELETE", "/api/v1/knowledge-bases/{id}", "knowledge.delete", 0 },
    { "GET",    "/api/v1/knowledge-bases/{id}/documents", "documents.list", 0 },
    { "POST",   "/api/v1/knowledge-bases/{id}/documents", "documents.create", MG_ROUTE_UPLOAD },
    { "GET",    "/api/v1/knowledge-bases/{id}/documents/{doc}", "documents.get", 0 },
    { "DELETE", "/api/v1/knowledge-bases/{id}/documents/{doc}", "documents.delete", 0 },
    { "POST",   "/api/v1/knowledge-bases/{id}/documents/{doc}/retry", "documents.retry", 0 },
    { "POST",   "/api/v1/knowledge-bases/{id}/search", "knowledge.search", 0 },

    /* the marketplace; "categories" before "{id}": the first match wins */
    { "GET",    "/api/v1/agents",            "agents.list",       0 },
    { "GET",    "/api/v1/agents/categories", "agents.categories", 0 },
    { "GET",    "/api/v1/agents/{id}",       "agents.get",        0 },

    { "GET",    "/api/v1/admin/agents",      "admin.agents.list",   MG_ROUTE_ADMIN },
    { "POST",   "/api/v1/admin/agents",      "admin.agents.create", MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/agents/{id}", "admin.agents.get",    MG_ROUTE_ADMIN },
    { "PATCH",  "/api/v1/admin/agents/{id}", "admin.agents.update", MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/tool-calls",  "admin.tool_calls",    MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/mcp-servers",      "admin.mcp.list",    MG_ROUTE_ADMIN },
    { "POST",   "/api/v1/admin/mcp-servers",      "admin.mcp.create",  MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/mcp-servers/{id}", "admin.mcp.get",     MG_ROUTE_ADMIN },
    { "PATCH",  "/api/v1/admin/mcp-servers/{id}", "admin.mcp.update",  MG_ROUTE_ADMIN },
    { "DELETE", "/api/v1/admin/mcp-servers/{id}", "admin.mcp.delete",  MG_ROUTE_ADMIN },
    { "POST",   "/api/v1/admin/mcp-servers/{id}/refresh", "admin.mcp.refresh", MG_ROUTE_ADMIN },

    { "GET",    "/api/v1/admin/users",      "admin.users.list",   MG_ROUTE_ADMIN },
    { "PATCH",  "/api/v1/admin/users/{id}", "admin.users.update", MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/usage",      "admin.usage",        MG_ROUTE_ADMIN },

    /* groups and sign-up (worker/jobs/signup.c) */
    { "GET",    "/api/v1/admin/permissions",      "admin.permissions",         MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/signup",           "admin.signup.get",          MG_ROUTE_ADMIN },
    { "PATCH",  "/api/v1/admin/signup",           "admin.signup.update",       MG_ROUTE_ADMIN },
    { "GET",    "/api/v1/admin/invitations",      "admin.invitations.list",    MG_ROUTE_ADMIN },
    { "POST",   "/api/v1/admin/invitations",      "admin.invitations.create",  MG_ROUTE_ADMIN },
    { "DELETE", "/api/v1/admin/invitations/{id}", "admin.invitations.revoke",  MG_ROUTE_ADMIN },
};

const size_t mg_routes_count = sizeof(mg_routes) / sizeof(mg_routes[0]);


/* Match one pattern against a path; captures go to m->params. */
static int
mg_route_match_pattern(const char *pattern, const char *path, size_t path_len,
    mg_route_match_t *m)
{
    const char *p = pattern;
    const char *s = path;
    const char *end = path + path_len;

    m->nparams = 0;

    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *seg = s;

            if (close == NULL || m->nparams == MG_ROUTE_MAX_PARAMS) {
                return -1;
            }
            while (s < end && *s != '/') {
                s++;
            }
            if (s == seg) {
                return -1;
            }
            m->params[m->nparams].name = p + 1;
            m->params[m->nparams].name_len = (size_t) (close - p - 1);
            m->params[m->nparams].value = seg;
            m->params[m->nparams].value_len = (size_t) (s - seg);
            m->nparams++;
            p = close + 1;
            continue;
        }
        if (s == end || *s != *p) {
            return -1;
        }
        p++;
        s++;
    }

    return s == end ? 0 : -1;
}


int
mg_route_match(const char *method, size_t method_len,
    const char *path, size_t path_len, mg_route_match_t *m)
{
    size_t alen = 0;

    m->route = NULL;
    m->nparams = 0;
    m->allow[0] = '\0';

    for (size_t i = 0; i < mg_routes_count; i++) {
        const mg_route_t *r = &mg_routes[i];

        if (mg_route_match_pattern(r->pattern, path, path_len, m) != 0) {
            continue;
        }
        if (strlen(r->method) == method_len && memcmp(r->method, method, method_len) == 0) {
            m->route = r;
            return 0;
        }

        /* remember the methods this path does allow, for 405's Allow */
        size_t l = strlen(r->method);
        if (strstr(m->allow, r->method) == NULL && alen + l + 3 < sizeof(m->allow)) {
            if (alen) {
                memcpy(m->allow + alen, ", ", 2);
                alen += 2;
            }
            memcpy(m->allow + alen, r->method, l);
            alen += l;
            m->allow[alen] = '\0';
        }
    }

    m->nparams = 0;
    return -1;
}
