/* td_lua.c: the Lua 5.4 language backend (td_lua_interp): the state, the ops, evaluation of
 * cells and user_expressions, error reports and interrupts. One lua_State lives as long as the
 * backend, so globals persist across cells. A cell is one chunk named "=In [n]"; its values
 * become the execute_result. Output and input (td_lua_io.c), rich display (td_lua_display.c)
 * and comms (td_lua_comm.c) reach the frontend through the host callbacks.
 *
 * Invariants. Every op runs its Lua work inside s_protect (lua_pcall of a C function), so a
 * Lua error never unwinds C frames of ours; json_t values are built by non-raising code right
 * before they are handed to the host or to the result. Only the atomic fields are touched by
 * another thread or a signal handler (interrupt): it arms the hook only while `running` is 1,
 * and every op starts and ends by clearing `pending` and the hook, so an interrupt that
 * arrives when nothing runs is dropped. Host callbacks are called only during ops, never from
 * destroy. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "td/td_error.h"
#include "td_interp.h"
#include "td_lua_internal.h"

#define S_HOOK_MASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT)

td_interp_t *td__lua_self(lua_State *L)
{
    return *(td_interp_t **)lua_getextraspace(L);
}

void td__lua_stream(td_interp_t *self, const char *name, const char *s, size_t n)
{
    if (!self->closing && self->host.stream && n > 0)
        self->host.stream(self->host.arg, name, s, n);
}

/* ---- errors and tracebacks ------------------------------------------------------------------- */

int td__lua_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_createtable(L, 2, 0);
    lua_pushstring(L, msg);
    lua_rawseti(L, -2, 1);
    luaL_traceback(L, L, NULL, 1);
    lua_rawseti(L, -2, 2);
    return 1;
}

td_lua_err_t td__lua_err_parts(td_interp_t *self, lua_State *L, int idx, int st)
{
    td_lua_err_t e = {self->interrupted ? "Interrupted" : "LuaError", NULL, NULL};
    idx = lua_absindex(L, idx);
    if (st == LUA_ERRSYNTAX)
        e.ename = "SyntaxError";
    if (st == LUA_ERRRUN && lua_type(L, idx) == LUA_TTABLE) {
        lua_rawgeti(L, idx, 1);
        lua_rawgeti(L, idx, 2);
        e.msg = lua_tostring(L, -2); /* both stay reachable from the table at idx */
        e.tb = lua_tostring(L, -1);
        lua_pop(L, 2);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        e.msg = lua_tostring(L, idx);
    }
    if (!e.msg)
        e.msg = st == LUA_ERRMEM ? "not enough memory" : "error";
    return e;
}

/* Builds the traceback array: the message, then the frames of luaL_traceback without the
 * unnamed C frames (the kernel's own entry points). Never raises; NULL on OOM. */
static json_t *s_traceback_json(const char *msg, const char *tb)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    json_array_append_new(a, td__lua_json_text(msg, strlen(msg)));
    if (!tb)
        return a;
    const char *header = "stack traceback:";
    int frames = 0;
    for (const char *p = tb; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int skip = (n == strlen(header) && memcmp(p, header, n) == 0) ||
                   (n == 10 && memcmp(p, "\t[C]: in ?", 10) == 0);
        if (!skip) {
            char line[512];
            const char *body = p[0] == '\t' ? p + 1 : p;
            size_t bn = n - (size_t)(body - p);
            snprintf(line, sizeof line, "  %.*s", (int)(bn < 500 ? bn : 500), body);
            json_t *s = td__lua_json_text(line, strlen(line));
            if (s) {
                if (frames++ == 0)
                    json_array_append_new(a, json_string("stack traceback:"));
                json_array_append_new(a, s);
            }
        }
        p = nl ? nl + 1 : p + n;
    }
    return a;
}

/* {"status":"error","ename","evalue","traceback"}: the user_expressions error dict. */
static json_t *s_error_dict(td_lua_err_t e)
{
    json_t *tb = s_traceback_json(e.msg, e.tb);
    json_t *evalue = td__lua_json_text(e.msg, strlen(e.msg));
    return json_pack("{s:s, s:s, s:o, s:o}", "status", "error", "ename", e.ename, "evalue",
                     evalue ? evalue : json_string(""), "traceback", tb ? tb : json_array());
}

/* ---- interrupt ------------------------------------------------------------------------------- */

/* interrupt arms lua.c's hook on the main thread and on the coroutine that runs (tracked by
 * the coroutine.resume and coroutine.wrap wrappers below). Once fired, the hook stays armed at
 * every instruction of its thread until the op ends, so `while true do pcall(f) end` cannot
 * swallow it. A hook left on a coroutine after its op disarms itself when it next runs. */

static void s_hook(lua_State *L, lua_Debug *ar)
{
    td_interp_t *self = td__lua_self(L);
    if (!atomic_load(&self->pending)) {
        lua_sethook(L, NULL, 0, 0); /* stale: armed during an earlier op */
        return;
    }
    lua_sethook(L, s_hook, LUA_MASKCOUNT, 1);
    self->interrupted = 1;
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        lua_pushfstring(L, "%s:%d: interrupted!", ar->short_src, ar->currentline);
    else
        lua_pushliteral(L, "interrupted!");
    lua_error(L);
}

/* The interrupt op; see the paragraph above. */
static void s_interrupt(td_interp_t *self)
{
    /* Runs in the SIGINT handler of the Lua thread (the kernel routes control-thread interrupts
     * there too), as lua.c's laction does: lua_sethook walks the running call frames, so calling
     * it from another thread would race the interpreter. Atomics and lua_sethook only. */
    if (!self || !atomic_load(&self->running))
        return;
    atomic_store(&self->pending, 1);
    lua_sethook(self->L, s_hook, S_HOOK_MASK, 1);
    /* readers keeps the coroutine alive until we are done with it (see s_co_leave). */
    atomic_fetch_add(&self->readers, 1);
    lua_State *co = atomic_load(&self->current);
    if (co)
        lua_sethook(co, s_hook, S_HOOK_MASK, 1);
    atomic_fetch_sub(&self->readers, 1);
}

/* Makes prev the running coroutine again. The one that stops running may be collected later,
 * so wait until no interrupt can still be using its pointer; that is a few instructions. */
static void s_co_leave(td_interp_t *self, lua_State *prev)
{
    atomic_store(&self->current, prev);
    while (atomic_load(&self->readers) > 0)
        ;
}

/* Calls the function in upvalue uv with all arguments while co is the running coroutine. */
static int s_co_run(lua_State *L, lua_State *co, int uv)
{
    td_interp_t *self = td__lua_self(L);
    lua_State *prev = atomic_load(&self->current);
    if (co)
        atomic_store(&self->current, co);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(uv));
    lua_insert(L, 1);
    int st = lua_pcall(L, n, LUA_MULTRET, 0);
    s_co_leave(self, prev);
    if (st != LUA_OK)
        return lua_error(L);
    return lua_gettop(L);
}

/* coroutine.resume: upvalue 1 is the original. */
static int s_co_resume(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTHREAD); /* here, so the message names 'resume' */
    return s_co_run(L, lua_tothread(L, 1), 1);
}

/* The function coroutine.wrap returns: upvalues are the original one and its coroutine. */
static int s_co_wrapped(lua_State *L)
{
    return s_co_run(L, lua_tothread(L, lua_upvalueindex(2)), 1);
}

/* coroutine.wrap: upvalue 1 is the original, whose result keeps its coroutine as upvalue 1. */
static int s_co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    if (lua_getupvalue(L, -1, 1) && lua_isthread(L, -1)) {
        lua_pushcclosure(L, s_co_wrapped, 2);
        return 1;
    }
    lua_settop(L, 1);
    return 1;
}

/* Runs f(ud) under lua_pcall with the running flag set; returns the pcall status and copies
 * an error message into err. The stack is restored. An interrupt that arrives between ops is
 * dropped: pending is cleared and the main thread's hook removed on both sides. */
static int s_protect(td_interp_t *self, lua_CFunction f, void *ud, char *err, size_t errlen)
{
    lua_State *L = self->L;
    int top = lua_gettop(L);
    self->interrupted = 0;
    atomic_store(&self->pending, 0);
    lua_sethook(L, NULL, 0, 0);
    atomic_store(&self->running, 1);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    int st = lua_pcall(L, 1, 0, 0);
    atomic_store(&self->running, 0);
    atomic_store(&self->pending, 0);
    s_co_leave(self, NULL); /* an error may have skipped a coroutine wrapper's own reset */
    lua_sethook(L, NULL, 0, 0);
    if (st != LUA_OK && err && errlen) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", m ? m : "error");
    }
    lua_settop(L, top);
    return st;
}

/* The comm ops run the handlers of td_lua_comm.c under s_protect, like any Lua code. */
static int s_comm_open(td_interp_t *self, const char *comm_id, const char *target_name,
                       json_t *data)
{
    td_lua_comm_op_t op = {comm_id, target_name, data, 0};
    if (!comm_id || !target_name)
        return TD_ENOENT;
    s_protect(self, td__lua_comm_open_p, &op, NULL, 0);
    return op.rc;
}

static void s_comm_msg(td_interp_t *self, const char *comm_id, json_t *data)
{
    td_lua_comm_op_t op = {comm_id, NULL, data, 0};
    if (comm_id)
        s_protect(self, td__lua_comm_msg_p, &op, NULL, 0);
}

static void s_comm_close(td_interp_t *self, const char *comm_id, json_t *data)
{
    td_lua_comm_op_t op = {comm_id, NULL, data, 0};
    if (comm_id)
        s_protect(self, td__lua_comm_close_p, &op, NULL, 0);
}

/* ---- warnings -------------------------------------------------------------------------------- */

/* lua_WarnFunction: warn("@on") / warn("@off") switch warnings, which go to stderr. */
static void s_warnf(void *ud, const char *msg, int tocont)
{
    td_interp_t *self = ud;
    if (!self->warn_cont && !tocont && msg[0] == '@') {
        if (strcmp(msg, "@on") == 0)
            self->warn_on = 1;
        else if (strcmp(msg, "@off") == 0)
            self->warn_on = 0;
        return;
    }
    if (self->warn_on) {
        if (!self->warn_cont)
            td__lua_stream(self, "stderr", "Lua warning: ", 13);
        td__lua_stream(self, "stderr", msg, strlen(msg));
        if (!tocont)
            td__lua_stream(self, "stderr", "\n", 1);
    }
    self->warn_cont = tocont;
}

/* Warnings while closing: nowhere to send them. */
static void s_warn_off(void *ud, const char *msg, int tocont)
{
}

/* ---- compiling cells ------------------------------------------------------------------------- */

/* Finds the start of the last line holding code (skipping blank and "--" comment lines that do
 * not open a long comment). Returns its byte offset; 0 when it is the first line. */
static size_t s_last_code_line(const char *code, size_t len)
{
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && code[start - 1] != '\n')
            start--;
        size_t i = start;
        while (i < end && (code[i] == ' ' || code[i] == '\t' || code[i] == '\r'))
            i++;
        int blank = i == end;
        int comment = end - i >= 2 && code[i] == '-' && code[i + 1] == '-' &&
                      !(end - i >= 3 && code[i + 2] == '[');
        if (!blank && !comment)
            return start;
        end = start > 0 ? start - 1 : 0;
    }
    return 0;
}

/* Loads text only: a cell must not smuggle in a precompiled binary chunk. */
static int s_load(lua_State *L, const char *s, size_t n, const char *chunkname)
{
    return luaL_loadbufferx(L, s, n, chunkname, "t");
}

/* Compiles the cell with `return` inserted at byte split; pushes the function (status LUA_OK)
 * or nothing. "f\n(x)" is a call in Lua, so when the last line could continue the one above
 * and the whole cell compiles as it is, that reading wins. */
static int s_load_with_return(lua_State *L, const char *code, size_t len, size_t split,
                              const char *chunkname)
{
    lua_pushlstring(L, code, split);
    lua_pushliteral(L, "return ");
    lua_pushlstring(L, code + split, len - split);
    lua_concat(L, 3);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    int st = s_load(L, s, n, chunkname);
    lua_remove(L, -2);
    if (st != LUA_OK) {
        lua_pop(L, 1);
        return st;
    }
    const char *t = code + split;
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t == '\0' || !strchr("([{\"'", *t))
        return LUA_OK;
    if (s_load(L, code, len, chunkname) == LUA_OK) {
        lua_remove(L, -2);
        return LUA_OK;
    }
    lua_pop(L, 1);
    return LUA_OK;
}

/* Pushes the compiled cell, or the syntax error message; returns the lua_load status. Tries, in
 * order: `return <cell>`; the cell with `return` before its last line (when the lines above it
 * compile on their own and the last line does not continue a call); the cell as statements. */
static int s_compile(lua_State *L, const char *code, size_t len, const char *chunkname)
{
    lua_pushliteral(L, "return ");
    lua_pushlstring(L, code, len);
    lua_concat(L, 2);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (s_load(L, s, n, chunkname) == LUA_OK) {
        lua_remove(L, -2);
        return LUA_OK;
    }
    lua_pop(L, 2);

    size_t split = s_last_code_line(code, len);
    if (split > 0) {
        int head_ok = s_load(L, code, split, chunkname) == LUA_OK;
        lua_pop(L, 1);
        if (head_ok && s_load_with_return(L, code, len, split, chunkname) == LUA_OK)
            return LUA_OK;
    }
    return s_load(L, code, len, chunkname);
}

/* 1 when the cell ends with ';', which hides its result. */
static int s_suppressed(const char *code, size_t len)
{
    while (len > 0 && strchr(" \t\r\n", code[len - 1]))
        len--;
    return len > 0 && code[len - 1] == ';';
}

/* IPython's `name?` and `name??`: when the cell is a dotted name followed by one or two '?',
 * returns the name (length in *n) and the detail level (0 or 1); NULL otherwise. Neither form
 * is valid Lua, so no program changes meaning. */
static const char *s_help_query(const char *code, size_t len, size_t *n, int *detail)
{
    while (len > 0 && strchr(" \t\r\n", code[len - 1]))
        len--;
    while (len > 0 && strchr(" \t\r\n", *code))
        code++, len--;
    size_t q = 0;
    while (q < 2 && q < len && code[len - 1 - q] == '?')
        q++;
    if (q == 0 || q == len)
        return NULL;
    for (size_t i = 0; i < len - q; i++) {
        char c = code[i];
        if (!(c == '_' || c == '.' || c == ':' || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return NULL;
    }
    *n = len - q;
    *detail = (int)q - 1;
    return code;
}

/* 1 when the n values from first are all file handles: io.write and file:write return their
 * file so calls can be chained, and a cell ending in io.write('x') should not show it. */
static int s_only_files(lua_State *L, int first, int n)
{
    for (int i = first; i < first + n; i++)
        if (!luaL_testudata(L, i, LUA_FILEHANDLE))
            return 0;
    return 1;
}

/* ---- execute --------------------------------------------------------------------------------- */

typedef struct s_exec {
    td_interp_t *self;
    const char *code;
    size_t len;
    int count;
    td_exec_result_t *out;
} s_exec_t;

/* A malloc'd copy that is valid UTF-8 (the core puts it in JSON). */
static char *s_strdup(const char *s)
{
    return td__lua_utf8_dup(s ? s : "", s ? strlen(s) : 0, NULL);
}

/* Fills out with an error. Never raises. */
static void s_exec_fail(td_exec_result_t *out, td_lua_err_t e)
{
    json_decref(out->data);
    json_decref(out->metadata);
    out->data = out->metadata = NULL;
    free(out->ename);
    free(out->evalue);
    json_decref(out->traceback);
    out->ok = 0;
    out->ename = s_strdup(e.ename);
    out->evalue = s_strdup(e.msg);
    out->traceback = s_traceback_json(e.msg, e.tb);
}

/* Protected body of execute: stores the source (for inspect), compiles, runs under the message
 * handler, then renders the values (which may run user metamethods, hence the same handler). */
static int s_execute_p(lua_State *L)
{
    s_exec_t *x = lua_touserdata(L, 1);
    char chunk[48];
    snprintf(chunk, sizeof chunk, "=In [%d]", x->count);

    lua_getfield(L, LUA_REGISTRYINDEX, TD_LUA_CELLS);
    lua_pushlstring(L, x->code, x->len);
    lua_setfield(L, -2, chunk + 1);
    lua_pop(L, 1);

    size_t name_len;
    int detail;
    const char *name = s_help_query(x->code, x->len, &name_len, &detail);
    if (name) {
        td__lua_page_name(L, name, name_len, detail);
        x->out->ok = 1;
        return 0;
    }

    lua_pushcfunction(L, td__lua_msgh);
    int h = lua_gettop(L);
    int st = s_compile(L, x->code, x->len, chunk);
    if (st == LUA_OK)
        st = lua_pcall(L, 0, LUA_MULTRET, h);
    if (st != LUA_OK) {
        s_exec_fail(x->out, td__lua_err_parts(x->self, L, -1, st));
        return 0;
    }
    int n = lua_gettop(L) - h;
    if (n == 0 || s_suppressed(x->code, x->len) || s_only_files(L, h + 1, n)) {
        x->out->ok = 1;
        return 0;
    }

    /* Rendering runs user metamethods, so it gets the message handler too. */
    lua_pushcfunction(L, td__lua_render_p);
    lua_insert(L, h + 1);
    st = lua_pcall(L, n, 2, h);
    if (st != LUA_OK) {
        s_exec_fail(x->out, td__lua_err_parts(x->self, L, -1, st));
        return 0;
    }
    char err[200];
    json_t *data = td__lua_bundle_tojson(L, h + 1, err, sizeof err), *meta = NULL;
    if (!data || td__lua_meta_tojson(L, h + 2, &meta, err, sizeof err) != 0) {
        json_decref(data);
        s_exec_fail(x->out, (td_lua_err_t){"LuaError", err, NULL});
        return 0;
    }
    x->out->ok = 1;
    x->out->data = data;
    x->out->metadata = meta;
    return 0;
}

/* The execute op. A failure of the protected call itself (memory, an interrupt outside the
 * user's chunk) is reported like any other error. */
static void s_execute(td_interp_t *self, const char *code, int execution_count,
                      td_exec_result_t *out)
{
    memset(out, 0, sizeof *out);
    code = code ? code : "";
    self->in_pos = self->in_len = 0; /* input is scoped to one execute_request */
    s_exec_t x = {self, code, strlen(code), execution_count, out};
    char err[256];
    if (s_protect(self, s_execute_p, &x, err, sizeof err) != LUA_OK)
        s_exec_fail(out, (td_lua_err_t){self->interrupted ? "Interrupted" : "LuaError", err, NULL});
    self->in_pos = self->in_len = 0;
}

/* ---- user_expressions ------------------------------------------------------------------------ */

typedef struct s_eval {
    td_interp_t *self;
    const char *expr;
    json_t *reply;
} s_eval_t;

/* Protected body of evaluate: `return <expr>` in the global environment, rendered as execute
 * results are; zero values render as nil. */
static int s_evaluate_p(lua_State *L)
{
    s_eval_t *x = lua_touserdata(L, 1);
    lua_pushcfunction(L, td__lua_msgh);
    int h = lua_gettop(L);
    size_t n;
    const char *s = lua_pushfstring(L, "return %s", x->expr);
    n = strlen(s);
    int st = s_load(L, s, n, "=<expression>");
    lua_remove(L, h + 1);
    if (st == LUA_OK)
        st = lua_pcall(L, 0, LUA_MULTRET, h);
    if (st == LUA_OK) {
        if (lua_gettop(L) == h)
            lua_pushnil(L);
        lua_pushcfunction(L, td__lua_render_p);
        lua_insert(L, h + 1);
        st = lua_pcall(L, lua_gettop(L) - h - 1, 2, h);
    }
    if (st != LUA_OK) {
        x->reply = s_error_dict(td__lua_err_parts(x->self, L, -1, st));
        return 0;
    }
    char err[200];
    json_t *data = td__lua_bundle_tojson(L, h + 1, err, sizeof err), *meta = NULL;
    if (!data || td__lua_meta_tojson(L, h + 2, &meta, err, sizeof err) != 0) {
        json_decref(data);
        x->reply = s_error_dict((td_lua_err_t){"LuaError", err, NULL});
        return 0;
    }
    x->reply = json_pack("{s:s, s:o, s:o}", "status", "ok", "data", data, "metadata",
                         meta ? meta : json_object());
    return 0;
}

/* The evaluate op (one user_expressions entry). */
static json_t *s_evaluate(td_interp_t *self, const char *expr)
{
    s_eval_t x = {self, expr ? expr : "", NULL};
    char err[256];
    if (s_protect(self, s_evaluate_p, &x, err, sizeof err) != LUA_OK) {
        json_decref(x.reply);
        x.reply =
            s_error_dict((td_lua_err_t){self->interrupted ? "Interrupted" : "LuaError", err, NULL});
    }
    return x.reply;
}

/* ---- introspection --------------------------------------------------------------------------- */

static json_t *s_complete(td_interp_t *self, const char *code, int cursor_pos)
{
    td_lua_query_t q = {code ? code : "", code ? strlen(code) : 0, cursor_pos, 0, NULL};
    if (s_protect(self, td__lua_complete_p, &q, NULL, 0) != LUA_OK || !q.reply) {
        json_decref(q.reply);
        q.reply = json_pack("{s:[], s:i, s:i, s:{}}", "matches", "cursor_start", cursor_pos,
                            "cursor_end", cursor_pos, "metadata");
    }
    return q.reply;
}

/* The inspect op; an unexpected failure answers "not found". */
static json_t *s_inspect(td_interp_t *self, const char *code, int cursor_pos, int detail_level)
{
    td_lua_query_t q = {code ? code : "", code ? strlen(code) : 0, cursor_pos, detail_level, NULL};
    if (s_protect(self, td__lua_inspect_p, &q, NULL, 0) != LUA_OK || !q.reply) {
        json_decref(q.reply);
        q.reply = json_pack("{s:b, s:{}, s:{}}", "found", 0, "data", "metadata");
    }
    return q.reply;
}

typedef struct s_check {
    const char *code;
    size_t len;
    const char *status;
} s_check_t;

/* lua.c's rule: complete when the code compiles (with or without `return`), incomplete when
 * the syntax error is at <eof>, invalid otherwise. */
static int s_is_complete_p(lua_State *L)
{
    s_check_t *c = lua_touserdata(L, 1);
    lua_pushliteral(L, "return ");
    lua_pushlstring(L, c->code, c->len);
    lua_concat(L, 2);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (s_load(L, s, n, "=In") == LUA_OK || s_load(L, c->code, c->len, "=In") == LUA_OK) {
        c->status = "complete";
        return 0;
    }
    const char *msg = lua_tolstring(L, -1, &n);
    static const char eof[] = "<eof>";
    if (msg && n >= sizeof eof - 1 && strcmp(msg + n - (sizeof eof - 1), eof) == 0)
        c->status = "incomplete";
    else
        c->status = "invalid";
    return 0;
}

/* The is_complete op; empty code is complete, as in ipykernel. */
static json_t *s_is_complete(td_interp_t *self, const char *code)
{
    s_check_t c = {code ? code : "", code ? strlen(code) : 0, "complete"};
    if (c.len > 0 && s_protect(self, s_is_complete_p, &c, NULL, 0) != LUA_OK)
        c.status = "unknown";
    if (strcmp(c.status, "incomplete") == 0)
        return json_pack("{s:s, s:s}", "status", c.status, "indent", "  ");
    return json_pack("{s:s}", "status", c.status);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* The functions of the jupyter module that are also globals. */
static const char *const s_globals[] = {
    "display", "update_display", "clear_output", "html",  "markdown", "latex", "svg",
    "png",     "json",           "help",         "input", "getpass",  NULL,
};

void td__lua_wrap(lua_State *L, int t, const char *name, lua_CFunction fn, const char *field)
{
    int n = 0;
    if (field) {
        lua_getfield(L, t, field);
        n++;
    }
    lua_getfield(L, t, name);
    lua_pushcclosure(L, fn, n + 1);
    lua_setfield(L, t, name);
}

/* package.preload.jupyter: returns the module built at start. */
static int s_preload_jupyter(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

/* Builds the jupyter module (global, require-able and preloaded) and its global aliases. */
static void s_setup_jupyter(lua_State *L)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    td__lua_io_setup(L, t);
    td__lua_display_setup(L, t);
    td__lua_comm_setup(L, t);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, t, "null");
    for (int i = 0; s_globals[i]; i++) {
        lua_getfield(L, t, s_globals[i]);
        lua_setglobal(L, s_globals[i]);
    }
    lua_pushvalue(L, t);
    lua_setglobal(L, "jupyter");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, t);
    lua_setfield(L, -2, "jupyter");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushvalue(L, t);
    lua_pushcclosure(L, s_preload_jupyter, 1);
    lua_setfield(L, -2, "jupyter");
    lua_settop(L, t - 1);
}

/* Protected body of create: libraries, redirections, the jupyter module, the docs index. */
static int s_setup_p(lua_State *L)
{
    luaL_openlibs(L);
    td__lua_sbuf_setup(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, TD_LUA_CELLS);
    lua_getglobal(L, "coroutine");
    td__lua_wrap(L, lua_gettop(L), "resume", s_co_resume, NULL);
    td__lua_wrap(L, lua_gettop(L), "wrap", s_co_wrap, NULL);
    lua_pop(L, 1);
    s_setup_jupyter(L);
    td__lua_docs_index(L); /* last, so it maps the wrappers above to their documentation */
    return 0;
}

/* The destroy op: NULL-safe, nulls *self_p. */
static void s_destroy(td_interp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    td_interp_t *self = *self_p;
    /* lua_close runs __gc metamethods: they must not reach a host that is going away. */
    self->closing = 1;
    if (self->L) {
        lua_setwarnf(self->L, s_warn_off, NULL);
        lua_close(self->L);
    }
    free(self->in);
    free(self);
    *self_p = NULL;
}

/* The create op: NULL on failure. The backend pointer lives in the state's extra space so C
 * functions called from Lua can find it. */
static td_interp_t *s_create(const td_interp_host_t *host)
{
    td_interp_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (host)
        self->host = *host;
    atomic_init(&self->running, 0);
    atomic_init(&self->pending, 0);
    atomic_init(&self->current, NULL);
    atomic_init(&self->readers, 0);
    self->L = luaL_newstate();
    if (!self->L) {
        free(self);
        return NULL;
    }
    *(td_interp_t **)lua_getextraspace(self->L) = self;
    lua_setwarnf(self->L, s_warnf, self);
    if (s_protect(self, s_setup_p, self, NULL, 0) != LUA_OK)
        s_destroy(&self);
    return self;
}

/* language_info of kernel_info_reply, from the Lua headers the kernel was built with. */
static json_t *s_language_info(td_interp_t *self)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "lua", "version",
                     LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE, "mimetype",
                     "text/x-lua", "file_extension", ".lua", "pygments_lexer", "lua",
                     "codemirror_mode", "lua");
}

static const char *s_banner(td_interp_t *self)
{
    return "Tandem kernel \xe2\x80\x94 " LUA_RELEASE;
}

const td_interp_ops_t td_lua_interp = {
    .name = "lua",
    .create = s_create,
    .destroy = s_destroy,
    .language_info = s_language_info,
    .banner = s_banner,
    .execute = s_execute,
    .evaluate = s_evaluate,
    .complete = s_complete,
    .inspect = s_inspect,
    .is_complete = s_is_complete,
    .interrupt = s_interrupt,
    .comm_open = s_comm_open,
    .comm_msg = s_comm_msg,
    .comm_close = s_comm_close,
};
