/*
 * mg_signer: owns the worker's copy of the signing key.  A mutex guards
 * the key, its kid and what DIR/current looked like when it was loaded.
 * Signing itself runs outside the lock on a reference of its own
 * (EVP_PKEY_up_ref), so threads sign in parallel and a rotation may swap
 * the key while older signatures are still being made.
 *
 * DIR/current is replaced by rename, so a new inode (or mtime or size)
 * means "look again".  When the new key cannot be loaded the old one stays
 * in use and the next check tries again: a half-finished rotation must not
 * stop logins.
 */
#include "identity/signer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/clock.h"
#include "util/log.h"
#include "identity/tokens.h"

#define MG_SIGNER_PATH_MAX 4096

struct mg_signer_s {
    pthread_mutex_t  lock;
    char            *dir;
    long long        check_ms;
    long long        checked_ms;        /* monotonic; 0: never */
    EVP_PKEY        *key;               /* NULL until a key loads */
    char             kid[MG_JWK_KID_MAX + 1];
    struct stat      seen;              /* DIR/current when key was loaded */
    int              warned;            /* "no key" logged since the last success */
};

mg_signer_t *
mg_signer_new(const char *dir, long long check_ms)
{
    mg_signer_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->dir = strdup(dir);
    if (s->dir == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->dir);
        free(s);
        return NULL;
    }
    s->check_ms = check_ms;
    return s;
}

void
mg_signer_free(mg_signer_t *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_destroy(&s->lock);
    EVP_PKEY_free(s->key);
    free(s->dir);
    free(s);
}

static int
mg_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec
           && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Load the current key if DIR/current changed.  Lock held.  Failures keep
 * the key in use and are logged once until a load succeeds again. */
static void
mg_signer_check_locked(mg_signer_t *s)
{
    char          path[MG_SIGNER_PATH_MAX], kid[MG_JWK_KID_MAX + 1];
    struct stat   st;
    EVP_PKEY     *key;

    snprintf(path, sizeof(path), "%s/current", s->dir);
    if (stat(path, &st) != 0) {
        if (!s->warned) {
            mg_log_warn("signer: no signing key: %s: %s%s", path, strerror(errno),
                        s->key ? " (keeping the key in use)" : "");
            s->warned = 1;
        }
        return;
    }
    if (s->key != NULL && mg_same_file(&st, &s->seen)) {
        return;
    }
    if (mg_keys_current(s->dir, kid) <= 0) {
        s->warned = 1;                  /* logged by mg_keys_current */
        return;
    }
    if (s->key != NULL && strcmp(kid, s->kid) == 0) {
        s->seen = st;                   /* rewritten, same key */
        return;
    }
    if ((size_t) snprintf(path, sizeof(path), "%s/%s.pem", s->dir, kid) >= sizeof(path)) {
        mg_log_error("signer: key directory name too long");
        return;
    }
    key = mg_jwk_load_pem(path);
    if (key == NULL) {
        if (!s->warned) {
            mg_log_error("signer: cannot load %s%s", path,
                         s->key ? " (keeping the key in use)" : "");
            s->warned = 1;
        }
        return;
    }
    EVP_PKEY_free(s->key);
    s->key = key;
    s->seen = st;
    s->warned = 0;
    mg_log_info("signer: signing with key %s", kid);
    memcpy(s->kid, kid, sizeof(s->kid));
}

char *
mg_signer_sign(mg_signer_t *s, const json_t *claims, char *kid_out)
{
    EVP_PKEY   *key = NULL;
    char        kid[MG_JWK_KID_MAX + 1];
    char       *token;
    long long   now = mg_now_ms();

    pthread_mutex_lock(&s->lock);
    if (s->checked_ms == 0 || now - s->checked_ms >= s->check_ms) {
        s->checked_ms = now;
        mg_signer_check_locked(s);
    }
    if (s->key != NULL && EVP_PKEY_up_ref(s->key) == 1) {
        key = s->key;
        memcpy(kid, s->kid, sizeof(kid));
    }
    pthread_mutex_unlock(&s->lock);

    if (key == NULL) {
        return NULL;
    }
    token = mg_jwt_sign(key, kid, claims);
    EVP_PKEY_free(key);
    if (token == NULL) {
        mg_log_error("signer: signing with key %s failed", kid);
        return NULL;
    }
    if (kid_out != NULL) {
        memcpy(kid_out, kid, sizeof(kid));
    }
    return token;
}
