//! The stability section of the evidence: the window timeline in
//! `report.md` and `report.html` (a verdict strip and a chart of each SLO's
//! share of its threshold per window), and one `metrics.csv` row per window
//! and SLO.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::csv::Row;
use super::summary::Summary;
use super::svg::{self, Axis, Chart, RefLine, Scale, Series, PALETTE};
use crate::scenario::units::fmt_duration;
use crate::scenario::Bound;
use crate::slo::Verdict;
use crate::stability::StabilityReport;

fn dur(s: f64) -> String {
    fmt_duration(std::time::Duration::from_secs_f64(s))
}

/// `## Stability` for `report.md`; nothing when the run judged no windows.
pub fn markdown(s: &Summary, o: &mut String) {
    let Some(st) = &s.stability else {
        return;
    };
    o.push_str("\n## Stability (windows)\n\n");
    let _ = writeln!(
        o,
        "**{}**: every SLO judged per {} window as well as over the whole run. \
         The last {} ({} windows{}) must pass in every window; {} of them failed. \
         Flaps (a window verdict that changes and changes back): {}{}.\n",
        st.verdict.label(),
        dur(st.window_s),
        dur(st.observe_s),
        st.observed,
        if st.warmup_s > 0.0 {
            format!(", after a warm-up of {} not judged", dur(st.warmup_s))
        } else {
            String::new()
        },
        st.failed_in_observe,
        st.flaps,
        st.flaps_max
            .map_or(String::new(), |m| format!(" (allowed {m})"))
    );
    if let Some(why) = &st.aborted {
        let _ = writeln!(o, "> **Stopped early:** {why}.\n");
    }
    for n in &st.notes {
        let _ = writeln!(o, "- note: {n}");
    }
    if !st.notes.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "Timeline (`+` pass, `x` fail, `.` no data, `w` warm-up): `{}`\n",
        st.strip()
    );
    timeline_table(st, o);
}

fn timeline_table(st: &StabilityReport, o: &mut String) {
    o.push_str("| window | from | to | verdict | observed | breached SLOs |\n");
    o.push_str("|---:|---:|---:|---|---|---|\n");
    for w in &st.windows {
        let mut label = w.verdict.label().to_string();
        if w.warmup {
            label.push_str(" (warm-up)");
        }
        if w.partial {
            label.push_str(" (partial)");
        }
        let _ = writeln!(
            o,
            "| {} | {:.1} s | {:.1} s | {} | {} | {} |",
            w.index,
            w.start_s,
            w.end_s,
            label,
            if w.observed { "yes" } else { "no" },
            if w.breaches.is_empty() {
                "-".to_string()
            } else {
                w.breaches.join(", ")
            }
        );
    }
}

/// One row per window (its verdict, value = window end in seconds) and one
/// per window and SLO (its value in the window).
pub fn csv_rows(s: &Summary) -> Vec<Row> {
    let Some(st) = &s.stability else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for w in &st.windows {
        rows.push(Row {
            kind: "window".into(),
            name: w.index.to_string(),
            metric: "window_end_s".into(),
            value: Some(w.end_s),
            unit: "s".into(),
            slo_threshold: None,
            slo_verdict: Some(w.verdict.label().into()),
        });
        for r in &w.slos {
            let run = s
                .slos
                .iter()
                .find(|x| x.scope == r.scope && x.metric == r.metric);
            rows.push(Row {
                kind: "window".into(),
                name: w.index.to_string(),
                metric: format!("{}.{}", r.scope, r.metric),
                value: r.value,
                unit: run.map_or(String::new(), |x| x.unit.clone()),
                slo_threshold: run.map(|x| x.threshold),
                slo_verdict: Some(if r.breached { "FAIL" } else { "PASS" }.into()),
            });
        }
    }
    rows
}

/// One line for the terminal.
pub fn terminal(s: &Summary) -> String {
    let Some(st) = &s.stability else {
        return String::new();
    };
    let mut line = format!(
        "stability: {}  windows {} of {}  failed in observed span {}/{}  flaps {}  [{}]\n",
        st.verdict.label(),
        st.judged,
        dur(st.window_s),
        st.failed_in_observe,
        st.observed,
        st.flaps,
        st.strip()
    );
    if let Some(why) = &st.aborted {
        line.push_str(&format!("stopped early: {why}\n"));
    }
    for n in &st.notes {
        line.push_str(&format!("note: {n}\n"));
    }
    line
}

/// `<section>` for `report.html`; nothing when the run judged no windows.
pub fn html(s: &Summary, o: &mut String) {
    let Some(st) = &s.stability else {
        return;
    };
    let class = match st.verdict {
        Verdict::Pass => "pass",
        _ => "fail",
    };
    let _ = write!(
        o,
        "<section><h2>Stability (windows) <span class=\"tag {class}\">{}</span></h2>\
         <p class=\"note\">Every SLO judged per {} window as well as over the whole run; \
         the last {} ({} windows) must pass in every window: {} failed. Flaps: {}{}.</p>",
        st.verdict.label(),
        dur(st.window_s),
        dur(st.observe_s),
        st.observed,
        st.failed_in_observe,
        st.flaps,
        st.flaps_max
            .map_or(String::new(), |m| format!(" (allowed {m})"))
    );
    for n in st.notes.iter().chain(&st.aborted) {
        let _ = write!(o, "<p class=\"note\">{}</p>", escape(n.as_str()));
    }
    o.push_str("<p>");
    for w in &st.windows {
        let class = match (w.warmup, w.verdict) {
            (true, _) => "unchanged",
            (_, Verdict::Pass) => "pass",
            (_, Verdict::Fail) => "fail",
            _ => "inconclusive",
        };
        let title = format!(
            "window {}: {:.1}-{:.1} s, {}{}",
            w.index,
            w.start_s,
            w.end_s,
            w.verdict.label(),
            if w.breaches.is_empty() {
                String::new()
            } else {
                format!(": {}", w.breaches.join(", "))
            }
        );
        let _ = write!(
            o,
            "<span class=\"tag {class}\" title=\"{}\">{}</span> ",
            escape(title.as_str()),
            w.index
        );
    }
    let _ = write!(
        o,
        "</p><p class=\"note\">Grey: warm-up, not judged. Hover a window for its span and \
         breaches.</p><div class=\"grid\"><figure>{}</figure></div></section>",
        budget_chart(s, st)
    );
}

/// How much of its threshold an SLO used in a window, in %: 100 is the
/// threshold. A minimum (availability, say) uses its shortfall budget.
fn budget_pct(value: f64, threshold: f64, bound: Bound) -> Option<f64> {
    let used = match bound {
        Bound::Max if threshold > 0.0 => value / threshold,
        Bound::Max => return None,
        Bound::Min if threshold < 1.0 && value <= 1.0 => (1.0 - value) / (1.0 - threshold),
        Bound::Min if value > 0.0 => threshold / value,
        Bound::Min => return None,
    };
    Some(used * 100.0)
}

fn budget_chart(s: &Summary, st: &StabilityReport) -> String {
    let mut series: Vec<Series> = Vec::new();
    let mut top: f64 = 120.0;
    for r in s.slos.iter().filter(|r| r.kind != "stability") {
        let points: Vec<(f64, f64)> = st
            .windows
            .iter()
            .filter_map(|w| {
                let v = w
                    .slos
                    .iter()
                    .find(|x| x.scope == r.scope && x.metric == r.metric)?
                    .value?;
                Some((w.end_s, budget_pct(v, r.threshold, r.bound)?.min(400.0)))
            })
            .collect();
        top = points.iter().map(|p| p.1).fold(top, f64::max);
        series.push(Series {
            label: format!("{} {}", r.scope, r.metric),
            color: PALETTE[series.len() % PALETTE.len()],
            points,
        });
    }
    let end = st.windows.last().map_or(1.0, |w| w.end_s);
    let axis = |title: &str, max: f64, unit: &'static str| Axis {
        title: title.into(),
        scale: Scale::Linear { min: 0.0, max },
        ticks: svg::linear_ticks(0.0, max, 5)
            .into_iter()
            .map(|v| (v, format!("{v}{unit}")))
            .collect(),
    };
    let mut c = Chart::new(
        "Share of each SLO threshold used, per window",
        axis("seconds since start (window end)", end, ""),
        axis("% of threshold (capped at 400)", top * 1.05, "%"),
    );
    c.lines.push(RefLine {
        vertical: false,
        at: 100.0,
        label: "threshold".into(),
        color: "#D55E00",
    });
    c.series = series;
    svg::render(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_the_share_of_the_threshold_used() {
        assert_eq!(budget_pct(150.0, 300.0, Bound::Max), Some(50.0));
        // Availability 99.8 % against 99.9 %: twice the allowed shortfall.
        let a = budget_pct(0.998, 0.999, Bound::Min).unwrap();
        assert!((a - 200.0).abs() < 1e-6, "{a}");
        assert_eq!(budget_pct(1.0, 0.0, Bound::Max), None);
    }
}
