//! The per-connection HTTP state machine: request and status lines, which message each byte
//! belongs to, pipelined requests waiting for replies, HTTP/0.9, CONNECT tunnels, upgrades,
//! content gaps and the ends of the two directions. A port of Zeek's `HTTP_Analyzer`
//! (HTTP.cc) and of the line splitting its `ContentLine_Analyzer` does; the messages
//! themselves are in [`crate::message`]. It reports through an [`event::Sink`](crate::event::Sink)
//! and never touches the host.

use std::collections::VecDeque;

use crate::event::{Event, Sink};
use crate::lines::{Found, LineReader};
use crate::message::{Cx, Expect, Link, Message, Shared, MAX_HEADER_BYTES};
use crate::parser::{
    parse_reply_line, parse_request_line, unescape_uri, ReplyLineError, RequestVerdict, Version,
    VersionSeen,
};

/// Longest line kept whole; a longer one is cut (Zeek's `contentline_size_exceeded`).
const MAX_LINE: usize = MAX_HEADER_BYTES as usize + 1024;

/// Methods of requests waiting for their reply that are remembered (for HEAD and CONNECT);
/// beyond this the oldest are forgotten.
const MAX_UNANSWERED: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestState {
    Line,
    Message,
    Nothing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyState {
    Line,
    Message,
    Nothing,
    /// The request was HTTP/0.9: the reply is raw bytes up to the end of the connection.
    Http09,
}

/// One direction of the byte stream.
struct Dir {
    lines: LineReader,
    link: Link,
    /// Parsing of this direction stopped (a content gap outside a body, an oversized header).
    stopped: bool,
    /// The LF that may follow belongs to the line that set the delivery size.
    lf_of_header: bool,
}

impl Dir {
    fn new() -> Self {
        Dir {
            lines: LineReader::new(MAX_LINE),
            link: Link::default(),
            stopped: false,
            lf_of_header: false,
        }
    }
}

/// The HTTP analysis of one connection.
pub struct Http {
    s: Shared,
    request: Option<Message>,
    reply: Option<Message>,
    orig: Dir,
    resp: Dir,
    request_state: RequestState,
    reply_state: ReplyState,
    num_requests: u64,
    /// Requests waiting for their reply: whether each was a HEAD request (Zeek keeps the
    /// method; only this test of it is ever made).
    unanswered: VecDeque<bool>,
    connect_request: bool,
    /// A 2xx reply to CONNECT or a 101 upgrade: the rest is another protocol.
    tunnel: bool,
    /// A violation was reported: the host detaches the analyzer.
    dead: bool,
    /// The traffic was confirmed as HTTP (a request, or a reply to one).
    confirmed: bool,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// Zeek compares methods with `strncasecmp(method, "HEAD", method_len)`: a prefix test.
fn method_is(method: &[u8], name: &[u8]) -> bool {
    !method.is_empty()
        && method.len() <= name.len()
        && method.eq_ignore_ascii_case(&name[..method.len()])
}

impl Http {
    pub fn new() -> Self {
        Http {
            s: Shared::default(),
            request: None,
            reply: None,
            orig: Dir::new(),
            resp: Dir::new(),
            request_state: RequestState::Line,
            reply_state: ReplyState::Line,
            num_requests: 0,
            unanswered: VecDeque::new(),
            connect_request: false,
            tunnel: false,
            dead: false,
            confirmed: false,
        }
    }

    /// Whether the analyzer still looks at data (not detached, not a tunnel).
    pub fn active(&self) -> bool {
        !self.dead && !self.tunnel
    }

    /// The next bytes of one direction.
    pub fn deliver(&mut self, is_orig: bool, data: &[u8], sink: &mut dyn Sink) {
        if !self.active() || data.is_empty() {
            return;
        }
        if !is_orig && self.reply_state == ReplyState::Http09 {
            self.http09_reply(data, sink);
            return;
        }
        if self.dir(is_orig).stopped {
            return;
        }
        self.run(is_orig, data, sink);
    }

    fn dir(&mut self, is_orig: bool) -> &mut Dir {
        if is_orig {
            &mut self.orig
        } else {
            &mut self.resp
        }
    }

    /// Splits bytes into lines or plain body bytes and hands them on.
    fn run(&mut self, is_orig: bool, mut data: &[u8], sink: &mut dyn Sink) {
        while !data.is_empty() {
            if !self.active() || (!is_orig && self.reply_state == ReplyState::Http09) {
                return;
            }
            let d = self.dir(is_orig);
            if d.stopped {
                return;
            }
            // The LF of a CRLF whose CR ended the previous line belongs to that line: it counts
            // towards a body's delivery size unless that line ended the header block.
            let n = d.lines.swallow_lf(data);
            let lf_of_header = std::mem::take(&mut d.lf_of_header);
            data = &data[n..];
            if n > 0 && !lf_of_header {
                self.count_delivery(is_orig, n, sink);
            }
            if data.is_empty() {
                break;
            }
            let before = data.len();
            let d = self.dir(is_orig);
            if d.link.plain > 0 {
                let take = usize::try_from(d.link.plain)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                d.link.plain -= take as u64;
                d.lines.clear_cr();
                self.plain(is_orig, &data[..take], sink);
                data = &data[take..];
            } else {
                let (n, found) = d.lines.feed(data);
                let rest = data.len() - n;
                match found {
                    Found::InInput(a, b) => self.line(is_orig, &data[a..b], rest, sink),
                    Found::Buffered | Found::Partial => {
                        if found == Found::Partial {
                            sink.event(Event::Weird {
                                name: "contentline_size_exceeded",
                                addl: b"",
                            });
                        }
                        let buf = self.dir(is_orig).lines.take();
                        self.line(is_orig, &buf, rest, sink);
                        self.dir(is_orig).lines.restore(buf);
                    }
                    Found::Nothing => {}
                }
                data = &data[n..];
            }
            self.count_delivery(is_orig, before - data.len(), sink);
            self.after_step(is_orig, sink);
        }
    }

    /// Counts consumed bytes against the delivery size (see [`Link::delivery`]).
    fn count_delivery(&mut self, is_orig: bool, consumed: usize, sink: &mut dyn Sink) {
        let d = self.dir(is_orig);
        let link = &mut d.link;
        if std::mem::take(&mut link.delivery_set) {
            // Set by the line just ended; if a CR ended it, the LF to come is still its own.
            d.lf_of_header = d.lines.after_cr();
        } else if link.delivery > 0 {
            link.delivery -= i64::try_from(consumed).unwrap_or(i64::MAX);
            if link.delivery < 0 {
                link.delivery = -1;
            }
        }
        if link.delivery != 0 {
            return;
        }
        link.delivery = -1;
        let d = self.dir(is_orig);
        if d.lines.has_partial() && !d.stopped {
            sink.event(Event::Weird {
                name: "line_terminated_without_CRLF",
                addl: b"",
            });
            self.run(is_orig, b"\r\n", sink);
        }
    }

    /// Applies what the message asked of the line splitter, and stops a direction whose header
    /// block is too large.
    fn after_step(&mut self, is_orig: bool, sink: &mut dyn Sink) {
        let d = self.dir(is_orig);
        if let Some(on) = d.link.crlf_only.take() {
            d.lines.set_crlf_only(on);
        }
        if std::mem::take(&mut d.link.header_overflow) {
            sink.event(Event::Weird {
                name: "HTTP_header_block_too_large",
                addl: b"",
            });
            self.stop(is_orig, "message interrupted by an oversized header", sink);
        }
        self.settle(sink);
    }

    /// Stops parsing one direction, as Zeek does after a content gap outside a body. Requests
    /// stop the replies too: whether a reply has a body can depend on its request.
    fn stop(&mut self, is_orig: bool, why: &'static str, sink: &mut dyn Sink) {
        if is_orig {
            self.request_made(true, why, sink);
        }
        self.reply_made(true, why, sink);
        self.dir(is_orig).stopped = true;
    }

    /// Bytes of a body delivered as they are (Zeek's plain delivery).
    fn plain(&mut self, is_orig: bool, data: &[u8], sink: &mut dyn Sink) {
        let (msg, d) = if is_orig {
            (&mut self.request, &mut self.orig)
        } else {
            (&mut self.reply, &mut self.resp)
        };
        match msg {
            Some(m) => {
                let mut cx = Cx {
                    sink,
                    link: &mut d.link,
                    s: &mut self.s,
                };
                m.deliver(data, false, &mut cx);
            }
            None => sink.event(Event::Weird {
                name: if is_orig {
                    "unexpected_client_HTTP_data"
                } else {
                    "unexpected_server_HTTP_data"
                },
                addl: b"",
            }),
        }
    }

    /// Delivers a line to the current message of a direction.
    fn deliver_to_message(&mut self, is_orig: bool, data: &[u8], crlf: bool, sink: &mut dyn Sink) {
        let (msg, d) = if is_orig {
            (&mut self.request, &mut self.orig)
        } else {
            (&mut self.reply, &mut self.resp)
        };
        if let Some(m) = msg {
            let mut cx = Cx {
                sink,
                link: &mut d.link,
                s: &mut self.s,
            };
            m.deliver(data, crlf, &mut cx);
        }
    }

    /// A finished message ends its request or reply (Zeek's `HTTP_MessageDone`).
    fn settle(&mut self, sink: &mut dyn Sink) {
        if self.s.request_ongoing && self.request.as_ref().is_some_and(|m| m.finished) {
            self.request_made(false, "message ends normally", sink);
        }
        if self.s.reply_ongoing && self.reply.as_ref().is_some_and(|m| m.finished) {
            self.reply_made(false, "message ends normally", sink);
        }
    }

    /// One complete line (`rest`: bytes of the delivery after it).
    fn line(&mut self, is_orig: bool, line: &[u8], rest: usize, sink: &mut dyn Sink) {
        if is_orig {
            match self.request_state {
                RequestState::Line => self.request_line(line, sink),
                RequestState::Message => self.deliver_to_message(true, line, true, sink),
                RequestState::Nothing => {}
            }
            return;
        }
        match self.reply_state {
            ReplyState::Line => self.reply_line(line, sink),
            ReplyState::Message => {
                self.deliver_to_message(false, line, true, sink);
                if self.connect_request && line.is_empty() {
                    // The end of a successful CONNECT reply's header: a tunnel from here on.
                    if rest > 0 {
                        let addl = rest.to_string();
                        sink.event(Event::Weird {
                            name: "protocol_data_with_HTTP_CONNECT_reply",
                            addl: addl.as_bytes(),
                        });
                    }
                    self.tunnel = true;
                }
            }
            ReplyState::Nothing | ReplyState::Http09 => {}
        }
    }

    fn confirm(&mut self, sink: &mut dyn Sink) {
        self.confirmed = true;
        sink.event(Event::Confirm);
    }

    /// Data that is not HTTP. Zeek removes a confirmed analyzer on a violation, but keeps an
    /// unconfirmed one running (the corpus shows replies to garbage requests logged): so the
    /// host is told, and detaches the analyzer, once it was confirmed or once neither direction
    /// can be parsed any more.
    fn violation(&mut self, reason: &'static str, data: &[u8], sink: &mut dyn Sink) {
        let both_stopped = self.request_state == RequestState::Nothing
            && matches!(self.reply_state, ReplyState::Nothing);
        if self.confirmed || both_stopped {
            sink.event(Event::Violation { reason, data });
            self.dead = true;
        }
    }

    /// Zeek's `SetVersion`: a change of version within a connection is a weird.
    fn set_version(&mut self, is_orig: bool, new: Version, sink: &mut dyn Sink) {
        let v = if is_orig {
            &mut self.s.request_version
        } else {
            &mut self.s.reply_version
        };
        if *v == Version::UNKNOWN {
            *v = new;
        } else if *v != new {
            sink.event(Event::Weird {
                name: "HTTP_version_mismatch",
                addl: b"",
            });
            *v = new;
        }
        if v.keeps_alive() {
            self.s.keep_alive = true;
        }
    }

    fn weird(sink: &mut dyn Sink, name: &'static str) {
        sink.event(Event::Weird { name, addl: b"" });
    }

    fn request_line(&mut self, line: &[u8], sink: &mut dyn Sink) {
        let r = parse_request_line(line);
        let mut unescaped = Vec::new();
        if let Some(seen) = r.version {
            for w in &r.weirds {
                Self::weird(sink, w);
            }
            match seen {
                VersionSeen::Http09 => self.set_version(true, Version::V09, sink),
                VersionSeen::Given(v) => {
                    self.set_version(true, v.unwrap_or(Version::UNKNOWN), sink)
                }
                VersionSeen::TooShort => {}
            }
            let (u, weirds) = unescape_uri(r.uri);
            for w in weirds {
                Self::weird(sink, w);
            }
            unescaped = u;
        }
        match r.verdict {
            RequestVerdict::Ok => {}
            verdict => {
                Self::weird(
                    sink,
                    if verdict == RequestVerdict::BadWithVersion {
                        "bad_HTTP_request_with_version"
                    } else {
                        "bad_HTTP_request"
                    },
                );
                let expected = self.num_requests == 0 || self.s.keep_alive;
                if !expected {
                    // Zeek's http_event "crud_trailing_HTTP_request": ignored.
                } else if line.is_empty() {
                    Self::weird(sink, "empty_http_request");
                } else {
                    self.request_state = RequestState::Nothing;
                    self.violation("not a http request line", line, sink);
                }
                return;
            }
        }
        self.num_requests += 1;
        if !self.s.keep_alive && self.num_requests > 1 {
            Self::weird(sink, "unexpected_multiple_HTTP_requests");
        }
        self.request_state = RequestState::Message;
        self.s.request_ongoing = true;
        if self.unanswered.len() >= MAX_UNANSWERED {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back(method_is(r.method, b"HEAD"));
        // HTTP_Request().
        self.confirm(sink);
        if method_is(r.method, b"CONNECT") {
            self.connect_request = true;
        }
        sink.event(Event::Request {
            method: r.method,
            original_uri: r.uri,
            unescaped_uri: &unescaped,
            version: self.s.request_version,
        });
        self.init_message(true, Expect::Maybe, line.len() as u64, sink);
        if self.s.request_version == Version::V09 {
            if r.method != b"GET" {
                sink.event(Event::Weird {
                    name: "invalid_http_09_request_method",
                    addl: r.method,
                });
            }
            if let Some(mut m) = self.reply.take() {
                Self::weird(sink, "http_09_reply_before_request");
                let mut cx = Cx {
                    sink: &mut *sink,
                    link: &mut self.resp.link,
                    s: &mut self.s,
                };
                m.done(false, "message ends normally", &mut cx);
                self.reply = Some(m);
                self.settle(sink);
                self.reply = None;
            }
            self.reply_state = ReplyState::Http09;
        }
    }

    fn reply_line(&mut self, line: &[u8], sink: &mut dyn Sink) {
        let (parsed, lowercase) = parse_reply_line(line);
        if lowercase {
            Self::weird(sink, "lowercase_HTTP_keyword");
        }
        let r = match parsed {
            Ok(r) => r,
            Err(e) => {
                if let ReplyLineError::NoCode(v) = e {
                    self.set_version(false, v.unwrap_or(Version::UNKNOWN), sink);
                }
                if !line.is_empty() {
                    self.reply_state = ReplyState::Nothing;
                    self.violation("not a http reply line", line, sink);
                }
                return;
            }
        };
        self.set_version(false, r.version.unwrap_or(Version::UNKNOWN), sink);
        self.s.reply_code = r.code;
        if !self.unanswered.is_empty() {
            self.confirm(sink);
        }
        self.reply_state = ReplyState::Message;
        self.s.reply_ongoing = true;
        sink.event(Event::Reply {
            version: self.s.reply_version,
            code: r.code,
            reason: r.reason,
        });
        if self.connect_request && r.code != 200 {
            self.connect_request = false;
        }
        let expect = self.expect_reply_body();
        self.init_message(false, expect, line.len() as u64, sink);
    }

    /// Zeek's `ExpectReplyMessageBody`: no body for HEAD, 1xx, 204 and 304.
    fn expect_reply_body(&self) -> Expect {
        if self.unanswered.front() == Some(&true) {
            return Expect::NotExpected;
        }
        let code = self.s.reply_code;
        if (100..200).contains(&code) || code == 204 || code == 304 {
            Expect::NotExpected
        } else {
            Expect::Expected
        }
    }

    /// Zeek's `InitHTTPMessage`: an unfinished previous message is dropped.
    fn init_message(
        &mut self,
        is_orig: bool,
        expect: Expect,
        header_len: u64,
        sink: &mut dyn Sink,
    ) {
        let (slot, d) = if is_orig {
            (&mut self.request, &mut self.orig)
        } else {
            (&mut self.reply, &mut self.resp)
        };
        if slot.as_ref().is_some_and(|m| !m.finished) {
            sink.event(Event::Weird {
                name: "HTTP_overlapping_messages",
                addl: b"",
            });
        }
        let mut cx = Cx {
            sink,
            link: &mut d.link,
            s: &mut self.s,
        };
        let old = slot.take();
        let mut m = Message::new(is_orig, expect, header_len, &mut cx);
        if let Some(old) = old {
            m.reuse(old);
        }
        *slot = Some(m);
    }

    /// The reply to an HTTP/0.9 request: no status line, every byte is body.
    fn http09_reply(&mut self, data: &[u8], sink: &mut dyn Sink) {
        if self.resp.stopped {
            return;
        }
        if self.reply.is_none() {
            self.set_version(false, Version::V09, sink);
            if self.unanswered.pop_front().is_some() {
                self.confirm(sink);
            }
            self.s.connection_close = true;
            self.s.reply_ongoing = true;
            sink.event(Event::Reply {
                version: self.s.reply_version,
                code: self.s.reply_code,
                reason: None,
            });
            let expect = self.expect_reply_body();
            self.init_message(false, expect, 0, sink);
            // An empty header block, then raw body bytes.
            self.deliver_to_message(false, b"", true, sink);
        }
        self.deliver_to_message(false, data, false, sink);
        self.resp.link.plain = 0;
        self.settle(sink);
    }

    /// Zeek's `RequestMade`.
    fn request_made(&mut self, interrupted: bool, why: &'static str, sink: &mut dyn Sink) {
        if !self.s.request_ongoing {
            return;
        }
        self.s.request_ongoing = false;
        if let Some(m) = &mut self.request {
            let mut cx = Cx {
                sink,
                link: &mut self.orig.link,
                s: &mut self.s,
            };
            m.done(interrupted, why, &mut cx);
        }
        self.request_state = if interrupted {
            RequestState::Nothing
        } else {
            RequestState::Line
        };
    }

    /// Zeek's `ReplyMade`.
    fn reply_made(&mut self, interrupted: bool, why: &'static str, sink: &mut dyn Sink) {
        if !self.s.reply_ongoing {
            return;
        }
        self.s.reply_ongoing = false;
        if let Some(m) = &mut self.reply {
            let mut cx = Cx {
                sink,
                link: &mut self.resp.link,
                s: &mut self.s,
            };
            m.done(interrupted, why, &mut cx);
        }
        let code = self.s.reply_code;
        // A 1xx reply is not the final reply to its request.
        if !(100..200).contains(&code) {
            self.unanswered.pop_front();
        }
        if code == 101
            && self.unanswered.len() == 1
            && self.s.upgrade_connection
            && !self.s.upgrade_protocol.is_empty()
        {
            // Switching protocols: the rest of the connection is not HTTP.
            self.tunnel = true;
        }
        self.s.reply_code = 0;
        self.s.upgrade_connection = false;
        self.s.upgrade_protocol.clear();
        if self.reply_state != ReplyState::Http09 {
            self.reply_state = if interrupted || self.tunnel {
                ReplyState::Nothing
            } else {
                ReplyState::Line
            };
        }
    }

    /// `len` bytes of one direction were never seen (Zeek's `Undelivered`).
    pub fn gap(&mut self, is_orig: bool, len: u64, sink: &mut dyn Sink) {
        if !self.active() || self.dir(is_orig).stopped {
            return;
        }
        let (msg, d) = if is_orig {
            (&mut self.request, &mut self.orig)
        } else {
            (&mut self.reply, &mut self.resp)
        };
        let fits = msg.as_mut().is_some_and(|m| {
            let mut cx = Cx {
                sink: &mut *sink,
                link: &mut d.link,
                s: &mut self.s,
            };
            m.undelivered(len, &mut cx)
        });
        if fits {
            self.settle(sink);
            return;
        }
        self.stop(is_orig, "message interrupted by a content gap", sink);
    }

    /// One direction ended (FIN or RST): an unterminated last line is completed, then the
    /// direction's message ends (Zeek's `EndpointEOF`).
    pub fn end_of_data(&mut self, is_orig: bool, sink: &mut dyn Sink) {
        if !self.active() {
            return;
        }
        let raw = !is_orig && self.reply_state == ReplyState::Http09;
        if !raw && self.dir(is_orig).lines.has_partial() {
            self.deliver(is_orig, b"\n", sink);
        }
        let why = "message ends as connection contents are completely delivered";
        if is_orig {
            self.request_made(false, why, sink);
        } else {
            self.reply_made(false, why, sink);
        }
    }

    /// The connection is over, or the analyzer is being detached (Zeek's `Done`).
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        let why = "message interrupted when connection done";
        self.request_made(true, why, sink);
        self.reply_made(true, why, sink);
    }
}
