/* plot.c — see plot.h. */
#include "plot.h"

#include "label.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_H 12            /* legend line height */
#define PW 380              /* panel width */
#define PH 250              /* plot part of the panel's height */
#define ML 48               /* margins of the plot area inside a panel */
#define MR 12
#define MT 28
#define MB 44

/* ---------------------------------------------------------------- the canvas */

typedef struct canvas {
    uint8_t *px;
    int w, h;
} canvas;

static const uint8_t palette[][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
};
static const uint8_t black[3] = {0, 0, 0}, grid_grey[3] = {225, 225, 225},
                     axis_grey[3] = {120, 120, 120};

static void dot(canvas *c, int x, int y, const uint8_t *rgb)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    memcpy(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, rgb, 3);
}

/* Text (label.h's font) with its top-left corner at (x, y), scale 1 or 2. */
static void text_at(canvas *c, int x, int y, const char *s, int scale, const uint8_t *rgb)
{
    label_draw(c->px, c->w, c->h, 3, x, y, s, scale, rgb);
}

static void text(canvas *c, int x, int y, const char *s, const uint8_t *rgb)
{
    text_at(c, x, y, s, 1, rgb);
}

static int text_width(const char *s)
{
    return label_width(s, 1);
}

/* A line two pixels thick from (x0, y0) to (x1, y1), clipped to the box
 * [bx0, bx1] × [by0, by1]; dashed leaves gaps of 5 pixels every 5. */
typedef struct box {
    int x0, y0, x1, y1;
} box;

static void line(canvas *c, box b, int x0, int y0, int x1, int y1, const uint8_t *rgb,
                 bool dashed, int *phase)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        bool ink = !dashed || (*phase / 5) % 2 == 0;
        (*phase)++;
        if (ink && x0 >= b.x0 && x0 <= b.x1 && y0 >= b.y0 && y0 <= b.y1)
            for (int k = 0; k < 4; k++)
                dot(c, x0 + k % 2, y0 + k / 2, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy)
            err += dy, x0 += sx;
        if (e2 <= dx)
            err += dx, y0 += sy;
    }
}

/* ---------------------------------------------------------------- a panel */

/* A tick step of 1, 2 or 5 × 10^k giving about 5 ticks over span. */
static double tick_step(double span)
{
    double raw = span / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void panel(canvas *c, int ox, const plot_panel *p)
{
    box b = {ox + ML, MT, ox + PW - MR, PH - MB};
    double sx = (b.x1 - b.x0) / (p->x1 - p->x0), sy = (b.y1 - b.y0) / (p->y1 - p->y0);
    char label[32];
    double st = tick_step(p->y1 - p->y0);
    for (double v = ceil(p->y0 / st - 1e-9) * st; v <= p->y1 + 1e-9 * st; v += st) {
        int y = b.y1 - (int)lround((v - p->y0) * sy);
        for (int x = b.x0; x <= b.x1; x++)
            dot(c, x, y, grid_grey);
        snprintf(label, sizeof label, "%.3g", fabs(v) < 1e-9 * st ? 0.0 : v);
        text(c, b.x0 - 4 - text_width(label), y - 3, label, black);
    }
    st = tick_step(p->x1 - p->x0);
    for (double v = ceil(p->x0 / st - 1e-9) * st; v <= p->x1 + 1e-9 * st; v += st) {
        int x = b.x0 + (int)lround((v - p->x0) * sx);
        for (int y = b.y0; y <= b.y1; y++)
            dot(c, x, y, grid_grey);
        snprintf(label, sizeof label, "%.3g", fabs(v) < 1e-9 * st ? 0.0 : v);
        text(c, x - text_width(label) / 2, b.y1 + 5, label, black);
    }
    for (int x = b.x0; x <= b.x1; x++)
        dot(c, x, b.y1, axis_grey), dot(c, x, b.y0, axis_grey);
    for (int y = b.y0; y <= b.y1; y++)
        dot(c, b.x0, y, axis_grey), dot(c, b.x1, y, axis_grey);
    text_at(c, b.x0 + (b.x1 - b.x0 - label_width(p->title, 2)) / 2, 6, p->title, 2, black);
    if (p->xlabel)
        text(c, b.x0 + (b.x1 - b.x0 - text_width(p->xlabel)) / 2, b.y1 + 22, p->xlabel, black);
    for (int i = 0; i < p->n_series; i++) {
        const plot_series *s = &p->series[i];
        const uint8_t *rgb = palette[s->colour % 6];
        int phase = 0, px = 0, py = 0;
        bool have = false;
        for (int k = 0; k < s->n; k++) {
            if (isnan(s->x[k]) || isnan(s->y[k])) {
                have = false;
                continue;
            }
            double fy = (s->y[k] - p->y0) * sy;
            fy = fy < -1e4 ? -1e4 : fy > 1e4 ? 1e4 : fy; /* far outside: clipped anyway */
            int x = b.x0 + (int)lround((s->x[k] - p->x0) * sx), y = b.y1 - (int)lround(fy);
            if (have)
                line(c, b, px, py, x, y, rgb, s->dashed, &phase);
            else if (s->n == 1)
                line(c, b, x, y, x, y, rgb, false, &phase);
            px = x, py = y, have = true;
        }
        int ly = PH + i * LINE_H, lp = 0;
        line(c, (box){0, 0, c->w, c->h}, b.x0, ly + 4, b.x0 + 28, ly + 4, rgb, s->dashed, &lp);
        text(c, b.x0 + 36, ly + 1, s->label ? s->label : "", black);
    }
}

nb_status plot_write(const char *path, const plot_panel *panels, int n, nb_error *err)
{
    int rows = 0;
    for (int i = 0; i < n; i++)
        rows = panels[i].n_series > rows ? panels[i].n_series : rows;
    canvas c = {.w = n * PW, .h = PH + rows * LINE_H + 6};
    c.px = malloc((size_t)c.w * (size_t)c.h * 3);
    if (!c.px)
        return nb_error_set(err, NB_ERR_NOMEM, "plot: out of memory for %s", path);
    memset(c.px, 255, (size_t)c.w * (size_t)c.h * 3);
    for (int i = 0; i < n; i++)
        panel(&c, i * PW, &panels[i]);
    nb_status st = nb_png_write(path, c.w, c.h, 3, c.px, err);
    free(c.px);
    return st;
}
