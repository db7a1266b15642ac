/*
 * mg_dispatch: owns the job name -> handler table.  Every job named in
 * shared/mg_routes.c must appear here (tests/unit/check_worker_dispatch.c
 * proves it), plus jobs the module sends outside the route table (health).
 */
#include "jobs/dispatch.h"
#include "read_cache.h"

#include <string.h>

#include "util/log.h"

const mg_job_def_t mg_job_defs[] = {
    { "health",      mg_job_health,      0 },
    { "jwks.fetch",  mg_job_jwks_fetch,  0 },
    { "bots.list",   mg_job_bots_list,   MG_JOB_AS_USER | MG_JOB_CACHED },
    { "bots.create", mg_job_bots_create, MG_JOB_AS_USER | MG_JOB_WRITES_CACHED },
    { "bots.get",    mg_job_bots_get,    MG_JOB_AS_USER | MG_JOB_CACHED },
    { "bots.update", mg_job_bots_update, MG_JOB_AS_USER | MG_JOB_WRITES_CACHED },
    { "bots.delete", mg_job_bots_delete, MG_JOB_AS_USER | MG_JOB_WRITES_CACHED },
    { "apikeys.list",       mg_job_apikeys_list,       MG_JOB_AS_USER },
    { "apikeys.create",     mg_job_apikeys_create,     MG_JOB_AS_USER },
    { "apikeys.revoke",     mg_job_apikeys_revoke,     MG_JOB_AS_USER },
    { "apikeys.usage",      mg_job_apikeys_usage,      MG_JOB_AS_USER },
    { "publication.get",    mg_job_publication_get,    MG_JOB_AS_USER },
    { "publication.update", mg_job_publication_update, MG_JOB_AS_USER },
    /* an API key's calls: claims {api_key_id, api_key_hash}, no user;
     * the handler checks the key itself */
    { "published.stream",   mg_job_published_stream,   0 },
    { "published.complete", mg_job_published_complete, 0 },
    /* the module's check of a key it has not cached (not a route) */
    { "apikeys.verify",     mg_job_apikeys_verify,     0 },
    /* sharing: a pin shows in the cached bots.get ("pinned") */
    { "bots.shared",        mg_job_bots_shared,        MG_JOB_AS_USER },
    { "store.bots",         mg_job_store_bots,         MG_JOB_AS_USER },
    { "bots.pin",           mg_job_bots_pin,           MG_JOB_AS_USER | MG_JOB_WRITES_CACHED },
    { "bots.unpin",         mg_job_bots_unpin,         MG_JOB_AS_USER | MG_JOB_WRITES_CACHED },
    { "bots.shares.list",   mg_job_bots_shares_list,   MG_JOB_AS_USER },
    { "bots.shares.add",    mg_job_bots_shares_add,    MG_JOB_AS_USER },
    { "bots.shares.remove", mg_job_bots_shares_remove, MG_JOB_AS_USER },
    { "bots.usage",         mg_job_bots_usage,         MG_JOB_AS_USER },
    { "chat.stream",   mg_job_chat_stream,   MG_JOB_AS_USER },
    { "chat.complete", mg_job_chat_complete, MG_JOB_AS_USER },
    { "chats.list",   mg_job_chats_list,   MG_JOB_AS_USER },
    { "chats.get",    mg_job_chats_get,    MG_JOB_AS_USER },
    { "chats.resume", mg_job_chats_resume, MG_JOB_AS_USER },
    { "chats.cancel", mg_job_chats_cancel, MG_JOB_AS_USER },
    { "chats.update", mg_job_chats_update, MG_JOB_AS_USER },
    { "chats.delete", mg_job_chats_delete, MG_JOB_AS_USER },
    { "users.me",           mg_job_users_me,           MG_JOB_AS_USER },
    { "users.update_me",    mg_job_users_update_me,    MG_JOB_AS_USER },
    { "users.export",       mg_job_users_export,       MG_JOB_AS_USER },
    { "users.delete_me",    mg_job_users_delete_me,    MG_JOB_AS_USER },
    { "users.usage",        mg_job_users_usage,        MG_JOB_AS_USER },
    { "admin.users.list",   mg_job_admin_users_list,   MG_JOB_AS_USER },
    { "admin.users.update", mg_job_admin_users_update, MG_JOB_AS_USER },
    { "admin.usage",        mg_job_admin_usage,        MG_JOB_AS_USER },
    { "admin.permissions",        mg_job_admin_permissions,        MG_JOB_AS_USER },
    { "admin.signup.get",         mg_job_admin_signup_get,         MG_JOB_AS_USER },
    { "admin.signup.update",      mg_job_admin_signup_update,      MG_JOB_AS_USER },
    { "admin.invitations.list",   mg_job_admin_invitations_list,   MG_JOB_AS_USER },
    { "admin.invitations.create", mg_job_admin_invitations_create, MG_JOB_AS_USER },
    { "admin.invitations.revoke", mg_job_admin_invitations_revoke, MG_JOB_AS_USER },
    { "models.list",        mg_job_models_list,        MG_JOB_AS_USER },
    { "knowledge.list",     mg_job_knowledge_list,     MG_JOB_AS_USER },
    { "knowledge.create",   mg_job_knowledge_create,   MG_JOB_AS_USER },
    { "knowledge.get",      mg_job_knowledge_get,      MG_JOB_AS_USER },
    { "knowledge.update",   mg_job_knowledge_update,   MG_JOB_AS_USER },
    { "knowledge.delete",   mg_job_knowledge_delete,   MG_JOB_AS_USER | MG_JOB_WRITES_CACHED },
    { "documents.list",     mg_job_documents_list,     MG_JOB_AS_USER },
    { "documents.create",   mg_job_documents_create,   MG_JOB_AS_USER },
    { "documents.get",      mg_job_documents_get,      MG_JOB_AS_USER },
    { "documents.delete",   mg_job_documents_delete,   MG_JOB_AS_USER },
    { "documents.retry",    mg_job_documents_retry,    MG_JOB_AS_USER },
    { "knowledge.search",   mg_job_knowledge_search,   MG_JOB_AS_USER },
    { "agents.list",         mg_job_agents_list,         MG_JOB_AS_USER },
    { "agents.categories",   mg_job_agents_categories,   MG_JOB_AS_USER },
    { "agents.get",          mg_job_agents_get,          MG_JOB_AS_USER },
    { "admin.agents.list",   mg_job_admin_agents_list,   MG_JOB_AS_USER },
    { "admin.agents.create", mg_job_admin_agents_create, MG_JOB_AS_USER },
    { "admin.agents.get",    mg_job_admin_agents_get,    MG_JOB_AS_USER },
    { "admin.agents.update", mg_job_admin_agents_update, MG_JOB_AS_USER },
    { "admin.tool_calls",    mg_job_admin_tool_calls,    MG_JOB_AS_USER },
    { "admin.mcp.list",      mg_job_admin_mcp_list,      MG_JOB_AS_USER },
    { "admin.mcp.create",    mg_job_admin_mcp_create,    MG_JOB_AS_USER },
    { "admin.mcp.get",       mg_job_admin_mcp_get,       MG_JOB_AS_USER },
    { "admin.mcp.update",    mg_job_admin_mcp_update,    MG_JOB_AS_USER },
    { "admin.mcp.delete",    mg_job_admin_mcp_delete,    MG_JOB_AS_USER },
    { "admin.mcp.refresh",   mg_job_admin_mcp_refresh,   MG_JOB_AS_USER },
    /* worker to worker: a sub-agent's turn (agents/subagent.c) */
    { "agent.run",           mg_job_agent_run,           MG_JOB_AS_USER },
    /* public routes: no token, hence no users row to ensure */
    { "auth.register", mg_job_auth_register, 0 },
    { "auth.login",    mg_job_auth_login,    0 },
    { "auth.refresh",  mg_job_auth_refresh,  0 },
    { "auth.logout",   mg_job_auth_logout,   0 },
    { "auth.cognito",  mg_job_auth_cognito,  0 },
    { "config.get",    mg_job_config_get,    0 },
    { "openapi.get",   mg_job_openapi_get,   0 },
};

const size_t mg_job_defs_count = sizeof(mg_job_defs) / sizeof(mg_job_defs[0]);

const mg_job_def_t *
mg_dispatch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < mg_job_defs_count; i++) {
        if (strlen(mg_job_defs[i].name) == len && memcmp(mg_job_defs[i].name, name, len) == 0) {
            return &mg_job_defs[i];
        }
    }
    return NULL;
}

int
mg_dispatch_run(mg_job_t *job)
{
    const mg_job_def_t  *def;
    int                  rc;

    def = mg_dispatch_find(job->name, job->name_len);
    if (def == NULL) {
        mg_log_warn("job rid=%s: no handler for job \"%.*s\"", job->rid,
                    (int) (job->name_len > 64 ? 64 : job->name_len), job->name);
        return mg_job_reply_error(job, 501, "not_implemented", "not implemented");
    }

    if ((def->flags & MG_JOB_AS_USER) && mg_users_ensure(job, 0) != 0) {
        return job->replied ? 0 : -1;
    }

    if (def->flags & MG_JOB_CACHED) {
        rc = mg_rcache_serve(job, def->handler);
    } else if (def->flags & MG_JOB_WRITES_CACHED) {
        rc = mg_rcache_write(job, def->handler);
    } else {
        rc = def->handler(job);
    }
    if (!job->replied) {
        mg_log_error("job %s rid=%s: handler returned without replying", def->name, job->rid);
        (void) mg_job_reply_error(job, 500, "internal", "internal error");
        rc = -1;
    }
    return rc;
}
