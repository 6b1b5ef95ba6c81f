//! When each request starts. A pacer is a pure function of elapsed time and
//! requests sent: open-model timetables (constant or linearly ramping arrival
//! rate, start + n / rate, never relative sleeps) and the closed model (send
//! when the previous answer is in, after an optional think time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::scenario::{Load, Segment};

#[derive(Clone, Debug, PartialEq)]
pub enum Pacer {
    Open(Timetable),
    Closed { think: Duration, duration: Duration },
}

/// What a worker should do now, given time elapsed and requests sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// The next start is due this long from now.
    Wait(Duration),
    /// The next start is due (or overdue): send.
    Send,
    /// The schedule is over.
    Stop,
}

impl Pacer {
    pub fn new(load: &Load) -> Pacer {
        match load {
            Load::Open { segments } => Pacer::Open(Timetable::new(segments)),
            Load::Closed {
                think, duration, ..
            } => Pacer::Closed {
                think: *think,
                duration: *duration,
            },
        }
    }

    /// Pure pacing decision for the open model (vegeta's shape).
    pub fn pace(&self, elapsed: Duration, sent: u64) -> Pace {
        match self {
            Pacer::Open(t) => match t.due(sent) {
                None => Pace::Stop,
                Some(d) if d > elapsed => Pace::Wait(d - elapsed),
                Some(_) => Pace::Send,
            },
            Pacer::Closed { duration, .. } if elapsed >= *duration => Pace::Stop,
            Pacer::Closed { .. } => Pace::Send,
        }
    }

    pub fn duration(&self) -> Duration {
        match self {
            Pacer::Open(t) => t.total,
            Pacer::Closed { duration, .. } => *duration,
        }
    }
}

/// An arrival-rate timetable built from linear segments.
#[derive(Clone, Debug, PartialEq)]
pub struct Timetable {
    segs: Vec<Seg>,
    total: Duration,
}

#[derive(Clone, Debug, PartialEq)]
struct Seg {
    start_s: f64,
    len_s: f64,
    from: f64,
    to: f64,
    /// Arrivals before this segment starts.
    before: f64,
    /// Arrivals within it.
    count: f64,
}

impl Timetable {
    pub fn new(segments: &[Segment]) -> Timetable {
        let mut segs = Vec::with_capacity(segments.len());
        let (mut start_s, mut before) = (0.0, 0.0);
        for s in segments {
            let len_s = s.duration.as_secs_f64();
            let count = (s.from + s.to) / 2.0 * len_s;
            segs.push(Seg {
                start_s,
                len_s,
                from: s.from,
                to: s.to,
                before,
                count,
            });
            start_s += len_s;
            before += count;
        }
        Timetable {
            segs,
            total: segments.iter().map(|s| s.duration).sum(),
        }
    }

    /// Total arrivals the timetable holds.
    pub fn len(&self) -> u64 {
        self.segs
            .last()
            .map_or(0, |s| (s.before + s.count - 1e-9).ceil().max(0.0) as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Intended start of request `n` (0-based) from run start, or `None`
    /// past the end. Request n goes out when the integral of the rate
    /// reaches n, so the first one leaves at once.
    pub fn due(&self, n: u64) -> Option<Duration> {
        let n = n as f64;
        let seg = self.segs.iter().find(|s| n < s.before + s.count - 1e-9)?;
        let k = n - seg.before;
        // Arrivals within the segment after t seconds: from*t + (to-from)*t^2/(2*len).
        let a = (seg.to - seg.from) / (2.0 * seg.len_s);
        let t = if a.abs() < 1e-12 {
            k / seg.from
        } else {
            (-seg.from + (seg.from * seg.from + 4.0 * a * k).sqrt()) / (2.0 * a)
        };
        Some(Duration::from_secs_f64(
            seg.start_s + t.clamp(0.0, seg.len_s),
        ))
    }
}

/// One agent's share of a schedule split over `count` agents: the items
/// (timetable slots, streams, workers) whose number modulo `count` is
/// `index`. Every item falls to exactly one agent, so the shares add up to
/// the whole; agents with a lower index take the one extra item of a
/// remainder; and the agents' open-model starts interleave into exactly the
/// whole run's timetable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub index: u32,
    pub count: u32,
}

impl Share {
    /// The whole schedule, run by one process.
    pub const WHOLE: Share = Share { index: 0, count: 1 };

    /// How many of `total` items fall to this agent.
    pub fn of(self, total: u64) -> u64 {
        let i = u64::from(self.index);
        if total <= i {
            return 0;
        }
        (total - i - 1) / u64::from(self.count) + 1
    }

    /// The whole schedule's number of this agent's `k`-th item.
    pub fn global(self, k: u64) -> u64 {
        u64::from(self.index) + k * u64::from(self.count)
    }
}

/// The slot counter shared by a probe's workers: each takes the next start.
pub struct Slots {
    pub pacer: Pacer,
    share: Share,
    next: AtomicU64,
    taken: AtomicU64,
}

impl Slots {
    pub fn new(pacer: Pacer) -> Slots {
        Slots::shared(pacer, Share::WHOLE)
    }

    /// Slots of one agent's share: its claims walk the whole timetable in
    /// steps of the agent count.
    pub fn shared(pacer: Pacer, share: Share) -> Slots {
        Slots {
            pacer,
            share,
            next: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        }
    }

    /// Claims the next slot: its number in the whole timetable and intended
    /// start (`None` for the closed model, whose start is "as soon as the
    /// worker is free").
    pub fn claim(&self, elapsed: Duration) -> Option<(u64, Option<Duration>)> {
        let n = self.share.global(self.next.fetch_add(1, Ordering::Relaxed));
        let slot = match &self.pacer {
            // Past the schedule's end nothing more is sent, so the run ends on
            // time; starts still waiting for a connection become `skipped`.
            Pacer::Open(t) if elapsed >= t.total => None,
            Pacer::Open(t) => t.due(n).map(|d| (n, Some(d))),
            Pacer::Closed { duration, .. } => (elapsed < *duration).then_some((n, None)),
        };
        if slot.is_some() {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        slot
    }

    /// Starts of this share's timetable that were never sent because the
    /// schedule ended first (every connection was busy until then).
    pub fn skipped(&self) -> u64 {
        match &self.pacer {
            Pacer::Open(t) => self
                .share
                .of(t.len())
                .saturating_sub(self.taken.load(Ordering::Relaxed)),
            Pacer::Closed { .. } => 0,
        }
    }

    pub fn claimed(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(from: f64, to: f64, secs: u64) -> Segment {
        Segment {
            from,
            to,
            duration: Duration::from_secs(secs),
        }
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    #[test]
    fn constant_rate_is_start_plus_n_over_rate() {
        let t = Timetable::new(&[seg(100.0, 100.0, 10)]);
        assert_eq!(t.len(), 1000);
        for (n, want_ms) in [(0, 0.0), (1, 10.0), (250, 2500.0), (999, 9990.0)] {
            assert!((ms(t.due(n).unwrap()) - want_ms).abs() < 1e-6, "n={n}");
        }
        assert_eq!(t.due(1000), None);
    }

    #[test]
    fn ramp_follows_the_integral_of_the_rate() {
        // 0 -> 100/s over 10 s: 500 arrivals, the n-th at sqrt(2 n T / r1).
        let t = Timetable::new(&[seg(0.0, 100.0, 10)]);
        assert_eq!(t.len(), 500);
        for n in [1u64, 50, 200, 499] {
            let want = (2.0 * n as f64 * 10.0 / 100.0).sqrt() * 1000.0;
            assert!((ms(t.due(n).unwrap()) - want).abs() < 1e-6, "n={n}");
        }
        // Then a plateau: 100/s for 5 s after the ramp.
        let t = Timetable::new(&[seg(0.0, 100.0, 10), seg(100.0, 100.0, 5)]);
        assert_eq!(t.len(), 1000);
        assert!((ms(t.due(500).unwrap()) - 10_000.0).abs() < 1e-6);
        assert!((ms(t.due(600).unwrap()) - 11_000.0).abs() < 1e-6);
    }

    #[test]
    fn ramp_down_is_symmetric() {
        let t = Timetable::new(&[seg(100.0, 0.0, 10)]);
        assert_eq!(t.len(), 500);
        assert!((ms(t.due(1).unwrap()) - 10.0).abs() < 0.01);
        assert!(ms(t.due(499).unwrap()) > 8_000.0);
    }

    #[test]
    fn shares_add_up_to_the_whole_with_the_remainder_first() {
        let shares: Vec<u64> = (0..3).map(|i| Share { index: i, count: 3 }.of(8)).collect();
        assert_eq!(shares, [3, 3, 2]);
        assert_eq!(Share { index: 4, count: 5 }.of(3), 0);
        assert_eq!(Share::WHOLE.of(7), 7);
        for total in 0..40u64 {
            let sum: u64 = (0..7).map(|i| Share { index: i, count: 7 }.of(total)).sum();
            assert_eq!(sum, total, "total {total}");
        }
    }

    #[test]
    fn agents_claims_interleave_into_the_whole_timetable() {
        // 0 -> 90/s over 2 s: 90 arrivals; three agents take every third.
        let whole = Timetable::new(&[seg(0.0, 90.0, 2)]);
        let mut got: Vec<(u64, Duration)> = Vec::new();
        for index in 0..3 {
            let s = Slots::shared(Pacer::Open(whole.clone()), Share { index, count: 3 });
            while let Some((n, due)) = s.claim(Duration::ZERO) {
                got.push((n, due.unwrap()));
            }
            assert_eq!(s.claimed() - 1, Share { index, count: 3 }.of(90));
        }
        got.sort_by_key(|g| g.0);
        let want: Vec<(u64, Duration)> = (0..90).map(|n| (n, whole.due(n).unwrap())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn pace_table() {
        let p = Pacer::Open(Timetable::new(&[seg(10.0, 10.0, 1)]));
        let cases = [
            (0, 0, Pace::Send),
            (0, 1, Pace::Wait(Duration::from_millis(100))),
            (150, 1, Pace::Send),
            (150, 2, Pace::Wait(Duration::from_millis(50))),
            (2000, 9, Pace::Send),
            (2000, 10, Pace::Stop),
        ];
        for (elapsed_ms, sent, want) in cases {
            let got = p.pace(Duration::from_millis(elapsed_ms), sent);
            match (got, want) {
                (Pace::Wait(a), Pace::Wait(b)) => {
                    assert!((ms(a) - ms(b)).abs() < 1e-6, "{elapsed_ms} {sent}")
                }
                _ => assert_eq!(got, want, "elapsed {elapsed_ms} ms, sent {sent}"),
            }
        }
        let c = Pacer::Closed {
            think: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        assert_eq!(c.pace(Duration::from_millis(999), 5000), Pace::Send);
        assert_eq!(c.pace(Duration::from_secs(1), 0), Pace::Stop);
    }
}
