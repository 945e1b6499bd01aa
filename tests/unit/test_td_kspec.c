/* test_td_kspec.c: kernelspec discovery over scratch data dirs: first dir wins for a name,
 * invalid specs skipped, defaults filled in, resources listed, resource lookups confined to the
 * spec's directory (no "..", no hidden files, no symlink out), and the Jupyter data path order. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td/td_error.h"
#include "td_kspec.h"
#include "test.h"

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    TD_ASSERT(f);
    fputs(text, f);
    fclose(f);
}

void test_td_kspec(void)
{
    char base[] = "/tmp/td-kspec-XXXXXX";
    TD_ASSERT(mkdtemp(base));
    char p[512], d1[300], d2[300];
    snprintf(d1, sizeof d1, "%s/a", base);
    snprintf(d2, sizeof d2, "%s/b", base);
    const char *mk[] = {"a", "a/kernels", "a/kernels/lua", "a/kernels/bad", "b", "b/kernels",
                        "b/kernels/lua", "b/kernels/py"};
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, mk[i]);
        TD_ASSERT_OK(mkdir(p, 0700));
    }
    snprintf(p, sizeof p, "%s/a/kernels/lua/kernel.json", base);
    s_write(p, "{\"argv\":[\"lua-kernel\",\"{connection_file}\"],\"display_name\":\"Lua A\","
               "\"language\":\"lua\"}");
    snprintf(p, sizeof p, "%s/a/kernels/lua/logo-64x64.png", base);
    s_write(p, "PNG");
    snprintf(p, sizeof p, "%s/a/kernels/lua/.hidden", base);
    s_write(p, "x");
    snprintf(p, sizeof p, "%s/secret.txt", base);
    s_write(p, "secret");
    snprintf(p, sizeof p, "%s/a/kernels/lua/link.txt", base);
    char target[300];
    snprintf(target, sizeof target, "%s/secret.txt", base);
    TD_ASSERT_OK(symlink(target, p));
    snprintf(p, sizeof p, "%s/a/kernels/bad/kernel.json", base);
    s_write(p, "{\"argv\":\"not-a-list\",\"display_name\":\"Bad\"}");
    snprintf(p, sizeof p, "%s/b/kernels/lua/kernel.json", base);
    s_write(p, "{\"argv\":[\"other\"],\"display_name\":\"Lua B\"}");
    snprintf(p, sizeof p, "%s/b/kernels/py/kernel.json", base);
    s_write(p, "{\"argv\":[\"python\"],\"display_name\":\"Py\",\"interrupt_mode\":\"message\"}");

    const char *dirs[] = {d1, d2, "/nonexistent"};
    td_kspecs_t *ks = td_kspecs_new(dirs, 3);
    TD_ASSERT(ks);
    TD_ASSERT_EQ(td_kspecs_count(ks), 2);
    const td_kspec_t *lua = td_kspecs_find(ks, "lua");
    TD_ASSERT(lua);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(lua->spec, "display_name")), "Lua A");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(lua->spec, "interrupt_mode")), "signal");
    TD_ASSERT(json_is_object(json_object_get(lua->spec, "env")));
    const td_kspec_t *py = td_kspecs_find(ks, "py");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(py->spec, "interrupt_mode")), "message");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(py->spec, "language")), "");
    TD_ASSERT(td_kspecs_find(ks, "bad") == NULL);
    TD_ASSERT_STR_EQ(td_kspecs_default(ks), "lua");

    json_t *m = td_kspecs_model(ks);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(m, "default")), "lua");
    json_t *lm = json_object_get(json_object_get(m, "kernelspecs"), "lua");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(lm, "resources"), "logo-64x64")),
                     "/kernelspecs/lua/logo-64x64.png");
    TD_ASSERT(json_is_array(json_object_get(json_object_get(lm, "spec"), "argv")));
    json_decref(m);

    char out[600];
    TD_ASSERT_OK(td_kspec_resource(lua, "logo-64x64.png", out, sizeof out));
    TD_ASSERT_EQ(td_kspec_resource(lua, "../../secret.txt", out, sizeof out), TD_EPERM);
    TD_ASSERT_EQ(td_kspec_resource(lua, ".hidden", out, sizeof out), TD_EPERM);
    TD_ASSERT_EQ(td_kspec_resource(lua, "link.txt", out, sizeof out), TD_EPERM);
    TD_ASSERT_EQ(td_kspec_resource(lua, "missing.png", out, sizeof out), TD_ENOENT);
    TD_ASSERT_EQ(td_kspec_resource(lua, "", out, sizeof out), TD_EPERM);
    td_kspecs_destroy(&ks);
    TD_ASSERT(ks == NULL);

    TD_ASSERT_EQ(td_kspec_name_ok("python3"), 1);
    TD_ASSERT_EQ(td_kspec_name_ok(".."), 0);
    TD_ASSERT_EQ(td_kspec_name_ok("a/b"), 0);

    /* The data path: JUPYTER_PATH first, then the user dir, our prefix, the system dirs. */
    setenv("JUPYTER_PATH", "/j1:/j2", 1);
    setenv("JUPYTER_DATA_DIR", "/user", 1);
    char *dd[16];
    size_t n = td_kspec_data_dirs("/prefix/share/jupyter", dd, 16);
    TD_ASSERT_EQ(n, 6);
    TD_ASSERT_STR_EQ(dd[0], "/j1");
    TD_ASSERT_STR_EQ(dd[1], "/j2");
    TD_ASSERT_STR_EQ(dd[2], "/user");
    TD_ASSERT_STR_EQ(dd[3], "/prefix/share/jupyter");
    TD_ASSERT_STR_EQ(dd[4], "/usr/local/share/jupyter");
    TD_ASSERT_STR_EQ(dd[5], "/usr/share/jupyter");
    for (size_t i = 0; i < n; i++)
        free(dd[i]);
    unsetenv("JUPYTER_PATH");
    unsetenv("JUPYTER_DATA_DIR");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    TD_ASSERT_OK(system(cmd));
}
