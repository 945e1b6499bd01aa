/* td_yawareness.h: the y-protocols awareness protocol (yjs-format.md §5): the update codec
 *
 *   awareness update := varUint n  ( varUint client  varUint clock  varString JSON(state) )*
 *
 * and td_yawareness_t, a tracker of every client's state that applies y-protocols' rules: a state
 * with a newer clock wins; a `null` state removes the client (also at an equal clock, when a state
 * is present); a remote state not renewed within TD_YAWARENESS_TIMEOUT_MS is dropped; a remote
 * attempt to remove the local client's state is answered by renewing it. The tracker keeps each
 * state as the JSON text it arrived in and re-sends that text unchanged.
 *
 * A client without a state keeps its clock, so that a late update older than its removal is
 * refused, but not forever as in y-protocols: td_yawareness_check forgets it once it has had no
 * state (and no newer clock) for longer than TD_YAWARENESS_TIMEOUT_MS, so memory is bounded by the
 * live clients rather than every client a room ever had. A forgotten client is then treated as a
 * y-protocols peer treats a client it never saw (one that joined after the client left): its next
 * update is accepted at any clock above 0 and reported in `added` (y-protocols would say
 * `updated`). A y-protocols client keeps one growing clock for the life of its document, so a
 * client that really comes back is accepted either way; only a stale update delayed by more than
 * the timeout, which y-protocols would refuse, now brings a state back (until it times out).
 * td_yawareness_set_evict_ms changes the delay or restores y-protocols' keep-forever behaviour.
 * The local client is never forgotten.
 *
 * Pure: time comes in as now_ms arguments (milliseconds, any monotonic or wall origin, as long as
 * it is consistent). Every mutating call reports what it changed in a td_yawareness_changes_t, the
 * lists of y-protocols' 'update' event (plus the 'change' subset), so the caller can broadcast
 * exactly the clients that changed.
 *
 * Cost: a lookup is O(1) expected (a hash index over client ids); apply, remove and encode are
 * O(entries), check and encode_all O(retained clients) (encode_all sorts: O(n log n)). */
#ifndef TD_YAWARENESS_H
#define TD_YAWARENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "td_error.h"
#include "td_lib0.h"
#include "td_types.h"

#define TD_YAWARENESS_TIMEOUT_MS 30000     /* y-protocols outdatedTimeout */
#define TD_YAWARENESS_NO_CLIENT UINT64_MAX /* a tracker without a local client (a server) */

/* ---- codec ----------------------------------------------------------------------------------- */

/* One entry of an awareness update: views into the decoded bytes. */
typedef struct td_yawareness_entry {
    uint64_t client;
    uint64_t clock;
    td_bytes_t state; /* JSON text, valid UTF-8 and valid JSON; "null" means removal */
    bool is_null;     /* the JSON value is null */
} td_yawareness_entry_t;

/* Decodes and validates a whole awareness update: bytes consumed, or TD_EPROTO (truncation, bad
 * var-uint, invalid UTF-8 or invalid JSON; err has the offset) / TD_ENOMEM. Writes the first cap
 * entries to entries (which may be NULL when cap is 0) and the total count to *count, so a caller
 * can size an array with a first call. Allocates nothing that outlives the call. */
TD_EXPORT ssize_t td_yawareness_decode(const uint8_t *p, size_t n, td_yawareness_entry_t *entries,
                                       size_t cap, size_t *count, td_error_t *err);
/* Appends the update header: the number of entries that follow. */
TD_EXPORT void td_yawareness_encode_begin(td_lib0_enc_t *e, size_t count);
/* Appends one entry; state is JSON text (valid UTF-8), or NULL for null. */
TD_EXPORT void td_yawareness_encode_entry(td_lib0_enc_t *e, uint64_t client, uint64_t clock,
                                          const char *state, size_t n);

/* ---- tracker --------------------------------------------------------------------------------- */

typedef struct td_yawareness td_yawareness_t;

/* Client ids a call changed, as y-protocols' 'update' event lists them. The arrays belong to the
 * tracker and stay valid until its next mutating call. Each list holds a client at most once (an
 * update naming one client twice may put it in two lists). `updated` includes renewals with an
 * identical state; `changed` is the subset of `updated` whose state differs (the 'change' event).
 * A client that reappears after a removal is `updated`, not `added`, as in y-protocols (unless it
 * was forgotten meanwhile, see above). Every client listed is still retained when the call
 * returns, so td_yawareness_encode of a list succeeds. */
typedef struct td_yawareness_changes {
    const uint64_t *added;
    size_t nadded;
    const uint64_t *updated;
    size_t nupdated;
    const uint64_t *removed;
    size_t nremoved;
    const uint64_t *changed;
    size_t nchanged;
} td_yawareness_changes_t;

/* A tracker for the local client local_client (<= 2^53 - 1), or TD_YAWARENESS_NO_CLIENT for one
 * that only relays others' states. Unlike y-protocols' constructor, no local state is set: call
 * td_yawareness_set_local. NULL on OOM; caller owns. */
TD_EXPORT td_yawareness_t *td_yawareness_new(uint64_t local_client);
/* NULL-safe; nulls *self_p. */
TD_EXPORT void td_yawareness_destroy(td_yawareness_t **self_p);
/* How long a client without a state keeps its clock before td_yawareness_check forgets it, in ms:
 * TD_YAWARENESS_TIMEOUT_MS by default; a negative ms keeps it forever, as y-protocols does. */
TD_EXPORT void td_yawareness_set_evict_ms(td_yawareness_t *self, int64_t ms);

/* Sets the local state to JSON text (validated; NULL or "null" removes it) and advances the local
 * clock (0 for the first state, as y-protocols). ch may be NULL. 0, TD_EINVAL (invalid JSON, or no
 * local client) or TD_ENOMEM. */
TD_EXPORT int td_yawareness_set_local(td_yawareness_t *self, const char *json, size_t n,
                                      int64_t now_ms, td_yawareness_changes_t *ch);
/* Applies a peer's awareness update. It is decoded and validated completely first, so on
 * TD_EPROTO (err has the offset) nothing changed. Returns bytes consumed, TD_EPROTO or TD_ENOMEM.
 * ch (may be NULL) receives what changed. If the update removes the local client's state, the
 * state stays and its clock moves past the update's (broadcast the local client then: it is
 * reported in `removed`, as y-protocols reports it). */
TD_EXPORT ssize_t td_yawareness_apply(td_yawareness_t *self, const uint8_t *p, size_t n,
                                      int64_t now_ms, td_yawareness_changes_t *ch, td_error_t *err);
/* The periodic check (y-protocols runs it every 3 s): renews the local state when it is at least
 * TD_YAWARENESS_TIMEOUT_MS / 2 old (the local client is then in `updated`), removes remote states
 * not renewed within TD_YAWARENESS_TIMEOUT_MS (`removed`), and forgets the clients that have had
 * no state for longer than the eviction delay (td_yawareness_set_evict_ms; not reported, since
 * nothing a peer sees changes). 0 or TD_ENOMEM. */
TD_EXPORT int td_yawareness_check(td_yawareness_t *self, int64_t now_ms,
                                  td_yawareness_changes_t *ch);
/* Removes the states of clients (y-protocols removeAwarenessStates, e.g. for a closed
 * connection); the local client's clock advances so that peers accept the removal. Encode the
 * removed clients to tell peers. 0 or TD_ENOMEM. */
TD_EXPORT int td_yawareness_remove(td_yawareness_t *self, const uint64_t *clients, size_t n,
                                   int64_t now_ms, td_yawareness_changes_t *ch);

/* Appends an awareness update for clients (their clock and state, "null" when they have none).
 * 0, or TD_ENOENT when a client is not retained: never seen, or forgotten (nothing is appended
 * then). */
TD_EXPORT int td_yawareness_encode(const td_yawareness_t *self, const uint64_t *clients, size_t n,
                                   td_lib0_enc_t *e);
/* Appends an awareness update of every client that has a state (the answer to a query, and the
 * welcome sent to a newcomer), in the order y-protocols' `states` map iterates: by when each state
 * last appeared. 0 or TD_ENOMEM. */
TD_EXPORT int td_yawareness_encode_all(const td_yawareness_t *self, td_lib0_enc_t *e);

/* The local client id, or TD_YAWARENESS_NO_CLIENT. */
TD_EXPORT uint64_t td_yawareness_local_client(const td_yawareness_t *self);
/* Clients retained: those with a state, the local client, and those without a state that are not
 * forgotten yet. */
TD_EXPORT size_t td_yawareness_nclients(const td_yawareness_t *self);
/* The i-th retained client (i < td_yawareness_nclients), in order of first appearance. A forgotten
 * client that comes back appears anew, after every retained client. A check that forgets clients
 * renumbers the others (their order is kept). */
TD_EXPORT uint64_t td_yawareness_client(const td_yawareness_t *self, size_t i);
/* Clients that currently have a state. */
TD_EXPORT size_t td_yawareness_nstates(const td_yawareness_t *self);
/* A client's state as JSON text (borrowed, NUL-terminated, valid until the next mutating call),
 * or NULL when it has none. *len may be NULL. */
TD_EXPORT const char *td_yawareness_state(const td_yawareness_t *self, uint64_t client,
                                          size_t *len);
/* A client's clock; false when the client is not retained (never seen, or forgotten). */
TD_EXPORT bool td_yawareness_clock(const td_yawareness_t *self, uint64_t client, uint64_t *clock);

#endif
