/* ynb_driver: a command-line face of td_ynotebook for the node differential test (run.mjs).
 *   ynb_driver load NB.json OUT.bin            state-as-update of the loaded notebook
 *   ynb_driver export STATE.bin OUT.json [split] the document as nbformat 4.5
 *   ynb_driver merge STATE.bin BASE.json|- DISK.json CLIENT OUT.bin
 *                                              the merge update (empty file: no update)
 * Exit 0 on success, 1 with a message on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_ynotebook.h"

static uint8_t *s_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *n = len;
    return buf;
}

static int s_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static td_ydoc_t *s_doc_from(const char *path)
{
    size_t n = 0;
    uint8_t *u = s_slurp(path, &n);
    td_ydoc_t *doc = td_ydoc_new(NULL, 1);
    td_error_t err = {0};
    if (u == NULL || doc == NULL || td_ydoc_apply_update(doc, u, n, NULL, &err) != 0) {
        fprintf(stderr, "cannot apply %s: %s\n", path, err.text);
        exit(1);
    }
    free(u);
    return doc;
}

static json_t *s_json_from(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL) {
        fprintf(stderr, "%s: %s\n", path, je.text);
        exit(1);
    }
    return j;
}

int main(int argc, char **argv)
{
    td_error_t err = {0};
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    if (argc == 4 && strcmp(argv[1], "load") == 0) {
        json_t *nb = s_json_from(argv[2]);
        td_ydoc_t *doc = NULL;
        int rc = td_ynb_new_from_json(nb, &doc, &err);
        if (rc != 0) {
            fprintf(stderr, "load: %s: %s\n", td_strerror(rc), err.text);
            return 1;
        }
        td_ydoc_encode_state_as_update(doc, NULL, 0, &e, NULL);
        rc = s_write(argv[3], e.buf, e.len);
        td_ydoc_destroy(&doc);
        json_decref(nb);
        td_lib0_enc_fini(&e);
        return rc ? 1 : 0;
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "export") == 0) {
        td_ydoc_t *doc = s_doc_from(argv[2]);
        json_t *out = NULL;
        int rc = td_ynb_export(doc, argc == 5 ? TD_YNB_SPLIT_LINES : 0, &out, &err);
        if (rc != 0) {
            fprintf(stderr, "export: %s: %s\n", td_strerror(rc), err.text);
            return 1;
        }
        rc = json_dump_file(out, argv[3], JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(out);
        td_ydoc_destroy(&doc);
        return rc ? 1 : 0;
    }
    if (argc == 7 && strcmp(argv[1], "merge") == 0) {
        td_ydoc_t *doc = s_doc_from(argv[2]);
        json_t *base = strcmp(argv[3], "-") == 0 ? NULL : s_json_from(argv[3]);
        json_t *disk = s_json_from(argv[4]);
        bool changed = false;
        int rc =
            td_ynb_merge(doc, base, disk, strtoull(argv[5], NULL, 10), NULL, &e, &changed, &err);
        if (rc != 0) {
            fprintf(stderr, "merge: %s: %s\n", td_strerror(rc), err.text);
            return 1;
        }
        rc = s_write(argv[6], e.buf ? e.buf : (uint8_t *)"", e.len);
        td_lib0_enc_fini(&e);
        json_decref(base);
        json_decref(disk);
        td_ydoc_destroy(&doc);
        return rc ? 1 : 0;
    }
    fprintf(stderr, "usage: ynb_driver load|export|merge ...\n");
    return 1;
}
