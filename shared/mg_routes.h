/*
 * mg_routes: the HTTP API's route table, shared so the module routes with
 * it and the worker can prove it has a handler for every job.
 *
 * Patterns are whole paths; a segment "{name}" captures one non-empty path
 * segment.  A path that matches a pattern under another method answers 405.
 */
#ifndef MG_ROUTES_H
#define MG_ROUTES_H

#include <stddef.h>

enum {
    MG_ROUTE_PUBLIC = 0x01,   /* no token needed */
    MG_ROUTE_ADMIN  = 0x02,   /* token must carry group "admin" */
    MG_ROUTE_STREAM = 0x04,   /* answer is a text/event-stream */
    MG_ROUTE_COOKIE = 0x08,   /* the session cookie goes to the worker */
    MG_ROUTE_UPLOAD = 0x10,   /* any body type; its Content-Type goes to the
                                 worker as params "content_type" */
    MG_ROUTE_FIND   = 0x20,   /* about what one worker holds (an answer under
                               * way): each worker is asked in turn until one
                               * does not say "stream_elsewhere", then one
                               * more time with params "stored": true; the
                               * Last-Event-ID header goes as
                               * "last_event_id" */
    MG_ROUTE_APIKEY = 0x40    /* an API key, not a token: the module checks it
                               * (X-API-Key or Bearer mgk_...) and sends
                               * claims {api_key_id, api_key_hash} */
};

#define MG_ROUTE_MAX_PARAMS 4

typedef struct {
    const char  *method;      /* "GET", "POST", ... */
    const char  *pattern;     /* "/api/v1/bots/{id}" */
    const char  *job;         /* "bots.get" */
    unsigned     flags;
} mg_route_t;

typedef struct {
    const char  *name;        /* points into the route pattern */
    size_t       name_len;
    const char  *value;       /* points into the path */
    size_t       value_len;
} mg_route_param_t;

typedef struct {
    const mg_route_t  *route;
    size_t             nparams;
    mg_route_param_t   params[MG_ROUTE_MAX_PARAMS];
    /* when route is NULL: the methods the path allows, "GET, POST", or ""
     * when no pattern matches the path (404) */
    char               allow[64];
} mg_route_match_t;

extern const mg_route_t mg_routes[];
extern const size_t     mg_routes_count;

/* Match method and path (no query string).  Returns 0 and fills m->route
 * on a match; -1 otherwise, with m->allow telling 405 from 404. */
int mg_route_match(const char *method, size_t method_len,
                   const char *path, size_t path_len, mg_route_match_t *m);

#endif
