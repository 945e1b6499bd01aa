/* td_kcore.h: the kernel's dispatch core (xeus's kernel core). It turns requests into replies and
 * IOPub traffic, wraps each in busy/idle, batches stream output, keeps the execution counter and
 * history, and drives a language backend. It owns no sockets: the transport hands it decoded
 * messages and gives it send functions, so unit tests drive it with a mock. */
#ifndef TD_KCORE_H
#define TD_KCORE_H

#include "td/td.h"
#include "td_history.h"
#include "td_interp.h"

typedef struct td_kcore td_kcore_t;

/* Per-thread request I/O: the shell thread's and the control thread's. */
typedef struct td_kcore_io {
    /* Sends a reply on ch (routed by the message's identities). Always consumes *msg_p. */
    void (*send)(void *arg, td_channel_t ch, td_msg_t **msg_p);
    /* Takes a request already queued on shell without waiting: 1 and *out, or 0 when none. */
    int (*next_queued)(void *arg, td_msg_t **out);
    /* Sends input_request *request_p on stdin (consumed), waits for the reply and returns 0 with a
     * malloc'd *value, or TD_ESTATE when td_kcore_stop_requested() turned true meanwhile. */
    int (*input)(void *arg, td_msg_t **request_p, char **value);
    void *arg;
} td_kcore_io_t;

/* IOPub publishing. The core calls these only while holding its IOPub lock, from any thread. */
typedef struct td_kcore_pub {
    /* Publishes msg (its identities are the topic). Always consumes *msg_p. */
    void (*send)(void *arg, td_msg_t **msg_p);
    /* Reads one pending subscription without waiting: 1 and the topic in buf, or 0. May be NULL. */
    int (*next_subscription)(void *arg, char *buf, size_t cap);
    void *arg;
} td_kcore_pub_t;

typedef struct td_kcore_config {
    const td_env_t *env;          /* clock and randomness; borrowed, must outlive the core */
    const td_interp_ops_t *interp;/* the language backend */
    const td_kcore_pub_t *pub;    /* copied */
    td_history_t *history;        /* borrowed; may be NULL (no history) */
    const char *username;         /* header username */
    int welcome;                  /* 1: publish iopub_welcome for new subscriptions */
    /* Delivers an interrupt requested on the control thread to the backend's thread (the kernel
     * sends itself SIGINT). NULL: interrupt directly, for single-threaded drivers such as tests. */
    void (*raise_interrupt)(void *arg);
    void *raise_arg;
} td_kcore_config_t;

/* Creates the core and its backend. NULL on failure; caller owns. */
td_kcore_t *td_kcore_new(const td_kcore_config_t *config);

/* Frees the core and the backend; NULL-safe; nulls *self_p. */
void td_kcore_destroy(td_kcore_t **self_p);

/* Handles one decoded request that arrived on ch (shell or control), using the calling thread's io.
 * Consumes *msg_p. Shell requests must come from one thread; control requests from another. */
void td_kcore_handle(td_kcore_t *self, const td_kcore_io_t *io, td_channel_t ch, td_msg_t **msg_p);

/* Publishes status starting (once, at startup). */
void td_kcore_starting(td_kcore_t *self);

/* Periodic work from a helper thread: answers new subscriptions with iopub_welcome, flushes
 * stream output that has waited longer than the batching window, and re-raises an interrupt that
 * is still pending while the request runs. */
void td_kcore_tick(td_kcore_t *self);

/* Interrupts running code and any input wait. Async-signal-safe; call it on the backend's thread
 * (its SIGINT handler), never from another thread. */
void td_kcore_interrupt(td_kcore_t *self);

/* 1 once a shutdown was requested. Async-signal-safe. */
int td_kcore_shutdown_requested(const td_kcore_t *self);

/* Requests shutdown (e.g. on SIGTERM) and interrupts running code. Async-signal-safe; call it
 * on the backend's thread (a signal handler there is fine). */
void td_kcore_request_shutdown(td_kcore_t *self);

/* 1 while an interrupt or shutdown is pending for the running request (input waits poll this). */
int td_kcore_stop_requested(const td_kcore_t *self);

/* The kernel's session id (header "session"); borrowed. */
const char *td_kcore_session(const td_kcore_t *self);

#endif
