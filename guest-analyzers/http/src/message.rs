//! One HTTP message (request or reply) and its MIME entities: header lines, body framing
//! (Content-Length, chunked with trailers, close-delimited, multipart), decompression and the
//! body bytes handed to the files framework. A port of Zeek's `HTTP_Message` / `HTTP_Entity`
//! (HTTP.cc) and the parts of `MIME_Entity` (MIME.cc) that HTTP uses.
//!
//! Differences from Zeek, all in rare corners: a multipart part's (or a `message/*` body's
//! inner entity's) own `Content-Length`, `Transfer-Encoding` and `Content-Encoding` are ignored;
//! entities nested deeper than one level are not parsed (their bytes go to the enclosing
//! entity's file); `Content-Transfer-Encoding` (base64, quoted-printable) is not decoded.

use crate::event::{Event, Headers, MessageStat};
use crate::inflate::{Inflater, Outcome};
use crate::mime::{self, ContentType};
use crate::parser::{atoi, is_lws, Version};

/// Zeek's stand-in for "until the connection closes" (`INT_MAX`).
pub const UNTIL_CLOSE: u64 = i32::MAX as u64;

/// Most header bytes (including continuation lines) one entity may have.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;

/// Whether a message may have a body (Zeek's `HTTP_BODY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    NotExpected,
    Expected,
    Maybe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    NonChunked,
    Before,
    ExpectSize,
    Data,
    DataCrlf,
    Trailer,
    Nothing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Identity,
    Compressed,
}

/// The analyzer-wide state a message reads and writes (Zeek's `HTTP_Analyzer` fields).
#[derive(Debug, Default)]
pub struct Shared {
    pub keep_alive: bool,
    pub connection_close: bool,
    pub request_ongoing: bool,
    pub reply_ongoing: bool,
    pub reply_code: u16,
    pub request_version: Version,
    pub reply_version: Version,
    pub upgrade_connection: bool,
    pub upgrade_protocol: Vec<u8>,
    pub next_entity: u64,
}

/// Changes to one direction's line splitting that a message asks for; the analyzer applies them
/// between two lines (Zeek's `ContentLine_Analyzer` setters).
#[derive(Debug)]
pub struct Link {
    /// Bytes to hand over raw instead of as lines (`SetPlainDelivery`).
    pub plain: u64,
    /// Zeek's `delivery_length` (`SetDeliverySize`): the body bytes still to come; when they
    /// have all come and the last line has no terminator, the line is completed (weird
    /// `line_terminated_without_CRLF`). -1 when off. Zeek counts whole deliveries, so whether it
    /// notices depends on where packets end; this counts bytes, so any split gives the result
    /// Zeek gives when the body ends a packet.
    pub delivery: i64,
    /// `delivery` was set during the current step (its bytes are not counted).
    pub delivery_set: bool,
    /// Switch to (`Some(true)`) or from CRLF-only line ends.
    pub crlf_only: Option<bool>,
    /// The header block grew past [`MAX_HEADER_BYTES`].
    pub header_overflow: bool,
}

impl Link {
    fn set_delivery(&mut self, n: i64) {
        self.delivery = n;
        self.delivery_set = true;
    }
}

impl Default for Link {
    fn default() -> Self {
        Link {
            plain: 0,
            delivery: -1,
            delivery_set: false,
            crlf_only: None,
            header_overflow: false,
        }
    }
}

/// What a message needs from its analyzer while it runs.
pub struct Cx<'a> {
    pub sink: &'a mut dyn crate::event::Sink,
    pub link: &'a mut Link,
    pub s: &'a mut Shared,
}

impl Cx<'_> {
    fn weird(&mut self, name: &'static str, addl: &[u8]) {
        self.sink.event(Event::Weird { name, addl });
    }
}

/// Where `part`, a slice of `buf`, is in it.
fn span(buf: &[u8], part: &[u8]) -> (usize, usize) {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    (start, start + part.len())
}

/// One MIME entity: the message itself (depth 0) or a part of a multipart body (depth 1).
struct Entity {
    id: u64,
    depth: u8,
    expect: Expect,
    in_header: bool,
    end_of_data: bool,
    /// The header line being assembled (continuation lines appended): where it starts in
    /// `headers`' buffer, and its line count.
    cur_header: Option<(usize, u32)>,
    headers: Headers,
    content_type: ContentType,
    boundary: Option<Vec<u8>>,
    content_length: i64,
    range_length: i64,
    instance_length: i64,
    is_partial: bool,
    offset: i64,
    chunk: Chunk,
    encoding: Encoding,
    zip: Option<Box<Inflater>>,
    expect_data_length: i64,
    body_length: u64,
    header_length: u64,
    expect_100: bool,
    /// A part of a multipart body (not the entity inside a `message/*` body).
    in_multipart: bool,
    /// Multipart parts: the CRLF of the last line is held back, it belongs to the delimiter.
    delay_crlf: bool,
    /// Whether the total size still goes with the next file bytes (`send_size`).
    send_size: bool,
}

impl Entity {
    fn new(depth: u8, in_multipart: bool, expect: Expect, s: &mut Shared) -> Self {
        s.next_entity += 1;
        Entity {
            id: s.next_entity,
            depth,
            expect,
            in_header: true,
            end_of_data: false,
            cur_header: None,
            headers: Headers::default(),
            content_type: ContentType::Other,
            boundary: None,
            content_length: -1,
            range_length: -1,
            instance_length: -1,
            is_partial: false,
            offset: 0,
            chunk: Chunk::NonChunked,
            encoding: Encoding::Identity,
            zip: None,
            expect_data_length: 0,
            body_length: 0,
            header_length: 0,
            expect_100: false,
            in_multipart,
            delay_crlf: false,
            send_size: true,
        }
    }

    /// One header line (`MIME_Entity::Deliver` while in the header). Returns true at the empty
    /// line that ends the header block.
    fn header_line(&mut self, line: &[u8], is_orig: bool, cx: &mut Cx) -> bool {
        if line.first().is_none_or(|&c| c == 0) {
            self.finish_header(is_orig, cx);
            self.in_header = false;
            return true;
        }
        if self.header_length > MAX_HEADER_BYTES {
            cx.link.header_overflow = true;
            return false;
        }
        if is_lws(line[0]) {
            match &mut self.cur_header {
                Some((_, n)) => {
                    self.headers.buf_mut().extend_from_slice(line);
                    *n += 1;
                }
                None => {
                    // "first header line starts with linear whitespace": taken as a new header.
                    let ws = line.iter().take_while(|&&c| is_lws(c)).count();
                    let buf = self.headers.buf_mut();
                    self.cur_header = Some((buf.len(), 1));
                    buf.extend_from_slice(&line[ws..]);
                }
            }
        } else {
            self.finish_header(is_orig, cx);
            let buf = self.headers.buf_mut();
            self.cur_header = Some((buf.len(), 1));
            buf.extend_from_slice(line);
        }
        false
    }

    /// Parses and submits the header being assembled, if any (`FinishHeader`).
    fn finish_header(&mut self, is_orig: bool, cx: &mut Cx) {
        let Some((start, lines)) = self.cur_header.take() else {
            return;
        };
        // The line is the end of the headers' buffer; it stays there when the header is kept.
        let buf = std::mem::take(self.headers.buf_mut());
        let line = &buf[start..];
        let kept = match mime::split_header(line) {
            None => None,
            Some((name, value)) => {
                if name.eq_ignore_ascii_case(b"content-type") {
                    if let Some(ct) = mime::parse_content_type(value) {
                        self.content_type = ct.kind;
                        self.boundary = ct.boundary;
                    }
                }
                self.submit_header(name, value, lines, is_orig, cx)
                    .then(|| (span(&buf, name), span(&buf, value)))
            }
        };
        *self.headers.buf_mut() = buf;
        match kept {
            Some((name, value)) => self.headers.push_span(name, value),
            None => self.headers.truncate_buf(start),
        }
    }

    /// `HTTP_Entity::SubmitHeader` then the analyzer's `HTTP_Header`. Returns false where Zeek
    /// returns early (a bad Content-Range) and so raises no `http_header` for it.
    fn submit_header(
        &mut self,
        name: &[u8],
        value: &[u8],
        lines: u32,
        is_orig: bool,
        cx: &mut Cx,
    ) -> bool {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        // Only the headers below look at the value's first token.
        let token = || mime::value_token(value);
        if self.depth == 0 && lines > 1 {
            cx.weird("HTTP_obsolete_line_folding", name);
        }
        if is("content-length") && self.depth == 0 {
            if self.chunk != Chunk::NonChunked {
                cx.weird("HTTP_content_length_and_chunked", b"");
            }
            if let Some((vt, _)) = token() {
                match atoi(vt, 10).filter(|&n| n >= 0) {
                    Some(n) => {
                        if n > 0 && vt.first() == Some(&b'0') {
                            cx.weird("HTTP_content_length_leading_zeros", vt);
                        }
                        self.content_length = n;
                        if self.is_partial && self.range_length != n {
                            cx.weird("HTTP_range_not_matching_len", b"");
                            self.content_length = n.max(self.range_length);
                        }
                        if self.content_length == 0 && self.expect_100 {
                            cx.weird("HTTP_content_length_0_and_expect_100_cont", b"");
                        }
                    }
                    None => {
                        cx.weird("HTTP_bad_content_length", vt);
                        self.content_length = 0;
                    }
                }
            }
        } else if is("content-range") && self.depth == 0 && cx.s.reply_code == 206 {
            if !self.content_range(token(), cx) {
                return false;
            }
        } else if is("transfer-encoding") {
            if self.depth == 0 {
                let version = if cx.s.request_ongoing {
                    cx.s.request_version
                } else {
                    cx.s.reply_version
                };
                if let Some((vt, rest)) = token() {
                    if vt.eq_ignore_ascii_case(b"chunked")
                        && version == (Version { major: 1, minor: 1 })
                    {
                        self.chunk = Chunk::Before;
                        if !rest.is_empty() {
                            cx.weird("HTTP_chunked_multi", rest);
                        }
                        if self.content_length >= 0 {
                            cx.weird("HTTP_content_length_and_chunked", b"");
                        }
                    }
                }
            } else {
                cx.weird("HTTP_nested_transfer_encoding_header", b"");
            }
        } else if is("content-encoding") && self.depth == 0 {
            if let Some((vt, _)) = token() {
                let gz = vt.eq_ignore_ascii_case(b"gzip") || vt.eq_ignore_ascii_case(b"x-gzip");
                if gz || vt.eq_ignore_ascii_case(b"deflate") {
                    self.encoding = Encoding::Compressed;
                }
            }
        } else if is("expect") && self.depth == 0 {
            let vt = token().map_or(&b""[..], |t| t.0);
            if !vt.eq_ignore_ascii_case(b"100-continue") {
                cx.weird("HTTP_expect_not_100_continue", vt);
            }
            self.expect_100 = true;
            if self.content_length == 0 {
                cx.weird("HTTP_content_length_0_and_expect_100_cont", b"");
            }
        }
        // The analyzer's HTTP_Header.
        let vt = || token().map_or(&b""[..], |t| t.0);
        if is("connection") {
            let vt = vt();
            if is_orig && vt.eq_ignore_ascii_case(b"keep-alive") {
                cx.s.keep_alive = true;
            }
            if !is_orig && vt.eq_ignore_ascii_case(b"close") {
                cx.s.connection_close = true;
            } else if !is_orig && vt.eq_ignore_ascii_case(b"upgrade") {
                cx.s.upgrade_connection = true;
            }
        }
        if !is_orig && is("upgrade") {
            cx.s.upgrade_protocol = vt().to_vec();
        }
        cx.sink.event(Event::Header {
            is_orig,
            name,
            value,
        });
        true
    }

    /// `Content-Range` of a 206 reply. Returns false where Zeek stops processing the header.
    fn content_range(&mut self, token: Option<(&[u8], &[u8])>, cx: &mut Cx) -> bool {
        let (unit, rest) = token.unwrap_or((&b""[..], &b""[..]));
        let range: Vec<u8> = rest.iter().copied().filter(|&c| c != b' ').collect();
        if unit != b"bytes" {
            cx.weird("HTTP_content_range_unknown_byte_unit", b"");
            return false;
        }
        let Some(slash) = range.iter().position(|&c| c == b'/') else {
            cx.weird("HTTP_content_range_cannot_parse", b"");
            return false;
        };
        let (spec, instance) = (&range[..slash], &range[slash + 1..]);
        let Some(dash) = spec.iter().position(|&c| c == b'-') else {
            cx.weird("HTTP_content_range_cannot_parse", b"");
            return false;
        };
        let (Some(first), Some(last)) = (atoi(&spec[..dash], 10), atoi(&spec[dash + 1..], 10))
        else {
            cx.weird("HTTP_content_range_cannot_parse", &range);
            return false;
        };
        if first < 0 || last < 0 {
            cx.weird("HTTP_content_range_invalid", &range);
            return false;
        }
        if last < first {
            cx.weird("HTTP_non_positive_content_range", &range);
            return false;
        }
        let len = (last - first).saturating_add(1);
        if instance != b"*" {
            self.instance_length = match atoi(instance, 10) {
                Some(n) => n,
                None => {
                    cx.weird("HTTP_content_range_invalid_instance", &range);
                    0
                }
            };
        }
        self.is_partial = true;
        self.offset = first;
        self.range_length = len;
        if self.content_length > 0 {
            if self.content_length != len {
                cx.weird("HTTP_range_not_matching_len", b"");
                self.content_length = self.content_length.max(len);
            }
        } else {
            self.content_length = len;
        }
        true
    }

    /// Body bytes after de-chunking and decompression (`DeliverBodyClear` for a non-multipart
    /// entity, then `DecodeBinary` and `SubmitData`).
    fn data_line(&mut self, data: &[u8], crlf: bool, is_orig: bool, cx: &mut Cx) {
        if self.delay_crlf {
            self.delay_crlf = false;
            self.submit_data(b"\r\n", is_orig, cx);
        }
        self.submit_data(data, is_orig, cx);
        if crlf {
            if self.in_multipart {
                self.delay_crlf = true;
            } else {
                self.submit_data(b"\r\n", is_orig, cx);
            }
        }
    }

    fn submit_data(&mut self, data: &[u8], is_orig: bool, cx: &mut Cx) {
        if data.is_empty() {
            return;
        }
        if self.send_size && self.encoding == Encoding::Compressed {
            self.send_size = false;
        }
        let size = if !self.send_size {
            None
        } else if self.is_partial {
            u64::try_from(self.instance_length).ok().filter(|&n| n > 0)
        } else {
            u64::try_from(self.content_length).ok().filter(|&n| n > 0)
        };
        self.send_size = false;
        let offset = self
            .is_partial
            .then(|| u64::try_from(self.offset).unwrap_or(0));
        if self.is_partial {
            self.offset = self.offset.saturating_add(data.len() as i64);
        }
        cx.sink.event(Event::FileData {
            is_orig,
            entity: self.id,
            data,
            size,
            offset,
        });
    }
}

/// One request or reply.
pub struct Message {
    pub is_orig: bool,
    pub finished: bool,
    top: Entity,
    child: Option<Entity>,
    body_length: u64,
    content_gap_length: u64,
    header_length: u64,
    /// The decompressor of an earlier body, kept for the next compressed one.
    spare_zip: Option<Box<Inflater>>,
}

impl Message {
    /// `HTTP_Message`'s constructor: the top-level entity begins.
    pub fn new(is_orig: bool, expect: Expect, init_header_length: u64, cx: &mut Cx) -> Self {
        let top = Entity::new(0, false, expect, cx.s);
        cx.sink.event(Event::BeginEntity { is_orig });
        Message {
            is_orig,
            finished: false,
            top,
            child: None,
            body_length: 0,
            content_gap_length: 0,
            header_length: init_header_length,
            spare_zip: None,
        }
    }

    /// Takes over the header buffers of a message that is over, so that the next message of
    /// the direction reuses their allocations.
    pub fn reuse(&mut self, old: Message) {
        let mut headers = old.top.headers;
        headers.clear();
        self.top.headers = headers;
        self.spare_zip = old.spare_zip.or(old.top.zip);
    }

    /// A line (`crlf`: it ended with a line terminator) or plain bytes of this message
    /// (`HTTP_Entity::Deliver` of the top-level entity).
    pub fn deliver(&mut self, data: &[u8], crlf: bool, cx: &mut Cx) {
        if self.top.end_of_data {
            return;
        }
        let is_orig = self.is_orig;
        if self.top.in_header {
            if !crlf {
                cx.weird("http_no_crlf_in_header_list", b"");
            }
            self.top.header_length += data.len() as u64;
            if self.top.header_line(data, is_orig, cx) {
                self.all_headers(cx);
            }
            return;
        }
        let crlf_len = if crlf { 2 } else { 0 };
        if self.top.content_type != ContentType::Other {
            self.deliver_body(data, crlf, cx);
            if self.top.content_length > 0 {
                self.top.expect_data_length -= data.len() as i64 + crlf_len;
                if self.top.expect_data_length <= 0 {
                    cx.link.plain = 0;
                    self.end_top(cx);
                }
            }
            return;
        }
        match self.top.chunk {
            Chunk::NonChunked => {}
            Chunk::ExpectSize => {
                let size = atoi(data, 16).unwrap_or_else(|| {
                    cx.weird("HTTP_bad_chunk_size", data);
                    0
                });
                if size > 0 {
                    self.top.chunk = Chunk::Data;
                    self.top.expect_data_length = size;
                    cx.link.plain = size as u64;
                } else {
                    // The last chunk: trailer headers follow.
                    self.top.in_header = true;
                    self.top.chunk = Chunk::Trailer;
                }
                return;
            }
            Chunk::Data => {
                self.top.expect_data_length -= data.len() as i64;
                if self.top.expect_data_length <= 0 {
                    cx.link.plain = 0;
                    self.top.chunk = Chunk::DataCrlf;
                }
                self.deliver_body(data, false, cx);
                return;
            }
            Chunk::DataCrlf => {
                // Data before the CRLF would be "inaccurate chunk size" (an http_event).
                self.top.chunk = Chunk::ExpectSize;
                return;
            }
            Chunk::Before | Chunk::Trailer | Chunk::Nothing => return,
        }
        if self.top.content_length >= 0 {
            self.deliver_body(data, false, cx);
            self.top.expect_data_length -= data.len() as i64;
            if self.top.expect_data_length <= 0 {
                cx.link.plain = 0;
                cx.link.set_delivery(-1);
                self.end_top(cx);
            }
            return;
        }
        self.deliver_body(data, crlf, cx);
    }

    /// `HTTP_Entity::SubmitAllHeaders` of the top-level entity: how the body is framed.
    fn all_headers(&mut self, cx: &mut Cx) {
        let is_orig = self.is_orig;
        let e = &mut self.top;
        if e.content_length >= 0 {
            cx.link.set_delivery(e.content_length);
        }
        if e.chunk == Chunk::Trailer {
            e.chunk = Chunk::Nothing;
            self.end_top(cx);
            return;
        }
        cx.sink.event(Event::AllHeaders {
            is_orig,
            headers: &e.headers,
        });
        if e.encoding == Encoding::Compressed && e.zip.is_none() {
            e.zip = Some(match self.spare_zip.take() {
                Some(mut zip) => {
                    zip.restart();
                    zip
                }
                None => Box::new(Inflater::new()),
            });
        }
        if e.expect == Expect::NotExpected {
            self.end_top(cx);
            return;
        }
        if e.content_type != ContentType::Other {
            if e.chunk != Chunk::NonChunked {
                cx.weird("HTTP_chunked_transfer_for_multipart_message", b"");
            }
            if e.content_length > 0 {
                e.expect_data_length = e.content_length;
                cx.link.set_delivery(e.content_length);
            } else if e.content_length == 0 {
                self.end_top(cx);
            }
        } else if e.chunk != Chunk::NonChunked {
            e.chunk = Chunk::ExpectSize;
        } else if e.content_length > 0 {
            e.expect_data_length = e.content_length;
            cx.link.plain = e.content_length as u64;
        } else if e.content_length == 0 {
            self.end_top(cx);
        } else if cx.s.connection_close || e.encoding == Encoding::Compressed {
            e.expect_data_length = UNTIL_CLOSE as i64;
            cx.link.plain = UNTIL_CLOSE;
        } else if e.expect != Expect::Expected {
            self.end_top(cx);
        }
        // MIME's BeginBody: a message/* body holds an entity of its own.
        if self.top.content_type == ContentType::Message && !self.top.end_of_data {
            self.begin_child(false, cx);
        }
    }

    /// `DeliverBody`: decompression, then `DeliverBodyClear`.
    fn deliver_body(&mut self, data: &[u8], crlf: bool, cx: &mut Cx) {
        if let Some(mut zip) = self.top.zip.take() {
            let failed =
                zip.feed(data, &mut |out| self.deliver_clear(out, false, cx)) == Outcome::Failed;
            if failed {
                cx.weird("inflate_failed", b"");
            }
            self.top.zip = Some(zip);
        } else {
            self.deliver_clear(data, crlf, cx);
        }
    }

    /// `DeliverBodyClear` of the top-level entity, then its MIME body line processing.
    fn deliver_clear(&mut self, data: &[u8], crlf: bool, cx: &mut Cx) {
        self.top.body_length += data.len() as u64 + if crlf { 2 } else { 0 };
        let is_orig = self.is_orig;
        match self.top.content_type {
            ContentType::Other => self.top.data_line(data, crlf, is_orig, cx),
            ContentType::Message => self.child_line(data, crlf, cx),
            ContentType::Multipart => {
                let boundary = self.top.boundary.as_deref().unwrap_or(b"");
                match mime::boundary_delimiter(data, boundary) {
                    Some(false) => {
                        self.end_child(cx);
                        if !self.top.end_of_data {
                            self.begin_child(true, cx);
                        }
                    }
                    Some(true) => {
                        self.end_child(cx);
                        self.end_top(cx);
                    }
                    // Data before the first delimiter (the preamble) is ignored.
                    None => self.child_line(data, crlf, cx),
                }
            }
        }
    }

    /// A child entity begins: a multipart part, or the message inside a `message/*` body.
    fn begin_child(&mut self, in_multipart: bool, cx: &mut Cx) {
        self.child = Some(Entity::new(1, in_multipart, Expect::Expected, cx.s));
        cx.sink.event(Event::BeginEntity {
            is_orig: self.is_orig,
        });
    }

    /// A line of the current child entity: its header, then its body.
    fn child_line(&mut self, data: &[u8], crlf: bool, cx: &mut Cx) {
        let is_orig = self.is_orig;
        let Some(child) = &mut self.child else {
            return;
        };
        if child.end_of_data {
            return;
        }
        if child.in_header {
            child.header_length += data.len() as u64;
            if child.header_line(data, is_orig, cx) {
                if child.in_multipart {
                    // The part's body: only CRLF ends its lines.
                    cx.link.crlf_only = Some(true);
                }
                cx.sink.event(Event::AllHeaders {
                    is_orig,
                    headers: &child.headers,
                });
            }
            return;
        }
        child.body_length += data.len() as u64 + if crlf { 2 } else { 0 };
        child.data_line(data, crlf, is_orig, cx);
    }

    /// Ends the current multipart part (`EndChildEntity`).
    fn end_child(&mut self, cx: &mut Cx) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let is_orig = self.is_orig;
        child.end_of_data = true;
        if child.in_header {
            child.finish_header(is_orig, cx);
            child.in_header = false;
            cx.sink.event(Event::AllHeaders {
                is_orig,
                headers: &child.headers,
            });
        }
        cx.sink.event(Event::EndEntity { is_orig });
        if child.in_multipart {
            cx.link.crlf_only = Some(false);
        }
        if is_orig || cx.s.reply_code != 206 {
            cx.sink.event(Event::FileEnd {
                is_orig,
                entity: child.id,
            });
        }
    }

    /// The top-level entity ends (`HTTP_Entity::EndOfData` + `EndEntity`), which ends the
    /// message.
    fn end_top(&mut self, cx: &mut Cx) {
        if self.top.end_of_data {
            return;
        }
        let is_orig = self.is_orig;
        if let Some(mut zip) = self.top.zip.take() {
            zip.finish(&mut |out| self.deliver_clear(out, false, cx));
            self.spare_zip = Some(zip);
        }
        self.top.end_of_data = true;
        if self.top.in_header {
            self.top.finish_header(is_orig, cx);
            self.top.in_header = false;
            cx.sink.event(Event::AllHeaders {
                is_orig,
                headers: &self.top.headers,
            });
        } else {
            self.end_child(cx);
        }
        self.body_length = self.body_length.saturating_add(self.top.body_length);
        self.header_length += self.top.header_length;
        cx.sink.event(Event::EndEntity { is_orig });
        self.done(false, "message ends normally", cx);
    }

    /// `HTTP_Message::Done`: the message is over (normally or interrupted).
    pub fn done(&mut self, interrupted: bool, finish_msg: &'static str, cx: &mut Cx) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.end_top(cx);
        if self.is_orig || cx.s.reply_code != 206 {
            cx.sink.event(Event::FileEnd {
                is_orig: self.is_orig,
                entity: self.top.id,
            });
        }
        cx.sink.event(Event::MessageDone {
            is_orig: self.is_orig,
            stat: MessageStat {
                interrupted,
                finish_msg,
                body_length: self.body_length,
                content_gap_length: self.content_gap_length,
                header_length: self.header_length,
            },
        });
    }

    /// `len` bytes were never seen. Returns true when they fall inside a body of known length,
    /// where parsing can go on (`HTTP_Message::Undelivered`).
    pub fn undelivered(&mut self, len: u64, cx: &mut Cx) -> bool {
        let is_orig = self.is_orig;
        let in_child = self.child.is_some();
        let e = match self.child.as_mut() {
            Some(c) => c,
            None => &mut self.top,
        };
        if (e.end_of_data && e.in_header) || e.body_length == 0 {
            return false;
        }
        let Ok(ilen) = i64::try_from(len) else {
            return false;
        };
        cx.sink.event(Event::FileGap {
            is_orig,
            entity: e.id,
            len,
        });
        if e.is_partial {
            e.offset = e.offset.saturating_add(ilen);
        }
        let chunked = e.chunk == Chunk::Data;
        let fits = if chunked {
            e.expect_data_length >= ilen
        } else {
            e.chunk == Chunk::NonChunked && e.content_length >= 0 && e.expect_data_length >= ilen
        };
        if !fits {
            return false;
        }
        e.body_length = e.body_length.saturating_add(len);
        e.expect_data_length -= ilen;
        cx.link.plain = e.expect_data_length.max(0) as u64;
        let ended = e.expect_data_length <= 0;
        if chunked && ended {
            e.chunk = Chunk::DataCrlf;
        }
        self.content_gap_length = self.content_gap_length.saturating_add(len);
        if !chunked && ended && !in_child {
            self.end_top(cx);
        }
        true
    }
}
