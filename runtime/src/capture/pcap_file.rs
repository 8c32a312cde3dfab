//! Classic pcap files read through one large buffer.
//!
//! libpcap reads a savefile with two `fread`s per packet through stdio's 4 KiB buffer: a
//! `read` system call every few packets and a copy of every packet from stdio's buffer
//! into libpcap's. On the benchmark trace that was a quarter of the fast path's time,
//! while `cat` reads the same file in a fifth of tcpdump's. Here the file is read in
//! 1 MiB blocks and packets are handed out as slices of the block, copied by nobody.
//!
//! libpcap still opens the file first ([`super::open_file`]): it validates the header and
//! says what the link type is (it maps LINKTYPE_ values to DLT_ ones), and files this
//! reader does not take (other magic numbers or versions, byte-swapped NFLOG, a BPF filter,
//! not a regular file) stay with libpcap. For the files it takes, the packets, timestamps
//! and errors are libpcap's (`pcap_next_packet` in libpcap's sf-pcap.c): microsecond
//! timestamps (nanosecond files scaled down), packets longer than the snapshot length cut
//! to it, and the same messages for a file cut short or an insane capture length.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{EndReason, PacketHandler};

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;
/// libpcap's MAXIMUM_SNAPLEN, its `max_snaplen_for_dlt` for every link type we decode.
const MAX_SNAPLEN: u32 = 262_144;
/// The read block; a record (at most 16 + 262,144 bytes) always fits.
const BUFFER: usize = 1 << 20;

/// An open classic pcap file, positioned after its header.
pub struct PcapFile {
    file: File,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    swapped: bool,
    nanos: bool,
    /// The file's snapshot length as libpcap adjusts it (0 or too large: the maximum).
    snapshot: u32,
    dlt: i32,
}

impl PcapFile {
    /// Opens `path` for reading with this reader if it is a file this reader takes (see the
    /// module's documentation); `dlt` is the link type libpcap found in it. `Ok(None)`: leave
    /// the file to libpcap.
    pub fn open(path: &Path, dlt: i32) -> std::io::Result<Option<Self>> {
        let mut file = File::open(path)?;
        if !file.metadata()?.is_file() {
            return Ok(None);
        }
        let mut head = [0u8; FILE_HEADER];
        if let Err(e) = file.read_exact(&mut head) {
            return match e.kind() {
                ErrorKind::UnexpectedEof => Ok(None),
                _ => Err(e),
            };
        }
        let Some(header) = FileHeader::parse(&head) else {
            return Ok(None);
        };
        if header.swapped && dlt == crate::decode::linktype::NFLOG {
            // libpcap rewrites the byte order of NFLOG's pseudo-header in swapped files.
            return Ok(None);
        }
        Ok(Some(PcapFile {
            file,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            eof: false,
            swapped: header.swapped,
            nanos: header.nanos,
            snapshot: if header.snaplen == 0 || header.snaplen > MAX_SNAPLEN {
                MAX_SNAPLEN
            } else {
                header.snaplen
            },
            dlt,
        }))
    }

    /// Reads every packet; stops early when `stop` is set.
    pub fn read(&mut self, handler: &mut dyn PacketHandler, stop: &AtomicBool) -> EndReason {
        loop {
            if stop.load(Ordering::Relaxed) {
                return EndReason::Stopped;
            }
            match self.next_record() {
                Ok(Some(r)) => {
                    let data = &self.buf[r.data_at..r.data_at + r.delivered];
                    handler.packet(r.ts_us, self.dlt, data, r.wire_len);
                }
                Ok(None) => return EndReason::Exhausted,
                Err(e) => return EndReason::Truncated(e),
            }
        }
    }

    /// Makes at least `want` unread bytes available if the file has them; returns how many
    /// are available.
    #[inline]
    fn fill(&mut self, want: usize) -> Result<usize, String> {
        if self.end - self.start >= want || self.eof {
            return Ok(self.end - self.start);
        }
        self.refill(want)
    }

    /// `fill` when the buffer holds too little: once per megabyte, so kept out of line.
    #[cold]
    fn refill(&mut self, want: usize) -> Result<usize, String> {
        if self.start + want > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < want {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("error reading dump file: {e}")),
            }
        }
        Ok(self.end - self.start)
    }

    fn word(&self, at: usize) -> u32 {
        let w = u32::from_le_bytes(self.buf[at..at + 4].try_into().expect("4 bytes"));
        if self.swapped {
            w.swap_bytes()
        } else {
            w
        }
    }

    /// The next record, consumed; `None` at the end of the file.
    fn next_record(&mut self) -> Result<Option<Record>, String> {
        let avail = self.fill(RECORD_HEADER)?;
        if avail == 0 {
            return Ok(None);
        }
        if avail < RECORD_HEADER {
            return Err(format!(
                "truncated dump file; tried to read {RECORD_HEADER} header bytes, only got {avail}"
            ));
        }
        let h = self.start;
        // The header's fields are 32-bit signed time values in libpcap's struct.
        let secs = self.word(h) as i32;
        let frac = self.word(h + 4) as i32;
        let caplen = self.word(h + 8);
        let wire_len = self.word(h + 12);
        if caplen > MAX_SNAPLEN {
            return Err(if caplen > self.snapshot {
                format!(
                    "invalid packet capture length {caplen}, bigger than snaplen of {}",
                    self.snapshot
                )
            } else {
                format!(
                    "invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}"
                )
            });
        }
        let avail = self.fill(RECORD_HEADER + caplen as usize)? - RECORD_HEADER;
        let delivered = caplen.min(self.snapshot);
        if avail < caplen as usize {
            // libpcap reads the snapshot's bytes first, then discards the rest.
            let tried = if avail < delivered as usize {
                delivered
            } else {
                caplen
            };
            return Err(format!(
                "truncated dump file; tried to read {tried} captured bytes, only got {}",
                avail.min(tried as usize)
            ));
        }
        let micros = if self.nanos { frac / 1000 } else { frac };
        let record = Record {
            ts_us: i64::from(secs) * 1_000_000 + i64::from(micros),
            data_at: self.start + RECORD_HEADER,
            delivered: delivered as usize,
            wire_len,
        };
        self.start += RECORD_HEADER + caplen as usize;
        Ok(Some(record))
    }
}

struct Record {
    ts_us: i64,
    data_at: usize,
    delivered: usize,
    wire_len: u32,
}

/// The parts of a pcap file header this reader needs.
struct FileHeader {
    swapped: bool,
    nanos: bool,
    snaplen: u32,
}

impl FileHeader {
    /// `None` unless the magic number is the standard one (micro- or nanosecond, either
    /// byte order) and the version is 2.4, where libpcap applies no length fix-ups.
    fn parse(head: &[u8; FILE_HEADER]) -> Option<Self> {
        let magic = u32::from_le_bytes(head[..4].try_into().ok()?);
        let (swapped, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m == MAGIC_MICROS.swap_bytes() => (true, false),
            m if m == MAGIC_NANOS.swap_bytes() => (true, true),
            _ => return None,
        };
        let half = |at: usize| {
            let v = u16::from_le_bytes([head[at], head[at + 1]]);
            if swapped {
                v.swap_bytes()
            } else {
                v
            }
        };
        if (half(4), half(6)) != (2, 4) {
            return None;
        }
        let snaplen = u32::from_le_bytes(head[16..20].try_into().ok()?);
        Some(FileHeader {
            swapped,
            nanos,
            snaplen: if swapped {
                snaplen.swap_bytes()
            } else {
                snaplen
            },
        })
    }
}

#[cfg(test)]
mod tests;
