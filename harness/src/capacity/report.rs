//! The capacity evidence folder: `capacity.json` (versioned), `capacity.csv`
//! (one row per route and step), `capacity.md` (the page a release manager
//! reads, with the forecast in plain words), one SVG chart per route and
//! `manifest.json` with the sha256 of each.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::chart::{self, Panel, Series};
use super::{RouteResult, Step, StepOutcome};
use crate::report::fmt::{opt_ms, value};
use crate::scenario::capacity::CapacitySpec;
use crate::scenario::Secrets;

pub const SCHEMA: &str = "slogate.capacity/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    pub schema: String,
    pub tool_version: String,
    pub id: String,
    pub scenario: String,
    pub scenario_file: String,
    pub scenario_sha256: String,
    pub base_url: String,
    pub started_utc: String,
    pub ended_utc: String,
    pub search: CapacitySpec,
    pub routes: Vec<RouteResult>,
    pub exit_code: i32,
}

/// The exit code: 3 when a search ended on the generator, 1 when a route
/// met its SLOs at no rate at all, else 0.
pub fn exit_code(routes: &[RouteResult]) -> i32 {
    if routes.iter().any(|r| r.generator_limited) {
        3
    } else if routes.iter().any(|r| r.sustainable_rps.is_none()) {
        1
    } else {
        0
    }
}

/// One progress line per step, for stderr.
pub fn step_line(route: &str, s: &Step) -> String {
    format!(
        "capacity {route}: offered {:.1}/s, completed {:.1}/s, p95 {}, p99 {}, errors {}, \
         concurrency {:.1}: {}{}",
        s.offered_rps,
        s.achieved_rps,
        opt_ms(s.p95_ms),
        opt_ms(s.p99_ms),
        value(s.error_rate, "ratio"),
        s.concurrency,
        outcome_label(&s.outcome),
        if s.why.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.why.join(", "))
        }
    )
}

fn outcome_label(o: &StepOutcome) -> &'static str {
    match o {
        StepOutcome::Pass => "PASS",
        StepOutcome::Breach => "SLO BREACHED",
        StepOutcome::Unreached => "RATE NOT REACHED",
        StepOutcome::GeneratorLimited => "GENERATOR BEHIND",
    }
}

/// Writes every file into `dir`; text passes the secret mask.
pub fn write(dir: &Path, r: &CapacityReport, secrets: &Secrets) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let put = |name: &str, text: String| -> anyhow::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, secrets.mask(&text))
            .with_context(|| format!("cannot write {}", p.display()))
    };
    put("capacity.json", serde_json::to_string_pretty(r)? + "\n")?;
    put("capacity.csv", csv(r)?)?;
    put("capacity.md", markdown(r))?;
    for route in &r.routes {
        put(&chart_file(&route.name), svg(route))?;
    }
    manifest(dir, r)
}

/// `manifest.json`, as for a run: who wrote the folder, sha256 of each file.
fn manifest(dir: &Path, r: &CapacityReport) -> anyhow::Result<()> {
    use crate::report::manifest::{sha256_file, Manifest, SCHEMA as MANIFEST};
    let mut files = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name != "manifest.json" && e.file_type()?.is_file() {
            files.insert(name, sha256_file(&e.path())?);
        }
    }
    let started = humantime::parse_rfc3339(&r.started_utc)?;
    let m = Manifest {
        schema: MANIFEST.into(),
        tool: "slogate".into(),
        tool_version: r.tool_version.clone(),
        run_id: r.id.clone(),
        scenario: r.scenario.clone(),
        scenario_sha256: r.scenario_sha256.clone(),
        started_utc: r.started_utc.clone(),
        ended_utc: r.ended_utc.clone(),
        retain_until_utc: crate::report::summary::utc(
            started + std::time::Duration::from_secs(crate::report::RETAIN_DAYS * 24 * 3600),
        ),
        complete: r.exit_code != 3,
        files,
    };
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&m)? + "\n",
    )?;
    Ok(())
}

pub fn chart_file(route: &str) -> String {
    let clean: String = route
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("capacity-{clean}.svg")
}

#[derive(Serialize)]
struct CsvRow<'a> {
    route: &'a str,
    step: usize,
    offered_rps: f64,
    achieved_rps: f64,
    requests: u64,
    error_rate: Option<f64>,
    latency_p50_ms: Option<f64>,
    latency_p95_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    service_mean_ms: Option<f64>,
    concurrency: f64,
    late_generator: u64,
    outcome: &'static str,
    why: String,
}

pub fn csv(r: &CapacityReport) -> anyhow::Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    for route in &r.routes {
        for (i, s) in route.steps.iter().enumerate() {
            w.serialize(CsvRow {
                route: &route.name,
                step: i,
                offered_rps: s.offered_rps,
                achieved_rps: s.achieved_rps,
                requests: s.requests,
                error_rate: s.error_rate,
                latency_p50_ms: s.p50_ms,
                latency_p95_ms: s.p95_ms,
                latency_p99_ms: s.p99_ms,
                service_mean_ms: s.service_mean_ms,
                concurrency: s.concurrency,
                late_generator: s.late_generator,
                outcome: outcome_label(&s.outcome),
                why: s.why.join("; "),
            })?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

const METHOD: &str = "\
**How this was measured.** Each route was loaded on its own at a constant arrival rate per step \
(open model: requests start on schedule whatever the target does, and latency counts from the \
scheduled start). Each step was judged on its own histograms, not on the run so far. A step \
passes when every SLO of the route (and the run-wide 5xx and availability SLOs) holds, no more \
than the set share of sends had to wait for a connection the target still held, and the target \
completed at least that share of the offered rate. The completed rate is requests over the \
step's whole span, start-up and drain included, so on short steps it reads a little low. When \
the load generator itself fell behind its schedule, the search stopped without blaming the \
target.

**How the forecast is made.** Concurrency at each step comes from Little's law (completed rate \
times mean service time). The Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)), is \
fitted to throughput against concurrency by least squares: λ is the rate one unit of concurrency \
delivers without contention, σ the share of work that queues on something shared (contention), \
κ the cost of keeping concurrent work coherent (crosstalk). With κ > 0 throughput peaks and then \
falls; with κ = 0 it levels off at λ/σ. The instance count divides the target rate by what one \
instance sustains *within its SLOs* (measured, not fitted) less the headroom, and rounds up.

**Limits.** The forecast assumes instances like the one measured scale out linearly behind a \
balancer: a shared database, cache or queue that saturates first is not in the measurement \
unless it was under load here too. The USL fit is a model of this instance on these steps; it \
extrapolates poorly far beyond the highest concurrency measured. Steps are short samples; rerun \
on a quiet machine, with the same build and data, before committing to a number.";

pub fn markdown(r: &CapacityReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# slogate capacity: {}\n", r.scenario);
    let s = &r.search;
    let _ = writeln!(
        o,
        "Run `{}` against `{}`, {} to {} UTC. Search: {:?}, start {:.1}/s, {}steps of {:.1} s, \
         max {:.1}/s; a step is not sustainable when over {:.0} % of its sends wait for a busy \
         connection or it completes under {:.0} % of its offered rate.\n",
        r.id,
        r.base_url,
        r.started_utc,
        r.ended_utc,
        s.search,
        s.start_rps,
        match s.search {
            crate::scenario::capacity::Search::Linear => format!("+{:.1}/s ", s.step_rps),
            crate::scenario::capacity::Search::Auto =>
                format!("doubling then bisecting to {:.1} %, ", s.precision * 100.0),
        },
        s.step_duration_s,
        s.max_rps,
        (1.0 - s.reach_min) * 100.0,
        s.reach_min * 100.0
    );
    o.push_str("## Answer\n\n");
    for route in &r.routes {
        answer(route, &mut o);
    }
    for route in &r.routes {
        route_section(route, &mut o);
    }
    o.push_str("\n## Method and limits\n\n");
    o.push_str(METHOD);
    o.push('\n');
    o
}

fn answer(route: &RouteResult, o: &mut String) {
    let Some(c) = route.sustainable_rps else {
        if route.generator_limited {
            let _ = writeln!(
                o,
                "- **{}**: nothing measured: {}.",
                route.name, route.stopped
            );
            return;
        }
        let _ = writeln!(
            o,
            "- **{}**: no sustainable rate: the first step ({:.1}/s) already broke an SLO. \
             Lower `capacity.start`.",
            route.name,
            route.steps.first().map_or(0.0, |s| s.offered_rps)
        );
        return;
    };
    let at_least = if route.generator_limited {
        "at least "
    } else {
        ""
    };
    let _ = write!(
        o,
        "- **{}**: one instance sustains {at_least}**{c:.0} requests/s** within its SLOs",
        route.name
    );
    if let Some(k) = route.knee_rps {
        let _ = write!(o, "; latency starts to bend above {k:.0}/s");
    }
    if let Some(u) = &route.usl {
        let _ = write!(
            o,
            "; the most it completed was {:.0}/s, and the fitted ceiling is {:.0}/s{}",
            u.measured_max_rps,
            u.peak_throughput_rps,
            if u.peak_supported {
                ""
            } else {
                " (an extrapolation: no step measured near that point)"
            }
        );
    }
    o.push('.');
    if route.generator_limited {
        o.push_str(
            " The generator fell behind before the target did, so this is a floor, not the \
             limit: no instance count is given.",
        );
    }
    if let Some(f) = &route.forecast {
        let _ = write!(
            o,
            " For a peak of {:.0}/s with {:.0} % headroom (each instance planned at {:.0}/s), \
             run **{} instances**, or **{}** to survive losing one.",
            f.target_rate_rps,
            f.headroom * 100.0,
            f.per_instance_rps,
            f.instances,
            f.instances_safe
        );
    }
    o.push('\n');
}

fn route_section(route: &RouteResult, o: &mut String) {
    let _ = writeln!(
        o,
        "\n## Route `{}`: {} {}\n",
        route.name, route.method, route.path
    );
    let _ = writeln!(o, "Stopped: {}.\n", route.stopped);
    let _ = writeln!(o, "![curves]({})\n", chart_file(&route.name));
    o.push_str(
        "| step | offered | completed | p50 | p95 | p99 | errors | concurrency | outcome |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (i, s) in route.steps.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {i} | {:.1}/s | {:.1}/s | {} | {} | {} | {} | {:.2} | {}{} |",
            s.offered_rps,
            s.achieved_rps,
            opt_ms(s.p50_ms),
            opt_ms(s.p95_ms),
            opt_ms(s.p99_ms),
            value(s.error_rate, "ratio"),
            s.concurrency,
            outcome_label(&s.outcome),
            if s.why.is_empty() {
                String::new()
            } else {
                format!(": {}", s.why.join(", "))
            }
        );
    }
    match &route.usl {
        Some(u) => {
            let peak_n = u
                .peak_concurrency
                .map_or("none (throughput levels off)".into(), |n| format!("{n:.1}"));
            let _ = writeln!(
                o,
                "\nUSL fit over {} steps: λ = {:.2}/s per unit of concurrency, σ = {:.4} \
                 (contention), κ = {:.6} (coherency), R² = {:.3}. Predicted peak throughput \
                 {:.0}/s at concurrency {peak_n}{}. Highest throughput measured: {:.0}/s.",
                u.points,
                u.lambda,
                u.sigma,
                u.kappa,
                u.r_squared,
                u.peak_throughput_rps,
                if u.peak_supported {
                    ""
                } else {
                    " (no step measured near that concurrency: read it as an upper estimate)"
                },
                u.measured_max_rps
            );
        }
        None => o.push_str(
            "\nNo USL fit: fewer than three steps with a measured concurrency, or no fit with \
             non-negative σ and κ.\n",
        ),
    }
}

fn svg(route: &RouteResult) -> String {
    let mut by_rate: Vec<&Step> = route
        .steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::GeneratorLimited)
        .collect();
    by_rate.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    let line = |f: fn(&Step) -> Option<f64>| -> Vec<(f64, f64)> {
        by_rate
            .iter()
            .filter_map(|s| f(s).map(|v| (s.offered_rps, v)))
            .collect()
    };
    let marks = route
        .sustainable_rps
        .map(|c| (format!("sustainable {c:.0}/s"), c))
        .into_iter()
        .collect();
    let by = |what: &str, y_label, series, marks| Panel {
        title: format!("{}: {what} by offered rate", route.name),
        x_label: "offered rate (requests/s)",
        y_label,
        series,
        marks,
    };
    let mut panels = vec![
        by(
            "latency",
            "ms",
            vec![
                Series::line("p95", "#1f77b4", line(|s| s.p95_ms)),
                Series::line("p99", "#ff7f0e", line(|s| s.p99_ms)),
            ],
            Vec::new(),
        ),
        by(
            "completed rate",
            "requests/s",
            vec![
                Series::line("completed", "#2ca02c", line(|s| Some(s.achieved_rps))),
                Series::line("offered", "#999", line(|s| Some(s.offered_rps))),
            ],
            marks,
        ),
        by(
            "error rate",
            "error rate (%)",
            vec![Series::line(
                "errors",
                "#d62728",
                line(|s| s.error_rate.map(|e| e * 100.0)),
            )],
            Vec::new(),
        ),
    ];
    if let Some(u) = &route.usl {
        panels.push(usl_panel(route, u));
    }
    chart::render(&panels)
}

fn usl_panel<'a>(route: &'a RouteResult, u: &super::usl::UslFit) -> Panel<'a> {
    let pts = super::usl_points(&route.steps);
    let nmax = pts
        .iter()
        .map(|p| p.concurrency)
        .fold(0.0, f64::max)
        .max(u.peak_concurrency.unwrap_or(0.0));
    let curve: Vec<(f64, f64)> = (0..=60)
        .map(|i| {
            let n = 1.0_f64.max(nmax * i as f64 / 60.0);
            (n, u.throughput(n))
        })
        .collect();
    Panel {
        title: format!("{}: throughput by concurrency, USL fit", route.name),
        x_label: "concurrency (Little's law)",
        y_label: "requests/s",
        series: vec![
            Series {
                name: "measured",
                color: "#1f77b4",
                points: pts
                    .iter()
                    .map(|p| (p.concurrency, p.throughput_rps))
                    .collect(),
                dots_only: true,
                line_only: false,
            },
            Series::curve("USL fit", "#9467bd", curve),
        ],
        marks: if u.peak_throughput_rps.is_finite() {
            vec![(
                format!("peak {:.0}/s", u.peak_throughput_rps),
                u.peak_throughput_rps,
            )]
        } else {
            Vec::new()
        },
    }
}
