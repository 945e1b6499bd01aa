/* td_msg.h: one Jupyter message: routing identities, header, parent_header, metadata, content and
 * binary buffers. JSON parts are jansson objects; identities and buffers are owned byte copies. */
#ifndef TD_MSG_H
#define TD_MSG_H

#include <jansson.h>

#include "td_types.h"

#define TD_PROTOCOL_VERSION "5.4"

typedef struct td_msg td_msg_t;

/* Creates a message with a fresh header: msg_id and date from env, the given session, username and
 * msg_type, version "5.4". With a parent, parent_header references the parent's header and the
 * parent's identities are copied (so a reply routes back). NULL on OOM; caller owns. */
TD_EXPORT td_msg_t *td_msg_new(const td_env_t *env, const char *session, const char *username,
                               const char *msg_type, const td_msg_t *parent);

/* Creates a message from parsed parts; steals all four (each must be an object). NULL on OOM. */
TD_EXPORT td_msg_t *td_msg_new_parts(json_t *header, json_t *parent, json_t *metadata,
                                     json_t *content);

/* Frees the message; NULL-safe; nulls *self_p. */
TD_EXPORT void td_msg_destroy(td_msg_t **self_p);

/* Borrowed references to the four JSON parts; never NULL. */
TD_EXPORT json_t *td_msg_header(const td_msg_t *self);
TD_EXPORT json_t *td_msg_parent(const td_msg_t *self);
TD_EXPORT json_t *td_msg_metadata(const td_msg_t *self);
TD_EXPORT json_t *td_msg_content(const td_msg_t *self);

/* header.msg_type and header.msg_id, or "" when missing; borrowed. */
TD_EXPORT const char *td_msg_type(const td_msg_t *self);
TD_EXPORT const char *td_msg_id(const td_msg_t *self);

/* Replaces content / metadata; steals the object even on failure. Returns 0 or TD_EINVAL. */
TD_EXPORT int td_msg_set_content_new(td_msg_t *self, json_t *content);
TD_EXPORT int td_msg_set_metadata_new(td_msg_t *self, json_t *metadata);

/* Routing identities (on iopub: the topic). Returns the count and a borrowed array in *ids. */
TD_EXPORT size_t td_msg_identities(const td_msg_t *self, const td_bytes_t **ids);
/* Replaces the identities with copies of ids[0..n). Returns 0 or TD_ENOMEM. */
TD_EXPORT int td_msg_set_identities(td_msg_t *self, const td_bytes_t *ids, size_t n);

/* Binary buffers after content. Returns the count and a borrowed array in *bufs. */
TD_EXPORT size_t td_msg_buffers(const td_msg_t *self, const td_bytes_t **bufs);
/* Appends a copy of buf. Returns 0 or TD_ENOMEM. */
TD_EXPORT int td_msg_add_buffer(td_msg_t *self, td_bytes_t buf);

#endif
