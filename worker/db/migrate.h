/* mg_migrate: bring the database schema up to date from sql/NNN_*.sql. */
#ifndef MG_MIGRATE_H
#define MG_MIGRATE_H

/* Apply, in numeric order, every sql_dir/NNN_name.sql whose version NNN is
 * not yet in schema_migrations, each in its own transaction, holding an
 * advisory lock so concurrent workers take turns.  Idempotent.  0 or -1
 * (the reason is logged; a failed file leaves no trace). */
int mg_migrate(const char *conninfo, const char *sql_dir);

#endif
