/*
 * target.c — the target model of the weights and checkpoint harnesses
 * (target.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "target.h"

static nb_model_file *model;

static void free_model(void)
{
    nb_model_file_free(model);
    model = NULL;
}

nb_model_file *fuzz_target_model(void)
{
    if (model)
        return model;
    char path[1024];
    snprintf(path, sizeof path, "%s/target.yaml", fuzz_source_dir());
    nb_error err = {0};
    model = nb_model_file_load(path, &err);
    if (!model)
        fuzz_fail("cannot read the target model: %s", err.message);
    atexit(free_model);
    return model;
}

nb_trainer *fuzz_target_trainer(void)
{
    nb_model_file *m = fuzz_target_model();
    nb_train_opts o = nb_model_file_train_opts(m);
    o.batch = 4;
    o.eval_batch = 4;
    nb_error err = {0};
    nb_trainer *t = nb_trainer_new(nb_model_file_build, m, nb_model_file_input_shape(m),
                                   nb_model_file_y_width(m), &o, &err);
    if (!t)
        fuzz_fail("cannot make a trainer of the target model: %s", err.message);
    return t;
}
