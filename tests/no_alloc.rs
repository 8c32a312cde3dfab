//! The per-packet fast path must not allocate once a connection is established.
//!
//! A counting global allocator wraps the system allocator; counting is switched on
//! for the test thread only (the test harness allocates on its own threads). An
//! [`Engine`] first sees a real TCP trace (warm-up: the connection is created, its
//! history, gap tracker and timers grow to their working size, logs are opened);
//! then the same connection's mid-stream packets are fed again with later
//! timestamps, and the allocation count must not move.
//!
//! Two replays are checked:
//! - `continued`: the packets with their sequence and acknowledgement numbers moved
//!   forward by the bytes already sent each round (TCP checksum recomputed), so the
//!   stream looks like it simply goes on: in-order data, advancing acks, the steady
//!   state of a long transfer;
//! - `verbatim`: the very same bytes again (to the TCP state machine these are
//!   retransmissions of acknowledged data).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use std::sync::atomic::{AtomicU64, Ordering};

use sandpiper::engine::{Engine, EngineConfig};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNT_HERE.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNT_HERE.with(|c| c.set(true));
    f();
    COUNT_HERE.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed) - before
}

struct Pkt {
    ts: i64,
    data: Vec<u8>,
    wire_len: u32,
}

mod common;
use common::trace;

fn load(rel: &str) -> (i32, Vec<Pkt>) {
    let path = trace(rel);
    let mut cap = pcap::Capture::from_file(&path).unwrap_or_else(|e| {
        panic!(
            "open {} (shared/ must sit beside the repository): {e}",
            path.display()
        )
    });
    let dlt = cap.get_datalink().0;
    let mut out = Vec::new();
    while let Ok(p) = cap.next_packet() {
        // time_t and suseconds_t are i64 on 64-bit Linux but not everywhere.
        #[allow(clippy::unnecessary_cast)]
        let ts = p.header.ts.tv_sec as i64 * 1_000_000 + p.header.ts.tv_usec as i64;
        out.push(Pkt {
            ts,
            data: p.data.to_vec(),
            wire_len: p.header.len,
        });
    }
    (dlt, out)
}

/// Offsets of the IPv4 header and the TCP header of an Ethernet/IPv4/TCP frame.
fn tcp_offsets(f: &[u8]) -> Option<(usize, usize)> {
    if f.len() < 14 + 20 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 || f[14 + 9] != 6 {
        return None;
    }
    let ihl = (f[14] & 0x0f) as usize * 4;
    Some((14, 14 + ihl))
}

fn tcp_flags(f: &[u8]) -> u8 {
    let (_, t) = tcp_offsets(f).expect("TCP frame");
    f[t + 13]
}

fn tcp_payload_len(f: &[u8]) -> usize {
    let (ip, t) = tcp_offsets(f).expect("TCP frame");
    let total = u16::from_be_bytes([f[ip + 2], f[ip + 3]]) as usize;
    let off = (f[t + 12] >> 4) as usize * 4;
    total - (t - ip) - off
}

fn sum16(mut s: u32, b: &[u8]) -> u32 {
    let (words, rest) = b.as_chunks::<2>();
    for w in words {
        s += u16::from_be_bytes(*w) as u32;
    }
    if let [x] = rest {
        s += (*x as u32) << 8;
    }
    s
}

/// Moves sequence and acknowledgement numbers forward and recomputes the TCP checksum.
fn shift_seq(f: &mut [u8], seq_by: u32, ack_by: u32) {
    let (ip, t) = tcp_offsets(f).expect("TCP frame");
    let total = u16::from_be_bytes([f[ip + 2], f[ip + 3]]) as usize;
    let end = ip + total;
    let seq = u32::from_be_bytes(f[t + 4..t + 8].try_into().unwrap()).wrapping_add(seq_by);
    let ack = u32::from_be_bytes(f[t + 8..t + 12].try_into().unwrap()).wrapping_add(ack_by);
    f[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
    f[t + 8..t + 12].copy_from_slice(&ack.to_be_bytes());
    f[t + 16] = 0;
    f[t + 17] = 0;
    let mut s = sum16(0, &f[ip + 12..ip + 20]);
    s += 6 + (end - t) as u32;
    s = sum16(s, &f[t..end]);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    f[t + 16..t + 18].copy_from_slice(&(!(s as u16)).to_be_bytes());
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

/// Warm-up (trace up to its first FIN/RST) and the mid-stream packets to replay:
/// everything after the handshake and the request, before the close.
fn setup() -> (i32, Vec<Pkt>, Vec<Pkt>) {
    // One HTTP download over one TCP connection: handshake, request, ~250 data
    // segments of 1448 bytes, acks, FINs.
    let (dlt, pkts) = load("http/iso-download.pcap");
    assert_eq!(dlt, 1, "Ethernet trace expected");
    let close = pkts
        .iter()
        .position(|p| tcp_flags(&p.data) & (FIN | RST) != 0)
        .expect("the connection closes");
    let warm: Vec<Pkt> = pkts
        .iter()
        .take(close)
        .map(|p| Pkt {
            ts: p.ts,
            data: p.data.clone(),
            wire_len: p.wire_len,
        })
        .collect();
    // Mid-stream: after the first 10 packets, no SYN/FIN/RST.
    let mid: Vec<Pkt> = pkts[10..close]
        .iter()
        .filter(|p| tcp_flags(&p.data) & (SYN | FIN | RST) == 0)
        .map(|p| Pkt {
            ts: p.ts,
            data: p.data.clone(),
            wire_len: p.wire_len,
        })
        .collect();
    assert!(
        mid.len() > 100,
        "expected a long transfer, got {} packets",
        mid.len()
    );
    (dlt, warm, mid)
}

fn engine(dir: &std::path::Path) -> Engine {
    Engine::new(EngineConfig {
        log_dir: dir.to_path_buf(),
        seed: Some(1),
        ..EngineConfig::default()
    })
}

/// Feeds `mid` `rounds` times, each round after the previous one in time. With
/// `continued`, round r moves every sequence number forward by r times the bytes
/// that side sends in `mid` (rounds are numbered from `first_round`). With
/// `counted`, asserts that no round allocates. Returns the next free timestamp.
#[allow(clippy::too_many_arguments)]
fn replay(
    e: &mut Engine,
    dlt: i32,
    mid: &[Pkt],
    first_round: u32,
    rounds: u32,
    continued: bool,
    counted: bool,
    t0: i64,
) -> i64 {
    let sport_of = |f: &[u8]| {
        let (_, t) = tcp_offsets(f).unwrap();
        u16::from_be_bytes([f[t], f[t + 1]])
    };
    let a_port = sport_of(&mid[0].data);
    let (mut sent_a, mut sent_b) = (0u32, 0u32);
    for p in mid {
        let n = tcp_payload_len(&p.data) as u32;
        if sport_of(&p.data) == a_port {
            sent_a += n;
        } else {
            sent_b += n;
        }
    }
    let mut frames: Vec<Vec<u8>> = mid.iter().map(|p| p.data.clone()).collect();
    let first = mid[0].ts;
    let mut ts = t0;
    for round in first_round..first_round + rounds {
        if continued {
            for (f, p) in frames.iter_mut().zip(mid) {
                f.copy_from_slice(&p.data);
                let (by_seq, by_ack) = if sport_of(&p.data) == a_port {
                    (sent_a.wrapping_mul(round), sent_b.wrapping_mul(round))
                } else {
                    (sent_b.wrapping_mul(round), sent_a.wrapping_mul(round))
                };
                shift_seq(f, by_seq, by_ack);
            }
        }
        let base = ts;
        let mut feed = || {
            for (f, p) in frames.iter().zip(mid) {
                ts = base + (p.ts - first);
                e.packet(ts, dlt, f, p.wire_len);
            }
        };
        if counted {
            let n = allocations_in(feed);
            assert_eq!(
                n,
                0,
                "{} replay, round {round}: {n} allocations for {} packets of an established connection",
                if continued { "continued" } else { "verbatim" },
                mid.len()
            );
        } else {
            feed();
        }
        ts += 1_000;
    }
    ts
}

#[test]
fn established_connection_does_not_allocate_per_packet() {
    let (dlt, warm, mid) = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut e = engine(dir.path());

    // Warm-up: the trace up to the close, then one continued round and one verbatim
    // round outside the counted region (buffers reach their working size).
    let warm_allocs = allocations_in(|| {
        for p in &warm {
            e.packet(p.ts, dlt, &p.data, p.wire_len);
        }
    });
    // The counter works: creating the connection allocates (its TCP state is boxed).
    assert!(warm_allocs > 0, "the counting allocator saw nothing");
    assert_eq!(e.live_connections(), 1);
    let t = warm.last().unwrap().ts + 1_000;
    let t = replay(&mut e, dlt, &mid, 1, 1, true, false, t);
    let t = replay(&mut e, dlt, &mid, 1, 1, false, false, t);
    let packets = e.stats.packets;

    // Steady state of a long transfer: in-order data, advancing acks.
    let t = replay(&mut e, dlt, &mid, 2, 5, true, true, t);
    assert_eq!(e.live_connections(), 1, "no new connection");
    // The same bytes again: retransmissions of acknowledged data.
    let _ = replay(&mut e, dlt, &mid, 0, 5, false, true, t);
    assert_eq!(e.live_connections(), 1, "no new connection");
    assert_eq!(e.stats.packets, packets + 10 * mid.len() as u64);

    let stats = e.finish().expect("logs written");
    assert_eq!(stats.connections, 1, "one connection in all");
}
