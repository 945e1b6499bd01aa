/* fuzz_login.c: what a stranger controls before (and while) signing in: the login cookie, the
 * _xsrf tokens, the form body, the Cookie header, query fragments, the Authorization header and
 * the request path. The first byte picks a decoder; the rest is its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td_auth.h"
#include "td_route.h"
#include "td_xsrf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static td_auth_t *auth;
    if (!auth) {
        auth = td_auth_new("fuzz-token");
        td_auth_set_cookie_secret(auth, (const uint8_t *)"0123456789abcdef", 16);
    }
    if (size < 1)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    char out[256];
    td_route_t route;
    const char *frags[2] = {s, s};
    switch (data[0] % 6) {
    case 0: td_auth_cookie_check(auth, s, 1795348403); break;
    case 1: {
        char *bar = strchr(s, '\n');
        if (bar)
            *bar++ = '\0';
        td_xsrf_match(s, bar ? bar : s);
        break;
    }
    case 2: td_route_form(s, size - 1, "_xsrf", out, sizeof out); break;
    case 3: td_route_cookie(s, "_xsrf", out, sizeof out); break;
    case 4:
        td_route_query(frags, 2, "token", out, sizeof out);
        td_auth_header_token(s, out, sizeof out);
        break;
    default: td_route_match(s, &route); break;
    }
    free(s);
    return 0;
}
