#!/bin/sh
# The Postgres container: create the cluster on first start (password auth
# over the network), then run the server in the foreground.  Arguments are
# the server's own (e.g. -p 5433 -c listen_addresses=127.0.0.1), after ours.
set -eu
PG=/usr/lib/postgresql/15/bin
if [ ! -f "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" >"$pw"
    "$PG/initdb" -D "$PGDATA" -U postgres -E UTF8 --pwfile="$pw" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pw"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
# the password is in the cluster now; nothing after needs it
unset POSTGRES_PASSWORD
exec "$PG/postgres" -D "$PGDATA" -c listen_addresses='*' \
    -c unix_socket_directories=/tmp "$@"
