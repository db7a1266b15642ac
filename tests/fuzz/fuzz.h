/*
 * fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share.  Each harness
 * calls the project's own parsers (linked from build/fuzz/, the same
 * sources under ASan and UBSan); nothing here parses anything.
 *
 * Stream parsers are fed the way the network feeds them: in pieces.  A
 * harness of one takes the first input byte as the piece plan: 0 hands
 * everything over at once, n > 0 cuts pieces of 1..n bytes, their sizes
 * drawn by a small generator seeded with n, so an input replays exactly.
 */
#ifndef MG_FUZZ_H
#define MG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t  state;
    unsigned  max;          /* 0: one piece */
} mg_fuzz_pieces_t;

static inline void
mg_fuzz_pieces_init(mg_fuzz_pieces_t *p, uint8_t plan)
{
    p->state = 0x9e3779b9u ^ plan;
    p->max = plan;
}

/* The size of the next piece out of left bytes (left > 0). */
static inline size_t
mg_fuzz_piece(mg_fuzz_pieces_t *p, size_t left)
{
    size_t n;

    if (p->max == 0) {
        return left;
    }
    p->state ^= p->state << 13;
    p->state ^= p->state >> 17;
    p->state ^= p->state << 5;
    n = 1 + p->state % p->max;
    return n < left ? n : left;
}

/* A malloc'd copy of data holding exactly len bytes (ASan sees any read
 * past them) or, with nul, len bytes and a NUL.  Never NULL for len 0. */
static inline char *
mg_fuzz_dup(const uint8_t *data, size_t len, int nul)
{
    char *p = malloc(len + (nul ? 1 : 0) + (len == 0 && !nul));

    if (p == NULL) {
        abort();
    }
    memcpy(p, data, len);
    if (nul) {
        p[len] = '\0';
    }
    return p;
}

/* Split data at the first NUL: *a (len *alen) before it, *b the rest
 * (NULL, 0 when there is no NUL). */
static inline void
mg_fuzz_split(const uint8_t *data, size_t len, const uint8_t **a, size_t *alen,
              const uint8_t **b, size_t *blen)
{
    const uint8_t *z = memchr(data, 0, len);

    *a = data;
    *alen = z ? (size_t) (z - data) : len;
    *b = z ? z + 1 : NULL;
    *blen = z ? len - *alen - 1 : 0;
}

#endif
