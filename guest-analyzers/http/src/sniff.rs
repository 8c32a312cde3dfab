//! MIME type sniffing on the first bytes of a file, for http.log's `*_mime_types`: a subset of
//! Zeek's file magic signatures (`base/frameworks/files/magic/*.sig`) covering what web traffic
//! carries most: text, HTML, XML, JSON, JavaScript, images, archives, executables, PDF, Flash.
//! Zeek's patterns are anchored at the start of the file, and the match with the highest
//! strength wins; the strengths below are Zeek's. Zeek sniffs the first 4096 bytes
//! ([`BOF_SIZE`]), or the whole file when it ends sooner.

/// Zeek's `default_file_bof_buffer_size`.
pub const BOF_SIZE: usize = 4096;

/// `[\x0d\x0a[:blank:]]`
fn is_ws(c: u8) -> bool {
    matches!(c, b'\r' | b'\n' | b' ' | b'\t')
}

/// C's `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn skip(data: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    i + data
        .get(i..)
        .map_or(0, |d| d.iter().take_while(|&&c| f(c)).count())
}

fn starts_ci(data: &[u8], i: usize, s: &[u8]) -> bool {
    data.get(i..i + s.len())
        .is_some_and(|d| d.eq_ignore_ascii_case(s))
}

fn starts(data: &[u8], i: usize, s: &[u8]) -> bool {
    data.get(i..i + s.len()) == Some(s)
}

/// Skips a UTF-8 byte order mark.
fn bom(data: &[u8]) -> usize {
    if data.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    }
}

/// `([\x0d\x0a[:blank:]]*(<!--.*-->)?[\x0d\x0a[:blank:]]*)*`: whitespace and comments on one
/// line each (`.` does not cross a newline).
fn skip_ws_comments(data: &[u8], mut i: usize) -> usize {
    loop {
        i = skip(data, i, is_ws);
        if !starts(data, i, b"<!--") {
            return i;
        }
        let line_end = data[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(data.len(), |p| i + p);
        match data[i + 4..line_end].windows(3).rposition(|w| w == b"-->") {
            Some(p) => i = i + 4 + p + 3,
            None => return i,
        }
    }
}

/// The common prolog of the markup signatures: BOM, whitespace, comments, an optional
/// `<?xml ...?>` declaration, whitespace and comments again. Returns where the first tag starts.
fn markup_start(data: &[u8]) -> usize {
    let mut i = skip_ws_comments(data, bom(data));
    if starts(data, i, b"<?xml ") {
        let line_end = data[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(data.len(), |p| i + p);
        if let Some(p) = data[i..line_end].windows(2).rposition(|w| w == b"?>") {
            i = skip_ws_comments(data, i + p + 2);
        }
    }
    i
}

fn text_plain(data: &[u8]) -> bool {
    let i = if data.starts_with(b"\xef\xbb\xbf") {
        3
    } else if data.starts_with(b"\x00\x00\xfe\xff") || data.starts_with(b"\xff\xfe\x00\x00") {
        4
    } else if data.starts_with(b"\xfe\xff") || data.starts_with(b"\xff\xfe") {
        2
    } else {
        0
    };
    data.get(i..i + 10)
        .is_some_and(|d| d.iter().all(|&c| is_space(c) || (0x20..=0x7e).contains(&c)))
}

/// `file-json`, `file-json2`, `file-json3`: an object with a first key, an array with a first
/// element, or an empty document.
fn json(data: &[u8]) -> Option<i32> {
    let i = skip(data, bom(data), is_ws);
    let rest = &data[i..];
    if (rest.starts_with(b"{}") || rest.starts_with(b"[]"))
        && skip(data, i + 2, is_ws) == data.len()
    {
        return Some(0);
    }
    if starts(data, i, b"{") {
        let mut j = skip(data, i + 1, is_ws);
        if starts(data, j, b"\"") {
            let close = data[j + 1..].iter().position(|&c| c == b'"')?;
            if close == 0 {
                return None;
            }
            j += close + 2;
        } else if data.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
            j = skip(data, j, |c| {
                c.is_ascii_alphanumeric() || c == b'\\' || c == b'_'
            });
        } else {
            return None;
        }
        j = skip(data, j, is_ws);
        if !starts(data, j, b":") {
            return None;
        }
        j = skip(data, j + 1, is_ws);
        let c = *data.get(j)?;
        let ok = matches!(c, b'"' | b'[' | b'{')
            || c.is_ascii_digit()
            || starts(data, j, b"true")
            || starts(data, j, b"false");
        return ok.then_some(1);
    }
    if starts(data, i, b"[") {
        let j = skip(data, i + 1, is_ws);
        let c = *data.get(j)?;
        if c == b'{' || c == b'[' {
            return Some(1);
        }
        let end = if c == b'"' {
            let close = data[j + 1..].iter().position(|&c| c == b'"')?;
            if close == 0 {
                return None;
            }
            j + close + 2
        } else if c.is_ascii_digit() {
            let mut k = skip(data, j, |c| c.is_ascii_digit());
            if starts(data, k, b".") && data.get(k + 1).is_some_and(|c| c.is_ascii_digit()) {
                k = skip(data, k + 1, |c| c.is_ascii_digit());
            }
            k
        } else if starts(data, j, b"true") {
            j + 4
        } else if starts(data, j, b"false") {
            j + 5
        } else {
            return None;
        };
        return starts(data, skip(data, end, is_ws), b",").then_some(1);
    }
    None
}

/// The JavaScript signatures of programming.sig.
fn javascript(data: &[u8]) -> bool {
    if data.starts_with(b"(function()") {
        let j = skip(data, 11, |c| c == b' ' || c == b'\t' || c == b'\n');
        if starts(data, j, b"{") {
            return true;
        }
    }
    let i = skip(data, 0, is_ws);
    if starts(data, i, b"for (;;);") {
        return true;
    }
    if starts(data, i, b"document.write") {
        let mut j = i + 14;
        if starts(data, j, b"ln") {
            j += 2;
        }
        if data.get(j).is_some_and(|c| b":blank".contains(c)) && !starts(data, j, b"(") {
            j += 1;
        }
        if starts(data, j, b"(") {
            return true;
        }
    }
    if starts_ci(data, i, b"<script") {
        let j = i + 7;
        let k = skip(data, j, |c| c == b' ' || c == b'\t');
        if k > j {
            let after = if starts_ci(data, k, b"type=") {
                k + 5
            } else if starts_ci(data, k, b"language=") {
                k + 9
            } else {
                usize::MAX
            };
            if after != usize::MAX {
                let mut m = after;
                if data.get(m).is_some_and(|&c| c == b'\'' || c == b'"') {
                    m += 1;
                }
                if starts_ci(data, m, b"text/") {
                    m += 5;
                }
                if starts_ci(data, m, b"javascript") {
                    return true;
                }
            }
        }
    }
    if starts(data, i, b"<script>") {
        let j = skip(data, i + 8, is_ws);
        if starts(data, j, b"var ") || starts(data, j, b"function ") {
            return true;
        }
    }
    false
}

/// The MIME type Zeek's file magic gives these first bytes of a file, if any.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let data = &data[..data.len().min(BOF_SIZE)];
    let mut best: Option<(i32, &'static str)> = None;
    let mut consider = |strength: i32, mime: &'static str| {
        if best.is_none_or(|(s, _)| strength > s) {
            best = Some((strength, mime));
        }
    };
    // Fixed magic numbers.
    const MAGIC: &[(&[u8], i32, &str)] = &[
        (b"\x89PNG", 110, "image/png"),
        (b"GIF8", 70, "image/gif"),
        (b"\xff\xd8", 52, "image/jpeg"),
        (b"\x00\x00\x01\x00", 70, "image/x-icon"),
        (b"MM\x00\x2a", 70, "image/tiff"),
        (b"II\x2a\x00", 70, "image/tiff"),
        (b"8BPS", 70, "image/vnd.adobe.photoshop"),
        (b"MZ", 51, "application/x-dosexec"),
        (b"\x7fELF", 0, ""),
        (b"\xcf\xfa\xed\xfe", 100, "application/x-mach-o-executable"),
        (b"\xce\xfa\xed\xfe", 100, "application/x-mach-o-executable"),
        (b"PK\x03\x04", 10, "application/zip"),
        (b"\x1f\x8b", 100, "application/x-gzip"),
        (b"Rar!", 70, "application/x-rar"),
        (b"7z\xbc\xaf\x27\x1c", 50, "application/x-7z-compressed"),
        (b"\xfd7zXZ\x00", 90, "application/x-xz"),
        (b"BZh", 60, "application/x-bzip2"),
        (
            b"MSCF\x00\x00\x00\x00",
            110,
            "application/vnd.ms-cab-compressed",
        ),
        (b"%PDF-", 80, "application/pdf"),
        (b"FWS", 60, "application/x-shockwave-flash"),
        (b"CWS", 60, "application/x-shockwave-flash"),
        (b"ZWS", 60, "application/x-shockwave-flash"),
    ];
    for &(magic, strength, mime) in MAGIC {
        if !mime.is_empty() && data.starts_with(magic) {
            consider(strength, mime);
        }
    }
    if data.len() >= 18 && data.starts_with(b"\x7fELF") && matches!(data[4], 1 | 2) {
        let kind = if data[4] == 1 { data[16] } else { data[17] };
        let mime = match kind {
            1 => Some("application/x-object"),
            2 => Some("application/x-executable"),
            3 => Some("application/x-sharedlib"),
            4 => Some("application/x-coredump"),
            _ => None,
        };
        if let Some(m) = mime {
            consider(50, m);
        }
    }
    if data.len() >= 16
        && data.starts_with(b"BM")
        && [0x0c, 0x28, 0x40, 0x6c, 0x7c, 0x80].contains(&data[14])
        && data[15] == 0
    {
        consider(50, "image/x-ms-bmp");
    }
    if data.len() >= 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP" {
        consider(70, "image/webp");
    }
    if data.starts_with(b"#!") {
        let line = &data[2..data.len().min(40)];
        let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
        if let Some(p) = line.windows(4).position(|w| w == b"bin/") {
            if (1..=15).contains(&p) {
                let mut prog = &line[p + 4..];
                if let Some(rest) = prog.strip_prefix(b"env") {
                    let ws = rest.iter().take_while(|&&c| is_space(c)).count();
                    if ws > 0 {
                        prog = &rest[ws..];
                    }
                }
                let scripts: &[(&[u8], i32, &str)] = &[
                    (b"bash", 250, "text/x-shellscript"),
                    (b"sh", 250, "text/x-shellscript"),
                    (b"perl", 60, "text/x-perl"),
                    (b"python", 60, "text/x-python"),
                    (b"ruby", 60, "text/x-ruby"),
                    (b"php", 60, "text/x-php"),
                    (b"node", 60, "application/javascript"),
                ];
                for &(name, strength, mime) in scripts {
                    if prog.starts_with(name) {
                        consider(strength, mime);
                    }
                }
            }
        }
    }
    // Text formats.
    if text_plain(data) {
        consider(-20, "text/plain");
    }
    if let Some(strength) = json(data) {
        consider(strength, "text/json");
    }
    if javascript(data) {
        consider(60, "application/javascript");
    }
    let first_line = &data[..data.iter().position(|&c| c == b'\n').unwrap_or(data.len())];
    if first_line.windows(5).any(|w| w == b"<?php") {
        consider(40, "text/x-php");
    }
    let m = markup_start(data);
    let p = skip_ws_comments(data, bom(data));
    if starts(data, p, b"<?xml ") {
        consider(10, "application/xml");
    }
    if starts(data, m, b"<") {
        let tag = m + 1;
        let doctype_html = starts_ci(data, tag, b"!doctype ") && {
            let j = skip(data, tag + 9, |c| c == b' ');
            starts_ci(data, j, b"html")
        };
        let meta_equiv = starts_ci(data, tag, b"meta ") && {
            let j = skip(data, tag + 5, |c| c == b' ');
            starts_ci(data, j, b"http-equiv")
        };
        if doctype_html || starts_ci(data, tag, b"html") || meta_equiv {
            consider(100, "text/html");
        }
        if doctype_html {
            consider(49, "text/html");
        }
        if ["head", "html", "title", "body"]
            .iter()
            .any(|t| starts_ci(data, tag, t.as_bytes()))
        {
            consider(20, "text/html");
        }
        if starts_ci(data, tag, b"rss") {
            consider(90, "text/rss");
        }
    }
    best.map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn common_types() {
        assert_eq!(sniff(b"<html>\n<head><title>301 Moved"), Some("text/html"));
        assert_eq!(
            sniff(b"  <!DOCTYPE html PUBLIC \"-//W3C\">"),
            Some("text/html")
        );
        assert_eq!(sniff(b"<!-- x -->\n<HTML><body>"), Some("text/html"));
        // XHTML is HTML (general.sig's file-xhtml outranks file-xml); SVG without an XML
        // declaration is only text (as Zeek logs it for the vxlan trace).
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<!DOCTYPE html>"),
            Some("text/html")
        );
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><svg>"),
            Some("application/xml")
        );
        assert_eq!(
            sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\">"),
            Some("text/plain")
        );
        assert_eq!(sniff(b"Microsoft NCSI"), Some("text/plain"));
        assert_eq!(sniff(b"200 OK"), None, "fewer than 10 printable characters");
        assert_eq!(sniff(b"{\n  \"args\": {}, "), Some("text/json"));
        assert_eq!(sniff(b"[1, 2, 3]"), Some("text/json"));
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some("image/gif"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Some("image/png"));
        assert_eq!(
            sniff(b"MZ\x90\x00\x03\x00\x00\x00"),
            Some("application/x-dosexec")
        );
        assert_eq!(
            sniff(b"CWS\x0a\x00\x00"),
            Some("application/x-shockwave-flash")
        );
        assert_eq!(
            sniff(b"document.write('<a>');"),
            Some("application/javascript")
        );
        assert_eq!(sniff(b"#!/bin/sh\necho hi\n"), Some("text/x-shellscript"));
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"), None);
    }
}
