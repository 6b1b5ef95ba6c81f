//! Before/after comparison of two stored runs, per SLO metric: before,
//! after, delta, and a call (improved / unchanged / regressed) where
//! "unchanged" means within the run-to-run noise.
//!
//! The noise is estimated from each run's own data and the two are added
//! in quadrature; the band is twice that (about 95 % for normal noise):
//! - percentiles: the spread (standard deviation) of the per-interval
//!   percentile divided by sqrt(intervals), the standard error of the
//!   whole-run figure as if intervals were independent samples;
//! - maxima: the spread of the per-interval maxima, not divided (a maximum
//!   is one sample, it does not average out);
//! - ratios: binomial, sqrt(p (1 - p) / n) over the run's requests;
//! - counts: Poisson, sqrt(count).
//!
//! Intervals of one run are not independent (load and target drift), so
//! the percentile band is, if anything, too narrow: a "regressed" call on a
//! small delta deserves a second run. HDR resolution (0.1 %), and 1 ms for
//! latencies, is the floor.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::fmt::value;
use super::stored::Stored;
use super::summary::Summary;
use crate::scenario::Bound;
use crate::slo::SloResult;

pub const SCHEMA: &str = "slogate.compare/1";

pub const METHOD: &str =
    "delta = after - before. Unchanged when |delta| <= 2 x sqrt(noise_before^2 + \
noise_after^2), at least 0.1 % (HDR resolution). Noise of a percentile: standard deviation of \
its per-interval values / sqrt(intervals) (standard error of the whole-run figure, treating \
intervals as independent). Noise of a maximum: standard deviation of the per-interval maxima. \
Ratios: binomial sqrt(p(1-p)/n). Counts: Poisson sqrt(n). Intervals are not truly independent, \
so the band may be too narrow: confirm a small regression with a second run. Without an interval \
log (a bare summary.json) the noise of latencies is unknown (n/a) and only the 0.1 % floor applies.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    Improved,
    Unchanged,
    Regressed,
    NoData,
}

impl Call {
    pub fn label(self) -> &'static str {
        match self {
            Call::Improved => "improved",
            Call::Unchanged => "unchanged",
            Call::Regressed => "regressed",
            Call::NoData => "no data",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRef {
    pub path: String,
    pub run_id: String,
    pub scenario: String,
    pub started_utc: String,
    pub verdict: crate::slo::Verdict,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Compared {
    pub scope: String,
    pub kind: String,
    pub metric: String,
    pub unit: String,
    pub bound: Bound,
    pub threshold: f64,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub delta: Option<f64>,
    pub delta_pct: Option<f64>,
    /// Half-width of the "unchanged" band, in `unit`; `None` when not estimable.
    pub noise: Option<f64>,
    pub call: Call,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub schema: String,
    pub before: RunRef,
    pub after: RunRef,
    pub method: String,
    pub metrics: Vec<Compared>,
    /// SLOs present in only one of the runs, as `scope metric`.
    pub not_compared: Vec<String>,
    pub regressed: usize,
    pub improved: usize,
}

/// The quantile a metric key names (`latency_p95_ms` -> 0.95), if any.
pub fn quantile_of(metric: &str) -> Option<f64> {
    let p = metric.split('_').find_map(|w| w.strip_prefix('p'))?;
    let v: f64 = p.parse().ok()?;
    Some(if p.len() > 2 {
        v / 10f64.powi(p.len() as i32)
    } else {
        v / 100.0
    })
}

/// The histogram tag (metric part) behind an ms metric and whether it is a maximum.
fn hist_of(metric: &str) -> Option<(&'static str, bool)> {
    let base = metric.trim_end_matches("_ms");
    let max = base.ends_with("_max");
    let tag = match base.rsplit_once('_')?.0 {
        "latency" => "latency",
        "ttfb" => "ttfb",
        "first_message" => "first_message",
        "first_event" => "first_event",
        "gap" => "gap",
        "data_gap" => "data_gap",
        _ => return None,
    };
    Some((tag, max))
}

fn sd(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    Some(var.sqrt())
}

/// One run's noise on an ms metric, from its per-interval histograms.
pub fn hist_noise(st: &Stored, r: &SloResult) -> Option<f64> {
    let (metric, is_max) = hist_of(&r.metric)?;
    let q = quantile_of(&r.metric);
    let tag = crate::engine::tag_name(&r.scope, metric);
    let xs: Vec<f64> = st
        .series(&tag)
        .filter(|i| !i.hist.is_empty())
        .filter_map(|i| {
            if is_max {
                i.hist.max_ms()
            } else {
                i.hist.quantile_ms(q?)
            }
        })
        .collect();
    let spread = sd(&xs)?;
    Some(if is_max {
        spread
    } else {
        spread / (xs.len() as f64).sqrt()
    })
}

/// How many trials stand behind a ratio metric of this scope.
fn trials(s: &Summary, r: &SloResult) -> Option<u64> {
    match r.kind.as_str() {
        "probe" => s
            .probes
            .iter()
            .find(|p| p.name == r.scope)
            .map(|p| p.requests),
        "stream" => s
            .streams
            .iter()
            .find(|p| p.name == r.scope)
            .map(|p| p.connects),
        _ => Some(s.totals.requests),
    }
}

/// One run's noise on the value of `r`, in its unit.
pub fn noise(st: &Stored, r: &SloResult) -> Option<f64> {
    let v = r.value?;
    match r.unit.as_str() {
        "ratio" => {
            let n = trials(&st.summary, r).filter(|n| *n > 0)? as f64;
            Some((v * (1.0 - v) / n).sqrt())
        }
        "count" => Some(v.max(0.0).sqrt()),
        _ => hist_noise(st, r),
    }
}

/// How much worse `after` is than `before` (positive: worse) for this bound.
/// A latency change smaller than this is never called a change.
pub const MIN_LATENCY_CHANGE_MS: f64 = 1.0;

pub fn worse_by(bound: Bound, before: f64, after: f64) -> f64 {
    match bound {
        Bound::Max => after - before,
        Bound::Min => before - after,
    }
}

fn find<'a>(s: &'a Summary, r: &SloResult) -> Option<&'a SloResult> {
    s.slos
        .iter()
        .find(|b| b.scope == r.scope && b.kind == r.kind && b.metric == r.metric)
}

fn compare_one(before: &Stored, after: &Stored, b: &SloResult, a: &SloResult) -> Compared {
    let (nb, na) = (noise(before, b), noise(after, a));
    let mut c = Compared {
        scope: a.scope.clone(),
        kind: a.kind.clone(),
        metric: a.metric.clone(),
        unit: a.unit.clone(),
        bound: a.bound,
        threshold: a.threshold,
        before: b.value,
        after: a.value,
        delta: None,
        delta_pct: None,
        noise: None,
        call: Call::NoData,
    };
    let (Some(bv), Some(av)) = (b.value, a.value) else {
        return c;
    };
    // HDR resolution, and for latencies a millisecond: below that, timer
    // and scheduler noise on the load host decide, not the change.
    let mut floor = 0.001 * bv.abs().max(av.abs());
    if a.unit == "ms" {
        floor = floor.max(MIN_LATENCY_CHANGE_MS);
    }
    let band = match (nb, na) {
        (Some(x), Some(y)) => Some((2.0 * (x * x + y * y).sqrt()).max(floor)),
        _ => None,
    };
    let worse = worse_by(a.bound, bv, av);
    c.delta = Some(av - bv);
    c.delta_pct = (bv != 0.0).then(|| (av - bv) / bv * 100.0);
    c.noise = band;
    c.call = if worse.abs() <= band.unwrap_or(floor) {
        Call::Unchanged
    } else if worse > 0.0 {
        Call::Regressed
    } else {
        Call::Improved
    };
    c
}

pub fn run_ref(path: &str, s: &Summary) -> RunRef {
    RunRef {
        path: path.into(),
        run_id: s.run.id.clone(),
        scenario: s.run.scenario.clone(),
        started_utc: s.run.started_utc.clone(),
        verdict: s.run.verdict,
    }
}

/// Compares every SLO metric the two runs share.
pub fn compare(before: (&str, &Stored), after: (&str, &Stored)) -> Comparison {
    let (bs, as_) = (&before.1.summary, &after.1.summary);
    let mut metrics = Vec::new();
    let mut not_compared = Vec::new();
    for a in &as_.slos {
        match find(bs, a) {
            Some(b) => metrics.push(compare_one(before.1, after.1, b, a)),
            None => not_compared.push(format!("{} {} (after only)", a.scope, a.metric)),
        }
    }
    for b in bs.slos.iter().filter(|b| find(as_, b).is_none()) {
        not_compared.push(format!("{} {} (before only)", b.scope, b.metric));
    }
    let count = |c: Call| metrics.iter().filter(|m: &&Compared| m.call == c).count();
    Comparison {
        schema: SCHEMA.into(),
        before: run_ref(before.0, bs),
        after: run_ref(after.0, as_),
        method: METHOD.into(),
        regressed: count(Call::Regressed),
        improved: count(Call::Improved),
        metrics,
        not_compared,
    }
}

impl Comparison {
    /// The runbook's reading: improved and nothing worse continues, anything worse reverts.
    pub fn conclusion(&self) -> &'static str {
        match (self.regressed, self.improved) {
            (0, 0) => {
                "unchanged within noise: no improvement (runbook: revert or rethink the change)"
            }
            (0, _) => "improved, nothing regressed (runbook: continue)",
            _ => "regressed (runbook: revert the change)",
        }
    }
}

fn signed(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".into(),
        Some(d) => format!(
            "{}{}",
            if d >= 0.0 { "+" } else { "-" },
            value(Some(d.abs()), unit)
        ),
    }
}

/// `compare.md`: the table and how the calls were made.
pub fn markdown(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# slogate compare: {}\n", c.conclusion());
    let _ = writeln!(
        o,
        "- before: `{}` ({}, {}, {})",
        c.before.run_id,
        c.before.path,
        c.before.started_utc,
        c.before.verdict.label()
    );
    let _ = writeln!(
        o,
        "- after: `{}` ({}, {}, {})\n",
        c.after.run_id,
        c.after.path,
        c.after.started_utc,
        c.after.verdict.label()
    );
    o.push_str("| scope | metric | before | after | delta | delta % | noise (±) | call |\n");
    o.push_str("|---|---|---:|---:|---:|---:|---:|---|\n");
    for m in &c.metrics {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | **{}** |",
            m.scope,
            m.metric,
            value(m.before, &m.unit),
            value(m.after, &m.unit),
            signed(m.delta, &m.unit),
            m.delta_pct.map_or("n/a".into(), |p| format!("{p:+.1} %")),
            m.noise.map_or("n/a".into(), |n| value(Some(n), &m.unit)),
            m.call.label()
        );
    }
    if !c.not_compared.is_empty() {
        let _ = writeln!(
            o,
            "\nNot compared (SLO in one run only): {}.",
            c.not_compared.join(", ")
        );
    }
    let _ = writeln!(o, "\n## How the calls are made\n\n{}", c.method);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Hist;
    use crate::report::stored::Interval;
    use std::time::Duration;

    /// A stored run whose `p.latency` intervals centre on `ms`, spread by `jitter` ms.
    pub fn run(ms: &[f64]) -> Stored {
        let mut summary = crate::report::stored::tests::dummy();
        let mut intervals = Vec::new();
        let mut all = Hist::default();
        for (i, m) in ms.iter().enumerate() {
            let mut h = Hist::default();
            (0..100).for_each(|k| h.record_us((m * 1000.0 * (0.5 + k as f64 / 99.0 * 0.5)) as u64));
            all.add(&h);
            intervals.push(Interval {
                tag: "p.latency".into(),
                start: Duration::from_secs(i as u64),
                length: Duration::from_secs(1),
                hist: h,
            });
        }
        let spec = crate::scenario::SloSpec {
            metric: crate::scenario::Metric::LatencyP95,
            bound: Bound::Max,
            threshold: 1000.0,
        };
        summary
            .slos
            .push(SloResult::new("p", "probe", &spec, all.quantile_ms(0.95)));
        Stored { summary, intervals }
    }

    fn call(before: &[f64], after: &[f64]) -> Compared {
        let (b, a) = (run(before), run(after));
        compare(("b", &b), ("a", &a)).metrics.remove(0)
    }

    #[test]
    fn sub_millisecond_latency_changes_are_unchanged() {
        // Identical spreads, shifted by 0.6 ms: tight bands, but below 1 ms.
        let base = [3.0, 3.0, 3.0, 3.0];
        let shifted = [3.6, 3.6, 3.6, 3.6];
        assert_eq!(call(&base, &shifted).call, Call::Unchanged);
        let real = [5.0, 5.0, 5.0, 5.0];
        assert_eq!(call(&base, &real).call, Call::Regressed);
    }

    #[test]
    fn calls_follow_the_noise_band() {
        let base = [100.0, 104.0, 98.0, 102.0, 96.0, 100.0, 103.0, 97.0];
        let same = [101.0, 99.0, 103.0, 97.0, 100.0, 102.0, 98.0, 100.0];
        let c = call(&base, &same);
        assert_eq!(c.call, Call::Unchanged, "{c:?}");
        // Spread about 2.8 ms -> standard error about 1 ms per run -> band about 2.8 ms.
        let band = c.noise.unwrap();
        assert!(band > 1.5 && band < 5.0, "{band}");
        let worse: Vec<f64> = base.iter().map(|v| v * 1.2).collect();
        assert_eq!(call(&base, &worse).call, Call::Regressed);
        let better: Vec<f64> = base.iter().map(|v| v * 0.8).collect();
        assert_eq!(call(&base, &better).call, Call::Improved);
    }

    #[test]
    fn noisy_runs_widen_the_band() {
        let noisy = [60.0, 140.0, 80.0, 120.0, 70.0, 130.0, 90.0, 110.0];
        let shifted: Vec<f64> = noisy.iter().map(|v| v * 1.05).collect();
        assert_eq!(call(&noisy, &shifted).call, Call::Unchanged);
    }

    #[test]
    fn ratio_noise_is_binomial_and_availability_regresses_downwards() {
        assert!((worse_by(Bound::Min, 0.999, 0.99) - 0.009).abs() < 1e-12);
        assert!(worse_by(Bound::Max, 0.01, 0.02) > 0.0);
        let mut st = run(&[10.0, 10.0]);
        st.summary.totals.requests = 10_000;
        let spec = crate::scenario::SloSpec {
            metric: crate::scenario::Metric::Availability,
            bound: Bound::Min,
            threshold: 0.999,
        };
        let r = SloResult::new("run", "run", &spec, Some(0.99));
        let n = noise(&st, &r).unwrap();
        assert!((n - (0.99f64 * 0.01 / 10_000.0).sqrt()).abs() < 1e-12);
        assert_eq!(quantile_of("latency_p999_ms"), Some(0.999));
        assert_eq!(hist_of("gap_max_ms"), Some(("gap", true)));
        assert_eq!(hist_of("ttfb_p50_ms"), Some(("ttfb", false)));
    }
}
