/* mg_dispatch: the table from job name to handler, and running a job. */
#ifndef MG_DISPATCH_H
#define MG_DISPATCH_H

#include <stddef.h>

#include "jobs/jobs.h"

enum {
    MG_JOB_AS_USER = 0x01,      /* needs a token subject; ensures the users row */
    MG_JOB_CACHED  = 0x02,      /* a read whose answer the read cache keeps
                                 * (read_cache.h); what it reads must be
                                 * announced on mangoo_reads (sql/010) */
    MG_JOB_WRITES_CACHED = 0x04 /* changes what MG_JOB_CACHED jobs read: its
                                 * answer waits until every process heard */
};

typedef struct {
    const char        *name;
    mg_job_handler_t   handler;
    unsigned           flags;
} mg_job_def_t;

extern const mg_job_def_t mg_job_defs[];
extern const size_t       mg_job_defs_count;

/* The definition for a job name, or NULL. */
const mg_job_def_t *mg_dispatch_find(const char *name, size_t len);

/* Answer job: 501 not_implemented for an unknown name, the user check for
 * MG_JOB_AS_USER jobs, then the handler (through the read cache for
 * MG_JOB_CACHED jobs).  A handler that returns without
 * replying is a bug: the client gets 500 and the log says which job.
 * 0, or -1 when the reply could not be sent. */
int mg_dispatch_run(mg_job_t *job);

#endif
