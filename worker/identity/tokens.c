/*
 * mg_tokens: owns the key directory layout and token minting used by
 * `mangoo-worker keygen` and `mangoo-worker token`.  Private keys never
 * leave dir/<kid>.pem (0600, in a directory of mode 0711); jwks.json is
 * replaced atomically (temp file + rename) because nginx re-reads it
 * whenever it changes, and must never see half a file.  Nothing here
 * prints or logs a token.
 */
#include "identity/tokens.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/uuid.h"

#define MG_PATH_MAX      4096
#define MG_KEY_DIR_MODE  0711

/* mkdir -p: missing parents get 0755, dir itself mode. */
static int
mg_mkdirs(const char *dir, mode_t mode)
{
    char  path[MG_PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];

            path[i] = '\0';
            if (mkdir(path, c == '\0' ? mode : 0755) == 0) {
                /* the mode asked for, whatever the umask */
                if (c == '\0' && chmod(path, mode) != 0) {
                    return -1;
                }
            } else if (errno != EEXIST) {
                return -1;
            }
            path[i] = c;
        }
    }
    return 0;
}

/* A kid is used as a file name: base64url characters only. */
static int
mg_kid_valid(const char *kid)
{
    size_t n = strlen(kid);

    if (n == 0 || n > MG_JWK_KID_MAX) {
        return 0;
    }
    return strspn(kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* Read dir/current into kid (MG_JWK_KID_MAX + 1).  1 read, 0 absent, -1 error. */
static int
mg_read_current(const char *dir, char *kid)
{
    char    path[MG_PATH_MAX];
    FILE   *f;
    size_t  n;

    snprintf(path, sizeof(path), "%s/current", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        mg_log_error("keys: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(kid, 1, MG_JWK_KID_MAX, f);
    fclose(f);
    kid[n] = '\0';
    kid[strcspn(kid, " \t\r\n")] = '\0';
    if (!mg_kid_valid(kid)) {
        mg_log_error("keys: %s does not hold a key id", path);
        return -1;
    }
    return 1;
}

/* Write data to dir/name atomically with mode. */
static int
mg_write_atomic(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
    char     tmp[MG_PATH_MAX], path[MG_PATH_MAX];
    int      fd = -1, rc = -1;
    size_t   off = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long) getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        mg_log_error("keys: cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);

        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            mg_log_error("keys: cannot write %s: %s", tmp, strerror(errno));
            goto done;
        }
        off += (size_t) w;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        mg_log_error("keys: cannot finish %s: %s", tmp, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        mg_log_error("keys: cannot close %s: %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        mg_log_error("keys: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    rc = 0;

done:
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

static int
mg_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int
mg_jwks_write(const char *dir)
{
    DIR            *d = NULL;
    struct dirent  *e;
    char          **names = NULL, path[MG_PATH_MAX], kid[MG_JWK_KID_MAX + 1];
    size_t          n = 0, cap = 0;
    json_t         *root = NULL, *keys;
    char           *text = NULL;
    EVP_PKEY       *key;
    int             rc = -1;

    d = opendir(dir);
    if (d == NULL) {
        mg_log_error("keys: cannot open %s: %s", dir, strerror(errno));
        goto done;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len <= 4 || strcmp(e->d_name + len - 4, ".pem") != 0) {
            continue;
        }
        if (n == cap) {
            char **grown = realloc(names, (cap ? cap * 2 : 8) * sizeof(*names));

            if (grown == NULL) {
                mg_log_error("keys: out of memory");
                goto done;
            }
            names = grown;
            cap = cap ? cap * 2 : 8;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) {
            mg_log_error("keys: out of memory");
            goto done;
        }
        n++;
    }
    if (n > 0) {
        qsort(names, n, sizeof(*names), mg_strcmp_p);
    }

    root = json_object();
    keys = json_array();
    if (root == NULL || keys == NULL || json_object_set_new(root, "keys", keys) != 0) {
        mg_log_error("keys: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *jwk;

        snprintf(kid, sizeof(kid), "%.*s", (int) (strlen(names[i]) - 4), names[i]);
        if (!mg_kid_valid(kid)) {
            mg_log_warn("keys: skipping %s/%s: not named <kid>.pem", dir, names[i]);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        key = mg_jwk_load_pem(path);
        if (key == NULL) {
            mg_log_error("keys: cannot load %s", path);
            goto done;
        }
        jwk = mg_jwk_public(key, kid);
        EVP_PKEY_free(key);
        if (jwk == NULL || json_array_append_new(keys, jwk) != 0) {
            mg_log_error("keys: cannot export %s", path);
            goto done;
        }
    }

    text = json_dumps(root, JSON_INDENT(2));
    if (text == NULL) {
        mg_log_error("keys: out of memory");
        goto done;
    }
    /* public keys only: readable by the nginx user */
    if (mg_write_atomic(dir, "jwks.json", text, strlen(text), 0644) != 0) {
        goto done;
    }
    rc = 0;

done:
    free(text);
    json_decref(root);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    if (d != NULL) {
        closedir(d);
    }
    return rc;
}

/* Generate a key, save dir/<kid>.pem and rewrite jwks.json with every key
 * (the new one included).  dir/current is not touched.  0 or -1. */
static int
mg_key_add(const char *dir, char *kid_out)
{
    EVP_PKEY  *key = NULL;
    char      *kid = NULL, path[MG_PATH_MAX];
    int        rc = -1;

    key = mg_jwk_generate_rsa(2048);
    if (key == NULL) {
        mg_log_error("keys: cannot generate an RSA key");
        goto done;
    }
    kid = mg_jwk_thumbprint(key);
    if (kid == NULL || !mg_kid_valid(kid)) {
        mg_log_error("keys: cannot compute the key id");
        goto done;
    }
    if ((size_t) snprintf(path, sizeof(path), "%s/%s.pem", dir, kid) >= sizeof(path)) {
        mg_log_error("keys: directory name too long");
        goto done;
    }
    if (mg_jwk_save_pem(key, path) != 0) {
        mg_log_error("keys: cannot write %s", path);
        goto done;
    }
    if (mg_jwks_write(dir) != 0) {
        goto done;
    }
    snprintf(kid_out, MG_JWK_KID_MAX + 1, "%s", kid);
    rc = 0;

done:
    free(kid);
    EVP_PKEY_free(key);
    return rc;
}

static int
mg_write_current(const char *dir, const char *kid)
{
    char line[MG_JWK_KID_MAX + 2];

    snprintf(line, sizeof(line), "%s\n", kid);
    return mg_write_atomic(dir, "current", line, strlen(line), 0600);
}

int
mg_keys_current(const char *dir, char *kid_out)
{
    return mg_read_current(dir, kid_out);
}

int
mg_keygen(const char *dir, char *kid_out)
{
    char  kid[MG_JWK_KID_MAX + 1];
    int   have;

    /* 0711, not 0700: nginx workers run unprivileged (nobody) and must
     * reach dir/jwks.json when they re-read it; the directory stays
     * unlistable and the private keys are 0600 files */
    if (mg_mkdirs(dir, MG_KEY_DIR_MODE) != 0) {
        mg_log_error("keys: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    have = mg_read_current(dir, kid_out);
    if (have != 0) {
        return have > 0 ? 0 : -1;
    }
    /* current last: once it exists, the key and the key set are in place */
    if (mg_key_add(dir, kid) != 0 || mg_write_current(dir, kid) != 0) {
        return -1;
    }
    snprintf(kid_out, MG_JWK_KID_MAX + 1, "%s", kid);
    mg_log_info("keys: new signing key %s in %s", kid, dir);
    return 0;
}

int
mg_keygen_rotate(const char *dir, unsigned publish_wait_ms, char *kid_out)
{
    char  kid[MG_JWK_KID_MAX + 1];

    if (mg_mkdirs(dir, MG_KEY_DIR_MODE) != 0) {
        mg_log_error("keys: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (mg_key_add(dir, kid) != 0) {
        return -1;
    }
    /* Verifiers re-read jwks.json at most once a second; the workers would
     * notice the new current just as fast.  Waiting here means no token
     * carries the new kid before every verifier has had time to learn it. */
    if (publish_wait_ms > 0) {
        struct timespec ts = { (time_t) (publish_wait_ms / 1000),
                               (long) (publish_wait_ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            /* sleep the rest */
        }
    }
    if (mg_write_current(dir, kid) != 0) {
        return -1;
    }
    snprintf(kid_out, MG_JWK_KID_MAX + 1, "%s", kid);
    mg_log_info("keys: signing key is now %s in %s", kid, dir);
    return 0;
}

int
mg_keys_retire(const char *dir, const char *kid)
{
    char  current[MG_JWK_KID_MAX + 1], path[MG_PATH_MAX];
    int   have;

    if (!mg_kid_valid(kid)) {
        mg_log_error("keys: \"%s\" is not a key id", kid);
        return -1;
    }
    have = mg_read_current(dir, current);
    if (have < 0) {
        return -1;
    }
    if (have > 0 && strcmp(current, kid) == 0) {
        mg_log_error("keys: %s is the current signing key: rotate first", kid);
        return -1;
    }
    if ((size_t) snprintf(path, sizeof(path), "%s/%s.pem", dir, kid) >= sizeof(path)) {
        mg_log_error("keys: directory name too long");
        return -1;
    }
    if (unlink(path) != 0) {
        mg_log_error("keys: cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    /* tokens signed with it stop verifying once verifiers re-read this */
    if (mg_jwks_write(dir) != 0) {
        return -1;
    }
    mg_log_info("keys: retired %s from %s", kid, dir);
    return 0;
}

static const char *
mg_env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return (v != NULL && v[0] != '\0') ? v : def;
}

/* The claims of the token, before --claims is merged. */
static json_t *
mg_token_claims(const mg_token_opts_t *o, char *err, size_t errlen)
{
    json_t     *c = NULL, *groups;
    char        jti[MG_UUID_LEN + 1];
    long long   iat = o->has_iat ? o->iat : (long long) time(NULL);
    long long   exp = o->has_exp ? o->exp : iat + o->ttl;

    if (mg_uuid_v4(jti) != 0) {
        snprintf(err, errlen, "no randomness for jti");
        return NULL;
    }
    c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
                  "sub", o->sub,
                  "username", o->username ? o->username : o->sub,
                  "token_use", o->token_use ? o->token_use : "access",
                  "client_id", o->client_id ? o->client_id
                                            : mg_env_or("MANGOO_CLIENT_ID", "mangoo-web"),
                  "iss", o->issuer ? o->issuer : mg_env_or("MANGOO_ISSUER", "mangoo-local"),
                  "iat", (json_int_t) iat,
                  "exp", (json_int_t) exp,
                  "jti", jti);
    if (c == NULL) {
        snprintf(err, errlen, "claims are not valid UTF-8");
        return NULL;
    }
    if (o->has_nbf && json_object_set_new(c, "nbf", json_integer(o->nbf)) != 0) {
        goto oom;
    }
    if (o->ngroups > 0) {
        groups = json_array();
        if (groups == NULL || json_object_set_new(c, "cognito:groups", groups) != 0) {
            goto oom;
        }
        for (size_t i = 0; i < o->ngroups; i++) {
            json_t *g = json_string(o->groups[i]);

            if (g == NULL || json_array_append_new(groups, g) != 0) {
                snprintf(err, errlen, "bad group \"%s\"", o->groups[i]);
                json_decref(c);
                return NULL;
            }
        }
    }
    return c;

oom:
    snprintf(err, errlen, "out of memory");
    json_decref(c);
    return NULL;
}

char *
mg_token_make(const mg_token_opts_t *o, char *err, size_t errlen)
{
    char          kid[MG_JWK_KID_MAX + 1], path[MG_PATH_MAX];
    EVP_PKEY     *key = NULL;
    json_t       *claims = NULL, *extra = NULL, *v;
    json_error_t  jerr;
    const char   *name;
    char         *token = NULL;
    int           have;

    if (o->sub == NULL || o->sub[0] == '\0') {
        snprintf(err, errlen, "--sub is required");
        goto done;
    }
    have = mg_read_current(o->key_dir, kid);
    if (have <= 0) {
        snprintf(err, errlen, "no signing key in %s (run keygen)", o->key_dir);
        goto done;
    }
    snprintf(path, sizeof(path), "%s/%s.pem", o->key_dir, kid);
    key = mg_jwk_load_pem(path);
    if (key == NULL) {
        snprintf(err, errlen, "cannot load %s", path);
        goto done;
    }

    claims = mg_token_claims(o, err, errlen);
    if (claims == NULL) {
        goto done;
    }
    if (o->claims_json != NULL) {
        extra = json_loads(o->claims_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(extra)) {
            snprintf(err, errlen, "--claims must be a JSON object");
            goto done;
        }
        json_object_foreach(extra, name, v) {
            int r = json_is_null(v) ? (json_object_del(claims, name), 0)
                                    : json_object_set(claims, name, v);
            if (r != 0) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
        }
    }

    token = mg_jwt_sign(key, o->kid ? o->kid : kid, claims);
    if (token == NULL) {
        snprintf(err, errlen, "signing failed");
    }

done:
    json_decref(extra);
    json_decref(claims);
    EVP_PKEY_free(key);
    return token;
}
