//! A precise wait for intended send times. tokio's timer wheel counts whole
//! milliseconds and rounds every deadline up, so a plain `sleep_until` sends
//! 1-2 ms late; this sleeps on the timer to just short of the deadline and
//! covers the rest by yielding to the runtime, which keeps other tasks
//! running and costs at most `SPIN` of busy time per send.

use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// Longer than the timer's rounding (one tick) plus a wake-up's delay.
const SPIN: Duration = Duration::from_micros(1_300);

/// Returns at `deadline` or within a few microseconds after it.
pub async fn until(deadline: Instant) {
    if let Some(coarse) = deadline.checked_sub(SPIN) {
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse.into()).await;
        }
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

/// A worker's request-timeout timer, reused across its requests. Re-arming
/// a tokio timer costs a timer-wheel removal and insertion; this one is
/// re-armed only when its deadline falls short of the one a request needs,
/// and then a slack beyond it, so a timeout fires between `timeout` and
/// `timeout + slack` after the send (slack: 1/16 of it, at most 50 ms).
pub struct Deadline {
    sleep: Pin<Box<Sleep>>,
    timeout: Duration,
    slack: Duration,
}

impl Deadline {
    pub fn new(timeout: Duration) -> Deadline {
        let slack = (timeout / 16).min(Duration::from_millis(50));
        let at = Instant::now() + timeout + slack;
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(at.into())),
            timeout,
            slack,
        }
    }

    /// The timer for a request sent at `sent`.
    pub fn arm(&mut self, sent: Instant) -> Pin<&mut Sleep> {
        let want = sent + self.timeout;
        if self.sleep.deadline().into_std() < want {
            self.sleep.as_mut().reset((want + self.slack).into());
        }
        self.sleep.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_deadline_fires_between_the_timeout_and_its_slack() {
        let timeout = Duration::from_millis(160);
        let mut d = Deadline::new(timeout);
        // Requests answered at once, 32 ms in all: past the 10 ms slack, so
        // the timer must have moved on; one never re-armed fires 32 ms early.
        for step_ms in [3u64, 7, 20, 1, 1] {
            tokio::time::advance(Duration::from_millis(step_ms)).await;
            assert!(!d.arm(tokio::time::Instant::now().into_std()).is_elapsed());
        }
        let sent = tokio::time::Instant::now();
        d.arm(sent.into_std()).await;
        let waited = sent.elapsed();
        assert!(
            waited >= timeout && waited <= timeout + timeout / 16,
            "{waited:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_within_a_fraction_of_a_millisecond() {
        let mut late = Vec::new();
        for i in 0..41u64 {
            let due = Instant::now() + Duration::from_micros(2_000 + 137 * i);
            until(due).await;
            late.push(Instant::now() - due);
        }
        late.sort();
        // A plain tokio sleep is 0.5-2 ms late here (about 1 ms at the
        // median); the median stays clear of the odd preemption on a busy
        // machine.
        assert!(
            late[20] < Duration::from_micros(300),
            "median lateness {:?}",
            late[20]
        );
    }
}
