/* vectors: finding and reading the conformance vectors kept outside the
 * repository (MANGOO_VECTORS, else ../shared/vectors), for the unit tests
 * that check against them. */
#ifndef MG_TEST_VECTORS_H
#define MG_TEST_VECTORS_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The folder sub of the vectors into dir, or 0 when it is absent, as it
 * may be where only the repository is checked out: then said out loud,
 * naming what is skipped. */
static inline int
vectors_dir(const char *sub, const char *skipped, char *dir, size_t len)
{
    const char   *root = getenv("MANGOO_VECTORS");
    struct stat   st;

    if (root == NULL || root[0] == '\0') {
        root = "../shared/vectors";
    }
    snprintf(dir, len, "%s/%s", root, sub);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("*** conformance vectors not found at %s: SKIPPING %s (set MANGOO_VECTORS) ***\n",
               dir, skipped);
        return 0;
    }
    return 1;
}

/* The whole file with a NUL after its *len bytes (len may be NULL), to
 * free; NULL when it cannot be opened. */
static inline void *
vectors_read(const char *path, size_t *len)
{
    FILE   *f = fopen(path, "rb");
    char   *buf;
    long    n;

    if (f == NULL) {
        return NULL;
    }
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    buf = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL) {
        *len = (size_t) n;
    }
    return buf;
}

/* vectors_read for a file that must be there: the test fails without it. */
static inline void *
vectors_must_read(const char *path, size_t *len)
{
    void  *buf = vectors_read(path, len);

    ck_assert_msg(buf != NULL, "cannot open %s: %s", path, strerror(errno));
    return buf;
}

#endif
