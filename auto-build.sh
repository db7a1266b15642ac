#!/usr/bin/env bash
# Mangoo's one entry point: deps, build, run, stop, test, bench.
# Everything a fresh Debian bookworm machine needs is installed from here.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$TOP/build"
STATE="${MANGOO_STATE:-$TOP/.state}"
PG_BIN=/usr/lib/postgresql/15/bin

DEB_PACKAGES=(
    build-essential pkg-config ca-certificates curl
    nginx nginx-dev libpcre3-dev zlib1g-dev
    libzmq3-dev libjansson-dev libpq-dev libcurl4-openssl-dev libssl-dev libnghttp2-dev check
    postgresql-15 postgresql-server-dev-15
    libxml2-dev libpoppler-glib-dev tzdata
    python3 python3-jsonschema valgrind wrk dpkg-dev dnsmasq-base
    prometheus
    clang libclang-rt-14-dev llvm-14
)

log() { printf '[auto-build] %s\n' "$*" >&2; }

need_root() {
    [ "$(id -u)" = 0 ] || { log "run as root (installs packages, starts postgres as its own user)"; exit 1; }
}

deps_debian() {
    local missing=()
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        need_root
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # Debian starts a system nginx/postgres (and a Prometheus server,
        # whose promtool the tests use) on install; Mangoo runs its own.
        systemctl disable --now nginx postgresql prometheus >/dev/null 2>&1 || true
        service nginx stop >/dev/null 2>&1 || true
        service postgresql stop >/dev/null 2>&1 || true
        service prometheus stop >/dev/null 2>&1 || true
    fi
}

# The Debian archive apt already uses for bookworm (one-line or deb822 sources).
debian_mirror() {
    {
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2 }'
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
            /^URIs:/   { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") found = 1 }
            /^$/       { if (found) print uri; uri = ""; found = 0 }
            END        { if (found) print uri }'
    } | head -n1 | sed 's:/*$::'
}

# pgvector is not a bookworm binary package: build it from Debian's source package.
deps_pgvector() {
    [ -f /usr/share/postgresql/15/extension/vector.control ] && return 0
    need_root
    log "building pgvector from Debian's source package"
    local list=/etc/apt/sources.list.d/mangoo-trixie-src.list
    if [ ! -f "$list" ]; then
        local mirror
        mirror=$(debian_mirror)
        [ -n "$mirror" ] || { log "no Debian mirror found in apt's sources"; exit 1; }
        echo "deb-src $mirror trixie main" > "$list"
    fi
    apt-get update -qq
    local src
    src=$(mktemp -d)
    (cd "$src" && apt-get source -qq --download-only pgvector >/dev/null && dpkg-source -x --no-check ./*.dsc pgv >/dev/null)
    make -s -C "$src/pgv" PG_CONFIG=$PG_BIN/pg_config >/dev/null
    make -s -C "$src/pgv" PG_CONFIG=$PG_BIN/pg_config install >/dev/null
    rm -rf "$src"
}

# The web app is built with Node and npm: these machines come with Node 20;
# elsewhere Debian's nodejs and npm (Node 18), which the app's tools support.
deps_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    need_root
    log "installing Debian's nodejs and npm"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}

# The browser suite drives Debian's Chromium; nothing downloads a browser.
deps_browser() {
    [ -x /usr/bin/chromium ] && return 0
    need_root
    log "installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}

cmd_deps() { deps_debian; deps_pgvector; deps_node; }

# npm ci only when the lock changed since the last install (npm writes
# node_modules/.package-lock.json on every install).
npm_ci() {  # dir
    if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
        (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
}

# The web app, from web/ into web/dist (hashed assets, a .gz beside each).
build_web() {
    npm_ci "$TOP/web"
    (cd "$TOP/web" && npm run --silent build >&2)
}

# The module is built against Debian's own nginx tree (nginx-dev) so that
# the .so loads into the packaged nginx with load_module.
build_module() {  # [out-dir] [extra cc flags]
    local out="${1:-$BUILD}" ccopt="${2:-}" src
    src="$out/nginx-src"
    if [ ! -f "$src/objs/Makefile" ] || [ "$TOP/ngx_mangoo_module/config" -nt "$src/objs/Makefile" ]; then
        rm -rf "$src"
        mkdir -p "$out"
        cp -r /usr/share/nginx/src "$src"
        (cd "$src" && ./configure --with-compat --with-threads --with-cc-opt="$ccopt" --with-ld-opt="$ccopt" \
            --add-dynamic-module="$TOP/ngx_mangoo_module" >"$out/nginx-configure.log" 2>&1) \
            || { log "nginx configure failed: see $out/nginx-configure.log"; exit 1; }
    fi
    make -s -C "$src" -f objs/Makefile modules >"$out/nginx-make.log" 2>&1 \
        || { cat "$out/nginx-make.log" >&2; log "module build failed"; exit 1; }
    cp "$src/objs/ngx_http_mangoo_module.so" "$out/ngx_http_mangoo_module.so"
}

# The same worker and module with AddressSanitizer and UBSan, for the
# end-to-end suite: memory errors anywhere on the serving path fail it.
SAN_FLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
build_sanitized() {
    make -s -C "$TOP" -j"$(nproc)" B=build/asan EXTRA_CFLAGS="$SAN_FLAGS" build/asan/mangoo-worker
    build_module "$BUILD/asan" "$SAN_FLAGS"
}

# ---- fuzzing: libFuzzer harnesses over the parsers of untrusted input ----
# tests/fuzz/fuzz_<name>.c, built with Debian's clang (libFuzzer and the
# sanitizer runtimes are libclang-rt-14-dev, which clang only recommends;
# llvm-14 brings llvm-symbolizer for readable reports) against the
# project's own objects, compiled again under ASan/UBSan into build/fuzz.
FUZZ_DIR="$TOP/tests/fuzz"
FUZZ_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

build_fuzz() {
    CFLAGS="-O1 -g" make -s -C "$TOP" -j"$(nproc)" B=build/fuzz CC=clang EXTRA_CFLAGS="$FUZZ_FLAGS" fuzz
}

# The harnesses to run: FUZZ_ONLY="jwt routes" picks some, default all.
fuzz_names() {
    if [ -n "${FUZZ_ONLY:-}" ]; then
        printf '%s\n' $FUZZ_ONLY
    else
        ls "$FUZZ_DIR"/fuzz_*.c | sed -E 's:.*/fuzz_(.*)\.c$:\1:'
    fi
}

# A harness's dictionary (the ones of tests/fuzz/dict it uses, joined
# into build/fuzz/dict/<name>.dict); prints its path, or nothing.
fuzz_dict() {  # name
    local dicts
    case "$1" in
        jwt|jwks|json_validate) dicts="json" ;;
        routes|cookie) dicts="http" ;;
        protocol) dicts="protocol json" ;;
        eventstream) dicts="json" ;;
        openai_sse) dicts="sse json" ;;
        mcp_sse) dicts="sse" ;;
        multipart) dicts="multipart http" ;;
        extract_html) dicts="html" ;;
        extract_pdf) dicts="pdf" ;;
        extract_text) dicts="markdown" ;;
        *) return 0 ;;
    esac
    mkdir -p "$BUILD/fuzz/dict"
    for d in $dicts; do cat "$FUZZ_DIR/dict/$d.dict"; done > "$BUILD/fuzz/dict/$1.dict"
    echo "$BUILD/fuzz/dict/$1.dict"
}

# Options every run shares: a slow input (poppler on a hostile PDF) is a
# finding after 10 s, memory is bounded, crashes land in build/fuzz/artifacts.
fuzz_opts() {  # name
    local dict
    dict=$(fuzz_dict "$1")
    mkdir -p "$BUILD/fuzz/artifacts/$1"
    printf '%s\n' -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "-artifact_prefix=$BUILD/fuzz/artifacts/$1/" ${dict:+"-dict=$dict"}
}

# Each harness for FUZZ_SECONDS (60): new inputs go to build/fuzz/corpus/
# <name> (scratch), never into the committed corpus, which is read only.
cmd_fuzz() {
    cmd_deps
    build_fuzz
    local secs=${FUZZ_SECONDS:-60} name out rc runs execs cov ft corp crashes=0 rows=() opts=()
    for name in $(fuzz_names); do
        mkdir -p "$BUILD/fuzz/corpus/$name" "$BUILD/fuzz/logs"
        log "fuzzing $name for ${secs}s"
        rc=0
        mapfile -t opts < <(fuzz_opts "$name")
        (cd "$TOP" && "$BUILD/fuzz/fuzz_$name" "${opts[@]}" -max_total_time="$secs" \
            "$BUILD/fuzz/corpus/$name" "$FUZZ_DIR/corpus/$name") \
            >"$BUILD/fuzz/logs/$name.log" 2>&1 || rc=$?
        out=$(grep -E '^#[0-9]+' "$BUILD/fuzz/logs/$name.log" | tail -n1)
        runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$BUILD/fuzz/logs/$name.log")
        execs=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$BUILD/fuzz/logs/$name.log")
        cov=$(printf '%s' "$out" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
        ft=$(printf '%s' "$out" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')
        corp=$(printf '%s' "$out" | sed -nE 's/.*corp: ([0-9]+)\/.*/\1/p')
        if [ "$rc" != 0 ]; then
            crashes=$((crashes + 1))
            grep -E 'ERROR: |runtime error|SUMMARY|Test unit written' "$BUILD/fuzz/logs/$name.log" | head -n5 >&2
        fi
        rows+=("$name ${runs:-?} ${execs:-?} ${cov:-?} ${ft:-?} ${corp:-?} $([ "$rc" = 0 ] && echo none || echo "exit-$rc")")
    done
    echo
    echo "fuzz: ${secs}s a harness, logs in build/fuzz/logs, new inputs in build/fuzz/corpus, crashes in build/fuzz/artifacts"
    printf '%-14s %12s %8s %6s %6s %6s  %s\n' harness executions exec/s cov ft corpus crash
    printf '%-14s %12s %8s %6s %6s %6s  %s\n' ${rows[@]}
    [ "$crashes" = 0 ]
}

# For cmd_test: each harness once over every input of its committed
# corpus (the seeds and the regression inputs of fixed bugs), under
# ASan/UBSan; one test a harness.  Adds to the caller's passed/failed.
fuzz_regress() {
    local name rc out opts=()
    build_fuzz
    for name in $(fuzz_names); do
        rc=0
        mapfile -t opts < <(fuzz_opts "$name")
        out=$(cd "$TOP" && "$BUILD/fuzz/fuzz_$name" "${opts[@]}" -runs=0 "$FUZZ_DIR/corpus/$name" 2>&1) || rc=$?
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            log "fuzz_$name: $(ls "$FUZZ_DIR/corpus/$name" | wc -l) inputs, no crash or sanitizer report"
        else
            failed=$((failed + 1))
            printf '%s\n' "$out" | tail -n 40
            log "fuzz_$name failed (exit $rc) on its committed corpus"
        fi
    done
}

# The fuzz part of cmd_test alone.
cmd_test_fuzz() {
    local passed=0 failed=0
    fuzz_regress
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

# ---- the AWS stack: deploy/, AWS CDK v2 in TypeScript -------------------------
# Synthesised with no account and no credentials: nothing is looked up,
# the AWS credentials of this shell (if any) are not given to the CLI, the
# instance metadata service is never asked, and the CLI's telemetry,
# notices and version check are off.  Only npm ci reaches a registry.
CDK_OUT="$BUILD/cdk.out"

cdk_run() {  # args of the cdk CLI, run in deploy/
    (cd "$TOP/deploy" && env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
        -u AWS_SESSION_TOKEN -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
        -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_WEB_IDENTITY_TOKEN_FILE \
        AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1 \
        npx cdk "$@")
}

# The CloudFormation template into build/cdk.out; context settings pass
# through: ./auto-build.sh synth -c natGateways=0 -c certificateArn=...
cmd_synth() {
    deps_node
    npm_ci "$TOP/deploy"
    rm -rf "$CDK_OUT"
    cdk_run synth --quiet --no-notices --output "$CDK_OUT" "$@" >&2 || return 1
    log "synthesised: $(ls "$CDK_OUT"/*.template.json)"
}

# Vitest in DIR, its "Tests  2 failed | 40 passed (42)" line (colours
# stripped) added to the caller's passed/failed; a run that fails with no
# failed test counts as one failure.
vitest_counts() {  # dir what
    local out rc=0 line n f
    out=$(cd "$1" && npx vitest run 2>&1) || rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -E '^ *Tests +[0-9]' | tail -n1 || true)
    n=$(printf '%s' "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(printf '%s' "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    passed=$((passed + ${n:-0})); failed=$((failed + ${f:-0}))
    if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then log "$2 failed (exit $rc)"; failed=$((failed + 1)); fi
}

# For cmd_test: the stack's tests (aws-cdk-lib assertions under Vitest,
# each a test), the type check and a synth through the CLI (one test
# each).  Adds to the caller's passed/failed.
deploy_tests() {
    local rc
    deps_node
    npm_ci "$TOP/deploy"
    vitest_counts "$TOP/deploy" "deploy/ tests"
    rc=0
    (cd "$TOP/deploy" && npx tsc --noEmit -p . >&2) || rc=$?
    if [ "$rc" = 0 ]; then passed=$((passed + 1)); else log "deploy/ type check failed"; failed=$((failed + 1)); fi
    rc=0
    (cmd_synth) || rc=$?
    if [ "$rc" = 0 ] && [ -s "$CDK_OUT/Mangoo.template.json" ]; then
        passed=$((passed + 1))
    else
        log "cdk synth failed (exit $rc)"; failed=$((failed + 1))
    fi
}

# The deploy part of cmd_test alone.
cmd_test_deploy() {
    local passed=0 failed=0
    deploy_tests
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

cmd_build() {
    cmd_deps
    make -s -C "$TOP" -j"$(nproc)" all
    build_module
    build_web
    log "built: $BUILD/mangoo-worker $BUILD/ngx_http_mangoo_module.so $TOP/web/dist"
}

# ---- the local stack: Postgres cluster, worker pool, nginx -------------
# Everything lives under $STATE; ports and sizes come from the environment.
PORT=${MANGOO_PORT:-8080}
PG_PORT=${MANGOO_PG_PORT:-55432}
# Postgres's default 128 MB cannot keep a knowledge base's HNSW index in
# memory (781 MiB at 100k chunks), and search then reads pages per query:
# a quarter of RAM (Postgres's own advice), at most 8 GB
PG_SHARED_BUFFERS=${MANGOO_PG_SHARED_BUFFERS:-$(awk '/^MemTotal:/ {
    m = int($2 / 4096); if (m > 8192) m = 8192; if (m < 128) m = 128; print m "MB" }' /proc/meminfo)}
WORKER_PORT=${MANGOO_WORKER_PORT:-5555}
WORKER_PROCS=${MANGOO_WORKERS:-2}
WORKER_THREADS=${MANGOO_THREADS:-4}
NGINX_WORKERS=${MANGOO_NGINX_WORKERS:-2}
ISSUER=${MANGOO_ISSUER:-mangoo-local}
CLIENT_ID=${MANGOO_CLIENT_ID:-mangoo-web}
TIMEOUT=${MANGOO_TIMEOUT:-60s}
BIN="$BUILD"
[ "${MANGOO_SANITIZE:-0}" = 1 ] && BIN="$BUILD/asan"
PG_SOCK="$STATE/pg/run"
DB_CONNINFO="host=$PG_SOCK port=$PG_PORT dbname=mangoo user=postgres"
export MANGOO_ISSUER="$ISSUER" MANGOO_CLIENT_ID="$CLIENT_ID"

as_pg() { runuser -u postgres -- "$@"; }

pg_start() {
    mkdir -p "$STATE"
    if [ ! -f "$STATE/pg/data/PG_VERSION" ]; then
        log "creating the Postgres cluster in $STATE/pg"
        mkdir -p "$STATE/pg/data" "$PG_SOCK"
        chown -R postgres:postgres "$STATE/pg"
        chmod 700 "$STATE/pg/data"
        as_pg $PG_BIN/initdb -D "$STATE/pg/data" -A trust -U postgres -E UTF8 >/dev/null
    fi
    if ! as_pg $PG_BIN/pg_ctl -D "$STATE/pg/data" status >/dev/null 2>&1; then
        as_pg $PG_BIN/pg_ctl -D "$STATE/pg/data" -w -t 60 -l "$STATE/pg/postgres.log" \
            -o "-p $PG_PORT -k $PG_SOCK -c listen_addresses='' -c shared_buffers=$PG_SHARED_BUFFERS" start >/dev/null
    fi
    as_pg psql -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'mangoo'" | grep -q 1 \
        || as_pg createdb -h "$PG_SOCK" -p "$PG_PORT" -U postgres mangoo
}

pg_stop() {
    [ -f "$STATE/pg/data/PG_VERSION" ] || return 0
    as_pg $PG_BIN/pg_ctl -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Sanitizer reports go to $STATE/asan (writable by nginx's unprivileged
# workers); the test harness fails a run that leaves any there.
san_env() {  # who
    [ "${MANGOO_SANITIZE:-0}" = 1 ] || return 0
    mkdir -p "$STATE/asan" && chmod 1777 "$STATE/asan"
    echo "ASAN_OPTIONS=log_path=$STATE/asan/$1:detect_leaks=$2 UBSAN_OPTIONS=print_stacktrace=1:log_path=$STATE/asan/$1-ubsan"
}

# One worker process in the background, its pid in worker-N.pid.
worker_spawn() {  # i host
    local i=$1 host=$2
    env $(san_env worker 1) MANGOO_KEY_DIR="$STATE/keys" "$BIN/mangoo-worker" serve \
        --bind "${MANGOO_WORKER_BIND:-tcp://$host:$((WORKER_PORT + i))}" \
        --threads "$WORKER_THREADS" --db "$DB_CONNINFO" --sql-dir "$TOP/sql" --no-migrate \
        >>"$STATE/worker-$i.log" 2>&1 &
    echo $! >"$STATE/worker-$i.pid"
}

# With MANGOO_SUPERVISE=1 (the default) each worker process has a
# supervisor, a bash loop in the background (pid in worker-N.supervisor),
# that starts it again whenever it exits, as ECS replaces a task that
# stopped: after 0.5 s, doubled after each quick death up to 10 s, and
# back to 0.5 s once it stayed up 30 s.  It says why in the worker's log.
# stop and stop-worker end the supervisor before the worker, so nothing
# starts again what the operator stopped.
worker_start() {  # i [host]
    local i=$1 host=${2:-127.0.0.1}
    if [ "${MANGOO_SUPERVISE:-1}" = 1 ]; then
        if kill -0 "$(cat "$STATE/worker-$i.supervisor" 2>/dev/null)" 2>/dev/null; then
            log "worker $i is supervised already"; return 0
        fi
        rm -f "$STATE/worker-$i.pid"
        worker_supervise "$i" "$host" </dev/null >/dev/null 2>&1 &
        echo $! >"$STATE/worker-$i.supervisor"
        # return once the first worker process is known, as without one
        for _ in $(seq 50); do [ -s "$STATE/worker-$i.pid" ] && break; sleep 0.1; done
    else
        worker_spawn "$i" "$host"
    fi
}

# A line in the worker's log format (JSON unless MANGOO_LOG_FORMAT=text).
supervisor_log() {  # i level message
    if [ "${MANGOO_LOG_FORMAT:-json}" = text ]; then
        printf '%s [%s] supervisor: %s\n' "$(date -u +%FT%T.%3NZ)" "$2" "$3"
    else
        printf '{"time":"%s","level":"%s","msg":"supervisor: %s"}\n' "$(date -u +%FT%T.%3NZ)" "$2" "$3"
    fi >>"$STATE/worker-$1.log"
}

# How a process ended, from its wait status: "killed by signal 9 (SIGKILL)".
exit_reason() {  # status
    if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
        echo "killed by signal $(($1 - 128)) (SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo '?'))"
    else
        echo "exited with status $1"
    fi
}

worker_supervise() {  # i host
    local i=$1 host=$2 pid rc up delay_ms=500 stopping=0
    # TERM (stop, stop-worker) ends the loop, never the worker: worker_stop
    # drains that one itself.  wait returns early on a trapped signal.
    trap 'stopping=1' TERM
    trap '' INT                 # Ctrl-C is for run's trap, which stops us
    while :; do
        worker_spawn "$i" "$host"
        pid=$!
        up=$SECONDS
        [ "$stopping" = 1 ] && exit 0
        rc=0
        wait "$pid" || rc=$?
        [ "$stopping" = 1 ] && exit 0
        if [ $((SECONDS - up)) -ge 30 ]; then delay_ms=500; fi
        supervisor_log "$i" error "worker $i (pid $pid) died: $(exit_reason "$rc"); restarting in $((delay_ms / 1000)).$((delay_ms % 1000 / 100)) s"
        # in the background: a wait is cut short by TERM, a sleep is not
        sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))" &
        wait $! || true
        [ "$stopping" = 1 ] && exit 0
        delay_ms=$((delay_ms * 2)); [ "$delay_ms" -gt 10000 ] && delay_ms=10000
    done
}

# The supervisor of worker i, if any, ended (first, so it starts nothing
# again); its worker keeps running.
supervisor_stop() {  # i
    local pid
    pid=$(cat "$STATE/worker-$1.supervisor" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null && wait_gone "$pid" 50
    rm -f "$STATE/worker-$1.supervisor"
}

worker_stop() {
    local i=$1 pid t=${MANGOO_STOP_TIMEOUT:-25}
    supervisor_stop "$i"
    pid=$(cat "$STATE/worker-$i.pid" 2>/dev/null) || return 0
    # SIGTERM drains: its streams get MANGOO_STOP_TIMEOUT (25 s), their
    # answers 3 s more to be stored
    [[ $t =~ ^[0-9]+$ ]] || t=25
    kill "$pid" 2>/dev/null && wait_gone "$pid" $(( (10#$t + 5) * 10 ))
    rm -f "$STATE/worker-$i.pid"
}

wait_gone() {  # pid [tenths of a second, 100]
    for _ in $(seq "${2:-100}"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}

# Descriptors for each nginx worker: the hard limit, at most 65536 (raising
# the soft limit up to the hard one needs no privilege).
nofile_limit() {
    local hard
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then echo 65536; else echo "$hard"; fi
}

# "allow a; allow b;" for each address or CIDR of MANGOO_METRICS_ALLOW.
metrics_allow() {
    local a out=""
    for a in ${MANGOO_METRICS_ALLOW:-127.0.0.1 ::1}; do out+="allow $a; "; done
    echo "$out"
}

# set_real_ip_from for each address or CIDR of MANGOO_REAL_IP_FROM (the load
# balancer's subnets), with X-Forwarded-For; nothing when unset.
real_ip() {
    local a out=""
    for a in ${MANGOO_REAL_IP_FROM:-}; do out+="set_real_ip_from $a; "; done
    [ -n "$out" ] && out+="real_ip_header X-Forwarded-For; real_ip_recursive on;"
    echo "$out"
}

render_conf() {
    local endpoints="" i
    for ((i = 0; i < WORKER_PROCS; i++)); do endpoints+=" tcp://127.0.0.1:$((WORKER_PORT + i))"; done
    # the scaling bench points nginx at other sets of worker processes
    [ -n "${BENCH_ENDPOINTS:-}" ] && endpoints=" $BENCH_ENDPOINTS"
    # workers elsewhere, or a DNS name with "resolve" (MANGOO_RESOLVER)
    [ -n "${MANGOO_WORKER_ENDPOINTS:-}" ] && endpoints=" $MANGOO_WORKER_ENDPOINTS"
    local web="$TOP/web/dist"
    sed -e "s|@MODULE@|$BIN/ngx_http_mangoo_module.so|" \
        -e "s|@NGINX_WORKERS@|$NGINX_WORKERS|" \
        -e "s|@WORKER_CONNECTIONS@|${MANGOO_WORKER_CONNECTIONS:-16384}|" \
        -e "s|@WORKER_RLIMIT_NOFILE@|${MANGOO_WORKER_RLIMIT_NOFILE:-$(nofile_limit)}|" \
        -e "s|@STATE@|$STATE|g" \
        -e "s|@LOG_LEVEL@|${MANGOO_NGINX_LOG_LEVEL:-notice}|" \
        -e "s|@ERROR_LOG@|$STATE/nginx-error.log|" \
        -e "s|@ACCESS_LOG@|${MANGOO_ACCESS_LOG:-$STATE/nginx-access.log mangoo_json}|" \
        -e "s|@WORKER_ENDPOINTS@|${endpoints# }|" \
        -e "s|@RESOLVER@|${MANGOO_RESOLVER:+resolver $MANGOO_RESOLVER; resolver_timeout ${MANGOO_RESOLVER_TIMEOUT:-5s};}|" \
        -e "s|@RESOLVE_INTERVAL@|${MANGOO_RESOLVE_INTERVAL:-5s}|" \
        -e "s|@JWKS@|${MANGOO_JWKS:-$STATE/keys/jwks.json}|" \
        -e "s|@JWKS_MIN_REFRESH@|${MANGOO_JWKS_MIN_REFRESH:-60s}|" \
        -e "s|@ISSUER@|$ISSUER|" \
        -e "s|@AUDIENCE@|$CLIENT_ID|" \
        -e "s|@TIMEOUT@|$TIMEOUT|" \
        -e "s|@JWT_CACHE@|${MANGOO_JWT_CACHE:-10000}|" \
        -e "s|@METRICS@|${MANGOO_METRICS:-on}|" \
        -e "s|@METRICS_ALLOW@|$(metrics_allow)|" \
        -e "s|@REAL_IP@|$(real_ip)|" \
        -e "s|@SSE_KEEPALIVE@|${MANGOO_SSE_KEEPALIVE:-15s}|" \
        -e "s|@SSE_MAX_BUFFERED@|${MANGOO_SSE_MAX_BUFFERED:-256k}|" \
        -e "s|@AUTH_RATE@|${MANGOO_AUTH_RATE:-5r/s}|" \
        -e "s|@USER_RATE@|${MANGOO_USER_RATE:-20r/s}|" \
        -e "s|@USER_BURST@|${MANGOO_USER_BURST:-100}|" \
        -e "s|@CORS_ORIGINS@|${MANGOO_CORS_ORIGINS:-off}|" \
        -e "s|@LISTEN@|${MANGOO_LISTEN:-127.0.0.1:$PORT}|" \
        -e "s|@WEB_ROOT@|$web|" \
        -e "s|@UPLOAD_BODY_MAX@|$(( ${MANGOO_UPLOAD_MAX:-20971520} + 65536 ))|g" \
        -e "s|@EXTRA_LOCATIONS@|${MANGOO_EXTRA_LOCATIONS:-}|" \
        -e "s|@EXTRA_HTTP@|${MANGOO_EXTRA_HTTP:-}|" \
        "$TOP/conf/nginx.conf.in" >"$STATE/nginx.conf"
}

nginx_start() {
    mkdir -p "$STATE/nginx-body"
    render_conf
    local preload=""
    # nginx itself is not instrumented: the ASan runtime must load first
    [ "${MANGOO_SANITIZE:-0}" = 1 ] && preload="LD_PRELOAD=$(gcc -print-file-name=libasan.so)"
    # nginx keeps its pools until exit by design: check memory errors only
    env $preload $(san_env nginx 0) nginx -t -q -p "$STATE" -c "$STATE/nginx.conf"
    env $preload $(san_env nginx 0) nginx -p "$STATE" -c "$STATE/nginx.conf" >>"$STATE/nginx-stderr.log" 2>&1 &
    echo $! >"$STATE/nginx.pid.launcher"
}

nginx_stop() {
    local pid
    pid=$(cat "$STATE/nginx.pid" 2>/dev/null || cat "$STATE/nginx.pid.launcher" 2>/dev/null) || return 0
    kill -QUIT "$pid" 2>/dev/null && wait_gone "$pid"
    rm -f "$STATE/nginx.pid.launcher"
}

wait_healthy() {
    for _ in $(seq 150); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && return 0
        sleep 0.1
    done
    log "Mangoo did not become healthy: see $STATE/*.log"
    return 1
}

cmd_start() {
    mkdir -p "$STATE"
    pg_start
    env $(san_env keygen 1) "$BIN/mangoo-worker" keygen --dir "$STATE/keys" >/dev/null
    env $(san_env migrate 1) "$BIN/mangoo-worker" migrate --db "$DB_CONNINFO" --sql-dir "$TOP/sql"
    for ((i = 0; i < WORKER_PROCS; i++)); do worker_start "$i"; done
    nginx_start
    wait_healthy
}

cmd_stop() {
    local f i
    # the supervisors first: nothing restarts a worker from here on
    for f in "$STATE"/worker-*.supervisor; do
        [ -e "$f" ] || continue
        i=${f##*/worker-}; supervisor_stop "${i%.supervisor}"
    done
    nginx_stop
    for f in "$STATE"/worker-*.pid; do
        [ -e "$f" ] || continue
        i=${f##*/worker-}; worker_stop "${i%.pid}"
    done
    pg_stop
}

cmd_run() {
    need_root
    cmd_build
    trap 'echo; cmd_stop; log "stopped"; exit 0' INT TERM
    cmd_start
    cat <<MSG

  Mangoo is running on http://127.0.0.1:$PORT  (state and logs in $STATE)

  Open it in a browser and create an account: the first one becomes the
  administrator.  The same from the command line:
    curl -H 'Content-Type: application/json' -d '{"username":"alice","password":"Correct-horse-1"}' \\
         http://127.0.0.1:$PORT/api/v1/auth/register
    curl -H 'Content-Type: application/json' -d '{"username":"alice","password":"Correct-horse-1"}' \\
         http://127.0.0.1:$PORT/api/v1/auth/login        # -> access_token

  Or a token for a development user (add --group admin for an administrator):
    TOKEN=\$($BUILD/mangoo-worker token --key-dir $STATE/keys --sub dev-user)
    curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$PORT/api/v1/bots

  Ctrl-C (or ./auto-build.sh stop) stops everything.
MSG
    # returns when nginx exits (stop from another shell) or on Ctrl-C (trap)
    wait "$(cat "$STATE/nginx.pid.launcher" 2>/dev/null)" 2>/dev/null || true
    cmd_stop
    log "stopped"
}

# ---- tests ---------------------------------------------------------------
# Check unit tests run under valgrind (leaks and memory errors fail them),
# the fuzz harnesses replay their committed corpora under ASan/UBSan, then
# the end-to-end suites start real stacks.  The last line counts all.
cmd_test() {
    need_root
    cmd_build
    local passed=0 failed=0 out rc n f e
    log "unit tests (Check, under valgrind)"
    for t in "$BUILD"/tests/check_*; do
        [ -x "$t" ] || continue
        rc=0
        out=$(cd "$TOP" && CK_FORK=no valgrind -q --error-exitcode=97 --leak-check=full \
              --errors-for-leak-kinds=definite,indirect "$t" 2>&1) || rc=$?
        printf '%s\n' "$out"
        read -r n f e < <(printf '%s\n' "$out" | sed -nE 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' | tail -n1)
        n=${n:-0} f=${f:-0} e=${e:-0}
        passed=$((passed + n - f - e)); failed=$((failed + f + e))
        if [ "$rc" != 0 ] && [ $((f + e)) = 0 ]; then
            log "$(basename "$t") failed (exit $rc: valgrind found errors, or it crashed)"
            failed=$((failed + 1))
        fi
    done
    log "fuzz harnesses over their committed corpora (libFuzzer, ASan/UBSan)"
    fuzz_regress
    log "web app unit tests (Vitest)"
    vitest_counts "$TOP/web" "vitest"
    # the API's document (shared/openapi.json) against OpenAPI 3.1 and the
    # rules in tests/openapi/redocly.yaml, with the Redocly CLI pinned in
    # tests/openapi's lock; the route table is checked against it by
    # check_worker_openapi above, real responses by the end-to-end tests
    log "OpenAPI document lint (Redocly CLI)"
    npm_ci "$TOP/tests/openapi"
    rc=0
    out=$(cd "$TOP/tests/openapi" && npm run --silent lint 2>&1) || rc=$?
    printf '%s\n' "$out"
    if [ "$rc" = 0 ]; then passed=$((passed + 1)); else log "OpenAPI lint failed (exit $rc)"; failed=$((failed + 1)); fi
    # the AWS stack (deploy/): its assertions, its types, a synth with no account
    log "AWS stack (AWS CDK: assertions under Vitest, type check, synth)"
    deploy_tests
    build_sanitized
    # the MCP servers the end-to-end tests use: the project's reference
    # server (and its conformance suite), pinned in tests/mcp's lock
    npm_ci "$TOP/tests/mcp"
    for san in 0 1; do
        log "end-to-end tests$([ $san = 1 ] && echo ", worker and module under ASan/UBSan")"
        rc=0
        out=$(cd "$TOP" && MANGOO_SANITIZE=$san python3 tests/e2e/run.py 2>&1) || rc=$?
        printf '%s\n' "$out"
        read -r n f < <(printf '%s\n' "$out" | sed -nE 's/^e2e: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' | tail -n1)
        passed=$((passed + ${n:-0})); failed=$((failed + ${f:-0}))
        if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then failed=$((failed + 1)); fi
    done
    deps_browser
    npm_ci "$TOP/tests/browser"
    log "browser tests (Debian's Chromium, driven by playwright-core)"
    rc=0
    out=$(cd "$TOP" && node --test --test-concurrency=1 tests/browser/ 2>&1) || rc=$?
    printf '%s\n' "$out"
    n=$(printf '%s\n' "$out" | sed -nE 's/^# pass ([0-9]+)$/\1/p' | tail -n1)
    f=$(printf '%s\n' "$out" | sed -nE 's/^# fail ([0-9]+)$/\1/p' | tail -n1)
    passed=$((passed + ${n:-0})); failed=$((failed + ${f:-0}))
    if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then log "browser tests failed (exit $rc)"; failed=$((failed + 1)); fi
    test_images_suite
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

# ---- benchmarks ----------------------------------------------------------
# Ratios against nginx's own `return 200`, measured in the same nginx, in
# the same run, so a busy machine moves both numbers alike.
wrk_run() {  # name url [header] [lua script]
    local out rps p99 args=(-t2 -c"${BENCH_CONN:-64}" -d"${BENCH_SECONDS:-10}s" --latency)
    [ -n "${3:-}" ] && args+=(-H "$3")
    [ -n "${4:-}" ] && args+=(-s "$4")
    out=$(wrk "${args[@]}" "$2")
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec/ {print $2}')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')
    if printf '%s\n' "$out" | grep -q 'Non-2xx'; then
        log "$1: some answers were not 2xx:"; printf '%s\n' "$out" >&2
    fi
    printf '%s %s %s\n' "$1" "$rps" "$p99"
}

# A stack in a temporary folder, for the benchmarks only.
bench_stack_start() {
    need_root
    cmd_build
    STATE=$(mktemp -d /tmp/mangoo-bench.XXXXXX); chmod 755 "$STATE"
    PG_SOCK="$STATE/pg/run"; DB_CONNINFO="host=$PG_SOCK port=$PG_PORT dbname=mangoo user=postgres"
    export MANGOO_ACCESS_LOG=off MANGOO_LOG_JOBS=off MANGOO_AUTH_RATE=1000000r/s MANGOO_USER_RATE=1000000r/s
    export MANGOO_EXTRA_LOCATIONS='        location = /__baseline { return 200 "ok"; }'
    trap 'bench_streams_stop; cmd_stop; rm -rf "$STATE"' EXIT
    cmd_start
}

# The read path: an authenticated list against nginx's own return 200, a
# revalidation answered 304, sign-in, and the list with the token cache off.
bench_read() {  # token
    local token=$1 base="http://127.0.0.1:$PORT"
    for i in $(seq 20); do
        curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -d "{\"name\":\"bench bot $i\",\"instructions\":\"be brief\"}" "$base/api/v1/bots"
    done
    log "warming up"
    BENCH_SECONDS=2 wrk_run warm "$base/api/v1/bots" "Authorization: Bearer $token" >/dev/null
    local baseline bots cold login revalidated etag
    baseline=$(wrk_run "return-200" "$base/__baseline")
    bots=$(wrk_run "GET-/api/v1/bots" "$base/api/v1/bots" "Authorization: Bearer $token")
    # a client that has the list already asks with its ETag: 304, no body
    etag=$(curl -fsS -D - -o /dev/null -H "Authorization: Bearer $token" "$base/api/v1/bots" \
           | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')
    cat >"$STATE/revalidate.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["If-None-Match"] = '$etag'
LUA
    revalidated=$(wrk_run "GET-bots-If-None-Match" "$base/api/v1/bots" "" "$STATE/revalidate.lua")
    # sign-in is bound by scrypt on purpose: few connections, a real login
    curl -fsS -o /dev/null -H 'Content-Type: application/json' \
        -d '{"username":"bench-login","password":"Bench-pass-1!"}' "$base/api/v1/auth/register"
    cat >"$STATE/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"bench-login","password":"Bench-pass-1!"}'
LUA
    login=$(BENCH_CONN=8 wrk_run "POST-/api/v1/auth/login" "$base/api/v1/auth/login" "" "$STATE/login.lua")
    # the same with every token verified afresh (RSA + JSON each time)
    MANGOO_JWT_CACHE=0 render_conf
    nginx -s reload -p "$STATE" -c "$STATE/nginx.conf"
    sleep 1
    cold=$(wrk_run "GET-bots-no-token-cache" "$base/api/v1/bots" "Authorization: Bearer $token")
    render_conf                         # the token cache on again, for what follows
    nginx -s reload -p "$STATE" -c "$STATE/nginx.conf"
    sleep 1
    echo
    echo "Mangoo bench: $(nproc) cores, wrk -t2 -c${BENCH_CONN:-64} -d${BENCH_SECONDS:-10}s, nginx workers $NGINX_WORKERS, worker processes $WORKER_PROCS x $WORKER_THREADS threads"
    printf '%-24s %12s %10s\n' "endpoint" "requests/s" "p99"
    printf '%-24s %12s %10s\n' $baseline $bots $revalidated $cold $login
    awk -v a="$(echo "$baseline" | cut -d' ' -f2)" -v b="$(echo "$bots" | cut -d' ' -f2)" \
        -v c="$(echo "$cold" | cut -d' ' -f2)" \
        -v v="$(echo "$revalidated" | cut -d' ' -f2)" \
        'BEGIN { printf "authenticated GET /api/v1/bots reaches %.1f%% of return 200 (target >= 30%%); %.1f%% answered 304; %.1f%% with the token cache off\n", 100 * b / a, 100 * v / a, 100 * c / a }'
    awk -v l="$(echo "$login" | cut -d' ' -f2)" -v n="$(nproc)" \
        'BEGIN { printf "login: %.0f/s, about %.0f ms of CPU each across %d cores (scrypt N=2^15, r=8: deliberate)\n", l, 1000 * n / l, n }'
}

cmd_bench() {
    bench_stack_start
    local token
    token=$("$BUILD/mangoo-worker" token --key-dir "$STATE/keys" --sub bench-user)
    bench_read "$token"
    bench_streams "$token"
    bench_knowledge "$("$BUILD/mangoo-worker" token --key-dir "$STATE/keys" --sub bench-knowledge-user)"
    bench_agents
    bench_scaling "$token"
    bench_discovery
    bench_resume
    bench_published
}

# ---- streaming benchmark ---------------------------------------------------
# Chat streams (POST /api/v1/chat/stream) against build/fake-stream, which
# speaks Bedrock's ConverseStream, next to what nginx alone does proxying the
# same fake's plain SSE with proxy_pass: both in the same nginx, in the same
# run, each figure printed with its yardstick.  Without a per-token delay the
# platform is the bottleneck; with one (the shape of a real model) the
# question is what each forwarded event costs, and with five times the pieces
# the extra cost of an event alone.  Then many streams open at once, and the
# memory fresh nginx and worker processes spend on each.
BENCH_STREAM_PIECES=${BENCH_STREAM_PIECES:-20}          # model pieces a stream
BENCH_STREAM_DELAY_MS=${BENCH_STREAM_DELAY_MS:-20}      # the per-token case
BENCH_STREAM_SECONDS=${BENCH_STREAM_SECONDS:-10}        # each rate run
BENCH_STREAM_CONN=${BENCH_STREAM_CONN:-64}              # concurrency without delay
BENCH_STREAM_DELAY_CONN=${BENCH_STREAM_DELAY_CONN:-128} # concurrency with the delay
BENCH_TTFB_N=${BENCH_TTFB_N:-300}                       # sequential streams (a fifth with delay)
BENCH_HOLD=${BENCH_HOLD:-10000}                         # streams held open at once
BENCH_HOLD_PIECES=${BENCH_HOLD_PIECES:-60}              # ... each with this many pieces,
BENCH_HOLD_DELAY_MS=${BENCH_HOLD_DELAY_MS:-1000}        # ... this far apart
BENCH_CLAUDE=anthropic.claude-3-5-sonnet-20241022-v2:0

# Start the fake, point nginx (a proxy_pass location) and the workers
# (Bedrock's endpoint at the fake, dummy credentials: the worker signs, the
# fake does not check) at it.  Sets BENCH_FAKE_PORT.
bench_streams_setup() {
    local port=""
    "$BUILD/fake-stream" --port 0 --pieces "$BENCH_STREAM_PIECES" \
        >"$STATE/fake-stream.out" 2>"$STATE/fake-stream.log" &
    echo $! >"$STATE/fake-stream.pid"
    for _ in $(seq 50); do
        port=$(sed -nE 's/^fake-stream listening on [0-9.]+:([0-9]+) .*/\1/p' "$STATE/fake-stream.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { log "fake-stream did not start: see $STATE/fake-stream.log"; return 1; }
    BENCH_FAKE_PORT=$port
    # the yardstick: nginx alone, keeping its upstream connections as the worker does
    export MANGOO_EXTRA_HTTP="    upstream mangoo_bench_fake { server 127.0.0.1:$port; keepalive 256; }"
    case "${MANGOO_EXTRA_LOCATIONS:-}" in
        *__proxy_sse*) ;;       # set up before (bench_agents after bench_streams)
        *) export MANGOO_EXTRA_LOCATIONS="${MANGOO_EXTRA_LOCATIONS:-}
        location = /__proxy_sse { proxy_pass http://mangoo_bench_fake/sse; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }" ;;
    esac
    MANGOO_EXTRA_LOCATIONS=${MANGOO_EXTRA_LOCATIONS//$'\n'/ }      # one line for sed
    render_conf
    # every open stream needs a descriptor in nginx, in a worker and in the fake
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # never real credentials in a benchmark: only the dummy ones below
    unset AWS_SESSION_TOKEN AWS_BEARER_TOKEN_BEDROCK AWS_PROFILE \
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
    export AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://127.0.0.1:$port" AWS_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID=AKIDMANGOOBENCH AWS_SECRET_ACCESS_KEY=mangoo-bench-not-a-secret \
        MANGOO_LOCAL_DELAY_MS="$BENCH_HOLD_DELAY_MS" \
        MANGOO_MAX_STREAMS="${MANGOO_MAX_STREAMS:-$((BENCH_HOLD + 1000))}"
    bench_fresh_processes
}

# New nginx worker processes (a reload, with the current conf) and new
# worker processes (with the current environment): a clean memory baseline.
bench_fresh_processes() {
    local master i
    master=$(cat "$STATE/nginx.pid")
    nginx -s reload -p "$STATE" -c "$STATE/nginx.conf"
    sleep 0.5
    for _ in $(seq 100); do         # the old nginx workers finish their connections
        [ "$(pgrep -c -P "$master")" -le "$NGINX_WORKERS" ] && break
        sleep 0.1
    done
    for ((i = 0; i < WORKER_PROCS; i++)); do worker_stop "$i"; worker_start "$i"; done
    sleep 1
    wait_healthy
    BENCH_HOLD_PROCS=(--procs "nginx=$master"
                      --procs "workers=$(cat "$STATE"/worker-*.pid | paste -sd,)"
                      --procs "fake=$(cat "$STATE/fake-stream.pid")")
    # CPU: Postgres too (its VmRSS counts every shared buffer a backend touched)
    BENCH_PROCS=("${BENCH_HOLD_PROCS[@]}" --procs "postgres=$(head -n1 "$STATE/pg/data/postmaster.pid")")
}

bench_streams_stop() {
    local pid f
    for f in fake-stream fake-stream-tls; do        # the TLS one if a hold over TLS failed
        pid=$(cat "$STATE/$f.pid" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null && wait_gone "$pid"
        rm -f "$STATE/$f.pid"
    done
}

# The Bedrock hold again with the provider over TLS: a second fake-stream
# with a certificate from a CA made now for the bench ($STATE/tls, never
# kept), offering h2 then only http/1.1; the workers trust the CA through
# MANGOO_CA_FILE.  The fake's /stats after each hold says how many TCP
# connections and TLS handshakes (resumed) the workers used.
bench_streams_tls() {  # out-dir mangoo-request-args...
    local out=$1 plain=$AWS_ENDPOINT_URL_BEDROCK_RUNTIME alpn name port pem
    shift
    mapfile -t pem < <(python3 "$TOP/tests/e2e/certs.py" "$STATE/tls")
    for alpn in h2,http/1.1 http/1.1; do
        name=tls-h2
        [ "$alpn" = http/1.1 ] && name=tls-http1.1
        "$BUILD/fake-stream" --port 0 --pieces "$BENCH_HOLD_PIECES" --delay-ms "$BENCH_HOLD_DELAY_MS" \
            --tls-cert "${pem[1]}" --tls-key "${pem[2]}" --alpn "$alpn" \
            >"$STATE/fake-stream-tls.out" 2>"$STATE/fake-stream-tls.log" &
        echo $! >"$STATE/fake-stream-tls.pid"
        port=""
        for _ in $(seq 50); do
            port=$(sed -nE 's/^fake-stream listening on [0-9.]+:([0-9]+) .*/\1/p' "$STATE/fake-stream-tls.out")
            [ -n "$port" ] && break
            sleep 0.1
        done
        [ -n "$port" ] || { log "fake-stream over TLS did not start: see $STATE/fake-stream-tls.log"; return 1; }
        export AWS_ENDPOINT_URL_BEDROCK_RUNTIME="https://127.0.0.1:$port" MANGOO_CA_FILE="${pem[0]}"
        log "streaming: $BENCH_HOLD open streams at once, Bedrock over TLS ($alpn offered)"
        bench_fresh_processes
        python3 "$TOP/tests/bench/stream_bench.py" hold "http://127.0.0.1:$PORT/api/v1/chat/stream" "$@" \
            -k "$BENCH_HOLD" --first-event start --procs "nginx=$(cat "$STATE/nginx.pid")" \
            --procs "workers=$(cat "$STATE"/worker-*.pid | paste -sd,)" \
            --procs "fake=$(cat "$STATE/fake-stream-tls.pid")" \
            --out "$out/hold-mangoo-bedrock-$name.json" >&2
        curl -fsS --cacert "${pem[0]}" "https://127.0.0.1:$port/stats" >"$out/fake-stats-$name.json"
        kill "$(cat "$STATE/fake-stream-tls.pid")" 2>/dev/null && wait_gone "$(cat "$STATE/fake-stream-tls.pid")"
        rm -f "$STATE/fake-stream-tls.pid"
    done
    export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=$plain
    unset MANGOO_CA_FILE
    bench_fresh_processes
}

bench_chat_body() {  # bot id
    echo "{\"bot_id\":\"$1\",\"message\":\"Say hello to the benchmark.\"}"
}

# What metrics cost: the authenticated GET /api/v1/bots and chat streams/s
# (fake-stream as Bedrock, no delay) with MANGOO_METRICS on and off, in
# turn, each next to nginx's return 200 measured in the same round.
bench_metrics() {  # token
    local token=$1 base="http://127.0.0.1:$PORT" out="$STATE/metrics" bot mode round
    local rows=() baseline bots streams
    mkdir -p "$out"
    bench_streams_setup
    bot=$(curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"name\":\"bench metrics\",\"model_id\":\"$BENCH_CLAUDE\"}" "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    curl -fsS -o /dev/null "http://127.0.0.1:$BENCH_FAKE_PORT/config?pieces=$BENCH_STREAM_PIECES&delay_ms=0"
    # on, off, on, off: the machine's drift falls on both alike
    for round in 1 2; do
        for mode in on off; do
            export MANGOO_METRICS=$mode
            render_conf
            bench_fresh_processes
            log "metrics $mode (round $round)"
            BENCH_SECONDS=2 wrk_run warm "$base/api/v1/bots" "Authorization: Bearer $token" >/dev/null
            baseline=$(wrk_run return-200 "$base/__baseline" | cut -d' ' -f2)
            bots=$(wrk_run bots "$base/api/v1/bots" "Authorization: Bearer $token" | cut -d' ' -f2)
            python3 "$TOP/tests/bench/stream_bench.py" rate "$base/api/v1/chat/stream" \
                -H "Authorization: Bearer $token" --body "$(bench_chat_body "$bot")" --engine wrk \
                -c "$BENCH_STREAM_CONN" -d "$BENCH_STREAM_SECONDS" \
                --out "$out/rate-$mode-$round.json" >&2
            streams=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["streams_per_s"])' \
                      "$out/rate-$mode-$round.json")
            rows+=("$mode $round $baseline $bots $streams")
        done
    done
    export MANGOO_METRICS=on
    echo
    echo "Mangoo metrics bench: $(nproc) cores, GET /api/v1/bots (wrk -c${BENCH_CONN:-64} ${BENCH_SECONDS:-10}s) and chat streams/s ($BENCH_STREAM_PIECES pieces, no delay), metrics on and off in turn"
    printf '%-8s %5s %12s %12s %8s %12s\n' metrics round "return 200/s" "GET bots/s" share "streams/s"
    printf '%s\n' "${rows[@]}" | awk '{ printf "%-8s %5s %12.0f %12.0f %7.1f%% %12.1f\n", $1, $2, $3, $4, 100 * $4 / $3, $5 }'
    bench_streams_stop
}

# Time to first message alone, the first part of bench_streams: quick to
# repeat while working on the turn's path.  BENCH_TTFB_N streams.
bench_ttft() {  # token
    local token=$1 base="http://127.0.0.1:$PORT" out="$STATE/streams" bot
    mkdir -p "$out"
    bench_streams_setup
    bot=$(curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"name\":\"bench ttft\",\"model_id\":\"$BENCH_CLAUDE\"}" "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    curl -fsS -o /dev/null "http://127.0.0.1:$BENCH_FAKE_PORT/config?pieces=$BENCH_STREAM_PIECES&delay_ms=0"
    python3 "$TOP/tests/bench/stream_bench.py" ttfb "http://127.0.0.1:$BENCH_FAKE_PORT/sse" \
        "$base/__proxy_sse" "$base/api/v1/chat/stream" --names direct,proxy,mangoo \
        -H "Authorization: Bearer $token" --body "$(bench_chat_body "$bot")" \
        -n "$BENCH_TTFB_N" --out "$out/ttfb-no-delay.json"
    [ -z "${BENCH_TTFT_HOLD:-}" ] || { log "holding the stack for $BENCH_TTFT_HOLD s (state $STATE)"; sleep "$BENCH_TTFT_HOLD"; }
    bench_streams_stop
}

bench_streams() {  # token
    local token=$1 base="http://127.0.0.1:$PORT" out="$STATE/streams" fake bedrock_bot local_bot
    local sb=(python3 "$TOP/tests/bench/stream_bench.py") case pieces delay conn engine auth mangoo
    mkdir -p "$out"
    log "streaming: starting the fake model server"
    bench_streams_setup
    fake="http://127.0.0.1:$BENCH_FAKE_PORT"
    auth="Authorization: Bearer $token"
    bedrock_bot=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"name\":\"bench stream\",\"model_id\":\"$BENCH_CLAUDE\"}" "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    local_bot=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d '{"name":"bench local","model_id":"local"}' "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    mangoo=(-H "$auth" --body "$(bench_chat_body "$bedrock_bot")")

    # The same request goes to the fake's /sse (directly and through
    # proxy_pass: both ignore it) and to Mangoo, one after the other, so that
    # noise falls on the three alike.  With the delay, 2 pieces a stream:
    # the first is what counts, and the samples fit in the time.
    log "streaming: time to first message, $BENCH_TTFB_N and $((BENCH_TTFB_N / 2)) sequential streams"
    curl -fsS -o /dev/null "$fake/config?pieces=$BENCH_STREAM_PIECES&delay_ms=0"
    "${sb[@]}" ttfb "$fake/sse" "$base/__proxy_sse" "$base/api/v1/chat/stream" --names direct,proxy,mangoo \
        "${mangoo[@]}" -n "$BENCH_TTFB_N" --out "$out/ttfb-no-delay.json" >&2
    curl -fsS -o /dev/null "$fake/config?pieces=2&delay_ms=$BENCH_STREAM_DELAY_MS"
    "${sb[@]}" ttfb "$fake/sse" "$base/__proxy_sse" "$base/api/v1/chat/stream" --names direct,proxy,mangoo \
        "${mangoo[@]}" -n "$((BENCH_TTFB_N / 2))" --out "$out/ttfb-delay-${BENCH_STREAM_DELAY_MS}ms.json" >&2

    # case:pieces:delay:concurrency:client.  Without delay wrk (C) drives the
    # load and counts finished streams; with it, streams last long next to
    # the run, so stream_bench counts each event as it comes, with the CPU
    # sampled at the same instants.
    for case in "no-delay:$BENCH_STREAM_PIECES:0:$BENCH_STREAM_CONN:wrk" \
                "delay-${BENCH_STREAM_DELAY_MS}ms:$BENCH_STREAM_PIECES:$BENCH_STREAM_DELAY_MS:$BENCH_STREAM_DELAY_CONN:python" \
                "delay-${BENCH_STREAM_DELAY_MS}ms-long:$((BENCH_STREAM_PIECES * 5)):$BENCH_STREAM_DELAY_MS:$BENCH_STREAM_DELAY_CONN:python"; do
        IFS=: read -r case pieces delay conn engine <<<"$case"
        curl -fsS -o /dev/null "$fake/config?pieces=$pieces&delay_ms=$delay"
        log "streaming, $case: streams/s with $pieces pieces, concurrency $conn, ${BENCH_STREAM_SECONDS}s each"
        "${sb[@]}" rate "$base/__proxy_sse" --engine "$engine" -c "$conn" -d "$BENCH_STREAM_SECONDS" \
            "${BENCH_PROCS[@]}" --out "$out/rate-proxy-$case.json" >&2
        "${sb[@]}" rate "$base/api/v1/chat/stream" "${mangoo[@]}" --engine "$engine" -c "$conn" \
            -d "$BENCH_STREAM_SECONDS" "${BENCH_PROCS[@]}" --out "$out/rate-mangoo-$case.json" >&2
    done

    curl -fsS -o /dev/null "$fake/config?pieces=$BENCH_HOLD_PIECES&delay_ms=$BENCH_HOLD_DELAY_MS"
    log "streaming: $BENCH_HOLD open streams at once ($BENCH_HOLD_PIECES pieces, ${BENCH_HOLD_DELAY_MS} ms apart)"
    bench_fresh_processes
    "${sb[@]}" hold "$base/__proxy_sse" -k "$BENCH_HOLD" "${BENCH_HOLD_PROCS[@]}" \
        --out "$out/hold-proxy_pass.json" >&2
    bench_fresh_processes
    "${sb[@]}" hold "$base/api/v1/chat/stream" "${mangoo[@]}" -k "$BENCH_HOLD" --first-event start \
        "${BENCH_HOLD_PROCS[@]}" --out "$out/hold-mangoo-bedrock.json" >&2
    bench_fresh_processes
    "${sb[@]}" hold "$base/api/v1/chat/stream" -H "$auth" --body "$(bench_chat_body "$local_bot")" \
        -k "$BENCH_HOLD" --first-event start "${BENCH_HOLD_PROCS[@]}" --out "$out/hold-mangoo-local.json" >&2
    bench_streams_tls "$out" "${mangoo[@]}"
    curl -fsS -o /dev/null "$fake/config?pieces=$BENCH_STREAM_PIECES&delay_ms=0"

    echo
    echo "Mangoo streaming bench: $(nproc) cores, nginx workers $NGINX_WORKERS, worker processes $WORKER_PROCS x $WORKER_THREADS threads; model: fake-stream (Bedrock ConverseStream), $BENCH_STREAM_PIECES pieces a stream; yardstick: nginx proxy_pass of the same fake's SSE, same nginx, same run"
    "${sb[@]}" report "$out"
    bench_streams_stop
}

# ---- knowledge benchmark ---------------------------------------------------
# Ingestion through the API with the local embedder; search at
# BENCH_KB_CHUNKS 1024-dimensional chunks of BENCH_KB_CLUSTERS topics (their
# text through the workers' local embedder) generated straight into
# Postgres (HNSW rebuilt with the migration's definition): the endpoint's
# latency next to nginx's `return 200` in turn, recall@5 of the vector half
# against exact search; and what retrieval adds to the time to first token
# of a chat turn (a RAG bot and a plain one, in turn).  Generated data stays
# in $STATE/knowledge.
BENCH_INGEST_MB=${BENCH_INGEST_MB:-20}              # MB of Markdown/text uploaded
BENCH_KB_CHUNKS=${BENCH_KB_CHUNKS:-100000}          # chunks searched
BENCH_KB_CLUSTERS=${BENCH_KB_CLUSTERS:-200}         # topics among them
BENCH_KB_VECTORS=${BENCH_KB_VECTORS:-local}         # local (embedded text) or synthetic
BENCH_KB_NOISE=${BENCH_KB_NOISE:-0.5}               # synthetic: noise norm around a centre
BENCH_KB_QUERIES=${BENCH_KB_QUERIES:-200}           # held-out queries (latency and recall)
BENCH_KB_EF=${BENCH_KB_EF:-100,200,400}             # hnsw.ef_search values for recall
BENCH_KB_TTFB_N=${BENCH_KB_TTFB_N:-200}             # chat turns of each bot

# The ingest threads the workers started, by their own logs (the last start).
bench_ingest_threads() {
    local f
    for f in "$STATE"/worker-*.log; do
        sed -nE 's/.*ingest: ([0-9]+) thread\(s\).*/\1/p' "$f" | tail -n1
    done | awk '{ n += $1 } END { print n + 0 }'
}

bench_knowledge() {  # token
    local token=$1 base="http://127.0.0.1:$PORT" out="$STATE/knowledge" i kb q rag_bot plain_bot
    local kbb=(python3 "$TOP/tests/bench/knowledge_bench.py") auth="Authorization: Bearer $1"
    mkdir -p "$out/docs"
    # the offline model without its per-token pause: retrieval is what differs
    export MANGOO_LOCAL_DELAY_MS=0
    for ((i = 0; i < WORKER_PROCS; i++)); do worker_stop "$i"; worker_start "$i"; done
    sleep 1
    wait_healthy

    log "knowledge: generating ${BENCH_INGEST_MB} MB of documents, uploading them, waiting for ready"
    "$BUILD/kb-gen" docs "$out/docs" "$BENCH_INGEST_MB"
    "${kbb[@]}" ingest "$out/docs" --base "$base" --token "$token" --db "$DB_CONNINFO" \
        --procs "$WORKER_PROCS" --threads "$(bench_ingest_threads)" \
        --worker-pids "$(cat "$STATE"/worker-*.pid | paste -sd,)" \
        --pg-pid "$(head -n1 "$STATE/pg/data/postmaster.pid")" --out "$out/ingest.json" >&2

    log "knowledge: $BENCH_KB_CHUNKS chunks x 1024 into Postgres, HNSW build, search latency and recall"
    "${kbb[@]}" search --base "$base" --token "$token" --db "$DB_CONNINFO" --gen "$BUILD/kb-gen" \
        --chunks "$BENCH_KB_CHUNKS" --clusters "$BENCH_KB_CLUSTERS" --vectors "$BENCH_KB_VECTORS" --noise "$BENCH_KB_NOISE" \
        --queries "$BENCH_KB_QUERIES" --ef "$BENCH_KB_EF" --out "$out/search.json" >&2

    log "knowledge: time to first token, RAG bot and plain bot in turn, $BENCH_KB_TTFB_N turns each"
    kb=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["kb"])' "$out/search.json")
    rag_bot=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"name\":\"bench rag\",\"model_id\":\"local\",\"rag_enabled\":true,\"knowledge_base_ids\":[\"$kb\"]}" \
        "$base/api/v1/bots" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    plain_bot=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d '{"name":"bench plain","model_id":"local"}' "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    # a question in the words of one cluster, so the full-text half matches too
    q=$("$BUILD/kb-gen" queries 1 --clusters "$BENCH_KB_CLUSTERS" | cut -f1)
    python3 "$TOP/tests/bench/stream_bench.py" ttfb "$base/api/v1/chat/stream" "$base/api/v1/chat/stream" \
        --names rag,plain -H "$auth" -n "$BENCH_KB_TTFB_N" \
        --bodies "{\"bot_id\":\"$rag_bot\",\"message\":\"What is said about $q?\"}" \
        --bodies "{\"bot_id\":\"$plain_bot\",\"message\":\"What is said about $q?\"}" \
        --out "$out/ttfb-rag.json" >&2

    echo
    echo "Mangoo knowledge bench: $(nproc) cores, worker processes $WORKER_PROCS x $WORKER_THREADS threads, $(bench_ingest_threads) ingest threads in all (MANGOO_INGEST_CONCURRENCY=${MANGOO_INGEST_CONCURRENCY:-1}), local embedder and local model (MANGOO_LOCAL_DELAY_MS=0); data in $out"
    "${kbb[@]}" report "$out"
}

# ---- agents benchmark -------------------------------------------------------
# Agents' tool loop (POST /api/v1/chat/stream with an agent_id) against
# build/fake-stream as Bedrock: a request offering tools gets a toolUse of
# its first tool at once, the next one (its toolResult back) a short text.
# The fake times each turn's tool round trip itself (the step's last byte
# out -> the request with the result read whole, paired by "bench-<n>" in
# the message), sequentially with the yardsticks in turn (the fake directly,
# nginx's proxy_pass, a plain chat turn) and at a concurrency; then a
# sub-agent run on the calling worker process against one on a worker of
# its own (MANGOO_AGENTS, MANGOO_AGENT_ENDPOINTS), in turn; then many agent
# runs held open in their second step, and the memory they cost next to as
# many plain chat streams.
BENCH_AGENT_N=${BENCH_AGENT_N:-300}                 # sequential turns of each kind
BENCH_AGENT_CONN=${BENCH_AGENT_CONN:-32}            # concurrent agent turns ...
BENCH_AGENT_CONN_TURNS=${BENCH_AGENT_CONN_TURNS:-2000}  # ... this many in all
BENCH_AGENT_SUB_N=${BENCH_AGENT_SUB_N:-300}         # boss turns each way
BENCH_AGENT_HOLD=${BENCH_AGENT_HOLD:-10000}         # agent runs held open at once, their
BENCH_AGENT_HOLD_PIECES=${BENCH_AGENT_HOLD_PIECES:-300}  # second step this many pieces,
                                                    # BENCH_HOLD_DELAY_MS apart (long: a slow
                                                    # ramp on a busy machine still holds them all;
                                                    # the hold ends when measured, not with them)

bench_agent_create() {  # admin token, JSON -> id
    curl -fsS -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$2" \
        "http://127.0.0.1:$PORT/api/v1/admin/agents" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

# A socket closed in the last minute keeps its ephemeral port (TIME_WAIT):
# streams held open just before can leave too few for the next K, each of
# which takes two (the client's and the worker's to the model).  Wait,
# at most a minute, until enough are free.
bench_ports_free() {  # ports wanted
    local lo hi tw waited=0
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    for _ in $(seq 130); do
        tw=$(awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat)
        [ $((hi - lo + 1 - ${tw:-0})) -ge "$1" ] && break
        [ $waited = 0 ] && log "waiting for sockets in TIME_WAIT to free their ports ($tw now)"
        waited=1
        sleep 0.5
    done
}

# agent.run jobs a boss handed to its sub-agent, by the workers' logs
bench_agent_runs() {  # boss slug, log files...
    local boss=$1
    shift
    cat "$@" 2>/dev/null | grep -c "agent\.run rid=[^:]*: $boss/" || true
}

bench_agents() {
    local base="http://127.0.0.1:$PORT" out="$STATE/agents" fake admin token auth i
    local ab=(python3 "$TOP/tests/bench/agent_bench.py") sb=(python3 "$TOP/tests/bench/stream_bench.py")
    local extra=$WORKER_PROCS calc spec_same spec_other boss_same boss_other bot agent limits calling
    mkdir -p "$out"
    admin=$("$BUILD/mangoo-worker" token --key-dir "$STATE/keys" --sub bench-agent-admin --group admin --ttl 86400)
    token=$("$BUILD/mangoo-worker" token --key-dir "$STATE/keys" --sub bench-agent-user --ttl 86400)
    auth="Authorization: Bearer $token"
    # the specialist of the "other" boss runs on a worker process of its own
    export MANGOO_AGENT_ENDPOINTS="bench-specialist-other=tcp://127.0.0.1:$((WORKER_PORT + extra))"
    [ "${MANGOO_MAX_STREAMS:-0}" -ge "$((BENCH_AGENT_HOLD + 1000))" ] \
        || export MANGOO_MAX_STREAMS=$((BENCH_AGENT_HOLD + 1000))
    log "agents: starting the fake model server"
    bench_streams_setup
    fake="http://127.0.0.1:$BENCH_FAKE_PORT"
    curl -fsS -o /dev/null -H "Authorization: Bearer $admin" "$base/api/v1/users/me"
    limits='"limits":{"max_steps":4,"timeout_seconds":900,"tool_timeout_seconds":60}'
    agent="\"category\":\"Benchmark\",\"model_id\":\"$BENCH_CLAUDE\",\"status\":\"published\",$limits"
    calc=$(bench_agent_create "$admin" "{\"name\":\"bench-calc\",$agent,\"tools\":[\"calculator\"]}")
    spec_same=$(bench_agent_create "$admin" "{\"name\":\"bench-specialist-same\",$agent}")
    spec_other=$(bench_agent_create "$admin" "{\"name\":\"bench-specialist-other\",$agent}")
    boss_same=$(bench_agent_create "$admin" "{\"name\":\"bench-boss-same\",$agent,\"sub_agents\":[\"$spec_same\"]}")
    boss_other=$(bench_agent_create "$admin" "{\"name\":\"bench-boss-other\",$agent,\"sub_agents\":[\"$spec_other\"]}")
    bot=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"name\":\"bench plain\",\"model_id\":\"$BENCH_CLAUDE\"}" "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    MANGOO_AGENTS=bench-specialist-other worker_start "$extra"
    for i in $(seq 101); do
        grep -q "serving on" "$STATE/worker-$extra.log" 2>/dev/null && break
        [ "$i" = 101 ] && log "agents: the specialist's worker process did not start: see $STATE/worker-$extra.log"
        sleep 0.1
    done

    # short answers (2 pieces, no delay): the platform's time is what shows
    curl -fsS -o /dev/null "$fake/config?pieces=2&delay_ms=0&first_delay_ms=0"
    log "agents: tool round trip, $BENCH_AGENT_N sequential turns, each yardstick in turn"
    "${ab[@]}" turns "$base/api/v1/chat/stream" "$base/api/v1/chat/stream" "$fake/sse" "$base/__proxy_sse" \
        --names agent,mangoo,direct,proxy -H "$auth" -n "$BENCH_AGENT_N" --fake "$fake" \
        --bodies "{\"agent_id\":\"$calc\",\"message\":\"bench-@N@: what is 1+1?\"}" \
        --bodies "$(bench_chat_body "$bot")" --bodies '{}' --bodies '{}' \
        --out "$out/roundtrip-seq.json" >&2
    log "agents: tool round trip, $BENCH_AGENT_CONN_TURNS turns at concurrency $BENCH_AGENT_CONN, then as many plain chat turns"
    "${ab[@]}" turns "$base/api/v1/chat/stream" --names agent -H "$auth" --fake "$fake" \
        -n "$BENCH_AGENT_CONN_TURNS" -c "$BENCH_AGENT_CONN" --warmup "$BENCH_AGENT_CONN" \
        --bodies "{\"agent_id\":\"$calc\",\"message\":\"bench-@N@: what is 1+1?\"}" \
        --out "$out/roundtrip-c$BENCH_AGENT_CONN.json" >&2
    "${ab[@]}" turns "$base/api/v1/chat/stream" --names mangoo -H "$auth" \
        -n "$BENCH_AGENT_CONN_TURNS" -c "$BENCH_AGENT_CONN" --warmup "$BENCH_AGENT_CONN" \
        --bodies "$(bench_chat_body "$bot")" --out "$out/plain-c$BENCH_AGENT_CONN.json" >&2
    log "agents: sub-agent on the calling worker process and on another, $BENCH_AGENT_SUB_N turns each, in turn"
    "${ab[@]}" turns "$base/api/v1/chat/stream" "$base/api/v1/chat/stream" --names same,other \
        -H "$auth" -n "$BENCH_AGENT_SUB_N" --fake "$fake" \
        --bodies "{\"agent_id\":\"$boss_same\",\"message\":\"bench-@N@: ask the specialist\"}" \
        --bodies "{\"agent_id\":\"$boss_other\",\"message\":\"bench-@N@: ask the specialist\"}" \
        --out "$out/subagent.json" >&2
    # where the specialists ran, by the workers' own logs
    calling=()
    for ((i = 0; i < WORKER_PROCS; i++)); do calling+=("$STATE/worker-$i.log"); done
    printf '{"other_own": %d, "other_calling": %d, "same_calling": %d, "same_own": %d}\n' \
        "$(bench_agent_runs bench_boss_other "$STATE/worker-$extra.log")" \
        "$(bench_agent_runs bench_boss_other "${calling[@]}")" \
        "$(bench_agent_runs bench_boss_same "${calling[@]}")" \
        "$(bench_agent_runs bench_boss_same "$STATE/worker-$extra.log")" >"$out/subagent-runs.json"
    worker_stop "$extra"

    # held: the toolUse step at once, then the answer's pieces this far apart
    curl -fsS -o /dev/null "$fake/config?pieces=$BENCH_AGENT_HOLD_PIECES&delay_ms=$BENCH_HOLD_DELAY_MS"
    log "agents: $BENCH_AGENT_HOLD agent runs and as many plain chat streams held open ($BENCH_AGENT_HOLD_PIECES pieces, ${BENCH_HOLD_DELAY_MS} ms apart)"
    bench_fresh_processes
    bench_ports_free $((2 * BENCH_AGENT_HOLD + 2000))
    "${sb[@]}" hold "$base/api/v1/chat/stream" -H "$auth" --body "$(bench_chat_body "$bot")" \
        -k "$BENCH_AGENT_HOLD" --first-event message "${BENCH_HOLD_PROCS[@]}" --out "$out/hold-plain.json" >&2
    bench_fresh_processes
    bench_ports_free $((2 * BENCH_AGENT_HOLD + 2000))
    "${sb[@]}" hold "$base/api/v1/chat/stream" -H "$auth" \
        --body "{\"agent_id\":\"$calc\",\"message\":\"held: what is 1+1?\"}" \
        -k "$BENCH_AGENT_HOLD" --first-event message "${BENCH_HOLD_PROCS[@]}" --out "$out/hold-agent.json" >&2
    curl -fsS -o /dev/null "$fake/config?pieces=$BENCH_STREAM_PIECES&delay_ms=0"

    echo
    echo "Mangoo agents bench: $(nproc) cores, nginx workers $NGINX_WORKERS, worker processes $WORKER_PROCS x $WORKER_THREADS threads (${MANGOO_TOOL_THREADS:-4} tool threads each), + 1 serving only the 'other' specialist; model: fake-stream (Bedrock ConverseStream), toolUse steps at once, answers of 2 pieces; BENCH_AGENT_N=$BENCH_AGENT_N BENCH_AGENT_CONN=$BENCH_AGENT_CONN BENCH_AGENT_CONN_TURNS=$BENCH_AGENT_CONN_TURNS BENCH_AGENT_SUB_N=$BENCH_AGENT_SUB_N BENCH_AGENT_HOLD=$BENCH_AGENT_HOLD BENCH_AGENT_HOLD_PIECES=$BENCH_AGENT_HOLD_PIECES BENCH_HOLD_DELAY_MS=$BENCH_HOLD_DELAY_MS"
    "${ab[@]}" report "$out"
    bench_streams_stop
    unset MANGOO_AGENT_ENDPOINTS
}

# Scaling: nginx pointed at one worker process, then two, then two with the
# second reached at another loopback address (127.0.0.2, as another host's
# worker would be, over TCP with nothing shared): the authenticated list
# (wrk) and chat streams without delay (wrk through stream_bench,
# fake-stream as Bedrock), each in the same run.
bench_scaling() {  # token
    local token=$1 base="http://127.0.0.1:$PORT" out="$STATE/scaling" bot auth setup name
    local sb=(python3 "$TOP/tests/bench/stream_bench.py") remote_port=$((WORKER_PORT + WORKER_PROCS))
    local rows=() reads streams
    mkdir -p "$out"
    [ "$WORKER_PROCS" -ge 2 ] || { log "scaling: needs MANGOO_WORKERS >= 2"; return 1; }
    bench_streams_setup
    auth="Authorization: Bearer $token"
    bot=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"name\":\"bench scaling\",\"model_id\":\"$BENCH_CLAUDE\"}" "$base/api/v1/bots" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    curl -fsS -o /dev/null "http://127.0.0.1:$BENCH_FAKE_PORT/config?pieces=$BENCH_STREAM_PIECES&delay_ms=0"
    worker_start "$WORKER_PROCS" 127.0.0.2      # its port: $remote_port
    for setup in "one-process:tcp://127.0.0.1:$WORKER_PORT" \
                 "two-processes:tcp://127.0.0.1:$WORKER_PORT tcp://127.0.0.1:$((WORKER_PORT + 1))" \
                 "second-at-127.0.0.2:tcp://127.0.0.1:$WORKER_PORT tcp://127.0.0.2:$remote_port"; do
        name=${setup%%:*}
        BENCH_ENDPOINTS=${setup#*:} render_conf
        nginx -s reload -p "$STATE" -c "$STATE/nginx.conf"
        sleep 1
        wait_healthy
        log "scaling, $name: the list, then chat streams"
        BENCH_SECONDS=2 wrk_run warm "$base/api/v1/bots" "$auth" >/dev/null
        reads=$(wrk_run "$name" "$base/api/v1/bots" "$auth" | cut -d' ' -f2)
        "${sb[@]}" rate "$base/api/v1/chat/stream" -H "$auth" --body "$(bench_chat_body "$bot")" \
            --engine wrk -c "$BENCH_STREAM_CONN" -d "$BENCH_STREAM_SECONDS" --out "$out/$name.json" >&2
        streams=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["streams_per_s"])' \
                  "$out/$name.json")
        rows+=("$name $reads $streams")
    done
    render_conf
    nginx -s reload -p "$STATE" -c "$STATE/nginx.conf"
    worker_stop "$WORKER_PROCS"
    bench_streams_stop
    echo
    echo "Mangoo scaling bench: $(nproc) cores, nginx workers $NGINX_WORKERS, $WORKER_THREADS threads a worker process; GET /api/v1/bots with wrk -c${BENCH_CONN:-64}; chat streams of $BENCH_STREAM_PIECES pieces, no delay, wrk -c$BENCH_STREAM_CONN"
    printf '%-22s %14s %14s\n' "worker processes" "GET bots/s" "streams/s"
    printf '%-22s %14.0f %14.1f\n' ${rows[@]}
}

# One part of the bench alone, on a stack of its own: part, token subject.
# Worker discovery through DNS: a stack of its own (the e2e harness) and
# dnsmasq; how soon nginx uses a worker added to the name, and stops using
# one removed (tests/bench/discovery_bench.py).
bench_discovery() {
    python3 "$TOP/tests/bench/discovery_bench.py" --trials "${BENCH_DISCOVERY_TRIALS:-5}"
}

# resumable streams: a reconnect's wait for its first missed event, next
# to a new turn's for its first event (tests/bench/resume_bench.py)
bench_resume() {
    python3 "$TOP/tests/bench/resume_bench.py" --clients "${BENCH_RESUME_CLIENTS:-16}" \
        --rounds "${BENCH_RESUME_ROUNDS:-20}"
}

# Published bots: a key's check against a user's token, and how long a
# revoked key keeps working (tests/bench/published_bench.py).
bench_published() {
    python3 "$TOP/tests/bench/published_bench.py" --seconds "${BENCH_SECONDS:-10}" \
        --rounds "${BENCH_REVOKE_ROUNDS:-20}"
}

bench_only() {
    bench_stack_start
    "bench_$1" "$("$BUILD/mangoo-worker" token --key-dir "$STATE/keys" --sub "$2")"
}

# ---- container images ----------------------------------------------------
# The three images of docker-compose.yml, built and run with Debian's
# buildah, from a base made of Debian's packages, since no registry of
# images is needed or reached: mmdebstrap makes a bookworm root filesystem
# from apt's own sources once (kept in $BUILD/images and in buildah's
# storage), and every Dockerfile's BASE points at it.  Elsewhere the same
# Dockerfiles build on debian:bookworm-slim, their default BASE.
IMAGE_BASE=localhost/mangoo-base:bookworm
IMAGES=(postgres:sql/Dockerfile worker:worker/Dockerfile nginx:ngx_mangoo_module/Dockerfile)

deps_images() {
    # deps_debian, over these packages only
    local DEB_PACKAGES=(mmdebstrap buildah dnsmasq-base python3 python3-jsonschema python3-yaml)
    deps_debian
}

# "deb URI SUITE main" for bookworm, bookworm-updates and bookworm-security
# as apt's sources name them (one-line or deb822).
image_apt_sources() {
    {
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" && $3 ~ /^bookworm(-updates|-security)?$/ { print $2, $3 }' || true
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
            function flush(i) { if (deb) for (i = 0; i < n; i++) print uri, suite[i]; uri = ""; n = 0; deb = 0 }
            /^Types:/  { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
            /^URIs:/   { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i ~ /^bookworm(-updates|-security)?$/) suite[n++] = $i }
            /^$/       { flush() }
            END        { flush() }' || true
    } | awk '{ sub(/\/+$/, "", $1); print "deb " $1 " " $2 " main" }' | sort -u
}

# The base: Debian's Essential packages and apt, merged /usr, no manuals,
# docs (but their copyright) or translations, like debian:bookworm-slim.
image_base() {
    buildah inspect --type image "$IMAGE_BASE" >/dev/null 2>&1 && return 0
    local dir="$BUILD/images" sources=() c
    mkdir -p "$dir"
    if [ ! -f "$dir/bookworm-rootfs.tar" ]; then
        mapfile -t sources < <(image_apt_sources)
        [ ${#sources[@]} -gt 0 ] || { log "no bookworm sources in apt's lists"; exit 1; }
        log "making the base image's root filesystem from Debian's packages (mmdebstrap)"
        rm -f "$dir/bookworm-rootfs.tmp.tar"
        mmdebstrap --variant=apt --quiet --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            bookworm "$dir/bookworm-rootfs.tmp.tar" "${sources[@]}" </dev/null >"$dir/mmdebstrap.log" 2>&1 \
            || { tail -n 30 "$dir/mmdebstrap.log" >&2; log "mmdebstrap failed"; exit 1; }
        mv "$dir/bookworm-rootfs.tmp.tar" "$dir/bookworm-rootfs.tar"
    fi
    c=$(buildah from scratch)
    buildah add --quiet "$c" "$dir/bookworm-rootfs.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$c"
    buildah commit --quiet --rm "$c" "$IMAGE_BASE" >/dev/null
    log "base image $IMAGE_BASE"
}

# localhost/mangoo-{postgres,worker,nginx}:latest; cached layers make a
# second build fast.  Ends with each image's size.
cmd_images() {
    need_root
    deps_images
    mkdir -p "$BUILD/images"
    image_base
    local spec name t0 ca=() args
    # npm, in the nginx image's build, trusts what this machine trusts
    [ -f /etc/ssl/certs/ca-certificates.crt ] && ca=(--volume /etc/ssl/certs/ca-certificates.crt:/run/mangoo-build-ca.crt:ro
                                                    --build-arg NODE_EXTRA_CA_CERTS=/run/mangoo-build-ca.crt)
    for spec in "${IMAGES[@]}"; do
        name=${spec%%:*}
        args=(--build-arg BASE="$IMAGE_BASE" -f "$TOP/${spec#*:}" -t "localhost/mangoo-$name:latest")
        [ "$name" = nginx ] && args+=("${ca[@]}")
        log "building localhost/mangoo-$name from ${spec#*:}"
        t0=$SECONDS
        buildah bud --isolation chroot --network host --layers --force-rm --pull=never "${args[@]}" "$TOP" \
            >"$BUILD/images/$name.log" 2>&1 \
            || { tail -n 40 "$BUILD/images/$name.log" >&2; log "building $name failed: $BUILD/images/$name.log"; exit 1; }
        log "built localhost/mangoo-$name in $((SECONDS - t0)) s"
    done
    for spec in "${IMAGES[@]}"; do
        buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "localhost/mangoo-${spec%%:*}:latest"
    done
}

# The images brought up in compose's shape and exercised (tests/images).
cmd_test_images() {
    cmd_images
    python3 "$TOP/tests/images/run.py"
}

# test-images as one of cmd_test's suites: adds to its passed and failed
# (bash gives a function its caller's locals).  A build that fails counts
# as a failure and the other suites' line still comes.
test_images_suite() {
    local out rc=0 n f
    log "container images: built, brought up in compose's shape, scaled (tests/images)"
    out=$( (cmd_images && python3 "$TOP/tests/images/run.py") 2>&1 ) || rc=$?
    printf '%s\n' "$out"
    read -r n f < <(printf '%s\n' "$out" | sed -nE 's/^images: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' | tail -n1) || true
    passed=$((passed + ${n:-0})); failed=$((failed + ${f:-0}))
    if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then log "images failed (exit $rc)"; failed=$((failed + 1)); fi
}

case "${1:-}" in
    deps) cmd_deps ;;
    build) cmd_build ;;
    build-module) build_module ;;
    build-sanitized) build_sanitized ;;
    render-conf) render_conf ;;
    run) cmd_run ;;
    test) cmd_test ;;
    bench) cmd_bench ;;
    fuzz) cmd_fuzz ;;
    build-fuzz) build_fuzz ;;
    test-fuzz) cmd_test_fuzz ;;
    synth) shift; cmd_synth "$@" ;;
    test-deploy) cmd_test_deploy ;;
    images) cmd_images ;;
    test-images) cmd_test_images ;;
    bench-read) bench_only read bench-user ;;
    bench-scaling) bench_only scaling bench-scaling-user ;;
    bench-streams) bench_only streams bench-stream-user ;;
    bench-ttft) bench_only ttft bench-ttft-user ;;
    bench-metrics) bench_only metrics bench-metrics-user ;;
    bench-knowledge) bench_only knowledge bench-knowledge-user ;;
    bench-agents) bench_only agents bench-agents-user ;;
    bench-discovery) bench_discovery ;;
    bench-resume) bench_resume ;;
    bench-published) bench_published ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    start-nginx) nginx_start; wait_healthy ;;    # another instance: MANGOO_STATE of its own
    stop-nginx) nginx_stop ;;
    start-worker) worker_start "$2" ;;
    stop-worker) worker_stop "$2" ;;
    restart-db) pg_stop; pg_start ;;
    *) echo "usage: $0 deps|build|run|stop|test|test-deploy|synth|fuzz|bench|bench-streams|bench-knowledge|bench-agents" >&2; exit 2 ;;
esac
