//! The scenario: what to send, how hard, for how long, and which SLOs judge
//! it. `load` reads a TOML file, expands `${VAR}`s, and validates everything
//! before any traffic is sent; every problem names file, line and field.

pub mod capacity;
mod expand;
mod raw;
pub mod stability;
pub mod units;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use toml::Spanned;

pub use expand::{is_secret_name, Vars};
use units::{Dur, Percent};

/// Built-in defaults, documented once here and in the README.
pub mod defaults {
    use std::time::Duration;
    pub const DURATION: Duration = Duration::from_secs(30);
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const CONNECTIONS: u32 = 8;
    pub const INTERVAL: Duration = Duration::from_secs(1);
    /// A send more than this late, while a connection was free, is the
    /// generator's own fault.
    pub const LATE_THRESHOLD: Duration = Duration::from_millis(50);
    /// Past this share of generator-late sends the verdict is inconclusive.
    pub const MAX_LATE_RATIO: f64 = 0.01;
    pub const STREAMS: u32 = 1;
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const MAX_EVENT_SIZE: u64 = 16 * 1024 * 1024;
    /// A browser-like reconnect: first delay, doubled per failure up to the max.
    pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);
    pub const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(60);
}

#[derive(Debug)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/1.1, or HTTP/2 when TLS negotiates it.
    Auto,
    Http1,
    /// HTTP/2 only: over TLS by ALPN, or cleartext with prior knowledge (h2c).
    Http2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Read,
    Write,
    Health,
}

/// One straight piece of an arrival-rate schedule: the rate moves linearly
/// from `from` to `to` (requests per second) over `duration`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub from: f64,
    pub to: f64,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    /// Open model: starts follow the timetable whatever the target does.
    Open { segments: Vec<Segment> },
    /// Closed model: a fixed number of workers, each sending again when done.
    Closed {
        workers: u32,
        think: Duration,
        duration: Duration,
    },
}

impl Load {
    pub fn duration(&self) -> Duration {
        match self {
            Load::Open { segments } => segments.iter().map(|s| s.duration).sum(),
            Load::Closed { duration, .. } => *duration,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Check {
    Exists {
        pointer: String,
        field: String,
    },
    Equals {
        pointer: String,
        field: String,
        value: serde_json::Value,
    },
}

/// What an SLO measures. The key is the name used in files and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    LatencyP50,
    LatencyP90,
    LatencyP95,
    LatencyP99,
    LatencyMax,
    ErrorRate,
    TtfbP50,
    TtfbP95,
    FirstMessageP50,
    FirstEventP50,
    GapMax,
    DataGapMax,
    Reconnects,
    IdsLost,
    StreamErrorRate,
    Rate5xx,
    Availability,
    Flaps,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Ms,
    Ratio,
    Count,
}

impl Metric {
    pub fn key(self) -> &'static str {
        use Metric::*;
        match self {
            LatencyP50 => "latency_p50_ms",
            LatencyP90 => "latency_p90_ms",
            LatencyP95 => "latency_p95_ms",
            LatencyP99 => "latency_p99_ms",
            LatencyMax => "latency_max_ms",
            ErrorRate => "error_rate",
            TtfbP50 => "ttfb_p50_ms",
            TtfbP95 => "ttfb_p95_ms",
            FirstMessageP50 => "first_message_p50_ms",
            FirstEventP50 => "first_event_p50_ms",
            GapMax => "gap_max_ms",
            DataGapMax => "data_gap_max_ms",
            Reconnects => "reconnects",
            IdsLost => "ids_lost",
            StreamErrorRate => "stream_error_rate",
            Rate5xx => "rate_5xx",
            Availability => "availability",
            Flaps => "flaps",
        }
    }

    pub fn unit(self) -> Unit {
        use Metric::*;
        match self {
            ErrorRate | StreamErrorRate | Rate5xx | Availability => Unit::Ratio,
            Reconnects | IdsLost | Flaps => Unit::Count,
            _ => Unit::Ms,
        }
    }

    pub fn from_key(key: &str) -> Option<Metric> {
        ALL_METRICS.iter().copied().find(|m| m.key() == key)
    }
}

pub const ALL_METRICS: [Metric; 18] = {
    use Metric::*;
    [
        LatencyP50,
        LatencyP90,
        LatencyP95,
        LatencyP99,
        LatencyMax,
        ErrorRate,
        TtfbP50,
        TtfbP95,
        FirstMessageP50,
        FirstEventP50,
        GapMax,
        DataGapMax,
        Reconnects,
        IdsLost,
        StreamErrorRate,
        Rate5xx,
        Availability,
        Flaps,
    ]
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// The measured value must be at most the threshold.
    Max,
    /// The measured value must be at least the threshold.
    Min,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SloSpec {
    pub metric: Metric,
    pub bound: Bound,
    /// In the metric's unit: milliseconds, a ratio, or a count.
    pub threshold: f64,
}

#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub name: String,
    pub class: Class,
    pub method: http::Method,
    pub path: String,
    pub url: http::Uri,
    pub headers: Vec<(String, String)>,
    pub body: Option<bytes::Bytes>,
    pub expect_status: Vec<u16>,
    pub checks: Vec<Check>,
    pub load: Load,
    pub timeout: Duration,
    pub connections: u32,
    pub max_in_flight: u32,
    pub slos: Vec<SloSpec>,
}

#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub name: String,
    pub path: String,
    pub url: http::Uri,
    pub headers: Vec<(String, String)>,
    pub connections: u32,
    /// Streams opened per second; `None` opens them all at once.
    pub connect_rate: Option<f64>,
    pub hold: Duration,
    pub last_event_id: Option<String>,
    pub reconnect: bool,
    pub idle_timeout: Duration,
    /// Event types that count as data; empty means every event with data.
    pub data_events: Vec<String>,
    pub max_event_size: u64,
    /// First reconnect delay (a server's `retry:` replaces it), doubled per
    /// failed attempt up to `reconnect_delay_max`; each wait is drawn from
    /// [d/2, d].
    pub reconnect_delay: Duration,
    pub reconnect_delay_max: Duration,
    pub slos: Vec<SloSpec>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub http: HttpVersion,
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
    pub interval: Duration,
    pub max_late_ratio: f64,
    pub late_threshold: Duration,
    pub follow_redirects: bool,
}

/// Values that must never reach a report, a log line or the terminal.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn add(&mut self, value: &str) {
        // Very short values would mask ordinary text and protect nothing.
        if value.len() >= 3 && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_string());
            self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn merge(&mut self, other: &Secrets) {
        other.0.iter().for_each(|v| self.add(v));
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub sha256: String,
    pub base_url: String,
    pub bearer: Option<String>,
    pub settings: Settings,
    pub run_slos: Vec<SloSpec>,
    pub probes: Vec<ProbeSpec>,
    pub streams: Vec<StreamSpec>,
    pub secrets: Secrets,
    /// Windows to judge besides the whole run; `None` without `[stability]`.
    pub stability: Option<stability::StabilitySpec>,
    /// `[capacity]` as written; `slogate capacity` resolves it.
    pub capacity: capacity::CapacityAsk,
}

impl Scenario {
    /// The longest probe or stream, which is how long the run lasts.
    pub fn duration(&self) -> Duration {
        let p = self.probes.iter().map(|p| p.load.duration());
        let s = self.streams.iter().map(|s| s.hold);
        p.chain(s).max().unwrap_or_default()
    }

    /// Sets or changes the stability windows (from `[stability]` merged with
    /// command-line flags) and fits them to the run's length.
    pub fn set_stability(&mut self, over: &stability::StabilityAsk) -> Result<(), String> {
        let asked = self
            .stability
            .as_ref()
            .map(|s| s.asked.merged(over))
            .unwrap_or_else(|| over.clone());
        asked.validate().map_err(|(_, m)| m)?;
        let run = self.duration();
        let spec = stability::StabilitySpec::resolve(&asked, run, &mut self.settings.interval);
        self.stability = Some(spec);
        Ok(())
    }
}

/// Overrides given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub duration: Option<Duration>,
}

pub fn load(path: &Path, vars: &Vars, ov: &Overrides) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        col: 0,
        field: String::new(),
        message: format!("cannot read scenario: {e}"),
    })?;
    parse(&file, &src, vars, ov)
}

pub fn parse(
    file: &str,
    src: &str,
    vars: &Vars,
    ov: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let expanded = expand::expand(src, vars).map_err(|u| ScenarioError {
        file: file.to_string(),
        line: u.line,
        col: u.col,
        field: format!("${{{}}}", u.name),
        message: if u.malformed {
            "malformed variable reference: expected ${NAME} or ${NAME:-default}".into()
        } else {
            format!(
                "variable {} is not set: pass -e {}=VALUE or set it in the environment",
                u.name, u.name
            )
        },
    })?;
    let mut secrets = Secrets::default();
    for (name, value) in &expanded.used {
        if is_secret_name(name) {
            secrets.add(value);
        }
    }
    let ctx = Ctx {
        file,
        src: &expanded.text,
    };
    // An error may quote a value that came from a secret variable.
    let masked = |e: ScenarioError| ScenarioError {
        field: secrets.mask(&e.field),
        message: secrets.mask(&e.message),
        ..e
    };
    let raw: raw::File = toml::from_str(&expanded.text).map_err(|e| masked(ctx.toml_error(&e)))?;
    let mut sc = resolve(&ctx, raw, ov, secrets.clone()).map_err(masked)?;
    sc.file = PathBuf::from(file);
    sc.sha256 = hex::encode(Sha256::digest(src.as_bytes()));
    Ok(sc)
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn err(&self, span: std::ops::Range<usize>, field: &str, message: String) -> ScenarioError {
        let (line, col) = self.line_col(span.start);
        ScenarioError {
            file: self.file.into(),
            line,
            col,
            field: field.into(),
            message,
        }
    }

    /// toml reports where it failed; the field is the key on that line, and
    /// the nearest table header above it says which table it sits in.
    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let span = e.span().unwrap_or(0..0);
        let (line, col) = self.line_col(span.start);
        let text = self.src.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let key = text.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
        let table = self
            .src
            .lines()
            .take(line)
            .filter_map(|l| l.trim().strip_prefix('['))
            .last()
            .map(|t| t.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let field = match (table, key) {
            (Some(t), k) if !k.is_empty() && !k.starts_with('[') => format!("{t}.{k}"),
            (Some(t), _) => t,
            (None, k) => k.to_string(),
        };
        let message = e.message().trim().replace('\n', " ");
        ScenarioError {
            file: self.file.into(),
            line,
            col,
            field,
            message,
        }
    }
}

fn resolve(
    ctx: &Ctx,
    raw: raw::File,
    ov: &Overrides,
    mut secrets: Secrets,
) -> Result<Scenario, ScenarioError> {
    let base_url = check_base_url(ctx, &raw.base_url)?;
    // `bearer = "${TOKEN:-}"` with no token means no Authorization header.
    let bearer = raw
        .auth
        .bearer
        .as_ref()
        .map(|b| b.get_ref().clone())
        .filter(|b| !b.is_empty());
    if let Some(b) = &raw.auth.bearer {
        secrets.add(b.get_ref());
        if http::HeaderValue::from_str(&format!("Bearer {}", b.get_ref())).is_err() {
            return Err(ctx.err(
                b.span(),
                "auth.bearer",
                "the token holds characters a header cannot carry (newline or control character)"
                    .into(),
            ));
        }
    }
    let d = &raw.defaults;
    let ca_file = match &d.ca_file {
        None => None,
        Some(f) => {
            let p = PathBuf::from(f.get_ref());
            if !p.is_file() {
                return Err(ctx.err(
                    f.span(),
                    "defaults.ca_file",
                    format!(
                        "CA bundle {:?} does not exist or is not a file",
                        f.get_ref()
                    ),
                ));
            }
            Some(p)
        }
    };
    let settings = Settings {
        timeout: d.timeout.map_or(defaults::TIMEOUT, |v| v.0),
        connect_timeout: d.connect_timeout.map_or(defaults::CONNECT_TIMEOUT, |v| v.0),
        http: http_version(ctx, d.http.as_ref())?,
        insecure: d.insecure.unwrap_or(false),
        ca_file,
        interval: d.interval.map_or(defaults::INTERVAL, |v| v.0),
        max_late_ratio: d.max_late_ratio.map_or(defaults::MAX_LATE_RATIO, |p| p.0),
        late_threshold: d.late_threshold.map_or(defaults::LATE_THRESHOLD, |v| v.0),
        follow_redirects: d.follow_redirects.unwrap_or(false),
    };
    let duration = ov
        .duration
        .or(d.duration.map(|v| v.0))
        .unwrap_or(defaults::DURATION);
    let mut common_headers: Vec<(String, String)> =
        d.headers.clone().unwrap_or_default().into_iter().collect();
    if let Some(b) = &bearer {
        common_headers.push(("authorization".into(), format!("Bearer {b}")));
    }
    for (k, v) in &common_headers {
        if is_sensitive_header(k) {
            secrets.add(v);
        }
    }
    let connections = d.connections.unwrap_or(defaults::CONNECTIONS);

    let mut names = std::collections::HashSet::new();
    let mut probes = Vec::new();
    for p in raw.probes {
        let span = p.span();
        let p = p.into_inner();
        check_name(p.name.get_ref()).map_err(|m| ctx.err(p.name.span(), "probe.name", m))?;
        if !names.insert(p.name.get_ref().clone()) {
            return Err(ctx.err(p.name.span(), "probe.name", dup(p.name.get_ref())));
        }
        probes.push(probe(
            ctx,
            span,
            p,
            &base_url,
            &common_headers,
            duration,
            connections,
            &settings,
            &mut secrets,
        )?);
    }
    let mut streams = Vec::new();
    for s in raw.streams {
        let s = s.into_inner();
        check_name(s.name.get_ref()).map_err(|m| ctx.err(s.name.span(), "stream.name", m))?;
        if !names.insert(s.name.get_ref().clone()) {
            return Err(ctx.err(s.name.span(), "stream.name", dup(s.name.get_ref())));
        }
        streams.push(stream(
            ctx,
            s,
            &base_url,
            &common_headers,
            duration,
            &mut secrets,
        )?);
    }
    if probes.is_empty() && streams.is_empty() {
        return Err(ctx.err(
            0..0,
            "probe",
            "the scenario has no [[probe]] and no [[stream]]: nothing to run".into(),
        ));
    }
    let name = match &raw.name {
        Some(n) => {
            check_name(n.get_ref()).map_err(|m| ctx.err(n.span(), "name", m))?;
            n.get_ref().clone()
        }
        None => file_stem(ctx.file),
    };
    let mut run_slos = Vec::new();
    push(
        &mut run_slos,
        Metric::Rate5xx,
        Bound::Max,
        raw.slo.rate_5xx_max.map(|p| p.0),
    );
    push(
        &mut run_slos,
        Metric::Availability,
        Bound::Min,
        raw.slo.availability_min.map(|p| p.0),
    );
    let stability = stability_ask(ctx, raw.stability)?;
    let capacity = capacity_ask(ctx, raw.capacity)?;
    let mut sc = Scenario {
        name: secrets.mask(&name),
        description: raw.description,
        file: PathBuf::new(),
        sha256: String::new(),
        base_url,
        bearer,
        settings,
        run_slos,
        probes,
        streams,
        secrets,
        stability: None,
        capacity,
    };
    if let Some(ask) = stability {
        sc.set_stability(&ask).expect("validated by stability_ask");
    }
    Ok(sc)
}

fn stability_ask(
    ctx: &Ctx,
    raw: Option<Spanned<raw::Stability>>,
) -> Result<Option<stability::StabilityAsk>, ScenarioError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let span = raw.span();
    let r = raw.into_inner();
    let ask = stability::StabilityAsk {
        observe: r.observe.map(|d| d.0),
        window: r.window.map(|d| d.0),
        warmup: r.warmup.map(|d| d.0),
        flaps_max: r.flaps_max,
        abort_after: r.abort_after,
    };
    ask.validate()
        .map_err(|(field, m)| ctx.err(span, field, m))?;
    Ok(Some(ask))
}

fn capacity_ask(
    ctx: &Ctx,
    raw: Option<Spanned<raw::Capacity>>,
) -> Result<capacity::CapacityAsk, ScenarioError> {
    let Some(raw) = raw else {
        return Ok(capacity::CapacityAsk::default());
    };
    let span = raw.span();
    let r = raw.into_inner();
    let search = match &r.mode {
        None => None,
        Some(m) => Some(
            capacity::parse_search(m.get_ref())
                .map_err(|e| ctx.err(m.span(), "capacity.mode", e))?,
        ),
    };
    let ask = capacity::CapacityAsk {
        search,
        start: r.start.map(|v| v.0),
        step: r.step.map(|v| v.0),
        step_duration: r.step_duration.map(|v| v.0),
        max: r.max.map(|v| v.0),
        precision: r.precision.map(|v| v.0),
        reach_min: r.reach_min.map(|v| v.0),
        target_rate: r.target_rate.map(|v| v.0),
        headroom: r.headroom.map(|v| v.0),
    };
    ask.resolve().map_err(|e| ctx.err(span, "capacity", e))?;
    Ok(ask)
}

/// Names become folder names, interval-log tags and table cells: keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_. ".contains(c);
    if name.trim().is_empty() || name.len() > 64 || !name.chars().all(ok) {
        return Err(format!(
            "invalid name {name:?}: use 1 to 64 letters, digits, spaces, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// Limits that keep a typo from allocating the machine away.
pub const MAX_CONNECTIONS: u32 = 100_000;
pub const MAX_STREAMS: u32 = 1_000_000;

fn check_count(n: Option<u32>, max: u32, what: &str) -> Result<(), String> {
    match n {
        Some(0) => Err(format!("{what} must be at least 1")),
        Some(n) if n > max => Err(format!("{what} = {n} is more than {max}")),
        _ => Ok(()),
    }
}

fn check_headers(h: &[(String, String)]) -> Result<(), String> {
    for (k, v) in h {
        http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("invalid header name {k:?}"))?;
        http::HeaderValue::from_str(v)
            .map_err(|_| format!("header {k:?} has a value a header cannot carry"))?;
    }
    Ok(())
}

fn dup(name: &str) -> String {
    format!("name {name:?} is used twice: every probe and stream needs its own name")
}

fn file_stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
}

fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "cookie"
        || n == "proxy-authorization"
        || is_secret_name(&n)
        || n.contains("api-key")
}

fn check_base_url(ctx: &Ctx, raw: &Spanned<String>) -> Result<String, ScenarioError> {
    let s = raw.get_ref().trim_end_matches('/');
    let uri: http::Uri = s.parse().map_err(|e| {
        ctx.err(
            raw.span(),
            "base_url",
            format!("invalid URL {s:?} ({e}): expected http://host[:port][/prefix]"),
        )
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some() => Ok(s.to_string()),
        _ => Err(ctx.err(
            raw.span(),
            "base_url",
            format!("invalid URL {s:?}: expected an absolute http:// or https:// URL"),
        )),
    }
}

fn http_version(ctx: &Ctx, v: Option<&Spanned<String>>) -> Result<HttpVersion, ScenarioError> {
    let Some(v) = v else {
        return Ok(HttpVersion::Auto);
    };
    match v.get_ref().as_str() {
        "auto" => Ok(HttpVersion::Auto),
        "1.1" | "http1" | "h1" => Ok(HttpVersion::Http1),
        "2" | "http2" | "h2" | "h2c" => Ok(HttpVersion::Http2),
        other => Err(ctx.err(
            v.span(),
            "defaults.http",
            format!("unknown HTTP version {other:?}: expected \"auto\", \"1.1\" or \"2\""),
        )),
    }
}

fn join_url(
    ctx: &Ctx,
    base: &str,
    path: &Spanned<String>,
    field: &str,
) -> Result<http::Uri, ScenarioError> {
    let p = path.get_ref();
    if !p.starts_with('/') {
        return Err(ctx.err(
            path.span(),
            field,
            format!("path {p:?} must start with '/' (it is joined to base_url)"),
        ));
    }
    format!("{base}{p}")
        .parse()
        .map_err(|e| ctx.err(path.span(), field, format!("invalid path {p:?}: {e}")))
}

fn push(v: &mut Vec<SloSpec>, metric: Metric, bound: Bound, value: Option<f64>) {
    if let Some(threshold) = value {
        v.push(SloSpec {
            metric,
            bound,
            threshold,
        });
    }
}

fn ms(d: Option<Dur>) -> Option<f64> {
    d.map(|d| d.0.as_secs_f64() * 1000.0)
}

fn pct(p: Option<Percent>) -> Option<f64> {
    p.map(|p| p.0)
}

fn headers_of(
    common: &[(String, String)],
    own: Option<std::collections::BTreeMap<String, String>>,
    secrets: &mut Secrets,
) -> Vec<(String, String)> {
    let mut h = common.to_vec();
    for (k, v) in own.unwrap_or_default() {
        if is_sensitive_header(&k) {
            secrets.add(&v);
        }
        h.retain(|(ek, _)| !ek.eq_ignore_ascii_case(&k));
        h.push((k, v));
    }
    h
}

#[allow(clippy::too_many_arguments)]
fn probe(
    ctx: &Ctx,
    span: std::ops::Range<usize>,
    p: raw::Probe,
    base: &str,
    common: &[(String, String)],
    duration: Duration,
    default_conns: u32,
    settings: &Settings,
    secrets: &mut Secrets,
) -> Result<ProbeSpec, ScenarioError> {
    let name = p.name.get_ref().clone();
    let url = join_url(ctx, base, &p.path, "probe.path")?;
    check_count(p.connections, MAX_CONNECTIONS, "connections")
        .map_err(|m| ctx.err(span.clone(), "probe.connections", m))?;
    check_count(p.max_in_flight, MAX_CONNECTIONS, "max_in_flight")
        .map_err(|m| ctx.err(span.clone(), "probe.max_in_flight", m))?;
    check_count(p.concurrency, MAX_CONNECTIONS, "concurrency")
        .map_err(|m| ctx.err(span.clone(), "probe.concurrency", m))?;
    let class = match p.class.as_ref().map(|c| c.get_ref().as_str()) {
        None | Some("read") => Class::Read,
        Some("write") => Class::Write,
        Some("health") => Class::Health,
        Some(o) => {
            let sp = p.class.as_ref().map(|c| c.span()).unwrap_or(span.clone());
            return Err(ctx.err(
                sp,
                "probe.class",
                format!("unknown class {o:?}: expected \"read\", \"write\" or \"health\""),
            ));
        }
    };
    let method = match &p.method {
        None => http::Method::GET,
        Some(m) => m.get_ref().to_ascii_uppercase().parse().map_err(|_| {
            ctx.err(
                m.span(),
                "probe.method",
                format!("invalid HTTP method {:?}", m.get_ref()),
            )
        })?,
    };
    let duration = p.duration.map_or(duration, |d| d.0);
    let load = match (p.rate, &p.stages, p.concurrency) {
        (_, _, Some(_)) if p.rate.is_some() || p.stages.is_some() => {
            return Err(ctx.err(span, "probe.concurrency", format!("probe {name:?} sets both an arrival rate and a concurrency: choose one (open or closed model)")));
        }
        (None, None, None) => {
            return Err(ctx.err(span, "probe.rate", format!("probe {name:?} has no load: set rate = \"50/s\", stages = [...] or concurrency = N")));
        }
        (_, _, Some(0)) => {
            return Err(ctx.err(
                span,
                "probe.concurrency",
                "concurrency must be at least 1".into(),
            ))
        }
        (_, _, Some(w)) => Load::Closed {
            workers: w,
            think: p.think.map_or(Duration::ZERO, |t| t.0),
            duration,
        },
        (rate, stages, None) => {
            let mut segs = Vec::new();
            let mut at = rate.map_or(0.0, |r| r.0);
            match stages {
                None => segs.push(Segment {
                    from: at,
                    to: at,
                    duration,
                }),
                Some(st) => {
                    for s in st {
                        segs.push(Segment {
                            from: at,
                            to: s.target.0,
                            duration: s.duration.0,
                        });
                        at = s.target.0;
                    }
                }
            }
            if segs.iter().all(|s| s.from == 0.0 && s.to == 0.0) {
                return Err(ctx.err(
                    span,
                    "probe.rate",
                    format!("probe {name:?} has an arrival rate of zero: nothing would be sent"),
                ));
            }
            Load::Open { segments: segs }
        }
    };
    let body = match (&p.body, &p.json) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                span,
                "probe.json",
                "set either body or json, not both".into(),
            ))
        }
        (Some(b), None) => Some(bytes::Bytes::from(b.clone())),
        (None, Some(j)) => Some(bytes::Bytes::from(
            serde_json::to_vec(j).expect("toml values serialize"),
        )),
        (None, None) => None,
    };
    let mut headers = headers_of(common, p.headers, secrets);
    check_headers(&headers).map_err(|m| ctx.err(span.clone(), "probe.headers", m))?;
    if p.json.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let checks = p
        .checks
        .into_iter()
        .map(|c| check(ctx, span.clone(), c))
        .collect::<Result<Vec<_>, _>>()?;
    let connections = p.connections.unwrap_or(default_conns);
    let mut slos = Vec::new();
    let s = &p.slo;
    push(&mut slos, Metric::LatencyP50, Bound::Max, ms(s.p50));
    push(&mut slos, Metric::LatencyP90, Bound::Max, ms(s.p90));
    push(&mut slos, Metric::LatencyP95, Bound::Max, ms(s.p95));
    push(&mut slos, Metric::LatencyP99, Bound::Max, ms(s.p99));
    push(&mut slos, Metric::LatencyMax, Bound::Max, ms(s.max));
    push(&mut slos, Metric::ErrorRate, Bound::Max, pct(s.error_rate));
    Ok(ProbeSpec {
        name,
        class,
        method,
        path: p.path.into_inner(),
        url,
        headers,
        body,
        expect_status: p.expect_status.unwrap_or_default(),
        checks,
        load,
        timeout: p.timeout.map_or(settings.timeout, |t| t.0),
        connections,
        max_in_flight: p.max_in_flight.unwrap_or(connections).max(1),
        slos,
    })
}

fn check(ctx: &Ctx, span: std::ops::Range<usize>, c: raw::Check) -> Result<Check, ScenarioError> {
    let pointer = if c.field.starts_with('/') {
        c.field.clone()
    } else {
        format!("/{}", c.field.replace('.', "/"))
    };
    match (c.exists, c.equals) {
        (Some(true), None) => Ok(Check::Exists {
            pointer,
            field: c.field,
        }),
        (None, Some(v)) => {
            let value = serde_json::to_value(&v).expect("toml values serialize");
            Ok(Check::Equals {
                pointer,
                field: c.field,
                value,
            })
        }
        _ => Err(ctx.err(
            span,
            "probe.checks",
            format!(
                "check on {:?}: set exactly one of exists = true or equals = VALUE",
                c.field
            ),
        )),
    }
}

fn stream(
    ctx: &Ctx,
    s: raw::Stream,
    base: &str,
    common: &[(String, String)],
    duration: Duration,
    secrets: &mut Secrets,
) -> Result<StreamSpec, ScenarioError> {
    let url = join_url(ctx, base, &s.path, "stream.path")?;
    check_count(s.connections, MAX_STREAMS, "connections")
        .map_err(|m| ctx.err(s.name.span(), "stream.connections", m))?;
    if let Some(r) = s.connect_rate.filter(|r| r.0 > 0.0) {
        let n = s.connections.unwrap_or(defaults::STREAMS);
        if n as f64 / r.0 > units::MAX_DURATION.as_secs_f64() {
            let msg = format!("opening {n} streams at {r} would take longer than 30 days");
            return Err(ctx.err(s.name.span(), "stream.connect_rate", msg));
        }
    }
    if s.reconnect_delay.is_some_and(|d| d.0.is_zero()) {
        return Err(ctx.err(
            s.name.span(),
            "stream.reconnect_delay",
            "reconnect_delay must be above zero: a zero delay reconnects in a tight loop".into(),
        ));
    }
    let mut headers = headers_of(common, s.headers, secrets);
    check_headers(&headers).map_err(|m| ctx.err(s.name.span(), "stream.headers", m))?;
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
    {
        headers.push(("accept".into(), "text/event-stream".into()));
    }
    let mut slos = Vec::new();
    let o = &s.slo;
    push(&mut slos, Metric::TtfbP50, Bound::Max, ms(o.ttfb_p50));
    push(&mut slos, Metric::TtfbP95, Bound::Max, ms(o.ttfb_p95));
    push(
        &mut slos,
        Metric::FirstMessageP50,
        Bound::Max,
        ms(o.first_message_p50),
    );
    push(
        &mut slos,
        Metric::FirstEventP50,
        Bound::Max,
        ms(o.first_event_p50),
    );
    push(&mut slos, Metric::GapMax, Bound::Max, ms(o.gap_max));
    push(
        &mut slos,
        Metric::DataGapMax,
        Bound::Max,
        ms(o.data_gap_max),
    );
    push(
        &mut slos,
        Metric::Reconnects,
        Bound::Max,
        o.reconnects_max.map(|v| v as f64),
    );
    push(
        &mut slos,
        Metric::IdsLost,
        Bound::Max,
        o.ids_lost_max.map(|v| v as f64),
    );
    push(
        &mut slos,
        Metric::StreamErrorRate,
        Bound::Max,
        pct(o.error_rate),
    );
    Ok(StreamSpec {
        name: s.name.into_inner(),
        path: s.path.into_inner(),
        url,
        headers,
        connections: s.connections.unwrap_or(defaults::STREAMS),
        connect_rate: s.connect_rate.map(|r| r.0).filter(|r| *r > 0.0),
        hold: s.hold.map_or(duration, |d| d.0),
        last_event_id: s.last_event_id,
        reconnect: s.reconnect.unwrap_or(true),
        idle_timeout: s.idle_timeout.map_or(defaults::IDLE_TIMEOUT, |d| d.0),
        data_events: s.data_events.unwrap_or_default(),
        max_event_size: s.max_event_size.unwrap_or(defaults::MAX_EVENT_SIZE),
        reconnect_delay: s.reconnect_delay.map_or(defaults::RECONNECT_DELAY, |d| d.0),
        reconnect_delay_max: s
            .reconnect_delay_max
            .map_or(defaults::RECONNECT_DELAY_MAX, |d| d.0),
        slos,
    })
}

#[cfg(test)]
mod tests;
