/*
 * plot.h — line charts drawn into an RGB buffer and written with
 * nb_png_write, for the lecture's examples: panels side by side, each with
 * a title, a grid with numbered ticks, lines in a few colours and a legend,
 * lettered with label.h's built-in 5×7 font.
 */
#ifndef PLOT_H
#define PLOT_H

#include <stdbool.h>

#include "nabla.h"

/* One line: n points (x[i], y[i]); NaN points are skipped (the line breaks).
 * colour indexes a fixed palette (0 blue, 1 orange, 2 green, 3 red,
 * 4 purple, 5 brown); dashed draws every other few pixels. */
typedef struct plot_series {
    const char *label;
    const double *x, *y;
    int n;
    int colour;
    bool dashed;
} plot_series;

/* One panel: its title, the x-axis caption, the ranges shown (values
 * outside are clipped), and its lines. */
typedef struct plot_panel {
    const char *title, *xlabel;
    double x0, x1, y0, y1;
    const plot_series *series;
    int n_series;
} plot_panel;

/* Draws n panels in a row and writes the PNG to path; the status and
 * message of nb_png_write on failure (err may be NULL). */
nb_status plot_write(const char *path, const plot_panel *panels, int n, nb_error *err);

#endif
