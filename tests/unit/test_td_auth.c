/* test_td_auth.c: tokens and identities: the server token, a users file (and its bad forms), the
 * Authorization header schemes, and that near-miss tokens (prefixes, extensions) never match.
 * Login cookies: made and checked, refused when tampered with, too old, from the future, under
 * another secret, or once the token they were made under is gone. */
#include "td_auth.h"
#include "test.h"

static void s_cookies(void)
{
    static const uint8_t secret[32] = "0123456789abcdef0123456789abcde";
    const int64_t now = 1795348403, day = 86400;
    td_auth_t *a = td_auth_new("server-token");
    const char *users = "[{\"token\":\"alice-secret\",\"username\":\"alice\"},"
                        "{\"token\":\"alice-laptop\",\"username\":\"alice\"}]";
    TD_ASSERT_OK(td_auth_load_users(a, users, strlen(users), NULL));
    const td_user_t *alice = td_auth_check(a, "alice-laptop");
    const td_user_t *admin = td_auth_check(a, "server-token");
    char c[TD_AUTH_COOKIE_MAX], bad[TD_AUTH_COOKIE_MAX];
    TD_ASSERT_EQ(td_auth_cookie_make(a, alice, now, c), TD_EINVAL); /* no secret yet */
    TD_ASSERT(td_auth_cookie_check(a, "x", now) == NULL);
    TD_ASSERT_EQ(td_auth_set_cookie_secret(a, secret, 8), TD_EINVAL);
    TD_ASSERT_OK(td_auth_set_cookie_secret(a, secret, sizeof secret));
    td_user_t stranger = *alice;
    TD_ASSERT_EQ(td_auth_cookie_make(a, &stranger, now, c), TD_ENOENT);

    TD_ASSERT_OK(td_auth_cookie_make(a, alice, now, c));
    TD_ASSERT(strncmp(c, "616c696365|1795348403|", 22) == 0 && strlen(c) == 22 + 64);
    TD_ASSERT(td_auth_cookie_check(a, c, now) == alice); /* the second alice entry: its token */
    TD_ASSERT(td_auth_cookie_check(a, c, now + TD_AUTH_COOKIE_DAYS * day - 1) == alice);
    TD_ASSERT(td_auth_cookie_check(a, c, now + TD_AUTH_COOKIE_DAYS * day) == NULL); /* expired */
    TD_ASSERT(td_auth_cookie_check(a, c, now - 3600) == NULL);                         /* future */
    TD_ASSERT_OK(td_auth_cookie_make(a, admin, now, bad));
    TD_ASSERT(td_auth_cookie_check(a, bad, now) == admin);

    /* Any changed byte, truncation or extension is refused. */
    for (size_t i = 0; c[i]; i++) {
        memcpy(bad, c, sizeof bad);
        bad[i] = bad[i] == '1' ? '2' : '1';
        TD_ASSERT(td_auth_cookie_check(a, bad, now) == NULL);
    }
    memcpy(bad, c, sizeof bad);
    bad[strlen(bad) - 1] = '\0';
    TD_ASSERT(td_auth_cookie_check(a, bad, now) == NULL);
    snprintf(bad, sizeof bad, "%s0", c);
    TD_ASSERT(td_auth_cookie_check(a, bad, now) == NULL);
    const char *junk[] = {"", "|", "||", "616c696365||", "616c696365|01795348403|", "6|1|1",
                          "00|1795348403|"
                          "0000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        TD_ASSERT(td_auth_cookie_check(a, junk[i], now) == NULL);
    memcpy(bad, c, sizeof bad);
    bad[3] = 'C'; /* "616c..." -> "616C...": the same name, but only lower-case hex is one */
    TD_ASSERT(td_auth_cookie_check(a, bad, now) == NULL);

    /* Another secret, or an authenticator without alice's laptop token, refuses the cookie. */
    td_auth_t *b = td_auth_new("server-token");
    const char *fewer = "[{\"token\":\"alice-secret\",\"username\":\"alice\"}]";
    TD_ASSERT_OK(td_auth_load_users(b, fewer, strlen(fewer), NULL));
    TD_ASSERT_OK(td_auth_set_cookie_secret(b, secret, sizeof secret));
    TD_ASSERT(td_auth_cookie_check(b, c, now) == NULL);
    TD_ASSERT_OK(td_auth_set_cookie_secret(b, (const uint8_t *)"another secret, 16+ bytes", 25));
    TD_ASSERT_OK(td_auth_cookie_make(b, td_auth_check(b, "alice-secret"), now, bad));
    TD_ASSERT(td_auth_cookie_check(a, bad, now) == NULL);
    td_auth_destroy(&b);
    td_auth_destroy(&a);
}

void test_td_auth(void)
{
    TD_ASSERT(td_auth_new("") == NULL);
    td_auth_t *a = td_auth_new("server-token");
    TD_ASSERT(a);
    const td_user_t *u = td_auth_check(a, "server-token");
    TD_ASSERT(u);
    TD_ASSERT_STR_EQ(u->username, "tandem");
    TD_ASSERT(td_auth_check(a, "server-toke") == NULL);
    TD_ASSERT(td_auth_check(a, "server-token2") == NULL);
    TD_ASSERT(td_auth_check(a, "") == NULL);
    TD_ASSERT(td_auth_check(a, NULL) == NULL);

    const char *users = "[{\"token\":\"alice-secret\",\"username\":\"alice\",\"name\":\"Alice Liddell\","
                        "\"color\":\"#f00\"},{\"token\":\"bob-secret1\",\"username\":\"bob\"}]";
    TD_ASSERT_OK(td_auth_load_users(a, users, strlen(users), NULL));
    u = td_auth_check(a, "alice-secret");
    TD_ASSERT(u);
    TD_ASSERT_STR_EQ(u->username, "alice");
    TD_ASSERT_STR_EQ(u->initials, "AL");
    TD_ASSERT_STR_EQ(u->display_name, "Alice Liddell");
    json_t *id = td_auth_identity(u);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(id, "color")), "#f00");
    TD_ASSERT(json_is_null(json_object_get(id, "avatar_url")));
    json_decref(id);
    u = td_auth_check(a, "bob-secret1");
    TD_ASSERT(u);
    TD_ASSERT_STR_EQ(u->name, "bob");
    TD_ASSERT_STR_EQ(u->initials, "B");
    id = td_auth_identity(u);
    TD_ASSERT(json_is_null(json_object_get(id, "color")));
    json_decref(id);

    td_error_t err = {0};
    const char *bad[] = {"{}", "[{\"token\":\"short\",\"username\":\"x\"}]",
                         "[{\"token\":\"long-enough\"}]", "[1]", "nonsense"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        TD_ASSERT_EQ(td_auth_load_users(a, bad[i], strlen(bad[i]), &err), TD_EPROTO);
    }

    char tok[32];
    TD_ASSERT_OK(td_auth_header_token("token abc", tok, sizeof tok));
    TD_ASSERT_STR_EQ(tok, "abc");
    TD_ASSERT_OK(td_auth_header_token("Bearer  xyz ", tok, sizeof tok));
    TD_ASSERT_STR_EQ(tok, "xyz");
    TD_ASSERT_OK(td_auth_header_token("TOKEN q", tok, sizeof tok));
    TD_ASSERT_EQ(td_auth_header_token("Basic abc", tok, sizeof tok), TD_ENOENT);
    TD_ASSERT_EQ(td_auth_header_token("tokenabc", tok, sizeof tok), TD_ENOENT);
    TD_ASSERT_EQ(td_auth_header_token("token ", tok, sizeof tok), TD_ENOENT);
    TD_ASSERT_EQ(td_auth_header_token(NULL, tok, sizeof tok), TD_ENOENT);
    TD_ASSERT_EQ(td_auth_header_token("token 0123456789012345678901234567890123", tok, sizeof tok),
                 TD_E2BIG);
    td_auth_destroy(&a);
    TD_ASSERT(a == NULL);
    td_auth_destroy(&a);
    s_cookies();
}
