/* test_td_history.c: sessions, tail, range (exclusive stop, relative sessions), glob search with
 * n and unique, output pairs, persistence across processes (two objects on one file), queued
 * writes (another connection sees a cell after td_history_flush, more than a batch, and on
 * destroy), and a database that cannot be opened. */
#include <stdlib.h>
#include <unistd.h>

#include "td_history.h"
#include "test.h"

static const char *s_src(json_t *h, size_t i)
{
    json_t *third = json_array_get(json_array_get(h, i), 2);
    return json_is_array(third) ? json_string_value(json_array_get(third, 0)) : json_string_value(third);
}

void test_td_history(void)
{
    char dir[] = "/tmp/td_history_XXXXXX";
    TD_ASSERT(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/history.sqlite", dir);

    td_history_t *a = td_history_new(path);
    TD_ASSERT(access(path, F_OK) != 0); /* lazy: nothing on disk yet */
    TD_ASSERT_OK(td_history_add(a, 1, "x = 1", NULL));
    TD_ASSERT_OK(td_history_add(a, 2, "1+2+3", "6"));
    TD_ASSERT_OK(td_history_add(a, 3, "6*7", "42"));
    TD_ASSERT_OK(td_history_add(a, 4, "1+2+3", "6"));
    int sa = td_history_session(a);
    TD_ASSERT(sa >= 1);

    json_t *h = td_history_tail(a, 2, 0);
    TD_ASSERT_EQ(json_array_size(h), 2);
    TD_ASSERT_STR_EQ(s_src(h, 0), "6*7");
    TD_ASSERT_STR_EQ(s_src(h, 1), "1+2+3");
    TD_ASSERT_EQ(json_integer_value(json_array_get(json_array_get(h, 1), 1)), 4);
    json_decref(h);

    h = td_history_tail(a, 1, 1);
    TD_ASSERT_STR_EQ(json_string_value(json_array_get(json_array_get(json_array_get(h, 0), 2), 1)), "6");
    json_decref(h);

    h = td_history_range(a, 0, 2, 3, 0); /* stop is exclusive */
    TD_ASSERT_EQ(json_array_size(h), 1);
    TD_ASSERT_STR_EQ(s_src(h, 0), "1+2+3");
    json_decref(h);

    h = td_history_search(a, "1?2*", 0, 0, 0);
    TD_ASSERT_EQ(json_array_size(h), 2);
    json_decref(h);
    h = td_history_search(a, "1?2*", 0, 1, 0);
    TD_ASSERT_EQ(json_array_size(h), 1);
    TD_ASSERT_EQ(json_integer_value(json_array_get(json_array_get(h, 0), 1)), 4); /* the latest */
    json_decref(h);
    h = td_history_search(a, "*", 3, 0, 0);
    TD_ASSERT_EQ(json_array_size(h), 3);
    TD_ASSERT_STR_EQ(s_src(h, 2), "1+2+3");
    json_decref(h);

    /* A second process gets a new session and sees the first one's entries. */
    td_history_t *b = td_history_new(path);
    TD_ASSERT_OK(td_history_add(b, 1, "y = 2", NULL));
    TD_ASSERT(td_history_session(b) > sa);
    h = td_history_tail(b, 10, 0);
    TD_ASSERT_EQ(json_array_size(h), 5);
    json_decref(h);
    h = td_history_range(b, -1, 1, 0, 0); /* the previous session, whole */
    TD_ASSERT_EQ(json_array_size(h), 4);
    json_decref(h);

    /* Adds are queued: the other connection sees them after a flush, and past one batch. */
    TD_ASSERT_OK(td_history_add(a, 5, "queued", NULL));
    h = td_history_search(b, "queued", 0, 0, 0);
    TD_ASSERT_EQ(json_array_size(h), 0);
    json_decref(h);
    TD_ASSERT_OK(td_history_flush(a));
    h = td_history_search(b, "queued", 0, 0, 0);
    TD_ASSERT_EQ(json_array_size(h), 1);
    json_decref(h);
    for (int i = 0; i < 100; i++)
        TD_ASSERT_OK(td_history_add(a, 6 + i, "many", NULL));
    h = td_history_search(b, "many", 0, 0, 0);
    TD_ASSERT(json_array_size(h) >= 64 && json_array_size(h) < 100);
    json_decref(h);
    td_history_destroy(&a); /* writes the rest */
    TD_ASSERT(a == NULL);
    h = td_history_search(b, "many", 0, 0, 0);
    TD_ASSERT_EQ(json_array_size(h), 100);
    json_decref(h);
    td_history_destroy(&b);

    /* An unusable path: calls fail softly. */
    td_history_t *bad = td_history_new("/nonexistent-dir/x/history.sqlite");
    TD_ASSERT_EQ(td_history_add(bad, 1, "x", NULL), TD_EINVAL);
    h = td_history_tail(bad, 5, 0);
    TD_ASSERT_EQ(json_array_size(h), 0);
    json_decref(h);
    td_history_destroy(&bad);

    unlink(path);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}
