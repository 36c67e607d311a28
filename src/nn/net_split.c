/* Data-parallel runs of the executor over the MPI ranks (nn_internal.h,
 * docs/mpi.md): which chunks this rank computes, which blocks hold every
 * sample, and the sharing of rows between the ranks. */
#include "nn/nn_internal.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"

#include <stdlib.h>
#include <string.h>

int nn_split_begin(sgd_net *net, size_t n)
{
    size_t nch = (n + NN_CHUNK - 1) / NN_CHUNK;
    net->spl = net->split && sgd_dist_size() > 1;
    net->c0 = 0;
    net->c1 = nch;
    if (!net->spl) return SGD_OK;
    /* a failure here is agreed on by the ranks in sgd_net_run */
    if (!net->full && !(net->full = malloc(2 * net->nblocks + 1)))
        return sgd_error(SGD_ENOMEM, "network: out of memory for the split's block flags");
    sgd_dist_slice(nch, &net->c0, &net->c1);
    memset(net->full, 0, 2 * net->nblocks);
    net->full[2 * net->ts[net->input].block] = 1;   /* every rank copies the whole batch in */
    return SGD_OK;
}

void nn_split_samples(const sgd_net *net, size_t n, size_t *s0, size_t *s1)
{
    *s0 = net->c0 * NN_CHUNK < n ? net->c0 * NN_CHUNK : n;
    *s1 = net->c1 * NN_CHUNK < n ? net->c1 * NN_CHUNK : n;
}

void nn_split_rows(const sgd_net *net, void *base, size_t row_bytes, size_t n)
{
    if (net->spl)
        sgd_dist_share_chunks(base, (n + NN_CHUNK - 1) / NN_CHUNK, NN_CHUNK * row_bytes, n * row_bytes);
}

void nn_split_need(sgd_net *net, int t, int grad, size_t n)
{
    if (!net->spl) return;
    int b = net->ts[t].block;
    if (net->full[2 * b + grad]) return;
    const nn_block *B = &net->blocks[b];
    nn_split_rows(net, grad ? B->grad : B->data, sizeof(float) * B->per_sample, n);
    net->full[2 * b + grad] = 1;
}

void nn_split_wrote(sgd_net *net, int t, int grad, int whole)
{
    if (!net->spl) return;
    const nn_tensor *T = &net->ts[t];
    if (!whole) net->full[2 * T->block + grad] = 0;
    else if (T->off == 0 && (size_t)T->c * T->h * T->w == net->blocks[T->block].per_sample)
        net->full[2 * T->block + grad] = 1;
}
