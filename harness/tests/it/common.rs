//! Shared test plumbing: the embedded target on port 0, scenarios from
//! strings, and in-process runs that return what the evidence would hold.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use slogate::engine::{self, Measured, RunOptions};
use slogate::report::summary::{self, Summary};
use slogate::scenario::{self, Overrides, Scenario, Vars};
use slogate::slo;
use slogate::target::{self, Running, TargetConfig};

pub async fn target(cfg: TargetConfig) -> Running {
    target::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("target starts")
}

/// A quiet, deterministic target: no jitter, a fixed small latency.
pub fn quiet_target() -> TargetConfig {
    TargetConfig {
        latency: Duration::from_millis(1),
        jitter: Duration::ZERO,
        ..TargetConfig::default()
    }
}

pub fn scenario(toml: &str, base_url: &str) -> Scenario {
    scenario_with(toml, &[("BASE_URL", base_url)])
}

pub fn scenario_with(toml: &str, vars: &[(&str, &str)]) -> Scenario {
    let v = Vars {
        cli: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    scenario::parse("test.toml", toml, &v, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub struct Outcome {
    pub measured: Measured,
    pub summary: Summary,
}

pub async fn run(sc: &Scenario) -> Outcome {
    let opts = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let measured = engine::run(sc, &opts).await.expect("run");
    let results = slo::evaluate(sc, &measured.probes, &measured.streams);
    let summary = summary::build(sc, &measured, results, None);
    Outcome { measured, summary }
}

impl Outcome {
    pub fn slo(&self, scope: &str, metric: &str) -> &slo::SloResult {
        self.summary
            .slos
            .iter()
            .find(|r| r.scope == scope && r.metric == metric)
            .unwrap_or_else(|| panic!("no SLO {scope}/{metric}"))
    }

    /// Writes the evidence folder under `dir` and returns its path.
    pub fn write(&self, sc: &Scenario, dir: &Path) -> PathBuf {
        let d = dir.join(&self.summary.run.id);
        slogate::report::write(&d, &self.summary, &self.measured.hlog, &sc.secrets).unwrap();
        d
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_slogate"))
}

pub fn assert_within(what: &str, got: f64, lo: f64, hi: f64) {
    assert!(got >= lo && got <= hi, "{what}: {got} not in [{lo}, {hi}]");
}
