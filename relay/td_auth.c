/* td_auth.c: token authentication. Each entry stores SHA-256(token) and its identity. A check
 * hashes the presented token once and compares it with every entry without an early exit, so the
 * time taken says nothing about which bytes (or which entry) matched. Invariant: entry 0 is the
 * server token's default user. Login cookies ("HEX(username)|issued|HMAC") are signed with a
 * secret the relay keeps across restarts; the HMAC also covers the user's token digest, so a cookie
 * lives only as long as the token it was obtained with. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "td/td_base64.h"
#include "td/td_hmac.h"
#include "td/td_sha.h"
#include "td_auth.h"

/* Identities are allocated one by one: callers keep td_user_t pointers (open sockets do) while
 * entries are added at run time. */
typedef struct {
    uint8_t digest[TD_SHA256_LEN];
    td_user_t *user;
} s_entry_t;

struct td_auth {
    s_entry_t *v;
    size_t n;
    td_hmac_t *cookie_key; /* NULL: no cookie logins */
};

static void s_digest(const char *token, uint8_t out[TD_SHA256_LEN])
{
    td_sha_t s;
    td_sha_init(&s, TD_SHA256);
    td_sha_update(&s, token, strlen(token));
    td_sha_final(&s, out);
}

static void s_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Initials from a name: first letters of the first two words, upper-cased. */
static void s_initials(const char *name, char out[16])
{
    size_t k = 0;
    int at_word = 1;
    for (const char *p = name; *p && k < 2; p++) {
        if (isspace((unsigned char)*p) || *p == '-' || *p == '_') {
            at_word = 1;
        } else if (at_word) {
            out[k++] = (char)toupper((unsigned char)*p);
            at_word = 0;
        }
    }
    out[k] = '\0';
}

static int s_push_digest(td_auth_t *self, const uint8_t digest[TD_SHA256_LEN],
                         const td_user_t *user)
{
    td_user_t *u = malloc(sizeof *u);
    s_entry_t *v = u ? realloc(self->v, (self->n + 1) * sizeof *v) : NULL;
    if (!v) {
        free(u);
        return TD_ENOMEM;
    }
    self->v = v;
    memcpy(v[self->n].digest, digest, TD_SHA256_LEN);
    *u = *user;
    v[self->n].user = u;
    self->n++;
    return 0;
}

static int s_push(td_auth_t *self, const char *token, const td_user_t *user)
{
    uint8_t d[TD_SHA256_LEN];
    s_digest(token, d);
    return s_push_digest(self, d, user);
}

int td_auth_add_digest(td_auth_t *self, const uint8_t digest[32], const td_user_t *user)
{
    return s_push_digest(self, digest, user);
}

size_t td_auth_count(const td_auth_t *self)
{
    return self->n;
}

const td_user_t *td_auth_entry(const td_auth_t *self, size_t i, const uint8_t **digest_out)
{
    if (i >= self->n)
        return NULL;
    if (digest_out)
        *digest_out = self->v[i].digest;
    return self->v[i].user;
}

td_auth_t *td_auth_new(const char *server_token)
{
    if (!server_token || !*server_token)
        return NULL;
    td_auth_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    td_user_t u = {0};
    s_copy(u.username, sizeof u.username, "tandem");
    s_copy(u.name, sizeof u.name, "Tandem User");
    s_copy(u.display_name, sizeof u.display_name, "Tandem User");
    s_copy(u.initials, sizeof u.initials, "TU");
    if (s_push(self, server_token, &u) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

void td_auth_destroy(td_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_auth_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free(self->v[i].user);
    td_hmac_destroy(&self->cookie_key);
    if (self->v)
        memset(self->v, 0, self->n * sizeof *self->v);
    free(self->v);
    free(self);
    *self_p = NULL;
}

static const char *s_str(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

int td_auth_load_users(td_auth_t *self, const char *text, size_t len, td_error_t *err)
{
    json_t *root = json_loadb(text, len, 0, NULL);
    if (!json_is_array(root)) {
        json_decref(root);
        return td_error_set(err, TD_EPROTO, 0, "users file is not a JSON array");
    }
    int rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e)
    {
        const char *token = s_str(e, "token", NULL), *username = s_str(e, "username", NULL);
        if (!json_is_object(e) || !token || strlen(token) < 8 || !username || !*username) {
            rc = td_error_set(err, TD_EPROTO, i,
                              "users[%zu] needs a token (8+ chars) and a username", i);
            break;
        }
        td_user_t u = {0};
        s_copy(u.username, sizeof u.username, username);
        s_copy(u.name, sizeof u.name, s_str(e, "name", username));
        s_copy(u.display_name, sizeof u.display_name, s_str(e, "display_name", u.name));
        const char *ini = s_str(e, "initials", NULL);
        if (ini)
            s_copy(u.initials, sizeof u.initials, ini);
        else
            s_initials(u.name, u.initials);
        s_copy(u.color, sizeof u.color, s_str(e, "color", ""));
        if ((rc = s_push(self, token, &u)) != 0)
            break;
    }
    json_decref(root);
    return rc;
}

const td_user_t *td_auth_check(const td_auth_t *self, const char *token)
{
    if (!self || !token || !*token)
        return NULL;
    uint8_t d[TD_SHA256_LEN];
    s_digest(token, d);
    size_t match = 0; /* 1-based index of the first matching entry */
    for (size_t i = 0; i < self->n; i++) {
        unsigned diff = 0;
        for (size_t j = 0; j < TD_SHA256_LEN; j++)
            diff |= (unsigned)(d[j] ^ self->v[i].digest[j]);
        /* Arithmetic select: the loop's timing does not depend on which entry matched. */
        size_t take = (size_t)(diff == 0) & (size_t)(match == 0);
        match |= ((size_t)0 - take) & (i + 1);
    }
    return match ? self->v[match - 1].user : NULL;
}

int td_auth_header_token(const char *value, char *out, size_t cap)
{
    if (!value)
        return TD_ENOENT;
    while (*value == ' ')
        value++;
    size_t skip;
    if (strncasecmp(value, "token", 5) == 0)
        skip = 5;
    else if (strncasecmp(value, "bearer", 6) == 0)
        skip = 6;
    else
        return TD_ENOENT;
    if (value[skip] != ' ' && value[skip] != '\t')
        return TD_ENOENT;
    value += skip;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0)
        return TD_ENOENT;
    if (n >= cap)
        return TD_E2BIG;
    memcpy(out, value, n);
    out[n] = '\0';
    return 0;
}

json_t *td_auth_identity(const td_user_t *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:n, s:o}", "username", u->username, "name", u->name,
                     "display_name", u->display_name, "initials", u->initials, "avatar_url",
                     "color", u->color[0] ? json_string(u->color) : json_null());
}

int td_auth_set_cookie_secret(td_auth_t *self, const uint8_t *secret, size_t len)
{
    if (!secret || len < 16)
        return TD_EINVAL;
    td_hmac_t *k = td_hmac_new("hmac-sha256", secret, len);
    if (!k)
        return TD_ENOMEM;
    td_hmac_destroy(&self->cookie_key);
    self->cookie_key = k;
    return 0;
}

/* The signed parts of a cookie: a domain tag, the username, the issue time and the token digest. */
static void s_cookie_parts(const char *username, const char *issued, const uint8_t *digest,
                           td_bytes_t parts[4])
{
    static const char tag[] = "tandem-login-v1|";
    parts[0] = (td_bytes_t){(const uint8_t *)tag, sizeof tag - 1};
    parts[1] = (td_bytes_t){(const uint8_t *)username, strlen(username) + 1}; /* NUL separates */
    parts[2] = (td_bytes_t){(const uint8_t *)issued, strlen(issued) + 1};
    parts[3] = (td_bytes_t){digest, TD_SHA256_LEN};
}

int td_auth_cookie_make(const td_auth_t *self, const td_user_t *user, int64_t now_s,
                        char out[TD_AUTH_COOKIE_MAX])
{
    if (!self->cookie_key || !user || now_s < 0)
        return TD_EINVAL;
    size_t i = 0;
    while (i < self->n && self->v[i].user != user)
        i++;
    if (i == self->n)
        return TD_ENOENT;
    char issued[24], sig[TD_HMAC_HEX_MAX + 1];
    snprintf(issued, sizeof issued, "%lld", (long long)now_s);
    td_bytes_t parts[4];
    s_cookie_parts(user->username, issued, self->v[i].digest, parts);
    if (td_hmac_sign(self->cookie_key, parts, 4, sig) < 0)
        return TD_ENOMEM;
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)user->username; *p; p++)
        k += (size_t)snprintf(out + k, 3, "%02x", *p);
    snprintf(out + k, TD_AUTH_COOKIE_MAX - k, "|%s|%s", issued, sig);
    return 0;
}

const td_user_t *td_auth_cookie_check(const td_auth_t *self, const char *value, int64_t now_s)
{
    if (!self->cookie_key || !value)
        return NULL;
    /* HEX(username) "|" decimal issue time "|" 64 hex digits */
    char username[sizeof ((td_user_t *)0)->username];
    size_t n = 0;
    const char *p = value;
    for (; td_hex_value(p[0]) >= 0 && td_hex_value(p[1]) >= 0 && !isupper((unsigned char)p[0]) &&
           !isupper((unsigned char)p[1]);
         p += 2) {
        if (n + 1 >= sizeof username)
            return NULL;
        username[n++] = (char)(td_hex_value(p[0]) << 4 | td_hex_value(p[1]));
    }
    username[n] = '\0';
    if (n == 0 || *p++ != '|' || strlen(username) != n)
        return NULL;
    char issued[24];
    size_t d = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (d + 1 >= sizeof issued || (d == 1 && issued[0] == '0'))
            return NULL;
        issued[d++] = *p;
    }
    issued[d] = '\0';
    if (d == 0 || d > 18 || *p++ != '|' || strlen(p) != 2 * TD_SHA256_LEN)
        return NULL;
    long long t = atoll(issued);
    if (t > now_s + 60 || now_s - t >= (long long)TD_AUTH_COOKIE_DAYS * 86400)
        return NULL;
    td_bytes_t sig = {(const uint8_t *)p, 2 * TD_SHA256_LEN};
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->v[i].user->username, username) != 0)
            continue;
        td_bytes_t parts[4];
        s_cookie_parts(username, issued, self->v[i].digest, parts);
        if (td_hmac_verify(self->cookie_key, parts, 4, sig) == 0)
            return self->v[i].user;
    }
    return NULL;
}
