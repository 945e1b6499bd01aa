/* test_td_auth.c: tokens and identities: the server token, a users file (and its bad forms), the
 * Authorization header schemes, and that near-miss tokens (prefixes, extensions) never match. */
#include "td_auth.h"
#include "test.h"

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
}
