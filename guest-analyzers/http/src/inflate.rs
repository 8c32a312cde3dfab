//! Streaming decompression of `Content-Encoding: gzip` / `deflate` bodies, as Zeek's ZIP
//! analyzer: gzip or zlib framing is recognised from the first bytes (zlib's "auto-detect" mode),
//! a bare deflate stream is the fallback, and after the end of the stream or an error the rest
//! is ignored (an error is the weird `inflate_failed`).

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// Longest gzip header we wait for (FEXTRA, FNAME and FCOMMENT can make it long).
const MAX_GZIP_HEADER: usize = 64 * 1024;

/// Most output one call to [`Inflater::feed`] produces (at most one delivery of input). A
/// decompression bomb would otherwise cost unbounded fuel in one host call; past this the
/// stream is abandoned as if it failed. Zeek has no such limit.
pub const MAX_OUTPUT_PER_FEED: usize = 8 << 20;

enum Stage {
    /// Collecting the first bytes to recognise the framing (and skip a gzip header).
    Start(Vec<u8>),
    Inflating(Box<InflateState>),
    /// Stream ended or failed: further input is ignored.
    Finished,
}

pub struct Inflater {
    stage: Stage,
    /// The decompressor of a finished stream, kept to be reset for the next one (it is large:
    /// allocating and initialising one per body costs more than inflating a small body).
    spare: Option<Box<InflateState>>,
    /// Room for decompressed output, made once: a `[0u8; 4096]` per call zeroed 4 KiB each
    /// time (2,782 `memory.fill` libcalls on the bench trace's dns+http run; the other 13,900
    /// there are `reset` zeroing the 32 KiB dictionary, which keeps a hostile stream's
    /// back-references from reading an earlier body).
    out_buf: Vec<u8>,
}

/// Decompressed output is handed on in pieces of at most this many bytes.
const OUT_CHUNK: usize = 4096;

/// What happened to the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    pub fn new() -> Self {
        Inflater {
            stage: Stage::Start(Vec::new()),
            spare: None,
            out_buf: Vec::new(),
        }
    }

    /// Gets ready for a new stream, keeping the allocations.
    pub fn restart(&mut self) {
        match &mut self.stage {
            Stage::Start(head) => head.clear(),
            _ => self.end_stream(),
        }
        if !matches!(self.stage, Stage::Start(_)) {
            self.stage = Stage::Start(Vec::new());
        }
    }

    /// The stream ended or failed: further input is ignored.
    fn end_stream(&mut self) {
        if let Stage::Inflating(state) = std::mem::replace(&mut self.stage, Stage::Finished) {
            self.spare = Some(state);
        }
    }

    /// A decompressor for a new stream.
    fn state(&mut self, format: DataFormat) -> Box<InflateState> {
        match self.spare.take() {
            Some(mut state) => {
                state.reset(format);
                state
            }
            None => InflateState::new_boxed(format),
        }
    }

    /// Decompresses `input`, handing each piece of output to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Outcome {
        let mut input = input;
        if let Stage::Start(head) = &mut self.stage {
            if head.is_empty() {
                // The usual case: the framing is recognised from this input alone.
                if let Some((format, skip)) = recognise(input) {
                    let state = self.state(format);
                    self.stage = Stage::Inflating(state);
                    return self.inflate_all(&input[skip..], out);
                }
            }
            head.extend_from_slice(input);
            let Some((format, skip)) = recognise(head) else {
                if head.len() > MAX_GZIP_HEADER {
                    self.stage = Stage::Finished;
                    return Outcome::Failed;
                }
                return Outcome::Ok;
            };
            let head = std::mem::take(head);
            let state = self.state(format);
            self.stage = Stage::Inflating(state);
            return self.inflate_all(&head[skip..], out);
        }
        if input.is_empty() {
            input = &[];
        }
        self.inflate_all(input, out)
    }

    fn inflate_all(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Outcome {
        let mut buf = std::mem::take(&mut self.out_buf);
        if buf.len() < OUT_CHUNK {
            buf = vec![0u8; OUT_CHUNK];
        }
        let outcome = self.inflate_into(&mut buf, input, out);
        self.out_buf = buf;
        outcome
    }

    fn inflate_into(
        &mut self,
        buf: &mut [u8],
        mut input: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) -> Outcome {
        let Stage::Inflating(state) = &mut self.stage else {
            return Outcome::Ok;
        };
        let mut produced = 0usize;
        loop {
            let r = inflate(state, input, buf, MZFlush::Sync);
            input = &input[r.bytes_consumed.min(input.len())..];
            if r.bytes_written > 0 {
                out(&buf[..r.bytes_written.min(buf.len())]);
                produced += r.bytes_written;
                if produced > MAX_OUTPUT_PER_FEED {
                    self.end_stream();
                    return Outcome::Failed;
                }
            }
            match r.status {
                Ok(MZStatus::StreamEnd) => {
                    self.end_stream();
                    return Outcome::Ok;
                }
                Ok(_) => {
                    if input.is_empty() && r.bytes_written < buf.len() {
                        return Outcome::Ok;
                    }
                }
                // No progress possible without more input.
                Err(MZError::Buf) => return Outcome::Ok,
                Err(_) => {
                    self.end_stream();
                    return Outcome::Failed;
                }
            }
        }
    }

    /// The body ended: a stream still waiting for its first bytes produces nothing.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[u8])) {
        if let Stage::Start(head) = &mut self.stage {
            // Too short to recognise: try it as a bare deflate stream.
            let head = std::mem::take(head);
            if !head.is_empty() {
                let state = self.state(DataFormat::Raw);
                self.stage = Stage::Inflating(state);
                let _ = self.inflate_all(&head, out);
            }
        }
        self.end_stream();
    }
}

/// The framing of a compressed body from its first bytes, and how many header bytes to skip;
/// `None` while more bytes are needed.
fn recognise(head: &[u8]) -> Option<(DataFormat, usize)> {
    match head {
        [0x1f] => None,
        [0x1f, 0x8b, ..] => gzip_header_len(head).map(|n| (DataFormat::Raw, n)),
        [_] => None,
        [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 => {
            Some((DataFormat::Zlib, 0))
        }
        _ => Some((DataFormat::Raw, 0)),
    }
}

/// The length of a complete gzip header (RFC 1952), `None` if incomplete.
fn gzip_header_len(h: &[u8]) -> Option<usize> {
    let flags = *h.get(3)?;
    let mut at = 10;
    if h.len() < at {
        return None;
    }
    if flags & 0x04 != 0 {
        let xlen = usize::from(*h.get(at)?) | usize::from(*h.get(at + 1)?) << 8;
        at += 2 + xlen;
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            at += h.get(at..)?.iter().position(|&c| c == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    (h.len() >= at).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Outcome>) {
        let mut z = Inflater::new();
        let mut out = Vec::new();
        let mut outcomes = Vec::new();
        for c in chunks {
            outcomes.push(z.feed(c, &mut |b| out.extend_from_slice(b)));
        }
        z.finish(&mut |b| out.extend_from_slice(b));
        (out, outcomes)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
        v.extend_from_slice(b"name.txt\0");
        v.extend_from_slice(&compress_to_vec(data, 6));
        v.extend_from_slice(&[0; 8]);
        v
    }

    #[test]
    fn formats_and_splits() {
        let text = b"hello hello hello hello, compressed world\n".repeat(50);
        for enc in [
            gzip(&text),
            compress_to_vec_zlib(&text, 6),
            compress_to_vec(&text, 6),
        ] {
            for size in [1, 3, 7, 1460] {
                let chunks: Vec<&[u8]> = enc.chunks(size).collect();
                let (out, outcomes) = run(&chunks);
                assert_eq!(out, text, "chunk size {size}");
                assert!(outcomes.iter().all(|o| *o == Outcome::Ok));
            }
        }
    }

    #[test]
    fn restarted_inflater_is_as_new() {
        let a = b"first body, first body, first body\n".repeat(40);
        let b = b"second, different body\n".repeat(30);
        let mut z = Inflater::new();
        for (data, enc) in [
            (&a, gzip(&a)),
            (&b, compress_to_vec_zlib(&b, 6)),
            (&a, compress_to_vec(&a, 6)),
            (&b, gzip(&b)),
        ] {
            z.restart();
            let mut out = Vec::new();
            for c in enc.chunks(100) {
                assert_eq!(z.feed(c, &mut |o| out.extend_from_slice(o)), Outcome::Ok);
            }
            z.finish(&mut |o| out.extend_from_slice(o));
            assert_eq!(&out, data);
        }
    }

    #[test]
    fn garbage_fails_without_panicking() {
        let (_, outcomes) = run(&[b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff\xff"]);
        assert!(outcomes.contains(&Outcome::Failed));
        let (out, _) = run(&[b"\x1f"]);
        assert!(out.is_empty());
    }
}
