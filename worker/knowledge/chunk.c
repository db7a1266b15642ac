/*
 * chunk: an extracted document -> overlapping chunks of about
 * target_tokens tokens, by the same estimate the chat path uses
 * (mg_tokens_estimate, bytes / 4).
 *
 * First every block becomes one or more "units" of at most
 * target - overlap tokens: a block that fits is one unit; a larger one is
 * cut at sentence ends, a sentence too long at spaces, a word too long at
 * a UTF-8 character boundary.  Units are then packed greedily into chunks.
 * A heading starts a new chunk (without overlap) once the current one
 * holds at least a quarter of the target; otherwise the next chunk starts
 * inside the previous one, at most overlap_tokens before its end, at a unit
 * start when one lies there, else at a sentence's start, else a word's.
 *
 * Invariants: every chunk is a non-empty [start, end) of doc->text on
 * UTF-8 character boundaries, trimmed of white space, no larger than the
 * target (except when a single unit plus overlap is forced in to make
 * progress); starts strictly increase; page and heading path are those in
 * force at the chunk's start.  Same input, same chunks.
 */
#include "knowledge/chunk.h"

#include <stdlib.h>
#include <string.h>

#include "providers/provider.h"     /* mg_tokens_estimate */

#define MG_CHUNK_HEADING_MAX  200   /* bytes of one heading in a path */

typedef struct {
    size_t  start, end;
    int     page;
    int     heading;                /* 1: the unit is a heading block */
    size_t  path;                   /* index into the path strings */
} mg_unit_t;

typedef struct {
    mg_unit_t  *units;
    size_t      n, cap;
    char      **paths;
    size_t      npaths, pcap;
    int         oom;
} mg_chunker_t;

static int
mg_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int
mg_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

static void
mg_unit_add(mg_chunker_t *c, const char *text, size_t s, size_t e, int page, int heading)
{
    while (s < e && mg_space((unsigned char) text[s])) {
        s++;
    }
    while (e > s && mg_space((unsigned char) text[e - 1])) {
        e--;
    }
    if (s == e || c->oom) {
        return;
    }
    if (c->n == c->cap) {
        size_t      cap = c->cap ? c->cap * 2 : 64;
        mg_unit_t  *grown = realloc(c->units, cap * sizeof(*grown));

        if (grown == NULL) {
            c->oom = 1;
            return;
        }
        c->units = grown;
        c->cap = cap;
    }
    c->units[c->n].start = s;
    c->units[c->n].end = e;
    c->units[c->n].page = page;
    c->units[c->n].heading = heading;
    c->units[c->n].path = c->npaths - 1;
    c->n++;
}

/* Is text[i] just past the end of a sentence? */
static int
mg_sentence_end(const char *text, size_t s, size_t i)
{
    unsigned char  p;

    if (i <= s) {
        return 0;
    }
    if (text[i - 1] == '\n') {
        return 1;
    }
    if (i >= s + 3 && memcmp(text + i - 3, "\xE3\x80\x82", 3) == 0) {   /* 。 */
        return 1;
    }
    p = (unsigned char) text[i - 1];
    return (p == '.' || p == '!' || p == '?') && mg_space((unsigned char) text[i]);
}

/* Split [s, e) into units of at most max bytes. */
static void
mg_split_block(mg_chunker_t *c, const char *text, size_t s, size_t e, int page, size_t max)
{
    while (s < e && !c->oom) {
        size_t  cut = 0, limit;

        while (s < e && mg_space((unsigned char) text[s])) {
            s++;
        }
        if (e - s <= max) {
            mg_unit_add(c, text, s, e, page, 0);
            return;
        }
        limit = s + max;
        for (size_t i = limit; i > s + max / 4 && cut == 0; i--) {
            if (mg_sentence_end(text, s, i)) {
                cut = i;
            }
        }
        for (size_t i = limit; i > s && cut == 0; i--) {
            if (mg_space((unsigned char) text[i])) {
                cut = i;
            }
        }
        if (cut == 0) {
            cut = limit;
            while (cut > s + 1 && mg_cont((unsigned char) text[cut])) {
                cut--;
            }
        }
        mg_unit_add(c, text, s, cut, page, 0);
        s = cut;
    }
}

/* Heading stack -> a new path string "H1 > H2", white space collapsed. */
static void
mg_path_push(mg_chunker_t *c, const char *const *levels, const size_t *lens)
{
    size_t  cap = 1, n = 0;
    char   *p;

    for (int i = 0; i < 6; i++) {
        cap += lens[i] + 3;
    }
    p = malloc(cap);
    if (p == NULL) {
        c->oom = 1;
        return;
    }
    for (int i = 0; i < 6; i++) {
        int space = 0;

        if (levels[i] == NULL) {
            continue;
        }
        if (n > 0) {
            memcpy(p + n, " > ", 3);
            n += 3;
        }
        for (size_t k = 0; k < lens[i]; k++) {
            unsigned char ch = (unsigned char) levels[i][k];

            if (mg_space(ch)) {
                space = 1;
                continue;
            }
            if (space) {
                p[n++] = ' ';
                space = 0;
            }
            p[n++] = (char) ch;
        }
    }
    p[n] = '\0';
    if (c->npaths == c->pcap) {
        size_t   pcap = c->pcap ? c->pcap * 2 : 16;
        char   **grown = realloc(c->paths, pcap * sizeof(*grown));

        if (grown == NULL) {
            free(p);
            c->oom = 1;
            return;
        }
        c->paths = grown;
        c->pcap = pcap;
    }
    c->paths[c->npaths++] = p;
}

static void
mg_units(mg_chunker_t *c, const mg_doc_t *doc, size_t max)
{
    const char  *levels[6] = { NULL };
    size_t       lens[6] = { 0 };

    mg_path_push(c, levels, lens);
    for (size_t i = 0; i < doc->nblocks && !c->oom; i++) {
        const mg_block_t *b = &doc->blocks[i];

        if (b->start >= b->end || b->end > doc->len) {
            continue;
        }
        if (b->kind == MG_BLOCK_HEADING) {
            int     lv = b->level >= 1 && b->level <= 6 ? b->level : 1;
            size_t  len = b->end - b->start;

            if (len > MG_CHUNK_HEADING_MAX) {
                len = MG_CHUNK_HEADING_MAX;
                while (len > 0 && mg_cont((unsigned char) doc->text[b->start + len])) {
                    len--;
                }
            }
            levels[lv - 1] = doc->text + b->start;
            lens[lv - 1] = len;
            for (int k = lv; k < 6; k++) {
                levels[k] = NULL;
                lens[k] = 0;
            }
            mg_path_push(c, levels, lens);
            if (b->end - b->start <= max) {
                mg_unit_add(c, doc->text, b->start, b->end, b->page, 1);
            } else {
                mg_split_block(c, doc->text, b->start, b->end, b->page, max);
            }
            continue;
        }
        mg_split_block(c, doc->text, b->start, b->end, b->page, max);
    }
}

/* Where the chunk after [s, end of unit last) begins so that it repeats
 * about ov bytes: the first unit start after s at or after end - ov, else
 * the first character after white space at or after end - ov inside unit
 * last; 0 when there is none (no overlap). */
static size_t
mg_overlap_start(const mg_chunker_t *c, const char *text, size_t s, size_t ku, size_t last,
                 size_t ov)
{
    size_t  e = c->units[last].end, from = e > ov ? e - ov : 0;

    for (size_t u = ku + 1; u <= last; u++) {
        if (c->units[u].start >= from && c->units[u].start > s) {
            return c->units[u].start;
        }
    }
    if (from < c->units[last].start) {
        from = c->units[last].start;
    }
    if (from <= s) {
        from = s + 1;
    }
    /* a sentence's start, else a word's */
    for (size_t i = from; i < e; i++) {
        if (!mg_space((unsigned char) text[i]) && mg_space((unsigned char) text[i - 1])
            && i >= 2 && (text[i - 1] == '\n' || text[i - 2] == '.' || text[i - 2] == '!'
                          || text[i - 2] == '?'))
        {
            return i;
        }
    }
    for (size_t i = from; i < e; i++) {
        if (mg_space((unsigned char) text[i - 1]) && !mg_space((unsigned char) text[i])) {
            return i;
        }
    }
    return 0;
}

static int
mg_chunk_push(mg_chunk_t **out, size_t *n, size_t *cap, size_t s, size_t e, int page,
              const char *path)
{
    if (*n == *cap) {
        size_t       ncap = *cap ? *cap * 2 : 16;
        mg_chunk_t  *grown = realloc(*out, ncap * sizeof(*grown));

        if (grown == NULL) {
            return -1;
        }
        *out = grown;
        *cap = ncap;
    }
    (*out)[*n].start = s;
    (*out)[*n].end = e;
    (*out)[*n].page = page;
    (*out)[*n].heading = strdup(path);
    if ((*out)[*n].heading == NULL) {
        return -1;
    }
    (*n)++;
    return 0;
}

int
mg_chunk(const mg_doc_t *doc, const mg_chunk_opts_t *opts, mg_chunk_t **out, size_t *n)
{
    mg_chunker_t  c;
    mg_chunk_t   *chunks = NULL;
    size_t        nchunks = 0, cap = 0, next = 0, s = 0, ku = 0, os, unit_max;
    int           fresh = 1;
    long          target = opts != NULL && opts->target_tokens > 0 ? opts->target_tokens : 600;
    long          overlap = opts != NULL && opts->overlap_tokens >= 0 ? opts->overlap_tokens : 80;
    int           rc = -1;

    *out = NULL;
    *n = 0;
    if (doc == NULL || (doc->len > 0 && doc->text == NULL)) {
        return -1;
    }
    if (target < 16) {
        target = 16;
    }
    if (overlap > target / 2) {
        overlap = target / 2;
    }
    /* a unit plus the overlap before it (and a separator) still fits */
    unit_max = (size_t) (target - overlap - 1) * 4;
    memset(&c, 0, sizeof(c));
    mg_units(&c, doc, unit_max);
    if (c.oom) {
        goto done;
    }

    while (next < c.n) {
        size_t  last = next;

        if (fresh) {
            s = c.units[next].start;
            ku = next;
        }
        /* the unit next always goes in; more while they fit, and until a
         * heading once the chunk holds a quarter of the target */
        for (size_t v = next + 1; v < c.n; v++) {
            if (c.units[v].heading && mg_tokens_estimate(c.units[v - 1].end - s) >= target / 4) {
                break;
            }
            if (mg_tokens_estimate(c.units[v].end - s) > target) {
                break;
            }
            last = v;
        }
        if (mg_chunk_push(&chunks, &nchunks, &cap, s, c.units[last].end, c.units[ku].page,
                          c.paths[c.units[ku].path]) != 0)
        {
            goto done;
        }
        next = last + 1;
        fresh = 1;
        if (next >= c.n || c.units[next].heading || overlap == 0) {
            continue;               /* a new section starts clean */
        }
        os = mg_overlap_start(&c, doc->text, s, ku, last, (size_t) overlap * 4);
        if (os == 0 || os <= s) {
            continue;
        }
        s = os;
        while (ku < last && c.units[ku + 1].start <= os) {
            ku++;
        }
        fresh = 0;
    }
    rc = 0;

done:
    for (size_t i = 0; i < c.npaths; i++) {
        free(c.paths[i]);
    }
    free(c.paths);
    free(c.units);
    if (rc != 0) {
        mg_chunks_free(chunks, nchunks);
        return -1;
    }
    *out = chunks;
    *n = nchunks;
    return 0;
}

void
mg_chunks_free(mg_chunk_t *chunks, size_t n)
{
    if (chunks == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(chunks[i].heading);
    }
    free(chunks);
}
