//! Packet sources: pcap/pcapng files read in sequence, or a live interface (libpcap).
//! pcapng files whose interfaces libpcap cannot mix are read by [`pcapng`], and classic
//! pcap files (once libpcap has vetted their header) by [`pcap_file`], which is faster.

pub mod pcap_file;
pub mod pcapng;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use pcap::{Active, Capture, Offline};

/// A packet handed to the engine: timestamp (µs), link type, bytes, wire length.
pub trait PacketHandler {
    fn packet(&mut self, ts_us: i64, dlt: i32, data: &[u8], wire_len: u32);
}

/// Why a source stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    Exhausted,
    Stopped,
    /// The file ended inside a packet; what came before was analysed.
    Truncated(String),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LiveStats {
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

fn ts_us(h: &pcap::PacketHeader) -> i64 {
    // time_t and suseconds_t are i64 on 64-bit Linux but not everywhere.
    #[allow(clippy::unnecessary_cast)]
    let us = h.ts.tv_sec as i64 * 1_000_000 + h.ts.tv_usec as i64;
    us
}

/// An open capture file.
pub enum CaptureFile {
    Libpcap(Capture<Offline>),
    /// A classic pcap file read through a large buffer.
    Pcap(Box<pcap_file::PcapFile>),
    /// A pcapng file with interfaces of different link types or snapshot lengths.
    PcapNg(Box<pcapng::NgFile>),
}

/// Opens a capture file, checking that its link type is one we decode.
pub fn open_file(path: &Path, filter: Option<&str>) -> Result<CaptureFile, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("cannot read {}: is a directory", path.display()));
    }
    if pcapng::needs_native_reader(path).unwrap_or(false) {
        return Ok(CaptureFile::PcapNg(Box::new(pcapng::NgFile::open(
            path, filter,
        )?)));
    }
    let mut cap = Capture::from_file(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), clean(&e.to_string())))?;
    let dlt = cap.get_datalink().0;
    if !crate::decode::linktype::supported(dlt) {
        return Err(format!(
            "{}: unsupported link type {} ({})",
            path.display(),
            dlt,
            cap.get_datalink()
                .get_name()
                .unwrap_or_else(|_| "unknown".into())
        ));
    }
    if let Some(f) = filter {
        cap.filter(f, true)
            .map_err(|e| format!("bad filter '{f}': {}", clean(&e.to_string())))?;
    } else if let Some(file) = pcap_file::PcapFile::open(path, dlt)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
    {
        return Ok(CaptureFile::Pcap(Box::new(file)));
    }
    Ok(CaptureFile::Libpcap(cap))
}

fn clean(s: &str) -> String {
    s.trim().trim_end_matches('.').to_string()
}

/// Reads every packet of an open file; stops early when `stop` is set.
pub fn read_file(
    file: &mut CaptureFile,
    handler: &mut dyn PacketHandler,
    stop: &AtomicBool,
) -> EndReason {
    let cap = match file {
        CaptureFile::Libpcap(cap) => cap,
        CaptureFile::PcapNg(ng) => return ng.read(handler, stop),
        CaptureFile::Pcap(file) => return file.read(handler, stop),
    };
    let dlt = cap.get_datalink().0;
    loop {
        if stop.load(Ordering::Relaxed) {
            return EndReason::Stopped;
        }
        match cap.next_packet() {
            Ok(p) => handler.packet(ts_us(p.header), dlt, p.data, p.header.len),
            Err(pcap::Error::NoMorePackets) => return EndReason::Exhausted,
            Err(e) => return EndReason::Truncated(clean(&e.to_string())),
        }
    }
}

/// Opens a live capture on `iface`.
pub fn open_live(
    iface: &str,
    filter: Option<&str>,
    snaplen: i32,
) -> Result<Capture<Active>, String> {
    let cap = Capture::from_device(iface)
        .map_err(|e| format!("cannot capture on {iface}: {}", clean(&e.to_string())))?
        .promisc(true)
        .snaplen(snaplen)
        .timeout(100)
        .immediate_mode(true)
        .buffer_size(16 << 20);
    let mut cap = cap
        .open()
        .map_err(|e| format!("cannot capture on {iface}: {}", clean(&e.to_string())))?;
    let dlt = cap.get_datalink().0;
    if !crate::decode::linktype::supported(dlt) {
        return Err(format!("{iface}: unsupported link type {dlt}"));
    }
    if let Some(f) = filter {
        cap.filter(f, true)
            .map_err(|e| format!("bad filter '{f}': {}", clean(&e.to_string())))?;
    }
    Ok(cap)
}

/// Captures until `stop` is set (signal) or the interface goes away.
pub fn read_live(
    cap: &mut Capture<Active>,
    handler: &mut dyn PacketHandler,
    stop: &AtomicBool,
) -> Result<LiveStats, String> {
    let dlt = cap.get_datalink().0;
    // libpcap's read timeout may never fire on an idle interface, so a watcher
    // breaks the blocked read once a signal has set `stop`.
    let breaker = cap.breakloop_handle();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    breaker.breakloop();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let r = loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            match cap.next_packet() {
                Ok(p) => handler.packet(ts_us(p.header), dlt, p.data, p.header.len),
                Err(pcap::Error::TimeoutExpired) => continue,
                Err(_) if stop.load(Ordering::Relaxed) => break Ok(()),
                Err(pcap::Error::NoMorePackets) => break Ok(()),
                Err(e) => break Err(format!("capture failed: {}", clean(&e.to_string()))),
            }
        };
        done.store(true, Ordering::Relaxed);
        r
    });
    result?;
    let s = cap.stats().unwrap_or(pcap::Stat {
        received: 0,
        dropped: 0,
        if_dropped: 0,
    });
    Ok(LiveStats {
        received: s.received,
        dropped: s.dropped,
        if_dropped: s.if_dropped,
    })
}
