//! Judging: each SLO's measured value against its threshold, with the
//! margin left, and the run's verdict and exit code from all of them.
//!
//! A metric with no samples is "no data", which fails: an empty histogram
//! reads 0 and would otherwise pass any latency budget (case B17).

use serde::{Deserialize, Serialize};

use crate::engine::Measured;
use crate::metrics::{ProbeData, StreamData};
use crate::scenario::{Bound, Metric, Scenario, SloSpec, Unit};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NoData,
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NoData => "NO DATA",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// The process exit code for a run with this verdict (DESIGN.md).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail | Verdict::NoData => 1,
            Verdict::Inconclusive => 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    /// The probe or stream name, or `run` for run-wide SLOs.
    pub scope: String,
    pub kind: String,
    pub metric: String,
    pub bound: Bound,
    pub threshold: f64,
    pub unit: String,
    pub value: Option<f64>,
    /// Room left before the threshold (negative when breached), in `unit`.
    pub margin: Option<f64>,
    pub verdict: Verdict,
}

impl SloResult {
    pub fn new(scope: &str, kind: &str, spec: &SloSpec, value: Option<f64>) -> SloResult {
        let margin = value.map(|v| match spec.bound {
            Bound::Max => spec.threshold - v,
            Bound::Min => v - spec.threshold,
        });
        let verdict = match margin {
            None => Verdict::NoData,
            Some(m) if m >= -1e-12 => Verdict::Pass,
            Some(_) => Verdict::Fail,
        };
        SloResult {
            scope: scope.into(),
            kind: kind.into(),
            metric: spec.metric.key().into(),
            bound: spec.bound,
            threshold: spec.threshold,
            unit: unit_name(spec.metric.unit()).into(),
            value,
            margin,
            verdict,
        }
    }
}

impl SloResult {
    /// The SLO this result judged, read back from stored evidence so that
    /// merged data can be judged by the same rule.
    pub fn spec(&self) -> Option<SloSpec> {
        Some(SloSpec {
            metric: Metric::from_key(&self.metric)?,
            bound: self.bound,
            threshold: self.threshold,
        })
    }
}

pub fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Ms => "ms",
        Unit::Ratio => "ratio",
        Unit::Count => "count",
    }
}

/// Run-wide counts over JSON requests and stream connection attempts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub ok: u64,
    pub status_5xx: u64,
    pub transport_errors: u64,
    pub rate_5xx: Option<f64>,
    pub availability: Option<f64>,
}

pub fn totals(probes: &[ProbeData], streams: &[StreamData]) -> Totals {
    let mut t = Totals::default();
    for p in probes {
        // Starts never sent are no request the target answered or failed.
        t.requests += p.requests - p.errors.get(crate::metrics::ErrorClass::Skipped);
        t.ok += p.ok;
        t.status_5xx += p.status[5];
        t.transport_errors += p.errors.transport();
    }
    for s in streams {
        t.requests += s.connects;
        t.ok += s.connected;
        t.status_5xx += s.status[5];
        t.transport_errors += s.errors.transport();
    }
    if t.requests > 0 {
        let n = t.requests as f64;
        t.rate_5xx = Some(t.status_5xx as f64 / n);
        t.availability = Some((n - t.status_5xx as f64 - t.transport_errors as f64).max(0.0) / n);
    }
    t
}

pub fn probe_value(m: Metric, d: &ProbeData) -> Option<f64> {
    use Metric::*;
    match m {
        LatencyP50 => d.latency.quantile_ms(0.50),
        LatencyP90 => d.latency.quantile_ms(0.90),
        LatencyP95 => d.latency.quantile_ms(0.95),
        LatencyP99 => d.latency.quantile_ms(0.99),
        LatencyMax => d.latency.max_ms(),
        ErrorRate => d.error_rate(),
        _ => None,
    }
}

pub fn stream_value(m: Metric, d: &StreamData) -> Option<f64> {
    use Metric::*;
    // A stream that never opened has no TTFB, gaps or reconnects to judge:
    // "no data" fails, where 0 reconnects or a 1 ms "gap" would pass.
    if d.connected == 0 && m != StreamErrorRate {
        return None;
    }
    match m {
        TtfbP50 => d.ttfb.quantile_ms(0.50),
        TtfbP95 => d.ttfb.quantile_ms(0.95),
        FirstMessageP50 => d.first_message.quantile_ms(0.50),
        FirstEventP50 => d.first_event.quantile_ms(0.50),
        GapMax => d.gap.max_ms(),
        DataGapMax => d.data_gap.max_ms(),
        Reconnects => Some(d.reconnects as f64),
        IdsLost => Some(d.ids_lost as f64),
        StreamErrorRate => d.error_rate(),
        _ => None,
    }
}

pub fn run_value(m: Metric, t: &Totals) -> Option<f64> {
    match m {
        Metric::Rate5xx => t.rate_5xx,
        Metric::Availability => t.availability,
        _ => None,
    }
}

/// Every SLO of the scenario over the given data (whole run or one window).
pub fn evaluate(sc: &Scenario, probes: &[ProbeData], streams: &[StreamData]) -> Vec<SloResult> {
    let mut out = Vec::new();
    for (spec, d) in sc.probes.iter().zip(probes) {
        for s in &spec.slos {
            out.push(SloResult::new(
                &spec.name,
                "probe",
                s,
                probe_value(s.metric, d),
            ));
        }
    }
    for (spec, d) in sc.streams.iter().zip(streams) {
        for s in &spec.slos {
            out.push(SloResult::new(
                &spec.name,
                "stream",
                s,
                stream_value(s.metric, d),
            ));
        }
    }
    let t = totals(probes, streams);
    for s in sc.run_slos.iter().filter(|s| s.metric != Metric::Flaps) {
        out.push(SloResult::new("run", "run", s, run_value(s.metric, &t)));
    }
    out
}

/// The run's verdict: inconclusive wins, then any breach or missing data.
pub fn overall(results: &[SloResult], m: &Measured) -> Verdict {
    verdict_of(results, !m.inconclusive.is_empty())
}

/// The verdict from SLO results and whether the data can be trusted.
pub fn verdict_of(results: &[SloResult], inconclusive: bool) -> Verdict {
    if inconclusive {
        return Verdict::Inconclusive;
    }
    if results
        .iter()
        .any(|r| matches!(r.verdict, Verdict::Fail | Verdict::NoData))
    {
        return Verdict::Fail;
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(metric: Metric, bound: Bound, threshold: f64) -> SloSpec {
        SloSpec {
            metric,
            bound,
            threshold,
        }
    }

    #[test]
    fn margins_and_verdicts() {
        let r = SloResult::new(
            "p",
            "probe",
            &spec(Metric::LatencyP95, Bound::Max, 300.0),
            Some(120.0),
        );
        assert_eq!((r.margin, r.verdict), (Some(180.0), Verdict::Pass));
        let r = SloResult::new(
            "p",
            "probe",
            &spec(Metric::LatencyP95, Bound::Max, 300.0),
            Some(301.0),
        );
        assert_eq!(r.verdict, Verdict::Fail);
        let r = SloResult::new(
            "run",
            "run",
            &spec(Metric::Availability, Bound::Min, 0.999),
            Some(0.998),
        );
        assert_eq!(r.verdict, Verdict::Fail);
        let r = SloResult::new(
            "p",
            "probe",
            &spec(Metric::LatencyP99, Bound::Max, 200.0),
            None,
        );
        assert_eq!(r.verdict, Verdict::NoData);
    }

    #[test]
    fn no_successes_means_no_latency_and_full_error_rate() {
        let mut d = ProbeData {
            requests: 200,
            ..Default::default()
        };
        d.errors.bump(crate::metrics::ErrorClass::ConnectRefused);
        assert_eq!(probe_value(Metric::LatencyP99, &d), None);
        assert_eq!(probe_value(Metric::ErrorRate, &d), Some(1.0));
    }

    #[test]
    fn availability_counts_5xx_and_transport_errors_only() {
        let mut p = ProbeData {
            requests: 1000,
            ok: 990,
            ..Default::default()
        };
        p.status[5] = 4;
        p.status[4] = 5;
        p.errors.bump(crate::metrics::ErrorClass::Timeout);
        let t = totals(&[p], &[]);
        assert_eq!(t.rate_5xx, Some(0.004));
        assert_eq!(t.availability, Some(0.995));
    }
}
