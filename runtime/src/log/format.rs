//! Formats: what turns one stream's rows into the bytes of its file. The host has two built
//! in (Zeek TSV and JSON lines, which can fail only on I/O); log-writer components are formats
//! too (`crate::wasm::writers`), and may fail in any way a guest can.

use std::io;

use super::file::LogFile;
use super::offload::Offloaded;
use super::{json, tsv, zeek_timestamp_now, Schema, Value};

/// How a format failed.
#[derive(Debug)]
pub enum Fault {
    /// Writing the file failed (disk full, permissions): the stream stops and the run
    /// reports it, as for the host's own logs.
    Io(io::Error),
    /// A writer component failed (trap, fuel, time, memory, a host limit) or refused rows:
    /// the stream falls back to a built-in format. `cause` as in analyzer_failed.log.
    Writer { cause: &'static str, reason: String },
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

/// One stream's formatter, writing into the file the host opened for it.
pub trait Format: Send {
    /// The writer's name as configured ("tsv", "json", or a log-writer module's name).
    fn name(&self) -> &str;
    /// Starts a file (the first one, or the next after rotation): TSV's `#`-header.
    fn begin_file(&mut self, out: &mut LogFile) -> Result<(), Fault>;
    fn write_row(&mut self, out: &mut LogFile, row: &[Value<'_>]) -> Result<(), Fault>;
    /// Takes `count` rows in the WIT `packed-rows` encoding (checked against the schema)
    /// whole, if the format can: the built-in ones do. `None` if it cannot: the rows then
    /// come one by one through `write_row`.
    fn write_packed(
        &mut self,
        _out: &mut LogFile,
        _count: u32,
        _bytes: &[u8],
    ) -> Option<Result<(), Fault>> {
        None
    }
    /// Moves rows a format batches into the file.
    fn flush(&mut self, out: &mut LogFile) -> Result<(), Fault>;
    /// Ends the current file before it is rotated (`last` false) or closed for good (`last`
    /// true): TSV's `#close` footer.
    fn end_file(&mut self, out: &mut LogFile, last: bool) -> Result<(), Fault>;
    /// After a `Writer` fault: hands over the rows this format accepted that are not in the
    /// file, oldest first, so a fallback writes them (none for the built-in formats).
    fn replay(&mut self, _f: &mut dyn FnMut(&[Value<'_>]) -> io::Result<()>) -> io::Result<()> {
        Ok(())
    }
}

/// The built-in formats by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Tsv,
    Json,
}

impl Builtin {
    /// The format formatting on the log-writer thread ([`super::offload`]): what a
    /// stream's filter gets.
    pub fn create_offloaded(self, schema: &Schema) -> Box<dyn Format> {
        Box::new(Offloaded::new(self, schema))
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        match name {
            "tsv" => Some(Builtin::Tsv),
            "json" => Some(Builtin::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Tsv => "tsv",
            Builtin::Json => "json",
        }
    }

    /// The format formatting on the caller's thread (reporter.log, fallbacks: rows that
    /// must land at once).
    pub fn create(self, schema: &Schema) -> Box<dyn Format> {
        match self {
            Builtin::Tsv => Box::new(NativeTsv {
                schema: schema.clone(),
            }),
            Builtin::Json => Box::new(NativeJson {
                rows: json::JsonRows::new(schema),
            }),
        }
    }
}

/// Zeek's tab-separated format, written by the host.
pub struct NativeTsv {
    schema: Schema,
}

impl Format for NativeTsv {
    fn name(&self) -> &str {
        "tsv"
    }

    fn begin_file(&mut self, out: &mut LogFile) -> Result<(), Fault> {
        Ok(tsv::write_header(out, &self.schema, &zeek_timestamp_now())?)
    }

    fn write_row(&mut self, out: &mut LogFile, row: &[Value<'_>]) -> Result<(), Fault> {
        Ok(tsv::write_row(out, row)?)
    }

    fn flush(&mut self, _out: &mut LogFile) -> Result<(), Fault> {
        Ok(())
    }

    fn end_file(&mut self, out: &mut LogFile, _last: bool) -> Result<(), Fault> {
        Ok(tsv::write_footer(out, &zeek_timestamp_now())?)
    }
}

/// JSON lines with Zeek's field names, written by the host.
pub struct NativeJson {
    rows: json::JsonRows,
}

impl Format for NativeJson {
    fn name(&self) -> &str {
        "json"
    }

    fn begin_file(&mut self, _out: &mut LogFile) -> Result<(), Fault> {
        Ok(())
    }

    fn write_row(&mut self, out: &mut LogFile, row: &[Value<'_>]) -> Result<(), Fault> {
        Ok(self.rows.write_row(out, row)?)
    }

    fn flush(&mut self, _out: &mut LogFile) -> Result<(), Fault> {
        Ok(())
    }

    fn end_file(&mut self, _out: &mut LogFile, _last: bool) -> Result<(), Fault> {
        Ok(())
    }
}
