//! The stability section of the evidence: the window timeline in
//! `report.md` and one `metrics.csv` row per window and SLO.

use std::fmt::Write;

use super::csv::Row;
use super::summary::Summary;
use crate::scenario::units::fmt_duration;
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
