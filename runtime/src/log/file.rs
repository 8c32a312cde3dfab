//! The files the logging framework owns: one per filter of a stream, buffered, rotated to
//! Zeek's names.
//!
//! A writer (native or component) only produces bytes; the host decides where they go. On
//! rotation the current file is renamed to Zeek's ASCII-writer name for a rotated log,
//! `<path>.<open time as %Y-%m-%d-%H-%M-%S>.log` (`Log::rotation_format_func` with the default
//! ASCII postprocessor), where the open time is the network time the file was opened at, in
//! local time; then a fresh `<path>.log` is opened.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes buffered per file before a write to the operating system.
const BUFFER: usize = 256 * 1024;

pub struct LogFile {
    dir: PathBuf,
    /// The file name without `.log` (a filter's path: "conn", "conn-json").
    base: String,
    out: BufWriter<File>,
    /// Network time (µs) the current file was opened at: its rotated name.
    opened_us: i64,
    /// Bytes written to the current file so far.
    written: u64,
}

impl LogFile {
    /// Creates (truncates) `<dir>/<base>.log`.
    pub fn create(dir: &Path, base: &str, now_us: i64) -> io::Result<LogFile> {
        let path = dir.join(format!("{base}.log"));
        let out = open(&path)?;
        Ok(LogFile {
            dir: dir.to_path_buf(),
            base: base.to_string(),
            out,
            opened_us: now_us,
            written: 0,
        })
    }

    /// The current file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.base))
    }

    /// Bytes written to the current file (0: nothing yet, not even a header).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Renames the current file to its rotated name and opens a new, empty `<base>.log`
    /// opened at `now_us`. Returns the rotated file's path. An existing file of the same
    /// name (two rotations within a second) is not overwritten: `-1`, `-2`, ... is added.
    pub fn rotate(&mut self, now_us: i64) -> io::Result<PathBuf> {
        self.out.flush()?;
        let stamp = local_stamp(self.opened_us.div_euclid(1_000_000));
        let mut target = self.dir.join(format!("{}.{stamp}.log", self.base));
        let mut n = 0;
        while target.exists() {
            n += 1;
            target = self.dir.join(format!("{}.{stamp}-{n}.log", self.base));
        }
        let current = self.path();
        std::fs::rename(&current, &target).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "rotating {} to {}: {e}",
                    current.display(),
                    target.display()
                ),
            )
        })?;
        self.out = open(&current)?;
        self.opened_us = now_us;
        self.written = 0;
        Ok(target)
    }
}

fn open(path: &Path) -> io::Result<BufWriter<File>> {
    let file = File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    Ok(BufWriter::with_capacity(BUFFER, file))
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `secs` (since the epoch) as local time in Zeek's `%Y-%m-%d-%H-%M-%S`.
pub fn local_stamp(secs: i64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&t, &mut tm) };
    format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Seconds east of UTC of local time at `secs`.
pub fn utc_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: as above.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&t, &mut tm) };
    tm.tm_gmtoff
}

/// The next rotation time after `now_us` for `interval_us`, as Zeek's `calc_next_rotate`
/// with its default `log_rotate_base_time` of "0:00": the next multiple of the interval
/// counted from local midnight. A time exactly on a boundary rotates one interval later.
pub fn next_rotation(now_us: i64, interval_us: i64) -> i64 {
    let interval = interval_us.max(1_000_000);
    let secs = now_us.div_euclid(1_000_000);
    let offset = utc_offset(secs) * 1_000_000;
    let day = 86_400_000_000;
    let start_of_day = (now_us + offset).div_euclid(day) * day - offset;
    let since = now_us - start_of_day;
    start_of_day + (since / interval + 1) * interval
}

/// Wall-clock time now as local time expressed in seconds since the epoch (UTC seconds plus
/// the UTC offset): what log-writer components get as `opened`/`at`, since a component has
/// no time zone database and breaks it down as UTC.
pub fn local_wall_secs() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    now + utc_offset(now as i64) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_renames_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 1_300_475_167_096_535;
        let mut f = LogFile::create(dir.path(), "conn", t0).unwrap();
        f.write_all(b"first\n").unwrap();
        assert_eq!(f.written(), 6);
        let rotated = f.rotate(t0 + 3_600_000_000).unwrap();
        let name = format!("conn.{}.log", local_stamp(t0 / 1_000_000));
        assert_eq!(rotated, dir.path().join(&name));
        assert_eq!(std::fs::read(&rotated).unwrap(), b"first\n");
        assert_eq!(f.written(), 0);
        f.write_all(b"second\n").unwrap();
        // A second rotation with the same open second does not overwrite the first.
        let again = f.rotate(t0 + 3_600_000_000).unwrap();
        assert_ne!(again, rotated);
        f.flush().unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), b"second\n");
        assert_eq!(std::fs::read(dir.path().join("conn.log")).unwrap(), b"");
    }

    #[test]
    fn rotation_times_are_interval_multiples_from_local_midnight() {
        let hour = 3_600_000_000;
        let t = 1_300_475_167_096_535; // 2011-03-18 19:06:07 UTC
        let next = next_rotation(t, hour);
        assert!(next > t && next - t <= hour);
        // On a boundary: one interval later.
        assert_eq!(next_rotation(next, hour), next + hour);
        let off = utc_offset(t / 1_000_000) * 1_000_000;
        assert_eq!((next + off).rem_euclid(hour), 0);
        // Sub-second intervals are raised to one second.
        assert!(next_rotation(t, 1) - t <= 1_000_000);
    }
}
