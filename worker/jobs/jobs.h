/* The job handlers, one group per API area (one file each), and the user
 * bookkeeping every authenticated job goes through. */
#ifndef MG_JOBS_H
#define MG_JOBS_H

#include "job.h"

/* A handler answers its job (see job.h) and returns 0, or -1 when the
 * answer could not be sent. */
typedef int (*mg_job_handler_t)(mg_job_t *job);

/* health.c */
int mg_job_health(mg_job_t *job);

/* bots.c; the field table is exported for the validation unit tests */
extern const mg_field_t mg_bot_fields[];
extern const size_t     mg_bot_fields_count;

int mg_job_bots_list(mg_job_t *job);
int mg_job_bots_create(mg_job_t *job);
int mg_job_bots_get(mg_job_t *job);
int mg_job_bots_update(mg_job_t *job);
int mg_job_bots_delete(mg_job_t *job);

/* users.c: make sure the caller's users row exists and set job->user_id.
 * 0, or -1 after replying with an error (401, 503, 500).  force skips the
 * already-ensured cache (the row vanished behind it). */
int  mg_users_ensure(mg_job_t *job, int force);
/* Drop an id from the already-ensured cache (its row was deleted). */
void mg_users_forget(const char *id);
/* Empty the cache and free its memory (at shutdown). */
void mg_users_cache_clear(void);

#endif
