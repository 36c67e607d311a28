/* Shared by the libFuzzer harnesses (docs/testing.md): the input as a C
 * string, or as a file for the readers that take a path. */
#ifndef SGD_FUZZ_COMMON_H
#define SGD_FUZZ_COMMON_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy (the parsers take C strings; an embedded NUL just
 * ends the string early). Caller frees. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Per-process scratch files on tmpfs when there is one: the readers take
 * paths, and -jobs/-workers run several processes side by side. */
static char fuzz_dir[256];

static void fuzz_cleanup(void)
{
    char cmd[300];
    if (!fuzz_dir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

static inline const char *fuzz_path(const char *name)
{
    static char path[512];
    if (!fuzz_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/sgdfuzz.%ld", base, (long)getpid());
        if (mkdir(fuzz_dir, 0700) != 0 && access(fuzz_dir, W_OK) != 0) abort();
        atexit(fuzz_cleanup);
    }
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    return path;
}

/* Write bytes to the scratch file `name`; returns its path (valid until the
 * next fuzz_path call). */
static inline const char *fuzz_file(const char *name, const void *data, size_t size)
{
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    const uint8_t *p = data;
    while (size) {
        ssize_t k = write(fd, p, size);
        if (k <= 0) abort();
        p += k;
        size -= (size_t)k;
    }
    close(fd);
    return path;
}

#endif
