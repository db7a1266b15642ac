/*
 * fuzz_extract_pdf: PDF documents to text blocks (poppler-glib, then
 * extract.c's paragraphs and pages).  Poppler is large and slow on big
 * inputs: inputs over 64 KiB are skipped so that the fuzzer spends its
 * time on structure, and runs set -timeout per input.  Input: the file.
 */
#include "fuzz_extract.h"

#define MG_FUZZ_PDF_MAX (64 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MG_FUZZ_PDF_MAX) {
        return 0;
    }
    mg_fuzz_extract("application/pdf", data, size);
    return 0;
}
