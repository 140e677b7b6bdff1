/*
 * fuzz_stream_f32.c — `nabla train --stream --format f32` input: raw
 * little-endian float32 records (nb_stream, NB_STREAM_F32); the checks
 * are stream_harness.h's.
 */
#include "stream_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_both_shapes(data, size, NB_STREAM_F32);
    return 0;
}
