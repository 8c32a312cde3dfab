"""Zeek's ``policy/protocols/conn/known-services.zeek`` as a Sandpiper event handler in Python.

known_services.log gets a row when a local server (the responder of a connection) is seen
offering a service on a port: ``ts``, ``host``, ``port_num``, ``port_proto`` and ``service``, the
protocols confirmed on it. Each (host, port) is logged once per day for each service name (an
unidentified service counts as the name ``""``). README.md beside this file states the rule and
every difference from Zeek.
"""

import gc
import struct
from typing import Dict, List, Optional, Set, Tuple

from componentize_py_types import Err
from sandpiper_packed import TCP, UDP, PackedError, ip_address, port
import sandpiper_packed as packed
from wit_world import exports
from wit_world.imports import log, mutes, timers
from wit_world.imports.types import (
    Event,
    Field,
    FieldType_Scalar,
    FieldType_Set,
    LogSchema,
    PackedEvents,
    PackedRows,
    ScalarType,
    Value,
    Value_Str,
)

# The event carrying each finished connection.
CONN_END = "connection_state_remove"
CONN_END_BYTES = CONN_END.encode()

# The event this handler schedules to itself for a service whose protocol is unknown (Zeek's
# `schedule 5min { service_info_commit(info) }`).
COMMIT = "Known::service_info_commit"
COMMIT_BYTES = COMMIT.encode()

# The one-service lists with a rule of their own in Zeek's `known_services_done`.
ONE_SERVICE_RULES = ("ftp-data", "DNS")

# Zeek's delay before logging a service without a confirmed protocol.
UNKNOWN_SERVICE_DELAY = 300.0

# The names of a connection without a confirmed protocol.
UNKNOWN_NAMES = [""]

# Zeek's `Known::services` is `&create_expire=1day`: a (host, port) is logged again a day after
# it was first logged.
EXPIRY = 86400.0

# A connection without a confirmed protocol is committed by a timer UNKNOWN_SERVICE_DELAY after
# the call that saw it, and that call's network time can trail the connection's removal time by
# the connection's inactivity timeout (5 minutes by default). Its mute ends this much earlier
# than the entry's expiry, so such a connection seen near the expiry is still delivered and
# commits exactly as it would unmuted.
UNKNOWN_MUTE_MARGIN = UNKNOWN_SERVICE_DELAY + 3600.0

# How often expired entries are swept, in network seconds, so the table stays bounded.
SWEEP_EVERY = 3600.0

# The host takes at most 65,536 rows per call; write them in chunks well below that.
MAX_ROWS_PER_WRITE = 4096

# Zeek's `transport_proto` names, by the packed transport code.
PROTO_NAMES = ["tcp", "udp", "icmp", "unknown_transport"]


def schema() -> LogSchema:
    """Zeek's ``Known::ServicesInfo``."""
    return LogSchema(
        path="known_services",
        fields=[
            Field("ts", FieldType_Scalar(ScalarType.TIME), False),
            Field("host", FieldType_Scalar(ScalarType.ADDR), False),
            Field("port_num", FieldType_Scalar(ScalarType.PORT), False),
            Field("port_proto", FieldType_Scalar(ScalarType.ENUMERATION), False),
            Field("service", FieldType_Set(ScalarType.STR), False),
        ],
    )


# Zeek's `[addr, port]` key: the address (packed: 4 or 16 bytes), port number and transport.
ServiceKey = Tuple[bytes, int, int]

# One known_services row before the known-set check (Zeek's ``ServicesInfo``): ts, host, port
# number, transport and the names in confirmation order, without repeats. A tuple, not a
# dataclass: CPython in Wasm spends ~10,000 fuel on a dataclass __init__, and this handler
# builds one per connection. The names list may be shared between infos and is never changed.
ServiceInfo = Tuple[float, bytes, int, int, List[str]]


# CPython's cyclic collector walks every tracked object of a generation when it runs, and the
# tables below grow by a tuple and a set per service: on the bench trace's 16,000 services its
# runs were 3.8% of this handler's fuel (1.895 -> 1.823 G). Nothing here makes reference cycles (rows, infos and
# table entries are tuples, lists, sets and dicts of plain values), so it only runs from
# `sweep`, once an hour of network time, where it also bounds what a cycle made by an
# exception's traceback could hold.
gc.disable()

# The packed bytes of values rows repeat, built once.
_PROTO_VALUES: List[bytes] = [packed.enumeration(n) for n in PROTO_NAMES]
_SET_HEADERS: List[bytes] = [packed.set_of(n) for n in range(8)]
_STR_VALUES: Dict[str, bytes] = {}

# A row's value count and its first three values (`packed-rows` in wit/types.wit): ts (tag 5, an
# f64), host (tag 8, family 4 or 6, the address) and port_num (tag 9, number and transport),
# packed at once. Building each value on its own, in a list of parts joined per write, cost a
# Python call and an object apiece: 16% of the handler's fuel on the bench trace.
_ROW_HEAD_V4 = struct.Struct("<IBdBB4sBHB")
_ROW_HEAD_V6 = struct.Struct("<IBdBB16sBHB")

# `handle` reads each batch in place (`packed-events` in wit/types.wit) instead of through
# the SDK's `events()`: no `Conn` object with nineteen attributes per event, no call per event
# for the rules, the commit and the row, and of a connection's fixed block only what this
# handler uses is made into Python objects (start, resp-bytes, resp-pkts, the responder's port
# and transport, local-resp, the address lengths and the text's length; the `x` bytes are
# skipped). On the bench trace: 1.50 -> 1.04 G fuel, known_services.log identical.
_CONN_FIELDS = struct.Struct("<d8x8xQ8xQ3xHBxBBBI")
# The layout is the SDK's; a change there must fail the build (componentize-py runs this
# module's top level when it builds the component), not misread every event: a block the SDK
# packs with distinct values must give this struct's fields their own values back.
_SAMPLE_CONN = packed.CONN_FIXED.pack(0.5, 1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
assert _CONN_FIELDS.unpack(_SAMPLE_CONN) == (0.5, 3, 5, 8, 9, 11, 12, 13, 14), (
    "packed-events' connection block changed"
)


def set_header(n: int) -> bytes:
    return _SET_HEADERS[n] if n < len(_SET_HEADERS) else packed.set_of(n)


def str_value(s: str) -> bytes:
    v = _STR_VALUES.get(s)
    if v is None:
        v = packed.string(s)
        # Bounded like _NAMES: the names come from the host's analyzer list.
        if len(_STR_VALUES) < 4096:
            _STR_VALUES[s] = v
    return v


# The packed values after a row's port (port_proto and the service set), per transport and
# service list (joined with ","), for rows that log every name of the list.
_ROW_TAILS: Dict[Tuple[int, str], bytes] = {}


def row_tail(proto: int, service: str, names: List[str]) -> bytes:
    """The packed port_proto and service values of a row logging `names` (the committed names
    of `service`), cached."""
    tail = b"".join([_PROTO_VALUES[proto], set_header(len(names))] + [str_value(s) for s in names])
    # Bounded like _NAMES.
    if len(_ROW_TAILS) < 4096:
        _ROW_TAILS[(proto, service)] = tail
    return tail


def info_row(ts: float, host: bytes, port_num: int, proto: int, names: List[str]) -> bytes:
    """A known_services row, packed: its value count and values."""
    if len(host) == 4:
        head = _ROW_HEAD_V4.pack(5 + len(names), 5, ts, 8, 4, host, 9, port_num, proto)
    else:
        head = _ROW_HEAD_V6.pack(5 + len(names), 5, ts, 8, 6, host, 9, port_num, proto)
    if len(names) == 1:
        return head + _PROTO_VALUES[proto] + _SET_HEADERS[1] + str_value(names[0])
    return b"".join([head, _PROTO_VALUES[proto], set_header(len(names))] + [str_value(s) for s in names])


def analyzer_name(service: str) -> str:
    """The name Zeek's ``c$service`` holds for a confirmed protocol: the analyzer's name
    (``Analyzer::name``, upper case: "HTTP", "DNS"). The host lists module names ("http");
    "ftp-data" is the one name Zeek's FTP script adds in lower case."""
    if service.lower() in ("ftp-data", "ftp_data"):
        return "ftp-data"
    if service.startswith("-"):
        return "-" + analyzer_name(service[1:])
    return service.upper().replace("-", "_")


# Per service list of a connection (its names joined with ",", as a batch carries it): the
# analyzer names, the names it commits, the list itself and whether the names are those of a
# connection without a confirmed protocol. A network has few distinct lists, and each event
# would otherwise recompute them in Python.
_NAMES: Dict[str, Tuple[List[str], List[str], List[str], bool]] = {}


def names_of(service: str) -> Tuple[List[str], List[str], List[str], bool]:
    """(analyzer names, committed names, the names themselves, unidentified) of a
    connection's service list (joined with ","); callers must not change the lists (they are
    shared)."""
    hit = _NAMES.get(service)
    if hit is None:
        names = service.split(",") if service else []
        analyzers = [analyzer_name(s) for s in names]
        committed = committed_names(analyzers)
        hit = (analyzers, committed, names, committed == UNKNOWN_NAMES)
        # Bounded: service lists come from the host's analyzer names, but a hostile mix
        # must not grow this without limit.
        if len(_NAMES) < 4096:
            _NAMES[service] = hit
    return hit


def committed_names(services: List[str]) -> List[str]:
    """The names a connection with these services (analyzer names, in confirmation order)
    commits: those not prefixed with `-`, without repeats; `""` when it has no service."""
    if not services:
        return [""]
    names: List[str] = []
    for s in services:
        if not s.startswith("-") and s not in names:
            names.append(s)
    return names


class PackedHandler(exports.PackedHandler):
    def __init__(self) -> None:
        self.stream: Optional[int] = None
        # Zeek's `Known::services`: per (host, port), when the entry was created and the names
        # logged for it.
        self.known: Dict[ServiceKey, Tuple[float, Set[str]]] = {}
        self.last_sweep = 0.0
        # The mutes set, per (host, port) key and service list (joined with ","), with their
        # end (the host keeps them; this avoids asking twice).
        self.muted: Dict[Tuple[ServiceKey, str], float] = {}
        # Connections without a confirmed protocol waiting for their commit timer, under the
        # uid its event carries.
        self.pending: Dict[str, List[ServiceInfo]] = {}

    def handle(self, batch: PackedEvents) -> None:
        # Each row, packed.
        rows: List[bytes] = []
        # What each row added to `known`, to undo if the row cannot be written.
        added: List[Tuple[ServiceKey, List[str], bool]] = []
        # Finished connections that committed nothing new: repeats, to mute (ts, host, port,
        # transport, service).
        repeats: List[Tuple[float, bytes, int, int, str]] = []
        # Connections without a confirmed protocol, to commit in 5 minutes, and the uid of the
        # first (the key of their `pending` entry).
        unknown: List[ServiceInfo] = []
        unknown_uid = ""
        last_ts = None
        b = batch.bytes
        head = packed.EVENT_HEAD.unpack_from
        event_head_size = packed.EVENT_HEAD.size
        conn_fixed_size = packed.CONN_FIXED.size
        read_value = packed.read_value
        fixed = _CONN_FIELDS.unpack_from
        names_get = _NAMES.get
        known_get = self.known.get
        tails_get = _ROW_TAILS.get
        row_head_v4 = _ROW_HEAD_V4.pack
        commit = self.commit
        at = 0
        try:
            for _ in range(batch.count):
                name_len, ts, has_conn, n = head(b, at)
                at += event_head_size
                name = b[at : at + name_len]
                at += name_len
                last_ts = ts
                if has_conn:
                    (
                        start,
                        resp_bytes,
                        resp_pkts,
                        resp_p,
                        proto,
                        local_resp,
                        orig_len,
                        resp_len,
                        text_len,
                    ) = fixed(b, at)
                    at += conn_fixed_size + orig_len
                    resp_h = b[at : at + resp_len]
                    at += resp_len
                    text = b[at : at + text_len]
                    at += text_len
                    for _ in range(n):
                        _v, at = read_value(b, at)
                    if name != CONN_END_BYTES:
                        continue
                    if orig_len not in (4, 16) or resp_len not in (4, 16):
                        raise PackedError(
                            f"an address length other than 4 or 16 before byte {at}"
                        )
                    uid, _state, history, service, _tunnels = text.decode().split("\0")
                    # Zeek's `known_services_done`: first `has_active_service`, read from the
                    # finished connection. TCP: the responder's endpoint ended ESTABLISHED,
                    # CLOSED or PARTIAL, or history holds 'h' (it sent a SYN-ACK). From
                    # history: 'h', or the responder sent packets and none of them was a SYN of
                    # its own ('s', SYN_SENT) or a reset ('r', RESET). UDP: the responder sent a
                    # datagram (UDP_ACTIVE, `Known::service_udp_requires_response = T`). Other
                    # transports never.
                    if not local_resp:
                        repeats.append((ts, resp_h, resp_p, proto, service))
                        continue
                    if proto == TCP:
                        if "h" not in history and (
                            resp_pkts == 0 or "s" in history or "r" in history
                        ):
                            repeats.append((ts, resp_h, resp_p, proto, service))
                            continue
                    elif proto != UDP or resp_pkts == 0:
                        repeats.append((ts, resp_h, resp_p, proto, service))
                        continue
                    hit = names_get(service)
                    if hit is None:
                        hit = names_of(service)
                    services, names, _, unidentified = hit
                    if len(services) == 1 and services[0] in ONE_SERVICE_RULES:
                        if services[0] == "ftp-data" or resp_bytes == 0:
                            repeats.append((ts, resp_h, resp_p, proto, service))
                            continue
                        # A lone DNS service waits for the server's reply and is decided when
                        # the connection is removed.
                        info_ts = ts
                    elif services:
                        # Zeek decides a connection with a confirmed protocol when the analyzer
                        # confirms it, within its first exchanges: the connection's start is
                        # the nearest time conn-info has.
                        info_ts = start
                    else:
                        # Without a protocol it is decided when it is removed.
                        info_ts = ts
                    if unidentified:
                        # Committed 5 minutes later, with the name "".
                        if not unknown:
                            unknown_uid = uid
                        unknown.append((info_ts, resp_h, resp_p, proto, names))
                        repeats.append((ts, resp_h, resp_p, proto, service))
                        continue
                    # `commit`, inline: the names not yet known for (host, port), if any.
                    key = (resp_h, resp_p, proto)
                    entry = known_get(key)
                    if entry is not None and ts - entry[0] >= EXPIRY:
                        del self.known[key]
                        entry = None
                    if entry is None:
                        known_names: Set[str] = set(names)
                        self.known[key] = (ts, known_names)
                        new = names
                    else:
                        known_names = entry[1]
                        new = [s for s in names if s not in known_names]
                        if not new:
                            repeats.append((ts, resp_h, resp_p, proto, service))
                            continue
                        known_names.update(new)
                    if new is names and resp_len == 4:
                        # `info_row`, inline for the usual row: an IPv4 server logged with all
                        # of its connection's names, whose packed tail is cached per list.
                        tail = tails_get((proto, service))
                        if tail is None:
                            tail = row_tail(proto, service, names)
                        rows.append(
                            row_head_v4(5 + len(names), 5, info_ts, 8, 4, resp_h, 9, resp_p, proto)
                            + tail
                        )
                    else:
                        rows.append(info_row(info_ts, resp_h, resp_p, proto, new))
                    added.append((key, new, entry is None))
                else:
                    args = []
                    for _ in range(n):
                        v, at = read_value(b, at)
                        args.append(v)
                    if name == COMMIT_BYTES:
                        for info in self.due_commits(args):
                            commit(info, ts, rows, added)
        except packed.READ_ERRORS as e:
            raise packed.batch_error(e, at) from None
        packed.check_end(b, at)
        if unknown:
            self.schedule_commits(unknown_uid, unknown)
        if last_ts is not None:
            self.sweep(last_ts)
        if rows:
            self.write(rows, added)
        for ts, host, port_num, proto, service in repeats:
            self.mute_if_known(ts, host, port_num, proto, service)

    def mute_if_known(
        self, ts: float, host: bytes, port_num: int, proto: int, service: str
    ) -> None:
        """Asks the host not to deliver more connections to this server, port and service list
        while each would change nothing: every name it could commit is known until the entry
        expires. Lifting a connection costs this Python handler ~70,000 fuel, and on a busy
        network nearly all of them are repeats. Only connections that logged nothing come
        here: the first one of a service wrote its row, and most services on a network are
        seen more than once or not worth a host call (a one-off server). `service` is the
        connection's service list as the batch has it (names joined with ",")."""
        key = (host, port_num, proto)
        mute_key = (key, service)
        if self.muted.get(mute_key, ts) > ts:
            return
        entry = self.known.get(key)
        if entry is None:
            return
        created, known = entry
        hit = _NAMES.get(service)
        if hit is None:
            hit = names_of(service)
        _, names, service_list, _ = hit
        if not all(n in known for n in names):
            return
        until = created + EXPIRY
        if not service:
            until -= UNKNOWN_MUTE_MARGIN
        if until <= ts:
            return
        match = mutes.ConnMatch(None, ip_address(host), port(port_num, proto), list(service_list))
        try:
            mutes.mute(CONN_END, match, until)
        except Err:
            # Too many mutes in force: this server keeps being delivered, which costs time only.
            return
        self.muted[mute_key] = until

    def schedule_commits(self, uid: str, infos: List[ServiceInfo]) -> None:
        """Zeek's `schedule 5min { service_info_commit(info) }` for each of `infos`, as one timer:
        timers set in one call fall due together and fire in the order they were set, so one
        timer for the call's infos commits them at the same time and in the same order. The
        infos wait in `pending` under `uid`, the first one's connection uid, which the timer's
        event carries: a timer per info with the info in its arguments cost ~260,000 fuel per
        service (building, lowering and lifting the event's values), and a network has many
        unidentified services. A uid names one connection, and a connection ends once, so a
        timer left by a replaced instance never matches an entry of this one."""
        try:
            timers.schedule(UNKNOWN_SERVICE_DELAY, Event(COMMIT, infos[0][0], None, [Value_Str(uid)]))
        except Err:
            # Too many timers pending: these services stay unlogged, as lost events would in Zeek.
            return
        self.pending[uid] = infos

    def due_commits(self, args: List[Value]) -> List[ServiceInfo]:
        """The infos of a fired commit timer (none for a timer this instance did not set)."""
        if len(args) != 1 or not isinstance(args[0], Value_Str):
            return []
        return self.pending.pop(args[0].value, [])

    def commit(
        self,
        info: ServiceInfo,
        now: float,
        rows: List[bytes],
        added: List[Tuple[ServiceKey, List[str], bool]],
    ) -> bool:
        """Zeek's ``service_info_commit`` + ``known_service_add``: logs the names not yet known
        for (host, port); nothing if all are (an empty name list then logs nothing either).
        True if it added a row."""
        ts, host, port_num, proto, names = info
        key = (host, port_num, proto)
        entry = self.known.get(key)
        if entry is not None and now - entry[0] >= EXPIRY:
            del self.known[key]
            entry = None
        if entry is None:
            known: Set[str] = set()
            self.known[key] = (now, known)
            new = list(names)
        else:
            known = entry[1]
            new = [s for s in names if s not in known]
            if not new:
                return False
        known.update(new)
        rows.append(info_row(ts, host, port_num, proto, new))
        added.append((key, new, entry is None))
        return True

    def sweep(self, now: float) -> None:
        if now - self.last_sweep < SWEEP_EVERY:
            return
        self.last_sweep = now
        expired = [k for k, (created, _) in self.known.items() if now - created >= EXPIRY]
        for k in expired:
            del self.known[k]
        ended = [k for k, until in self.muted.items() if now >= until]
        for k in ended:
            del self.muted[k]
        gc.collect()

    def write(
        self, rows: List[bytes], added: List[Tuple[ServiceKey, List[str], bool]]
    ) -> None:
        # Only what was written stays known, so a service whose row could not be written is
        # tried again with its next connection.
        if self.stream is None:
            try:
                self.stream = log.create_stream(schema())
            except Err:
                self.forget(added)
                return
        for start in range(0, len(rows), MAX_ROWS_PER_WRITE):
            chunk = rows[start : start + MAX_ROWS_PER_WRITE]
            try:
                log.write_packed(self.stream, PackedRows(len(chunk), b"".join(chunk)))
            except Err:
                self.forget(added[start : start + MAX_ROWS_PER_WRITE])

    def forget(self, added: List[Tuple[ServiceKey, List[str], bool]]) -> None:
        for key, names, created in added:
            entry = self.known.get(key)
            if entry is None:
                continue
            entry[1].difference_update(names)
            if created and not entry[1]:
                del self.known[key]
