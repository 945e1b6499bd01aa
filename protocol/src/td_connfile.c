/* td_connfile.c: connection-file parsing and writing. Invariant after a successful decode: every
 * port is in 0..65535, transport is tcp or ipc, and key is a non-NULL string (the UTF-8 bytes of
 * the "key" value, used as the HMAC key without hex decoding, as jupyter_client does). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_connfile.h"

static const char *s_names[TD_CH_COUNT] = {"shell", "iopub", "stdin", "control", "hb"};

const char *td_channel_name(td_channel_t ch)
{
    return ch < TD_CH_COUNT ? s_names[ch] : "?";
}

static int s_port(json_t *root, td_channel_t ch, int *out, td_error_t *err)
{
    char key[32];
    snprintf(key, sizeof key, "%s_port", s_names[ch]);
    json_t *v = json_object_get(root, key);
    long long p = -1;
    if (json_is_integer(v)) {
        p = json_integer_value(v);
    } else if (json_is_string(v)) {
        char *end;
        p = strtoll(json_string_value(v), &end, 10);
        if (*json_string_value(v) == '\0' || *end != '\0')
            p = -1;
    }
    if (p < 0 || p > 65535)
        return td_error_set(err, TD_EPROTO, 0, "%s is missing or not a port number", key);
    *out = (int)p;
    return 0;
}

static int s_copy_str(json_t *root, const char *key, char *buf, size_t cap, const char *dflt,
                      td_error_t *err)
{
    json_t *v = json_object_get(root, key);
    const char *s = v ? json_string_value(v) : dflt;
    if (s == NULL || strlen(s) >= cap)
        return td_error_set(err, TD_EPROTO, 0, "%s is missing or not a short string", key);
    strcpy(buf, s);
    return 0;
}

int td_connfile_decode(const char *text, size_t len, td_connfile_t *out, td_error_t *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return td_error_set(err, TD_EPROTO, root ? 0 : (size_t)jerr.position,
                            "connection file is not a JSON object");
    }
    int rc = s_copy_str(root, "transport", out->transport, sizeof out->transport, "tcp", err);
    if (rc == 0)
        rc = s_copy_str(root, "ip", out->ip, sizeof out->ip, "127.0.0.1", err);
    if (rc == 0)
        rc = s_copy_str(root, "signature_scheme", out->signature_scheme,
                        sizeof out->signature_scheme, "hmac-sha256", err);
    if (rc == 0 && strcmp(out->transport, "tcp") != 0 && strcmp(out->transport, "ipc") != 0)
        rc = td_error_set(err, TD_EPROTO, 0, "transport must be tcp or ipc");
    for (int ch = 0; rc == 0 && ch < TD_CH_COUNT; ch++)
        rc = s_port(root, (td_channel_t)ch, &out->port[ch], err);
    json_t *key = json_object_get(root, "key");
    if (rc == 0 && key != NULL && !json_is_string(key))
        rc = td_error_set(err, TD_EPROTO, 0, "key is not a string");
    if (rc == 0) {
        out->key = strdup(key ? json_string_value(key) : "");
        const char *name = json_string_value(json_object_get(root, "kernel_name"));
        out->kernel_name = name ? strdup(name) : NULL;
        if (out->key == NULL || (name && out->kernel_name == NULL))
            rc = td_error_set(err, TD_ENOMEM, 0, "out of memory");
    }
    json_decref(root);
    if (rc != 0)
        td_connfile_fini(out);
    return rc;
}

char *td_connfile_encode(const td_connfile_t *cf)
{
    json_t *root = json_pack("{s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:s}", "shell_port",
                             cf->port[TD_CH_SHELL], "iopub_port", cf->port[TD_CH_IOPUB],
                             "stdin_port", cf->port[TD_CH_STDIN], "control_port",
                             cf->port[TD_CH_CONTROL], "hb_port", cf->port[TD_CH_HB], "ip", cf->ip,
                             "key", cf->key ? cf->key : "", "transport", cf->transport,
                             "signature_scheme", cf->signature_scheme);
    if (root && cf->kernel_name)
        json_object_set_new(root, "kernel_name", json_string(cf->kernel_name));
    char *text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
    json_decref(root);
    return text;
}

int td_connfile_endpoint(const td_connfile_t *cf, td_channel_t ch, char *buf, size_t cap)
{
    int n = strcmp(cf->transport, "ipc") == 0
                ? snprintf(buf, cap, "ipc://%s-%d", cf->ip, cf->port[ch])
                : snprintf(buf, cap, "tcp://%s:%d", cf->ip, cf->port[ch]);
    return n < 0 || (size_t)n >= cap ? TD_E2BIG : 0;
}

void td_connfile_fini(td_connfile_t *cf)
{
    if (cf == NULL)
        return;
    free(cf->key);
    free(cf->kernel_name);
    cf->key = NULL;
    cf->kernel_name = NULL;
}
