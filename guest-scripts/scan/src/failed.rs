//! Which TCP connections scan.zeek counts as failed attempts, decided from conn.log `history`.
//!
//! scan.zeek observes a connection from four TCP analyzer events:
//!
//! | event | raised by Zeek when | scan.zeek counts it | scanner |
//! | --- | --- | --- | --- |
//! | `connection_attempt` | the attempt timer (`tcp_attempt_delay`, 5 s after the originator's first SYN, or at termination) finds the originator in SYN_SENT/SYN_ACK_SENT and the responder INACTIVE | always | the responder if `H` is in the history, else the originator |
//! | `connection_rejected` | a RST is an endpoint's first packet and answers a SYN (responder RST while the originator is in SYN_SENT/SYN_ACK_SENT) or an unsolicited SYN-ACK (originator RST while the responder is ESTABLISHED) | always | the responder if `s` is in the history, else the originator |
//! | `connection_reset` | a RST from SYN_SENT/ESTABLISHED/PARTIAL (and the reset timer, 5 s after a RST that follows a FIN) | if `is_failed_conn` (originator scans) or else `is_reverse_failed_conn` (responder scans) holds | see left |
//! | `connection_pending` | termination, for connections still active and not closed on both sides | as `connection_reset` | see left |
//!
//! The host raises none of these; a handler sees each connection once, at
//! `connection_state_remove`. The history string records the packets that changed the
//! connection's state, in order (`S`/`s` SYN, `H`/`h` SYN-ACK, `A`/`a` ACK, `D`/`d` data,
//! `F`/`f` FIN, `R`/`r` RST, `I`/`i` FIN+RST; upper case for the originator). So this module
//! replays the history through the endpoint state machine of Zeek's `TCPSessionAdapter`
//! (`UpdateInactiveState`, `UpdateSYN_SentState`, `UpdateEstablishedState`,
//! `UpdateClosedState`, `ConnectionClosed`, the attempt and reset timers) and raises the same
//! events at the same points, with the endpoint states and the history prefix that
//! scan.zeek's handler would see there. For the common cases this is exact:
//!
//! | history (conn_state) | Zeek event | counted |
//! | --- | --- | --- |
//! | `S` (S0) | connection_attempt | yes, originator scans |
//! | `H` (OTH) | connection_attempt | yes, responder scans (`H` in history) |
//! | `Sr` (REJ) | connection_rejected | yes, originator scans |
//! | `ShR`, `ShAR` (RSTO) | connection_reset, `is_failed_conn` | yes, originator scans |
//! | `hR` (RSTO, after a flip) | connection_rejected | yes, originator scans |
//! | `ShAr` (RSTR), `ShADaR` (RSTO, data) | connection_reset | no |
//! | `SR` (RSTOS0), `ShADadFf` (SF) | connection_reset / none | no |
//!
//! Where the replay can differ from Zeek:
//! - Letters are recorded once per kind and direction (`A`, `D`) and repeated SYNs, FINs and
//!   RSTs only when their sequence number changes, so packets that repeat a letter are not
//!   replayed; in Zeek's state machine such repeats do not change an endpoint's state.
//! - The timers are evaluated on the final states. Zeek's attempt timer looks at the states
//!   5 s after the SYN and then removes the connection; a reply arriving later than that
//!   belongs to a new connection in Zeek but to the same one here (the counted key is the same
//!   unless that reply is a SYN-ACK from the originator's side).
//! - `Q` (a packet with several of SYN, FIN, RST) is not replayed: which flags it had is lost.
//! - The data-pending deferral of `ConnectionClosed` is not modelled (it delays, and never
//!   prevents, the end of a connection with undelivered data).
//! - `connection_pending` is not replayed: it needs an active connection with a RESET
//!   endpoint, which the state machine leaves only after `connection_rejected` (same key,
//!   already counted) or in role-flip corner cases.

/// Zeek's `TCP_ENDPOINT_*` states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

#[derive(Clone, Copy, Debug)]
struct Endpoint {
    state: State,
    prev_state: State,
    did_close: bool,
}

impl Endpoint {
    const NEW: Endpoint = Endpoint {
        state: State::Inactive,
        prev_state: State::Inactive,
        did_close: false,
    };

    /// `TCP_Endpoint::SetState`: the previous state is kept only on a change.
    fn set(&mut self, state: State) {
        if state != self.state {
            self.prev_state = self.state;
            self.state = state;
        }
    }
}

/// The packet a history letter stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Packet {
    Syn,
    SynAck,
    Ack,
    Data,
    Fin,
    Rst,
    FinRst,
}

impl Packet {
    fn from_letter(letter: u8) -> Option<Packet> {
        Some(match letter.to_ascii_uppercase() {
            b'S' => Packet::Syn,
            b'H' => Packet::SynAck,
            b'A' => Packet::Ack,
            b'D' => Packet::Data,
            b'F' => Packet::Fin,
            b'R' => Packet::Rst,
            b'I' => Packet::FinRst,
            // C, G, T, W and ^ mark no state change; Q's flags are unknown.
            _ => return None,
        })
    }
    fn syn(self) -> bool {
        matches!(self, Packet::Syn | Packet::SynAck)
    }
    /// A SYN-ACK, and (as with real stacks) every packet after the first SYN.
    fn ack(self) -> bool {
        self != Packet::Syn
    }
    fn fin(self) -> bool {
        matches!(self, Packet::Fin | Packet::FinRst)
    }
    fn rst(self) -> bool {
        matches!(self, Packet::Rst | Packet::FinRst)
    }
}

/// When Zeek would have made the observation: at the packet that raised the event (the
/// connection's last packet is the best time conn-info offers), or when a timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// `connection_rejected` / `connection_reset` raised by a packet.
    Packet,
    /// `connection_attempt`: `tcp_attempt_delay` after the SYN.
    AttemptTimer,
    /// `connection_reset` from the reset timer: `tcp_reset_delay` after a RST following a FIN.
    ResetTimer,
}

/// One failed attempt as scan.zeek's `add_sumstats(c$id, reverse)` receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed {
    /// The responder is the scanner (and the originator's port the scanned one).
    pub reverse: bool,
    pub when: When,
}

/// The failed attempts scan.zeek would observe for a TCP connection with this history: none,
/// one, or (in corner cases) one per direction. Repeated observations of the same direction
/// are merged; they add nothing to a count of unique hosts or ports.
pub fn failed_attempts(history: &str) -> Vec<Failed> {
    let mut replay = Replay::new(history);
    replay.run();
    replay.found
}

/// Scan.zeek's `is_failed_conn`: `Sr || ((hR || ShR) && no data)`.
fn is_failed_conn(orig: State, resp: State, history: &str) -> bool {
    (orig == State::SynSent && resp == State::Reset)
        || (((orig == State::Reset && resp == State::SynAckSent)
            || (orig == State::Reset && resp == State::Established && history.contains('S')))
            && !has_data(history))
}

/// Scan.zeek's `is_reverse_failed_conn`: the same with the roles swapped.
fn is_reverse_failed_conn(orig: State, resp: State, history: &str) -> bool {
    (resp == State::SynSent && orig == State::Reset)
        || (((resp == State::Reset && orig == State::SynAckSent)
            || (resp == State::Reset && orig == State::Established && history.contains('s')))
            && !has_data(history))
}

fn has_data(history: &str) -> bool {
    history.contains(['D', 'd'])
}

/// The Zeek events scan.zeek handles.
enum ConnEvent {
    Attempt,
    Rejected,
    Reset,
}

struct Replay<'h> {
    history: &'h str,
    orig: Endpoint,
    resp: Endpoint,
    /// `is_active`: cleared by a reset, a finished close and the attempt timer.
    active: bool,
    attempt_timer: bool,
    reset_timer: bool,
    found: Vec<Failed>,
}

impl<'h> Replay<'h> {
    fn new(history: &'h str) -> Self {
        Replay {
            history,
            orig: Endpoint::NEW,
            resp: Endpoint::NEW,
            active: true,
            attempt_timer: false,
            reset_timer: false,
            found: Vec::new(),
        }
    }

    fn run(&mut self) {
        let letters = self.history.as_bytes();
        for (i, &letter) in letters.iter().enumerate() {
            let Some(packet) = Packet::from_letter(letter) else {
                continue;
            };
            let is_orig = letter.is_ascii_uppercase();
            // Zeek records a packet's letter before running the state machine, and a role
            // flip during that packet appends '^' right after it.
            let flips = letters.get(i + 1) == Some(&b'^');
            self.packet(is_orig, packet, flips, &self.history[..=i]);
        }
        // Timers still pending fire at the end (Zeek expires them at termination).
        if self.attempt_timer
            && self.active
            && matches!(self.orig.state, State::SynSent | State::SynAckSent)
            && self.resp.state == State::Inactive
        {
            self.active = false;
            self.event(ConnEvent::Attempt, self.history, When::AttemptTimer);
        }
        if self.reset_timer && self.active && !(self.orig.did_close && self.resp.did_close) {
            self.active = false;
            self.event(ConnEvent::Reset, self.history, When::ResetTimer);
        }
    }

    fn endpoints(&mut self, is_orig: bool) -> (&mut Endpoint, &mut Endpoint) {
        if is_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        }
    }

    /// `TCPSessionAdapter::UpdateStateMachine` for one packet, then `ConnectionClosed`.
    fn packet(&mut self, is_orig: bool, packet: Packet, flips: bool, prefix: &str) {
        let mut close = None;
        match self.endpoints(is_orig).0.state {
            State::Inactive => close = self.inactive(is_orig, packet, flips, prefix),
            State::SynSent | State::SynAckSent => {
                let (ep, _) = self.endpoints(is_orig);
                if packet.fin() {
                    ep.set(State::Closed);
                    close = Some(true);
                }
                if packet.rst() {
                    ep.set(State::Reset);
                    close = Some(close.unwrap_or(false));
                    self.active = false;
                    self.event(ConnEvent::Reset, prefix, When::Packet);
                }
            }
            State::Established | State::Partial => {
                let (ep, peer) = self.endpoints(is_orig);
                if packet == Packet::Syn
                    && ep.state == State::Partial
                    && peer.state == State::Inactive
                {
                    ep.set(State::SynSent);
                }
                if packet.fin() && !packet.rst() {
                    ep.set(State::Closed);
                    if peer.state == State::Reset && peer.prev_state == State::Closed {
                        // A FIN followed by a RST from the peer: a normal close after all.
                        peer.set(State::Closed);
                    }
                    close = Some(true);
                }
                if packet.rst() {
                    ep.set(State::Reset);
                    let reset = peer.state != State::Reset || peer.prev_state != State::Established;
                    close = Some(close.unwrap_or(false));
                    if reset {
                        self.active = false;
                        self.event(ConnEvent::Reset, prefix, When::Packet);
                    }
                }
            }
            State::Closed => {
                let (ep, peer) = self.endpoints(is_orig);
                if packet.rst() && peer.state != State::Closed {
                    ep.set(State::Reset);
                    if !ep.did_close {
                        close = Some(false);
                    }
                    self.reset_timer = true;
                }
            }
            State::Reset => {}
        }
        if flips {
            std::mem::swap(&mut self.orig, &mut self.resp);
        }
        if let Some(gen_event) = close {
            // After a flip the packet's sender is on the other side.
            self.closed(is_orig != flips, gen_event);
        }
    }

    /// `UpdateInactiveState`; returns `Some(gen_event)` if the endpoint closed.
    fn inactive(
        &mut self,
        is_orig: bool,
        packet: Packet,
        flips: bool,
        prefix: &str,
    ) -> Option<bool> {
        let mut close = None;
        if packet.syn() {
            let (ep, peer) = self.endpoints(is_orig);
            if is_orig {
                ep.set(if packet == Packet::SynAck {
                    State::SynAckSent
                } else {
                    State::SynSent
                });
                self.attempt_timer = true;
            } else {
                if packet == Packet::Syn && peer.state == State::SynAckSent && flips {
                    // The SYN/SYN-ACK reversal: Zeek flips the roles and establishes.
                    peer.set(State::Established);
                }
                if peer.state == State::SynSent {
                    peer.set(State::Established);
                }
                ep.set(State::Established);
            }
        }
        if packet.fin() {
            self.endpoints(is_orig).0.set(State::Closed);
            close = Some(true);
        }
        if packet.rst() {
            let (ep, peer) = self.endpoints(is_orig);
            ep.set(State::Reset);
            let reject = if is_orig {
                // An RST answering an unsolicited SYN-ACK: a reverse scan's reply.
                peer.state == State::Established
            } else {
                matches!(peer.state, State::SynSent | State::SynAckSent)
            };
            close = Some(!reject);
            if reject {
                self.event(ConnEvent::Rejected, prefix, When::Packet);
            }
        }
        let orig_state = self.orig.state;
        let (ep, peer) = self.endpoints(is_orig);
        if ep.state == State::Inactive {
            if !is_orig && packet == Packet::Ack && orig_state == State::SynSent {
                // An ACK ahead of the SYN-ACK (some stacks do this): not a partial connection.
            } else if packet.ack() && peer.state == State::Established {
                ep.set(State::Established);
            } else {
                ep.set(State::Partial);
            }
        }
        close
    }

    /// `ConnectionClosed` for the endpoint that just closed or reset.
    fn closed(&mut self, is_orig: bool, gen_event: bool) {
        let (ep, peer) = self.endpoints(is_orig);
        if ep.did_close {
            return;
        }
        ep.did_close = true;
        let complete = ep.state == State::Reset || peer.did_close || peer.state == State::Inactive;
        if !complete {
            return;
        }
        if gen_event && (ep.prev_state != State::Inactive || peer.state != State::Inactive) {
            // ConnectionFinished.
            self.active = false;
        }
        // CancelTimers.
        self.attempt_timer = false;
        self.reset_timer = false;
    }

    /// Scan.zeek's handler for `event`, with the history as the handler would see it.
    fn event(&mut self, event: ConnEvent, history: &str, when: When) {
        let (orig, resp) = (self.orig.state, self.resp.state);
        let reverse = match event {
            ConnEvent::Attempt => history.contains('H'),
            ConnEvent::Rejected => history.contains('s'),
            ConnEvent::Reset => {
                if is_failed_conn(orig, resp, history) {
                    false
                } else if is_reverse_failed_conn(orig, resp, history) {
                    true
                } else {
                    return;
                }
            }
        };
        if !self.found.iter().any(|f| f.reverse == reverse) {
            self.found.push(Failed { reverse, when });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(when: When) -> Vec<Failed> {
        vec![Failed {
            reverse: false,
            when,
        }]
    }

    fn reverse(when: When) -> Vec<Failed> {
        vec![Failed {
            reverse: true,
            when,
        }]
    }

    /// Zeek's `conn_state()` (base/protocols/conn/main.zeek) from the replayed final states.
    fn conn_state(history: &str) -> &'static str {
        use State::*;
        let mut replay = Replay::new(history);
        replay.run();
        let (os, rs) = (replay.orig.state, replay.resp.state);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent) || (os == Reset && !has_data(history)) {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            let h = history.strip_prefix('^').unwrap_or(history);
            // /^\^?S[^HAFGIQ]*R.*/
            let rstos0 = h.strip_prefix('S').is_some_and(|rest| {
                rest.find(['H', 'A', 'F', 'G', 'I', 'Q', 'R'])
                    .is_some_and(|i| rest.as_bytes()[i] == b'R')
            });
            match (r_inactive, rstos0) {
                (true, true) => "RSTOS0",
                (true, false) => "OTH",
                _ => "RSTO",
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive {
                "SH"
            } else {
                "S2"
            }
        } else if rs == Closed {
            if o_inactive {
                "SHR"
            } else {
                "S3"
            }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    /// The replay ends in the endpoint states Zeek logged: every distinct TCP (history,
    /// conn_state) pair in the conn.log baselines of Zeek's test suite (shared/corpus).
    #[test]
    fn replay_reaches_zeeks_conn_states() {
        let zeek = [
            ("ADF", "SH"),
            ("D", "OTH"),
            ("DAF", "SH"),
            ("Da", "OTH"),
            ("DaFfA", "SF"),
            ("Dd", "OTH"),
            ("DdA", "OTH"),
            ("Dr", "RSTRH"),
            ("Fa", "SH"),
            ("R", "OTH"),
            ("S", "S0"),
            ("SAD", "S0"),
            ("SADF", "SH"),
            ("Sh", "S1"),
            ("ShADFaf", "SF"),
            ("ShADad", "S1"),
            ("ShADadFRf", "SF"),
            ("ShADadFf", "SF"),
            ("ShADadFr", "RSTR"),
            ("ShADadR", "RSTO"),
            ("ShADadXf", "S3"),
            ("ShADadfF", "SF"),
            ("ShADadtFf", "SF"),
            ("ShADadtTfF", "SF"),
            ("ShADafgF", "SF"),
            ("ShADdFaf", "SF"),
            ("ShADdFar", "RSTR"),
            ("ShADdR", "RSTO"),
            ("ShADdaFf", "SF"),
            ("ShADdar", "RSTR"),
            ("ShADdtaTTtFf", "SF"),
            ("ShAaDd", "S1"),
            ("ShAaDdfF", "SF"),
            ("ShAadDfF", "SF"),
            ("ShAadDfFr", "SF"),
            ("ShAdDaFf", "SF"),
            ("ShAdDaXFf", "SF"),
            ("ShAdDafF", "SF"),
            ("ShAdDafFr", "SF"),
            ("ShAdDafr", "RSTR"),
            ("ShAdfFa", "SF"),
            ("ShAdgfFa", "SF"),
            ("ShR", "RSTO"),
            ("Sr", "REJ"),
            ("^d", "OTH"),
            ("^fA", "SHR"),
            ("^hADadFf", "SF"),
            ("^hadf", "SHR"),
            ("^hdaf", "SHR"),
            ("^r", "RSTRH"),
        ];
        for (history, state) in zeek {
            assert_eq!(conn_state(history), state, "history {history}");
        }
        // And the scan cases.
        for (history, state) in [
            ("SR", "RSTOS0"),
            ("ShAR", "RSTO"),
            ("H", "OTH"),
            ("ShAr", "RSTR"),
        ] {
            assert_eq!(conn_state(history), state, "history {history}");
        }
    }

    #[test]
    fn unanswered_syn_is_an_attempt() {
        assert_eq!(failed_attempts("S"), forward(When::AttemptTimer));
        // Retransmissions and bad checksums change nothing.
        assert_eq!(failed_attempts("ST"), forward(When::AttemptTimer));
    }

    #[test]
    fn unanswered_syn_ack_is_a_reverse_attempt() {
        assert_eq!(failed_attempts("H"), reverse(When::AttemptTimer));
    }

    #[test]
    fn rejected_syn_is_counted() {
        // nmap -sT / -sS against a closed port: SYN, RST-ACK (conn_state REJ).
        assert_eq!(failed_attempts("Sr"), forward(When::Packet));
        // The scanner's own RST afterwards is a connection_reset that is_failed_conn refuses;
        // the rejection still counts.
        assert_eq!(failed_attempts("SrR"), forward(When::Packet));
    }

    #[test]
    fn reset_half_open_handshake_is_counted() {
        // SYN scan against an open port: SYN, SYN-ACK, the scanner's kernel resets (RSTO).
        assert_eq!(failed_attempts("ShR"), forward(When::Packet));
        // Connect scan against an open port, closed with a RST and no data.
        assert_eq!(failed_attempts("ShAR"), forward(When::Packet));
    }

    #[test]
    fn reset_after_data_is_not_counted() {
        assert_eq!(failed_attempts("ShADR"), vec![]);
        assert_eq!(failed_attempts("ShADadR"), vec![]);
    }

    #[test]
    fn responder_reset_of_an_established_connection_is_not_counted() {
        // is_failed_conn wants the originator's RST; is_reverse_failed_conn wants `s`.
        assert_eq!(failed_attempts("ShAr"), vec![]);
    }

    #[test]
    fn normal_connections_are_not_counted() {
        for h in [
            "ShADadFf",
            "ShADadfF",
            "ShADadFfR",
            "ShAdDaFf",
            "Dd",
            "ShADad",
        ] {
            assert_eq!(failed_attempts(h), vec![], "history {h}");
        }
    }

    #[test]
    fn originator_giving_up_is_not_counted() {
        // SYN then the originator's own RST (RSTOS0).
        assert_eq!(failed_attempts("SR"), vec![]);
    }

    #[test]
    fn reset_after_fin_counts_through_the_reset_timer() {
        // Handshake, the originator closes, then resets with no data: the reset timer's
        // connection_reset finds orig RESET, resp ESTABLISHED, `S` and no data.
        assert_eq!(failed_attempts("ShAFR"), forward(When::ResetTimer));
        // Both sides closed first: nothing.
        assert_eq!(failed_attempts("ShAFfR"), vec![]);
    }

    #[test]
    fn rst_answering_unsolicited_syn_ack_is_rejected() {
        // A SYN-ACK first (flipped to the responder by the port heuristic), answered by RST.
        assert_eq!(failed_attempts("^hR"), forward(When::Packet));
    }

    #[test]
    fn syn_syn_ack_reversal_is_a_normal_connection() {
        // The SYN-ACK arrives before the SYN; Zeek flips the roles and establishes.
        assert_eq!(failed_attempts("Hs^ADadFf"), vec![]);
    }

    #[test]
    fn rejected_with_responder_syn_is_reverse() {
        // scan.zeek's reverse test for connection_rejected is an `s` in the history: the
        // responder sent a SYN (here a simultaneous open), then the originator's RST
        // answers its SYN-ACK state.
        assert_eq!(failed_attempts("hsR"), reverse(When::Packet));
    }
}
