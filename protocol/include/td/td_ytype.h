/* td_ytype.h: the shared types of a td_ydoc_t: Map, Array, Text, and the XML kinds (kept and
 * exported; XmlElement attributes and XmlFragment children use the Map and Array calls). A
 * td_ytype_t is a borrowed handle owned by its document and valid until the document is destroyed,
 * even after the type is deleted (edits to a deleted type are integrated as deleted, like yjs).
 *
 * Indices and lengths of Text are UTF-16 code units; of Array, elements. Edits outside an explicit
 * transaction run in an implicit one. Edit calls return 0, TD_EINVAL (bad index, length, kind or
 * value), TD_ESTATE (inside an observer) or TD_ENOMEM. */
#ifndef TD_YTYPE_H
#define TD_YTYPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td_types.h"
#include "td_ydoc.h"
#include "td_yupdate.h"

/* A root whose kind nobody has declared yet (yjs's bare AbstractType). */
#define TD_YTYPE_UNDEFINED (-1)

/* ---- any type ---------------------------------------------------------------------------------
 */

/* TD_YTYPE_* or TD_YTYPE_UNDEFINED. */
TD_EXPORT int td_ytype_kind(const td_ytype_t *t);
TD_EXPORT td_ydoc_t *td_ytype_doc(const td_ytype_t *t);
/* The type holding t, or NULL for a root (or once t's item has been garbage-collected). */
TD_EXPORT td_ytype_t *td_ytype_parent(const td_ytype_t *t);
/* A root's name; NULL for nested types. Borrowed. */
TD_EXPORT const char *td_ytype_name(const td_ytype_t *t);
/* XmlElement node name or XmlHook hook name; NULL otherwise. Borrowed. */
TD_EXPORT const char *td_ytype_node_name(const td_ytype_t *t);
/* The id of the item holding a nested type (false for roots). */
TD_EXPORT bool td_ytype_id(const td_ytype_t *t, td_yid_t *out);
/* True when t or one of its ancestors is deleted. */
TD_EXPORT bool td_ytype_deleted(const td_ytype_t *t);
/* Array: elements; Text: UTF-16 units; Map: live keys. */
TD_EXPORT size_t td_ytype_len(const td_ytype_t *t);
/* Where t sits: a JSON array [root name, key or index, ...] (yjs event path from the doc). New
 * reference; NULL on OOM or for a deleted type. */
TD_EXPORT json_t *td_ytype_path(const td_ytype_t *t);
/* yjs toJSON: Map -> object, Array -> array, Text -> string, XML -> string (yjs toString), an
 * UNDEFINED root -> its list as an array, or its map as an object when it has no list.
 * Binary -> array of byte values; subdocument -> {"guid": ...}. New reference; NULL on OOM. */
TD_EXPORT json_t *td_ytype_to_json(const td_ytype_t *t);

/* ---- Map (also XmlElement / XmlHook attributes) -----------------------------------------------
 */

/* Sets key to a JSON value (Any content). */
TD_EXPORT int td_ymap_set_json(td_ytype_t *map, const char *key, const json_t *value);
/* Sets key to bytes (Binary content). */
TD_EXPORT int td_ymap_set_binary(td_ytype_t *map, const char *key, const uint8_t *p, size_t n);
/* Sets key to a new empty nested type of kind (node_name for XmlElement / XmlHook, else NULL);
 * *out (optional) receives the borrowed handle, to be filled in the same or later transactions. */
TD_EXPORT int td_ymap_set_type(td_ytype_t *map, const char *key, int kind, const char *node_name,
                               td_ytype_t **out);
/* Deletes key. TD_ENOENT when it has no live value. */
TD_EXPORT int td_ymap_delete(td_ytype_t *map, const char *key);
TD_EXPORT bool td_ymap_has(const td_ytype_t *map, const char *key);
/* The value as JSON (nested types converted); new reference, NULL when absent or on OOM. */
TD_EXPORT json_t *td_ymap_get_json(const td_ytype_t *map, const char *key);
/* The nested type at key; borrowed, NULL when absent or not a type. */
TD_EXPORT td_ytype_t *td_ymap_get_type(const td_ytype_t *map, const char *key);
/* Live keys, in first-set order: fills keys[0..cap) (borrowed) and returns how many exist. */
TD_EXPORT size_t td_ymap_keys(const td_ytype_t *map, const char **keys, size_t cap);

/* ---- Array (also XmlFragment / XmlElement children) -------------------------------------------
 */

/* Inserts the elements of the JSON array values at index, as yjs insert(index, [...]) does (one
 * Any item). */
TD_EXPORT int td_yarray_insert_json(td_ytype_t *arr, size_t index, const json_t *values);
/* Appends after the last item (yjs push). */
TD_EXPORT int td_yarray_push_json(td_ytype_t *arr, const json_t *values);
/* Inserts bytes as one element (Binary content). */
TD_EXPORT int td_yarray_insert_binary(td_ytype_t *arr, size_t index, const uint8_t *p, size_t n);
/* Inserts a new empty nested type; *out (optional) receives the borrowed handle. */
TD_EXPORT int td_yarray_insert_type(td_ytype_t *arr, size_t index, int kind, const char *node_name,
                                    td_ytype_t **out);
TD_EXPORT int td_yarray_push_type(td_ytype_t *arr, int kind, const char *node_name,
                                  td_ytype_t **out);
/* Deletes len elements from index. */
TD_EXPORT int td_yarray_delete(td_ytype_t *arr, size_t index, size_t len);
/* Element index as JSON; new reference, NULL when out of range or on OOM. */
TD_EXPORT json_t *td_yarray_get_json(const td_ytype_t *arr, size_t index);
/* Element index when it is a nested type; borrowed, NULL otherwise. */
TD_EXPORT td_ytype_t *td_yarray_get_type(const td_ytype_t *arr, size_t index);

/* ---- Text (also XmlText) ----------------------------------------------------------------------
 */

/* Inserts UTF-8 text (validated) at a UTF-16 index. attrs: a JSON object of formatting attributes
 * (null values remove one), or NULL to continue the formatting found at index (yjs insert). */
TD_EXPORT int td_ytext_insert(td_ytype_t *text, size_t index, const char *utf8, size_t n,
                              const json_t *attrs);
/* Inserts an embed (any JSON value, one unit long) with optional attrs. */
TD_EXPORT int td_ytext_insert_embed(td_ytype_t *text, size_t index, const json_t *embed,
                                    const json_t *attrs);
/* Deletes len UTF-16 units from index. */
TD_EXPORT int td_ytext_delete(td_ytype_t *text, size_t index, size_t len);
/* Applies formatting attributes (a JSON object; null removes) to [index, index + len). */
TD_EXPORT int td_ytext_format(td_ytype_t *text, size_t index, size_t len, const json_t *attrs);
/* The plain text as NUL-terminated UTF-8; caller frees *out. 0 or TD_ENOMEM. */
TD_EXPORT int td_ytext_string(const td_ytype_t *text, char **out, size_t *len);
/* The rich text as a Quill delta ([{"insert": ..., "attributes": {...}}]). New reference. */
TD_EXPORT json_t *td_ytext_delta(const td_ytype_t *text);

#endif
