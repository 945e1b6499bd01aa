/* td_lua_io.c: standard input and output of the Lua backend. print, io.write and the write
 * method of io.stdout / io.stderr become host streams; io.read, io.lines and the read / lines
 * methods of io.stdin ask the frontend for input; input() and getpass() are the prompting
 * versions. Everything else about files is untouched: the methods of all handles share one
 * table, so each wrapper checks whether its handle is a standard one and otherwise calls the
 * original function it keeps as an upvalue.
 *
 * Input is line-based: each reply from the frontend is one line, buffered with its newline in
 * the backend (in / in_pos / in_len) for the rest of the execute request, so io.read(3) followed
 * by io.read() splits one reply as a file would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_error.h"
#include "td_lua_internal.h"

#define S_STDIN "td.stdin" /* registry: the original standard handles */
#define S_STDOUT "td.stdout"
#define S_STDERR "td.stderr"

/* ---- output: print, io.write and the write method of the standard handles -------------------- */

static int s_is_handle(lua_State *L, int idx, const char *key)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, key);
    int eq = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return eq;
}

/* print(...): as the base library's, but into the stdout stream in one piece. */
/* Writes v in decimal into out (at least 21 bytes); returns the length. snprintf costs more than
 * the rest of print for a loop printing numbers, and this is what "%lld" would write. */
static size_t s_format_integer(lua_Integer v, char *out)
{
    char tmp[24];
    size_t n = 0;
    /* Work on the magnitude as unsigned so that the minimum integer needs no special case. */
    lua_Unsigned u = v < 0 ? 0u - (lua_Unsigned)v : (lua_Unsigned)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

static int s_print(lua_State *L)
{
    /* Fast path: strings and integers are copied into a stack buffer and sent with one stream
     * call, with no Lua string created per line (a million-line loop is mostly this). Anything
     * else, or a long line, goes through luaL_tolstring and a Lua buffer, as lua.c's print does. */
    int n = lua_gettop(L);
    char line[512];
    size_t used = 0;
    int fast = 1;
    for (int i = 1; fast && i <= n; i++) {
        char num[32];
        const char *piece = NULL;
        size_t len = 0;
        if (lua_type(L, i) == LUA_TSTRING) {
            piece = lua_tolstring(L, i, &len);
        } else if (lua_isinteger(L, i)) {
            len = s_format_integer(lua_tointeger(L, i), num);
            piece = num;
        } else {
            fast = 0;
            break;
        }
        if (used + len + 2 > sizeof line) {
            fast = 0;
            break;
        }
        if (i > 1)
            line[used++] = '\t';
        memcpy(line + used, piece, len);
        used += len;
    }
    if (fast) {
        line[used++] = '\n';
        td__lua_stream(td__lua_self(L), "stdout", line, used);
        return 0;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    td__lua_stream(td__lua_self(L), "stdout", s, len);
    return 0;
}

/* Sends arguments first..top to a stream, formatted as liolib's write formats them. */
static void s_write_stream(lua_State *L, const char *name, int first)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = first; i <= n; i++) {
        if (lua_type(L, i) == LUA_TNUMBER) {
            char num[64];
            if (lua_isinteger(L, i))
                snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i));
            else
                snprintf(num, sizeof num, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, i));
            luaL_addstring(&b, num);
        } else {
            size_t len;
            const char *s = luaL_checklstring(L, i, &len);
            luaL_addlstring(&b, s, len);
        }
    }
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    td__lua_stream(td__lua_self(L), name, s, len);
    lua_pop(L, 1);
}

/* Calls the original function in upvalue uv with all arguments; returns all its results. */
static int s_call_original(lua_State *L, int uv)
{
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(uv));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* Pushes the current default file: upvalue 1 is the original io.input or io.output. */
static void s_default_file(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_call(L, 0, 1);
}

/* io.write: upvalues are the original io.output and io.write. */
static int s_io_write(lua_State *L)
{
    s_default_file(L);
    const char *name = s_is_handle(L, -1, S_STDOUT)   ? "stdout"
                       : s_is_handle(L, -1, S_STDERR) ? "stderr"
                                                      : NULL;
    lua_pop(L, 1);
    if (!name)
        return s_call_original(L, 2);
    s_write_stream(L, name, 1);
    s_default_file(L);
    return 1;
}

/* file:write: upvalue 1 is the original method. */
static int s_file_write(lua_State *L)
{
    const char *name = s_is_handle(L, 1, S_STDOUT)   ? "stdout"
                       : s_is_handle(L, 1, S_STDERR) ? "stderr"
                                                     : NULL;
    if (!name)
        return s_call_original(L, 1);
    s_write_stream(L, name, 2);
    lua_settop(L, 1);
    return 1;
}

/* ---- input: io.read, io.lines, the read/lines methods of io.stdin, input(), getpass() -------- */

/* Raises the Lua error for a failed host->input. */
static void s_input_error(lua_State *L, td_interp_t *self, int rc)
{
    if (rc == TD_EPERM)
        luaL_error(L, "stdin is not supported by this frontend (allow_stdin is false)");
    if (rc == TD_ESTATE) {
        self->interrupted = 1;
        luaL_error(L, "interrupted!");
    }
    luaL_error(L, "input failed: %s", td_strerror(rc));
}

/* Asks the host for one value into a Lua-owned box (so nothing leaks if Lua raises) and pushes
 * it, or nil at end of input ("\x04"). */
static void s_ask(lua_State *L, const char *prompt, int password)
{
    td_interp_t *self = td__lua_self(L);
    td_lua_sbuf_t *box = td__lua_sbuf_new(L);
    int rc = TD_EPERM;
    if (self->closing)
        rc = TD_ESTATE;
    else if (self->host.input)
        rc = self->host.input(self->host.arg, prompt, password, &box->p);
    if (rc != 0)
        s_input_error(L, self, rc);
    if (!box->p || strcmp(box->p, "\x04") == 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, box->p);
    lua_remove(L, -2);
}

/* input([prompt]) and getpass([prompt]): one reply from the frontend, or nil at its end. */
static int s_input(lua_State *L)
{
    s_ask(L, luaL_optstring(L, 1, ""), 0);
    return 1;
}

static int s_getpass(lua_State *L)
{
    s_ask(L, luaL_optstring(L, 1, ""), 1);
    return 1;
}

/* Makes sure unread input is buffered: asks the frontend for a line when the buffer is empty
 * and appends it with a newline. Returns 0 at end of input. */
static int s_fill(lua_State *L)
{
    td_interp_t *self = td__lua_self(L);
    if (self->in_pos < self->in_len)
        return 1;
    self->in_pos = self->in_len = 0;
    s_ask(L, "", 0);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (n + 2 > self->in_cap) {
        char *p = realloc(self->in, n + 2);
        if (!p)
            luaL_error(L, "not enough memory");
        self->in = p;
        self->in_cap = n + 2;
    }
    memcpy(self->in, s, n);
    self->in[n] = '\n';
    self->in_len = n + 1;
    lua_pop(L, 1);
    return 1;
}

/* Pushes the next line (keeping the newline when keep is set), or nil at end of input. */
static void s_read_line(lua_State *L, int keep)
{
    td_interp_t *self = td__lua_self(L);
    if (!s_fill(L)) {
        lua_pushnil(L);
        return;
    }
    const char *p = self->in + self->in_pos;
    const char *nl = memchr(p, '\n', self->in_len - self->in_pos);
    size_t n = nl ? (size_t)(nl - p) + 1 : self->in_len - self->in_pos;
    lua_pushlstring(L, p, nl && !keep ? n - 1 : n);
    self->in_pos += n;
}

/* Reads with the formats at first..top as file:read does ("l", "L", "n", "a", a byte count,
 * with an optional leading '*'); returns the number of values pushed, stopping after the first
 * failure (nil). */
static int s_read_formats(lua_State *L, int first)
{
    td_interp_t *self = td__lua_self(L);
    int last = lua_gettop(L);
    if (last < first) {
        s_read_line(L, 0);
        return 1;
    }
    luaL_checkstack(L, last - first + LUA_MINSTACK, "too many arguments");
    for (int i = first; i <= last; i++) {
        if (lua_type(L, i) == LUA_TNUMBER) {
            lua_Integer k = luaL_checkinteger(L, i);
            if (k <= 0) {
                lua_pushliteral(L, "");
            } else if (!s_fill(L)) {
                lua_pushnil(L);
            } else {
                size_t avail = self->in_len - self->in_pos;
                size_t n = (size_t)k < avail ? (size_t)k : avail;
                lua_pushlstring(L, self->in + self->in_pos, n);
                self->in_pos += n;
            }
        } else {
            const char *f = luaL_checkstring(L, i);
            if (*f == '*')
                f++;
            switch (*f) {
            case 'l':
                s_read_line(L, 0);
                break;
            case 'L':
                s_read_line(L, 1);
                break;
            case 'n':
                s_read_line(L, 0);
                if (!lua_isnil(L, -1) && lua_stringtonumber(L, lua_tostring(L, -1)) != 0) {
                    lua_remove(L, -2);
                } else {
                    lua_pop(L, 1);
                    lua_pushnil(L);
                }
                break;
            case 'a':
                /* Everything the frontend sends in one reply counts as the rest of the input. */
                if (self->in_pos < self->in_len) {
                    lua_pushlstring(L, self->in + self->in_pos, self->in_len - self->in_pos);
                    self->in_pos = self->in_len;
                } else {
                    s_ask(L, "", 0);
                    if (lua_isnil(L, -1)) {
                        lua_pop(L, 1);
                        lua_pushliteral(L, "");
                    }
                }
                break;
            default:
                return luaL_argerror(L, i, "invalid format");
            }
        }
        if (lua_isnil(L, -1))
            return i - first + 1;
    }
    return last - first + 1;
}

/* io.read: upvalues are the original io.input and io.read. */
static int s_io_read(lua_State *L)
{
    s_default_file(L);
    int is_stdin = s_is_handle(L, -1, S_STDIN);
    lua_pop(L, 1);
    return is_stdin ? s_read_formats(L, 1) : s_call_original(L, 2);
}

/* file:read: upvalue 1 is the original method. */
static int s_file_read(lua_State *L)
{
    return s_is_handle(L, 1, S_STDIN) ? s_read_formats(L, 2) : s_call_original(L, 1);
}

/* The iterator returned by io.lines() on stdin; its upvalues are the formats. */
static int s_lines_next(lua_State *L)
{
    int n = (int)lua_tointeger(L, lua_upvalueindex(1));
    lua_settop(L, 0);
    luaL_checkstack(L, n + LUA_MINSTACK, "too many arguments");
    for (int i = 1; i <= n; i++)
        lua_pushvalue(L, lua_upvalueindex(i + 1));
    int got = s_read_formats(L, 1);
    return got > 0 && lua_isnil(L, -got) ? 1 : got;
}

/* Pushes a stdin line iterator over the formats at first..top. */
static int s_push_lines(lua_State *L, int first)
{
    int n = lua_gettop(L) - first + 1;
    if (n < 0)
        n = 0;
    luaL_argcheck(L, n <= 250, first + 250, "too many arguments");
    lua_pushinteger(L, n);
    for (int i = 0; i < n; i++)
        lua_pushvalue(L, first + i);
    lua_pushcclosure(L, s_lines_next, n + 1);
    return 1;
}

/* io.lines: upvalues are the original io.input and io.lines. */
static int s_io_lines(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        s_default_file(L);
        int is_stdin = s_is_handle(L, -1, S_STDIN);
        lua_pop(L, 1);
        if (is_stdin)
            return s_push_lines(L, 2);
    }
    return s_call_original(L, 2);
}

/* file:lines: upvalue 1 is the original method. */
static int s_file_lines(lua_State *L)
{
    return s_is_handle(L, 1, S_STDIN) ? s_push_lines(L, 2) : s_call_original(L, 1);
}

void td__lua_io_setup(lua_State *L, int t)
{
    lua_pushcfunction(L, s_print);
    lua_setglobal(L, "print");
    lua_pushcfunction(L, s_input);
    lua_setfield(L, t, "input");
    lua_pushcfunction(L, s_getpass);
    lua_setfield(L, t, "getpass");

    lua_getglobal(L, "io");
    int io = lua_gettop(L);
    const char *std[][2] = {{"stdin", S_STDIN}, {"stdout", S_STDOUT}, {"stderr", S_STDERR}};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, io, std[i][0]);
        lua_setfield(L, LUA_REGISTRYINDEX, std[i][1]);
    }
    td__lua_wrap(L, io, "write", s_io_write, "output");
    td__lua_wrap(L, io, "read", s_io_read, "input");
    td__lua_wrap(L, io, "lines", s_io_lines, "input");

    /* The methods of every file handle live in one table, the __index of the FILE* metatable;
     * the wrappers act only when the handle is a standard one. */
    lua_getfield(L, io, "stdout");
    lua_getmetatable(L, -1);
    lua_getfield(L, -1, "__index");
    int m = lua_gettop(L);
    td__lua_wrap(L, m, "write", s_file_write, NULL);
    td__lua_wrap(L, m, "read", s_file_read, NULL);
    td__lua_wrap(L, m, "lines", s_file_lines, NULL);
    lua_settop(L, io - 1);
}
