/* td_acl.c: roles per path, the audit log and the failed-login limiter. The grants table of the
 * store is the truth; this object mirrors it in an open-addressing hash keyed by (username, path)
 * and memoises each answered (username, path) in a second hash of the same shape, so a role check
 * is one hash of the two strings and one probe. Invariant: the memo only holds answers computed
 * from the current grant map; any change to the grants empties it. A memo entry with role
 * TD_ROLE_NONE means "no grant covers this path" (grants are never NONE), so the admin, default
 * and open roles are applied at lookup time and changing them needs no invalidation. The limiter
 * is a fixed-size table that is compacted when full. Nothing here blocks except SQLite calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "td/td_stamp.h"
#include "td_acl.h"

#define TD_ACL_TAG 0x7d0ac1u
#define S_MEMO_MAX 4096 /* memoised answers before the memo is emptied */
#define S_LOGIN_SLOTS (2 * TD_ACL_LOGIN_KEYS)

/* ---- a small hash map from (username, path) to a role -------------------------------------- */

typedef struct {
    uint64_t h;       /* 0 = empty slot */
    char *user;       /* owned: "user\0path\0" in one allocation */
    const char *path; /* points into user's allocation */
    size_t user_len, path_len;
    uint8_t role, no_download;
} s_slot_t;

typedef struct {
    s_slot_t *v;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} s_map_t;

/* Hashes the pair without joining the strings, so a prefix of path can be hashed in place
 * (path, len) while walking up the folders. */
static uint64_t s_hash(const char *user, size_t ulen, const char *path, size_t plen)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, 64-bit */
    for (size_t i = 0; i < ulen; i++)
        h = (h ^ (uint8_t)user[i]) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull; /* separator: ("ab","c") and ("a","bc") differ */
    for (size_t i = 0; i < plen; i++)
        h = (h ^ (uint8_t)path[i]) * 1099511628211ull;
    return h ? h : 1;
}

static void s_map_clear(s_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].user);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* The slot holding (user, path), or the empty slot where it would go. m->cap must be > 0. Linear
 * probing; the maps are at most half full, so a miss ends at an empty slot within a few probes,
 * and no slot is ever deleted (maps are rebuilt or emptied whole), so no tombstones are needed. */
static s_slot_t *s_map_find(const s_map_t *m, uint64_t h, const char *user, size_t ulen,
                            const char *path, size_t plen)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        s_slot_t *s = &m->v[i];
        if (s->h == 0)
            return s;
        if (s->h == h && s->user_len == ulen && s->path_len == plen &&
            memcmp(s->user, user, ulen) == 0 && memcmp(s->path, path, plen) == 0)
            return s;
    }
}

/* Inserts or replaces. The map must have room (n < cap / 2). 0 or TD_ENOMEM. */
static int s_map_put(s_map_t *m, const char *user, size_t ulen, const char *path, size_t plen,
                     int role, int no_download)
{
    uint64_t h = s_hash(user, ulen, path, plen);
    s_slot_t *s = s_map_find(m, h, user, ulen, path, plen);
    if (s->h == 0) {
        char *mem = malloc(ulen + plen + 2);
        if (!mem)
            return TD_ENOMEM;
        memcpy(mem, user, ulen);
        mem[ulen] = '\0';
        memcpy(mem + ulen + 1, path, plen);
        mem[ulen + 1 + plen] = '\0';
        *s = (s_slot_t){h, mem, mem + ulen + 1, ulen, plen, 0, 0};
        m->n++;
    }
    s->role = (uint8_t)role;
    s->no_download = (uint8_t)(no_download != 0);
    return 0;
}

static int s_map_init(s_map_t *m, size_t want)
{
    size_t cap = 16;
    while (cap < 2 * want + 2)
        cap *= 2;
    m->v = calloc(cap, sizeof *m->v);
    m->cap = m->v ? cap : 0;
    m->n = 0;
    return m->v ? 0 : TD_ENOMEM;
}

/* ---- the failed-login table ------------------------------------------------------------------ */

typedef struct {
    uint64_t h; /* 0 = empty */
    char key[64];
    int64_t fails[TD_ACL_LOGIN_FAILS]; /* ring of the latest failure times */
    int nfails, head;                  /* how many are in the ring; where the next one goes */
    int level;                         /* lock-outs so far: the back-off is 1 s << (level - 1) */
    int pinned;                        /* during compaction: was locked out, keep first */
    int64_t last_fail, blocked_until;
} s_login_t;

/* ---- the object ------------------------------------------------------------------------------ */

enum { G_ALL, G_PUT, G_DEL, G_LIST, A_ADD, A_QUERY, DATA_VERSION, Q_COUNT };

static const char *const s_sql[Q_COUNT] = {
    "SELECT path, username, role, no_download FROM grants",
    "INSERT INTO grants (path, username, role, no_download, granted_by) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (path, username) DO UPDATE SET role = ?3, no_download = ?4, granted_by = ?5,"
    " created = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    "DELETE FROM grants WHERE path = ?1 AND username = ?2",
    /* A folder lists itself and everything under it; "" lists all. */
    "SELECT path, username, role, no_download, granted_by, created FROM grants"
    " WHERE ?1 = '' OR path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/'"
    " ORDER BY path, username",
    "INSERT INTO audit (at, username, action, path, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    "SELECT seq, at, username, action, path, detail FROM audit"
    " WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR username = ?2)"
    " AND (?3 IS NULL OR action = ?3) ORDER BY seq DESC LIMIT ?4",
    "PRAGMA data_version",
};

struct td_acl {
    uint32_t tag;        /* TD_ACL_TAG while alive */
    td_store_t *store;   /* borrowed */
    const td_env_t *env; /* borrowed; NULL = the system clock */
    sqlite3 *db;         /* borrowed from the store */
    sqlite3_stmt *q[Q_COUNT];
    int64_t data_version;
    char admin[128];
    td_role_t default_role, open_role;
    s_map_t grants;    /* (user, path) -> granted role */
    s_map_t memo;      /* (user, full path) -> role of the covering grant, or NONE */
    s_login_t *logins; /* S_LOGIN_SLOTS slots, allocated at the first failure */
    size_t nlogins;
};

static void s_reset(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int64_t s_data_version(td_acl_t *self)
{
    sqlite3_stmt *st = self->q[DATA_VERSION];
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    s_reset(st);
    return v;
}

/* Re-reads every grant into a fresh map and empties the memo; the old map survives a failure.
 * Every change reloads the whole table rather than patching the map: grants are few (people times
 * folders), changes are rare and made by hand, and one code path for "the cache equals the table"
 * is easier to trust than an insert path and a delete path. Two passes: count, then fill a map
 * sized for the count. */
static int s_load(td_acl_t *self)
{
    s_map_t fresh = {0}, tmp;
    sqlite3_stmt *st = self->q[G_ALL];
    size_t n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        n++;
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return TD_ESTATE;
    if (s_map_init(&fresh, n) != 0)
        return TD_ENOMEM;
    int rc = 0;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(st, 0);
        const char *user = (const char *)sqlite3_column_text(st, 1);
        td_role_t role = td_role_parse((const char *)sqlite3_column_text(st, 2));
        if (!path || !user || role == TD_ROLE_NONE)
            continue; /* the CHECK constraint rules this out; never trust a file blindly */
        if (fresh.n * 2 >= fresh.cap)
            continue; /* rows appeared between the two passes; refresh will catch them */
        rc = s_map_put(&fresh, user, strlen(user), path, strlen(path), role,
                       sqlite3_column_int(st, 3));
    }
    sqlite3_reset(st);
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTATE;
    if (rc != 0) {
        s_map_clear(&fresh);
        return rc;
    }
    tmp = self->grants;
    self->grants = fresh;
    s_map_clear(&tmp);
    s_map_clear(&self->memo);
    return 0;
}

td_acl_t *td_acl_new(td_store_t *st, const td_env_t *env)
{
    if (!st)
        return NULL;
    td_acl_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tag = TD_ACL_TAG;
    self->store = st;
    self->env = env;
    self->db = td_store_db(st);
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->q[i],
                               NULL) != SQLITE_OK) {
            td_acl_destroy(&self);
            return NULL;
        }
    self->data_version = s_data_version(self);
    if (s_load(self) != 0)
        td_acl_destroy(&self);
    return self;
}

void td_acl_destroy(td_acl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_acl_t *self = *self_p;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->q[i]);
    s_map_clear(&self->grants);
    s_map_clear(&self->memo);
    free(self->logins);
    self->tag = 0xdeadbeef;
    free(self);
    *self_p = NULL;
}

/* data_version moves only when another connection commits, so our own grants (already applied)
 * do not cause a reload here. */
int td_acl_refresh(td_acl_t *self)
{
    int64_t v = s_data_version(self);
    if (v < 0)
        return TD_ESTATE;
    if (v == self->data_version)
        return 0;
    int rc = s_load(self);
    if (rc != 0)
        return TD_ESTATE;
    self->data_version = v;
    return 1;
}

/* ---- roles ----------------------------------------------------------------------------------- */

int td_acl_set_admin(td_acl_t *self, const char *username)
{
    if (username && strlen(username) >= sizeof self->admin)
        return TD_E2BIG;
    snprintf(self->admin, sizeof self->admin, "%s", username ? username : "");
    return 0;
}

void td_acl_set_default_role(td_acl_t *self, td_role_t role)
{
    self->default_role = role;
}

void td_acl_set_open_role(td_acl_t *self, td_role_t role)
{
    self->open_role = role;
}

int td_acl_has_grants(td_acl_t *self)
{
    return self->grants.n > 0;
}

/* The grant on the longest folder prefix of path[0, len) (path itself included), or NULL. */
static const s_slot_t *s_covering(const td_acl_t *self, const char *user, size_t ulen,
                                  const char *path, size_t len)
{
    if (self->grants.n == 0)
        return NULL;
    for (;;) {
        const s_slot_t *s =
            s_map_find(&self->grants, s_hash(user, ulen, path, len), user, ulen, path, len);
        if (s->h)
            return s;
        if (len == 0)
            return NULL;
        while (len > 0 && path[len - 1] != '/')
            len--;
        if (len > 0)
            len--; /* drop the '/' too: "a/b" -> "a" */
    }
}

td_role_t td_acl_role(td_acl_t *self, const char *username, const char *path, int *no_download)
{
    if (no_download)
        *no_download = 0;
    if (!username || !*username)
        return TD_ROLE_NONE;
    if (self->admin[0] && strcmp(username, self->admin) == 0)
        return TD_ROLE_OWNER;
    if (!path)
        path = "";
    while (*path == '/')
        path++;
    size_t len = strlen(path), ulen = strlen(username);
    while (len > 0 && path[len - 1] == '/')
        len--;
    /* No grants at all: nothing to look up (the common single-team case costs a compare). */
    if (self->grants.n == 0)
        return self->open_role != TD_ROLE_NONE ? self->open_role : self->default_role;

    int role = TD_ROLE_NONE, nd = 0;
    uint64_t h = s_hash(username, ulen, path, len);
    const s_slot_t *m =
        self->memo.cap ? s_map_find(&self->memo, h, username, ulen, path, len) : NULL;
    if (m && m->h) {
        role = m->role, nd = m->no_download;
    } else {
        const s_slot_t *g = s_covering(self, username, ulen, path, len);
        if (g)
            role = g->role, nd = g->no_download;
        /* Memoise; a full memo is emptied rather than evicted piecemeal (it refills in O(n)). */
        if (self->memo.n >= S_MEMO_MAX)
            s_map_clear(&self->memo);
        if (self->memo.cap || s_map_init(&self->memo, S_MEMO_MAX) == 0)
            s_map_put(&self->memo, username, ulen, path, len, role, nd);
    }
    if (role == TD_ROLE_NONE)
        return self->default_role;
    if (no_download)
        *no_download = nd;
    return (td_role_t)role;
}

int td_acl_can_grant(td_acl_t *self, const char *username, const char *path)
{
    return td_acl_role(self, username, path, NULL) == TD_ROLE_OWNER;
}

/* The least role that may perform each action. */
static const td_role_t s_min_role[TD_ACL_ACTION_COUNT] = {
    [TD_ACL_READ] = TD_ROLE_VIEWER,       [TD_ACL_EDIT_DOCUMENT] = TD_ROLE_EDITOR,
    [TD_ACL_EXECUTE] = TD_ROLE_EDITOR,    [TD_ACL_SAVE] = TD_ROLE_EDITOR,
    [TD_ACL_RENAME] = TD_ROLE_EDITOR,     [TD_ACL_DELETE] = TD_ROLE_EDITOR,
    [TD_ACL_DOWNLOAD] = TD_ROLE_VIEWER,   [TD_ACL_COMMENT] = TD_ROLE_COMMENTER,
    [TD_ACL_RESOLVE] = TD_ROLE_COMMENTER, [TD_ACL_GRANT] = TD_ROLE_OWNER,
};

static const char *const s_action_names[TD_ACL_ACTION_COUNT] = {
    "read",   "edit_document", "execute", "save",    "rename",
    "delete", "download",      "comment", "resolve", "grant",
};

int td_acl_can(td_acl_t *self, const char *username, const char *path, td_acl_action_t action)
{
    int nd = 0;
    td_role_t role = td_acl_role(self, username, path, &nd);
    return td_acl_allows(role, nd, action);
}

/* Roles are ordered, so "may" is a comparison with the action's least role; no_download is the
 * one exception to the ordering and touches DOWNLOAD only. */
int td_acl_allows(td_role_t role, int no_download, td_acl_action_t action)
{
    if ((unsigned)action >= TD_ACL_ACTION_COUNT || role <= TD_ROLE_NONE || role > TD_ROLE_OWNER)
        return 0;
    if (action == TD_ACL_DOWNLOAD && no_download)
        return 0;
    return role >= s_min_role[action];
}

static const char *const s_role_names[] = {"none", "viewer", "commenter", "editor", "owner"};

const char *td_role_name(td_role_t role)
{
    return (unsigned)role <= TD_ROLE_OWNER ? s_role_names[role] : "none";
}

td_role_t td_role_parse(const char *name)
{
    for (int r = TD_ROLE_VIEWER; name && r <= TD_ROLE_OWNER; r++)
        if (strcmp(name, s_role_names[r]) == 0)
            return (td_role_t)r;
    return TD_ROLE_NONE;
}

const char *td_acl_action_name(td_acl_action_t action)
{
    return (unsigned)action < TD_ACL_ACTION_COUNT ? s_action_names[action] : "unknown";
}

/* ---- grants ---------------------------------------------------------------------------------- */

/* Copies path without leading and trailing '/' into out. TD_EINVAL for empty, "." or ".."
 * segments (a grant must name one place), TD_E2BIG when it does not fit. */
static int s_norm_path(const char *path, char *out, size_t cap)
{
    if (!path)
        path = "";
    while (*path == '/')
        path++;
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    if (len >= cap)
        return TD_E2BIG;
    memcpy(out, path, len);
    out[len] = '\0';
    for (const char *seg = out; len > 0;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return TD_EINVAL;
        if (!end)
            break;
        seg = end + 1;
    }
    return 0;
}

int td_acl_grant(td_acl_t *self, const char *path, const char *username, td_role_t role,
                 int no_download, const char *granted_by)
{
    char p[4096];
    if (role < TD_ROLE_VIEWER || role > TD_ROLE_OWNER || !username || !*username)
        return TD_EINVAL;
    int rc = s_norm_path(path, p, sizeof p);
    if (rc != 0)
        return rc == TD_E2BIG ? TD_EINVAL : rc;
    rc = td_store_user_get(self->store, username, NULL);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = self->q[G_PUT];
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, td_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, no_download != 0);
    sqlite3_bind_text(st, 5, granted_by ? granted_by : "", -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    s_reset(st);
    if (step != SQLITE_DONE)
        return TD_ESTATE;
    return s_load(self) == 0 ? 0 : TD_ESTATE;
}

/* A path that cannot be normalised cannot hold a grant, so it is "no such grant", not EINVAL. */
int td_acl_revoke(td_acl_t *self, const char *path, const char *username)
{
    char p[4096];
    if (!username || s_norm_path(path, p, sizeof p) != 0)
        return TD_ENOENT;
    sqlite3_stmt *st = self->q[G_DEL];
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    s_reset(st);
    if (step != SQLITE_DONE)
        return TD_ESTATE;
    if (sqlite3_changes(self->db) == 0)
        return TD_ENOENT;
    return s_load(self) == 0 ? 0 : TD_ESTATE;
}

static json_t *s_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return json_string(t ? (const char *)t : "");
}

json_t *td_acl_grants_json(td_acl_t *self, const char *path)
{
    char p[4096];
    if (s_norm_path(path, p, sizeof p) != 0)
        return json_array(); /* no grant can sit on a path that cannot be granted */
    json_t *out = json_array();
    sqlite3_stmt *st = self->q[G_LIST];
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    int step;
    while (out && (step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *g = json_object();
        json_object_set_new(g, "path", s_text(st, 0));
        json_object_set_new(g, "username", s_text(st, 1));
        json_object_set_new(g, "role", s_text(st, 2));
        json_object_set_new(g, "no_download", json_boolean(sqlite3_column_int(st, 3)));
        json_object_set_new(g, "granted_by", s_text(st, 4));
        json_object_set_new(g, "created", s_text(st, 5));
        json_array_append_new(out, g);
    }
    s_reset(st);
    if (out && step != SQLITE_DONE) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- audit ----------------------------------------------------------------------------------- */

static int64_t s_now_us(const td_acl_t *self)
{
    if (self->env && self->env->now_us)
        return self->env->now_us(self->env->arg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "2025-01-01T12:00:00.123Z" (td_stamp_date cut to milliseconds): sorts as text in time order,
 * which the since filter relies on. */
static void s_iso(int64_t us, char out[TD_DATE_LEN + 1])
{
    td_stamp_date(us, out);
    memcpy(out + 23, "Z", 2);
}

int td_acl_audit(td_acl_t *self, const char *username, const char *action, const char *path,
                 const char *detail)
{
    if (!action || !*action)
        return TD_EINVAL;
    char at[TD_DATE_LEN + 1];
    s_iso(s_now_us(self), at);
    sqlite3_stmt *st = self->q[A_ADD];
    const char *v[5] = {at, username, action, path, detail};
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, i + 1, v[i] ? v[i] : "", -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    s_reset(st);
    return step == SQLITE_DONE ? 0 : TD_ESTATE;
}

json_t *td_acl_audit_query(td_acl_t *self, const char *since, const char *username,
                           const char *action, int limit)
{
    char from[64];
    sqlite3_stmt *st = self->q[A_QUERY];
    if (since && *since) {
        /* Stored times carry milliseconds: "…:05Z" would sort after "…:05.123Z", so a bare
         * trailing Z is dropped and the comparison is on the prefix. */
        snprintf(from, sizeof from, "%s", since);
        size_t n = strlen(from);
        if (n > 0 && (from[n - 1] == 'Z' || from[n - 1] == 'z'))
            from[n - 1] = '\0';
        sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    }
    if (username && *username)
        sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
    if (action && *action)
        sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, limit > 0 ? limit : 100);
    json_t *out = json_array();
    int step;
    while (out && (step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *e = json_object();
        json_object_set_new(e, "seq", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(e, "at", s_text(st, 1));
        json_object_set_new(e, "username", s_text(st, 2));
        json_object_set_new(e, "action", s_text(st, 3));
        json_object_set_new(e, "path", s_text(st, 4));
        json_object_set_new(e, "detail", s_text(st, 5));
        json_array_append_new(out, e);
    }
    s_reset(st);
    if (out && step != SQLITE_DONE) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- failed-login rate limit ----------------------------------------------------------------- */

/* Copies key (truncated to 63 bytes) into out and hashes the copy, so the hash, the probe and the
 * stored key all agree on the truncation. */
static uint64_t s_key_hash(const char *key, char out[64])
{
    snprintf(out, 64, "%s", key ? key : "");
    return s_hash("", 0, out, strlen(out));
}

static s_login_t *s_login_find(const td_acl_t *self, uint64_t h, const char *key)
{
    size_t mask = S_LOGIN_SLOTS - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        s_login_t *e = &self->logins[i];
        if (e->h == 0 || (e->h == h && strcmp(e->key, key) == 0))
            return e;
    }
}

/* Locked-out keys first, then the most recently failing. */
static int s_by_keep_order(const void *a, const void *b)
{
    const s_login_t *x = a, *y = b;
    if (x->pinned != y->pinned)
        return y->pinned - x->pinned;
    return x->last_fail < y->last_fail ? 1 : x->last_fail > y->last_fail ? -1 : 0;
}

/* The table is full: keep the keys that still matter (locked out and not yet forgiven, or failing
 * within the window), and if that is still more than half the keys, only half: the locked-out
 * ones first, then the most recently failing, so a flood of new addresses cannot free a key that
 * is backing off (unless locked-out keys alone fill half the table). */
static void s_login_compact(td_acl_t *self, int64_t now_ms)
{
    s_login_t *keep = malloc(S_LOGIN_SLOTS * sizeof *keep);
    size_t n = 0;
    if (!keep) { /* no memory to sort: forget everyone rather than grow */
        memset(self->logins, 0, S_LOGIN_SLOTS * sizeof *self->logins);
        self->nlogins = 0;
        return;
    }
    for (size_t i = 0; i < S_LOGIN_SLOTS; i++) {
        s_login_t *e = &self->logins[i];
        if (!e->h)
            continue;
        /* A key that was locked out and is not yet forgiven keeps its back-off level. */
        int pinned = e->level > 0 && now_ms - e->last_fail < TD_ACL_LOGIN_FORGET_MS;
        if (pinned || now_ms - e->last_fail < TD_ACL_LOGIN_WINDOW_MS) {
            keep[n] = *e;
            keep[n++].pinned = pinned;
        }
    }
    if (n > TD_ACL_LOGIN_KEYS / 2) {
        qsort(keep, n, sizeof *keep, s_by_keep_order);
        n = TD_ACL_LOGIN_KEYS / 2;
    }
    memset(self->logins, 0, S_LOGIN_SLOTS * sizeof *self->logins);
    for (size_t i = 0; i < n; i++)
        *s_login_find(self, keep[i].h, keep[i].key) = keep[i];
    self->nlogins = n;
    free(keep);
}

/* Read-only: asking never creates an entry, so probing with many addresses costs no memory. */
int td_acl_login_allowed(td_acl_t *self, const char *key, int64_t now_ms)
{
    if (!self->logins)
        return 1;
    char k[64];
    const s_login_t *e = s_login_find(self, s_key_hash(key, k), k);
    return e->h == 0 || now_ms >= e->blocked_until;
}

/* Only failures create entries, and the table stays at or under TD_ACL_LOGIN_KEYS: compaction
 * runs when a new key would pass the bound, so memory is fixed (S_LOGIN_SLOTS entries, ~1 MB)
 * however many addresses try. */
void td_acl_login_failed(td_acl_t *self, const char *key, int64_t now_ms)
{
    if (!self->logins && !(self->logins = calloc(S_LOGIN_SLOTS, sizeof *self->logins)))
        return; /* out of memory: the limiter fails open, the token check still stands */
    char k[64];
    uint64_t h = s_key_hash(key, k);
    s_login_t *e = s_login_find(self, h, k);
    if (e->h == 0) {
        if (self->nlogins >= TD_ACL_LOGIN_KEYS) {
            s_login_compact(self, now_ms);
            e = s_login_find(self, h, k);
        }
        memset(e, 0, sizeof *e);
        e->h = h;
        memcpy(e->key, k, sizeof e->key);
        self->nlogins++;
    } else if (now_ms - e->last_fail >= TD_ACL_LOGIN_FORGET_MS) {
        e->nfails = e->head = e->level = 0; /* quiet long enough: start over */
    }
    e->fails[e->head] = now_ms;
    e->head = (e->head + 1) % TD_ACL_LOGIN_FAILS;
    if (e->nfails < TD_ACL_LOGIN_FAILS)
        e->nfails++;
    e->last_fail = now_ms;
    /* With the ring full, the oldest entry is at head: all of them within the window locks. */
    if (e->nfails == TD_ACL_LOGIN_FAILS && now_ms - e->fails[e->head] < TD_ACL_LOGIN_WINDOW_MS) {
        int64_t backoff = TD_ACL_LOGIN_BACKOFF_MS;
        for (int i = 0; i < e->level && backoff < TD_ACL_LOGIN_BACKOFF_MAX_MS; i++)
            backoff *= 2;
        if (backoff > TD_ACL_LOGIN_BACKOFF_MAX_MS)
            backoff = TD_ACL_LOGIN_BACKOFF_MAX_MS;
        e->level++;
        e->blocked_until = now_ms + backoff;
    }
}
