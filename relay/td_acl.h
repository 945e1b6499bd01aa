/* td_acl.h: who may do what where. Roles are granted per API path (a folder grants to everything
 * under it; the grant on the longest matching prefix wins), kept in the store's grants table, and
 * cached in memory so a role check on the room update path is a hash lookup. One table of rules
 * (td_acl_allows) says which role may perform which action. The same object keeps the audit log
 * and the failed-login rate limiter. The relay is single-threaded: no locking here.
 *
 * Default role: a user with no grant covering a path gets the default role (initially
 * TD_ROLE_NONE). The relay sets it to TD_ROLE_EDITOR when td_acl_has_grants() is 0, so a store
 * without any grant behaves as before roles existed (every authenticated user edits), and to
 * TD_ROLE_NONE as soon as grants exist (td_acl_set_open_role does this switch automatically). The
 * admin user (the server token's user) is owner everywhere regardless of grants.
 *
 * Lifetime: the object prepares statements on the store's connection, so destroy it before the
 * store. Grant changes made through this object update the cache at once; changes made by other
 * processes are picked up by td_acl_refresh. Callers write the audit entries (grant, revoke ...):
 * td_acl_grant and td_acl_revoke do not, because only the caller knows who acted and why. */
#ifndef TD_ACL_H
#define TD_ACL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "td/td_error.h"
#include "td/td_types.h"
#include "td_store.h"

/* Roles, ordered: a higher role can do everything a lower one can. */
typedef enum {
    TD_ROLE_NONE = 0,
    TD_ROLE_VIEWER,
    TD_ROLE_COMMENTER,
    TD_ROLE_EDITOR,
    TD_ROLE_OWNER
} td_role_t;

/* Everything the relay checks; td_acl_allows maps (role, no_download) to allowed or not. */
typedef enum {
    TD_ACL_READ = 0,
    TD_ACL_EDIT_DOCUMENT,
    TD_ACL_EXECUTE,
    TD_ACL_SAVE,
    TD_ACL_RENAME,
    TD_ACL_DELETE,
    TD_ACL_DOWNLOAD,
    TD_ACL_COMMENT,
    TD_ACL_RESOLVE,
    TD_ACL_GRANT,
    TD_ACL_ACTION_COUNT
} td_acl_action_t;

typedef struct td_acl td_acl_t;

/* Creates the access controller on an open store (borrowed; must outlive it) and loads every
 * grant into its cache. env (borrowed, may be NULL = the system clock) timestamps audit entries.
 * NULL on OOM or an SQLite error; caller owns. */
td_acl_t *td_acl_new(td_store_t *st, const td_env_t *env);

/* Frees it; NULL-safe; nulls *self_p. */
void td_acl_destroy(td_acl_t **self_p);

/* ---- roles ---- */

/* The user who is owner everywhere (the server token's user, "tandem" by default); copied. NULL or
 * "" means no admin. Returns 0 or TD_E2BIG. */
int td_acl_set_admin(td_acl_t *self, const char *username);

/* The role of users without a grant covering the path (initially TD_ROLE_NONE). */
void td_acl_set_default_role(td_acl_t *self, td_role_t role);

/* The role of every user while the store holds no grant at all (initially TD_ROLE_NONE: the
 * default role applies then too). The relay sets TD_ROLE_EDITOR, so a store without grants keeps
 * working as before roles existed, and the first grant switches every path to the default role
 * (and to the grants) without a restart. */
void td_acl_set_open_role(td_acl_t *self, td_role_t role);

/* 1 when the store holds at least one grant, else 0 (answered from the cache). */
int td_acl_has_grants(td_acl_t *self);

/* The role of username on API path ("" = root, "a/b.ipynb"; a leading or trailing '/' is
 * ignored): the admin is owner; otherwise the grant on the longest folder prefix of path (path
 * itself included) wins; otherwise the default role. *no_download (may be NULL) receives the
 * winning grant's flag (0 for the admin and the default role). Cached: O(path depth) lookups. */
td_role_t td_acl_role(td_acl_t *self, const char *username, const char *path, int *no_download);

/* 1 when username may manage grants on path (its role there is owner), else 0. */
int td_acl_can_grant(td_acl_t *self, const char *username, const char *path);

/* The rule table: 1 when a user with role and no_download may perform action, else 0.
 * viewer: READ; commenter: + COMMENT, RESOLVE; editor: + EDIT_DOCUMENT, EXECUTE, SAVE, RENAME,
 * DELETE; owner: + GRANT. DOWNLOAD needs READ and no no_download flag. */
int td_acl_allows(td_role_t role, int no_download, td_acl_action_t action);

/* 1 when username's role on path (and its no-download flag) allows action: td_acl_role then
 * td_acl_allows, the check every surface of the relay makes. */
int td_acl_can(td_acl_t *self, const char *username, const char *path, td_acl_action_t action);

/* "owner", "editor", "commenter", "viewer" or "none"; never NULL. */
const char *td_role_name(td_role_t role);

/* Parses a role name (case-sensitive, as td_role_name). Returns the role, or TD_ROLE_NONE for
 * anything else (including "none"). */
td_role_t td_role_parse(const char *name);

/* "read", "edit_document", ... "grant"; never NULL ("unknown"). */
const char *td_acl_action_name(td_acl_action_t action);

/* ---- grants ---- */

/* Grants role (VIEWER..OWNER) on path to username (an existing user), replacing any grant that
 * user has on exactly that path; granted_by may be NULL. Returns 0, TD_EINVAL (bad role or path),
 * TD_ENOENT (no such user) or TD_ESTATE (SQLite). */
int td_acl_grant(td_acl_t *self, const char *path, const char *username, td_role_t role,
                 int no_download, const char *granted_by);

/* Removes username's grant on exactly path. Returns 0, TD_ENOENT (no such grant) or TD_ESTATE. */
int td_acl_revoke(td_acl_t *self, const char *path, const char *username);

/* The grants on path and on every path under it (NULL or "" = all), ordered by path then user:
 * [{path, username, role, no_download, granted_by, created}]. New reference; NULL on error. */
json_t *td_acl_grants_json(td_acl_t *self, const char *path);

/* Picks up changes made by other connections (the tandem-relay CLI while the relay runs): when
 * PRAGMA data_version says another connection committed since the last call, re-reads the grants.
 * Costs one SQLite step; call it from a timer or per request, not per room update. Returns 1
 * (reloaded), 0 (nothing changed) or TD_ESTATE (the old cache is kept). */
int td_acl_refresh(td_acl_t *self);

/* ---- audit ---- */

/* Appends an entry {at: now (ISO 8601 UTC, ms), username, action, path, detail}; NULL strings are
 * stored as "". Returns 0, TD_EINVAL (action NULL or "") or TD_ESTATE. */
int td_acl_audit(td_acl_t *self, const char *username, const char *action, const char *path,
                 const char *detail);

/* Audit entries newest first: at >= since (an ISO 8601 prefix, NULL = all), and matching username
 * and action when given; at most limit (<= 0: 100). [{seq, at, username, action, path, detail}].
 * New reference; NULL on error. */
json_t *td_acl_audit_query(td_acl_t *self, const char *since, const char *username,
                           const char *action, int limit);

/* ---- failed-login rate limit (per client key, e.g. the remote address; time passed in) ---- */

#define TD_ACL_LOGIN_FAILS 5         /* failures within the window that trigger a back-off */
#define TD_ACL_LOGIN_WINDOW_MS 60000 /* the window */
#define TD_ACL_LOGIN_BACKOFF_MS 1000 /* first back-off; doubles with each further lock-out */
#define TD_ACL_LOGIN_BACKOFF_MAX_MS 300000
#define TD_ACL_LOGIN_FORGET_MS 600000 /* a key quiet this long starts again from the first step */
#define TD_ACL_LOGIN_KEYS 4096        /* keys remembered; stale and then oldest keys are evicted */

/* The rule: TD_ACL_LOGIN_FAILS failures from one key within TD_ACL_LOGIN_WINDOW_MS lock the key
 * out for a back-off; each further failure while that many fall in the window locks it again with
 * the back-off doubled (1 s, 2 s, 4 s ... capped at 5 min). After TD_ACL_LOGIN_FORGET_MS without a
 * failure the key starts over. A successful login resets nothing (an attacker holding one valid
 * token gains nothing by interleaving it). Keys longer than 63 bytes are truncated. */

/* 1 when a login attempt from key may be checked now, 0 while key is backing off. */
int td_acl_login_allowed(td_acl_t *self, const char *key, int64_t now_ms);

/* Records a failed login from key at now_ms. */
void td_acl_login_failed(td_acl_t *self, const char *key, int64_t now_ms);

#endif
