/* test_td_yawareness.c: the awareness codec and tracker. The tracker replays a 400-step session
 * recorded from y-protocols' Awareness (tests/vectors/yprotocols/awareness.inc): remote updates
 * with fresh, stale and equal clocks, null states, attempts to remove the local client, local
 * state changes, periodic checks (renewal and the 30 s timeout) and removals. After every step the
 * reported added / updated / removed lists (and the 'change' subset) and the encoding of all states
 * must equal what y-protocols reported and encoded. */
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

static void s_scenario(void)
{
    td_yawareness_t *aw = td_yawareness_new(S_SCENARIO_LOCAL);
    TD_ASSERT(aw != NULL);
    static uint8_t buf[1 << 16];
    char got[4096], want[4096];
    int removals_of_local = 0, timeouts = 0;
    for (size_t i = 0; i < sizeof s_aw_steps / sizeof s_aw_steps[0]; i++) {
        const struct s_aw_step *s = &s_aw_steps[i];
        td_yawareness_changes_t ch;
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

void test_td_yawareness(void)
{
    s_codec();
    s_tracker_rules();
    s_scenario();
}
