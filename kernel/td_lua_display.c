/* td_lua_display.c: rich output for the Lua backend. Renders values as MIME bundles (for
 * execute results, user_expressions and display()), and provides the Jupyter display API:
 * display, update_display, clear_output, the bundle helpers html, markdown, latex, svg, png and
 * json, jupyter.repr and help.
 *
 * A bundle is built as a Lua table first (rendering may run user metamethods and may raise),
 * then converted to JSON by non-raising code and handed to the host right away, so no json_t is
 * ever live across a Lua error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "td/td_base64.h"
#include "td_lua_internal.h"

/* Hands a display to the host (which steals all three), or frees them when it cannot. */
static void s_emit_display(td_interp_t *self, json_t *data, json_t *md, json_t *tr, int update)
{
    if (self->closing || !self->host.display) {
        json_decref(data);
        json_decref(md);
        json_decref(tr);
        return;
    }
    self->host.display(self->host.arg, data, md, tr, update);
}

/* 1 when s[0..n) looks like a MIME type, "type/subtype". */
static int s_is_mime(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (!slash || slash == s || slash == s + n - 1 ||
        memchr(slash + 1, '/', n - (size_t)(slash - s) - 1))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '/' || c == '.' || c == '+' || c == '-' || c == '_' || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

/* 1 when the value at idx is a non-empty table whose keys are all MIME types. */
static int s_is_bundle(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return 0;
    idx = lua_absindex(L, idx);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        size_t len = 0;
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!k || !s_is_mime(k, len)) {
            lua_pop(L, 1);
            return 0;
        }
        n++;
    }
    return n > 0;
}

/* Pushes a copy of the bundle at idx that is sure to hold text/plain; fallback names the
 * MIME types ("<text/html>") because printing the raw data would be noise. May raise. */
static void s_bundle_with_plain(lua_State *L, int idx, int plain_of)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    int out = lua_gettop(L);
    int have_plain = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (strcmp(lua_tostring(L, -2), "text/plain") == 0)
            have_plain = 1;
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, out);
    }
    if (have_plain)
        return;
    if (plain_of) {
        td__lua_plain(L, plain_of, TD_LUA_REPR_META);
    } else {
        td_lua_sbuf_t *b = td__lua_sbuf_new(L);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            td__lua_sbuf_adds(L, b, b->len ? ", " : "<");
            td__lua_sbuf_adds(L, b, lua_tostring(L, -1));
        }
        td__lua_sbuf_adds(L, b, ">");
        td__lua_sbuf_push(L, b);
        lua_remove(L, -2);
    }
    lua_setfield(L, out, "text/plain");
}

/* Pushes the bundle table and the metadata (or nil) for the n values at first..first+n-1:
 * __jupyter objects and MIME bundles render richly, anything else as text/plain with the values
 * separated by tabs, as lua.c prints them. May raise (and runs user metamethods). */
static void s_render(lua_State *L, int first, int n)
{
    luaL_checkstack(L, 8, NULL);
    if (n == 1 && luaL_getmetafield(L, first, "__jupyter") != LUA_TNIL) {
        lua_pushvalue(L, first);
        lua_call(L, 1, 2);
        if (!s_is_bundle(L, -2))
            luaL_error(L, "__jupyter must return a table of MIME type -> data");
        s_bundle_with_plain(L, -2, first);
        lua_replace(L, -3);
        if (lua_type(L, -1) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        return;
    }
    if (n == 1 && s_is_bundle(L, first)) {
        s_bundle_with_plain(L, first, 0);
        lua_pushnil(L);
        return;
    }
    luaL_Buffer b;
    lua_newtable(L);
    luaL_buffinit(L, &b);
    for (int i = 0; i < n; i++) {
        if (i)
            luaL_addchar(&b, '\t');
        td__lua_plain(L, first + i, TD_LUA_REPR_META);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "text/plain");
    lua_pushnil(L);
}

/* lua_CFunction form of s_render over all its arguments. */
int td__lua_render_p(lua_State *L)
{
    s_render(L, 1, lua_gettop(L));
    return 2;
}

/* Converts a rendered bundle to JSON: string data stays a string, other data (application/json
 * and friends) converts as a JSON value. Never raises; NULL with err on failure. */
json_t *td__lua_bundle_tojson(lua_State *L, int idx, char *err, size_t errlen)
{
    json_t *o = json_object();
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *mime = lua_tostring(L, -2);
        /* Text is repaired rather than refused: one stray byte should not lose a result. */
        json_t *v = lua_type(L, -1) == LUA_TSTRING
                        ? td__lua_json_text(lua_tostring(L, -1), lua_rawlen(L, -1))
                        : td__lua_tojson(L, -1, err, errlen);
        if (!v && lua_type(L, -1) == LUA_TSTRING)
            snprintf(err, errlen, "out of memory");
        lua_pop(L, 1);
        if (!v || json_object_set_new(o, mime, v) != 0) {
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Converts optional metadata (nil or a table) at idx to a JSON object or NULL. Never raises;
 * returns 0, or -1 with err. */
int td__lua_meta_tojson(lua_State *L, int idx, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (lua_isnoneornil(L, idx))
        return 0;
    json_t *j = td__lua_tojson(L, idx, err, errlen);
    if (j && !json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "metadata must be a table with string keys");
        return -1;
    }
    *out = j;
    return j ? 0 : -1;
}

/* Pushes the display id given at idx (a string, or a table with display_id) or nil. display_id
 * = true asks for a fresh id. */
static void s_push_display_id(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TTABLE)
        lua_getfield(L, idx, "display_id");
    else
        lua_pushvalue(L, idx);
    if (lua_isboolean(L, -1) && lua_toboolean(L, -1)) {
        td_interp_t *self = td__lua_self(L);
        lua_pop(L, 1);
        lua_pushfstring(L, "td-%d-%d", (int)getpid(), (int)++self->display_seq);
    } else if (!lua_isnil(L, -1) && !lua_isstring(L, -1)) {
        luaL_error(L, "display_id must be a string");
    } else if (lua_isboolean(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* Renders the value at 1, converts it with metadata (at md_idx, or the one __jupyter gave)
 * and the display id on top of the stack, and hands everything to the host. */
static void s_display_common(lua_State *L, int md_idx, int update)
{
    char err[200];
    int id = lua_gettop(L);
    s_render(L, 1, 1);
    int bundle = id + 1, md = lua_isnoneornil(L, md_idx) ? id + 2 : md_idx;
    json_t *data = td__lua_bundle_tojson(L, bundle, err, sizeof err), *meta = NULL, *tr = NULL;
    if (!data || td__lua_meta_tojson(L, md, &meta, err, sizeof err) != 0) {
        json_decref(data);
        luaL_error(L, "%s", err);
    }
    if (!lua_isnil(L, id)) {
        size_t n;
        const char *s = lua_tolstring(L, id, &n);
        tr = json_pack("{s:o}", "display_id", td__lua_json_text(s, n));
    }
    s_emit_display(td__lua_self(L), data, meta, tr, update);
    lua_settop(L, id);
}

/* display(value [, metadata [, {display_id = id}]]); display_id = true returns the new id */
static int s_display(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 3);
    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    /* Only an id the backend made up is returned: the cell shows no result otherwise. */
    int made = lua_type(L, 3) == LUA_TTABLE ? lua_getfield(L, 3, "display_id") == LUA_TBOOLEAN
                                            : lua_type(L, 3) == LUA_TBOOLEAN;
    lua_settop(L, 3);
    s_push_display_id(L, 3);
    s_display_common(L, 2, 0);
    return made && !lua_isnil(L, -1) ? 1 : 0;
}

/* update_display(value, {display_id = id [, metadata = {...}]} or id) */
static int s_update_display(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 2);
    s_push_display_id(L, 2);
    if (lua_isnil(L, -1))
        return luaL_argerror(L, 2, "display_id expected");
    if (lua_type(L, 2) == LUA_TTABLE)
        lua_getfield(L, 2, "metadata");
    else
        lua_pushnil(L);
    lua_insert(L, -2); /* metadata at 3, id at 4 */
    s_display_common(L, 3, 1);
    return 0;
}

/* clear_output([wait]) */
static int s_clear_output(lua_State *L)
{
    td_interp_t *self = td__lua_self(L);
    if (!self->closing && self->host.clear_output)
        self->host.clear_output(self->host.arg, lua_toboolean(L, 1));
    return 0;
}

/* Returns {[mime] = data, ["text/plain"] = plain}. */
static int s_bundle2(lua_State *L, const char *mime, int data, const char *plain)
{
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, data);
    lua_setfield(L, -2, mime);
    lua_pushstring(L, plain);
    lua_setfield(L, -2, "text/plain");
    return 1;
}

/* html(s), markdown(s), latex(s), svg(s): text that the frontend renders. */
static int s_html(lua_State *L)
{
    luaL_checkstring(L, 1);
    return s_bundle2(L, "text/html", 1, "<HTML>");
}

static int s_markdown(lua_State *L)
{
    return s_bundle2(L, "text/markdown", 1, luaL_checkstring(L, 1));
}

static int s_latex(lua_State *L)
{
    return s_bundle2(L, "text/latex", 1, luaL_checkstring(L, 1));
}

static int s_svg(lua_State *L)
{
    luaL_checkstring(L, 1);
    return s_bundle2(L, "image/svg+xml", 1, "<SVG image>");
}

/* png(bytes): the raw PNG file contents; the bundle carries them base64-encoded. */
static int s_png(lua_State *L)
{
    size_t n;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, td_base64_encoded_len(n, 0) + 1);
    luaL_pushresultsize(&b, td_base64_encode(s, n, 0, out));
    char plain[64];
    snprintf(plain, sizeof plain, "<PNG image, %zu bytes>", n);
    return s_bundle2(L, "image/png", lua_gettop(L), plain);
}

/* json(value): application/json carries the value itself; text/plain is its JSON text. */
static int s_json(lua_State *L)
{
    char err[200];
    luaL_checkany(L, 1);
    td_lua_sbuf_t *box = td__lua_sbuf_new(L);
    json_t *j = td__lua_tojson(L, 1, err, sizeof err);
    if (!j)
        return luaL_error(L, "%s", err);
    box->p = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (!box->p)
        return luaL_error(L, "not enough memory");
    return s_bundle2(L, "application/json", 1, box->p);
}

/* jupyter.repr(value) -> the readable text/plain of a value */
static int s_repr(lua_State *L)
{
    luaL_checkany(L, 1);
    td__lua_plain(L, 1, TD_LUA_REPR_META);
    return 1;
}

static const char s_help_text[] =
    "Tandem Lua kernel\n\n"
    "Cells are Lua 5.4 chunks; the value of a trailing expression is shown (end the cell with "
    "';' to hide it).\n"
    "Rich output: display(v [, metadata [, {display_id = id}]]), update_display(v, "
    "{display_id = id}), clear_output([wait]);\n"
    "  html(s), markdown(s), latex(s), svg(s), png(bytes), json(v) build MIME bundles; a table "
    "with a __jupyter metamethod renders itself.\n"
    "Input: io.read(), io.lines(), input(prompt), getpass(prompt).\n"
    "Comms: jupyter.comm_register(target, function(comm, data) ... end).\n"
    "help(x), help(\"string.format\"), a cell `name?` (or `name??` for source) or Shift-Tab\n"
    "show documentation.";

/* Pops the text on top of the stack and shows it in the frontend's pager (an execute_reply
 * payload). */
static void s_page(lua_State *L)
{
    size_t n;
    const char *text = lua_tolstring(L, -1, &n);
    json_t *p = json_pack("{s:s, s:{s:o}, s:i}", "source", "page", "data", "text/plain",
                          td__lua_json_text(text, n), "start", 0);
    if (!p)
        luaL_error(L, "not enough memory");
    td_interp_t *self = td__lua_self(L);
    if (!self->closing && self->host.payload)
        self->host.payload(self->host.arg, p);
    else
        json_decref(p);
    lua_pop(L, 1);
}

/* help([value or name]): shows the inspection text of a value in the pager. */
void td__lua_page_name(lua_State *L, const char *name, size_t n, int detail)
{
    if (!td__lua_describe_name(L, name, n, detail))
        lua_pushfstring(L, "No documentation found for '%s'.", lua_pushlstring(L, name, n));
    s_page(L);
}

static int s_help(lua_State *L)
{
    if (lua_gettop(L) == 0) {
        lua_pushstring(L, s_help_text);
        s_page(L);
    } else if (lua_type(L, 1) == LUA_TSTRING) {
        /* help("string.format") documents what the name refers to, as Python's help does. */
        size_t n;
        const char *name = lua_tolstring(L, 1, &n);
        td__lua_page_name(L, name, n, 1);
    } else {
        td__lua_describe(L, 1, NULL, 1);
        s_page(L);
    }
    return 0;
}

static const luaL_Reg s_display_fns[] = {
    {"display", s_display},
    {"update_display", s_update_display},
    {"clear_output", s_clear_output},
    {"html", s_html},
    {"markdown", s_markdown},
    {"latex", s_latex},
    {"svg", s_svg},
    {"png", s_png},
    {"json", s_json},
    {"help", s_help},
    {"repr", s_repr},
    {NULL, NULL},
};

void td__lua_display_setup(lua_State *L, int t)
{
    lua_pushvalue(L, t);
    luaL_setfuncs(L, s_display_fns, 0);
    lua_pop(L, 1);
}
