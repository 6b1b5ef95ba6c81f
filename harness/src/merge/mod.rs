//! `slogate merge`: the agents' evidence folders combined into one run.
//! Checks that the agents ran the same scenario and overlapped in time,
//! adds their HDR histograms (whole run and per interval, lossless) and
//! counters, judges every SLO once on the merged data with the functions a
//! single run uses, and hands back the summary and interval log that the
//! shared report path writes as one evidence folder.

mod combine;
mod timeline;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, ensure, Context};

use crate::agent::offset_ms;
use crate::engine::MIN_LATE_SENDS;
use crate::metrics::{Hist, ProbeData, StreamData};
use crate::report::stored::{self, Stored};
use crate::report::summary::{run_id, utc, AgentRun, Generator, Summary};
use crate::report::SUMMARY;
use crate::slo::{self, SloResult, Totals};
use timeline::{AgentRows, Timeline};

pub struct Agent {
    pub dir: PathBuf,
    pub stored: Stored,
    started: SystemTime,
    ended: SystemTime,
}

pub struct Merged {
    pub summary: Summary,
    pub hlog: Vec<u8>,
}

/// Evidence folders named directly, or every agent's folder inside a
/// folder named instead (the shared volume of a Kubernetes run).
pub fn expand(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join(SUMMARY).is_file() {
            out.push(d.clone());
            continue;
        }
        let entries =
            std::fs::read_dir(d).with_context(|| format!("cannot read {}", d.display()))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_agent_folder(p))
            .collect();
        ensure!(
            !found.is_empty(),
            "{} holds no summary.json and no agent's evidence folder",
            d.display()
        );
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn is_agent_folder(p: &Path) -> bool {
    stored::read_summary(&p.join(SUMMARY)).is_ok_and(|s| s.run.agent.is_some())
}

pub fn read(dirs: &[PathBuf]) -> anyhow::Result<Vec<Agent>> {
    dirs.iter()
        .map(|d| {
            let stored = stored::read(d).with_context(|| format!("in {}", d.display()))?;
            let time = |s: &str| {
                humantime::parse_rfc3339(s)
                    .with_context(|| format!("{}: bad time {s:?} in summary", d.display()))
            };
            Ok(Agent {
                started: time(&stored.summary.run.started_utc)?,
                ended: time(&stored.summary.run.ended_utc)?,
                stored,
                dir: d.clone(),
            })
        })
        .collect()
}

/// Every reason the folders cannot be merged into one run (bad input);
/// returns the agents missing from the split.
fn check(agents: &[Agent]) -> anyhow::Result<Vec<String>> {
    ensure!(!agents.is_empty(), "no evidence folders to merge");
    let first = &agents[0].stored.summary;
    for a in &agents[1..] {
        let s = &a.stored.summary;
        let what = |x: &str| {
            format!(
                "{} and {} ran {x}",
                agents[0].dir.display(),
                a.dir.display()
            )
        };
        ensure!(
            s.run.scenario_sha256 == first.run.scenario_sha256,
            "{} (scenario sha256 {} vs {})",
            what("different scenarios"),
            short(&first.run.scenario_sha256),
            short(&s.run.scenario_sha256)
        );
        ensure!(
            s.run.interval_s == first.run.interval_s,
            "{}",
            what("with different intervals")
        );
        let names = |s: &Summary| {
            let p = s.probes.iter().map(|p| p.name.clone());
            p.chain(s.streams.iter().map(|s| s.name.clone()))
                .collect::<Vec<_>>()
        };
        ensure!(
            names(s) == names(first),
            "{}",
            what("different probes or streams")
        );
    }
    let latest_start = agents.iter().map(|a| a.started).max().expect("not empty");
    let earliest_end = agents.iter().map(|a| a.ended).min().expect("not empty");
    ensure!(
        latest_start < earliest_end,
        "the runs did not overlap in time: one ended at {} before another started at {}",
        utc(earliest_end),
        utc(latest_start)
    );
    check_labels(agents)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Agent labels must be distinct and agree on the agent count; returns the
/// agents that are missing (which makes the merged run inconclusive).
fn check_labels(agents: &[Agent]) -> anyhow::Result<Vec<String>> {
    let mut count = None;
    let mut seen = BTreeSet::new();
    for a in agents {
        let Some(label) = &a.stored.summary.run.agent else {
            continue;
        };
        let share = crate::agent::parse_share(label)
            .map_err(|e| anyhow::anyhow!("{}: agent label: {e}", a.dir.display()))?;
        if *count.get_or_insert(share.count) != share.count {
            bail!(
                "{}: agent {label} belongs to a split of another size",
                a.dir.display()
            );
        }
        if !seen.insert(share.index) {
            bail!(
                "agent {label} appears twice (second in {})",
                a.dir.display()
            );
        }
    }
    let n = count.unwrap_or(0);
    Ok((0..n)
        .filter(|i| !seen.contains(i))
        .map(|i| format!("{i}/{n}"))
        .collect())
}

/// Where the agents' clocks disagree by more than `max_skew`.
fn clock_warnings(agents: &[Agent], max_skew: Duration) -> Vec<String> {
    let mut w = Vec::new();
    let spread = |f: fn(&Agent) -> SystemTime| {
        let lo = agents.iter().map(f).min().expect("not empty");
        let hi = agents.iter().map(f).max().expect("not empty");
        hi.duration_since(lo).unwrap_or_default()
    };
    for (what, d) in [
        ("starts", spread(|a| a.started)),
        ("ends", spread(|a| a.ended)),
    ] {
        if d > max_skew {
            w.push(format!(
                "the agents' {what} lie {:.0} ms apart (bound {:.0} ms): their intervals do \
                 not line up and per-interval figures mix neighbouring steps",
                d.as_secs_f64() * 1000.0,
                max_skew.as_secs_f64() * 1000.0
            ));
        }
    }
    for a in agents {
        let r = &a.stored.summary.run;
        if let Some(off) = r
            .start_offset_ms
            .filter(|o| o.abs() > max_skew.as_secs_f64() * 1000.0)
        {
            w.push(format!(
                "agent {} started {off:.0} ms after the agreed start",
                r.agent.as_deref().unwrap_or(&r.id)
            ));
        }
    }
    w
}

/// Per probe, per stream, and each stream's population.
type Added = (Vec<ProbeData>, Vec<StreamData>, Vec<u32>);

/// The agents' data added up, per probe and per stream.
fn add_up(agents: &[Agent]) -> anyhow::Result<Added> {
    let first = &agents[0].stored.summary;
    let mut probes: Vec<ProbeData> = first.probes.iter().map(|_| ProbeData::default()).collect();
    let mut streams: Vec<StreamData> = first
        .streams
        .iter()
        .map(|_| StreamData::default())
        .collect();
    let mut populations = vec![0u32; first.streams.len()];
    for a in agents {
        let s = &a.stored.summary;
        for (acc, p) in probes.iter_mut().zip(&s.probes) {
            acc.add(&combine::probe_data(&a.stored, p)?);
        }
        for ((acc, n), st) in streams.iter_mut().zip(&mut populations).zip(&s.streams) {
            acc.add(&combine::stream_data(&a.stored, st)?);
            *n += st.streams;
        }
    }
    Ok((probes, streams, populations))
}

/// Every SLO of the agents' summaries judged once on the merged data.
fn judge(
    first: &Summary,
    probes: &[ProbeData],
    streams: &[StreamData],
    totals: &Totals,
) -> anyhow::Result<Vec<SloResult>> {
    let probe = |name: &str| first.probes.iter().position(|p| p.name == name);
    let stream = |name: &str| first.streams.iter().position(|s| s.name == name);
    first
        .slos
        .iter()
        .map(|r| {
            let spec = r
                .spec()
                .with_context(|| format!("unknown SLO metric {:?}", r.metric))?;
            let value = match r.kind.as_str() {
                "probe" => probe(&r.scope).and_then(|i| slo::probe_value(spec.metric, &probes[i])),
                "stream" => {
                    stream(&r.scope).and_then(|i| slo::stream_value(spec.metric, &streams[i]))
                }
                "run" => slo::run_value(spec.metric, totals),
                other => bail!("cannot merge SLOs of kind {other:?} ({})", r.metric),
            };
            Ok(SloResult::new(&r.scope, &r.kind, &spec, value))
        })
        .collect()
}

/// Why the merged run cannot be trusted: an agent's own reasons, missing
/// agents, or the generators together behind their schedule.
fn reasons(agents: &[Agent], missing: &[String], g: &Generator, requests: u64) -> Vec<String> {
    let mut out = Vec::new();
    for a in agents {
        let r = &a.stored.summary.run;
        let who = r.agent.as_deref().unwrap_or(&r.id);
        out.extend(r.reasons.iter().map(|why| format!("agent {who}: {why}")));
        if !r.complete && r.reasons.is_empty() {
            out.push(format!("agent {who}: its run is marked incomplete"));
        }
    }
    if !missing.is_empty() {
        out.push(format!(
            "agents missing: {}; the merged load is only part of the scenario's",
            missing.join(", ")
        ));
    }
    // The rule a single run applies (`Measured::judge_generator`), on the sums.
    let late = g.late_generator;
    if late >= MIN_LATE_SENDS && late as f64 / requests.max(1) as f64 > g.max_late_ratio {
        out.push(format!(
            "the generators fell behind their schedule: {} of {requests} sends late with a \
             connection free (bound {:.2}%)",
            g.late_generator,
            g.max_late_ratio * 100.0
        ));
    }
    out
}

pub fn merge(agents: &[Agent], max_skew: Duration) -> anyhow::Result<Merged> {
    let missing = check(agents)?;
    let first = &agents[0].stored.summary;
    let base = agents.iter().map(|a| a.started).min().expect("checked");
    let end = agents.iter().map(|a| a.ended).max().expect("checked");
    let secs = end.duration_since(base).unwrap_or_default().as_secs_f64();
    let (probes, streams, populations) = add_up(agents)?;
    let totals = slo::totals(&probes, &streams);
    let slos = judge(first, &probes, &streams, &totals)?;
    let generator = generator(agents, &probes);
    let reasons = reasons(
        agents,
        &missing,
        &generator,
        probes.iter().map(|p| p.requests).sum(),
    );
    let verdict = slo::verdict_of(&slos, !reasons.is_empty());
    let (intervals, hlog) = timeline(agents, base)?;
    let mut s = first.clone();
    s.tool.version = env!("CARGO_PKG_VERSION").into();
    s.run.id = format!("{}-merged", run_id(&first.run.scenario, base));
    s.run.started_utc = utc(base);
    s.run.ended_utc = utc(end);
    s.run.duration_s = secs;
    s.run.complete = reasons.is_empty();
    s.run.verdict = verdict;
    s.run.exit_code = verdict.exit_code();
    s.run.reasons = reasons;
    s.run.agent = None;
    s.run.start_at_utc = None;
    s.run.start_offset_ms = None;
    s.run.agents = agents.iter().map(|a| agent_run(a, base)).collect();
    s.run.warnings = clock_warnings(agents, max_skew);
    s.totals = totals;
    s.slos = slos;
    s.probes = first
        .probes
        .iter()
        .zip(&probes)
        .map(|(f, d)| combine::probe_summary(f, d, secs))
        .collect();
    s.streams = first
        .streams
        .iter()
        .zip(&streams)
        .zip(populations)
        .map(|((f, d), n)| combine::stream_summary(f, d, n))
        .collect();
    s.generator = generator;
    s.intervals = intervals;
    // A baseline gate judged one agent's share; the merged run is gated anew.
    s.baseline = None;
    s.retain_days = agents
        .iter()
        .filter_map(|a| a.stored.summary.retain_days)
        .max();
    Ok(Merged { summary: s, hlog })
}

fn generator(agents: &[Agent], probes: &[ProbeData]) -> Generator {
    let mut lateness = Hist::default();
    probes.iter().for_each(|p| lateness.add(&p.lateness));
    lateness.over_range = agents
        .iter()
        .map(|a| a.stored.summary.generator.lateness.over_range)
        .sum();
    Generator {
        late_generator: probes.iter().map(|p| p.late_generator).sum(),
        late_backpressure: probes.iter().map(|p| p.late_backpressure).sum(),
        max_late_ratio: agents[0].stored.summary.generator.max_late_ratio,
        lateness: lateness.summary(),
    }
}

fn agent_run(a: &Agent, base: SystemTime) -> AgentRun {
    let r = &a.stored.summary.run;
    AgentRun {
        agent: r.agent.clone(),
        id: r.id.clone(),
        started_utc: r.started_utc.clone(),
        ended_utc: r.ended_utc.clone(),
        start_ms: offset_ms(base, a.started),
        start_offset_ms: r.start_offset_ms,
        verdict: r.verdict,
    }
}

fn timeline(
    agents: &[Agent],
    base: SystemTime,
) -> anyhow::Result<(Vec<crate::engine::IntervalRow>, Vec<u8>)> {
    let first = &agents[0].stored.summary;
    let interval = Duration::from_secs_f64(first.run.interval_s);
    ensure!(
        !interval.is_zero(),
        "the summaries hold an interval of zero"
    );
    let mut tl = Timeline::new(base, interval);
    let mut rows = Vec::new();
    for a in agents {
        let offset = a.started.duration_since(base).unwrap_or_default();
        tl.add_log(offset, &a.stored.intervals);
        rows.push(AgentRows {
            offset,
            rows: &a.stored.summary.intervals,
        });
    }
    let p = first
        .probes
        .iter()
        .map(|p| ("probe".to_string(), p.name.clone()));
    let s = first
        .streams
        .iter()
        .map(|s| ("stream".to_string(), s.name.clone()));
    let names: Vec<(String, String)> = p.chain(s).collect();
    let comment = format!(
        "slogate {} interval log, scenario {}, merged from {} agents",
        env!("CARGO_PKG_VERSION"),
        first.run.scenario,
        agents.len()
    );
    Ok((timeline::rows(&rows, &names, &tl), tl.hlog(&comment)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(label: &str, start_ms: u64, offset_ms: Option<f64>) -> Agent {
        let base = humantime::parse_rfc3339("2026-12-04T16:00:00Z").unwrap();
        let started = base + Duration::from_millis(start_ms);
        let ended = started + Duration::from_secs(10);
        let summary: Summary = serde_json::from_value(serde_json::json!({
            "schema": crate::report::summary::SCHEMA,
            "tool": {"name": "slogate", "version": "0"},
            "run": {"id": label, "scenario": "x", "scenario_file": "x", "scenario_sha256": "ab",
                    "base_url": "", "started_utc": utc(started), "ended_utc": utc(ended),
                    "duration_s": 10.0, "interval_s": 1.0, "complete": true, "verdict": "pass",
                    "exit_code": 0, "reasons": [], "agent": label, "start_offset_ms": offset_ms},
            "totals": {"requests": 0, "ok": 0, "status_5xx": 0, "transport_errors": 0,
                       "rate_5xx": null, "availability": null},
            "slos": [], "probes": [], "streams": [],
            "generator": {"late_generator": 0, "late_backpressure": 0, "max_late_ratio": 0.01,
                          "lateness": {"count": 0, "p50_ms": null, "p90_ms": null,
                                       "p95_ms": null, "p99_ms": null, "p999_ms": null,
                                       "max_ms": null, "mean_ms": null, "over_range": 0}},
            "intervals": []
        }))
        .unwrap();
        Agent {
            dir: PathBuf::from(label),
            stored: Stored {
                summary,
                intervals: Vec::new(),
            },
            started,
            ended,
        }
    }

    #[test]
    fn clocks_further_apart_than_the_bound_are_warned_about() {
        let bound = Duration::from_millis(500);
        let close = [agent("0/2", 0, Some(3.0)), agent("1/2", 400, Some(2.0))];
        assert!(clock_warnings(&close, bound).is_empty());
        let apart = [agent("0/2", 0, Some(3.0)), agent("1/2", 700, Some(690.0))];
        let w = clock_warnings(&apart, bound);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("starts lie 700 ms apart"), "{w:?}");
        assert!(w[2].contains("agent 1/2 started 690 ms after"), "{w:?}");
    }

    #[test]
    fn labels_must_be_distinct_and_of_one_split() {
        let two = [agent("0/3", 0, None), agent("2/3", 0, None)];
        assert_eq!(check(&two).unwrap(), ["1/3"]);
        let dup = [agent("1/3", 0, None), agent("1/3", 0, None)];
        assert!(check(&dup)
            .unwrap_err()
            .to_string()
            .contains("appears twice"));
        let mixed = [agent("0/3", 0, None), agent("1/2", 0, None)];
        assert!(check(&mixed)
            .unwrap_err()
            .to_string()
            .contains("another size"));
        let apart = [agent("0/2", 0, None), agent("1/2", 11_000, None)];
        assert!(check(&apart)
            .unwrap_err()
            .to_string()
            .contains("did not overlap"));
    }
}
