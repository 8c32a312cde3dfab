/*
 * Sandpiper's packed encodings for C guests: a reader of `packed-events` batches and a
 * writer of `packed-rows` batches (wit/types.wit; the Rust SDK's sdk/packed/src/events.rs
 * has the authoritative layout). Header-only, no allocation while reading: strings and
 * addresses are pointers into the batch, valid until the batch is freed.
 *
 * Reading a batch:
 *
 *     sp_events r = sp_events_of(batch->bytes.ptr, batch->bytes.len, batch->count);
 *     sp_event ev;
 *     while (sp_next_event(&r, &ev)) { ... }
 *     if (r.error) ...   // a malformed batch (the host never sends one)
 *
 * Writing rows:
 *
 *     sp_rows rows = {0};
 *     sp_row(&rows, 3);               // a row of three values
 *     sp_time(&rows, ts); sp_str(&rows, "x", 1); sp_count(&rows, 7);
 *     ... log.write_packed(stream, &(packed_rows){rows.count, {rows.bytes, rows.len}}, &err)
 *     sp_rows_clear(&rows);           // or sp_rows_free
 *
 * All integers are little-endian, as on wasm32, so fields are read with memcpy.
 */
#ifndef SANDPIPER_PACKED_H
#define SANDPIPER_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Value tags (the WIT `value` case indexes). */
enum {
    SP_UNSET = 0,
    SP_BOOLEAN = 1,
    SP_COUNT = 2,
    SP_INTEGER = 3,
    SP_DOUBLE = 4,
    SP_TIME = 5,
    SP_INTERVAL = 6,
    SP_STR = 7,
    SP_ADDR = 8,
    SP_PORT = 9,
    SP_SUBNET = 10,
    SP_ENUMERATION = 11,
    SP_SET_OF = 12,
    SP_VECTOR_OF = 13,
};

/* Transport codes (the WIT `transport` case indexes). */
enum { SP_TCP = 0, SP_UDP = 1, SP_ICMP = 2, SP_UNKNOWN_TRANSPORT = 3 };

/* Sizes of an event's and a connection's fixed blocks. */
#define SP_EVENT_FIXED 17
#define SP_CONN_FIXED 62

/* A borrowed string (UTF-8, not NUL-terminated). */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} sp_text;

/* An address: 4 (IPv4) or 16 (IPv6) bytes in network order. */
typedef struct {
    const uint8_t *bytes;
    uint8_t len;
} sp_addr;

/* One flat value. `text` is set for str and enumeration, `n` for set-of and vector-of. */
typedef struct {
    uint8_t tag;
    bool boolean;
    uint64_t count;
    int64_t integer;
    double real; /* double, time, interval */
    sp_text text;
    sp_addr addr;   /* addr, subnet */
    uint16_t port;  /* port number */
    uint8_t proto;  /* port transport; prefix length of a subnet */
    uint32_t n;
} sp_value;

/* A connection as `conn-info` has it. `service` and `tunnel_parents` are the lists joined
 * with ","; the host's names never hold "," or NUL. */
typedef struct {
    double start, duration;
    uint64_t orig_bytes, resp_bytes, orig_pkts, resp_pkts;
    uint16_t orig_p, resp_p;
    uint8_t orig_proto, resp_proto;
    bool local_orig, local_resp;
    sp_addr orig_h, resp_h;
    sp_text uid, conn_state, history, service, tunnel_parents;
} sp_conn;

/* One event. Its `nargs` arguments follow at `r->at` when sp_next_event returns: read them
 * with sp_read_value, or leave them (the next sp_next_event skips what was not read). */
typedef struct {
    sp_text name;
    double ts;
    bool has_conn;
    sp_conn conn;
    uint32_t nargs;
} sp_event;

/* A reader over one batch. `error` names what was malformed and `at` is where. */
typedef struct {
    const uint8_t *bytes;
    size_t len;
    size_t at;
    uint32_t left;       /* events not yet started */
    uint32_t args_left;  /* arguments of the current event not yet read */
    const char *error;
} sp_events;

static inline sp_events sp_events_of(const uint8_t *bytes, size_t len, uint32_t count) {
    sp_events r = {bytes, len, 0, count, 0, NULL};
    return r;
}

static inline bool sp_fail(sp_events *r, const char *what) {
    if (!r->error) r->error = what;
    return false;
}

static inline bool sp_take(sp_events *r, size_t n, const uint8_t **out) {
    if (r->len - r->at < n) return sp_fail(r, "a batch cut short");
    *out = r->bytes + r->at;
    r->at += n;
    return true;
}

static inline uint16_t sp_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t sp_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t sp_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline double sp_f64(const uint8_t *p) { double v; memcpy(&v, p, 8); return v; }

/* An address of `len` (4 or 16) bytes. */
static inline bool sp_read_addr(sp_events *r, uint8_t len, sp_addr *a) {
    a->len = len;
    return sp_take(r, len, &a->bytes);
}

static inline bool sp_read_text(sp_events *r, sp_text *t) {
    const uint8_t *p;
    if (!sp_take(r, 4, &p)) return false;
    t->len = sp_u32(p);
    return sp_take(r, t->len, &t->ptr);
}

/* Reads the next argument of the current event. */
static inline bool sp_read_value(sp_events *r, sp_value *v) {
    const uint8_t *p;
    if (r->args_left == 0) return sp_fail(r, "more arguments read than the event has");
    if (!sp_take(r, 1, &p)) return false;
    r->args_left--;
    v->tag = p[0];
    switch (v->tag) {
    case SP_UNSET:
        return true;
    case SP_BOOLEAN:
        if (!sp_take(r, 1, &p)) return false;
        if (p[0] > 1) return sp_fail(r, "a boolean other than 0 or 1");
        v->boolean = p[0] == 1;
        return true;
    case SP_COUNT:
    case SP_INTEGER:
        if (!sp_take(r, 8, &p)) return false;
        v->count = sp_u64(p);
        v->integer = (int64_t)v->count;
        return true;
    case SP_DOUBLE:
    case SP_TIME:
    case SP_INTERVAL:
        if (!sp_take(r, 8, &p)) return false;
        v->real = sp_f64(p);
        return true;
    case SP_STR:
    case SP_ENUMERATION:
        return sp_read_text(r, &v->text);
    case SP_ADDR:
    case SP_SUBNET:
        if (!sp_take(r, 1, &p)) return false;
        if (p[0] != 4 && p[0] != 6) return sp_fail(r, "an address family other than 4 or 6");
        if (!sp_read_addr(r, p[0] == 4 ? 4 : 16, &v->addr)) return false;
        if (v->tag == SP_SUBNET) {
            if (!sp_take(r, 1, &p)) return false;
            v->proto = p[0];
        }
        return true;
    case SP_PORT:
        if (!sp_take(r, 3, &p)) return false;
        v->port = sp_u16(p);
        v->proto = p[2];
        return true;
    case SP_SET_OF:
    case SP_VECTOR_OF:
        if (!sp_take(r, 4, &p)) return false;
        v->n = sp_u32(p);
        return true;
    default:
        return sp_fail(r, "an unknown value tag");
    }
}

/* Splits off the text before the next NUL of `*rest`; false if there is none and `last` is
 * not set. */
static inline bool sp_split_nul(sp_text *rest, sp_text *part, bool last) {
    const uint8_t *nul = rest->len ? memchr(rest->ptr, 0, rest->len) : NULL;
    if (last) {
        if (nul) return false;
        *part = *rest;
        rest->len = 0;
        return true;
    }
    if (!nul) return false;
    part->ptr = rest->ptr;
    part->len = (size_t)(nul - rest->ptr);
    rest->ptr = nul + 1;
    rest->len -= part->len + 1;
    return true;
}

static inline bool sp_read_conn(sp_events *r, sp_conn *c) {
    const uint8_t *f;
    if (!sp_take(r, SP_CONN_FIXED, &f)) return false;
    c->start = sp_f64(f);
    c->duration = sp_f64(f + 8);
    c->orig_bytes = sp_u64(f + 16);
    c->resp_bytes = sp_u64(f + 24);
    c->orig_pkts = sp_u64(f + 32);
    c->resp_pkts = sp_u64(f + 40);
    c->orig_p = sp_u16(f + 48);
    c->orig_proto = f[50];
    c->resp_p = sp_u16(f + 51);
    c->resp_proto = f[53];
    if (c->orig_proto > SP_UNKNOWN_TRANSPORT || c->resp_proto > SP_UNKNOWN_TRANSPORT)
        return sp_fail(r, "an unknown transport");
    if (f[54] > 1 || f[55] > 1) return sp_fail(r, "a boolean other than 0 or 1");
    c->local_orig = f[54] == 1;
    c->local_resp = f[55] == 1;
    if ((f[56] != 4 && f[56] != 16) || (f[57] != 4 && f[57] != 16))
        return sp_fail(r, "an address length other than 4 or 16");
    sp_text text;
    text.len = sp_u32(f + 58);
    if (!sp_read_addr(r, f[56], &c->orig_h) || !sp_read_addr(r, f[57], &c->resp_h) ||
        !sp_take(r, text.len, &text.ptr))
        return false;
    if (!sp_split_nul(&text, &c->uid, false) || !sp_split_nul(&text, &c->conn_state, false) ||
        !sp_split_nul(&text, &c->history, false) || !sp_split_nul(&text, &c->service, false) ||
        !sp_split_nul(&text, &c->tunnel_parents, true))
        return sp_fail(r, "a connection's text with other than five parts");
    return true;
}

/* Moves to the next event: false at the end of the batch or on a malformed one (`error`
 * set; also when bytes are left after the last event). */
static inline bool sp_next_event(sp_events *r, sp_event *ev) {
    sp_value skipped;
    while (r->args_left > 0)
        if (!sp_read_value(r, &skipped)) return false;
    if (r->error) return false;
    if (r->left == 0) {
        if (r->at != r->len) return sp_fail(r, "bytes after the last event");
        return false;
    }
    r->left--;
    const uint8_t *f;
    if (!sp_take(r, SP_EVENT_FIXED, &f)) return false;
    ev->name.len = sp_u32(f);
    ev->ts = sp_f64(f + 4);
    if (f[12] > 1) return sp_fail(r, "a boolean other than 0 or 1");
    ev->has_conn = f[12] == 1;
    ev->nargs = sp_u32(f + 13);
    if (!sp_take(r, ev->name.len, &ev->name.ptr)) return false;
    if (ev->has_conn && !sp_read_conn(r, &ev->conn)) return false;
    r->args_left = ev->nargs;
    return true;
}

/* The number of names in a ","-joined list (`sp_conn.service`, `tunnel_parents`). */
static inline uint32_t sp_list_len(sp_text list) {
    if (list.len == 0) return 0;
    uint32_t n = 1;
    for (size_t i = 0; i < list.len; i++) n += list.ptr[i] == ',';
    return n;
}

/* The names of a ","-joined list, one at a time:
 *     sp_list names = sp_list_of(conn.service);
 *     sp_text name;
 *     while (sp_list_next(&names, &name)) ...
 */
typedef struct {
    sp_text rest;
    bool done;
} sp_list;

static inline sp_list sp_list_of(sp_text list) {
    sp_list it = {list, list.len == 0};
    return it;
}

static inline bool sp_list_next(sp_list *it, sp_text *name) {
    if (it->done) return false;
    const uint8_t *comma = it->rest.len ? memchr(it->rest.ptr, ',', it->rest.len) : NULL;
    if (!comma) {
        *name = it->rest;
        it->done = true;
        return true;
    }
    name->ptr = it->rest.ptr;
    name->len = (size_t)(comma - it->rest.ptr);
    it->rest.ptr = comma + 1;
    it->rest.len -= name->len + 1;
    return true;
}

static inline bool sp_text_is(sp_text t, const char *s) {
    size_t n = strlen(s);
    return t.len == n && memcmp(t.ptr, s, n) == 0;
}

/* A `packed-rows` batch being built. Allocation failure aborts (a trap: the host replaces
 * the instance and reports it). */
typedef struct {
    uint8_t *bytes;
    size_t len, cap;
    uint32_t count;
} sp_rows;

static inline uint8_t *sp_rows_grow(sp_rows *rows, size_t n) {
    if (rows->cap - rows->len < n) {
        size_t cap = rows->cap ? rows->cap : 256;
        while (cap - rows->len < n) cap *= 2;
        uint8_t *bytes = realloc(rows->bytes, cap);
        if (!bytes) abort();
        rows->bytes = bytes;
        rows->cap = cap;
    }
    uint8_t *p = rows->bytes + rows->len;
    rows->len += n;
    return p;
}

static inline void sp_put(sp_rows *rows, const void *src, size_t n) {
    memcpy(sp_rows_grow(rows, n), src, n);
}

static inline void sp_tagged(sp_rows *rows, uint8_t tag, const void *payload, size_t n) {
    uint8_t *p = sp_rows_grow(rows, 1 + n);
    p[0] = tag;
    memcpy(p + 1, payload, n);
}

/* Starts a row of `n` values (a container counts its header and each element). */
static inline void sp_row(sp_rows *rows, uint32_t n) {
    sp_put(rows, &n, 4);
    rows->count++;
}

static inline void sp_unset(sp_rows *rows) { sp_tagged(rows, SP_UNSET, NULL, 0); }
static inline void sp_bool(sp_rows *rows, bool b) { uint8_t v = b; sp_tagged(rows, SP_BOOLEAN, &v, 1); }
static inline void sp_count(sp_rows *rows, uint64_t v) { sp_tagged(rows, SP_COUNT, &v, 8); }
static inline void sp_int(sp_rows *rows, int64_t v) { sp_tagged(rows, SP_INTEGER, &v, 8); }
static inline void sp_double(sp_rows *rows, double v) { sp_tagged(rows, SP_DOUBLE, &v, 8); }
static inline void sp_time(sp_rows *rows, double v) { sp_tagged(rows, SP_TIME, &v, 8); }
static inline void sp_interval(sp_rows *rows, double v) { sp_tagged(rows, SP_INTERVAL, &v, 8); }

static inline void sp_text_value(sp_rows *rows, uint8_t tag, const void *s, uint32_t len) {
    uint8_t *p = sp_rows_grow(rows, 5 + (size_t)len);
    p[0] = tag;
    memcpy(p + 1, &len, 4);
    memcpy(p + 5, s, len);
}
static inline void sp_str(sp_rows *rows, const void *s, uint32_t len) { sp_text_value(rows, SP_STR, s, len); }
static inline void sp_enum(sp_rows *rows, const void *s, uint32_t len) { sp_text_value(rows, SP_ENUMERATION, s, len); }

/* An address of 4 or 16 bytes, network order. */
static inline void sp_addr_value(sp_rows *rows, const uint8_t *a, uint8_t len) {
    uint8_t *p = sp_rows_grow(rows, 2 + (size_t)len);
    p[0] = SP_ADDR;
    p[1] = len == 4 ? 4 : 6;
    memcpy(p + 2, a, len);
}

static inline void sp_port(sp_rows *rows, uint16_t number, uint8_t proto) {
    uint8_t *p = sp_rows_grow(rows, 4);
    p[0] = SP_PORT;
    memcpy(p + 1, &number, 2);
    p[3] = proto;
}

static inline void sp_set_of(sp_rows *rows, uint32_t n) { sp_tagged(rows, SP_SET_OF, &n, 4); }
static inline void sp_vector_of(sp_rows *rows, uint32_t n) { sp_tagged(rows, SP_VECTOR_OF, &n, 4); }

static inline void sp_rows_clear(sp_rows *rows) {
    rows->len = 0;
    rows->count = 0;
}

static inline void sp_rows_free(sp_rows *rows) {
    free(rows->bytes);
    rows->bytes = NULL;
    rows->len = rows->cap = 0;
    rows->count = 0;
}

#endif
