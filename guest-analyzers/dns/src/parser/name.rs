//! Domain names: labels and compression pointers, decoded as Zeek's `ExtractName` does.
//!
//! Zeek's semantics, which decide the exact text of every name in dns.log:
//! - labels are copied raw and joined with `.`; the trailing dot is dropped (the root is "");
//! - a compression pointer must point strictly before itself (else the weird
//!   `DNS_label_forward_compress_offset` and the name ends there), and the pointed-to name may
//!   only extend up to the pointer. Offsets therefore strictly decrease and a loop is
//!   impossible; the number of jumps is still capped so a chain of pointers costs little;
//! - Zeek resolves a pointer by a nested `ExtractName`, which lower-cases its part, strips its
//!   own trailing dot and checks its own length; [`extract_name`] replays those nested steps;
//! - the whole name is at most 512 bytes, labels at most 63 (NetBIOS, port 137, allows more).
//!
//! The decoding is iterative (no recursion), with a bounded buffer.

use super::{Cursor, Weirds};

/// Zeek's name buffer (`u_char name[513]`, one byte kept for a terminator).
const NAME_ROOM: usize = 512;
/// First allocation for a name: most names are shorter.
const NAME_CAPACITY: usize = 128;
/// Nesting levels kept on the stack (names rarely follow more than a couple of pointers).
const INLINE_LEVELS: usize = 16;
/// Jumps followed within one name; real names need a handful, a longer chain is an attack.
pub const MAX_JUMPS: usize = 128;
/// Jumps followed within one message (see [`Weirds::jump_budget`]): a full-size message of
/// tiny records each naming a long chain would otherwise cost a hundred times a normal one.
pub const MAX_JUMPS_PER_MESSAGE: usize = 16 * 1024;

/// Reads the name at the cursor and moves the cursor past it (past the first pointer, if the
/// name is compressed). `downcase` lower-cases the name's own labels (the parts reached through
/// pointers are always lower-cased, as in Zeek); `netbios` allows labels longer than 63 bytes.
pub fn extract_name(
    cur: &mut Cursor<'_>,
    downcase: bool,
    netbios: bool,
    weirds: &mut Weirds,
) -> Vec<u8> {
    // Most names fit the first allocation; the vector becomes the name's String as it is.
    let mut out: Vec<u8> = Vec::with_capacity(NAME_CAPACITY);
    extract_name_into(cur, downcase, netbios, weirds, &mut out);
    out
}

/// [`extract_name`] into `out` (cleared first): the same walk, cursor move and weirds, for a
/// name that is only parsed for its weirds (a record nothing uses) into a buffer that is
/// reused instead of a new allocation per name.
pub fn extract_name_into(
    cur: &mut Cursor<'_>,
    downcase: bool,
    netbios: bool,
    weirds: &mut Weirds,
    out: &mut Vec<u8>,
) {
    let msg = cur.msg;
    out.clear();
    let mut room = NAME_ROOM;
    // Start offsets in `out` of each nested ExtractName (the outermost starts at 0): the first
    // few inline, deeper ones (rare) spilled.
    let mut levels = [0u16; INLINE_LEVELS];
    let mut spilled: Vec<u16> = Vec::new();
    let mut depth = 0usize;
    let mut pos = cur.pos;
    // Labels may be read up to here: the message end, then each pointer's own position.
    let mut end = msg.len();
    // Where the outer cursor resumes once a pointer has been followed.
    let mut resume: Option<usize> = None;

    loop {
        // Zeek's ExtractLabel: a length byte, and nothing more if it was the last byte.
        if pos >= end {
            break;
        }
        let at = pos;
        let Some(&label_len) = msg.get(at) else { break };
        pos += 1;
        if pos >= end || label_len == 0 {
            break;
        }
        if label_len & 0xc0 == 0xc0 {
            let low = msg.get(pos).copied().unwrap_or(0);
            pos += 1;
            let offset = (usize::from(label_len & 0x3f) << 8) | usize::from(low);
            if offset >= at {
                weirds.add("DNS_label_forward_compress_offset");
                break;
            }
            resume.get_or_insert(pos);
            if depth >= MAX_JUMPS || weirds.jump_budget == 0 {
                break;
            }
            weirds.jump_budget -= 1;
            // The name is at most NAME_ROOM (512) bytes long.
            let start = out.len() as u16;
            match levels.get_mut(depth) {
                Some(l) => *l = start,
                None => spilled.push(start),
            }
            depth += 1;
            end = at;
            pos = offset;
            continue;
        }
        let len = usize::from(label_len);
        if len > end - pos {
            weirds.add("DNS_label_len_gt_pkt");
            pos = end;
            break;
        }
        if len > 63 && !netbios {
            weirds.add("DNS_label_too_long");
            break;
        }
        if len >= room {
            weirds.add("DNS_label_len_gt_name_len");
            break;
        }
        let label = msg.get(pos..pos + len).unwrap_or_default();
        // Zeek lower-cases a name in a pass over it once it is complete; doing it as the
        // label is copied gives the same bytes. A byte loop: a copy of unknown length is a
        // `memory.copy`, which leaves the guest for the host's memmove, dearer than the copy
        // itself for a label of a few bytes.
        if downcase || depth > 0 {
            out.extend(label.iter().map(u8::to_ascii_lowercase));
        } else {
            out.extend(label.iter().copied());
        }
        out.push(b'.');
        room -= len + 1;
        pos += len;
    }

    // Unwind the nested ExtractName calls, innermost first (depth 0 is the outermost): each
    // checks its own length and drops its own trailing dot.
    for d in (0..=depth).rev() {
        let start = if d == 0 {
            0
        } else {
            let l = levels
                .get(d - 1)
                .or_else(|| spilled.get(d - 1 - INLINE_LEVELS));
            l.copied().map_or(0, usize::from)
        };
        let n = out.len().saturating_sub(start);
        if n >= 255 {
            weirds.add("DNS_NAME_too_long");
        }
        if n >= 2 && out.last() == Some(&b'.') {
            out.pop();
        }
    }
    cur.seek(resume.unwrap_or(pos));
}

/// Bytes as text for logs and events: valid UTF-8 is kept, anything else is replaced.
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// [`text`], borrowed when the bytes are valid UTF-8.
pub fn text_cow(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// [`text`] of owned bytes, without a copy when they are valid UTF-8.
pub fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_at(msg: &[u8], pos: usize, downcase: bool) -> (String, usize, Vec<&'static str>) {
        let mut cur = Cursor { msg, pos };
        let mut w = Weirds::default();
        let n = extract_name(&mut cur, downcase, false, &mut w);
        (text(&n), cur.pos, w.list.iter().map(|w| w.name).collect())
    }

    #[test]
    fn plain_and_root() {
        let msg = b"\x03www\x07Example\x03com\x00\x00\x01";
        assert_eq!(
            name_at(msg, 0, false),
            ("www.Example.com".into(), 17, vec![])
        );
        assert_eq!(name_at(msg, 0, true).0, "www.example.com");
        assert_eq!(name_at(msg, 16, true), ("".into(), 17, vec![]));
    }

    #[test]
    fn pointer_resumes_after_itself_and_lowercases_target() {
        // "Example.COM" at 0, then "www" + pointer to 0 at 13.
        let msg = b"\x07Example\x03COM\x00\x03WWW\xc0\x00\xff";
        let (n, next, w) = name_at(msg, 13, false);
        assert_eq!(n, "WWW.example.com");
        assert_eq!(next, 19);
        assert!(w.is_empty());
    }

    #[test]
    fn self_and_forward_pointers_stop_the_name() {
        let (n, next, w) = name_at(b"\x01a\xc0\x02", 0, true);
        assert_eq!((n.as_str(), next), ("a", 4));
        assert_eq!(w, vec!["DNS_label_forward_compress_offset"]);
        let (_, _, w) = name_at(b"\xc0\x05\x00\x00\x00\x00\x00", 0, true);
        assert_eq!(w, vec!["DNS_label_forward_compress_offset"]);
    }

    #[test]
    fn pointer_chain_is_bounded() {
        // Each pointer points at the previous one: a long backward chain ending at a label.
        let mut msg = b"\x01x\x00".to_vec();
        let mut prev = 0usize;
        for _ in 0..2000 {
            let here = msg.len();
            msg.push(0xc0 | (prev >> 8) as u8);
            msg.push(prev as u8);
            prev = here;
        }
        let (n, next, _) = name_at(&msg, prev, true);
        assert_eq!(next, prev + 2);
        assert_eq!(n, "", "the chain is cut before reaching the label");
        let (n, _, _) = name_at(&msg, 3 + 2 * 10, true);
        assert_eq!(n, "x", "a short chain resolves");
    }

    #[test]
    fn label_errors() {
        let (n, next, w) = name_at(b"\x01a\x09abc", 0, true);
        assert_eq!((n.as_str(), next), ("a", 6));
        assert_eq!(w, vec!["DNS_label_len_gt_pkt"]);
        let mut long = vec![64u8];
        long.extend([b'a'; 70]);
        let (_, _, w) = name_at(&long, 0, true);
        assert_eq!(w, vec!["DNS_label_too_long"]);
        // Nine 63-byte labels do not fit in 512 bytes.
        let mut big = Vec::new();
        for _ in 0..9 {
            big.push(63u8);
            big.extend([b'b'; 63]);
        }
        big.push(0);
        let (n, _, w) = name_at(&big, 0, true);
        assert_eq!(n.len(), 8 * 64 - 1);
        assert_eq!(w, vec!["DNS_label_len_gt_name_len", "DNS_NAME_too_long"]);
    }

    #[test]
    fn length_byte_at_the_end() {
        // The terminator is the last byte: consumed, name ends.
        assert_eq!(name_at(b"\x01a\x00", 0, true), ("a".into(), 3, vec![]));
        // A length byte that is the last byte: consumed, nothing else.
        assert_eq!(name_at(b"\x01a\x05", 0, true), ("a".into(), 3, vec![]));
    }
}
