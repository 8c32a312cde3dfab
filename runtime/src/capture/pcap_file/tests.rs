//! The reader against libpcap itself: every classic pcap of the corpus, and variants of
//! one (byte-swapped, nanosecond, cut short, oversized records) built from it, must give
//! the same packets, timestamps and end as libpcap's `pcap_next_ex`.

use std::path::{Path, PathBuf};

use super::*;
use crate::capture::{read_file, CaptureFile};

#[derive(Default)]
struct Collect(Vec<(i64, i32, Vec<u8>, u32)>);

impl PacketHandler for Collect {
    fn packet(&mut self, ts_us: i64, dlt: i32, data: &[u8], wire_len: u32) {
        self.0.push((ts_us, dlt, data.to_vec(), wire_len));
    }
}

fn traces() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/zeek/traces"
    ))
}

/// What libpcap makes of `path`, and what this reader makes of it (`None`: not taken).
fn both(
    path: &Path,
) -> Option<(
    (Vec<(i64, i32, Vec<u8>, u32)>, EndReason),
    (Vec<(i64, i32, Vec<u8>, u32)>, EndReason),
)> {
    let stop = AtomicBool::new(false);
    let cap = pcap::Capture::from_file(path).ok()?;
    let dlt = cap.get_datalink().0;
    let mut ours = PcapFile::open(path, dlt).expect("opens")?;
    let mut theirs = Collect::default();
    let end = match read_file(&mut CaptureFile::Libpcap(cap), &mut theirs, &stop) {
        // pcap's error text is libpcap's message behind a prefix of its own.
        EndReason::Truncated(m) => EndReason::Truncated(m.replace("libpcap error: ", "")),
        e => e,
    };
    let mut got = Collect::default();
    let our_end = ours.read(&mut got, &stop);
    Some(((theirs.0, end), (got.0, our_end)))
}

fn pcaps_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("corpus traces") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            pcaps_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn reads_every_corpus_pcap_as_libpcap_does() {
    let mut files = Vec::new();
    pcaps_under(&traces(), &mut files);
    files.sort();
    let mut compared = 0;
    for f in &files {
        let Some(((want, want_end), (got, got_end))) = both(f) else {
            continue;
        };
        assert_eq!(got.len(), want.len(), "{}: packet count", f.display());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{}: packet {i}", f.display());
        }
        assert_eq!(got_end, want_end, "{}", f.display());
        compared += 1;
    }
    assert!(compared > 150, "only {compared} corpus files compared");
}

/// A corpus trace with a few packets (Ethernet, microsecond, little-endian).
fn sample() -> Vec<u8> {
    std::fs::read(traces().join("http/get.pcap")).expect("http/get.pcap")
}

/// The (header offset, caplen) of every record of a little-endian file.
fn records(file: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = FILE_HEADER;
    while at + RECORD_HEADER <= file.len() {
        let caplen = u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, caplen));
        at += RECORD_HEADER + caplen;
    }
    out
}

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sandpiper-pcap-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn assert_same(name: &str, bytes: &[u8]) -> EndReason {
    let p = write_tmp(name, bytes);
    let ((want, want_end), (got, got_end)) = both(&p).expect("taken by the reader");
    assert_eq!(got, want, "{name}");
    assert_eq!(got_end, want_end, "{name}");
    got_end
}

#[test]
fn byte_swapped_and_nanosecond_files() {
    let le = sample();
    // Big-endian: every 32-bit header word and the two version halves swapped.
    let mut be = le.clone();
    for at in [0, 8, 12, 16, 20] {
        be[at..at + 4].reverse();
    }
    be[4..6].reverse();
    be[6..8].reverse();
    for (at, _) in records(&le) {
        for w in 0..4 {
            be[at + 4 * w..at + 4 * w + 4].reverse();
        }
    }
    assert_eq!(assert_same("swapped.pcap", &be), EndReason::Exhausted);
    // Nanoseconds: the magic number changes and the fractions are scaled up (plus a few
    // nanoseconds that libpcap's scaling drops).
    let mut ns = le.clone();
    ns[..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    for (at, _) in records(&le) {
        let us = u32::from_le_bytes(ns[at + 4..at + 8].try_into().unwrap());
        ns[at + 4..at + 8].copy_from_slice(&(us * 1000 + 999).to_le_bytes());
    }
    assert_eq!(assert_same("nanos.pcap", &ns), EndReason::Exhausted);
}

#[test]
fn files_cut_short_anywhere() {
    let full = sample();
    let recs = records(&full);
    let (third, caplen) = recs[2];
    // In the file header is libpcap's to refuse; from the first record on, every cut.
    let cuts = [
        FILE_HEADER,
        FILE_HEADER + 1,
        FILE_HEADER + RECORD_HEADER - 1,
        FILE_HEADER + RECORD_HEADER,
        third,
        third + 7,
        third + RECORD_HEADER,
        third + RECORD_HEADER + caplen / 2,
        third + RECORD_HEADER + caplen - 1,
        full.len() - 1,
    ];
    for cut in cuts {
        let end = assert_same(&format!("cut-{cut}.pcap"), &full[..cut]);
        // A cut between two records is a shorter file, not a truncated one.
        let boundary = cut == FILE_HEADER || recs.iter().any(|&(at, _)| at == cut);
        assert_eq!(
            matches!(end, EndReason::Truncated(_)),
            !boundary,
            "cut at {cut}: {end:?}"
        );
    }
}

#[test]
fn oversized_records_as_libpcap() {
    let full = sample();
    let recs = records(&full);
    // A snapshot length smaller than the packets: each is cut to it.
    let mut small = full.clone();
    small[16..20].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(assert_same("snap100.pcap", &small), EndReason::Exhausted);
    // The same file cut inside a packet's bytes beyond the snapshot length, and inside its
    // first 100 bytes.
    let (at, caplen) = *recs.iter().find(|(_, c)| *c > 200).expect("a long packet");
    assert!(matches!(
        assert_same(
            "snap100-cut-late.pcap",
            &small[..at + RECORD_HEADER + caplen - 10]
        ),
        EndReason::Truncated(_)
    ));
    assert!(matches!(
        assert_same("snap100-cut-early.pcap", &small[..at + RECORD_HEADER + 50]),
        EndReason::Truncated(_)
    ));
    // A capture length beyond any sane maximum, with and without a larger snapshot length.
    let mut insane = full.clone();
    insane[at + 8..at + 12].copy_from_slice(&300_000u32.to_le_bytes());
    assert!(matches!(
        assert_same("insane.pcap", &insane),
        EndReason::Truncated(_)
    ));
    insane[16..20].copy_from_slice(&200u32.to_le_bytes());
    assert!(matches!(
        assert_same("insane-snap.pcap", &insane),
        EndReason::Truncated(_)
    ));
}

#[test]
fn leaves_other_formats_to_libpcap() {
    let mut old = sample();
    old[6..8].copy_from_slice(&3u16.to_le_bytes()); // version 2.3
    let p = write_tmp("v23.pcap", &old);
    assert!(PcapFile::open(&p, 1).unwrap().is_none());
    let mut other = sample();
    other[..4].copy_from_slice(&0xa1b2_cd34u32.to_le_bytes()); // Kuznetzov's
    let p = write_tmp("kuznetzov.pcap", &other);
    assert!(PcapFile::open(&p, 1).unwrap().is_none());
}
