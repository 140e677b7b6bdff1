/*
 * fashion_common.h — what the Fashion-MNIST examples share: options from
 * the command line, loading the Debian package's IDX files, and printing one
 * line per epoch plus a closing key=value line.
 */
#ifndef FASHION_COMMON_H
#define FASHION_COMMON_H

#include "nabla.h"

typedef struct fashion_args {
    int epochs;
    int threads;
    uint64_t seed;
    int64_t limit;     /* train on the first `limit` examples (0: all) */
    const char *dir;   /* IDX files */
    const char *save;  /* after training, the weights file (with the model's YAML), or NULL */
} fashion_args;

/* Parses --epochs N --threads N --seed N --limit N --data DIR --save FILE
 * over the given defaults; false (after a usage message) on anything else. */
bool fashion_parse(int argc, char **argv, fashion_args *a);

/* The training (train true) or test split in dir, under the Debian
 * package's names ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz) or,
 * when those are absent, the test fixture's (fmnist-{train,test}-…), as a
 * byte dataset (nb_idx_load_u8: a quarter of the memory of floats; the
 * trainer converts each minibatch). Code that reads ->x itself calls
 * nb_dataset_to_float first, or nb_dataset_gather. */
nb_dataset *fashion_split(const char *dir, bool train, nb_error *err);

/* Loads the training and test sets; false after printing why. */
bool fashion_load(const fashion_args *a, nb_dataset **train, nb_dataset **test);

/* nb_train_opts.on_epoch: "epoch 1/5  loss … Q … train_acc … test_acc … 3.1 s". */
void fashion_on_epoch(const nb_progress *p, void *ud);

/* Trains with opts (epochs, seed and callbacks filled in from a), prints
 * the closing line "<name> test_acc=… epoch_s=… …", saves the weights to
 * a->save with the model described in YAML (nb_trainer_save: `nabla
 * inspect/eval/dot/predict FILE` read it), and returns the exit status. */
int fashion_run(const char *name, nb_model_fn build, const fashion_args *a, nb_train_opts opts);

#endif
