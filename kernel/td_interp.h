/* td_interp.h: the seam between the kernel core and a language backend (xeus's xinterpreter).
 * The core owns sockets, dispatch, ordering, history and busy/idle; a backend owns only the
 * language. A second language is added by writing one more td_interp_ops_t: nothing in the
 * transport or the dispatch changes. Every op runs on the kernel's main thread except interrupt. */
#ifndef TD_INTERP_H
#define TD_INTERP_H

#include <jansson.h>
#include <stddef.h>

typedef struct td_interp td_interp_t; /* a backend's opaque state */

/* What the core offers a backend while a request runs. Calls are valid only during an op. */
typedef struct td_interp_host {
    /* Appends text to stream "stdout" or "stderr". The core batches and flushes it. */
    void (*stream)(void *arg, const char *name, const char *text, size_t len);
    /* Publishes display_data, or update_display_data when update is 1. Steals data, metadata and
     * transient (each may be NULL but data). */
    void (*display)(void *arg, json_t *data, json_t *metadata, json_t *transient, int update);
    /* Publishes clear_output. */
    void (*clear_output)(void *arg, int wait);
    /* Asks the requesting frontend for input. Returns 0 and a malloc'd *value (caller frees),
     * TD_EPERM when the request disallowed stdin, or TD_ESTATE when interrupted or shut down. */
    int (*input)(void *arg, const char *prompt, int password, char **value);
    /* Adds an execute_reply payload entry, e.g. {"source":"page","data":{...},"start":0}. Steals. */
    void (*payload)(void *arg, json_t *payload);
    /* Sends comm_msg (or comm_close when close is 1) on IOPub for comm_id. Steals data. */
    void (*comm_send)(void *arg, const char *comm_id, json_t *data, int close);
    void *arg;
} td_interp_host_t;

/* The outcome of one execute. The backend fills it; the core frees it with td_exec_result_fini. */
typedef struct td_exec_result {
    int ok;            /* 1 on success, 0 on error */
    json_t *data;      /* execute_result MIME bundle, or NULL for no result; owned */
    json_t *metadata;  /* execute_result metadata, or NULL; owned */
    char *ename;       /* on error: e.g. "LuaError", "SyntaxError", "Interrupted"; owned */
    char *evalue;      /* on error: the message; owned */
    json_t *traceback; /* on error: array of strings; owned */
} td_exec_result_t;

/* Frees the owned members and zeroes *r. */
void td_exec_result_fini(td_exec_result_t *r);

typedef struct td_interp_ops {
    const char *name; /* the backend's name, e.g. "lua" */
    /* Creates a backend. host is copied. Returns NULL on failure; caller owns. */
    td_interp_t *(*create)(const td_interp_host_t *host);
    /* Frees the backend; NULL-safe; nulls *self_p. */
    void (*destroy)(td_interp_t **self_p);
    /* kernel_info pieces: language_info (new reference) and a static banner. */
    json_t *(*language_info)(td_interp_t *self);
    const char *(*banner)(td_interp_t *self);
    /* Runs one cell. execution_count names the chunk ("In [n]"). Always fills out. */
    void (*execute)(td_interp_t *self, const char *code, int execution_count,
                    td_exec_result_t *out);
    /* One user_expressions entry: {"status":"ok","data":{...},"metadata":{}} or an error dict
     * {"status":"error","ename","evalue","traceback"}. New reference. */
    json_t *(*evaluate)(td_interp_t *self, const char *expr);
    /* complete_reply content without status: {matches, cursor_start, cursor_end, metadata}.
     * Positions are code points. New reference. */
    json_t *(*complete)(td_interp_t *self, const char *code, int cursor_pos);
    /* inspect_reply content without status: {found, data, metadata}. New reference. */
    json_t *(*inspect)(td_interp_t *self, const char *code, int cursor_pos, int detail_level);
    /* is_complete_reply content without status: {"status": ..., "indent"?}. New reference. */
    json_t *(*is_complete)(td_interp_t *self, const char *code);
    /* Stops running code as soon as possible. Async-signal-safe: called from a SIGINT handler on
     * the thread that runs the backend (never from another thread); a no-op when nothing runs. */
    void (*interrupt)(td_interp_t *self);
    /* Comms. comm_open returns 0 when target_name is registered, TD_ENOENT otherwise (the core
     * then answers with comm_close). data is borrowed. */
    int (*comm_open)(td_interp_t *self, const char *comm_id, const char *target_name,
                     json_t *data);
    void (*comm_msg)(td_interp_t *self, const char *comm_id, json_t *data);
    void (*comm_close)(td_interp_t *self, const char *comm_id, json_t *data);
} td_interp_ops_t;

/* The Lua 5.4 backend (td_lua.c). */
extern const td_interp_ops_t td_lua_interp;

#endif
