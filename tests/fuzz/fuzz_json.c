/* fuzz_json.c: td_json_parse differentially against jansson's json_loadb. The whole input is parsed
 * with flags 0, then the input after its first byte with that byte's low five bits as flags (every
 * combination td_json_parse_flags supports). Both parsers must accept or reject alike; when they
 * accept, the trees must be identical (types, integer values, real bits, string bytes, key order)
 * and td_json must have used exactly the bytes jansson's lexer did. A rejection must come with an
 * error code and an offset inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_json.h"

static int s_same(json_t *a, json_t *b)
{
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_INTEGER:
        return json_integer_value(a) == json_integer_value(b);
    case JSON_REAL: {
        double x = json_real_value(a), y = json_real_value(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!s_same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        void *ia = json_object_iter(a), *ib = json_object_iter(b);
        for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib)) {
            size_t ka = json_object_iter_key_len(ia), kb = json_object_iter_key_len(ib);
            if (ka != kb || memcmp(json_object_iter_key(ia), json_object_iter_key(ib), ka) != 0 ||
                !s_same(json_object_iter_value(ia), json_object_iter_value(ib)))
                return 0;
        }
        return ia == NULL && ib == NULL;
    }
    default:
        return 1;
    }
}

static void s_diff(const uint8_t *data, size_t size, size_t flags)
{
    json_error_t je;
    json_t *a = json_loadb((const char *)data, size, flags, &je);
    json_t *b = NULL;
    td_error_t err = {0};
    ssize_t r = td_json_parse_flags((const char *)data, size, flags, &b, &err);
    if ((a != NULL) != (r >= 0))
        abort();
    if (a == NULL) {
        if (b != NULL || err.code != r || (r != TD_EPROTO && r != TD_ENOMEM) || err.offset > size)
            abort();
        return;
    }
    /* jansson leaves its lexer's position in the error even on success; it does not count a NUL
     * its lexer dropped (see s_after_scalar in td_json.c). */
    if (r > (ssize_t)size || (r != (ssize_t)je.position && memchr(data, 0, (size_t)r) == NULL))
        abort();
    if (!(flags & JSON_DISABLE_EOF_CHECK) && r != (ssize_t)size)
        abort();
    if (!json_equal(a, b) || !s_same(a, b))
        abort();
    json_decref(a);
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_diff(data, size, 0);
    if (size > 0)
        s_diff(data + 1, size - 1, data[0] & TD_JSON_FLAGS);
    return 0;
}
