//! Shared by the benches: corpus location, packet loading, TCP frame editing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sandpiper::decode::linktype;

/// One captured frame, loaded into memory before measuring.
pub struct Frame {
    pub dlt: i32,
    pub ts: i64,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// `../shared/corpus/zeek/traces` beside the repository.
pub fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/zeek/traces")
}

/// All frames of one capture file (classic pcap or pcapng).
pub fn load(path: &Path) -> Result<Vec<Frame>, String> {
    let mut cap = pcap::Capture::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dlt = cap.get_datalink().0;
    let mut out = Vec::new();
    loop {
        match cap.next_packet() {
            // time_t and suseconds_t are i64 on 64-bit Linux but not everywhere.
            #[allow(clippy::unnecessary_cast)]
            Ok(p) => out.push(Frame {
                dlt,
                ts: p.header.ts.tv_sec as i64 * 1_000_000 + p.header.ts.tv_usec as i64,
                data: p.data.to_vec(),
                wire_len: p.header.len,
            }),
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                if out.is_empty() {
                    return Err(format!("{}: {e}", path.display()));
                }
                break; // truncated file: keep what was read
            }
        }
    }
    Ok(out)
}

/// One corpus trace by its path under the traces folder; panics with a hint if missing.
pub fn load_trace(rel: &str) -> Vec<Frame> {
    let p = traces_dir().join(rel);
    load(&p).unwrap_or_else(|e| panic!("{e} (the shared/ folder must sit beside the repository)"))
}

/// Every capture of the corpus whose link type the decoder supports, in path order.
pub fn load_corpus() -> Vec<(PathBuf, Vec<Frame>)> {
    let mut files = Vec::new();
    let mut stack = vec![traces_dir()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the shared/ folder must sit beside the repository)",
                d.display()
            )
        });
        for ent in rd.flatten() {
            let p = ent.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let frames = load(&p).ok()?;
            (!frames.is_empty() && linktype::supported(frames[0].dlt)).then_some((p, frames))
        })
        .collect()
}

/// The whole corpus as one time-ordered stream: each capture starts 1 s after the
/// previous one ended (timestamps rebased, packet order within a capture kept).
pub fn corpus_stream() -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::new();
    let mut next_start = 1_700_000_000_000_000i64;
    for (_, frames) in load_corpus() {
        let first = frames[0].ts;
        let mut last = next_start;
        for f in frames {
            let ts = next_start + (f.ts - first).max(0);
            last = last.max(ts);
            out.push(Frame { ts, ..f });
        }
        next_start = last + 1_000_000;
    }
    out
}

pub fn total_bytes(frames: &[Frame]) -> u64 {
    frames.iter().map(|f| f.data.len() as u64).sum()
}

/// Offsets of the IPv4 and TCP headers of an Ethernet/IPv4/TCP frame.
pub fn tcp_offsets(f: &[u8]) -> Option<(usize, usize)> {
    if f.len() < 14 + 20 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 || f[14 + 9] != 6 {
        return None;
    }
    Some((14, 14 + (f[14] & 0x0f) as usize * 4))
}

pub fn tcp_flags(f: &[u8]) -> u8 {
    tcp_offsets(f).map(|(_, t)| f[t + 13]).unwrap_or(0)
}

pub fn tcp_sport(f: &[u8]) -> u16 {
    let (_, t) = tcp_offsets(f).expect("TCP frame");
    u16::from_be_bytes([f[t], f[t + 1]])
}

pub fn tcp_payload_len(f: &[u8]) -> u32 {
    let (ip, t) = tcp_offsets(f).expect("TCP frame");
    let total = u16::from_be_bytes([f[ip + 2], f[ip + 3]]) as usize;
    (total - (t - ip) - (f[t + 12] >> 4) as usize * 4) as u32
}

/// Adds `seq_by`/`ack_by` to the sequence/acknowledgement numbers and updates the
/// TCP checksum incrementally (RFC 1624), so the frame stays valid.
pub fn advance_seq(f: &mut [u8], seq_by: u32, ack_by: u32) {
    let (_, t) = tcp_offsets(f).expect("TCP frame");
    let mut ck = !u16::from_be_bytes([f[t + 16], f[t + 17]]) as u32;
    for (at, by) in [(t + 4, seq_by), (t + 8, ack_by)] {
        let old = u32::from_be_bytes(f[at..at + 4].try_into().unwrap());
        let new = old.wrapping_add(by);
        f[at..at + 4].copy_from_slice(&new.to_be_bytes());
        ck += (!(old >> 16) & 0xffff) + (!old & 0xffff) + (new >> 16) + (new & 0xffff);
    }
    while ck > 0xffff {
        ck = (ck & 0xffff) + (ck >> 16);
    }
    f[t + 16..t + 18].copy_from_slice(&(!(ck as u16)).to_be_bytes());
}
