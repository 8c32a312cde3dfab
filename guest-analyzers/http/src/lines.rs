//! Splitting one direction's byte stream into lines, as Zeek's `ContentLine_Analyzer` does for
//! HTTP: CR, LF and CRLF each end a line (a CRLF split across two deliveries still counts once),
//! or, inside multipart bodies, only CRLF does. A line that fits in one delivery is handed out
//! as a slice of that delivery; only a line that spans deliveries is copied into the buffer.
//! The buffer is bounded: past `max_line` bytes the partial line is handed out as such.

/// Where the line just found is.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// No complete line in the bytes consumed; they are buffered.
    Nothing,
    /// A complete line at this range of the input just fed.
    InInput(usize, usize),
    /// A complete line in the buffer ([`LineReader::take`] hands it out).
    Buffered,
    /// The buffer reached its limit: the bytes in it are part of a longer line.
    Partial,
}

/// Line splitter state for one direction.
#[derive(Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    max_line: usize,
    /// The last byte seen was a CR that ended a line: a LF right after it belongs to that line.
    after_cr: bool,
    /// Only CRLF ends a line (multipart part bodies).
    crlf_only: bool,
}

impl LineReader {
    pub fn new(max_line: usize) -> Self {
        LineReader {
            buf: Vec::new(),
            max_line,
            after_cr: false,
            crlf_only: false,
        }
    }

    /// Switches between "CR, LF or CRLF" and "CRLF only" line ends.
    pub fn set_crlf_only(&mut self, on: bool) {
        self.crlf_only = on;
    }

    /// Whether bytes of an unfinished line are buffered.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Whether the last line ended with a lone CR (a LF may still follow).
    pub fn after_cr(&self) -> bool {
        self.after_cr
    }

    /// Forgets a pending CR (plain delivery of body bytes starts: Zeek clears `last_char`).
    pub fn clear_cr(&mut self) {
        self.after_cr = false;
    }

    /// Consumes a LF that completes a CRLF whose CR ended the previous line. Zeek checks this
    /// before anything else in each delivery step, even when the next bytes are body bytes.
    pub fn swallow_lf(&mut self, data: &[u8]) -> usize {
        // In CRLF-only mode a buffered CR is part of the line, and the LF ends that line.
        let cr_ended_line = !self.crlf_only || self.buf.is_empty();
        if self.after_cr && cr_ended_line && data.first() == Some(&b'\n') {
            self.after_cr = false;
            1
        } else {
            0
        }
    }

    /// Feeds bytes; returns how many were consumed and what was found. Call again with the rest.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Found) {
        for (i, &c) in data.iter().enumerate() {
            let was_cr = self.after_cr;
            self.after_cr = false;
            match c {
                b'\r' if data.get(i + 1) == Some(&b'\n') => {
                    return (i + 2, self.emit(data, i));
                }
                b'\r' if !self.crlf_only => {
                    self.after_cr = true;
                    return (i + 1, self.emit(data, i));
                }
                b'\n' if was_cr && self.crlf_only && self.buf.last() == Some(&b'\r') => {
                    // CRLF-only mode kept the CR in the line; the LF completes it.
                    self.buf.pop();
                    return (i + 1, Found::Buffered);
                }
                b'\n' if was_cr && !self.crlf_only && i == 0 && self.buf.is_empty() => {
                    // The LF of a CRLF whose CR already ended the line.
                    continue;
                }
                b'\n' if !self.crlf_only => return (i + 1, self.emit(data, i)),
                _ => {}
            }
            if c == b'\r' {
                // A CR that does not end the line (CRLF-only mode): keep it, a LF may follow in
                // the next delivery.
                self.after_cr = true;
            }
            if self.buf.len() + (i + 1) >= self.max_line {
                self.buf.extend_from_slice(&data[..=i]);
                return (i + 1, Found::Partial);
            }
        }
        self.buf.extend_from_slice(data);
        (data.len(), Found::Nothing)
    }

    /// Finishes the line that ends at `data[end]` (exclusive).
    fn emit(&mut self, data: &[u8], end: usize) -> Found {
        if self.buf.is_empty() {
            Found::InInput(0, end)
        } else {
            self.buf.extend_from_slice(&data[..end]);
            Found::Buffered
        }
    }

    /// Hands out the buffered line (after `Buffered` or `Partial`); give it back with
    /// [`LineReader::restore`] so the allocation is reused.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn restore(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if self.buf.is_empty() {
            self.buf = buf;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All lines found in `chunks`, fed one after the other.
    fn lines(chunks: &[&[u8]], crlf_only: bool) -> Vec<Vec<u8>> {
        let mut r = LineReader::new(1 << 16);
        r.set_crlf_only(crlf_only);
        let mut out = Vec::new();
        for chunk in chunks {
            let mut data = *chunk;
            while !data.is_empty() {
                let skip = r.swallow_lf(data);
                data = &data[skip..];
                let (n, found) = r.feed(data);
                match found {
                    Found::InInput(a, b) => out.push(data[a..b].to_vec()),
                    Found::Buffered => {
                        let l = r.take();
                        out.push(l.clone());
                        r.restore(l);
                    }
                    Found::Partial | Found::Nothing => {}
                }
                data = &data[n..];
            }
        }
        out
    }

    #[test]
    fn line_ends() {
        let want: Vec<Vec<u8>> = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"".to_vec()];
        assert_eq!(lines(&[b"a\r\nb\nc\r\r\n"], false), want);
        // A CRLF split across deliveries is one line end.
        assert_eq!(lines(&[b"a\r", b"\nb\n", b"c\r", b"\r\n"], false), want);
        assert_eq!(lines(&[b"ab", b"c\n"], false), vec![b"abc".to_vec()]);
    }

    #[test]
    fn crlf_only() {
        assert_eq!(
            lines(&[b"a\rb\nc\r\nd\r", b"\n"], true),
            vec![b"a\rb\nc".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn bounded() {
        let mut r = LineReader::new(4);
        assert_eq!(r.feed(b"abcdef\n"), (4, Found::Partial));
        assert_eq!(r.take(), b"abcd");
        assert_eq!(r.feed(b"ef\n"), (3, Found::InInput(0, 2)));
    }
}
