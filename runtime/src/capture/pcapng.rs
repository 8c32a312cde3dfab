//! pcapng files that libpcap will not read: libpcap (1.10) refuses a file whose interfaces
//! differ in link type or snapshot length ("an interface has a snapshot length ... different
//! from the snapshot length of the first interface"), which captures taken on "any" interface
//! by newer tools commonly are; Zeek reads them. Such files are read here with pcap-parser
//! (rusticata's nom parser), each packet with its own interface's link type and timestamp
//! resolution, and the BPF filter compiled by libpcap for each link type.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use pcap::{BpfProgram, Capture, Linktype};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};

use super::{clean, EndReason, PacketHandler};

/// The first four bytes of a pcapng file (a Section Header Block's type).
const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 1;
/// The parser's buffer: comfortably more than one block of a 256 KiB snapshot length.
const BUFFER: usize = 1 << 20;
/// The largest block accepted (the buffer grows up to it): pcapng blocks carry one packet.
const MAX_BLOCK: usize = 16 << 20;

/// Whether `path` is a pcapng file with interfaces of different link types or snapshot
/// lengths, which libpcap refuses. Walks the block headers only (8 bytes per block).
pub fn needs_native_reader(path: &Path) -> std::io::Result<bool> {
    let mut r = BufReader::with_capacity(64 << 10, File::open(path)?);
    let mut head = [0u8; 8];
    if read_full(&mut r, &mut head[..4])? < 4
        || u32::from_le_bytes(head[..4].try_into().unwrap()) != SHB_TYPE
    {
        return Ok(false);
    }
    r.rewind()?;
    let mut first: Option<(u16, u32)> = None;
    let mut little = true;
    loop {
        if read_full(&mut r, &mut head)? < 8 {
            return Ok(false);
        }
        if u32::from_le_bytes(head[..4].try_into().unwrap()) == SHB_TYPE {
            // The byte-order magic after the header says how this section is written.
            let mut magic = [0u8; 4];
            if read_full(&mut r, &mut magic)? < 4 {
                return Ok(false);
            }
            little = magic == [0x4d, 0x3c, 0x2b, 0x1a];
            let len = word(&head[4..], little) as i64;
            if len < 12 {
                return Ok(false);
            }
            r.seek_relative(len - 12)?;
            continue;
        }
        let (kind, len) = (word(&head, little), word(&head[4..], little) as i64);
        if len < 12 || len % 4 != 0 {
            return Ok(false);
        }
        if kind != IDB_TYPE {
            r.seek_relative(len - 8)?;
            continue;
        }
        let mut idb = [0u8; 8];
        if len < 16 || read_full(&mut r, &mut idb)? < 8 {
            return Ok(false);
        }
        let linktype = if little {
            u16::from_le_bytes([idb[0], idb[1]])
        } else {
            u16::from_be_bytes([idb[0], idb[1]])
        };
        let this = (linktype, word(&idb[4..], little));
        match first {
            None => first = Some(this),
            Some(f) if f != this => return Ok(true),
            Some(_) => {}
        }
        r.seek_relative(len - 16)?;
    }
}

fn word(b: &[u8], little: bool) -> u32 {
    let w = [b[0], b[1], b[2], b[3]];
    if little {
        u32::from_le_bytes(w)
    } else {
        u32::from_be_bytes(w)
    }
}

/// Reads as much of `buf` as the file still has.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One interface of the current section.
struct Interface {
    dlt: i32,
    /// Timestamp units per second, and the offset added to every timestamp (seconds).
    units: u64,
    offset: i64,
}

/// A pcapng file read with pcap-parser.
pub struct NgFile {
    reader: PcapNGReader<File>,
    capacity: usize,
    interfaces: Vec<Interface>,
    filter: Filter,
    /// The last packet's time, for Simple Packet Blocks (which carry none).
    last_ts: i64,
}

/// The BPF filter, compiled by libpcap for each link type it meets.
struct Filter {
    text: Option<String>,
    programs: HashMap<i32, Option<BpfProgram>>,
}

impl Filter {
    fn compile(text: &str, dlt: i32) -> Result<BpfProgram, String> {
        Capture::dead(Linktype(dlt))
            .and_then(|c| c.compile(text, true))
            .map_err(|e| clean(&e.to_string()))
    }

    /// Whether a packet of link type `dlt` passes (all do without a filter; none do on a link
    /// type the filter does not compile for, where libpcap would refuse the interface).
    fn passes(&mut self, dlt: i32, data: &[u8]) -> bool {
        let Some(text) = &self.text else {
            return true;
        };
        self.programs
            .entry(dlt)
            .or_insert_with(|| Self::compile(text, dlt).ok())
            .as_ref()
            .is_some_and(|p| p.filter(data))
    }
}

impl NgFile {
    pub fn open(path: &Path, filter: Option<&str>) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let reader = PcapNGReader::new(BUFFER, file)
            .map_err(|e| format!("cannot read {}: {e:?}", path.display()))?;
        // A bad filter fails at start-up, as with libpcap, not at the first packet.
        if let Some(f) = filter {
            Filter::compile(f, crate::decode::linktype::EN10MB)
                .map_err(|e| format!("bad filter '{f}': {e}"))?;
        }
        Ok(NgFile {
            reader,
            capacity: BUFFER,
            interfaces: Vec::new(),
            filter: Filter {
                text: filter.map(str::to_string),
                programs: HashMap::new(),
            },
            last_ts: 0,
        })
    }

    /// Reads every packet; stops early when `stop` is set.
    pub fn read(&mut self, handler: &mut dyn PacketHandler, stop: &AtomicBool) -> EndReason {
        loop {
            if stop.load(Ordering::Relaxed) {
                return EndReason::Stopped;
            }
            match self.reader.next() {
                Ok((offset, block)) => {
                    match block {
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => self.interfaces.clear(),
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            self.interfaces.push(Interface {
                                dlt: idb.linktype.0,
                                units: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                                offset: idb.ts_offset(),
                            })
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            // A packet of an interface never described is dropped.
                            if let Some(i) = self.interfaces.get(epb.if_id as usize) {
                                let (secs, frac) = epb.decode_ts(0, i.units);
                                let ts = (secs as i64 + i.offset) * 1_000_000
                                    + (frac as u128 * 1_000_000 / i.units as u128) as i64;
                                self.last_ts = ts;
                                let data = epb.packet_data();
                                if self.filter.passes(i.dlt, data) {
                                    handler.packet(ts, i.dlt, data, epb.origlen);
                                }
                            }
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            if let Some(i) = self.interfaces.first() {
                                let data = spb.packet_data();
                                if self.filter.passes(i.dlt, data) {
                                    handler.packet(self.last_ts, i.dlt, data, spb.origlen);
                                }
                            }
                        }
                        _ => {}
                    }
                    self.reader.consume(offset);
                }
                Err(PcapError::Eof) => return EndReason::Exhausted,
                Err(PcapError::Incomplete(_)) => {
                    if self.reader.refill().is_err() {
                        return EndReason::Truncated("read error".into());
                    }
                }
                Err(PcapError::BufferTooSmall) => {
                    let size = (self.capacity * 2).min(MAX_BLOCK);
                    if size <= self.capacity || !self.reader.grow(size) {
                        return EndReason::Truncated(format!(
                            "a pcapng block is larger than {} MiB",
                            MAX_BLOCK >> 20
                        ));
                    }
                    self.capacity = size;
                }
                Err(PcapError::UnexpectedEof) => {
                    return EndReason::Truncated("truncated dump file".into())
                }
                Err(e) => return EndReason::Truncated(format!("malformed pcapng block: {e:?}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian pcapng: SHB, the given IDBs (link type, snapshot length), and one
    /// Enhanced Packet Block per (interface, timestamp units, bytes).
    fn pcapng(idbs: &[(u16, u32, Option<u8>)], packets: &[(u32, u64, &[u8])]) -> Vec<u8> {
        let mut f = Vec::new();
        let block = |f: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let len = 12 + body.len().div_ceil(4) * 4;
            f.extend(kind.to_le_bytes());
            f.extend((len as u32).to_le_bytes());
            f.extend(body);
            f.resize(f.len() + (len - 12 - body.len()), 0);
            f.extend((len as u32).to_le_bytes());
        };
        let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        shb.extend(u64::MAX.to_le_bytes());
        block(&mut f, SHB_TYPE, &shb);
        for &(lt, snap, tsresol) in idbs {
            let mut idb = Vec::new();
            idb.extend(lt.to_le_bytes());
            idb.extend(0u16.to_le_bytes());
            idb.extend(snap.to_le_bytes());
            if let Some(r) = tsresol {
                idb.extend([9, 0, 1, 0, r, 0, 0, 0]); // if_tsresol, padded
                idb.extend([0, 0, 0, 0]); // opt_endofopt
            }
            block(&mut f, IDB_TYPE, &idb);
        }
        for &(ifid, ts, data) in packets {
            let mut epb = Vec::new();
            epb.extend(ifid.to_le_bytes());
            epb.extend(((ts >> 32) as u32).to_le_bytes());
            epb.extend((ts as u32).to_le_bytes());
            epb.extend((data.len() as u32).to_le_bytes());
            epb.extend((data.len() as u32).to_le_bytes());
            epb.extend(data);
            epb.resize(20 + data.len().div_ceil(4) * 4, 0);
            block(&mut f, 6, &epb);
        }
        f
    }

    struct Seen(Vec<(i64, i32, Vec<u8>, u32)>);

    impl PacketHandler for Seen {
        fn packet(&mut self, ts: i64, dlt: i32, data: &[u8], wire_len: u32) {
            self.0.push((ts, dlt, data.to_vec(), wire_len));
        }
    }

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn only_mixed_interfaces_need_the_native_reader() {
        let same = file(&pcapng(&[(1, 65535, None), (1, 65535, None)], &[]));
        assert!(!needs_native_reader(same.path()).unwrap());
        let snap = file(&pcapng(&[(1, 65535, None), (1, 8192, None)], &[]));
        assert!(needs_native_reader(snap.path()).unwrap());
        let link = file(&pcapng(&[(1, 65535, None), (113, 65535, None)], &[]));
        assert!(needs_native_reader(link.path()).unwrap());
        // A classic pcap header, and something that is no capture at all.
        let pcap = file(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0]);
        assert!(!needs_native_reader(pcap.path()).unwrap());
        assert!(!needs_native_reader(file(b"hello").path()).unwrap());
    }

    #[test]
    fn each_packet_keeps_its_interface_link_type_and_time_resolution() {
        // Interface 1 counts nanoseconds (if_tsresol 9), interface 0 microseconds.
        let bytes = pcapng(
            &[(1, 65535, None), (113, 8192, Some(9))],
            &[
                (0, 1_700_000_000_123_456, b"eth"),
                (1, 1_700_000_001_987_654_321, b"sll!"),
                (7, 1, b"no such interface"),
            ],
        );
        let f = file(&bytes);
        let mut ng = NgFile::open(f.path(), None).unwrap();
        let mut seen = Seen(Vec::new());
        let end = ng.read(&mut seen, &AtomicBool::new(false));
        assert_eq!(end, EndReason::Exhausted);
        assert_eq!(
            seen.0,
            vec![
                (1_700_000_000_123_456, 1, b"eth".to_vec(), 3),
                (1_700_000_001_987_654, 113, b"sll!".to_vec(), 4),
            ]
        );
    }

    #[test]
    fn a_cut_file_ends_as_truncated_after_its_whole_packets() {
        let bytes = pcapng(
            &[(1, 65535, None), (1, 8192, None)],
            &[(0, 5, b"first"), (1, 6, b"second")],
        );
        let f = file(&bytes[..bytes.len() - 5]);
        let mut ng = NgFile::open(f.path(), None).unwrap();
        let mut seen = Seen(Vec::new());
        let end = ng.read(&mut seen, &AtomicBool::new(false));
        assert!(matches!(end, EndReason::Truncated(_)), "{end:?}");
        assert_eq!(seen.0.len(), 1);
    }

    #[test]
    fn a_bad_filter_fails_at_open() {
        let f = file(&pcapng(&[(1, 65535, None), (1, 8192, None)], &[]));
        let e = NgFile::open(f.path(), Some("port port")).err().unwrap();
        assert!(e.starts_with("bad filter 'port port'"), "{e}");
    }
}
