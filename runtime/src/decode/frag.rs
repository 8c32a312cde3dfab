//! IPv4/IPv6 fragment reassembly with bounded memory and a timeout.
//!
//! etherparse's `IpDefragPool` is documented as unsafe against memory exhaustion, so
//! the pool here caps the number of datagrams in flight, the bytes they buffer and
//! their age; the oldest datagram is dropped first when a cap is hit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::ip::IpPacket;

/// Largest reassembled IP payload: the 16-bit length fields allow no more.
const MAX_DATAGRAM: u32 = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
}

struct Pending {
    /// Header of the first fragment (offset 0), used for the reassembled packet.
    header: Vec<u8>,
    data: Vec<u8>,
    /// Sorted, disjoint byte ranges received so far.
    have: Vec<(u32, u32)>,
    /// Payload length, known once the last fragment (MF=0) arrived.
    total: Option<u32>,
    first_ts: i64,
    ttl: u8,
}

/// A complete datagram, owned; hand the buffers back with [`FragPool::recycle`].
pub struct Reassembled {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    pub ttl: u8,
}

impl Reassembled {
    pub fn packet(&self) -> IpPacket<'_> {
        IpPacket {
            src: self.src,
            dst: self.dst,
            proto: self.proto,
            ip_len: (self.header.len() + self.payload.len()) as u32,
            header: &self.header,
            payload: &self.payload,
            payload_len: self.payload.len() as u32,
            frag: None,
            ttl: self.ttl,
        }
    }
}

/// Outcome of adding one fragment.
pub enum FragOutcome {
    Incomplete,
    Complete(Reassembled),
}

pub struct FragPool {
    pending: HashMap<FragKey, Pending>,
    /// Arrival order, for timeouts and eviction (may hold keys already finished).
    order: VecDeque<(i64, FragKey)>,
    bytes: usize,
    max_bytes: usize,
    max_datagrams: usize,
    timeout_us: i64,
    spare: Vec<Vec<u8>>,
    /// Datagrams dropped because a cap or the timeout was hit.
    pub dropped: u64,
}

impl FragPool {
    pub fn new(max_bytes: usize, max_datagrams: usize, timeout_us: i64) -> Self {
        FragPool {
            pending: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_datagrams,
            timeout_us,
            spare: Vec::new(),
            dropped: 0,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Returns the buffers of a processed datagram for reuse.
    pub fn recycle(&mut self, r: Reassembled) {
        if self.spare.len() < 64 {
            self.spare.push(r.header);
            self.spare.push(r.payload);
        }
    }

    fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b
    }

    /// Drops datagrams older than the timeout.
    pub fn expire(&mut self, now: i64) {
        while let Some(&(ts, key)) = self.order.front() {
            if now - ts < self.timeout_us {
                break;
            }
            self.order.pop_front();
            if let Some(p) = self.pending.get(&key) {
                if p.first_ts == ts {
                    self.drop_key(&key);
                    self.dropped += 1;
                }
            }
        }
    }

    fn drop_key(&mut self, key: &FragKey) {
        if let Some(p) = self.pending.remove(key) {
            self.bytes -= p.data.capacity().min(self.bytes);
            if self.spare.len() < 64 {
                self.spare.push(p.data);
                self.spare.push(p.header);
            }
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((ts, key)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.first_ts == ts) {
                self.drop_key(&key);
                self.dropped += 1;
                return;
            }
        }
    }

    /// Adds a fragment. `Err` carries a Zeek weird name; the fragment is then ignored.
    pub fn add(&mut self, ts: i64, ip: &IpPacket<'_>) -> Result<FragOutcome, &'static str> {
        let Some(info) = ip.frag else {
            return Ok(FragOutcome::Incomplete);
        };
        let len = ip.payload.len() as u32;
        if ip.payload_len != len {
            // A fragment cut by the snaplen cannot be reassembled.
            return Err("truncated_fragment");
        }
        let end = info.offset + len;
        if end > MAX_DATAGRAM {
            return Err("excessively_large_fragment");
        }
        if info.more && !len.is_multiple_of(8) {
            return Err("fragment_size_inconsistency");
        }
        // No protocol in the key: in IPv6 only the first fragment tells it.
        let key = FragKey {
            src: ip.src,
            dst: ip.dst,
            id: info.id,
        };
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= self.max_datagrams && !self.pending.is_empty() {
                self.evict_oldest();
            }
            let header = self.buffer();
            let data = self.buffer();
            self.pending.insert(
                key,
                Pending {
                    header,
                    data,
                    have: Vec::new(),
                    total: None,
                    first_ts: ts,
                    ttl: ip.ttl,
                },
            );
            self.order.push_back((ts, key));
        }
        let mut weird = None;
        let (complete, grew) = {
            let p = self.pending.get_mut(&key).expect("inserted above");
            if info.offset == 0 {
                p.header.clear();
                p.header.extend_from_slice(ip.header);
                p.ttl = ip.ttl;
            }
            if !info.more {
                match p.total {
                    Some(t) if t != end => weird = Some("fragment_inconsistency"),
                    _ => p.total = Some(end),
                }
            }
            let before = p.data.capacity();
            if p.data.len() < end as usize {
                p.data.resize(end as usize, 0);
            }
            // Overlaps keep the first copy (as Zeek does) and are reported.
            let (s, e) = (info.offset, end);
            let mut overlap_differs = false;
            let mut overlapped = false;
            for &(a, b) in &p.have {
                let (os, oe) = (a.max(s), b.min(e));
                if os < oe {
                    overlapped = true;
                    let old = &p.data[os as usize..oe as usize];
                    let new = &ip.payload[(os - s) as usize..(oe - s) as usize];
                    if old != new {
                        overlap_differs = true;
                    }
                }
            }
            // Copy only the parts not yet covered.
            let mut cur = s;
            let mut i = 0;
            while cur < e {
                while i < p.have.len() && p.have[i].1 <= cur {
                    i += 1;
                }
                let next_start = if i < p.have.len() {
                    p.have[i].0.max(cur)
                } else {
                    e
                };
                let stop = next_start.min(e);
                if cur < stop {
                    p.data[cur as usize..stop as usize]
                        .copy_from_slice(&ip.payload[(cur - s) as usize..(stop - s) as usize]);
                }
                cur = if i < p.have.len() {
                    p.have[i].1.max(stop)
                } else {
                    e
                };
            }
            insert_range(&mut p.have, s, e);
            if overlap_differs {
                weird = weird.or(Some("fragment_inconsistency"));
            } else if overlapped {
                weird = weird.or(Some("fragment_overlap"));
            }
            let complete = matches!(p.total, Some(t) if p.have.len() == 1 && p.have[0] == (0, t))
                && !p.header.is_empty();
            (complete, p.data.capacity().saturating_sub(before))
        };
        self.bytes += grew;
        if complete {
            let p = self.pending.remove(&key).expect("present");
            self.bytes -= p.data.capacity().min(self.bytes);
            let mut payload = p.data;
            payload.truncate(p.total.unwrap_or(0) as usize);
            let done = Reassembled {
                src: ip.src,
                dst: ip.dst,
                proto: first_proto(&p.header, ip),
                header: p.header,
                payload,
                ttl: p.ttl,
            };
            return match weird {
                Some(w) if w == "fragment_inconsistency" => {
                    self.recycle(done);
                    Err(w)
                }
                _ => Ok(FragOutcome::Complete(done)),
            };
        }
        while self.bytes > self.max_bytes && !self.pending.is_empty() {
            self.evict_oldest();
        }
        match weird {
            Some(w) => Err(w),
            None => Ok(FragOutcome::Incomplete),
        }
    }
}

/// Upper protocol of a datagram, from the first fragment's header.
fn first_proto(header: &[u8], ip: &IpPacket<'_>) -> u8 {
    if ip.is_v6() {
        // The unfragmentable part ends with the fragment header: its first byte is
        // the next header of the fragmentable part.
        if header.len() >= 48 {
            header[header.len() - 8]
        } else {
            ip.proto
        }
    } else {
        header.get(9).copied().unwrap_or(ip.proto)
    }
}

fn insert_range(have: &mut Vec<(u32, u32)>, s: u32, e: u32) {
    if s >= e {
        return;
    }
    let mut ns = s;
    let mut ne = e;
    let mut out_at = have.len();
    let mut i = 0;
    while i < have.len() {
        let (a, b) = have[i];
        if b < ns {
            i += 1;
            continue;
        }
        if a > ne {
            out_at = i;
            break;
        }
        ns = ns.min(a);
        ne = ne.max(b);
        have.remove(i);
        out_at = i;
    }
    out_at = out_at.min(have.len());
    have.insert(out_at, (ns, ne));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ip::FragInfo;

    fn frag<'a>(hdr: &'a [u8], payload: &'a [u8], offset: u32, more: bool) -> IpPacket<'a> {
        IpPacket {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 17,
            ip_len: (20 + payload.len()) as u32,
            header: hdr,
            payload,
            payload_len: payload.len() as u32,
            frag: Some(FragInfo {
                id: 9,
                offset,
                more,
            }),
            ttl: 64,
        }
    }

    fn v4hdr() -> Vec<u8> {
        let mut h = vec![0x45u8; 20];
        h[9] = 17;
        h
    }

    #[test]
    fn reassembles_out_of_order() {
        let h = v4hdr();
        let mut pool = FragPool::new(1 << 20, 16, 30_000_000);
        let a = [1u8; 8];
        let b = [2u8; 8];
        let c = [3u8; 4];
        assert!(matches!(
            pool.add(0, &frag(&h, &c, 16, false)),
            Ok(FragOutcome::Incomplete)
        ));
        assert!(matches!(
            pool.add(1, &frag(&h, &a, 0, true)),
            Ok(FragOutcome::Incomplete)
        ));
        match pool.add(2, &frag(&h, &b, 8, true)) {
            Ok(FragOutcome::Complete(r)) => {
                assert_eq!(r.payload.len(), 20);
                assert_eq!(&r.payload[..8], &a);
                assert_eq!(&r.payload[16..], &c);
                assert_eq!(r.packet().ip_len, 40);
                assert_eq!(r.proto, 17);
            }
            _ => panic!("not complete"),
        }
        assert_eq!(pool.in_flight(), 0);
    }

    #[test]
    fn overlap_with_different_bytes_is_inconsistent() {
        let h = v4hdr();
        let mut pool = FragPool::new(1 << 20, 16, 30_000_000);
        assert!(pool.add(0, &frag(&h, &[1u8; 16], 0, true)).is_ok());
        assert_eq!(
            pool.add(1, &frag(&h, &[9u8; 8], 8, true)).err(),
            Some("fragment_inconsistency")
        );
        assert_eq!(
            pool.add(1, &frag(&h, &[1u8; 8], 8, true)).err(),
            Some("fragment_overlap")
        );
    }

    #[test]
    fn bounded_by_datagram_count_and_timeout() {
        let h = v4hdr();
        let mut pool = FragPool::new(1 << 20, 2, 1_000);
        for id in 0..5u32 {
            let mut p = frag(&h, &[0u8; 8], 0, true);
            p.frag = Some(FragInfo {
                id,
                offset: 0,
                more: true,
            });
            let _ = pool.add(id as i64, &p);
        }
        assert_eq!(pool.in_flight(), 2);
        assert_eq!(pool.dropped, 3);
        pool.expire(10_000);
        assert_eq!(pool.in_flight(), 0);
    }

    #[test]
    fn oversized_fragment_rejected() {
        let h = v4hdr();
        let mut pool = FragPool::new(1 << 20, 16, 30_000_000);
        assert_eq!(
            pool.add(0, &frag(&h, &[0u8; 16], 65_528, false)).err(),
            Some("excessively_large_fragment")
        );
    }

    #[test]
    fn ranges_merge() {
        let mut v = vec![];
        insert_range(&mut v, 10, 20);
        insert_range(&mut v, 0, 5);
        insert_range(&mut v, 30, 40);
        insert_range(&mut v, 5, 30);
        assert_eq!(v, vec![(0, 40)]);
    }
}
