/*
 * label.h — text drawn into the lecture examples' pictures (panel labels,
 * legends, titles), so a picture says what each part of it shows without
 * the page around it.
 *
 * A built-in 5×7 bitmap font (with a row below for descenders) covers
 * printable ASCII; each character takes a cell of 6×9 font pixels (one
 * column and one row of spacing), each font
 * pixel `scale`×`scale` image pixels. Other bytes draw as '?'. No font
 * files, no extra packages, and the same bytes on every machine, so a
 * regenerated picture changes only when what it shows changes.
 *
 *     label_draw(px, W, H, 1, x, y, "box 3x3", 1, (uint8_t[3]){0, 0, 0});
 */
#ifndef LABEL_H
#define LABEL_H

#include <stdint.h>

/* One character cell at scale 1, spacing included: advance and line height. */
#define LABEL_CELL_W 6
#define LABEL_CELL_H 9

/* Width in image pixels of s drawn at scale: 6·scale per character, less
 * the trailing spacing column (0 for ""). */
int label_width(const char *s, int scale);

/*
 * Draws s with its top-left corner at (x, y) into a width×height picture of
 * `channels` bytes a pixel (1 grey, 3 RGB; row-major), in `colour` (its
 * first byte for grey). Only the glyphs' pixels are painted (the background
 * shows through); whatever falls outside the picture is clipped.
 */
void label_draw(uint8_t *px, int width, int height, int channels, int x, int y, const char *s,
                int scale, const uint8_t colour[3]);

/* label_draw centred horizontally on the span [x0, x0 + span). */
void label_center(uint8_t *px, int width, int height, int channels, int x0, int span, int y,
                  const char *s, int scale, const uint8_t colour[3]);

#endif
