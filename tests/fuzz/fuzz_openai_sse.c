/*
 * fuzz_openai_sse: the OpenAI-compatible provider's answer parser
 * (worker/providers/openai.c: "data:" lines reassembled across reads,
 * each a JSON chunk with content, tool-call deltas, finish_reason, usage
 * or an error), fed in pieces as the stream engine feeds it, then ended.
 * Input: one piece-plan byte (fuzz.h), then the SSE body.
 */
#include "fuzz.h"
#include "fuzz_provider.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mg_fuzz_provider_setup();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    mg_fuzz_provider_feed(&mg_provider_openai, data[0], data + 1, size - 1);
    return 0;
}
