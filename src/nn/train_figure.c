/* train.png / train.svg: what a training run did, at a glance (issue 9, part 4).
 * Two panels over the epochs: the train and validation loss with the learning
 * rate on a log axis, and the train and validation accuracy. The data are
 * train.csv's rows as train.dat (space-separated, for gnuplot), beside the
 * script train.gp, so a user can re-plot or restyle it. */
#include "nn_internal.h"
#include "sgdscape/io.h"

#include <stdio.h>
#include <string.h>

int nn_train_figure(const char *dir, const char *csv)
{
    if (!csv) csv = "";
    char path[4400];
    snprintf(path, sizeof path, "%s/train.dat", dir);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    /* the header line becomes a comment; every comma a space */
    fputs("# ", af.fp);
    for (const char *s = csv; *s; s++) fputc(*s == ',' ? ' ' : *s, af.fp);
    if ((rc = sgd_afile_commit(&af))) return rc;

    char gp[4096];
    int off = sgd_figure_preamble(gp, sizeof gp, 1000, 760, SGD_FIGURE_FONTS);
    snprintf(gp + off, sizeof gp - (size_t)off,
             "set datafile missing 'nan'\n"
             "set multiplot layout 2,1 title 'training run: loss, accuracy and learning rate per epoch'\n"
             "set grid\nset key top right\nset xlabel 'epoch'\nset lmargin 10\nset rmargin 12\n"
             "set ylabel 'loss'\nset logscale y2\nset y2label 'learning rate'\nset y2tics\nset ytics nomirror\n"
             "plot 'train.dat' using 1:3 with linespoints lw 2 pt 7 ps 0.4 lc rgb '#3060c0' title 'train loss', "
             "'' using 1:5 with linespoints lw 2 pt 5 ps 0.4 lc rgb '#c03030' title 'validation loss', "
             "'' using 1:2 axes x1y2 with steps dt 3 lc rgb 'black' title 'lr (y2)'\n"
             "unset logscale y2\nunset y2label\nunset y2tics\nset ytics mirror\n"
             "set ylabel 'accuracy'\nset key bottom right\n"
             "plot 'train.dat' using 1:4 with linespoints lw 2 pt 7 ps 0.4 lc rgb '#3060c0' title 'train accuracy', "
             "'' using 1:6 with linespoints lw 2 pt 5 ps 0.4 lc rgb '#c03030' title 'validation accuracy'\n"
             "unset multiplot\n");
    int rendered;
    return sgd_figure_render(dir, "train", gp, &rendered);
}
