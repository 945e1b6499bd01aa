/* test_td_lua.c: the Lua backend driven through td_lua_interp with a mock host that records
 * streams, displays, payloads, comm messages and input requests, and answers input from a
 * scripted queue. Interrupts are sent from inside a host callback (deterministic) and from a
 * second thread (the way the control thread does it). */
#include <pthread.h>
#include <unistd.h>

#include "td/td_error.h"
#include "td_interp.h"
#include "test.h"

typedef struct mock {
    char out[8192], err[8192];
    size_t out_len, err_len;
    json_t *displays; /* [{data, metadata, transient, update}] */
    json_t *payloads;
    json_t *comms;   /* [{id, data, close}] */
    json_t *prompts; /* [{prompt, password}] */
    int clears, clear_wait;
    const char *inputs[8];
    int ninputs, next_input, input_rc;
    td_interp_t *interp;
    int interrupt_on_stream; /* call interrupt from the next stream callback */
} mock_t;

static mock_t s_m;
static int s_count;

static void m_stream(void *arg, const char *name, const char *text, size_t len)
{
    mock_t *m = arg;
    char *buf = strcmp(name, "stdout") == 0 ? m->out : m->err;
    size_t *n = strcmp(name, "stdout") == 0 ? &m->out_len : &m->err_len;
    TD_ASSERT(strcmp(name, "stdout") == 0 || strcmp(name, "stderr") == 0);
    TD_ASSERT(*n + len < sizeof m->out);
    memcpy(buf + *n, text, len);
    *n += len;
    buf[*n] = '\0';
    if (m->interrupt_on_stream) {
        m->interrupt_on_stream = 0;
        td_lua_interp.interrupt(m->interp);
    }
}

static void m_display(void *arg, json_t *data, json_t *metadata, json_t *transient, int update)
{
    mock_t *m = arg;
    json_array_append_new(m->displays,
                          json_pack("{s:o, s:o, s:o, s:i}", "data", data, "metadata",
                                    metadata ? metadata : json_null(), "transient",
                                    transient ? transient : json_null(), "update", update));
}

static void m_clear(void *arg, int wait)
{
    mock_t *m = arg;
    m->clears++;
    m->clear_wait = wait;
}

static int m_input(void *arg, const char *prompt, int password, char **value)
{
    mock_t *m = arg;
    json_array_append_new(m->prompts,
                          json_pack("{s:s, s:b}", "prompt", prompt, "password", password));
    if (m->input_rc)
        return m->input_rc;
    TD_ASSERT(m->next_input < m->ninputs);
    *value = strdup(m->inputs[m->next_input++]);
    return 0;
}

static void m_payload(void *arg, json_t *payload)
{
    mock_t *m = arg;
    json_array_append_new(m->payloads, payload);
}

static void m_comm_send(void *arg, const char *comm_id, json_t *data, int close)
{
    mock_t *m = arg;
    json_array_append_new(
        m->comms, json_pack("{s:s, s:o, s:b}", "id", comm_id, "data", data, "close", close));
}

static void m_reset(void)
{
    s_m.out_len = s_m.err_len = 0;
    s_m.out[0] = s_m.err[0] = '\0';
    json_array_clear(s_m.displays);
    json_array_clear(s_m.payloads);
    json_array_clear(s_m.comms);
    json_array_clear(s_m.prompts);
    s_m.clears = s_m.clear_wait = 0;
    s_m.ninputs = s_m.next_input = s_m.input_rc = 0;
}

static void m_inputs(int n, const char *const *values)
{
    s_m.ninputs = n;
    s_m.next_input = 0;
    for (int i = 0; i < n; i++)
        s_m.inputs[i] = values[i];
}

static void r_free(td_exec_result_t *r)
{
    json_decref(r->data);
    json_decref(r->metadata);
    json_decref(r->traceback);
    free(r->ename);
    free(r->evalue);
    memset(r, 0, sizeof *r);
}

/* Runs one cell as execution ++s_count; the result stays in *r (free with r_free). */
static void run(td_interp_t *it, const char *code, td_exec_result_t *r)
{
    m_reset();
    td_lua_interp.execute(it, code, ++s_count, r);
}

/* Runs a cell that must succeed and returns its text/plain (static copy; "" when no result). */
static const char *plain(td_interp_t *it, const char *code)
{
    static char buf[4096];
    td_exec_result_t r;
    run(it, code, &r);
    if (!r.ok)
        TD_FAIL("cell failed: %s\n%s: %s", code, r.ename, r.evalue);
    buf[0] = '\0';
    if (r.data) {
        const char *s = json_string_value(json_object_get(r.data, "text/plain"));
        TD_ASSERT(s != NULL);
        snprintf(buf, sizeof buf, "%s", s);
    }
    r_free(&r);
    return buf;
}

/* Runs a cell that must fail with ename; returns its evalue (static copy). */
static const char *fails(td_interp_t *it, const char *code, const char *ename)
{
    static char buf[1024];
    td_exec_result_t r;
    run(it, code, &r);
    TD_ASSERT_EQ(r.ok, 0);
    TD_ASSERT_STR_EQ(r.ename, ename);
    TD_ASSERT(json_is_array(r.traceback) && json_array_size(r.traceback) >= 1);
    TD_ASSERT_STR_EQ(json_string_value(json_array_get(r.traceback, 0)), r.evalue);
    for (size_t i = 0; i < json_array_size(r.traceback); i++)
        TD_ASSERT(strstr(json_string_value(json_array_get(r.traceback, i)), "[C]: in ?") == NULL);
    TD_ASSERT(r.data == NULL);
    snprintf(buf, sizeof buf, "%s", r.evalue);
    r_free(&r);
    return buf;
}

static void test_results(td_interp_t *it)
{
    TD_ASSERT_STR_EQ(plain(it, "1 + 1"), "2");
    TD_ASSERT_STR_EQ(plain(it, "'abc'"), "abc");
    TD_ASSERT_STR_EQ(plain(it, "1, 'a', nil, 2.0"), "1\ta\tnil\t2.0");
    TD_ASSERT_STR_EQ(plain(it, "nil"), "nil");
    TD_ASSERT_STR_EQ(plain(it, "x = 5"), "");
    TD_ASSERT_STR_EQ(plain(it, "x"), "5"); /* globals persist */
    TD_ASSERT_STR_EQ(plain(it, "function nothing() end"), "");
    TD_ASSERT_STR_EQ(plain(it, "nothing()"), "");
    TD_ASSERT_STR_EQ(plain(it, "return 1, 2"), "1\t2");
    /* The cell is one chunk: locals of the head are visible to the last line. */
    TD_ASSERT_STR_EQ(plain(it, "local a = 2\nlocal b = 3\n\na * b\n\n"), "6");
    TD_ASSERT_STR_EQ(plain(it, "local t = {}\nt.x = 1\nt -- the table\n-- done"), "{x = 1}");
    TD_ASSERT_STR_EQ(plain(it, "print('hi')\nx + 1"), "6");
    TD_ASSERT_STR_EQ(s_m.out, "hi\n");
    TD_ASSERT_STR_EQ(plain(it, "for i = 1, 2 do\n  x = x + i\nend"), "");
    TD_ASSERT_STR_EQ(plain(it, "x"), "8");
    /* "y = 3\n(y)" cannot be a call (3 is not callable syntax), so it shows y. */
    TD_ASSERT_STR_EQ(plain(it, "y = 3\n(y)"), "3");
    /* "x = g\n(3)" is a call in Lua, so the cell keeps that reading. */
    TD_ASSERT_STR_EQ(plain(it, "g = function(v) return v * 2 end\nx = g\n(3)"), "");
    TD_ASSERT_STR_EQ(plain(it, "x"), "6");
    /* A long string ending on the last line is not mistaken for an expression line. */
    TD_ASSERT_STR_EQ(plain(it, "s = [[\nabc\n]]\n"), "");
    TD_ASSERT_STR_EQ(plain(it, "s"), "abc\n");
    /* A trailing ';' hides the result but still runs the code. */
    TD_ASSERT_STR_EQ(plain(it, "x = 1\nx + 1;"), "");
    TD_ASSERT_STR_EQ(plain(it, "1 + 1 ;  \n"), "");
    TD_ASSERT_STR_EQ(plain(it, "x"), "1");
    TD_ASSERT_STR_EQ(plain(it, "   \n "), "");
}

static void test_repr(td_interp_t *it)
{
    TD_ASSERT_STR_EQ(plain(it, "{1, 2, x = 3, nested = {y = 'a\\n'}}"),
                     "{1, 2, nested = {y = \"a\\n\"}, x = 3}");
    TD_ASSERT_STR_EQ(plain(it, "{}"), "{}");
    TD_ASSERT_STR_EQ(plain(it, "{[10] = 1, ['a b'] = 2, [true] = 3, ['end'] = 4, b = 5}"),
                     "{[10] = 1, [\"a b\"] = 2, b = 5, [\"end\"] = 4, [true] = 3}");
    TD_ASSERT_STR_EQ(plain(it, "local t = {1}; t.self = t; return t"), "{1, self = <cycle>}");
    TD_ASSERT_STR_EQ(plain(it, "{a = {b = {c = {d = {e = 1}}}}}"), "{a = {b = {c = {d = {...}}}}}");
    TD_ASSERT_STR_EQ(plain(it, "setmetatable({}, {__tostring = function() return 'obj' end})"),
                     "obj");
    const char *big = plain(it, "local t = {} for i = 1, 500 do t[i] = i end return t");
    TD_ASSERT(strncmp(big, "{1, 2, 3,", 9) == 0);
    TD_ASSERT(strstr(big, ", 100, ...}") != NULL);
    TD_ASSERT(strstr(big, "101") == NULL);
    const char *huge = plain(it, "local t = {} for i = 1, 100 do t[i] = ('x'):rep(200) end "
                                 "return t");
    TD_ASSERT(strlen(huge) <= 8192 + 3 + 1);
}

static void test_output(td_interp_t *it)
{
    td_exec_result_t r;
    run(it,
        "print('a', 1, nil, true)\nio.write('x', 1, 2.5, 1.0)\nio.stdout:write('y')\n"
        "io.stderr:write('e1')\nio.write():write('z')\nio.flush()\nio.stdout:flush()",
        &r);
    TD_ASSERT_EQ(r.ok, 1);
    r_free(&r);
    TD_ASSERT_STR_EQ(s_m.out, "a\t1\tnil\ttrue\nx12.51yz");
    TD_ASSERT_STR_EQ(s_m.err, "e1");
    /* print's integer fast path writes what "%lld" would, at the edges too; floats keep lua.c's
     * formatting through tostring. */
    TD_ASSERT_STR_EQ(plain(it, "print(0, -7, math.maxinteger, math.mininteger, 2^53, -0.0, 'x')"), "");
    TD_ASSERT_STR_EQ(s_m.out, "0\t-7\t9223372036854775807\t-9223372036854775808\t9.007199254741e+15"
                              "\t-0.0\tx\n");
    /* The handle that io.write returns (for chaining) is not shown as a result. */
    TD_ASSERT_STR_EQ(plain(it, "io.write('a'):write('b')"), "");
    TD_ASSERT_STR_EQ(s_m.out, "ab");
    const char *mixed = plain(it, "io.stdout, 1");
    TD_ASSERT(strncmp(mixed, "file (0x", 8) == 0 && strstr(mixed, ")\t1") != NULL);
    /* Real files keep their own methods. */
    TD_ASSERT_STR_EQ(plain(it, "local f = io.tmpfile(); f:write('abc', 4); f:seek('set')\n"
                               "return f:read('a')"),
                     "abc4");
    TD_ASSERT_STR_EQ(s_m.out, "");
    /* io.write follows io.output(). */
    TD_ASSERT_STR_EQ(plain(it, "local f = io.tmpfile(); io.output(f); io.write('to file')\n"
                               "io.output(io.stdout); f:seek('set'); return f:read('a')"),
                     "to file");
    TD_ASSERT_STR_EQ(s_m.out, "");
    run(it, "io.write({})", &r);
    TD_ASSERT_EQ(r.ok, 0);
    TD_ASSERT(strstr(r.evalue, "bad argument #1 to 'write'") != NULL);
    r_free(&r);
    TD_ASSERT_STR_EQ(plain(it, "warn('@on'); warn('care', 'ful'); warn('@off'); warn('no')"), "");
    TD_ASSERT_STR_EQ(s_m.err, "Lua warning: careful\n");
}

static void test_errors(td_interp_t *it)
{
    char want[64];
    snprintf(want, sizeof want, "In [%d]:1: boom", s_count + 1);
    TD_ASSERT_STR_EQ(fails(it, "error('boom')", "LuaError"), want);
    snprintf(want, sizeof want, "In [%d]:2: attempt to index", s_count + 1);
    TD_ASSERT(strncmp(fails(it, "local t = nil\nreturn t.x", "LuaError"), want, strlen(want)) == 0);
    snprintf(want, sizeof want, "In [%d]:1:", s_count + 1);
    TD_ASSERT(strncmp(fails(it, "x = = 1", "SyntaxError"), want, strlen(want)) == 0);
    TD_ASSERT_STR_EQ(fails(it,
                           "error(setmetatable({}, {__tostring = function() return 'custom' "
                           "end}))",
                           "LuaError"),
                     "custom");
    TD_ASSERT_STR_EQ(fails(it, "error({})", "LuaError"), "(error object is a table value)");
    /* Bytes that are not UTF-8 become U+FFFD instead of breaking the reply. */
    TD_ASSERT_STR_EQ(fails(it, "error('bad \\255 byte', 0)", "LuaError"), "bad \xef\xbf\xbd byte");
    TD_ASSERT_STR_EQ(plain(it, "'\\255'"), "\xef\xbf\xbd");

    /* The traceback names the user's frames. */
    td_exec_result_t r;
    run(it,
        "local function inner() error('deep') end\nlocal function outer() inner() end\n"
        "outer()",
        &r);
    TD_ASSERT_EQ(r.ok, 0);
    char *tb = json_dumps(r.traceback, 0);
    TD_ASSERT(strstr(tb, "in local 'inner'") != NULL || strstr(tb, "in upvalue 'inner'") != NULL);
    TD_ASSERT(strstr(tb, "stack traceback:") != NULL);
    free(tb);
    r_free(&r);
    /* Rendering errors (a failing __tostring) are errors of the cell. */
    fails(it, "setmetatable({}, {__tostring = function() error('bad tostring') end})", "LuaError");
    /* The state survives errors. */
    TD_ASSERT_STR_EQ(plain(it, "x"), "1");
}

static volatile int s_done;

/* Interrupts once after 100 ms, then fails the test if the cell does not stop within 5 s. */
static void *s_interrupter(void *arg)
{
    usleep(100 * 1000);
    td_lua_interp.interrupt(arg);
    for (int i = 0; i < 500 && !s_done; i++)
        usleep(10 * 1000);
    if (!s_done) {
        fprintf(stderr, "the interrupt did not stop the cell\n");
        _exit(1);
    }
    return NULL;
}

static void test_interrupt(td_interp_t *it)
{
    /* Nothing runs: a no-op that must not kill the next cell. */
    td_lua_interp.interrupt(it);
    TD_ASSERT_STR_EQ(plain(it, "local n = 0 for i = 1, 100000 do n = n + i end return n"),
                     "5000050000");

    s_m.interrupt_on_stream = 1;
    const char *msg = fails(it, "kept = 42\nprint('go')\nwhile true do end", "Interrupted");
    TD_ASSERT(strstr(msg, "interrupted!") != NULL);
    TD_ASSERT_STR_EQ(plain(it, "kept"), "42");

    pthread_t th;
    s_done = 0;
    TD_ASSERT_OK(pthread_create(&th, NULL, s_interrupter, it));
    fails(it, "local t = {} while true do t[1] = 1 end", "Interrupted");
    s_done = 1;
    pthread_join(th, NULL);
    TD_ASSERT_STR_EQ(plain(it, "kept + 1"), "43");

    /* Loops inside coroutines stop too, and a pcall cannot swallow the interrupt. */
    const char *loops[] = {
        "local co = coroutine.wrap(function() while true do end end)\nco()",
        "local co = coroutine.create(function() while true do end end)\n"
        "local ok = coroutine.resume(co)\nreturn ok",
        "while true do pcall(function() while true do end end) end",
        "local co = coroutine.wrap(function()\n"
        "  local inner = coroutine.wrap(function() while true do end end)\n"
        "  inner()\nend)\nco()",
    };
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
        s_done = 0;
        TD_ASSERT_OK(pthread_create(&th, NULL, s_interrupter, it));
        fails(it, loops[i], "Interrupted");
        s_done = 1;
        pthread_join(th, NULL);
    }
    TD_ASSERT_STR_EQ(plain(it, "kept"), "42");

    /* An interrupt while waiting for input (the host returns TD_ESTATE). */
    m_reset();
    s_m.input_rc = TD_ESTATE;
    td_exec_result_t r;
    td_lua_interp.execute(it, "io.read()", ++s_count, &r);
    TD_ASSERT_EQ(r.ok, 0);
    TD_ASSERT_STR_EQ(r.ename, "Interrupted");
    r_free(&r);
}

/* Runs code with the given inputs queued; returns its text/plain. */
static const char *with_input(td_interp_t *it, const char *code, int n, const char *const *in)
{
    static char buf[1024];
    td_exec_result_t r;
    m_reset();
    m_inputs(n, in);
    td_lua_interp.execute(it, code, ++s_count, &r);
    if (!r.ok)
        TD_FAIL("cell failed: %s\n%s", code, r.evalue);
    snprintf(buf, sizeof buf, "%s",
             r.data ? json_string_value(json_object_get(r.data, "text/plain")) : "");
    r_free(&r);
    TD_ASSERT_EQ(s_m.next_input, n); /* every queued input was asked for */
    return buf;
}

static void test_input(td_interp_t *it)
{
    const char *hello[] = {"hello"}, *num[] = {" 42 "}, *eof[] = {"\x04"};
    TD_ASSERT_STR_EQ(with_input(it, "io.read()", 1, hello), "hello");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(s_m.prompts, 0), "prompt")),
                     "");
    TD_ASSERT(json_is_false(json_object_get(json_array_get(s_m.prompts, 0), "password")));
    TD_ASSERT_STR_EQ(with_input(it, "io.read('L')", 1, hello), "hello\n");
    TD_ASSERT_STR_EQ(with_input(it, "io.read('*l')", 1, hello), "hello");
    TD_ASSERT_STR_EQ(with_input(it, "io.stdin:read('l')", 1, hello), "hello");
    TD_ASSERT_STR_EQ(with_input(it, "local n = io.read('n') return n + 1, math.type(n)", 1, num),
                     "43\tinteger");
    TD_ASSERT_STR_EQ(with_input(it, "io.read('n')", 1, hello), "nil");
    TD_ASSERT_STR_EQ(with_input(it, "io.read()", 1, eof), "nil");
    TD_ASSERT_STR_EQ(with_input(it, "io.read('a')", 1, eof), "");
    TD_ASSERT_STR_EQ(with_input(it, "io.read('a')", 1, hello), "hello");
    TD_ASSERT_STR_EQ(with_input(it, "io.read(3, 'l', 0)", 1, hello), "hel\tlo\t");
    const char *two[] = {"a b", "c"};
    TD_ASSERT_STR_EQ(with_input(it, "io.read('l', 'l')", 2, two), "a b\tc");
    const char *lines[] = {"a", "b", "\x04"};
    TD_ASSERT_STR_EQ(with_input(it,
                                "local t = {} for l in io.lines() do t[#t + 1] = l end\n"
                                "return table.concat(t, ',')",
                                3, lines),
                     "a,b");
    TD_ASSERT_STR_EQ(with_input(it,
                                "local t = {} for l in io.stdin:lines('L') do t[#t + 1] = l "
                                "end return table.concat(t)",
                                3, lines),
                     "a\nb\n");
    TD_ASSERT_STR_EQ(with_input(it, "input('Name: ')", 1, hello), "hello");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(s_m.prompts, 0), "prompt")),
                     "Name: ");
    TD_ASSERT_STR_EQ(with_input(it, "getpass('pw')", 1, hello), "hello");
    TD_ASSERT(json_is_true(json_object_get(json_array_get(s_m.prompts, 0), "password")));
    TD_ASSERT_STR_EQ(with_input(it, "input()", 1, eof), "nil");
    /* io.read follows io.input(). */
    TD_ASSERT_STR_EQ(with_input(it,
                                "local f = io.tmpfile(); f:write('q\\n'); f:seek('set')\n"
                                "io.input(f); local v = io.read(); io.input(io.stdin)\n"
                                "return v",
                                0, NULL),
                     "q");
    /* Reading a real file is not redirected. */
    TD_ASSERT_STR_EQ(with_input(it,
                                "local f = io.tmpfile(); f:write('l1\\nl2'); f:seek('set')\n"
                                "return f:read('l'), f:read('l')",
                                0, NULL),
                     "l1\tl2");

    td_exec_result_t r;
    m_reset();
    s_m.input_rc = TD_EPERM;
    td_lua_interp.execute(it, "io.read()", ++s_count, &r);
    TD_ASSERT_EQ(r.ok, 0);
    TD_ASSERT_STR_EQ(r.ename, "LuaError");
    TD_ASSERT(strstr(r.evalue, "stdin is not supported by this frontend (allow_stdin is false)"));
    r_free(&r);
}

static json_t *display_at(size_t i)
{
    return json_array_get(s_m.displays, i);
}

static const char *data_of(json_t *d, const char *mime)
{
    return json_string_value(json_object_get(json_object_get(d, "data"), mime));
}

static void test_display(td_interp_t *it)
{
    TD_ASSERT_STR_EQ(plain(it, "display(html('<b>x</b>'))"), "");
    TD_ASSERT_EQ(json_array_size(s_m.displays), 1);
    TD_ASSERT_STR_EQ(data_of(display_at(0), "text/html"), "<b>x</b>");
    TD_ASSERT_STR_EQ(data_of(display_at(0), "text/plain"), "<HTML>");
    TD_ASSERT_EQ(json_integer_value(json_object_get(display_at(0), "update")), 0);
    TD_ASSERT(json_is_null(json_object_get(display_at(0), "transient")));

    TD_ASSERT_STR_EQ(plain(it, "display({1, 2}, {isolated = true}, {display_id = 'd1'})\n"
                               "update_display(markdown('# hi'), {display_id = 'd1'})\n"
                               "clear_output(true)"),
                     "");
    TD_ASSERT_EQ(json_array_size(s_m.displays), 2);
    TD_ASSERT_STR_EQ(data_of(display_at(0), "text/plain"), "{1, 2}");
    TD_ASSERT(
        json_is_true(json_object_get(json_object_get(display_at(0), "metadata"), "isolated")));
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(display_at(0), "transient"),
                                                       "display_id")),
                     "d1");
    TD_ASSERT_STR_EQ(data_of(display_at(1), "text/markdown"), "# hi");
    TD_ASSERT_EQ(json_integer_value(json_object_get(display_at(1), "update")), 1);
    TD_ASSERT_EQ(s_m.clears, 1);
    TD_ASSERT_EQ(s_m.clear_wait, 1);

    /* A given display_id is not echoed as the cell's result; display_id = true makes an id and
     * returns it. */
    TD_ASSERT_STR_EQ(plain(it, "display('x', nil, {display_id = 'given'})"), "");
    TD_ASSERT_EQ(json_array_size(s_m.displays), 1);
    const char *id = plain(it, "display('x', nil, {display_id = true})");
    TD_ASSERT(strncmp(id, "td-", 3) == 0);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(display_at(0), "transient"),
                                                       "display_id")),
                     id);

    /* Helpers as results; png base64-encodes; json carries a JSON value. */
    td_exec_result_t r;
    run(it, "png('\\137PNG\\r')", &r);
    TD_ASSERT_EQ(r.ok, 1);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "image/png")), "iVBORw0=");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "text/plain")),
                     "<PNG image, 5 bytes>");
    r_free(&r);
    run(it, "json({a = {1, 2, 'x'}, b = false})", &r);
    TD_ASSERT_EQ(r.ok, 1);
    char *s =
        json_dumps(json_object_get(r.data, "application/json"), JSON_SORT_KEYS | JSON_COMPACT);
    TD_ASSERT_STR_EQ(s, "{\"a\":[1,2,\"x\"],\"b\":false}");
    free(s);
    TD_ASSERT(strstr(json_string_value(json_object_get(r.data, "text/plain")), "\"b\":false"));
    r_free(&r);
    TD_ASSERT(strstr(fails(it, "local t = {} t.t = t return json(t)", "LuaError"), "cycles"));
    TD_ASSERT(strstr(fails(it, "json(print)", "LuaError"), "function"));
    run(it, "latex('$x^2$'), 1", &r); /* two values: plain text only */
    TD_ASSERT_EQ(r.ok, 1);
    TD_ASSERT(json_object_get(r.data, "text/latex") == NULL);
    r_free(&r);
    run(it, "svg('<svg/>')", &r);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "image/svg+xml")), "<svg/>");
    r_free(&r);

    /* __jupyter objects and bare MIME bundles render richly, with text/plain added. */
    run(it,
        "setmetatable({n = 1}, {__jupyter = function(self)\n"
        "  return {['text/html'] = '<p>' .. self.n .. '</p>'}, {width = 3} end})",
        &r);
    TD_ASSERT_EQ(r.ok, 1);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "text/html")), "<p>1</p>");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "text/plain")), "{n = 1}");
    TD_ASSERT_EQ(json_integer_value(json_object_get(r.metadata, "width")), 3);
    r_free(&r);
    run(it, "{['text/markdown'] = '**b**'}", &r);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "text/markdown")), "**b**");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(r.data, "text/plain")), "<text/markdown>");
    r_free(&r);
    TD_ASSERT_STR_EQ(plain(it, "local obj = setmetatable({}, {__jupyter = function()\n"
                               "  return {['text/html'] = '<i>o</i>'} end})\n"
                               "display(obj)"),
                     "");
    TD_ASSERT_STR_EQ(data_of(display_at(0), "text/html"), "<i>o</i>");
    fails(it, "update_display('x')", "LuaError");
    fails(it, "display(setmetatable({}, {__jupyter = function() return 1 end}))", "LuaError");

    /* The jupyter module. */
    TD_ASSERT_STR_EQ(plain(it, "require('jupyter') == jupyter and jupyter.display == display"),
                     "true");
    TD_ASSERT_STR_EQ(plain(it, "jupyter.repr({1, 'a'})"), "{1, \"a\"}");

    /* help() pages the documentation. */
    TD_ASSERT_STR_EQ(plain(it, "help(string.upper)"), "");
    TD_ASSERT_EQ(json_array_size(s_m.payloads), 1);
    json_t *p = json_array_get(s_m.payloads, 0);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(p, "source")), "page");
    TD_ASSERT_EQ(json_integer_value(json_object_get(p, "start")), 0);
    const char *page = json_string_value(json_object_get(json_object_get(p, "data"), "text/plain"));
    TD_ASSERT(strstr(page, "Signature: string.upper(s)") != NULL);
    TD_ASSERT(strstr(page, "uppercase") != NULL);
    plain(it, "help('table.concat')");
    page = json_string_value(
        json_object_get(json_object_get(json_array_get(s_m.payloads, 0), "data"), "text/plain"));
    TD_ASSERT(strstr(page, "table.concat(list") != NULL);
    plain(it, "help('no.such.thing')");
    page = json_string_value(
        json_object_get(json_object_get(json_array_get(s_m.payloads, 0), "data"), "text/plain"));
    TD_ASSERT_STR_EQ(page, "No documentation found for 'no.such.thing'.");
    /* IPython's name? and name?? page the documentation too. */
    TD_ASSERT_STR_EQ(plain(it, "  string.rep?  "), "");
    page = json_string_value(
        json_object_get(json_object_get(json_array_get(s_m.payloads, 0), "data"), "text/plain"));
    TD_ASSERT(strstr(page, "Signature: string.rep(s, n [, sep])") != NULL);
    plain(it, "function twice(v)\n  return v * 2\nend");
    plain(it, "twice?");
    page = json_string_value(
        json_object_get(json_object_get(json_array_get(s_m.payloads, 0), "data"), "text/plain"));
    TD_ASSERT(strstr(page, "Signature: twice(v)") && !strstr(page, "return v * 2"));
    plain(it, "twice??");
    page = json_string_value(
        json_object_get(json_object_get(json_array_get(s_m.payloads, 0), "data"), "text/plain"));
    TD_ASSERT(strstr(page, "return v * 2") != NULL);
    fails(it, "x ? y", "SyntaxError");
    plain(it, "help()");
    page = json_string_value(
        json_object_get(json_object_get(json_array_get(s_m.payloads, 0), "data"), "text/plain"));
    TD_ASSERT(strstr(page, "comm_register") != NULL);
}

/* Completes code with the cursor at its end; returns the reply (caller frees). */
static json_t *complete(td_interp_t *it, const char *code, int cursor)
{
    json_t *rep = td_lua_interp.complete(it, code, cursor);
    TD_ASSERT(json_is_array(json_object_get(rep, "matches")));
    TD_ASSERT(json_is_object(json_object_get(rep, "metadata")));
    return rep;
}

/* The matches joined with ',' (static). */
static const char *matches(td_interp_t *it, const char *code)
{
    static char buf[4096];
    json_t *rep = complete(it, code, (int)strlen(code));
    json_t *m = json_object_get(rep, "matches");
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(m); i++) {
        if (i)
            strcat(buf, ",");
        strncat(buf, json_string_value(json_array_get(m, i)), 100);
    }
    json_decref(rep);
    return buf;
}

static void test_complete(td_interp_t *it)
{
    json_t *rep = complete(it, "pri", 3);
    TD_ASSERT_STR_EQ(matches(it, "pri"), "print");
    TD_ASSERT_EQ(json_integer_value(json_object_get(rep, "cursor_start")), 0);
    TD_ASSERT_EQ(json_integer_value(json_object_get(rep, "cursor_end")), 3);
    json_decref(rep);
    rep = complete(it, "x = string.upp", 14);
    TD_ASSERT_STR_EQ(matches(it, "string.upp"), "upper");
    TD_ASSERT_EQ(json_integer_value(json_object_get(rep, "cursor_start")), 11);
    json_decref(rep);
    /* Code points, not bytes: "é" is two bytes but one position. */
    rep = complete(it, "-- é\nstring.up", 14);
    TD_ASSERT_EQ(json_integer_value(json_object_get(rep, "cursor_start")), 12);
    TD_ASSERT_EQ(json_integer_value(json_object_get(rep, "cursor_end")), 14);
    TD_ASSERT_EQ(json_array_size(json_object_get(rep, "matches")), 1);
    json_decref(rep);
    /* The cursor in the middle of the code. */
    rep = complete(it, "string.fo + 1", 9);
    TD_ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(rep, "matches"), 0)),
                     "format");
    json_decref(rep);

    TD_ASSERT_STR_EQ(matches(it, "string."), plain(it, "local t = {} for k in pairs(string) do "
                                                       "t[#t + 1] = k end table.sort(t) return "
                                                       "table.concat(t, ',')"));
    TD_ASSERT_STR_EQ(matches(it, "(\"x\"):up"), "upper");
    plain(it, "s = 'abc'");
    TD_ASSERT_STR_EQ(matches(it, "s:up"), "upper");
    TD_ASSERT_STR_EQ(matches(it, "whi"), "while");
    TD_ASSERT_STR_EQ(matches(it, "io.stdout:wr"), "write");
    TD_ASSERT_STR_EQ(matches(it, "io.stdout:se"), "seek,setvbuf");
    /* Methods through metatables, and only functions after ':'. */
    plain(it, "Animal = {speak = function() end, sound = 'moo'}\nAnimal.__index = Animal\n"
              "dog = setmetatable({name = 'rex'}, Animal)");
    TD_ASSERT_STR_EQ(matches(it, "dog:s"), "speak");
    TD_ASSERT_STR_EQ(matches(it, "dog.s"), "sound,speak");
    TD_ASSERT_STR_EQ(matches(it, "dog.na"), "name");
    /* An __index function is never called. */
    plain(it, "calls = 0\ntrap = setmetatable({}, {__index = function() calls = calls + 1 end})");
    TD_ASSERT_STR_EQ(matches(it, "trap.x"), "");
    TD_ASSERT_STR_EQ(plain(it, "calls"), "0");
    /* Locals of the code being typed. */
    TD_ASSERT_STR_EQ(matches(it, "local counter, countdown <const> = 1, 2\nlocal function "
                                 "count_up(country) end\nfor coun_i = 1, 2 do end\ncoun"),
                     "coun_i,count_up,countdown,counter,country");
    TD_ASSERT_STR_EQ(matches(it, "function f(alpha, beta, ...) return al"), "alpha");
    TD_ASSERT_STR_EQ(matches(it, "local s = '-- local notme'\n-- local notme2\nnotm"), "");
    TD_ASSERT_STR_EQ(matches(it, "local loc"), "local");
    TD_ASSERT_STR_EQ(matches(it, "x = 'a'..pri"), "print");
}

/* The text/plain of an inspect reply, or NULL when not found (static copy). */
static const char *inspect(td_interp_t *it, const char *code, int cursor, int detail)
{
    static char buf[4096];
    json_t *rep = td_lua_interp.inspect(it, code, cursor, detail);
    TD_ASSERT(json_is_object(json_object_get(rep, "metadata")));
    int found = json_is_true(json_object_get(rep, "found"));
    const char *s = json_string_value(json_object_get(json_object_get(rep, "data"), "text/plain"));
    TD_ASSERT_EQ(found, s != NULL);
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    json_decref(rep);
    return found ? buf : NULL;
}

static void test_inspect(td_interp_t *it)
{
    const char *t = inspect(it, "string.upper", 12, 0);
    TD_ASSERT(t && strstr(t, "Signature: string.upper(s)") && strstr(t, "uppercase"));
    t = inspect(it, "x = string.upper('a')", 14, 0); /* cursor inside the name */
    TD_ASSERT(t && strstr(t, "string.upper(s)"));
    t = inspect(it, "print(", 6, 0);
    TD_ASSERT(t && strstr(t, "Signature: print(...)"));
    t = inspect(it, "s:upper", 7, 0); /* s is a string global: its methods are string's */
    TD_ASSERT(t && strstr(t, "string.upper(s)"));
    t = inspect(it, "io.stdout:write", 15, 0); /* the backend's wrapper keeps the docs */
    TD_ASSERT(t && strstr(t, "file:write(...)"));
    t = inspect(it, "math.pi", 7, 0);
    TD_ASSERT(t && strstr(t, "number (float)") && strstr(t, "3.14159"));
    t = inspect(it, "display", 7, 0);
    TD_ASSERT(t && strstr(t, "display(value"));

    plain(it, "-- Adds two numbers.\n-- Returns their sum.\nfunction add(a, b, ...)\n"
              "  return a + b\nend");
    char where[32];
    snprintf(where, sizeof where, "In [%d], line 3", s_count);
    t = inspect(it, "add", 3, 0);
    TD_ASSERT(t && strstr(t, "Signature: add(a, b, ...)") && strstr(t, "Lua function"));
    TD_ASSERT(strstr(t, where) != NULL);
    TD_ASSERT(strstr(t, "Docstring: Adds two numbers.\n           Returns their sum."));
    TD_ASSERT(strstr(t, "return a + b") == NULL);
    t = inspect(it, "add", 3, 1);
    TD_ASSERT(t && strstr(t, "Source:\nfunction add(a, b, ...)\n  return a + b\nend"));

    plain(it, "tbl = {1, 2, k = 'v'}");
    t = inspect(it, "tbl", 3, 0);
    TD_ASSERT(t && strstr(t, "Type:      table") && strstr(t, "{1, 2, k = \"v\"}"));
    TD_ASSERT(strstr(t, "3 entries"));
    TD_ASSERT(inspect(it, "no_such_name", 5, 0) == NULL);
    TD_ASSERT(inspect(it, "f:read", 6, 0) == NULL); /* f is not a global */
    t = inspect(it, "file:read", 9, 0);
    TD_ASSERT(t && strstr(t, "Signature: file:read(...)"));
    TD_ASSERT(inspect(it, "   ", 1, 0) == NULL);
    /* A user function under a documented name is described as itself. */
    plain(it, "function tostring2(v) return v end\nold_type = type\ntype = tostring2");
    t = inspect(it, "type", 4, 0);
    TD_ASSERT(t && strstr(t, "Lua function") && strstr(t, "Signature: type(v)"));
    plain(it, "type = old_type");
    /* Inspection never runs __tostring. */
    plain(it, "hits = 0\nobj = setmetatable({}, {__tostring = function() hits = hits + 1 return "
              "'o' end})");
    TD_ASSERT(inspect(it, "obj", 3, 0) != NULL);
    TD_ASSERT_STR_EQ(plain(it, "hits"), "0");
}

static const char *status_of(td_interp_t *it, const char *code)
{
    static char buf[32];
    json_t *rep = td_lua_interp.is_complete(it, code);
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(rep, "status")));
    if (strcmp(buf, "incomplete") == 0)
        TD_ASSERT_STR_EQ(json_string_value(json_object_get(rep, "indent")), "  ");
    json_decref(rep);
    return buf;
}

static void test_is_complete(td_interp_t *it)
{
    const char *incomplete[] = {"for i=1,3 do", "function f()", "x = [[abc", "--[[ c",
                                "t = {1, 2,",   "x =",          "f("};
    for (size_t i = 0; i < sizeof incomplete / sizeof *incomplete; i++)
        TD_ASSERT_STR_EQ(status_of(it, incomplete[i]), "incomplete");
    const char *invalid[] = {"a!=b)", "import = 7q", "end"};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        TD_ASSERT_STR_EQ(status_of(it, invalid[i]), "invalid");
    const char *complete_[] = {"1", "x = 1", "", "  \n", "-- just a comment", "for i=1,3 do end"};
    for (size_t i = 0; i < sizeof complete_ / sizeof *complete_; i++)
        TD_ASSERT_STR_EQ(status_of(it, complete_[i]), "complete");
}

static void test_evaluate(td_interp_t *it)
{
    json_t *v = td_lua_interp.evaluate(it, "1 + 2");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "status")), "ok");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(v, "data"), "text/plain")),
                     "3");
    TD_ASSERT(json_is_object(json_object_get(v, "metadata")));
    json_decref(v);
    v = td_lua_interp.evaluate(it, "html('<b>')");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(v, "data"), "text/html")),
                     "<b>");
    json_decref(v);
    v = td_lua_interp.evaluate(it, "nope(");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "status")), "error");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "ename")), "SyntaxError");
    TD_ASSERT(json_is_array(json_object_get(v, "traceback")));
    json_decref(v);
    v = td_lua_interp.evaluate(it, "error('x', 0)");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "ename")), "LuaError");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(v, "evalue")), "x");
    json_decref(v);
}

static json_t *comm_at(size_t i)
{
    return json_array_get(s_m.comms, i);
}

static void test_comms(td_interp_t *it)
{
    json_t *data = json_pack("{s:i}", "x", 7);
    TD_ASSERT_EQ(td_lua_interp.comm_open(it, "c0", "nobody", data), TD_ENOENT);
    plain(it, "closed_with = nil\n"
              "jupyter.comm_register('echo', function(comm, data)\n"
              "  comm:send({got = data.x, id = comm.id, target = comm.target_name})\n"
              "  comm:on_msg(function(c, d) c:send({echo = d.v}) end)\n"
              "  comm:on_close(function(c, d) closed_with = d.why end)\n"
              "  last_comm = comm\n"
              "end)");
    m_reset();
    TD_ASSERT_OK(td_lua_interp.comm_open(it, "c1", "echo", data));
    json_decref(data);
    TD_ASSERT_EQ(json_array_size(s_m.comms), 1);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(comm_at(0), "id")), "c1");
    TD_ASSERT(json_is_false(json_object_get(comm_at(0), "close")));
    json_t *d = json_object_get(comm_at(0), "data");
    TD_ASSERT_EQ(json_integer_value(json_object_get(d, "got")), 7);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(d, "id")), "c1");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(d, "target")), "echo");

    m_reset();
    data = json_pack("{s:s}", "v", "hi");
    td_lua_interp.comm_msg(it, "c1", data);
    td_lua_interp.comm_msg(it, "unknown", data);
    json_decref(data);
    TD_ASSERT_EQ(json_array_size(s_m.comms), 1);
    TD_ASSERT_STR_EQ(
        json_string_value(json_object_get(json_object_get(comm_at(0), "data"), "echo")), "hi");

    data = json_pack("{s:s}", "why", "bye");
    td_lua_interp.comm_close(it, "c1", data);
    json_decref(data);
    TD_ASSERT_STR_EQ(plain(it, "closed_with"), "bye");
    TD_ASSERT(strstr(fails(it, "last_comm:send({})", "LuaError"), "closed"));

    /* Closing from Lua sends comm_close; errors in handlers go to stderr. */
    plain(it, "jupyter.comm_register('quit', function(comm) comm:close({n = 1}) end)\n"
              "jupyter.comm_register('bad', function(comm) error('handler broke') end)");
    m_reset();
    TD_ASSERT_OK(td_lua_interp.comm_open(it, "c2", "quit", NULL));
    TD_ASSERT_EQ(json_array_size(s_m.comms), 1);
    TD_ASSERT(json_is_true(json_object_get(comm_at(0), "close")));
    TD_ASSERT_EQ(json_integer_value(json_object_get(json_object_get(comm_at(0), "data"), "n")), 1);
    m_reset();
    TD_ASSERT_OK(td_lua_interp.comm_open(it, "c3", "bad", NULL));
    TD_ASSERT(strstr(s_m.err, "handler broke") != NULL);
    TD_ASSERT(strstr(fails(it, "last_comm:send(print)", "LuaError"), "closed"));
}

void test_td_lua(void)
{
    s_m.displays = json_array();
    s_m.payloads = json_array();
    s_m.comms = json_array();
    s_m.prompts = json_array();
    td_interp_host_t host = {m_stream, m_display, m_clear, m_input, m_payload, m_comm_send, &s_m};
    td_interp_t *it = td_lua_interp.create(&host);
    TD_ASSERT(it != NULL);
    s_m.interp = it;

    TD_ASSERT_STR_EQ(td_lua_interp.name, "lua");
    json_t *li = td_lua_interp.language_info(it);
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(li, "name")), "lua");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(li, "version")), "5.4.4");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(li, "file_extension")), ".lua");
    TD_ASSERT_STR_EQ(json_string_value(json_object_get(li, "mimetype")), "text/x-lua");
    json_decref(li);
    TD_ASSERT_STR_EQ(td_lua_interp.banner(it), "Tandem kernel \xe2\x80\x94 Lua 5.4.4");

    test_results(it);
    test_repr(it);
    test_output(it);
    test_errors(it);
    test_interrupt(it);
    test_input(it);
    test_display(it);
    test_complete(it);
    test_inspect(it);
    test_is_complete(it);
    test_evaluate(it);
    test_comms(it);

    td_lua_interp.destroy(&it);
    TD_ASSERT(it == NULL);
    td_lua_interp.destroy(&it); /* NULL-safe */
    json_decref(s_m.displays);
    json_decref(s_m.payloads);
    json_decref(s_m.comms);
    json_decref(s_m.prompts);
}
