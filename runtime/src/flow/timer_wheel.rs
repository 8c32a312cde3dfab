//! Connection timers: a hashed timing wheel in front of a small binary heap.
//!
//! The flow table schedules several timers per connection (Zeek's attempt, expire,
//! inactivity and delete timers) and checks for due ones before every packet. With one
//! binary heap over all of them, each pop sifted through tens of thousands of entries
//! spread over megabytes, a cache miss per level: on the benchmark trace that was a tenth
//! of the fast path's time. Here a timer is parked in the wheel bucket of its tick (O(1),
//! one append to a warm vector) and only moves into the heap once its tick has begun, so
//! the heap holds the timers of a tick or two and stays in cache.
//!
//! The order in which timers come out is exactly the binary heap's: every timer due at
//! `now` is in the heap when `pop_due(now)` looks, and the heap orders by the timer's own
//! `Ord` (time first). Timers farther ahead than the wheel's span wait in an overflow heap
//! that is only peeked at per tick.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A timer the wheel can hold: ordered with its due time first.
pub trait Due: Ord + Copy {
    /// Network time (µs) at which the timer is due.
    fn due(&self) -> i64;
}

/// Width of a tick: 2^17 µs (131 ms), fine enough that a tick's timers are few.
const TICK_SHIFT: u32 = 17;
/// Buckets in the wheel: 4096 ticks span 537 s, past Zeek's 300 s TCP inactivity
/// timeout, so the common timers never go to the overflow heap.
const BUCKETS: usize = 4096;

pub struct TimerWheel<T: Due> {
    /// Bucket `t % BUCKETS` holds the timers of tick `t`, for ticks in
    /// `[next_tick, next_tick + BUCKETS)`.
    buckets: Vec<Vec<T>>,
    /// First tick whose bucket has not been moved into `ready`: the tick after the one
    /// of the latest `pop_due`; `None` before the first (network time starts wherever
    /// the trace starts, and a connection's first timer is already seconds ahead).
    next_tick: Option<i64>,
    /// Timers whose tick has begun.
    ready: BinaryHeap<Reverse<T>>,
    /// Timers beyond the wheel's span.
    far: BinaryHeap<Reverse<T>>,
    len: usize,
}

impl<T: Due> Default for TimerWheel<T> {
    fn default() -> Self {
        TimerWheel {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            next_tick: None,
            ready: BinaryHeap::new(),
            far: BinaryHeap::new(),
            len: 0,
        }
    }
}

fn tick_of(when: i64) -> i64 {
    when >> TICK_SHIFT
}

impl<T: Due> TimerWheel<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, timer: T) {
        self.len += 1;
        let tick = tick_of(timer.due());
        let Some(next) = self.next_tick else {
            // Before the first `pop_due` the current tick is unknown.
            self.far.push(Reverse(timer));
            return;
        };
        if tick < next {
            self.ready.push(Reverse(timer));
        } else if tick - next < BUCKETS as i64 {
            self.buckets[(tick as usize) % BUCKETS].push(timer);
        } else {
            self.far.push(Reverse(timer));
        }
    }

    /// Removes and returns the earliest timer due at or before `now`, in `Ord` order.
    pub fn pop_due(&mut self, now: i64) -> Option<T> {
        let tick = tick_of(now);
        if self.next_tick.is_none() {
            self.next_tick = Some(tick);
        }
        self.open_ticks_until(tick);
        match self.ready.peek() {
            Some(Reverse(t)) if t.due() <= now => {
                self.len -= 1;
                self.ready.pop().map(|Reverse(t)| t)
            }
            _ => None,
        }
    }

    /// Moves the timers of every tick up to and including `tick` into `ready`.
    fn open_ticks_until(&mut self, tick: i64) {
        let Some(next) = self.next_tick else {
            return;
        };
        if tick < next {
            return;
        }
        // A jump of more than a revolution visits each bucket once: the wheel only holds
        // ticks below next + BUCKETS, all of which are now open.
        let end = tick.min(next + BUCKETS as i64 - 1);
        for t in next..=end {
            let bucket = &mut self.buckets[(t as usize) % BUCKETS];
            self.ready.extend(bucket.drain(..).map(Reverse));
        }
        self.next_tick = Some(tick + 1);
        // Far timers whose tick is now open, or now within the span, come in.
        while let Some(Reverse(t)) = self.far.peek().copied() {
            let t_tick = tick_of(t.due());
            if t_tick > tick + BUCKETS as i64 - 1 {
                break;
            }
            self.far.pop();
            if t_tick <= tick {
                self.ready.push(Reverse(t));
            } else {
                self.buckets[(t_tick as usize) % BUCKETS].push(t);
            }
        }
    }

    pub fn clear(&mut self) {
        for b in &mut self.buckets {
            b.clear();
        }
        self.ready.clear();
        self.far.clear();
        self.next_tick = None;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct T(i64, u32);

    impl Due for T {
        fn due(&self) -> i64 {
            self.0
        }
    }

    /// A deterministic pseudo-random sequence (xorshift), so the test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Pushes and pops at advancing (and sometimes jumping or stalling) times and checks
    /// every pop against a plain binary heap, the structure the wheel replaces.
    fn same_as_heap(seed: u64, max_delay: i64, max_step: i64) {
        let mut rng = Rng(seed);
        let mut wheel = TimerWheel::default();
        let mut heap = BinaryHeap::new();
        let mut now: i64 = 1_700_000_000_000_000;
        let mut id = 0u32;
        for round in 0..20_000 {
            for _ in 0..(rng.next() % 4) {
                // Some timers are already overdue when scheduled (time going backwards in
                // a trace, or a rescheduled timer with a due time in the past).
                let delay = (rng.next() % (max_delay as u64)) as i64 - max_delay / 20;
                let t = T(now + delay, id);
                id += 1;
                wheel.push(t);
                heap.push(Reverse(t));
            }
            let step = if round % 997 == 0 {
                max_delay * 3
            } else {
                (rng.next() % (max_step as u64)) as i64
            };
            now += step;
            loop {
                let expect = match heap.peek() {
                    Some(Reverse(t)) if t.0 <= now => heap.pop().map(|Reverse(t)| t),
                    _ => None,
                };
                let got = wheel.pop_due(now);
                assert_eq!(got, expect, "round {round} now {now}");
                if got.is_none() {
                    break;
                }
            }
            assert_eq!(wheel.len(), heap.len());
        }
    }

    #[test]
    fn pops_in_heap_order_within_the_span() {
        same_as_heap(0x9e37_79b9_7f4a_7c15, 60_000_000, 200_000);
    }

    #[test]
    fn pops_in_heap_order_with_far_timers() {
        // Delays up to 20 minutes: beyond the wheel's 537 s span.
        same_as_heap(0x1234_5678_9abc_def1, 1_200_000_000, 5_000_000);
    }

    #[test]
    fn equal_times_come_out_in_ord_order() {
        let mut w = TimerWheel::default();
        for id in [5, 1, 3] {
            w.push(T(1_000, id));
        }
        assert_eq!(w.pop_due(999), None);
        assert_eq!(w.pop_due(1_000), Some(T(1_000, 1)));
        assert_eq!(w.pop_due(1_000), Some(T(1_000, 3)));
        assert_eq!(w.pop_due(1_000), Some(T(1_000, 5)));
        assert!(w.is_empty());
    }

    /// The point of the wheel: timers wait in their buckets, not in the heap. A regression
    /// test for a first version that took the first timer's tick (a minute ahead) as the
    /// current one and so sent every nearer timer straight to the heap.
    #[test]
    fn the_heap_holds_only_the_current_ticks_timers() {
        let mut w = TimerWheel::default();
        let start = 1_700_000_000_000_000;
        w.push(T(start + 60_000_000, 0));
        let mut most_ready = 0;
        for i in 1..100_000u32 {
            let now = start + i64::from(i) * 100;
            w.push(T(now + 5_000_000, i));
            w.push(T(now + 60_000_000, i));
            while w.pop_due(now).is_some() {}
            most_ready = most_ready.max(w.ready.len());
        }
        assert!(
            most_ready < 3_000,
            "{most_ready} timers in the heap at once"
        );
        assert!(w.far.is_empty());
    }

    #[test]
    fn clear_forgets_everything() {
        let mut w = TimerWheel::default();
        w.push(T(10, 0));
        w.push(T(10 + (1 << 40), 1));
        w.clear();
        assert!(w.is_empty());
        assert_eq!(w.pop_due(i64::MAX / 2), None);
    }
}
