/*
 * fuzz_extract_text: plain text and Markdown documents to text blocks
 * (UTF-8 checks and cleaning, the binary guess, line normalising, ATX and
 * setext headings, fences, breaks).  Input: the first byte picks plain
 * text or Markdown, the rest is the document.
 */
#include "fuzz_extract.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    mg_fuzz_extract((data[0] & 1) ? "text/markdown; charset=utf-8" : "text/plain",
                    data + 1, size - 1);
    return 0;
}
