//! Command-line interface: clap definitions, and each command mapped onto
//! the stages (scenario -> engine -> slo -> report). Returns an exit code;
//! only `main` exits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

use crate::agent;
use crate::engine::{self, RunOptions};
use crate::evidence;
use crate::report;
use crate::scenario::stability::StabilityAsk;
use crate::scenario::units::{Dur, Percent};
use crate::scenario::{self, Overrides, Scenario, Vars};
use crate::schedule::Share;
use crate::slo;
use crate::target::{self, HeartbeatStyle, TargetConfig};

/// Exit codes (DESIGN.md): 0 pass, 1 SLO breached, 2 bad input, 3 inconclusive.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "slogate",
    version,
    about = "Load generator and SLO validator for JSON APIs and SSE streams"
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario, judge its SLOs, write the evidence folder.
    Run(RunArgs),
    /// Validate a scenario and print the resolved plan; sends nothing.
    Check(CheckArgs),
    /// Start the embedded reference target.
    Serve(ServeArgs),
    /// Start the embedded target on loopback and run the validation preset against it.
    Demo(DemoArgs),
    /// Render every report file of a run folder again from its stored data.
    Report(evidence::ReportArgs),
    /// Before/after comparison of two runs: improved, unchanged or regressed.
    Compare(evidence::CompareArgs),
    /// Check every file of a run folder against the hashes in its manifest.
    Verify(evidence::VerifyArgs),
    /// Combine agents' evidence folders into one run and judge it once.
    Merge(MergeArgs),
    /// Step the arrival rate per route to saturation; fit and forecast.
    Capacity(crate::capacity::cli::CapacityArgs),
}

#[derive(Args, Debug)]
pub struct VarArgs {
    /// Scenario variable, as `k6 run -e`: KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub vars: Vec<(String, String)>,
}

/// Stability windows; each flag overrides the scenario's `[stability]`.
#[derive(Args, Debug, Default, Clone)]
pub struct StabilityArgs {
    /// Span at the end of the run in which every window must pass (e.g. 30m).
    #[arg(long, value_parser = parse_dur)]
    pub observe: Option<Duration>,
    /// Judge every SLO per window of this length too (e.g. 1m).
    #[arg(long, value_parser = parse_dur)]
    pub window: Option<Duration>,
    /// Leave the windows of this first span out of the stability verdict.
    #[arg(long, value_parser = parse_dur)]
    pub warmup: Option<Duration>,
    /// Most window-verdict flaps allowed.
    #[arg(long)]
    pub flaps_max: Option<u64>,
    /// Stop with exit 1 once one SLO has failed this many windows in a row.
    #[arg(long)]
    pub abort_after: Option<u32>,
}

impl StabilityArgs {
    fn ask(&self) -> Option<StabilityAsk> {
        let a = StabilityAsk {
            observe: self.observe,
            window: self.window,
            warmup: self.warmup,
            flaps_max: self.flaps_max,
            abort_after: self.abort_after,
        };
        (a != StabilityAsk::default()).then_some(a)
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub scenario: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub stability: StabilityArgs,
    /// Folder under which the run's evidence folder is created.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Override every probe's duration and stream's hold (e.g. 30s, 5m).
    #[arg(long, value_parser = parse_dur)]
    pub duration: Option<Duration>,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gate: evidence::GateArgs,
    /// Run agent I of N (0-based I, as JOB_COMPLETION_INDEX): its share of every
    /// arrival rate, stream population and worker count. Exits 0 once its evidence
    /// is written; `merge` gives the verdict.
    #[arg(long, value_name = "I/N", value_parser = agent::parse_share)]
    pub agent: Option<Share>,
    /// Hold the load until this UTC instant (RFC 3339, e.g. 2026-12-04T17:00:00Z),
    /// so that agents' windows line up; at most 1 h ahead, 60 s behind.
    #[arg(long, value_name = "UTC", value_parser = agent::parse_start_at)]
    pub start_at: Option<SystemTime>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Agents' evidence folders, or folders that hold them.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Folder under which the merged evidence folder is created.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Warn when the agents' starts or ends lie further apart than this (a
    /// quarter of the default 1 s interval: past half of it, an agent's
    /// intervals fall on the neighbouring step).
    #[arg(long, value_parser = parse_dur, default_value = "250ms")]
    pub max_skew: Duration,
    #[command(flatten)]
    pub gate: evidence::GateArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    pub scenario: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub stability: StabilityArgs,
    /// Show the plan with every probe's duration and stream's hold set to this.
    #[arg(long, value_parser = parse_dur)]
    pub duration: Option<Duration>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long the demo run lasts.
    #[arg(long, value_parser = parse_dur, default_value = "30s")]
    pub duration: Duration,
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// The scenario to run against the embedded target.
    #[arg(long, default_value = "scenarios/step8-validation.toml")]
    pub scenario: PathBuf,
    #[command(flatten)]
    pub stability: StabilityArgs,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Base latency of JSON answers.
    #[arg(long, value_parser = parse_knob, default_value = "2ms")]
    pub latency: Duration,
    /// Up to this much random extra latency.
    #[arg(long, value_parser = parse_knob, default_value = "3ms")]
    pub jitter: Duration,
    /// Per-route latency: ROUTE=DURATION, routes healthz, ready, config, flags (repeatable).
    #[arg(long, value_parser = parse_route_latency)]
    pub route_latency: Vec<(String, Duration)>,
    /// Scripted latency for every JSON route: AT=LATENCY from AT after start (repeatable).
    #[arg(long, value_parser = parse_latency_at)]
    pub latency_at: Vec<(Duration, Duration)>,
    /// Share of JSON answers that are 503, e.g. 5%.
    #[arg(long, value_parser = parse_pct, default_value = "0%")]
    pub error_rate: f64,
    /// Require `Authorization: Bearer TOKEN`.
    #[arg(long, env = "SLOGATE_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Hold JSON answers due from this time after start ...
    #[arg(long, value_parser = parse_dur)]
    pub stall_at: Option<Duration>,
    /// ... for this long.
    #[arg(long, value_parser = parse_knob, default_value = "0s")]
    pub stall_for: Duration,
    /// Serve JSON with this many workers (a known capacity with --service-time).
    #[arg(long)]
    pub workers: Option<usize>,
    #[arg(long, value_parser = parse_knob, default_value = "0s")]
    pub service_time: Duration,
    /// Delay before the stream's response headers.
    #[arg(long, value_parser = parse_knob, default_value = "0s")]
    pub header_delay: Duration,
    /// Heartbeat interval on the stream.
    #[arg(long, value_parser = parse_dur, default_value = "1s")]
    pub heartbeat: Duration,
    #[arg(long, value_enum, default_value = "comment")]
    pub heartbeat_style: HeartbeatStyle,
    /// A job event this often (0s: none).
    #[arg(long, value_parser = parse_knob, default_value = "2s")]
    pub event_interval: Duration,
    /// Each stream falls silent this long after it opens ...
    #[arg(long, value_parser = parse_dur)]
    pub stream_stall_after: Option<Duration>,
    /// ... for this long.
    #[arg(long, value_parser = parse_knob, default_value = "0s")]
    pub stream_stall_for: Duration,
    /// The server ends each stream after this long.
    #[arg(long, value_parser = parse_dur)]
    pub stream_close_after: Option<Duration>,
}

impl ServeArgs {
    pub fn config(&self) -> TargetConfig {
        TargetConfig {
            latency: self.latency,
            jitter: self.jitter,
            route_latency: self.route_latency.iter().cloned().collect(),
            latency_schedule: self.latency_at.clone(),
            error_rate: self.error_rate,
            token: self.token.clone(),
            stall_at: self.stall_at,
            stall_for: self.stall_for,
            workers: self.workers,
            service_time: self.service_time,
            header_delay: self.header_delay,
            heartbeat: self.heartbeat,
            heartbeat_style: self.heartbeat_style,
            event_interval: self.event_interval,
            stream_stall_after: self.stream_stall_after,
            stream_stall_for: self.stream_stall_for,
            stream_close_after: self.stream_close_after,
        }
    }
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if k.is_empty() {
        return Err(format!("expected KEY=VALUE, got {s:?}"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn parse_dur(s: &str) -> Result<Duration, String> {
    Dur::parse(s).map(|d| d.0)
}

/// A target knob, where zero means "off".
fn parse_knob(s: &str) -> Result<Duration, String> {
    if s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0" {
        return Ok(Duration::ZERO);
    }
    parse_dur(s)
}

fn parse_pct(s: &str) -> Result<f64, String> {
    Percent::parse(s).map(|p| p.0)
}

fn parse_route_latency(s: &str) -> Result<(String, Duration), String> {
    let (k, v) = parse_kv(s)?;
    Ok((k, parse_dur(&v)?))
}

fn parse_latency_at(s: &str) -> Result<(Duration, Duration), String> {
    let (k, v) = parse_kv(s)?;
    Ok((parse_dur(&k)?, parse_dur(&v)?))
}

fn vars(v: &VarArgs) -> Vars {
    Vars {
        cli: v.vars.iter().cloned().collect::<BTreeMap<_, _>>(),
    }
}

/// Loads a scenario or reports why not (exit 2, nothing sent).
pub fn load(path: &Path, vars: &Vars, duration: Option<Duration>) -> Result<Scenario, i32> {
    let sc = scenario::load(path, vars, &Overrides { duration }).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })?;
    crate::logging::register(&sc.secrets);
    Ok(sc)
}

/// The preset `demo` runs, built in so that the demo works from any folder.
const DEMO_PRESET: &str = include_str!("../../scenarios/step8-validation.toml");
const DEMO_PRESET_PATH: &str = "scenarios/step8-validation.toml";

fn load_demo(path: &Path, vars: &Vars, duration: Duration) -> Result<Scenario, i32> {
    if path.exists() || path != Path::new(DEMO_PRESET_PATH) {
        return load(path, vars, Some(duration));
    }
    let ov = Overrides {
        duration: Some(duration),
    };
    let sc = scenario::parse(DEMO_PRESET_PATH, DEMO_PRESET, vars, &ov).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })?;
    crate::logging::register(&sc.secrets);
    Ok(sc)
}

/// Loads a scenario and applies the stability flags over its `[stability]`.
fn load_windowed(
    path: &Path,
    vars: &Vars,
    duration: Option<Duration>,
    st: &StabilityArgs,
) -> Result<Scenario, i32> {
    with_stability(load(path, vars, duration)?, st)
}

fn with_stability(mut sc: Scenario, st: &StabilityArgs) -> Result<Scenario, i32> {
    if let Some(ask) = st.ask() {
        sc.set_stability(&ask).map_err(|e| {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        })?;
    }
    Ok(sc)
}

pub async fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(a) => {
            if let Some(Err(e)) = a
                .start_at
                .map(|t| agent::check_start_at(t, SystemTime::now()))
            {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
            let sc = match load_windowed(&a.scenario, &vars(&a.vars), a.duration, &a.stability) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let gate = match a.gate.load() {
                Ok(g) => g,
                Err(code) => return code,
            };
            let opts = RunOptions {
                quiet: a.quiet,
                agent: a.agent.map(|s| (s.index, s.count)),
                start_at: a.start_at,
                ..Default::default()
            };
            run_gated(&sc, &a.out, &opts, gate.as_ref(), a.gate.retain).await
        }
        Command::Merge(a) => merge(a),
        Command::Check(a) => {
            match load_windowed(&a.scenario, &vars(&a.vars), a.duration, &a.stability) {
                Ok(sc) => {
                    print!("{}", crate::plan::render(&sc));
                    0
                }
                Err(code) => code,
            }
        }
        Command::Serve(a) => serve(a).await,
        Command::Demo(a) => demo(a).await,
        Command::Report(a) => evidence::report_cmd(&a),
        Command::Compare(a) => evidence::compare_cmd(&a),
        Command::Verify(a) => evidence::verify_cmd(&a),
        Command::Capacity(a) => crate::capacity::cli::run(a).await,
    }
}

/// Runs, judges, writes evidence, prints the verdict table; returns the exit code.
pub async fn run_and_report(sc: &Scenario, out: &Path, opts: &RunOptions) -> i32 {
    run_gated(sc, out, opts, None, None).await
}

/// `run_and_report`, optionally gated on a baseline and with a retention.
pub async fn run_gated(
    sc: &Scenario,
    out: &Path,
    opts: &RunOptions,
    gate: Option<&evidence::Gate>,
    retain_days: Option<u64>,
) -> i32 {
    // Find out before sending load that the evidence could not be kept.
    if let Err(e) = report::check_writable(out) {
        eprintln!("error: {e:#}");
        return EXIT_BAD_INPUT;
    }
    let m = match engine::run(sc, opts).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {}", sc.secrets.mask(&format!("{e:#}")));
            return EXIT_BAD_INPUT;
        }
    };
    let results = slo::evaluate(sc, &m.probes, &m.streams);
    let agent = opts.agent.map(|(i, n)| format!("{i}/{n}"));
    let mut summary = report::summary::build(sc, &m, results, agent);
    evidence::finish_summary(&mut summary, gate, retain_days);
    if let Some(at) = opts.start_at {
        agent::record_start(&mut summary, at, m.started_wall);
    }
    if let Some((index, count)) = opts.agent {
        agent::label(&mut summary, Share { index, count }, sc);
    }
    print!("{}", sc.secrets.mask(&report::terminal(&summary)));
    let dir = match report::new_run_dir(out, &summary.run.id) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot write evidence: {e:#}");
            return 3;
        }
    };
    summary.run.id = dir
        .file_name()
        .map_or(summary.run.id.clone(), |n| n.to_string_lossy().into());
    if let Err(e) = report::write(&dir, &summary, &m.hlog, &sc.secrets) {
        eprintln!("error: cannot write evidence: {e:#}");
        return 3;
    }
    println!("evidence: {}", sc.secrets.mask(&dir.display().to_string()));
    if let Some((i, n)) = opts.agent {
        // One agent's share is not judged alone: the verdict comes from `merge`.
        println!("agent {i}/{n}: the table covers this share only; `slogate merge` judges the run");
        return 0;
    }
    summary.run.exit_code
}

/// Merges agents' evidence, writes one folder, exits with its verdict.
fn merge(a: MergeArgs) -> i32 {
    let gate = match a.gate.load() {
        Ok(g) => g,
        Err(code) => return code,
    };
    let merged = crate::merge::expand(&a.dirs)
        .and_then(|dirs| crate::merge::read(&dirs))
        .and_then(|agents| crate::merge::merge(&agents, a.max_skew));
    let mut m = match merged {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: cannot merge: {e:#}");
            return EXIT_BAD_INPUT;
        }
    };
    let retain = a.gate.retain.or(m.summary.retain_days);
    evidence::finish_summary(&mut m.summary, gate.as_ref(), retain);
    for w in &m.summary.run.warnings {
        eprintln!("warning: {w}");
    }
    let dir = match report::new_run_dir(&a.out, &m.summary.run.id) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot write evidence: {e:#}");
            return 3;
        }
    };
    m.summary.run.id = dir
        .file_name()
        .map_or(m.summary.run.id.clone(), |n| n.to_string_lossy().into());
    if let Err(e) = report::write(&dir, &m.summary, &m.hlog, &scenario::Secrets::default()) {
        eprintln!("error: cannot write evidence: {e:#}");
        return 3;
    }
    print!("{}", report::terminal(&m.summary));
    println!("evidence: {}", dir.display());
    m.summary.run.exit_code
}

async fn serve(a: ServeArgs) -> i32 {
    if !a.addr.ip().is_loopback() {
        tracing::warn!("serving on a non-loopback address {}", a.addr);
    }
    match target::start(a.config(), a.addr).await {
        Ok(t) => {
            eprintln!("slogate target listening on {}", t.base_url());
            let _ = tokio::signal::ctrl_c().await;
            t.stop();
            0
        }
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", a.addr);
            EXIT_BAD_INPUT
        }
    }
}

/// A throwaway bearer token for the demo: the target requires it and the
/// reports must not show it.
fn demo_token() -> String {
    format!("demo-{:016x}", rand::random::<u64>())
}

async fn demo(a: DemoArgs) -> i32 {
    let token = demo_token();
    let cfg = TargetConfig {
        token: Some(token.clone()),
        ..TargetConfig::default()
    };
    let t = match target::start(cfg, "127.0.0.1:0".parse().expect("static address")).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the embedded target: {e}");
            return 3;
        }
    };
    eprintln!(
        "embedded target on {}; running {} for {:?}",
        t.base_url(),
        a.scenario.display(),
        a.duration
    );
    let mut v = Vars::default();
    v.cli.insert("BASE_URL".into(), t.base_url());
    v.cli.insert("TOKEN".into(), token);
    let sc = match load_demo(&a.scenario, &v, a.duration)
        .and_then(|sc| with_stability(sc, &a.stability))
    {
        Ok(s) => s,
        Err(code) => return code,
    };
    let code = run_and_report(
        &sc,
        &a.out,
        &RunOptions {
            quiet: a.quiet,
            ..Default::default()
        },
    )
    .await;
    t.stop();
    code
}
