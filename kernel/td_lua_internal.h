/* td_lua_internal.h: what the files of the Lua backend share. td_lua.c holds the state, the
 * ops, evaluation and interrupts; td_lua_io.c standard input and output; td_lua_display.c rich
 * output; td_lua_comm.c comms; td_lua_repr.c readable printing; td_lua_json.c Lua <-> JSON;
 * td_lua_complete.c completion and inspection; td_lua_docs.c the standard library's docs.
 * Nothing here is visible outside tdkcore.
 *
 * One rule holds across all of them: a Lua error may longjmp only over state that Lua owns.
 * Functions documented "may raise" are called only under lua_pcall, and C memory that must
 * survive a raising call lives in a td_lua_sbuf_t (a userdata whose __gc frees it). json_t
 * values are built only by code that never raises and are handed off before Lua runs again. */
#ifndef TD_LUA_INTERNAL_H
#define TD_LUA_INTERNAL_H

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <stddef.h>

#include "td_interp.h"

/* The backend. Fields marked atomic are the only ones another thread (or a signal handler)
 * touches, through the interrupt op; everything else belongs to the main thread. */
struct td_interp {
    td_interp_host_t host;
    lua_State *L;
    atomic_int running;           /* 1 while an op runs Lua code; read by interrupt */
    atomic_int pending;           /* an interrupt was asked for during the current op */
    _Atomic(lua_State *) current; /* the running coroutine, or NULL for the main thread */
    atomic_int readers;           /* interrupts using current right now */
    int interrupted;              /* the current op was stopped by the hook or by input */
    int closing;                  /* destroy runs: host callbacks are no longer valid */
    char *in;                     /* stdin read-ahead of the current execute: in[in_pos..in_len) */
    size_t in_len, in_pos, in_cap;
    int warn_on, warn_cont; /* lua warn(): "@on" seen; a message is being continued */
    unsigned display_seq;   /* for display ids the backend generates */
};

/* ---- td_lua.c ---- */

/* The backend that owns L (kept in the state's extra space). */
td_interp_t *td__lua_self(lua_State *L);
/* Appends text to a host stream ("stdout" or "stderr"); a no-op while closing or when empty. */
void td__lua_stream(td_interp_t *self, const char *name, const char *s, size_t n);
/* Message handler for user code: turns the error object into {message, traceback}, using
 * __tostring for objects that are not strings, as lua.c does. */
int td__lua_msgh(lua_State *L);

/* The parts of a failed pcall: ename ("LuaError", "SyntaxError", "Interrupted"), message and
 * traceback text (may be NULL). The strings live in the error object. */
typedef struct td_lua_err {
    const char *ename;
    const char *msg;
    const char *tb;
} td_lua_err_t;

/* Splits the error object at idx of a pcall that returned st. Never raises. */
td_lua_err_t td__lua_err_parts(td_interp_t *self, lua_State *L, int idx, int st);
/* Replaces t[name] (t at stack index t) with the C closure fn whose upvalues are t[field] (when
 * field is not NULL) and then the original t[name]. May raise. */
void td__lua_wrap(lua_State *L, int t, const char *name, lua_CFunction fn, const char *field);

/* ---- td_lua_io.c, td_lua_display.c, td_lua_comm.c ---- */

/* Redirect print and the standard handles, and add input and getpass to the jupyter table at
 * index t. May raise. */
void td__lua_io_setup(lua_State *L, int t);
/* Add the display API to the jupyter table at index t. May raise. */
void td__lua_display_setup(lua_State *L, int t);
/* Add comm_register to the jupyter table at index t and create the comm registries. May raise. */
void td__lua_comm_setup(lua_State *L, int t);

/* lua_CFunction: renders its arguments and returns the bundle table and metadata (or nil):
 * __jupyter objects and MIME bundles richly, other values as text/plain (tab-separated, as
 * lua.c prints them). Runs user metamethods. */
int td__lua_render_p(lua_State *L);
/* Shows the documentation of a dotted name in the pager (detail 1 adds source); may raise. */
void td__lua_page_name(lua_State *L, const char *name, size_t n, int detail);
/* Converts a rendered bundle at idx to a JSON object. Never raises; NULL with err on failure. */
json_t *td__lua_bundle_tojson(lua_State *L, int idx, char *err, size_t errlen);
/* Converts optional metadata (nil or a table) at idx to a JSON object or NULL in *out. Never
 * raises; returns 0, or -1 with err. */
int td__lua_meta_tojson(lua_State *L, int idx, json_t **out, char *err, size_t errlen);

/* One comm op from the frontend, passed as a light userdata to the protected functions below. */
typedef struct td_lua_comm_op {
    const char *id, *target; /* target only for comm_open */
    json_t *data;            /* borrowed; may be NULL */
    int rc;                  /* comm_open: 0, or TD_ENOENT for an unknown target */
} td_lua_comm_op_t;

/* lua_CFunctions run under lua_pcall with a td_lua_comm_op_t light userdata as argument 1. */
int td__lua_comm_open_p(lua_State *L);
int td__lua_comm_msg_p(lua_State *L);
int td__lua_comm_close_p(lua_State *L);

/* ---- td_lua_repr.c, td_lua_json.c, td_lua_complete.c, td_lua_docs.c ---- */

/* Registry fields. */
#define TD_LUA_CELLS "td.cells" /* chunk name ("In [n]") -> source of that cell */
#define TD_LUA_DOCS "td.docs"   /* function -> 1-based index into td__lua_docs */
#define TD_LUA_SBUF "td.sbuf"   /* metatable of td_lua_sbuf_t userdata */

/* Bounds of the readable table printing: nesting depth, entries per table, total bytes. */
#define TD_LUA_REPR_DEPTH 4
#define TD_LUA_REPR_ITEMS 100
#define TD_LUA_REPR_BYTES 8192

/* repr flags: TD_LUA_REPR_META lets the printer call __tostring (user code); without it the
 * printer only reads raw values, which is what introspection needs. */
#define TD_LUA_REPR_META 1

/* A growable byte buffer owned by a Lua userdata, so it is freed even if a Lua error unwinds
 * the C function using it. p may also hold any malloc'd string we must not leak. */
typedef struct td_lua_sbuf {
    char *p;
    size_t len, cap;
} td_lua_sbuf_t;

/* Registers the TD_LUA_SBUF metatable; may raise. */
void td__lua_sbuf_setup(lua_State *L);
/* Pushes a new empty buffer userdata and returns it (owned by Lua); may raise. */
td_lua_sbuf_t *td__lua_sbuf_new(lua_State *L);
/* Appends n bytes; raises on out of memory. */
void td__lua_sbuf_add(lua_State *L, td_lua_sbuf_t *b, const char *s, size_t n);
/* Appends a NUL-terminated string; raises on out of memory. */
void td__lua_sbuf_adds(lua_State *L, td_lua_sbuf_t *b, const char *s);
/* Appends printf-formatted text; raises on out of memory. */
void td__lua_sbuf_addf(lua_State *L, td_lua_sbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Pushes the contents as a Lua string; may raise. The buffer is unchanged. */
void td__lua_sbuf_push(lua_State *L, td_lua_sbuf_t *b);

/* Appends a readable rendering of the value at idx ({1, 2, x = 3}, "quoted"), bounded by the
 * TD_LUA_REPR_* limits and guarded against cycles; may raise. */
void td__lua_repr(lua_State *L, int idx, td_lua_sbuf_t *b, int flags);
/* Pushes the text/plain form of one value, as lua.c prints it (strings unquoted, tostring for
 * the rest) except that tables without __tostring are printed readably; may raise. */
void td__lua_plain(lua_State *L, int idx, int flags);
/* 1 when s[0..n) is a Lua name that is not a reserved word. */
int td__lua_is_name(const char *s, size_t n);
/* 1 when s[0..n) is a reserved word. */
int td__lua_is_keyword(const char *s, size_t n);
/* The reserved words of Lua 5.4, NULL-terminated. */
extern const char *const td__lua_keywords[];

/* Converts the value at idx to JSON: nil -> null, tables with keys 1..n -> arrays, other
 * tables -> objects (string or number keys). Never raises and never runs Lua code. Returns a new
 * reference, or NULL with a message in err (cycles, functions, invalid UTF-8, ...). */
json_t *td__lua_tojson(lua_State *L, int idx, char *err, size_t errlen);
/* Returns a malloc'd, NUL-terminated copy of s[0..n) in which every byte that is not part of
 * valid UTF-8 is replaced by U+FFFD; its length goes to *outlen (may be NULL). NULL on OOM. */
char *td__lua_utf8_dup(const char *s, size_t n, size_t *outlen);
/* A JSON string of s[0..n) made valid UTF-8 as td__lua_utf8_dup does; new reference or NULL. */
json_t *td__lua_json_text(const char *s, size_t n);
/* Pushes j as a Lua value (null -> nil, arrays -> sequences); may raise (memory). */
void td__lua_pushjson(lua_State *L, const json_t *j);

/* One complete or inspect request, passed as a light userdata to the protected functions
 * below. Positions in code points; reply is a new reference set on success. */
typedef struct td_lua_query {
    const char *code;
    size_t len;
    int cursor_pos;
    int detail;
    json_t *reply;
} td_lua_query_t;

/* lua_CFunctions run under lua_pcall with a td_lua_query_t light userdata as argument 1. */
int td__lua_complete_p(lua_State *L);
int td__lua_inspect_p(lua_State *L);

/* Pushes the value a dotted name ("string.format", "s:upper", "io.stdout:write") refers to,
 * or nil, looking in the globals with raw access and table __index chains only (no Lua code
 * runs). Returns 1 when the value is not nil; may raise (memory). */
int td__lua_resolve(lua_State *L, const char *name, size_t n);

/* Pushes the inspection text for the value at idx, known to the user as name (may be NULL);
 * detail_level 1 adds source lines. Never calls Lua functions; may raise (memory). */
void td__lua_describe(lua_State *L, int idx, const char *name, int detail);
/* Pushes the inspection text for a dotted name (resolved as td__lua_resolve does, or found in
 * the documentation table, e.g. "file:read") and returns 1; pushes nil and returns 0 when the
 * name is unknown. May raise (memory). */
int td__lua_describe_name(lua_State *L, const char *name, size_t n, int detail);
/* Builds the TD_LUA_DOCS registry table from the globals as they are now; may raise. */
void td__lua_docs_index(lua_State *L);

/* One entry of the standard library documentation. */
typedef struct td_lua_doc {
    const char *name; /* "print", "string.upper", "file:read", "math.pi" */
    const char *sig;  /* "string.upper(s)" */
    const char *doc;  /* one sentence */
} td_lua_doc_t;

extern const td_lua_doc_t td__lua_docs[];
extern const size_t td__lua_ndocs;

#endif
