/* Private helpers shared by the data readers. */
#ifndef SGD_DATA_INTERNAL_H
#define SGD_DATA_INTERNAL_H

#include "sgdscape/data.h"

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* A file read through zlib: gzread passes plain files through unchanged, so
 * compression is recognised by the gzip magic rather than the name. */
typedef struct dat_file {
    gzFile gz;
    const char *path;
    unsigned long long fsize;  /* on-disk size */
    unsigned long long pos;    /* decompressed bytes consumed */
} dat_file;

int dat_open(dat_file *f, const char *path);
void dat_close(dat_file *f);
/* Read exactly n bytes; a short read is SGD_EFORMAT "truncated ... field". */
int dat_read(dat_file *f, void *buf, size_t n, const char *field);
/* Allocate and read exactly n bytes of `field`. Plain files are checked
 * against their size before allocating; gzip streams grow the buffer only as
 * data arrives, so a lying header cannot make us allocate much. */
int dat_read_alloc(dat_file *f, size_t n, const char *field, uint8_t **out);
/* Read everything that is left (at most cap bytes). */
int dat_read_rest(dat_file *f, size_t cap, uint8_t **out, size_t *n);
/* SGD_EFORMAT if bytes remain after the expected end. */
int dat_expect_eof(dat_file *f);

/* a*b*... with overflow detection: returns 0 on overflow. */
int dat_mul(size_t *acc, size_t v);

/* Empty dataset with the given geometry and storage allocated for n images. */
int dat_alloc(sgd_dataset *d, size_t n, int c, int h, int w, int storage, const char *name);

#endif
