/* long_conns.log: one row per connection that lasted longer than a minute. */
#include "packed_event_handler.h"
#include "sandpiper_packed.h"

static bool have_stream;
static sandpiper_monitor_log_stream_id_t stream;
static sp_rows rows; /* kept between calls: its buffer is allocated once */

static packed_event_handler_string_t str(const char *s) {
    return (packed_event_handler_string_t){(uint8_t *)s, strlen(s)};
}

/* ts, uid, id.orig_h, id.orig_p, id.resp_h, id.resp_p, duration, service */
static bool create_stream(void) {
    static const struct {
        const char *name;
        uint8_t shape, type;
    } columns[] = {
        {"ts", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_TIME},
        {"uid", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_STR},
        {"id.orig_h", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_ADDR},
        {"id.orig_p", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_PORT},
        {"id.resp_h", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_ADDR},
        {"id.resp_p", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_PORT},
        {"duration", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SCALAR, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_INTERVAL},
        {"service", SANDPIPER_MONITOR_TYPES_FIELD_TYPE_SET, SANDPIPER_MONITOR_TYPES_SCALAR_TYPE_STR},
    };
    enum { N = sizeof columns / sizeof columns[0] };
    sandpiper_monitor_types_field_t fields[N];
    for (int i = 0; i < N; i++) {
        fields[i].name = str(columns[i].name);
        fields[i].type.tag = columns[i].shape;
        fields[i].type.val.scalar = columns[i].type; /* the same place for set and vector */
        fields[i].optional = false;
    }
    sandpiper_monitor_log_log_schema_t schema = {str("long_conns"), {fields, N}};
    packed_event_handler_string_t err;
    if (!sandpiper_monitor_log_create_stream(&schema, &stream, &err)) {
        packed_event_handler_string_free(&err);
        return false;
    }
    return have_stream = true;
}

void exports_sandpiper_monitor_packed_handler_handle(exports_sandpiper_monitor_packed_handler_packed_events_t *batch) {
    sp_rows_clear(&rows);
    sp_events r = sp_events_of(batch->bytes.ptr, batch->bytes.len, batch->count);
    sp_event ev;
    while (sp_next_event(&r, &ev)) {
        const sp_conn *c = &ev.conn;
        if (!ev.has_conn || c->duration <= 60.0) continue;
        uint32_t services = sp_list_len(c->service);
        sp_row(&rows, 8 + services); /* a set counts its header and each element */
        sp_time(&rows, c->start);
        sp_str(&rows, c->uid.ptr, c->uid.len);
        sp_addr_value(&rows, c->orig_h.bytes, c->orig_h.len);
        sp_port(&rows, c->orig_p, c->orig_proto);
        sp_addr_value(&rows, c->resp_h.bytes, c->resp_h.len);
        sp_port(&rows, c->resp_p, c->resp_proto);
        sp_interval(&rows, c->duration);
        sp_set_of(&rows, services);
        sp_list names = sp_list_of(c->service);
        sp_text name;
        while (sp_list_next(&names, &name)) sp_str(&rows, name.ptr, name.len);
    }
    /* A malformed batch (the host never sends one): trap, which the host reports. */
    if (r.error) abort();
    /* One call's rows in one write: a batch holds at most --event-batch events, far below the
     * 65,536 rows a write may carry. */
    if (rows.count > 0 && (have_stream || create_stream())) {
        sandpiper_monitor_log_packed_rows_t packed = {rows.count, {rows.bytes, rows.len}};
        packed_event_handler_string_t err;
        if (!sandpiper_monitor_log_write_packed(stream, &packed, &err))
            packed_event_handler_string_free(&err);
    }
    /* The batch is the callee's to free (wit-bindgen's C ownership rule for exports). */
    exports_sandpiper_monitor_packed_handler_packed_events_free(batch);
}
