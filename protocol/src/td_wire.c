/* td_wire.c: encode and decode the Jupyter multipart framing. Decoding is ordered so that untrusted
 * bytes are trusted as late as possible: find the delimiter, check the frame count, verify the
 * HMAC over the four raw JSON frames, and only then parse them (with td_json, which accepts what
 * json_loadb accepts, several times faster). The signed bytes are never re-serialised. Encoding
 * signs exactly the bytes it emits, written by td_json_dump (json_dumps's compact output, faster). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_json.h"
#include "td/td_wire.h"

#define DELIM_LEN (sizeof TD_WIRE_DELIM - 1)

void td_frames_fini(td_frames_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->data[i]);
    free(f->data);
    free(f->len);
    memset(f, 0, sizeof *f);
}

static int s_put(td_frames_t *f, size_t i, const void *data, size_t len)
{
    f->data[i] = malloc(len ? len : 1);
    if (f->data[i] == NULL)
        return TD_ENOMEM;
    if (len)
        memcpy(f->data[i], data, len);
    f->len[i] = len;
    return 0;
}

int td_wire_encode(const td_msg_t *msg, const td_hmac_t *key, td_frames_t *out)
{
    const td_bytes_t *ids, *bufs;
    size_t nids = td_msg_identities(msg, &ids);
    size_t nbufs = td_msg_buffers(msg, &bufs);
    memset(out, 0, sizeof *out);
    size_t n = nids + 6 + nbufs;
    out->data = calloc(n, sizeof *out->data);
    out->len = calloc(n, sizeof *out->len);
    if (out->data == NULL || out->len == NULL) {
        td_frames_fini(out);
        return TD_ENOMEM;
    }
    out->n = n;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nids; i++)
        rc = s_put(out, i, ids[i].data, ids[i].len);
    if (rc == 0)
        rc = s_put(out, nids, TD_WIRE_DELIM, DELIM_LEN);
    json_t *parts[4] = {td_msg_header(msg), td_msg_parent(msg), td_msg_metadata(msg),
                        td_msg_content(msg)};
    td_bytes_t signed_parts[4];
    for (int i = 0; rc == 0 && i < 4; i++) {
        size_t len;
        char *text;
        if ((rc = td_json_dump(parts[i], &text, &len)) != 0)
            break;
        /* Take the serialised text as the frame itself: no copy. */
        out->data[nids + 2 + i] = (uint8_t *)text;
        out->len[nids + 2 + i] = len;
        signed_parts[i] = (td_bytes_t){out->data[nids + 2 + i], out->len[nids + 2 + i]};
    }
    char sig[TD_HMAC_HEX_MAX + 1];
    if (rc == 0) {
        int len = td_hmac_sign(key, signed_parts, 4, sig);
        rc = len < 0 ? len : s_put(out, nids + 1, sig, (size_t)len);
    }
    for (size_t i = 0; rc == 0 && i < nbufs; i++)
        rc = s_put(out, nids + 6 + i, bufs[i].data, bufs[i].len);
    if (rc != 0)
        td_frames_fini(out);
    return rc;
}

/* Reads header.msg_id from an unverified header frame, only to name a dropped message in a log. */
static void s_peek_id(td_bytes_t header, char *out, size_t cap)
{
    json_t *h = NULL;
    td_json_parse((const char *)header.data, header.len, &h, NULL);
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    snprintf(out, cap, "%.64s", id ? id : "?");
    json_decref(h);
}

static json_t *s_parse_object(td_bytes_t b, size_t index, const char *what, td_error_t *err)
{
    json_t *v = NULL;
    td_error_t jerr = {0};
    if (td_json_parse((const char *)b.data, b.len, &v, &jerr) < 0) {
        td_error_set(err, TD_EPROTO, index, "%s is not valid JSON: %s at %zu", what, jerr.text,
                     jerr.offset);
        return NULL;
    }
    if (!json_is_object(v)) {
        td_error_set(err, TD_EPROTO, index, "%s is not a JSON object", what);
        json_decref(v);
        return NULL;
    }
    return v;
}

int td_wire_split(const td_bytes_t *frames, size_t nframes, const td_hmac_t *key,
                  td_wire_parts_t *out, td_error_t *err)
{
    size_t d = 0;
    while (d < nframes && d <= TD_WIRE_MAX_IDS &&
           !(frames[d].len == DELIM_LEN && memcmp(frames[d].data, TD_WIRE_DELIM, DELIM_LEN) == 0))
        d++;
    if (d == nframes || d > TD_WIRE_MAX_IDS)
        return td_error_set(err, TD_EPROTO, d, "no <IDS|MSG> delimiter");
    if (nframes - d < 6)
        return td_error_set(err, TD_EPROTO, nframes, "%zu frames after the delimiter, need 5",
                            nframes - d - 1);
    if (nframes - d - 6 > TD_WIRE_MAX_BUFFERS)
        return td_error_set(err, TD_EPROTO, nframes, "too many buffers");
    const td_bytes_t *json_frames = frames + d + 2;
    if (td_hmac_verify(key, json_frames, 4, frames[d + 1]) != 0) {
        char id[80];
        s_peek_id(json_frames[0], id, sizeof id);
        return td_error_set(err, TD_EBADSIG, d + 1, "bad or missing signature (msg_id %s)", id);
    }
    *out = (td_wire_parts_t){d, json_frames, frames + d + 6, nframes - d - 6};
    return 0;
}

int td_wire_decode(const td_bytes_t *frames, size_t nframes, const td_hmac_t *key, td_msg_t **out,
                   td_error_t *err)
{
    *out = NULL;
    td_wire_parts_t w;
    int rc = td_wire_split(frames, nframes, key, &w, err);
    if (rc != 0)
        return rc;
    static const char *what[4] = {"header", "parent_header", "metadata", "content"};
    json_t *parts[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        parts[i] = s_parse_object(w.json[i], w.nids + 2 + (size_t)i, what[i], err);
        if (parts[i] == NULL) {
            for (int j = 0; j < i; j++)
                json_decref(parts[j]);
            return TD_EPROTO;
        }
    }
    if (!json_is_string(json_object_get(parts[0], "msg_type")) ||
        !json_is_string(json_object_get(parts[0], "msg_id"))) {
        char id[80];
        s_peek_id(w.json[0], id, sizeof id);
        for (int j = 0; j < 4; j++)
            json_decref(parts[j]);
        return td_error_set(err, TD_EPROTO, w.nids + 2,
                            "header lacks msg_type or msg_id (msg_id %s)", id);
    }
    td_msg_t *msg = td_msg_new_parts(parts[0], parts[1], parts[2], parts[3]);
    rc = msg ? td_msg_set_identities(msg, frames, w.nids) : TD_ENOMEM;
    for (size_t i = 0; rc == 0 && i < w.nbuf; i++)
        rc = td_msg_add_buffer(msg, w.buf[i]);
    if (rc != 0) {
        td_msg_destroy(&msg);
        return td_error_set(err, rc, 0, "out of memory");
    }
    *out = msg;
    return 0;
}
