//! The baseline gate for CI: every SLO metric of a run against the same
//! metric of a stored baseline run, failing the run (exit 1) when one got
//! worse by more than the allowed bound, even if its absolute SLO holds.
//!
//! The bound is relative to a reference: the baseline value for latencies,
//! and the SLO's budget for ratios and counts (a baseline with zero errors
//! would otherwise make a single error an infinite regression).

use std::fmt::Write;

use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};

use super::compare::worse_by;
use super::fmt::value;
use super::junit::Case;
use super::summary::Summary;
use crate::scenario::Bound;
use crate::slo::{SloResult, Verdict};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BaselineGate {
    /// Where the baseline was read from, as given.
    pub source: String,
    pub baseline_run: String,
    /// Allowed worsening, as a fraction of the reference (0.10 = 10 %).
    pub max_regression: f64,
    pub metrics: Vec<Gated>,
    pub regressed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Gated {
    pub scope: String,
    pub metric: String,
    pub unit: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// What the change is measured against (baseline value or SLO budget).
    pub reference: Option<f64>,
    /// Worsening as a fraction of the reference (negative: better).
    pub change: Option<f64>,
    pub regressed: bool,
}

/// The reference a metric's change is measured against.
fn reference(r: &SloResult, before: f64) -> f64 {
    match (r.unit.as_str(), r.bound) {
        ("ms", _) => before,
        ("count", _) => r.threshold.max(1.0),
        (_, Bound::Max) => r.threshold,
        (_, Bound::Min) => 1.0 - r.threshold,
    }
}

/// Latencies within this of their baseline never fail the gate.
pub const GATE_MIN_LATENCY_MS: f64 = 2.0;

fn gate_one(base: Option<&SloResult>, r: &SloResult, bound: f64) -> Gated {
    let before = base.and_then(|b| b.value);
    let mut g = Gated {
        scope: r.scope.clone(),
        metric: r.metric.clone(),
        unit: r.unit.clone(),
        before,
        after: r.value,
        reference: None,
        change: None,
        regressed: false,
    };
    if let (Some(b), Some(a)) = (before, r.value) {
        let rf = reference(r, b);
        let worse = worse_by(r.bound, b, a);
        g.reference = Some(rf);
        g.change = Some(if rf > 0.0 {
            worse / rf
        } else {
            worse.signum() * f64::INFINITY
        });
        // A couple of milliseconds is host noise, whatever its percentage.
        let material = r.unit != "ms" || worse >= GATE_MIN_LATENCY_MS;
        g.regressed = material && worse > 0.0 && g.change.is_some_and(|c| c > bound + 1e-12);
    }
    g
}

/// Gates `s` on `base`; a regression past the bound turns a pass into a fail.
pub fn apply(s: &mut Summary, base: &Summary, source: &str, bound: f64) {
    let metrics: Vec<Gated> = s
        .slos
        .iter()
        .map(|r| {
            let b = base
                .slos
                .iter()
                .find(|b| b.scope == r.scope && b.kind == r.kind && b.metric == r.metric);
            gate_one(b, r, bound)
        })
        .collect();
    let regressed = metrics.iter().any(|g| g.regressed);
    if regressed && s.run.verdict == Verdict::Pass {
        s.run.verdict = Verdict::Fail;
        s.run.exit_code = Verdict::Fail.exit_code();
    }
    s.baseline = Some(BaselineGate {
        source: source.into(),
        baseline_run: base.run.id.clone(),
        max_regression: bound,
        metrics,
        regressed,
    });
}

fn change_text(g: &Gated) -> String {
    match g.change {
        None if g.before.is_none() => "not in baseline".into(),
        None => "no data".into(),
        Some(c) if c > 0.0 => format!("{:.1} % worse", c * 100.0),
        Some(c) if c < 0.0 => format!("{:.1} % better", -c * 100.0),
        Some(_) => "same".into(),
    }
}

fn call(g: &Gated) -> &'static str {
    if g.regressed {
        "REGRESSED"
    } else {
        "ok"
    }
}

/// Lines for the terminal, after the SLO table.
pub fn terminal(s: &Summary) -> String {
    let Some(b) = &s.baseline else {
        return String::new();
    };
    let mut o = format!(
        "\nbaseline {} ({}), max regression {:.0} %:\n",
        b.baseline_run,
        b.source,
        b.max_regression * 100.0
    );
    for g in &b.metrics {
        let _ = writeln!(
            o,
            "  {:<9} {} {}: {} -> {} ({})",
            call(g),
            g.scope,
            g.metric,
            value(g.before, &g.unit),
            value(g.after, &g.unit),
            change_text(g)
        );
    }
    if b.regressed {
        o.push_str("baseline gate: FAIL, a metric regressed past the bound\n");
    }
    o
}

pub fn markdown(s: &Summary, o: &mut String) {
    let Some(b) = &s.baseline else {
        return;
    };
    let _ = writeln!(
        o,
        "\n## Baseline gate: {}\n\nAgainst run `{}` ({}); a metric fails when it is worse by more \
than {:.0} % of its reference (the baseline value for latencies, the SLO budget for ratios and \
counts).\n",
        if b.regressed { "FAIL" } else { "pass" },
        b.baseline_run,
        b.source,
        b.max_regression * 100.0
    );
    o.push_str("| scope | metric | baseline | this run | change | gate |\n");
    o.push_str("|---|---|---:|---:|---:|---|\n");
    for g in &b.metrics {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | **{}** |",
            g.scope,
            g.metric,
            value(g.before, &g.unit),
            value(g.after, &g.unit),
            change_text(g),
            call(g)
        );
    }
}

pub fn html(s: &Summary, o: &mut String) {
    let Some(b) = &s.baseline else {
        return;
    };
    let _ = write!(
        o,
        "<section id=\"baseline\"><h2>Baseline gate: <span class=\"tag {}\">{}</span></h2>\
<p class=\"note\">Against run {} ({}); a metric fails when worse by more than {:.0} % of its \
reference (baseline value for latencies, SLO budget for ratios and counts).</p><table><thead>\
<tr><th>scope</th><th>metric</th><th class=\"n\">baseline</th><th class=\"n\">this run</th>\
<th class=\"n\">change</th><th>gate</th></tr></thead><tbody>",
        if b.regressed { "regressed" } else { "pass" },
        if b.regressed { "FAIL" } else { "pass" },
        escape(&b.baseline_run),
        escape(&b.source),
        b.max_regression * 100.0
    );
    for g in &b.metrics {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td><span class=\"tag {}\">{}</span></td></tr>",
            escape(&g.scope),
            escape(&g.metric),
            value(g.before, &g.unit),
            value(g.after, &g.unit),
            change_text(g),
            if g.regressed {
                "regressed"
            } else {
                "unchanged"
            },
            call(g)
        );
    }
    o.push_str("</tbody></table></section>");
}

pub fn junit_cases(base: &str, b: &BaselineGate) -> Vec<Case> {
    b.metrics
        .iter()
        .map(|g| Case {
            classname: format!("{base}.baseline"),
            name: format!("{} {} vs baseline", g.scope, g.metric),
            failure: g.regressed.then(|| {
                (
                    "baseline_regression".into(),
                    format!(
                        "{} (bound {:.0} %): baseline {} -> {}",
                        change_text(g),
                        b.max_regression * 100.0,
                        value(g.before, &g.unit),
                        value(g.after, &g.unit)
                    ),
                )
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Metric, SloSpec};

    fn slo(metric: Metric, bound: Bound, threshold: f64, v: f64) -> SloResult {
        SloResult::new(
            "p",
            "probe",
            &SloSpec {
                metric,
                bound,
                threshold,
            },
            Some(v),
        )
    }

    #[test]
    fn a_couple_of_milliseconds_is_noise_not_a_regression() {
        let b = slo(Metric::LatencyP95, Bound::Max, 300.0, 6.6);
        let noise = gate_one(
            Some(&b),
            &slo(Metric::LatencyP95, Bound::Max, 300.0, 8.1),
            0.10,
        );
        assert!(!noise.regressed, "{noise:?}");
        let real = gate_one(
            Some(&b),
            &slo(Metric::LatencyP95, Bound::Max, 300.0, 9.0),
            0.10,
        );
        assert!(real.regressed, "{real:?}");
    }

    #[test]
    fn latency_gates_relative_to_the_baseline() {
        let b = slo(Metric::LatencyP95, Bound::Max, 300.0, 100.0);
        let ok = gate_one(
            Some(&b),
            &slo(Metric::LatencyP95, Bound::Max, 300.0, 109.0),
            0.10,
        );
        assert!(!ok.regressed, "{ok:?}");
        let bad = gate_one(
            Some(&b),
            &slo(Metric::LatencyP95, Bound::Max, 300.0, 112.0),
            0.10,
        );
        assert!(bad.regressed);
        assert!((bad.change.unwrap() - 0.12).abs() < 1e-9);
        let better = gate_one(
            Some(&b),
            &slo(Metric::LatencyP95, Bound::Max, 300.0, 50.0),
            0.10,
        );
        assert!(!better.regressed);
    }

    #[test]
    fn ratios_gate_relative_to_the_budget() {
        // Budget 0.5 %: from 0 errors to 0.04 % is 8 % of the budget, to 0.06 % is 12 %.
        let b = slo(Metric::ErrorRate, Bound::Max, 0.005, 0.0);
        assert!(
            !gate_one(
                Some(&b),
                &slo(Metric::ErrorRate, Bound::Max, 0.005, 0.0004),
                0.1
            )
            .regressed
        );
        assert!(
            gate_one(
                Some(&b),
                &slo(Metric::ErrorRate, Bound::Max, 0.005, 0.0006),
                0.1
            )
            .regressed
        );
        // Availability >= 99.9 %: budget 0.1 %; a drop of 0.02 points is 20 % of it.
        let b = slo(Metric::Availability, Bound::Min, 0.999, 1.0);
        assert!(
            gate_one(
                Some(&b),
                &slo(Metric::Availability, Bound::Min, 0.999, 0.9998),
                0.1
            )
            .regressed
        );
    }

    #[test]
    fn a_regression_fails_a_passing_run() {
        let mut s = crate::report::stored::tests::dummy();
        s.slos
            .push(slo(Metric::LatencyP95, Bound::Max, 300.0, 150.0));
        let mut base = s.clone();
        base.slos[0] = slo(Metric::LatencyP95, Bound::Max, 300.0, 100.0);
        apply(&mut s, &base, "before/", 0.10);
        assert_eq!((s.run.verdict, s.run.exit_code), (Verdict::Fail, 1));
        assert!(terminal(&s).contains("REGRESSED"), "{}", terminal(&s));
        let cases = crate::report::junit::cases(&s);
        assert!(cases
            .iter()
            .any(|c| c.name == "p latency_p95_ms vs baseline" && c.failure.is_some()));
    }
}
