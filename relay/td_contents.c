/* td_contents.c: the Jupyter Contents API over one root directory, answering as jupyter_server 2's
 * AsyncLargeFileManager + FileCheckpoints do (delete_to_trash off, since the trash lies outside the
 * root: a non-empty directory is refused with 400, as jupyter_server does when it deletes for real).
 *
 * Confinement is the invariant everything else rests on. The root is held open as a directory fd
 * and no path string is ever handed to a path-based syscall: API paths are normalised first
 * (td_contents_path_norm refuses "..", backslashes, control bytes), then opened with openat2()
 * and RESOLVE_BENEATH, so the kernel follows symlinks only while they stay inside the root; an
 * escaping link fails with EXDEV and is reported as missing (reads) or forbidden (writes). When
 * openat2 is unavailable (old kernel, seccomp) the walk is done by hand with O_NOFOLLOW on every
 * component, so symlinks are simply never followed. Mutations act on the final name relative to
 * an fd of its parent (renameat2, unlinkat, mkdirat), which never follows the final component;
 * writes go to a temporary sibling that is renamed over the target. Dot-files are hidden: not
 * listed, 404 on GET, 400 on writes, like jupyter_server's allow_hidden=False.
 *
 * Replies are built here and only here: a status and a new JSON reference. File contents and
 * paths never reach the log from this file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "td/td_base64.h"
#include "td/td_error.h"
#include "td/td_json.h"
#include "td/td_lib0.h"
#include "td/td_sha.h"
#include "td/td_stamp.h"
#include "td_contents.h"

#define S_TAG 0x7d0c0a7eu
#define S_PATH_MAX TD_ROUTE_PATH_MAX
#define S_CP_DIR ".ipynb_checkpoints"
#define S_MAX_COPY_TREE (500ull << 20) /* jupyter_server's max_copy_folder_size_mb */
#define S_MAX_DEPTH 64

struct td_contents {
    uint32_t tag;
    int rootfd;      /* O_PATH directory fd of the root; every access is relative to it */
    int use_openat2; /* 0: symlinks are never followed (manual O_NOFOLLOW walk) */
    unsigned tmp_seq;
};

/* A byte buffer that owns its memory. */
typedef struct {
    char *p;
    size_t n, cap;
} s_buf_t;

/* Makes room for n more bytes and the NUL. 0 or TD_ENOMEM. */
static int s_buf_reserve(s_buf_t *b, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g)
            return TD_ENOMEM;
        b->p = g;
        b->cap = cap;
    }
    return 0;
}

static int s_buf_add(s_buf_t *b, const void *data, size_t n)
{
    if (s_buf_reserve(b, n) != 0)
        return TD_ENOMEM;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int s_buf_str(s_buf_t *b, const char *s)
{
    return s_buf_add(b, s, strlen(s));
}

/* ---- replies ------------------------------------------------------------------------------- */

/* Sets *out to {"message": printf(fmt...), "reason": reason or null} and returns status. */
__attribute__((format(printf, 4, 5))) static int s_err(json_t **out, int status, const char *reason,
                                                       const char *fmt, ...)
{
    char msg[S_PATH_MAX * 2 + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *out = json_pack("{s:s, s:s?}", "message", msg, "reason", reason);
    return status;
}

/* Maps an errno from a write-side operation on path to jupyter_server's answer. */
static int s_err_write(json_t **out, int e, const char *path)
{
    if (e == EACCES || e == EPERM || e == EXDEV || e == ELOOP || e == EROFS)
        return s_err(out, 403, NULL, "Permission denied: %s", path);
    return s_err(out, 500, NULL, "Unexpected error while saving file: %s %s", path, strerror(e));
}

/* ---- paths ----------------------------------------------------------------------------------- */

int td_contents_path_norm(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (!in || cap == 0)
        return TD_EINVAL;
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\')
                return TD_EINVAL;
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return TD_EINVAL;
        if (!(n == 1 && p[0] == '.')) {
            if (n > NAME_MAX || o + (o ? 1 : 0) + n + 1 > cap)
                return TD_E2BIG;
            if (o)
                out[o++] = '/';
            memmove(out + o, p, n); /* in place is allowed: o never passes p */
            o += n;
        }
        p = e;
    }
    out[o] = '\0';
    return 0;
}

/* The last segment of a normalised path ("" for the root). */
static const char *s_base(const char *rel)
{
    const char *s = strrchr(rel, '/');
    return s ? s + 1 : rel;
}

/* Copies the parent of rel into out ("" for top-level names). */
static void s_parent(const char *rel, char out[S_PATH_MAX])
{
    const char *s = strrchr(rel, '/');
    size_t n = s ? (size_t)(s - rel) : 0;
    memcpy(out, rel, n);
    out[n] = '\0';
}

/* Joins dir and name into out; TD_E2BIG when it does not fit. */
static int s_join(char out[S_PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, S_PATH_MAX, "%s%s%s", dir, *dir ? "/" : "", name);
    return n < 0 || n >= S_PATH_MAX ? TD_E2BIG : 0;
}

/* jupyter_core's is_hidden for a path inside the root: any segment starting with '.'. */
static int s_hidden_name(const char *rel)
{
    for (const char *p = rel; *p;) {
        if (*p == '.')
            return 1;
        const char *s = strchr(p, '/');
        if (!s)
            break;
        p = s + 1;
    }
    return 0;
}

/* 1 when the effective user may access st with the mode bits in want (4 r, 2 w, 1 x). */
static int s_access(const struct stat *st, int want)
{
    uid_t uid = geteuid();
    if (uid == 0)
        return (want & 1) == 0 || (st->st_mode & 0111) || S_ISDIR(st->st_mode);
    int shift = 0;
    if (st->st_uid == uid) {
        shift = 6;
    } else {
        int in_group = st->st_gid == getegid();
        gid_t groups[256];
        int ng = in_group ? 0 : getgroups(256, groups);
        for (int i = 0; i < ng && !in_group; i++)
            in_group = groups[i] == st->st_gid;
        shift = in_group ? 3 : 0;
    }
    return ((st->st_mode >> shift) & (mode_t)want) == (mode_t)want;
}

/* A directory the user cannot list counts as hidden (jupyter_core's is_file_hidden). */
static int s_hidden_stat(const struct stat *st)
{
    return S_ISDIR(st->st_mode) && !s_access(st, 4 | 1);
}

/* ---- confined opening ------------------------------------------------------------------------ */

/* Opens rel by hand from the root with O_NOFOLLOW on every component (no symlinks at all). */
static int s_walk(td_contents_t *c, const char *rel, int flags, mode_t mode)
{
    char buf[S_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", rel);
    int cur = c->rootfd;
    char *p = buf;
    if (*p == '\0')
        p = ".";
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        int last = slash == NULL;
        int f = last ? (flags | O_NOFOLLOW | O_CLOEXEC) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int fd = openat(cur, p, f, mode);
        int e = errno;
        struct stat lst;
        /* O_DIRECTORY on a symlink says ENOTDIR: report it as the refused link it is. */
        if (fd < 0 && e == ENOTDIR && fstatat(cur, p, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(lst.st_mode))
            e = ELOOP;
        if (cur != c->rootfd)
            close(cur);
        if (fd < 0)
            return -e;
        if (last) {
            struct stat st;
            /* O_PATH|O_NOFOLLOW opens a symlink itself: refuse it as openat would have. */
            if ((flags & O_PATH) && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
                close(fd);
                return -ELOOP;
            }
            return fd;
        }
        cur = fd;
        p = slash + 1;
    }
}

/* Opens rel ("" = the root) beneath the root. Returns an fd or -errno (EXDEV: a symlink would
 * leave the root). */
static int s_open(td_contents_t *c, const char *rel, int flags, mode_t mode)
{
    if (!c->use_openat2)
        return s_walk(c, rel, flags, mode);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        long fd = syscall(SYS_openat2, c->rootfd, *rel ? rel : ".", &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != EINTR && errno != EAGAIN)
            return -errno;
    }
}

/* Opens the directory holding rel (O_PATH) and points *name at its last segment. */
static int s_open_parent(td_contents_t *c, const char *rel, const char **name)
{
    char parent[S_PATH_MAX];
    s_parent(rel, parent);
    *name = s_base(rel);
    return s_open(c, parent, O_PATH | O_DIRECTORY, 0);
}

/* stat() of rel, following symlinks only inside the root. Returns 0 or -errno. */
static int s_stat(td_contents_t *c, const char *rel, struct stat *st)
{
    int fd = s_open(c, rel, O_PATH, 0);
    if (fd < 0)
        return fd;
    int rc = fstat(fd, st) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* lstat() of rel: the final component is never followed. Returns 0 or -errno. */
static int s_lstat(td_contents_t *c, const char *rel, struct stat *st)
{
    if (!*rel)
        return s_stat(c, rel, st);
    const char *name;
    int pfd = s_open_parent(c, rel, &name);
    if (pfd < 0)
        return pfd;
    int rc = fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
    close(pfd);
    return rc;
}

static int s_is_dir(td_contents_t *c, const char *rel)
{
    struct stat st;
    return s_stat(c, rel, &st) == 0 && S_ISDIR(st.st_mode);
}

static int s_is_file(td_contents_t *c, const char *rel)
{
    struct stat st;
    return s_stat(c, rel, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads the regular file rel whole (at most max bytes). Returns 0, -errno, TD_E2BIG, or -EINVAL
 * when it is not a regular file. */
static int s_read(td_contents_t *c, const char *rel, size_t max, s_buf_t *out)
{
    int fd = s_open(c, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
    } else if ((uint64_t)st.st_size > max) {
        rc = TD_E2BIG;
    } else if (s_buf_reserve(out, (size_t)st.st_size + 4096) != 0) {
        rc = TD_ENOMEM;
    } else {
        /* Straight into a buffer sized from fstat (a file that grows meanwhile still reads). */
        for (;;) {
            if (out->cap - out->n < 4096 && s_buf_reserve(out, 65536) != 0) {
                rc = TD_ENOMEM;
                break;
            }
            ssize_t n = read(fd, out->p + out->n, out->cap - out->n - 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                rc = -errno;
                break;
            }
            if (n == 0)
                break;
            if (out->n + (size_t)n > max) {
                rc = TD_E2BIG;
                break;
            }
            out->n += (size_t)n;
            out->p[out->n] = '\0';
        }
    }
    close(fd);
    if (rc == 0 && !out->p)
        rc = s_buf_add(out, "", 0);
    return rc;
}

static int s_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* What s_write puts in the file: bytes, or the contents of an open fd, plus optional stat to copy
 * (mode and times, like shutil.copystat). */
typedef struct {
    const char *data;
    size_t len;
    int src_fd;              /* >= 0: copy from here instead of data */
    const struct stat *like; /* NULL, or copy mode and times from this */
    int append;              /* chunked upload: append (create when missing) */
} s_wsrc_t;

static int s_fill(int fd, const s_wsrc_t *src)
{
    if (src->src_fd < 0)
        return s_write_all(fd, src->data, src->len);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(src->src_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        int rc = s_write_all(fd, chunk, (size_t)n);
        if (rc)
            return rc;
    }
}

static void s_copystat(int fd, const struct stat *like)
{
    if (!like)
        return;
    struct timespec ts[2] = {like->st_atim, like->st_mtim};
    (void)fchmod(fd, like->st_mode & 07777);
    (void)futimens(fd, ts);
}

/* Writes a file at rel. A regular file (or a new one) is replaced atomically: a temporary sibling
 * is written, synced and renamed over it. A symlink inside the root is written through in place;
 * one leaving the root fails with EXDEV. Returns 0 or -errno. */
static int s_write(td_contents_t *c, const char *rel, const s_wsrc_t *src)
{
    const char *name;
    int pfd = s_open_parent(c, rel, &name);
    if (pfd < 0)
        return pfd;
    struct stat st;
    int exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, rc = 0, fd = -1;
    char tmp[32] = "";
    if (exists && S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
    } else if (exists && S_ISLNK(st.st_mode)) {
        fd = s_open(c, rel, O_WRONLY | O_CREAT | O_NOCTTY | (src->append ? O_APPEND : O_TRUNC),
                    0666);
        if (fd < 0)
            rc = fd;
    } else if (exists && !S_ISREG(st.st_mode)) {
        rc = -EINVAL;
    } else if (src->append) {
        fd = openat(pfd, name, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0)
            rc = -errno;
    } else {
        for (int i = 0; i < 16 && fd < 0; i++) {
            snprintf(tmp, sizeof tmp, ".~td%08x%04x", (unsigned)getpid() ^ (unsigned)time(NULL),
                     c->tmp_seq++ & 0xffff);
            fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
            if (fd < 0 && errno != EEXIST)
                break;
        }
        if (fd < 0 && exists && (errno == EACCES || errno == EPERM)) {
            /* A writable file in a read-only directory is written in place, as jupyter does. */
            tmp[0] = '\0';
            fd = openat(pfd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
            rc = -errno;
    }
    if (rc == 0) {
        rc = s_fill(fd, src);
        if (rc == 0 && tmp[0] && fsync(fd) != 0)
            rc = -errno;
        if (rc == 0 && tmp[0] && exists && !src->like)
            (void)fchmod(fd, st.st_mode & 07777);
        if (rc == 0)
            s_copystat(fd, src->like);
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && tmp[0] && renameat(pfd, tmp, pfd, name) != 0)
            rc = -errno;
        if (rc != 0 && tmp[0])
            unlinkat(pfd, tmp, 0);
    }
    close(pfd);
    return rc;
}

/* Removes the directory name under pfd and everything in it, never following a symlink. */
static int s_rmtree(int pfd, const char *name, int depth)
{
    if (depth > S_MAX_DEPTH)
        return -ELOOP;
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            rc = -errno;
        else if (S_ISDIR(st.st_mode))
            rc = s_rmtree(dirfd(d), e->d_name, depth + 1);
        else if (unlinkat(dirfd(d), e->d_name, 0) != 0)
            rc = -errno;
    }
    closedir(d);
    if (rc == 0 && unlinkat(pfd, name, AT_REMOVEDIR) != 0)
        rc = -errno;
    return rc;
}

/* ---- text, base64, hashes, mimetypes ------------------------------------------------------- */

/* Python's non-strict base64 decoding (binascii.a2b_base64): characters outside the alphabet
 * are skipped, a complete padding ends the data, and a partial last quad is an error. Returns 0,
 * TD_EPROTO or TD_ENOMEM. */
static int s_b64_decode(const char *s, size_t n, s_buf_t *out)
{
    int quad = 0, pads = 0;
    unsigned prev = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            if (quad >= 2 && quad + ++pads >= 4) {
                quad = 0;
                break;
            }
            continue;
        }
        const char *hit = s[i] ? strchr(TD_BASE64_ALPHABET, s[i]) : NULL;
        if (!hit)
            continue;
        unsigned v = (unsigned)(hit - TD_BASE64_ALPHABET);
        unsigned char byte;
        pads = 0;
        switch (quad) {
        case 0:
            prev = v;
            quad = 1;
            continue;
        case 1:
            byte = (unsigned char)((prev << 2) | (v >> 4));
            prev = v & 0xf;
            break;
        case 2:
            byte = (unsigned char)((prev << 4) | (v >> 2));
            prev = v & 0x3;
            break;
        default:
            byte = (unsigned char)((prev << 6) | v);
            break;
        }
        quad = (quad + 1) & 3;
        if (s_buf_add(out, &byte, 1) != 0)
            return TD_ENOMEM;
    }
    if (quad != 0)
        return TD_EPROTO;
    return out->p ? 0 : s_buf_add(out, "", 0);
}

static void s_sha256_hex(const void *p, size_t n, char hex[2 * TD_SHA256_LEN + 1])
{
    td_sha_t s;
    uint8_t d[TD_SHA256_LEN];
    td_sha_init(&s, TD_SHA256);
    td_sha_update(&s, p, n);
    td_sha_final(&s, d);
    for (int i = 0; i < TD_SHA256_LEN; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
}

/* Python's mimetypes.guess_type for the common extensions (None when unknown). */
static const char *s_mimetype(const char *name)
{
    static const char *const map[][2] = {
        {".txt", "text/plain"}, {".py", "text/x-python"}, {".md", "text/markdown"},
        {".json", "application/json"}, {".js", "text/javascript"}, {".mjs", "text/javascript"},
        {".css", "text/css"}, {".html", "text/html"}, {".htm", "text/html"}, {".csv", "text/csv"},
        {".xml", "text/xml"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".gif", "image/gif"}, {".svg", "image/svg+xml"},
        {".webp", "image/webp"}, {".bmp", "image/bmp"}, {".ico", "image/vnd.microsoft.icon"},
        {".tif", "image/tiff"}, {".tiff", "image/tiff"}, {".pdf", "application/pdf"},
        {".zip", "application/zip"}, {".tar", "application/x-tar"}, {".tgz", "application/x-tar"},
        {".sh", "application/x-sh"}, {".c", "text/plain"}, {".h", "text/plain"},
        {".wasm", "application/wasm"}, {".mp3", "audio/mpeg"}, {".wav", "audio/x-wav"},
        {".mp4", "video/mp4"}, {".tex", "application/x-tex"}, {".lua", "text/x-lua"},
        {".yaml", "application/yaml"}, {".yml", "application/yaml"}, {".ts", "video/mp2t"},
    };
    char buf[NAME_MAX + 1];
    snprintf(buf, sizeof buf, "%s", name);
    /* A compression suffix is an "encoding" to Python: guess from what is left. */
    static const char *const enc[] = {".gz", ".bz2", ".xz", ".br", ".Z"};
    char *dot = strrchr(buf, '.');
    for (size_t i = 0; dot && i < sizeof enc / sizeof enc[0]; i++)
        if (strcmp(dot, enc[i]) == 0) {
            *dot = '\0';
            dot = strrchr(buf, '.');
            break;
        }
    if (!dot || dot == buf)
        return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(dot, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* ---- notebooks: nbformat's rejoin_lines / split_lines / strip_transient and its JSON -------- */

static int s_is_json_mime(const char *m)
{
    size_t n = strlen(m);
    return strcmp(m, "application/json") == 0 ||
           (strncmp(m, "application/", 12) == 0 && n >= 5 && strcmp(m + n - 5, "+json") == 0);
}

/* A list of strings joined into one string, or NULL when v is not such a list. */
static json_t *s_join_lines(json_t *v)
{
    if (!json_is_array(v))
        return NULL;
    s_buf_t b = {0};
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x) || s_buf_add(&b, json_string_value(x), json_string_length(x))) {
            free(b.p);
            return NULL;
        }
    }
    json_t *s = json_stringn(b.p ? b.p : "", b.n);
    free(b.p);
    return s;
}

/* Python's str.splitlines(True) on UTF-8: breaks after \n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085,
 * U+2028 and U+2029. */
static json_t *s_split_lines(const char *s, size_t n)
{
    json_t *arr = json_array();
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t brk = 0;
        unsigned char b = (unsigned char)s[i];
        if (b == '\r')
            brk = i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
        else if (b == '\n' || b == 0x0b || b == 0x0c || (b >= 0x1c && b <= 0x1e))
            brk = 1;
        else if (b == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
            brk = 2;
        else if (b == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                 ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
            brk = 3;
        if (brk) {
            json_array_append_new(arr, json_stringn(s + start, i + brk - start));
            i += brk;
            start = i;
        } else {
            i++;
        }
    }
    if (start < n)
        json_array_append_new(arr, json_stringn(s + start, n - start));
    return arr;
}

/* rejoin (join = 1) or split (join = 0) the text of one mimebundle. */
static void s_mimebundle(json_t *data, int join)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(data, tmp, key, v)
    {
        if (join && !s_is_json_mime(key)) {
            json_t *s = s_join_lines(v);
            if (s)
                json_object_set_new(data, key, s);
        } else if (!join && json_is_string(v) &&
                   (strncmp(key, "text/", 5) == 0 || strcmp(key, "application/javascript") == 0 ||
                    strcmp(key, "image/svg+xml") == 0)) {
            json_object_set_new(data, key, s_split_lines(json_string_value(v), json_string_length(v)));
        }
    }
}

/* nbformat's rejoin_lines (join = 1, after reading) or split_lines + strip_transient (before
 * writing). nb is modified in place. */
static void s_nb_lines(json_t *nb, int join)
{
    json_t *cells = json_object_get(nb, "cells"), *cell;
    size_t i;
    if (!join) {
        json_t *md = json_object_get(nb, "metadata");
        json_object_del(md, "orig_nbformat");
        json_object_del(md, "orig_nbformat_minor");
        json_object_del(md, "signature");
    }
    json_array_foreach(cells, i, cell)
    {
        if (!json_is_object(cell))
            continue;
        json_t *src = json_object_get(cell, "source");
        if (join) {
            json_t *s = s_join_lines(src);
            if (s)
                json_object_set_new(cell, "source", s);
        } else {
            json_object_del(json_object_get(cell, "metadata"), "trusted");
            if (json_is_string(src))
                json_object_set_new(cell, "source",
                                    s_split_lines(json_string_value(src), json_string_length(src)));
        }
        const char *an;
        json_t *att;
        json_object_foreach(json_object_get(cell, "attachments"), an, att) s_mimebundle(att, join);
        const char *ct = json_string_value(json_object_get(cell, "cell_type"));
        if (!ct || strcmp(ct, "code") != 0)
            continue;
        size_t j;
        json_t *o;
        json_array_foreach(json_object_get(cell, "outputs"), j, o)
        {
            const char *ot = json_string_value(json_object_get(o, "output_type"));
            if (!ot)
                continue;
            json_t *text = json_object_get(o, "text");
            if (strcmp(ot, "execute_result") == 0 || strcmp(ot, "display_data") == 0) {
                s_mimebundle(json_object_get(o, "data"), join);
            } else if (join) {
                json_t *s = s_join_lines(text);
                if (s)
                    json_object_set_new(o, "text", s);
            } else if (strcmp(ot, "stream") == 0 && json_is_string(text)) {
                json_object_set_new(o, "text",
                                    s_split_lines(json_string_value(text), json_string_length(text)));
            }
        }
    }
}

/* A double as Python's repr writes it: the shortest digits that read back, fixed notation for
 * exponents -4..15 (with ".0" when integral), else d.ddde+XX. */
static int s_dump_real(s_buf_t *b, double v)
{
    char digits[40], out[64];
    if (!isfinite(v))
        return s_buf_str(b, isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec - 1, v);
        if (strtod(digits, NULL) == v)
            break;
    }
    char *e = strchr(digits, 'e');
    int exp = atoi(e + 1);
    *e = '\0';
    char mant[32];
    size_t m = 0;
    int neg = digits[0] == '-';
    for (char *p = digits + neg; *p; p++)
        if (*p != '.')
            mant[m++] = *p;
    mant[m] = '\0';
    if (exp >= -4 && exp < 16) {
        char *o = out;
        if (neg)
            *o++ = '-';
        if (exp < 0) {
            o += sprintf(o, "0.");
            for (int i = -1; i > exp; i--)
                *o++ = '0';
            o += sprintf(o, "%s", mant);
        } else {
            for (int i = 0; i <= exp || i < (int)m; i++) {
                if (i == exp + 1)
                    *o++ = '.';
                *o++ = i < (int)m ? mant[i] : '0';
            }
            if ((int)m <= exp + 1)
                o += sprintf(o, ".0");
        }
        *o = '\0';
    } else {
        snprintf(out, sizeof out, "%s%c%s%s%se%c%02d", neg ? "-" : "", mant[0], m > 1 ? "." : "",
                 mant + 1, "", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return s_buf_str(b, out);
}

static int s_dump_string(s_buf_t *b, const char *s, size_t n)
{
    int rc = s_buf_add(b, "\"", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        const char *rep = NULL;
        switch (ch) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        default:
            if (ch < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", ch);
                rep = esc;
            }
        }
        rc = rep ? s_buf_str(b, rep) : s_buf_add(b, s + i, 1);
    }
    return rc ? rc : s_buf_add(b, "\"", 1);
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* json.dumps(v, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")). */
static int s_dump(s_buf_t *b, json_t *v, int depth)
{
    char pad[S_MAX_DEPTH + 2];
    if (depth > S_MAX_DEPTH)
        return TD_E2BIG;
    pad[0] = '\n';
    memset(pad + 1, ' ', (size_t)depth + 1);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        if (n == 0)
            return s_buf_str(b, "{}");
        const char **keys = malloc(n * sizeof *keys);
        if (!keys)
            return TD_ENOMEM;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof *keys, s_cmp_str);
        int rc = s_buf_str(b, "{");
        for (i = 0; rc == 0 && i < n; i++) {
            rc = s_buf_add(b, i ? "," : "", i ? 1 : 0);
            rc = rc ? rc : s_buf_add(b, pad, (size_t)depth + 2);
            rc = rc ? rc : s_dump_string(b, keys[i], strlen(keys[i]));
            rc = rc ? rc : s_buf_str(b, ": ");
            rc = rc ? rc : s_dump(b, json_object_get(v, keys[i]), depth + 1);
        }
        free(keys);
        rc = rc ? rc : s_buf_add(b, pad, (size_t)depth + 1);
        return rc ? rc : s_buf_str(b, "}");
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0)
            return s_buf_str(b, "[]");
        int rc = s_buf_str(b, "[");
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = s_buf_add(b, i ? "," : "", i ? 1 : 0);
            rc = rc ? rc : s_buf_add(b, pad, (size_t)depth + 2);
            rc = rc ? rc : s_dump(b, json_array_get(v, i), depth + 1);
        }
        rc = rc ? rc : s_buf_add(b, pad, (size_t)depth + 1);
        return rc ? rc : s_buf_str(b, "]");
    }
    case JSON_STRING:
        return s_dump_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        char num[32];
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return s_buf_str(b, num);
    }
    case JSON_REAL:
        return s_dump_real(b, json_real_value(v));
    case JSON_TRUE:
        return s_buf_str(b, "true");
    case JSON_FALSE:
        return s_buf_str(b, "false");
    default:
        return s_buf_str(b, "null");
    }
}

/* The bytes nbformat.write would put on disk for nb (copied, split, stripped, newline-ended). */
static int s_nb_serialize(json_t *nb, s_buf_t *out)
{
    json_t *copy = json_deep_copy(nb);
    if (!copy)
        return TD_ENOMEM;
    s_nb_lines(copy, 0);
    int rc = s_dump(out, copy, 0);
    json_decref(copy);
    return rc ? rc : s_buf_add(out, "\n", 1);
}

/* ---- models ---------------------------------------------------------------------------------- */

static json_t *s_date(const struct timespec *ts)
{
    char d[TD_DATE_LEN + 1];
    td_stamp_date((int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000, d);
    return json_string(d);
}

/* The keys every model has; content, format, mimetype and hash start out null. */
static json_t *s_base_model(const char *rel, const struct stat *st, const char *type)
{
    json_t *m = json_object();
    json_object_set_new(m, "name", json_string(s_base(rel)));
    json_object_set_new(m, "path", json_string(rel));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "writable", json_boolean(s_access(st, 2)));
    json_object_set_new(m, "created", s_date(&st->st_ctim));
    json_object_set_new(m, "last_modified", s_date(&st->st_mtim));
    json_object_set_new(m, "size", S_ISDIR(st->st_mode) ? json_null() : json_integer(st->st_size));
    json_object_set_new(m, "mimetype", json_null());
    json_object_set_new(m, "content", json_null());
    json_object_set_new(m, "format", json_null());
    json_object_set_new(m, "hash", json_null());
    json_object_set_new(m, "hash_algorithm", json_null());
    return m;
}

static void s_set_hash(json_t *m, const s_buf_t *bytes)
{
    char hex[2 * TD_SHA256_LEN + 1];
    s_sha256_hex(bytes->p, bytes->n, hex);
    json_object_set_new(m, "hash", json_string(hex));
    json_object_set_new(m, "hash_algorithm", json_string("sha256"));
}

/* manager.hide_globs: never listed (still reachable by path). */
static int s_listed(const char *name)
{
    static const char *const globs[] = {"__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~"};
    if (name[0] == '.')
        return 0;
    for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++)
        if (fnmatch(globs[i], name, 0) == 0)
            return 0;
    return 1;
}

/* The content-less model of one listing entry, or NULL when it is not shown. */
static json_t *s_entry_model(td_contents_t *c, int dfd, const char *dir, const char *name)
{
    char rel[S_PATH_MAX];
    struct stat st;
    if (!s_listed(name) || s_join(rel, dir, name) != 0 || td_contents_path_norm(rel, rel, sizeof rel))
        return NULL;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return NULL;
    if (S_ISLNK(st.st_mode) && s_stat(c, rel, &st) != 0)
        return NULL; /* dangling, or leaves the root */
    if (!(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) || s_hidden_stat(&st))
        return NULL;
    size_t n = strlen(name);
    const char *type = S_ISDIR(st.st_mode)                              ? "directory"
                       : n >= 6 && strcmp(name + n - 6, ".ipynb") == 0 ? "notebook"
                                                                        : "file";
    json_t *m = s_base_model(rel, &st, type);
    if (strcmp(type, "file") == 0) {
        const char *mt = s_mimetype(name);
        json_object_set_new(m, "mimetype", mt ? json_string(mt) : json_null());
    }
    return m;
}

static int s_cmp_model(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

static int s_dir_content(td_contents_t *c, const char *rel, json_t *model, json_t **out)
{
    int fd = s_open(c, rel, O_RDONLY | O_DIRECTORY, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        json_decref(model);
        return s_err(out, 403, NULL, "Permission denied: %s", rel);
    }
    json_t *list = json_array();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        json_t *m = s_entry_model(c, dirfd(d), rel, e->d_name);
        if (m)
            json_array_append_new(list, m);
    }
    closedir(d);
    /* Sorted by name, so listings are stable (jupyter_server keeps readdir's order). */
    size_t n = json_array_size(list);
    json_t **items = malloc((n ? n : 1) * sizeof *items);
    for (size_t i = 0; items && i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    if (items) {
        qsort(items, n, sizeof *items, s_cmp_model);
        json_array_clear(list);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, items[i]);
        free(items);
    }
    json_object_set_new(model, "content", list);
    json_object_set_new(model, "format", json_string("json"));
    *out = model;
    return 200;
}

/* Maps a read-side failure to jupyter_server's answer for path. */
static int s_err_read(json_t **out, int e, const char *path)
{
    if (e == TD_E2BIG)
        return s_err(out, 413, NULL, "File too large to read through the contents API: %s", path);
    if (e == -EACCES || e == -EPERM)
        return s_err(out, 403, NULL, "Permission denied: %s", path);
    if (e == -EINVAL)
        return s_err(out, 400, NULL, "Cannot read non-file %s", path);
    return s_err(out, 404, NULL, "file or directory does not exist: '%s'", path);
}

static int s_file_model(td_contents_t *c, const char *rel, const struct stat *st, int content,
                        const char *format, int hash, json_t **out)
{
    json_t *m = s_base_model(rel, st, "file");
    const char *mt = s_mimetype(s_base(rel));
    json_object_set_new(m, "mimetype", mt ? json_string(mt) : json_null());
    if (!content && !hash) {
        *out = m;
        return 200;
    }
    s_buf_t b = {0};
    int rc = s_read(c, rel, TD_CONTENTS_MAX_READ, &b);
    if (rc != 0) {
        json_decref(m);
        return s_err_read(out, rc, rel);
    }
    if (content) {
        int text = (!format || strcmp(format, "text") == 0) &&
                   td_lib0_utf8_valid((const uint8_t *)b.p, b.n);
        if (format && strcmp(format, "text") == 0 && !text) {
            free(b.p);
            json_decref(m);
            return s_err(out, 400, "bad format", "%s is not UTF-8 encoded", rel);
        }
        char *enc = text ? NULL : malloc(td_base64_encoded_len(b.n, 76) + 1);
        if (enc)
            td_base64_encode((const uint8_t *)b.p, b.n, 76, enc);
        json_object_set_new(m, "content", text ? json_stringn(b.p, b.n) : json_string(enc));
        free(enc);
        json_object_set_new(m, "format", json_string(text ? "text" : "base64"));
        if (!mt)
            json_object_set_new(m, "mimetype",
                                json_string(text ? "text/plain" : "application/octet-stream"));
    }
    if (hash)
        s_set_hash(m, &b);
    free(b.p);
    *out = m;
    return 200;
}

static int s_nb_model(td_contents_t *c, const char *rel, const struct stat *st, int content,
                      int hash, json_t **out)
{
    json_t *m = s_base_model(rel, st, "notebook");
    if (!content && !hash) {
        *out = m;
        return 200;
    }
    s_buf_t b = {0};
    int rc = s_read(c, rel, TD_CONTENTS_MAX_READ, &b);
    if (rc != 0) {
        json_decref(m);
        return s_err_read(out, rc, rel);
    }
    if (content) {
        td_error_t jerr = {0};
        json_t *nb = NULL;
        td_json_parse_flags(b.p, b.n, JSON_ALLOW_NUL, &nb, &jerr); /* a dozen times jansson's pace */
        if (!json_is_object(nb)) {
            json_decref(nb);
            free(b.p);
            json_decref(m);
            return s_err(out, 400, NULL, "Unreadable Notebook: %s %s", rel,
                         nb ? "not a JSON object" : jerr.text);
        }
        s_nb_lines(nb, 1);
        json_object_set_new(m, "content", nb);
        json_object_set_new(m, "format", json_string("json"));
    }
    if (hash)
        s_set_hash(m, &b);
    free(b.p);
    *out = m;
    return 200;
}

/* ContentsManager.get on a normalised path; messages are the manager's, not the handler's. */
static int s_get(td_contents_t *c, const char *rel, const char *type, const char *format,
                 int content, int hash, json_t **out)
{
    struct stat st;
    if (s_stat(c, rel, &st) != 0 || (*rel && (s_hidden_name(rel) || s_hidden_stat(&st))) ||
        !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
        return s_err(out, 404, NULL, "file or directory does not exist: '%s'", rel);
    size_t n = strlen(rel);
    if (S_ISDIR(st.st_mode)) {
        if (type && strcmp(type, "directory") != 0)
            return s_err(out, 400, "bad type", "%s is a directory, not a %s", rel, type);
        json_t *m = s_base_model(rel, &st, "directory");
        if (!content) {
            *out = m;
            return 200;
        }
        return s_dir_content(c, rel, m, out);
    }
    if ((type && strcmp(type, "notebook") == 0) ||
        (!type && n >= 6 && strcmp(rel + n - 6, ".ipynb") == 0))
        return s_nb_model(c, rel, &st, content, hash, out);
    if (type && strcmp(type, "directory") == 0)
        return s_err(out, 400, "bad type", "%s is not a directory", rel);
    return s_file_model(c, rel, &st, content, format, hash, out);
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

/* DIR/.ipynb_checkpoints/BASE-ID.EXT for rel (os.path.splitext: leading dots are not a suffix). */
static int s_cp_path(const char *rel, const char *id, char out[S_PATH_MAX])
{
    char parent[S_PATH_MAX], file[NAME_MAX + 64];
    const char *name = s_base(rel);
    const char *dot = strrchr(name, '.');
    int lead = 1;
    for (const char *p = name; dot && p < dot; p++)
        lead &= *p == '.';
    size_t bn = dot && !lead ? (size_t)(dot - name) : strlen(name);
    snprintf(file, sizeof file, "%.*s-%s%s", (int)bn, name, id, name + bn);
    s_parent(rel, parent);
    char dir[S_PATH_MAX];
    if (s_join(dir, parent, S_CP_DIR) != 0 || strlen(file) > NAME_MAX)
        return TD_E2BIG;
    return s_join(out, dir, file);
}

static json_t *s_cp_model(const char *id, const struct stat *st)
{
    return json_pack("{s:s, s:o}", "id", id, "last_modified", s_date(&st->st_mtim));
}

/* Ensures rel's checkpoint directory exists as a real directory (never a symlink). */
static int s_cp_dir(td_contents_t *c, const char *rel)
{
    char parent[S_PATH_MAX];
    s_parent(rel, parent);
    int pfd = s_open(c, parent, O_PATH | O_DIRECTORY, 0);
    if (pfd < 0)
        return pfd;
    int rc = 0;
    struct stat st;
    if (mkdirat(pfd, S_CP_DIR, 0777) != 0 && errno != EEXIST)
        rc = -errno;
    else if (fstatat(pfd, S_CP_DIR, &st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = -errno;
    else if (!S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    close(pfd);
    return rc;
}

/* Copies src to dst (both normalised) with mode and times, like shutil.copy2. */
static int s_copy2(td_contents_t *c, const char *src, const char *dst)
{
    int fd = s_open(c, src, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : 0;
    if (rc == 0) {
        s_wsrc_t w = {NULL, 0, fd, &st, 0};
        rc = s_write(c, dst, &w);
    }
    close(fd);
    return rc;
}

static int s_cp_create(td_contents_t *c, const char *rel, json_t **out)
{
    char cp[S_PATH_MAX];
    struct stat st;
    if (s_stat(c, rel, &st) != 0 || !S_ISREG(st.st_mode))
        return s_err(out, 404, NULL, "file or directory does not exist: '%s'", rel);
    if (s_cp_path(rel, "checkpoint", cp) != 0)
        return s_err(out, 400, NULL, "Path too long: %s", rel);
    int rc = s_cp_dir(c, rel);
    if (rc == 0)
        rc = s_copy2(c, rel, cp);
    if (rc == 0)
        rc = s_lstat(c, cp, &st);
    if (rc != 0)
        return s_err_write(out, -rc, rel);
    *out = s_cp_model("checkpoint", &st);
    return 201;
}

/* Moves rel's checkpoint along with a rename (missing checkpoint: nothing to do). */
static void s_cp_rename(td_contents_t *c, const char *from, const char *to)
{
    char a[S_PATH_MAX], b[S_PATH_MAX];
    struct stat st;
    if (s_cp_path(from, "checkpoint", a) || s_cp_path(to, "checkpoint", b) ||
        s_lstat(c, a, &st) != 0 || !S_ISREG(st.st_mode) || s_cp_dir(c, to) != 0)
        return;
    const char *an, *bn;
    int afd = s_open_parent(c, a, &an), bfd = s_open_parent(c, b, &bn);
    if (afd >= 0 && bfd >= 0)
        (void)renameat(afd, an, bfd, bn);
    if (afd >= 0)
        close(afd);
    if (bfd >= 0)
        close(bfd);
}

static void s_cp_remove(td_contents_t *c, const char *rel)
{
    char a[S_PATH_MAX];
    struct stat st;
    const char *an;
    if (s_cp_path(rel, "checkpoint", a) || s_lstat(c, a, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    int afd = s_open_parent(c, a, &an);
    if (afd >= 0) {
        (void)unlinkat(afd, an, 0);
        close(afd);
    }
}

/* ---- saving ---------------------------------------------------------------------------------- */

/* The bytes a file model carries (format text or base64). Returns 0 or an HTTP status. */
static int s_file_bytes(json_t *model, const char *rel, s_buf_t *out, json_t **err)
{
    const char *format = json_string_value(json_object_get(model, "format"));
    json_t *content = json_object_get(model, "content");
    if (!format || (strcmp(format, "text") != 0 && strcmp(format, "base64") != 0))
        return s_err(err, 400, NULL, "Must specify format of file contents as 'text' or 'base64'");
    if (!json_is_string(content))
        return s_err(err, 400, NULL, "Encoding error saving %s: content is not a string", rel);
    const char *s = json_string_value(content);
    size_t n = json_string_length(content);
    int rc = strcmp(format, "text") == 0 ? s_buf_add(out, s, n) : s_b64_decode(s, n, out);
    if (rc == TD_EPROTO)
        return s_err(err, 400, NULL, "Encoding error saving %s: Incorrect padding", rel);
    if (rc != 0)
        return s_err(err, 500, NULL, "out of memory");
    return 0;
}

/* FileContentsManager.save (and LargeFileManager's chunks) without the final get. Returns 0 or an
 * HTTP status with *err set. */
static int s_save(td_contents_t *c, const char *rel, json_t *model, json_t **err, s_buf_t *keep)
{
    const char *type = json_string_value(json_object_get(model, "type"));
    json_t *chunk = json_object_get(model, "chunk");
    int has_content = json_object_get(model, "content") != NULL;
    if (!type)
        return s_err(err, 400, NULL, "No file type provided");
    if (chunk && !json_is_null(chunk) && strcmp(type, "file") != 0)
        return s_err(err, 400, NULL, "File type \"%s\" is not supported for large file transfer",
                     type);
    if (!has_content && strcmp(type, "directory") != 0)
        return s_err(err, 400, NULL, "No file content provided");
    if (!*rel || s_hidden_name(rel))
        return s_err(err, 400, NULL, "Cannot create file or directory '%s'", rel);
    s_buf_t b = {0};
    int rc = 0, status;
    if (strcmp(type, "notebook") == 0) {
        if (!json_is_object(json_object_get(model, "content")))
            return s_err(err, 400, NULL, "Unexpected error while saving file: %s %s", rel,
                         "notebook content must be an object");
        if (s_nb_serialize(json_object_get(model, "content"), &b) != 0) {
            free(b.p);
            return s_err(err, 500, NULL, "Unexpected error while saving file: %s", rel);
        }
        s_wsrc_t w = {b.p, b.n, -1, NULL, 0};
        rc = s_write(c, rel, &w);
        if (rc == 0 && keep)
            *keep = b;
        else
            free(b.p);
        if (rc != 0)
            return s_err_write(err, -rc, rel);
        /* One checkpoint should always exist for notebooks. */
        char cp[S_PATH_MAX];
        struct stat st;
        if (s_cp_path(rel, "checkpoint", cp) == 0 && s_lstat(c, cp, &st) != 0) {
            json_t *ignored = NULL;
            s_cp_create(c, rel, &ignored);
            json_decref(ignored);
        }
        return 0;
    }
    if (strcmp(type, "file") == 0) {
        if ((status = s_file_bytes(model, rel, &b, err)) != 0) {
            free(b.p);
            return status;
        }
        json_int_t ch = json_integer_value(chunk);
        s_wsrc_t w = {b.p, b.n, -1, NULL, json_is_integer(chunk) && ch != 1};
        rc = s_write(c, rel, &w);
        if (rc == 0 && keep && !w.append)
            *keep = b;
        else
            free(b.p);
        return rc != 0 ? s_err_write(err, -rc, rel) : 0;
    }
    if (strcmp(type, "directory") == 0) {
        struct stat st;
        const char *name;
        if (s_lstat(c, rel, &st) == 0)
            return S_ISDIR(st.st_mode) ? 0 : s_err(err, 400, NULL, "Not a directory: %s", rel);
        int pfd = s_open_parent(c, rel, &name);
        if (pfd < 0)
            return s_err_write(err, -pfd, rel);
        rc = mkdirat(pfd, name, 0777) == 0 ? 0 : -errno;
        close(pfd);
        return rc != 0 ? s_err_write(err, -rc, rel) : 0;
    }
    return s_err(err, 400, NULL, "Unhandled contents type: %s", type);
}

/* save + get(content=0): the model answered by PUT, POST and copies. */
static int s_save_and_get(td_contents_t *c, const char *rel, json_t *model, int ok, json_t **out)
{
    int st = s_save(c, rel, model, out, NULL);
    if (st != 0)
        return st;
    st = s_get(c, rel, NULL, NULL, 0, 0, out);
    return st == 200 ? ok : st;
}

/* increment_filename: the first of NAME, NAME<insert>1, NAME<insert>2... not present in dir. The
 * counter goes before the last dot for .ipynb, else before the first dot. */
static int s_increment(td_contents_t *c, const char *filename, const char *dir,
                       const char *insert, char out[NAME_MAX + 1])
{
    char base[NAME_MAX + 1], suffix[NAME_MAX + 1];
    const char *dot = strrchr(filename, '.');
    if (!dot || strcmp(dot, ".ipynb") != 0)
        dot = strchr(filename, '.');
    size_t bn = dot ? (size_t)(dot - filename) : strlen(filename);
    if (bn > NAME_MAX || strlen(filename) > NAME_MAX)
        return TD_E2BIG;
    snprintf(base, sizeof base, "%.*s", (int)bn, filename);
    snprintf(suffix, sizeof suffix, "%s", filename + bn);
    int pfd = s_open(c, dir, O_PATH | O_DIRECTORY, 0);
    if (pfd < 0)
        return pfd;
    int rc = TD_EEXIST;
    for (unsigned i = 0; i < 100000 && rc == TD_EEXIST; i++) {
        char num[16] = "";
        if (i)
            snprintf(num, sizeof num, "%u", i);
        int n = snprintf(out, NAME_MAX + 1, "%s%s%s%s", base, i ? insert : "", num, suffix);
        struct stat st;
        if (n < 0 || n > NAME_MAX)
            rc = TD_E2BIG;
        else if (fstatat(pfd, out, &st, AT_SYMLINK_NOFOLLOW) != 0)
            rc = 0;
    }
    close(pfd);
    return rc;
}

/* copy_pat.sub(".", name): every "-Copy<digits>." becomes ".". */
static void s_strip_copy(const char *name, char out[NAME_MAX + 1])
{
    size_t o = 0;
    for (const char *p = name; *p && o < NAME_MAX;) {
        if (strncmp(p, "-Copy", 5) == 0) {
            const char *q = p + 5;
            while (*q >= '0' && *q <= '9')
                q++;
            if (*q == '.') {
                out[o++] = '.';
                p = q + 1;
                continue;
            }
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

/* ---- directory copies (FileContentsManager._copy_dir) ------------------------------------- */

static int s_tree_size(int fd, uint64_t *total, int depth)
{
    if (depth > S_MAX_DEPTH)
        return -ELOOP;
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return -EACCES;
    }
    int rc = 0;
    struct dirent *e;
    rewinddir(d); /* a dup shares the offset with the caller's fd, which may have been read */
    while (rc == 0 && (e = readdir(d))) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        *total += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            rc = s_tree_size(sub, total, depth + 1);
            close(sub);
        }
    }
    closedir(d);
    return rc;
}

/* shutil.copytree without following links: directories and regular files (mode and times kept);
 * symlinks and special files are skipped so nothing outside the root is ever read. */
static int s_copy_tree(int src, int dpfd, const char *name, int depth, struct stat *top)
{
    if (depth > S_MAX_DEPTH)
        return -ELOOP;
    struct stat sst;
    if (fstat(src, &sst) != 0)
        return -errno;
    if (mkdirat(dpfd, name, 0777) != 0)
        return -errno;
    int dst = openat(dpfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dst < 0)
        return -errno;
    if (depth == 0 && fstat(dst, top) != 0)
        memset(top, 0, sizeof *top);
    int sfd = dup(src);
    DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
    if (!d) {
        if (sfd >= 0)
            close(sfd);
        close(dst);
        return -EACCES;
    }
    int rc = 0;
    struct dirent *e;
    rewinddir(d); /* a dup shares the offset with the caller's fd, which may have been read */
    while (rc == 0 && (e = readdir(d))) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev == top->st_dev && st.st_ino == top->st_ino)
                continue; /* a folder copied into itself: never descend into the copy */
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = -errno;
                break;
            }
            rc = s_copy_tree(sub, dst, e->d_name, depth + 1, top);
            close(sub);
        } else if (S_ISREG(st.st_mode)) {
            int in = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            int outfd = in >= 0 ? openat(dst, e->d_name,
                                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666)
                                : -1;
            if (in < 0 || outfd < 0) {
                rc = -errno;
            } else {
                s_wsrc_t w = {NULL, 0, in, &st, 0};
                rc = s_fill(outfd, &w);
                s_copystat(outfd, &st);
            }
            if (in >= 0)
                close(in);
            if (outfd >= 0)
                close(outfd);
        }
    }
    closedir(d);
    struct timespec ts[2] = {sst.st_atim, sst.st_mtim};
    (void)fchmod(dst, sst.st_mode & 07777);
    (void)futimens(dst, ts);
    close(dst);
    return rc;
}

static int s_copy_dir(td_contents_t *c, const char *from, const char *to_dir, json_t **out)
{
    char to_name[NAME_MAX + 1], stripped[NAME_MAX + 1], to[S_PATH_MAX];
    s_strip_copy(s_base(from), stripped);
    snprintf(to_name, sizeof to_name, "%s", stripped);
    if (s_is_dir(c, to_dir) && s_increment(c, stripped, to_dir, "-Copy", to_name) != 0)
        return s_err(out, 400, NULL, "Can't copy '%s' into Folder '%s'", from, to_dir);
    if (s_join(to, to_dir, to_name) != 0)
        return s_err(out, 400, NULL, "Can't copy '%s' into Folder '%s'", from, to_dir);
    int src = s_open(c, from, O_RDONLY | O_DIRECTORY, 0);
    uint64_t total = 0;
    if (src < 0)
        return s_err(out, 404, NULL, "file or directory does not exist: '%s'", from);
    if (s_tree_size(src, &total, 0) == 0 && total > S_MAX_COPY_TREE) {
        close(src);
        return s_err(out, 400, NULL, "Can't copy folders larger than 500MB, \"%s\" is %.4g MB",
                     from, (double)total / (1 << 20));
    }
    int dpfd = s_open(c, to_dir, O_PATH | O_DIRECTORY, 0);
    struct stat top;
    memset(&top, 0, sizeof top);
    int rc = dpfd < 0 ? dpfd : s_copy_tree(src, dpfd, to_name, 0, &top);
    close(src);
    if (dpfd >= 0)
        close(dpfd);
    if (rc != 0)
        return s_err(out, 400, NULL, "Can't copy '%s' into Folder '%s'", from, to);
    int st = s_get(c, to, NULL, NULL, 0, 0, out);
    return st == 200 ? 201 : st;
}

/* ContentsManager.copy(from, to): to is a directory (name-Copy#.ext inside it) or a file path. */
static int s_copy(td_contents_t *c, const char *from, const char *to, json_t **out)
{
    json_t *model = NULL;
    int st = s_get(c, from, NULL, NULL, 0, 0, &model);
    if (st != 200) {
        *out = model;
        return st;
    }
    int is_dir = strcmp(json_string_value(json_object_get(model, "type")), "directory") == 0;
    json_decref(model);
    if (is_dir)
        return s_copy_dir(c, from, to, out);
    char dest[S_PATH_MAX];
    if (s_is_dir(c, to)) {
        char stripped[NAME_MAX + 1], name[NAME_MAX + 1];
        s_strip_copy(s_base(from), stripped);
        if (s_increment(c, stripped, to, "-Copy", name) != 0 || s_join(dest, to, name) != 0)
            return s_err(out, 400, NULL, "Cannot copy %s", from);
    } else {
        char parent[S_PATH_MAX];
        s_parent(to, parent);
        if (strchr(to, '/') && !s_is_dir(c, parent))
            return s_err(out, 404, NULL, "No such parent directory: %s to copy file in", parent);
        snprintf(dest, sizeof dest, "%s", to);
    }
    st = s_get(c, from, NULL, NULL, 1, 0, &model);
    if (st != 200) {
        *out = model;
        return st;
    }
    st = s_save_and_get(c, dest, model, 201, out);
    json_decref(model);
    return st;
}

/* ContentsManager.new_untitled(path, type, ext). */
static int s_new_untitled(td_contents_t *c, const char *dir, const char *type, const char *ext,
                          json_t **out)
{
    if (!s_is_dir(c, dir))
        return s_err(out, 404, NULL, "No such directory: %s", dir);
    if (!type || !*type)
        type = strcmp(ext, ".ipynb") == 0 ? "notebook" : "file";
    const char *untitled, *insert = "";
    if (strcmp(type, "directory") == 0) {
        untitled = "Untitled Folder";
        insert = " ";
    } else if (strcmp(type, "notebook") == 0) {
        untitled = "Untitled";
        ext = ".ipynb";
    } else if (strcmp(type, "file") == 0) {
        untitled = "untitled";
    } else {
        return s_err(out, 400, NULL, "Unexpected model type: '%s'", type);
    }
    char filename[NAME_MAX + 2], name[NAME_MAX + 1], rel[S_PATH_MAX];
    if (snprintf(filename, sizeof filename, "%s%s", untitled, ext) > NAME_MAX ||
        s_increment(c, filename, dir, insert, name) != 0 || s_join(rel, dir, name) != 0)
        return s_err(out, 400, NULL, "Cannot create an untitled %s in %s", type, dir);
    json_t *model;
    if (strcmp(type, "notebook") == 0)
        model = json_pack("{s:s, s:s, s:{s:[], s:{}, s:i, s:i}}", "type", "notebook", "format",
                          "json", "content", "cells", "metadata", "nbformat", 4, "nbformat_minor",
                          5);
    else if (strcmp(type, "file") == 0)
        model = json_pack("{s:s, s:s, s:s}", "type", "file", "format", "text", "content", "");
    else
        model = json_pack("{s:s}", "type", "directory");
    int st = s_save_and_get(c, rel, model, 201, out);
    json_decref(model);
    return st;
}

/* ContentsManager.new(model, path): fills a missing content in, then saves. */
static int s_new(td_contents_t *c, const char *rel, json_t *model, json_t **out)
{
    json_t *m = json_deep_copy(model);
    size_t n = strlen(rel);
    if (!json_object_get(m, "type"))
        json_object_set_new(m, "type", json_string(n >= 6 && strcmp(rel + n - 6, ".ipynb") == 0
                                                       ? "notebook"
                                                       : "file"));
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!json_object_get(m, "content") && type && strcmp(type, "directory") != 0) {
        if (strcmp(type, "notebook") == 0) {
            json_object_set_new(m, "content",
                                json_pack("{s:[], s:{}, s:i, s:i}", "cells", "metadata", "nbformat",
                                          4, "nbformat_minor", 5));
            json_object_set_new(m, "format", json_string("json"));
        } else {
            json_object_set_new(m, "content", json_string(""));
            json_object_set_new(m, "type", json_string("file"));
            json_object_set_new(m, "format", json_string("text"));
        }
    }
    int st = s_save_and_get(c, rel, m, 201, out);
    json_decref(m);
    return st;
}

/* ---- public operations ----------------------------------------------------------------------- */

td_contents_t *td_contents_new(const char *root)
{
    if (!root)
        return NULL;
    td_contents_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->tag = S_TAG;
    c->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0) {
        free(c);
        return NULL;
    }
    /* Probe openat2 once: without it (ENOSYS, or EPERM from a seccomp filter) symlinks are never
     * followed at all, which is stricter and still correct. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
    long fd = syscall(SYS_openat2, c->rootfd, ".", &how, sizeof how);
    c->use_openat2 = fd >= 0;
    if (fd >= 0)
        close((int)fd);
    if (getenv("TANDEM_CONTENTS_NO_OPENAT2")) /* tests exercise the fallback walk */
        c->use_openat2 = 0;
    return c;
}

void td_contents_destroy(td_contents_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_contents_t *c = *self_p;
    if (c->rootfd >= 0)
        close(c->rootfd);
    c->tag = 0xdeadbeef;
    free(c);
    *self_p = NULL;
}

/* Normalises path into rel or answers 404 (the not-found message of the caller's kind). */
#define S_NORM(rel, path, out)                                                                     \
    do {                                                                                           \
        if (td_contents_path_norm((path), (rel), sizeof(rel)) != 0)                                \
            return s_err((out), 404, NULL, "%s is not a valid path", (path));                      \
    } while (0)

int td_contents_save(td_contents_t *c, const char *path, json_t *model, char **data, size_t *len,
                     char hash[65], json_t **err)
{
    char rel[S_PATH_MAX];
    json_t *e = NULL;
    s_buf_t b = {0};
    *data = NULL;
    *len = 0;
    const char *type = json_string_value(json_object_get(model, "type"));
    int st = td_contents_path_norm(path, rel, sizeof rel) != 0
                 ? s_err(&e, 404, NULL, "file or directory '%s' does not exist", path)
             : !type || (strcmp(type, "notebook") != 0 && strcmp(type, "file") != 0) ||
                     json_object_get(model, "chunk")
                 ? s_err(&e, 400, NULL, "Only whole notebooks and files are saved here")
                 : s_save(c, rel, model, &e, &b);
    if (st == 0 && !b.p && s_buf_add(&b, "", 0) != 0) /* an empty file */
        st = s_err(&e, 500, NULL, "out of memory");
    if (st == 0) {
        *data = b.p;
        *len = b.n;
        s_sha256_hex(b.p, b.n, hash);
    } else {
        free(b.p);
    }
    if (err)
        *err = e;
    else
        json_decref(e);
    return st == 0 ? 200 : st;
}

int td_contents_read(td_contents_t *c, const char *path, char **data, size_t *len, char hash[65],
                     json_t **err)
{
    char rel[S_PATH_MAX];
    json_t *e = NULL;
    int st = 200;
    *data = NULL;
    *len = 0;
    if (td_contents_path_norm(path, rel, sizeof rel) != 0) {
        st = s_err(&e, 404, NULL, "file or directory '%s' does not exist", path);
    } else {
        s_buf_t b = {0};
        int rc = s_read(c, rel, TD_CONTENTS_MAX_READ, &b);
        if (rc == 0 && !b.p && s_buf_add(&b, "", 0) != 0) /* an empty file */
            rc = TD_ENOMEM;
        if (rc != 0) {
            free(b.p);
            st = s_err_read(&e, rc, rel);
        } else {
            *data = b.p; /* s_buf_add keeps it NUL-terminated */
            *len = b.n;
            if (hash)
                s_sha256_hex(b.p, b.n, hash);
        }
    }
    if (err)
        *err = e;
    else
        json_decref(e);
    return st;
}

int td_contents_get(td_contents_t *c, const char *path, const td_contents_query_t *q, json_t **out)
{
    char rel[S_PATH_MAX];
    const td_contents_query_t none = {0};
    if (!q)
        q = &none;
    const char *type = q->type;
    if (type && strcmp(type, "directory") && strcmp(type, "file") && strcmp(type, "notebook"))
        type = "file";
    if (q->format && strcmp(q->format, "text") && strcmp(q->format, "base64"))
        return s_err(out, 400, NULL, "Format '%s' is invalid", q->format);
    if (q->content && strcmp(q->content, "0") && strcmp(q->content, "1"))
        return s_err(out, 400, NULL, "Content '%s' is invalid", q->content);
    if (q->hash && strcmp(q->hash, "0") && strcmp(q->hash, "1"))
        return s_err(out, 400, NULL, "Hash argument '%s' is invalid. It must be '0' or '1'.",
                     q->hash);
    int content = !q->content || strcmp(q->content, "1") == 0;
    int hash = q->hash && strcmp(q->hash, "1") == 0;
    if (td_contents_path_norm(path, rel, sizeof rel) != 0)
        return s_err(out, 404, NULL, "file or directory '%s' does not exist", path);
    int st = s_get(c, rel, type, q->format, content, hash, out);
    if (st == 404) { /* the handler answers every 404 with its own message */
        json_decref(*out);
        return s_err(out, 404, NULL, "file or directory '%s' does not exist", rel);
    }
    return st;
}

int td_contents_put(td_contents_t *c, const char *path, json_t *body, json_t **out)
{
    char rel[S_PATH_MAX];
    S_NORM(rel, path, out);
    if (!body || (json_is_object(body) && json_object_size(body) == 0))
        return s_new_untitled(c, rel, "", "", out);
    if (!json_is_object(body))
        return s_err(out, 400, NULL, "Invalid JSON in body of request");
    json_t *cf = json_object_get(body, "copy_from");
    if (cf && !json_is_null(cf) && !(json_is_string(cf) && json_string_length(cf) == 0))
        return s_err(out, 400, NULL, "Cannot copy with PUT, only POST");
    const char *mpath = json_string_value(json_object_get(body, "path"));
    char mrel[S_PATH_MAX];
    if (s_hidden_name(rel) ||
        (mpath && *mpath && td_contents_path_norm(mpath, mrel, sizeof mrel) == 0 &&
         s_hidden_name(mrel)))
        return s_err(out, 400, NULL, "Cannot create file or directory '%s'", rel);
    json_t *model = json_deep_copy(body);
    json_t *type = json_object_get(model, "type");
    if (type && !json_is_null(type)) {
        const char *t = json_string_value(type);
        if (!t || (*t && strcmp(t, "directory") && strcmp(t, "file") && strcmp(t, "notebook")))
            json_object_set_new(model, "type", json_string("file"));
    }
    int st;
    if (s_is_file(c, rel))
        st = s_save_and_get(c, rel, model, 200, out);
    else
        st = s_new(c, rel, model, out);
    json_decref(model);
    return st;
}

int td_contents_patch(td_contents_t *c, const char *path, json_t *body, json_t **out)
{
    char rel[S_PATH_MAX], to[S_PATH_MAX];
    S_NORM(rel, path, out);
    if (!body)
        return s_err(out, 400, NULL, "JSON body missing");
    if (!json_is_object(body))
        return s_err(out, 400, NULL, "Invalid JSON in body of request");
    json_t *np = json_object_get(body, "path");
    if (np && !json_is_string(np))
        return s_err(out, 400, NULL, "Invalid path in request body");
    if (td_contents_path_norm(np ? json_string_value(np) : rel, to, sizeof to) != 0)
        return s_err(out, 404, NULL, "%s is not a valid path", json_string_value(np));
    if (np && json_string_length(np) && (s_hidden_name(rel) || s_hidden_name(to) || !*rel))
        return s_err(out, 400, NULL, "Cannot rename file or directory '%s'", rel);
    if (strcmp(rel, to) != 0) {
        struct stat a, b;
        if (!*to)
            return s_err(out, 409, NULL, "File already exists: %s", to);
        if (s_lstat(c, rel, &a) != 0)
            return s_err(out, 404, NULL, "File or directory does not exist: %s", rel);
        if (s_lstat(c, to, &b) == 0 && !(a.st_dev == b.st_dev && a.st_ino == b.st_ino))
            return s_err(out, 409, NULL, "File already exists: %s", to);
        const char *an, *bn;
        int afd = s_open_parent(c, rel, &an), bfd = s_open_parent(c, to, &bn), rc = 0;
        if (afd < 0 || bfd < 0)
            rc = afd < 0 ? afd : bfd;
        else if (renameat2(afd, an, bfd, bn, RENAME_NOREPLACE) != 0)
            rc = errno == EINVAL && renameat(afd, an, bfd, bn) == 0 ? 0 : -errno;
        if (afd >= 0)
            close(afd);
        if (bfd >= 0)
            close(bfd);
        if (rc == -EEXIST)
            return s_err(out, 409, NULL, "File already exists: %s", to);
        if (rc == -ENOENT || rc == -ENOTDIR)
            return s_err(out, 404, NULL, "File or directory does not exist: %s", rel);
        if (rc == -EACCES || rc == -EPERM || rc == -EXDEV || rc == -ELOOP)
            return s_err(out, 403, NULL, "Permission denied: %s", rel);
        if (rc != 0)
            return s_err(out, 500, NULL, "Unknown error renaming file: %s %s", rel, strerror(-rc));
        s_cp_rename(c, rel, to);
    }
    return s_get(c, to, NULL, NULL, 0, 0, out);
}

int td_contents_post(td_contents_t *c, const char *path, json_t *body, json_t **out)
{
    char rel[S_PATH_MAX];
    S_NORM(rel, path, out);
    if (s_is_file(c, rel))
        return s_err(out, 400, NULL, "Cannot POST to files, use PUT instead.");
    if (body && !json_is_object(body))
        return s_err(out, 400, NULL, "Invalid JSON in body of request");
    if (!body || json_object_size(body) == 0)
        return s_new_untitled(c, rel, "", "", out);
    json_t *cf = json_object_get(body, "copy_from");
    if (cf && !json_is_null(cf) && !(json_is_string(cf) && json_string_length(cf) == 0)) {
        char from[S_PATH_MAX];
        if (!json_is_string(cf))
            return s_err(out, 400, NULL, "Invalid copy_from in request body");
        if (td_contents_path_norm(json_string_value(cf), from, sizeof from) != 0)
            return s_err(out, 404, NULL, "%s is not a valid path", json_string_value(cf));
        if (s_hidden_name(rel) || s_hidden_name(from))
            return s_err(out, 400, NULL, "Cannot copy file or directory '%s'", rel);
        return s_copy(c, from, rel, out);
    }
    const char *ext = json_string_value(json_object_get(body, "ext"));
    const char *type = json_string_value(json_object_get(body, "type"));
    if (type && *type && strcmp(type, "directory") && strcmp(type, "file") &&
        strcmp(type, "notebook"))
        type = "file";
    return s_new_untitled(c, rel, type ? type : "", ext ? ext : "", out);
}

int td_contents_delete(td_contents_t *c, const char *path, json_t **out)
{
    char rel[S_PATH_MAX];
    S_NORM(rel, path, out);
    if (s_hidden_name(rel))
        return s_err(out, 400, NULL, "Cannot delete file or directory '%s'", rel);
    if (!*rel)
        return s_err(out, 400, NULL, "Can't delete root");
    struct stat st;
    const char *name;
    int pfd = s_open_parent(c, rel, &name);
    if (pfd < 0 || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (pfd >= 0)
            close(pfd);
        return s_err(out, 404, NULL, "file or directory does not exist: '%s'", rel);
    }
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        /* Permanent deletion never takes a non-empty directory; leftover checkpoints don't count. */
        int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        int nonempty = 0;
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, S_CP_DIR))
                nonempty = 1;
        if (d)
            closedir(d);
        else if (dfd >= 0)
            close(dfd);
        if (nonempty) {
            close(pfd);
            return s_err(out, 400, NULL, "Directory %s not empty", rel);
        }
        rc = s_rmtree(pfd, name, 0);
    } else if (unlinkat(pfd, name, 0) != 0) {
        rc = -errno;
    }
    close(pfd);
    if (rc == -EACCES || rc == -EPERM)
        return s_err(out, 403, NULL, "Permission denied: %s", rel);
    if (rc != 0)
        return s_err(out, 500, NULL, "Unexpected error while deleting %s: %s", rel, strerror(-rc));
    s_cp_remove(c, rel);
    *out = NULL;
    return 204;
}

int td_contents_checkpoints_list(td_contents_t *c, const char *path, json_t **out)
{
    char rel[S_PATH_MAX], cp[S_PATH_MAX];
    S_NORM(rel, path, out);
    struct stat st;
    *out = json_array();
    if (*rel && s_cp_path(rel, "checkpoint", cp) == 0 && s_stat(c, cp, &st) == 0 &&
        S_ISREG(st.st_mode))
        json_array_append_new(*out, s_cp_model("checkpoint", &st));
    return 200;
}

int td_contents_checkpoint_create(td_contents_t *c, const char *path, json_t **out)
{
    char rel[S_PATH_MAX];
    S_NORM(rel, path, out);
    if (s_hidden_name(rel))
        return s_err(out, 404, NULL, "file or directory does not exist: '%s'", rel);
    return s_cp_create(c, rel, out);
}

int td_contents_checkpoint_restore(td_contents_t *c, const char *path, const char *id,
                                   json_t **out)
{
    char rel[S_PATH_MAX], cp[S_PATH_MAX];
    S_NORM(rel, path, out);
    struct stat st;
    if (!*rel || s_hidden_name(rel) || s_cp_path(rel, id, cp) != 0 || s_lstat(c, cp, &st) != 0 ||
        !S_ISREG(st.st_mode))
        return s_err(out, 404, NULL, "Checkpoint does not exist: %s@%s", rel, id);
    int rc = s_copy2(c, cp, rel);
    if (rc != 0)
        return s_err_write(out, -rc, rel);
    *out = NULL;
    return 204;
}

int td_contents_checkpoint_delete(td_contents_t *c, const char *path, const char *id, json_t **out)
{
    char rel[S_PATH_MAX], cp[S_PATH_MAX];
    S_NORM(rel, path, out);
    struct stat st;
    const char *name;
    if (!*rel || s_cp_path(rel, id, cp) != 0 || s_lstat(c, cp, &st) != 0 || !S_ISREG(st.st_mode))
        return s_err(out, 404, NULL, "Checkpoint does not exist: %s@%s", rel, id);
    int pfd = s_open_parent(c, cp, &name);
    int rc = pfd < 0 ? pfd : unlinkat(pfd, name, 0) == 0 ? 0 : -errno;
    if (pfd >= 0)
        close(pfd);
    if (rc != 0)
        return s_err_write(out, -rc, rel);
    *out = NULL;
    return 204;
}

/* url_escape of every segment (everything but unreserved characters is %XX). */
static void s_location(char *out, size_t cap, const char *rel, const char *suffix)
{
    size_t o = (size_t)snprintf(out, cap, "/api/contents");
    for (const char *p = rel; *p && o + 4 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if (p == rel)
            out[o++] = '/';
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~/", ch))
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
    }
    if (o < cap)
        snprintf(out + o, cap - o, "%s", suffix);
}

int td_contents_handle(td_contents_t *c, const char *method, const td_route_t *route,
                       const td_contents_query_t *q, const char *body, size_t body_len,
                       td_contents_reply_t *rep)
{
    memset(rep, 0, sizeof *rep);
    json_t *in = NULL;
    int has_body = body && body_len > 0 && strcmp(method, "GET") && strcmp(method, "DELETE");
    if (has_body) {
        json_error_t jerr;
        in = json_loadb(body, body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!in) {
            rep->status = s_err(&rep->body, 400, NULL, "Invalid JSON in body of request");
            return rep->status;
        }
        if (json_is_null(in)) {
            json_decref(in);
            in = NULL;
        }
    }
    const char *path = route->cpath;
    int st = 0, model_loc = 0;
    json_t **out = &rep->body;
    switch (route->id) {
    case TD_ROUTE_CONTENTS:
        if (strcmp(method, "GET") == 0) {
            st = td_contents_get(c, path, q, out);
        } else if (strcmp(method, "PUT") == 0) {
            st = td_contents_put(c, path, in, out);
            model_loc = 1;
        } else if (strcmp(method, "PATCH") == 0) {
            st = td_contents_patch(c, path, in, out);
            model_loc = 1;
        } else if (strcmp(method, "POST") == 0) {
            st = td_contents_post(c, path, in, out);
            model_loc = 1;
        } else if (strcmp(method, "DELETE") == 0) {
            st = td_contents_delete(c, path, out);
        }
        break;
    case TD_ROUTE_CONTENTS_CPS:
        if (strcmp(method, "GET") == 0) {
            st = td_contents_checkpoints_list(c, path, out);
        } else if (strcmp(method, "POST") == 0) {
            st = td_contents_checkpoint_create(c, path, out);
            if (st == 201) {
                char rel[S_PATH_MAX];
                if (td_contents_path_norm(path, rel, sizeof rel) == 0)
                    s_location(rep->location, sizeof rep->location, rel,
                               "/checkpoints/checkpoint");
            }
        }
        break;
    case TD_ROUTE_CONTENTS_CP:
        if (strcmp(method, "POST") == 0)
            st = td_contents_checkpoint_restore(c, path, route->arg, out);
        else if (strcmp(method, "DELETE") == 0)
            st = td_contents_checkpoint_delete(c, path, route->arg, out);
        break;
    case TD_ROUTE_CONTENTS_TRUST:
        if (strcmp(method, "POST") == 0) {
            st = td_contents_get(c, path, NULL, out);
            if (st == 200) { /* signatures are not kept: trusting is a no-op that succeeds */
                json_decref(*out);
                *out = NULL;
                st = 201;
            }
        }
        break;
    default:
        st = s_err(out, 404, NULL, "Not Found");
        break;
    }
    if (st == 0)
        st = s_err(out, 405, NULL, "Method Not Allowed");
    if (model_loc && st >= 200 && st < 300 && *out)
        s_location(rep->location, sizeof rep->location,
                   json_string_value(json_object_get(*out, "path")), "");
    json_decref(in);
    rep->status = st;
    return st;
}
