/* td_sessions.c: a small array of sessions. Lookups are linear: a relay holds tens of sessions,
 * and the array keeps insertion order for listings. Invariant: every string field is non-NULL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_error.h"
#include "td_sessions.h"

struct td_sessions {
    td_env_t env;
    td_session_t **v;
    size_t n;
};

td_sessions_t *td_sessions_new(const td_env_t *env)
{
    td_sessions_t *self = calloc(1, sizeof *self);
    if (self)
        self->env = *env;
    return self;
}

static void s_free(td_session_t *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->name);
    free(s->type);
    free(s);
}

void td_sessions_destroy(td_sessions_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_sessions_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        s_free(self->v[i]);
    free(self->v);
    free(self);
    *self_p = NULL;
}

td_session_t *td_sessions_add(td_sessions_t *self, const char *path, const char *name,
                              const char *type, const char *kernel_id)
{
    td_session_t *s = calloc(1, sizeof *s);
    td_session_t **v = realloc(self->v, (self->n + 1) * sizeof *v);
    if (v)
        self->v = v;
    if (!s || !v) {
        free(s);
        return NULL;
    }
    s->path = strdup(path ? path : "");
    s->name = strdup(name ? name : "");
    s->type = strdup(type ? type : "");
    if (!s->path || !s->name || !s->type) {
        s_free(s);
        return NULL;
    }
    td_stamp_uuid(&self->env, s->id);
    snprintf(s->kernel_id, sizeof s->kernel_id, "%s", kernel_id ? kernel_id : "");
    self->v[self->n++] = s;
    return s;
}

td_session_t *td_sessions_find(const td_sessions_t *self, const char *id)
{
    for (size_t i = 0; self && id && i < self->n; i++)
        if (strcmp(self->v[i]->id, id) == 0)
            return self->v[i];
    return NULL;
}

td_session_t *td_sessions_find_path(const td_sessions_t *self, const char *path)
{
    for (size_t i = 0; self && path && i < self->n; i++)
        if (strcmp(self->v[i]->path, path) == 0)
            return self->v[i];
    return NULL;
}

size_t td_sessions_count(const td_sessions_t *self)
{
    return self ? self->n : 0;
}

td_session_t *td_sessions_at(const td_sessions_t *self, size_t i)
{
    return self && i < self->n ? self->v[i] : NULL;
}

int td_sessions_set(td_session_t *s, const char *field, const char *value)
{
    char **slot = strcmp(field, "path") == 0   ? &s->path
                  : strcmp(field, "name") == 0 ? &s->name
                  : strcmp(field, "type") == 0 ? &s->type
                                               : NULL;
    if (!slot || !value)
        return TD_EINVAL;
    char *copy = strdup(value);
    if (!copy)
        return TD_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

int td_sessions_remove(td_sessions_t *self, const char *id)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->v[i]->id, id) != 0)
            continue;
        s_free(self->v[i]);
        memmove(&self->v[i], &self->v[i + 1], (self->n - i - 1) * sizeof *self->v);
        self->n--;
        return 0;
    }
    return TD_ENOENT;
}

size_t td_sessions_kernel_refs(const td_sessions_t *self, const char *kernel_id)
{
    size_t refs = 0;
    for (size_t i = 0; self && i < self->n; i++)
        refs += strcmp(self->v[i]->kernel_id, kernel_id) == 0;
    return refs;
}

size_t td_sessions_drop_kernel(td_sessions_t *self, const char *kernel_id)
{
    size_t dropped = 0;
    for (size_t i = 0; i < self->n;) {
        if (strcmp(self->v[i]->kernel_id, kernel_id) == 0) {
            td_sessions_remove(self, self->v[i]->id);
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}
