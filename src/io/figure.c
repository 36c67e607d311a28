/* The gnuplot preamble every figure script starts with. */
#include "sgdscape/io.h"

#include <stdio.h>

int sgd_figure_preamble(char *buf, size_t n, int width, int height, unsigned flags)
{
    /* The two styles keep their historical spelling so existing .gp files stay byte-identical. */
    if (flags & SGD_FIGURE_FONTS)
        return snprintf(buf, n,
                        "if (!exists(\"term_kind\")) term_kind = 'png'\n"
                        "if (term_kind eq 'svg') set terminal svg size %d,%d dynamic font 'sans,11'; "
                        "else set terminal pngcairo size %d,%d font 'sans,10'\n",
                        width, height, width, height);
    return snprintf(buf, n,
                    "if (!exists(\"term_kind\")) term_kind='png'\n"
                    "if (term_kind eq 'svg') set terminal svg size %d,%d; else set terminal pngcairo size %d,%d\n",
                    width, height, width, height);
}
