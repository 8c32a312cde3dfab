//! DNS over TCP: each message is preceded by its length (2 bytes, big-endian), and the stream
//! arrives in chunks of any size. A chunk may hold several messages or part of one; a message
//! whole within one chunk is handed over in place, one split across chunks is buffered. The
//! length field bounds a message to 65,535 bytes, so the buffer never exceeds 64 KiB.

/// Framing state of one direction.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes of the pending length prefix seen so far (0, 1: high byte in `len_hi`).
    prefix_seen: u8,
    len_hi: u8,
    /// Length of the message being collected, once its prefix is complete.
    want: Option<usize>,
    /// The part of the message collected so far (only when it spans chunks).
    buf: Vec<u8>,
    /// A gap was seen: the stream cannot be re-synchronised, so it is ignored from then on.
    dead: bool,
}

/// Largest message a length prefix allows.
pub const MAX_MESSAGE: usize = u16::MAX as usize;

impl Framer {
    /// Feeds the next chunk of the stream; `emit` gets each complete message in order.
    pub fn push(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8])) {
        if self.dead {
            return;
        }
        while !data.is_empty() {
            let Some(want) = self.want else {
                let (&b, rest) = data.split_first().unwrap_or((&0, &[]));
                data = rest;
                if self.prefix_seen == 0 {
                    self.len_hi = b;
                    self.prefix_seen = 1;
                } else {
                    self.prefix_seen = 0;
                    let want = usize::from(u16::from_be_bytes([self.len_hi, b]));
                    if want == 0 {
                        // An empty message (Zeek hands it on: too short for a header).
                        emit(&[]);
                    } else {
                        self.want = Some(want);
                    }
                }
                continue;
            };
            let missing = want - self.buf.len();
            if self.buf.is_empty() && data.len() >= want {
                // The whole message is in this chunk: no copy.
                let (msg, rest) = data.split_at(want);
                emit(msg);
                data = rest;
                self.want = None;
            } else {
                let take = missing.min(data.len());
                let (part, rest) = data.split_at(take);
                self.buf.extend_from_slice(part);
                data = rest;
                if self.buf.len() == want {
                    emit(&self.buf);
                    self.buf.clear();
                    self.want = None;
                }
            }
        }
    }

    /// The stream ended: a partial message is handed over as it is (Zeek's `Flush`).
    pub fn flush(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
        }
        self.buf = Vec::new();
        self.want = None;
        self.prefix_seen = 0;
    }

    /// Bytes were lost: drop the partial message and stop parsing this direction.
    pub fn gap(&mut self) {
        self.buf = Vec::new();
        self.want = None;
        self.dead = true;
    }

    /// Bytes buffered (at most [`MAX_MESSAGE`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut f = Framer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut |m| out.push(m.to_vec()));
        }
        out
    }

    #[test]
    fn several_messages_in_one_chunk() {
        let out = frames(&[b"\x00\x02ab\x00\x03cde\x00\x01f"]);
        assert_eq!(out, vec![b"ab".to_vec(), b"cde".to_vec(), b"f".to_vec()]);
    }

    #[test]
    fn split_everywhere() {
        let stream = b"\x00\x05hello\x00\x02hi";
        for cut in 0..=stream.len() {
            for cut2 in cut..=stream.len() {
                let out = frames(&[&stream[..cut], &stream[cut..cut2], &stream[cut2..]]);
                assert_eq!(
                    out,
                    vec![b"hello".to_vec(), b"hi".to_vec()],
                    "cuts {cut} {cut2}"
                );
            }
        }
        // Byte by byte.
        let chunks: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames(&chunks).len(), 2);
    }

    #[test]
    fn empty_message_and_flush_and_gap() {
        assert_eq!(frames(&[b"\x00\x00"]), vec![Vec::<u8>::new()]);
        let mut f = Framer::default();
        let mut out = Vec::new();
        f.push(b"\x00\x09part", &mut |m| out.push(m.to_vec()));
        assert_eq!(f.buffered(), 4);
        f.flush(&mut |m| out.push(m.to_vec()));
        assert_eq!(out, vec![b"part".to_vec()]);
        f.push(b"\x00\x04ab", &mut |m| out.push(m.to_vec()));
        f.gap();
        f.push(b"cd\x00\x01x", &mut |m| out.push(m.to_vec()));
        assert_eq!(out.len(), 1, "nothing after a gap");
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn largest_message_is_bounded() {
        let mut f = Framer::default();
        let mut n = 0;
        f.push(&[0xff, 0xff], &mut |_| n += 1);
        let chunk = vec![0u8; 1000];
        for _ in 0..65 {
            f.push(&chunk, &mut |_| n += 1);
            assert!(f.buffered() <= MAX_MESSAGE);
        }
        assert_eq!(n, 0);
        f.push(&chunk[..535], &mut |m| {
            assert_eq!(m.len(), MAX_MESSAGE);
            n += 1
        });
        assert_eq!(n, 1);
    }
}
