/* td_ytextdoc.c: text files (YFile schema: root Text "source"). Loading writes the whole text as
 * one insert by client id 0, so a file always seeds the same item; merges reuse the notebook
 * model's rebased minimal text edit (td_ynb_text_merge) inside a transaction by the caller's client
 * id, and report the update it produced, if any. */
#include <stdlib.h>
#include <string.h>

#include "td/td_ynotebook.h"
#include "td/td_ytextdoc.h"
#include "td_y_internal.h"

int td_ytextdoc_load(td_ydoc_t *doc, const char *utf8, size_t n, td_error_t *err)
{
    if (doc == NULL || (utf8 == NULL && n > 0))
        return TD_EINVAL;
    if (!td_lib0_utf8_valid((const uint8_t *)utf8, n))
        return td_error_set(err, TD_EPROTO, 0, "the file is not valid UTF-8");
    td_ytype_t *t = td_ydoc_get(doc, "source", TD_YTYPE_TEXT);
    if (t == NULL || td_ydoc_in_transaction(doc) || td_ydoc_state(doc, 0) != 0 ||
        td_ytype_len(t) != 0)
        return TD_ESTATE;
    td_ydoc_get(doc, "state", TD_YTYPE_MAP);
    if (n == 0)
        return 0;
    uint64_t own = td_ydoc_client_id(doc);
    td_ydoc_set_client_id(doc, 0);
    int rc = td_ytext_insert(t, 0, utf8, n, NULL);
    td_ydoc_set_client_id(doc, own);
    return rc;
}

int td_ytextdoc_export(const td_ydoc_t *doc, char **out, size_t *n)
{
    if (doc == NULL || out == NULL)
        return TD_EINVAL;
    *out = NULL;
    json_t *all = td_ydoc_to_json(doc);
    if (all == NULL)
        return TD_ENOMEM;
    json_t *s = json_object_get(all, "source");
    int rc = json_is_string(s) ? 0 : TD_EPROTO;
    if (rc == 0) {
        size_t len = json_string_length(s);
        *out = malloc(len + 1);
        if (*out == NULL) {
            rc = TD_ENOMEM;
        } else {
            memcpy(*out, json_string_value(s), len + 1);
            if (n != NULL)
                *n = len;
        }
    }
    json_decref(all);
    return rc;
}


int td_ytextdoc_merge(td_ydoc_t *doc, const char *base, size_t base_len, const char *disk, size_t n,
                      uint64_t client_id, void *origin, td_lib0_enc_t *update, bool *changed,
                      td_error_t *err)
{
    if (changed != NULL)
        *changed = false;
    if (doc == NULL || (disk == NULL && n > 0) || client_id > 9007199254740991ull)
        return TD_EINVAL;
    if (!td_lib0_utf8_valid((const uint8_t *)disk, n) ||
        (base != NULL && !td_lib0_utf8_valid((const uint8_t *)base, base_len)))
        return td_error_set(err, TD_EPROTO, 0, "the file is not valid UTF-8");
    td_ytype_t *t = td_ydoc_get(doc, "source", TD_YTYPE_TEXT);
    if (t == NULL || td_ydoc_in_transaction(doc))
        return TD_ESTATE;
    td__ycapture_t cap = {update, false};
    int rc = td_ydoc_observe(doc, td__ycapture, &cap);
    if (rc != 0)
        return rc;
    uint64_t own = td_ydoc_client_id(doc);
    td_ydoc_set_client_id(doc, client_id);
    rc = td_ydoc_begin(doc, origin);
    if (rc == 0) {
        rc = td_ynb_text_merge(t, base, base_len, disk ? disk : "", n);
        int rc2 = td_ydoc_commit(doc);
        rc = rc ? rc : rc2;
    }
    td_ydoc_set_client_id(doc, own);
    td_ydoc_unobserve(doc, td__ycapture, &cap);
    if (changed != NULL)
        *changed = cap.changed;
    if (update != NULL && update->err != 0 && rc == 0)
        rc = TD_ENOMEM;
    return rc;
}
