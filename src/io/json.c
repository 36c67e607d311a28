/* JSON manifests through cJSON. sgd_json is a cJSON object in disguise, so
 * public headers do not depend on cJSON. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sgdscape/isa.h"
#include "sgdscape/dist.h"
#include "sgdscape/io.h"
#include "sgdscape/error.h"
#include "sgdscape/version.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define J(p) ((cJSON *)(p))

sgd_json *sgd_json_new(void) { return (sgd_json *)cJSON_CreateObject(); }
void sgd_json_free(sgd_json *j) { cJSON_Delete(J(j)); }

static void put(sgd_json *j, const char *key, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(J(j), key);
    cJSON_AddItemToObject(J(j), key, v);
}

void sgd_json_num(sgd_json *j, const char *key, double v)
{
    put(j, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}
void sgd_json_int(sgd_json *j, const char *key, long long v) { put(j, key, cJSON_CreateNumber((double)v)); }
void sgd_json_str(sgd_json *j, const char *key, const char *v) { put(j, key, cJSON_CreateString(v ? v : "")); }
void sgd_json_bool(sgd_json *j, const char *key, int v) { put(j, key, cJSON_CreateBool(v)); }

void sgd_json_nums(sgd_json *j, const char *key, const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
    put(j, key, a);
}

sgd_json *sgd_json_obj(sgd_json *j, const char *key)
{
    cJSON *o = cJSON_CreateObject();
    put(j, key, o);
    return (sgd_json *)o;
}

sgd_json *sgd_json_arr_obj(sgd_json *j, const char *key)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(J(j), key);
    if (!a || !cJSON_IsArray(a)) {
        a = cJSON_CreateArray();
        put(j, key, a);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(a, o);
    return (sgd_json *)o;
}

/* cJSON prints a double with 15 significant digits whenever that reads back
 * within one epsilon, so the last bit can be lost (a manifest's mean then
 * differs by 1 ulp from the same number in a CSV). Numbers are printed here
 * with the fewest digits (15, 16 or 17) that read back exactly: a copy of the
 * tree whose numbers are raw text, printed by cJSON as it is. */
static int exact_numbers(cJSON *n)
{
    for (; n; n = n->next) {
        if (cJSON_IsNumber(n) && isfinite(n->valuedouble)) { /* cJSON prints the rest as null */
            char buf[32];
            double d = n->valuedouble;
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, d);
                if (strtod(buf, NULL) == d) break;
            }
            char *raw = strdup(buf);
            if (!raw) return -1;
            n->type = cJSON_Raw;
            n->valuestring = raw;
        } else if (n->child && exact_numbers(n->child)) {
            return -1;
        }
    }
    return 0;
}

static char *print_exact(const sgd_json *j)
{
    cJSON *c = cJSON_Duplicate(J(j), 1);
    if (!c) return NULL;
    char *s = exact_numbers(c) ? NULL : cJSON_Print(c);
    cJSON_Delete(c);
    return s;
}

char *sgd_json_print(const sgd_json *j) { return print_exact(j); }

int sgd_json_write_free(sgd_json *j, const char *dir, const char *name)
{
    char path[4400];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = n < 0 || (size_t)n >= sizeof path ? sgd_error(SGD_EINVAL, "%s/%s: path too long", dir, name)
                                               : sgd_json_write(j, path);
    sgd_json_free(j);
    return rc;
}

int sgd_json_write(const sgd_json *j, const char *path)
{
    char *s = print_exact(j);
    if (!s) return sgd_error(SGD_ENOMEM, "%s: cannot format JSON", path);
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return sgd_error(SGD_ENOMEM, "%s: out of memory", path);
    }
    s = t;
    s[n] = '\n';
    s[n + 1] = '\0';
    int rc = sgd_write_file(path, s, n + 1);
    free(s);
    return rc;
}

void sgd_json_manifest_header(sgd_json *j, int argc, char **argv, int threads)
{
    sgd_json_str(j, "sgdscape_version", SGDSCAPE_VERSION_STRING);
    char buf[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    sgd_json_str(j, "created", buf);
    sgd_json_int(j, "threads", threads); /* per rank */
    sgd_json_int(j, "ranks", sgd_dist_size()); /* MPI ranks the work was split over (1: one process) */
    sgd_json_str(j, "kernels", sgd_isa_label(sgd_isa_current())); /* the variant that ran (sgdscape/isa.h) */
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < argc; i++) cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
    put(j, "command_line", a);
}

sgd_json *sgd_json_load(const char *path)
{
    char *text;
    size_t n;
    if (sgd_read_file(path, &text, &n)) return NULL;
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (!root) {
        sgd_error(SGD_EFORMAT, "%s: malformed JSON", path);
        return NULL;
    }
    return (sgd_json *)root;
}

static const cJSON *lookup(const sgd_json *j, const char *dotted)
{
    char key[256];
    const cJSON *cur = J(j);
    const char *p = dotted;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof key) return NULL;
        memcpy(key, p, len);
        key[len] = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        p += len + (dot ? 1 : 0);
        if (!dot) break;
    }
    return cur;
}

int sgd_json_get_num(const sgd_json *j, const char *dotted, double *v)
{
    const cJSON *it = lookup(j, dotted);
    if (!it) return -1;
    if (cJSON_IsNull(it)) { *v = NAN; return 0; }
    if (!cJSON_IsNumber(it)) return -1;
    *v = it->valuedouble;
    return 0;
}

int sgd_json_get_str(const sgd_json *j, const char *dotted, char *out, size_t n)
{
    const cJSON *it = lookup(j, dotted);
    if (!it || !cJSON_IsString(it)) return -1;
    snprintf(out, n, "%s", it->valuestring);
    return 0;
}
