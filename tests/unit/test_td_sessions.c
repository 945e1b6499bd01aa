/* test_td_sessions.c: the session table and the kernel models: add/find by id and path, field
 * updates, kernel reference counts (shared kernels), drops; model shapes and date format. */
#include "td/td_error.h"
#include "td_kmodel.h"
#include "td_sessions.h"
#include "test.h"

static int64_t s_clock(void *arg)
{
    return 1700000000123456LL;
}

static void s_rand(void *arg, uint8_t *out, size_t n)
{
    static uint8_t x = 7;
    for (size_t i = 0; i < n; i++)
        out[i] = x++;
}

void test_td_sessions(void)
{
    td_env_t env = {s_clock, s_rand, NULL};
    td_sessions_t *t = td_sessions_new(&env);
    td_session_t *a = td_sessions_add(t, "a.ipynb", "a", "notebook", "k1");
    td_session_t *b = td_sessions_add(t, "b.ipynb", "b", "console", "k1");
    td_session_t *c = td_sessions_add(t, "c.ipynb", "c", "notebook", "k2");
    TD_ASSERT(a && b && c);
    TD_ASSERT(strcmp(a->id, b->id) != 0);
    TD_ASSERT_EQ(strlen(a->id), TD_UUID_LEN);
    TD_ASSERT(td_sessions_find(t, b->id) == b);
    TD_ASSERT(td_sessions_find_path(t, "c.ipynb") == c);
    TD_ASSERT(td_sessions_find_path(t, "zzz") == NULL);
    TD_ASSERT_EQ(td_sessions_kernel_refs(t, "k1"), 2);
    TD_ASSERT_OK(td_sessions_set(a, "path", "moved.ipynb"));
    TD_ASSERT(td_sessions_find_path(t, "moved.ipynb") == a);
    TD_ASSERT_EQ(td_sessions_set(a, "kernel", "x"), TD_EINVAL);
    char bid[TD_UUID_LEN + 1];
    strcpy(bid, b->id);
    TD_ASSERT_OK(td_sessions_remove(t, bid));
    TD_ASSERT_EQ(td_sessions_remove(t, bid), TD_ENOENT);
    TD_ASSERT_EQ(td_sessions_kernel_refs(t, "k1"), 1);
    TD_ASSERT_EQ(td_sessions_count(t), 2);
    TD_ASSERT_EQ(td_sessions_drop_kernel(t, "k1"), 1);
    TD_ASSERT_EQ(td_sessions_count(t), 1);
    TD_ASSERT(td_sessions_at(t, 0) == c);
    td_sessions_destroy(&t);
    TD_ASSERT(t == NULL);

    td_kinfo_t ki = {"id-1", "python3", 1700000000123456LL, "idle", 2, NULL};
    json_t *k = td_kmodel_kernel(&ki);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(k, "last_activity")),
                     "2023-11-14T22:13:20.123456Z");
    TD_ASSERT_EQ(json_integer_value(json_object_get(k, "connections")), 2);
    TD_ASSERT(json_object_get(k, "reason") == NULL);
    json_t *s = td_kmodel_session("s1", "x/a.ipynb", "a.ipynb", "notebook", k);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(s, "notebook"), "path")),
                     "x/a.ipynb");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(s, "kernel"), "id")), "id-1");
    json_decref(s);
    s = td_kmodel_session("s2", "c", "c", "console", NULL);
    TD_ASSERT(json_object_get(s, "notebook") == NULL);
    TD_ASSERT(json_is_null(json_object_get(s, "kernel")));
    json_decref(s);
    char *e = td_kmodel_error("Kernel does not exist: x", NULL);
    TD_ASSERT_STR_EQ(e, "{\"message\":\"Kernel does not exist: x\",\"reason\":null}");
    free(e);
    TD_ASSERT_EQ(td_kmodel_tracked("execute_request"), 1);
    TD_ASSERT_EQ(td_kmodel_tracked("kernel_info_request"), 0);
    TD_ASSERT_EQ(td_kmodel_tracked(NULL), 0);
}
