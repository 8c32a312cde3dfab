//! MIME header syntax as Zeek's `MIME.cc` reads it: header names and values, tokens (RFC 2045),
//! comments, and the `Content-Type` field with its multipart boundary. Pure functions over
//! borrowed bytes.

use crate::parser::is_lws;

/// RFC 2822 comments: `(...)` with nesting and `\` escapes; returns the length skipped.
fn skip_comments(data: &[u8]) -> usize {
    if data.first() != Some(&b'(') {
        return 0;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    data.len()
}

/// Skips linear whitespace and comments (not tspecials).
fn skip_lws_comments(data: &[u8]) -> usize {
    let mut i = 0;
    while i < data.len() {
        if is_lws(data[i]) {
            i += 1;
        } else if data[i] == b'(' {
            i += skip_comments(&data[i..]);
        } else {
            return i;
        }
    }
    data.len()
}

fn is_field_name_char(c: u8) -> bool {
    (33..=126).contains(&c) && c != b':'
}

#[cfg(test)]
fn is_tspecial(c: u8, boundary: bool) -> bool {
    if boundary {
        c == b'"'
    } else {
        b"()<>@,;:\\\"/[]?=".contains(&c)
    }
}

/// [`is_token_char`] for each byte: bit 0 without, bit 1 with the boundary exception.
const TOKEN_CHARS: [u8; 256] = {
    let mut t = [0u8; 256];
    let specials = b"()<>@,;:\\\"/[]?=";
    let mut c = 33;
    while c <= 126 {
        let mut special = false;
        let mut k = 0;
        while k < specials.len() {
            special |= specials[k] == c as u8;
            k += 1;
        }
        if !special {
            t[c] |= 1;
        }
        if c as u8 != b'"' {
            t[c] |= 2;
        }
        c += 1;
    }
    t
};

fn is_token_char(c: u8, boundary: bool) -> bool {
    TOKEN_CHARS[usize::from(c)] & if boundary { 2 } else { 1 } != 0
}

/// The first run of characters satisfying `ok`, skipping whitespace, comments and anything else
/// before it (Zeek's `MIME_get_field_name` / `MIME_get_token`). Returns the run and the offset
/// just after it.
fn first_run(data: &[u8], skip_leading: bool, ok: impl Fn(u8) -> bool) -> Option<(&[u8], usize)> {
    let mut i = if skip_leading {
        skip_lws_comments(data)
    } else {
        0
    };
    while i < data.len() {
        if ok(data[i]) {
            let end = data[i..]
                .iter()
                .position(|&c| !ok(c))
                .map_or(data.len(), |p| i + p);
            return Some((&data[i..end], end));
        }
        let j = skip_lws_comments(&data[i..]);
        i += j.max(1);
    }
    None
}

/// A token (RFC 2045), e.g. the `chunked` of `Transfer-Encoding: chunked`.
pub fn token(data: &[u8]) -> Option<(&[u8], usize)> {
    first_run(data, true, |c| is_token_char(c, false))
}

/// A header line (with its continuation lines already appended) split into name and value, as
/// `MIME_Header`: the value starts after the colon and leading whitespace and keeps trailing
/// whitespace. `None` for a line without a name and a colon, which Zeek drops.
pub fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, end) = first_run(line, true, is_field_name_char)?;
    let rest = &line[end..];
    let colon = skip_lws_comments(rest);
    if rest.get(colon) != Some(&b':') {
        return None;
    }
    let mut value = &rest[colon + 1..];
    while let [first, tail @ ..] = value {
        // C's isspace: space, \t, \n, \v, \f, \r.
        if matches!(first, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            value = tail;
        } else {
            break;
        }
    }
    Some((name, value))
}

/// The first token of a header value and the rest after it (`get_value_token`,
/// `get_value_after_token`).
pub fn value_token(value: &[u8]) -> Option<(&[u8], &[u8])> {
    token(value).map(|(t, end)| (t, &value[end..]))
}

/// What Zeek distinguishes in a `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ContentType {
    /// The default (`text/plain`) and every type other than the two below.
    #[default]
    Other,
    /// `multipart/*` with a boundary: the body holds child entities.
    Multipart,
    /// `message/*`: Zeek parses a nested entity; this analyzer treats it as opaque content.
    Message,
}

/// A parsed `Content-Type` value.
#[derive(Debug, PartialEq, Eq)]
pub struct ContentTypeValue {
    pub kind: ContentType,
    pub boundary: Option<Vec<u8>>,
}

/// A `type/subtype` pair.
fn slash_pair(data: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    let (ty, end) = token(data)?;
    let rest = &data[end..];
    let slash = skip_lws_comments(rest);
    if rest.get(slash) != Some(&b'/') {
        return None;
    }
    let after = &rest[slash + 1..];
    let (sub, end2) = token(after)?;
    Some((ty, sub, data.len() - after.len() + end2))
}

/// A quoted string starting after optional whitespace: its inner bytes and the offset after it.
fn quoted(data: &[u8]) -> Option<(&[u8], usize)> {
    let off = skip_lws_comments(data);
    let d = &data[off..];
    if d.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < d.len() {
        match d[i] {
            b'"' => return Some((&d[1..i], off + i + 1)),
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// `MIME_get_value`: a token or a quoted string (with quoted pairs decoded).
fn param_value(data: &[u8], boundary: bool) -> Option<(Vec<u8>, usize)> {
    let off = if boundary { 0 } else { skip_lws_comments(data) };
    let d = &data[off..];
    if d.first() == Some(&b'"') {
        let (inner, end) = quoted(d)?;
        let mut out = Vec::with_capacity(inner.len());
        let mut i = 0;
        while i < inner.len() {
            if inner[i] == b'\\' {
                i += 1;
                if let Some(&c) = inner.get(i) {
                    out.push(c);
                }
            } else {
                out.push(inner[i]);
            }
            i += 1;
        }
        Some((out, off + end))
    } else {
        let (t, end) = first_run(d, !boundary, |c| is_token_char(c, boundary))?;
        Some((t.to_vec(), off + end))
    }
}

/// `ParseContentTypeField` + `ParseFieldParameters`: the type, and for multipart the boundary.
/// A multipart type without a boundary is treated as other content, as Zeek does.
pub fn parse_content_type(value: &[u8]) -> Option<ContentTypeValue> {
    let (ty, _sub, end) = slash_pair(value)?;
    let mut kind = if ty.eq_ignore_ascii_case(b"multipart") {
        ContentType::Multipart
    } else if ty.eq_ignore_ascii_case(b"message") {
        ContentType::Message
    } else {
        ContentType::Other
    };
    let mut boundary = None;
    if kind != ContentType::Other {
        let mut data = &value[end..];
        loop {
            let off = skip_lws_comments(data);
            if data.get(off) != Some(&b';') {
                break;
            }
            data = &data[off + 1..];
            let Some((attr, end)) = token(data) else {
                break;
            };
            data = &data[end..];
            let off = skip_lws_comments(data);
            if data.get(off) != Some(&b'=') {
                continue;
            }
            data = &data[off + 1..];
            let is_boundary =
                kind == ContentType::Multipart && attr.eq_ignore_ascii_case(b"boundary");
            match param_value(data, is_boundary) {
                Some((v, end)) => {
                    if is_boundary {
                        boundary = Some(v);
                    }
                    data = &data[end..];
                }
                None => continue,
            }
        }
    }
    if kind == ContentType::Multipart && boundary.is_none() {
        kind = ContentType::Other;
    }
    Some(ContentTypeValue { kind, boundary })
}

/// Whether a body line is a multipart delimiter: `--boundary` (`Some(false)`) or the closing
/// `--boundary--` (`Some(true)`).
pub fn boundary_delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    Some(rest.starts_with(b"--"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_table_matches_definition() {
        for c in 0..=255u8 {
            for boundary in [false, true] {
                let want = (33..=126).contains(&c) && !is_tspecial(c, boundary);
                assert_eq!(is_token_char(c, boundary), want, "{c} {boundary}");
            }
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            split_header(b"Host: a.b "),
            Some((&b"Host"[..], &b"a.b "[..]))
        );
        assert_eq!(split_header(b"X-Y:v"), Some((&b"X-Y"[..], &b"v"[..])));
        assert_eq!(split_header(b"Name : v"), Some((&b"Name"[..], &b"v"[..])));
        assert_eq!(split_header(b"no colon here"), None);
        assert_eq!(split_header(b""), None);
        assert_eq!(split_header(b"A:"), Some((&b"A"[..], &b""[..])));
    }

    #[test]
    fn tokens() {
        assert_eq!(
            value_token(b" chunked, gzip").map(|t| t.0),
            Some(&b"chunked"[..])
        );
        assert_eq!(
            value_token(b"bytes 0-9/10"),
            Some((&b"bytes"[..], &b" 0-9/10"[..]))
        );
        assert_eq!(value_token(b"(comment) 42").map(|t| t.0), Some(&b"42"[..]));
        assert_eq!(value_token(b"-1").map(|t| t.0), Some(&b"-1"[..]));
        assert_eq!(value_token(b""), None);
    }

    #[test]
    fn content_types() {
        let ct = parse_content_type(b"multipart/form-data; boundary=----abc").unwrap();
        assert_eq!(ct.kind, ContentType::Multipart);
        assert_eq!(ct.boundary.as_deref(), Some(&b"----abc"[..]));
        let ct = parse_content_type(b"multipart/mixed; charset=x; boundary=\"a b\"").unwrap();
        assert_eq!(ct.boundary.as_deref(), Some(&b"a b"[..]));
        assert_eq!(
            parse_content_type(b"multipart/mixed").unwrap().kind,
            ContentType::Other
        );
        assert_eq!(
            parse_content_type(b"text/html; charset=utf-8")
                .unwrap()
                .kind,
            ContentType::Other
        );
        assert_eq!(parse_content_type(b"garbage"), None);
    }

    #[test]
    fn delimiters() {
        assert_eq!(boundary_delimiter(b"--abc", b"abc"), Some(false));
        assert_eq!(boundary_delimiter(b"--abc--", b"abc"), Some(true));
        assert_eq!(boundary_delimiter(b"--abcd", b"abc"), Some(false));
        assert_eq!(boundary_delimiter(b"-abc", b"abc"), None);
        assert_eq!(boundary_delimiter(b"--ab", b"abc"), None);
    }
}
