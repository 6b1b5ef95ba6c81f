//! A precise wait for intended send times. tokio's timer wheel counts whole
//! milliseconds and rounds every deadline up, so a plain `sleep_until` sends
//! 1-2 ms late; this sleeps on the timer to just short of the deadline and
//! covers the rest by yielding to the runtime, which keeps other tasks
//! running and costs at most `SPIN` of busy time per send.

use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_within_a_fraction_of_a_millisecond() {
        let mut worst = Duration::ZERO;
        for i in 0..40u64 {
            let due = Instant::now() + Duration::from_micros(2_000 + 137 * i);
            until(due).await;
            let late = Instant::now() - due;
            worst = worst.max(late);
        }
        // A plain tokio sleep is up to ~1-2 ms late here: the bound catches it.
        assert!(
            worst < Duration::from_micros(500),
            "worst lateness {worst:?}"
        );
    }
}
