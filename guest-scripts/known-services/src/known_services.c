/*
 * Zeek's policy/protocols/conn/known-services.zeek as a Sandpiper event handler in C.
 *
 * known_services.log gets a row when a local server (the responder of a connection) is seen
 * offering a service on a port: ts, host, port_num, port_proto and service, the protocols
 * confirmed on it. Each (host, port) is logged once per day for each service name (an
 * unidentified service counts as the name ""). README.md beside this file states the rule and
 * every difference from Zeek.
 *
 * The component exports `packed-handler` (world packed-event-handler): each batch arrives as
 * one byte list, read in place with the SDK's sdk/c/sandpiper_packed.h, and rows leave packed
 * through log.write-packed. Nothing is allocated per event except a known (host, port) entry
 * and its name list.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packed_event_handler.h"
#include "sandpiper_packed.h"

/* The event carrying each finished connection. */
static const char CONN_END[] = "connection_state_remove";
/* The event this handler schedules to itself for a service whose protocol is unknown (Zeek's
 * `schedule 5min { service_info_commit(info) }`). */
static const char COMMIT[] = "Known::service_info_commit";

/* Zeek's delay before logging a service without a confirmed protocol. */
#define UNKNOWN_SERVICE_DELAY 300.0
/* Zeek's `Known::services` is `&create_expire=1day`: a (host, port) is logged again a day
 * after it was first logged. */
#define EXPIRY 86400.0
/* A connection without a confirmed protocol is committed by a timer UNKNOWN_SERVICE_DELAY
 * after the call that saw it, and that call's network time can trail the connection's removal
 * by its inactivity timeout (5 minutes by default). Its mute ends this much earlier than the
 * entry's expiry, so such a connection seen near the expiry is still delivered and commits
 * exactly as it would unmuted. */
#define UNKNOWN_MUTE_MARGIN (UNKNOWN_SERVICE_DELAY + 3600.0)
/* How often expired entries and ended mutes are swept, in network seconds. */
#define SWEEP_EVERY 3600.0
/* The host takes at most 65,536 rows per call; write them in chunks well below that. */
#define MAX_ROWS_PER_WRITE 4096

/* Zeek's `transport_proto` names, by transport code. */
static const char *const PROTO_NAMES[] = {"tcp", "udp", "icmp", "unknown_transport"};

typedef packed_event_handler_string_t wit_string;

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) abort();
    return q;
}

/* Grows `*items` (of `size` bytes each) to hold at least `need`. */
static void reserve(void **items, uint32_t *cap, uint32_t need, size_t size) {
    if (need <= *cap) return;
    uint32_t n = *cap ? *cap : 8;
    while (n < need) n *= 2;
    *items = xrealloc(*items, (size_t)n * size);
    *cap = n;
}

/* ---- Service names ------------------------------------------------------------------ */

/* The names rows carry (Zeek's analyzer names: "HTTP", "DNS", "ftp-data", ""), interned: a
 * known (host, port) holds their ids. Few: one per analyzer the host runs. */
typedef struct {
    char *text;
    uint32_t len;
} name_t;
static name_t *names;
static uint32_t names_len, names_cap;

static uint16_t intern_name(const char *text, uint32_t len) {
    for (uint32_t i = 0; i < names_len; i++)
        if (names[i].len == len && memcmp(names[i].text, text, len) == 0) return (uint16_t)i;
    if (names_len == UINT16_MAX) abort();
    reserve((void **)&names, &names_cap, names_len + 1, sizeof(name_t));
    names[names_len].text = xrealloc(NULL, len);
    memcpy(names[names_len].text, text, len);
    names[names_len].len = len;
    return (uint16_t)names_len++;
}

/* What a connection's service list (module names joined with ",", as the batch carries it)
 * means, worked out once per distinct list: a network has few. */
typedef struct {
    char *raw; /* the list as the batch has it */
    uint32_t raw_len;
    uint32_t hash;
    /* The names a connection with this list commits: its analyzer names not prefixed with
     * "-" (confirmed, then violated), without repeats, in confirmation order; [""] for an
     * empty list. */
    uint16_t *committed;
    uint32_t committed_len;
    /* The list's own names (module names), for a mute, which matches the whole list. */
    wit_string *modules;
    uint32_t modules_len;
    /* One name, and Zeek's rule for it: "ftp-data" is never a service, a lone "DNS" only when
     * the server sent bytes. */
    bool ftp_data_only, dns_only;
    /* No confirmed protocol: committed 5 minutes later as "". */
    bool unidentified;
} service_list_t;
static service_list_t *lists;
static uint32_t lists_len, lists_cap;
/* Open addressing over `lists` (index + 1; 0 is empty), a power of two at most half full. */
static uint32_t *list_index;
static uint32_t list_index_cap;

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Whether 8 bytes spell "ftp-data" or "ftp_data" in any case. */
static bool is_ftp_data(const uint8_t *p) {
    static const char want[] = "ftp-data";
    for (int i = 0; i < 8; i++) {
        uint8_t c = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] + 32) : p[i];
        if (c != want[i] && !(i == 3 && c == '_')) return false;
    }
    return true;
}

/* The analyzer name Zeek's `c$service` holds for a module name (Analyzer::name, upper case:
 * "HTTP", "DNS"; "-" becomes "_"), except "ftp-data", which Zeek's FTP script adds in lower
 * case. A leading "-" (violated) is kept. Writes into `out` (as long as `name`). */
static uint32_t analyzer_name(const uint8_t *name, uint32_t len, char *out) {
    uint32_t at = 0;
    while (at < len && name[at] == '-') out[at] = name[at], at++;
    const uint8_t *rest = name + at;
    uint32_t rest_len = len - at;
    if (rest_len == 8 && is_ftp_data(rest)) {
        memcpy(out + at, "ftp-data", 8);
        return len;
    }
    for (uint32_t i = 0; i < rest_len; i++) {
        uint8_t c = rest[i];
        out[at + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : (char)c;
    }
    return len;
}

static void add_list(sp_text raw, uint32_t hash) {
    reserve((void **)&lists, &lists_cap, lists_len + 1, sizeof(service_list_t));
    service_list_t *l = &lists[lists_len];
    memset(l, 0, sizeof *l);
    l->raw = xrealloc(NULL, raw.len);
    memcpy(l->raw, raw.ptr, raw.len);
    l->raw_len = (uint32_t)raw.len;
    l->hash = hash;
    uint32_t modules_cap = 0, committed_cap = 0;
    /* The analyzer name of the item read last. */
    char *buf = xrealloc(NULL, raw.len);
    uint32_t n = 0;
    sp_list items = sp_list_of(raw);
    sp_text item;
    while (sp_list_next(&items, &item)) {
        uint32_t len = (uint32_t)item.len;
        reserve((void **)&l->modules, &modules_cap, l->modules_len + 1, sizeof(wit_string));
        l->modules[l->modules_len++] = (wit_string){(uint8_t *)l->raw + (item.ptr - raw.ptr), len};
        n = analyzer_name(item.ptr, len, buf);
        if (n == 0 || buf[0] != '-') {
            uint16_t id = intern_name(buf, n);
            bool seen = false;
            for (uint32_t i = 0; i < l->committed_len; i++) seen |= l->committed[i] == id;
            if (!seen) {
                reserve((void **)&l->committed, &committed_cap, l->committed_len + 1, 2);
                l->committed[l->committed_len++] = id;
            }
        }
    }
    if (l->modules_len == 0) {
        l->committed = xrealloc(NULL, 2);
        l->committed[0] = intern_name("", 0);
        l->committed_len = 1;
    }
    if (l->modules_len == 1) {
        /* `buf` holds the one item's analyzer name. */
        l->ftp_data_only = n == 8 && memcmp(buf, "ftp-data", 8) == 0;
        l->dns_only = n == 3 && memcmp(buf, "DNS", 3) == 0;
    }
    free(buf);
    l->unidentified = l->committed_len == 1 && names[l->committed[0]].len == 0;
    lists_len++;
}

static void index_list(uint32_t i) {
    uint32_t mask = list_index_cap - 1;
    uint32_t slot = lists[i].hash & mask;
    while (list_index[slot]) slot = (slot + 1) & mask;
    list_index[slot] = i + 1;
}

/* The index in `lists` of a connection's service list. */
static uint32_t service_list(sp_text raw) {
    uint32_t hash = hash_bytes(raw.ptr, raw.len);
    if (list_index_cap) {
        uint32_t mask = list_index_cap - 1;
        for (uint32_t slot = hash & mask; list_index[slot]; slot = (slot + 1) & mask) {
            service_list_t *l = &lists[list_index[slot] - 1];
            if (l->hash == hash && l->raw_len == raw.len && memcmp(l->raw, raw.ptr, raw.len) == 0)
                return list_index[slot] - 1;
        }
    }
    add_list(raw, hash);
    if ((lists_len) * 2 > list_index_cap) {
        free(list_index);
        list_index_cap = list_index_cap ? list_index_cap * 2 : 64;
        list_index = calloc(list_index_cap, sizeof(uint32_t));
        if (!list_index) abort();
        for (uint32_t i = 0; i < lists_len; i++) index_list(i);
    } else {
        index_list(lists_len - 1);
    }
    return lists_len - 1;
}

/* ---- Known services ------------------------------------------------------------------ */

/* Zeek's `[addr, port]` key. The address's unused bytes are zero, so keys compare whole. */
typedef struct {
    uint8_t addr[16];
    uint8_t addr_len;
    uint8_t proto;
    uint16_t port;
} service_key_t;

/* A mute this handler set: connections to the key's server with this service list are not
 * delivered until `until`. */
typedef struct {
    uint32_t list;
    double until;
} mute_t;

/* One (host, port) of Zeek's `Known::services`: when it was created, the names logged for it
 * and the mutes set for it. */
typedef struct {
    service_key_t key;
    bool used;
    double created;
    uint16_t *names;
    uint32_t names_len, names_cap;
    mute_t *mutes;
    uint32_t mutes_len, mutes_cap;
} entry_t;

/* Open addressing with linear probing; at most half full; removal shifts the rest of a
 * cluster back, so there are no tombstones. */
static entry_t *known;
static uint32_t known_cap, known_len;

static uint32_t key_hash(const service_key_t *k) { return hash_bytes((const uint8_t *)k, sizeof *k); }

static bool key_eq(const service_key_t *a, const service_key_t *b) { return memcmp(a, b, sizeof *a) == 0; }

static entry_t *known_find(const service_key_t *k) {
    if (!known_cap) return NULL;
    uint32_t mask = known_cap - 1;
    for (uint32_t i = key_hash(k) & mask; known[i].used; i = (i + 1) & mask)
        if (key_eq(&known[i].key, k)) return &known[i];
    return NULL;
}

static void known_place(entry_t *e) {
    uint32_t mask = known_cap - 1;
    uint32_t i = key_hash(&e->key) & mask;
    while (known[i].used) i = (i + 1) & mask;
    known[i] = *e;
}

/* Rebuilds the table with room for `need` entries, keeping those `keep` accepts (the others'
 * lists are freed). */
static void known_rebuild(uint32_t need, bool (*keep)(entry_t *, double), double now) {
    entry_t *old = known;
    uint32_t old_cap = known_cap;
    uint32_t cap = 64;
    while (cap < need * 2) cap *= 2;
    known = calloc(cap, sizeof(entry_t));
    if (!known) abort();
    known_cap = cap;
    known_len = 0;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (!old[i].used) continue;
        if (keep && !keep(&old[i], now)) {
            free(old[i].names);
            free(old[i].mutes);
            continue;
        }
        known_place(&old[i]);
        known_len++;
    }
    free(old);
}

static entry_t *known_insert(const service_key_t *k, double created) {
    if ((known_len + 1) * 2 > known_cap) known_rebuild(known_len + 1, NULL, 0);
    entry_t e = {0};
    e.key = *k;
    e.used = true;
    e.created = created;
    known_place(&e);
    known_len++;
    return known_find(k);
}

static void known_remove(entry_t *e) {
    uint32_t mask = known_cap - 1;
    uint32_t hole = (uint32_t)(e - known);
    free(e->names);
    free(e->mutes);
    known[hole].used = false;
    known_len--;
    for (uint32_t i = (hole + 1) & mask; known[i].used; i = (i + 1) & mask) {
        uint32_t home = key_hash(&known[i].key) & mask;
        /* Moves back unless its home lies cyclically in (hole, i]. */
        bool stays = hole < i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        known[hole] = known[i];
        known[i].used = false;
        hole = i;
    }
}

static bool entry_has(const entry_t *e, uint16_t name) {
    for (uint32_t i = 0; i < e->names_len; i++)
        if (e->names[i] == name) return true;
    return false;
}

static void entry_add(entry_t *e, uint16_t name) {
    if (entry_has(e, name)) return;
    reserve((void **)&e->names, &e->names_cap, e->names_len + 1, 2);
    e->names[e->names_len++] = name;
}

static void entry_drop(entry_t *e, uint16_t name) {
    for (uint32_t i = 0; i < e->names_len; i++)
        if (e->names[i] == name) {
            e->names[i] = e->names[--e->names_len];
            return;
        }
}

/* The entry of `k` unless it expired by `now` (an expired one is removed). */
static entry_t *known_live(const service_key_t *k, double now) {
    entry_t *e = known_find(k);
    if (e && now - e->created >= EXPIRY) {
        known_remove(e);
        e = NULL;
    }
    return e;
}

/* ---- One call's work ------------------------------------------------------------------ */

/* One known_services row before the known-set check (Zeek's ServicesInfo); its names are its
 * service list's committed names. */
typedef struct {
    double ts;
    service_key_t key;
    uint32_t list;
} info_t;

/* What a row added to the known table, to undo if it cannot be written: the names are
 * `added_names[names_at .. names_at + names_len]`. */
typedef struct {
    service_key_t key;
    uint32_t names_at, names_len;
    bool created;
} added_t;

/* A finished connection that committed nothing new: a repeat, to mute. */
typedef struct {
    double ts;
    service_key_t key;
    uint32_t list;
} repeat_t;

/* The buffers of a call, kept (cleared) between calls. */
static sp_rows rows;
static uint32_t *row_ends; /* byte offset after each row */
static uint32_t row_ends_cap;
static added_t *added;
static uint32_t added_len, added_cap;
static uint16_t *added_names;
static uint32_t added_names_len, added_names_cap;
static repeat_t *repeats;
static uint32_t repeats_len, repeats_cap;
static info_t *unknown;
static uint32_t unknown_len, unknown_cap;

/* Connections without a confirmed protocol waiting for their commit timer, under the uid its
 * event carries (the first connection's). A uid names one connection, and a connection ends
 * once, so a timer left by a replaced instance never matches an entry of this one. */
typedef struct {
    char *uid;
    uint32_t uid_len;
    info_t *infos;
    uint32_t infos_len;
} pending_t;
static pending_t *pending;
static uint32_t pending_len, pending_cap;

static bool stream_created;
static sandpiper_monitor_log_stream_id_t stream;
static double last_sweep;

/* Appends a row of `key`'s server with the names `ids`, and records what it added. */
static void add_row(double ts, const service_key_t *key, const uint16_t *ids, uint32_t n, bool created) {
    sp_row(&rows, 5 + n);
    sp_time(&rows, ts);
    sp_addr_value(&rows, key->addr, key->addr_len);
    sp_port(&rows, key->port, key->proto);
    const char *proto = PROTO_NAMES[key->proto];
    sp_enum(&rows, proto, (uint32_t)strlen(proto));
    sp_set_of(&rows, n);
    for (uint32_t i = 0; i < n; i++) sp_str(&rows, names[ids[i]].text, names[ids[i]].len);
    reserve((void **)&row_ends, &row_ends_cap, rows.count, sizeof(uint32_t));
    row_ends[rows.count - 1] = (uint32_t)rows.len;

    reserve((void **)&added, &added_cap, added_len + 1, sizeof(added_t));
    added[added_len++] = (added_t){*key, added_names_len, n, created};
    reserve((void **)&added_names, &added_names_cap, added_names_len + n, 2);
    memcpy(added_names + added_names_len, ids, (size_t)n * 2);
    added_names_len += n;
}

/* Zeek's `service_info_commit` + `known_service_add` at network time `now`: logs the names
 * of `info` not yet known for its (host, port), if any, and makes them known. */
static void commit(const info_t *info, double now) {
    const service_list_t *l = &lists[info->list];
    entry_t *e = known_live(&info->key, now);
    uint16_t fresh[l->committed_len ? l->committed_len : 1];
    uint32_t n = 0;
    bool created = e == NULL;
    if (created) e = known_insert(&info->key, now);
    for (uint32_t i = 0; i < l->committed_len; i++)
        if (!entry_has(e, l->committed[i])) fresh[n++] = l->committed[i];
    if (!created && n == 0) return;
    for (uint32_t i = 0; i < n; i++) entry_add(e, fresh[i]);
    add_row(info->ts, &info->key, fresh, n, created);
}

/* Undoes what the rows added[from .. to] added: a service whose row could not be written is
 * tried again with its next connection. */
static void forget(uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; i++) {
        entry_t *e = known_find(&added[i].key);
        if (!e) continue;
        for (uint32_t j = 0; j < added[i].names_len; j++) entry_drop(e, added_names[added[i].names_at + j]);
        if (added[i].created && e->names_len == 0) known_remove(e);
    }
}

static wit_string wit_str(const char *s) { return (wit_string){(uint8_t *)s, strlen(s)}; }

/* Zeek's Known::ServicesInfo. */
static bool create_stream(void) {
    static const struct {
        const char *name;
        uint8_t kind, type;
    } columns[] = {
        {"ts", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_TIME},
        {"host", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_ADDR},
        {"port_num", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_PORT},
        {"port_proto", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_ENUMERATION},
        {"service", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SET, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_STR},
    };
    sandpiper_monitor_types_field_t fields[5];
    for (int i = 0; i < 5; i++) {
        fields[i].name = wit_str(columns[i].name);
        fields[i].type.tag = columns[i].kind;
        fields[i].type.val.scalar = columns[i].type;
        fields[i].optional = false;
    }
    sandpiper_monitor_log_log_schema_t schema = {wit_str("known_services"), {fields, 5}};
    wit_string err;
    if (!sandpiper_monitor_log_create_stream(&schema, &stream, &err)) {
        packed_event_handler_string_free(&err);
        return false;
    }
    stream_created = true;
    return true;
}

/* Writes the call's rows; only what was written stays known. */
static void write_rows(void) {
    if (rows.count == 0) return;
    if (!stream_created && !create_stream()) {
        forget(0, added_len);
        return;
    }
    for (uint32_t first = 0; first < rows.count; first += MAX_ROWS_PER_WRITE) {
        uint32_t last = first + MAX_ROWS_PER_WRITE < rows.count ? first + MAX_ROWS_PER_WRITE : rows.count;
        uint32_t from = first ? row_ends[first - 1] : 0;
        sandpiper_monitor_log_packed_rows_t chunk = {last - first, {rows.bytes + from, row_ends[last - 1] - from}};
        wit_string err;
        if (!sandpiper_monitor_log_write_packed(stream, &chunk, &err)) {
            packed_event_handler_string_free(&err);
            forget(first, last);
        }
    }
}

/* Zeek's `schedule 5min { service_info_commit(info) }` for each of the call's unidentified
 * connections, as one timer: timers set in one call fall due together and fire in the order
 * they were set, so one timer commits them at the same time and in the same order. */
static void schedule_commits(sp_text uid) {
    sandpiper_monitor_types_value_t arg;
    arg.tag = SANDPIPER_MONITOR_TYPES_VALUE_STR;
    arg.val.str = (wit_string){(uint8_t *)uid.ptr, uid.len};
    sandpiper_monitor_timers_event_t ev;
    ev.name = wit_str(COMMIT);
    ev.ts = unknown[0].ts;
    ev.conn.is_some = false;
    ev.args.ptr = &arg;
    ev.args.len = 1;
    wit_string err;
    if (!sandpiper_monitor_timers_schedule(UNKNOWN_SERVICE_DELAY, &ev, &err)) {
        /* Too many timers pending: these services stay unlogged, as lost events would in Zeek. */
        packed_event_handler_string_free(&err);
        return;
    }
    reserve((void **)&pending, &pending_cap, pending_len + 1, sizeof(pending_t));
    pending_t *p = &pending[pending_len++];
    p->uid = xrealloc(NULL, uid.len);
    memcpy(p->uid, uid.ptr, uid.len);
    p->uid_len = (uint32_t)uid.len;
    p->infos = xrealloc(NULL, (size_t)unknown_len * sizeof(info_t));
    memcpy(p->infos, unknown, (size_t)unknown_len * sizeof(info_t));
    p->infos_len = unknown_len;
}

/* Commits the infos waiting under a fired timer's uid (none for a timer this instance did not
 * set). */
static void due_commits(sp_text uid, double now) {
    for (uint32_t i = 0; i < pending_len; i++) {
        pending_t p = pending[i];
        if (p.uid_len != uid.len || memcmp(p.uid, uid.ptr, uid.len) != 0) continue;
        memmove(&pending[i], &pending[i + 1], (size_t)(pending_len - i - 1) * sizeof(pending_t));
        pending_len--;
        for (uint32_t j = 0; j < p.infos_len; j++) commit(&p.infos[j], now);
        free(p.uid);
        free(p.infos);
        return;
    }
}

static bool still_known(entry_t *e, double now) {
    if (now - e->created >= EXPIRY) return false;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < e->mutes_len; i++)
        if (now < e->mutes[i].until) e->mutes[kept++] = e->mutes[i];
    e->mutes_len = kept;
    return true;
}

/* Drops expired entries and ended mutes once an hour of network time, so the table stays
 * bounded. */
static void sweep(double now) {
    if (now - last_sweep < SWEEP_EVERY) return;
    last_sweep = now;
    if (known_cap) known_rebuild(known_len, still_known, now);
}

/* Asks the host not to deliver more connections to this server, port and service list while
 * each would change nothing: every name it could commit is known until the entry expires.
 * Only connections that logged nothing come here: the first one of a service wrote its row,
 * and most services on a network are seen more than once or not worth a host call. */
static void mute_if_known(const repeat_t *r) {
    entry_t *e = known_find(&r->key);
    if (!e) return;
    for (uint32_t i = 0; i < e->mutes_len; i++)
        if (e->mutes[i].list == r->list && e->mutes[i].until > r->ts) return;
    const service_list_t *l = &lists[r->list];
    for (uint32_t i = 0; i < l->committed_len; i++)
        if (!entry_has(e, l->committed[i])) return;
    double until = e->created + EXPIRY;
    if (l->raw_len == 0) until -= UNKNOWN_MUTE_MARGIN;
    if (until <= r->ts) return;

    sandpiper_monitor_mutes_conn_match_t match;
    memset(&match, 0, sizeof match);
    match.resp_h.is_some = true;
    if (r->key.addr_len == 4) {
        match.resp_h.val.tag = SANDPIPER_MONITOR_TYPES_IP_ADDRESS_V4;
        const uint8_t *a = r->key.addr;
        match.resp_h.val.val.v4 = (packed_event_handler_tuple4_u8_u8_u8_u8_t){a[0], a[1], a[2], a[3]};
    } else {
        match.resp_h.val.tag = SANDPIPER_MONITOR_TYPES_IP_ADDRESS_V6;
        uint16_t g[8];
        for (int i = 0; i < 8; i++) g[i] = (uint16_t)(r->key.addr[2 * i] << 8 | r->key.addr[2 * i + 1]);
        match.resp_h.val.val.v6 = (packed_event_handler_tuple8_u16_u16_u16_u16_u16_u16_u16_u16_t){
            g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]};
    }
    match.resp_p.is_some = true;
    match.resp_p.val.number = r->key.port;
    match.resp_p.val.proto = r->key.proto;
    match.service.is_some = true;
    match.service.val.ptr = l->modules;
    match.service.val.len = l->modules_len;
    wit_string name = wit_str(CONN_END), err;
    if (!sandpiper_monitor_mutes_mute(&name, &match, until, &err)) {
        /* Too many mutes in force: this server keeps being delivered, which costs time only. */
        packed_event_handler_string_free(&err);
        return;
    }
    /* The mute this one replaces (same list, ended) is reused. */
    for (uint32_t i = 0; i < e->mutes_len; i++)
        if (e->mutes[i].list == r->list) {
            e->mutes[i].until = until;
            return;
        }
    reserve((void **)&e->mutes, &e->mutes_cap, e->mutes_len + 1, sizeof(mute_t));
    e->mutes[e->mutes_len++] = (mute_t){r->list, until};
}

static void repeat(double ts, const service_key_t *key, uint32_t list) {
    reserve((void **)&repeats, &repeats_cap, repeats_len + 1, sizeof(repeat_t));
    repeats[repeats_len++] = (repeat_t){ts, *key, list};
}

/* Zeek's `known_services_done` for one finished connection: whether the server is an active
 * service (`has_active_service`), read from the final conn-info, and if so its commit. */
static void connection_done(double ts, const sp_conn *c, sp_text *unknown_uid) {
    service_key_t key;
    memset(&key, 0, sizeof key);
    memcpy(key.addr, c->resp_h.bytes, c->resp_h.len);
    key.addr_len = c->resp_h.len;
    key.proto = c->resp_proto;
    key.port = c->resp_p;
    uint32_t list = service_list(c->service);
    const service_list_t *l = &lists[list];
    if (!c->local_resp) {
        repeat(ts, &key, list);
        return;
    }
    /* TCP: the responder's endpoint ended ESTABLISHED, CLOSED or PARTIAL, or history holds 'h'
     * (it sent a SYN-ACK). From history: 'h', or the responder sent packets and none of them
     * was a SYN of its own ('s', SYN_SENT) or a reset ('r', RESET). UDP: the responder sent a
     * datagram (UDP_ACTIVE, Known::service_udp_requires_response = T). Other transports never. */
    const uint8_t *h = c->history.ptr;
    size_t hn = c->history.len;
    if (c->resp_proto == SP_TCP) {
        if (!memchr(h, 'h', hn) && (c->resp_pkts == 0 || memchr(h, 's', hn) || memchr(h, 'r', hn))) {
            repeat(ts, &key, list);
            return;
        }
    } else if (c->resp_proto != SP_UDP || c->resp_pkts == 0) {
        repeat(ts, &key, list);
        return;
    }
    double info_ts;
    if (l->ftp_data_only || l->dns_only) {
        if (l->ftp_data_only || c->resp_bytes == 0) {
            repeat(ts, &key, list);
            return;
        }
        /* A lone DNS service waits for the server's reply and is decided at removal. */
        info_ts = ts;
    } else if (c->service.len > 0) {
        /* Zeek decides a connection with a confirmed protocol when the analyzer confirms it,
         * within its first exchanges: the connection's start is the nearest time conn-info has. */
        info_ts = c->start;
    } else {
        /* Without a protocol it is decided when it is removed. */
        info_ts = ts;
    }
    if (l->unidentified) {
        /* Committed 5 minutes later, with the name "". */
        if (unknown_len == 0) *unknown_uid = c->uid;
        reserve((void **)&unknown, &unknown_cap, unknown_len + 1, sizeof(info_t));
        unknown[unknown_len++] = (info_t){info_ts, key, list};
        repeat(ts, &key, list);
        return;
    }
    /* `commit` at the event's time, except that a connection that adds nothing is a repeat. */
    entry_t *e = known_live(&key, ts);
    if (e) {
        bool fresh = false;
        for (uint32_t i = 0; i < l->committed_len && !fresh; i++) fresh = !entry_has(e, l->committed[i]);
        if (!fresh) {
            repeat(ts, &key, list);
            return;
        }
    }
    info_t info = {info_ts, key, list};
    commit(&info, ts);
}

void exports_sandpiper_monitor_packed_handler_handle(exports_sandpiper_monitor_packed_handler_packed_events_t *batch) {
    sp_rows_clear(&rows);
    added_len = added_names_len = repeats_len = unknown_len = 0;
    sp_text unknown_uid = {NULL, 0};
    bool any = false;
    double last_ts = 0;
    sp_events r = sp_events_of(batch->bytes.ptr, batch->bytes.len, batch->count);
    sp_event ev;
    while (sp_next_event(&r, &ev)) {
        any = true;
        last_ts = ev.ts;
        if (ev.has_conn) {
            if (sp_text_is(ev.name, CONN_END)) connection_done(ev.ts, &ev.conn, &unknown_uid);
        } else if (sp_text_is(ev.name, COMMIT) && ev.nargs == 1) {
            sp_value uid;
            if (sp_read_value(&r, &uid) && uid.tag == SP_STR) due_commits(uid.text, ev.ts);
        }
    }
    /* A malformed batch (the host never sends one) is a trap: the host reports it. */
    if (r.error) abort();
    /* The uid is read from the batch, which is freed below. */
    if (unknown_len) schedule_commits(unknown_uid);
    if (any) sweep(last_ts);
    write_rows();
    for (uint32_t i = 0; i < repeats_len; i++) mute_if_known(&repeats[i]);
    exports_sandpiper_monitor_packed_handler_packed_events_free(batch);
}
