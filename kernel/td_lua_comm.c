/* td_lua_comm.c: Jupyter comms for the Lua backend. Lua registers targets with
 * jupyter.comm_register(name, fn); when a frontend opens a comm for a registered target, fn is
 * called with a comm object and the open message's data, and the comm lives in a registry table
 * (id -> comm) until either side closes it. Data crosses as JSON (td__lua_tojson and
 * td__lua_pushjson). Errors in handlers are written to stderr: a comm message has no reply that
 * could carry them. */
#include <stdio.h>
#include <string.h>

#include "td/td_error.h"
#include "td_lua_internal.h"

#define S_TARGETS "td.targets"       /* comm target name -> handler */
#define S_COMMS "td.comms"           /* comm id -> comm object */
#define S_COMM "td.comm"             /* metatable of comm objects */
#define S_COMM_STATE "td.comm_state" /* comm -> {id, on_msg, on_close, closed}, weak keys */

/* A comm is a plain table {id = ..., target_name = ...} whose metatable holds the methods; what
 * users must not change (the id, the handlers, closed) lives in a state table found through the
 * weak-keyed registry table S_COMM_STATE. */

/* Pushes the state table of the comm at idx; raises when it is not a comm. */
static void s_comm_state(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, S_COMM_STATE);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) != LUA_TTABLE)
        luaL_typeerror(L, idx, "comm");
    lua_remove(L, -2);
}

/* Pushes the state of the comm at idx and returns its id (kept alive by the state table);
 * raises when the comm is closed. */
static const char *s_comm_open_state(lua_State *L, int idx)
{
    s_comm_state(L, idx);
    lua_getfield(L, -1, "closed");
    int closed = lua_toboolean(L, -1);
    lua_getfield(L, -2, "id");
    const char *id = lua_tostring(L, -1);
    lua_pop(L, 2);
    if (closed)
        luaL_error(L, "comm %s is closed", id ? id : "?");
    return id;
}

/* Converts comm data at idx (nil -> {}) and sends it; raises on bad data. */
static void s_comm_emit(lua_State *L, const char *id, int idx, int close)
{
    char err[200];
    json_t *data =
        lua_isnoneornil(L, idx) ? json_object() : td__lua_tojson(L, idx, err, sizeof err);
    if (!data)
        luaL_error(L, "%s", err);
    if (!json_is_object(data)) {
        json_decref(data);
        luaL_error(L, "comm data must be a table with string keys");
    }
    td_interp_t *self = td__lua_self(L);
    if (!self->closing && self->host.comm_send)
        self->host.comm_send(self->host.arg, id, data, close);
    else
        json_decref(data);
}

/* Marks the comm whose state table is on top closed and forgets its id. */
static void s_comm_forget(lua_State *L, const char *id)
{
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "closed");
    lua_getfield(L, LUA_REGISTRYINDEX, S_COMMS);
    lua_pushnil(L);
    lua_setfield(L, -2, id);
    lua_pop(L, 1);
}

/* comm:send([data]) */
static int s_comm_send(lua_State *L)
{
    const char *id = s_comm_open_state(L, 1);
    s_comm_emit(L, id, 2, 0);
    return 0;
}

/* comm:close([data]): closing twice is harmless. */
static int s_comm_lclose(lua_State *L)
{
    s_comm_state(L, 1);
    lua_getfield(L, -1, "closed");
    int closed = lua_toboolean(L, -1);
    lua_getfield(L, -2, "id");
    const char *id = lua_tostring(L, -1);
    lua_pop(L, 2);
    if (closed || !id)
        return 0;
    s_comm_emit(L, id, 2, 1);
    s_comm_forget(L, id);
    return 0;
}

/* comm:on_msg(fn) and comm:on_close(fn) store fn(comm, data) in the comm's state. */
static int s_comm_set_handler(lua_State *L, const char *field)
{
    s_comm_state(L, 1);
    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, field);
    return 0;
}

static int s_comm_on_msg(lua_State *L)
{
    return s_comm_set_handler(L, "on_msg");
}

static int s_comm_on_close(lua_State *L)
{
    return s_comm_set_handler(L, "on_close");
}

/* __tostring of comms: "comm <id>". */
static int s_comm_tostring(lua_State *L)
{
    s_comm_state(L, 1);
    lua_getfield(L, -1, "id");
    lua_pushfstring(L, "comm %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    return 1;
}

/* jupyter.comm_register(target_name, function(comm, data) ... end); nil unregisters. */
static int s_comm_register(lua_State *L)
{
    luaL_checkstring(L, 1);
    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_getfield(L, LUA_REGISTRYINDEX, S_TARGETS);
    lua_insert(L, 1);
    lua_rawset(L, 1);
    return 0;
}

/* Calls the function below nargs arguments under the message handler; a failure is reported on
 * stderr, since a comm message has no execute_reply to carry it. */
static void s_call_handler(lua_State *L, int nargs, const char *what)
{
    int fn = lua_gettop(L) - nargs;
    lua_pushcfunction(L, td__lua_msgh);
    lua_insert(L, fn);
    int st = lua_pcall(L, nargs, 0, fn);
    if (st != LUA_OK) {
        td_lua_err_t e = td__lua_err_parts(td__lua_self(L), L, -1, st);
        lua_pushfstring(L, "Error in %s: %s\n%s\n", what, e.msg, e.tb ? e.tb : "");
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        td__lua_stream(td__lua_self(L), "stderr", s, n);
        lua_pop(L, 2);
    }
    lua_pop(L, 1); /* the message handler */
}

int td__lua_comm_open_p(lua_State *L)
{
    td_lua_comm_op_t *op = lua_touserdata(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, S_TARGETS);
    if (lua_getfield(L, -1, op->target) == LUA_TNIL) {
        op->rc = TD_ENOENT;
        return 0;
    }
    int handler = lua_gettop(L);
    lua_createtable(L, 0, 2); /* the comm */
    int comm = lua_gettop(L);
    lua_pushstring(L, op->id);
    lua_setfield(L, comm, "id");
    lua_pushstring(L, op->target);
    lua_setfield(L, comm, "target_name");
    luaL_setmetatable(L, S_COMM);
    lua_getfield(L, LUA_REGISTRYINDEX, S_COMM_STATE);
    lua_pushvalue(L, comm);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, op->id);
    lua_setfield(L, -2, "id");
    lua_rawset(L, -3);
    lua_getfield(L, LUA_REGISTRYINDEX, S_COMMS);
    lua_pushvalue(L, comm);
    lua_setfield(L, -2, op->id);
    lua_pop(L, 2);

    const char *what = lua_pushfstring(L, "comm target '%s'", op->target);
    lua_pushvalue(L, handler);
    lua_pushvalue(L, comm);
    if (op->data)
        td__lua_pushjson(L, op->data);
    else
        lua_newtable(L);
    s_call_handler(L, 2, what);
    return 0;
}

/* comm_msg (close = 0) and comm_close (close = 1) from the frontend. */
static int s_comm_deliver(lua_State *L, int close)
{
    td_lua_comm_op_t *op = lua_touserdata(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, S_COMMS);
    if (lua_getfield(L, -1, op->id) == LUA_TNIL)
        return 0; /* unknown or already closed: nothing to tell */
    int comm = lua_gettop(L);
    s_comm_state(L, comm);
    if (close)
        s_comm_forget(L, op->id);
    if (lua_getfield(L, -1, close ? "on_close" : "on_msg") != LUA_TFUNCTION)
        return 0;
    lua_pushvalue(L, comm);
    if (op->data)
        td__lua_pushjson(L, op->data);
    else
        lua_newtable(L);
    s_call_handler(L, 2, close ? "comm on_close handler" : "comm on_msg handler");
    return 0;
}

int td__lua_comm_msg_p(lua_State *L)
{
    return s_comm_deliver(L, 0);
}

int td__lua_comm_close_p(lua_State *L)
{
    return s_comm_deliver(L, 1);
}

static const luaL_Reg s_comm_methods[] = {
    {"send", s_comm_send},
    {"close", s_comm_lclose},
    {"on_msg", s_comm_on_msg},
    {"on_close", s_comm_on_close},
    {NULL, NULL},
};

void td__lua_comm_setup(lua_State *L, int t)
{
    lua_pushcfunction(L, s_comm_register);
    lua_setfield(L, t, "comm_register");
    luaL_newmetatable(L, S_COMM);
    luaL_newlib(L, s_comm_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_comm_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, S_TARGETS);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, S_COMMS);
    /* Weak keys: a closed comm and its state go away once Lua code drops the comm. */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, S_COMM_STATE);
}
