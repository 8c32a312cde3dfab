//! The control socket: a Unix stream socket serving one-line commands, `reload`, `status` and
//! `rotate`, for `sandpiper ctl`. The listener runs on its own thread; a reload request is
//! handed to the module reload thread and answered with its summary; a rotation request sets
//! the flag the packet thread checks with every packet.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wasm::reload::Request;

/// Longest command line accepted.
const MAX_LINE: u64 = 256;

pub struct CtlServer {
    path: PathBuf,
}

impl CtlServer {
    /// Listens on `path`. A stale socket left by a dead process is replaced; a live one is not.
    pub fn start(
        path: &Path,
        reload: Option<Sender<Request>>,
        status: Arc<Mutex<String>>,
        rotate: Arc<AtomicBool>,
    ) -> Result<CtlServer, String> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(format!("{} is in use by another sandpiper", path.display()));
            }
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| format!("control socket {}: {e}", path.display()))?;
        let reload = reload.map(|s| Arc::new(Mutex::new(s)));
        std::thread::Builder::new()
            .name("ctl".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let _ = serve(conn, reload.as_deref(), &status, &rotate);
                }
            })
            .map_err(|e| format!("control thread: {e}"))?;
        Ok(CtlServer {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(
    mut conn: UnixStream,
    reload: Option<&Mutex<Sender<Request>>>,
    status: &Mutex<String>,
    rotate: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new((&conn).take(MAX_LINE)).read_line(&mut line)?;
    let reply = match line.trim() {
        "status" => status.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "reload" => match reload {
            Some(tx) => {
                let (rtx, rrx) = mpsc::channel();
                let sent = tx
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .send(Request::Rescan(Some(rtx)));
                match sent {
                    Ok(()) => rrx
                        .recv_timeout(Duration::from_secs(120))
                        .unwrap_or_else(|_| "reload: no answer from the reload thread".into()),
                    Err(_) => "reload: the reload thread has stopped".into(),
                }
            }
            None => "reload: no modules directory is being served".into(),
        },
        "rotate" => {
            rotate.store(true, Ordering::Relaxed);
            "rotate: every log is rotated with the next packet".into()
        }
        other => format!("unknown command {other:?}: use reload, status or rotate"),
    };
    conn.write_all(reply.as_bytes())?;
    if !reply.ends_with('\n') {
        conn.write_all(b"\n")?;
    }
    Ok(())
}

/// `sandpiper ctl COMMAND`: sends one command and returns the reply.
pub fn request(path: &Path, command: &str) -> Result<String, String> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach a running sandpiper at {}: {e} (is it running with this --logdir or --ctl-socket?)",
            path.display()
        )
    })?;
    s.write_all(format!("{command}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}
