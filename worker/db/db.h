/*
 * mg_db: one PostgreSQL connection per pool thread, with every statement of
 * db/queries.h prepared at connect, a statement timeout, and one transparent
 * reconnect-and-retry when the server went away (a restart, a failover).
 */
#ifndef MG_DB_H
#define MG_DB_H

#include <libpq-fe.h>

#include "db/queries.h"

#define MG_DB_CONNECT_TIMEOUT    "3"        /* seconds */
#define MG_DB_STATEMENT_TIMEOUT  "10000"    /* milliseconds */

typedef struct mg_db_s mg_db_t;

typedef enum {
    MG_DB_OK = 0,
    MG_DB_UNAVAILABLE,   /* cannot reach the database, or it is shutting down or timed out */
    MG_DB_FAILED         /* the statement itself failed: see mg_db_sqlstate() */
} mg_db_rc_t;

/* A handle that connects lazily; label names it in logs ("thread 3").
 * conninfo is copied.  NULL on allocation failure. */
mg_db_t    *mg_db_new(const char *conninfo, const char *label);
void        mg_db_free(mg_db_t *db);

/* Connect (and prepare) now unless already connected.  0 or -1.  After a
 * slow failure (a timeout) further attempts fail fast for a moment, so a
 * dead database costs each request milliseconds, not seconds. */
int         mg_db_connect(mg_db_t *db);

/* Run prepared statement q with mg_queries[q].nparams text values (NULL
 * entries are SQL NULL).  On MG_DB_OK and MG_DB_FAILED *res receives the
 * result, which the caller must PQclear; on MG_DB_UNAVAILABLE it is NULL. */
mg_db_rc_t  mg_db_exec(mg_db_t *db, mg_query_t q, const char *const *values, PGresult **res);

/* The same with some values in the binary form of their type: lengths[i]
 * bytes when binary[i] (lengths and binary NULL: all text). */
mg_db_rc_t  mg_db_exec_binary(mg_db_t *db, mg_query_t q, const char *const *values,
                              const int *lengths, const int *binary, PGresult **res);

/* The SQLSTATE ("23503") and constraint name of a failed result, or "". */
const char *mg_db_sqlstate(const PGresult *res);
const char *mg_db_constraint(const PGresult *res);

/* A plain connection for tools (migrations): same timeouts, but no
 * statement timeout and nothing prepared.  NULL with the reason logged. */
PGconn     *mg_db_connect_plain(const char *conninfo);

#endif
