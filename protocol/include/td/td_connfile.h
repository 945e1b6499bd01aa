/* td_connfile.h: the Jupyter connection file (JEP 106), as text. Reading and writing the file
 * itself is the caller's job; this object only parses and produces the JSON. */
#ifndef TD_CONNFILE_H
#define TD_CONNFILE_H

#include "td_error.h"

typedef enum { TD_CH_SHELL, TD_CH_IOPUB, TD_CH_STDIN, TD_CH_CONTROL, TD_CH_HB, TD_CH_COUNT } td_channel_t;

typedef struct td_connfile {
    char transport[8];         /* "tcp" or "ipc" */
    char ip[256];              /* address, or the ipc path prefix */
    int port[TD_CH_COUNT];     /* indexed by td_channel_t */
    char signature_scheme[32]; /* e.g. "hmac-sha256" */
    char *key;                 /* owned; may be "" */
    char *kernel_name;         /* owned; may be NULL */
} td_connfile_t;

/* The channel's connection-file name without "_port": "shell", "iopub", ... (static). */
TD_EXPORT const char *td_channel_name(td_channel_t ch);

/* Parses connection-file JSON text into *out (caller finalises with td_connfile_fini). Unknown keys
 * are ignored; ports may be numbers or numeric strings. Returns 0, or TD_EPROTO / TD_ENOMEM with
 * err saying which field is wrong. */
TD_EXPORT int td_connfile_decode(const char *text, size_t len, td_connfile_t *out, td_error_t *err);

/* Returns the connection file as new JSON text (caller frees), or NULL on OOM. */
TD_EXPORT char *td_connfile_encode(const td_connfile_t *cf);

/* Writes the ZMQ endpoint of ch ("tcp://ip:port" or "ipc://ip-port") into buf. Returns 0, or
 * TD_E2BIG when buf is too small. */
TD_EXPORT int td_connfile_endpoint(const td_connfile_t *cf, td_channel_t ch, char *buf,
                                   size_t cap);

/* Frees the owned strings; NULL-safe. */
TD_EXPORT void td_connfile_fini(td_connfile_t *cf);

#endif
