//! `slogate capacity`: per route, step the arrival rate (linearly, or
//! double-then-bisect) and judge each step on its own histograms; stop at
//! the first step that breaks an SLO or cannot reach its offered rate. A
//! step where the generator itself fell behind stops the search without
//! blaming the target. Then fit the Universal Scalability Law to the
//! steps and forecast how many instances a target rate needs.

mod chart;
pub mod cli;
pub mod report;
pub mod usl;

use serde::{Deserialize, Serialize};

use crate::engine::{self, Inconclusive, RunOptions};
use crate::scenario::capacity::{CapacitySpec, Search};
use crate::scenario::{Load, Scenario, Segment};
use crate::slo::{self, Verdict};

/// Why a step counts as not sustainable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Pass,
    /// One or more SLOs breached in this step.
    Breach,
    /// Too many sends waited for a connection the target still held, or the
    /// target completed too little of the offered rate.
    Unreached,
    /// The generator fell behind its own schedule: the step says nothing
    /// about the target.
    GeneratorLimited,
}

/// One step: a fixed arrival rate held for the step duration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub offered_rps: f64,
    /// Requests completed per second of the step, from the first send to
    /// the last answer.
    pub achieved_rps: f64,
    /// Sends that waited for a busy connection (the target's doing).
    #[serde(default)]
    pub late_backpressure: u64,
    pub requests: u64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Mean time from the actual send to the last byte.
    pub service_mean_ms: Option<f64>,
    /// Little's law: achieved rate times mean service time.
    pub concurrency: f64,
    pub late_generator: u64,
    pub outcome: StepOutcome,
    /// `scope.metric` of every SLO breached, or what was not reached.
    pub why: Vec<String>,
}

/// The forecast for one route: instances needed for a target rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub target_rate_rps: f64,
    pub headroom: f64,
    /// What one instance is planned to carry: sustainable × (1 − headroom).
    pub per_instance_rps: f64,
    pub instances: u32,
    pub instances_safe: u32,
}

/// One route's search, curve, knee and forecast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteResult {
    pub name: String,
    pub method: String,
    pub path: String,
    /// In the order they ran.
    pub steps: Vec<Step>,
    /// The highest offered rate whose step met every SLO.
    pub sustainable_rps: Option<f64>,
    /// The highest rate before p95 bent upwards (over twice the lowest
    /// step's p95) or the completed rate fell below `reach_min` of the
    /// offered; `None` when no step bent.
    pub knee_rps: Option<f64>,
    /// Why the search stopped, in words.
    pub stopped: String,
    /// The search ended on the generator, not on the target.
    pub generator_limited: bool,
    pub usl: Option<usl::UslFit>,
    pub forecast: Option<Forecast>,
}

/// Runs the search on every chosen probe of the scenario, one at a time.
pub async fn search(
    sc: &Scenario,
    spec: &CapacitySpec,
    routes: &[String],
    quiet: bool,
) -> anyhow::Result<Vec<RouteResult>> {
    let mut out = Vec::new();
    for i in 0..sc.probes.len() {
        let name = &sc.probes[i].name;
        if !routes.is_empty() && !routes.contains(name) {
            continue;
        }
        out.push(search_route(sc, i, spec, quiet, out.is_empty()).await?);
    }
    Ok(out)
}

/// The scenario cut down to one probe at one constant rate.
fn step_scenario(sc: &Scenario, probe: usize, rate: f64, spec: &CapacitySpec) -> Scenario {
    let mut s = sc.clone();
    let mut p = sc.probes[probe].clone();
    p.load = Load::Open {
        segments: vec![Segment {
            from: rate,
            to: rate,
            duration: std::time::Duration::from_secs_f64(spec.step_duration_s),
        }],
    };
    s.probes = vec![p];
    s.streams.clear();
    s.stability = None;
    s
}

async fn run_step(
    sc: &Scenario,
    probe: usize,
    rate: f64,
    spec: &CapacitySpec,
    preflight: bool,
) -> anyhow::Result<Step> {
    let s = step_scenario(sc, probe, rate, spec);
    let opts = RunOptions {
        quiet: true,
        skip_preflight: !preflight,
        ..Default::default()
    };
    let m = engine::run(&s, &opts).await?;
    if let Some(why) = m
        .inconclusive
        .iter()
        .find(|r| matches!(r, Inconclusive::Unreachable(_) | Inconclusive::Interrupted))
    {
        anyhow::bail!("capacity search stopped at {rate:.1}/s: {why}");
    }
    let d = &m.probes[0];
    let secs = m.elapsed.as_secs_f64().max(spec.step_duration_s);
    // Starts still queued when the schedule ended were skipped, never sent.
    let skipped = d.errors.get(crate::metrics::ErrorClass::Skipped);
    let achieved = d.requests.saturating_sub(skipped) as f64 / secs;
    let service_mean = (!d.service.is_empty()).then(|| d.service.h.mean() / 1000.0);
    let mut why: Vec<String> = slo::evaluate(&s, &m.probes, &m.streams)
        .into_iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| format!("{}.{}", r.scope, r.metric))
        .collect();
    let generator = m
        .inconclusive
        .iter()
        .any(|r| matches!(r, Inconclusive::GeneratorBehind { .. }));
    // Not reached: too many sends waited for a connection the target still
    // held, or the target completed too little of the offered rate (the
    // completed rate counts the step's start-up and drain too, so on short
    // steps it reads a little low: `reach_min` leaves room for that).
    let waited = (d.late_backpressure + skipped) as f64 / d.requests.max(1) as f64;
    let reached = waited <= 1.0 - spec.reach_min && achieved >= rate * spec.reach_min;
    let outcome = if generator {
        StepOutcome::GeneratorLimited
    } else if !why.is_empty() {
        StepOutcome::Breach
    } else if !reached {
        StepOutcome::Unreached
    } else {
        StepOutcome::Pass
    };
    if waited > 1.0 - spec.reach_min {
        why.push(format!(
            "{:.1} % of sends waited for a busy connection or were skipped",
            waited * 100.0
        ));
    }
    if achieved < rate * spec.reach_min {
        why.push(format!("completed {achieved:.1} of {rate:.1}/s"));
    }
    Ok(Step {
        offered_rps: rate,
        achieved_rps: achieved,
        requests: d.requests,
        error_rate: d.error_rate(),
        p50_ms: d.latency.quantile_ms(0.50),
        p95_ms: d.latency.quantile_ms(0.95),
        p99_ms: d.latency.quantile_ms(0.99),
        service_mean_ms: service_mean,
        concurrency: achieved * service_mean.unwrap_or(0.0) / 1000.0,
        late_generator: d.late_generator,
        late_backpressure: d.late_backpressure,
        outcome,
        why,
    })
}

/// The rates to try: linear steps, or doubling then bisection. `next`
/// sees every step so far and answers the next rate, or `None` when done.
fn next_rate(spec: &CapacitySpec, steps: &[Step]) -> Option<f64> {
    let Some(last) = steps.last() else {
        return Some(spec.start_rps);
    };
    match last.outcome {
        StepOutcome::GeneratorLimited => return None,
        StepOutcome::Pass if last.offered_rps >= spec.max_rps => return None,
        _ => {}
    }
    let good = |s: &&Step| s.outcome == StepOutcome::Pass;
    let lo = steps
        .iter()
        .filter(good)
        .map(|s| s.offered_rps)
        .fold(0.0, f64::max);
    let hi = steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::Pass)
        .map(|s| s.offered_rps)
        .fold(f64::INFINITY, f64::min);
    match spec.search {
        Search::Linear if last.outcome == StepOutcome::Pass => {
            Some((last.offered_rps + spec.step_rps).min(spec.max_rps))
        }
        Search::Linear => None,
        Search::Auto if hi.is_infinite() => Some((last.offered_rps * 2.0).min(spec.max_rps)),
        Search::Auto if lo == 0.0 => None,
        Search::Auto if hi / lo - 1.0 > spec.precision => Some((lo + hi) / 2.0),
        Search::Auto => None,
    }
}

async fn search_route(
    sc: &Scenario,
    probe: usize,
    spec: &CapacitySpec,
    quiet: bool,
    first: bool,
) -> anyhow::Result<RouteResult> {
    let p = &sc.probes[probe];
    let mut steps: Vec<Step> = Vec::new();
    while let Some(rate) = next_rate(spec, &steps) {
        let step = run_step(sc, probe, rate, spec, first && steps.is_empty()).await?;
        if !quiet {
            eprintln!("{}", sc.secrets.mask(&report::step_line(&p.name, &step)));
        }
        steps.push(step);
    }
    let sustainable = steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Pass)
        .map(|s| s.offered_rps)
        .reduce(f64::max);
    let fit = usl::fit(&usl_points(&steps));
    let generator_limited = steps
        .last()
        .is_some_and(|s| s.outcome == StepOutcome::GeneratorLimited);
    // A search that ended on the generator found a floor, not the limit:
    // an instance count from it would be an over-estimate, so none is given.
    let forecast = match (spec.target_rate_rps, sustainable, generator_limited) {
        (Some(t), Some(c), false) => Some(forecast(t, c, spec.headroom)),
        _ => None,
    };
    Ok(RouteResult {
        name: p.name.clone(),
        method: p.method.to_string(),
        path: p.path.clone(),
        knee_rps: knee(&steps, spec.reach_min),
        stopped: stopped(spec, &steps),
        generator_limited,
        sustainable_rps: sustainable,
        steps,
        usl: fit,
        forecast,
    })
}

/// Steps the generator kept up with, as USL points.
pub fn usl_points(steps: &[Step]) -> Vec<usl::Point> {
    steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::GeneratorLimited && s.concurrency > 0.0)
        .map(|s| usl::Point {
            concurrency: s.concurrency,
            throughput_rps: s.achieved_rps,
        })
        .collect()
}

/// Instances needed: each planned to carry `(1 − headroom)` of what it sustains.
pub fn forecast(target: f64, sustainable: f64, headroom: f64) -> Forecast {
    let per = sustainable * (1.0 - headroom);
    let n = (target / per - 1e-9).ceil().max(1.0) as u32;
    Forecast {
        target_rate_rps: target,
        headroom,
        per_instance_rps: per,
        instances: n,
        instances_safe: n + 1,
    }
}

/// The highest rate, in ascending order of rate, before p95 exceeds twice
/// the lowest step's p95 or the completed rate falls below `reach_min` of
/// the offered rate.
pub fn knee(steps: &[Step], reach_min: f64) -> Option<f64> {
    let mut sorted: Vec<&Step> = steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::GeneratorLimited)
        .collect();
    sorted.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    let base = sorted.first()?.p95_ms?;
    let mut knee = None;
    for s in sorted {
        let bent = s.p95_ms.is_none_or(|p| p > 2.0 * base);
        if bent || s.achieved_rps < s.offered_rps * reach_min {
            return knee;
        }
        knee = Some(s.offered_rps);
    }
    // Nothing bent within the rates tried: the knee lies above them.
    None
}

fn stopped(spec: &CapacitySpec, steps: &[Step]) -> String {
    let Some(last) = steps.last() else {
        return "no step ran".into();
    };
    let first_bad = steps.iter().find(|s| s.outcome != StepOutcome::Pass);
    match (last.outcome.clone(), first_bad) {
        (StepOutcome::GeneratorLimited, _) => format!(
            "the generator fell behind its own schedule at {:.1}/s (sends late with a \
             connection free): the target's limit is above the highest passing rate, \
             not measured; run the generator on a quieter or larger machine",
            last.offered_rps
        ),
        (_, None) => format!(
            "every step passed up to the search's maximum of {:.1}/s",
            spec.max_rps
        ),
        (_, Some(_)) if spec.search == Search::Auto => format!(
            "bisected between the highest passing and lowest failing rate to within {:.1} %",
            spec.precision * 100.0
        ),
        (_, Some(b)) => format!(
            "first failing step at {:.1}/s: {}",
            b.offered_rps,
            b.why.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, ok: bool) -> Step {
        Step {
            offered_rps: rate,
            achieved_rps: rate,
            requests: 0,
            error_rate: Some(0.0),
            p50_ms: Some(10.0),
            p95_ms: Some(if ok { 11.0 } else { 90.0 }),
            p99_ms: None,
            service_mean_ms: Some(10.0),
            concurrency: rate / 100.0,
            late_generator: 0,
            late_backpressure: 0,
            outcome: if ok {
                StepOutcome::Pass
            } else {
                StepOutcome::Breach
            },
            why: Vec::new(),
        }
    }

    fn spec(search: Search) -> CapacitySpec {
        crate::scenario::capacity::CapacityAsk {
            search: Some(search),
            start: Some(100.0),
            step: Some(50.0),
            max: Some(1000.0),
            ..Default::default()
        }
        .resolve()
        .unwrap()
    }

    #[test]
    fn auto_doubles_then_bisects_to_the_precision() {
        let s = spec(Search::Auto);
        let mut steps = Vec::new();
        let capacity = 430.0;
        while let Some(r) = next_rate(&s, &steps) {
            steps.push(step(r, r <= capacity));
        }
        let rates: Vec<f64> = steps.iter().map(|s| s.offered_rps).collect();
        assert_eq!(
            &rates[..5],
            &[100.0, 200.0, 400.0, 800.0, 600.0],
            "{rates:?}"
        );
        let best = steps.iter().filter(|s| s.outcome == StepOutcome::Pass);
        let best = best.map(|s| s.offered_rps).fold(0.0, f64::max);
        assert!(
            best <= capacity && best >= capacity / 1.05,
            "{best} {rates:?}"
        );
        assert_eq!(knee(&steps, 0.9), Some(best));
    }

    #[test]
    fn linear_stops_at_the_first_failing_step() {
        let s = spec(Search::Linear);
        let mut steps = Vec::new();
        while let Some(r) = next_rate(&s, &steps) {
            steps.push(step(r, r <= 260.0));
        }
        let rates: Vec<f64> = steps.iter().map(|s| s.offered_rps).collect();
        assert_eq!(rates, vec![100.0, 150.0, 200.0, 250.0, 300.0]);
    }

    #[test]
    fn instances_keep_the_headroom() {
        // 400/s sustainable, 30 % headroom: 280/s each; 1000/s needs 4 (3.57 rounded up).
        let f = forecast(1000.0, 400.0, 0.3);
        assert_eq!((f.instances, f.instances_safe), (4, 5));
        assert!((f.per_instance_rps - 280.0).abs() < 1e-9);
        assert_eq!(forecast(280.0, 400.0, 0.3).instances, 1);
    }
}
