"""Zeek's ``policy/protocols/conn/known-services.zeek`` as a Sandpiper event handler in Python.

known_services.log gets a row when a local server (the responder of a connection) is seen
offering a service on a port: ``ts``, ``host``, ``port_num``, ``port_proto`` and ``service``, the
protocols confirmed on it. Each (host, port) is logged once per day for each service name (an
unidentified service counts as the name ``""``). README.md beside this file states the rule and
every difference from Zeek.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, mutes, timers
from wit_world.imports.types import (
    ConnInfo,
    Event,
    Field,
    FieldType_Scalar,
    FieldType_Set,
    IpAddress,
    LogSchema,
    Port,
    ScalarType,
    Transport,
    Value,
    Value_Addr,
    Value_Enumeration,
    Value_Port,
    Value_SetOf,
    Value_Str,
    Value_Time,
)

# The event carrying each finished connection.
CONN_END = "connection_state_remove"

# The event this handler schedules to itself for a service whose protocol is unknown (Zeek's
# `schedule 5min { service_info_commit(info) }`).
COMMIT = "Known::service_info_commit"

# Zeek's delay before logging a service without a confirmed protocol.
UNKNOWN_SERVICE_DELAY = 300.0

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

# Zeek's `transport_proto` names.
PROTO_NAMES = {
    Transport.TCP: "tcp",
    Transport.UDP: "udp",
    Transport.ICMP: "icmp",
    Transport.UNKNOWN: "unknown_transport",
}

# Responder history letters that mean its endpoint did not reach an established, partial or
# closed state without a SYN-ACK: a SYN of its own (SYN_SENT) or a reset (RESET).
RESPONDER_NOT_ACTIVE = ("s", "r")


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


# A hashable address: the variant's groups, a tuple of 4 octets (v4) or 8 groups (v6), so the
# length tells the family apart (the generated dataclasses are not hashable).
AddrKey = Tuple[int, ...]
# Zeek's `[addr, port]` key: address, port number and transport.
ServiceKey = Tuple[AddrKey, int, int]


def service_key(host: IpAddress, port: Port) -> ServiceKey:
    return (host.value, port.number, port.proto.value)


@dataclass
class ServiceInfo:
    """One known_services row before the known-set check (Zeek's ``ServicesInfo``)."""

    ts: float
    host: IpAddress
    port: Port
    # Names in confirmation order, without repeats.
    services: List[str]

    def key(self) -> ServiceKey:
        return service_key(self.host, self.port)

    def to_args(self) -> List[Value]:
        """The arguments of the scheduled commit event (the flat value model)."""
        args: List[Value] = [
            Value_Time(self.ts),
            Value_Addr(self.host),
            Value_Port(self.port),
            Value_SetOf(len(self.services)),
        ]
        args.extend(Value_Str(s) for s in self.services)
        return args

    @staticmethod
    def from_args(args: List[Value]) -> Optional["ServiceInfo"]:
        """Reads the arguments written by ``to_args``; None if they are not that shape."""
        if len(args) < 4:
            return None
        ts, host, port, header = args[:4]
        if not (
            isinstance(ts, Value_Time)
            and isinstance(host, Value_Addr)
            and isinstance(port, Value_Port)
            and isinstance(header, Value_SetOf)
            and len(args) == 4 + header.value
        ):
            return None
        names = [v.value for v in args[4:] if isinstance(v, Value_Str)]
        if len(names) != header.value:
            return None
        return ServiceInfo(ts.value, host.value, port.value, names)

    def row(self, names: List[str]) -> List[Value]:
        row: List[Value] = [
            Value_Time(self.ts),
            Value_Addr(self.host),
            Value_Port(self.port),
            Value_Enumeration(PROTO_NAMES[self.port.proto]),
            Value_SetOf(len(names)),
        ]
        row.extend(Value_Str(s) for s in names)
        return row


def analyzer_name(service: str) -> str:
    """The name Zeek's ``c$service`` holds for a confirmed protocol: the analyzer's name
    (``Analyzer::name``, upper case: "HTTP", "DNS"). The host lists module names ("http");
    "ftp-data" is the one name Zeek's FTP script adds in lower case."""
    if service.lower() in ("ftp-data", "ftp_data"):
        return "ftp-data"
    if service.startswith("-"):
        return "-" + analyzer_name(service[1:])
    return service.upper().replace("-", "_")


# Per list of host service names (a tuple of conn.service): the analyzer names and the names
# it commits. A network has few distinct lists, and each event would otherwise recompute
# both in Python.
_NAMES: Dict[Tuple[str, ...], Tuple[List[str], List[str]]] = {}


def names_of(service: List[str]) -> Tuple[List[str], List[str]]:
    """(analyzer names, committed names) of a connection's service list; callers must not
    change the lists (they are shared)."""
    key = tuple(service)
    hit = _NAMES.get(key)
    if hit is None:
        analyzers = [analyzer_name(s) for s in service]
        hit = (analyzers, committed_names(analyzers))
        # Bounded: service lists come from the host's analyzer names, but a hostile mix
        # must not grow this without limit.
        if len(_NAMES) < 4096:
            _NAMES[key] = hit
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


def has_active_service(conn: ConnInfo) -> bool:
    """Zeek's ``has_active_service``, read from the finished connection.

    TCP: the responder's endpoint ended ESTABLISHED, CLOSED or PARTIAL, or history holds 'h'
    (it sent a SYN-ACK). From history: 'h', or the responder sent packets and none of them was
    a SYN of its own or a reset (the states SYN_SENT and RESET). UDP: the responder sent a
    datagram (UDP_ACTIVE, `Known::service_udp_requires_response = T`). Other transports never.
    """
    proto = conn.id.resp_p.proto
    if proto == Transport.TCP:
        history = conn.history
        if "h" in history:
            return True
        return conn.resp_pkts > 0 and not any(c in history for c in RESPONDER_NOT_ACTIVE)
    if proto == Transport.UDP:
        return conn.resp_pkts > 0
    return False


def service_info(ev: Event, conn: ConnInfo) -> Optional[ServiceInfo]:
    """Zeek's ``known_services_done``: what to commit for a finished connection, if anything."""
    if not conn.local_resp:
        return None
    services, names = names_of(conn.service)
    if len(services) == 1:
        if services[0] == "ftp-data":
            return None
        if services[0] == "DNS" and conn.resp_bytes == 0:
            return None
    if not has_active_service(conn):
        return None
    if services:
        # Zeek decides a connection with a confirmed protocol when the analyzer confirms it,
        # which is within its first exchanges: the connection's start is the nearest time
        # conn-info has. A lone DNS service waits for the server's reply and is decided when
        # the connection is removed.
        ts = ev.ts if services == ["DNS"] else conn.start
    else:
        # No protocol: decided at removal, committed 5 minutes later with the name "".
        ts = ev.ts
    # A copy: `names` is shared by every connection with this service list.
    return ServiceInfo(ts, conn.id.resp_h, conn.id.resp_p, list(names))


class Handler(exports.Handler):
    def __init__(self) -> None:
        self.stream: Optional[int] = None
        # Zeek's `Known::services`: per (host, port), when the entry was created and the names
        # logged for it.
        self.known: Dict[ServiceKey, Tuple[float, Set[str]]] = {}
        self.last_sweep = 0.0
        # The mutes set, per (host, port) key and service list, with their end (the host keeps
        # them; this avoids asking twice).
        self.muted: Dict[Tuple[ServiceKey, Tuple[str, ...]], float] = {}

    def handle(self, batch: List[Event]) -> None:
        rows: List[List[Value]] = []
        # What each row added to `known`, to undo if the row cannot be written.
        added: List[Tuple[ServiceKey, List[str], bool]] = []
        # Finished connections, to mute their repeats once what they offer is known.
        finished: List[Tuple[float, ConnInfo]] = []
        for ev in batch:
            info: Optional[ServiceInfo] = None
            if ev.name == CONN_END and ev.conn is not None:
                finished.append((ev.ts, ev.conn))
                info = service_info(ev, ev.conn)
                if info is not None and info.services == [""]:
                    self.schedule_commit(info)
                    info = None
            elif ev.name == COMMIT and ev.conn is None:
                info = ServiceInfo.from_args(ev.args)
            if info is not None:
                self.commit(info, ev.ts, rows, added)
        if batch:
            self.sweep(batch[-1].ts)
        if rows:
            self.write(rows, added)
        for ts, conn in finished:
            self.mute_if_known(ts, conn)

    def mute_if_known(self, ts: float, conn: ConnInfo) -> None:
        """Asks the host not to deliver more connections to this server, port and service list
        while each would change nothing: every name it could commit is known until the entry
        expires. Lifting a connection costs this Python handler ~100,000 fuel, and on a busy
        network nearly all of them are repeats."""
        key = service_key(conn.id.resp_h, conn.id.resp_p)
        mute_key = (key, tuple(conn.service))
        if self.muted.get(mute_key, ts) > ts:
            return
        entry = self.known.get(key)
        if entry is None:
            return
        created, known = entry
        names = names_of(conn.service)[1]
        if not all(n in known for n in names):
            return
        until = created + EXPIRY
        if not conn.service:
            until -= UNKNOWN_MUTE_MARGIN
        if until <= ts:
            return
        match = mutes.ConnMatch(None, conn.id.resp_h, conn.id.resp_p, list(conn.service))
        try:
            mutes.mute(CONN_END, match, until)
        except Err:
            # Too many mutes in force: this server keeps being delivered, which costs time only.
            return
        self.muted[mute_key] = until

    def schedule_commit(self, info: ServiceInfo) -> None:
        try:
            timers.schedule(UNKNOWN_SERVICE_DELAY, Event(COMMIT, info.ts, None, info.to_args()))
        except Err:
            # Too many timers pending: the service stays unlogged, as a lost event would in Zeek.
            pass

    def lookup(self, key: ServiceKey, now: float) -> Optional[Set[str]]:
        entry = self.known.get(key)
        if entry is None:
            return None
        created, names = entry
        if now - created >= EXPIRY:
            del self.known[key]
            return None
        return names

    def commit(
        self,
        info: ServiceInfo,
        now: float,
        rows: List[List[Value]],
        added: List[Tuple[ServiceKey, List[str], bool]],
    ) -> None:
        """Zeek's ``service_info_commit`` + ``known_service_add``: logs the names not yet known
        for (host, port); nothing if all are (an empty name list then logs nothing either)."""
        key = info.key()
        known = self.lookup(key, now)
        if known is not None and all(s in known for s in info.services):
            return
        created = known is None
        if known is None:
            known = set()
            self.known[key] = (now, known)
        new = [s for s in info.services if s not in known]
        known.update(new)
        rows.append(info.row(new))
        added.append((key, new, created))

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

    def write(self, rows: List[List[Value]], added: List[Tuple[ServiceKey, List[str], bool]]) -> None:
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
                log.write(self.stream, chunk)
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
