/* test_td_contents.c: the Contents API over a scratch root. Path normalisation ("..", backslash,
 * control bytes refused); symlinks out of the root (file, directory, absolute) never read, written,
 * renamed through or deleted beyond the link itself, with a sentinel outside checked byte for byte;
 * the same with the O_NOFOLLOW fallback walk; models and listings (hidden entries); notebooks on
 * disk exactly as nbformat writes them; text/base64/hash; untitled names, copies, renames (409),
 * deletes, chunked uploads, checkpoints; the HTTP-level entry point (400, 405). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH */
#endif
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td/td_error.h"
#include "td_contents.h"
#include "test.h"

static char s_base[256], s_root[300];

/* 1 when openat2 works here (not under valgrind or a seccomp filter that refuses it). */
static int s_have_openat2(void)
{
    struct open_how how = {.flags = O_PATH, .resolve = RESOLVE_BENEATH};
    long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
    if (fd >= 0)
        close((int)fd);
    return fd >= 0;
}

static void s_write_file(const char *rel, const char *text)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", s_base, rel);
    FILE *f = fopen(p, "wb");
    TD_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* The whole file under the scratch base, or NULL when missing (caller frees). */
static char *s_slurp(const char *rel)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", s_base, rel);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static int s_exists(const char *rel)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", s_base, rel);
    return lstat(p, &st) == 0;
}

static void s_sentinels_intact(void)
{
    char *a = s_slurp("outside.txt"), *b = s_slurp("outdir/keep.txt");
    TD_ASSERT_STR_EQ(a, "SENTINEL\n");
    TD_ASSERT_STR_EQ(b, "KEEP\n");
    free(a);
    free(b);
    TD_ASSERT(!s_exists("outdir/new.txt"));
    TD_ASSERT(!s_exists("outdir/a.txt"));
    TD_ASSERT(!s_exists("a.txt"));
    TD_ASSERT(!s_exists("x.txt"));
}

/* Drops the reply *body_p once the call that produced it has run (hence the pointer). */
static int s_status(int st, json_t **body_p)
{
    json_decref(*body_p);
    *body_p = NULL;
    return st;
}

static json_t *s_text_model(const char *text)
{
    return json_pack("{s:s, s:s, s:s}", "type", "file", "format", "text", "content", text);
}

/* Listing names of the directory rel, joined by ','. */
static void s_names(td_contents_t *c, const char *rel, char *out, size_t cap)
{
    json_t *m = NULL;
    TD_ASSERT_EQ(td_contents_get(c, rel, NULL, &m), 200);
    out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(m, "content"), i, e)
    {
        if (i)
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, json_string_value(json_object_get(e, "name")), cap - strlen(out) - 1);
        TD_ASSERT(json_is_null(json_object_get(e, "content")));
    }
    json_decref(m);
}

static void s_hostile(td_contents_t *c)
{
    json_t *m = NULL, *body;
    td_contents_query_t q = {0};
    /* Reads through escaping links: missing. */
    TD_ASSERT_EQ(s_status(td_contents_get(c, "link_out", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "dir_out", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "dir_out/keep.txt", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "abs_out", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "../outside.txt", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "sub/../../outside.txt", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "/etc/passwd", &q, &m), &m), 404); /* = root/etc/passwd */
    TD_ASSERT_EQ(s_status(td_contents_get(c, "..\\outside.txt", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_checkpoints_list(c, "../outside.txt", &m), &m), 404);
    /* Writes through them: forbidden, nothing appears outside. */
    body = s_text_model("pwned");
    TD_ASSERT_EQ(s_status(td_contents_put(c, "link_out", body, &m), &m), 403);
    TD_ASSERT_EQ(s_status(td_contents_put(c, "dir_out/new.txt", body, &m), &m), 403);
    TD_ASSERT_EQ(s_status(td_contents_put(c, "../x.txt", body, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_put(c, "abs_out/x.txt", body, &m), &m), 403);
    json_decref(body);
    body = json_pack("{s:s}", "path", "dir_out/a.txt");
    TD_ASSERT_EQ(s_status(td_contents_patch(c, "a.txt", body, &m), &m), 403);
    json_decref(body);
    body = json_pack("{s:s}", "path", "../a.txt");
    TD_ASSERT_EQ(s_status(td_contents_patch(c, "a.txt", body, &m), &m), 404);
    json_decref(body);
    body = json_pack("{s:s}", "path", "link_out");
    TD_ASSERT_EQ(s_status(td_contents_patch(c, "../outside.txt", body, &m), &m), 404);
    json_decref(body);
    body = json_pack("{s:s}", "copy_from", "link_out");
    TD_ASSERT_EQ(s_status(td_contents_post(c, "", body, &m), &m), 404);
    json_decref(body);
    body = json_pack("{s:s}", "copy_from", "a.txt");
    TD_ASSERT_EQ(s_status(td_contents_post(c, "dir_out", body, &m), &m), 403);
    json_decref(body);
    TD_ASSERT_EQ(s_status(td_contents_delete(c, "../outside.txt", &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_delete(c, "dir_out/keep.txt", &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_checkpoint_create(c, "link_out", &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_checkpoint_restore(c, "link_out", "checkpoint", &m), &m),
                 404);
    s_sentinels_intact();
}

static void s_paths(void)
{
    char out[64];
    TD_ASSERT_OK(td_contents_path_norm("/a//b/./c/", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "a/b/c");
    TD_ASSERT_OK(td_contents_path_norm("", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "");
    TD_ASSERT_OK(td_contents_path_norm("%2e%2e/x", out, sizeof out)); /* a literal name */
    TD_ASSERT_STR_EQ(out, "%2e%2e/x");
    TD_ASSERT_OK(td_contents_path_norm("...", out, sizeof out));
    TD_ASSERT_EQ(td_contents_path_norm("..", out, sizeof out), TD_EINVAL);
    TD_ASSERT_EQ(td_contents_path_norm("a/../b", out, sizeof out), TD_EINVAL);
    TD_ASSERT_EQ(td_contents_path_norm("a\\..\\b", out, sizeof out), TD_EINVAL);
    TD_ASSERT_EQ(td_contents_path_norm("a\nb", out, sizeof out), TD_EINVAL);
    TD_ASSERT_EQ(td_contents_path_norm("a\x7f", out, sizeof out), TD_EINVAL);
    TD_ASSERT_EQ(td_contents_path_norm("0123456789/0123456789/0123456789/0123456789/0123456789/0123456789", out, sizeof out), TD_E2BIG);

    td_route_t r;
    td_route_match("/api/contents", &r);
    TD_ASSERT(r.id == TD_ROUTE_CONTENTS && r.cpath[0] == '\0');
    td_route_match("/api/contents/a/b c.ipynb", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_CONTENTS);
    TD_ASSERT_STR_EQ(r.cpath, "a/b c.ipynb");
    td_route_match("/api/contents/a/b.ipynb/checkpoints/", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_CONTENTS_CPS);
    TD_ASSERT_STR_EQ(r.cpath, "a/b.ipynb");
    td_route_match("/api/contents/a/b.ipynb/checkpoints/checkpoint", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_CONTENTS_CP);
    TD_ASSERT_STR_EQ(r.cpath, "a/b.ipynb");
    TD_ASSERT_STR_EQ(r.arg, "checkpoint");
    td_route_match("/api/contents/checkpoints/x.y", &r); /* not an id: a plain path */
    TD_ASSERT_EQ(r.id, TD_ROUTE_CONTENTS);
    TD_ASSERT_STR_EQ(r.cpath, "checkpoints/x.y");
    td_route_match("/api/contents/nb.ipynb/trust", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_CONTENTS_TRUST);
    td_route_match("/api/contentsx", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_NONE);
    td_route_match("/api/kernels", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_KERNELS);
}

static void s_notebooks(td_contents_t *c)
{
    json_t *m = NULL;
    json_t *nb = json_loads("{\"cells\": [{\"cell_type\": \"code\", \"source\": \"x = 1\\nprint(x)\", "
                            "\"metadata\": {\"trusted\": true}, \"execution_count\": 1, "
                            "\"outputs\": [{\"output_type\": \"stream\", \"name\": \"stdout\", "
                            "\"text\": \"1\\n\"}, {\"output_type\": \"execute_result\", "
                            "\"execution_count\": 1, \"metadata\": {}, \"data\": {\"text/plain\": "
                            "\"a\\nb\", \"application/json\": {\"k\": 0.1}}}]}], \"metadata\": "
                            "{\"f\": 1e16, \"g\": 1.5e-07, \"h\": 100.0}, \"nbformat\": 4, "
                            "\"nbformat_minor\": 5}",
                            0, NULL);
    TD_ASSERT(nb != NULL);
    json_t *body = json_pack("{s:s, s:s, s:O}", "type", "notebook", "format", "json", "content", nb);
    TD_ASSERT_EQ(td_contents_put(c, "sub/n.ipynb", body, &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "type")), "notebook");
    TD_ASSERT(json_is_null(json_object_get(m, "content")));
    json_decref(m);
    char *disk = s_slurp("root/sub/n.ipynb");
    const char *want =
        "{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n   \"execution_count\": 1,\n"
        "   \"metadata\": {},\n   \"outputs\": [\n    {\n     \"name\": \"stdout\",\n"
        "     \"output_type\": \"stream\",\n     \"text\": [\n      \"1\\n\"\n     ]\n    },\n"
        "    {\n     \"data\": {\n      \"application/json\": {\n       \"k\": 0.1\n      },\n"
        "      \"text/plain\": [\n       \"a\\n\",\n       \"b\"\n      ]\n     },\n"
        "     \"execution_count\": 1,\n     \"metadata\": {},\n     \"output_type\": "
        "\"execute_result\"\n    }\n   ],\n   \"source\": [\n    \"x = 1\\n\",\n    \"print(x)\"\n"
        "   ]\n  }\n ],\n \"metadata\": {\n  \"f\": 1e+16,\n  \"g\": 1.5e-07,\n  \"h\": 100.0\n },\n"
        " \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n";
    TD_ASSERT_STR_EQ(disk, want);
    free(disk);
    TD_ASSERT(s_exists("root/sub/.ipynb_checkpoints/n-checkpoint.ipynb"));
    TD_ASSERT_EQ(td_contents_put(c, "sub/n.ipynb", body, &m), 200);
    json_decref(m);
    json_decref(body);
    TD_ASSERT_EQ(td_contents_get(c, "sub/n.ipynb", NULL, &m), 200);
    json_t *cell = json_array_get(json_object_get(json_object_get(m, "content"), "cells"), 0);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(cell, "source")), "x = 1\nprint(x)");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "format")), "json");
    TD_ASSERT(json_is_null(json_object_get(m, "mimetype")));
    json_decref(m);
    json_decref(nb);
    /* Untitled notebooks, files and folders. */
    const char *want_names[] = {"Untitled.ipynb", "Untitled1.ipynb"};
    for (int i = 0; i < 2; i++) {
        body = json_pack("{s:s}", "type", "notebook");
        TD_ASSERT_EQ(td_contents_post(c, "sub", body, &m), 201);
        TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "name")), want_names[i]);
        json_decref(m);
        json_decref(body);
    }
    disk = s_slurp("root/sub/Untitled.ipynb");
    TD_ASSERT_STR_EQ(disk, "{\n \"cells\": [],\n \"metadata\": {},\n \"nbformat\": 4,\n"
                           " \"nbformat_minor\": 5\n}\n");
    free(disk);
    body = json_pack("{s:s, s:s}", "type", "file", "ext", ".txt");
    TD_ASSERT_EQ(td_contents_post(c, "sub", body, &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "path")), "sub/untitled.txt");
    json_decref(m);
    TD_ASSERT_EQ(td_contents_post(c, "sub", body, &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "path")), "sub/untitled1.txt");
    json_decref(m);
    json_decref(body);
    body = json_pack("{s:s}", "type", "directory");
    TD_ASSERT_EQ(td_contents_post(c, "", body, &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "name")), "Untitled Folder");
    json_decref(m);
    TD_ASSERT_EQ(td_contents_post(c, "", body, &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "name")), "Untitled Folder 1");
    json_decref(m);
    json_decref(body);
    TD_ASSERT_EQ(s_status(td_contents_post(c, "nope", NULL, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_post(c, "sub/n.ipynb", NULL, &m), &m), 400);
}

static void s_files(td_contents_t *c)
{
    json_t *m = NULL, *body;
    td_contents_query_t q = {0};
    /* Text, base64 (Python's encodebytes lines), hash. */
    s_write_file("root/bin.dat", "\xff\xfe\x00");
    q.format = "text";
    TD_ASSERT_EQ(s_status(td_contents_get(c, "bin.dat", &q, &m), &m), 400);
    q.format = NULL;
    q.hash = "1";
    TD_ASSERT_EQ(td_contents_get(c, "a.txt", &q, &m), 200);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "content")), "hello\n");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "format")), "text");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "hash")),
                     "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "hash_algorithm")), "sha256");
    TD_ASSERT_EQ(json_integer_value(json_object_get(m, "size")), 6);
    const char *lm = json_string_value(json_object_get(m, "last_modified"));
    TD_ASSERT(lm && strlen(lm) == 27 && lm[10] == 'T' && lm[19] == '.' && lm[26] == 'Z');
    json_decref(m);
    /* The raw read: the same bytes and the same hash as GET, confined like it. */
    char *raw = NULL, hash[65];
    size_t rawn = 0;
    TD_ASSERT_EQ(td_contents_read(c, "a.txt", &raw, &rawn, hash, NULL), 200);
    TD_ASSERT_EQ(rawn, 6);
    TD_ASSERT_STR_EQ(raw, "hello\n");
    TD_ASSERT_STR_EQ(hash, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    free(raw);
    TD_ASSERT_EQ(td_contents_read(c, "../outside.txt", &raw, &rawn, NULL, &m), 404);
    TD_ASSERT(raw == NULL && json_is_object(m));
    json_decref(m);
    TD_ASSERT_EQ(td_contents_read(c, "sub", &raw, &rawn, NULL, NULL), 400); /* not a file */
    /* td_contents_save hands back exactly what it wrote, with td_contents_read's hash. */
    char hash2[65];
    json_t *save = json_pack("{s:s, s:s, s:{s:i, s:i, s:{}, s:[]}}", "type", "notebook",
                             "format", "json", "content", "nbformat", 4, "nbformat_minor", 5,
                             "metadata", "cells");
    TD_ASSERT_EQ(td_contents_save(c, "saved.ipynb", save, &raw, &rawn, hash, NULL), 200);
    char *back = NULL;
    size_t backn = 0;
    TD_ASSERT_EQ(td_contents_read(c, "saved.ipynb", &back, &backn, hash2, NULL), 200);
    TD_ASSERT(rawn == backn && memcmp(raw, back, rawn) == 0 && raw[rawn] == '\0');
    TD_ASSERT_STR_EQ(hash, hash2);
    free(raw);
    free(back);
    json_decref(save);
    save = json_pack("{s:s, s:s, s:s}", "type", "file", "format", "text", "content", "");
    TD_ASSERT_EQ(td_contents_save(c, "empty.txt", save, &raw, &rawn, hash, NULL), 200);
    TD_ASSERT(rawn == 0 && raw && raw[0] == '\0');
    TD_ASSERT_STR_EQ(hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(raw);
    TD_ASSERT_EQ(td_contents_save(c, "../out.txt", save, &raw, &rawn, hash, &m), 404);
    TD_ASSERT(raw == NULL && json_is_object(m));
    json_decref(m);
    json_object_set_new(save, "type", json_string("directory"));
    TD_ASSERT_EQ(td_contents_save(c, "d", save, &raw, &rawn, hash, NULL), 400);
    json_decref(save);
    q.hash = "2";
    TD_ASSERT_EQ(s_status(td_contents_get(c, "a.txt", &q, &m), &m), 400);
    q.hash = NULL;
    q.content = "0";
    q.type = "directory";
    TD_ASSERT_EQ(s_status(td_contents_get(c, "a.txt", &q, &m), &m), 400);
    q.type = "notebook";
    TD_ASSERT_EQ(s_status(td_contents_get(c, "sub", &q, &m), &m), 400);
    q.type = NULL;
    q.content = NULL;
    char big[200];
    memset(big, 'A', 100);
    big[100] = '\0';
    body = json_pack("{s:s, s:s, s:s}", "type", "file", "format", "base64", "content",
                     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"
                     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==\n");
    TD_ASSERT_EQ(td_contents_put(c, "b64.bin", body, &m), 201);
    json_decref(m);
    json_decref(body);
    char *disk = s_slurp("root/b64.bin");
    TD_ASSERT_STR_EQ(disk, big);
    free(disk);
    q.format = "base64";
    TD_ASSERT_EQ(td_contents_get(c, "b64.bin", &q, &m), 200);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "content")),
                     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"
                     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==\n");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "mimetype")), "application/octet-stream");
    json_decref(m);
    q.format = NULL;
    body = json_pack("{s:s, s:s, s:s}", "type", "file", "format", "base64", "content", "QUF");
    TD_ASSERT_EQ(s_status(td_contents_put(c, "b64.bin", body, &m), &m), 400);
    json_decref(body);
    body = json_pack("{s:s, s:s}", "type", "file", "content", "x");
    TD_ASSERT_EQ(s_status(td_contents_put(c, "b64.bin", body, &m), &m), 400); /* no format */
    json_decref(body);
    /* Chunked upload (LargeFileManager): 1 writes, later chunks append. */
    const char *parts[3] = {"one,", "two,", "three"};
    int chunks[3] = {1, 2, -1};
    for (int i = 0; i < 3; i++) {
        body = json_pack("{s:s, s:s, s:s, s:i}", "type", "file", "format", "text", "content",
                         parts[i], "chunk", chunks[i]);
        int st = td_contents_put(c, "big.txt", body, &m);
        TD_ASSERT(st == 200 || st == 201);
        json_decref(m);
        json_decref(body);
    }
    disk = s_slurp("root/big.txt");
    TD_ASSERT_STR_EQ(disk, "one,two,three");
    free(disk);
    /* Copies: name-Copy1.ext, then -Copy2; a copy's copy does not stack suffixes. */
    const char *copies[][2] = {{"a.txt", "a-Copy1.txt"}, {"a.txt", "a-Copy2.txt"},
                               {"a-Copy1.txt", "a-Copy3.txt"}};
    for (int i = 0; i < 3; i++) {
        body = json_pack("{s:s}", "copy_from", copies[i][0]);
        TD_ASSERT_EQ(td_contents_post(c, "", body, &m), 201);
        TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "path")), copies[i][1]);
        json_decref(m);
        json_decref(body);
    }
    body = json_pack("{s:s}", "copy_from", "sub");
    TD_ASSERT_EQ(td_contents_post(c, "", body, &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "path")), "sub-Copy1");
    json_decref(m);
    json_decref(body);
    TD_ASSERT(s_exists("root/sub-Copy1/n.ipynb"));
    /* Renames: 409 onto an existing name, 404 for a missing source; checkpoints follow. */
    body = json_pack("{s:s}", "path", "a-Copy2.txt");
    TD_ASSERT_EQ(s_status(td_contents_patch(c, "a-Copy1.txt", body, &m), &m), 409);
    TD_ASSERT_EQ(s_status(td_contents_patch(c, "missing.txt", body, &m), &m), 404);
    json_decref(body);
    body = json_pack("{s:s}", "path", "sub/moved.txt");
    TD_ASSERT_EQ(td_contents_patch(c, "a-Copy1.txt", body, &m), 200);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "path")), "sub/moved.txt");
    json_decref(m);
    json_decref(body);
    TD_ASSERT(s_exists("root/sub/moved.txt") && !s_exists("root/a-Copy1.txt"));
    /* Deletes: non-empty folder refused, empty one and files removed. */
    TD_ASSERT_EQ(s_status(td_contents_delete(c, "sub", &m), &m), 400);
    TD_ASSERT_EQ(s_status(td_contents_delete(c, "", &m), &m), 400);
    TD_ASSERT_EQ(td_contents_delete(c, "Untitled Folder", &m), 204);
    TD_ASSERT(m == NULL && !s_exists("root/Untitled Folder"));
    TD_ASSERT_EQ(td_contents_delete(c, "a-Copy2.txt", &m), 204);
    TD_ASSERT_EQ(s_status(td_contents_delete(c, "a-Copy2.txt", &m), &m), 404);
}

static void s_checkpoints(td_contents_t *c)
{
    json_t *m = NULL, *body;
    TD_ASSERT_EQ(td_contents_checkpoints_list(c, "a.txt", &m), 200);
    TD_ASSERT_EQ(json_array_size(m), 0);
    json_decref(m);
    TD_ASSERT_EQ(td_contents_checkpoint_create(c, "a.txt", &m), 201);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "id")), "checkpoint");
    json_decref(m);
    TD_ASSERT(s_exists("root/.ipynb_checkpoints/a-checkpoint.txt"));
    body = s_text_model("changed");
    TD_ASSERT_EQ(td_contents_put(c, "a.txt", body, &m), 200);
    json_decref(m);
    json_decref(body);
    TD_ASSERT_EQ(td_contents_checkpoints_list(c, "a.txt", &m), 200);
    TD_ASSERT_EQ(json_array_size(m), 1);
    json_decref(m);
    TD_ASSERT_EQ(td_contents_checkpoint_restore(c, "a.txt", "checkpoint", &m), 204);
    char *disk = s_slurp("root/a.txt");
    TD_ASSERT_STR_EQ(disk, "hello\n");
    free(disk);
    TD_ASSERT_EQ(s_status(td_contents_checkpoint_restore(c, "a.txt", "other", &m), &m), 404);
    TD_ASSERT_EQ(td_contents_checkpoint_delete(c, "a.txt", "checkpoint", &m), 204);
    TD_ASSERT_EQ(s_status(td_contents_checkpoint_delete(c, "a.txt", "checkpoint", &m), &m), 404);
    TD_ASSERT(!s_exists("root/.ipynb_checkpoints/a-checkpoint.txt"));
}

static void s_http(td_contents_t *c)
{
    td_contents_reply_t rep;
    td_route_t r;
    td_route_match("/api/contents/a.txt", &r);
    TD_ASSERT_EQ(td_contents_handle(c, "PUT", &r, NULL, "{\"type\": ", 9, &rep), 400);
    json_decref(rep.body);
    TD_ASSERT_EQ(td_contents_handle(c, "PUT", &r, NULL, "[1]", 3, &rep), 400);
    json_decref(rep.body);
    TD_ASSERT_EQ(td_contents_handle(c, "PATCH", &r, NULL, NULL, 0, &rep), 400);
    json_decref(rep.body);
    TD_ASSERT_EQ(td_contents_handle(c, "OPTIONS", &r, NULL, NULL, 0, &rep), 405);
    json_decref(rep.body);
    const char *put = "{\"type\": \"file\", \"format\": \"text\", \"content\": \"hello\\n\"}";
    TD_ASSERT_EQ(td_contents_handle(c, "PUT", &r, NULL, put, strlen(put), &rep), 200);
    TD_ASSERT_STR_EQ(rep.location, "/api/contents/a.txt");
    json_decref(rep.body);
    td_route_match("/api/contents/sub/moved.txt/checkpoints", &r);
    TD_ASSERT_EQ(td_contents_handle(c, "POST", &r, NULL, NULL, 0, &rep), 201);
    TD_ASSERT_STR_EQ(rep.location, "/api/contents/sub/moved.txt/checkpoints/checkpoint");
    json_decref(rep.body);
    td_route_match("/api/contents/sub/moved.txt/checkpoints/checkpoint", &r);
    TD_ASSERT_EQ(td_contents_handle(c, "DELETE", &r, NULL, NULL, 0, &rep), 204);
    TD_ASSERT(rep.body == NULL);
    td_contents_query_t q = {.format = "json"};
    td_route_match("/api/contents/a.txt", &r);
    TD_ASSERT_EQ(td_contents_handle(c, "GET", &r, &q, NULL, 0, &rep), 400);
    json_decref(rep.body);
}

void test_td_contents(void)
{
    snprintf(s_base, sizeof s_base, "/tmp/td-contents-XXXXXX");
    TD_ASSERT(mkdtemp(s_base) != NULL);
    snprintf(s_root, sizeof s_root, "%s/root", s_base);
    char p[600];
    const char *dirs[] = {"root", "root/sub", "root/.hidden_dir", "root/.tandem", "root/__pycache__",
                          "outdir"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", s_base, dirs[i]);
        TD_ASSERT_OK(mkdir(p, 0755));
    }
    s_write_file("outside.txt", "SENTINEL\n");
    s_write_file("outdir/keep.txt", "KEEP\n");
    s_write_file("root/a.txt", "hello\n");
    s_write_file("root/.hidden", "h\n");
    s_write_file("root/x.pyc", "c\n");
    const char *links[][2] = {{"../outside.txt", "root/link_out"}, {"../outdir", "root/dir_out"},
                              {"/etc", "root/abs_out"}, {"a.txt", "root/link_in"},
                              {"../../outdir", "root/sub/up_out"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", s_base, links[i][1]);
        TD_ASSERT_OK(symlink(links[i][0], p));
    }
    s_paths();
    TD_ASSERT(td_contents_new("/nonexistent/dir") == NULL);
    td_contents_t *c = td_contents_new(s_root);
    TD_ASSERT(c != NULL);

    char names[512];
    s_names(c, "", names, sizeof names);
    /* link_in is followed (inside the root); links out, dot-entries and hide_globs are not shown. */
    int o2 = s_have_openat2();
    TD_ASSERT_STR_EQ(names, o2 ? "a.txt,link_in,sub" : "a.txt,sub");
    json_t *m = NULL;
    td_contents_query_t q = {0};
    if (o2) {
        TD_ASSERT_EQ(td_contents_get(c, "link_in", &q, &m), 200);
        TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "content")), "hello\n");
        json_decref(m);
    } else {
        printf("note: no openat2 here; only the O_NOFOLLOW walk is tested\n");
    }
    TD_ASSERT_EQ(s_status(td_contents_get(c, ".hidden", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, ".tandem", &q, &m), &m), 404);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "sub/up_out/keep.txt", &q, &m), &m), 404);
    json_t *body = s_text_model("x");
    TD_ASSERT_EQ(s_status(td_contents_put(c, ".evil", body, &m), &m), 400);
    TD_ASSERT_EQ(s_status(td_contents_put(c, ".hidden_dir/x.txt", body, &m), &m), 400);
    json_decref(body);
    TD_ASSERT_EQ(s_status(td_contents_delete(c, ".hidden", &m), &m), 400);
    s_hostile(c);

    s_notebooks(c);
    s_files(c);
    s_checkpoints(c);
    s_http(c);
    s_hostile(c);
    /* Deleting a link removes the link, never what it points to. */
    TD_ASSERT_EQ(td_contents_delete(c, "dir_out", &m), 204);
    TD_ASSERT(!s_exists("root/dir_out"));
    s_sentinels_intact();
    td_contents_destroy(&c);
    TD_ASSERT(c == NULL);
    td_contents_destroy(&c);

    /* Without openat2 the walk refuses every symlink, even inside the root. */
    setenv("TANDEM_CONTENTS_NO_OPENAT2", "1", 1);
    c = td_contents_new(s_root);
    unsetenv("TANDEM_CONTENTS_NO_OPENAT2");
    TD_ASSERT(c != NULL);
    TD_ASSERT_EQ(s_status(td_contents_get(c, "link_in", &q, &m), &m), 404);
    TD_ASSERT_EQ(td_contents_get(c, "a.txt", &q, &m), 200);
    json_decref(m);
    snprintf(p, sizeof p, "%s/root/dir_out", s_base);
    TD_ASSERT_OK(symlink("../outdir", p));
    s_hostile(c);
    td_contents_destroy(&c);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_base);
    TD_ASSERT_OK(system(cmd));
}
