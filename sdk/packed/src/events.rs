//! Packed event batches (WIT `packed-events`), for handlers exporting `packed-handler`.
//!
//! The layout (all integers little-endian; `value` as for rows):
//!
//! ```text
//! bytes  = event*                      exactly `count` events
//! event  = name-len:u32 ts:f64 has-conn:u8 n:u32 (17 bytes)  name  conn?  value{n}
//! name   = name-len bytes of UTF-8
//! conn   = start:f64 duration:f64 orig-bytes:u64 resp-bytes:u64 orig-pkts:u64
//!          resp-pkts:u64 orig-p:u16 orig-transport:u8 resp-p:u16 resp-transport:u8
//!          local-orig:u8 local-resp:u8 orig-h-len:u8 resp-h-len:u8 text-len:u32
//!                                        (one 62-byte block)
//!          orig-h resp-h                 4 (IPv4) or 16 (IPv6) bytes each, network order
//!          text                          text-len bytes of UTF-8:
//!                                        uid NUL conn-state NUL history NUL service NUL
//!                                        tunnel-parents, each list joined with ","
//! ```
//!
//! Every length and number of an event sits in two fixed-size blocks and a connection's
//! strings are one, so an interpreted guest reads an event with two `struct.unpack_from`,
//! three slices and a `split`: CPython spent ~78,000 fuel per connection event on a layout
//! with a length before each string. The strings of `text` are the host's own (uids, state
//! and history letters, module names), which never hold NUL or ","; the encoder replaces
//! either with "_" should one appear, so the text always splits into five.

use std::net::IpAddr;

use super::{push_value, Error, Rows, Transport, ValueRef};

/// Size of an event's fixed block.
pub const EVENT_FIXED: usize = 17;
/// Size of a connection's fixed block.
pub const CONN_FIXED: usize = 62;

/// The scalar part of a connection (WIT `conn-info` without its string lists).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnFields<'a> {
    pub uid: &'a str,
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub orig_transport: Transport,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    pub resp_transport: Transport,
    pub start: f64,
    pub duration: f64,
    pub orig_bytes: u64,
    pub resp_bytes: u64,
    pub orig_pkts: u64,
    pub resp_pkts: u64,
    pub conn_state: &'a str,
    pub history: &'a str,
    pub local_orig: bool,
    pub local_resp: bool,
}

/// Appends events to a byte buffer; reuse one ([`EventEncoder::clear`]) so that encoding
/// allocates nothing once the buffer has grown.
#[derive(Default)]
pub struct EventEncoder {
    bytes: Vec<u8>,
    count: u32,
}

impl EventEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one event. `service` and `tunnel_parents` are the connection's lists.
    pub fn push<'s>(
        &mut self,
        name: &str,
        ts: f64,
        conn: Option<(
            &ConnFields<'_>,
            &mut dyn ExactSizeIterator<Item = &'s str>,
            &mut dyn ExactSizeIterator<Item = &'s str>,
        )>,
        args: &mut dyn ExactSizeIterator<Item = ValueRef<'_>>,
    ) {
        let b = &mut self.bytes;
        let name = &name.as_bytes()[..name.len().min(u32::MAX as usize)];
        b.extend_from_slice(&(name.len() as u32).to_le_bytes());
        b.extend_from_slice(&ts.to_le_bytes());
        b.push(u8::from(conn.is_some()));
        b.extend_from_slice(&count(args.len()).to_le_bytes());
        b.extend_from_slice(name);
        if let Some((c, service, tunnel_parents)) = conn {
            for x in [c.start, c.duration] {
                b.extend_from_slice(&x.to_le_bytes());
            }
            for x in [c.orig_bytes, c.resp_bytes, c.orig_pkts, c.resp_pkts] {
                b.extend_from_slice(&x.to_le_bytes());
            }
            b.extend_from_slice(&c.orig_p.to_le_bytes());
            b.push(c.orig_transport.code());
            b.extend_from_slice(&c.resp_p.to_le_bytes());
            b.push(c.resp_transport.code());
            b.push(u8::from(c.local_orig));
            b.push(u8::from(c.local_resp));
            b.push(addr_len(c.orig_h));
            b.push(addr_len(c.resp_h));
            let text_len_at = b.len();
            b.extend_from_slice(&0u32.to_le_bytes());
            addr_bytes(b, c.orig_h);
            addr_bytes(b, c.resp_h);
            let text_at = b.len();
            text(b, c.uid);
            b.push(0);
            text(b, c.conn_state);
            b.push(0);
            text(b, c.history);
            b.push(0);
            joined(b, service);
            b.push(0);
            joined(b, tunnel_parents);
            let text_len = count(b.len() - text_at);
            b[text_len_at..text_len_at + 4].copy_from_slice(&text_len.to_le_bytes());
        }
        for v in args {
            push_value(b, v);
        }
        self.count += 1;
    }

    /// Events encoded so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Moves the events out as `(count, bytes)`, leaving the encoder empty;
    /// [`EventEncoder::restore`] gives the buffer back for reuse.
    pub fn take(&mut self) -> (u32, Vec<u8>) {
        (
            std::mem::take(&mut self.count),
            std::mem::take(&mut self.bytes),
        )
    }

    /// Takes back a buffer from [`EventEncoder::take`], emptied, to keep its capacity.
    pub fn restore(&mut self, mut bytes: Vec<u8>) {
        bytes.clear();
        self.bytes = bytes;
        self.count = 0;
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn addr_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        4
    } else {
        16
    }
}

fn addr_bytes(b: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => b.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b.extend_from_slice(&v6.octets()),
    }
}

/// One string of a connection's text, with the separators it must not hold replaced.
fn text(b: &mut Vec<u8>, s: &str) {
    b.extend(
        s.bytes()
            .map(|c| if c == 0 || c == b',' { b'_' } else { c }),
    );
}

fn joined(b: &mut Vec<u8>, items: &mut dyn ExactSizeIterator<Item = &str>) {
    for (i, s) in items.enumerate() {
        if i > 0 {
            b.push(b',');
        }
        text(b, s);
    }
}

/// A list of strings read in place: a connection's list, joined with ",".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StrList<'a> {
    joined: &'a str,
}

impl<'a> StrList<'a> {
    pub fn len(&self) -> usize {
        if self.joined.is_empty() {
            0
        } else {
            self.joined.split(',').count()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let joined = self.joined;
        joined.split(',').filter(move |_| !joined.is_empty())
    }
}

/// A connection read from a packed event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnRef<'a> {
    pub fields: ConnFields<'a>,
    pub service: StrList<'a>,
    pub tunnel_parents: StrList<'a>,
}

/// An event read from a packed batch, its strings borrowed from the bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRef<'a> {
    pub name: &'a str,
    pub ts: f64,
    pub conn: Option<ConnRef<'a>>,
    pub args: Vec<ValueRef<'a>>,
}

/// Reads the events of a packed batch in order. Never panics: a cut or malformed batch gives
/// an [`Error`], after which nothing more is read.
pub struct Events<'a> {
    r: Rows<'a>,
}

impl<'a> Events<'a> {
    pub fn new(count: u32, bytes: &'a [u8]) -> Self {
        Events {
            r: Rows::new(count, bytes),
        }
    }

    fn event(&mut self) -> Result<EventRef<'a>, Error> {
        let r = &mut self.r;
        let head: [u8; EVENT_FIXED] = r.take("an event's numbers")?;
        let name_len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
        let ts = f64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
        let n = u32::from_le_bytes(head[13..17].try_into().expect("4 bytes"));
        let name = self.text(name_len, "an event's name")?;
        let conn = match head[12] {
            0 => None,
            1 => Some(self.conn()?),
            _ => {
                let at = self.r.pos - name_len - EVENT_FIXED + 12;
                return Err(self.r.error_at(at, "a connection flag other than 0 or 1"));
            }
        };
        let r = &mut self.r;
        if n as usize > r.bytes.len() - r.pos {
            return Err(Error {
                offset: r.pos,
                what: "an event's arguments",
                cut: true,
            });
        }
        let mut args = Vec::with_capacity(n as usize);
        for _ in 0..n {
            args.push(r.value()?);
        }
        Ok(EventRef {
            name,
            ts,
            conn,
            args,
        })
    }

    /// The next `len` bytes as UTF-8.
    fn text(&mut self, len: usize, what: &'static str) -> Result<&'a str, Error> {
        let r = &mut self.r;
        let start = r.pos;
        let bytes = r.bytes.get(start..start.saturating_add(len)).ok_or(Error {
            offset: start,
            what,
            cut: true,
        })?;
        let s =
            std::str::from_utf8(bytes).map_err(|_| r.error_at(start, "text that is not UTF-8"))?;
        r.pos += len;
        Ok(s)
    }

    fn addr(&mut self, len: u8) -> Result<IpAddr, Error> {
        let r = &mut self.r;
        match len {
            4 => Ok(IpAddr::from(r.take::<4>("an IPv4 address")?)),
            16 => Ok(IpAddr::from(r.take::<16>("an IPv6 address")?)),
            _ => Err(r.error_at(r.pos, "an address length other than 4 or 16")),
        }
    }

    fn conn(&mut self) -> Result<ConnRef<'a>, Error> {
        let r = &mut self.r;
        let f: [u8; CONN_FIXED] = r.take("a connection's numbers")?;
        let f64_at = |i: usize| f64::from_le_bytes(f[i..i + 8].try_into().expect("8 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(f[i..i + 8].try_into().expect("8 bytes"));
        let u16_at = |i: usize| u16::from_le_bytes(f[i..i + 2].try_into().expect("2 bytes"));
        let at = r.pos - CONN_FIXED;
        let transport = |i: usize| {
            Transport::from_code(f[i]).ok_or(Error {
                offset: at + i,
                what: "an unknown transport",
                cut: false,
            })
        };
        let flag = |i: usize| match f[i] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error {
                offset: at + i,
                what: "a boolean other than 0 or 1",
                cut: false,
            }),
        };
        let (orig_transport, resp_transport) = (transport(50)?, transport(53)?);
        let (local_orig, local_resp) = (flag(54)?, flag(55)?);
        let text_len = u32::from_le_bytes(f[58..62].try_into().expect("4 bytes")) as usize;
        let orig_h = self.addr(f[56])?;
        let resp_h = self.addr(f[57])?;
        let text_at = self.r.pos;
        let text = self.text(text_len, "a connection's text")?;
        let mut parts = text.split('\0');
        let mut part = || {
            parts.next().ok_or(Error {
                offset: text_at,
                what: "a connection's text with fewer than five parts",
                cut: false,
            })
        };
        let (uid, conn_state, history) = (part()?, part()?, part()?);
        let (service, tunnel_parents) = (part()?, part()?);
        if parts.next().is_some() {
            return Err(self
                .r
                .error_at(text_at, "a connection's text with more than five parts"));
        }
        Ok(ConnRef {
            fields: ConnFields {
                uid,
                orig_h,
                orig_p: u16_at(48),
                orig_transport,
                resp_h,
                resp_p: u16_at(51),
                resp_transport,
                start: f64_at(0),
                duration: f64_at(8),
                orig_bytes: u64_at(16),
                resp_bytes: u64_at(24),
                orig_pkts: u64_at(32),
                resp_pkts: u64_at(40),
                conn_state,
                history,
                local_orig,
                local_resp,
            },
            service: StrList { joined: service },
            tunnel_parents: StrList {
                joined: tunnel_parents,
            },
        })
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<EventRef<'a>, Error>;

    /// The next event; `None` after the last. Bytes left after the last event are an error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.r.left == 0 {
            if self.r.pos < self.r.bytes.len() {
                let at = self.r.pos;
                self.r.pos = self.r.bytes.len();
                return Some(Err(Error {
                    offset: at,
                    what: "bytes after the last event",
                    cut: false,
                }));
            }
            return None;
        }
        self.r.left -= 1;
        let e = self.event();
        if e.is_err() {
            self.r.left = 0;
            self.r.pos = self.r.bytes.len();
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnFields<'static> {
        ConnFields {
            uid: "CHhAvVGS1DHFjwGM9",
            orig_h: "10.0.0.1".parse().unwrap(),
            orig_p: 49152,
            orig_transport: Transport::Tcp,
            resp_h: "2001:db8::1".parse().unwrap(),
            resp_p: 80,
            resp_transport: Transport::Tcp,
            start: 1_300_475_167.096535,
            duration: 0.25,
            orig_bytes: 1,
            resp_bytes: u64::MAX,
            orig_pkts: 3,
            resp_pkts: 4,
            conn_state: "SF",
            history: "ShADadFf",
            local_orig: true,
            local_resp: false,
        }
    }

    fn encode() -> EventEncoder {
        let mut e = EventEncoder::new();
        let c = conn();
        e.push(
            "connection_state_remove",
            1.5,
            Some((&c, &mut ["HTTP", "ünï"].into_iter(), &mut [].into_iter())),
            &mut [].into_iter(),
        );
        e.push(
            "Known::commit",
            2.5,
            None,
            &mut [ValueRef::Str("x"), ValueRef::SetOf(1), ValueRef::Count(7)].into_iter(),
        );
        e
    }

    #[test]
    fn events_read_back_as_written() {
        let e = encode();
        let got: Vec<_> = Events::new(e.count(), e.bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got.len(), 2);
        let c = got[0].conn.expect("conn");
        assert_eq!(c.fields, conn());
        assert_eq!(c.service.iter().collect::<Vec<_>>(), ["HTTP", "ünï"]);
        assert!(c.tunnel_parents.is_empty());
        assert_eq!(got[0].name, "connection_state_remove");
        assert_eq!(got[0].ts, 1.5);
        assert!(got[0].args.is_empty());
        assert_eq!(got[1].conn, None);
        assert_eq!(
            got[1].args,
            [ValueRef::Str("x"), ValueRef::SetOf(1), ValueRef::Count(7)]
        );
    }

    #[test]
    fn a_connections_numbers_are_one_block_at_a_fixed_offset() {
        let e = encode();
        let b = e.bytes();
        let name = "connection_state_remove".len();
        assert_eq!(b[..4], (name as u32).to_le_bytes());
        assert_eq!(b[4..12], 1.5f64.to_le_bytes());
        assert_eq!(b[12], 1);
        // The event's fixed block, its name, then the connection's block: start first.
        let block = &b[EVENT_FIXED + name..][..CONN_FIXED];
        assert_eq!(block[..8], 1_300_475_167.096535f64.to_le_bytes());
        assert_eq!(block[48..50], 49152u16.to_le_bytes());
        assert_eq!(block[51..53], 80u16.to_le_bytes());
        assert_eq!(block[54..58], [1, 0, 4, 16]);
        let text = "CHhAvVGS1DHFjwGM9\0SF\0ShADadFf\0HTTP,ünï\0";
        assert_eq!(block[58..62], (text.len() as u32).to_le_bytes());
        let at = EVENT_FIXED + name + CONN_FIXED + 4 + 16;
        assert_eq!(&b[at..at + text.len()], text.as_bytes());
    }

    #[test]
    fn separators_in_a_connections_strings_are_replaced() {
        let mut e = EventEncoder::new();
        let mut c = conn();
        c.history = "a,b\0c";
        e.push(
            "x",
            0.0,
            Some((&c, &mut ["p,q"].into_iter(), &mut [].into_iter())),
            &mut [].into_iter(),
        );
        let got = Events::new(1, e.bytes()).next().unwrap().unwrap();
        let c = got.conn.unwrap();
        assert_eq!(c.fields.history, "a_b_c");
        assert_eq!(c.service.iter().collect::<Vec<_>>(), ["p_q"]);
        assert_eq!(c.service.len(), 1);
    }

    #[test]
    fn every_cut_and_every_extra_byte_is_an_error_not_a_panic() {
        let e = encode();
        let bytes = e.bytes();
        for cut in 0..bytes.len() {
            let r: Result<Vec<_>, _> = Events::new(2, &bytes[..cut]).collect();
            assert!(r.is_err(), "cut at {cut}");
        }
        let mut extra = bytes.to_vec();
        extra.push(0);
        let r: Result<Vec<_>, _> = Events::new(2, &extra).collect();
        assert_eq!(r.unwrap_err().what, "bytes after the last event");
        // A lying count is an error, never a huge allocation.
        let mut lie = bytes.to_vec();
        // The last event's argument count, in its fixed block.
        let at = lie.len() - (6 + 5 + 9) - "Known::commit".len() - 4;
        lie[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Events::new(2, &lie).collect::<Result<Vec<_>, _>>().is_err());
        // Flipping any byte never panics.
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0xff;
            let _ = Events::new(2, &b).collect::<Vec<_>>();
        }
    }
}
