/* test_td_sys.c: the executables' shared effects: Jupyter's data dir in each environment case
 * (including none and too long), whole-file reads at and past the limit, and plausible clock and
 * randomness. */
#include <stdlib.h>
#include <unistd.h>

#include "td_sys.h"
#include "test.h"

/* Sets or (value NULL) unsets the three variables the data dir depends on. */
static void s_env(const char *data_dir, const char *xdg, const char *home)
{
    const char *names[3] = {"JUPYTER_DATA_DIR", "XDG_DATA_HOME", "HOME"};
    const char *values[3] = {data_dir, xdg, home};
    for (int i = 0; i < 3; i++) {
        if (values[i])
            setenv(names[i], values[i], 1);
        else
            unsetenv(names[i]);
    }
}

static void s_data_dir(void)
{
    char *saved[3];
    const char *names[3] = {"JUPYTER_DATA_DIR", "XDG_DATA_HOME", "HOME"};
    for (int i = 0; i < 3; i++)
        saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;

    char out[64];
    s_env("/jd", "/xdg", "/home/u");
    TD_ASSERT_OK(td__jupyter_data_dir(out, sizeof out));
    TD_ASSERT_STR_EQ(out, "/jd");
    s_env("", "/xdg", "/home/u"); /* empty counts as unset, as in jupyter_core */
    TD_ASSERT_OK(td__jupyter_data_dir(out, sizeof out));
    TD_ASSERT_STR_EQ(out, "/xdg/jupyter");
    s_env(NULL, "", "/home/u");
    TD_ASSERT_OK(td__jupyter_data_dir(out, sizeof out));
    TD_ASSERT_STR_EQ(out, "/home/u/.local/share/jupyter");
    s_env(NULL, NULL, NULL);
    TD_ASSERT_EQ(td__jupyter_data_dir(out, sizeof out), -1);
    s_env(NULL, NULL, "/a-home-long-enough-that-the-data-dir-does-not-fit");
    TD_ASSERT_EQ(td__jupyter_data_dir(out, sizeof out), -1);

    s_env(saved[0], saved[1], saved[2]);
    for (int i = 0; i < 3; i++)
        free(saved[i]);
}

static void s_read_file(void)
{
    char path[] = "/tmp/td_sys_test_XXXXXX";
    int fd = mkstemp(path);
    TD_ASSERT(fd >= 0);
    TD_ASSERT_EQ(write(fd, "hello\0world", 11), 11);
    close(fd);
    size_t len = 0;
    char *text = td__read_file(path, 11, &len);
    TD_ASSERT(text != NULL);
    TD_ASSERT_EQ(len, 11);
    TD_ASSERT_MEM_EQ(text, "hello\0world", 12); /* NUL-terminated past the data */
    free(text);
    len = 99;
    TD_ASSERT(td__read_file(path, 10, &len) == NULL); /* one byte over the limit */
    TD_ASSERT_EQ(len, 99);
    unlink(path);
    TD_ASSERT(td__read_file(path, 10, &len) == NULL); /* gone */
}

void test_td_sys(void)
{
    s_data_dir();
    s_read_file();

    int64_t t = td__now_us(NULL);
    TD_ASSERT(t > 1700000000000000LL); /* after November 2023, in microseconds */
    TD_ASSERT(td__now_us(NULL) >= t);

    uint8_t a[32] = {0}, b[32] = {0};
    td__random(NULL, a, sizeof a);
    td__random(NULL, b, sizeof b);
    TD_ASSERT(memcmp(a, b, sizeof a) != 0);
}
