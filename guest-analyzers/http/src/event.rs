//! What the protocol state machine ([`crate::state`]) reports, in the order Zeek's HTTP analyzer
//! raises the same things. The consumer ([`crate::script`]) is the port of Zeek's HTTP scripts;
//! it handles each event as it comes, so everything it sees at a given event (the current
//! transaction, the open file) is what Zeek's scripts see at that point.

use crate::parser::Version;

/// The header lines of one entity, in order, stored in one buffer (names and values are
/// ranges of it) so that a message's headers cost no allocation per header.
#[derive(Clone, Debug, Default)]
pub struct Headers {
    buf: Vec<u8>,
    /// Start and end of the name, start and end of the value, in `buf`.
    spans: Vec<[u32; 4]>,
}

impl Headers {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The headers as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|&[a, b, c, d]| {
            (
                &self.buf[a as usize..b as usize],
                &self.buf[c as usize..d as usize],
            )
        })
    }

    /// Forgets the headers, keeping the allocations.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }

    /// Appends a header.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let a = self.buf.len();
        self.buf.extend_from_slice(name);
        let b = self.buf.len();
        self.buf.extend_from_slice(value);
        let c = self.buf.len();
        self.spans.push([at(a), at(b), at(b), at(c)]);
    }

    /// Bytes of the buffer past `len` are dropped (a header being assembled was not kept).
    pub(crate) fn truncate_buf(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub(crate) fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Records a header whose name and value already are at these ranges of the buffer.
    pub(crate) fn push_span(&mut self, name: (usize, usize), value: (usize, usize)) {
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.spans
            .push([at(name.0), at(name.1), at(value.0), at(value.1)]);
    }
}

/// Zeek's `http_message_stat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageStat {
    pub interrupted: bool,
    pub finish_msg: &'static str,
    pub body_length: u64,
    pub content_gap_length: u64,
    pub header_length: u64,
}

/// One event; byte fields borrow the analyzer's buffers or the delivered data.
#[derive(Debug)]
pub enum Event<'a> {
    /// Zeek's `http_request`.
    Request {
        method: &'a [u8],
        original_uri: &'a [u8],
        unescaped_uri: &'a [u8],
        version: Version,
    },
    /// Zeek's `http_reply`; a missing reason phrase is `None` (Zeek passes "<empty>").
    Reply {
        version: Version,
        code: u16,
        reason: Option<&'a [u8]>,
    },
    /// Zeek's `http_header`, also for headers of multipart parts and chunked trailers.
    Header {
        is_orig: bool,
        name: &'a [u8],
        value: &'a [u8],
    },
    /// Zeek's `http_all_headers` for one entity.
    AllHeaders {
        is_orig: bool,
        headers: &'a Headers,
    },
    /// Zeek's `http_begin_entity` / `http_end_entity`.
    BeginEntity {
        is_orig: bool,
    },
    EndEntity {
        is_orig: bool,
    },
    /// Zeek's `http_message_done`.
    MessageDone {
        is_orig: bool,
        stat: MessageStat,
    },
    /// Body bytes of one entity for the files framework (decoded: de-chunked, decompressed).
    /// `entity` identifies the entity; `size` is the total size if known; `offset` is where a
    /// 206 partial body starts in the whole file.
    FileData {
        is_orig: bool,
        entity: u64,
        data: &'a [u8],
        size: Option<u64>,
        offset: Option<u64>,
    },
    /// `len` body bytes of the entity were never seen.
    FileGap {
        is_orig: bool,
        entity: u64,
        len: u64,
    },
    /// The entity's file is complete.
    FileEnd {
        is_orig: bool,
        entity: u64,
    },
    /// A weird (Zeek's `Weird(name, addl)`).
    Weird {
        name: &'static str,
        addl: &'a [u8],
    },
    /// The traffic is HTTP (Zeek's `AnalyzerConfirmation`).
    Confirm,
    /// The traffic is not HTTP (Zeek's `AnalyzerViolation`): the host detaches the analyzer.
    Violation {
        reason: &'static str,
        data: &'a [u8],
    },
}

/// Receives the events of one connection.
pub trait Sink {
    fn event(&mut self, ev: Event<'_>);
}

/// A sink that keeps owned copies of what it is given: for tests and for the fuzz target.
#[derive(Default, Debug)]
pub struct Recorder {
    pub events: Vec<String>,
}

impl Sink for Recorder {
    fn event(&mut self, ev: Event<'_>) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let line = match ev {
            Event::Request {
                method,
                original_uri,
                version,
                ..
            } => format!(
                "request {} {} {}",
                s(method),
                s(original_uri),
                version.text()
            ),
            Event::Reply {
                version,
                code,
                reason,
            } => format!(
                "reply {} {} {}",
                version.text(),
                code,
                reason.map_or("<empty>".into(), s)
            ),
            Event::Header {
                is_orig,
                name,
                value,
            } => format!("header {} {}: {}", is_orig, s(name), s(value)),
            Event::AllHeaders { is_orig, headers } => {
                format!("all_headers {} {}", is_orig, headers.len())
            }
            Event::BeginEntity { is_orig } => format!("begin_entity {is_orig}"),
            Event::EndEntity { is_orig } => format!("end_entity {is_orig}"),
            Event::MessageDone { is_orig, stat } => format!(
                "done {} body={} interrupted={} gap={}",
                is_orig, stat.body_length, stat.interrupted, stat.content_gap_length
            ),
            Event::FileData { is_orig, data, .. } => format!("data {} {}", is_orig, data.len()),
            Event::FileGap { is_orig, len, .. } => format!("gap {is_orig} {len}"),
            Event::FileEnd { is_orig, .. } => format!("file_end {is_orig}"),
            Event::Weird { name, addl } => format!("weird {} {}", name, s(addl)),
            Event::Confirm => "confirm".into(),
            Event::Violation { reason, .. } => format!("violation {reason}"),
        };
        // Consecutive body chunks collapse into one line so that tests do not depend on how
        // the stream was split into deliveries.
        if let (Some(last), Some(n)) = (self.events.last_mut(), data_len(&line)) {
            if let Some(prev) = data_len(last) {
                if last.rsplit_once(' ').map(|p| p.0) == line.rsplit_once(' ').map(|p| p.0) {
                    *last = format!("{} {}", line.rsplit_once(' ').map_or("", |p| p.0), prev + n);
                    return;
                }
            }
        }
        self.events.push(line);
    }
}

fn data_len(line: &str) -> Option<u64> {
    line.strip_prefix("data ")?.rsplit_once(' ')?.1.parse().ok()
}
