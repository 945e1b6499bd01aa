/* td_kws.c: the kernel websocket codecs (v1 and legacy) between a Jupyter Server and frontends.
 * Everything here is pure and defensive: every input is a peer's frame, so offsets are checked
 * against the frame length before any read, counts are bounded, and errors are returned, never
 * asserted. v1 decoding is zero-copy (views into the frame); legacy decoding parses JSON with
 * jansson and re-serialises the four dicts into strings the td_kws_msg_t owns. Encoders splice
 * JSON texts without parsing them, so relaying a kernel message costs one copy. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "td/td_kws.h"

static const char *const s_part_keys[4] = {"header", "parent_header", "metadata", "content"};

void td_kws_msg_fini(td_kws_msg_t *msg)
{
    if (!msg)
        return;
    free(msg->buf);
    for (int i = 0; i < 4; i++)
        free(msg->owned[i]);
    memset(msg, 0, sizeof *msg);
}

int td_kws_channel_parse(const uint8_t *s, size_t len, td_channel_t *out)
{
    static const td_channel_t chans[] = {TD_CH_SHELL, TD_CH_IOPUB, TD_CH_STDIN, TD_CH_CONTROL};
    for (size_t i = 0; i < sizeof chans / sizeof chans[0]; i++) {
        const char *name = td_channel_name(chans[i]);
        if (s && strlen(name) == len && memcmp(name, s, len) == 0) {
            *out = chans[i];
            return 0;
        }
    }
    return TD_EPROTO;
}

static uint64_t s_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void s_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t s_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void s_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

ssize_t td_kws_v1_decode(const uint8_t *p, size_t n, td_kws_msg_t *out, td_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!p || n < 8)
        return td_error_set(err, TD_EPROTO, 0, "v1 frame of %zu bytes has no offset count", n);
    uint64_t count = s_le64(p);
    /* channel + 4 JSON parts + buffers, plus the end offset. */
    if (count < 6 || count - 6 > TD_KWS_MAX_BUFFERS)
        return td_error_set(err, TD_EPROTO, 0, "v1 frame has %llu offsets",
                            (unsigned long long)count);
    size_t table = 8 * ((size_t)count + 1);
    if (table > n)
        return td_error_set(err, TD_EPROTO, 0, "v1 offset table (%zu bytes) exceeds frame (%zu)",
                            table, n);
    uint64_t prev = table;
    for (size_t i = 0; i < count; i++) {
        uint64_t off = s_le64(p + 8 * (i + 1));
        if ((i == 0 && off != table) || off < prev || off > n)
            return td_error_set(err, TD_EPROTO, 8 * (i + 1), "v1 offset %zu out of order", i);
        prev = off;
    }
    td_bytes_t chan = {p + table, (size_t)(s_le64(p + 16) - table)};
    if (td_kws_channel_parse(chan.data, chan.len, &out->channel) != 0)
        return td_error_set(err, TD_EPROTO, table, "v1 frame has an unknown channel");
    for (int i = 0; i < 4; i++) {
        uint64_t a = s_le64(p + 8 * (i + 2)), b = s_le64(p + 8 * (i + 3));
        out->part[i] = (td_bytes_t){p + a, (size_t)(b - a)};
    }
    out->nbuf = (size_t)count - 6;
    if (out->nbuf) {
        out->buf = calloc(out->nbuf, sizeof *out->buf);
        if (!out->buf)
            return td_error_set(err, TD_ENOMEM, 0, "out of memory");
        for (size_t i = 0; i < out->nbuf; i++) {
            uint64_t a = s_le64(p + 8 * (i + 6)), b = s_le64(p + 8 * (i + 7));
            out->buf[i] = (td_bytes_t){p + a, (size_t)(b - a)};
        }
    }
    return (ssize_t)n;
}

int td_kws_v1_encode(td_channel_t channel, const td_bytes_t part[4], const td_bytes_t *buf,
                     size_t nbuf, size_t headroom, uint8_t **out, size_t *len)
{
    if (channel > TD_CH_CONTROL || nbuf > TD_KWS_MAX_BUFFERS || (nbuf && !buf))
        return TD_EINVAL;
    const char *name = td_channel_name(channel);
    size_t nparts = 5 + nbuf, count = nparts + 1, table = 8 * (count + 1);
    size_t total = table + strlen(name);
    for (int i = 0; i < 4; i++)
        total += part[i].len;
    for (size_t i = 0; i < nbuf; i++)
        total += buf[i].len;
    uint8_t *mem = malloc(headroom + total);
    if (!mem)
        return TD_ENOMEM;
    uint8_t *f = mem + headroom, *w = f + table;
    s_put_le64(f, count);
    size_t k = 1;
    s_put_le64(f + 8 * k++, (uint64_t)(w - f));
    memcpy(w, name, strlen(name)), w += strlen(name);
    for (size_t i = 0; i < 4 + nbuf; i++) {
        const td_bytes_t *b = i < 4 ? &part[i] : &buf[i - 4];
        s_put_le64(f + 8 * k++, (uint64_t)(w - f));
        if (b->len)
            memcpy(w, b->data, b->len), w += b->len;
    }
    s_put_le64(f + 8 * k, (uint64_t)(w - f));
    *out = mem;
    *len = total;
    return 0;
}

/* Parses the legacy JSON object at (p, n) and fills out's channel and four owned parts. */
static int s_legacy_json(const uint8_t *p, size_t n, td_kws_msg_t *out, td_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return td_error_set(err, TD_EPROTO, 0, "legacy message is not a JSON object");
    }
    int rc = 0;
    json_t *ch = json_object_get(root, "channel");
    out->channel = TD_CH_SHELL;
    if (ch && !json_is_null(ch)) {
        if (!json_is_string(ch) ||
            td_kws_channel_parse((const uint8_t *)json_string_value(ch), json_string_length(ch),
                                 &out->channel) != 0) {
            rc = td_error_set(err, TD_EPROTO, 0, "legacy message has an unknown channel");
            goto done;
        }
    }
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(root, s_part_keys[i]);
        if (i == 0 ? !json_is_object(v) : (v && !json_is_null(v) && !json_is_object(v))) {
            rc = td_error_set(err, TD_EPROTO, 0, "legacy %s is not an object", s_part_keys[i]);
            goto done;
        }
        out->owned[i] = v && json_is_object(v) ? json_dumps(v, JSON_COMPACT) : strdup("{}");
        if (!out->owned[i]) {
            rc = td_error_set(err, TD_ENOMEM, 0, "out of memory");
            goto done;
        }
        out->part[i] = (td_bytes_t){(const uint8_t *)out->owned[i], strlen(out->owned[i])};
    }
done:
    json_decref(root);
    return rc;
}

ssize_t td_kws_legacy_decode(const uint8_t *p, size_t n, int binary, td_kws_msg_t *out,
                             td_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return td_error_set(err, TD_EPROTO, 0, "no frame");
    int rc;
    if (!binary) {
        rc = s_legacy_json(p, n, out, err);
        if (rc < 0)
            td_kws_msg_fini(out);
        return rc < 0 ? rc : (ssize_t)n;
    }
    if (n < 8)
        return td_error_set(err, TD_EPROTO, 0, "legacy binary frame of %zu bytes", n);
    uint32_t nparts = s_be32(p);
    if (nparts < 1 || nparts - 1 > TD_KWS_MAX_BUFFERS)
        return td_error_set(err, TD_EPROTO, 0, "legacy binary frame has %u parts", nparts);
    size_t table = 4 * ((size_t)nparts + 1);
    if (table > n)
        return td_error_set(err, TD_EPROTO, 0, "legacy offset table exceeds frame");
    uint32_t prev = (uint32_t)table;
    for (uint32_t i = 0; i < nparts; i++) {
        uint32_t off = s_be32(p + 4 * (i + 1));
        if ((i == 0 && off != table) || off < prev || off > n)
            return td_error_set(err, TD_EPROTO, 4 * (i + 1), "legacy offset %u out of order", i);
        prev = off;
    }
    size_t json_end = nparts > 1 ? s_be32(p + 8) : n;
    rc = s_legacy_json(p + table, json_end - table, out, err);
    if (rc == 0 && nparts > 1) {
        out->nbuf = nparts - 1;
        out->buf = calloc(out->nbuf, sizeof *out->buf);
        if (!out->buf)
            rc = td_error_set(err, TD_ENOMEM, 0, "out of memory");
        for (size_t i = 0; rc == 0 && i < out->nbuf; i++) {
            size_t a = s_be32(p + 4 * (i + 2));
            size_t b = i + 2 < nparts ? s_be32(p + 4 * (i + 3)) : n;
            out->buf[i] = (td_bytes_t){p + a, b - a};
        }
    }
    if (rc < 0)
        td_kws_msg_fini(out);
    return rc < 0 ? rc : (ssize_t)n;
}

/* Appends s (len bytes) at *w. */
static void s_put(uint8_t **w, const void *s, size_t len)
{
    if (len)
        memcpy(*w, s, len);
    *w += len;
}

int td_kws_legacy_encode(td_channel_t channel, const td_bytes_t part[4], const char *msg_id,
                         const char *msg_type, const td_bytes_t *buf, size_t nbuf,
                         size_t headroom, uint8_t **out, size_t *len, int *binary)
{
    if (channel > TD_CH_CONTROL || nbuf > TD_KWS_MAX_BUFFERS || (nbuf && !buf))
        return TD_EINVAL;
    for (int i = 0; i < 4; i++)
        if (!part[i].data || part[i].len == 0)
            return TD_EINVAL;
    /* msg_id and msg_type are escaped by jansson; the dicts are spliced verbatim. */
    json_t *sid = json_string(msg_id ? msg_id : ""), *stype = json_string(msg_type ? msg_type : "");
    char *eid = sid ? json_dumps(sid, JSON_ENCODE_ANY) : NULL;
    char *etype = stype ? json_dumps(stype, JSON_ENCODE_ANY) : NULL;
    json_decref(sid);
    json_decref(stype);
    if (!eid || !etype) {
        free(eid);
        free(etype);
        return TD_ENOMEM;
    }
    const char *name = td_channel_name(channel);
    size_t json_len = strlen("{\"header\":,\"parent_header\":,\"metadata\":,\"content\":,"
                             "\"buffers\":[],\"channel\":\"\",\"msg_id\":,\"msg_type\":}") +
                      strlen(name) + strlen(eid) + strlen(etype);
    for (int i = 0; i < 4; i++)
        json_len += part[i].len;
    size_t table = nbuf ? 4 * (nbuf + 2) : 0, total = table + json_len;
    for (size_t i = 0; i < nbuf; i++)
        total += buf[i].len;
    uint8_t *mem = malloc(headroom + total);
    if (!mem) {
        free(eid);
        free(etype);
        return TD_ENOMEM;
    }
    uint8_t *f = mem + headroom, *w = f + table;
    for (int i = 0; i < 4; i++) {
        s_put(&w, i == 0 ? "{\"" : ",\"", 2);
        s_put(&w, s_part_keys[i], strlen(s_part_keys[i]));
        s_put(&w, "\":", 2);
        s_put(&w, part[i].data, part[i].len);
    }
    s_put(&w, ",\"buffers\":[],\"channel\":\"", 25);
    s_put(&w, name, strlen(name));
    s_put(&w, "\",\"msg_id\":", 11);
    s_put(&w, eid, strlen(eid));
    s_put(&w, ",\"msg_type\":", 12);
    s_put(&w, etype, strlen(etype));
    s_put(&w, "}", 1);
    free(eid);
    free(etype);
    if (nbuf) {
        s_put_be32(f, (uint32_t)(nbuf + 1));
        s_put_be32(f + 4, (uint32_t)table);
        for (size_t i = 0; i < nbuf; i++) {
            s_put_be32(f + 4 * (i + 2), (uint32_t)(w - f));
            s_put(&w, buf[i].data, buf[i].len);
        }
    }
    *out = mem;
    *len = total;
    *binary = nbuf > 0;
    return (size_t)(w - f) == total ? 0 : TD_EINVAL;
}
