/*
 * fuzz_multipart: the upload reader (mg_multipart_file in
 * worker/jobs/documents.c), which takes a body's framing apart before
 * anything is stored.  Input: the Content-Type header value, a NUL, then
 * the body (no NUL: the content type is the default one below and all of
 * the input is the body).  What it finds must lie inside the body.
 */
#include <assert.h>

#include "fuzz.h"
#include "jobs/jobs.h"

#define MG_FUZZ_CT "multipart/form-data; boundary=XyZ"

static int
mg_fuzz_inside(const char *p, size_t n, const char *buf, size_t len)
{
    return n == 0 || (p >= buf && p + n <= buf + len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t        *ct, *body;
    size_t                ctlen, blen;
    char                 *ctbuf, *bbuf;
    mg_multipart_file_t   f;

    mg_fuzz_split(data, size, &ct, &ctlen, &body, &blen);
    if (body == NULL) {
        ct = (const uint8_t *) MG_FUZZ_CT;
        ctlen = strlen(MG_FUZZ_CT);
        body = data;
        blen = size;
    }
    ctbuf = mg_fuzz_dup(ct, ctlen, 0);
    bbuf = mg_fuzz_dup(body, blen, 0);
    if (mg_multipart_file(ctbuf, ctlen, bbuf, blen, &f) == 0) {
        assert(mg_fuzz_inside(f.data, f.len, bbuf, blen));
        assert(mg_fuzz_inside(f.filename, f.filename_len, bbuf, blen));
        assert(mg_fuzz_inside(f.ctype, f.ctype_len, bbuf, blen));
    }
    free(ctbuf);
    free(bbuf);
    return 0;
}
