/*
 * test_label.c — the bitmap font the lecture's pictures are labelled with
 * (examples/label.c): widths, glyph pixels where the font puts them,
 * clipping at every edge, colour per channel, and '?' for bytes outside
 * printable ASCII.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "label.h"

static const uint8_t black[3] = {0, 0, 0}, red[3] = {200, 10, 20};

/* Inked pixels (value != bg) of a w×h grey picture. */
static int inked(const uint8_t *px, int w, int h, uint8_t bg)
{
    int n = 0;
    for (int i = 0; i < w * h; i++)
        n += px[i] != bg;
    return n;
}

Test(label, widths)
{
    cr_assert_eq(label_width("", 1), 0);
    cr_assert_eq(label_width("A", 1), 5);
    cr_assert_eq(label_width("box 3x3", 1), 7 * LABEL_CELL_W - 1);
    cr_assert_eq(label_width("box 3x3", 2), 2 * (7 * LABEL_CELL_W - 1));
}

Test(label, glyph_pixels_where_the_font_puts_them)
{
    /* 'T': a full top row of 5, then the middle column for six rows. */
    uint8_t px[10 * 10];
    memset(px, 255, sizeof px);
    label_draw(px, 10, 10, 1, 2, 1, "T", 1, black);
    cr_assert_eq(inked(px, 10, 10, 255), 5 + 6);
    for (int x = 2; x < 7; x++)
        cr_assert_eq(px[1 * 10 + x], 0, "top row at x=%d", x);
    for (int y = 2; y < 8; y++)
        cr_assert_eq(px[y * 10 + 4], 0, "stem at y=%d", y);
    cr_assert_eq(px[2 * 10 + 3], 255);
    /* At scale 2 every font pixel is a 2×2 block: four times the ink. */
    uint8_t big[20 * 20];
    memset(big, 255, sizeof big);
    label_draw(big, 20, 20, 1, 0, 0, "T", 2, black);
    cr_assert_eq(inked(big, 20, 20, 255), 4 * 11);
}

Test(label, clipped_at_every_edge_and_nothing_written_outside)
{
    /* The picture sits inside a larger buffer whose margins must stay 0x5a. */
    enum { W = 12, H = 9, PAD = 64 };
    uint8_t buf[PAD + W * H + PAD];
    memset(buf, 0x5a, sizeof buf);
    uint8_t *px = buf + PAD;
    memset(px, 255, W * H);
    const int at[][2] = {{-3, -4}, {W - 2, H - 3}, {-100, 2}, {2, 100}, {W - 1, -7}};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        label_draw(px, W, H, 1, at[i][0], at[i][1], "W#M", 1, black);
    for (int i = 0; i < PAD; i++)
        cr_assert(buf[i] == 0x5a && buf[PAD + W * H + i] == 0x5a, "written outside at %d", i);
    cr_assert_gt(inked(px, W, H, 255), 0, "the parts inside were drawn");
}

Test(label, rgb_colour_and_unknown_bytes)
{
    uint8_t px[5 * 9 * 3], q[5 * 9];
    memset(px, 255, sizeof px);
    label_draw(px, 5, 9, 3, 0, 0, "\xcf\x83", 1, red); /* UTF-8 sigma: two "?", one shown */
    for (int i = 0; i < 5 * 9; i++) {
        const uint8_t *p = px + 3 * i;
        cr_assert(!memcmp(p, red, 3) || (p[0] == 255 && p[1] == 255 && p[2] == 255),
                  "pixel %d is (%d,%d,%d)", i, p[0], p[1], p[2]);
    }
    memset(q, 255, sizeof q);
    label_draw(q, 5, 9, 1, 0, 0, "?", 1, black);
    for (int i = 0; i < 5 * 9; i++)
        cr_assert_eq(px[3 * i] == red[0], q[i] == 0, "pixel %d differs from '?'", i);
}
