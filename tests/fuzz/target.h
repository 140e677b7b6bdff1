/*
 * target.h — the model the weights and checkpoint harnesses load files
 * into: tests/fuzz/target.yaml, read once per process.
 */
#ifndef NABLA_FUZZ_TARGET_H
#define NABLA_FUZZ_TARGET_H

#include "nabla.h"

/* The parsed target model (aborts when it cannot be read: a harness
 * without its model tests nothing). Owned here, for the process. */
nb_model_file *fuzz_target_model(void);

/* A trainer of the target model with the file's settings; NULL aborts. */
nb_trainer *fuzz_target_trainer(void);

#endif
