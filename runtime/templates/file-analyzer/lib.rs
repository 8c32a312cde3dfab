//! {{name}}: a file analyzer. This starting point counts the bytes of each file and reports
//! nothing yet.
//!
//! The host creates one `FileCounter` per file (an HTTP body, an SMTP attachment) and feeds it
//! the content in order. Report what you find with `file_info::set_mime_type` and
//! `file_info::set_hash`, log rows with `sandpiper_sdk::log` or raise events with
//! `sandpiper_sdk::events`.

use sandpiper_sdk::{FileAnalyzer, FileMeta};

/// How much of the start of a file is looked at (where MIME types are sniffed).
const HEAD_LEN: u64 = 4096;

/// The state of one file.
struct FileCounter {
    /// Bytes seen so far (gaps not included).
    bytes: u64,
}

impl FileAnalyzer for FileCounter {
    fn new(_meta: FileMeta) -> Self {
        // `meta` says where the file comes from: fuid, source protocol, connections,
        // direction, MIME hint and total size if the protocol announced them.
        FileCounter { bytes: 0 }
    }

    fn data(&mut self, _offset: u64, bytes: &[u8]) {
        if self.bytes < HEAD_LEN {
            // The start of the file passes here: the place to sniff its type and report it
            // with `sandpiper_sdk::file_info::set_mime_type("...")`.
        }
        self.bytes += bytes.len() as u64;
    }

    fn gap(&mut self, _offset: u64, _len: u64) {
        // `len` bytes at `offset` are missing: a hash over the whole file is no longer possible.
    }

    fn end(&mut self) {
        // The file is complete (or the transfer ended): report hashes and results here, e.g.
        // `sandpiper_sdk::file_info::set_hash("sha256", &hex_digest)`.
    }
}

sandpiper_sdk::export_file_analyzer!(FileCounter);
