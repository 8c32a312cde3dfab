//! Zeek's SSH analyzer and ssh.log as a Sandpiper protocol analyzer.
//!
//! Layout, after Suricata's `rust/src/ssh/`:
//! - [`parser`]: the wire formats (nom), borrowed, no state;
//! - [`session`]: one connection, bytes in and effects out, as Zeek's analyzer and script;
//! - [`log`]: ssh.log rows and event arguments;
//! - this file: the only code that calls the host.
//!
//! See README.md for the events and for what of Zeek's behaviour is and is not reproduced.

pub mod log;
pub mod parser;
pub mod session;

use sandpiper_sdk::analysis;
use sandpiper_sdk::types::ConnInfo;
use sandpiper_sdk::Analyzer;

use session::{Effects, Session};

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// The analyzer attached to one connection.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Ssh {
    conn: ConnInfo,
    session: Session,
}

/// The limits of the module's options (its environment, see module.toml), read once.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn limits() -> session::Limits {
    static LIMITS: std::sync::OnceLock<session::Limits> = std::sync::OnceLock::new();
    LIMITS
        .get_or_init(|| session::Limits::from_options(|name| std::env::var(name).ok()))
        .clone()
}

/// The ssh stream, created once per instance and shared by its sessions.
static STREAM: sandpiper_sdk::SharedStream = sandpiper_sdk::SharedStream::new();

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl Ssh {
    /// Performs what the session asked for. A call yields at most a few rows and events, far
    /// inside the host's per-call budgets.
    fn apply(&mut self, fx: Effects) {
        for (name, addl) in &fx.weirds {
            analysis::weird(name, addl);
        }
        if fx.confirm {
            analysis::confirm();
        }
        if !fx.rows.is_empty() {
            let direction = self.session.direction();
            let rows: Vec<_> = fx
                .rows
                .into_iter()
                .map(|i| log::into_row(&self.conn, i, direction))
                .collect();
            if let Some(stream) = STREAM.get(log::schema) {
                if let Err(e) = sandpiper_sdk::packed::write_rows(stream, &rows) {
                    eprintln!("ssh: rows refused: {e}");
                }
            }
        }
        let events: Vec<_> = fx
            .events
            .into_iter()
            .filter(|(_, e)| sandpiper_sdk::events::subscribed(log::event_name(e)))
            .map(|(ts, e)| log::into_event(&self.conn, ts, e))
            .collect();
        if !events.is_empty() {
            if let Err(e) = sandpiper_sdk::events::raise(&events) {
                eprintln!("ssh: events refused: {e}");
            }
        }
        if let Some((reason, data)) = &fx.violation {
            analysis::violation(reason, data);
        }
    }
}

impl Analyzer for Ssh {
    fn new(conn: ConnInfo) -> Self {
        // Picked up mid-stream: no SYN and no SYN-ACK in the history so far.
        let partial = !conn.history.contains(['S', 'H', 'h']);
        let session = Session::with_limits(conn.local_orig, conn.local_resp, partial, limits());
        Ssh { conn, session }
    }

    fn deliver(&mut self, is_orig: bool, data: &[u8]) {
        let now = analysis::network_time();
        let fx = self.session.deliver(is_orig, data, now);
        self.apply(fx);
    }

    fn gap(&mut self, _is_orig: bool, _len: u64) {
        self.session.gap();
    }

    fn finish(&mut self) {
        let fx = self.session.finish();
        self.apply(fx);
    }
}

// Only the wasm component exports the WIT interface (see the dns analyzer).
#[cfg(target_arch = "wasm32")]
sandpiper_sdk::export_analyzer!(Ssh);
