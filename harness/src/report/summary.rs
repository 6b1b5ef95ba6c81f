//! `summary.json`: the run's results and verdicts in a versioned schema.
//! Every other report file is rendered from this plus the interval log, so
//! a stored run can be rendered again without sending load.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::engine::{IntervalRow, Measured};
use crate::metrics::{ErrorCounts, Percentiles, ProbeData, StreamData};
use crate::scenario::{Load, Scenario};
use crate::slo::{self, SloResult, Totals, Verdict};
use crate::stability::{self, StabilityReport};

pub const SCHEMA: &str = "slogate.summary/1";

/// How the heartbeat gap is defined, stated in every report (case B04).
pub const GAP_DEFINITION: &str =
    "time between consecutive SSE messages on one stream, measured on \
the raw bytes: a comment line, a blank line ending any block (also data-less events such as \
`event: ping`), or a bare blank line; includes the silence from the stream's open to the first \
message and from the last message to the end of the hold, and spans reconnects";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub schema: String,
    pub tool: Tool,
    pub run: RunInfo,
    pub totals: Totals,
    pub slos: Vec<SloResult>,
    pub probes: Vec<ProbeSummary>,
    pub streams: Vec<StreamSummary>,
    pub generator: Generator,
    pub intervals: Vec<IntervalRow>,
    /// How long the evidence must be kept; `None` in older summaries: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_days: Option<u64>,
    /// The baseline gate's result, when the run was gated on a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<super::baseline::BaselineGate>,
    /// Window verdicts and the stability verdict, when the run judged windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<StabilityReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    pub id: String,
    pub scenario: String,
    pub scenario_file: String,
    pub scenario_sha256: String,
    pub base_url: String,
    pub started_utc: String,
    pub ended_utc: String,
    pub duration_s: f64,
    pub interval_s: f64,
    pub complete: bool,
    pub verdict: Verdict,
    pub exit_code: i32,
    pub reasons: Vec<String>,
    pub agent: Option<String>,
    /// The agreed start (`--start-at`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_utc: Option<String>,
    /// How long after `start_at_utc` the load really started, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset_ms: Option<f64>,
    /// A merged run: the agents' runs it combines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentRun>,
    /// A merged run: where the agents' clocks or windows disagreed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One agent's run as a merged summary lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AgentRun {
    pub agent: Option<String>,
    pub id: String,
    pub started_utc: String,
    pub ended_utc: String,
    /// Start relative to the merged run's start, in ms.
    pub start_ms: f64,
    pub start_offset_ms: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Generator {
    /// Sends that went out late with a connection free: the generator's fault.
    pub late_generator: u64,
    /// Sends that waited for a busy connection: the target's doing, in the corrected latency.
    pub late_backpressure: u64,
    pub max_late_ratio: f64,
    pub lateness: Percentiles,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbeSummary {
    pub name: String,
    pub class: String,
    pub method: String,
    pub path: String,
    pub load: String,
    pub requests: u64,
    pub ok: u64,
    pub error_rate: Option<f64>,
    pub throughput_rps: f64,
    pub errors: BTreeMap<String, u64>,
    pub status: BTreeMap<String, u64>,
    /// From the intended start (coordinated omission corrected), successes only.
    pub latency: Percentiles,
    /// From the actual send, successes only.
    pub service: Percentiles,
    pub late_generator: u64,
    pub late_backpressure: u64,
    /// The JSON body checks every answer must pass (the probe's contract).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StreamSummary {
    pub name: String,
    pub path: String,
    pub streams: u32,
    pub hold_s: f64,
    pub connects: u64,
    pub connected: u64,
    pub reconnects: u64,
    pub messages: u64,
    pub comments: u64,
    pub events: u64,
    pub data_events: u64,
    pub ids_lost: u64,
    pub ids_repeated: u64,
    pub empty_connections: u64,
    pub oversize: u64,
    pub closed_by_server: u64,
    pub error_rate: Option<f64>,
    pub errors: BTreeMap<String, u64>,
    pub status: BTreeMap<String, u64>,
    pub ttfb: Percentiles,
    pub first_byte: Percentiles,
    pub first_message: Percentiles,
    pub first_event: Percentiles,
    pub gap: Percentiles,
    pub data_gap: Percentiles,
    pub stream_max_gap: Percentiles,
    pub reconnect_time: Percentiles,
    pub gap_definition: String,
    /// Connected bodies that ended before the hold (server close, drop,
    /// idle timeout, protocol error).
    #[serde(default)]
    pub disconnects: u64,
    /// Streams that connected and ended without a message twice in a row.
    #[serde(default)]
    pub flapping_streams: u64,
    /// Protocol errors by reason, e.g. "invalid UTF-8 from server".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocol_errors: BTreeMap<String, u64>,
}

pub fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The folder name: `<scenario>-<UTC time>`, filesystem-safe.
pub fn run_id(scenario: &str, started: SystemTime) -> String {
    let t = humantime::format_rfc3339_seconds(started)
        .to_string()
        .replace(':', "");
    let name: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{name}-{t}")
}

pub fn describe_load(load: &Load) -> String {
    use crate::scenario::units::{fmt_duration, Rate};
    match load {
        Load::Closed {
            workers,
            think,
            duration,
        } if think.is_zero() => {
            format!("{workers} workers for {}", fmt_duration(*duration))
        }
        Load::Closed {
            workers,
            think,
            duration,
        } => {
            format!(
                "{workers} workers, think {}, for {}",
                fmt_duration(*think),
                fmt_duration(*duration)
            )
        }
        Load::Open { segments } if segments.len() == 1 && segments[0].from == segments[0].to => {
            format!(
                "{} for {}",
                Rate(segments[0].from),
                fmt_duration(segments[0].duration)
            )
        }
        Load::Open { segments } => segments
            .iter()
            .map(|s| {
                format!(
                    "{} -> {} over {}",
                    Rate(s.from),
                    Rate(s.to),
                    fmt_duration(s.duration)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

pub fn errors_map(e: &ErrorCounts) -> BTreeMap<String, u64> {
    e.nonzero()
        .into_iter()
        .map(|(c, n)| (c.key().to_string(), n))
        .collect()
}

pub fn status_map(s: &[u64; 6]) -> BTreeMap<String, u64> {
    (1..=5)
        .filter(|i| s[*i] > 0)
        .map(|i| (format!("{i}xx"), s[i]))
        .collect()
}

pub fn build(
    sc: &Scenario,
    m: &Measured,
    mut slos: Vec<SloResult>,
    agent: Option<String>,
) -> Summary {
    let stability = match (&sc.stability, &m.windows) {
        (Some(spec), Some(log)) => Some(stability::summarize(spec, log)),
        _ => None,
    };
    if let Some(st) = &stability {
        slos.extend(st.slo_results());
    }
    let verdict = slo::overall(&slos, m);
    let secs = m.elapsed.as_secs_f64();
    let mut lateness = crate::metrics::Hist::default();
    m.probes.iter().for_each(|p| lateness.add(&p.lateness));
    Summary {
        schema: SCHEMA.into(),
        tool: Tool {
            name: "slogate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: RunInfo {
            id: run_id(&sc.name, m.started_wall),
            scenario: sc.name.clone(),
            scenario_file: sc.file.display().to_string(),
            scenario_sha256: sc.sha256.clone(),
            base_url: sc.secrets.mask(&sc.base_url),
            started_utc: utc(m.started_wall),
            ended_utc: utc(m.ended_wall),
            duration_s: secs,
            interval_s: m.interval.as_secs_f64(),
            complete: m.inconclusive.is_empty(),
            verdict,
            exit_code: verdict.exit_code(),
            reasons: m.inconclusive.iter().map(|r| r.to_string()).collect(),
            agent,
            start_at_utc: None,
            start_offset_ms: None,
            agents: Vec::new(),
            warnings: Vec::new(),
        },
        totals: slo::totals(&m.probes, &m.streams),
        slos,
        probes: sc
            .probes
            .iter()
            .zip(&m.probes)
            .map(|(s, d)| probe_summary(s, d, secs))
            .collect(),
        streams: sc
            .streams
            .iter()
            .zip(&m.streams)
            .map(|(s, d)| stream_summary(s, d))
            .collect(),
        generator: Generator {
            late_generator: m.probes.iter().map(|p| p.late_generator).sum(),
            late_backpressure: m.probes.iter().map(|p| p.late_backpressure).sum(),
            max_late_ratio: sc.settings.max_late_ratio,
            lateness: lateness.summary(),
        },
        intervals: m.intervals.clone(),
        retain_days: None,
        baseline: None,
        stability,
    }
}

fn probe_summary(s: &crate::scenario::ProbeSpec, d: &ProbeData, secs: f64) -> ProbeSummary {
    let base = ProbeSummary {
        name: s.name.clone(),
        class: format!("{:?}", s.class).to_lowercase(),
        method: s.method.to_string(),
        path: s.path.clone(),
        load: describe_load(&s.load),
        checks: s.checks.iter().map(describe_check).collect(),
        ..Default::default()
    };
    probe_figures(base, d, secs)
}

/// A probe's measured figures over `base`'s description: one mapping for a
/// run and for a merge of agents, so that neither can miss a field.
pub fn probe_figures(base: ProbeSummary, d: &ProbeData, secs: f64) -> ProbeSummary {
    ProbeSummary {
        requests: d.requests,
        ok: d.ok,
        error_rate: d.error_rate(),
        // Sent requests only: skipped starts never left the generator.
        throughput_rps: if secs > 0.0 {
            (d.requests - d.errors.get(crate::metrics::ErrorClass::Skipped)) as f64 / secs
        } else {
            0.0
        },
        errors: errors_map(&d.errors),
        status: status_map(&d.status),
        latency: d.latency.summary(),
        service: d.service.summary(),
        late_generator: d.late_generator,
        late_backpressure: d.late_backpressure,
        ..base
    }
}

/// A body check as a reader writes it: `status == "ok"`, `version exists`.
pub fn describe_check(c: &crate::scenario::Check) -> String {
    match c {
        crate::scenario::Check::Exists { field, .. } => format!("{field} exists"),
        crate::scenario::Check::Equals { field, value, .. } => format!("{field} == {value}"),
    }
}

fn stream_summary(s: &crate::scenario::StreamSpec, d: &StreamData) -> StreamSummary {
    let base = StreamSummary {
        name: s.name.clone(),
        path: s.path.clone(),
        streams: s.connections,
        hold_s: s.hold.as_secs_f64(),
        gap_definition: GAP_DEFINITION.into(),
        ..Default::default()
    };
    stream_figures(base, d)
}

/// A stream's measured figures over `base`'s description (see `probe_figures`).
pub fn stream_figures(base: StreamSummary, d: &StreamData) -> StreamSummary {
    StreamSummary {
        connects: d.connects,
        connected: d.connected,
        reconnects: d.reconnects,
        messages: d.messages,
        comments: d.comments,
        events: d.events,
        data_events: d.data_events,
        ids_lost: d.ids_lost,
        ids_repeated: d.ids_repeated,
        empty_connections: d.empty_connections,
        oversize: d.oversize,
        closed_by_server: d.closed_204,
        error_rate: d.error_rate(),
        errors: errors_map(&d.errors),
        status: status_map(&d.status),
        ttfb: d.ttfb.summary(),
        first_byte: d.first_byte.summary(),
        first_message: d.first_message.summary(),
        first_event: d.first_event.summary(),
        gap: d.gap.summary(),
        data_gap: d.data_gap.summary(),
        stream_max_gap: d.stream_max_gap.summary(),
        reconnect_time: d.reconnect_time.summary(),
        disconnects: d.disconnects,
        flapping_streams: d.flapping_streams,
        protocol_errors: d.protocol_reasons.clone(),
        ..base
    }
}
