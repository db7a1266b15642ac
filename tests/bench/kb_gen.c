/*
 * kb-gen: the knowledge benchmark's corpus generator (libc and libm only,
 * deterministic for a seed).
 *
 *   kb-gen docs DIR MB [--seed S]
 *        writes about MB megabytes of Markdown and plain-text documents
 *        (doc-0000.md, doc-0001.txt, ...: a title, headed sections,
 *        paragraphs of sentences from the word list), about 100 KB each,
 *        every one distinct.
 *   kb-gen chunks N KB_ID [--clusters C] [--per-doc P] [--noise X] [--seed S]
 *        N rows for `COPY knowledge_chunks (knowledge_base_id, document_id,
 *        chunk_index, heading, text, embedding) FROM STDIN` on stdout:
 *        1024-dimensional unit vectors, each a cluster centre (C of them,
 *        random unit vectors) plus Gaussian noise of norm about X,
 *        normalised; chunk i belongs to cluster i % C and to document
 *        i / P, whose id is 00000000-0000-4000-8000-<i/P as 12 hex digits>
 *        (the bench inserts those documents).  The text is about 80 words:
 *        most from the cluster's own 40 topic words, the rest common words.
 *   kb-gen queries N [--clusters C] [--noise X] [--seed S]
 *        N held-out queries, "text<TAB>[vector]" a line: query j is near
 *        centre j % C (the same centres as `chunks` with the same seed and
 *        C; new noise), its text four of that cluster's topic words.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/embed_wire.h"

#define DIM          1024
#define TOPIC_WORDS  40
#define VOCAB        20000

static const char *common[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on",
    "be", "by", "this", "are", "from", "at", "or", "an", "which", "have", "not", "but",
    "can", "all", "when", "there", "their", "more", "also", "into", "other", "some",
    "than", "these", "time", "only", "new", "used", "may", "such", "first", "each",
    "system", "data", "process", "between", "after", "most", "where", "both", "through",
    "during", "before", "under", "while", "should", "because", "several", "often",
    "however", "without", "within", "against", "common", "results", "method", "value",
    "level", "number", "part", "form", "case", "point", "group", "area", "state",
    "order", "change", "model", "design", "control", "report", "service", "energy",
    "water", "market", "research", "support", "network", "policy", "history", "table",
};
#define NCOMMON (sizeof(common) / sizeof(common[0]))

static const char *syl[] = {
    "ka", "ter", "mon", "vi", "lo", "ran", "dis", "pe", "tro", "sa", "gen", "mar", "cu",
    "bel", "ti", "nor", "fa", "les", "pro", "du", "ver", "an", "sto", "ri", "col", "me",
    "bra", "tin", "ho", "ques", "lu", "dor", "ne", "gra", "pol", "si", "vel", "ca", "mi",
    "tor",
};
#define NSYL (sizeof(syl) / sizeof(syl[0]))

static uint64_t rng;

static uint64_t
next(void)
{
    /* splitmix64 */
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double
unif(void)
{
    return (next() >> 11) * (1.0 / 9007199254740992.0);
}

static double
gauss(void)
{
    double u = unif(), v = unif();

    if (u < 1e-300) {
        u = 1e-300;
    }
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static char vocab[VOCAB][24];

/* content words made of 2-4 syllables, distinct by construction */
static void
make_vocab(void)
{
    for (int i = 0; i < VOCAB; i++) {
        int n = i, len = 0, k = 2 + i % 3;

        vocab[i][0] = '\0';
        for (int s = 0; s < k; s++) {
            len += snprintf(vocab[i] + len, sizeof(vocab[i]) - len, "%s", syl[n % NSYL]);
            n /= NSYL;
        }
        /* the remainder keeps words of the same length distinct */
        if (n > 0) {
            snprintf(vocab[i] + len, sizeof(vocab[i]) - len, "%s", syl[n % NSYL]);
        }
    }
}

static const char *
topic_word(int cluster, int j)
{
    return vocab[(cluster * TOPIC_WORDS + j) % VOCAB];
}

static const char *
any_word(void)
{
    return unif() < 0.55 ? common[next() % NCOMMON] : vocab[next() % VOCAB];
}

static void
unit_vector(float *v, const float *centre, double noise)
{
    double norm = 0;

    for (int d = 0; d < DIM; d++) {
        v[d] = (float) ((centre ? centre[d] : 0) + (centre ? noise : 1.0) * gauss() / sqrt(DIM));
        norm += (double) v[d] * v[d];
    }
    norm = sqrt(norm);
    for (int d = 0; d < DIM; d++) {
        v[d] = (float) (v[d] / norm);
    }
}

static void
print_vector(FILE *f, const float *v)
{
    fputc('[', f);
    for (int d = 0; d < DIM; d++) {
        fprintf(f, d ? ",%.6f" : "%.6f", v[d]);
    }
    fputc(']', f);
}

static float *
centres(int c)
{
    float *cs = malloc((size_t) c * DIM * sizeof(float));

    if (cs == NULL) {
        perror("malloc");
        exit(1);
    }
    for (int i = 0; i < c; i++) {
        unit_vector(cs + (size_t) i * DIM, NULL, 0);
    }
    return cs;
}

/* one sentence: 6-16 words, capitalised, with a full stop */
static void
sentence(FILE *f, int cluster, double topical)
{
    int n = 6 + (int) (next() % 11);

    for (int i = 0; i < n; i++) {
        const char *w = cluster >= 0 && unif() < topical
                        ? topic_word(cluster, (int) (next() % TOPIC_WORDS)) : any_word();

        if (i == 0) {
            fputc(w[0] - 'a' + 'A', f);
            fputs(w + 1, f);
        } else {
            fputc(' ', f);
            fputs(w, f);
        }
    }
    fputs(". ", f);
}

static int
cmd_docs(const char *dir, double mb)
{
    long     total = 0, want = (long) (mb * 1000000);
    char     path[4096];

    for (int i = 0; total < want; i++) {
        int    md = i % 2 == 0, topic = (int) (next() % 2000);
        FILE  *f;
        long   size;

        snprintf(path, sizeof(path), "%s/doc-%04d.%s", dir, i, md ? "md" : "txt");
        f = fopen(path, "w");
        if (f == NULL) {
            perror(path);
            return 1;
        }
        fprintf(f, "%sReport %d on %s and %s\n\n", md ? "# " : "", i,
                topic_word(topic, 0), topic_word(topic, 1));
        while (ftell(f) < 100000 && total + ftell(f) < want) {
            fprintf(f, "%s%s %s\n\n", md ? "## " : "", topic_word(topic, (int) (next() % TOPIC_WORDS)),
                    any_word());
            for (int p = 0, np = 2 + (int) (next() % 5); p < np; p++) {
                for (int s = 0, ns = 3 + (int) (next() % 6); s < ns; s++) {
                    sentence(f, topic, 0.3);
                }
                fputs("\n\n", f);
            }
        }
        size = ftell(f);
        fclose(f);
        total += size;
    }
    return 0;
}

/* v for text: the workers' local embedder, or centre cl plus noise */
static void
chunk_vector(float *v, const char *text, const float *cs, int cl, double noise)
{
    if (cs == NULL) {
        if (mg_embed_local(text, strlen(text), v) != 0) {
            fprintf(stderr, "kb-gen: nothing to embed in \"%s\"\n", text);
            exit(1);
        }
        return;
    }
    unit_vector(v, cs + (size_t) cl * DIM, noise);
}

static int
cmd_chunks(long n, const char *kb, int c, int per_doc, double noise, int synthetic)
{
    float   *cs = synthetic ? centres(c) : NULL, v[DIM];
    char    *text = NULL;
    size_t   len = 0;

    for (long i = 0; i < n; i++) {
        int    cl = (int) (i % c);
        FILE  *f = open_memstream(&text, &len);

        if (f == NULL) {
            perror("open_memstream");
            return 1;
        }
        for (int s = 0; s < 8; s++) {
            sentence(f, cl, 0.5);
        }
        fclose(f);
        chunk_vector(v, text, cs, cl, noise);
        printf("%s\t00000000-0000-4000-8000-%012lx\t%ld\t%s %s\t%s\t", kb, i / per_doc, i % per_doc,
               topic_word(cl, (int) (next() % TOPIC_WORDS)), topic_word(cl, (int) (next() % TOPIC_WORDS)),
               text);
        print_vector(stdout, v);
        putchar('\n');
        free(text);
        text = NULL;
    }
    free(cs);
    return ferror(stdout) ? 1 : 0;
}

static int
cmd_queries(long n, int c, double noise, int synthetic)
{
    float  *cs = synthetic ? centres(c) : NULL, v[DIM];
    char    text[256];

    rng ^= 0x5DEECE66Dull;      /* held out: other noise than any chunk's */
    for (long j = 0; j < n; j++) {
        int cl = (int) (j % c);

        snprintf(text, sizeof(text), "%s %s %s %s", topic_word(cl, (int) (next() % TOPIC_WORDS)),
                 topic_word(cl, (int) (next() % TOPIC_WORDS)), topic_word(cl, (int) (next() % TOPIC_WORDS)),
                 topic_word(cl, (int) (next() % TOPIC_WORDS)));
        chunk_vector(v, text, cs, cl, noise);
        printf("%s\t", text);
        print_vector(stdout, v);
        putchar('\n');
    }
    free(cs);
    return 0;
}

static void
usage(void)
{
    fputs("usage: kb-gen docs DIR MB | chunks N KB_ID | queries N"
          " [--clusters C] [--per-doc P] [--vectors local|synthetic] [--noise X] [--seed S]\n",
          stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    int     c = 200, per_doc = 100, npos = 0, synthetic = 0;
    double  noise = 0.5;
    char   *pos[4];

    rng = 42;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--clusters") == 0 && i + 1 < argc) {
            c = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--per-doc") == 0 && i + 1 < argc) {
            per_doc = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--vectors") == 0 && i + 1 < argc) {
            synthetic = strcmp(argv[++i], "synthetic") == 0;
            if (!synthetic && strcmp(argv[i], "local") != 0) {
                usage();
            }
        } else if (strcmp(argv[i], "--noise") == 0 && i + 1 < argc) {
            noise = atof(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            rng = strtoull(argv[++i], NULL, 10);
        } else if (npos < 4) {
            pos[npos++] = argv[i];
        } else {
            usage();
        }
    }
    if (npos < 2 || c < 1 || per_doc < 1) {
        usage();
    }
    make_vocab();
    if (strcmp(pos[0], "docs") == 0 && npos == 3) {
        return cmd_docs(pos[1], atof(pos[2]));
    }
    if (strcmp(pos[0], "chunks") == 0 && npos == 3) {
        return cmd_chunks(atol(pos[1]), pos[2], c, per_doc, noise, synthetic);
    }
    if (strcmp(pos[0], "queries") == 0 && npos == 2) {
        return cmd_queries(atol(pos[1]), c, noise, synthetic);
    }
    usage();
    return 2;
}
