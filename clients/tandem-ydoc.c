/* tandem-ydoc: inspect and combine Yjs v1 updates from the command line with Tandem's engine.
 *
 *   tandem-ydoc json [--root NAME=text|array|map]... FILE...   the document as JSON (yjs toJSON)
 *   tandem-ydoc encode FILE...                                  encodeStateAsUpdate, binary
 *   tandem-ydoc sv FILE...                                      the state vector as JSON
 *   tandem-ydoc merge FILE...                                   mergeUpdates, binary
 *   tandem-ydoc diff SVFILE FILE...                             diffUpdate against a state vector
 *
 * Each FILE holds one binary update ("-" reads stdin); they are applied in the order given to a
 * fresh document. Root types carry no kind on the wire, so before applying we scan the updates:
 * an item whose parent resolves (directly, or through the origins it was inserted next to) to a
 * root votes for that root's kind: string, format and embed content for text, other list content
 * for array, keyed entries for map (list content wins, as yjs's toJSON of an undeclared root shows
 * its list). --root overrides the guess. Output formatting follows JSON.stringify: compact, keys in
 * the document's order, numbers in their shortest round-trip form.
 *
 * Exit status: 0 success, 1 an I/O or memory failure, 2 usage errors and malformed input (the
 * message names the file and the byte offset). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_ydoc.h"
#include "td/td_ytype.h"
#include "td/td_yupdate.h"

#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2 /* also malformed input */

static const char s_usage_text[] =
    "usage: tandem-ydoc json [--root NAME=text|array|map]... FILE...\n"
    "       tandem-ydoc encode FILE...\n"
    "       tandem-ydoc sv FILE...\n"
    "       tandem-ydoc merge FILE...\n"
    "       tandem-ydoc diff SVFILE FILE...\n"
    "       tandem-ydoc --help\n"
    "\n"
    "Each FILE holds one Yjs v1 update (binary; '-' is stdin). The updates are applied in the\n"
    "given order to a fresh document.\n"
    "  json    print the document as JSON, one key per root type (like yjs doc.toJSON()); root\n"
    "          kinds are inferred from the content unless given with --root\n"
    "  encode  write the document as one update (encodeStateAsUpdate) to stdout\n"
    "  sv      print the state vector as JSON {\"client\": clock}\n"
    "  merge   write the updates merged into one (mergeUpdates) to stdout, without a document\n"
    "  diff    write what the merged updates hold beyond the binary state vector SVFILE\n"
    "\n"
    "Exit status: 0 success, 1 I/O failure, 2 usage error or malformed update.\n";

typedef struct s_file {
    const char *path;
    uint8_t *data;
    size_t len;
} s_file_t;

/* ---- input ----------------------------------------------------------------------------------- */

static int s_read(s_file_t *f)
{
    FILE *fp = strcmp(f->path, "-") == 0 ? stdin : fopen(f->path, "rb");
    if (!fp) {
        fprintf(stderr, "tandem-ydoc: %s: %s\n", f->path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    if (!buf || bad) {
        fprintf(stderr, "tandem-ydoc: %s: %s\n", f->path, buf ? "read error" : "out of memory");
        free(buf);
        return -1;
    }
    f->data = buf;
    f->len = len;
    return 0;
}

static int s_write(const uint8_t *p, size_t n)
{
    if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) {
        fprintf(stderr, "tandem-ydoc: write error: %s\n", strerror(errno));
        return S_EXIT_FAIL;
    }
    return 0;
}

static int s_malformed(const char *path, const td_error_t *err)
{
    fprintf(stderr, "tandem-ydoc: %s: malformed update at byte %zu: %s\n", path, err->offset,
            err->text[0] ? err->text : td_strerror(err->code));
    return S_EXIT_USAGE;
}

/* ---- root kind inference --------------------------------------------------------------------- */

/* Per struct: which root it hangs off (an index into the root names), or none / unknown, and
 * whether it is a map entry. Both travel along origins: YATA only ever puts an item next to its
 * siblings (list items next to list items, a key's values next to that key's values), and merged
 * updates drop the map-key bit of items that have origins, so the chain is the reliable witness. */
enum { S_UNKNOWN = -1, S_NESTED = -2, S_BUSY = -3 };

typedef struct s_ref {
    const td_ystruct_t *s;
    int root;
    bool sub;
} s_ref_t;

typedef struct s_roots {
    char **names;
    size_t *lens; /* a name may hold NUL bytes; such roots cannot be declared by name */
    bool *list_text, *list_other, *map;
    size_t n, cap;
} s_roots_t;

static int s_root_index(s_roots_t *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->lens[i] == len && memcmp(r->names[i], name, len) == 0)
            return (int)i;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **names = realloc(r->names, cap * sizeof *names);
        if (names)
            r->names = names;
        size_t *lens = realloc(r->lens, cap * sizeof *lens);
        if (lens)
            r->lens = lens;
        bool *a = realloc(r->list_text, cap), *b = realloc(r->list_other, cap);
        if (a)
            r->list_text = a;
        if (b)
            r->list_other = b;
        bool *c = realloc(r->map, cap);
        if (c)
            r->map = c;
        if (!names || !lens || !a || !b || !c)
            return -1;
        r->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, name, len);
    copy[len] = 0;
    r->names[r->n] = copy;
    r->lens[r->n] = len;
    r->list_text[r->n] = r->list_other[r->n] = r->map[r->n] = false;
    return (int)r->n++;
}

static int s_ref_cmp(const void *a, const void *b)
{
    const s_ref_t *x = a, *y = b;
    if (x->s->id.client != y->s->id.client)
        return x->s->id.client < y->s->id.client ? -1 : 1;
    return x->s->id.clock < y->s->id.clock ? -1 : x->s->id.clock > y->s->id.clock;
}

/* The struct containing id, or NULL. refs is sorted by (client, clock). */
static s_ref_t *s_find(s_ref_t *refs, size_t n, td_yid_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const td_ystruct_t *s = refs[mid].s;
        if (s->id.client < id.client ||
            (s->id.client == id.client && s->id.clock + s->len <= id.clock))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && refs[lo].s->id.client == id.client && refs[lo].s->id.clock <= id.clock)
        return &refs[lo];
    return NULL;
}

/* Resolves refs[i] by following origins, without recursion: the chain is walked to something
 * known, then everything on it gets that answer. 0, or -1 on OOM. */
static int s_resolve(s_roots_t *roots, s_ref_t *refs, size_t n, size_t i, size_t *stack)
{
    size_t depth = 0;
    s_ref_t *r = &refs[i];
    int root = S_NESTED;
    bool sub = false;
    while (r->root == S_UNKNOWN) {
        const td_ystruct_t *s = r->s;
        if (s->kind != TD_YSTRUCT_ITEM || s->parent_kind == TD_YPARENT_ID) {
            r->root = S_NESTED; /* GC tells nothing; an id parent is a nested type */
            break;
        }
        if (s->parent_kind == TD_YPARENT_ROOT) {
            int k = s_root_index(roots, (const char *)s->parent_name.data, s->parent_name.len);
            if (k < 0)
                return -1;
            r->root = k;
            r->sub = s->parent_sub.data != NULL;
            break;
        }
        s_ref_t *next = s->has_origin ? s_find(refs, n, s->origin) : NULL;
        if (!next && s->has_right_origin)
            next = s_find(refs, n, s->right_origin);
        if (!next) {
            r->root = S_NESTED; /* its neighbours are in none of the files */
            break;
        }
        r->root = S_BUSY;
        stack[depth++] = (size_t)(r - refs);
        r = next;
    }
    if (r->root >= 0) {
        root = r->root;
        sub = r->sub;
    }
    /* A chain ending in S_BUSY is a cycle, which only malformed input has; apply will say so. */
    while (depth > 0) {
        s_ref_t *x = &refs[stack[--depth]];
        x->root = root;
        x->sub = sub;
    }
    return 0;
}

/* Scans decoded updates and fills roots with names and content votes. 0 or -1 on OOM. */
static int s_infer(td_yupdate_t **ups, size_t nups, s_roots_t *roots)
{
    size_t total = 0;
    for (size_t u = 0; u < nups; u++)
        total += td_yupdate_nstructs(ups[u]);
    s_ref_t *refs = malloc((total + 1) * sizeof *refs);
    size_t *stack = malloc((total + 1) * sizeof *stack);
    if (!refs || !stack) {
        free(refs);
        free(stack);
        return -1;
    }
    size_t n = 0;
    for (size_t u = 0; u < nups; u++) {
        for (size_t i = 0; i < td_yupdate_nstructs(ups[u]); i++) {
            const td_ystruct_t *s = td_yupdate_struct(ups[u], i);
            if (s->kind != TD_YSTRUCT_SKIP && s->len > 0)
                refs[n++] = (s_ref_t){s, S_UNKNOWN, false};
            /* Register roots in wire order, the order yjs's doc.share meets them. */
            if (s->kind == TD_YSTRUCT_ITEM && s->parent_kind == TD_YPARENT_ROOT &&
                s_root_index(roots, (const char *)s->parent_name.data, s->parent_name.len) < 0) {
                free(refs);
                free(stack);
                return -1;
            }
        }
    }
    qsort(refs, n, sizeof *refs, s_ref_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = s_resolve(roots, refs, n, i, stack);
        if (rc != 0 || refs[i].root < 0)
            continue;
        size_t k = (size_t)refs[i].root;
        if (refs[i].sub) {
            roots->map[k] = true;
            continue;
        }
        switch (refs[i].s->content) {
        case TD_YCONTENT_STRING:
        case TD_YCONTENT_FORMAT:
        case TD_YCONTENT_EMBED:
            roots->list_text[k] = true;
            break;
        case TD_YCONTENT_DELETED:
            break;
        default:
            roots->list_other[k] = true;
        }
    }
    free(refs);
    free(stack);
    return rc;
}

static int s_kind_of(const char *word)
{
    if (strcmp(word, "text") == 0)
        return TD_YTYPE_TEXT;
    if (strcmp(word, "array") == 0)
        return TD_YTYPE_ARRAY;
    if (strcmp(word, "map") == 0)
        return TD_YTYPE_MAP;
    return TD_YTYPE_UNDEFINED;
}

/* ---- JSON output like JSON.stringify --------------------------------------------------------- */

static void s_put_string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

/* A double as JavaScript's Number.prototype.toString prints it: the shortest digits that read
 * back as the same double, in plain notation for exponents -7 < e < 21, else d.ddde+x. */
static void s_put_number(FILE *out, double v)
{
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    if (v == 0) {
        fputc('0', out);
        return;
    }
    char buf[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* buf is [-]d.ddde[+-]xx: collect the digits and the decimal exponent. */
    const char *p = buf;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[20];
    int nd = 0;
    for (; *p && *p != 'e'; p++) {
        if (*p != '.')
            digits[nd++] = *p;
    }
    int exp = atoi(p + 1); /* value = 0.d1d2... * 10^(exp + 1) */
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int point = exp + 1; /* digits before the decimal point */
    if (neg)
        fputc('-', out);
    if (point > 21 || point < -5) {
        fputc(digits[0], out);
        if (nd > 1) {
            fputc('.', out);
            fwrite(digits + 1, 1, (size_t)nd - 1, out);
        }
        fprintf(out, "e%c%d", exp >= 0 ? '+' : '-', exp >= 0 ? exp : -exp);
    } else if (point <= 0) {
        fputs("0.", out);
        for (int i = 0; i < -point; i++)
            fputc('0', out);
        fwrite(digits, 1, (size_t)nd, out);
    } else if (point >= nd) {
        fwrite(digits, 1, (size_t)nd, out);
        for (int i = nd; i < point; i++)
            fputc('0', out);
    } else {
        fwrite(digits, 1, (size_t)point, out);
        fputc('.', out);
        fwrite(digits + point, 1, (size_t)(nd - point), out);
    }
}

static void s_put_json(FILE *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        /* Through the iterator, so that keys holding NUL bytes come out whole. */
        fputc('{', out);
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                fputc(',', out);
            first = false;
            s_put_string(out, json_object_iter_key(it), json_object_iter_key_len(it));
            fputc(':', out);
            s_put_json(out, json_object_iter_value(it));
        }
        fputc('}', out);
        break;
    }
    case JSON_ARRAY:
        fputc('[', out);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                fputc(',', out);
            s_put_json(out, json_array_get(v, i));
        }
        fputc(']', out);
        break;
    case JSON_STRING:
        s_put_string(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        s_put_number(out, json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", out);
        break;
    case JSON_FALSE:
        fputs("false", out);
        break;
    default:
        fputs("null", out);
    }
}

/* ---- commands -------------------------------------------------------------------------------- */

typedef struct s_hint {
    const char *name;
    int kind;
} s_hint_t;

/* Builds a document from files: infers or takes root kinds, then applies in order. */
static int s_build(s_file_t *files, size_t n, const s_hint_t *hints, size_t nhints, td_ydoc_t **out)
{
    td_yupdate_t **ups = calloc(n + 1, sizeof *ups);
    s_roots_t roots = {0};
    td_ydoc_t *doc = td_ydoc_new(NULL, 0);
    int status = 0;
    if (!ups || !doc) {
        fprintf(stderr, "tandem-ydoc: out of memory\n");
        status = S_EXIT_FAIL;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        td_error_t err = {0};
        if (td_yupdate_decode(files[i].data, files[i].len, &ups[i], &err) < 0) {
            status = err.code == TD_ENOMEM ? S_EXIT_FAIL : s_malformed(files[i].path, &err);
            goto done;
        }
    }
    if (s_infer(ups, n, &roots) != 0) {
        fprintf(stderr, "tandem-ydoc: out of memory\n");
        status = S_EXIT_FAIL;
        goto done;
    }
    for (size_t i = 0; i < nhints; i++) {
        if (!td_ydoc_get(doc, hints[i].name, hints[i].kind)) {
            fprintf(stderr, "tandem-ydoc: out of memory\n");
            status = S_EXIT_FAIL;
            goto done;
        }
    }
    for (size_t i = 0; i < roots.n; i++) {
        int kind = roots.list_text[i]    ? TD_YTYPE_TEXT
                   : roots.list_other[i] ? TD_YTYPE_ARRAY
                   : roots.map[i]        ? TD_YTYPE_MAP
                                         : TD_YTYPE_UNDEFINED;
        bool hinted = false;
        for (size_t h = 0; h < nhints; h++)
            hinted |= strcmp(hints[h].name, roots.names[i]) == 0;
        bool nameable = strlen(roots.names[i]) == roots.lens[i];
        if (!hinted && nameable && kind != TD_YTYPE_UNDEFINED &&
            !td_ydoc_get(doc, roots.names[i], kind)) {
            fprintf(stderr, "tandem-ydoc: out of memory\n");
            status = S_EXIT_FAIL;
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        td_error_t err = {0};
        int rc = td_ydoc_apply_update(doc, files[i].data, files[i].len, NULL, &err);
        if (rc == TD_EPROTO) {
            status = s_malformed(files[i].path, &err);
            goto done;
        }
        if (rc != 0) {
            fprintf(stderr, "tandem-ydoc: %s: %s\n", files[i].path, td_strerror(rc));
            status = S_EXIT_FAIL;
            goto done;
        }
    }
    *out = doc;
    doc = NULL;
done:
    for (size_t i = 0; ups && i < n; i++)
        td_yupdate_destroy(&ups[i]);
    free(ups);
    for (size_t i = 0; i < roots.n; i++)
        free(roots.names[i]);
    free(roots.names);
    free(roots.lens);
    free(roots.list_text);
    free(roots.list_other);
    free(roots.map);
    td_ydoc_destroy(&doc);
    return status;
}

static int s_cmd_json(td_ydoc_t *doc)
{
    json_t *j = td_ydoc_to_json(doc);
    if (!j) {
        fprintf(stderr, "tandem-ydoc: cannot export the document as JSON\n");
        return S_EXIT_FAIL;
    }
    s_put_json(stdout, j);
    fputc('\n', stdout);
    json_decref(j);
    return fflush(stdout) == 0 ? 0 : S_EXIT_FAIL;
}

static int s_cmd_encode(td_ydoc_t *doc)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    int rc = td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL);
    int status = rc == 0 && e.err == 0 ? s_write(e.buf, e.len) : S_EXIT_FAIL;
    td_lib0_enc_fini(&e);
    return status;
}

static int s_cmd_sv(td_ydoc_t *doc)
{
    td_ysv_t *sv = NULL;
    if (td_ydoc_state_vector(doc, &sv) != 0)
        return S_EXIT_FAIL;
    /* Descending client ids, the order of an encoded state vector. */
    size_t n = td_ysv_count(sv);
    uint64_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids) {
        td_ysv_destroy(&sv);
        return S_EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t clock;
        td_ysv_entry(sv, i, &ids[i], &clock);
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && ids[j - 1] < ids[j]; j--) {
            uint64_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    }
    fputc('{', stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s\"%" PRIu64 "\":%" PRIu64, i ? "," : "", ids[i], td_ysv_get(sv, ids[i]));
    fputs("}\n", stdout);
    free(ids);
    td_ysv_destroy(&sv);
    return fflush(stdout) == 0 ? 0 : S_EXIT_FAIL;
}

/* Validates each file with its own name in errors; merge and diff then work on valid bytes. */
static int s_validate(s_file_t *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        td_yupdate_t *u = NULL;
        td_error_t err = {0};
        if (td_yupdate_decode(files[i].data, files[i].len, &u, &err) < 0)
            return err.code == TD_ENOMEM ? S_EXIT_FAIL : s_malformed(files[i].path, &err);
        td_yupdate_destroy(&u);
    }
    return 0;
}

static int s_merge(s_file_t *files, size_t n, td_lib0_enc_t *out)
{
    int status = s_validate(files, n);
    if (status != 0)
        return status;
    td_bytes_t *views = calloc(n + 1, sizeof *views);
    if (!views)
        return S_EXIT_FAIL;
    for (size_t i = 0; i < n; i++)
        views[i] = (td_bytes_t){files[i].data, files[i].len};
    td_error_t err = {0};
    int rc = td_yupdate_merge(views, n, out, &err);
    free(views);
    if (rc == TD_EPROTO)
        return s_malformed(n == 1 ? files[0].path : "merged updates", &err);
    return rc == 0 && out->err == 0 ? 0 : S_EXIT_FAIL;
}

static int s_cmd_merge(s_file_t *files, size_t n)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    int status = s_merge(files, n, &e);
    if (status == 0)
        status = s_write(e.buf, e.len);
    td_lib0_enc_fini(&e);
    return status;
}

static int s_cmd_diff(s_file_t *sv, s_file_t *files, size_t n)
{
    td_ysv_t *parsed = NULL;
    td_error_t err = {0};
    if (td_ysv_decode(sv->data, sv->len, &parsed, &err) < 0) {
        if (err.code == TD_ENOMEM)
            return S_EXIT_FAIL;
        fprintf(stderr, "tandem-ydoc: %s: malformed state vector at byte %zu: %s\n", sv->path,
                err.offset, err.text);
        return S_EXIT_USAGE;
    }
    td_ysv_destroy(&parsed);
    td_lib0_enc_t merged, e;
    td_lib0_enc_init(&merged);
    td_lib0_enc_init(&e);
    int status = s_merge(files, n, &merged);
    if (status == 0) {
        err = (td_error_t){0};
        int rc = td_yupdate_diff(merged.buf, merged.len, sv->data, sv->len, &e, &err);
        if (rc == TD_EPROTO)
            status = s_malformed(n == 1 ? files[0].path : "merged updates", &err);
        else if (rc != 0 || e.err != 0)
            status = S_EXIT_FAIL;
        else
            status = s_write(e.buf, e.len);
    }
    td_lib0_enc_fini(&merged);
    td_lib0_enc_fini(&e);
    return status;
}

static int s_usage(int status)
{
    fputs(s_usage_text, status == 0 ? stdout : stderr);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return s_usage(S_EXIT_USAGE);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return s_usage(0);
    const char *cmd = argv[1];
    bool is_json = strcmp(cmd, "json") == 0;
    if (!is_json && strcmp(cmd, "encode") != 0 && strcmp(cmd, "sv") != 0 &&
        strcmp(cmd, "merge") != 0 && strcmp(cmd, "diff") != 0) {
        fprintf(stderr, "tandem-ydoc: unknown command '%s'\n", cmd);
        return s_usage(S_EXIT_USAGE);
    }
    s_hint_t *hints = calloc((size_t)argc, sizeof *hints);
    s_file_t *files = calloc((size_t)argc, sizeof *files);
    if (!hints || !files) {
        fprintf(stderr, "tandem-ydoc: out of memory\n");
        return S_EXIT_FAIL;
    }
    size_t nhints = 0, nfiles = 0;
    int status = 0;
    bool opts_done = false;
    for (int i = 2; i < argc && status == 0; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            free(hints);
            free(files);
            return s_usage(0);
        } else if (!opts_done && is_json && strncmp(a, "--root", 6) == 0) {
            const char *spec = a[6] == '=' ? a + 7 : a[6] == 0 && i + 1 < argc ? argv[++i] : NULL;
            const char *eq = spec ? strrchr(spec, '=') : NULL;
            int kind = eq ? s_kind_of(eq + 1) : TD_YTYPE_UNDEFINED;
            if (!eq || kind == TD_YTYPE_UNDEFINED) {
                fprintf(stderr, "tandem-ydoc: --root wants NAME=text|array|map\n");
                status = s_usage(S_EXIT_USAGE);
                break;
            }
            ((char *)eq)[0] = 0; /* argv strings are ours to edit */
            hints[nhints++] = (s_hint_t){spec, kind};
        } else if (!opts_done && a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "tandem-ydoc: unknown option '%s'\n", a);
            status = s_usage(S_EXIT_USAGE);
        } else {
            files[nfiles++].path = a;
        }
    }
    bool is_diff = strcmp(cmd, "diff") == 0;
    if (status == 0 && (nfiles == 0 || (is_diff && nfiles < 2))) {
        fprintf(stderr, "tandem-ydoc: %s needs %s\n", cmd, is_diff ? "SVFILE and FILE" : "FILE");
        status = s_usage(S_EXIT_USAGE);
    }
    for (size_t i = 0; i < nfiles && status == 0; i++) {
        if (s_read(&files[i]) != 0)
            status = S_EXIT_FAIL;
    }
    if (status == 0) {
        if (strcmp(cmd, "merge") == 0) {
            status = s_cmd_merge(files, nfiles);
        } else if (is_diff) {
            status = s_cmd_diff(&files[0], files + 1, nfiles - 1);
        } else {
            td_ydoc_t *doc = NULL;
            status = s_build(files, nfiles, hints, nhints, &doc);
            if (status == 0)
                status = is_json                  ? s_cmd_json(doc)
                         : strcmp(cmd, "sv") == 0 ? s_cmd_sv(doc)
                                                  : s_cmd_encode(doc);
            td_ydoc_destroy(&doc);
        }
    }
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    free(hints);
    free(files);
    return status;
}
