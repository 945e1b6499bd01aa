/* td_json.h: a fast JSON (RFC 8259) parser that builds jansson values. It accepts exactly what
 * json_loadb accepts and builds the same tree (same types, numbers, strings and duplicate-key
 * rule), several times faster: strings are scanned 16 bytes at a time and handed to jansson
 * unchecked, the nesting is walked with an explicit stack, and numbers avoid strtod when the result
 * is exact.
 *
 * Notebooks are the reason: a 20 MB .ipynb must open well inside the relay's latency budget. */
#ifndef TD_JSON_H
#define TD_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "td_error.h"
#include "td_types.h"

/* jansson's JSON_PARSER_MAX_DEPTH: a value nested deeper than this (the outermost value is at depth
 * 1, a scalar counts too) is an error, as it is in json_loadb. The walk uses no recursion. */
#define TD_JSON_MAX_DEPTH 2048

/* The json_loadb flags td_json_parse_flags understands; any other bit is TD_EINVAL. */
#define TD_JSON_FLAGS                                                                              \
    (JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | \
     JSON_ALLOW_NUL)

/* Parses p[0..n) as json_loadb(p, n, 0, ...) would: one array or object, with optional whitespace
 * around it and nothing else. On success *out is a new reference (caller owns) and the return is n.
 * On failure *out is NULL and the return is TD_EPROTO (err gets the byte offset and a message
 * worded like jansson's), TD_ENOMEM, or TD_EINVAL when out is NULL or p is NULL with n > 0. Never
 * asserts on the input; p need not be NUL-terminated. */
TD_EXPORT ssize_t td_json_parse(const char *p, size_t n, json_t **out, td_error_t *err);

/* The same with json_loadb flags (a subset of TD_JSON_FLAGS), with jansson's meaning for each:
 * JSON_DECODE_ANY allows a scalar at the top, JSON_ALLOW_NUL allows \u0000 in string values (never
 * in keys), JSON_DECODE_INT_AS_REAL makes every number a real, JSON_REJECT_DUPLICATES fails on a
 * repeated key. With JSON_DISABLE_EOF_CHECK the input may continue after the value, and the return
 * is the bytes the value used (without the whitespace after it). TD_EINVAL for other flags. */
TD_EXPORT ssize_t td_json_parse_flags(const char *p, size_t n, size_t flags, json_t **out,
                                      td_error_t *err);

/* Writes v as json_dumps(v, JSON_COMPACT) would (the same bytes; a scalar too), faster: *out gets
 * a malloc'd NUL-terminated text (caller frees), *len (may be NULL) its length. Returns 0,
 * TD_ENOMEM, or TD_EINVAL for NULL or nesting deeper than TD_JSON_MAX_DEPTH (which ends a cycle). */
TD_EXPORT int td_json_dump(const json_t *v, char **out, size_t *len);

#endif
