/*
 * mg_migrate: owns schema migrations.  A migration is a file
 * sql/<digits>_<name>.sql; its version is the digit prefix as written
 * ("001").  Files run in numeric order, each inside BEGIN ... COMMIT
 * together with its schema_migrations row, so a migration is applied
 * entirely or not at all.  Files must not contain their own transaction
 * control (or CREATE INDEX CONCURRENTLY).  pg_advisory_lock serialises
 * workers starting at the same time: the second one waits, then finds
 * everything applied.
 */
#include "db/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db/db.h"
#include "util/log.h"

/* Any constant works as long as every worker uses the same one ("mangoo"). */
#define MG_MIGRATE_LOCK_KEY  "7161126935252783"
#define MG_MIGRATE_MAX_FILE  (16 * 1024 * 1024)

typedef struct {
    char               *name;       /* file name, malloc'd */
    unsigned long long  number;     /* numeric value of the version */
    size_t              vlen;       /* length of the digit prefix */
} mg_migration_t;

typedef struct {
    mg_migration_t  *items;
    size_t           n, cap;
} mg_migration_list_t;

static void
mg_migration_list_free(mg_migration_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
    }
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

/* "<digits>_<anything>.sql" -> 1 with *vlen and *number, else 0. */
static int
mg_migration_name(const char *name, size_t *vlen, unsigned long long *number)
{
    size_t  n = strlen(name), d = 0;

    while (isdigit((unsigned char) name[d])) {
        d++;
    }
    if (d == 0 || d > 18 || name[d] != '_' || n < d + 5
        || strcmp(name + n - 4, ".sql") != 0)
    {
        return 0;
    }
    *vlen = d;
    *number = strtoull(name, NULL, 10);
    return 1;
}

static int
mg_migration_cmp(const void *a, const void *b)
{
    const mg_migration_t *x = a, *y = b;

    if (x->number != y->number) {
        return x->number < y->number ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

static int
mg_migration_list_load(const char *dir, mg_migration_list_t *l)
{
    DIR            *d;
    struct dirent  *e;
    int             rc = -1;

    d = opendir(dir);
    if (d == NULL) {
        mg_log_error("migrate: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }

    while ((e = readdir(d)) != NULL) {
        mg_migration_t  m;

        if (!mg_migration_name(e->d_name, &m.vlen, &m.number)) {
            continue;
        }
        if (l->n == l->cap) {
            size_t           cap = l->cap ? l->cap * 2 : 16;
            mg_migration_t  *items = realloc(l->items, cap * sizeof(*items));

            if (items == NULL) {
                mg_log_error("migrate: out of memory");
                goto done;
            }
            l->items = items;
            l->cap = cap;
        }
        m.name = strdup(e->d_name);
        if (m.name == NULL) {
            mg_log_error("migrate: out of memory");
            goto done;
        }
        l->items[l->n++] = m;
    }

    if (l->n > 0) {
        qsort(l->items, l->n, sizeof(l->items[0]), mg_migration_cmp);
    }
    for (size_t i = 1; i < l->n; i++) {
        if (l->items[i].number == l->items[i - 1].number) {
            mg_log_error("migrate: %s and %s share a version",
                         l->items[i - 1].name, l->items[i].name);
            goto done;
        }
    }
    rc = 0;

done:
    closedir(d);
    return rc;
}

/* The whole file as a NUL-terminated malloc'd string, or NULL. */
static char *
mg_read_file(const char *path)
{
    FILE   *f;
    char   *buf = NULL;
    long    size;

    f = fopen(path, "rb");
    if (f == NULL) {
        mg_log_error("migrate: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        mg_log_error("migrate: cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (size > MG_MIGRATE_MAX_FILE) {
        mg_log_error("migrate: %s is larger than %d bytes", path, MG_MIGRATE_MAX_FILE);
        goto done;
    }
    buf = malloc((size_t) size + 1);
    if (buf == NULL) {
        mg_log_error("migrate: out of memory");
        goto done;
    }
    if (fread(buf, 1, (size_t) size, f) != (size_t) size) {
        mg_log_error("migrate: cannot read %s", path);
        free(buf);
        buf = NULL;
        goto done;
    }
    buf[size] = '\0';

done:
    fclose(f);
    return buf;
}

/* Run sql (no parameters); 0 when it succeeded, else -1 with the error
 * logged against what. */
static int
mg_exec_ok(PGconn *conn, const char *sql, const char *what)
{
    PGresult        *r = PQexec(conn, sql);
    ExecStatusType   st = PQresultStatus(r);
    int              rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
        size_t      n = strcspn(msg, "\n");

        mg_log_error("migrate: %s: %.*s", what, (int) n, msg);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

/* 1 when version is recorded, 0 when not, -1 on error. */
static int
mg_migration_applied(PGconn *conn, const char *version)
{
    const char  *vals[1] = { version };
    PGresult    *r;
    int          rc;

    r = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
                     1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        mg_log_error("migrate: reading schema_migrations: %s",
                     r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
        rc = -1;
    } else {
        rc = PQntuples(r) > 0;
    }
    PQclear(r);
    return rc;
}

static int
mg_migration_apply(PGconn *conn, const char *dir, const mg_migration_t *m)
{
    char         path[4096], version[24];
    const char  *vals[1] = { version };
    char        *sql = NULL;
    PGresult    *r;
    int          rc = -1, in_tx = 0;

    snprintf(version, sizeof(version), "%.*s", (int) m->vlen, m->name);
    if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, m->name) >= sizeof(path)) {
        mg_log_error("migrate: path too long: %s/%s", dir, m->name);
        goto done;
    }
    sql = mg_read_file(path);
    if (sql == NULL) {
        goto done;
    }

    if (mg_exec_ok(conn, "BEGIN", "BEGIN") != 0) {
        goto done;
    }
    in_tx = 1;
    if (mg_exec_ok(conn, sql, m->name) != 0) {
        goto done;
    }
    r = PQexecParams(conn, "INSERT INTO schema_migrations (version) VALUES ($1)",
                     1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        mg_log_error("migrate: recording %s: %s", version,
                     r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
        PQclear(r);
        goto done;
    }
    PQclear(r);
    if (mg_exec_ok(conn, "COMMIT", "COMMIT") != 0) {
        goto done;
    }
    in_tx = 0;
    mg_log_info("migrate: applied %s", m->name);
    rc = 0;

done:
    if (in_tx) {
        /* best effort: the server rolls back anyway if this fails */
        (void) mg_exec_ok(conn, "ROLLBACK", "ROLLBACK");
    }
    free(sql);
    return rc;
}

/* Notices ("relation already exists, skipping") are debug chatter. */
static void
mg_migrate_notice(void *arg, const char *message)
{
    size_t n = strcspn(message, "\n");

    (void) arg;
    mg_log_debug("migrate: %.*s", (int) n, message);
}

int
mg_migrate(const char *conninfo, const char *sql_dir)
{
    mg_migration_list_t  list = { 0 };
    PGconn              *conn = NULL;
    PGresult            *r;
    int                  rc = -1, locked = 0, applied = 0;

    if (mg_migration_list_load(sql_dir, &list) != 0) {
        goto done;
    }
    if (list.n == 0) {
        mg_log_error("migrate: no NNN_*.sql files in %s", sql_dir);
        goto done;
    }

    conn = mg_db_connect_plain(conninfo);
    if (conn == NULL) {
        goto done;
    }
    PQsetNoticeProcessor(conn, mg_migrate_notice, NULL);

    /* the length checks in the schema count characters only in UTF8 */
    r = PQexec(conn, "SHOW server_encoding");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
        && strcmp(PQgetvalue(r, 0, 0), "UTF8") != 0)
    {
        mg_log_warn("migrate: database encoding is %s, not UTF8: text limits will count bytes",
                    PQgetvalue(r, 0, 0));
    }
    PQclear(r);

    if (mg_exec_ok(conn, "SELECT pg_advisory_lock(" MG_MIGRATE_LOCK_KEY ")", "advisory lock") != 0) {
        goto done;
    }
    locked = 1;

    if (mg_exec_ok(conn,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version text PRIMARY KEY,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   "creating schema_migrations") != 0)
    {
        goto done;
    }

    for (size_t i = 0; i < list.n; i++) {
        char version[24];
        int  done_already;

        snprintf(version, sizeof(version), "%.*s", (int) list.items[i].vlen, list.items[i].name);
        done_already = mg_migration_applied(conn, version);
        if (done_already < 0) {
            goto done;
        }
        if (done_already) {
            continue;
        }
        if (mg_migration_apply(conn, sql_dir, &list.items[i]) != 0) {
            goto done;
        }
        applied++;
    }

    mg_log_info("migrate: schema up to date (%zu migrations, %d applied now)", list.n, applied);
    rc = 0;

done:
    if (locked) {
        (void) mg_exec_ok(conn, "SELECT pg_advisory_unlock(" MG_MIGRATE_LOCK_KEY ")",
                          "advisory unlock");
    }
    if (conn != NULL) {
        PQfinish(conn);
    }
    mg_migration_list_free(&list);
    return rc;
}
