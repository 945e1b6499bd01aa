/* td_yrelpos.c: relative positions. Creation walks the type's list counting visible units, as
 * yjs does; resolution walks left from the anchored character and counts what is visible before
 * it, so it costs one pass over the list to the left of the anchor. Encoding follows yjs's
 * writeRelativePosition (tag 0 item id, 1 root name, 2 type id, then a var-int assoc). */
#include <stdlib.h>
#include <string.h>

#include "td/td_yrelpos.h"
#include "td_y_internal.h"

static void s_set_type(const td_ytype_t *type, td_yrelpos_t *out)
{
    if (type->nested) {
        out->has_type = true;
        out->type = type->id;
    } else {
        out->tname = (td_bytes_t){(const uint8_t *)type->name->s, type->name->len};
    }
}

int td_yrelpos_from_index(const td_ytype_t *type, size_t index, int64_t assoc, td_yrelpos_t *out)
{
    if (type == NULL || out == NULL)
        return TD_EINVAL;
    memset(out, 0, sizeof *out);
    out->assoc = assoc;
    s_set_type(type, out);
    if (assoc < 0) {
        if (index == 0)
            return 0;
        index--;
    }
    for (const td__item_t *t = type->start; t; t = t->right) {
        if (!td__deleted(t) && td__countable(t)) {
            if (t->len > index) {
                out->has_item = true;
                out->item = (td_yid_t){t->id.client, t->id.clock + index};
                return 0;
            }
            index -= (size_t)t->len;
        }
        if (t->right == NULL && assoc < 0) {
            out->has_item = true;
            out->item = (td_yid_t){t->id.client, t->id.clock + t->len - 1};
            return 0;
        }
    }
    return 0;
}

int td_yrelpos_resolve(td_ydoc_t *doc, const td_yrelpos_t *rp, td_ytype_t **type, size_t *index)
{
    uint64_t idx = 0;
    td_ytype_t *t = NULL;
    if (rp->has_item) {
        if (td_ydoc_state(doc, rp->item.client) <= rp->item.clock)
            return TD_ENOENT;
        const td__item_t *right = td__get_item(doc, rp->item);
        if (right->kind != TD_YSTRUCT_ITEM)
            return TD_ENOENT;
        t = right->parent;
        if (!t->nested || !(t->gcd || (t->item && (t->item->flags & TD__I_DELETED)))) {
            idx = (td__deleted(right) || !td__countable(right))
                      ? 0
                      : rp->item.clock - right->id.clock + (rp->assoc >= 0 ? 0 : 1);
            for (const td__item_t *n = right->left; n; n = n->left) {
                if (!td__deleted(n) && td__countable(n))
                    idx += n->len;
            }
        }
    } else {
        if (rp->tname.data) {
            t = td__ydoc_root_by_name(doc, (const char *)rp->tname.data, rp->tname.len, true);
            if (t == NULL)
                return TD_ENOMEM;
        } else if (rp->has_type) {
            if (td_ydoc_state(doc, rp->type.client) <= rp->type.clock)
                return TD_ENOENT;
            const td__item_t *it = td__get_item(doc, rp->type);
            if (it->kind != TD_YSTRUCT_ITEM || it->content != TD_YCONTENT_TYPE)
                return TD_ENOENT;
            t = it->c.type;
        } else {
            return TD_EINVAL;
        }
        idx = rp->assoc >= 0 ? t->length : 0;
    }
    *type = t;
    *index = (size_t)idx;
    return 0;
}

int td_yrelpos_encode(const td_yrelpos_t *rp, td_lib0_enc_t *out)
{
    if (rp->has_item) {
        td_lib0_write_u8(out, 0);
        td_lib0_write_varuint(out, rp->item.client);
        td_lib0_write_varuint(out, rp->item.clock);
    } else if (rp->tname.data) {
        td_lib0_write_u8(out, 1);
        td_lib0_write_buf(out, rp->tname.data, rp->tname.len);
    } else if (rp->has_type) {
        td_lib0_write_u8(out, 2);
        td_lib0_write_varuint(out, rp->type.client);
        td_lib0_write_varuint(out, rp->type.clock);
    } else {
        return TD_EINVAL;
    }
    td_lib0_write_varint(out, rp->assoc);
    return out->err;
}

ssize_t td_yrelpos_decode(const uint8_t *p, size_t n, td_yrelpos_t *out, td_error_t *err)
{
    td_lib0_dec_t d;
    td_lib0_dec_init(&d, p, n, err);
    memset(out, 0, sizeof *out);
    uint64_t tag = 0;
    int rc = td_lib0_dec_varuint(&d, &tag);
    if (rc != 0)
        return rc;
    switch (tag) {
    case 0:
        out->has_item = true;
        if ((rc = td_lib0_dec_varuint(&d, &out->item.client)) == 0)
            rc = td_lib0_dec_varuint(&d, &out->item.clock);
        break;
    case 1:
        rc = td_lib0_dec_string(&d, &out->tname);
        break;
    case 2:
        out->has_type = true;
        if ((rc = td_lib0_dec_varuint(&d, &out->type.client)) == 0)
            rc = td_lib0_dec_varuint(&d, &out->type.clock);
        break;
    default:
        return td_error_set(err, TD_EPROTO, 0, "unknown relative position kind");
    }
    if (rc == 0 && td_lib0_dec_remaining(&d) > 0)
        rc = td_lib0_dec_varint(&d, &out->assoc);
    return rc != 0 ? rc : (ssize_t)d.pos;
}

static json_t *s_id_json(td_yid_t id)
{
    return json_pack("{s:I,s:I}", "client", (json_int_t)id.client, "clock", (json_int_t)id.clock);
}

json_t *td_yrelpos_to_json(const td_yrelpos_t *rp)
{
    json_t *o = json_object();
    int bad = o == NULL;
    if (!bad && rp->has_type)
        bad |= json_object_set_new(o, "type", s_id_json(rp->type));
    if (!bad && rp->tname.data)
        bad |= json_object_set_new(o, "tname",
                                   json_stringn((const char *)rp->tname.data, rp->tname.len));
    if (!bad && rp->has_item)
        bad |= json_object_set_new(o, "item", s_id_json(rp->item));
    if (!bad)
        bad |= json_object_set_new(o, "assoc", json_integer(rp->assoc));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_id_from_json(const json_t *j, td_yid_t *id)
{
    json_t *c = json_object_get(j, "client"), *k = json_object_get(j, "clock");
    if (!json_is_integer(c) || !json_is_integer(k) || json_integer_value(c) < 0 ||
        json_integer_value(k) < 0)
        return TD_EINVAL;
    id->client = (uint64_t)json_integer_value(c);
    id->clock = (uint64_t)json_integer_value(k);
    return 0;
}

int td_yrelpos_from_json(const json_t *json, td_yrelpos_t *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(json))
        return TD_EINVAL;
    json_t *type = json_object_get(json, "type"), *tname = json_object_get(json, "tname");
    json_t *item = json_object_get(json, "item"), *assoc = json_object_get(json, "assoc");
    if (type && !json_is_null(type)) {
        out->has_type = true;
        if (s_id_from_json(type, &out->type) != 0)
            return TD_EINVAL;
    }
    if (tname && !json_is_null(tname)) {
        if (!json_is_string(tname))
            return TD_EINVAL;
        out->tname =
            (td_bytes_t){(const uint8_t *)json_string_value(tname), json_string_length(tname)};
    }
    if (item && !json_is_null(item)) {
        out->has_item = true;
        if (s_id_from_json(item, &out->item) != 0)
            return TD_EINVAL;
    }
    if (assoc && !json_is_null(assoc)) {
        if (!json_is_integer(assoc))
            return TD_EINVAL;
        out->assoc = json_integer_value(assoc);
    }
    return 0;
}

static bool s_opt_id_eq(bool ha, td_yid_t a, bool hb, td_yid_t b)
{
    return ha == hb && (!ha || (a.client == b.client && a.clock == b.clock));
}

bool td_yrelpos_equal(const td_yrelpos_t *a, const td_yrelpos_t *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL)
        return false;
    bool tn = (a->tname.data == NULL) == (b->tname.data == NULL) &&
              (a->tname.data == NULL || (a->tname.len == b->tname.len &&
                                         memcmp(a->tname.data, b->tname.data, a->tname.len) == 0));
    return tn && s_opt_id_eq(a->has_item, a->item, b->has_item, b->item) &&
           s_opt_id_eq(a->has_type, a->type, b->has_type, b->type) && a->assoc == b->assoc;
}
