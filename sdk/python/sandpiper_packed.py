"""Sandpiper's packed encodings for Python handlers (WIT ``packed-events`` and ``packed-rows``).

A handler built against the world ``packed-event-handler`` gets each batch as one ``bytes``
object instead of ``Event`` dataclasses: lifting the records costs CPython an object per
record, variant, list and string of every event (~100,000 fuel for a connection event), and
``events(batch)`` here reads the same event for a fraction of that. Rows go out the same way:
``Rows`` builds a ``packed-rows`` batch for ``log.write_packed``, without a ``Value`` object per
column. ``sdk/python/componentize.sh`` copies this module beside the handler's own.

The layouts are documented in ``wit/types.wit`` (``packed-events``, ``packed-rows``).
"""

import struct
from typing import List, Optional, Tuple

from wit_world.imports.types import (
    IpAddress,
    IpAddress_V4,
    IpAddress_V6,
    PackedRows,
    Port,
    Transport,
    Value,
    Value_Addr,
    Value_Boolean,
    Value_Count,
    Value_Double,
    Value_Enumeration,
    Value_Integer,
    Value_Interval,
    Value_Port,
    Value_SetOf,
    Value_Str,
    Value_Subnet,
    Value_Time,
    Value_Unset,
    Value_VectorOf,
)
from wit_world.imports.types import Subnet

_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_PORT = struct.Struct("<HB")
# An event's fixed block: name length, ts, has-conn, argument count. Public, with CONN_FIXED
# and read_value, for a handler that reads a batch in place (guest-scripts/known-services).
EVENT_HEAD = struct.Struct("<IdBI")
# A connection's fixed block: start, duration, orig/resp bytes, orig/resp packets, orig port
# and transport, resp port and transport, local-orig, local-resp, the two address lengths and
# the length of its text (uid, conn-state, history, service, tunnel-parents, NUL-separated).
# The two addresses (4 or 16 bytes each) and the text follow it.
CONN_FIXED = struct.Struct("<dd4QHBHBBBBBI")

# Transport codes (the WIT enum's indexes) and their enum members, looked up once.
TCP, UDP, ICMP, UNKNOWN_TRANSPORT = 0, 1, 2, 3
_TRANSPORTS = [Transport.TCP, Transport.UDP, Transport.ICMP, Transport.UNKNOWN]


class PackedError(ValueError):
    """A batch that does not decode (the host never sends one; a test might)."""


class Conn:
    """A connection as ``conn-info`` has it, read from a packed event. Addresses are ``bytes``
    in network order (4 for IPv4, 16 for IPv6: hashable and cheap; ``ip_address`` makes the
    WIT variant), ports are ints with their transport codes (``TCP``, ``UDP``, ...)."""

    __slots__ = (
        "uid",
        "orig_h",
        "orig_p",
        "orig_proto",
        "resp_h",
        "resp_p",
        "resp_proto",
        "start",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "orig_pkts",
        "resp_pkts",
        "conn_state",
        "history",
        "service",
        "local_orig",
        "local_resp",
        "tunnel_parents",
    )


def _str(b: bytes, at: int) -> Tuple[str, int]:
    n = _U32.unpack_from(b, at)[0]
    at += 4
    end = at + n
    if end > len(b):
        raise PackedError(f"a string cut short at byte {at}")
    return b[at:end].decode(), end


def _addr(b: bytes, at: int) -> Tuple[bytes, int]:
    family = b[at]
    n = 4 if family == 4 else 16 if family == 6 else 0
    if n == 0:
        raise PackedError(f"an address family other than 4 or 6 at byte {at}")
    end = at + 1 + n
    if end > len(b):
        raise PackedError(f"an address cut short at byte {at}")
    return b[at + 1 : end], end


def ip_address(b: bytes) -> IpAddress:
    """The WIT ``ip-address`` of a packed address (4 or 16 bytes, network order)."""
    if len(b) == 4:
        return IpAddress_V4((b[0], b[1], b[2], b[3]))
    return IpAddress_V6(struct.unpack(">8H", b))


def port(number: int, proto: int) -> Port:
    """The WIT ``port`` of a packed port number and transport code."""
    return Port(number, _TRANSPORTS[proto])


def read_value(b: bytes, at: int) -> Tuple[Value, int]:
    """The flat value at `at` of `b` and the offset after it."""
    tag = b[at]
    at += 1
    if tag == 7:
        s, at = _str(b, at)
        return Value_Str(s), at
    if tag in (2, 3, 4, 5, 6, 12, 13):
        if tag == 2:
            return Value_Count(_U64.unpack_from(b, at)[0]), at + 8
        if tag == 3:
            return Value_Integer(_I64.unpack_from(b, at)[0]), at + 8
        if tag in (4, 5, 6):
            x = _F64.unpack_from(b, at)[0]
            cls = Value_Double if tag == 4 else Value_Time if tag == 5 else Value_Interval
            return cls(x), at + 8
        n = _U32.unpack_from(b, at)[0]
        return (Value_SetOf(n) if tag == 12 else Value_VectorOf(n)), at + 4
    if tag == 0:
        return Value_Unset(), at
    if tag == 1:
        return Value_Boolean(b[at] == 1), at + 1
    if tag == 8:
        a, at = _addr(b, at)
        return Value_Addr(ip_address(a)), at
    if tag == 9:
        number, proto = _PORT.unpack_from(b, at)
        return Value_Port(port(number, proto)), at + 3
    if tag == 10:
        a, at = _addr(b, at)
        return Value_Subnet(Subnet(ip_address(a), b[at])), at + 1
    if tag == 11:
        s, at = _str(b, at)
        return Value_Enumeration(s), at
    raise PackedError(f"an unknown value tag {tag} at byte {at - 1}")


# What reading a cut or malformed batch raises, for `batch_error`.
READ_ERRORS = (struct.error, IndexError, ValueError)


def batch_error(e: Exception, at: int) -> PackedError:
    """The `PackedError` for one of `READ_ERRORS` raised while reading a batch near `at`."""
    if isinstance(e, PackedError):
        return e
    return PackedError(f"a malformed batch near byte {at}: {e}")


def check_end(b: bytes, at: int) -> None:
    """Raises `PackedError` unless the batch's last event ended at its last byte."""
    if at != len(b):
        raise PackedError(f"bytes after the last event at byte {at}")


def events(batch) -> List[Tuple[str, float, Optional[Conn], List[Value]]]:
    """The events of a ``packed-events`` batch, in order: ``(name, ts, conn, args)``, with
    ``conn`` a ``Conn`` or ``None`` and ``args`` the event's flat values.

    One loop without calls per event: in CPython on Wasm each Python-level call costs a few
    thousand fuel, and this runs for every event a handler gets."""
    b = batch.bytes
    head = EVENT_HEAD.unpack_from
    head_size = EVENT_HEAD.size
    fixed = CONN_FIXED.unpack_from
    fixed_size = CONN_FIXED.size
    at = 0
    out = []
    append = out.append
    try:
        for _ in range(batch.count):
            name_len, ts, has_conn, n = head(b, at)
            at += head_size
            name = b[at : at + name_len].decode()
            at += name_len
            conn = None
            if has_conn:
                conn = Conn()
                (
                    conn.start,
                    conn.duration,
                    conn.orig_bytes,
                    conn.resp_bytes,
                    conn.orig_pkts,
                    conn.resp_pkts,
                    conn.orig_p,
                    conn.orig_proto,
                    conn.resp_p,
                    conn.resp_proto,
                    local_orig,
                    local_resp,
                    orig_len,
                    resp_len,
                    text_len,
                ) = fixed(b, at)
                at += fixed_size
                conn.local_orig = local_orig == 1
                conn.local_resp = local_resp == 1
                end = at + orig_len
                conn.orig_h = b[at:end]
                at = end + resp_len
                conn.resp_h = b[end:at]
                end = at + text_len
                (
                    conn.uid,
                    conn.conn_state,
                    conn.history,
                    service,
                    tunnels,
                ) = b[at:end].decode().split("\0")
                at = end
                conn.service = service.split(",") if service else []
                conn.tunnel_parents = tunnels.split(",") if tunnels else []
                if orig_len not in (4, 16) or resp_len not in (4, 16):
                    raise PackedError(f"an address length other than 4 or 16 before byte {at}")
            args: List[Value] = []
            for _ in range(n):
                v, at = read_value(b, at)
                args.append(v)
            append((name, ts, conn, args))
    except READ_ERRORS as e:
        raise batch_error(e, at) from None
    check_end(b, at)
    return out


# Row values, each as its packed bytes (a tag byte and the payload).
def time(t: float) -> bytes:
    return b"\x05" + _F64.pack(t)


def interval(t: float) -> bytes:
    return b"\x06" + _F64.pack(t)


def count(n: int) -> bytes:
    return b"\x02" + _U64.pack(n)


def string(s: str) -> bytes:
    e = s.encode()
    return b"\x07" + _U32.pack(len(e)) + e


def enumeration(s: str) -> bytes:
    e = s.encode()
    return b"\x0b" + _U32.pack(len(e)) + e


def addr(a: bytes) -> bytes:
    """A packed address (as ``Conn.orig_h``) as a row value."""
    return (b"\x08\x04" if len(a) == 4 else b"\x08\x06") + a


def port_value(number: int, proto: int) -> bytes:
    return b"\x09" + _PORT.pack(number, proto)


def set_of(n: int) -> bytes:
    return b"\x0c" + _U32.pack(n)


UNSET = b"\x00"


class Rows:
    """A ``packed-rows`` batch being built: ``add(n, parts)`` appends a row of ``n`` values
    whose packed bytes are ``parts`` (from ``time``, ``string``, ... above, which may be
    built once and reused), ``packed()`` gives the WIT record for ``log.write_packed``."""

    __slots__ = ("parts", "count")

    def __init__(self) -> None:
        self.parts: List[bytes] = []
        self.count = 0

    def add(self, n: int, parts: List[bytes]) -> None:
        self.parts.append(_U32.pack(n))
        self.parts.extend(parts)
        self.count += 1

    def packed(self) -> PackedRows:
        return PackedRows(self.count, b"".join(self.parts))
