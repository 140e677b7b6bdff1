/*
 * char_lm.c — a character-level language model on the text of Debian's
 * `fortunes` package, trained by truncated backpropagation through time,
 * then sampled from a prompt at a temperature.
 *
 * The model is examples/models/char_lm.yaml: byte ids → embedding → LSTM
 * over a window of T characters → dense logits at every step, the LSTM
 * started from the inputs h0, c0 and giving its final states h_n, c_n. The
 * text (every plain file of /usr/share/games/fortunes, in name order, or one
 * file given with --data) is cut once: the last 10% is held out. Training
 * reads the first 90% as B parallel streams (B the model's batch), each
 * walked window by window; a window's final state is the next window's
 * initial state, as data, so no gradient crosses a window boundary (the
 * truncation), as PyTorch users write it with h.detach(). The loss is the
 * mean cross-entropy of the B·T next characters. After --steps steps (one
 * window each; the streams start over from zero states when they run out)
 * the held-out text is read the same way, the state carried, and its mean
 * cross-entropy is reported in bits per character (nats / ln 2), beside a
 * unigram model of the training text (add-one smoothed), the bar any
 * sequence model must clear. bench/char_lm trains the same model in PyTorch
 * on the same streams.
 *
 * The vocabulary is fixed: tab, newline and printable ASCII (ids 1-97);
 * every other byte is id 0, "unknown". Sampling builds the model again at
 * batch 1 and window 1, feeds the prompt one character at a time, then
 * draws each next character from softmax(logits / temperature).
 *
 *   char_lm [--model FILE] [--data DIR|FILE] [--steps S] [--threads N]
 *           [--save W.h5 | --load W.h5] [--prompt TEXT] [--length L]
 *           [--temperature T] [--greedy] [--seed S] [--check] [--quiet]
 *
 * --load samples from a weights file --save wrote, without training.
 * --greedy takes the most likely character each time (temperature → 0).
 * --check exits 1 unless the held-out bits per character are below both
 * the unigram model's and log2 of the vocabulary (the test's claim).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmdline.h"
#include "nabla.h"

#define VOCAB 98          /* unknown, tab, newline, ' '..'~' */
#define HELD_OUT 10       /* percent of the text, at its end */

typedef struct args {
    const char *model, *data, *save, *load, *prompt;
    int64_t steps, length;
    int threads;
    float temperature;
    uint64_t seed;
    bool greedy, check, quiet;
} args;

/* ---------------------------------------------------------------- text */

static int char_id(unsigned char b)
{
    return b == '\t' ? 1 : b == '\n' ? 2 : b >= 32 && b <= 126 ? 3 + (b - 32) : 0;
}

static char id_char(int id)
{
    return id == 1 ? '\t' : id == 2 ? '\n' : id >= 3 ? (char)(32 + id - 3) : '?';
}

/* Appends file `path` to *buf (size *n); false after a message. */
static bool append_file(const char *path, unsigned char **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fprintf(stderr, "char_lm: cannot open %s\n", path), false;
    unsigned char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        unsigned char *grown = realloc(*buf, *n + got);
        if (!grown)
            return fclose(f), fprintf(stderr, "char_lm: out of memory reading %s\n", path), false;
        memcpy(grown + *n, chunk, got);
        *buf = grown, *n += got;
    }
    bool ok = !ferror(f);
    fclose(f);
    return ok ? true : (fprintf(stderr, "char_lm: cannot read %s\n", path), false);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A fortune file: a plain file, not the index (.dat) or its UTF-8 twin (.u8). */
static bool fortune_file(const char *dir, const char *name)
{
    size_t len = strlen(name);
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return name[0] != '.' && !(len > 4 && !strcmp(name + len - 4, ".dat")) &&
           !(len > 3 && !strcmp(name + len - 3, ".u8")) && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* The corpus as byte ids: one file, or a folder's fortune files in name
 * order (strcmp, as Python's sorted). NULL after a message. */
static float *load_text(const char *path, int64_t *n_out)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t n = 0;
    bool ok = true;
    if (stat(path, &st) != 0)
        return fprintf(stderr, "char_lm: %s does not exist (install the fortunes package, or "
                       "give --data FILE)\n", path), NULL;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        char *names[1024];
        int count = 0;
        for (struct dirent *e; d && (e = readdir(d)) && count < 1024;)
            if (fortune_file(path, e->d_name))
                names[count++] = strdup(e->d_name);
        if (d)
            closedir(d);
        qsort(names, (size_t)count, sizeof *names, by_name);
        for (int i = 0; i < count; i++) {
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, names[i]);
            ok = ok && append_file(file, &buf, &n);
            free(names[i]);
        }
    } else {
        ok = append_file(path, &buf, &n);
    }
    float *ids = ok && n ? malloc(n * sizeof *ids) : NULL;
    if (ok && !n)
        fprintf(stderr, "char_lm: %s holds no text\n", path);
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = (float)char_id(buf[i]);
    free(buf);
    *n_out = (int64_t)n;
    return ids;
}

/* ---------------------------------------------------------------- streams */

/* B streams over ids[0..n): stream b reads ids[b·len .. (b+1)·len], the
 * inputs its first len characters and the targets the same shifted by one;
 * windows of T characters, the last partial one dropped. */
typedef struct streams {
    const float *ids;
    int64_t len, batch, window, windows;
} streams;

static bool streams_make(streams *s, const float *ids, int64_t n, int64_t batch, int64_t window,
                         const char *what)
{
    *s = (streams){.ids = ids, .len = (n - 1) / batch, .batch = batch, .window = window};
    s->windows = s->len / window;
    if (s->windows < 1)
        return fprintf(stderr, "char_lm: the %s text has %lld characters: too few for %lld "
                       "streams of one window of %lld\n", what, (long long)n, (long long)batch,
                       (long long)window), false;
    return true;
}

/* Window w's inputs x [B, T] and targets y [B·T]. */
static void streams_window(const streams *s, int64_t w, float *x, float *y)
{
    for (int64_t b = 0; b < s->batch; b++)
        for (int64_t t = 0; t < s->window; t++) {
            int64_t at = b * s->len + w * s->window + t;
            x[b * s->window + t] = s->ids[at];
            y[b * s->window + t] = s->ids[at + 1];
        }
}

/* ---------------------------------------------------------------- the model */

typedef struct model {
    nb_model_file *file;
    nb_graph *g;
    nb_node *x, *h0, *c0, *h_n, *c_n, *logits, *y, *loss;
    int64_t batch, window, state;   /* state: floats of h (or c) */
} model;

static nb_node *need(nb_graph *g, const char *name, const char *file)
{
    nb_node *n = nb_graph_find(g, name);
    if (!n)
        fprintf(stderr, "char_lm: %s has no node '%s' (the model reads x, h0 and c0 and names "
                "its final states h_n and c_n)\n", file, name);
    return n;
}

/*
 * Builds the model file at `batch` with its loss: the mean cross-entropy of
 * logits [B, T, V] viewed as [B·T, V] against the targets [B·T].
 */
static bool model_build(model *md, nb_model_file *file, int64_t batch, uint64_t seed)
{
    nb_model_io io;
    *md = (model){.file = file, .g = nb_graph_new(), .batch = batch};
    nb_graph_seed(md->g, seed);
    if (nb_model_file_build(md->g, batch, &io, file) != NB_OK)
        return fprintf(stderr, "char_lm: %s\n", nb_graph_error(md->g)), false;
    const char *name = nb_model_file_name(file);
    if (!(md->x = need(md->g, "x", name)) || !(md->h0 = need(md->g, "h0", name)) ||
        !(md->c0 = need(md->g, "c0", name)) || !(md->h_n = need(md->g, "h_n", name)) ||
        !(md->c_n = need(md->g, "c_n", name)))
        return false;
    nb_shape ls = nb_node_shape(io.output);
    if (ls.rank != 3 || ls.dim[2] != VOCAB)
        return fprintf(stderr, "char_lm: %s's output must be logits [N, T, %d]\n", name, VOCAB),
               false;
    md->window = ls.dim[1];
    md->state = nb_shape_numel(nb_node_shape(md->h_n));
    md->logits = io.output;
    md->y = nb_input(md->g, "targets", NB_SHAPE(batch * md->window));
    nb_node *flat = nb_reshape(md->g, io.output, NB_SHAPE(batch * md->window, VOCAB));
    md->loss = nb_softmax_cross_entropy(md->g, flat, md->y);
    if (!md->loss)
        return fprintf(stderr, "char_lm: %s\n", nb_graph_error(md->g)), false;
    return true;
}

/* ---------------------------------------------------------------- training */

/* One pass of a runtime over window w, from the state (h, c), which it
 * replaces with the final state; the mean loss. */
static double run_window(const model *md, nb_runtime *rt, const streams *s, int64_t w, float *x,
                         float *y, float *h, float *c)
{
    streams_window(s, w, x, y);
    nb_runtime_set_input(rt, md->x, x);
    nb_runtime_set_input(rt, md->y, y);
    nb_runtime_set_input(rt, md->h0, h);
    nb_runtime_set_input(rt, md->c0, c);
    if (nb_runtime_run(rt) != NB_OK)
        return fprintf(stderr, "char_lm: %s\n", nb_runtime_error(rt)), NAN;
    memcpy(h, nb_runtime_value(rt, md->h_n), (size_t)md->state * sizeof *h);
    memcpy(c, nb_runtime_value(rt, md->c_n), (size_t)md->state * sizeof *c);
    return nb_runtime_value(rt, md->loss)[0];
}

/* Mean cross-entropy in nats over the held-out streams, state carried. */
static double held_out_nats(const model *md, const streams *s, float *x, float *y, float *h,
                            float *c)
{
    nb_node *outs[] = {md->loss, md->h_n, md->c_n};
    nb_runtime *rt = nb_runtime_new(md->g, outs, 3);
    if (!rt)
        return fprintf(stderr, "char_lm: %s\n", nb_graph_error(md->g)), NAN;
    memset(h, 0, (size_t)md->state * sizeof *h);
    memset(c, 0, (size_t)md->state * sizeof *c);
    double sum = 0;
    for (int64_t w = 0; w < s->windows; w++)
        sum += run_window(md, rt, s, w, x, y, h, c);
    nb_runtime_free(rt);
    return sum / (double)s->windows;
}

/* Cross-entropy (nats) of the characters the model predicts in the
 * held-out streams under the training text's character frequencies,
 * add-one smoothed. */
static double unigram_nats(const float *train, int64_t n_train, const streams *held)
{
    double count[VOCAB], sum = 0;
    for (int v = 0; v < VOCAB; v++)
        count[v] = 1;
    for (int64_t i = 0; i < n_train; i++)
        count[(int)train[i]] += 1;
    for (int64_t b = 0; b < held->batch; b++)
        for (int64_t i = 1; i <= held->windows * held->window; i++)
            sum -= log(count[(int)held->ids[b * held->len + i]] / ((double)n_train + VOCAB));
    return sum / (double)(held->batch * held->windows * held->window);
}

typedef struct trainer {
    nb_runtime *rt;
    nb_optimizer *opt;
    nb_node **grads;
    float *flat;
    int n_params;
    int64_t size;
} trainer;

/* The training step's runtime (loss, final states, every gradient) and
 * the model file's optimiser. */
static bool trainer_make(trainer *t, const model *md)
{
    nb_error err = {0};
    int n = nb_graph_num_params(md->g);
    nb_node **params = malloc((size_t)n * sizeof *params);
    nb_node **outs = malloc((size_t)(n + 3) * sizeof *outs);
    *t = (trainer){.grads = malloc((size_t)n * sizeof(nb_node *)), .n_params = n};
    for (int i = 0; i < n; i++)
        params[i] = nb_graph_param(md->g, i);
    bool ok = params && outs && t->grads &&
              nb_grad(md->g, md->loss, params, n, t->grads) == NB_OK;
    if (ok) {
        outs[0] = md->loss, outs[1] = md->h_n, outs[2] = md->c_n;
        memcpy(outs + 3, t->grads, (size_t)n * sizeof *outs);
        t->rt = nb_runtime_new(md->g, outs, n + 3);
        nb_train_opts o = nb_model_file_train_opts(md->file);
        t->opt = t->rt ? nb_optimizer_new(o.optimizer, params, n, &err) : NULL;
        ok = t->rt && t->opt;
    }
    if (ok) {
        t->size = nb_optimizer_size(t->opt);
        ok = (t->flat = malloc((size_t)t->size * sizeof *t->flat)) != NULL;
    }
    if (!ok)
        fprintf(stderr, "char_lm: %s\n", err.message[0] ? err.message : nb_graph_error(md->g));
    free(params);
    free(outs);
    return ok;
}

static void trainer_free(trainer *t)
{
    nb_runtime_free(t->rt);
    nb_optimizer_free(t->opt);
    free(t->grads);
    free(t->flat);
}

/* One step on window w: forward and backward from (h, c), clip, update. */
static double train_step(const model *md, trainer *t, const streams *s, int64_t w, float *x,
                         float *y, float *h, float *c)
{
    double loss = run_window(md, t->rt, s, w, x, y, h, c);
    int64_t at = 0;
    for (int i = 0; i < t->n_params; i++) {
        int64_t k = nb_shape_numel(nb_node_shape(t->grads[i]));
        memcpy(t->flat + at, nb_runtime_value(t->rt, t->grads[i]), (size_t)k * sizeof(float));
        at += k;
    }
    nb_train_opts o = nb_model_file_train_opts(md->file);
    if (o.clip_norm > 0)
        nb_clip_grad_norm(t->flat, t->size, o.clip_norm);
    nb_optimizer_step(t->opt, t->flat, o.optimizer.lr);
    return loss;
}

/* ---------------------------------------------------------------- sampling */

/* The model file's text with its window x: [T] made x: [1] (or, in the
 * long form, x: {shape: [T], ...} made x: {shape: [1], ...}): the sampler
 * reads one character per run. NULL after a message. */
static char *one_step_text(const char *text, int64_t window)
{
    char forms[2][48];
    snprintf(forms[0], sizeof forms[0], "x: {shape: [%lld]", (long long)window);
    snprintf(forms[1], sizeof forms[1], "x: [%lld]", (long long)window);
    for (int f = 0; f < 2; f++) {
        const char *at = strstr(text, forms[f]);
        if (!at)
            continue;
        char *out = malloc(strlen(text) + 1);
        if (out)
            sprintf(out, "%.*s%s[1]%s", (int)(at - text), text, f == 0 ? "x: {shape: " : "x: ",
                    at + strlen(forms[f]));
        return out;
    }
    fprintf(stderr, "char_lm: the model's input line reads neither '%s' nor '%s'; the "
            "sampler rebuilds the model with a window of 1\n", forms[0], forms[1]);
    return NULL;
}

/* A draw from softmax(logits / temperature), or the argmax. */
static int draw(const float *logits, float temperature, bool greedy, nb_rng *rng)
{
    int best = 0;
    for (int v = 1; v < VOCAB; v++)
        best = logits[v] > logits[best] ? v : best;
    if (greedy)
        return best;
    double p[VOCAB], sum = 0;
    for (int v = 0; v < VOCAB; v++)
        sum += p[v] = exp((logits[v] - logits[best]) / temperature);
    double u = nb_rng_uniform(rng) * sum;
    for (int v = 0; v < VOCAB; v++)
        if ((u -= p[v]) < 0)
            return v;
    return best;
}

/* Prints the prompt and `length` characters the model at `weights` draws
 * after it. */
static bool sample(const args *a, const char *weights)
{
    nb_error err = {0};
    char *text = nb_weights_model_yaml(weights, &err), *one = NULL;
    nb_model_file *file = text ? nb_model_file_parse(text, strlen(text), weights, &err) : NULL;
    if (file)
        one = one_step_text(text, nb_model_file_input_shape(file).dim[0]);
    nb_model_file_free(file);
    file = one ? nb_model_file_parse(one, strlen(one), weights, &err) : NULL;
    model md = {0};
    bool ok = file && model_build(&md, file, 1, a->seed) &&
              nb_weights_load(md.g, weights, &err) == NB_OK;
    nb_node *outs[] = {md.logits, md.h_n, md.c_n};
    nb_runtime *rt = ok ? nb_runtime_new(md.g, outs, 3) : NULL;
    if (!rt)
        fprintf(stderr, "char_lm: %s\n", err.message[0] ? err.message
                                                        : file ? nb_graph_error(md.g) : "");
    float *h = rt ? calloc((size_t)md.state, sizeof *h) : NULL;
    float *c = rt ? calloc((size_t)md.state, sizeof *c) : NULL;
    nb_rng rng = nb_rng_seed(a->seed);
    size_t n_prompt = strlen(a->prompt);
    float id = (float)char_id((unsigned char)a->prompt[0]);
    if (h && c)
        fputs(a->prompt, stdout);
    for (int64_t i = 0; h && c && i < (int64_t)n_prompt - 1 + a->length; i++) {
        nb_runtime_set_input(rt, md.x, &id);
        nb_runtime_set_input(rt, md.h0, h);
        nb_runtime_set_input(rt, md.c0, c);
        if (nb_runtime_run(rt) != NB_OK)
            break;
        memcpy(h, nb_runtime_value(rt, md.h_n), (size_t)md.state * sizeof *h);
        memcpy(c, nb_runtime_value(rt, md.c_n), (size_t)md.state * sizeof *c);
        if (i + 1 < (int64_t)n_prompt) {
            id = (float)char_id((unsigned char)a->prompt[i + 1]);
            continue;
        }
        id = (float)draw(nb_runtime_value(rt, md.logits), a->temperature, a->greedy, &rng);
        putchar(id_char((int)id));
    }
    if (h && c)
        putchar('\n');
    free(h);
    free(c);
    nb_runtime_free(rt);
    if (file)
        nb_graph_free(md.g);
    nb_model_file_free(file);
    free(one);
    nb_free(text);
    return rt != NULL;
}

/* ---------------------------------------------------------------- the program */

static bool check_args(const args *a)
{
    if (a->steps < 1 || a->length < 0 || a->threads < 1)
        return fprintf(stderr, "char_lm: --steps and --threads must be >= 1, --length >= 0\n"),
               false;
    if (!(a->temperature > 0) && !a->greedy)
        return fprintf(stderr, "char_lm: --temperature %g must be > 0 (use --greedy for the most "
                       "likely character every time)\n", (double)a->temperature), false;
    if (!a->prompt[0])
        return fprintf(stderr, "char_lm: --prompt must have at least one character\n"), false;
    for (const char *p = a->prompt; *p; p++)
        if (!char_id((unsigned char)*p))
            return fprintf(stderr, "char_lm: the prompt's byte 0x%02x (at %d) is not in the "
                           "vocabulary: tab, newline and printable ASCII\n", (unsigned char)*p,
                           (int)(p - a->prompt)), false;
    return true;
}

/* Trains for a->steps and reports; the held-out bits per character in *bits. */
static bool train(const args *a, const model *md, const float *ids, int64_t n, double *bits,
                  double *unigram)
{
    int64_t n_train = n - n * HELD_OUT / 100;
    streams tr, ho;
    if (!streams_make(&tr, ids, n_train, md->batch, md->window, "training") ||
        !streams_make(&ho, ids + n_train, n - n_train, md->batch, md->window, "held-out"))
        return false;
    trainer t;
    if (!trainer_make(&t, md))
        return false;
    float *x = malloc((size_t)(md->batch * md->window) * sizeof *x);
    float *y = malloc((size_t)(md->batch * md->window) * sizeof *y);
    float *h = calloc((size_t)md->state, sizeof *h), *c = calloc((size_t)md->state, sizeof *c);
    printf("char_lm: %lld characters (%lld training, %lld held out), %lld streams of windows of "
           "%lld, %d parameter tensors, %lld steps\n", (long long)n, (long long)n_train,
           (long long)(n - n_train), (long long)md->batch, (long long)md->window, t.n_params,
           (long long)a->steps);
    clock_t start = clock();
    struct timespec t0, t1;
    timespec_get(&t0, TIME_UTC);
    double loss = 0, avg = 0;
    for (int64_t step = 0; step < a->steps && isfinite(loss); step++) {
        int64_t w = step % tr.windows;
        if (w == 0)  /* the streams start over, from zero states */
            memset(h, 0, (size_t)md->state * sizeof *h), memset(c, 0, (size_t)md->state * sizeof *c);
        loss = train_step(md, &t, &tr, w, x, y, h, c);
        avg = step ? 0.98 * avg + 0.02 * loss : loss;
        if (!a->quiet && ((step + 1) % 100 == 0 || step + 1 == a->steps))
            printf("step %5lld  loss %.4f  (smoothed %.4f)\n", (long long)step + 1, loss, avg);
    }
    double cpu_s = (double)(clock() - start) / CLOCKS_PER_SEC;
    timespec_get(&t1, TIME_UTC);
    double wall_s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double nats = isfinite(loss) ? held_out_nats(md, &ho, x, y, h, c) : NAN;
    *bits = nats / log(2.0);
    *unigram = unigram_nats(ids, n_train, &ho) / log(2.0);
    printf("train: %lld steps in %.2f s (%.2f s of CPU); held-out: %.4f bits/char (unigram "
           "%.4f, uniform %.4f); last loss %.4f\n", (long long)a->steps, wall_s, cpu_s, *bits,
           *unigram, log2(VOCAB), loss);
    trainer_free(&t);
    free(x), free(y), free(h), free(c);
    return isfinite(nats);
}

static int usage(void)
{
    fprintf(stderr, "usage: char_lm [--model FILE] [--data DIR|FILE] [--steps S] [--threads N] "
            "[--save W.h5 | --load W.h5] [--prompt TEXT] [--length L] [--temperature T] "
            "[--greedy] [--seed S] [--check] [--quiet]\n");
    return 2;
}

int main(int argc, char **argv)
{
    args a = {.model = "examples/models/char_lm.yaml", .data = "/usr/share/games/fortunes",
              .save = "char_lm.h5", .prompt = "The ", .steps = 2000, .length = 300,
              .threads = 1, .temperature = 0.8f, .seed = 1};
    const cmdline_opt opts[] = {
        {"--model", CMDLINE_STR, &a.model}, {"--data", CMDLINE_STR, &a.data},
        {"--steps", CMDLINE_I64, &a.steps}, {"--threads", CMDLINE_INT, &a.threads},
        {"--save", CMDLINE_STR, &a.save}, {"--load", CMDLINE_STR, &a.load},
        {"--prompt", CMDLINE_STR, &a.prompt}, {"--length", CMDLINE_I64, &a.length},
        {"--temperature", CMDLINE_FLOAT, &a.temperature}, {"--greedy", CMDLINE_FLAG, &a.greedy},
        {"--seed", CMDLINE_U64, &a.seed}, {"--check", CMDLINE_FLAG, &a.check},
        {"--quiet", CMDLINE_FLAG, &a.quiet}, {0}};
    if (!cmdline_parse(argc, argv, opts))
        return usage();
    if (!check_args(&a))
        return 2;
    nb_set_threads(a.threads);
    if (a.load)
        return sample(&a, a.load) ? 0 : 1;

    nb_error err = {0};
    nb_model_file *file = nb_model_file_load(a.model, &err);
    if (!file)
        return fprintf(stderr, "char_lm: %s\n", err.message), 1;
    int64_t n = 0;
    float *ids = load_text(a.data, &n);
    model md = {0};
    double bits = NAN, unigram = NAN;
    nb_train_opts o = nb_model_file_train_opts(file);
    bool ok = ids && model_build(&md, file, o.batch, o.seed) && train(&a, &md, ids, n, &bits,
                                                                       &unigram);
    if (ok && nb_weights_save(md.g, a.save, nb_model_file_text(file), &err) != NB_OK)
        ok = (fprintf(stderr, "char_lm: %s\n", err.message), false);
    if (ok)
        ok = sample(&a, a.save);
    bool claim = ok && bits < unigram && bits < log2(VOCAB);
    if (ok && a.check)
        printf("check: held-out %.4f bits/char %s the unigram's %.4f\n", bits,
               claim ? "is below" : "is NOT below", unigram);
    nb_graph_free(md.g);
    nb_model_file_free(file);
    free(ids);
    return ok && (claim || !a.check) ? 0 : 1;
}
