//! The report's charts: each turns summary data or a histogram into an
//! `svg::Chart` with its axes, thresholds and alert lines, then draws it.

use std::collections::BTreeMap;

use super::fmt;
use super::summary::{StreamSummary, Summary};
use super::svg::{self, Axis, Bar, Chart, Marker, RefLine, Scale, Series, PALETTE};
use crate::metrics::Hist;
use crate::slo::SloResult;

const THRESHOLD: &str = "#D55E00";
const ALERT: &str = "#8B0000";
/// The runbook's heartbeat alert level, drawn beside the SLO line.
const GAP_ALERT_MS: f64 = 15_000.0;
const GAP_SLO_MS: f64 = 10_000.0;
/// The top of the percentile axis: 99.99 %.
const TOP_Q: f64 = 0.9999;

/// Percentile on the HDR log axis: 0 % -> 0, 90 % -> 1, 99 % -> 2, 99.9 % -> 3.
pub fn pct_x(q: f64) -> f64 {
    (1.0 / (1.0 - q.clamp(0.0, TOP_Q))).log10()
}

/// Points of a percentile curve, from 0 % up to 99.99 %.
pub fn curve(h: &Hist) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    if h.is_empty() {
        return pts;
    }
    for v in h.h.iter_quantiles(5) {
        let q = v.quantile_iterated_to().min(TOP_Q);
        pts.push((pct_x(q), v.value_iterated_to() as f64 / 1000.0));
        if q >= TOP_Q {
            break;
        }
    }
    pts
}

fn slos_of<'a>(s: &'a Summary, scope: &'a str) -> impl Iterator<Item = &'a SloResult> + 'a {
    s.slos.iter().filter(move |r| r.scope == scope)
}

fn ms_axis(title: &str, lo: f64, hi: f64) -> Axis {
    let (min, max) = svg::log_range(lo, hi);
    Axis {
        title: title.into(),
        scale: Scale::Log10 { min, max },
        ticks: svg::log_ticks(min, max)
            .into_iter()
            .map(|v| (v, fmt::tick_ms(v)))
            .collect(),
    }
}

fn pct_axis() -> Axis {
    let ticks = [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
    ];
    Axis {
        title: "percentile".into(),
        scale: Scale::Linear { min: 0.0, max: 4.0 },
        ticks: ticks.iter().map(|(v, l)| (*v, l.to_string())).collect(),
    }
}

fn linear_axis(title: &str, max: f64, label: fn(f64) -> String) -> Axis {
    Axis {
        title: title.into(),
        scale: Scale::Linear { min: 0.0, max },
        ticks: svg::linear_ticks(0.0, max, 5)
            .into_iter()
            .map(|v| (v, label(v)))
            .collect(),
    }
}

/// One probe's latency curve, with a cross at each latency SLO.
pub fn percentile_curve(name: &str, h: &Hist, s: &Summary) -> String {
    let pts = curve(h);
    let slos: Vec<&SloResult> = slos_of(s, name).filter(|r| r.unit == "ms").collect();
    let values = || {
        pts.iter()
            .map(|p| p.1)
            .chain(slos.iter().map(|r| r.threshold))
    };
    // Padded so that a threshold on a whole decade does not sit on the frame.
    let lo = values().reduce(f64::min).unwrap_or(1.0) * 0.9;
    let hi = values().fold(1.0, f64::max) * 1.1;
    let mut c = Chart::new(
        &format!("{name}: latency by percentile"),
        pct_axis(),
        ms_axis("latency", lo, hi),
    );
    for r in slos {
        match super::compare::quantile_of(&r.metric) {
            Some(q) => c.markers.push(Marker {
                x: pct_x(q),
                y: r.threshold,
                label: format!("p{} ≤ {}", q_label(q), fmt::tick_ms(r.threshold)),
                color: THRESHOLD,
            }),
            None => c.lines.push(RefLine {
                vertical: false,
                at: r.threshold,
                label: format!("max ≤ {}", fmt::tick_ms(r.threshold)),
                color: THRESHOLD,
            }),
        }
    }
    c.series.push(Series {
        label: name.into(),
        color: PALETTE[0],
        points: pts,
    });
    svg::render(&c)
}

fn q_label(q: f64) -> String {
    let p = q * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

/// Per-interval series of the probes (or streams) of a summary.
fn by_name(
    s: &Summary,
    kind: &str,
    f: impl Fn(&crate::engine::IntervalRow) -> Option<f64>,
) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in s.intervals.iter().filter(|r| r.kind == kind) {
        let e = out.entry(row.name.clone()).or_default();
        if let Some(v) = f(row) {
            e.push((row.t_s, v));
        }
    }
    out
}

fn time_axis(s: &Summary) -> Axis {
    let end = s
        .intervals
        .iter()
        .map(|r| r.t_s)
        .fold(s.run.interval_s, f64::max);
    linear_axis("seconds since start", end, fmt::trim)
}

fn add_series(c: &mut Chart, series: BTreeMap<String, Vec<(f64, f64)>>) {
    for (i, (name, points)) in series.into_iter().enumerate() {
        c.series.push(Series {
            label: name,
            color: PALETTE[i % PALETTE.len()],
            points,
        });
    }
}

/// p95 latency per interval per probe, with each probe's p95 SLO.
pub fn p95_timeline(s: &Summary) -> String {
    let series = by_name(s, "probe", |r| r.p95_ms);
    let thresholds = grouped_thresholds(s, "latency_p95_ms");
    let vals = series.values().flatten().map(|p| p.1);
    let lo = vals.clone().reduce(f64::min).unwrap_or(1.0) * 0.9;
    let hi = vals
        .chain(thresholds.keys().map(|t| t.0))
        .fold(lo, f64::max)
        * 1.1;
    let mut c = Chart::new(
        "p95 latency per interval",
        time_axis(s),
        ms_axis("p95 latency", lo, hi),
    );
    for (t, names) in thresholds {
        c.lines.push(RefLine {
            vertical: false,
            at: t.0,
            label: format!("p95 SLO {} ({})", fmt::tick_ms(t.0), names.join(", ")),
            color: THRESHOLD,
        });
    }
    add_series(&mut c, series);
    svg::render(&c)
}

/// Thresholds of one SLO metric, each with the scopes that share it.
fn grouped_thresholds(s: &Summary, metric: &str) -> BTreeMap<Key, Vec<String>> {
    let mut m: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for r in s.slos.iter().filter(|r| r.metric == metric) {
        m.entry(Key(r.threshold)).or_default().push(r.scope.clone());
    }
    m
}

/// An f64 map key (thresholds are finite).
#[derive(PartialEq, Clone, Copy)]
struct Key(f64);
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

fn error_pct(r: &crate::engine::IntervalRow) -> Option<f64> {
    (r.requests > 0).then(|| r.errors as f64 / r.requests as f64 * 100.0)
}

/// Error share per interval per probe and stream, with the error-rate SLOs.
pub fn error_timeline(s: &Summary) -> String {
    let mut series = by_name(s, "probe", error_pct);
    series.extend(by_name(s, "stream", error_pct));
    let mut limits = grouped_thresholds(s, "error_rate");
    limits.extend(grouped_thresholds(s, "rate_5xx"));
    let hi = series
        .values()
        .flatten()
        .map(|p| p.1 * 1.2)
        .chain(limits.keys().map(|k| k.0 * 120.0))
        .fold(1.0, f64::max);
    let mut c = Chart::new(
        "errors per interval",
        time_axis(s),
        linear_axis("errors, % of requests", hi, |v| {
            format!("{} %", fmt::trim(v))
        }),
    );
    for (t, names) in limits {
        c.lines.push(RefLine {
            vertical: false,
            at: t.0 * 100.0,
            label: format!("limit {} % ({})", t.0 * 100.0, names.join(", ")),
            color: THRESHOLD,
        });
    }
    add_series(&mut c, series);
    svg::render(&c)
}

/// The worst heartbeat gap per interval per stream, with the 10 s and 15 s lines.
pub fn gap_timeline(s: &Summary) -> String {
    let series = by_name(s, "stream", |r| r.gap_max_ms.map(|v| v / 1000.0));
    let hi = series
        .values()
        .flatten()
        .map(|p| p.1)
        .fold(GAP_ALERT_MS / 1000.0, f64::max)
        * 1.1;
    let mut c = Chart::new(
        "worst heartbeat gap per interval",
        time_axis(s),
        linear_axis("gap, seconds", hi, |v| format!("{} s", fmt::trim(v))),
    );
    gap_lines(&mut c, s, 1000.0, false);
    add_series(&mut c, series);
    svg::render(&c)
}

/// The SLO line (the scenario's gap bound, else 10 s) and the 15 s alert line,
/// in the chart's unit (`ms_per_unit` milliseconds per unit).
fn gap_lines(c: &mut Chart, s: &Summary, ms_per_unit: f64, vertical: bool) {
    let slo = s
        .slos
        .iter()
        .find(|r| r.metric == "gap_max_ms")
        .map_or(GAP_SLO_MS, |r| r.threshold);
    c.lines.push(RefLine {
        vertical,
        at: slo / ms_per_unit,
        label: format!("SLO {}", fmt::tick_ms(slo)),
        color: THRESHOLD,
    });
    c.lines.push(RefLine {
        vertical,
        at: GAP_ALERT_MS / ms_per_unit,
        label: format!("alert {}", fmt::tick_ms(GAP_ALERT_MS)),
        color: ALERT,
    });
}

/// Counts of a histogram in `bins` equal bins from 0 to `max` (values in µs / `per`).
fn binned(h: &Hist, max: f64, per: f64, bins: usize) -> Vec<Bar> {
    let width = max / bins as f64;
    let mut counts = vec![0u64; bins];
    for v in h.h.iter_recorded() {
        let x = v.value_iterated_to() as f64 / per;
        let i = ((x / width) as usize).min(bins - 1);
        counts[i] += v.count_at_value();
    }
    counts
        .into_iter()
        .enumerate()
        .filter(|(_, n)| *n > 0)
        .map(|(i, n)| Bar {
            x0: i as f64 * width,
            x1: (i + 1) as f64 * width,
            y: n as f64,
            title: format!(
                "{n} between {:.3} and {:.3}",
                i as f64 * width,
                (i + 1) as f64 * width
            ),
        })
        .collect()
}

fn count_axis(bars: &[Bar]) -> Axis {
    let top = bars.iter().map(|b| b.y).fold(10.0, f64::max);
    let (_, max) = svg::log_range(1.0, top);
    Axis {
        title: "count (log)".into(),
        scale: Scale::Log10 { min: 0.5, max },
        ticks: svg::log_ticks(1.0, max)
            .into_iter()
            .filter(|v| v.log10().fract() == 0.0)
            .map(|v| (v, format!("{v}")))
            .collect(),
    }
}

/// Distribution of stream TTFB, with the TTFB SLO drawn.
pub fn ttfb_histogram(sm: &StreamSummary, h: &Hist, s: &Summary) -> String {
    let slo = slos_of(s, &sm.name).find(|r| r.metric.starts_with("ttfb_"));
    let max = h
        .max_ms()
        .unwrap_or(1.0)
        .max(slo.map_or(0.0, |r| r.threshold))
        * 1.1;
    let bars = binned(h, max, 1000.0, 50);
    let mut c = Chart::new(
        &format!("{}: time to first byte (headers)", sm.name),
        linear_axis("TTFB", max, fmt::tick_ms),
        count_axis(&bars),
    );
    if let Some(r) = slo {
        c.lines.push(RefLine {
            vertical: true,
            at: r.threshold,
            label: format!("{} ≤ {}", r.metric, fmt::tick_ms(r.threshold)),
            color: THRESHOLD,
        });
    }
    c.bars = bars;
    svg::render(&c)
}

/// Distribution of heartbeat gaps, with the 10 s SLO and 15 s alert lines.
pub fn gap_histogram(sm: &StreamSummary, h: &Hist, s: &Summary) -> String {
    let max = (h.max_ms().unwrap_or(0.0) / 1000.0).max(GAP_ALERT_MS / 1000.0) * 1.1;
    let bars = binned(h, max, 1_000_000.0, 60);
    let mut c = Chart::new(
        &format!("{}: heartbeat gaps", sm.name),
        linear_axis("gap, seconds", max, |v| format!("{} s", fmt::trim(v))),
        count_axis(&bars),
    );
    gap_lines(&mut c, s, 1000.0, true);
    c.bars = bars;
    svg::render(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_and_slo_quantiles() {
        assert_eq!(pct_x(0.0), 0.0);
        assert!((pct_x(0.99) - 2.0).abs() < 1e-9);
        assert!((pct_x(1.0) - 4.0).abs() < 1e-9);
        assert_eq!(super::super::compare::quantile_of("ttfb_p50_ms"), Some(0.5));
        assert_eq!(super::super::compare::quantile_of("latency_max_ms"), None);
    }

    #[test]
    fn curve_reaches_the_tail_and_bins_keep_every_count() {
        let mut h = Hist::default();
        (1..=10_000u64).for_each(|v| h.record_us(v * 100));
        let pts = curve(&h);
        let last = pts.last().unwrap();
        assert!((last.0 - 4.0).abs() < 1e-9, "{last:?}");
        assert!((last.1 - 1000.0).abs() < 2.0, "{last:?}");
        let mid = pts.iter().find(|p| p.0 >= pct_x(0.5)).unwrap();
        assert!((mid.1 - 500.0).abs() < 3.0, "{mid:?}");
        let bars = binned(&h, 1000.0, 1000.0, 10);
        assert_eq!(bars.iter().map(|b| b.y).sum::<f64>(), 10_000.0);
        assert!((bars[0].y - 1000.0).abs() <= 2.0, "{}", bars[0].y);
    }
}
