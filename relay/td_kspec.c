/* td_kspec.c: kernelspec discovery. A scan walks the data dirs in Jupyter's order and keeps the
 * first kernel.json per name; specs are normalised (interrupt_mode defaults to "signal", env and
 * metadata to {}, language to "") so the REST model always has what @jupyterlab/services
 * validates. Resource lookups are confined to the spec's own directory by realpath. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "td/td_error.h"
#include "td_kspec.h"
#include "td_sys.h"

struct td_kspecs {
    td_kspec_t *v;
    size_t n, cap;
};

int td_kspec_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 128 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static void s_add_dir(char **dirs, size_t *n, size_t cap, const char *d)
{
    if (!d || !*d || *n >= cap)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(dirs[i], d) == 0)
            return;
    char *copy = strdup(d);
    if (copy)
        dirs[(*n)++] = copy;
}

size_t td_kspec_data_dirs(const char *prefix_share, char **dirs, size_t cap)
{
    size_t n = 0;
    const char *jp = getenv("JUPYTER_PATH");
    if (jp && *jp) {
        char *copy = strdup(jp), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t; t = strtok_r(NULL, ":", &save))
            s_add_dir(dirs, &n, cap, t);
        free(copy);
    }
    char buf[PATH_MAX];
    if (td__jupyter_data_dir(buf, sizeof buf) == 0)
        s_add_dir(dirs, &n, cap, buf);
    s_add_dir(dirs, &n, cap, prefix_share);
    s_add_dir(dirs, &n, cap, "/usr/local/share/jupyter");
    s_add_dir(dirs, &n, cap, "/usr/share/jupyter");
    return n;
}

/* Validates and normalises a parsed kernel.json; returns a new object or NULL. */
static json_t *s_normalise(json_t *raw)
{
    json_t *argv = json_object_get(raw, "argv");
    json_t *dn = json_object_get(raw, "display_name");
    if (!json_is_array(argv) || json_array_size(argv) == 0 || !json_is_string(dn))
        return NULL;
    size_t i;
    json_t *a;
    json_array_foreach(argv, i, a) if (!json_is_string(a)) return NULL;
    json_t *spec = json_object();
    json_object_set(spec, "argv", argv);
    json_object_set(spec, "display_name", dn);
    json_t *lang = json_object_get(raw, "language");
    json_object_set_new(spec, "language", json_string(json_is_string(lang) ? json_string_value(lang) : ""));
    json_t *im = json_object_get(raw, "interrupt_mode");
    json_object_set_new(spec, "interrupt_mode",
                        json_string(json_is_string(im) && strcmp(json_string_value(im), "message") == 0
                                        ? "message"
                                        : "signal"));
    json_t *env = json_object_get(raw, "env"), *md = json_object_get(raw, "metadata");
    json_object_set_new(spec, "env", json_is_object(env) ? json_deep_copy(env) : json_object());
    json_object_set_new(spec, "metadata", json_is_object(md) ? json_deep_copy(md) : json_object());
    return spec;
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(((const td_kspec_t *)a)->name, ((const td_kspec_t *)b)->name);
}

td_kspecs_t *td_kspecs_new(const char *const *dirs, size_t n)
{
    td_kspecs_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (size_t d = 0; d < n; d++) {
        char kdir[PATH_MAX];
        if (snprintf(kdir, sizeof kdir, "%s/kernels", dirs[d]) >= (int)sizeof kdir)
            continue;
        DIR *dp = opendir(kdir);
        if (!dp)
            continue;
        struct dirent *e;
        while ((e = readdir(dp)) != NULL) {
            if (!td_kspec_name_ok(e->d_name) || td_kspecs_find(self, e->d_name))
                continue;
            char sdir[PATH_MAX], file[PATH_MAX], real[PATH_MAX];
            if (snprintf(sdir, sizeof sdir, "%s/%s", kdir, e->d_name) >= (int)sizeof sdir ||
                snprintf(file, sizeof file, "%s/kernel.json", sdir) >= (int)sizeof file ||
                !realpath(sdir, real))
                continue;
            size_t len;
            char *text = td__read_file(file, 1 << 20, &len);
            if (!text)
                continue;
            json_t *raw = json_loadb(text, len, 0, NULL);
            free(text);
            json_t *spec = json_is_object(raw) ? s_normalise(raw) : NULL;
            json_decref(raw);
            if (!spec)
                continue;
            if (self->n == self->cap) {
                size_t cap = self->cap ? self->cap * 2 : 8;
                td_kspec_t *v = realloc(self->v, cap * sizeof *v);
                if (!v) {
                    json_decref(spec);
                    continue;
                }
                self->v = v, self->cap = cap;
            }
            self->v[self->n++] = (td_kspec_t){strdup(e->d_name), strdup(real), spec};
        }
        closedir(dp);
    }
    if (self->n)
        qsort(self->v, self->n, sizeof *self->v, s_cmp);
    return self;
}

void td_kspecs_destroy(td_kspecs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_kspecs_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free((char *)self->v[i].name);
        free((char *)self->v[i].dir);
        json_decref(self->v[i].spec);
    }
    free(self->v);
    free(self);
    *self_p = NULL;
}

size_t td_kspecs_count(const td_kspecs_t *self)
{
    return self ? self->n : 0;
}

const td_kspec_t *td_kspecs_at(const td_kspecs_t *self, size_t i)
{
    return self && i < self->n ? &self->v[i] : NULL;
}

const td_kspec_t *td_kspecs_find(const td_kspecs_t *self, const char *name)
{
    for (size_t i = 0; self && name && i < self->n; i++)
        if (self->v[i].name && strcmp(self->v[i].name, name) == 0)
            return &self->v[i];
    return NULL;
}

const char *td_kspecs_default(const td_kspecs_t *self)
{
    if (td_kspecs_find(self, "python3"))
        return "python3";
    return self && self->n ? self->v[0].name : "";
}

json_t *td_kspec_model(const td_kspec_t *ks)
{
    json_t *res = json_object();
    DIR *dp = opendir(ks->dir);
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        const char *f = e->d_name;
        char url[PATH_MAX];
        snprintf(url, sizeof url, "/kernelspecs/%s/%s", ks->name, f);
        if (strncmp(f, "logo-", 5) == 0 && f[0] != '.') {
            char key[256];
            snprintf(key, sizeof key, "%s", f);
            char *dot = strrchr(key, '.');
            if (dot)
                *dot = '\0';
            json_object_set_new(res, key, json_string(url));
        } else if (strcmp(f, "kernel.js") == 0 || strcmp(f, "kernel.css") == 0) {
            json_object_set_new(res, f, json_string(url));
        }
    }
    if (dp)
        closedir(dp);
    return json_pack("{s:s, s:O, s:o}", "name", ks->name, "spec", ks->spec, "resources", res);
}

json_t *td_kspecs_model(const td_kspecs_t *self)
{
    json_t *all = json_object();
    for (size_t i = 0; i < td_kspecs_count(self); i++)
        json_object_set_new(all, self->v[i].name, td_kspec_model(&self->v[i]));
    return json_pack("{s:s, s:o}", "default", td_kspecs_default(self), "kernelspecs", all);
}

int td_kspec_resource(const td_kspec_t *ks, const char *file, char *out, size_t cap)
{
    if (!file || !*file || file[0] == '.' || strchr(file, '/') || strchr(file, '\\'))
        return TD_EPERM;
    char path[PATH_MAX], real[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", ks->dir, file) >= (int)sizeof path)
        return TD_ENOENT;
    if (!realpath(path, real))
        return TD_ENOENT;
    size_t dl = strlen(ks->dir);
    if (strncmp(real, ks->dir, dl) != 0 || real[dl] != '/')
        return TD_EPERM;
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return TD_ENOENT;
    if (strlen(real) >= cap)
        return TD_ENOENT;
    strcpy(out, real);
    return 0;
}
