/* fuzz_yawareness.c: awareness updates from peers. The first two bytes pick the local client,
 * whether forgotten clients are evicted (bit 3 of the first byte turns eviction off, as in
 * y-protocols) and a time step; the rest is split at 0xff 0xfe 0xfd markers into updates applied
 * one after another to a tracker at advancing times, with periodic checks in between. After each
 * step the tracker's full encoding must decode, and applying it to a second, fresh tracker must
 * reproduce every state a peer can see. A rejected update must leave the tracker unchanged, and
 * every change list must name each client at most once, all of them still encodable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td/td_yawareness.h"

/* b learnt a's encoding from scratch: it holds every state of a except those at clock 0, which
 * y-protocols never accepts from a peer (a fresh client's first state is invisible until renewed).
 */
static void s_expect_same(const td_yawareness_t *a, const td_yawareness_t *b)
{
    size_t visible = 0;
    for (size_t i = 0; i < td_yawareness_nclients(a); i++) {
        uint64_t c = td_yawareness_client(a, i), clock = 0;
        size_t la = 0, lb = 0;
        const char *sa = td_yawareness_state(a, c, &la), *sb = td_yawareness_state(b, c, &lb);
        if (!td_yawareness_clock(a, c, &clock) || (sa && clock == 0))
            continue;
        visible += sa != NULL;
        if ((sa == NULL) != (sb == NULL) || (sa && (la != lb || memcmp(sa, sb, la) != 0)))
            abort();
    }
    if (td_yawareness_nstates(b) != visible)
        abort();
}

/* No list repeats a client, and every listed client is retained (encodable). */
static void s_expect_lists(const td_yawareness_t *aw, const td_yawareness_changes_t *ch)
{
    const uint64_t *lists[4] = {ch->added, ch->updated, ch->removed, ch->changed};
    size_t lens[4] = {ch->nadded, ch->nupdated, ch->nremoved, ch->nchanged};
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    for (int l = 0; l < 4; l++) {
        for (size_t i = 0; i < lens[l]; i++) {
            for (size_t k = 0; k < i; k++) {
                if (lists[l][k] == lists[l][i])
                    abort();
            }
        }
        if (td_yawareness_encode(aw, lists[l], lens[l], &e) != 0)
            abort();
    }
    td_lib0_enc_fini(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t local = data[0] % 8;
    bool keep_forever = data[0] & 8;
    int64_t step = (int64_t)data[1] * 500;
    data += 2, size -= 2;
    td_yawareness_t *aw = td_yawareness_new(local == 7 ? TD_YAWARENESS_NO_CLIENT : local);
    if (keep_forever)
        td_yawareness_set_evict_ms(aw, -1);
    int64_t now = 1000;
    if (local != 7)
        td_yawareness_set_local(aw, "{}", 2, now, NULL);
    while (size > 0) {
        size_t n = 0;
        while (n + 2 < size && !(data[n] == 0xff && data[n + 1] == 0xfe && data[n + 2] == 0xfd))
            n++;
        if (n + 2 >= size)
            n = size;
        size_t count = 0;
        ssize_t dr = td_yawareness_decode(data, n, NULL, 0, &count, NULL);
        size_t before = td_yawareness_nstates(aw);
        td_yawareness_changes_t ch;
        td_error_t err = {0};
        ssize_t r = td_yawareness_apply(aw, data, n, now, &ch, &err);
        if ((r < 0) != (dr < 0))
            abort(); /* apply and decode must agree on validity */
        if (r < 0 && (td_yawareness_nstates(aw) != before || ch.nadded + ch.nremoved != 0))
            abort();
        s_expect_lists(aw, &ch);
        now += step;
        td_yawareness_check(aw, now, &ch);
        s_expect_lists(aw, &ch);
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        if (td_yawareness_encode_all(aw, &e) != 0 || e.err)
            abort();
        td_yawareness_t *copy = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
        if (td_yawareness_apply(copy, e.buf, e.len, now, NULL, NULL) != (ssize_t)e.len)
            abort();
        s_expect_same(aw, copy);
        td_yawareness_destroy(&copy);
        td_lib0_enc_fini(&e);
        data += n < size ? n + 3 : n;
        size -= n < size ? n + 3 : n;
    }
    td_yawareness_destroy(&aw);
    return 0;
}
