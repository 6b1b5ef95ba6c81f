//! `[capacity]` resolved: how `slogate capacity` steps the arrival rate and
//! what it forecasts for. Command-line flags override the file.

use std::time::Duration;

/// Built-in capacity-search defaults, documented once here and in the README.
pub mod defaults {
    use std::time::Duration;
    pub const START: f64 = 10.0;
    pub const STEP_DURATION: Duration = Duration::from_secs(10);
    pub const MAX: f64 = 100_000.0;
    /// Bisection stops when the bracket is this narrow, relative to its low end.
    pub const PRECISION: f64 = 0.05;
    /// A step reaches its offered rate when at least this share of its sends
    /// went out without waiting for a busy connection and the target
    /// completed at least this share of the offered rate.
    pub const REACH_MIN: f64 = 0.95;
    pub const HEADROOM: f64 = 0.30;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Double the rate until a step breaks, then bisect between the last
    /// good and the first bad rate.
    Auto,
    /// start, start + step, ... up to max; stop at the first bad step.
    Linear,
}

/// What the scenario or the command line asked for; `None` means default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapacityAsk {
    pub search: Option<Search>,
    pub start: Option<f64>,
    pub step: Option<f64>,
    pub step_duration: Option<Duration>,
    pub max: Option<f64>,
    pub precision: Option<f64>,
    pub reach_min: Option<f64>,
    pub target_rate: Option<f64>,
    pub headroom: Option<f64>,
}

/// A capacity search, every value decided.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CapacitySpec {
    pub search: Search,
    pub start_rps: f64,
    pub step_rps: f64,
    pub step_duration_s: f64,
    pub max_rps: f64,
    pub precision: f64,
    pub reach_min: f64,
    pub target_rate_rps: Option<f64>,
    pub headroom: f64,
}

impl CapacityAsk {
    pub fn merged(&self, o: &CapacityAsk) -> CapacityAsk {
        CapacityAsk {
            search: o.search.or(self.search),
            start: o.start.or(self.start),
            step: o.step.or(self.step),
            step_duration: o.step_duration.or(self.step_duration),
            max: o.max.or(self.max),
            precision: o.precision.or(self.precision),
            reach_min: o.reach_min.or(self.reach_min),
            target_rate: o.target_rate.or(self.target_rate),
            headroom: o.headroom.or(self.headroom),
        }
    }

    /// Decides every value; the error names the setting and what it needs.
    pub fn resolve(&self) -> Result<CapacitySpec, String> {
        let start = self.start.unwrap_or(defaults::START);
        let search = self.search.unwrap_or(if self.step.is_some() {
            Search::Linear
        } else {
            Search::Auto
        });
        let s = CapacitySpec {
            search,
            start_rps: start,
            step_rps: self.step.unwrap_or(start),
            step_duration_s: self
                .step_duration
                .unwrap_or(defaults::STEP_DURATION)
                .as_secs_f64(),
            max_rps: self.max.unwrap_or(defaults::MAX),
            precision: self.precision.unwrap_or(defaults::PRECISION),
            reach_min: self.reach_min.unwrap_or(defaults::REACH_MIN),
            target_rate_rps: self.target_rate,
            headroom: self.headroom.unwrap_or(defaults::HEADROOM),
        };
        if s.start_rps <= 0.0 || s.step_rps <= 0.0 {
            return Err("capacity.start and capacity.step must be above 0/s".into());
        }
        if s.max_rps < s.start_rps {
            return Err("capacity.max must be at least capacity.start".into());
        }
        if s.step_duration_s <= 0.0 {
            return Err("capacity.step_duration must be longer than zero".into());
        }
        if s.precision <= 0.0 || s.reach_min <= 0.0 {
            return Err("capacity.precision and capacity.reach_min must be above 0%".into());
        }
        if s.headroom >= 1.0 {
            return Err("capacity.headroom must be below 100%".into());
        }
        Ok(s)
    }
}

pub fn parse_search(s: &str) -> Result<Search, String> {
    match s {
        "auto" => Ok(Search::Auto),
        "linear" => Ok(Search::Linear),
        o => Err(format!(
            "unknown search {o:?}: expected \"auto\" (double, then bisect) or \"linear\""
        )),
    }
}
