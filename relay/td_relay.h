/* td_relay.h: the I/O half of tandem-relay, shared by its three glue files.
 *   td_kernel.c  kernel processes (uv_spawn) and their ZMQ sockets (uv_poll on ZMQ_FD), clients
 *   td_http.c    libwebsockets on the uv loop: REST handlers, kernel and room websockets
 *   td_room.c    collaboration rooms: a Yjs document per file, its durable log, its peers
 *   main.c       command line, loop, signals, teardown
 * Everything runs on one uv loop thread. Objects with handles in flight are marked closing and
 * freed from the last uv_close callback, never inside their own callbacks. */
#ifndef TD_RELAY_H
#define TD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "td/td_connfile.h"
#include "td/td_hmac.h"
#include "td/td_kws.h"
#include "td/td_stamp.h"
#include "td_auth.h"
#include "td_kspec.h"
#include "td_route.h"
#include "td_sessions.h"
#include "td_sys.h"

typedef struct td_relay td_relay_t;
typedef struct td_kernel td_kernel_t;
typedef struct td_client td_client_t;
typedef struct td_pss td_pss_t;
typedef struct td_room td_room_t;
typedef struct td_peer td_peer_t;
typedef struct td_kexec td_kexec_t;

/* ---- outgoing websocket frames ------------------------------------------------------------ */

/* A refcounted encoded frame; the payload starts at mem + LWS_PRE (lws writes its header there). */
typedef struct td_obuf {
    int refs;
    int binary;
    size_t len;
    uint8_t *mem;
} td_obuf_t;

/* Wraps mem (LWS_PRE headroom + len bytes, malloc'd; taken even on failure). NULL on OOM. */
td_obuf_t *td_obuf_new(uint8_t *mem, size_t len, int binary);
/* Drops one reference; frees at zero; NULL-safe; nulls *self_p. */
void td_obuf_unref(td_obuf_t **self_p);

/* A FIFO of frame references with byte and count totals. */
typedef struct td_oqnode {
    struct td_oqnode *next;
    td_obuf_t *buf;
} td_oqnode_t;
typedef struct td_oq {
    td_oqnode_t *head, *tail;
    size_t bytes, count;
} td_oq_t;

/* Appends a new reference to buf. Returns 0 or TD_ENOMEM. */
int td_oq_push(td_oq_t *q, td_obuf_t *buf);
/* Removes the head and returns its reference (caller unrefs), or NULL when empty. */
td_obuf_t *td_oq_pop(td_oq_t *q);
/* Drops every entry. */
void td_oq_clear(td_oq_t *q);

/* ---- deferred HTTP answers ----------------------------------------------------------------- */

/* A waiter sits in a kernel's list until the kernel finishes a restart or a shutdown. The HTTP
 * layer embeds one per request and unlinks it if the client goes away first. */
typedef struct td_waiter {
    struct td_waiter *next, **prev;
    void (*fn)(struct td_waiter *w, td_kernel_t *k, int status); /* status 0 or TD_E* */
    json_t *result; /* an answer body the firer may leave (the waiter's owner decrefs it) */
} td_waiter_t;

void td_waiter_link(td_waiter_t **head, td_waiter_t *w);
void td_waiter_unlink(td_waiter_t *w); /* safe when not linked */
void td_waiters_fire(td_waiter_t **head, td_kernel_t *k, int status);

/* ---- the relay ----------------------------------------------------------------------------- */

struct td_relay {
    uv_loop_t *loop;
    struct lws_context *ctx;
    void *zctx;                      /* ZMQ context */
    td_env_t env;
    td_auth_t *auth;
    td_sessions_t *sessions;
    char *root;                      /* absolute, realpath'd */
    char *state_dir;                 /* ROOT/.tandem */
    char *runtime_dir;               /* ROOT/.tandem/runtime: connection files */
    char *prefix_share;              /* the install prefix's share/jupyter */
    td_kernel_t *kernels;            /* list */
    int64_t started_us, last_activity_us;
    int connections;                 /* open kernel websockets */
    size_t max_ws_message;           /* bytes; larger client messages close the socket (1009) */
    size_t max_send_queue;           /* bytes queued to one websocket before it is dropped */
    size_t max_offline_bytes;        /* per disconnected client session */
    uint64_t offline_grace_ms;       /* how long a disconnected session keeps its sockets */
    const char *allow_origin;        /* extra allowed websocket Origin ("*" = any), or NULL */
    uint64_t hb_interval_ms;         /* heartbeat ping period */
    uint64_t hb_timeout_ms;          /* no pong for this long: kernel hung, restart (0 = off) */
    uint64_t cull_idle_ms;           /* idle kernels older than this are shut down (0 = off) */
    uint64_t cull_interval_ms;       /* how often culling looks */
    int cull_connected, cull_busy;   /* also cull kernels with websockets / that are busy */
    double iopub_msg_rate;           /* IOPub msgs/s per websocket before dropping (0 = off) */
    double iopub_data_rate;          /* IOPub stream bytes/s per websocket (0 = off) */
    double rate_window_s;            /* averaging window of both limits */
    struct td_store *store;          /* SQLite state (users, tokens, file ids, room logs) */
    struct td_contents *contents;    /* the Contents API over root */
    struct td_acl *acl;              /* roles per path, the audit log, the login limiter */
    struct td_comments *comments;    /* comment threads and notifications */
    td_room_t *rooms;                /* loaded collaboration rooms */
    td_room_t *flushing;             /* rooms with updates waiting for the group commit */
    uv_check_t commit_check;         /* commits the store, then fans those updates out */
    td_pss_t *ws_dirty;              /* websockets with frames queued since the last flush */
    uv_prepare_t ws_flush;           /* writes them before the loop polls */
    uint64_t room_unload_ms;         /* a room unloads this long after its last peer left */
    uint64_t autosave_ms;            /* autosave delay after the last change */
    uint64_t file_poll_ms;           /* how often loaded rooms look for outside edits */
    int embed_comments;              /* saves put each cell's threads in its metadata */
    int loopback_only;               /* listening on loopback: only loopback Host headers */
    char **data_dirs;                /* Jupyter data path, searched for kernelspecs */
    size_t ndata_dirs;
    int shutting_down;
};

/* Returns microseconds since the epoch. */
int64_t td_relay_now(td_relay_t *r);

/* Scans the kernelspecs now (caller destroys). */
td_kspecs_t *td_relay_kspecs(td_relay_t *r);

/* ---- kernels (td_kernel.c) ----------------------------------------------------------------- */

/* Starts a kernel from spec ks with extra env (object of strings, may be NULL) in cwd. Returns the
 * kernel (owned by the relay list) or NULL with *rc set and msg (cap bytes) saying why. */
td_kernel_t *td_kernel_start(td_relay_t *r, const td_kspec_t *ks, json_t *extra_env,
                             const char *cwd, int *rc, char *msg, size_t cap);
/* The kernel with this id that is not going away, or NULL. */
td_kernel_t *td_kernel_find(td_relay_t *r, const char *id);
/* The kernel's id (borrowed). */
const char *td_kernel_id(const td_kernel_t *k);
/* The next kernel in the relay's list (including ones shutting down), or NULL. */
td_kernel_t *td_kernel_next(const td_kernel_t *k);
/* The REST model; new reference. */
json_t *td_kernel_model(td_kernel_t *k);
/* Interrupts per interrupt_mode. Returns 0 or TD_ESTATE (no process). */
int td_kernel_interrupt(td_kernel_t *k);
/* Restarts (graceful shutdown_request with restart, then kill, then spawn); w (may be NULL) fires
 * when the new process answers kernel_info, or with an error. Returns 0 or TD_ESTATE. */
int td_kernel_restart(td_kernel_t *k, td_waiter_t *w);
/* Shuts down (graceful, then kill) and removes the kernel; w fires when the process is gone. */
void td_kernel_shutdown(td_kernel_t *k, td_waiter_t *w);
/* Shuts every kernel down (relay exit). Returns the number still alive. */
int td_kernel_shutdown_all(td_relay_t *r);
/* Shuts down kernels idle longer than r->cull_idle_ms (skipping busy or connected ones unless
 * cull_busy / cull_connected). Returns how many were culled. */
int td_kernel_cull(td_relay_t *r);

/* Attaches websocket ws to the client session session_id of k (NULL/"" = anonymous), creating it
 * or replacing a stale websocket on it, and replays what was buffered while it was away. Returns
 * the client or NULL on failure. */
td_client_t *td_kernel_attach(td_kernel_t *k, const char *session_id, td_pss_t *ws);
/* The websocket went away: keep the session's sockets for the grace period (buffering), or close
 * them at once for an anonymous session. */
void td_client_detach(td_client_t *c, td_pss_t *ws);
/* Sends a decoded client message to the kernel on the client's own socket. Returns 0, TD_EPROTO
 * (bad header or channel; close the socket) or TD_EAGAIN (kernel queue full; dropped). */
int td_client_send(td_client_t *c, const td_kws_msg_t *m);
/* 1 when the kernel's IOPub is known to flow (clients may talk). */
int td_client_live(const td_client_t *c);

/* Server-side execution: fn sees every reply and IOPub message (msg_type, content borrowed) of
 * the request, then once (NULL, NULL) when it is over: reply and idle seen, or the process died. */
typedef void td_kexec_fn(void *arg, const char *msg_type, const json_t *content);
/* Sends an execute_request for code on the relay's own shell socket. Returns 0 with *out set (the
 * kernel owns it until the final callback), TD_ESTATE (no process) or TD_ENOMEM / TD_EAGAIN. */
int td_kernel_execute(td_kernel_t *k, const char *code, td_kexec_fn *fn, void *arg,
                      td_kexec_t **out);
/* Stops callbacks of an execution in flight (its owner is going away); nulls *x_p. */
void td_kexec_cancel(td_kernel_t *k, td_kexec_t **x_p);

/* ---- collaboration rooms (td_room.c) ------------------------------------------------------- */

/* Starts the rooms machinery (the commit check). Returns 0 or -1. */
int td_rooms_start(td_relay_t *r);
/* The stable id of a normalised API path (files table), created for an existing file on first
 * use (*created, may be NULL, says so). 0, TD_ENOENT (no such file) or TD_ESTATE. */
int td_rooms_file_id(td_relay_t *r, const char *path, char id[TD_UUID_LEN + 1], int *created);
/* PUT /api/collaboration/session/PATH with body {format, type}: indexes the file. Returns the
 * HTTP status with *out the answer body (new reference). */
int td_rooms_session(td_relay_t *r, const char *path, const json_t *body, json_t **out);
/* A websocket opened /api/collaboration/room/ROOM: joins (loading the room if needed). Returns the
 * peer, or NULL with the close code and reason (cap bytes) to close the socket with. */
td_peer_t *td_room_join(td_relay_t *r, const char *room, const char *session_id,
                        const td_user_t *user, td_pss_t *ws, int *code, char *reason, size_t cap);
/* One complete message from the peer. Returns 0, or -1 with the close code and reason. */
int td_peer_receive(td_peer_t *p, const uint8_t *data, size_t len, int binary, int *code,
                    char *reason, size_t cap);
/* The peer's websocket went away; frees the peer, nulls *p_p; NULL-safe. */
void td_peer_leave(td_peer_t **p_p);
/* POST /api/kernels/ID/execute: runs a cell of a loaded notebook room on kernel k, if user may
 * execute in that notebook (403 otherwise). Returns an HTTP status with *out an error body, or 0
 * when w will fire (w->result: the answer body). */
int td_rooms_execute(td_relay_t *r, td_kernel_t *k, const td_user_t *user, const json_t *body,
                     td_waiter_t *w, json_t **out);
/* GET /api/collaboration/presence: who is in which open document that user may read (and cell,
 * from their cursors), and, without a path, the global awareness room's users with their
 * `current` widget. New reference. */
json_t *td_rooms_presence(td_relay_t *r, const td_user_t *user, const char *path);
/* 1 when file_id's notebook has a cell with this id now (from the open room, else the file). */
int td_rooms_has_cell(void *relay, const char *file_id, const char *cell_id);
/* Grants changed: peers that may no longer read their room's file are closed (4403). */
void td_rooms_recheck(td_relay_t *r);
/* A contents rename moved from (file or folder) to to: file ids and loaded rooms follow. */
void td_rooms_renamed(td_relay_t *r, const char *from, const char *to);
/* Relay exit: peers closed, histories compacted, rooms freed (handles closed on the loop). */
void td_rooms_shutdown(td_relay_t *r);

/* ---- websockets (td_http.c) ---------------------------------------------------------------- */

/* Queues a frame to a websocket (takes a new reference). Returns 0, or -1 when the queue bound
 * was passed and the socket is being closed. */
int td_ws_enqueue(td_pss_t *ws, td_obuf_t *buf);
/* 1 when this websocket speaks v1. */
int td_ws_is_v1(const td_pss_t *ws);
/* Closes a websocket with a code and reason (sent from the next WRITEABLE). */
void td_ws_close(td_pss_t *ws, int code, const char *reason);
/* Takes the websocket's room peer out of its room now (relay exit; td_ws_close alone leaves
 * it there until the socket is gone). */
void td_ws_drop_peer(td_pss_t *ws);
/* Lets the websocket's messages in (after the kernel became live). */
void td_ws_resume_rx(td_pss_t *ws);

/* Grants changed: closes rooms' peers and comment streams whose user lost read access. */
void td_http_access_changed(td_relay_t *r);
/* Points the comments' hooks (role re-checks, cell lookups, realtime events) at the relay. */
void td_http_comment_hooks(td_relay_t *r);
/* Creates the lws context on r->loop. Returns 0 or -1. */
int td_http_start(td_relay_t *r, const char *ip, int port, int *bound_port);
/* Closes the flush handle td_http_start opened (after the lws context is gone). */
void td_http_stop(td_relay_t *r);

#endif
