/* Files users already read: run directories, JSON manifests, CSV tables,
 * .npy arrays, gnuplot figures, and a terminal progress line.
 *
 * Nothing is ever left half-written: files are written to "NAME.tmp.PID" and
 * renamed; a run directory is built as "DIR.partial" and renamed to DIR when
 * the run finishes (sgd_rundir_commit), or removed (sgd_rundir_abort). */
#ifndef SGDSCAPE_IO_H
#define SGDSCAPE_IO_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- atomic files ---------------------------------------------------- */
/* The path buffers below have fixed sizes; every function that fills one
 * checks the length and fails with SGD_EINVAL ("PATH: path too long")
 * rather than truncate. */
typedef struct sgd_afile {
    FILE *fp;
    char path[4096];
    char tmp[4200];
} sgd_afile;

int sgd_afile_open(sgd_afile *af, const char *path);  /* opens tmp for writing */
int sgd_afile_commit(sgd_afile *af);                  /* fclose + rename */
void sgd_afile_abort(sgd_afile *af);                  /* fclose + unlink */
/* Write a whole buffer atomically. */
int sgd_write_file(const char *path, const void *data, size_t n);
/* Read a whole file (caller frees *data). */
int sgd_read_file(const char *path, char **data, size_t *n);

/* ---- run directories ------------------------------------------------- */
typedef struct sgd_rundir {
    char final[4096];   /* the directory the user asked for */
    char path[4200];    /* where files go while the run is in progress */
    int resumable;      /* 1: write straight into final (checkpointed runs) */
} sgd_rundir;

/* Create the staging directory for `dir`. Fails with a one-line message if
 * dir's parent is not writable. If dir exists it is replaced at commit. */
int sgd_rundir_open(sgd_rundir *rd, const char *dir);
/* Open `dir` in place for a resumable run (creates it if missing). */
int sgd_rundir_open_inplace(sgd_rundir *rd, const char *dir);
/* Path of a file inside the run directory, into out[0..outsz). SGD_OK, or
 * SGD_EINVAL ("path too long", out set to "") when it does not fit. */
int sgd_rundir_file(const sgd_rundir *rd, const char *name, char *out, size_t outsz);
int sgd_rundir_commit(sgd_rundir *rd);
void sgd_rundir_abort(sgd_rundir *rd);
/* Resumable runs keep their finished parts in DIR.partial until the result
 * is written (probe, branch, spectrum, interp, surface, hessian): a kill
 * leaves the directory, and `--resume` reopens it.
 *
 * Reopen DIR.partial of a killed or interrupted run: rd as sgd_rundir_open
 * left it (committed by sgd_rundir_commit, its stale NAME.tmp.PID files
 * swept), provided DIR.partial/MARKER exists (the file such a run writes
 * first); else SGD_EIO "--resume: DIR.partial holds no WHAT to continue
 * (no MARKER)". */
int sgd_rundir_reopen(sgd_rundir *rd, const char *dir, const char *marker, const char *what);
/* DIR/config.txt names the configuration of what DIR keeps: `text`, lines of
 * "key value", written if absent, else compared. Another one is refused, not
 * mixed in: SGD_EINVAL "DIR: the WHAT with other inputs or options (KEY: A
 * there, B now); rerun without --resume to start afresh", KEY the first
 * differing line's. */
int sgd_rundir_claim(const char *dir, const char *text, const char *what);
/* The kept parts are not part of the result: remove KEPT/PREFIX*, KEPT/config.txt
 * and temporaries of dead processes, then the directory KEPT if empty. */
void sgd_rundir_drop(const char *kept, const char *prefix);
/* A kept part of a resumable run: PATH holds the 8-byte magic, then na
 * doubles a and nb doubles b (b may be NULL with nb = 0), written
 * atomically. sgd_keep_load reads one back: 1 when PATH holds exactly that
 * shape (a and b filled), 0 when it is absent or damaged (the part is then
 * computed again; no error is left set). */
int sgd_keep_save(const char *path, const char magic[8], const double *a, size_t na, const double *b, size_t nb);
int sgd_keep_load(const char *path, const char magic[8], double *a, size_t na, double *b, size_t nb);
/* mkdir -p */
int sgd_mkdirs(const char *dir);

/* ---- JSON (thin layer over cJSON, kept opaque so callers need not
 * include cJSON) ------------------------------------------------------ */
typedef struct sgd_json sgd_json;  /* a JSON object being built */
sgd_json *sgd_json_new(void);
void sgd_json_free(sgd_json *j);
void sgd_json_num(sgd_json *j, const char *key, double v);   /* NaN/Inf -> null */
void sgd_json_int(sgd_json *j, const char *key, long long v);
void sgd_json_str(sgd_json *j, const char *key, const char *v);
void sgd_json_bool(sgd_json *j, const char *key, int v);
void sgd_json_nums(sgd_json *j, const char *key, const double *v, size_t n);
sgd_json *sgd_json_obj(sgd_json *j, const char *key);  /* child object (owned by j) */
sgd_json *sgd_json_arr_obj(sgd_json *j, const char *key); /* append an object to array `key` */
int sgd_json_write(const sgd_json *j, const char *path);  /* atomic, pretty */
/* sgd_json_write to DIR/NAME, then sgd_json_free(j): the tail of every summary writer. */
int sgd_json_write_free(sgd_json *j, const char *dir, const char *name);
char *sgd_json_print(const sgd_json *j);                   /* caller frees */
/* Adds "sgdscape_version", "created", "threads" (per rank), "ranks" (MPI ranks, 1 without), "command_line". */
void sgd_json_manifest_header(sgd_json *j, int argc, char **argv, int threads);

/* Reading JSON back (for `bounds --from DIR` etc.). */
sgd_json *sgd_json_load(const char *path);   /* NULL + sgd_error on failure */
/* Dotted path lookup, e.g. "estimate.c". Returns 0 if found. */
int sgd_json_get_num(const sgd_json *j, const char *dotted, double *v);
int sgd_json_get_str(const sgd_json *j, const char *dotted, char *out, size_t n);

/* ---- .npy (format 1.0, little-endian, C order) --------------------------- */
typedef enum { SGD_NPY_F64, SGD_NPY_F32, SGD_NPY_U8, SGD_NPY_I64, SGD_NPY_I32 } sgd_npy_dtype;
size_t sgd_npy_itemsize(sgd_npy_dtype t);
int sgd_npy_write(const char *path, sgd_npy_dtype t, const void *data,
                  int ndim, const size_t *shape);
typedef struct sgd_npy {
    sgd_npy_dtype dtype;
    int ndim;
    size_t shape[8];
    int fortran_order;
    size_t count;   /* number of items */
    void *data;     /* malloc'ed, native endian */
} sgd_npy;
/* Reads and validates a .npy; a malformed or truncated file gives SGD_EFORMAT
 * with a message naming the file. */
int sgd_npy_read(const char *path, sgd_npy *out);
void sgd_npy_free(sgd_npy *a);

/* ---- figures ---------------------------------------------------------------- */
/* Writes NAME.gp (script, given) and renders NAME.png and NAME.svg with
 * gnuplot if it is installed. Returns SGD_OK if the script was written; sets
 * *rendered to 1 if gnuplot produced both images. */
int sgd_figure_render(const char *dir, const char *name, const char *script, int *rendered);
/* The script's first lines: the terminal from term_kind ('png' unless set,
 * or 'svg') at width x height, into buf as snprintf does (returns the length
 * it needed). flags SGD_FIGURE_FONTS: sans fonts (run and fig3 figures);
 * 0: gnuplot's default fonts (smooth, check, verify). */
#define SGD_FIGURE_FONTS 1u
int sgd_figure_preamble(char *buf, size_t n, int width, int height, unsigned flags);

/* ---- progress --------------------------------------------------------------- */
/* Progress goes to stderr only when it is a terminal and SGD_QUIET is unset. */
typedef struct sgd_progress {
    int enabled;
    double t0, last;
    char label[64];
} sgd_progress;
void sgd_progress_start(sgd_progress *p, const char *label);
void sgd_progress_update(sgd_progress *p, double done, double total);
void sgd_progress_end(sgd_progress *p);
double sgd_now(void);  /* monotonic seconds */

#ifdef __cplusplus
}
#endif
#endif
