#!/bin/sh
# The nginx container: render conf/nginx.conf.in from the environment, as
# auto-build.sh does locally, then run nginx in the foreground, unprivileged
# (the master too), its error log on stderr and its access log on stdout
# (or in the file MANGOO_ACCESS_LOG names: a runtime that does not hand its
# stdout to the container's user, as buildah's chroot isolation does not,
# leaves nginx unable to open /dev/stdout).
set -eu
STATE=/var/lib/mangoo
mkdir -p "$STATE/nginx-body"
NOFILE=$(ulimit -Hn)
if [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65536 ]; then NOFILE=65536; fi
# /metrics for the addresses (or CIDRs) that scrape, e.g. the VPC's
allow=""
for a in ${MANGOO_METRICS_ALLOW:-127.0.0.1 ::1}; do allow="${allow}allow $a; "; done
# behind a load balancer: its subnets, whose X-Forwarded-For is believed
realip=""
for a in ${MANGOO_REAL_IP_FROM:-}; do realip="${realip}set_real_ip_from $a; "; done
[ -n "$realip" ] && realip="${realip}real_ip_header X-Forwarded-For; real_ip_recursive on;"
sed -e "s|@MODULE@|/usr/lib/nginx/modules/ngx_http_mangoo_module.so|" \
    -e "s|@NGINX_WORKERS@|${MANGOO_NGINX_WORKERS:-auto}|" \
    -e "s|@WORKER_CONNECTIONS@|${MANGOO_WORKER_CONNECTIONS:-16384}|" \
    -e "s|@WORKER_RLIMIT_NOFILE@|${MANGOO_WORKER_RLIMIT_NOFILE:-$NOFILE}|" \
    -e "s|@STATE@/nginx-error.log|stderr|" \
    -e "s|@STATE@|$STATE|g" \
    -e "s|@LOG_LEVEL@|${MANGOO_NGINX_LOG_LEVEL:-notice}|" \
    -e "s|@ERROR_LOG@|${MANGOO_ERROR_LOG:-stderr}|" \
    -e "s|@ACCESS_LOG@|${MANGOO_ACCESS_LOG:-/dev/stdout} mangoo_json|" \
    -e "s|@WORKER_ENDPOINTS@|${MANGOO_WORKER_ENDPOINTS:-tcp://worker:5555}|" \
    -e "s|@RESOLVER@|${MANGOO_RESOLVER:+resolver $MANGOO_RESOLVER; resolver_timeout ${MANGOO_RESOLVER_TIMEOUT:-5s};}|" \
    -e "s|@RESOLVE_INTERVAL@|${MANGOO_RESOLVE_INTERVAL:-5s}|" \
    -e "s|@JWKS@|${MANGOO_JWKS:-/var/lib/mangoo-keys/jwks.json}|" \
    -e "s|@JWKS_MIN_REFRESH@|${MANGOO_JWKS_MIN_REFRESH:-60s}|" \
    -e "s|@ISSUER@|${MANGOO_ISSUER:-mangoo-local}|" \
    -e "s|@AUDIENCE@|${MANGOO_CLIENT_ID:-mangoo-web}|" \
    -e "s|@TIMEOUT@|${MANGOO_TIMEOUT:-120s}|" \
    -e "s|@JWT_CACHE@|${MANGOO_JWT_CACHE:-10000}|" \
    -e "s|@METRICS@|${MANGOO_METRICS:-on}|" \
    -e "s|@METRICS_ALLOW@|$allow|" \
    -e "s|@REAL_IP@|$realip|" \
    -e "s|@SSE_KEEPALIVE@|${MANGOO_SSE_KEEPALIVE:-15s}|" \
    -e "s|@SSE_MAX_BUFFERED@|${MANGOO_SSE_MAX_BUFFERED:-256k}|" \
    -e "s|@AUTH_RATE@|${MANGOO_AUTH_RATE:-5r/s}|" \
    -e "s|@USER_RATE@|${MANGOO_USER_RATE:-20r/s}|" \
    -e "s|@USER_BURST@|${MANGOO_USER_BURST:-100}|" \
    -e "s|@CORS_ORIGINS@|${MANGOO_CORS_ORIGINS:-off}|" \
    -e "s|@LISTEN@|${MANGOO_LISTEN:-0.0.0.0:8080}|" \
    -e "s|@WEB_ROOT@|/usr/share/mangoo/web|" \
    -e "s|@UPLOAD_BODY_MAX@|$(( ${MANGOO_UPLOAD_MAX:-20971520} + 65536 ))|g" \
    -e "s|@EXTRA_LOCATIONS@||" \
    -e "s|@EXTRA_HTTP@||" \
    /etc/mangoo/nginx.conf.in >"$STATE/nginx.conf"
exec nginx -e stderr -p "$STATE" -c "$STATE/nginx.conf"
