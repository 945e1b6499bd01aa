/* td_kspec.h: kernelspec discovery, as Jupyter does it: every data dir's kernels/<name>/kernel.json,
 * first directory wins for a name. A td_kspecs_t is a snapshot of one scan; the relay rescans per
 * request, so specs installed while it runs show up. No sockets, no loop; reads files only. */
#ifndef TD_KSPEC_H
#define TD_KSPEC_H

#include <stddef.h>

#include <jansson.h>

typedef struct td_kspecs td_kspecs_t;

/* One spec of a scan; all fields borrowed from the scan. */
typedef struct td_kspec {
    const char *name;           /* directory name */
    const char *dir;            /* absolute resource directory */
    json_t *spec;               /* the normalised kernel.json object (argv, display_name, ...) */
} td_kspec_t;

/* Fills dirs (cap entries, each a new strdup the caller frees) with Jupyter's data path in order:
 * $JUPYTER_PATH entries, the user data dir ($JUPYTER_DATA_DIR or $XDG_DATA_HOME/jupyter or
 * ~/.local/share/jupyter), prefix_share (our install prefix's share/jupyter, may be NULL),
 * /usr/local/share/jupyter, /usr/share/jupyter. Duplicates are dropped. Returns the count. */
size_t td_kspec_data_dirs(const char *prefix_share, char **dirs, size_t cap);

/* Scans dirs[0..n) for kernelspecs. Invalid specs are skipped (argv must be a non-empty array of
 * strings, display_name a string). NULL on OOM; caller owns. */
td_kspecs_t *td_kspecs_new(const char *const *dirs, size_t n);

/* Frees the scan; NULL-safe; nulls *self_p. */
void td_kspecs_destroy(td_kspecs_t **self_p);

/* Number of specs, and the i-th (sorted by name); NULL past the end. */
size_t td_kspecs_count(const td_kspecs_t *self);
const td_kspec_t *td_kspecs_at(const td_kspecs_t *self, size_t i);

/* The spec named name, or NULL. */
const td_kspec_t *td_kspecs_find(const td_kspecs_t *self, const char *name);

/* The default spec name: "python3" when present, else the first by name, else "" (borrowed). */
const char *td_kspecs_default(const td_kspecs_t *self);

/* The REST model of one spec {"name", "spec", "resources"}; new reference or NULL on OOM. */
json_t *td_kspec_model(const td_kspec_t *ks);

/* The REST model of the whole scan {"default", "kernelspecs": {...}}; new reference. */
json_t *td_kspecs_model(const td_kspecs_t *self);

/* Resolves a resource file of a spec into out (cap bytes). file must be a plain name (no '/', no
 * leading '.'), and the real path must stay inside the spec's directory. Returns 0, TD_ENOENT or
 * TD_EPERM. */
int td_kspec_resource(const td_kspec_t *ks, const char *file, char *out, size_t cap);

/* 1 when name is a valid kernelspec name ([A-Za-z0-9._-]+, at most 128 chars). */
int td_kspec_name_ok(const char *name);

#endif
