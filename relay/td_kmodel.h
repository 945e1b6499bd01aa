/* td_kmodel.h: the JSON models tandem-relay answers with, shaped exactly as jupyter_server's
 * (ids are UUIDs, dates "YYYY-MM-DDTHH:MM:SS.ffffffZ", connections an int), plus the rule of which
 * kernel messages count as activity. Pure: values in, jansson objects out. */
#ifndef TD_KMODEL_H
#define TD_KMODEL_H

#include <stdint.h>

#include <jansson.h>

/* What the kernel model is made of; strings are borrowed. reason may be NULL (then omitted). */
typedef struct td_kinfo {
    const char *id;
    const char *name;
    int64_t last_activity_us;
    const char *execution_state; /* starting | idle | busy | restarting | dead */
    int connections;
    const char *reason;
} td_kinfo_t;

/* {"id","name","last_activity","execution_state","connections"[,"reason"]}; new reference. */
json_t *td_kmodel_kernel(const td_kinfo_t *k);

/* A session model around a kernel model (stolen, may be NULL → null). The legacy "notebook" key is
 * present only for type "notebook". New reference. */
json_t *td_kmodel_session(const char *id, const char *path, const char *name, const char *type,
                          json_t *kernel_new);

/* The error body {"message": message, "reason": reason or null} as new JSON text (caller frees). */
char *td_kmodel_error(const char *message, const char *reason);

/* 1 when a status whose parent has this msg_type reflects user activity (and so updates
 * execution_state and last_activity); 0 for the untracked requests (kernel_info, comm_info,
 * shutdown, interrupt, debug, usage). */
int td_kmodel_tracked(const char *parent_msg_type);

#endif
