//! `[stability]` resolved: the window length, the observed span, warm-up and
//! flap budget, fitted to the run's length. A run shorter than what was
//! asked for is judged on what it has, and the report says so.

use std::time::Duration;

use super::units::fmt_duration;

/// Built-in stability defaults, documented once here and in the README.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// What the scenario file or the command line asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StabilityAsk {
    /// `None`: the whole run after warm-up.
    pub observe: Option<Duration>,
    pub window: Option<Duration>,
    pub warmup: Option<Duration>,
    pub flaps_max: Option<u64>,
    /// Stop early once one SLO has failed this many windows in a row.
    pub abort_after: Option<u32>,
}

impl StabilityAsk {
    /// Fields set in `over` win over those set here.
    pub fn merged(&self, over: &StabilityAsk) -> StabilityAsk {
        StabilityAsk {
            observe: over.observe.or(self.observe),
            window: over.window.or(self.window),
            warmup: over.warmup.or(self.warmup),
            flaps_max: over.flaps_max.or(self.flaps_max),
            abort_after: over.abort_after.or(self.abort_after),
        }
    }

    /// Checks values that no run length can make right.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.window.is_some_and(|w| w.is_zero()) {
            return Err(("stability.window", "window must be longer than zero".into()));
        }
        if self.observe.is_some_and(|w| w.is_zero()) {
            return Err((
                "stability.observe",
                "observe must be longer than zero".into(),
            ));
        }
        if self.abort_after == Some(0) {
            return Err((
                "stability.abort_after",
                "abort_after counts failed windows in a row: it must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The windows a run is judged by, fitted to its length and interval.
#[derive(Clone, Debug, PartialEq)]
pub struct StabilitySpec {
    pub asked: StabilityAsk,
    /// A whole number of collector intervals.
    pub window: Duration,
    pub intervals_per_window: u32,
    pub warmup_windows: u32,
    /// How many judged windows, counted back from the end, must all pass.
    pub observe_windows: u32,
    pub flaps_max: Option<u64>,
    pub abort_after: Option<u32>,
    /// What had to be shortened to fit the run, in words for the report.
    pub notes: Vec<String>,
}

impl StabilitySpec {
    pub fn warmup(&self) -> Duration {
        self.window * self.warmup_windows
    }

    pub fn observe(&self) -> Duration {
        self.window * self.observe_windows
    }

    /// Fits the ask to a run of length `run`; lowers `interval` to the
    /// window when the window is shorter, so each window is whole intervals.
    pub fn resolve(ask: &StabilityAsk, run: Duration, interval: &mut Duration) -> StabilitySpec {
        let mut notes = Vec::new();
        let mut window = ask.window.unwrap_or(DEFAULT_WINDOW);
        if window > run && !run.is_zero() {
            notes.push(format!(
                "window {} is longer than the run ({}): one window spans the whole run",
                fmt_duration(window),
                fmt_duration(run)
            ));
            window = run;
        }
        if window < *interval {
            *interval = window;
        }
        let per = (window.as_secs_f64() / interval.as_secs_f64())
            .round()
            .max(1.0) as u32;
        let window = *interval * per;
        let mut warmup = ask.warmup.unwrap_or_default();
        if warmup + window > run && !warmup.is_zero() {
            notes.push(format!(
                "warm-up {} leaves no whole window in a run of {}: no warm-up excluded",
                fmt_duration(warmup),
                fmt_duration(run)
            ));
            warmup = Duration::ZERO;
        }
        let warmup_windows = ceil_div(warmup, window);
        let available = run.saturating_sub(window * warmup_windows);
        let whole = (available.as_secs_f64() / window.as_secs_f64() + 1e-9).floor() as u32;
        let asked_windows = ask.observe.map(|o| ceil_div(o, window));
        let observe_windows = match asked_windows {
            Some(n) if n > whole.max(1) => {
                notes.push(format!(
                    "observe {} is longer than the run after warm-up ({}): \
                     the stability verdict covers the whole run after warm-up",
                    fmt_duration(ask.observe.unwrap_or_default()),
                    fmt_duration(available)
                ));
                whole.max(1)
            }
            Some(n) => n,
            None => whole.max(1),
        };
        StabilitySpec {
            asked: ask.clone(),
            window,
            intervals_per_window: per,
            warmup_windows,
            observe_windows,
            flaps_max: ask.flaps_max,
            abort_after: ask.abort_after,
            notes,
        }
    }
}

fn ceil_div(a: Duration, b: Duration) -> u32 {
    (a.as_secs_f64() / b.as_secs_f64() - 1e-9).ceil().max(0.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn ask(observe: f64, window: f64, warmup: f64) -> StabilityAsk {
        StabilityAsk {
            observe: Some(secs(observe)),
            window: Some(secs(window)),
            warmup: Some(secs(warmup)),
            flaps_max: Some(0),
            abort_after: None,
        }
    }

    #[test]
    fn a_long_run_keeps_what_was_asked() {
        let mut iv = secs(1.0);
        let s = StabilitySpec::resolve(&ask(1800.0, 60.0, 120.0), secs(2400.0), &mut iv);
        assert_eq!((s.window, s.intervals_per_window), (secs(60.0), 60));
        assert_eq!((s.warmup_windows, s.observe_windows), (2, 30));
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn a_short_run_clamps_window_observe_and_warmup_and_says_so() {
        let mut iv = secs(1.0);
        let s = StabilitySpec::resolve(&ask(1800.0, 60.0, 60.0), secs(30.0), &mut iv);
        assert_eq!(
            (s.window, s.warmup_windows, s.observe_windows),
            (secs(30.0), 0, 1)
        );
        assert_eq!(s.notes.len(), 3, "{:?}", s.notes);
        let s = StabilitySpec::resolve(&ask(1800.0, 10.0, 10.0), secs(60.0), &mut iv);
        assert_eq!((s.warmup_windows, s.observe_windows), (1, 5));
        assert_eq!(s.notes.len(), 1);
    }

    #[test]
    fn a_window_below_the_interval_lowers_the_interval() {
        let mut iv = secs(1.0);
        let s = StabilitySpec::resolve(&ask(2.0, 0.5, 0.0), secs(3.0), &mut iv);
        assert_eq!(
            (iv, s.intervals_per_window, s.observe_windows),
            (secs(0.5), 1, 4)
        );
        assert!(StabilityAsk {
            abort_after: Some(0),
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
