/* test_td_route.c: the relay's URL table and query reading: every endpoint, trailing slashes,
 * captures that could be paths (".." or empty) refused, the cache-buster ignored, ids checked. */
#include "td/td_error.h"
#include "td_route.h"
#include "test.h"

static td_route_id_t s_id(const char *path)
{
    td_route_t r;
    td_route_match(path, &r);
    return r.id;
}

void test_td_route(void)
{
    td_route_t r;
    TD_ASSERT_EQ(s_id("/api"), TD_ROUTE_API);
    TD_ASSERT_EQ(s_id("/api/"), TD_ROUTE_API);
    TD_ASSERT_EQ(s_id("/api/status"), TD_ROUTE_STATUS);
    TD_ASSERT_EQ(s_id("/api/me"), TD_ROUTE_ME);
    TD_ASSERT_EQ(s_id("/api/kernelspecs"), TD_ROUTE_KSPECS);
    TD_ASSERT_EQ(s_id("/api/kernels"), TD_ROUTE_KERNELS);
    TD_ASSERT_EQ(s_id("/api/sessions/"), TD_ROUTE_SESSIONS);
    TD_ASSERT_EQ(s_id("/"), TD_ROUTE_PROBE);
    TD_ASSERT_EQ(s_id("/tree"), TD_ROUTE_PROBE);
    TD_ASSERT_EQ(s_id("/nope"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id(""), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("api"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/api//kernels"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/api/kernels/a/b/c/d/e/f/g/h/i"), TD_ROUTE_NONE);

    TD_ASSERT_OK(td_route_match("/api/kernels/6841b8b2-80e8/restart", &r));
    TD_ASSERT_EQ(r.id, TD_ROUTE_KERNEL_RESTART);
    TD_ASSERT_STR_EQ(r.arg, "6841b8b2-80e8");
    td_route_match("/api/kernels/k1/interrupt/", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_KERNEL_INTERRUPT);
    td_route_match("/api/kernels/k1/channels", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_KERNEL_CHANNELS);
    td_route_match("/api/kernels/k1", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_KERNEL);
    td_route_match("/api/kernels/k1/execute", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_KERNEL_EXECUTE);
    TD_ASSERT_STR_EQ(r.arg, "k1");
    td_route_match("/api/collaboration/room/json:notebook:6c0f", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_COLLAB_ROOM);
    TD_ASSERT_STR_EQ(r.arg, "json:notebook:6c0f");
    td_route_match("/api/collaboration/room/JupyterLab:globalAwareness", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_COLLAB_ROOM);
    TD_ASSERT_EQ(s_id("/api/collaboration/room/a/b"), TD_ROUTE_NONE);
    td_route_match("/api/comments", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_COMMENTS);
    TD_ASSERT_STR_EQ(r.cpath, "");
    td_route_match("/api/comments/t1/comments/c1/reactions/x/", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_COMMENTS);
    TD_ASSERT_STR_EQ(r.cpath, "/t1/comments/c1/reactions/x");
    TD_ASSERT_EQ(s_id("/api/comments/../kernels"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/api/commentsX"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/api/comments/events"), TD_ROUTE_COMMENT_EVENTS);
    TD_ASSERT_EQ(s_id("/api/collaboration/presence"), TD_ROUTE_PRESENCE);
    td_route_match("/api/me/notifications/read", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_NOTIFICATIONS);
    TD_ASSERT_STR_EQ(r.cpath, "/read");
    TD_ASSERT_EQ(s_id("/api/me"), TD_ROUTE_ME);
    td_route_match("/api/admin/grants", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_ADMIN);
    TD_ASSERT_STR_EQ(r.cpath, "/grants");
    td_route_match("/api/collaboration/session/dir/a b.ipynb", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_COLLAB_SESSION);
    TD_ASSERT_STR_EQ(r.cpath, "dir/a b.ipynb"); /* td_contents_path_norm checks it later */
    td_route_match("/kernelspecs/python3/logo-64x64.png", &r);
    TD_ASSERT_EQ(r.id, TD_ROUTE_KSPEC_FILE);
    TD_ASSERT_STR_EQ(r.arg, "python3");
    TD_ASSERT_STR_EQ(r.arg2, "logo-64x64.png");
    TD_ASSERT_EQ(s_id("/kernelspecs/python3/../../etc/passwd"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/kernelspecs/../kernel.json"), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/api/kernelspecs/.."), TD_ROUTE_NONE);
    TD_ASSERT_EQ(s_id("/api/sessions/."), TD_ROUTE_NONE);
    char longp[600] = "/api/kernels/";
    memset(longp + 13, 'a', 300);
    TD_ASSERT_EQ(s_id(longp), TD_ROUTE_NONE);

    /* Query fragments: the bare cache-buster never matches, values are copied, bounds kept. */
    const char *frags[] = {"1700000000000", "token=abc", "session_id=s-1", "tokenx=no", "empty="};
    char out[16];
    TD_ASSERT_OK(td_route_query(frags, 5, "token", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "abc");
    TD_ASSERT_OK(td_route_query(frags, 5, "session_id", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "s-1");
    TD_ASSERT_OK(td_route_query(frags, 5, "empty", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "");
    TD_ASSERT_EQ(td_route_query(frags, 5, "1700000000000", out, sizeof out), TD_ENOENT);
    TD_ASSERT_EQ(td_route_query(frags, 5, "missing", out, sizeof out), TD_ENOENT);
    TD_ASSERT_EQ(td_route_query(frags, 5, "session_id", out, 3), TD_E2BIG);
    TD_ASSERT_EQ(td_route_is_id("6841b8b2-80e8-4af7-89df-5ae45db41a57"), 1);
    TD_ASSERT_EQ(td_route_is_id("../x"), 0);
    TD_ASSERT_EQ(td_route_is_id(""), 0);
    TD_ASSERT_STR_EQ(td_route_name(TD_ROUTE_KERNELS), "kernels");

    /* /login, /logout; form bodies; Cookie headers. */
    TD_ASSERT_EQ(s_id("/login"), TD_ROUTE_LOGIN);
    TD_ASSERT_EQ(s_id("/logout"), TD_ROUTE_LOGOUT);
    static const char form[] = "next=%2Fapi%2Fme%3Fa%3D1&password=a+b%26c&_xsrf=2%7Cab&%70w=x&empty=&bad=%4&nul=%00";
    size_t flen = sizeof form - 1;
    TD_ASSERT_OK(td_route_form(form, flen, "next", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "/api/me?a=1");
    TD_ASSERT_OK(td_route_form(form, flen, "password", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "a b&c");
    TD_ASSERT_OK(td_route_form(form, flen, "pw", out, sizeof out)); /* encoded key */
    TD_ASSERT_STR_EQ(out, "x");
    TD_ASSERT_OK(td_route_form(form, flen, "empty", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "");
    TD_ASSERT_EQ(td_route_form(form, flen, "bad", out, sizeof out), TD_EPROTO);
    TD_ASSERT_EQ(td_route_form(form, flen, "nul", out, sizeof out), TD_EPROTO);
    TD_ASSERT_EQ(td_route_form(form, flen, "missing", out, sizeof out), TD_ENOENT);
    TD_ASSERT_EQ(td_route_form(form, 4, "next", out, sizeof out), TD_ENOENT); /* "next" without '=' */
    TD_ASSERT_EQ(td_route_form(form, flen, "next", out, 4), TD_E2BIG);
    TD_ASSERT_EQ(td_route_form("", 0, "next", out, sizeof out), TD_ENOENT);
    static const char ck[] = "a=1; _xsrf=\"2|ab|cd|1\";username-h-1=v|1|s ;  last=";
    TD_ASSERT_OK(td_route_cookie(ck, "_xsrf", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "2|ab|cd|1");
    TD_ASSERT_OK(td_route_cookie(ck, "username-h-1", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "v|1|s");
    TD_ASSERT_OK(td_route_cookie(ck, "last", out, sizeof out));
    TD_ASSERT_STR_EQ(out, "");
    TD_ASSERT_EQ(td_route_cookie(ck, "xsrf", out, sizeof out), TD_ENOENT);
    TD_ASSERT_EQ(td_route_cookie(ck, "username-h", out, sizeof out), TD_ENOENT);
    TD_ASSERT_EQ(td_route_cookie(ck, "_xsrf", out, 4), TD_E2BIG);
    TD_ASSERT_EQ(td_route_cookie("", "a", out, sizeof out), TD_ENOENT);
}
