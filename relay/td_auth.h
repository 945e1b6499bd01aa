/* td_auth.h: who a request is. Tokens map to identities: the server token (--token or a random
 * one) is the default user, and a users file adds more. Tokens are kept only as SHA-256 digests
 * and compared in constant time against every entry. No I/O: the caller reads the users file. */
#ifndef TD_AUTH_H
#define TD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "td/td_error.h"

typedef struct td_auth td_auth_t;

/* One identity; fields as jupyter_server's /api/me identity (avatar_url always null). */
typedef struct td_user {
    char username[128];
    char name[128];
    char display_name[128];
    char initials[16];
    char color[32]; /* "" = null */
} td_user_t;

/* Creates an authenticator whose server token (non-empty) maps to a default identity. NULL on
 * OOM or an empty token; caller owns. */
td_auth_t *td_auth_new(const char *server_token);

/* Frees it; NULL-safe; nulls *self_p. */
void td_auth_destroy(td_auth_t **self_p);

/* Adds the users of a users file: a JSON array of {"token", "username", "name"?, "display_name"?,
 * "initials"?, "color"?}. Returns 0 or TD_EPROTO (err says which entry) / TD_ENOMEM. */
int td_auth_load_users(td_auth_t *self, const char *text, size_t len, td_error_t *err);

/* The user whose token equals token (constant time across all entries), or NULL. Borrowed. */
const td_user_t *td_auth_check(const td_auth_t *self, const char *token);

/* Adds an identity for a token known only by its SHA-256 digest (from the store). Returns 0 or
 * TD_ENOMEM. */
int td_auth_add_digest(td_auth_t *self, const uint8_t digest[32], const td_user_t *user);

/* Number of entries (entry 0 is the server token's user). */
size_t td_auth_count(const td_auth_t *self);

/* Entry i's user (borrowed) and, through digest_out, its token digest (borrowed); NULL past the
 * end. */
const td_user_t *td_auth_entry(const td_auth_t *self, size_t i, const uint8_t **digest_out);

/* Extracts the token from an Authorization header value "token T" or "bearer T" (scheme case-
 * insensitive). Returns 0, TD_ENOENT (other scheme) or TD_E2BIG. */
int td_auth_header_token(const char *value, char *out, size_t cap);

/* Sets the secret that signs login cookies (at least 16 bytes; copied). Returns 0, TD_EINVAL or
 * TD_ENOMEM. Without one, cookies are neither made nor accepted. */
int td_auth_set_cookie_secret(td_auth_t *self, const uint8_t *secret, size_t len);

#define TD_AUTH_COOKIE_MAX 360 /* a login cookie value, with its NUL */
#define TD_AUTH_COOKIE_DAYS 30 /* how long a login cookie is valid */

/* Writes the login cookie value for user (an identity this authenticator returned) issued at
 * now_s: its username, the time, and an HMAC under the cookie secret bound to the user's token, so
 * removing the token ends the cookie too. Returns 0, TD_ENOENT (unknown user) or TD_EINVAL (no
 * secret). */
int td_auth_cookie_make(const td_auth_t *self, const td_user_t *user, int64_t now_s,
                        char out[TD_AUTH_COOKIE_MAX]);

/* The user a login cookie value names, when its signature holds for one of that username's
 * tokens and it is less than TD_AUTH_COOKIE_DAYS old at now_s; NULL otherwise (malformed input
 * included). Borrowed. */
const td_user_t *td_auth_cookie_check(const td_auth_t *self, const char *value, int64_t now_s);

/* The identity object for /api/me; new reference. */
json_t *td_auth_identity(const td_user_t *user);

#endif
