/* td_lua_repr.c: readable printing of Lua values for execute results and introspection, and the
 * Lua-owned string buffer (td_lua_sbuf_t) the backend builds text in.
 *
 * A table prints as a constructor, {1, 2, x = 3, ["a b"] = {...}}: the sequence part 1..n first,
 * then the other keys sorted (numbers, strings, booleans, the rest), so output does not depend on
 * hash order. Printing is bounded (TD_LUA_REPR_DEPTH levels, TD_LUA_REPR_ITEMS entries per table,
 * about TD_LUA_REPR_BYTES in all) and a table already being printed shows as <cycle>. Without
 * TD_LUA_REPR_META nothing here calls Lua code, so introspection cannot run user functions. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_lua_internal.h"

const char *const td__lua_keywords[] = {"and",   "break", "do",       "else",  "elseif", "end",
                                        "false", "for",   "function", "goto",  "if",     "in",
                                        "local", "nil",   "not",      "or",    "repeat", "return",
                                        "then",  "true",  "until",    "while", NULL};

/* __gc of buffers: frees the C memory whatever way the C function using it ended. */
static int s_sbuf_gc(lua_State *L)
{
    td_lua_sbuf_t *b = luaL_checkudata(L, 1, TD_LUA_SBUF);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return 0;
}

void td__lua_sbuf_setup(lua_State *L)
{
    luaL_newmetatable(L, TD_LUA_SBUF);
    lua_pushcfunction(L, s_sbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

td_lua_sbuf_t *td__lua_sbuf_new(lua_State *L)
{
    td_lua_sbuf_t *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, TD_LUA_SBUF);
    return b;
}

void td__lua_sbuf_add(lua_State *L, td_lua_sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            luaL_error(L, "not enough memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void td__lua_sbuf_adds(lua_State *L, td_lua_sbuf_t *b, const char *s)
{
    td__lua_sbuf_add(L, b, s, strlen(s));
}

void td__lua_sbuf_addf(lua_State *L, td_lua_sbuf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    td__lua_sbuf_add(L, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void td__lua_sbuf_push(lua_State *L, td_lua_sbuf_t *b)
{
    lua_pushlstring(L, b->p ? b->p : "", b->len);
}

int td__lua_is_keyword(const char *s, size_t n)
{
    for (int i = 0; td__lua_keywords[i]; i++)
        if (strlen(td__lua_keywords[i]) == n && memcmp(td__lua_keywords[i], s, n) == 0)
            return 1;
    return 0;
}

int td__lua_is_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return 0;
    }
    return !td__lua_is_keyword(s, n);
}

/* The state of one td__lua_repr call. seen is the stack index of a set of the tables on the
 * current path; full is set once the byte budget is spent, after which nothing is appended. */
typedef struct s_repr {
    lua_State *L;
    td_lua_sbuf_t *b;
    int flags;
    int seen;
    int full;
} s_repr_t;

/* Appends within the byte budget; the first overflow ends the output with "...". */
static void s_put(s_repr_t *r, const char *s, size_t n)
{
    if (r->full)
        return;
    if (r->b->len + n > TD_LUA_REPR_BYTES) {
        size_t room = TD_LUA_REPR_BYTES > r->b->len ? TD_LUA_REPR_BYTES - r->b->len : 0;
        /* Cut at a character boundary so the output stays valid UTF-8. */
        while (room > 0 && room < n && ((unsigned char)s[room] & 0xC0) == 0x80)
            room--;
        td__lua_sbuf_add(r->L, r->b, s, room < n ? room : n);
        td__lua_sbuf_adds(r->L, r->b, "...");
        r->full = 1;
        return;
    }
    td__lua_sbuf_add(r->L, r->b, s, n);
}

static void s_puts(s_repr_t *r, const char *s)
{
    s_put(r, s, strlen(s));
}

/* Appends a double-quoted string literal that Lua would read back as the same bytes. */
static void s_quote(s_repr_t *r, const char *s, size_t n)
{
    s_put(r, "\"", 1);
    for (size_t i = 0; i < n && !r->full; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            s_put(r, esc, 2);
        } else if (c == '\n') {
            s_put(r, "\\n", 2);
        } else if (c == '\t') {
            s_put(r, "\\t", 2);
        } else if (c == '\r') {
            s_put(r, "\\r", 2);
        } else if (c < 32 || c == 127) {
            snprintf(esc, sizeof esc, "\\%d", c);
            s_put(r, esc, strlen(esc));
        } else {
            /* Copy a run of ordinary bytes at once; UTF-8 passes through unchanged. */
            size_t j = i;
            while (j < n && (unsigned char)s[j] >= 32 && s[j] != '"' && s[j] != '\\' && s[j] != 127)
                j++;
            s_put(r, s + i, j - i);
            i = j - 1;
        }
    }
    s_put(r, "\"", 1);
}

/* Appends "type: 0x..." (or "__name: 0x..." when the metatable names the type) without running
 * any metamethod. */
static void s_raw_tostring(s_repr_t *r, int idx)
{
    lua_State *L = r->L;
    const char *kind = luaL_typename(L, idx);
    if (lua_getmetatable(L, idx)) {
        if (lua_getfield(L, -1, "__name") == LUA_TSTRING)
            kind = lua_tostring(L, -1); /* kept alive by the metatable until the pop below */
        char tmp[96];
        snprintf(tmp, sizeof tmp, "%s: %p", kind, lua_topointer(L, idx));
        lua_pop(L, 2);
        s_puts(r, tmp);
        return;
    }
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%s: %p", kind, lua_topointer(L, idx));
    s_puts(r, tmp);
}

/* Appends the value's tostring (numbers, booleans, nil, and __tostring objects when allowed). */
static void s_tostring(s_repr_t *r, int idx)
{
    lua_State *L = r->L;
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TNUMBER || (r->flags & TD_LUA_REPR_META)) {
        size_t n;
        const char *s = luaL_tolstring(L, idx, &n);
        s_put(r, s, n);
        lua_pop(L, 1);
        return;
    }
    s_raw_tostring(r, idx);
}

/* Sort order of table keys: numbers, strings, booleans, then everything else by address. */
static int s_key_rank(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        return 0;
    case LUA_TSTRING:
        return 1;
    case LUA_TBOOLEAN:
        return 2;
    default:
        return 3;
    }
}

/* The order in which s_table prints the keys that are not part of the sequence. */
static int s_key_less(lua_State *L, int a, int b)
{
    int ra = s_key_rank(L, a), rb = s_key_rank(L, b);
    if (ra != rb)
        return ra < rb;
    if (ra == 0)
        return lua_compare(L, a, b, LUA_OPLT); /* numbers: no metamethod, cannot raise */
    if (ra == 1) {
        size_t na, nb;
        const char *sa = lua_tolstring(L, a, &na), *sb = lua_tolstring(L, b, &nb);
        int c = memcmp(sa, sb, na < nb ? na : nb);
        return c < 0 || (c == 0 && na < nb);
    }
    if (ra == 2)
        return !lua_toboolean(L, a) && lua_toboolean(L, b);
    return (const char *)lua_topointer(L, a) < (const char *)lua_topointer(L, b);
}

/* Insertion sort of the sequence keys[1..n]; n is at most TD_LUA_REPR_ITEMS. */
static void s_sort_keys(lua_State *L, int keys, int n)
{
    for (int i = 2; i <= n; i++) {
        lua_rawgeti(L, keys, i);
        int j = i - 1;
        for (; j >= 1; j--) {
            lua_rawgeti(L, keys, j);
            if (!s_key_less(L, -2, -1)) {
                lua_pop(L, 1);
                break;
            }
            lua_rawseti(L, keys, j + 1);
        }
        lua_rawseti(L, keys, j + 1);
    }
}

static void s_value(s_repr_t *r, int idx, int depth);

/* Appends "name = " for keys that are Lua names, "[key] = " for the others. */
static void s_key(s_repr_t *r, int idx)
{
    size_t n;
    if (lua_type(r->L, idx) == LUA_TSTRING) {
        const char *s = lua_tolstring(r->L, idx, &n);
        if (td__lua_is_name(s, n)) {
            s_put(r, s, n);
            s_puts(r, " = ");
            return;
        }
    }
    s_puts(r, "[");
    s_value(r, idx, TD_LUA_REPR_DEPTH); /* keys are never expanded */
    s_puts(r, "] = ");
}

/* Appends a table constructor: the sequence 1..n, then the other keys sorted. */
static void s_table(s_repr_t *r, int t, int depth)
{
    lua_State *L = r->L;
    luaL_checkstack(L, 8, "table too deeply nested");
    if (depth >= TD_LUA_REPR_DEPTH) {
        s_puts(r, "{...}");
        return;
    }
    lua_pushvalue(L, t);
    if (lua_rawget(L, r->seen) != LUA_TNIL) {
        lua_pop(L, 1);
        s_puts(r, "<cycle>");
        return;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, t);
    lua_pushboolean(L, 1);
    lua_rawset(L, r->seen);

    s_puts(r, "{");
    int shown = 0;
    lua_Integer seq = 0;
    while (!r->full) {
        if (lua_rawgeti(L, t, seq + 1) == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        seq++;
        if (shown == TD_LUA_REPR_ITEMS) {
            lua_pop(L, 1);
            s_puts(r, ", ...");
            goto done;
        }
        if (shown++)
            s_puts(r, ", ");
        s_value(r, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }

    /* Collect the other keys (at most what can still be shown), then print them sorted. */
    lua_newtable(L);
    int keys = lua_gettop(L), nkeys = 0, more = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1)) {
            lua_Integer k = lua_tointeger(L, -1);
            if (k >= 1 && k <= seq)
                continue;
        }
        if (shown + nkeys >= TD_LUA_REPR_ITEMS) {
            more = 1;
            lua_pop(L, 1);
            break;
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++nkeys);
    }
    s_sort_keys(L, keys, nkeys);
    for (int i = 1; i <= nkeys && !r->full; i++) {
        lua_rawgeti(L, keys, i);
        int k = lua_gettop(L);
        if (shown++)
            s_puts(r, ", ");
        s_key(r, k);
        lua_pushvalue(L, k);
        lua_rawget(L, t);
        s_value(r, lua_gettop(L), depth + 1);
        lua_pop(L, 2);
    }
    lua_pop(L, 1); /* keys */
    if (more)
        s_puts(r, ", ...");
done:
    s_puts(r, "}");
    lua_pushvalue(L, t);
    lua_pushnil(L);
    lua_rawset(L, r->seen);
}

/* Appends any value: strings quoted, tables as constructors, the rest as tostring. */
static void s_value(s_repr_t *r, int idx, int depth)
{
    lua_State *L = r->L;
    size_t n;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, idx, &n);
        s_quote(r, s, n);
        return;
    }
    case LUA_TTABLE:
        if ((r->flags & TD_LUA_REPR_META) && luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
            lua_pop(L, 1);
            s_tostring(r, idx);
            return;
        }
        s_table(r, idx, depth);
        return;
    default:
        s_tostring(r, idx);
    }
}

void td__lua_repr(lua_State *L, int idx, td_lua_sbuf_t *b, int flags)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    s_repr_t r = {L, b, flags, lua_gettop(L), 0};
    s_value(&r, idx, 0);
    lua_pop(L, 1);
}

void td__lua_plain(lua_State *L, int idx, int flags)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        return;
    }
    int has_tostring = 0;
    if (t == LUA_TTABLE && (flags & TD_LUA_REPR_META)) {
        has_tostring = luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL;
        if (has_tostring)
            lua_pop(L, 1);
    }
    if (t == LUA_TTABLE && !has_tostring) {
        td_lua_sbuf_t *b = td__lua_sbuf_new(L);
        td__lua_repr(L, idx, b, flags);
        td__lua_sbuf_push(L, b);
        lua_remove(L, -2);
        return;
    }
    if (flags & TD_LUA_REPR_META) {
        luaL_tolstring(L, idx, NULL);
        return;
    }
    td_lua_sbuf_t *b = td__lua_sbuf_new(L);
    s_repr_t r = {L, b, flags, 0, 0};
    s_tostring(&r, idx);
    td__lua_sbuf_push(L, b);
    lua_remove(L, -2);
}
