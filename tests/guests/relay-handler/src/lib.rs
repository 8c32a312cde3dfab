//! Test guest exercising what handlers can do besides logging:
//! - for each `connection_state_remove` it raises a notice `Test::Conn_Done` about the
//!   responder (identifier: the responder's address, so repeats within an hour are
//!   suppressed), raises `relay_ping(uid, hop=0)` and schedules `relay_timer(uid)` 10 s later;
//! - `relay_ping(uid, hop)` is raised again with hop + 1 while hop < 2 (three rounds);
//! - for the first connection it also raises `loop_ping`, which it raises again every time it
//!   sees it: the bus must cut that loop at its depth limit and say so in reporter.log.

use sandpiper_sdk::notice::{self, Info};
use sandpiper_sdk::timers;
use sandpiper_sdk::types::{Event, Value};
use sandpiper_sdk::{events, Handler};

#[derive(Default)]
struct Relay {
    looped: bool,
}

fn ev(name: &str, ts: f64, args: Vec<Value>) -> Event {
    Event {
        name: name.into(),
        ts,
        conn: None,
        args,
    }
}

impl Handler for Relay {
    fn handle(&mut self, batch: Vec<Event>) {
        let mut out = Vec::new();
        for e in batch {
            match e.name.as_str() {
                "connection_state_remove" => {
                    let Some(c) = e.conn else { continue };
                    let n = Info {
                        note: "Test::Conn_Done".into(),
                        msg: format!("{} ended ({})", c.uid, c.conn_state),
                        sub: Some("test".into()),
                        uid: Some(c.uid.clone()),
                        id: Some(c.id),
                        src: Some(c.id.orig_h),
                        dst: Some(c.id.resp_h),
                        p: Some(c.id.resp_p),
                        n: Some(c.orig_pkts + c.resp_pkts),
                        identifier: Some(format!("{:?}", c.id.resp_h)),
                        suppress_for: None,
                    };
                    notice::raise(&n).expect("a valid notice");
                    let uid = Value::Str(c.uid.clone());
                    out.push(ev("relay_ping", e.ts, vec![uid.clone(), Value::Count(0)]));
                    timers::schedule(10.0, &ev("relay_timer", 0.0, vec![uid])).expect("timer");
                    if !self.looped {
                        self.looped = true;
                        out.push(ev("loop_ping", e.ts, Vec::new()));
                    }
                }
                "relay_ping" => {
                    if let [uid, Value::Count(hop)] = &e.args[..] {
                        if *hop < 2 {
                            out.push(ev(
                                "relay_ping",
                                e.ts,
                                vec![uid.clone(), Value::Count(hop + 1)],
                            ));
                        }
                    }
                }
                "loop_ping" => out.push(ev("loop_ping", e.ts, Vec::new())),
                _ => {}
            }
        }
        if !out.is_empty() {
            events::raise(&out).expect("raise");
        }
    }
}

sandpiper_sdk::export_handler!(Relay);
