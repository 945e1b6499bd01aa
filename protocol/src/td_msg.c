/* td_msg.c: the message model. Invariant: the four JSON parts are always objects (never NULL), and
 * identities and buffers are arrays of heap copies owned by the message. A message knows nothing of
 * signing or framing; td_wire does that. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_error.h"
#include "td/td_msg.h"
#include "td/td_stamp.h"

#define TD_MSG_TAG 0x7d6d7367u
#define TD_MSG_DEAD 0xdeadbeefu

typedef struct s_byteset {
    td_bytes_t *items;
    size_t n;
} s_byteset_t;

struct td_msg {
    uint32_t tag;
    json_t *header, *parent, *metadata, *content;
    s_byteset_t ids, bufs;
};

static void s_byteset_clear(s_byteset_t *set)
{
    for (size_t i = 0; i < set->n; i++)
        free((void *)set->items[i].data);
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

static int s_byteset_add(s_byteset_t *set, td_bytes_t b)
{
    td_bytes_t *grown = realloc(set->items, (set->n + 1) * sizeof *grown);
    if (grown == NULL)
        return TD_ENOMEM;
    set->items = grown;
    uint8_t *copy = malloc(b.len ? b.len : 1);
    if (copy == NULL)
        return TD_ENOMEM;
    if (b.len)
        memcpy(copy, b.data, b.len);
    set->items[set->n++] = (td_bytes_t){copy, b.len};
    return 0;
}

td_msg_t *td_msg_new_parts(json_t *header, json_t *parent, json_t *metadata, json_t *content)
{
    td_msg_t *self = calloc(1, sizeof *self);
    if (self == NULL || !json_is_object(header) || !json_is_object(parent) ||
        !json_is_object(metadata) || !json_is_object(content)) {
        json_decref(header), json_decref(parent), json_decref(metadata), json_decref(content);
        free(self);
        return NULL;
    }
    self->tag = TD_MSG_TAG;
    self->header = header;
    self->parent = parent;
    self->metadata = metadata;
    self->content = content;
    return self;
}

td_msg_t *td_msg_new(const td_env_t *env, const char *session, const char *username,
                     const char *msg_type, const td_msg_t *parent)
{
    char id[TD_UUID_LEN + 1], date[TD_DATE_LEN + 1];
    td_stamp_uuid(env, id);
    td_stamp_date(env->now_us(env->arg), date);
    json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", id, "session", session,
                               "username", username, "date", date, "msg_type", msg_type,
                               "version", TD_PROTOCOL_VERSION);
    json_t *ph = parent ? json_incref(parent->header) : json_object();
    td_msg_t *self = td_msg_new_parts(header, ph, json_object(), json_object());
    if (self && parent && td_msg_set_identities(self, parent->ids.items, parent->ids.n) != 0)
        td_msg_destroy(&self);
    return self;
}

void td_msg_destroy(td_msg_t **self_p)
{
    assert(self_p);
    td_msg_t *self = *self_p;
    if (self == NULL)
        return;
    assert(self->tag == TD_MSG_TAG);
    self->tag = TD_MSG_DEAD;
    json_decref(self->header);
    json_decref(self->parent);
    json_decref(self->metadata);
    json_decref(self->content);
    s_byteset_clear(&self->ids);
    s_byteset_clear(&self->bufs);
    free(self);
    *self_p = NULL;
}

json_t *td_msg_header(const td_msg_t *self)
{
    return self->header;
}

json_t *td_msg_parent(const td_msg_t *self)
{
    return self->parent;
}

json_t *td_msg_metadata(const td_msg_t *self)
{
    return self->metadata;
}

json_t *td_msg_content(const td_msg_t *self)
{
    return self->content;
}

static const char *s_header_str(const td_msg_t *self, const char *key)
{
    const char *s = json_string_value(json_object_get(self->header, key));
    return s ? s : "";
}

const char *td_msg_type(const td_msg_t *self)
{
    return s_header_str(self, "msg_type");
}

const char *td_msg_id(const td_msg_t *self)
{
    return s_header_str(self, "msg_id");
}

int td_msg_set_content_new(td_msg_t *self, json_t *content)
{
    if (!json_is_object(content)) {
        json_decref(content);
        return TD_EINVAL;
    }
    json_decref(self->content);
    self->content = content;
    return 0;
}

int td_msg_set_metadata_new(td_msg_t *self, json_t *metadata)
{
    if (!json_is_object(metadata)) {
        json_decref(metadata);
        return TD_EINVAL;
    }
    json_decref(self->metadata);
    self->metadata = metadata;
    return 0;
}

size_t td_msg_identities(const td_msg_t *self, const td_bytes_t **ids)
{
    *ids = self->ids.items;
    return self->ids.n;
}

int td_msg_set_identities(td_msg_t *self, const td_bytes_t *ids, size_t n)
{
    s_byteset_clear(&self->ids);
    for (size_t i = 0; i < n; i++) {
        int rc = s_byteset_add(&self->ids, ids[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

size_t td_msg_buffers(const td_msg_t *self, const td_bytes_t **bufs)
{
    *bufs = self->bufs.items;
    return self->bufs.n;
}

int td_msg_add_buffer(td_msg_t *self, td_bytes_t buf)
{
    return s_byteset_add(&self->bufs, buf);
}
