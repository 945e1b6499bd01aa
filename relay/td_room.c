/* td_room.c: JupyterLab's real-time collaboration rooms (jupyter-collaboration's wire protocol:
 * y-websocket v1 framing, y-protocols sync and awareness, the Jupyter RAW save channel).
 *
 * A document room ("json:notebook:ID", "text:file:ID") holds one td_ydoc_t built from the store,
 * never from a browser: the log of every update in SQLite is the source of truth and the file on
 * disk is an export. Invariants:
 *  - Durable before visible. Every transaction on the document (a peer's update, a save marker, an
 *    outside edit merged from disk, an execution output) is appended to the log inside the relay's
 *    group transaction; nothing that carries document state (fan-out, step2) is queued to any
 *    socket until that transaction has committed (the uv_check after each loop turn). The one
 *    exception is a fresh seed, which the file reproduces: it is logged lazily (s_seed).
 *  - One lineage per history. The room's epoch (the sessionId clients hold) changes only when the
 *    history is re-authored (a first seed, an unreadable log, or a seed lost in a crash that the
 *    file no longer reproduces); a client from another epoch is closed with 1003 + reloadable,
 *    never merged. Seeds are written by client id 0 (deterministic), every later server write by
 *    S_SERVER_CLIENT.
 *  - Outside edits are merged as a three-way minimal diff against the base (the file content the
 *    room last agreed with), never loaded over live history. The base lives in memory while the
 *    room is open; the store gets the hash of every write at once (cheap) and the base content
 *    itself when the room unloads, so a multi-megabyte notebook is not copied into SQLite at each
 *    autosave. A room that reopens on a file still carrying the hash the relay last wrote needs no
 *    base at all: the file is it.
 *  - Bad input closes only the peer that sent it; the document is validated before it changes.
 * Transient rooms (ids with fewer than two ':', e.g. "JupyterLab:globalAwareness") only relay
 * awareness. Awareness states are rewritten so that `user` is the peer's authenticated identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "td/td_json.h"
#include "td/td_stamp.h"
#include "td/td_yrelpos.h"
#include "td/td_yawareness.h"
#include "td/td_ydoc.h"
#include "td/td_ynotebook.h"
#include "td/td_ysync.h"
#include "td/td_ytextdoc.h"
#include "td/td_yupdate.h"
#include "td_acl.h"
#include "td_comments.h"
#include "td_contents.h"
#include "td_log.h"
#include "td_relay.h"
#include "td_store.h"

#define S_SERVER_CLIENT 1           /* the relay's own writes after the seed */
#define S_COMPACT_UPDATES 2000      /* log entries since the last snapshot before compacting */
#define S_COMPACT_BYTES (8u << 20)  /* or this many bytes logged after it */
#define S_TICK_MS 1000              /* awareness timeouts and disk polling */
#define S_MAX_AWARENESS 10000       /* entries in one awareness message */
#define S_MAX_PEER_CLIENTS 64       /* awareness clients one connection may control (a browser: 1) */

enum { R_AWARENESS, R_NOTEBOOK, R_FILE };

/* A frame waiting for the group commit: to `only`, or to every peer but `except`. */
typedef struct s_out {
    struct s_out *next;
    td_obuf_t *buf;
    td_peer_t *only, *except;
} s_out_t;

/* A server-side execution of one cell. */
typedef struct s_exec {
    struct s_exec *next;
    td_room_t *room;
    td_kernel_t *k;
    td_kexec_t *kx;
    char cell_id[256];
    int64_t count;
    char status[16];
    td_waiter_t *waiters;
} s_exec_t;

struct td_peer {
    td_peer_t *next;
    td_room_t *room;
    td_pss_t *ws;
    const td_user_t *user;
    int told_readonly;
    uint64_t *aw;        /* awareness clients this connection controls */
    size_t naw, aw_cap;
    int autosave;
};

struct td_room {
    td_room_t *next, *flush_next;
    td_relay_t *r;
    char name[TD_ROUTE_ARG_MAX];
    int kind;
    char file_id[TD_UUID_LEN + 1];
    char epoch[TD_UUID_LEN + 1];
    char path[TD_ROUTE_PATH_MAX];
    td_ydoc_t *doc;
    td_ynb_exec_t *nbexec;
    td_yawareness_t *aw;
    td_peer_t *peers;
    int npeers;
    s_out_t *out, **out_tail;
    int flushing;
    /* disk */
    char *base;          /* the file content last agreed with: compact notebook JSON, or text */
    size_t base_len;
    char base_hash[80];  /* the file's hash when it held base */
    char stored_hash[80]; /* the base_hash of the base content the store holds */
    char disk_stamp[96]; /* last_modified + size when last looked at */
    /* history */
    uint8_t *seed;       /* the seed update while it is not in the log yet (s_seed_flush) */
    size_t seed_len;
    char seed_hash[17];  /* its digest (s_seed_digest), hex */
    json_t *parsed;      /* the file as loaded, until the first tick */
    size_t log_n, log_bytes; /* entries in the log (the snapshot first); bytes logged after it */
    uint64_t changes, saved_changes;
    int store_failed;
    s_exec_t *execs;
    uv_timer_t tick, save, unload;
    int handles;
    int closing;
};

static void s_room_close(td_room_t *room);

static int64_t s_now_ms(td_relay_t *r)
{
    return td_relay_now(r) / 1000;
}

/* ---- outgoing frames --------------------------------------------------------------------------- */

/* Starts a frame encoder: lws's headroom first, so that s_frame takes the buffer as it is (a
 * notebook's SyncStep2 is megabytes). */
static void s_frame_init(td_lib0_enc_t *e)
{
    static const uint8_t pre[LWS_PRE];
    td_lib0_enc_init(e);
    td_lib0_write_raw(e, pre, LWS_PRE);
}

/* The frame s_frame_init started (takes e's buffer); NULL on failure. */
static td_obuf_t *s_frame(td_lib0_enc_t *e)
{
    size_t len;
    uint8_t *mem = e->err ? NULL : td_lib0_enc_steal(e, &len);
    return mem ? td_obuf_new(mem, len - LWS_PRE, 1) : NULL;
}

/* A frame [1, awareness update] of clients (NULL: every client with a state); NULL on failure. */
static td_obuf_t *s_aw_frame(const td_room_t *room, const uint64_t *clients, size_t n)
{
    td_lib0_enc_t a, e;
    td_lib0_enc_init(&a);
    s_frame_init(&e);
    int rc = clients ? td_yawareness_encode(room->aw, clients, n, &a)
                     : td_yawareness_encode_all(room->aw, &a);
    td_obuf_t *b = NULL;
    if (rc == 0 && !a.err) {
        td_ysync_ws_encode_awareness(&e, a.buf, a.len);
        b = s_frame(&e);
    }
    td_lib0_enc_fini(&a);
    td_lib0_enc_fini(&e);
    return b;
}

/* Sends now: frames that carry no document state (awareness, RAW replies). */
static void s_send(td_peer_t *p, td_obuf_t *b)
{
    if (b && p->ws)
        td_ws_enqueue(p->ws, b);
}

/* Sends to every peer but except. A send never takes a peer out of the list (td_ws_close
 * leaves it in place until its socket is gone), so the walk is safe. */
static void s_broadcast_now(td_room_t *room, td_obuf_t *b, td_peer_t *except)
{
    for (td_peer_t *p = room->peers; p; p = p->next)
        if (p != except)
            s_send(p, b);
}

/* Puts the room on the list the group commit walks. */
static void s_mark_flush(td_room_t *room)
{
    if (!room->flushing) {
        room->flushing = 1;
        room->flush_next = room->r->flushing;
        room->r->flushing = room;
    }
}

/* Queues a frame until the group commit (takes b). */
static void s_queue(td_room_t *room, td_obuf_t *b, td_peer_t *only, td_peer_t *except)
{
    s_out_t *o = b ? malloc(sizeof *o) : NULL;
    if (!o) {
        td_obuf_unref(&b);
        return;
    }
    *o = (s_out_t){NULL, b, only, except};
    *room->out_tail = o;
    room->out_tail = &o->next;
    s_mark_flush(room);
}

static void s_out_clear(td_room_t *room)
{
    while (room->out) {
        s_out_t *o = room->out;
        room->out = o->next;
        td_obuf_unref(&o->buf);
        free(o);
    }
    room->out_tail = &room->out;
}

/* ---- the log ----------------------------------------------------------------------------------- */

static int s_compact(td_room_t *room)
{
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    int rc = td_ydoc_encode_state_as_update(room->doc, NULL, 0, &e, NULL);
    if (rc == 0 && e.err)
        rc = TD_ENOMEM;
    if (rc == 0 && (rc = td_store_begin(room->r->store)) == 0) {
        /* The replace is a DELETE then an INSERT inside the group transaction: if the INSERT
         * fails alone, the DELETE must not be committed with the next turn (the log would be
         * gone), so it runs in a savepoint that is rolled back on failure. */
        sqlite3 *db = td_store_db(room->r->store);
        if (sqlite3_exec(db, "SAVEPOINT td_compact", NULL, NULL, NULL) != SQLITE_OK) {
            rc = TD_ESTATE;
        } else {
            rc = td_store_yupdates_replace(room->r->store, room->file_id, e.buf, e.len);
            if (rc != 0)
                sqlite3_exec(db, "ROLLBACK TO td_compact", NULL, NULL, NULL);
            sqlite3_exec(db, "RELEASE td_compact", NULL, NULL, NULL);
        }
    }
    if (rc == 0) {
        TD_LOG(TD_LOG_DEBUG, "relay.room", "%s: compacted %zu updates (%zu bytes) into %zu bytes",
               room->path, room->log_n, room->log_bytes, e.len);
        room->log_n = 1;
        room->log_bytes = 0;
        free(room->seed); /* the snapshot holds it */
        room->seed = NULL;
        room->seed_hash[0] = '\0';
    }
    td_lib0_enc_fini(&e);
    return rc;
}

static void s_arm_save(td_room_t *room);
static int s_seed_flush(td_room_t *room);

/* Tells the comments which cells the notebook has now (threads of deleted cells are orphaned,
 * and re-attached when the cell comes back). */
static void s_sync_cells(td_room_t *room)
{
    td_ytype_t *cells = td_ydoc_get(room->doc, "cells", TD_YTYPE_UNDEFINED);
    size_t n = cells ? td_ytype_len(cells) : 0;
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    json_t **keep = calloc(n ? n : 1, sizeof *keep);
    size_t k = 0;
    for (size_t i = 0; ids && keep && i < n; i++) {
        td_ytype_t *cell = td_yarray_get_type(cells, i);
        json_t *id = cell ? td_ymap_get_json(cell, "id") : NULL;
        if (json_is_string(id)) {
            keep[k] = id;
            ids[k++] = json_string_value(id);
        } else {
            json_decref(id);
        }
    }
    if (ids && keep && room->r->comments)
        td_comments_sync_cells(room->r->comments, room->file_id, ids, k);
    for (size_t i = 0; keep && i < k; i++)
        json_decref(keep[i]);
    free(ids);
    free(keep);
}

/* Every transaction on the document: log it, then queue it for everyone but its origin. */
static void s_on_txn(td_ydoc_t *doc, const td_ytxn_info_t *info, void *arg)
{
    (void)doc;
    td_room_t *room = arg;
    td_store_t *st = room->r->store;
    room->changes++;
    if (s_seed_flush(room) != 0 || td_store_begin(st) != 0 ||
        td_store_yupdate_add(st, room->file_id, info->update, info->update_len) != 0) {
        room->store_failed = 1; /* the commit check drops the peers: nothing is acknowledged */
        s_mark_flush(room);
        TD_LOG(TD_LOG_ERROR, "relay.room", "%s: cannot log an update", room->path);
        return;
    }
    room->log_n++;
    room->log_bytes += info->update_len;
    td_lib0_enc_t e;
    s_frame_init(&e);
    td_ysync_ws_encode_sync(&e, TD_YSYNC_UPDATE, info->update, info->update_len);
    s_queue(room, s_frame(&e), NULL, info->local ? NULL : info->origin);
    td_lib0_enc_fini(&e);
    s_arm_save(room);
    if (room->kind == R_NOTEBOOK) {
        td_ytype_t *cells = td_ydoc_get(room->doc, "cells", TD_YTYPE_UNDEFINED);
        for (size_t i = 0; i < info->nchanged; i++)
            if (info->changed[i] == cells) {
                s_sync_cells(room);
                break;
            }
    }
}

/* The uv_check after each loop turn: commit, then let the committed frames out. */
static void s_on_commit(uv_check_t *h)
{
    td_relay_t *r = h->data;
    int rc = td_store_commit(r->store); /* a no-op unless this turn wrote something */
    if (rc != 0)
        TD_LOG(TD_LOG_ERROR, "relay.room", "store commit failed: updates are not durable");
    /* A failed write can roll back the whole group transaction (SQLite does on I/O errors, disk
     * full, busy), so the commit above may have lost other rooms' updates of this turn too. */
    int failed = rc != 0;
    for (td_room_t *f = r->flushing; f && !failed; f = f->flush_next)
        failed = f->store_failed;
    td_room_t *room;
    while ((room = r->flushing) != NULL) {
        r->flushing = room->flush_next;
        room->flushing = 0;
        if (failed) {
            /* Not durable, so not acknowledged: drop the peers (they resend on reconnect) and
             * the room (closing it tries a snapshot of everything; the next open replays the
             * log, so the relay never reuses its own item ids over an unlogged write). */
            room->store_failed = 0;
            s_out_clear(room);
            while (room->peers && !room->closing) {
                td_pss_t *ws = room->peers->ws;
                td_ws_close(ws, 1011, "tandem-relay: the store failed; reconnect");
                td_ws_drop_peer(ws);
            }
            s_room_close(room);
            continue;
        }
        for (s_out_t *o = room->out; o; o = o->next) {
            if (o->only)
                s_send(o->only, o->buf);
            else
                s_broadcast_now(room, o->buf, o->except);
        }
        s_out_clear(room);
        if ((room->log_n > S_COMPACT_UPDATES || room->log_bytes > S_COMPACT_BYTES) &&
            s_compact(room) == 0)
            td_store_commit(r->store);
    }
}

/* ---- disk -------------------------------------------------------------------------------------- */

/* The file as a room sees it: its bytes, their SHA-256 (the Contents API's hash), and, when
 * parsed, the content value (the notebook dict, or the text as a string). */
typedef struct s_file {
    char *raw;
    size_t len;
    char hash[2 * 32 + 1];
    json_t *content;
} s_file_t;

static void s_file_fini(s_file_t *f)
{
    free(f->raw);
    json_decref(f->content);
    memset(f, 0, sizeof *f);
}

/* Reads the file's bytes and hash. Returns 200, or an HTTP status with why. */
static int s_file_read(td_room_t *room, s_file_t *f, char *why, size_t cap)
{
    json_t *err = NULL;
    memset(f, 0, sizeof *f);
    int st = td_contents_read(room->r->contents, room->path, &f->raw, &f->len, f->hash, &err);
    if (st != 200)
        snprintf(why, cap, "%s", json_string_value(json_object_get(err, "message")) ?: "cannot read");
    json_decref(err);
    return st;
}

/* Parses what s_file_read read into its content value. Returns 200, or 400 with why (f is then
 * emptied). */
static int s_file_parse(td_room_t *room, s_file_t *f, char *why, size_t cap)
{
    if (room->kind == R_NOTEBOOK) {
        td_error_t je = {0};
        td_json_parse_flags(f->raw, f->len, JSON_ALLOW_NUL, &f->content, &je);
        if (!json_is_object(f->content)) {
            snprintf(why, cap, "not a notebook: %.80s", f->content ? "not an object" : je.text);
            s_file_fini(f);
            return 400;
        }
    } else if (!td_lib0_utf8_valid((const uint8_t *)f->raw, f->len) ||
               !(f->content = json_stringn(f->raw, f->len))) {
        snprintf(why, cap, "not a UTF-8 text file");
        s_file_fini(f);
        return 400;
    }
    return 200;
}

/* Its stamp (last_modified and size: a stat, no read) into out; 0 or TD_ENOENT. */
static int s_file_stamp(td_room_t *room, char *out, size_t cap)
{
    json_t *m = NULL;
    td_contents_query_t q = {NULL, NULL, "0", "0"};
    int st = td_contents_get(room->r->contents, room->path, &q, &m);
    if (st == 200)
        snprintf(out, cap, "%s/%lld",
                 json_string_value(json_object_get(m, "last_modified")) ?: "",
                 (long long)json_integer_value(json_object_get(m, "size")));
    json_decref(m);
    return st == 200 ? 0 : TD_ENOENT;
}

/* The file now holds f's bytes: they become the base (taken from f), the store learns the hash. */
static int s_set_base(td_room_t *room, s_file_t *f)
{
    free(room->base);
    room->base = f->raw;
    room->base_len = f->len;
    f->raw = NULL;
    snprintf(room->base_hash, sizeof room->base_hash, "%s", f->hash);
    return td_store_begin(room->r->store) ||
                   td_store_ydoc_disk(room->r->store, room->file_id, room->base_hash)
               ? TD_ESTATE
               : 0;
}

/* Writes the whole record (epoch, base content, hashes) unless the store's base is current. */
static int s_store_base(td_room_t *room)
{
    if (!room->base || strcmp(room->stored_hash, room->base_hash) == 0)
        return 0;
    td_store_ydoc_t rec = {.base_len = 0};
    snprintf(rec.epoch, sizeof rec.epoch, "%s", room->epoch);
    snprintf(rec.base_hash, sizeof rec.base_hash, "%s", room->base_hash);
    snprintf(rec.disk_hash, sizeof rec.disk_hash, "%s", room->base_hash);
    snprintf(rec.seed_hash, sizeof rec.seed_hash, "%s", room->seed_hash);
    rec.base = room->base;
    rec.base_len = room->base_len;
    int rc = td_store_begin(room->r->store) || td_store_ydoc_put(room->r->store, room->file_id, &rec)
                 ? TD_ESTATE
                 : 0;
    if (rc == 0)
        snprintf(room->stored_hash, sizeof room->stored_hash, "%s", room->base_hash);
    return rc;
}

/* A notebook's JSON, or NULL. */
static json_t *s_parse(const char *p, size_t n)
{
    json_t *v = NULL;
    td_json_parse_flags(p, n, JSON_ALLOW_NUL, &v, NULL);
    return v;
}

/* Merges the file f into the document against base (the file's earlier bytes; NULL: two-way, the
 * file wins where it differs), then makes f the base. 0 or TD_E*. */
static int s_merge(td_room_t *room, const char *base_text, size_t base_len, s_file_t *f)
{
    json_t *base = !base_text ? NULL
                   : room->kind == R_NOTEBOOK ? s_parse(base_text, base_len)
                                              : json_stringn(base_text, base_len);
    bool changed = false;
    td_error_t err = {0};
    int rc;
    if (room->kind == R_NOTEBOOK)
        rc = td_ynb_merge(room->doc, base, f->content, S_SERVER_CLIENT, NULL, NULL, &changed,
                          &err);
    else
        rc = td_ytextdoc_merge(room->doc, json_string_value(base), base ? json_string_length(base) : 0,
                               json_string_value(f->content), json_string_length(f->content),
                               S_SERVER_CLIENT, NULL, NULL, &changed, &err);
    json_decref(base);
    if (rc == 0)
        rc = s_set_base(room, f);
    TD_LOG(rc ? TD_LOG_WARN : TD_LOG_INFO, "relay.room", "%s: changed on disk: %s%s%s%s",
           room->path, rc ? "not merged: " : changed ? "merged" : "nothing new",
           rc ? td_strerror(rc) : "", base_text ? "" : " (two-way)", err.text);
    return rc;
}

/* Merges what another program wrote into the live document (a minimal diff by the server client,
 * three-way against the base). force: look even when the stamp did not move. 0 or TD_E*. */
static int s_sync_disk(td_room_t *room, int force)
{
    char stamp[96], why[160];
    if (s_file_stamp(room, stamp, sizeof stamp) != 0)
        return TD_ENOENT; /* gone or unreadable: keep the room as it is */
    if (!force && strcmp(stamp, room->disk_stamp) == 0)
        return 0;
    snprintf(room->disk_stamp, sizeof room->disk_stamp, "%s", stamp);
    s_file_t f;
    if (s_file_read(room, &f, why, sizeof why) != 200)
        return TD_ENOENT;
    int rc = 0;
    if (strcmp(f.hash, room->base_hash) != 0) { /* else touched, not changed */
        if (s_file_parse(room, &f, why, sizeof why) != 200) {
            TD_LOG(TD_LOG_WARN, "relay.room", "%s: changed on disk, not merged: %s", room->path, why);
            return TD_EPROTO;
        }
        rc = s_merge(room, room->base, room->base_len, &f);
    }
    s_file_fini(&f);
    return rc;
}

/* Writes the document to its file. Returns "success" or "failed". */
static const char *s_save(td_room_t *room)
{
    if (room->kind == R_AWARENESS)
        return "skipped";
    /* The seed must be in the log, committed, before the file it was built from changes. A failed
     * commit rolls back the whole group transaction: marked, this room fails it for every room. */
    if (room->seed && (s_seed_flush(room) != 0 || td_store_commit(room->r->store) != 0)) {
        room->store_failed = 1;
        s_mark_flush(room);
        return "failed";
    }
    s_sync_disk(room, 0); /* never write over an outside edit: merge it first */
    json_t *content = NULL;
    td_error_t err = {0};
    int rc;
    if (room->kind == R_NOTEBOOK) {
        rc = td_ynb_export(room->doc, 0, &content, &err);
    } else {
        char *text = NULL;
        size_t n = 0;
        rc = td_ytextdoc_export(room->doc, &text, &n);
        content = rc == 0 ? json_stringn(text, n) : NULL;
        free(text);
        if (rc == 0 && !content)
            rc = TD_ENOMEM;
    }
    if (rc != 0) {
        TD_LOG(TD_LOG_ERROR, "relay.room", "%s: cannot export: %s %s", room->path,
               td_strerror(rc), err.text);
        return "failed";
    }
    json_t *written = content;
    if (room->kind == R_NOTEBOOK && room->r->embed_comments && room->r->comments) {
        /* Threads go into cell metadata only in the file, never into the shared document. */
        written = json_deep_copy(content);
        if (!written || td_comments_embed(room->r->comments, room->file_id, written) != 0) {
            json_decref(written);
            written = json_incref(content);
        }
    } else {
        json_incref(written);
    }
    json_t *model = json_pack("{s:s, s:s, s:O}", "type",
                              room->kind == R_NOTEBOOK ? "notebook" : "file", "format",
                              room->kind == R_NOTEBOOK ? "json" : "text", "content", written);
    s_file_t f = {0};
    int status = model ? td_contents_save(room->r->contents, room->path, model, &f.raw, &f.len,
                                          f.hash, NULL)
                       : 500;
    json_decref(model);
    json_decref(content);
    json_decref(written);
    if (status != 200) {
        TD_LOG(TD_LOG_ERROR, "relay.room", "%s: save failed (%d)", room->path, status);
        return "failed";
    }
    /* What we wrote (embedded comments and all) becomes the base. Another program may have
     * written between our rename and the stamp: then the file no longer has our hash, and the
     * next poll must look (no stamp), so that its edit is merged rather than taken for ours. */
    char *now = NULL, now_hash[65] = "";
    size_t now_len;
    s_file_stamp(room, room->disk_stamp, sizeof room->disk_stamp);
    if (td_contents_read(room->r->contents, room->path, &now, &now_len, now_hash, NULL) != 200 ||
        strcmp(now_hash, f.hash) != 0)
        room->disk_stamp[0] = '\0';
    free(now);
    if (s_set_base(room, &f) == 0)
        td_ynb_mark_saved(room->doc, room->base_hash);
    s_file_fini(&f);
    room->saved_changes = room->changes;
    TD_LOG(TD_LOG_INFO, "relay.room", "%s: saved", room->path);
    return "success";
}

/* The peer's role on the room's file allows action now (roles can change while it is connected;
 * a cached check costs tens of nanoseconds). */
static int s_peer_can(const td_peer_t *p, td_acl_action_t action)
{
    return td_acl_can(p->room->r->acl, p->user->username, p->room->path, action);
}

static int s_autosave_on(const td_room_t *room)
{
    for (const td_peer_t *p = room->peers; p; p = p->next)
        if (p->autosave && s_peer_can(p, TD_ACL_SAVE))
            return 1;
    return 0;
}

static void s_on_save(uv_timer_t *t)
{
    td_room_t *room = t->data;
    if (room->changes != room->saved_changes && s_autosave_on(room))
        s_save(room);
}

static void s_arm_save(td_room_t *room)
{
    if (room->kind != R_AWARENESS && room->changes != room->saved_changes && s_autosave_on(room))
        uv_timer_start(&room->save, s_on_save, room->r->autosave_ms, 0);
}

/* ---- loading ----------------------------------------------------------------------------------- */

static int s_replay_one(const void *data, size_t len, void *arg)
{
    td_room_t *room = arg;
    td_error_t err = {0};
    if (room->log_n++ > 0)
        room->log_bytes += len; /* after the snapshot */
    return td_ydoc_apply_update(room->doc, data, len, NULL, &err);
}

/* A digest of a seed at memory speed (four lanes of multiply and shift over 8-byte words, then
 * the tail and the length): it tells the seed this relay builds from a file from the one another
 * build of it built. It compares our own outputs, so it need not resist forgery; SHA-256 cost a
 * twentieth of a 20 MB notebook's open. */
static uint64_t s_seed_digest(const uint8_t *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h[4] = {1, 2, 3, 4}, w;
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; j++) {
            memcpy(&w, p + i + 8 * j, 8);
            h[j] = (h[j] ^ w) * k;
            h[j] ^= h[j] >> 29;
        }
    uint64_t d = n;
    for (int j = 0; j < 4; j++)
        d = ((d ^ h[j]) * k) ^ (d >> 31);
    for (; i < n; i++)
        d = ((d ^ p[i]) * k) ^ (d >> 31);
    return d;
}

/* Builds the seed from the file (deterministic, client 0) into room->doc and room->seed, with
 * its digest in room->seed_hash. 0 or a TD_E* code. */
static int s_seed_build(td_room_t *room, s_file_t *f, td_error_t *err)
{
    int rc = room->kind == R_NOTEBOOK
                 ? td_ynb_load(room->doc, f->content, err)
                 : td_ytextdoc_load(room->doc, json_string_value(f->content),
                                    json_string_length(f->content), err);
    if (rc != 0)
        return rc;
    td_lib0_enc_t e;
    td_lib0_enc_init(&e);
    rc = td_ydoc_encode_state_as_update(room->doc, NULL, 0, &e, NULL);
    free(room->seed);
    room->seed = rc == 0 && !e.err ? td_lib0_enc_steal(&e, &room->seed_len) : NULL;
    td_lib0_enc_fini(&e);
    if (rc == 0 && !room->seed)
        rc = TD_ENOMEM;
    if (rc != 0)
        return rc;
    snprintf(room->seed_hash, sizeof room->seed_hash, "%016llx",
             (unsigned long long)s_seed_digest(room->seed, room->seed_len));
    return 0;
}

/* Starts the lineage room->epoch on the seed s_seed_build made: the seed is the log's first entry
 * and the file the base (stored now only when small; always when the room unloads). The record
 * (epoch, the file's hash, the seed's digest) is written now; the seed itself, megabytes for a big
 * notebook, joins the log at the room's next tick, before anything else is logged, or before the
 * room writes the file, whichever comes first, so that opening does not wait for it. Until then
 * the file is the log: a restart that finds the record without a log reseeds under the same epoch
 * when the file and the seed built from it are unchanged (s_resume). 0 or TD_ESTATE. */
static int s_seed(td_room_t *room, s_file_t *f)
{
    td_store_t *st = room->r->store;
    td_store_ydoc_t rec = {.base = NULL};
    snprintf(rec.epoch, sizeof rec.epoch, "%s", room->epoch);
    snprintf(rec.disk_hash, sizeof rec.disk_hash, "%s", f->hash);
    snprintf(rec.seed_hash, sizeof rec.seed_hash, "%s", room->seed_hash);
    if (td_store_begin(st) || td_store_ydoc_put(st, room->file_id, &rec))
        return TD_ESTATE;
    room->log_n = 1;
    room->log_bytes = 0;
    room->stored_hash[0] = '\0';
    int rc = s_set_base(room, f);
    if (rc == 0 && room->seed_len < (1u << 20))
        rc = s_store_base(room);
    return rc;
}

/* Puts the pending seed into the log, in the group transaction. 0 or TD_ESTATE. */
static int s_seed_flush(td_room_t *room)
{
    if (!room->seed)
        return 0;
    td_store_t *st = room->r->store;
    int rc = td_store_begin(st) ||
                     td_store_yupdates_replace(st, room->file_id, room->seed, room->seed_len)
                 ? TD_ESTATE
                 : 0;
    free(room->seed);
    room->seed = NULL;
    room->seed_hash[0] = '\0';
    return rc;
}

/* Replays the stored history, then reconciles it with the file: the file still carries the hash
 * the relay last wrote or read (it is the base), or another program changed it while the room
 * was not loaded (merged three-way against the stored base when that is current, else two-way).
 * 0, TD_ENOENT (no history: seed), or another TD_E* (the history is unusable). */
static int s_resume(td_room_t *room, s_file_t *f, td_error_t *err)
{
    td_relay_t *r = room->r;
    td_store_ydoc_t rec = {.base = NULL};
    int rc = td_store_ydoc_get(r->store, room->file_id, &rec);
    if (rc != 0)
        return rc;
    snprintf(room->epoch, sizeof room->epoch, "%.*s", TD_UUID_LEN, rec.epoch);
    snprintf(room->stored_hash, sizeof room->stored_hash, "%s", rec.base_hash);
    rc = td_store_yupdates_foreach(r->store, room->file_id, s_replay_one, room);
    if (rc == 0 && room->log_n == 0 && (rc = s_seed_build(room, f, err)) == 0) {
        /* Indexed by a session PUT and never opened, or seeded without reaching the log before a
         * crash: the clients hold this seed unless the file, or the relay that builds it, changed
         * since; then they must reload. */
        if (rec.disk_hash[0] && (strcmp(rec.disk_hash, f->hash) != 0 ||
                                 strcmp(rec.seed_hash, room->seed_hash) != 0))
            td_stamp_uuid(&r->env, room->epoch);
        rc = s_seed(room, f);
    }
    else if (rc == 0 && (rc = td_ydoc_set_client_id(room->doc, S_SERVER_CLIENT)) == 0) {
        if (strcmp(f->hash, rec.disk_hash) == 0) {
            rc = s_set_base(room, f);
        } else {
            int current = rec.base_hash[0] && strcmp(rec.base_hash, rec.disk_hash) == 0;
            td_ydoc_observe(room->doc, s_on_txn, room);
            rc = s_merge(room, current ? rec.base : NULL, rec.base_len, f);
            td_ydoc_unobserve(room->doc, s_on_txn, room);
            if (rc == TD_EPROTO)
                rc = 0; /* the file is not mergeable (as when polled): the history stays */
        }
    }
    free(rec.base);
    return rc;
}

/* Builds the document: from the log when there is one, else seeds a lineage from the file.
 * Returns 0, or a websocket close code (4404 no file, 4400 not loadable, 4500 server error) with
 * reason. */
static int s_load(td_room_t *room, char *reason, size_t cap)
{
    td_relay_t *r = room->r;
    int64_t t0 = td_relay_now(r);
    s_file_t f;
    s_file_stamp(room, room->disk_stamp, sizeof room->disk_stamp);
    int status = s_file_read(room, &f, reason, cap);
    if (status == 200)
        status = s_file_parse(room, &f, reason, cap);
    if (status != 200)
        return status == 404 ? 4404 : status >= 500 ? 4500 : 4400;
    room->doc = td_ydoc_new(&r->env, 0);
    td_error_t err = {0};
    int rc = room->doc ? s_resume(room, &f, &err) : TD_ENOMEM;
    if (rc == TD_EPROTO) {
        /* The history cannot be read back: start a new lineage so that no client merges its
         * copy of the old one into a reseeded document. (A store error is not that: reseeding
         * would replace a log that is fine.) */
        TD_LOG(TD_LOG_ERROR, "relay.room", "%s: history unusable (%s %s); new lineage",
               room->path, td_strerror(rc), err.text);
        td_ydoc_destroy(&room->doc);
        room->log_n = room->log_bytes = 0;
        room->doc = td_ydoc_new(&r->env, 0);
        rc = room->doc ? TD_ENOENT : TD_ENOMEM;
    }
    if (rc == TD_ENOENT) {
        td_stamp_uuid(&r->env, room->epoch);
        err = (td_error_t){0};
        rc = s_seed_build(room, &f, &err);
        if (rc == 0)
            rc = s_seed(room, &f);
        if (rc == 0)
            rc = s_seed_flush(room); /* the unusable log must go now */
    }
    if (rc == 0)
        rc = td_ydoc_set_client_id(room->doc, S_SERVER_CLIENT);
    if (rc == 0 && td_store_commit(r->store) != 0)
        rc = TD_ESTATE;
    /* The parsed file goes at the first tick, not now: freeing a big notebook's tree (millions of
     * small blocks, and glibc consolidating them at the next large malloc) costs tens of
     * milliseconds that the first SyncStep2 would wait for. */
    room->parsed = f.content;
    f.content = NULL;
    s_file_fini(&f);
    if (rc != 0) {
        /* The document may hold part of the log only (a store read error or OOM mid-replay):
         * closing the room must not compact it over the whole log. */
        td_ydoc_destroy(&room->doc);
        snprintf(reason, cap, "cannot load: %s %s", td_strerror(rc), err.text);
        return rc == TD_EPROTO ? 4400 : 4500;
    }
    if (room->kind == R_NOTEBOOK && !(room->nbexec = td_ynb_exec_new(room->doc))) {
        snprintf(reason, cap, "out of memory");
        return 4500;
    }
    td_ydoc_observe(room->doc, s_on_txn, room);
    room->saved_changes = room->changes;
    if (room->kind == R_NOTEBOOK)
        s_sync_cells(room);
    TD_LOG(TD_LOG_INFO, "relay.room", "%s: loaded in %.1f ms (%zu logged updates)", room->path,
           (double)(td_relay_now(r) - t0) / 1e3, room->log_n);
    return 0;
}

/* ---- room lifetime ----------------------------------------------------------------------------- */

static void s_on_tick(uv_timer_t *t)
{
    td_room_t *room = t->data;
    td_relay_t *r = room->r;
    td_yawareness_changes_t ch;
    if (td_yawareness_check(room->aw, s_now_ms(r), &ch) == 0 && ch.nremoved) {
        td_obuf_t *b = s_aw_frame(room, ch.removed, ch.nremoved);
        s_broadcast_now(room, b, NULL);
        td_obuf_unref(&b);
    }
    if (room->kind == R_AWARENESS)
        return;
    json_decref(room->parsed);
    room->parsed = NULL;
    if (room->seed) {
        room->store_failed = s_seed_flush(room) != 0;
        s_mark_flush(room); /* the commit decides for the room: a failed one closes it */
        if (room->store_failed)
            return;
    }
    s_sync_disk(room, 0);
}

static void s_handle_closed(uv_handle_t *h)
{
    td_room_t *room = h->data;
    if (--room->handles == 0) {
        json_decref(room->parsed);
        free(room->seed);
        free(room->base);
        free(room);
    }
}

/* Unlinks and frees the room (no peers left): compacts its log, cancels executions. */
static void s_room_close(td_room_t *room)
{
    td_relay_t *r = room->r;
    if (room->closing)
        return;
    room->closing = 1;
    for (td_room_t **pp = &r->rooms; *pp; pp = &(*pp)->next)
        if (*pp == room) {
            *pp = room->next;
            break;
        }
    for (td_room_t **pp = &r->flushing; *pp; pp = &(*pp)->flush_next)
        if (*pp == room) {
            *pp = room->flush_next;
            break;
        }
    s_out_clear(room);
    while (room->execs) {
        s_exec_t *x = room->execs;
        room->execs = x->next;
        td_kexec_cancel(x->k, &x->kx);
        td_waiters_fire(&x->waiters, x->k, TD_ESTATE);
        free(x);
    }
    if (room->doc) {
        td_ydoc_unobserve(room->doc, s_on_txn, room);
        if (s_seed_flush(room) != 0)
            TD_LOG(TD_LOG_ERROR, "relay.room", "%s: cannot log the seed", room->path);
        if (room->log_n > 1)
            s_compact(room);
        s_store_base(room);
        td_store_commit(r->store);
    }
    td_ynb_exec_destroy(&room->nbexec);
    td_ydoc_destroy(&room->doc);
    td_yawareness_destroy(&room->aw);
    TD_LOG(TD_LOG_INFO, "relay.room", "%s: unloaded", room->path[0] ? room->path : room->name);
    uv_close((uv_handle_t *)&room->tick, s_handle_closed);
    uv_close((uv_handle_t *)&room->save, s_handle_closed);
    uv_close((uv_handle_t *)&room->unload, s_handle_closed);
}

static void s_on_unload(uv_timer_t *t)
{
    td_room_t *room = t->data;
    if (!room->peers && !room->execs)
        s_room_close(room);
}

static td_room_t *s_room_find(td_relay_t *r, const char *name)
{
    for (td_room_t *room = r->rooms; room; room = room->next)
        if (strcmp(room->name, name) == 0)
            return room;
    return NULL;
}

static td_room_t *s_room_new(td_relay_t *r, const char *name, int kind)
{
    td_room_t *room = calloc(1, sizeof *room);
    if (!room)
        return NULL;
    room->r = r;
    snprintf(room->name, sizeof room->name, "%s", name);
    room->kind = kind;
    room->out_tail = &room->out;
    room->aw = td_yawareness_new(TD_YAWARENESS_NO_CLIENT);
    if (!room->aw) {
        free(room);
        return NULL;
    }
    uv_timer_t *timers[3] = {&room->tick, &room->save, &room->unload};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(r->loop, timers[i]);
        timers[i]->data = room;
    }
    room->handles = 3;
    uint64_t tick = kind == R_AWARENESS ? S_TICK_MS : r->file_poll_ms;
    uv_timer_start(&room->tick, s_on_tick, tick, tick);
    room->next = r->rooms;
    r->rooms = room;
    return room;
}

/* ---- sessions ---------------------------------------------------------------------------------- */

/* The id of an API path, created on first use (*created = 1). 0 or TD_E*. */
int td_rooms_file_id(td_relay_t *r, const char *path, char id[TD_UUID_LEN + 1], int *created)
{
    if (created)
        *created = 0;
    int rc = td_store_file_id(r->store, path, id, TD_UUID_LEN + 1);
    if (rc != TD_ENOENT)
        return rc;
    json_t *m = NULL;
    td_contents_query_t q = {NULL, NULL, "0", "0"};
    int st = td_contents_get(r->contents, path, &q, &m);
    json_decref(m);
    if (st != 200)
        return TD_ENOENT;
    td_stamp_uuid(&r->env, id);
    if (created)
        *created = 1;
    return td_store_file_add(r->store, path, id) ? TD_ESTATE : 0;
}

int td_rooms_session(td_relay_t *r, const char *path, const json_t *body, json_t **out)
{
    char norm[TD_ROUTE_PATH_MAX];
    const char *format = json_string_value(json_object_get(body, "format"));
    const char *type = json_string_value(json_object_get(body, "type"));
    *out = NULL;
    if (!format || !type || td_contents_path_norm(path, norm, sizeof norm) != 0) {
        *out = json_pack("{s:s, s:n}", "message", "Expected {format, type} and a valid path",
                         "reason");
        return 400;
    }
    json_t *m = NULL;
    td_contents_query_t q = {NULL, NULL, "0", "0"};
    int status = td_contents_get(r->contents, norm, &q, &m);
    const char *kind = json_string_value(json_object_get(m, "type"));
    if (status == 200 && kind && strcmp(kind, "directory") == 0)
        status = 404;
    json_decref(m);
    if (status != 200) {
        *out = json_pack("{s:s, s:n}", "message", "File not found", "reason");
        return status == 404 ? 404 : status;
    }
    char id[TD_UUID_LEN + 1];
    td_store_ydoc_t rec = {.base = NULL};
    int created = 0;
    int rc = td_rooms_file_id(r, norm, id, &created);
    if (rc == 0 && (rc = td_store_ydoc_epoch(r->store, id, rec.epoch, sizeof rec.epoch)) ==
                       TD_ENOENT) {
        /* The lineage is named now; the document is seeded when a client first opens it. */
        td_stamp_uuid(&r->env, rec.epoch);
        rc = td_store_ydoc_put(r->store, id, &rec);
    }
    if (rc != 0) {
        *out = json_pack("{s:s, s:n}", "message", "The store failed", "reason");
        return 500;
    }
    *out = json_pack("{s:s, s:s, s:s, s:s}", "format", format, "type", type, "fileId", id,
                     "sessionId", rec.epoch);
    return created ? 201 : 200;
}

void td_rooms_renamed(td_relay_t *r, const char *from, const char *to)
{
    if (td_store_file_move(r->store, from, to) != 0)
        TD_LOG(TD_LOG_WARN, "relay.room", "cannot record a rename in the store");
    size_t n = strlen(from);
    for (td_room_t *room = r->rooms; room; room = room->next) {
        if (room->kind == R_AWARENESS || strncmp(room->path, from, n) != 0 ||
            (room->path[n] != '\0' && room->path[n] != '/'))
            continue;
        char np[TD_ROUTE_PATH_MAX];
        if (snprintf(np, sizeof np, "%s%s", to, room->path + n) >= (int)sizeof np)
            continue;
        snprintf(room->path, sizeof room->path, "%s", np);
        json_t *v = json_string(np);
        if (v)
            td_ynb_state_set(room->doc, "path", v);
        json_decref(v);
    }
}

/* ---- peers ------------------------------------------------------------------------------------- */

static int s_close_json(char *reason, size_t cap, const char *why, const char *sid)
{
    json_t *j = json_pack("{s:s, s:s, s:b}", "reason", why, "sessionId", sid, "reloadable", 1);
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    snprintf(reason, cap, "%s", t && strlen(t) < cap ? t : "{\"reason\":\"unknown_session\",\"reloadable\":true}");
    free(t);
    json_decref(j);
    return 1003;
}

td_peer_t *td_room_join(td_relay_t *r, const char *name, const char *session_id,
                        const td_user_t *user, td_pss_t *ws, int *code, char *reason, size_t cap)
{
    int kind = R_AWARENESS;
    char id[TD_ROUTE_ARG_MAX] = "";
    const char *c1 = strchr(name, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2) {
        if (strncmp(name, "json:notebook:", 14) == 0)
            kind = R_NOTEBOOK;
        else if (strncmp(name, "text:file:", 10) == 0)
            kind = R_FILE;
        else {
            *code = 4400;
            snprintf(reason, cap, "tandem-relay: unsupported room format");
            return NULL;
        }
        snprintf(id, sizeof id, "%s", c2 + 1);
        if (strlen(id) > TD_UUID_LEN) {
            *code = 4404;
            snprintf(reason, cap, "tandem-relay: no file with this id");
            return NULL;
        }
    }
    td_room_t *room = s_room_find(r, name);
    char path[TD_ROUTE_PATH_MAX];
    if (kind != R_AWARENESS && !room &&
        td_store_file_path(r->store, id, path, sizeof path) != 0) {
        *code = 4404;
        snprintf(reason, cap, "tandem-relay: no file with this id");
        return NULL;
    }
    if (kind != R_AWARENESS) {
        int nd = 0;
        const char *fpath = room ? room->path : path;
        td_role_t role = td_acl_role(r->acl, user->username, fpath, &nd);
        if (!td_acl_allows(role, nd, TD_ACL_READ)) {
            *code = 4403;
            snprintf(reason, cap, "tandem-relay: your role does not allow opening this file");
            td_acl_audit(r->acl, user->username, "denied", fpath, "open room");
            return NULL;
        }
        td_acl_audit(r->acl, user->username, "open", fpath, td_role_name(role));
    }
    if (kind != R_AWARENESS && !room) {
        /* Both formats of one file would share its log (keyed by file id) and its file: a text
         * room would replay a notebook's history as an empty text and save that over the
         * notebook. A file opens in the format the Contents API gives it, in one room. */
        size_t n = strlen(path);
        int nb = n >= 6 && strcmp(path + n - 6, ".ipynb") == 0;
        int other = 0;
        for (td_room_t *o = r->rooms; o; o = o->next)
            other |= o->kind != R_AWARENESS && strcmp(o->file_id, id) == 0;
        if (other || nb != (kind == R_NOTEBOOK)) {
            *code = 4400;
            snprintf(reason, cap, "tandem-relay: this file does not open in this format");
            return NULL;
        }
    }
    char epoch[64] = "";
    if (kind != R_AWARENESS && !room && td_store_ydoc_epoch(r->store, id, epoch, sizeof epoch) != 0)
        epoch[0] = '\0';
    if (kind != R_AWARENESS && strcmp(session_id, room ? room->epoch : epoch) != 0) {
        *code = s_close_json(reason, cap, "unknown_session", session_id);
        return NULL;
    }
    if (!room) {
        room = s_room_new(r, name, kind);
        if (!room) {
            *code = 1011;
            snprintf(reason, cap, "tandem-relay: out of memory");
            return NULL;
        }
        if (kind != R_AWARENESS) {
            snprintf(room->file_id, sizeof room->file_id, "%.*s", TD_UUID_LEN, id);
            snprintf(room->path, sizeof room->path, "%s", path);
            int rc = s_load(room, reason, cap);
            if (rc == 0 && strcmp(room->epoch, session_id) != 0)
                rc = s_close_json(reason, cap, "unknown_session", session_id); /* reseeded */
            if (rc != 0) {
                *code = rc;
                s_room_close(room);
                return NULL;
            }
        }
    }
    td_peer_t *p = calloc(1, sizeof *p);
    if (!p) {
        *code = 1011;
        snprintf(reason, cap, "tandem-relay: out of memory");
        if (!room->peers)
            s_room_close(room);
        return NULL;
    }
    p->room = room;
    p->ws = ws;
    p->user = user;
    p->next = room->peers;
    room->peers = p;
    room->npeers++;
    uv_timer_stop(&room->unload);
    /* The server speaks first: step1 with its state vector, then every awareness state. */
    td_lib0_enc_t e, sv;
    s_frame_init(&e);
    td_lib0_enc_init(&sv);
    if (room->doc)
        td_ydoc_encode_state_vector(room->doc, &sv);
    else
        td_lib0_write_varuint(&sv, 0);
    td_ysync_ws_encode_sync(&e, TD_YSYNC_STEP1, sv.buf, sv.len);
    td_obuf_t *b = s_frame(&e);
    s_send(p, b);
    td_obuf_unref(&b);
    if (td_yawareness_nstates(room->aw)) {
        b = s_aw_frame(room, NULL, 0);
        s_send(p, b);
        td_obuf_unref(&b);
    }
    td_lib0_enc_fini(&e);
    td_lib0_enc_fini(&sv);
    TD_LOG(TD_LOG_INFO, "relay.room", "%s: %s joined (%d peers)",
           room->path[0] ? room->path : room->name, user->username, room->npeers);
    return p;
}

static void s_aw_track(td_peer_t *p, uint64_t client, int has_state)
{
    for (size_t i = 0; i < p->naw; i++)
        if (p->aw[i] == client) {
            if (!has_state)
                p->aw[i] = p->aw[--p->naw];
            return;
        }
    if (!has_state)
        return;
    if (p->naw == p->aw_cap) {
        size_t cap = p->aw_cap ? p->aw_cap * 2 : 4;
        uint64_t *g = realloc(p->aw, cap * sizeof *g);
        if (!g)
            return;
        p->aw = g;
        p->aw_cap = cap;
    }
    p->aw[p->naw++] = client;
}

/* An awareness update from a peer: every state's `user` becomes the peer's identity, then it is
 * applied and echoed to every peer (the sender too: that keeps a lone client's connection
 * alive). Returns 0 or -1 (malformed). */
static int s_awareness(td_peer_t *p, td_bytes_t body, char *reason, size_t cap)
{
    td_room_t *room = p->room;
    td_error_t err = {0};
    size_t n = 0;
    if (td_yawareness_decode(body.data, body.len, NULL, 0, &n, &err) < 0 || n > S_MAX_AWARENESS) {
        snprintf(reason, cap, "tandem-relay: malformed awareness update");
        return -1;
    }
    td_yawareness_entry_t *ent = calloc(n ? n : 1, sizeof *ent);
    if (!ent || td_yawareness_decode(body.data, body.len, ent, n, &n, &err) < 0) {
        free(ent);
        snprintf(reason, cap, "tandem-relay: malformed awareness update");
        return -1;
    }
    /* Client ids this connection would control: bounded, since each is tracked in a list that
     * every later entry scans. */
    size_t fresh = 0;
    for (size_t i = 0; i < n && p->naw + fresh <= S_MAX_PEER_CLIENTS; i++) {
        int known = 0;
        for (size_t j = 0; j < p->naw && !known; j++)
            known = p->aw[j] == ent[i].client;
        fresh += !known && !ent[i].is_null;
    }
    if (p->naw + fresh > S_MAX_PEER_CLIENTS) {
        free(ent);
        snprintf(reason, cap, "tandem-relay: too many awareness clients on one connection");
        return -1;
    }
    json_t *ident = td_auth_identity(p->user);
    td_lib0_enc_t u, e;
    td_lib0_enc_init(&u);
    s_frame_init(&e);
    td_yawareness_encode_begin(&u, n);
    for (size_t i = 0; i < n; i++) {
        json_t *st = ent[i].is_null ? NULL
                                    : json_loadb((const char *)ent[i].state.data, ent[i].state.len,
                                                 JSON_DECODE_ANY, NULL);
        char *text = NULL;
        if (json_is_object(st)) {
            json_object_set(st, "user", ident);
            json_t *as = json_object_get(st, "autosave");
            if (json_is_boolean(as))
                p->autosave = json_is_true(as);
            text = json_dumps(st, JSON_COMPACT);
        }
        if (text)
            td_yawareness_encode_entry(&u, ent[i].client, ent[i].clock, text, strlen(text));
        else if (ent[i].is_null)
            td_yawareness_encode_entry(&u, ent[i].client, ent[i].clock, NULL, 0);
        else
            td_yawareness_encode_entry(&u, ent[i].client, ent[i].clock,
                                       (const char *)ent[i].state.data, ent[i].state.len);
        free(text);
        json_decref(st);
    }
    json_decref(ident);
    td_yawareness_changes_t ch;
    int rc = u.err ? TD_ENOMEM : 0;
    if (rc == 0 &&
        td_yawareness_apply(room->aw, u.buf, u.len, s_now_ms(room->r), &ch, &err) >= 0) {
        for (size_t i = 0; i < ch.nadded; i++)
            s_aw_track(p, ch.added[i], 1);
        for (size_t i = 0; i < ch.nupdated; i++)
            s_aw_track(p, ch.updated[i], td_yawareness_state(room->aw, ch.updated[i], NULL) != NULL);
        for (size_t i = 0; i < ch.nremoved; i++)
            s_aw_track(p, ch.removed[i], 0);
        td_ysync_ws_encode_awareness(&e, u.buf, u.len);
        td_obuf_t *b = s_frame(&e);
        s_broadcast_now(room, b, NULL);
        td_obuf_unref(&b);
    }
    td_lib0_enc_fini(&u);
    td_lib0_enc_fini(&e);
    free(ent);
    s_arm_save(room);
    return 0;
}

static void s_raw_reply(td_peer_t *p, json_t *j)
{
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!t)
        return;
    td_lib0_enc_t e;
    s_frame_init(&e);
    td_ysync_ws_encode_raw(&e, t, strlen(t));
    td_obuf_t *b = s_frame(&e);
    s_send(p, b);
    td_obuf_unref(&b);
    td_lib0_enc_fini(&e);
    free(t);
}

int td_peer_receive(td_peer_t *p, const uint8_t *data, size_t len, int binary, int *code,
                    char *reason, size_t cap)
{
    td_room_t *room = p->room;
    td_ysync_ws_msg_t m;
    td_error_t err = {0};
    *code = 1003;
    if (!binary) {
        snprintf(reason, cap, "tandem-relay: rooms speak binary frames");
        return -1;
    }
    *code = 1002;
    if (td_ysync_ws_decode(data, len, &m, &err) < 0) {
        snprintf(reason, cap, "tandem-relay: malformed message (%.60s)", err.text);
        return -1;
    }
    switch (m.type) {
    case TD_YSYNC_WS_SYNC:
        if (m.sync.kind == TD_YSYNC_STEP1) {
            td_lib0_enc_t up, e;
            td_lib0_enc_init(&up);
            s_frame_init(&e);
            int rc = 0;
            /* Right after a seed, an empty state vector gets the seed: the whole document. */
            int whole = room->seed && m.sync.payload.len == 1 && m.sync.payload.data[0] == 0;
            if (whole)
                td_lib0_enc_reserve(&e, room->seed_len + 16); /* on failure s_frame says NULL */
            else if (room->doc)
                rc = td_ydoc_encode_state_as_update(room->doc, m.sync.payload.data,
                                                    m.sync.payload.len, &up, &err);
            else
                td_lib0_write_raw(&up, "\0\0", 2); /* an empty update */
            if (rc == 0 && !up.err) {
                td_ysync_ws_encode_sync(&e, TD_YSYNC_STEP2, whole ? room->seed : up.buf,
                                        whole ? room->seed_len : up.len);
                if (room->doc)
                    s_queue(room, s_frame(&e), p, NULL); /* may carry uncommitted state */
                else {
                    td_obuf_t *b = s_frame(&e);
                    s_send(p, b);
                    td_obuf_unref(&b);
                }
            }
            td_lib0_enc_fini(&up);
            td_lib0_enc_fini(&e);
            if (rc != 0) {
                snprintf(reason, cap, "tandem-relay: malformed state vector");
                return -1;
            }
            return 0;
        }
        if (!room->doc)
            return 0; /* an awareness room has no document */
        if (!s_peer_can(p, TD_ACL_EDIT_DOCUMENT)) {
            /* Read-only (y-protocols: drop its step2 and updates) and say so, once. */
            if (!p->told_readonly)
                s_raw_reply(p, json_pack("{s:s, s:b}", "type", "permission", "readonly", 1));
            p->told_readonly = 1;
            return 0;
        }
        {
            int rc = td_ydoc_apply_update(room->doc, m.sync.payload.data, m.sync.payload.len, p,
                                          &err);
            if (rc == TD_EPROTO) {
                td_yupdate_t *u = NULL;
                td_error_t e2 = {0};
                if (td_yupdate_decode(m.sync.payload.data, m.sync.payload.len, &u, &e2) >= 0) {
                    /* Well formed but not integrable: a stale history (jupyter-collaboration
                     * answers it with `conflict`, and the frontend offers to reload). */
                    td_yupdate_destroy(&u);
                    s_raw_reply(p, json_pack("{s:s}", "type", "conflict"));
                    return 0;
                }
                snprintf(reason, cap, "tandem-relay: malformed update (%.60s)", err.text);
                return -1;
            }
            if (rc != 0) {
                *code = 1011;
                snprintf(reason, cap, "tandem-relay: cannot apply the update (%s)",
                         td_strerror(rc));
                return -1;
            }
        }
        return 0;
    case TD_YSYNC_WS_AWARENESS:
        return s_awareness(p, m.body, reason, cap);
    case TD_YSYNC_WS_RAW: {
        td_ysync_raw_t raw;
        if (td_ysync_raw_decode(m.body, &raw, &err) < 0) {
            snprintf(reason, cap, "tandem-relay: malformed RAW message");
            return -1;
        }
        if (raw.text.len == 4 && memcmp(raw.text.data, "save", 4) == 0 && raw.has_id) {
            int can_save = s_peer_can(p, TD_ACL_SAVE);
            const char *status = can_save ? s_save(room) : "failed";
            if (can_save)
                td_acl_audit(room->r->acl, p->user->username, "save", room->path, "");
            s_raw_reply(p, json_pack("{s:s, s:I, s:s}", "type", "save", "responseTo",
                                     (json_int_t)raw.id, "status", status));
        }
        return 0;
    }
    case TD_YSYNC_WS_QUERY_AWARENESS: {
        td_obuf_t *b = s_aw_frame(room, NULL, 0);
        s_send(p, b);
        td_obuf_unref(&b);
        return 0;
    }
    default:
        *code = 1003;
        snprintf(reason, cap, "tandem-relay: unknown message type %llu",
                 (unsigned long long)m.type);
        return -1;
    }
}

void td_peer_leave(td_peer_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    td_peer_t *p = *p_p;
    td_room_t *room = p->room;
    *p_p = NULL;
    for (td_peer_t **pp = &room->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    room->npeers--;
    for (s_out_t *o = room->out; o; o = o->next) {
        if (o->only == p)
            o->only = NULL, td_obuf_unref(&o->buf);
        if (o->except == p)
            o->except = NULL; /* its sender is gone: every peer left gets it */
    }
    /* Its awareness states go (clock + 1, null) and everyone is told. A client id another
     * connection also sent (the same browser reconnected before this socket was seen to close)
     * stays; only the states actually removed are encoded (a tracked id may have timed out and
     * been forgotten, and encoding an unknown id fails the whole message). */
    size_t naw = 0;
    for (size_t i = 0; i < p->naw; i++) {
        int shared = 0;
        for (const td_peer_t *q = room->peers; q && !shared; q = q->next)
            for (size_t j = 0; j < q->naw && !shared; j++)
                shared = q->aw[j] == p->aw[i];
        if (!shared)
            p->aw[naw++] = p->aw[i];
    }
    if (naw) {
        td_yawareness_changes_t ch;
        if (td_yawareness_remove(room->aw, p->aw, naw, s_now_ms(room->r), &ch) == 0 &&
            ch.nremoved) {
            td_obuf_t *b = s_aw_frame(room, ch.removed, ch.nremoved);
            s_broadcast_now(room, b, NULL);
            td_obuf_unref(&b);
        }
    }
    TD_LOG(TD_LOG_INFO, "relay.room", "%s: %s left (%d peers)",
           room->path[0] ? room->path : room->name, p->user->username, room->npeers);
    free(p->aw);
    free(p);
    if (!room->peers) {
        if (room->kind == R_AWARENESS)
            s_room_close(room);
        else
            uv_timer_start(&room->unload, s_on_unload, room->r->room_unload_ms, 0);
    }
}

/* ---- server-side execution --------------------------------------------------------------------- */

/* nbformat's output_from_msg. New reference or NULL for messages that are not outputs. */
static json_t *s_output(const char *type, const json_t *c)
{
    if (strcmp(type, "stream") == 0)
        return json_pack("{s:s, s:O, s:O}", "output_type", "stream", "name",
                         json_object_get(c, "name"), "text", json_object_get(c, "text"));
    if (strcmp(type, "display_data") == 0)
        return json_pack("{s:s, s:O, s:O}", "output_type", type, "data",
                         json_object_get(c, "data"), "metadata", json_object_get(c, "metadata"));
    if (strcmp(type, "execute_result") == 0)
        return json_pack("{s:s, s:O, s:O, s:O}", "output_type", type, "data",
                         json_object_get(c, "data"), "metadata", json_object_get(c, "metadata"),
                         "execution_count", json_object_get(c, "execution_count"));
    if (strcmp(type, "error") == 0)
        return json_pack("{s:s, s:O, s:O, s:O}", "output_type", type, "ename",
                         json_object_get(c, "ename"), "evalue", json_object_get(c, "evalue"),
                         "traceback", json_object_get(c, "traceback"));
    return NULL;
}

static void s_on_kexec(void *arg, const char *type, const json_t *c)
{
    s_exec_t *x = arg;
    td_room_t *room = x->room;
    if (!type) { /* over */
        x->kx = NULL;
        td_ynb_exec_finish(room->nbexec, x->cell_id, x->count);
        for (s_exec_t **pp = &room->execs; *pp; pp = &(*pp)->next)
            if (*pp == x) {
                *pp = x->next;
                break;
            }
        if (x->waiters)
            x->waiters->result = x->status[0]
                                     ? json_pack("{s:s, s:I}", "status", x->status,
                                                 "execution_count", (json_int_t)x->count)
                                     : NULL;
        td_waiters_fire(&x->waiters, x->k, x->status[0] ? 0 : TD_ESTATE);
        free(x);
        if (!room->peers && !room->execs)
            uv_timer_start(&room->unload, s_on_unload, room->r->room_unload_ms, 0);
        return;
    }
    const json_t *transient = json_object_get(c, "transient");
    const char *display_id = json_string_value(json_object_get(transient, "display_id"));
    if (strcmp(type, "execute_reply") == 0) {
        snprintf(x->status, sizeof x->status, "%s",
                 json_string_value(json_object_get(c, "status")) ?: "error");
        json_t *n = json_object_get(c, "execution_count");
        x->count = json_is_integer(n) ? json_integer_value(n) : -1;
    } else if (strcmp(type, "execute_input") == 0) {
        json_t *n = json_object_get(c, "execution_count");
        if (json_is_integer(n))
            x->count = json_integer_value(n);
    } else if (strcmp(type, "clear_output") == 0) {
        td_ynb_exec_clear(room->nbexec, x->cell_id, json_is_true(json_object_get(c, "wait")));
    } else if (strcmp(type, "update_display_data") == 0) {
        json_t *o = s_output("display_data", c);
        if (o && display_id)
            td_ynb_exec_update_display(room->nbexec, display_id, o);
        json_decref(o);
    } else {
        json_t *o = s_output(type, c);
        if (o)
            td_ynb_exec_output(room->nbexec, x->cell_id, o, display_id);
        json_decref(o);
    }
}

int td_rooms_execute(td_relay_t *r, td_kernel_t *k, const td_user_t *user, const json_t *body,
                     td_waiter_t *w, json_t **out)
{
    const char *cell_id = json_string_value(json_object_get(body, "cell_id"));
    const char *doc_id = json_string_value(json_object_get(body, "document_id"));
    *out = NULL;
    if (!cell_id || !doc_id || strlen(cell_id) >= sizeof ((s_exec_t *)0)->cell_id) {
        *out = json_pack("{s:s, s:n}", "message", "Expected {cell_id, document_id}", "reason");
        return 400;
    }
    td_room_t *room = s_room_find(r, doc_id);
    td_ytype_t *cell = room && room->kind == R_NOTEBOOK ? td_ynb_cell_by_id(room->doc, cell_id)
                                                        : NULL;
    if (!cell) {
        *out = json_pack("{s:s, s:n}", "message",
                         room ? "No such cell in the document" : "No such open document",
                         "reason");
        return 404;
    }
    if (!td_acl_can(r->acl, user->username, room->path, TD_ACL_EXECUTE)) {
        *out = json_pack("{s:s, s:s}", "message", "Your role does not allow executing code",
                         "reason", "forbidden");
        return 403;
    }
    td_acl_audit(r->acl, user->username, "execute", room->path, cell_id);
    char *code = NULL;
    size_t n;
    td_ytype_t *src = td_ymap_get_type(cell, "source");
    if (!src || td_ytext_string(src, &code, &n) != 0) {
        *out = json_pack("{s:s, s:n}", "message", "The cell has no source", "reason");
        return 400;
    }
    s_exec_t *x = calloc(1, sizeof *x);
    int rc = x ? td_ynb_exec_start(room->nbexec, cell_id) : TD_ENOMEM;
    if (rc == 0) {
        x->room = room;
        x->k = k;
        x->count = -1;
        snprintf(x->cell_id, sizeof x->cell_id, "%s", cell_id);
        rc = td_kernel_execute(k, code, s_on_kexec, x, &x->kx);
    }
    free(code);
    if (rc != 0) {
        if (x)
            td_ynb_exec_finish(room->nbexec, cell_id, -1);
        free(x);
        *out = json_pack("{s:s, s:n}", "message",
                         rc == TD_ENOENT ? "Not a code cell" : "The kernel cannot execute now",
                         "reason");
        return rc == TD_ENOENT ? 400 : 409;
    }
    x->next = room->execs;
    room->execs = x;
    td_waiter_link(&x->waiters, w);
    return 0;
}

int td_rooms_has_cell(void *relay, const char *file_id, const char *cell_id)
{
    td_relay_t *r = relay;
    char name[TD_ROUTE_ARG_MAX];
    snprintf(name, sizeof name, "json:notebook:%s", file_id);
    td_room_t *room = s_room_find(r, name);
    if (room)
        return td_ynb_cell_by_id(room->doc, cell_id) != NULL;
    char path[TD_ROUTE_PATH_MAX];
    json_t *m = NULL, *cell;
    size_t i;
    int found = 0;
    td_contents_query_t q = {"notebook", NULL, "1", "0"};
    if (td_store_file_path(r->store, file_id, path, sizeof path) == 0 &&
        td_contents_get(r->contents, path, &q, &m) == 200)
        json_array_foreach(json_object_get(json_object_get(m, "content"), "cells"), i, cell)
            found |= json_is_string(json_object_get(cell, "id")) &&
                     strcmp(json_string_value(json_object_get(cell, "id")), cell_id) == 0;
    json_decref(m);
    return found;
}

/* ---- presence ---------------------------------------------------------------------------------- */

/* The cell id a cursor (a Y.RelativePosition JSON into a cell's source) points into, or NULL. */
static const char *s_cursor_cell(td_room_t *room, const json_t *pos, json_t **keep)
{
    td_yrelpos_t rp;
    td_ytype_t *t = NULL;
    size_t idx;
    if (!room->doc || td_yrelpos_from_json(pos, &rp) != 0 ||
        td_yrelpos_resolve(room->doc, &rp, &t, &idx) != 0 || !t)
        return NULL;
    td_ytype_t *cell = td_ytype_parent(t);
    *keep = cell ? td_ymap_get_json(cell, "id") : NULL;
    return json_string_value(*keep);
}

/* Adds a room's users ({username, display_name, cells, clients}) to arr; in the global room, with
 * `current` only when viewer may read the document it names. */
static void s_room_users(td_room_t *room, json_t *users, int global, const td_user_t *viewer)
{
    for (size_t i = 0; i < td_yawareness_nclients(room->aw); i++) {
        const char *text = td_yawareness_state(room->aw, td_yawareness_client(room->aw, i), NULL);
        json_t *st = text ? json_loads(text, 0, NULL) : NULL;
        json_t *user = json_object_get(st, "user");
        const char *name = json_string_value(json_object_get(user, "username"));
        if (!name) {
            json_decref(st);
            continue;
        }
        json_t *u = NULL;
        size_t j;
        json_t *v;
        json_array_foreach(users, j, v) if (strcmp(json_string_value(json_object_get(v, "username")), name) == 0) u = v;
        if (!u) {
            u = json_pack("{s:s, s:O, s:i}", "username", name, "display_name",
                          json_object_get(user, "display_name"), "clients", 0);
            json_object_set_new(u, global ? "current" : "cells", global ? json_null() : json_array());
            json_array_append_new(users, u);
        }
        json_object_set_new(u, "clients",
                            json_integer(json_integer_value(json_object_get(u, "clients")) + 1));
        if (global) {
            json_t *cur = json_object_get(st, "current");
            const char *colon = json_is_string(cur) ? strchr(json_string_value(cur), ':') : NULL;
            if (colon && td_acl_can(room->r->acl, viewer->username, colon + 1, TD_ACL_READ))
                json_object_set(u, "current", cur);
        } else {
            json_t *cursors = json_object_get(st, "cursors"), *c;
            json_t *cells = json_object_get(u, "cells");
            json_array_foreach(cursors, j, c)
            {
                json_t *keep = NULL;
                const char *cell = s_cursor_cell(room, json_object_get(c, "head"), &keep);
                int seen = 0;
                size_t k;
                json_t *x;
                json_array_foreach(cells, k, x) seen |= cell && strcmp(json_string_value(x), cell) == 0;
                if (cell && !seen)
                    json_array_append_new(cells, json_string(cell));
                json_decref(keep);
            }
        }
        json_decref(st);
    }
}

json_t *td_rooms_presence(td_relay_t *r, const td_user_t *user, const char *path)
{
    json_t *docs = json_array(), *global = json_array();
    for (td_room_t *room = r->rooms; room; room = room->next) {
        if (room->kind == R_AWARENESS) {
            if (!path)
                s_room_users(room, global, 1, user);
            continue;
        }
        if ((path && strcmp(path, room->path) != 0) ||
            !td_acl_can(r->acl, user->username, room->path, TD_ACL_READ))
            continue;
        json_t *users = json_array();
        s_room_users(room, users, 0, user);
        json_array_append_new(docs, json_pack("{s:s, s:s, s:o}", "path", room->path, "fileId",
                                              room->file_id, "users", users));
    }
    return json_pack("{s:o, s:o}", "presence", docs, "global", global);
}

void td_rooms_recheck(td_relay_t *r)
{
    for (td_room_t *room = r->rooms; room; room = room->next)
        for (td_peer_t *p = room->peers; p; p = p->next)
            if (room->kind != R_AWARENESS && !s_peer_can(p, TD_ACL_READ))
                td_ws_close(p->ws, 4403, "tandem-relay: your access to this file was removed");
}

/* ---- relay lifetime ---------------------------------------------------------------------------- */

int td_rooms_start(td_relay_t *r)
{
    if (uv_check_init(r->loop, &r->commit_check) != 0)
        return -1;
    r->commit_check.data = r;
    return uv_check_start(&r->commit_check, s_on_commit) == 0 ? 0 : -1;
}

void td_rooms_shutdown(td_relay_t *r)
{
    s_on_commit(&r->commit_check);
    while (r->rooms) {
        td_room_t *room = r->rooms;
        while (room->peers && !room->closing) {
            td_pss_t *ws = room->peers->ws;
            td_ws_close(ws, 1001, "tandem-relay: shutting down");
            td_ws_drop_peer(ws); /* an awareness room closes with its last peer */
        }
        if (!room->closing)
            s_room_close(room);
    }
    td_store_commit(r->store);
    uv_close((uv_handle_t *)&r->commit_check, NULL);
}
