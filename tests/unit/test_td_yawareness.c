/* test_td_yawareness.c: the awareness codec and tracker. The tracker replays a 400-step session
 * recorded from y-protocols' Awareness (tests/vectors/yprotocols/awareness.inc): remote updates
 * with fresh, stale and equal clocks, null states, attempts to remove the local client, local
 * state changes, periodic checks (renewal and the 30 s timeout) and removals. After every step the
 * reported added / updated / removed lists (and the 'change' subset) and the encoding of all states
 * must equal what y-protocols reported and encoded. y-protocols never forgets a client, so that
 * replay turns eviction off; a second replay with eviction checks what must hold either way.
 * Then a room of 2,000 clients, eviction, and updates that name a client more than once. */
#include "td/td_yawareness.h"
#include "test.h"

#include "../vectors/yprotocols/awareness.inc"

static size_t s_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    TD_ASSERT(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        TD_ASSERT(sscanf(hex + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void s_join(char *out, size_t cap, const uint64_t *ids, size_t n)
{
    size_t k = strlen(out);
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%llu", i ? "," : "", (unsigned long long)ids[i]);
}

/* "added|updated|removed" as the generator prints them; with_changed uses the 'change' subset. */
static void s_format(const td_yawareness_changes_t *ch, bool change, char *out, size_t cap)
{
    out[0] = 0;
    s_join(out, cap, ch->added, ch->nadded);
    strcat(out, "|");
    if (change)
        s_join(out, cap, ch->changed, ch->nchanged);
    else
        s_join(out, cap, ch->updated, ch->nupdated);
    strcat(out, "|");
    s_join(out, cap, ch->removed, ch->nremoved);
}

/* y-protocols lists a client twice when one update names it twice; our lists hold it once. */
static void s_dedupe(const char *in, char *out, size_t cap)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", in);
    out[0] = 0;
    char *save1 = NULL;
    char *part = buf;
    for (int f = 0; f < 3; f++) {
        char *bar = strchr(part, '|');
        if (bar)
            *bar = 0;
        char seen[1024] = ",";
        int first = 1;
        for (char *tok = strtok_r(part, ",", &save1); tok; tok = strtok_r(NULL, ",", &save1)) {
            char key[64];
            snprintf(key, sizeof key, ",%s,", tok);
            if (strstr(seen, key))
                continue;
            strncat(seen, tok, sizeof seen - strlen(seen) - 2);
            strcat(seen, ",");
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", first ? "" : ",", tok);
            first = 0;
        }
        if (f < 2)
            strcat(out, "|");
        part = bar ? bar + 1 : part + strlen(part);
    }
}

/* What must hold after any call, evicting or not: no list names a client twice, every client
 * listed can be encoded (it is still retained), and encode_all holds exactly the states. */
static void s_check_report(const td_yawareness_t *aw, const td_yawareness_changes_t *ch)
{
    const uint64_t *lists[4] = {ch->added, ch->updated, ch->removed, ch->changed};
    size_t lens[4] = {ch->nadded, ch->nupdated, ch->nremoved, ch->nchanged};
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    for (int l = 0; l < 4; l++) {
        for (size_t i = 0; i < lens[l]; i++) {
            for (size_t k = 0; k < i; k++)
                TD_ASSERT(lists[l][k] != lists[l][i]);
        }
        TD_ASSERT_OK(td_yawareness_encode(aw, lists[l], lens[l], &e));
    }
    e.len = 0;
    TD_ASSERT_OK(td_yawareness_encode_all(aw, &e));
    size_t count = 99;
    TD_ASSERT_EQ(td_yawareness_decode(e.buf, e.len, NULL, 0, &count, NULL), (ssize_t)e.len);
    TD_ASSERT_EQ(count, td_yawareness_nstates(aw));
    td_lib0_enc_fini(&e);
}

static void s_scenario(bool evict)
{
    td_yawareness_t *aw = td_yawareness_new(S_SCENARIO_LOCAL);
    TD_ASSERT(aw != NULL);
    if (!evict)
        td_yawareness_set_evict_ms(aw, -1);
    static uint8_t buf[1 << 16];
    char got[4096], want[4096];
    int removals_of_local = 0, timeouts = 0, evictions = 0;
    for (size_t i = 0; i < sizeof s_aw_steps / sizeof s_aw_steps[0]; i++) {
        const struct s_aw_step *s = &s_aw_steps[i];
        td_yawareness_changes_t ch;
        size_t before = td_yawareness_nclients(aw);
        switch (s->op) {
        case 'l':
            TD_ASSERT_OK(td_yawareness_set_local(aw, s->arg, strlen(s->arg), s->now, &ch));
            break;
        case 'a': {
            size_t n = s_unhex(s->arg, buf, sizeof buf);
            td_error_t err = {0};
            TD_ASSERT_EQ(td_yawareness_apply(aw, buf, n, s->now, &ch, &err), (ssize_t)n);
            for (size_t k = 0; k < ch.nremoved; k++)
                removals_of_local += ch.removed[k] == S_SCENARIO_LOCAL;
            break;
        }
        case 'c':
            TD_ASSERT_OK(td_yawareness_check(aw, s->now, &ch));
            timeouts += ch.nremoved > 0;
            evictions += td_yawareness_nclients(aw) < before;
            break;
        case 'r': {
            uint64_t ids[2];
            TD_ASSERT(sscanf(s->arg, "%llu,%llu", (unsigned long long *)&ids[0],
                             (unsigned long long *)&ids[1]) == 2);
            TD_ASSERT_OK(td_yawareness_remove(aw, ids, 2, s->now, &ch));
            break;
        }
        default:
            TD_FAIL("bad op");
        }
        s_check_report(aw, &ch);
        if (evict)
            continue; /* forgetting clients is where we part from y-protocols on purpose */
        if (strcmp(s->update, "*") != 0) {
            s_format(&ch, false, got, sizeof got);
            s_dedupe(s->update, want, sizeof want);
            if (strcmp(got, want) != 0)
                TD_FAIL("step %zu (%c): update event %s, y-protocols %s", i, s->op, got, want);
            s_format(&ch, true, got, sizeof got);
            s_dedupe(s->change, want, sizeof want);
            if (strcmp(got, want) != 0)
                TD_FAIL("step %zu (%c): change event %s, y-protocols %s", i, s->op, got, want);
        }
        td_lib0_enc_t e;
        td_lib0_enc_init(&e);
        TD_ASSERT_OK(td_yawareness_encode_all(aw, &e));
        size_t n = s_unhex(s->all, buf, sizeof buf);
        if (e.len != n || memcmp(e.buf, buf, n) != 0)
            TD_FAIL("step %zu (%c): states encode differently", i, s->op);
        td_lib0_enc_fini(&e);
    }
    /* The recorded session must exercise the interesting rules, or this test proves little. */
    TD_ASSERT(removals_of_local > 0);
    TD_ASSERT(timeouts > 0);
    if (evict)
        TD_ASSERT(evictions > 0);
    else
        TD_ASSERT_EQ(evictions, 0);
    td_yawareness_destroy(&aw);
    TD_ASSERT(aw == NULL);
}

static void s_codec(void)
{
    uint8_t buf[512];
    size_t n = s_unhex(s_aw_client5, buf, sizeof buf);
    td_yawareness_entry_t en[2];
    size_t count = 0;
    TD_ASSERT_EQ(td_yawareness_decode(buf, n, en, 2, &count, NULL), (ssize_t)n);
    TD_ASSERT_EQ(count, 1);
    TD_ASSERT_EQ(en[0].client, 5);
    TD_ASSERT_EQ(en[0].clock, 1);
    TD_ASSERT(!en[0].is_null);
    TD_ASSERT_EQ(en[0].state.len, 22);
    TD_ASSERT_MEM_EQ(en[0].state.data, "{\"user\":{\"name\":\"al\"}}", 22);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_yawareness_encode_begin(&e, 1);
    td_yawareness_encode_entry(&e, 5, 1, (const char *)en[0].state.data, en[0].state.len);
    TD_ASSERT_EQ(e.len, n);
    TD_ASSERT_MEM_EQ(e.buf, buf, n);
    e.len = 0;

    n = s_unhex(s_aw_client5_null, buf, sizeof buf);
    TD_ASSERT_EQ(td_yawareness_decode(buf, n, en, 2, &count, NULL), (ssize_t)n);
    TD_ASSERT(en[0].is_null);
    TD_ASSERT_EQ(en[0].clock, 2);
    td_yawareness_encode_begin(&e, 1);
    td_yawareness_encode_entry(&e, 5, 2, NULL, 0);
    TD_ASSERT_EQ(e.len, n);
    TD_ASSERT_MEM_EQ(e.buf, buf, n);
    td_lib0_enc_fini(&e);

    /* A large client id, non-BMP text and an exponent number; counting call without entries. */
    n = s_unhex(s_aw_big_client, buf, sizeof buf);
    TD_ASSERT_EQ(td_yawareness_decode(buf, n, NULL, 0, &count, NULL), (ssize_t)n);
    TD_ASSERT_EQ(count, 1);
    TD_ASSERT_EQ(td_yawareness_decode(buf, n, en, 1, &count, NULL), (ssize_t)n);
    TD_ASSERT_EQ(en[0].client, 2026372272);

    /* Every truncation fails with an offset inside the input; nothing is allocated for it. */
    for (size_t cut = 0; cut < n; cut++) {
        td_error_t err = {0};
        TD_ASSERT_EQ(td_yawareness_decode(buf, cut, en, 1, &count, &err), TD_EPROTO);
        TD_ASSERT(err.offset <= cut);
    }
    /* Invalid JSON and invalid UTF-8 in the state. */
    const uint8_t bad_json[] = {0x01, 0x05, 0x01, 0x02, '{', '}' + 1};
    td_error_t err = {0};
    TD_ASSERT_EQ(td_yawareness_decode(bad_json, sizeof bad_json, NULL, 0, &count, &err), TD_EPROTO);
    TD_ASSERT_EQ(err.offset, 3);
    const uint8_t bad_utf8[] = {0x01, 0x05, 0x01, 0x03, '"', 0xc3, '"'};
    TD_ASSERT_EQ(td_yawareness_decode(bad_utf8, sizeof bad_utf8, NULL, 0, &count, NULL), TD_EPROTO);
    /* A count that cannot fit the bytes left. */
    const uint8_t lying[] = {0xff, 0xff, 0x03, 0x05, 0x01, 0x02, '{', '}'};
    TD_ASSERT_EQ(td_yawareness_decode(lying, sizeof lying, NULL, 0, &count, NULL), TD_EPROTO);
}

static void s_tracker_rules(void)
{
    td_yawareness_t *aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    td_yawareness_changes_t ch;
    TD_ASSERT_EQ(td_yawareness_set_local(aw, "{}", 2, 0, &ch), TD_EINVAL);
    /* Client 9 at clock 4 with a state, then a malformed update that must change nothing. */
    const uint8_t up[] = {0x01, 0x09, 0x04, 0x02, '{', '}'};
    TD_ASSERT_EQ(td_yawareness_apply(aw, up, sizeof up, 1000, &ch, NULL), (ssize_t)sizeof up);
    TD_ASSERT_EQ(ch.nadded, 1);
    TD_ASSERT_EQ(ch.added[0], 9);
    const uint8_t half_bad[] = {0x02, 0x09, 0x05, 0x04, 'n', 'u', 'l', 'l', 0x0a, 0x01, 0x01, '{'};
    td_error_t err = {0};
    TD_ASSERT_EQ(td_yawareness_apply(aw, half_bad, sizeof half_bad, 1000, &ch, &err), TD_EPROTO);
    TD_ASSERT_EQ(ch.nremoved, 0);
    TD_ASSERT(td_yawareness_state(aw, 9, NULL) != NULL);
    uint64_t clock = 0;
    TD_ASSERT(td_yawareness_clock(aw, 9, &clock) && clock == 4);
    /* Equal clock with null removes; the clock stays. */
    const uint8_t rm[] = {0x01, 0x09, 0x04, 0x04, 'n', 'u', 'l', 'l'};
    TD_ASSERT_EQ(td_yawareness_apply(aw, rm, sizeof rm, 2000, &ch, NULL), (ssize_t)sizeof rm);
    TD_ASSERT_EQ(ch.nremoved, 1);
    TD_ASSERT(td_yawareness_state(aw, 9, NULL) == NULL);
    TD_ASSERT_EQ(td_yawareness_nstates(aw), 0);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 1);
    /* The same removal again is no change: there is no state left to remove. */
    TD_ASSERT_EQ(td_yawareness_apply(aw, rm, sizeof rm, 2500, &ch, NULL), (ssize_t)sizeof rm);
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    /* A stale state after the removal is refused. */
    TD_ASSERT_EQ(td_yawareness_apply(aw, up, sizeof up, 3000, &ch, NULL), (ssize_t)sizeof up);
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    TD_ASSERT_EQ(td_yawareness_encode(aw, (uint64_t[]){7}, 1, NULL), TD_ENOENT);
    td_yawareness_destroy(&aw);

    /* The local clock saturates at 2^53 - 1 instead of producing an unencodable clock. */
    aw = td_yawareness_new(1);
    TD_ASSERT_OK(td_yawareness_set_local(aw, "{\"a\":1}", 7, 0, &ch));
    TD_ASSERT_EQ(ch.nadded, 1);
    TD_ASSERT_OK(td_yawareness_set_local(aw, "{\"a\":1.0}", 9, 0, &ch));
    TD_ASSERT_EQ(ch.nupdated, 1);
    TD_ASSERT_EQ(ch.nchanged, 0); /* 1 and 1.0 are the same number */
    const uint8_t max_null[] = {0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0x0f, 0x04, 'n',  'u',  'l',  'l'};
    TD_ASSERT_EQ(td_yawareness_apply(aw, max_null, sizeof max_null, 0, &ch, NULL),
                 (ssize_t)sizeof max_null);
    TD_ASSERT(td_yawareness_state(aw, 1, NULL) != NULL);
    TD_ASSERT(td_yawareness_clock(aw, 1, &clock) && clock == TD_LIB0_MAX_SAFE_INT);
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_OK(td_yawareness_encode(aw, (uint64_t[]){1}, 1, &e));
    TD_ASSERT_OK(e.err);
    td_lib0_enc_fini(&e);
    TD_ASSERT_EQ(td_yawareness_set_local(aw, "{", 1, 0, &ch), TD_EINVAL);
    td_yawareness_destroy(&aw);
    td_yawareness_destroy(&aw); /* NULL-safe */
}

/* ---- many clients, eviction, repeated clients ------------------------------------------------ */

#define S_MANY 2000

/* Client ids that share their low bits, so that a weak index hash would pile them up. */
static uint64_t s_id(size_t i)
{
    return 5 + (uint64_t)i * 4096;
}

static const char *s_user(uint64_t id, int v, char *buf, size_t cap)
{
    snprintf(buf, cap, "{\"user\":{\"name\":\"u%llu\"},\"v\":%d}", (unsigned long long)id, v);
    return buf;
}

static void s_entry(td_lib0_enc_t *e, uint64_t client, uint64_t clock, const char *state)
{
    td_yawareness_encode_entry(e, client, clock, state, state ? strlen(state) : 0);
}

/* Applies the update in e, which must be accepted whole, and empties e. */
static void s_apply_enc(td_yawareness_t *aw, td_lib0_enc_t *e, int64_t now,
                        td_yawareness_changes_t *ch)
{
    TD_ASSERT_OK(e->err);
    TD_ASSERT_EQ(td_yawareness_apply(aw, e->buf, e->len, now, ch, NULL), (ssize_t)e->len);
    e->len = 0;
}

/* One client's one-entry update. */
static void s_apply1(td_yawareness_t *aw, uint64_t client, uint64_t clock, const char *state,
                     int64_t now, td_yawareness_changes_t *ch)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    td_yawareness_encode_begin(&e, 1);
    s_entry(&e, client, clock, state);
    s_apply_enc(aw, &e, now, ch);
    td_lib0_enc_fini(&e);
}

static void s_many(void)
{
    td_yawareness_t *aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    td_yawareness_changes_t ch;
    uint64_t clock = 0;
    td_lib0_enc_t e, e2;
    td_lib0_enc_init(&e);
    td_lib0_enc_init(&e2);
    char st[64];
    /* Everyone joins in one update. */
    td_yawareness_encode_begin(&e, S_MANY);
    for (size_t i = 0; i < S_MANY; i++)
        s_entry(&e, s_id(i), 1, s_user(s_id(i), 0, st, sizeof st));
    s_apply_enc(aw, &e, 0, &ch);
    TD_ASSERT_EQ(ch.nadded, S_MANY);
    for (size_t i = 0; i < S_MANY; i++)
        TD_ASSERT_EQ(ch.added[i], s_id(i));
    TD_ASSERT_EQ(td_yawareness_nstates(aw), S_MANY);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), S_MANY);
    /* Each renews on its own with an unchanged state: `updated`, not `changed`. */
    for (size_t i = 0; i < S_MANY; i++) {
        s_apply1(aw, s_id(i), 2, s_user(s_id(i), 0, st, sizeof st), 15000, &ch);
        TD_ASSERT_EQ(ch.nadded + ch.nremoved, 0);
        TD_ASSERT_EQ(ch.nupdated, 1);
        TD_ASSERT_EQ(ch.updated[0], s_id(i));
        TD_ASSERT_EQ(ch.nchanged, 0);
    }
    /* One update renews everyone; every other client changes its state. */
    td_yawareness_encode_begin(&e, S_MANY);
    for (size_t i = 0; i < S_MANY; i++)
        s_entry(&e, s_id(i), 3, s_user(s_id(i), (int)(i % 2), st, sizeof st));
    s_apply_enc(aw, &e, 20000, &ch);
    TD_ASSERT_EQ(ch.nupdated, S_MANY);
    TD_ASSERT_EQ(ch.nchanged, S_MANY / 2);
    for (size_t k = 0; k < S_MANY / 2; k++)
        TD_ASSERT_EQ(ch.changed[k], s_id(2 * k + 1));
    TD_ASSERT_OK(td_yawareness_check(aw, 20000 + TD_YAWARENESS_TIMEOUT_MS - 1, &ch));
    TD_ASSERT_EQ(ch.nremoved, 0);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), S_MANY);
    /* encode_all round-trips: a fresh tracker learns every state, in the same order. */
    TD_ASSERT_OK(td_yawareness_encode_all(aw, &e));
    td_yawareness_t *copy = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    TD_ASSERT_EQ(td_yawareness_apply(copy, e.buf, e.len, 25000, &ch, NULL), (ssize_t)e.len);
    TD_ASSERT_EQ(ch.nadded, S_MANY);
    TD_ASSERT_EQ(td_yawareness_nstates(copy), S_MANY);
    TD_ASSERT_OK(td_yawareness_encode_all(copy, &e2));
    TD_ASSERT_EQ(e2.len, e.len);
    TD_ASSERT_MEM_EQ(e2.buf, e.buf, e.len);
    TD_ASSERT_STR_EQ(td_yawareness_state(copy, s_id(S_MANY - 1), NULL),
                     s_user(s_id(S_MANY - 1), 1, st, sizeof st));
    td_yawareness_destroy(&copy);
    e.len = e2.len = 0;
    /* Everyone leaves in one call. The clocks stay until the records are forgotten, so a late
     * renewal is refused meanwhile. */
    uint64_t *ids = malloc(S_MANY * sizeof *ids);
    TD_ASSERT(ids != NULL);
    for (size_t i = 0; i < S_MANY; i++)
        ids[i] = s_id(i);
    TD_ASSERT_OK(td_yawareness_remove(aw, ids, S_MANY, 30000, &ch));
    TD_ASSERT_EQ(ch.nremoved, S_MANY);
    TD_ASSERT_EQ(ch.removed[S_MANY - 1], s_id(S_MANY - 1));
    TD_ASSERT_EQ(td_yawareness_nstates(aw), 0);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), S_MANY);
    TD_ASSERT_OK(td_yawareness_encode_all(aw, &e));
    TD_ASSERT_EQ(e.len, 1);
    TD_ASSERT_EQ(e.buf[0], 0);
    e.len = 0;
    TD_ASSERT_OK(td_yawareness_encode(aw, ids, S_MANY, &e));
    size_t count = 0;
    TD_ASSERT_EQ(td_yawareness_decode(e.buf, e.len, NULL, 0, &count, NULL), (ssize_t)e.len);
    TD_ASSERT_EQ(count, S_MANY);
    s_apply1(aw, s_id(7), 3, s_user(s_id(7), 0, st, sizeof st), 31000, &ch);
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    TD_ASSERT_OK(td_yawareness_check(aw, 30000 + TD_YAWARENESS_TIMEOUT_MS, &ch));
    TD_ASSERT_EQ(td_yawareness_nclients(aw), S_MANY);
    TD_ASSERT_OK(td_yawareness_check(aw, 30000 + TD_YAWARENESS_TIMEOUT_MS + 1, &ch));
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 0);
    /* The emptied tracker still works: the index was rebuilt, not left pointing at old slots. */
    s_apply1(aw, s_id(3), 1, "{}", 70000, &ch);
    TD_ASSERT_EQ(ch.nadded, 1);
    TD_ASSERT_EQ(td_yawareness_client(aw, 0), s_id(3));
    TD_ASSERT_STR_EQ(td_yawareness_state(aw, s_id(3), NULL), "{}");
    TD_ASSERT(td_yawareness_state(aw, s_id(4), NULL) == NULL);
    TD_ASSERT(!td_yawareness_clock(aw, s_id(4), &clock));
    free(ids);
    td_lib0_enc_fini(&e);
    td_lib0_enc_fini(&e2);
    td_yawareness_destroy(&aw);
}

static void s_eviction(void)
{
    const int64_t T = TD_YAWARENESS_TIMEOUT_MS;
    td_yawareness_t *aw = td_yawareness_new(1);
    td_yawareness_changes_t ch;
    uint64_t clock = 0;
    TD_ASSERT_OK(td_yawareness_set_local(aw, "{}", 2, 0, &ch));
    s_apply1(aw, 10, 3, "{\"n\":10}", 0, &ch);
    s_apply1(aw, 11, 3, "{\"n\":11}", 0, &ch);
    s_apply1(aw, 12, 3, "{\"n\":12}", 0, &ch);
    s_apply1(aw, 11, 4, NULL, 1000, &ch);
    TD_ASSERT_EQ(ch.nremoved, 1);
    /* Up to the timeout, 11 keeps its clock and a late, older update is refused. */
    s_apply1(aw, 10, 5, "{\"n\":10}", T, &ch);
    s_apply1(aw, 12, 5, "{\"n\":12}", T, &ch);
    TD_ASSERT_OK(td_yawareness_check(aw, 1000 + T, &ch));
    TD_ASSERT_EQ(ch.nremoved, 0);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 4);
    TD_ASSERT(td_yawareness_clock(aw, 11, &clock) && clock == 4);
    s_apply1(aw, 11, 3, "{\"n\":11}", 1000 + T, &ch);
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    /* One millisecond later it is forgotten, silently; the others keep their order. */
    TD_ASSERT_OK(td_yawareness_check(aw, 1001 + T, &ch));
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 3);
    TD_ASSERT_EQ(td_yawareness_client(aw, 0), 1);
    TD_ASSERT_EQ(td_yawareness_client(aw, 1), 10);
    TD_ASSERT_EQ(td_yawareness_client(aw, 2), 12);
    TD_ASSERT(!td_yawareness_clock(aw, 11, &clock));
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    TD_ASSERT_EQ(td_yawareness_encode(aw, (uint64_t[]){11}, 1, &e), TD_ENOENT);
    /* Then an update for it is taken as from a client never seen: accepted even at an older
     * clock, reported in `added` (y-protocols, which never forgets, would refuse it), and placed
     * after the retained clients. */
    s_apply1(aw, 11, 2, "{\"n\":11}", 1002 + T, &ch);
    TD_ASSERT_EQ(ch.nadded, 1);
    TD_ASSERT_EQ(ch.added[0], 11);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 4);
    TD_ASSERT_EQ(td_yawareness_client(aw, 3), 11);
    TD_ASSERT_STR_EQ(td_yawareness_state(aw, 11, NULL), "{\"n\":11}");

    /* A state removed by the timeout is reported and still encodable in that check; forgotten one
     * timeout later, while the local client (renewed by the checks) stays. */
    s_apply1(aw, 10, 6, "{\"n\":10}", 2 * T - 50, &ch);
    s_apply1(aw, 11, 3, "{\"n\":11}", 2 * T - 50, &ch);
    TD_ASSERT_OK(td_yawareness_check(aw, 2 * T, &ch)); /* 12 was last renewed at T */
    TD_ASSERT_EQ(ch.nremoved, 1);
    TD_ASSERT_EQ(ch.removed[0], 12);
    TD_ASSERT_OK(td_yawareness_encode(aw, ch.removed, ch.nremoved, &e));
    TD_ASSERT_OK(td_yawareness_check(aw, 3 * T, &ch)); /* 10 and 11 time out now */
    TD_ASSERT_EQ(ch.nremoved, 2);
    TD_ASSERT(td_yawareness_clock(aw, 12, &clock) && clock == 5);
    TD_ASSERT_OK(td_yawareness_check(aw, 3 * T + 1, &ch));
    TD_ASSERT(!td_yawareness_clock(aw, 12, &clock));
    TD_ASSERT(td_yawareness_clock(aw, 10, &clock) && clock == 6);
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 3);
    TD_ASSERT_OK(td_yawareness_check(aw, 4 * T + 1, &ch));
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 1);
    TD_ASSERT_EQ(td_yawareness_client(aw, 0), 1);

    /* The local client is never forgotten, even without a state: its clock must keep growing for
     * peers to accept its next state. */
    TD_ASSERT_OK(td_yawareness_set_local(aw, NULL, 0, 5 * T, &ch));
    uint64_t local_clock = 0;
    TD_ASSERT(td_yawareness_clock(aw, 1, &local_clock));
    TD_ASSERT_OK(td_yawareness_check(aw, 10 * T, &ch));
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 1);
    TD_ASSERT_OK(td_yawareness_set_local(aw, "{}", 2, 10 * T, &ch));
    TD_ASSERT(td_yawareness_clock(aw, 1, &clock) && clock == local_clock + 1);

    /* A newer null (the client repeating its removal) restarts the wait. y-protocols reports it
     * as removed again, with no state to remove. */
    int64_t t0 = 20 * T;
    s_apply1(aw, 20, 1, "{}", t0, &ch);
    s_apply1(aw, 20, 2, NULL, t0 + 1, &ch);
    s_apply1(aw, 20, 3, NULL, t0 + 20000, &ch);
    TD_ASSERT_EQ(ch.nremoved, 1);
    TD_ASSERT_OK(td_yawareness_check(aw, t0 + 2 + T, &ch));
    TD_ASSERT(td_yawareness_clock(aw, 20, &clock) && clock == 3);
    TD_ASSERT_OK(td_yawareness_check(aw, t0 + 20001 + T, &ch));
    TD_ASSERT(!td_yawareness_clock(aw, 20, &clock));
    td_yawareness_destroy(&aw);

    /* With eviction off, as in y-protocols, nothing is forgotten; a delay of 0 forgets at the
     * next check. */
    aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    td_yawareness_set_evict_ms(aw, -1);
    s_apply1(aw, 30, 1, "{}", 0, &ch);
    s_apply1(aw, 30, 2, NULL, 0, &ch);
    TD_ASSERT_OK(td_yawareness_check(aw, 100 * T, &ch));
    TD_ASSERT(td_yawareness_clock(aw, 30, &clock) && clock == 2);
    s_apply1(aw, 30, 1, "{}", 100 * T, &ch);
    TD_ASSERT_EQ(ch.nadded + ch.nupdated + ch.nremoved, 0);
    td_yawareness_set_evict_ms(aw, 0);
    TD_ASSERT_OK(td_yawareness_check(aw, 100 * T + 1, &ch));
    TD_ASSERT_EQ(td_yawareness_nclients(aw), 0);
    td_lib0_enc_fini(&e);
    td_yawareness_destroy(&aw);
}

static void s_repeated(void)
{
    td_yawareness_t *aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    td_yawareness_changes_t ch;
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    const char *a = "{\"a\":1}", *b = "{\"b\":2}";
    /* Client 9 twice in one update: y-protocols reports it added, then updated. */
    td_yawareness_encode_begin(&e, 2);
    s_entry(&e, 9, 1, a);
    s_entry(&e, 9, 2, b);
    s_apply_enc(aw, &e, 0, &ch);
    TD_ASSERT_EQ(ch.nadded, 1);
    TD_ASSERT_EQ(ch.added[0], 9);
    TD_ASSERT_EQ(ch.nupdated, 1);
    TD_ASSERT_EQ(ch.updated[0], 9);
    TD_ASSERT_EQ(ch.nchanged, 1);
    TD_ASSERT_STR_EQ(td_yawareness_state(aw, 9, NULL), b);
    /* Three times, a, b, a, while b is stored: once per list, and the last state wins (the middle
     * entry repeats the stored text, whose parse was shared before the first entry replaced it). */
    td_yawareness_encode_begin(&e, 3);
    s_entry(&e, 9, 3, a);
    s_entry(&e, 9, 4, b);
    s_entry(&e, 9, 5, a);
    s_apply_enc(aw, &e, 0, &ch);
    TD_ASSERT_EQ(ch.nadded + ch.nremoved, 0);
    TD_ASSERT_EQ(ch.nupdated, 1);
    TD_ASSERT_EQ(ch.nchanged, 1);
    TD_ASSERT_STR_EQ(td_yawareness_state(aw, 9, NULL), a);
    uint64_t clock = 0;
    TD_ASSERT(td_yawareness_clock(aw, 9, &clock) && clock == 5);
    /* A renewal with the same bytes: updated, not changed, state intact. */
    s_apply1(aw, 9, 6, a, 0, &ch);
    TD_ASSERT_EQ(ch.nupdated, 1);
    TD_ASSERT_EQ(ch.nchanged, 0);
    TD_ASSERT_STR_EQ(td_yawareness_state(aw, 9, NULL), a);
    /* A state, null, a state: in `updated`, `removed` and `changed`, once each. */
    td_yawareness_encode_begin(&e, 3);
    s_entry(&e, 9, 7, b);
    s_entry(&e, 9, 8, NULL);
    s_entry(&e, 9, 9, b);
    s_apply_enc(aw, &e, 0, &ch);
    TD_ASSERT_EQ(ch.nadded, 0);
    TD_ASSERT_EQ(ch.nupdated, 1);
    TD_ASSERT_EQ(ch.nremoved, 1);
    TD_ASSERT_EQ(ch.nchanged, 1);
    TD_ASSERT_STR_EQ(td_yawareness_state(aw, 9, NULL), b);
    TD_ASSERT_EQ(td_yawareness_nstates(aw), 1);
    /* The next calls report it again: what a call listed does not leak into the next. */
    s_apply1(aw, 9, 10, b, 0, &ch);
    TD_ASSERT_EQ(ch.nupdated, 1);
    s_apply1(aw, 9, 11, a, 0, &ch);
    TD_ASSERT_EQ(ch.nupdated, 1);
    TD_ASSERT_EQ(ch.nchanged, 1);
    TD_ASSERT_OK(td_yawareness_remove(aw, (uint64_t[]){9, 9, 9}, 3, 0, &ch));
    TD_ASSERT_EQ(ch.nremoved, 1);
    /* 2,000 clients, each named twice: every list holds each client once, in update order. */
    td_yawareness_encode_begin(&e, 2 * S_MANY);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < S_MANY; i++)
            s_entry(&e, s_id(i), (uint64_t)round + 1, round ? b : a);
    }
    s_apply_enc(aw, &e, 0, &ch);
    TD_ASSERT_EQ(ch.nadded, S_MANY);
    TD_ASSERT_EQ(ch.nupdated, S_MANY);
    TD_ASSERT_EQ(ch.nchanged, S_MANY);
    for (size_t i = 0; i < S_MANY; i++) {
        TD_ASSERT_EQ(ch.added[i], s_id(i));
        TD_ASSERT_EQ(ch.updated[i], s_id(i));
        TD_ASSERT_EQ(ch.changed[i], s_id(i));
    }
    TD_ASSERT_EQ(td_yawareness_nstates(aw), S_MANY);
    td_lib0_enc_fini(&e);
    td_yawareness_destroy(&aw);
}

void test_td_yawareness(void)
{
    s_codec();
    s_tracker_rules();
    s_scenario(false);
    s_scenario(true);
    s_many();
    s_eviction();
    s_repeated();
}
