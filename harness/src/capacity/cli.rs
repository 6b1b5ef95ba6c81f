//! `slogate capacity`: flags over the scenario's `[capacity]`, the search,
//! the evidence folder and the answer on the terminal.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;

use super::report::{self, CapacityReport};
use crate::scenario::capacity::{parse_search, CapacityAsk, Search};
use crate::scenario::units::{Dur, Percent, Rate};
use crate::scenario::Scenario;

#[derive(Args, Debug)]
pub struct CapacityArgs {
    pub scenario: PathBuf,
    #[command(flatten)]
    pub vars: crate::cli::VarArgs,
    /// Folder under which the evidence folder is created.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Search only this probe (repeatable); all probes by default.
    #[arg(long = "route", value_name = "NAME")]
    pub routes: Vec<String>,
    /// `auto` (double until a step breaks, then bisect) or `linear`.
    #[arg(long, value_parser = parse_search)]
    pub search: Option<Search>,
    /// First rate, e.g. 50/s.
    #[arg(long, value_parser = rate)]
    pub start: Option<f64>,
    /// Added per step in a linear search, e.g. 50/s.
    #[arg(long, value_parser = rate)]
    pub step: Option<f64>,
    /// How long each step holds its rate, e.g. 30s.
    #[arg(long, value_parser = dur)]
    pub step_duration: Option<Duration>,
    /// Never offer more than this rate.
    #[arg(long, value_parser = rate)]
    pub max: Option<f64>,
    /// Bisection stops when the bracket is this narrow, e.g. 5%.
    #[arg(long, value_parser = pct)]
    pub precision: Option<f64>,
    /// Peak rate to plan instances for, e.g. 1200/s.
    #[arg(long, value_parser = rate)]
    pub target_rate: Option<f64>,
    /// Share of each instance's sustainable rate kept free (default 30%).
    #[arg(long, value_parser = pct)]
    pub headroom: Option<f64>,
    #[arg(short, long)]
    pub quiet: bool,
}

fn rate(s: &str) -> Result<f64, String> {
    Rate::parse(s).map(|r| r.0)
}

fn dur(s: &str) -> Result<Duration, String> {
    Dur::parse(s).map(|d| d.0)
}

fn pct(s: &str) -> Result<f64, String> {
    Percent::parse(s).map(|p| p.0)
}

impl CapacityArgs {
    fn ask(&self) -> CapacityAsk {
        CapacityAsk {
            search: self.search,
            start: self.start,
            step: self.step,
            step_duration: self.step_duration,
            max: self.max,
            precision: self.precision,
            reach_min: None,
            target_rate: self.target_rate,
            headroom: self.headroom,
        }
    }
}

pub async fn run(a: CapacityArgs) -> i32 {
    let vars = crate::scenario::Vars {
        cli: a.vars.vars.iter().cloned().collect(),
    };
    let sc = match crate::cli::load(&a.scenario, &vars, None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let spec = match sc.capacity.merged(&a.ask()).resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return crate::cli::EXIT_BAD_INPUT;
        }
    };
    if let Some(r) = a
        .routes
        .iter()
        .find(|r| !sc.probes.iter().any(|p| &p.name == *r))
    {
        eprintln!("error: --route {r:?}: the scenario has no probe of that name");
        return crate::cli::EXIT_BAD_INPUT;
    }
    let started = SystemTime::now();
    let routes = match super::search(&sc, &spec, &a.routes, a.quiet).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", sc.secrets.mask(&format!("{e:#}")));
            return 3;
        }
    };
    let r = build(&sc, spec, routes, started);
    finish(&sc, &r, &a.out)
}

pub fn build(
    sc: &Scenario,
    search: crate::scenario::capacity::CapacitySpec,
    routes: Vec<super::RouteResult>,
    started: SystemTime,
) -> CapacityReport {
    use crate::report::summary::{run_id, utc};
    CapacityReport {
        schema: report::SCHEMA.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        id: run_id(&format!("capacity-{}", sc.name), started),
        scenario: sc.name.clone(),
        scenario_file: sc.file.display().to_string(),
        scenario_sha256: sc.sha256.clone(),
        base_url: sc.secrets.mask(&sc.base_url),
        started_utc: utc(started),
        ended_utc: utc(SystemTime::now()),
        search,
        exit_code: report::exit_code(&routes),
        routes,
    }
}

fn finish(sc: &Scenario, r: &CapacityReport, out: &Path) -> i32 {
    let dir = out.join(&r.id);
    if let Err(e) = report::write(&dir, r, &sc.secrets) {
        eprintln!("error: cannot write evidence: {e:#}");
        return 3;
    }
    let md = report::markdown(r);
    let answer = md
        .split("## Answer\n\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or("");
    print!("{}", sc.secrets.mask(answer));
    println!("evidence: {}", dir.display());
    r.exit_code
}
