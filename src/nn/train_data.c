/* The data of a training run as `train` loads it: the splits, and the crop,
 * flip and normalisation that follow from the images. One place, so that
 * train, branch, spectrum and paper5 train on exactly the same batches. */
#include "sgdscape/nn.h"

#include <string.h>

int sgd_train_data_load(const sgd_train_data_spec *s, sgd_train_data *d)
{
    memset(d, 0, sizeof *d);
    sgd_data_opts o = {0};
    o.val = s->val;
    o.subset = s->subset;
    o.min_classes = 2; /* the training labels, not the validation ones */
    int rc;
    d->have_val = 1;
    if (s->val) { /* one read of the training files for both splits */
        if ((rc = sgd_data_load_train_val(s->data, &o, s->val_subset, &d->train, &d->val))) return rc;
    } else {
        if ((rc = sgd_data_load(s->data, SGD_DATA_TRAIN, &o, &d->train))) return rc;
        o.subset = s->val_subset;
        o.min_classes = 0;
        /* no validation only when the spec has no test split (npy with two
         * files); a test split that is there but damaged is an error */
        d->have_val = sgd_data_has_test(s->data);
        if (d->have_val && (rc = sgd_data_load(s->data, SGD_DATA_TEST, &o, &d->val))) {
            sgd_data_free(&d->train);
            memset(d, 0, sizeof *d);
            return rc;
        }
    }
    const sgd_dataset *tr = &d->train;
    int rgb32 = tr->c == 3 && tr->h == 32 && tr->w == 32;
    d->aug.crop_pad = s->crop >= 0 ? s->crop : (rgb32 ? 4 : 0);
    d->aug.flip = s->flip >= 0 ? s->flip : rgb32;
    if (s->normalize && (rc = sgd_data_loader_opts_normalize_from(&d->aug, tr))) {
        sgd_train_data_free(d);
        return rc;
    }
    return SGD_OK;
}

void sgd_train_config_data(sgd_train_config *c, const sgd_train_data *d, const char *data_spec)
{
    c->data = data_spec;
    c->train = &d->train;
    c->val = d->have_val ? &d->val : NULL;
    c->aug = d->aug;
}

void sgd_train_data_free(sgd_train_data *d)
{
    sgd_data_free(&d->train);
    if (d->have_val) sgd_data_free(&d->val);
    memset(d, 0, sizeof *d);
}
