//! The scenario file exactly as written: serde structs that mirror the TOML.
//! Unknown keys are rejected so that a typo is an error with a line number,
//! never a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::units::{Dur, Percent, Rate};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub base_url: Spanned<String>,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub slo: RunSlo,
    pub stability: Option<Spanned<Stability>>,
    pub capacity: Option<Spanned<Capacity>>,
    #[serde(default, rename = "probe")]
    pub probes: Vec<Spanned<Probe>>,
    #[serde(default, rename = "stream")]
    pub streams: Vec<Spanned<Stream>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub bearer: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub duration: Option<Dur>,
    pub timeout: Option<Dur>,
    pub connect_timeout: Option<Dur>,
    pub connections: Option<u32>,
    pub http: Option<Spanned<String>>,
    pub insecure: Option<bool>,
    pub ca_file: Option<Spanned<String>>,
    pub headers: Option<BTreeMap<String, String>>,
    pub interval: Option<Dur>,
    pub max_late_ratio: Option<Percent>,
    pub late_threshold: Option<Dur>,
    pub follow_redirects: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSlo {
    pub rate_5xx_max: Option<Percent>,
    pub availability_min: Option<Percent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub target: Rate,
    pub duration: Dur,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub field: String,
    pub exists: Option<bool>,
    pub equals: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub name: Spanned<String>,
    pub class: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub path: Spanned<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    pub json: Option<toml::Value>,
    pub expect_status: Option<Vec<u16>>,
    #[serde(default)]
    pub checks: Vec<Check>,
    pub rate: Option<Rate>,
    pub stages: Option<Vec<Stage>>,
    pub concurrency: Option<u32>,
    pub think: Option<Dur>,
    pub duration: Option<Dur>,
    pub timeout: Option<Dur>,
    pub connections: Option<u32>,
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub slo: ProbeSlo,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSlo {
    pub p50: Option<Dur>,
    pub p90: Option<Dur>,
    pub p95: Option<Dur>,
    pub p99: Option<Dur>,
    pub max: Option<Dur>,
    pub error_rate: Option<Percent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub connections: Option<u32>,
    pub connect_rate: Option<Rate>,
    pub hold: Option<Dur>,
    pub last_event_id: Option<String>,
    pub reconnect: Option<bool>,
    pub idle_timeout: Option<Dur>,
    pub data_events: Option<Vec<String>>,
    pub max_event_size: Option<u64>,
    pub reconnect_delay: Option<Dur>,
    pub reconnect_delay_max: Option<Dur>,
    #[serde(default)]
    pub slo: StreamSlo,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSlo {
    pub ttfb_p50: Option<Dur>,
    pub ttfb_p95: Option<Dur>,
    pub first_message_p50: Option<Dur>,
    pub first_event_p50: Option<Dur>,
    pub gap_max: Option<Dur>,
    pub data_gap_max: Option<Dur>,
    pub reconnects_max: Option<u64>,
    pub ids_lost_max: Option<u64>,
    pub error_rate: Option<Percent>,
}

/// `[stability]`: judge the SLOs per window as well as over the whole run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stability {
    pub observe: Option<Dur>,
    pub window: Option<Dur>,
    pub warmup: Option<Dur>,
    pub flaps_max: Option<u64>,
    pub abort_after: Option<u32>,
}

/// `[capacity]`: how `slogate capacity` steps the arrival rate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub mode: Option<Spanned<String>>,
    pub start: Option<Rate>,
    pub step: Option<Rate>,
    pub step_duration: Option<Dur>,
    pub max: Option<Rate>,
    pub precision: Option<Percent>,
    pub reach_min: Option<Percent>,
    pub target_rate: Option<Rate>,
    pub headroom: Option<Percent>,
}
