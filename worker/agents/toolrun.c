/*
 * mg_toolrun: owns the tool threads, their queue and their database
 * connections (toolrun.h).
 */
#include "agents/toolrun.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/utf8.h"


typedef struct {
    mg_toolrun_config_t   cfg;
    char                 *conninfo;
    mg_toolrun_done_fn    done;
    pthread_t            *tids;
    int                   nthreads;
    pthread_mutex_t       lock;
    pthread_cond_t        wake;
    mg_tool_job_t        *head, *tail;
    size_t                queued;
    mg_tool_job_t        *running;      /* being run, for mg_toolrun_cancel */
    int                   started, stopping;
} mg_toolrun_t;

static mg_toolrun_t mg_toolrun = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
    .cfg = { .output_max = 16384 },
};

size_t
mg_toolrun_output_max(void)
{
    return mg_toolrun.cfg.output_max;
}

mg_tool_job_t *
mg_tool_job_new(const mg_tool_def_t *def, json_t *input, const char *user_id)
{
    mg_tool_job_t *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        return NULL;
    }
    job->exec = def->exec;
    snprintf(job->name, sizeof(job->name), "%s", def->name);
    if (def->agent_id != NULL) {
        snprintf(job->agent_id, sizeof(job->agent_id), "%s", def->agent_id);
        snprintf(job->agent_name, sizeof(job->agent_name), "%s",
                 def->agent_name ? def->agent_name : "");
    }
    if (def->mcp_server_id != NULL) {
        snprintf(job->mcp_server_id, sizeof(job->mcp_server_id), "%s", def->mcp_server_id);
        snprintf(job->mcp_tool, sizeof(job->mcp_tool), "%s", def->mcp_tool ? def->mcp_tool : "");
    }
    job->input = json_incref(input);
    job->user_id = strdup(user_id != NULL ? user_id : "");
    job->output_max = mg_toolrun.cfg.output_max;
    if (job->user_id == NULL) {
        mg_tool_job_free(job);
        return NULL;
    }
    return job;
}

void
mg_tool_job_free(mg_tool_job_t *job)
{
    if (job == NULL) {
        return;
    }
    json_decref(job->input);
    free(job->user_id);
    free(job->output);
    free(job->steps);
    free(job);
}

/* The result cut to max bytes at a character boundary, saying so: the
 * model must know it did not see everything. */
static char *
mg_toolrun_cut(char *text, size_t len, size_t max)
{
    static const char   note[] = "\n[the tool's output was cut here: it is longer than the "
                                 "limit of %zu bytes]";
    char               *t;
    size_t              keep = mg_utf8_cut(text, len, max);

    if (len <= max) {
        return text;
    }
    t = realloc(text, keep + sizeof(note) + 24);
    if (t == NULL) {
        text[keep] = '\0';
        return text;
    }
    snprintf(t + keep, sizeof(note) + 24, note, max);
    return t;
}

void
mg_toolrun_exec(mg_tool_job_t *job, mg_db_t *db)
{
    mg_tool_ctx_t   ctx = { db, job->user_id, job->timeout_ms, job };
    mg_sb_t         out = { 0 };
    char            err[512] = "";
    long long       t0 = mg_now_ms();
    int             rc;
    size_t          len;

    rc = job->exec(&ctx, job->input, &out, err, sizeof(err));
    job->ms = mg_now_ms() - t0;
    len = out.len;
    free(job->output);
    if (rc != 0) {
        free(mg_sb_done(&out));
        job->ok = 0;
        job->output = strdup(err[0] ? err : "the tool failed");
        return;
    }
    job->output = mg_sb_done(&out);
    if (job->output == NULL && !out.oom && len == 0) {
        job->output = strdup("");           /* nothing was ever added */
    }
    if (job->output == NULL) {
        job->ok = 0;
        job->output = strdup("out of memory");
        return;
    }
    job->ok = 1;
    job->output = mg_toolrun_cut(job->output, len, job->output_max);
}

static void *
mg_toolrun_main(void *arg)
{
    mg_toolrun_t  *r = &mg_toolrun;
    int            index = (int) (intptr_t) arg;
    char           label[32];
    mg_db_t       *db;

    snprintf(label, sizeof(label), "tools %d", index);
    db = mg_db_new(r->conninfo, label);         /* connects on first use */
    for (;;) {
        mg_tool_job_t *job;

        pthread_mutex_lock(&r->lock);
        while (r->head == NULL && !r->stopping) {
            pthread_cond_wait(&r->wake, &r->lock);
        }
        if (r->head == NULL) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        job = r->head;
        r->head = job->next;
        if (r->head == NULL) {
            r->tail = NULL;
        }
        r->queued--;
        job->next = NULL;
        job->rnext = r->running;
        r->running = job;
        pthread_mutex_unlock(&r->lock);

        if (db == NULL) {
            job->ok = 0;
            job->output = strdup("out of memory");
        } else {
            mg_toolrun_exec(job, db);
        }
        pthread_mutex_lock(&r->lock);
        for (mg_tool_job_t **pp = &r->running; *pp != NULL; pp = &(*pp)->rnext) {
            if (*pp == job) {
                *pp = job->rnext;
                break;
            }
        }
        pthread_mutex_unlock(&r->lock);
        job->rnext = NULL;
        r->done(job);
    }
    mg_db_free(db);
    return NULL;
}

int
mg_toolrun_start(const mg_toolrun_config_t *cfg, mg_toolrun_done_fn done)
{
    mg_toolrun_t *r = &mg_toolrun;

    r->cfg = *cfg;
    r->done = done;
    r->conninfo = strdup(cfg->conninfo);
    r->tids = calloc((size_t) cfg->threads, sizeof(*r->tids));
    if (r->conninfo == NULL || r->tids == NULL) {
        mg_log_error("tools: out of memory");
        return -1;
    }
    for (int i = 0; i < cfg->threads; i++) {
        int e = pthread_create(&r->tids[r->nthreads], NULL, mg_toolrun_main,
                               (void *) (intptr_t) i);

        if (e != 0) {
            mg_log_error("tools: cannot start thread %d: %s", i, strerror(e));
            continue;
        }
        r->nthreads++;
    }
    if (r->nthreads == 0) {
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    r->started = 1;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int
mg_toolrun_submit(mg_tool_job_t *job)
{
    mg_toolrun_t  *r = &mg_toolrun;
    int            rc = -1;

    pthread_mutex_lock(&r->lock);
    if (r->started && !r->stopping && r->queued < MG_TOOLRUN_QUEUE_MAX) {
        job->next = NULL;
        if (r->tail != NULL) {
            r->tail->next = job;
        } else {
            r->head = job;
        }
        r->tail = job;
        r->queued++;
        pthread_cond_signal(&r->wake);
        rc = 0;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void
mg_toolrun_cancel(const char *rid, const void *peer, size_t peer_len, int step, long index)
{
    mg_toolrun_t *r = &mg_toolrun;

    pthread_mutex_lock(&r->lock);
    for (mg_tool_job_t *job = r->running; job != NULL; job = job->rnext) {
        if (memcmp(job->rid, rid, MG_RID_LEN) == 0 && job->peer_len == peer_len
            && memcmp(job->peer, peer, peer_len) == 0
            && (index < 0 || (job->step == step && (long) job->index == index)))
        {
            atomic_store(&job->cancelled, 1);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

void
mg_toolrun_stop(void)
{
    mg_toolrun_t   *r = &mg_toolrun;
    mg_tool_job_t  *left;

    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    for (mg_tool_job_t *job = r->running; job != NULL; job = job->rnext) {
        atomic_store(&job->cancelled, 1);
    }
    left = r->head;                     /* nobody will run these */
    r->head = r->tail = NULL;
    r->queued = 0;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);

    while (left != NULL) {
        mg_tool_job_t *job = left;

        left = job->next;
        job->next = NULL;
        job->ok = 0;
        job->output = strdup("the worker is shutting down");
        r->done(job);
    }
    for (int i = 0; i < r->nthreads; i++) {
        pthread_join(r->tids[i], NULL);
    }
    free(r->tids);
    free(r->conninfo);
    r->tids = NULL;
    r->conninfo = NULL;
    r->nthreads = 0;
    r->started = 0;
}
