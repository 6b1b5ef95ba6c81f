//! Stability over windows: the collector adds each interval into the
//! current window; a whole window is judged with the same SLOs as the whole
//! run (`slo::evaluate`), and the timeline of window verdicts decides the
//! stability verdict: every window of the observed span passes, and the
//! verdict flaps no more than allowed. Optionally the run stops early once
//! one SLO has failed a number of windows in a row.
//!
//! Memory stays fixed: one set of accumulating histograms per probe and
//! stream, reset when a window closes; no per-interval histograms are kept.

use serde::{Deserialize, Serialize};

use crate::metrics::{ProbeData, StreamData};
use crate::scenario::stability::StabilitySpec;
use crate::scenario::{Bound, Metric, Scenario, SloSpec};
use crate::slo::{self, SloResult, Verdict};

/// One SLO's value in one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowSlo {
    pub scope: String,
    pub metric: String,
    pub value: Option<f64>,
    pub breached: bool,
}

/// One window's verdict, for the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    pub index: u32,
    pub start_s: f64,
    pub end_s: f64,
    /// The run ended before the window was whole.
    pub partial: bool,
    /// Excluded from the stability verdict as warm-up.
    pub warmup: bool,
    /// Inside the observed span that must pass throughout.
    #[serde(default)]
    pub observed: bool,
    pub verdict: Verdict,
    /// `scope.metric` of every SLO breached in this window.
    pub breaches: Vec<String>,
    pub slos: Vec<WindowSlo>,
}

/// Every window of a run, as the engine hands it over.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowLog {
    pub windows: Vec<WindowResult>,
    /// Why the run stopped early, when it did.
    pub aborted: Option<String>,
    pub notes: Vec<String>,
}

/// Accumulates intervals into the current window and judges whole windows.
pub struct Windower {
    sc: Scenario,
    spec: StabilitySpec,
    probes: Vec<ProbeData>,
    streams: Vec<StreamData>,
    intervals: u32,
    start_s: f64,
    /// Windows in a row each SLO has failed, by position in `evaluate`'s output.
    streak: Vec<u32>,
    log: WindowLog,
}

impl Windower {
    pub fn new(sc: &Scenario) -> Option<Windower> {
        let spec = sc.stability.clone()?;
        Some(Windower {
            sc: sc.clone(),
            spec,
            probes: sc.probes.iter().map(|_| ProbeData::default()).collect(),
            streams: sc.streams.iter().map(|_| StreamData::default()).collect(),
            intervals: 0,
            start_s: 0.0,
            streak: Vec::new(),
            log: WindowLog::default(),
        })
    }

    pub fn add_probe(&mut self, i: usize, d: &ProbeData) {
        self.probes[i].add(d);
    }

    pub fn add_stream(&mut self, i: usize, d: &StreamData) {
        self.streams[i].add(d);
    }

    /// Ends one collector interval at `t_s` seconds into the run. Returns
    /// true when the run should stop (abort_after reached).
    pub fn end_interval(&mut self, t_s: f64) -> bool {
        self.intervals += 1;
        // Closed on the clock, not on a tick count: when ticks slip under
        // load a window still spans its length, to within half an interval.
        let window = self.spec.window.as_secs_f64();
        let half_tick = window / self.spec.intervals_per_window as f64 / 2.0;
        if t_s - self.start_s < window - half_tick {
            return false;
        }
        self.close(t_s, false);
        self.should_abort()
    }

    /// The run is over: judge a last partial window if it is long enough.
    pub fn finish(mut self, t_s: f64) -> WindowLog {
        let span = t_s - self.start_s;
        let window = self.spec.window.as_secs_f64();
        if span >= window * 0.95 {
            // The run's end came just before the last tick: a whole window.
            self.close(t_s, false);
        } else if span >= window / 2.0 {
            self.close(t_s, true);
        } else if span > 0.0005 {
            self.log.notes.push(format!(
                "the last {span:.1} s (less than half a window) count only in the whole-run verdict"
            ));
        }
        self.log
    }

    fn close(&mut self, t_s: f64, partial: bool) {
        let index = self.log.windows.len() as u32;
        let results = slo::evaluate(&self.sc, &self.probes, &self.streams);
        let breached: Vec<bool> = results.iter().map(|r| self.breach(r)).collect();
        let warmup = index < self.spec.warmup_windows;
        self.streak.resize(results.len(), 0);
        for (s, b) in self.streak.iter_mut().zip(&breached) {
            *s = if *b && !warmup { *s + 1 } else { 0 };
        }
        let any_value = results.iter().any(|r| r.value.is_some());
        let verdict = match (breached.contains(&true), any_value) {
            (true, _) => Verdict::Fail,
            (false, true) => Verdict::Pass,
            (false, false) => Verdict::NoData,
        };
        let slos: Vec<WindowSlo> = results
            .iter()
            .zip(&breached)
            .map(|(r, b)| WindowSlo {
                scope: r.scope.clone(),
                metric: r.metric.clone(),
                value: r.value,
                breached: *b,
            })
            .collect();
        self.log.windows.push(WindowResult {
            index,
            start_s: self.start_s,
            end_s: t_s,
            partial,
            warmup,
            observed: false,
            verdict,
            breaches: slos
                .iter()
                .filter(|s| s.breached)
                .map(|s| format!("{}.{}", s.scope, s.metric))
                .collect(),
            slos,
        });
        self.probes.iter_mut().for_each(ProbeData::reset);
        self.streams
            .iter_mut()
            .for_each(|s| *s = StreamData::default());
        self.intervals = 0;
        self.start_s = t_s;
    }

    /// A window breaches an SLO when its value fails, or when a probe sent
    /// requests in the window and none succeeded (no latency to judge).
    /// Missing stream figures (no new connection, say) are no breach: a
    /// held stream produces no TTFB in later windows.
    fn breach(&self, r: &SloResult) -> bool {
        match r.verdict {
            Verdict::Fail => true,
            Verdict::NoData if r.kind == "probe" => self
                .sc
                .probes
                .iter()
                .zip(&self.probes)
                .any(|(p, d)| p.name == r.scope && d.requests > 0),
            _ => false,
        }
    }

    fn should_abort(&mut self) -> bool {
        let (Some(n), None) = (self.spec.abort_after, &self.log.aborted) else {
            return false;
        };
        let Some(i) = self.streak.iter().position(|s| *s >= n) else {
            return false;
        };
        let last = self.log.windows.last().expect("a window just closed");
        let slo = &last.slos[i];
        self.log.aborted = Some(format!(
            "{}.{} failed {n} windows in a row (abort_after = {n}); stopped at {:.1} s",
            slo.scope, slo.metric, last.end_s
        ));
        true
    }
}

/// The stability section of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StabilityReport {
    pub window_s: f64,
    pub observe_s: f64,
    pub warmup_s: f64,
    pub observe_requested_s: Option<f64>,
    pub window_requested_s: Option<f64>,
    pub flaps_max: Option<u64>,
    pub abort_after: Option<u32>,
    /// Windows judged for stability (not warm-up).
    pub judged: u32,
    /// Windows in the observed span.
    pub observed: u32,
    pub failed_in_observe: u32,
    /// Verdict changes that changed back, over the judged windows.
    pub flaps: u64,
    pub aborted: Option<String>,
    pub verdict: Verdict,
    /// What had to be fitted to the run's length, and other caveats.
    pub notes: Vec<String>,
    pub windows: Vec<WindowResult>,
}

/// Flaps over a verdict sequence: each change that is later changed back
/// counts once (pass-fail-pass is one flap; pass-fail is none).
pub fn count_flaps(verdicts: &[Verdict]) -> u64 {
    let seq: Vec<bool> = verdicts
        .iter()
        .filter(|v| **v != Verdict::NoData)
        .map(|v| *v == Verdict::Fail)
        .collect();
    let changes = seq.windows(2).filter(|w| w[0] != w[1]).count() as u64;
    changes / 2
}

pub fn summarize(spec: &StabilitySpec, log: &WindowLog) -> StabilityReport {
    let mut windows = log.windows.clone();
    let judged: Vec<usize> = (0..windows.len()).filter(|i| !windows[*i].warmup).collect();
    let observed = &judged[judged.len().saturating_sub(spec.observe_windows as usize)..];
    for i in observed {
        windows[*i].observed = true;
    }
    let failed = observed
        .iter()
        .filter(|i| windows[**i].verdict == Verdict::Fail)
        .count() as u32;
    let verdicts: Vec<Verdict> = judged.iter().map(|i| windows[*i].verdict).collect();
    let flaps = count_flaps(&verdicts);
    let flaps_ok = spec.flaps_max.is_none_or(|m| flaps <= m);
    let verdict = if log.aborted.is_some() || failed > 0 || !flaps_ok {
        Verdict::Fail
    } else if observed.is_empty() {
        Verdict::NoData
    } else {
        Verdict::Pass
    };
    let mut notes = spec.notes.clone();
    notes.extend(log.notes.iter().cloned());
    StabilityReport {
        window_s: spec.window.as_secs_f64(),
        observe_s: spec.observe().as_secs_f64(),
        warmup_s: spec.warmup().as_secs_f64(),
        observe_requested_s: spec.asked.observe.map(|d| d.as_secs_f64()),
        window_requested_s: spec.asked.window.map(|d| d.as_secs_f64()),
        flaps_max: spec.flaps_max,
        abort_after: spec.abort_after,
        judged: judged.len() as u32,
        observed: observed.len() as u32,
        failed_in_observe: failed,
        flaps,
        aborted: log.aborted.clone(),
        verdict,
        notes,
        windows,
    }
}

impl StabilityReport {
    /// The stability verdict as SLO rows beside the whole-run ones, so the
    /// exit code, the tables and the CI test view all carry it.
    pub fn slo_results(&self) -> Vec<SloResult> {
        // A count with a maximum of zero; the scenario has no metric of its
        // own for it (it is not a threshold a user sets), so the row is
        // built on the count metric and named here.
        let failed = SloSpec {
            metric: Metric::Flaps,
            bound: Bound::Max,
            threshold: 0.0,
        };
        let have = self.observed > 0;
        let mut r = SloResult::new(
            "stability",
            "stability",
            &failed,
            have.then_some(self.failed_in_observe as f64),
        );
        r.metric = "failed_windows".into();
        if self.aborted.is_some() {
            r.verdict = Verdict::Fail;
        }
        let mut out = vec![r];
        if let Some(max) = self.flaps_max {
            let spec = SloSpec {
                metric: Metric::Flaps,
                bound: Bound::Max,
                threshold: max as f64,
            };
            let v = (self.judged > 0).then_some(self.flaps as f64);
            out.push(SloResult::new("stability", "stability", &spec, v));
        }
        out
    }

    /// One character per window: `+` pass, `x` fail, `.` no data, `w` warm-up.
    pub fn strip(&self) -> String {
        self.windows
            .iter()
            .map(|w| match (w.warmup, w.verdict) {
                (true, _) => 'w',
                (_, Verdict::Pass) => '+',
                (_, Verdict::Fail) => 'x',
                _ => '.',
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Fail as F, NoData as N, Pass as P};

    #[test]
    fn a_flap_is_a_change_that_changes_back() {
        assert_eq!(count_flaps(&[P, F, P]), 1);
        assert_eq!(count_flaps(&[P, P, F]), 0);
        assert_eq!(count_flaps(&[F, P, P]), 0);
        assert_eq!(count_flaps(&[P, F, P, F, P]), 2);
        assert_eq!(count_flaps(&[F, P, F]), 1);
        assert_eq!(count_flaps(&[P, N, F, N, P]), 1);
        assert_eq!(count_flaps(&[]), 0);
    }
}
