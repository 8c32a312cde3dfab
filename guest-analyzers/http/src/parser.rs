//! Pure parsing of the pieces of an HTTP/1.x message: request and status lines, header lines,
//! the numbers inside headers and chunk-size lines, and URI unescaping.
//!
//! Everything here is a port of what Zeek's `HTTP.cc` and `MIME.cc` do, byte for byte, because
//! http.log must match Zeek's: Zeek accepts HTTP/0.9 request lines, spaces inside URIs, a missing
//! URI, lowercase `http/`, versions such as `HTTP/2` and obsolete line folding, and keeps the
//! trailing whitespace of header values. A strict parser such as `httparse` rejects or normalises
//! each of these (the corpus has traces of all of them), so it cannot produce Zeek's fields.
//! Nothing here allocates except [`unescape_uri`]; results borrow the input.

/// An HTTP version as Zeek keeps it: one decimal digit each, `0.0` meaning "not known".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    pub const UNKNOWN: Version = Version { major: 0, minor: 0 };
    pub const V09: Version = Version { major: 0, minor: 9 };

    /// Zeek's `fmt("%.1f", version.ToDouble())`, e.g. "1.1".
    pub fn text(self) -> String {
        if self.major <= 9 && self.minor <= 9 {
            let digits = [b'0' + self.major, b'.', b'0' + self.minor];
            return std::str::from_utf8(&digits).unwrap_or_default().to_string();
        }
        format!("{}.{}", self.major, self.minor)
    }

    /// HTTP/1.1 and later default to persistent connections.
    pub fn keeps_alive(self) -> bool {
        self.major > 1 || (self.major == 1 && self.minor > 0)
    }
}

/// Zeek's `HTTP_Version`: only `[0-9].[0-9]` is recognised; anything else is `None`
/// (Zeek raises `bad_HTTP_version` and uses the unknown version).
pub fn parse_version(data: &[u8]) -> Option<Version> {
    match data {
        [a @ b'0'..=b'9', b'.', b @ b'0'..=b'9', ..] => Some(Version {
            major: a - b'0',
            minor: b - b'0',
        }),
        _ => None,
    }
}

/// Zeek's `util::skip_whitespace`: spaces and tabs.
pub fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while i < data.len() && (data[i] == b' ' || data[i] == b'\t') {
        i += 1;
    }
    i
}

/// MIME's linear whitespace.
pub fn is_lws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// RFC 2616 token characters, as Zeek's `is_HTTP_token_char`.
fn is_http_token_char(c: u8) -> bool {
    c > 31 && c < 127 && !b" \t()<>@,;:\\\"/[]?={}".contains(&c)
}

/// RFC 3986 URI characters plus `%`, as Zeek's `is_reserved_URI_char` / `is_unreserved_URI_char`.
/// Zeek tests them with `strchr`, which also finds the string's terminating NUL, so a NUL byte
/// counts as a URI character there; so it does here.
fn is_uri_char(c: u8) -> bool {
    c == 0 || c.is_ascii_alphanumeric() || b":/?#[]@!$&'()*+,;=-_.~%".contains(&c)
}

/// `PrefixMatch`: the input starts with `prefix` (ASCII case-insensitively if asked).
fn has_prefix(data: &[u8], prefix: &[u8], ignore_case: bool) -> bool {
    data.len() >= prefix.len()
        && if ignore_case {
            data[..prefix.len()].eq_ignore_ascii_case(prefix)
        } else {
            &data[..prefix.len()] == prefix
        }
}

/// What a request line said about the request's HTTP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSeen {
    /// No `HTTP/` at all: HTTP/0.9.
    Http09,
    /// `HTTP/` followed by at least 3 characters: the parsed version, `None` if malformed.
    Given(Option<Version>),
    /// `HTTP/` with fewer than 3 characters after it: Zeek leaves the version unchanged.
    TooShort,
}

/// Whether a request line was accepted, as Zeek's `HTTP_RequestLine` return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestVerdict {
    Ok,
    /// Weird `bad_HTTP_request`.
    Bad,
    /// Weird `bad_HTTP_request_with_version`.
    BadWithVersion,
}

/// A parsed request line. `version` is `None` when Zeek never got to the version (no method
/// token, or no whitespace after it); otherwise Zeek applies it even if the line is then rejected.
#[derive(Debug)]
pub struct RequestLine<'a> {
    pub verdict: RequestVerdict,
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub version: Option<VersionSeen>,
    /// Weirds raised while parsing (`missing_HTTP_uri`, `lowercase_HTTP_keyword`).
    pub weirds: Vec<&'static str>,
}

/// Zeek's `HTTP_RequestLine` + `ParseRequest`.
pub fn parse_request_line(line: &[u8]) -> RequestLine<'_> {
    let mut out = RequestLine {
        verdict: RequestVerdict::Bad,
        method: &[],
        uri: &[],
        version: None,
        weirds: Vec::new(),
    };
    let end_of_method = line
        .iter()
        .position(|&c| !is_http_token_char(c))
        .unwrap_or(line.len());
    if end_of_method == 0 {
        // Zeek's weak test for a line ending in " HTTP/x.y".
        if line.len() >= 9 && line[line.len() - 9..][..6].eq_ignore_ascii_case(b" HTTP/") {
            out.verdict = RequestVerdict::BadWithVersion;
        }
        return out;
    }
    let rest_start = skip_ws(line, end_of_method);
    if rest_start == end_of_method {
        return out;
    }
    let rest = &line[rest_start..];

    // The URI runs over URI characters ...
    let mut end_of_uri = rest
        .iter()
        .position(|&c| !is_uri_char(c))
        .unwrap_or(rest.len());
    let mut keyword = has_prefix(rest, b"HTTP/", false);
    if !keyword && has_prefix(rest, b"HTTP/", true) {
        out.weirds.push("lowercase_HTTP_keyword");
        keyword = true;
    }
    if end_of_uri >= rest.len() && keyword {
        out.weirds.push("missing_HTTP_uri");
        end_of_uri = 0;
    }
    // ... and then up to the whitespace before the first "HTTP/" that follows.
    let mut version_start = end_of_uri;
    while version_start < rest.len() {
        end_of_uri = version_start;
        version_start = skip_ws(rest, version_start);
        if has_prefix(&rest[version_start..], b"HTTP/", false) {
            break;
        }
        if has_prefix(&rest[version_start..], b"HTTP/", true) {
            out.weirds.push("lowercase_HTTP_keyword");
            break;
        }
        version_start += 1;
    }
    let version = if version_start >= rest.len() {
        VersionSeen::Http09
    } else if version_start + 8 <= rest.len() {
        VersionSeen::Given(parse_version(&rest[version_start + 5..]))
    } else {
        VersionSeen::TooShort
    };
    out.version = Some(version);
    out.uri = &rest[..end_of_uri];
    out.method = &line[..end_of_method];
    // An HTTP/0.9 request needs at least a 3-letter method (GET) and a URI.
    if version == VersionSeen::Http09 && (end_of_method < 3 || out.uri.is_empty()) {
        out.method = &[];
        return out;
    }
    out.verdict = RequestVerdict::Ok;
    out
}

/// A parsed status line.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The version after `HTTP/`, `None` if malformed (Zeek then uses the unknown version).
    pub version: Option<Version>,
    /// The status code, 0 if the three characters after the version are not digits.
    pub code: u16,
    /// The reason phrase; `None` when the line ends right after the code (logged as `<empty>`).
    pub reason: Option<&'a [u8]>,
}

/// Why a status line was refused, with the version Zeek had already applied from it.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyLineError {
    /// Does not start with `HTTP/`: not a status line at all.
    NotHttp,
    /// `HTTP/` but no status code; the version was still parsed.
    NoCode(Option<Version>),
}

/// Zeek's `HTTP_ReplyLine`. `Ok` also says whether `lowercase_HTTP_keyword` applies.
pub fn parse_reply_line(line: &[u8]) -> (Result<ReplyLine<'_>, ReplyLineError>, bool) {
    let lowercase = !has_prefix(line, b"HTTP/", false) && has_prefix(line, b"HTTP/", true);
    if !has_prefix(line, b"HTTP/", true) {
        return (Err(ReplyLineError::NotHttp), false);
    }
    let mut rest = 5;
    let version = parse_version(&line[rest..]);
    while rest < line.len() && !is_lws(line[rest]) {
        rest += 1;
    }
    if rest >= line.len() {
        return (Err(ReplyLineError::NoCode(version)), lowercase);
    }
    rest = skip_ws(line, rest);
    if rest + 3 > line.len() {
        return (Err(ReplyLineError::NoCode(version)), lowercase);
    }
    let code = match &line[rest..rest + 3] {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => 0,
    };
    rest += 3;
    while rest < line.len() && !is_lws(line[rest]) {
        rest += 1;
    }
    let reason = if rest >= line.len() {
        None
    } else {
        Some(&line[skip_ws(line, rest)..])
    };
    (
        Ok(ReplyLine {
            version,
            code,
            reason,
        }),
        lowercase,
    )
}

/// Zeek's `util::atoi_n`: an optional `-`, then digits of `base` up to the first other character
/// (which must not be the first one). Overflow wraps, as the C++ does in practice.
pub fn atoi(data: &[u8], base: u32) -> Option<i64> {
    let (neg, digits) = match data {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, data),
    };
    let mut n: i64 = 0;
    for (i, &c) in digits.iter().enumerate() {
        let d = match (c as char).to_digit(base) {
            // Zeek accepts lowercase and uppercase hex digits alike.
            Some(d) => d,
            None if i > 0 => break,
            None => return None,
        };
        n = n.wrapping_mul(i64::from(base)).wrapping_add(i64::from(d));
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Zeek's `unescape_URI`: `%XX` and `%uXXXX` decoding, with its weirds. Returns the decoded
/// bytes and the weirds in the order Zeek raises them.
pub fn unescape_uri(uri: &[u8]) -> (Vec<u8>, Vec<&'static str>) {
    let mut out = Vec::with_capacity(uri.len());
    let mut weirds = Vec::new();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < uri.len() {
        if uri[i] != b'%' {
            out.push(uri[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i == uri.len() {
            out.push(b'%');
            weirds.push("illegal_%_at_end_of_URI");
            break;
        }
        if i + 1 == uri.len() {
            out.push(b'%');
            out.push(uri[i]);
            weirds.push("partial_escape_at_end_of_URI");
            break;
        }
        if uri[i] == b'%' {
            // "%%": the first '%' is dropped and the second starts an escape.
            weirds.push("double_%_in_URI");
            continue;
        }
        if let (Some(a), Some(b)) = (hex(uri[i]), hex(uri[i + 1])) {
            out.push((a << 4) | b);
            i += 2;
            continue;
        }
        if uri.len() - i >= 5 && uri[i] == b'u' {
            if let (Some(a), Some(b), Some(c), Some(d)) = (
                hex(uri[i + 1]),
                hex(uri[i + 2]),
                hex(uri[i + 3]),
                hex(uri[i + 4]),
            ) {
                // %uXXXX; a leading zero byte is dropped (ASCII in unicode escaping).
                if !(uri[i + 1] == b'0' && uri[i + 2] == b'0') {
                    out.push((a << 4) | b);
                }
                out.push((c << 4) | d);
                i += 5;
                continue;
            }
        }
        weirds.push("unescaped_%_in_URI");
        out.push(b'%');
        out.push(uri[i]);
        i += 1;
    }
    (out, weirds)
}

/// The bytes between the last `name=` (or `name*=`) and the end, unquoted and unescaped: Zeek's
/// `extract_filename_from_content_disposition` (base/utils/files.zeek).
pub fn filename_from_disposition(value: &[u8]) -> Vec<u8> {
    // sub(data, /^.*[nN][aA][mM][eE][[:blank:]]*\*?=[[:blank:]]*/, ""): the greedy `.*` makes
    // this the last "name=" of the first line (`.` does not cross a newline).
    let first_line = &value[..value
        .iter()
        .position(|&c| c == b'\n')
        .unwrap_or(value.len())];
    let start = (0..first_line.len().saturating_sub(3))
        .rev()
        .find_map(|at| {
            if !first_line[at..at + 4].eq_ignore_ascii_case(b"name") {
                return None;
            }
            let mut j = skip_ws(first_line, at + 4);
            if first_line.get(j) == Some(&b'*') {
                j += 1;
            }
            (first_line.get(j) == Some(&b'=')).then(|| skip_ws(value, j + 1))
        });
    let mut name: &[u8] = match start {
        Some(s) => &value[s..],
        None => value,
    };
    // Remove quotes around the filename.
    if name.first() == Some(&b'"') {
        let inner = &name[1..];
        name = &inner[..inner.iter().position(|&c| c == b'"').unwrap_or(inner.len())];
    }
    // Remove an RFC 2231 charset'language' prefix.
    let ext = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&+-^_`{}~".contains(&c);
    let charset_len = name.iter().take_while(|&&c| ext(c)).count();
    if charset_len > 0 && name.get(charset_len) == Some(&b'\'') {
        let lang = &name[charset_len + 1..];
        let lang_len = lang.iter().take_while(|&&c| ext(c)).count();
        if lang.get(lang_len) == Some(&b'\'') {
            name = &lang[lang_len + 1..];
        }
    }
    unescape_uri(name).0
}

/// Zeek's `decode_base64`: the standard alphabet; other characters are skipped and decoding
/// stops at padding.
pub fn decode_base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in data {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text() {
        assert_eq!(Version { major: 1, minor: 1 }.text(), "1.1");
        assert_eq!(Version::V09.text(), "0.9");
        assert_eq!(
            Version {
                major: 12,
                minor: 3
            }
            .text(),
            "12.3"
        );
    }

    #[test]
    fn request_line_plain() {
        let r = parse_request_line(b"GET /index.html?a=b HTTP/1.1");
        assert_eq!(r.verdict, RequestVerdict::Ok);
        assert_eq!(r.method, b"GET");
        assert_eq!(r.uri, b"/index.html?a=b");
        assert_eq!(
            r.version,
            Some(VersionSeen::Given(Some(Version { major: 1, minor: 1 })))
        );
        assert!(r.weirds.is_empty());
    }

    #[test]
    fn request_line_http09_and_its_limits() {
        let r = parse_request_line(b"GET /zeek.html");
        assert_eq!((r.verdict, r.uri), (RequestVerdict::Ok, &b"/zeek.html"[..]));
        assert_eq!(r.version, Some(VersionSeen::Http09));
        // "/HTTP/1.1" is all URI characters, so there is no version: 0.9 (http-methods trace).
        let r = parse_request_line(b"GET /HTTP/1.1");
        assert_eq!(
            (r.uri, r.version),
            (&b"/HTTP/1.1"[..], Some(VersionSeen::Http09))
        );
        // Too short a method for 0.9 (http-11-request-then-cruft trace): rejected, but the
        // version was seen.
        let r = parse_request_line(b"T / HTTP");
        assert_eq!(r.verdict, RequestVerdict::Bad);
        assert_eq!(r.version, Some(VersionSeen::Http09));
    }

    #[test]
    fn request_line_uri_with_space_and_missing_uri() {
        let r = parse_request_line(b"CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0");
        assert_eq!(r.uri, b"mailin03.sul.t-online.de:25 /");
        let r = parse_request_line(b"OPTIONS HTTP/1.0");
        assert_eq!(r.weirds, vec!["missing_HTTP_uri"]);
        assert_eq!((r.verdict, r.uri), (RequestVerdict::Ok, &b""[..]));
        let r = parse_request_line(b"GET / http/1.1");
        assert_eq!(r.weirds, vec!["lowercase_HTTP_keyword"]);
        assert_eq!(r.uri, b"/");
    }

    #[test]
    fn request_line_rejections() {
        assert_eq!(
            parse_request_line(b" GET /txt HTTP/1.1").verdict,
            RequestVerdict::BadWithVersion
        );
        assert_eq!(parse_request_line(b"").verdict, RequestVerdict::Bad);
        assert_eq!(parse_request_line(b"GET").verdict, RequestVerdict::Bad);
        assert_eq!(
            parse_request_line(b"\x16\x03\x01").verdict,
            RequestVerdict::Bad
        );
        let r = parse_request_line(b"GET / HTTP/1");
        assert_eq!(r.version, Some(VersionSeen::TooShort));
        let r = parse_request_line(b"GET / HTTP/x.y");
        assert_eq!(r.version, Some(VersionSeen::Given(None)));
    }

    #[test]
    fn reply_lines() {
        let (r, lc) = parse_reply_line(b"HTTP/1.1 200 OK");
        assert!(!lc);
        let r = r.unwrap();
        assert_eq!((r.code, r.reason), (200, Some(&b"OK"[..])));
        let (r, _) = parse_reply_line(b"HTTP/1.1 204");
        assert_eq!(r.unwrap().reason, None);
        let (r, _) = parse_reply_line(b"HTTP/1.1 204 ");
        assert_eq!(r.unwrap().reason, Some(&b""[..]));
        let (r, _) = parse_reply_line(b"HTTP/2 abc def");
        let r = r.unwrap();
        assert_eq!((r.version, r.code), (None, 0));
        assert_eq!(
            parse_reply_line(b"SSH-2.0-OpenSSH").0,
            Err(ReplyLineError::NotHttp)
        );
        assert_eq!(
            parse_reply_line(b"HTTP/1.0").0,
            Err(ReplyLineError::NoCode(Some(Version { major: 1, minor: 0 })))
        );
        assert!(parse_reply_line(b"http/1.0 200 OK").1);
    }

    #[test]
    fn atoi_like_zeek() {
        assert_eq!(atoi(b"1a;ext", 16), Some(26));
        assert_eq!(atoi(b"", 16), Some(0));
        assert_eq!(atoi(b" 1", 16), None);
        assert_eq!(atoi(b"-1", 10), Some(-1));
        assert_eq!(atoi(b"18446744073709551615", 10), Some(-1));
        assert_eq!(atoi(b"12abc", 10), Some(12));
        assert_eq!(atoi(b"abc", 10), None);
    }

    #[test]
    fn unescape_like_zeek() {
        assert_eq!(unescape_uri(b"/a%20b").0, b"/a b");
        assert_eq!(unescape_uri(b"/%").1, vec!["illegal_%_at_end_of_URI"]);
        assert_eq!(
            unescape_uri(b"/%5"),
            (b"/%5".to_vec(), vec!["partial_escape_at_end_of_URI"])
        );
        assert_eq!(unescape_uri(b"%%41").0, b"A");
        assert_eq!(unescape_uri(b"%u0041%u2022").0, b"A\x20\x22");
        assert_eq!(unescape_uri(b"%zz/").0, b"%zz/");
    }

    #[test]
    fn filenames() {
        assert_eq!(
            filename_from_disposition(b"attachment; filename=\"test.json\""),
            b"test.json"
        );
        assert_eq!(
            filename_from_disposition(b"form-data; name=\"f\"; filename=\"a b.txt\""),
            b"a b.txt"
        );
        assert_eq!(
            filename_from_disposition(b"attachment; filename*=UTF-8''na%20me.txt"),
            b"na me.txt"
        );
        assert_eq!(filename_from_disposition(b"inline; name=x"), b"x");
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64(b"dGVzdDoxMjM0"), b"test:1234");
        assert_eq!(decode_base64(b"dGVzdA=="), b"test");
        assert_eq!(decode_base64(b" dG Vz dA "), b"test");
    }
}
