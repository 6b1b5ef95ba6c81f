//! slogate: a load generator and SLO validator for JSON APIs and
//! Server-Sent-Events streams.
//!
//! The data flows one way, one module per stage:
//!
//! - [`scenario`]: the TOML model, `${VAR}` expansion, validation with file:line errors
//! - [`schedule`]: when each request starts (open and closed models, ramps)
//! - [`net`]: connections (TCP/TLS, HTTP/1.1 and HTTP/2) shared by the probes
//! - [`probe`]: one JSON request, one SSE stream, measured
//! - [`engine`]: runs workers and streams, collects each interval
//! - [`metrics`]: HDR histograms and counters
//! - [`slo`]: thresholds judged, verdict and exit code
//! - [`stability`]: SLOs judged per window, flaps, the stability verdict
//! - [`capacity`]: stepped load to saturation, USL fit and forecast
//! - [`report`]: the evidence folder
//! - [`evidence`]: commands on stored evidence: report, compare, verify, baseline gate
//! - [`target`]: the embedded reference server
//! - [`agent`], [`merge`]: one run spread over several agents, and merged back
//! - [`limits`]: the process's open-file limit, raised for many streams
//! - [`cli`], [`plan`], [`progress`]: what the user sees

pub mod agent;
pub mod capacity;
pub mod cli;
pub mod engine;
pub mod evidence;
pub mod limits;
pub mod logging;
pub mod merge;
pub mod metrics;
pub mod net;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod slo;
pub mod stability;
pub mod target;
