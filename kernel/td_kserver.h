/* td_kserver.h: tandem-kernel's ZeroMQ transport. It binds the five sockets of a connection file
 * and runs the threads: main (shell, stdin, the backend), control, heartbeat, and a tick thread
 * that flushes batched output and answers IOPub subscriptions. */
#ifndef TD_KSERVER_H
#define TD_KSERVER_H

#include "td_kcore.h"

typedef struct td_kserver td_kserver_t;

/* Binds the sockets of cf and creates the core with backend ops. NULL on failure, with the reason
 * logged. Caller owns. env and history are borrowed and must outlive the server. */
td_kserver_t *td_kserver_new(const td_connfile_t *cf, const td_env_t *env,
                             const td_interp_ops_t *ops, td_history_t *history);

/* Serves requests until a shutdown request or td_kcore_request_shutdown. Returns 0. */
int td_kserver_run(td_kserver_t *self);

/* Stops the threads, closes the sockets (lingering so the last replies leave); NULL-safe. */
void td_kserver_destroy(td_kserver_t **self_p);

/* The dispatch core, for signal handlers; borrowed. */
td_kcore_t *td_kserver_core(td_kserver_t *self);

#endif
