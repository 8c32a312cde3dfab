//! Remembered SHA-256 hashes of component files, so a start does not read and hash every
//! module again. The shipped Python and JavaScript handlers are 12-18 MB each: reading and
//! hashing them was ~40 ms of every start (page faults and copies included) before the first
//! packet, for files that had not changed since the last start.
//!
//! An entry is kept under the artifact cache, `<cache>/sources/<hash of the path>`, and holds
//! the file's size, modification and change times (nanoseconds), inode and device, and its
//! SHA-256. It is used only while all of those still match the file. The change time moves on
//! every write, rename onto the path or `touch` (a user cannot set it back), so a file edited
//! in place, replaced or copied over gives a miss even with its old size and modification time.
//! An entry is written only for a file whose change time is at least [`SETTLED`] in the past
//! and whose metadata did not change while it was read: a write within the timestamp
//! granularity of the read (the "racy git" problem) cannot leave a stale entry.
//!
//! Trust: whoever can write the cache directory can already replace the compiled artifacts
//! the host loads from it, so these entries add nothing an attacker could not do already.

use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// How long a file must have been left alone before its hash is remembered.
const SETTLED: Duration = Duration::from_secs(2);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(m: &Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            len: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        }
    }

    /// Whether the file has been unchanged for at least [`SETTLED`] at `now`.
    fn settled(&self, now: SystemTime) -> bool {
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let newest = self.mtime_ns.max(self.ctime_ns);
        now_ns - newest >= SETTLED.as_nanos() as i128
    }
}

/// A component file's SHA-256 (hex), and its bytes when they had to be read for it.
pub struct SourceHash {
    pub sha256: String,
    pub bytes: Option<Vec<u8>>,
}

/// The remembered hashes, under an artifact cache directory (None: hash every time).
#[derive(Debug, Clone)]
pub struct SourceHashes {
    dir: Option<PathBuf>,
}

impl SourceHashes {
    pub fn new(cache_dir: Option<&Path>) -> Self {
        SourceHashes {
            dir: cache_dir.map(|d| d.join("sources")),
        }
    }

    /// The SHA-256 of the file at `path`: remembered if the file is the one it was taken of,
    /// else read (the bytes are returned then) and remembered once the file has settled.
    pub fn hash(&self, path: &Path) -> io::Result<SourceHash> {
        let before = Stamp::of(&fs::metadata(path)?);
        if let Some(sha256) = self.remembered(path, &before) {
            return Ok(SourceHash {
                sha256,
                bytes: None,
            });
        }
        let bytes = fs::read(path)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let after = Stamp::of(&fs::metadata(path)?);
        if after == before && after.settled(SystemTime::now()) {
            self.remember(path, &after, &sha256);
        }
        Ok(SourceHash {
            sha256,
            bytes: Some(bytes),
        })
    }

    fn entry_path(&self, path: &Path) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let key = Sha256::digest(path.as_os_str().as_encoded_bytes());
        Some(dir.join(hex(&key[..16])))
    }

    fn remembered(&self, path: &Path, now: &Stamp) -> Option<String> {
        let mut text = String::new();
        // An entry is one short line; a larger file is not one of ours.
        fs::File::open(self.entry_path(path)?)
            .ok()?
            .take(4096)
            .read_to_string(&mut text)
            .ok()?;
        let (stamp, sha256, entry_path) = parse_entry(&text)?;
        (stamp == *now && entry_path == path.as_os_str().as_encoded_bytes()).then_some(sha256)
    }

    /// Writes the entry; a cache that cannot be written only costs a read on the next start.
    fn remember(&self, path: &Path, stamp: &Stamp, sha256: &str) {
        let Some(entry) = self.entry_path(path) else {
            return;
        };
        let Some(name) = path.to_str() else {
            return;
        };
        let text = format!(
            "v1 {} {} {} {} {} {sha256} {name}\n",
            stamp.len, stamp.mtime_ns, stamp.ctime_ns, stamp.ino, stamp.dev
        );
        let _ = fs::create_dir_all(entry.parent().expect("under the cache dir"));
        let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
        if fs::write(&tmp, text).is_ok() && fs::rename(&tmp, &entry).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

/// An entry's stamp, hash and file path; None for anything malformed.
fn parse_entry(text: &str) -> Option<(Stamp, String, &[u8])> {
    let line = text.strip_suffix('\n')?;
    let mut parts = line.splitn(8, ' ');
    if parts.next()? != "v1" {
        return None;
    }
    let stamp = Stamp {
        len: parts.next()?.parse().ok()?,
        mtime_ns: parts.next()?.parse().ok()?,
        ctime_ns: parts.next()?.parse().ok()?,
        ino: parts.next()?.parse().ok()?,
        dev: parts.next()?.parse().ok()?,
    };
    let sha256 = parts.next()?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((stamp, sha256.to_string(), parts.next()?.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn sha(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    /// Sets the file's modification time back so it counts as settled (its change time is
    /// still now, which is why `settled` is checked against a later `now` below).
    fn write_aged(path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    /// The change time cannot be set back, so tests wait it out instead of faking it.
    fn wait_settled(path: &Path) {
        let stamp = Stamp::of(&fs::metadata(path).unwrap());
        while !stamp.settled(SystemTime::now()) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A cache, a directory with `m.wasm` holding `bytes`, settled, and the file's path.
    fn settled_file(bytes: &[u8]) -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
        let cache = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.wasm");
        write_aged(&f, bytes);
        wait_settled(&f);
        (cache, dir, f)
    }

    #[test]
    fn a_settled_file_is_read_once_then_remembered() {
        let (cache, _dir, f) = settled_file(b"component one");
        let hashes = SourceHashes::new(Some(cache.path()));
        let first = hashes.hash(&f).unwrap();
        assert_eq!(first.sha256, sha(b"component one"));
        assert_eq!(first.bytes.as_deref(), Some(&b"component one"[..]));
        let second = hashes.hash(&f).unwrap();
        assert_eq!(second.sha256, first.sha256);
        assert!(
            second.bytes.is_none(),
            "the second hash read the file again"
        );
    }

    #[test]
    fn a_file_rewritten_with_the_same_size_and_mtime_is_read_again() {
        let (cache, _dir, f) = settled_file(b"component one");
        let hashes = SourceHashes::new(Some(cache.path()));
        hashes.hash(&f).unwrap();
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        // Same length, same modification time: only the change time tells them apart.
        fs::write(&f, b"component two").unwrap();
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let again = hashes.hash(&f).unwrap();
        assert_eq!(again.sha256, sha(b"component two"));
        assert!(again.bytes.is_some());
    }

    #[test]
    fn a_file_changed_just_now_is_not_remembered() {
        let cache = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.wasm");
        fs::write(&f, b"fresh").unwrap();
        let hashes = SourceHashes::new(Some(cache.path()));
        assert!(hashes.hash(&f).unwrap().bytes.is_some());
        assert!(hashes.hash(&f).unwrap().bytes.is_some());
        assert!(!cache.path().join("sources").exists());
    }

    #[test]
    fn without_a_cache_or_with_a_bad_entry_every_hash_reads_the_file() {
        let (cache, _dir, f) = settled_file(b"component");
        let none = SourceHashes::new(None);
        assert!(none.hash(&f).unwrap().bytes.is_some());
        assert!(none.hash(&f).unwrap().bytes.is_some());
        let hashes = SourceHashes::new(Some(cache.path()));
        hashes.hash(&f).unwrap();
        let entry = hashes.entry_path(&f).unwrap();
        for garbage in ["", "v1 1 2 3\n", "v2 garbage\n", "\u{0}\u{1}"] {
            fs::write(&entry, garbage).unwrap();
            let h = hashes.hash(&f).unwrap();
            assert_eq!(h.sha256, sha(b"component"));
            assert!(h.bytes.is_some(), "{garbage:?} was taken for an entry");
        }
    }

    #[test]
    fn an_entry_for_another_path_is_not_used() {
        let text = format!("v1 1 2 3 4 5 {} /a/b.wasm\n", "0".repeat(64));
        let (stamp, sha256, path) = parse_entry(&text).unwrap();
        assert_eq!(stamp.len, 1);
        assert_eq!(sha256, "0".repeat(64));
        assert_eq!(path, b"/a/b.wasm");
        assert!(parse_entry(&text.replace("0000", "zzzz")).is_none());
    }
}
