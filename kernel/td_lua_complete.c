/* td_lua_complete.c: completion and inspection for the Lua backend.
 *
 * Both work on the text of the cell being typed plus the live global state, and neither runs Lua
 * code: names resolve with rawget, following __index only when it is a table, so completing or
 * inspecting cannot trigger a user's side effects. Locals of the code being typed come from a
 * lexical scan (local declarations, function parameters, for variables), not from a parse.
 * Positions are Unicode code points at the protocol boundary and byte offsets inside. */
#include <stdlib.h>
#include <string.h>

#include "td_lua_internal.h"

#define S_MAX_HOPS 16 /* __index links followed before giving up (they may form a cycle) */

/* ---- positions ------------------------------------------------------------------------------- */

/* Byte offset of code point cp in s[0..n), clamped to n. */
static size_t s_cp_to_byte(const char *s, size_t n, int cp)
{
    size_t i = 0;
    for (int k = 0; i < n && k < cp; k++) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Number of code points in s[0..n). */
static int s_byte_to_cp(const char *s, size_t n)
{
    int cp = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cp++;
    return cp;
}

static int s_isident(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int s_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- raw resolution -------------------------------------------------------------------------- */

/* Pushes obj[key] for the value at idx without running Lua code: a raw get on tables, then the
 * __index chain of metatables as long as __index is a table. Strings and userdata reach their
 * methods this way. Pushes nil when not found. */
static void s_field(lua_State *L, int idx, const char *key, size_t klen)
{
    lua_pushvalue(L, idx);
    for (int hop = 0; hop < S_MAX_HOPS; hop++) {
        if (lua_istable(L, -1)) {
            lua_pushlstring(L, key, klen);
            if (lua_rawget(L, -2) != LUA_TNIL) {
                lua_remove(L, -2);
                return;
            }
            lua_pop(L, 1);
        }
        if (!lua_getmetatable(L, -1))
            break;
        lua_pushliteral(L, "__index");
        int t = lua_rawget(L, -2);
        lua_remove(L, -2); /* the metatable */
        lua_remove(L, -2); /* the previous object */
        if (t != LUA_TTABLE)
            break;
    }
    lua_pop(L, 1);
    lua_pushnil(L);
}

int td__lua_resolve(lua_State *L, const char *name, size_t n)
{
    lua_pushglobaltable(L);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s_isident(name[j]))
            j++;
        if (j == i || (name[i] >= '0' && name[i] <= '9')) {
            lua_pop(L, 1);
            lua_pushnil(L);
            return 0;
        }
        s_field(L, -1, name + i, j - i);
        lua_remove(L, -2);
        if (j < n && name[j] != '.' && name[j] != ':') {
            lua_pop(L, 1);
            lua_pushnil(L);
            return 0;
        }
        i = j < n ? j + 1 : j;
        if (j < n && i == n) { /* trailing separator */
            lua_pop(L, 1);
            lua_pushnil(L);
            return 0;
        }
    }
    return !lua_isnil(L, -1);
}

/* ---- completion ------------------------------------------------------------------------------ */

/* Adds to the set at set_idx the names (keys that are Lua names starting with prefix) of the
 * value at idx and of its __index tables; methods keeps only functions (after ':'). */
static void s_collect(lua_State *L, int idx, int set_idx, const char *prefix, size_t plen,
                      int methods)
{
    lua_pushvalue(L, idx);
    for (int hop = 0; hop < S_MAX_HOPS; hop++) {
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                size_t n;
                if (lua_type(L, -2) == LUA_TSTRING && (!methods || lua_isfunction(L, -1))) {
                    const char *k = lua_tolstring(L, -2, &n);
                    if (n >= plen && memcmp(k, prefix, plen) == 0 && td__lua_is_name(k, n)) {
                        lua_pushvalue(L, -2);
                        lua_pushboolean(L, 1);
                        lua_rawset(L, set_idx);
                    }
                }
                lua_pop(L, 1);
            }
        }
        if (!lua_getmetatable(L, -1))
            break;
        lua_pushliteral(L, "__index");
        int t = lua_rawget(L, -2);
        lua_remove(L, -2);
        lua_remove(L, -2);
        if (t != LUA_TTABLE)
            break;
    }
    lua_pop(L, 1);
}

/* A small lexer that knows just enough Lua to skip strings and comments. */
typedef struct s_lex {
    const char *s;
    size_t n, i;
} s_lex_t;

enum { S_EOF, S_NAME, S_OTHER };

/* Length of the long bracket "[==[" at s[i] (its level + 2), or 0 when there is none. */
static size_t s_long_open(const s_lex_t *x, size_t i)
{
    if (i >= x->n || x->s[i] != '[')
        return 0;
    size_t j = i + 1;
    while (j < x->n && x->s[j] == '=')
        j++;
    return j < x->n && x->s[j] == '[' ? j - i + 1 : 0;
}

/* Skips past the close of a long bracket of the given open length (or to the end). */
static void s_long_skip(s_lex_t *x, size_t open)
{
    size_t level = open - 2;
    for (; x->i < x->n; x->i++) {
        if (x->s[x->i] != ']')
            continue;
        size_t j = x->i + 1;
        while (j < x->n && x->s[j] == '=')
            j++;
        if (j - x->i - 1 == level && j < x->n && x->s[j] == ']') {
            x->i = j + 1;
            return;
        }
    }
}

/* Reads the next token, skipping spaces and comments: S_NAME for names and keywords, S_OTHER for
 * the rest (strings and numbers are one token each), S_EOF at the end. */
static int s_token(s_lex_t *x, size_t *start, size_t *len)
{
    for (;;) {
        while (x->i < x->n && s_isspace(x->s[x->i]))
            x->i++;
        if (x->i + 1 < x->n && x->s[x->i] == '-' && x->s[x->i + 1] == '-') {
            x->i += 2;
            size_t open = s_long_open(x, x->i);
            if (open) {
                x->i += open;
                s_long_skip(x, open);
            } else {
                while (x->i < x->n && x->s[x->i] != '\n')
                    x->i++;
            }
            continue;
        }
        break;
    }
    if (x->i >= x->n)
        return S_EOF;
    *start = x->i;
    char c = x->s[x->i];
    if (s_isident(c) && !(c >= '0' && c <= '9')) {
        while (x->i < x->n && s_isident(x->s[x->i]))
            x->i++;
        *len = x->i - *start;
        return S_NAME;
    }
    if (c >= '0' && c <= '9') {
        while (x->i < x->n &&
               (s_isident(x->s[x->i]) || x->s[x->i] == '.' ||
                ((x->s[x->i] == '-' || x->s[x->i] == '+') && strchr("eEpP", x->s[x->i - 1]))))
            x->i++;
    } else if (c == '"' || c == '\'') {
        x->i++;
        while (x->i < x->n && x->s[x->i] != c && x->s[x->i] != '\n')
            x->i += x->s[x->i] == '\\' && x->i + 1 < x->n ? 2 : 1;
        if (x->i < x->n)
            x->i++;
    } else if (s_long_open(x, x->i)) {
        size_t open = s_long_open(x, x->i);
        x->i += open;
        s_long_skip(x, open);
    } else if (x->i + 2 < x->n && memcmp(x->s + x->i, "...", 3) == 0) {
        x->i += 3;
    } else {
        x->i++;
    }
    *len = x->i - *start;
    return S_OTHER;
}

static int s_is(const s_lex_t *x, int t, size_t start, size_t len, const char *what)
{
    return t != S_EOF && strlen(what) == len && memcmp(x->s + start, what, len) == 0;
}

/* What the scan adds names to: the set, the prefix filter, and the word being typed (a
 * declaration at the cursor is not a completion of itself). */
typedef struct s_names {
    lua_State *L;
    int set;
    const char *prefix;
    size_t plen, typing;
} s_names_t;

static void s_add_name(s_names_t *nm, const s_lex_t *x, size_t start, size_t len)
{
    const char *s = x->s + start;
    if (start == nm->typing || len < nm->plen || memcmp(s, nm->prefix, nm->plen) != 0 ||
        !td__lua_is_name(s, len))
        return;
    lua_pushlstring(nm->L, s, len);
    lua_pushboolean(nm->L, 1);
    lua_rawset(nm->L, nm->set);
}

/* Reads a comma-separated name list (local names with optional <attrib>, for variables, or
 * parameters); stops before the first token that does not continue it. */
static void s_name_list(s_names_t *nm, s_lex_t *x, int attribs)
{
    size_t st, len;
    for (;;) {
        size_t save = x->i;
        int t = s_token(x, &st, &len);
        if (t != S_NAME || td__lua_is_keyword(x->s + st, len)) {
            x->i = save;
            return;
        }
        s_add_name(nm, x, st, len);
        save = x->i;
        t = s_token(x, &st, &len);
        if (attribs && s_is(x, t, st, len, "<")) {
            s_token(x, &st, &len); /* const / close */
            s_token(x, &st, &len); /* > */
            save = x->i;
            t = s_token(x, &st, &len);
        }
        if (!s_is(x, t, st, len, ",")) {
            x->i = save;
            return;
        }
    }
}

/* Adds the locals, parameters and loop variables declared anywhere in the code. */
static void s_scan_locals(s_names_t *nm, const char *code, size_t len)
{
    s_lex_t x = {code, len, 0};
    size_t st, n;
    int t;
    while ((t = s_token(&x, &st, &n)) != S_EOF) {
        if (s_is(&x, t, st, n, "local")) {
            size_t save = x.i;
            t = s_token(&x, &st, &n);
            if (s_is(&x, t, st, n, "function")) {
                size_t fn = st;
                if (s_token(&x, &st, &n) == S_NAME)
                    s_add_name(nm, &x, st, n);
                x.i = fn; /* read it again as a function, for the parameters */
                continue;
            }
            x.i = save;
            s_name_list(nm, &x, 1);
        } else if (s_is(&x, t, st, n, "for")) {
            s_name_list(nm, &x, 0);
        } else if (s_is(&x, t, st, n, "function")) {
            /* function a.b:c(params) or function(params) */
            while ((t = s_token(&x, &st, &n)) == S_NAME || s_is(&x, t, st, n, ".") ||
                   s_is(&x, t, st, n, ":"))
                ;
            if (s_is(&x, t, st, n, "("))
                s_name_list(nm, &x, 0);
        }
    }
}

/* Pushes the value the expression ending at code[end] refers to: a string for string literals
 * ("x", ("x")), else the value of a dotted name; nil when unknown. */
static void s_push_base(lua_State *L, const char *code, size_t end)
{
    size_t b = end;
    if (b >= 1 && (code[b - 1] == '"' || code[b - 1] == '\'')) {
        lua_pushliteral(L, "");
        return;
    }
    if (b >= 3 && code[b - 1] == ')' && (code[b - 2] == '"' || code[b - 2] == '\'')) {
        char q = code[b - 2];
        size_t i = b - 2;
        while (i > 0 && code[i - 1] != q)
            i--;
        if (i >= 2 && code[i - 2] == '(') {
            lua_pushliteral(L, "");
            return;
        }
    }
    size_t s = b;
    while (s > 0 && (s_isident(code[s - 1]) || code[s - 1] == '.' || code[s - 1] == ':'))
        s--;
    if (s == b) {
        lua_pushnil(L);
        return;
    }
    td__lua_resolve(L, code + s, b - s);
}

/* qsort comparison of C strings. */
static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds the sorted matches array from the set at idx. Never raises; NULL on OOM. */
static json_t *s_matches(lua_State *L, int idx)
{
    size_t n = 0, cap = 16;
    const char **v = malloc(cap * sizeof *v);
    if (!v)
        return NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (n == cap) {
            const char **p = realloc(v, 2 * cap * sizeof *v);
            if (!p) {
                lua_pop(L, 1);
                free(v);
                return NULL;
            }
            v = p;
            cap *= 2;
        }
        v[n++] = lua_tostring(L, -1); /* anchored by the set */
    }
    qsort(v, n, sizeof *v, s_cmp);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    free(v);
    return a;
}

int td__lua_complete_p(lua_State *L)
{
    td_lua_query_t *q = lua_touserdata(L, 1);
    const char *code = q->code;
    size_t cur = s_cp_to_byte(code, q->len, q->cursor_pos);
    size_t ws = cur;
    while (ws > 0 && s_isident(code[ws - 1]))
        ws--;
    lua_newtable(L);
    int set = lua_gettop(L);
    const char *prefix = code + ws;
    size_t plen = cur - ws;
    char sep = ws > 0 ? code[ws - 1] : 0;
    if (plen > 0 && prefix[0] >= '0' && prefix[0] <= '9') {
        /* a number: nothing to complete */
    } else if ((sep == '.' && !(ws >= 2 && code[ws - 2] == '.')) || sep == ':') {
        s_push_base(L, code, ws - 1);
        if (!lua_isnil(L, -1))
            s_collect(L, -1, set, prefix, plen, sep == ':');
        lua_pop(L, 1);
    } else {
        lua_pushglobaltable(L);
        s_collect(L, -1, set, prefix, plen, 0);
        lua_pop(L, 1);
        for (int i = 0; td__lua_keywords[i]; i++) {
            if (strncmp(td__lua_keywords[i], prefix, plen) == 0) {
                lua_pushstring(L, td__lua_keywords[i]);
                lua_pushboolean(L, 1);
                lua_rawset(L, set);
            }
        }
        s_names_t nm = {L, set, prefix, plen, ws};
        s_scan_locals(&nm, code, q->len);
    }
    json_t *matches = s_matches(L, set);
    if (matches)
        q->reply =
            json_pack("{s:o, s:i, s:i, s:{}}", "matches", matches, "cursor_start",
                      s_byte_to_cp(code, ws), "cursor_end", s_byte_to_cp(code, cur), "metadata");
    return 0;
}

/* ---- inspection ------------------------------------------------------------------------------ */

/* Index into td__lua_docs for the value at idx known as name, or -1: functions by identity
 * (so aliases and the backend's wrappers find their entry), other values by name. */
static int s_doc_index(lua_State *L, int idx, const char *name)
{
    if (lua_isfunction(L, idx)) {
        /* A function the user put under a documented name is not the documented one. */
        lua_getfield(L, LUA_REGISTRYINDEX, TD_LUA_DOCS);
        lua_pushvalue(L, idx);
        int found = lua_rawget(L, -2) == LUA_TNUMBER;
        int i = found ? (int)lua_tointeger(L, -1) - 1 : -1;
        lua_pop(L, 2);
        return i;
    }
    for (size_t i = 0; name && i < td__lua_ndocs; i++)
        if (strcmp(td__lua_docs[i].name, name) == 0)
            return (int)i;
    return -1;
}

void td__lua_docs_index(lua_State *L)
{
    lua_newtable(L);
    for (size_t i = 0; i < td__lua_ndocs; i++) {
        const char *name = td__lua_docs[i].name;
        /* file methods are shared by all handles: reach them through io.stdout. */
        if (strncmp(name, "file:", 5) == 0)
            lua_pushfstring(L, "io.stdout:%s", name + 5);
        else
            lua_pushstring(L, name);
        size_t n;
        const char *path = lua_tolstring(L, -1, &n);
        td__lua_resolve(L, path, n);
        if (lua_isfunction(L, -1)) {
            lua_pushinteger(L, (lua_Integer)i + 1);
            lua_rawset(L, -4);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, TD_LUA_DOCS);
}

/* Pushes a global name whose value is the value at idx, or nil. */
static void s_global_name(lua_State *L, int idx)
{
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, idx)) {
            lua_pop(L, 1);
            lua_remove(L, -2);
            return;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushnil(L);
}

/* Appends lines first..last (1-based) of src, each ending in a newline. */
static void s_add_lines(lua_State *L, td_lua_sbuf_t *b, const char *src, int first, int last)
{
    int line = 1;
    for (const char *p = src; *p && line <= last; line++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (line >= first) {
            td__lua_sbuf_add(L, b, p, n);
            td__lua_sbuf_add(L, b, "\n", 1);
        }
        p = nl ? nl + 1 : p + n;
    }
}

/* Appends the "--" comment lines right above line `line` of src, without the dashes: a Lua
 * function's docstring by convention. */
static void s_add_comment_above(lua_State *L, td_lua_sbuf_t *b, const char *src, int line)
{
    const char *starts[64];
    int nlines = 0;
    for (const char *p = src; *p && nlines < line - 1;) {
        starts[nlines % 64] = p;
        nlines++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    if (nlines < line - 1)
        return;
    int first = line - 1;
    while (first >= 1 && line - first < 64) {
        const char *p = starts[(first - 1) % 64];
        while (*p == ' ' || *p == '\t')
            p++;
        if (p[0] != '-' || p[1] != '-' || p[2] == '[')
            break;
        first--;
    }
    if (first == line - 1)
        return;
    td__lua_sbuf_adds(L, b, "Docstring: ");
    for (int k = first + 1; k < line; k++) {
        const char *p = starts[(k - 1) % 64];
        while (*p == ' ' || *p == '\t' || *p == '-')
            p++;
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (k > first + 1)
            td__lua_sbuf_adds(L, b, "\n           ");
        td__lua_sbuf_add(L, b, p, n);
    }
    td__lua_sbuf_adds(L, b, "\n");
}

/* Describes a Lua function: signature from its parameters, where it was defined, and (detail
 * >= 1) its source when it comes from a cell. */
static void s_describe_lua(lua_State *L, td_lua_sbuf_t *b, int idx, const char *name, int detail)
{
    lua_Debug ar;
    lua_pushvalue(L, idx);
    lua_getinfo(L, ">Su", &ar);
    td__lua_sbuf_addf(L, b, "Signature: %s(", name);
    lua_pushvalue(L, idx);
    for (int i = 1; i <= ar.nparams; i++) {
        const char *p = lua_getlocal(L, NULL, i);
        td__lua_sbuf_addf(L, b, "%s%s", i > 1 ? ", " : "", p ? p : "?");
    }
    lua_pop(L, 1);
    if (ar.isvararg)
        td__lua_sbuf_adds(L, b, ar.nparams ? ", ..." : "...");
    td__lua_sbuf_adds(L, b, ")\nType:      Lua function\n");
    if (ar.source[0] == '=' || ar.source[0] == '@')
        td__lua_sbuf_addf(L, b, "Defined:   %s, line %d\n", ar.short_src, ar.linedefined);
    if (ar.source[0] != '=')
        return;
    lua_getfield(L, LUA_REGISTRYINDEX, TD_LUA_CELLS);
    if (lua_getfield(L, -1, ar.source + 1) == LUA_TSTRING) {
        const char *src = lua_tostring(L, -1);
        s_add_comment_above(L, b, src, ar.linedefined);
        if (detail >= 1 && ar.linedefined > 0) {
            td__lua_sbuf_adds(L, b, "Source:\n");
            s_add_lines(L, b, src, ar.linedefined, ar.lastlinedefined);
        }
    }
    lua_pop(L, 2);
}

void td__lua_describe(lua_State *L, int idx, const char *name, int detail)
{
    idx = lua_absindex(L, idx);
    td_lua_sbuf_t *b = td__lua_sbuf_new(L);
    if (!name) {
        s_global_name(L, idx);
        name = lua_tostring(L, -1); /* NULL, or anchored in the globals */
        lua_pop(L, 1);
    }
    int d = s_doc_index(L, idx, name);
    int t = lua_type(L, idx);
    if (t == LUA_TFUNCTION && d >= 0) {
        td__lua_sbuf_addf(L, b, "Signature: %s\nType:      builtin function\nDocstring: %s\n",
                          td__lua_docs[d].sig, td__lua_docs[d].doc);
    } else if (t == LUA_TFUNCTION && !lua_iscfunction(L, idx)) {
        s_describe_lua(L, b, idx, name ? name : "function", detail);
    } else if (t == LUA_TFUNCTION) {
        td__lua_sbuf_addf(L, b, "Signature: %s(...)\nType:      C function\n",
                          name ? name : "function");
    } else {
        const char *kind = luaL_typename(L, idx);
        if (t == LUA_TNUMBER)
            kind = lua_isinteger(L, idx) ? "number (integer)" : "number (float)";
        td__lua_sbuf_addf(L, b, "Type:      %s\n", kind);
        if (t == LUA_TTABLE) {
            lua_Integer n = 0;
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                lua_pop(L, 1);
                n++;
            }
            td__lua_sbuf_addf(L, b, "Length:    %lld entries\n", (long long)n);
        } else if (t == LUA_TSTRING) {
            td__lua_sbuf_addf(L, b, "Length:    %lld bytes\n", (long long)lua_rawlen(L, idx));
        }
        if (d >= 0)
            td__lua_sbuf_addf(L, b, "Docstring: %s\n", td__lua_docs[d].doc);
        td__lua_sbuf_adds(L, b, "Value:     ");
        td__lua_repr(L, idx, b, 0);
        td__lua_sbuf_adds(L, b, "\n");
    }
    if (b->len > 0 && b->p[b->len - 1] == '\n')
        b->len--; /* no trailing newline in the pager */
    td__lua_sbuf_push(L, b);
    lua_remove(L, -2);
}

int td__lua_describe_name(lua_State *L, const char *name, size_t n, int detail)
{
    name = lua_pushlstring(L, name, n); /* NUL-terminated, and anchored */
    int found = td__lua_resolve(L, name, n);
    int d = found ? -1 : s_doc_index(L, -1, name);
    if (found)
        td__lua_describe(L, -1, name, detail);
    else if (d >= 0)
        lua_pushfstring(L, "Signature: %s\nDocstring: %s", td__lua_docs[d].sig,
                        td__lua_docs[d].doc);
    else
        lua_pushnil(L);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return found || d >= 0;
}

int td__lua_inspect_p(lua_State *L)
{
    td_lua_query_t *q = lua_touserdata(L, 1);
    const char *code = q->code;
    size_t cur = s_cp_to_byte(code, q->len, q->cursor_pos);
    size_t s = cur, e = cur;
    while (s > 0 && (s_isident(code[s - 1]) || code[s - 1] == '.' || code[s - 1] == ':'))
        s--;
    while (e < q->len && s_isident(code[e]))
        e++;
    if (s == e) {
        /* f(| : inspect the function being called. */
        size_t p = cur;
        while (p > 0 && s_isspace(code[p - 1]))
            p--;
        if (p > 0 && code[p - 1] == '(') {
            e = p - 1;
            while (e > 0 && s_isspace(code[e - 1]))
                e--;
            s = e;
            while (s > 0 && (s_isident(code[s - 1]) || code[s - 1] == '.' || code[s - 1] == ':'))
                s--;
        }
    }
    while (s < e && (code[s] == '.' || code[s] == ':'))
        s++;
    while (e > s && (code[e - 1] == '.' || code[e - 1] == ':'))
        e--;
    json_t *data = NULL;
    if (s < e && td__lua_describe_name(L, code + s, e - s, q->detail)) {
        size_t n;
        const char *text = lua_tolstring(L, -1, &n);
        data = json_pack("{s:o}", "text/plain", td__lua_json_text(text, n));
    }
    q->reply = json_pack("{s:b, s:o, s:{}}", "found", data != NULL, "data",
                         data ? data : json_object(), "metadata");
    return 0;
}
