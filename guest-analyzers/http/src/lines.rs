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
        if data.is_empty() {
            return (0, Found::Nothing);
        }
        let was_cr = std::mem::take(&mut self.after_cr);
        let mut start = 0;
        if was_cr && data.first() == Some(&b'\n') {
            if self.crlf_only && self.buf.last() == Some(&b'\r') {
                // CRLF-only mode kept the CR in the line; the LF completes it.
                self.buf.pop();
                return (1, Found::Buffered);
            }
            if !self.crlf_only && self.buf.is_empty() {
                // The LF of a CRLF whose CR already ended the line.
                start = 1;
            }
        }
        // The first ordinary byte that fills the buffer to its limit.
        let limit = start.max(self.max_line.saturating_sub(self.buf.len() + 1));
        // Line ends past the limit do not matter: the search stops there.
        let end = data.len().min(limit.saturating_add(1));
        match self.terminator(data, start, end) {
            Some(k) if k <= limit => {
                if data[k] == b'\r' {
                    if data.get(k + 1) == Some(&b'\n') {
                        return (k + 2, self.emit(data, k));
                    }
                    self.after_cr = true;
                }
                (k + 1, self.emit(data, k))
            }
            _ if limit < data.len() => {
                // A CR kept in the line (CRLF-only mode) may still be followed by a LF.
                self.after_cr = data[limit] == b'\r';
                self.buf.extend_from_slice(&data[..=limit]);
                (limit + 1, Found::Partial)
            }
            _ => {
                self.after_cr = self.crlf_only && data.last() == Some(&b'\r');
                self.buf.extend_from_slice(data);
                (data.len(), Found::Nothing)
            }
        }
    }

    /// Where the first line end in `from..to` is: CR, LF or CRLF, or in CRLF-only mode the CR
    /// of a CRLF.
    fn terminator(&self, data: &[u8], from: usize, to: usize) -> Option<usize> {
        if !self.crlf_only {
            return find_eol(&data[..to], from);
        }
        let mut at = from;
        loop {
            let k = at + data.get(at..to)?.iter().position(|&c| c == b'\r')?;
            if data.get(k + 1) == Some(&b'\n') {
                return Some(k);
            }
            at = k + 1;
        }
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

/// The position of the first CR or LF at or after `from`, eight bytes at a time.
fn find_eol(data: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = from;
    while i + 8 <= data.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&data[i..i + 8]);
        let v = u64::from_le_bytes(word);
        if has_zero(v ^ (ONES * u64::from(b'\r'))) | has_zero(v ^ (ONES * u64::from(b'\n'))) != 0 {
            break;
        }
        i += 8;
    }
    data[i..]
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .map(|p| i + p)
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

    /// The byte-at-a-time splitter this one replaced, kept to check that both agree.
    fn old_feed(r: &mut LineReader, data: &[u8]) -> (usize, Found) {
        for (i, &c) in data.iter().enumerate() {
            let was_cr = r.after_cr;
            r.after_cr = false;
            match c {
                b'\r' if data.get(i + 1) == Some(&b'\n') => return (i + 2, r.emit(data, i)),
                b'\r' if !r.crlf_only => {
                    r.after_cr = true;
                    return (i + 1, r.emit(data, i));
                }
                b'\n' if was_cr && r.crlf_only && r.buf.last() == Some(&b'\r') => {
                    r.buf.pop();
                    return (i + 1, Found::Buffered);
                }
                b'\n' if was_cr && !r.crlf_only && i == 0 && r.buf.is_empty() => continue,
                b'\n' if !r.crlf_only => return (i + 1, r.emit(data, i)),
                _ => {}
            }
            if c == b'\r' {
                r.after_cr = true;
            }
            if r.buf.len() + (i + 1) >= r.max_line {
                r.buf.extend_from_slice(&data[..=i]);
                return (i + 1, Found::Partial);
            }
        }
        r.buf.extend_from_slice(data);
        (data.len(), Found::Nothing)
    }

    #[test]
    fn same_as_byte_at_a_time() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            let max_line = 1 + next(12) as usize;
            let (mut a, mut b) = (LineReader::new(max_line), LineReader::new(max_line));
            for _ in 0..8 {
                let crlf_only = next(3) == 0;
                a.set_crlf_only(crlf_only);
                b.set_crlf_only(crlf_only);
                if next(4) == 0 {
                    a.clear_cr();
                    b.clear_cr();
                }
                let len = next(20) as usize;
                let data: Vec<u8> = (0..len).map(|_| b"ab\r\n"[next(4) as usize]).collect();
                let mut rest = &data[..];
                while !rest.is_empty() {
                    // The analyzer always swallows first; feed must also cope without.
                    if next(2) == 0 {
                        let skip = a.swallow_lf(rest);
                        assert_eq!(skip, b.swallow_lf(rest));
                        rest = &rest[skip..];
                        if rest.is_empty() {
                            break;
                        }
                    }
                    let got = a.feed(rest);
                    let want = old_feed(&mut b, rest);
                    assert_eq!(got, want, "{data:?} {max_line} {crlf_only}");
                    assert_eq!((&a.buf, a.after_cr), (&b.buf, b.after_cr));
                    if matches!(got.1, Found::Buffered | Found::Partial) {
                        a.buf.clear();
                        b.buf.clear();
                    }
                    rest = &rest[got.0..];
                }
            }
        }
    }

    #[test]
    fn bounded() {
        let mut r = LineReader::new(4);
        assert_eq!(r.feed(b"abcdef\n"), (4, Found::Partial));
        assert_eq!(r.take(), b"abcd");
        assert_eq!(r.feed(b"ef\n"), (3, Found::InInput(0, 2)));
    }
}
