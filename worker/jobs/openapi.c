/*
 * openapi: openapi.get, GET /api/v1/openapi.json, public: the API's
 * OpenAPI 3.1 document.  It is shared/openapi.json compiled into the
 * binary by the Makefile (mg_openapi_json), so what a worker serves is
 * always the document of the routes it was built with, and nothing is read
 * from disk at run time.  The bytes never change in a process: the ETag the
 * module makes from them lets clients keep it with If-None-Match.
 */
#include "jobs/jobs.h"

int
mg_job_openapi_get(mg_job_t *job)
{
    return mg_job_reply_raw(job, 200, mg_openapi_json, mg_openapi_json_len, NULL);
}
