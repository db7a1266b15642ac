#!/bin/sh
# The Postgres container: create the cluster on first start (password auth
# over the network), then run the server in the foreground.
set -eu
PG=/usr/lib/postgresql/15/bin
if [ ! -f "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" >"$pw"
    "$PG/initdb" -D "$PGDATA" -U postgres --pwfile="$pw" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pw"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
exec "$PG/postgres" -D "$PGDATA" -c listen_addresses='*'
