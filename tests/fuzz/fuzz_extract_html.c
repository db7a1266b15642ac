/*
 * fuzz_extract_html: HTML documents to text blocks (libxml2's HTML
 * parser, then extract.c's walk: skipped elements, blocks, headings,
 * cells, the charset from the content type).  Input: the page; its first
 * byte also picks the content type's charset parameter.
 */
#include "fuzz_extract.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "text/html", "text/html; charset=utf-8", "text/html; charset=\"iso-8859-1\"",
        "text/html;charset=windows-1252", "text/html; charset=bogus-charset",
    };

    mg_fuzz_extract(types[size > 0 ? data[0] % 5 : 0], data, size);
    return 0;
}
