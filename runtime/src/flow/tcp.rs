//! TCP connection semantics as Zeek's TCP analyzer defines them: endpoint states,
//! relative sequence numbers, byte counts from sequence space, history letters,
//! retransmission and zero-window detection, and content gaps (missed_bytes).
//!
//! The structure follows Zeek's `TCPSessionAdapter`/`TCP_Endpoint` so that each
//! rule can be checked against its reference; the code is our own.

use super::history::{bits, History, ScaledCounter};
use super::reassembly::GapTracker;
use crate::decode::{tcp_flags as F, TcpSegment};

/// Sequence deltas beyond this are not trusted in SYN/RST packets.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;
/// After this many unacknowledged bytes we stop waiting for acks (Zeek's tcp_max_initial_window).
const MAX_INITIAL_WINDOW: u64 = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpState {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

impl EpState {
    fn is_handshake(self) -> bool {
        matches!(
            self,
            EpState::Inactive | EpState::SynSent | EpState::SynAckSent
        )
    }
}

#[inline]
fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Whether `s` lies in [lo, hi] in sequence space.
#[inline]
fn seq_between(s: u32, lo: u32, hi: u32) -> bool {
    seq_delta(s, lo) >= 0 && seq_delta(s, hi) <= 0
}

/// One direction of a TCP connection.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub state: EpState,
    pub prev_state: EpState,
    pub is_orig: bool,
    start_seq: u32,
    last_seq: u32,
    ack_seq: u32,
    seq_wraps: u32,
    ack_wraps: u32,
    fin_cnt: u32,
    rst_cnt: u32,
    fin_seq: u64,
    pub did_close: bool,
    window_scale: u8,
    window: u32,
    window_seq: u32,
    window_ack_seq: u32,
    hist_last_syn: u64,
    hist_last_fin: u64,
    hist_last_rst: u64,
    gap_ctr: ScaledCounter,
    chk_ctr: ScaledCounter,
    rxmt_ctr: ScaledCounter,
    win0_ctr: ScaledCounter,
    gaps: GapTracker,
    /// A SYN from this endpoint was seen: its data starts at relative sequence number 1.
    pub syn_seen: bool,
}

impl Endpoint {
    fn new(is_orig: bool) -> Self {
        Endpoint {
            state: EpState::Inactive,
            prev_state: EpState::Inactive,
            is_orig,
            start_seq: 0,
            last_seq: 0,
            ack_seq: 0,
            seq_wraps: 0,
            ack_wraps: 0,
            fin_cnt: 0,
            rst_cnt: 0,
            fin_seq: 0,
            did_close: false,
            window_scale: 0,
            window: 0,
            window_seq: 0,
            window_ack_seq: 0,
            hist_last_syn: 0,
            hist_last_fin: 0,
            hist_last_rst: 0,
            gap_ctr: ScaledCounter::default(),
            chk_ctr: ScaledCounter::default(),
            rxmt_ctr: ScaledCounter::default(),
            win0_ctr: ScaledCounter::default(),
            gaps: GapTracker::new(),
            syn_seen: false,
        }
    }

    #[inline]
    fn full(seq: u32, wraps: u32) -> u64 {
        ((wraps as u64) << 32) | seq as u64
    }

    #[inline]
    fn relative(&self, seq: u32, wraps: u32) -> u64 {
        Self::full(seq, wraps).wrapping_sub(self.start_seq as u64)
    }

    fn init_start(&mut self, seq: u32) {
        self.start_seq = seq;
    }
    fn update_last_seq_raw(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps += 1;
        }
        self.last_seq = seq;
    }
    fn update_ack_seq_raw(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps += 1;
        }
        self.ack_seq = seq;
    }

    fn no_data_acked(&self) -> bool {
        let ack = Self::full(self.ack_seq, self.ack_wraps);
        let start = self.start_seq as u64;
        ack == start || ack == start + 1
    }

    fn is_active(&self) -> bool {
        self.state != EpState::Inactive && !self.did_close
    }

    fn set_state(&mut self, new: EpState, peer_state: EpState, out: &mut PacketEffects) {
        if new != self.state {
            if !new.is_handshake() && self.state.is_handshake() && peer_state.is_handshake() {
                out.handshake_done = true;
            }
            self.prev_state = self.state;
            self.state = new;
        }
    }

    /// Payload bytes sent, from sequence space (Zeek's `TCP_Endpoint::Size`).
    pub fn size(&self, peer_state: EpState) -> u64 {
        if self.prev_state == EpState::SynSent
            && self.state == EpState::Reset
            && peer_state == EpState::Inactive
            && !self.no_data_acked()
        {
            // A half-open connection that was aborted: the sequence numbers lie.
            return 0;
        }
        let last = Self::full(self.last_seq, self.seq_wraps);
        let ack = Self::full(self.ack_seq, self.ack_wraps);
        let start = self.start_seq as u64;
        let mut size = if last > ack {
            last.wrapping_sub(start)
        } else {
            ack.wrapping_sub(start)
        };
        size = size.saturating_sub(1); // the SYN
        if self.fin_cnt > 0 && size != 0 {
            size -= 1; // the FIN
        }
        size
    }
}

/// Side effects of one packet the connection table must act on.
#[derive(Debug, Default, Clone)]
pub struct PacketEffects {
    /// Zeek weirds raised by this packet.
    pub weirds: [Option<&'static str>; 4],
    /// The originator/responder roles were swapped.
    pub flipped: bool,
    /// The handshake finished: switch to the long inactivity timeout.
    pub handshake_done: bool,
    /// The connection's last-activity time is to be updated.
    pub touch: bool,
    /// An initial SYN from the originator: arm the attempt timer.
    pub attempt_timer: bool,
    /// Both sides are done: remove after the close delay.
    pub close_complete: bool,
    /// One side closed: re-check in a while.
    pub half_closed: bool,
    /// Content gap bytes to add to missed_bytes.
    pub missed: u64,
    /// Relative sequence number of the payload, when it is to be reassembled (fully
    /// captured, not a RST, not below the initial sequence number).
    pub data_seq: Option<u64>,
    /// Relative sequence number the segment acknowledges of the peer's stream.
    pub ack: Option<u64>,
    /// The segment is a SYN: the sender's stream starts at this relative sequence number.
    pub stream_start: Option<u64>,
    /// The segment is a FIN: the sender's data ends before this relative sequence number.
    pub data_end: Option<u64>,
}

impl PacketEffects {
    fn weird(&mut self, name: &'static str) {
        if let Some(slot) = self.weirds.iter_mut().find(|w| w.is_none()) {
            *slot = Some(name);
        }
    }
}

/// The TCP part of a connection.
#[derive(Debug, Clone)]
pub struct TcpConn {
    pub orig: Endpoint,
    pub resp: Endpoint,
    first_packet_seen: u8,
    is_partial: bool,
    seen_first_ack: bool,
    did_weird: bool,
}

impl Default for TcpConn {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConn {
    pub fn new() -> Self {
        TcpConn {
            orig: Endpoint::new(true),
            resp: Endpoint::new(false),
            first_packet_seen: 0,
            is_partial: false,
            seen_first_ack: false,
            did_weird: false,
        }
    }

    /// Zeek 5.1+ (its PR #2191): a connection that began with the originator's SYN-ACK (the
    /// port heuristic did not flip it: the sender may be a stealth scanner) is flipped when the
    /// next segment, from either side, is a plain ACK or carries data. A scanner's SYN-ACK draws
    /// a RST or nothing; a connection whose SYN was missed goes on. Call before `process`: true
    /// when the roles were swapped, which changes the segment's side too.
    pub fn flip_after_syn_ack(&mut self, seg: &TcpSegment<'_>) -> bool {
        let plain = !seg.has(F::SYN) && !seg.has(F::FIN) && !seg.has(F::RST);
        if self.orig.state != EpState::SynAckSent
            || self.resp.state != EpState::Inactive
            || !plain
            || !(seg.has(F::ACK) || seg.payload_len > 0)
        {
            return false;
        }
        std::mem::swap(&mut self.orig, &mut self.resp);
        self.orig.is_orig = true;
        self.resp.is_orig = false;
        // The SYN-ACK answered a SYN that was missed: its sender is established, and the
        // originator counts as having sent its first packet, so the connection is not partial
        // (Zeek's PR #2552).
        self.resp.prev_state = self.resp.state;
        self.resp.state = EpState::Established;
        let f = self.first_packet_seen;
        self.first_packet_seen = ((f & 1) << 1) | ((f & 2) >> 1) | 1;
        self.is_partial = false;
        true
    }

    pub fn orig_size(&self) -> u64 {
        self.orig.size(self.resp.state)
    }
    pub fn resp_size(&self) -> u64 {
        self.resp.size(self.orig.state)
    }

    pub fn both_closed(&self) -> bool {
        self.orig.did_close && self.resp.did_close
    }
    fn is_closed(&self) -> bool {
        self.orig.did_close || self.resp.did_close
    }

    /// A packet whose checksum is bad: only the 'C' history letter.
    pub fn bad_checksum(&mut self, is_orig: bool, hist: &mut History) {
        let ep = if is_orig {
            &mut self.orig
        } else {
            &mut self.resp
        };
        hist.scaled(is_orig, &mut ep.chk_ctr, b'C');
    }

    /// Whether a SYN for this tuple starts a new connection (Zeek's `IsReuse`).
    pub fn is_reuse(
        &self,
        seg: &TcpSegment<'_>,
        ts: i64,
        last_time: i64,
    ) -> (bool, Option<&'static str>) {
        if !seg.has(F::SYN) {
            return (false, None);
        }
        let mut conn_orig = &self.orig;
        if seg.has(F::ACK) {
            if self.orig.state != EpState::Inactive {
                return (false, None);
            }
            conn_orig = &self.resp;
        }
        let mut weird = None;
        if !self.is_closed() {
            if seg.seq == conn_orig.start_seq {
                return (false, None);
            }
            if !seg.has(F::ACK)
                && conn_orig.state == EpState::SynAckSent
                && self.resp.state == EpState::Inactive
                && seg.seq == self.resp.start_seq
            {
                return (false, None);
            }
            weird = Some(if conn_orig.state == EpState::SynSent {
                "SYN_seq_jump"
            } else {
                "active_connection_reuse"
            });
        } else if (self.orig.is_active() || self.resp.is_active())
            && self.orig.state != EpState::Reset
            && self.resp.state != EpState::Reset
        {
            weird = Some("active_connection_reuse");
        } else if ts - last_time < super::timeouts::TCP_CONNECTION_LINGER
            && self.orig.state != EpState::Reset
            && self.resp.state != EpState::Reset
        {
            weird = Some("premature_connection_reuse");
        }
        (true, weird)
    }

    /// Processes one segment with a valid checksum. `captured` tells whether the whole
    /// payload was captured.
    pub fn process(
        &mut self,
        is_orig: bool,
        seg: &TcpSegment<'_>,
        hist: &mut History,
        out: &mut PacketEffects,
    ) {
        let flags = seg.flags;
        let syn = flags & F::SYN != 0;
        let fin = flags & F::FIN != 0;
        let rst = flags & F::RST != 0;
        let ackf = flags & F::ACK != 0;
        let len = seg.payload_len;
        let base_seq = seg.seq;
        let ack_seq = seg.ack;

        self.set_partial_status(flags, is_orig);

        let mut seg_len = len as i64 + syn as i64 + fin as i64;
        if rst {
            seg_len -= len as i64;
        }
        let seq_one_past = base_seq.wrapping_add(seg_len as u32);

        let both_closed_before = self.both_closed();
        let (ep, peer) = if is_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        };

        init_endpoint(ep, peer.state, flags, base_seq, seq_one_past, out);

        let (rel_seq, seq_underflow) = relative_seq(ep, base_seq, ep.last_seq, ep.seq_wraps);
        if seq_underflow && !rst {
            out.weird("TCP_seq_underflow_or_misorder");
        }

        update_history(flags, ep, rel_seq, len as u64, hist);
        update_window(ep, peer.state, seg.window, base_seq, ack_seq, flags, hist);

        if !both_closed_before {
            out.touch = true;
        }

        if syn {
            ep.syn_seen = true;
            if rst {
                out.weird("TCP_christmas");
            }
            if flags & F::URG != 0 {
                out.weird("baroque_SYN");
            }
            if len > 0 {
                out.weird("SYN_with_data");
            }
            init_window(ep, peer, flags, seg.window_scale(), base_seq, ack_seq);
        }
        if fin {
            ep.fin_cnt += 1;
            ep.fin_seq = rel_seq.wrapping_add(seg_len as u64);
            out.data_end = Some(rel_seq.wrapping_add(syn as u64 + len as u64));
        }
        if rst {
            ep.rst_cnt += 1;
        }

        let mut rel_ack = 0u64;
        if ackf {
            if is_orig
                && !self.seen_first_ack
                && matches!(ep.state, EpState::Established | EpState::SynSent)
            {
                self.seen_first_ack = true;
            }
            if peer.state == EpState::Inactive {
                rel_ack = 1;
                if !syn
                    && !fin
                    && !rst
                    && matches!(
                        ep.state,
                        EpState::SynSent | EpState::SynAckSent | EpState::Established
                    )
                    && !self.did_weird
                {
                    self.did_weird = true;
                    out.weird("possible_split_routing");
                }
                let a = ack_seq.wrapping_sub(1);
                peer.init_start(a);
                peer.ack_seq = a;
                peer.last_seq = a;
            } else {
                let (r, under) = relative_seq(peer, ack_seq, peer.ack_seq, peer.ack_wraps);
                if under {
                    rel_ack = 0;
                    out.weird("TCP_ack_underflow_or_misorder");
                } else {
                    rel_ack = r;
                    if !rst {
                        let d = seq_delta(ack_seq, peer.ack_seq);
                        if !(ack_seq == 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0 {
                            peer.update_ack_seq_raw(ack_seq);
                        }
                    }
                }
            }
        }

        let delta_last = update_last_seq(ep, seq_one_past, flags, len, hist);

        let mut do_close = false;
        let mut flip = false;
        self.update_state_machine(
            is_orig,
            base_seq,
            ack_seq,
            len,
            delta_last,
            flags,
            &mut do_close,
            &mut flip,
            out,
        );

        let (ep, peer) = if is_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        };

        if ackf {
            ack_received(peer, ep, rel_ack, self.is_partial, hist, out);
            out.ack = Some(rel_ack);
        }
        if syn {
            out.stream_start = Some(rel_seq.wrapping_add(1));
        }

        let rel_data_seq = if syn {
            rel_seq.wrapping_add(1)
        } else {
            rel_seq
        };
        if len > 0 && !rst && !seq_underflow {
            if (seg.payload.len() as u32) < len {
                out.weird("truncated_tcp_payload");
            } else {
                data_sent(ep, rel_data_seq, len as u64);
                out.data_seq = Some(rel_data_seq);
            }
        }

        if do_close {
            self.connection_closed(is_orig, out);
        }

        if flip {
            std::mem::swap(&mut self.orig, &mut self.resp);
            self.orig.is_orig = true;
            self.resp.is_orig = false;
            let f = self.first_packet_seen;
            self.first_packet_seen = ((f & 1) << 1) | ((f & 2) >> 1);
            self.is_partial = false;
            out.flipped = true;
        }
        self.first_packet_seen |= if is_orig ^ flip { 1 } else { 2 };
    }

    fn set_partial_status(&mut self, flags: u8, is_orig: bool) {
        let syn = flags & F::SYN != 0;
        let ack = flags & F::ACK != 0;
        if is_orig {
            if self.first_packet_seen & 1 == 0 {
                self.is_partial = !syn || ack;
            }
        } else if self.first_packet_seen & 2 == 0 && !self.is_partial {
            self.is_partial = !syn;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update_state_machine(
        &mut self,
        is_orig: bool,
        base_seq: u32,
        ack_seq: u32,
        len: u32,
        delta_last: i32,
        flags: u8,
        do_close: &mut bool,
        flip: &mut bool,
        out: &mut PacketEffects,
    ) {
        let syn = flags & F::SYN != 0;
        let fin = flags & F::FIN != 0;
        let rst = flags & F::RST != 0;
        let ackf = flags & F::ACK != 0;
        let orig_state_before = self.orig.state;
        let (ep, peer) = if is_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        };
        match ep.state {
            EpState::Inactive => {
                if syn {
                    if is_orig {
                        if ackf {
                            out.weird("connection_originator_SYN_ack");
                            ep.set_state(EpState::SynAckSent, peer.state, out);
                        } else {
                            ep.set_state(EpState::SynSent, peer.state, out);
                        }
                        out.attempt_timer = true;
                    } else {
                        if ackf {
                            if peer.state != EpState::Inactive
                                && peer.state != EpState::Partial
                                && !seq_between(ack_seq, peer.start_seq, peer.last_seq)
                            {
                                out.weird("bad_SYN_ack");
                            }
                        } else if peer.state == EpState::SynAckSent && base_seq == ep.start_seq {
                            // SYN/SYN-ACK reversal: flip roles and establish.
                            *flip = true;
                            peer.set_state(EpState::Established, ep.state, out);
                            self.is_partial = false;
                        } else {
                            out.weird("simultaneous_open");
                        }
                        if peer.state == EpState::SynSent {
                            peer.set_state(EpState::Established, ep.state, out);
                        } else if peer.state == EpState::Inactive {
                            out.weird("unsolicited_SYN_response");
                        }
                        ep.set_state(EpState::Established, peer.state, out);
                    }
                }
                if fin {
                    ep.set_state(EpState::Closed, peer.state, out);
                    *do_close = true;
                    if peer.state != EpState::Partial && !syn {
                        out.weird("spontaneous_FIN");
                    }
                }
                if rst {
                    ep.set_state(EpState::Reset, peer.state, out);
                    let is_reject = if is_orig {
                        peer.state == EpState::Established
                    } else {
                        matches!(peer.state, EpState::SynSent | EpState::SynAckSent)
                    };
                    *do_close = true;
                    if !is_reject && peer.state == EpState::Inactive {
                        out.weird("spontaneous_RST");
                    }
                }
                if ep.state == EpState::Inactive {
                    if !is_orig && len == 0 && orig_state_before == EpState::SynSent {
                        // An ack of the SYN before the SYN-ACK: not a partial connection.
                    } else if ackf && peer.state == EpState::Established {
                        // Missed the initial SYN but saw the SYN-ACK: establish.
                        ep.set_state(EpState::Established, peer.state, out);
                        self.is_partial = false;
                        self.first_packet_seen |= if is_orig { 1 } else { 2 };
                    } else {
                        ep.set_state(EpState::Partial, peer.state, out);
                    }
                }
            }
            EpState::SynSent | EpState::SynAckSent => {
                if syn {
                    if is_orig {
                        if ackf && !fin && !rst && ep.state != EpState::SynAckSent {
                            out.weird("repeated_SYN_with_ack");
                        }
                    } else if !ackf && ep.state != EpState::SynSent {
                        out.weird("repeated_SYN_reply_wo_ack");
                    }
                }
                if fin {
                    if matches!(peer.state, EpState::Inactive | EpState::SynSent) {
                        out.weird("inappropriate_FIN");
                    }
                    ep.set_state(EpState::Closed, peer.state, out);
                    *do_close = true;
                }
                if rst {
                    ep.set_state(EpState::Reset, peer.state, out);
                    *do_close = true;
                } else if len > 0 {
                    out.weird("data_before_established");
                }
            }
            EpState::Established | EpState::Partial => {
                if syn && ep.state == EpState::Partial && peer.state == EpState::Inactive && !ackf {
                    out.weird("SYN_after_partial");
                    ep.set_state(EpState::SynSent, peer.state, out);
                }
                if fin && !rst {
                    ep.set_state(EpState::Closed, peer.state, out);
                    if peer.state == EpState::Reset && peer.prev_state == EpState::Closed {
                        // FIN followed by RST from the peer: a normal termination.
                        peer.set_state(EpState::Closed, ep.state, out);
                    }
                    *do_close = true;
                }
                if rst {
                    ep.set_state(EpState::Reset, peer.state, out);
                    *do_close = true;
                }
            }
            EpState::Closed => {
                if syn {
                    out.weird("SYN_after_close");
                }
                if fin && delta_last > 0 {
                    out.weird("FIN_advanced_last_seq");
                }
                if rst && peer.state != EpState::Closed {
                    ep.set_state(EpState::Reset, peer.state, out);
                    if !ep.did_close {
                        *do_close = true;
                    }
                }
            }
            EpState::Reset => {
                if syn {
                    out.weird("SYN_after_reset");
                }
                if fin {
                    out.weird("FIN_after_reset");
                }
                if len > 0 && !rst {
                    out.weird("data_after_reset");
                }
            }
        }
    }

    fn connection_closed(&mut self, is_orig: bool, out: &mut PacketEffects) {
        let (ep, peer) = if is_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        };
        if ep.did_close {
            return;
        }
        ep.did_close = true;
        let complete =
            ep.state == EpState::Reset || peer.did_close || peer.state == EpState::Inactive;
        if complete {
            out.close_complete = true;
        } else if ep.prev_state != EpState::Inactive {
            out.half_closed = true;
        }
    }

    /// Zeek's conn_state for this connection; `history` is needed for RSTOS0.
    pub fn conn_state(&self, history: &str) -> &'static str {
        use EpState::*;
        let os = self.orig.state;
        let rs = self.resp.state;
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && self.orig_size() == 0 && self.resp_size() == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if rstos0_history(history) {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
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

    /// Whether the attempt timer finds an unanswered SYN (Zeek's AttemptTimer).
    pub fn attempt_unanswered(&self) -> bool {
        matches!(self.orig.state, EpState::SynSent | EpState::SynAckSent)
            && self.resp.state == EpState::Inactive
    }

    /// Zeek's ExpireTimer test: true when the connection should be removed.
    pub fn expire_check(&self) -> bool {
        let (o, r) = (&self.orig, &self.resp);
        if (o.did_close || r.did_close)
            && ((o.did_close && r.did_close)
                || o.state == EpState::Reset
                || r.state == EpState::Reset
                || o.state == EpState::Inactive
                || r.state == EpState::Inactive)
        {
            return true;
        }
        r.state == EpState::Inactive && o.state == EpState::Inactive
    }
}

/// `/^\^?S[^HAFGIQ]*R.*/`
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

fn init_endpoint(
    ep: &mut Endpoint,
    _peer_state: EpState,
    flags: u8,
    first_seq: u32,
    mut last_seq: u32,
    out: &mut PacketEffects,
) {
    let syn = flags & F::SYN != 0;
    match ep.state {
        EpState::Inactive => {
            if syn {
                ep.ack_seq = first_seq;
                ep.init_start(first_seq);
            } else {
                // Partial connection: number as though a SYN had been seen.
                let s = first_seq.wrapping_sub(1);
                ep.ack_seq = s;
                ep.init_start(s);
                last_seq = first_seq;
            }
            ep.last_seq = last_seq;
        }
        EpState::SynSent | EpState::SynAckSent => {
            if syn && first_seq != ep.start_seq {
                out.weird("SYN_seq_jump");
                ep.init_start(first_seq);
                ep.ack_seq = first_seq;
                ep.last_seq = last_seq;
            }
        }
        EpState::Established | EpState::Partial => {
            if syn {
                out.weird("SYN_inside_connection");
                if first_seq != ep.start_seq {
                    out.weird("SYN_seq_jump");
                }
                ep.init_start(first_seq);
                ep.ack_seq = first_seq;
                ep.last_seq = last_seq;
            }
        }
        EpState::Reset => {
            if syn && ep.prev_state == EpState::Inactive {
                ep.init_start(first_seq);
                ep.ack_seq = first_seq;
                ep.last_seq = last_seq;
            }
        }
        EpState::Closed => {}
    }
}

/// Relative sequence number of `cur` against `last` (accounting for wraps) and
/// whether it falls before the endpoint's start.
fn relative_seq(ep: &Endpoint, cur: u32, last: u32, mut wraps: u32) -> (u64, bool) {
    let delta = seq_delta(cur, last);
    if delta < 0 {
        if wraps > 0 && cur > last {
            wraps -= 1;
        }
    } else if delta > 0 && cur < last {
        wraps += 1;
    }
    if wraps == 0 {
        let d = seq_delta(cur, ep.start_seq);
        return (d as i64 as u64, d < 0);
    }
    (ep.relative(cur, wraps), false)
}

fn update_history(flags: u8, ep: &mut Endpoint, rel_seq: u64, len: u64, hist: &mut History) {
    let syn = flags & F::SYN != 0;
    let fin = flags & F::FIN != 0;
    let rst = flags & F::RST != 0;
    let o = ep.is_orig;
    let n = syn as u8 + fin as u8 + rst as u8;
    if n > 1 {
        if fin && rst {
            hist.check(o, bits::FIN_RST, b'I');
        } else {
            hist.check(o, bits::MULTI_FLAG, b'Q');
        }
    } else if n == 1 {
        if syn {
            let code = if flags & F::ACK != 0 { b'H' } else { b'S' };
            if !hist.check(o, bits::SYN, code) && rel_seq != ep.hist_last_syn {
                hist.add(o, code);
            }
            ep.hist_last_syn = rel_seq;
        }
        if fin {
            let at = rel_seq.wrapping_add(len);
            if !hist.check(o, bits::FIN, b'F') && at != ep.hist_last_fin {
                hist.add(o, b'F');
            }
            ep.hist_last_fin = at;
        }
        if rst {
            if !hist.check(o, bits::RST, b'R') && rel_seq != ep.hist_last_rst {
                hist.add(o, b'R');
            }
            ep.hist_last_rst = rel_seq;
        }
    } else if len > 0 {
        hist.check(o, bits::DATA, b'D');
    } else if flags & F::ACK != 0 {
        hist.check(o, bits::ACK, b'A');
    }
}

fn update_window(
    ep: &mut Endpoint,
    peer_state: EpState,
    window: u16,
    base_seq: u32,
    ack_seq: u32,
    flags: u8,
    hist: &mut History,
) {
    let rst = flags & F::RST != 0;
    let scale = ep.window_scale.min(14) as u32;
    let window = (window as u32) << scale;
    if window == 0 && !rst && peer_state != EpState::Closed && ep.state != EpState::Reset {
        let o = ep.is_orig;
        hist.scaled(o, &mut ep.win0_ctr, b'W');
    }
    if flags & (F::SYN | F::FIN | F::RST) == 0
        && ep.state != EpState::Closed
        && ep.state != EpState::Reset
        && seq_delta(base_seq, ep.window_seq) >= 0
        && seq_delta(ack_seq, ep.window_ack_seq) >= 0
    {
        ep.window = window;
        ep.window_ack_seq = ack_seq;
        ep.window_seq = base_seq;
    }
}

fn init_window(
    ep: &mut Endpoint,
    peer: &mut Endpoint,
    flags: u8,
    scale: Option<u8>,
    base: u32,
    ack: u32,
) {
    match scale {
        None => {
            ep.window_scale = 0;
            if flags & F::ACK != 0 {
                peer.window_scale = 0;
            }
        }
        Some(s) => {
            ep.window_scale = s.min(14);
            ep.window_seq = base;
            ep.window_ack_seq = ack;
            peer.window_seq = ack;
            peer.window_ack_seq = base;
        }
    }
}

fn update_last_seq(
    ep: &mut Endpoint,
    last_seq: u32,
    flags: u8,
    len: u32,
    hist: &mut History,
) -> i32 {
    let delta = seq_delta(last_seq, ep.last_seq);
    let syn_or_rst = flags & (F::SYN | F::RST) != 0;
    if syn_or_rst && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
        // Not trusted.
    } else if flags & F::FIN != 0 && ep.last_seq == ep.start_seq.wrapping_add(1) {
        ep.update_last_seq_raw(last_seq);
    } else if ep.state == EpState::Reset {
        // Nothing after a RST is trusted.
    } else if delta > 0 {
        ep.update_last_seq_raw(last_seq);
    } else if len > 0 {
        let o = ep.is_orig;
        hist.scaled(o, &mut ep.rxmt_ctr, b'T');
    }
    delta
}

/// The peer acknowledged `seq` of `ep`'s data: anything below it never seen is a gap.
fn ack_received(
    ep: &mut Endpoint,
    peer: &Endpoint,
    seq: u64,
    is_partial: bool,
    hist: &mut History,
    out: &mut PacketEffects,
) {
    let seq = if ep.fin_cnt > 0 && seq >= ep.fin_seq {
        ep.fin_seq.wrapping_sub(1)
    } else {
        seq
    };
    // Zeek reports gaps only while both sides are established or closing cleanly;
    // in other states they arise from RST sequence numbers or unseen handshakes.
    let clean = is_clean(ep) && is_clean(peer);
    let (missed, n_gaps) = ep.gaps.trim_to(seq, is_partial);
    if clean && missed > 0 {
        let o = ep.is_orig;
        for _ in 0..n_gaps {
            hist.scaled(o, &mut ep.gap_ctr, b'G');
        }
        out.missed += missed;
    }
}

fn is_clean(e: &Endpoint) -> bool {
    e.state == EpState::Established
        || (e.state == EpState::Closed && e.prev_state == EpState::Established)
}

fn data_sent(ep: &mut Endpoint, seq: u64, len: u64) {
    let ack = ep.relative(ep.ack_seq, ep.ack_wraps);
    let (mut seq, mut len) = (seq, len);
    if seq < ack {
        let upper = seq + len;
        if upper <= ack {
            return;
        }
        let acked = ack - seq;
        seq += acked;
        len -= acked;
    }
    ep.gaps.new_block(seq, len);
    if ep.no_data_acked() && ep.size_hint() > MAX_INITIAL_WINDOW {
        // Plenty sent and nothing acked: we are likely not seeing the acks.
        ep.gaps.trim_delivered();
    }
}

impl Endpoint {
    /// Bytes sent so far (without the peer-state special case), for the
    /// unacknowledged-window heuristic.
    fn size_hint(&self) -> u64 {
        self.size(EpState::Established)
    }
}

#[cfg(test)]
mod tests;
