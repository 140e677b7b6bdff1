/* fashion_common.c — see fashion_common.h. */
#include "fashion_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"

bool fashion_parse(int argc, char **argv, fashion_args *a)
{
    const cmdline_opt opts[] = {
        {"--epochs", CMDLINE_INT, &a->epochs}, {"--threads", CMDLINE_INT, &a->threads},
        {"--seed", CMDLINE_U64, &a->seed},     {"--limit", CMDLINE_I64, &a->limit},
        {"--data", CMDLINE_STR, &a->dir},      {"--save", CMDLINE_STR, &a->save},
        {0}};
    if (cmdline_parse(argc, argv, opts))
        return true;
    fprintf(stderr, "usage: %s [--epochs N] [--threads N] [--seed N] [--limit N] [--data DIR] "
            "[--save FILE]\n", argv[0]);
    return false;
}

nb_dataset *fashion_split(const char *dir, bool train, nb_error *err)
{
    const char *names[2][2] = {{"train", "t10k"}, {"fmnist-train", "fmnist-test"}};
    char images[1024], labels[1024];
    for (int s = 0; s < 2; s++) {
        snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, names[s][!train]);
        snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, names[s][!train]);
        if (access(images, R_OK) == 0)
            break;
    }
    return nb_idx_load_u8(images, labels, err);
}

bool fashion_load(const fashion_args *a, nb_dataset **train, nb_dataset **test)
{
    nb_error err = {0};
    *train = fashion_split(a->dir, true, &err);
    *test = *train ? fashion_split(a->dir, false, &err) : NULL;
    if (!*train || !*test) {
        fprintf(stderr, "%s\n", err.message);
        nb_dataset_free(*train);
        return false;
    }
    if (a->limit > 0 && a->limit < (*train)->n) {
        nb_dataset *part = nb_dataset_slice(*train, 0, a->limit, &err);
        nb_dataset_free(*train);
        *train = part;
    }
    return *train != NULL;
}

/* What the epoch callback accumulates for the closing line. */
typedef struct totals {
    double seconds, test_acc, test_loss, q;
    int epochs;
} totals;

void fashion_on_epoch(const nb_progress *p, void *ud)
{
    totals *t = ud;
    t->seconds += p->seconds;
    t->epochs = p->epoch;
    t->test_acc = p->test_acc;
    t->test_loss = p->test_loss;
    t->q = p->q;
    printf("epoch %d/%d  loss %.4f  Q %.4f  train_acc %.4f  test_loss %.4f  test_acc %.4f  %.2f s\n",
           p->epoch, p->epochs, p->loss, p->q, p->train_acc, p->test_loss, p->test_acc, p->seconds);
    fflush(stdout);
}

/* The trained network's answers for the first test images, beside their
 * labels: one call gives every test image's class (argmax of its logits,
 * in inference mode) and probabilities. */
static nb_status show_predictions(nb_trainer *t, const nb_dataset *test)
{
    static const char *const names[10] = {"T-shirt", "trouser", "pullover", "dress", "coat",
                                          "sandal", "shirt", "sneaker", "bag", "boot"};
    int64_t *cls = malloc((size_t)test->n * sizeof *cls);
    float *probs = malloc((size_t)test->n * 10 * sizeof *probs);
    nb_status st = cls && probs ? nb_trainer_predict(t, test, (nb_predict_out){.probs = probs,
                                                                               .classes = cls})
                                : NB_ERR_NOMEM;
    for (int64_t i = 0; st == NB_OK && i < (test->n < 5 ? test->n : 5); i++)
        printf("test image %lld: %-8s (p %.2f), label %s\n", (long long)i, names[cls[i] % 10],
               probs[i * 10 + cls[i]], names[(int)test->y[i] % 10]);
    free(cls);
    free(probs);
    return st;
}

/* The weights and the model as YAML (its data the IDX folder it trained
 * from, its inputs bytes / 255 as nb_idx_load_u8 gives them), so `nabla
 * eval FILE` finds the test set and `nabla predict` scales bytes alike. */
static nb_status save(nb_trainer *t, const char *name, const fashion_args *a)
{
    nb_error err = {0};
    nb_model_yaml_opts o = {.name = name, .x_div = 255,
                            .data = {.format = "idx", .dir = a->dir}};
    if (nb_trainer_save(t, a->save, &o, &err) != NB_OK) {
        fprintf(stderr, "%s: %s\n", name, err.message);
        return err.status;
    }
    printf("%s: saved %s\n", name, a->save);
    return NB_OK;
}

int fashion_run(const char *name, nb_model_fn build, const fashion_args *a, nb_train_opts opts)
{
    nb_dataset *train, *test;
    if (!fashion_load(a, &train, &test))
        return 1;
    nb_set_threads(a->threads);
    totals tot = {0};
    opts.epochs = a->epochs;
    opts.seed = a->seed;
    opts.on_epoch = fashion_on_epoch;
    opts.ud = &tot;
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(build, NULL, train->shape, 1, &opts, &err);
    int status = 0;
    if (!t) {
        fprintf(stderr, "%s: %s\n", name, err.message);
        status = 1;
    } else if (nb_trainer_fit(t, train, test) != NB_OK) {
        fprintf(stderr, "%s: %s\n", name, nb_trainer_error(t));
        status = 1;
    } else if (show_predictions(t, test) != NB_OK) {
        fprintf(stderr, "%s: %s\n", name, nb_trainer_error(t));
        status = 1;
    } else if (a->save && save(t, name, a) != NB_OK) {
        status = 1;
    } else {
        printf("%s threads=%d epochs=%d seed=%llu train_n=%lld test_acc=%.4f test_loss=%.4f "
               "q=%.4f epoch_s=%.3f\n",
               name, nb_get_threads(), tot.epochs, (unsigned long long)a->seed,
               (long long)train->n, tot.test_acc, tot.test_loss, tot.q,
               tot.seconds / (tot.epochs ? tot.epochs : 1));
    }
    nb_trainer_free(t);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return status;
}
