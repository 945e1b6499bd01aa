/* td_lua_json.c: conversion between Lua values and jansson values, used by json(), display
 * metadata, MIME bundles and comm data.
 *
 * Lua to JSON never raises and never runs Lua code (raw access only), so callers may hold json_t
 * values around it. A table whose keys are exactly the integers 1..n becomes an array; any other
 * table becomes an object whose keys must be strings or numbers; the empty table is the empty
 * object. Cycles, functions, non-finite numbers and invalid UTF-8 are errors. JSON to Lua maps
 * null to nil, so nulls vanish from objects and leave holes in arrays. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_lib0.h"
#include "td_lua_internal.h"

#define S_MAX_DEPTH 64

typedef struct s_tojson {
    lua_State *L;
    const void *path[S_MAX_DEPTH]; /* tables being converted, outermost first */
    int depth;
    char *err;
    size_t errlen;
} s_tojson_t;

/* Records the reason of a failed conversion; returns NULL for the caller to pass up. */
static json_t *s_fail(s_tojson_t *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static json_t *s_value(s_tojson_t *c, int idx);

/* Formats a number key the way tostring would, without touching the Lua stack. */
static void s_number_key(lua_State *L, int idx, char *out, size_t n)
{
    if (lua_isinteger(L, idx))
        snprintf(out, n, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    else
        snprintf(out, n, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, idx));
}

static json_t *s_array(s_tojson_t *c, int t, lua_Integer n)
{
    json_t *a = json_array();
    if (!a)
        return s_fail(c, "out of memory");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(c->L, t, i);
        json_t *v = s_value(c, lua_gettop(c->L));
        lua_pop(c->L, 1);
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return v ? s_fail(c, "out of memory") : NULL;
        }
    }
    return a;
}

static json_t *s_object(s_tojson_t *c, int t)
{
    lua_State *L = c->L;
    json_t *o = json_object();
    if (!o)
        return s_fail(c, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        char num[64];
        const char *key;
        size_t klen;
        if (lua_type(L, -2) == LUA_TSTRING) {
            key = lua_tolstring(L, -2, &klen);
        } else if (lua_type(L, -2) == LUA_TNUMBER) {
            s_number_key(L, -2, num, sizeof num);
            key = num;
            klen = strlen(num);
        } else {
            const char *kind = luaL_typename(L, -2);
            lua_pop(L, 2);
            json_decref(o);
            return s_fail(c, "cannot convert a table with %s keys to JSON", kind);
        }
        json_t *v = s_value(c, lua_gettop(L));
        lua_pop(L, 1);
        if (!v) {
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
        if (json_object_setn_new(o, key, klen, v) != 0) {
            lua_pop(L, 1);
            json_decref(o);
            return s_fail(c, "cannot convert a key that is not valid UTF-8 to JSON");
        }
    }
    return o;
}

/* A table becomes an array or an object; the tables on the current path guard against cycles. */
static json_t *s_table(s_tojson_t *c, int t)
{
    lua_State *L = c->L;
    const void *p = lua_topointer(L, t);
    for (int i = 0; i < c->depth; i++)
        if (c->path[i] == p)
            return s_fail(c, "cannot convert a table with cycles to JSON");
    if (c->depth == S_MAX_DEPTH || !lua_checkstack(L, 4))
        return s_fail(c, "cannot convert a table nested deeper than %d levels to JSON",
                      S_MAX_DEPTH);

    /* Decide array or object: an array has only integer keys 1..count. */
    lua_Integer count = 0, max = 0;
    int ints = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        count++;
        if (ints && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            if (lua_tointeger(L, -1) > max)
                max = lua_tointeger(L, -1);
        } else {
            ints = 0;
        }
    }
    c->path[c->depth++] = p;
    json_t *j = (count > 0 && ints && max == count) ? s_array(c, t, count) : s_object(c, t);
    c->depth--;
    return j;
}

/* Converts any value; the cases mirror the JSON types. */
static json_t *s_value(s_tojson_t *c, int idx)
{
    lua_State *L = c->L;
    json_t *j;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx)))
            return s_fail(c, "cannot convert %s to JSON",
                          isnan(lua_tonumber(L, idx)) ? "nan" : "inf");
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        j = json_stringn(s, n);
        return j ? j : s_fail(c, "cannot convert a string that is not valid UTF-8 to JSON");
    }
    case LUA_TTABLE:
        return s_table(c, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL)
            return json_null(); /* jupyter.null */
        /* fall through */
    default:
        return s_fail(c, "cannot convert a %s value to JSON", luaL_typename(L, idx));
    }
}

json_t *td__lua_tojson(lua_State *L, int idx, char *err, size_t errlen)
{
    s_tojson_t c = {.L = L, .depth = 0, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    return s_value(&c, lua_absindex(L, idx));
}

void td__lua_pushjson(lua_State *L, const json_t *j)
{
    luaL_checkstack(L, 4, "JSON value too deeply nested");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)j, key, v)
        {
            lua_pushstring(L, key);
            td__lua_pushjson(L, v);
            lua_rawset(L, -3);
        }
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            td__lua_pushjson(L, json_array_get(j, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        return;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        return;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        return;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        return;
    default:
        lua_pushnil(L);
    }
}

char *td__lua_utf8_dup(const char *s, size_t n, size_t *outlen)
{
    char *out = malloc(3 * n + 1); /* each bad byte becomes the 3 bytes of U+FFFD */
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = td_lib0_utf8_seq_len((const uint8_t *)s + i, n - i);
        if (k == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

json_t *td__lua_json_text(const char *s, size_t n)
{
    size_t len;
    char *clean = td__lua_utf8_dup(s, n, &len);
    if (!clean)
        return NULL;
    json_t *j = json_stringn_nocheck(clean, len);
    free(clean);
    return j;
}
