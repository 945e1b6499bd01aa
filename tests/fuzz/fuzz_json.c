/* fuzz_json.c: td_json_parse differentially against jansson's json_loadb. The whole input is parsed
 * with flags 0, then the input after its first byte with that byte's low five bits as flags (every
 * combination td_json_parse_flags supports). Both parsers must accept or reject alike; when they
 * accept, the trees must be identical (types, integer values, real bits, string bytes, key order)
 * and td_json must have used exactly the bytes jansson's lexer did. A rejection must come with an
 * error code and an offset inside the input. What parses is written back by td_json_dump, which
 * must produce json_dumps's exact bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_json.h"
#include "td_json_same.h"


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
    if (!json_equal(a, b) || !td_json_same(a, b))
        abort();
    char *want = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY), *got = NULL;
    size_t got_len = 0;
    if (want && (td_json_dump(a, &got, &got_len) != 0 || got_len != strlen(want) ||
                 memcmp(got, want, got_len) != 0))
        abort();
    free(want);
    free(got);
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
