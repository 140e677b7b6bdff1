/*
 * fuzz_stream_csv.c — `nabla train --stream` input as CSV lines
 * (nb_stream, NB_STREAM_CSV); the checks are stream_harness.h's.
 */
#include "stream_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_both_shapes(data, size, NB_STREAM_CSV);
    return 0;
}
