/* td_route.c: URL routing for tandem-relay. The table is small and fixed, so matching is a split
 * into segments followed by a comparison against each pattern; "*" in a pattern captures one
 * segment. Captures are validated here (no '/', not "." or "..", bounded length) so handlers never
 * see a path-like argument. Query arguments come as decoded "key=value" fragments; a fragment
 * without '=' (JupyterLab's cache-buster) is simply never a match. */
#include <stdio.h>
#include <string.h>

#include "td/td_base64.h"
#include "td/td_error.h"
#include "td_route.h"

typedef struct {
    td_route_id_t id;
    const char *pattern; /* segments separated by '/', "*" captures */
} s_entry_t;

static const s_entry_t s_table[] = {
    {TD_ROUTE_API, "api"},
    {TD_ROUTE_STATUS, "api/status"},
    {TD_ROUTE_ME, "api/me"},
    {TD_ROUTE_KSPECS, "api/kernelspecs"},
    {TD_ROUTE_KSPEC, "api/kernelspecs/*"},
    {TD_ROUTE_KSPEC_FILE, "kernelspecs/*/*"},
    {TD_ROUTE_KERNELS, "api/kernels"},
    {TD_ROUTE_KERNEL, "api/kernels/*"},
    {TD_ROUTE_KERNEL_INTERRUPT, "api/kernels/*/interrupt"},
    {TD_ROUTE_KERNEL_RESTART, "api/kernels/*/restart"},
    {TD_ROUTE_KERNEL_CHANNELS, "api/kernels/*/channels"},
    {TD_ROUTE_KERNEL_EXECUTE, "api/kernels/*/execute"},
    {TD_ROUTE_COLLAB_ROOM, "api/collaboration/room/*"},
    {TD_ROUTE_PRESENCE, "api/collaboration/presence"},
    {TD_ROUTE_COMMENT_EVENTS, "api/comments/events"},
    {TD_ROUTE_SESSIONS, "api/sessions"},
    {TD_ROUTE_SESSION, "api/sessions/*"},
    {TD_ROUTE_LOGIN, "login"},
    {TD_ROUTE_LOGOUT, "logout"},
    {TD_ROUTE_PROBE, ""},
    {TD_ROUTE_PROBE, "tree"},
    {TD_ROUTE_PROBE, "lab"},
};

#define S_MAX_SEGS 8

/* Splits s (modified in place) at '/' into at most S_MAX_SEGS segments; -1 when there are more
 * or a segment is empty (a "//" in the middle). */
static int s_split(char *s, char **segs)
{
    int n = 0;
    if (*s == '\0')
        return 0;
    for (char *p = s;;) {
        if (n == S_MAX_SEGS)
            return -1;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        if (*p == '\0' || *p == '/')
            return -1;
    }
    for (int i = 0; i < n; i++)
        if (segs[i][0] == '\0')
            return -1;
    return n;
}

static int s_capture_ok(const char *seg)
{
    size_t len = strlen(seg);
    return len > 0 && len < TD_ROUTE_ARG_MAX && strcmp(seg, ".") != 0 && strcmp(seg, "..") != 0;
}

/* A checkpoint id as jupyter_server's URL pattern has it: [\w-]+ (ASCII here). */
static int s_checkpoint_id_ok(const char *s, size_t n)
{
    if (n == 0 || n >= TD_ROUTE_ARG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The contents rule: rest is what follows "/api/contents" ("" or "/..."). Suffixes are checked in
 * jupyter_server's handler order: ".../checkpoints/<id>", ".../checkpoints", ".../trust", and the
 * rest is the API path (one leading and one trailing slash dropped). */
static void s_match_contents(const char *rest, td_route_t *out)
{
    size_t n = strlen(rest);
    if (n && rest[0] == '/') {
        rest++;
        n--;
    }
    if (n && rest[n - 1] == '/')
        n--;
    if (n >= TD_ROUTE_PATH_MAX)
        return;
    out->id = TD_ROUTE_CONTENTS;
    const char *slash = NULL; /* start of the last segment */
    for (size_t i = n; i > 0; i--)
        if (rest[i - 1] == '/') {
            slash = rest + i - 1;
            break;
        }
    const char *last = slash ? slash + 1 : rest;
    size_t lastn = n - (size_t)(last - rest), pathn = slash ? (size_t)(slash - rest) : 0;
    if (lastn == 11 && memcmp(last, "checkpoints", 11) == 0) {
        out->id = TD_ROUTE_CONTENTS_CPS;
        n = pathn;
    } else if (lastn == 5 && memcmp(last, "trust", 5) == 0) {
        out->id = TD_ROUTE_CONTENTS_TRUST;
        n = pathn;
    } else if (s_checkpoint_id_ok(last, lastn)) {
        /* ".../checkpoints/<id>": the segment before the id must be "checkpoints". */
        const char *prev = slash ? slash : rest;
        size_t pn = slash ? (size_t)(slash - rest) : 0;
        if (pn >= 11 && memcmp(prev - 11, "checkpoints", 11) == 0 &&
            (pn == 11 || prev[-12] == '/')) {
            out->id = TD_ROUTE_CONTENTS_CP;
            memcpy(out->arg, last, lastn);
            out->arg[lastn] = '\0';
            n = pn == 11 ? 0 : pn - 12;
        }
    }
    memcpy(out->cpath, rest, n);
    out->cpath[n] = '\0';
}

int td_route_match(const char *path, td_route_t *out)
{
    memset(out, 0, sizeof *out);
    char buf[1024];
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || path[0] != '/' || len >= sizeof buf)
        return 0;
    if (strncmp(path, "/api/contents", 13) == 0 && (path[13] == '\0' || path[13] == '/')) {
        s_match_contents(path + 13, out);
        return 0;
    }
    /* Prefix routes whose tail the handler parses (no "." / ".." segments reach it). */
    static const struct {
        const char *prefix;
        td_route_id_t id;
    } prefixes[] = {{"/api/comments", TD_ROUTE_COMMENTS},
                    {"/api/me/notifications", TD_ROUTE_NOTIFICATIONS},
                    {"/api/admin", TD_ROUTE_ADMIN}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pn = strlen(prefixes[i].prefix);
        const char *rest = path + pn;
        if (strncmp(path, prefixes[i].prefix, pn) != 0 || (*rest && *rest != '/') ||
            strcmp(path, "/api/comments/events") == 0 || strcmp(path, "/api/comments/events/") == 0)
            continue;
        if (strlen(rest) >= TD_ROUTE_PATH_MAX || strstr(rest, "/./") || strstr(rest, "/../") ||
            (strlen(rest) >= 3 && strcmp(rest + strlen(rest) - 3, "/..") == 0))
            return 0;
        out->id = prefixes[i].id;
        snprintf(out->cpath, sizeof out->cpath, "%s", rest);
        size_t cl = strlen(out->cpath);
        if (cl && out->cpath[cl - 1] == '/')
            out->cpath[cl - 1] = '\0';
        return 0;
    }
    if (strncmp(path, "/api/collaboration/session/", 27) == 0) {
        /* The document's API path, slashes and all (td_contents_path_norm checks it). */
        if (len - 27 < TD_ROUTE_PATH_MAX) {
            out->id = TD_ROUTE_COLLAB_SESSION;
            memcpy(out->cpath, path + 27, len - 27 + 1);
        }
        return 0;
    }
    memcpy(buf, path + 1, len); /* includes the NUL */
    len--;
    if (len > 0 && buf[len - 1] == '/')
        buf[--len] = '\0';
    char *segs[S_MAX_SEGS];
    int n = s_split(buf, segs);
    if (n < 0)
        return 0;
    for (size_t e = 0; e < sizeof s_table / sizeof s_table[0]; e++) {
        char pat[64];
        strcpy(pat, s_table[e].pattern);
        char *psegs[S_MAX_SEGS];
        int pn = s_split(pat, psegs);
        if (pn != n)
            continue;
        int ok = 1, caps = 0;
        const char *cap[2] = {"", ""};
        for (int i = 0; ok && i < n; i++) {
            if (strcmp(psegs[i], "*") == 0) {
                ok = s_capture_ok(segs[i]) && caps < 2;
                if (ok)
                    cap[caps++] = segs[i];
            } else {
                ok = strcmp(psegs[i], segs[i]) == 0;
            }
        }
        if (!ok)
            continue;
        out->id = s_table[e].id;
        strcpy(out->arg, cap[0]);
        strcpy(out->arg2, cap[1]);
        return 0;
    }
    return 0;
}

const char *td_route_name(td_route_id_t id)
{
    switch (id) {
    case TD_ROUTE_PROBE: return "probe";
    case TD_ROUTE_API: return "api";
    case TD_ROUTE_LOGIN: return "login";
    case TD_ROUTE_LOGOUT: return "logout";
    case TD_ROUTE_STATUS: return "status";
    case TD_ROUTE_ME: return "me";
    case TD_ROUTE_KSPECS: return "kernelspecs";
    case TD_ROUTE_KSPEC: return "kernelspec";
    case TD_ROUTE_KSPEC_FILE: return "kernelspec-file";
    case TD_ROUTE_KERNELS: return "kernels";
    case TD_ROUTE_KERNEL: return "kernel";
    case TD_ROUTE_KERNEL_INTERRUPT: return "interrupt";
    case TD_ROUTE_KERNEL_EXECUTE: return "execute";
    case TD_ROUTE_COLLAB_SESSION: return "collaboration-session";
    case TD_ROUTE_COLLAB_ROOM: return "collaboration-room";
    case TD_ROUTE_PRESENCE: return "presence";
    case TD_ROUTE_COMMENTS: return "comments";
    case TD_ROUTE_COMMENT_EVENTS: return "comment-events";
    case TD_ROUTE_NOTIFICATIONS: return "notifications";
    case TD_ROUTE_ADMIN: return "admin";
    case TD_ROUTE_KERNEL_RESTART: return "restart";
    case TD_ROUTE_KERNEL_CHANNELS: return "channels";
    case TD_ROUTE_SESSIONS: return "sessions";
    case TD_ROUTE_SESSION: return "session";
    case TD_ROUTE_CONTENTS: return "contents";
    case TD_ROUTE_CONTENTS_CPS: return "checkpoints";
    case TD_ROUTE_CONTENTS_CP: return "checkpoint";
    case TD_ROUTE_CONTENTS_TRUST: return "trust";
    default: return "none";
    }
}

int td_route_query(const char *const *frags, size_t n, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < n; i++) {
        const char *f = frags[i];
        if (!f || strncmp(f, key, klen) != 0 || f[klen] != '=')
            continue;
        size_t vlen = strlen(f + klen + 1);
        if (vlen >= cap)
            return TD_E2BIG;
        memcpy(out, f + klen + 1, vlen + 1);
        return 0;
    }
    return TD_ENOENT;
}

/* Decodes a form field [s, end) into out; returns 0, TD_E2BIG or TD_EPROTO. */
static int s_form_decode(const char *s, const char *end, char *out, size_t cap)
{
    size_t k = 0;
    while (s < end) {
        int c = (unsigned char)*s++;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = end - s >= 2 ? td_hex_value(s[0]) : -1;
            int lo = end - s >= 2 ? td_hex_value(s[1]) : -1;
            if (hi < 0 || lo < 0)
                return TD_EPROTO;
            c = hi << 4 | lo;
            s += 2;
        }
        if (c == 0)
            return TD_EPROTO;
        if (k + 1 >= cap)
            return TD_E2BIG;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

int td_route_form(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    char name[64];
    const char *end = body + len;
    for (const char *f = body; f < end;) {
        const char *amp = memchr(f, '&', (size_t)(end - f)), *fend = amp ? amp : end;
        const char *eq = memchr(f, '=', (size_t)(fend - f));
        if (eq && s_form_decode(f, eq, name, sizeof name) == 0 && strcmp(name, key) == 0)
            return s_form_decode(eq + 1, fend, out, cap);
        f = fend + 1;
    }
    return TD_ENOENT;
}

int td_route_cookie(const char *header, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *semi = strchr(p, ';'), *end = semi ? semi : p + strlen(p);
        if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            if (end - v >= 2 && v[0] == '"' && end[-1] == '"')
                v++, end--;
            if ((size_t)(end - v) >= cap)
                return TD_E2BIG;
            memcpy(out, v, (size_t)(end - v));
            out[end - v] = '\0';
            return 0;
        }
        p = end;
    }
    return TD_ENOENT;
}

int td_route_is_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '-'))
            return 0;
    }
    return 1;
}
