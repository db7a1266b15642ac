/*
 * main: owns mangoo-worker's command line: the subcommands (serve, metrics,
 * migrate, keygen, token, fetch), their flags, environment defaults, and exit
 * codes (0 done, 1 failed, 2 bad usage).  Everything else lives in the
 * units it calls.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "db/migrate.h"
#include "drain.h"
#include "instance.h"
#include "jobs/jobs.h"
#include "jobs/permissions.h"
#include "util/log.h"
#include "pool.h"
#include "providers/provider.h"
#include "identity/signer.h"
#include "identity/tokens.h"
#include "knowledge/fetch.h"
#include "knowledge/ingest.h"
#include "agents/toolrun.h"
#include "mcp/check.h"
#include "mcp/registry.h"
#include "read_cache.h"
#include "metrics.h"
#include "emf.h"
#include "scrape.h"

/* The signer looks at KEY_DIR/current at most this often (rotation). */
#define MG_SIGNER_CHECK_MS   1000
/* keygen --rotate: how long the new public key is published before it
 * signs anything (verifiers re-read jwks.json at most once a second). */
#define MG_ROTATE_PUBLISH_MS 2000

static const char mg_usage[] =
"usage: mangoo-worker <command> [options]\n"
"\n"
"commands:\n"
"  serve     answer jobs from the nginx module (broker + thread pool)\n"
"      --bind EP         endpoint to bind      ($MANGOO_BIND, tcp://127.0.0.1:5555)\n"
"      --threads N       pool threads, each with a database connection\n"
"                                              ($MANGOO_THREADS, 4)\n"
"      --db CONNINFO     libpq connection string ($MANGOO_DB, \"dbname=mangoo\")\n"
"      --sql-dir DIR     migrations directory  ($MANGOO_SQL_DIR, ./sql)\n"
"      --queue N         jobs that may wait for a busy pool before 503\n"
"                                              ($MANGOO_QUEUE, 256)\n"
"      --no-migrate      do not apply migrations at start\n"
"      --key-dir DIR     signing keys for the local identity's access tokens\n"
"                                              ($MANGOO_KEY_DIR, ./keys)\n"
"      stopping (environment): $MANGOO_STOP_TIMEOUT seconds that running jobs and open\n"
"      streams get after SIGTERM or SIGINT before streams are ended (25; 0: at once);\n"
"      a second signal ends them at once\n"
"      local identity (environment): $MANGOO_REGISTRATION open|first-admin|closed\n"
"      (open; until an administrator sets a mode, PATCH /api/v1/admin/signup),\n"
"      $MANGOO_ACCESS_TTL seconds (900), $MANGOO_REFRESH_TTL seconds\n"
"      (2592000), $MANGOO_ISSUER (mangoo-local), $MANGOO_CLIENT_ID (mangoo-web)\n"
"      Cognito (environment): $MANGOO_COGNITO_DOMAIN (the hosted UI's base URL; set:\n"
"      Cognito signs people in), $MANGOO_COGNITO_CLIENT_SECRET (confidential app\n"
"      clients), $MANGOO_COGNITO_SCOPES (openid email profile)\n"
"      chat (environment): $MANGOO_MAX_STREAMS open streams (20000),\n"
"      $MANGOO_PROVIDER_TIMEOUT seconds a model may stay silent (60),\n"
"      $MANGOO_PROVIDER_ATTEMPTS before the first token (3), $MANGOO_PROVIDER_BACKOFF_MS\n"
"      (250), $MANGOO_HISTORY_TOKENS (8000), $MANGOO_DAILY_TOKEN_QUOTA per user (0: none),\n"
"      $MANGOO_MESSAGE_MAX characters (32000), $MANGOO_LOCAL_DELAY_MS (10),\n"
"      $MANGOO_STREAM_BATCH_MS a later event may wait to travel with others (2),\n"
"      $MANGOO_STREAM_GRACE seconds an answer whose clients all left goes on for one\n"
"      to resume it (30; 0: it stops), $MANGOO_STREAM_REPLAY bytes of recent events\n"
"      kept per answer for resumes (16384)\n"
"      metrics: $MANGOO_METRICS (on; off: nothing counted, the scrape is empty)\n"
"      $MANGOO_EMF_INTERVAL seconds between CloudWatch metric lines in the log (0: none),\n"
"      $MANGOO_EMF_SERVICE their Service dimension (mangoo-worker)\n"
"      $MANGOO_OPENAI_BASE_URL, $MANGOO_OPENAI_API_KEY, $MANGOO_OPENAI_MODELS,\n"
"      $MANGOO_BEDROCK_MODELS (what GET /models lists), $MANGOO_CA_FILE; Bedrock: the\n"
"      AWS SDKs' variables (AWS_REGION, AWS_ACCESS_KEY_ID, ..., AWS_BEARER_TOKEN_BEDROCK,\n"
"      AWS_CONTAINER_CREDENTIALS_*, AWS_ENDPOINT_URL_BEDROCK_RUNTIME)\n"
"      web pages by URL (environment): $MANGOO_FETCH_MAX_BYTES (5242880),\n"
"      $MANGOO_FETCH_TIMEOUT seconds (15), $MANGOO_FETCH_ALLOW CIDRs let through the\n"
"      address guard, $MANGOO_FETCH_PROXY (unset: no proxy)\n"
"      read cache (environment): $MANGOO_READ_CACHE_MB per process (32; 0: off)\n"
"      agents (environment): $MANGOO_TOOL_THREADS (4), $MANGOO_TOOL_OUTPUT_MAX bytes\n"
"      (16384), $MANGOO_AGENT_TURN_TOKENS (200000), $MANGOO_AGENTS (served; all),\n"
"      $MANGOO_AGENT_ENDPOINTS (<agent>=<endpoint>,...), $MANGOO_AGENT_ENDPOINT\n"
"  migrate   apply pending migrations and exit (--db, --sql-dir)\n"
"  mcp-check [--timeout MS] URL | -- COMMAND [ARG...]\n"
"            try an MCP server: initialise, list its tools, call each once\n"
"  metrics   ENDPOINT [--timeout MS]\n"
"            print a worker's metrics (Prometheus text), asked for as the\n"
"            nginx module does (job \"metrics\"); 5000 ms by default\n"
"  keygen    --dir DIR [--rotate | --retire KID]\n"
"            ensure DIR holds an RSA signing key; print its kid\n"
"            --rotate: add a new key, publish it in jwks.json, wait 2 s\n"
"            (verifiers re-read it), make it current; print its kid\n"
"            --retire KID: remove a key that is not current from DIR and\n"
"            jwks.json; tokens it signed stop verifying\n"
"  token     --key-dir DIR --sub SUB [--username U] [--group G]...\n"
"            [--ttl SECONDS] [--issuer ISS] [--client-id CID] [--token-use USE]\n"
"            [--exp UNIX] [--nbf UNIX] [--iat UNIX] [--claims JSON] [--kid KID]\n"
"            print an RS256 access token signed with DIR's current key\n"
"            (issuer: $MANGOO_ISSUER or mangoo-local; client id:\n"
"            $MANGOO_CLIENT_ID or mangoo-web)\n"
"  fetch     URL\n"
"            fetch a web page as a knowledge base would (the address guard,\n"
"            limits and $MANGOO_FETCH_* settings); print its content type and\n"
"            size in bytes, or why it was refused\n"
"\n"
"every command: --log-level debug|info|warn|error ($MANGOO_LOG_LEVEL, info);\n"
"  $MANGOO_LOG_FORMAT json (serve's default: one object a line) or text (the\n"
"  others'); serve: $MANGOO_LOG_JOBS on (a line per job: request id, job,\n"
"  user, outcome, duration) or off\n";

enum {
    OPT_BIND = 256, OPT_THREADS, OPT_DB, OPT_SQL_DIR, OPT_QUEUE, OPT_NO_MIGRATE,
    OPT_DIR, OPT_KEY_DIR, OPT_SUB, OPT_USERNAME, OPT_GROUP, OPT_TTL, OPT_ISSUER,
    OPT_CLIENT_ID, OPT_TOKEN_USE, OPT_EXP, OPT_NBF, OPT_IAT, OPT_CLAIMS, OPT_KID,
    OPT_LOG_LEVEL, OPT_HELP, OPT_ROTATE, OPT_RETIRE
};

static const struct option mg_options[] = {
    { "bind",       required_argument, NULL, OPT_BIND },
    { "threads",    required_argument, NULL, OPT_THREADS },
    { "db",         required_argument, NULL, OPT_DB },
    { "sql-dir",    required_argument, NULL, OPT_SQL_DIR },
    { "queue",      required_argument, NULL, OPT_QUEUE },
    { "no-migrate", no_argument,       NULL, OPT_NO_MIGRATE },
    { "dir",        required_argument, NULL, OPT_DIR },
    { "key-dir",    required_argument, NULL, OPT_KEY_DIR },
    { "sub",        required_argument, NULL, OPT_SUB },
    { "username",   required_argument, NULL, OPT_USERNAME },
    { "group",      required_argument, NULL, OPT_GROUP },
    { "ttl",        required_argument, NULL, OPT_TTL },
    { "issuer",     required_argument, NULL, OPT_ISSUER },
    { "client-id",  required_argument, NULL, OPT_CLIENT_ID },
    { "token-use",  required_argument, NULL, OPT_TOKEN_USE },
    { "exp",        required_argument, NULL, OPT_EXP },
    { "nbf",        required_argument, NULL, OPT_NBF },
    { "iat",        required_argument, NULL, OPT_IAT },
    { "claims",     required_argument, NULL, OPT_CLAIMS },
    { "kid",        required_argument, NULL, OPT_KID },
    { "log-level",  required_argument, NULL, OPT_LOG_LEVEL },
    { "help",       no_argument,       NULL, OPT_HELP },
    { "rotate",     no_argument,       NULL, OPT_ROTATE },
    { "retire",     required_argument, NULL, OPT_RETIRE },
    { NULL, 0, NULL, 0 }
};

/* Which options each command takes (besides --log-level and --help). */
typedef struct {
    const char  *name;
    int          opts[24];      /* 0-terminated */
} mg_command_t;

static const mg_command_t mg_commands[] = {
    { "serve",   { OPT_BIND, OPT_THREADS, OPT_DB, OPT_SQL_DIR, OPT_QUEUE, OPT_NO_MIGRATE,
                   OPT_KEY_DIR, 0 } },
    { "migrate", { OPT_DB, OPT_SQL_DIR, 0 } },
    { "keygen",  { OPT_DIR, OPT_ROTATE, OPT_RETIRE, 0 } },
    { "token",   { OPT_KEY_DIR, OPT_SUB, OPT_USERNAME, OPT_GROUP, OPT_TTL, OPT_ISSUER,
                   OPT_CLIENT_ID, OPT_TOKEN_USE, OPT_EXP, OPT_NBF, OPT_IAT, OPT_CLAIMS,
                   OPT_KID, 0 } },
    { "fetch",   { 0 } },
};

typedef struct {
    mg_pool_config_t   pool;
    const char        *sql_dir;
    int                no_migrate;
    const char        *dir;
    int                rotate;      /* keygen --rotate */
    const char        *retire;      /* keygen --retire KID */
    const char        *key_dir;     /* serve: the signing keys */
    mg_token_opts_t    token;
    const char       **groups;      /* malloc'd array of argv pointers */
    const char        *url;         /* fetch URL */
} mg_cli_t;

static const char *
mg_env(const char *name, const char *def)
{
    const char *v = getenv(name);

    return (v != NULL && v[0] != '\0') ? v : def;
}

/* A decimal integer in [min, max]; 0 or -1 (with a message naming what). */
static int
mg_parse_ll(const char *s, long long min, long long max, const char *what, long long *out)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr, "mangoo-worker: %s must be an integer between %lld and %lld, not \"%s\"\n",
                what, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int
mg_parse_int(const char *s, int min, int max, const char *what, int *out)
{
    long long v;

    if (mg_parse_ll(s, min, max, what, &v) != 0) {
        return -1;
    }
    *out = (int) v;
    return 0;
}

/* "--name" of an option value, for messages. */
static const char *
mg_option_name(int opt, char *buf, size_t cap)
{
    for (const struct option *o = mg_options; o->name != NULL; o++) {
        if (o->val == opt) {
            snprintf(buf, cap, "--%s", o->name);
            return buf;
        }
    }
    snprintf(buf, cap, "an option");
    return buf;
}

static int
mg_command_takes(const mg_command_t *cmd, int opt)
{
    for (int i = 0; cmd->opts[i] != 0; i++) {
        if (cmd->opts[i] == opt) {
            return 1;
        }
    }
    return 0;
}

/* Fill cli from the environment, then the flags after the command name.
 * 0, 1 for --help, or -1 for bad usage (reported). */
static int
mg_cli_parse(const mg_command_t *cmd, int argc, char **argv, mg_cli_t *cli)
{
    mg_log_level_t  level;
    long long       v;
    int             c;
    char            name[32];

    cli->pool.bind = mg_env("MANGOO_BIND", "tcp://127.0.0.1:5555");
    cli->pool.conninfo = mg_env("MANGOO_DB", "dbname=mangoo");
    cli->sql_dir = mg_env("MANGOO_SQL_DIR", "./sql");
    cli->key_dir = mg_env("MANGOO_KEY_DIR", "./keys");
    if (mg_parse_int(mg_env("MANGOO_THREADS", "4"), 1, 1024, "MANGOO_THREADS", &cli->pool.threads) != 0
        || mg_parse_int(mg_env("MANGOO_QUEUE", "256"), 0, 1000000, "MANGOO_QUEUE", &cli->pool.queue) != 0)
    {
        return -1;
    }
    cli->token.ttl = 3600;

    cli->groups = calloc((size_t) argc + 1, sizeof(*cli->groups));
    if (cli->groups == NULL) {
        fprintf(stderr, "mangoo-worker: out of memory\n");
        return -1;
    }
    cli->token.groups = cli->groups;

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "h", mg_options, NULL)) != -1) {
        if (c == 'h' || c == OPT_HELP) {
            return 1;
        }
        if (c == '?') {
            return -1;
        }
        if (c != OPT_LOG_LEVEL && !mg_command_takes(cmd, c)) {
            fprintf(stderr, "mangoo-worker: %s does not take %s\n", cmd->name,
                    mg_option_name(c, name, sizeof(name)));
            return -1;
        }
        switch (c) {
        case OPT_LOG_LEVEL:
            if (mg_log_parse_level(optarg, &level) != 0) {
                fprintf(stderr, "mangoo-worker: unknown log level \"%s\"\n", optarg);
                return -1;
            }
            mg_log_set_level(level);
            break;
        case OPT_BIND:       cli->pool.bind = optarg; break;
        case OPT_DB:         cli->pool.conninfo = optarg; break;
        case OPT_SQL_DIR:    cli->sql_dir = optarg; break;
        case OPT_NO_MIGRATE: cli->no_migrate = 1; break;
        case OPT_THREADS:
            if (mg_parse_int(optarg, 1, 1024, "--threads", &cli->pool.threads) != 0) {
                return -1;
            }
            break;
        case OPT_QUEUE:
            if (mg_parse_int(optarg, 0, 1000000, "--queue", &cli->pool.queue) != 0) {
                return -1;
            }
            break;
        case OPT_DIR:        cli->dir = optarg; break;
        case OPT_KEY_DIR:    cli->token.key_dir = optarg; cli->key_dir = optarg; break;
        case OPT_ROTATE:     cli->rotate = 1; break;
        case OPT_RETIRE:     cli->retire = optarg; break;
        case OPT_SUB:        cli->token.sub = optarg; break;
        case OPT_USERNAME:   cli->token.username = optarg; break;
        case OPT_GROUP:      cli->groups[cli->token.ngroups++] = optarg; break;
        case OPT_ISSUER:     cli->token.issuer = optarg; break;
        case OPT_CLIENT_ID:  cli->token.client_id = optarg; break;
        case OPT_TOKEN_USE:  cli->token.token_use = optarg; break;
        case OPT_CLAIMS:     cli->token.claims_json = optarg; break;
        case OPT_KID:        cli->token.kid = optarg; break;
        case OPT_TTL:
            if (mg_parse_ll(optarg, 0, INT_MAX, "--ttl", &cli->token.ttl) != 0) {
                return -1;
            }
            break;
        case OPT_EXP:
        case OPT_NBF:
        case OPT_IAT:
            if (mg_parse_ll(optarg, 0, LLONG_MAX / 2, mg_option_name(c, name, sizeof(name)), &v) != 0) {
                return -1;
            }
            if (c == OPT_EXP) {
                cli->token.exp = v;
                cli->token.has_exp = 1;
            } else if (c == OPT_NBF) {
                cli->token.nbf = v;
                cli->token.has_nbf = 1;
            } else {
                cli->token.iat = v;
                cli->token.has_iat = 1;
            }
            break;
        }
    }
    if (strcmp(cmd->name, "fetch") == 0 && optind == argc - 1) {
        cli->url = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "mangoo-worker: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* The local identity's settings from the environment.  0, or -1 for a
 * bad value (reported). */
static int
mg_auth_env(mg_auth_config_t *auth)
{
    const char *reg = mg_env("MANGOO_REGISTRATION", "open");

    memset(auth, 0, sizeof(*auth));
    if (mg_registration_parse(reg, &auth->registration) != 0) {
        fprintf(stderr, "mangoo-worker: MANGOO_REGISTRATION must be open, first-admin "
                "or closed, not \"%s\"\n", reg);
        return -1;
    }
    if (mg_parse_ll(mg_env("MANGOO_ACCESS_TTL", "900"), 60, 86400, "MANGOO_ACCESS_TTL",
                    &auth->access_ttl) != 0
        || mg_parse_ll(mg_env("MANGOO_REFRESH_TTL", "2592000"), 60, 10LL * 365 * 86400,
                       "MANGOO_REFRESH_TTL", &auth->refresh_ttl) != 0)
    {
        return -1;
    }
    auth->issuer = mg_env("MANGOO_ISSUER", "mangoo-local");
    auth->client_id = mg_env("MANGOO_CLIENT_ID", "mangoo-web");

    /* Cognito's hosted UI instead of local accounts */
    auth->cognito_domain = mg_env("MANGOO_COGNITO_DOMAIN", NULL);
    auth->cognito_client_secret = mg_env("MANGOO_COGNITO_CLIENT_SECRET", NULL);
    auth->cognito_scopes = mg_env("MANGOO_COGNITO_SCOPES", "openid email profile");
    if (auth->cognito_domain != NULL
        && ((strncmp(auth->cognito_domain, "https://", 8) != 0
             && strncmp(auth->cognito_domain, "http://", 7) != 0)
            || strlen(auth->cognito_domain) > 1024))
    {
        fprintf(stderr, "mangoo-worker: MANGOO_COGNITO_DOMAIN must be the hosted UI's "
                "https:// base URL (at most 1024 characters), not \"%s\"\n",
                auth->cognito_domain);
        return -1;
    }
    return 0;
}

/* Chat and stream settings from the environment.  0, or -1 (reported). */
static int
mg_chat_env(mg_cli_t *cli)
{
    mg_streams_config_t  *st = &cli->pool.streams;
    long long             timeout, attempts, backoff, history, quota, msg_max, turn_tokens;
    long long             batch, grace, replay;
    int                   max_streams;

    if (mg_parse_int(mg_env("MANGOO_MAX_STREAMS", "20000"), 1, 1000000, "MANGOO_MAX_STREAMS",
                     &max_streams) != 0
        || mg_parse_ll(mg_env("MANGOO_PROVIDER_TIMEOUT", "60"), 1, 3600,
                       "MANGOO_PROVIDER_TIMEOUT", &timeout) != 0
        || mg_parse_ll(mg_env("MANGOO_PROVIDER_ATTEMPTS", "3"), 1, 10,
                       "MANGOO_PROVIDER_ATTEMPTS", &attempts) != 0
        || mg_parse_ll(mg_env("MANGOO_PROVIDER_BACKOFF_MS", "250"), 1, 60000,
                       "MANGOO_PROVIDER_BACKOFF_MS", &backoff) != 0
        || mg_parse_ll(mg_env("MANGOO_HISTORY_TOKENS", "8000"), 0, 10000000,
                       "MANGOO_HISTORY_TOKENS", &history) != 0
        || mg_parse_ll(mg_env("MANGOO_DAILY_TOKEN_QUOTA", "0"), 0, 1000000000000LL,
                       "MANGOO_DAILY_TOKEN_QUOTA", &quota) != 0
        || mg_parse_ll(mg_env("MANGOO_MESSAGE_MAX", "32000"), 1, 1000000,
                       "MANGOO_MESSAGE_MAX", &msg_max) != 0
        || mg_parse_ll(mg_env("MANGOO_AGENT_TURN_TOKENS", "200000"), 1, 100000000,
                       "MANGOO_AGENT_TURN_TOKENS", &turn_tokens) != 0
        || mg_parse_ll(mg_env("MANGOO_STREAM_BATCH_MS", "2"), 0, 1000,
                       "MANGOO_STREAM_BATCH_MS", &batch) != 0
        || mg_parse_ll(mg_env("MANGOO_STREAM_GRACE", MG_STREAM_GRACE_DEFAULT), 0, 3600,
                       "MANGOO_STREAM_GRACE", &grace) != 0
        || mg_parse_ll(mg_env("MANGOO_STREAM_REPLAY", MG_STREAM_REPLAY_DEFAULT), 512, 1048576,
                       "MANGOO_STREAM_REPLAY", &replay) != 0)
    {
        return -1;
    }
    st->max_streams = max_streams;
    st->idle_timeout_ms = (long) timeout * 1000;
    st->connect_timeout_ms = 5000;
    st->max_attempts = (int) attempts;
    st->backoff_ms = (long) backoff;
    st->ca_file = mg_env("MANGOO_CA_FILE", NULL);
    st->batch_ms = (long) batch;
    st->grace_ms = (long) grace * 1000;
    st->replay_max = (size_t) replay;
    mg_chat_cfg.max_streams = max_streams;
    mg_chat_cfg.history_tokens = (long) history;
    mg_chat_cfg.daily_token_quota = quota;
    mg_chat_cfg.message_max = (long) msg_max;
    mg_chat_cfg.agent_turn_tokens = turn_tokens;
    return mg_providers_init();
}

static int
mg_cmd_serve(mg_cli_t *cli)
{
    mg_auth_config_t   auth;
    mg_signer_t       *signer;
    mg_ingest_config_t ingest_cfg;
    mg_ingest_t       *ingest;
    mg_instance_t     *instance;
    mg_toolrun_config_t tool_cfg;
    long long          tool_output_max, read_cache_mb, emf_interval;
    int                tools;
    sigset_t           block, old;
    char               kid[MG_JWK_KID_MAX + 1];
    char               err[256];
    const char        *metrics, *jobs;
    int                rc;

    if (mg_auth_env(&auth) != 0 || mg_chat_env(cli) != 0) {
        return 2;
    }
    if (mg_drain_parse_timeout(mg_env("MANGOO_STOP_TIMEOUT", MG_STOP_TIMEOUT_DEFAULT),
                               &cli->pool.stop_timeout_ms, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "mangoo-worker: %s\n", err);
        return 2;
    }
    if (mg_fetch_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "mangoo-worker: %s\n", err);
        return 2;
    }

    /* a vanished peer must be an error return, never a signal */
    signal(SIGPIPE, SIG_IGN);
    /* before any thread: libcurl's global setup is not thread-safe */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mg_log_error("serve: cannot initialise libcurl");
        return 1;
    }
    /* before any thread that updates it; the broker renders it.  Off, the
     * families stay NULL: every update is a no-op, the scrape empty. */
    jobs = mg_env("MANGOO_LOG_JOBS", "on");
    if (strcmp(jobs, "on") != 0 && strcmp(jobs, "off") != 0) {
        mg_log_error("serve: MANGOO_LOG_JOBS must be on or off, not \"%s\"", jobs);
        return 2;
    }
    mg_log_set_jobs(strcmp(jobs, "on") == 0);
    metrics = mg_env("MANGOO_METRICS", "on");
    if (strcmp(metrics, "on") != 0 && strcmp(metrics, "off") != 0) {
        mg_log_error("serve: MANGOO_METRICS must be on or off, not \"%s\"", metrics);
        return 2;
    }
    if (strcmp(metrics, "on") == 0 && mg_wm_init() != 0) {
        return 1;
    }
    /* CloudWatch Embedded Metric Format lines (emf.h), read from the registry */
    if (mg_parse_ll(mg_env("MANGOO_EMF_INTERVAL", "0"), 0, 86400, "MANGOO_EMF_INTERVAL",
                    &emf_interval) != 0
        || mg_emf_configure((long) emf_interval, mg_env("MANGOO_EMF_SERVICE", NULL)) != 0
        || (emf_interval > 0 && strcmp(metrics, "on") != 0))
    {
        mg_log_error("serve: MANGOO_EMF_INTERVAL needs MANGOO_METRICS on and MANGOO_EMF_SERVICE "
                     "of 1 to %d characters", MG_EMF_SERVICE_MAX);
        mg_wm_free();
        return 2;
    }

    if (!cli->no_migrate && mg_migrate(cli->pool.conninfo, cli->sql_dir) != 0) {
        mg_log_error("serve: migrations failed, not starting");
        mg_wm_free();
        return 1;
    }

    /* no key yet is not fatal: Cognito deployments never sign, and a key
     * made later (keygen) is picked up without a restart */
    if (mg_keys_current(cli->key_dir, kid) == 0) {
        mg_log_warn("serve: no signing key in %s: local logins fail until "
                    "`mangoo-worker keygen --dir %s`", cli->key_dir, cli->key_dir);
    }
    signer = mg_signer_new(cli->key_dir, MG_SIGNER_CHECK_MS);
    if (signer == NULL) {
        mg_log_error("serve: out of memory");
        mg_wm_free();
        return 1;
    }
    auth.signer = signer;
    mg_auth_configure(&auth);
    if (mg_perm_configure(mg_env("MANGOO_CREATE_GROUP", NULL),
                          mg_env("MANGOO_PUBLISH_GROUP", NULL)) != 0)
    {
        fprintf(stderr, "mangoo-worker: MANGOO_CREATE_GROUP and MANGOO_PUBLISH_GROUP must be "
                "1 to 128 printable characters without spaces\n");
        mg_auth_configure(NULL);
        mg_signer_free(signer);
        mg_wm_free();
        return 2;
    }

    /* the ingest threads, created with the stop signals blocked so the
     * broker keeps them */
    if (mg_ingest_env(&ingest_cfg) != 0
        || mg_parse_int(mg_env("MANGOO_TOOL_THREADS", "4"), 1, 256, "MANGOO_TOOL_THREADS",
                        &tool_cfg.threads) != 0
        || mg_parse_ll(mg_env("MANGOO_TOOL_OUTPUT_MAX", "16384"), 256, 1024 * 1024,
                       "MANGOO_TOOL_OUTPUT_MAX", &tool_output_max) != 0
        || mg_parse_ll(mg_env("MANGOO_READ_CACHE_MB", "32"), 0, 65536, "MANGOO_READ_CACHE_MB",
                       &read_cache_mb) != 0)
    {
        mg_auth_configure(NULL);
        mg_signer_free(signer);
        mg_wm_free();
        return 2;
    }
    mg_rcache_configure((size_t) read_cache_mb * 1024 * 1024);
    ingest_cfg.conninfo = cli->pool.conninfo;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    ingest = mg_ingest_start(&ingest_cfg);
    /* this process's instance lock and the sweep of dead ones' turns */
    instance = mg_instance_init() == 0 ? mg_instance_start(cli->pool.conninfo) : NULL;
    /* the agents' tool threads; their results go to the stream engine */
    tool_cfg.conninfo = cli->pool.conninfo;
    tool_cfg.output_max = (size_t) tool_output_max;
    mg_subagent_set_self(cli->pool.bind);
    tools = mg_toolrun_start(&tool_cfg, mg_streams_tool_done) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!tools) {
        mg_log_warn("serve: no tool threads: agents' tool calls fail");
    }
    if (instance == NULL) {
        /* without its lock, other processes would sweep this one's turns */
        mg_log_error("serve: no instance id or lock thread, not starting");
        mg_ingest_stop(ingest);
        if (tools) {
            mg_toolrun_stop();
        }
        mg_auth_configure(NULL);
        mg_signer_free(signer);
        mg_wm_free();
        return 1;
    }

    rc = mg_pool_run(&cli->pool);
    mg_ingest_stop(ingest);
    if (tools && rc != 1) {
        mg_toolrun_stop();
        mg_mcp_registry_clear();            /* stdio servers' processes end with us */
    }
    if (rc == 1) {
        /* jobs still running hold the pool's memory and sockets: leave now
         * (the lock goes with the process; their turns are swept) */
        _exit(0);
    }
    /* last: every answer is stored, so none is left to sweep */
    mg_instance_stop(instance);
    mg_rcache_clear();
    mg_auth_configure(NULL);
    mg_signer_free(signer);
    mg_wm_free();                           /* every thread that counted is joined */
    return rc == 0 ? 0 : 1;
}

static int
mg_cmd_keygen(mg_cli_t *cli)
{
    char kid[MG_JWK_KID_MAX + 1];

    if (cli->dir == NULL) {
        fprintf(stderr, "mangoo-worker: keygen needs --dir DIR\n");
        return 2;
    }
    if (cli->rotate && cli->retire != NULL) {
        fprintf(stderr, "mangoo-worker: keygen takes --rotate or --retire, not both\n");
        return 2;
    }
    if (cli->retire != NULL) {
        return mg_keys_retire(cli->dir, cli->retire) == 0 ? 0 : 1;
    }
    if (cli->rotate) {
        if (mg_keygen_rotate(cli->dir, MG_ROTATE_PUBLISH_MS, kid) != 0) {
            return 1;
        }
    } else if (mg_keygen(cli->dir, kid) != 0) {
        return 1;
    }
    printf("%s\n", kid);
    return 0;
}

static int
mg_cmd_token(mg_cli_t *cli)
{
    char   err[256];
    char  *token;

    if (cli->token.key_dir == NULL || cli->token.sub == NULL) {
        fprintf(stderr, "mangoo-worker: token needs --key-dir DIR and --sub SUB\n");
        return 2;
    }
    token = mg_token_make(&cli->token, err, sizeof(err));
    if (token == NULL) {
        fprintf(stderr, "mangoo-worker: token: %s\n", err);
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

/* One fetch through the knowledge base's guard, for operators and tests. */
static int
mg_cmd_fetch(mg_cli_t *cli)
{
    char    err[512], type[128];
    char   *body;
    size_t  len;

    if (cli->url == NULL) {
        fprintf(stderr, "mangoo-worker: fetch needs a URL\n");
        return 2;
    }
    if (mg_fetch_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "mangoo-worker: %s\n", err);
        return 2;
    }
    if (mg_fetch_url(cli->url, &body, &len, type, sizeof(type), err, sizeof(err)) != 0) {
        fprintf(stderr, "mangoo-worker: fetch: %s\n", err);
        return 1;
    }
    printf("%s %zu\n", type, len);
    free(body);
    return 0;
}

int
main(int argc, char **argv)
{
    const mg_command_t  *cmd = NULL;
    mg_cli_t             cli;
    mg_log_level_t       level;
    int                  rc;

    memset(&cli, 0, sizeof(cli));

    if (mg_log_parse_level(mg_env("MANGOO_LOG_LEVEL", "info"), &level) == 0) {
        mg_log_set_level(level);
    }

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0)
    {
        fputs(mg_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "mcp-check") == 0) {
        signal(SIGPIPE, SIG_IGN);
        return mg_mcp_check_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "metrics") == 0) {
        return mg_scrape_main(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof(mg_commands) / sizeof(mg_commands[0]); i++) {
        if (strcmp(argv[1], mg_commands[i].name) == 0) {
            cmd = &mg_commands[i];
        }
    }
    if (cmd == NULL) {
        fprintf(stderr, "mangoo-worker: unknown command \"%s\"\n%s", argv[1], mg_usage);
        return 2;
    }

    rc = mg_cli_parse(cmd, argc - 1, argv + 1, &cli);
    if (rc != 0) {
        if (rc > 0) {
            fputs(mg_usage, stdout);
        }
        free(cli.groups);
        return rc > 0 ? 0 : 2;
    }

    /* a service's log is read by machines, a command's by people */
    if (mg_log_set_format(mg_env("MANGOO_LOG_FORMAT",
                                 strcmp(cmd->name, "serve") == 0 ? "json" : "text")) != 0)
    {
        fprintf(stderr, "mangoo-worker: MANGOO_LOG_FORMAT must be json or text\n");
        free(cli.groups);
        return 2;
    }

    if (strcmp(cmd->name, "serve") == 0) {
        rc = mg_cmd_serve(&cli);
    } else if (strcmp(cmd->name, "migrate") == 0) {
        rc = mg_migrate(cli.pool.conninfo, cli.sql_dir) == 0 ? 0 : 1;
    } else if (strcmp(cmd->name, "keygen") == 0) {
        rc = mg_cmd_keygen(&cli);
    } else {
        rc = strcmp(cmd->name, "fetch") == 0 ? mg_cmd_fetch(&cli) : mg_cmd_token(&cli);
    }
    free(cli.groups);
    return rc;
}
