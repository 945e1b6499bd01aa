/* td_ysync.c: y-protocols sync messages and the y-websocket outer framing, as pure codecs. Nothing
 * here allocates: a decoder only walks the caller's bytes and hands back views, so a length field
 * can never make us reserve memory; a length larger than what is left is simply a truncation
 * error. Payload bytes (state vectors, updates, awareness updates) are opaque at this layer; the
 * objects that own them validate them (td_yupdate, td_ydoc, td_yawareness).
 *
 * Trailing bytes: lib0's decoders ignore bytes after a message, and y-websocket sends exactly one
 * message per WebSocket frame. We return the count consumed so the caller can decide; the relay
 * treats leftovers as a protocol error. */
#include <string.h>

#include "td/td_ysync.h"

/* ---- sync messages --------------------------------------------------------------------------- */

ssize_t td_ysync_decode(const uint8_t *p, size_t n, td_ysync_msg_t *out, td_error_t *err)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, err);
    uint64_t kind;
    if (td_lib0_dec_varuint(&d, &kind) < 0)
        return TD_EPROTO;
    if (kind > TD_YSYNC_UPDATE)
        return td_error_set(err, TD_EPROTO, 0, "unknown sync message kind %llu",
                            (unsigned long long)kind);
    td_bytes_t payload;
    if (td_lib0_dec_buf(&d, &payload) < 0)
        return TD_EPROTO;
    out->kind = (int)kind;
    out->payload = payload;
    return (ssize_t)d.pos;
}

void td_ysync_encode(td_lib0_enc_t *e, int kind, const uint8_t *payload, size_t n)
{
    td_lib0_write_varuint(e, (uint64_t)kind);
    td_lib0_write_buf(e, payload, n);
}

void td_ysync_encode_step1(td_lib0_enc_t *e, const uint8_t *sv, size_t n)
{
    td_ysync_encode(e, TD_YSYNC_STEP1, sv, n);
}

void td_ysync_encode_step2(td_lib0_enc_t *e, const uint8_t *update, size_t n)
{
    td_ysync_encode(e, TD_YSYNC_STEP2, update, n);
}

void td_ysync_encode_update(td_lib0_enc_t *e, const uint8_t *update, size_t n)
{
    td_ysync_encode(e, TD_YSYNC_UPDATE, update, n);
}

/* ---- y-websocket framing --------------------------------------------------------------------- */

ssize_t td_ysync_ws_decode(const uint8_t *p, size_t n, td_ysync_ws_msg_t *out, td_error_t *err)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, err);
    uint64_t type;
    if (td_lib0_dec_varuint(&d, &type) < 0)
        return TD_EPROTO;
    memset(out, 0, sizeof *out);
    out->type = type;
    size_t start = d.pos;
    switch (type) {
    case TD_YSYNC_WS_SYNC: {
        /* The sync decoder reports offsets relative to its slice; shift them to the frame. */
        td_error_t sub = {0};
        ssize_t r = td_ysync_decode(p + start, n - start, &out->sync, &sub);
        if (r < 0)
            return td_error_set(err, sub.code, start + sub.offset, "sync: %s", sub.text);
        out->body = (td_bytes_t){p + start, (size_t)r};
        return (ssize_t)(start + (size_t)r);
    }
    case TD_YSYNC_WS_AWARENESS:
        if (td_lib0_dec_buf(&d, &out->body) < 0)
            return TD_EPROTO;
        return (ssize_t)d.pos;
    case TD_YSYNC_WS_QUERY_AWARENESS:
        out->body = (td_bytes_t){p + start, 0};
        return (ssize_t)start;
    default:
        /* AUTH / RAW and unknown types: the rest of the frame belongs to the message. */
        out->body = (td_bytes_t){p + start, n - start};
        return (ssize_t)n;
    }
}

void td_ysync_ws_encode_sync(td_lib0_enc_t *e, int kind, const uint8_t *payload, size_t n)
{
    td_lib0_write_varuint(e, TD_YSYNC_WS_SYNC);
    td_ysync_encode(e, kind, payload, n);
}

void td_ysync_ws_encode_awareness(td_lib0_enc_t *e, const uint8_t *update, size_t n)
{
    td_lib0_write_varuint(e, TD_YSYNC_WS_AWARENESS);
    td_lib0_write_buf(e, update, n);
}

void td_ysync_ws_encode_query_awareness(td_lib0_enc_t *e)
{
    td_lib0_write_varuint(e, TD_YSYNC_WS_QUERY_AWARENESS);
}

void td_ysync_ws_encode_auth_denied(td_lib0_enc_t *e, const char *reason, size_t n)
{
    td_lib0_write_varuint(e, TD_YSYNC_WS_AUTH);
    td_lib0_write_varuint(e, 0); /* y-protocols auth.js: messagePermissionDenied */
    td_lib0_write_string(e, reason, n);
}

void td_ysync_ws_encode_raw(td_lib0_enc_t *e, const char *text, size_t n)
{
    td_lib0_write_varuint(e, TD_YSYNC_WS_RAW);
    td_lib0_write_string(e, text, n);
}

void td_ysync_ws_encode_raw_save(td_lib0_enc_t *e, uint64_t id)
{
    td_lib0_write_varuint(e, TD_YSYNC_WS_RAW);
    td_lib0_write_string(e, "save", 4);
    td_lib0_write_varuint(e, id);
}

ssize_t td_ysync_raw_decode(td_bytes_t body, td_ysync_raw_t *out, td_error_t *err)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, body.data, body.len, err);
    memset(out, 0, sizeof *out);
    if (td_lib0_dec_string(&d, &out->text) < 0)
        return TD_EPROTO;
    if (out->text.len == 4 && memcmp(out->text.data, "save", 4) == 0) {
        if (td_lib0_dec_varuint(&d, &out->id) < 0)
            return TD_EPROTO;
        out->has_id = true;
    }
    return (ssize_t)d.pos;
}

ssize_t td_ysync_auth_decode(td_bytes_t body, bool *denied, td_bytes_t *reason, td_error_t *err)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, body.data, body.len, err);
    uint64_t sub;
    if (td_lib0_dec_varuint(&d, &sub) < 0)
        return TD_EPROTO;
    if (sub != 0)
        return td_error_set(err, TD_EPROTO, 0, "unknown auth message %llu",
                            (unsigned long long)sub);
    if (td_lib0_dec_string(&d, reason) < 0)
        return TD_EPROTO;
    *denied = true;
    return (ssize_t)d.pos;
}
