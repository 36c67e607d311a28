/* Files: .npy round trips and malformed files, JSON manifests, atomic run
 * directories that never leave partial output. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

int main(void)
{
    char dir[] = "/tmp/sgd_test_io_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512];

    /* npy round trip, several dtypes and shapes. */
    double a[6] = {1.5, -2, 3e-300, NAN, INFINITY, 0};
    size_t shape[2] = {2, 3};
    snprintf(path, sizeof path, "%s/a.npy", dir);
    CHECK(sgd_npy_write(path, SGD_NPY_F64, a, 2, shape) == SGD_OK);
    sgd_npy arr;
    CHECK(sgd_npy_read(path, &arr) == SGD_OK);
    CHECK(arr.dtype == SGD_NPY_F64 && arr.ndim == 2 && arr.shape[0] == 2 && arr.shape[1] == 3);
    CHECK(memcmp(arr.data, a, sizeof a) == 0);
    sgd_npy_free(&arr);
    /* The header is padded so the data starts at a multiple of 64. */
    {
        FILE *fp = fopen(path, "rb");
        unsigned char h[10];
        CHECK(fread(h, 1, 10, fp) == 10);
        fclose(fp);
        CHECK((10 + (h[8] | h[9] << 8)) % 64 == 0);
    }
    float b[4] = {1, 2, 3, 4};
    size_t s1[1] = {4};
    snprintf(path, sizeof path, "%s/b.npy", dir);
    CHECK(sgd_npy_write(path, SGD_NPY_F32, b, 1, s1) == SGD_OK);
    CHECK(sgd_npy_read(path, &arr) == SGD_OK);
    CHECK(arr.dtype == SGD_NPY_F32 && arr.ndim == 1 && arr.count == 4 && ((float *)arr.data)[3] == 4.0f);
    sgd_npy_free(&arr);
    /* Truncated data and bad magic: EFORMAT naming the file. */
    {
        char *buf;
        size_t n;
        CHECK(sgd_read_file(path, &buf, &n) == SGD_OK);
        char tpath[512];
        snprintf(tpath, sizeof tpath, "%s/trunc.npy", dir);
        CHECK(sgd_write_file(tpath, buf, n - 3) == SGD_OK);
        CHECK(sgd_npy_read(tpath, &arr) == SGD_EFORMAT);
        CHECK(strstr(sgd_errmsg(), "trunc.npy") != NULL);
        buf[1] = 'X';
        CHECK(sgd_write_file(tpath, buf, n) == SGD_OK);
        CHECK(sgd_npy_read(tpath, &arr) == SGD_EFORMAT);
        CHECK(strstr(sgd_errmsg(), "magic") != NULL);
        CHECK(sgd_write_file(tpath, buf, 5) == SGD_OK);
        CHECK(sgd_npy_read(tpath, &arr) == SGD_EFORMAT);
        free(buf);
        snprintf(tpath, sizeof tpath, "%s/missing.npy", dir);
        CHECK(sgd_npy_read(tpath, &arr) == SGD_EIO);
    }
    /* JSON: write, load, dotted lookup; NaN becomes null. */
    {
        sgd_json *j = sgd_json_new();
        sgd_json_num(j, "eta", 0.01);
        sgd_json *o = sgd_json_obj(j, "estimate");
        sgd_json_num(o, "c", 0.75);
        sgd_json_num(o, "bad", NAN);
        sgd_json_str(j, "name", "spiky");
        snprintf(path, sizeof path, "%s/m.json", dir);
        CHECK(sgd_json_write(j, path) == SGD_OK);
        sgd_json_free(j);
        sgd_json *k = sgd_json_load(path);
        CHECK(k != NULL);
        double v;
        char s[32];
        CHECK(sgd_json_get_num(k, "eta", &v) == 0 && v == 0.01);
        CHECK(sgd_json_get_num(k, "estimate.c", &v) == 0 && v == 0.75);
        CHECK(sgd_json_get_num(k, "estimate.bad", &v) == 0 && isnan(v));
        CHECK(sgd_json_get_num(k, "estimate.none", &v) != 0);
        CHECK(sgd_json_get_str(k, "name", s, sizeof s) == 0 && !strcmp(s, "spiky"));
        sgd_json_free(k);
        CHECK(sgd_write_file(path, "{\"a\": ", 6) == SGD_OK);
        CHECK(sgd_json_load(path) == NULL);
        CHECK(strstr(sgd_errmsg(), "m.json") != NULL);
    }
    /* Run directories: nothing visible until commit; abort leaves nothing. */
    {
        sgd_rundir rd;
        char out[512];
        snprintf(out, sizeof out, "%s/run1", dir);
        CHECK(sgd_rundir_open(&rd, out) == SGD_OK);
        char f[4400];
        CHECK(sgd_rundir_file(&rd, "x.txt", f, sizeof f) == SGD_OK);
        CHECK(sgd_write_file(f, "hi", 2) == SGD_OK);
        /* a name that does not fit the caller's buffer is refused, not truncated */
        char small[8];
        CHECK(sgd_rundir_file(&rd, "x.txt", small, sizeof small) == SGD_EINVAL);
        CHECK(small[0] == '\0' && strstr(sgd_errmsg(), "path too long") != NULL);
        CHECK(strstr(sgd_errmsg(), "x.txt") != NULL);
        CHECK(!exists(out));
        CHECK(sgd_rundir_commit(&rd) == SGD_OK);
        snprintf(f, sizeof f, "%s/x.txt", out);
        CHECK(exists(f));
        CHECK(sgd_rundir_open(&rd, out) == SGD_OK);
        sgd_rundir_abort(&rd);
        CHECK(exists(f)); /* the previous result survives an aborted rerun */
        char partial[600];
        snprintf(partial, sizeof partial, "%s.partial", out);
        CHECK(!exists(partial));
        CHECK(sgd_rundir_open(&rd, "/proc/sgd_cannot_write/here") != SGD_OK);
        CHECK(strstr(sgd_errmsg(), "--out") != NULL);
    }
    /* Atomic file abort leaves no file. */
    {
        sgd_afile af;
        snprintf(path, sizeof path, "%s/atomic.txt", dir);
        CHECK(sgd_afile_open(&af, path) == SGD_OK);
        fputs("partial", af.fp);
        sgd_afile_abort(&af);
        CHECK(!exists(path));
    }
    /* Paths longer than the fixed buffers (sgd_afile, sgd_rundir: 4096 bytes)
     * are refused with a message naming them, never silently truncated. */
    {
        static char lp[6000];
        snprintf(lp, sizeof lp, "%s/", dir);
        size_t n = strlen(lp);
        memset(lp + n, 'a', sizeof lp - n - 1);
        lp[sizeof lp - 1] = '\0';
        sgd_afile af;
        CHECK(sgd_afile_open(&af, lp) == SGD_EINVAL);
        CHECK(strstr(sgd_errmsg(), "path too long") != NULL && strstr(sgd_errmsg(), "aaaa") != NULL);
        CHECK(sgd_write_file(lp, "x", 1) == SGD_EINVAL);
        CHECK(strstr(sgd_errmsg(), "path too long") != NULL);
        sgd_rundir rd;
        CHECK(sgd_rundir_open(&rd, lp) == SGD_EINVAL);
        CHECK(strstr(sgd_errmsg(), "path too long") != NULL);
        CHECK(sgd_rundir_open_inplace(&rd, lp) == SGD_EINVAL);
        CHECK(strstr(sgd_errmsg(), "path too long") != NULL);
        /* the limit is sizeof af.path - 1 = 4095 characters: one more is refused */
        lp[4096] = '\0';
        CHECK(strlen(lp) == 4096 && sgd_afile_open(&af, lp) == SGD_EINVAL);
        CHECK(strstr(sgd_errmsg(), "path too long") != NULL);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
