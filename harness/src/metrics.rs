//! Where measurements land: HDR histograms (microseconds, 3 significant
//! digits) and counters per probe and per stream, swapped out every interval
//! so that the whole run, each interval and each window can be judged.
//!
//! Values above the histogram's range are clamped to it and counted in
//! `over_range`, never dropped (see case B16).

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One hour in microseconds: the top of every histogram.
pub const HIST_MAX_US: u64 = 3_600_000_000;
const SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, SIGFIG).expect("static bounds are valid")
}

/// A histogram plus the count of samples it had to clamp.
#[derive(Clone, Debug)]
pub struct Hist {
    pub h: Histogram<u64>,
    pub over_range: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            h: new_histogram(),
            over_range: 0,
        }
    }
}

impl Hist {
    #[inline]
    pub fn record(&mut self, d: Duration) {
        self.record_us(d.as_micros().min(u64::MAX as u128) as u64);
    }

    #[inline]
    pub fn record_us(&mut self, us: u64) {
        if us > HIST_MAX_US {
            self.over_range += 1;
        }
        self.h.saturating_record(us.max(1));
    }

    pub fn add(&mut self, other: &Hist) {
        self.h.add(&other.h).expect("same bounds");
        self.over_range += other.over_range;
    }

    pub fn reset(&mut self) {
        self.h.reset();
        self.over_range = 0;
    }

    pub fn len(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The quantile in milliseconds, or `None` with no samples: an empty
    /// histogram answers 0, which would pass any latency SLO (case B17).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.is_empty()).then(|| self.h.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.h.max() as f64 / 1000.0)
    }

    pub fn summary(&self) -> Percentiles {
        Percentiles {
            count: self.len(),
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p95_ms: self.quantile_ms(0.95),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            max_ms: self.max_ms(),
            mean_ms: (!self.is_empty()).then(|| self.h.mean() / 1000.0),
            over_range: self.over_range,
        }
    }
}

/// The percentile view of one histogram, as reports show it.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub over_range: u64,
}

/// Why a request or a stream connection did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A 4xx answer that the probe did not expect.
    Status4xx,
    Status5xx,
    /// Any other status the probe did not expect (1xx, 2xx or 3xx).
    StatusUnexpected,
    Timeout,
    ConnectRefused,
    ConnectTimeout,
    Connect,
    Tls,
    /// The peer broke HTTP or SSE: bad content type, malformed or oversized stream.
    Protocol,
    /// The body arrived but a JSON check on it failed.
    CheckFailed,
    /// The connection dropped mid-response.
    Io,
    /// The generator could not start the request in time and skipped it.
    Skipped,
}

pub const ERROR_CLASSES: [ErrorClass; 12] = {
    use ErrorClass::*;
    [
        Status4xx,
        Status5xx,
        StatusUnexpected,
        Timeout,
        ConnectRefused,
        ConnectTimeout,
        Connect,
        Tls,
        Protocol,
        CheckFailed,
        Io,
        Skipped,
    ]
};

impl ErrorClass {
    pub fn key(self) -> &'static str {
        use ErrorClass::*;
        match self {
            Status4xx => "status_4xx",
            Status5xx => "status_5xx",
            StatusUnexpected => "status_unexpected",
            Timeout => "timeout",
            ConnectRefused => "connect_refused",
            ConnectTimeout => "connect_timeout",
            Connect => "connect",
            Tls => "tls",
            Protocol => "protocol",
            CheckFailed => "check_failed",
            Io => "io",
            Skipped => "skipped",
        }
    }

    /// No usable answer at all: the connection, TLS, HTTP or SSE framing
    /// failed. These, with 5xx, are what availability counts against.
    pub fn is_transport(self) -> bool {
        use ErrorClass::*;
        matches!(
            self,
            Timeout | ConnectRefused | ConnectTimeout | Connect | Tls | Io | Protocol
        )
    }

    fn index(self) -> usize {
        ERROR_CLASSES
            .iter()
            .position(|c| *c == self)
            .expect("listed")
    }
}

/// Error counts by class, in a fixed array so the hot path never allocates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorCounts([u64; ERROR_CLASSES.len()]);

impl ErrorCounts {
    #[inline]
    pub fn bump(&mut self, c: ErrorClass) {
        self.0[c.index()] += 1;
    }

    pub fn get(&self, c: ErrorClass) -> u64 {
        self.0[c.index()]
    }

    pub fn set(&mut self, c: ErrorClass, v: u64) {
        self.0[c.index()] = v;
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn transport(&self) -> u64 {
        ERROR_CLASSES
            .iter()
            .filter(|c| c.is_transport())
            .map(|c| self.get(*c))
            .sum()
    }

    pub fn add(&mut self, o: &ErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += b;
        }
    }

    /// Non-zero classes, for reports.
    pub fn nonzero(&self) -> Vec<(ErrorClass, u64)> {
        ERROR_CLASSES
            .iter()
            .map(|c| (*c, self.get(*c)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// What one JSON probe measured over some span of time.
#[derive(Clone, Debug, Default)]
pub struct ProbeData {
    /// From the intended start to the last body byte, successes only.
    pub latency: Hist,
    /// From the actual send to the last body byte, successes only.
    pub service: Hist,
    /// How late sends went out relative to their intended start.
    pub lateness: Hist,
    pub requests: u64,
    pub ok: u64,
    /// Responses by status class: index 1..=5 for 1xx..5xx.
    pub status: [u64; 6],
    pub errors: ErrorCounts,
    /// Sends that waited because every connection was busy (the target's doing).
    pub late_backpressure: u64,
    /// Sends that went out late although a connection was free (the generator's doing).
    pub late_generator: u64,
}

impl ProbeData {
    pub fn add(&mut self, o: &ProbeData) {
        self.latency.add(&o.latency);
        self.service.add(&o.service);
        self.lateness.add(&o.lateness);
        self.requests += o.requests;
        self.ok += o.ok;
        for (a, b) in self.status.iter_mut().zip(o.status) {
            *a += b;
        }
        self.errors.add(&o.errors);
        self.late_backpressure += o.late_backpressure;
        self.late_generator += o.late_generator;
    }

    pub fn reset(&mut self) {
        self.latency.reset();
        self.service.reset();
        self.lateness.reset();
        let (l, s, t) = (
            std::mem::take(&mut self.latency),
            std::mem::take(&mut self.service),
            std::mem::take(&mut self.lateness),
        );
        *self = ProbeData {
            latency: l,
            service: s,
            lateness: t,
            ..Default::default()
        };
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| (self.requests - self.ok) as f64 / self.requests as f64)
    }
}

/// What the streams of one stream spec measured.
#[derive(Clone, Debug, Default)]
pub struct StreamData {
    /// Request start to response headers, per connection.
    pub ttfb: Hist,
    /// Request start to the first body byte.
    pub first_byte: Hist,
    /// Request start to the first message (event, data-less event or comment).
    pub first_message: Hist,
    /// Request start to the first data event.
    pub first_event: Hist,
    /// Every silence between messages, including the trailing one at hold end.
    pub gap: Hist,
    /// Every silence between data events.
    pub data_gap: Hist,
    /// The worst gap of each stream, one sample per stream.
    pub stream_max_gap: Hist,
    /// From a connection's end to the next response headers.
    pub reconnect_time: Hist,
    pub connects: u64,
    pub connected: u64,
    pub reconnects: u64,
    pub messages: u64,
    pub comments: u64,
    pub events: u64,
    pub data_events: u64,
    pub ids_lost: u64,
    pub ids_repeated: u64,
    pub status: [u64; 6],
    pub errors: ErrorCounts,
    /// Connections that succeeded but ended without a single message.
    pub empty_connections: u64,
    pub oversize: u64,
    pub closed_204: u64,
    /// Connected bodies that ended before the hold did (server close, drop,
    /// idle timeout, protocol error).
    pub disconnects: u64,
    /// Streams whose connections succeeded and ended without a message at
    /// least `FLAP_EMPTY_IN_A_ROW` times in a row.
    pub flapping_streams: u64,
    /// Protocol errors by reason ("invalid UTF-8 from server", ...), so a
    /// report says what was wrong and not only that something was.
    pub protocol_reasons: std::collections::BTreeMap<String, u64>,
}

/// Empty connections in a row that make a stream "flapping" (case B14 c).
pub const FLAP_EMPTY_IN_A_ROW: u32 = 2;
/// Distinct protocol-error reasons kept per stream spec; later ones are
/// folded into "other" so that a hostile server cannot grow the map.
const MAX_REASONS: usize = 16;

impl StreamData {
    pub fn add(&mut self, o: &StreamData) {
        for (a, b) in self.hists_mut().into_iter().zip(o.hists()) {
            a.add(b);
        }
        self.connects += o.connects;
        self.connected += o.connected;
        self.reconnects += o.reconnects;
        self.messages += o.messages;
        self.comments += o.comments;
        self.events += o.events;
        self.data_events += o.data_events;
        self.ids_lost += o.ids_lost;
        self.ids_repeated += o.ids_repeated;
        for (a, b) in self.status.iter_mut().zip(o.status) {
            *a += b;
        }
        self.errors.add(&o.errors);
        self.empty_connections += o.empty_connections;
        self.oversize += o.oversize;
        self.closed_204 += o.closed_204;
        self.disconnects += o.disconnects;
        self.flapping_streams += o.flapping_streams;
        for (k, v) in &o.protocol_reasons {
            self.note_reason(k, *v);
        }
    }

    /// Counts a protocol error and why it happened.
    pub fn protocol_error(&mut self, reason: &str) {
        self.errors.bump(ErrorClass::Protocol);
        self.note_reason(reason, 1);
    }

    fn note_reason(&mut self, reason: &str, n: u64) {
        let full = self.protocol_reasons.len() >= MAX_REASONS;
        let key = if full && !self.protocol_reasons.contains_key(reason) {
            "other"
        } else {
            reason
        };
        *self.protocol_reasons.entry(key.to_string()).or_default() += n;
    }

    pub fn hists(&self) -> [&Hist; 8] {
        [
            &self.ttfb,
            &self.first_byte,
            &self.first_message,
            &self.first_event,
            &self.gap,
            &self.data_gap,
            &self.stream_max_gap,
            &self.reconnect_time,
        ]
    }

    fn hists_mut(&mut self) -> [&mut Hist; 8] {
        [
            &mut self.ttfb,
            &mut self.first_byte,
            &mut self.first_message,
            &mut self.first_event,
            &mut self.gap,
            &mut self.data_gap,
            &mut self.stream_max_gap,
            &mut self.reconnect_time,
        ]
    }

    pub const HIST_TAGS: [&'static str; 8] = [
        "ttfb",
        "first_byte",
        "first_message",
        "first_event",
        "gap",
        "data_gap",
        "stream_max_gap",
        "reconnect_time",
    ];

    pub fn hist_by_tag_mut(&mut self, tag: &str) -> Option<&mut Hist> {
        let i = Self::HIST_TAGS.iter().position(|t| *t == tag)?;
        Some(self.hists_mut().into_iter().nth(i).expect("same length"))
    }

    pub fn take(&mut self) -> StreamData {
        std::mem::take(self)
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.connects > 0).then(|| self.errors.total() as f64 / self.connects as f64)
    }
}

/// A probe's shared recorder: probes write, the collector swaps it out.
#[derive(Default)]
pub struct ProbeRecorder(pub Mutex<ProbeData>);

#[derive(Default)]
pub struct StreamRecorder {
    pub data: Mutex<StreamData>,
    pub open: std::sync::atomic::AtomicI64,
}

pub fn status_index(code: u16) -> usize {
    ((code / 100) as usize).min(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histograms_report_no_value_not_zero() {
        let h = Hist::default();
        assert_eq!(h.quantile_ms(0.99), None);
        assert_eq!(h.summary().max_ms, None);
    }

    #[test]
    fn over_range_values_are_clamped_and_counted() {
        let mut h = Hist::default();
        for _ in 0..4 {
            h.record(Duration::from_millis(10));
        }
        h.record(Duration::from_millis(5_332));
        h.record(Duration::from_secs(7200));
        assert_eq!(h.len(), 6);
        assert_eq!(h.over_range, 1);
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((p99 - 3_600_000.0).abs() / 3_600_000.0 < 0.001, "{p99}");
        let max5 = {
            let mut g = Hist::default();
            (0..4).for_each(|_| g.record(Duration::from_millis(10)));
            g.record(Duration::from_millis(5_332));
            g.max_ms().unwrap()
        };
        assert!((max5 - 5332.0).abs() / 5332.0 < 0.001, "{max5}");
    }

    #[test]
    fn error_counts_split_transport_from_http() {
        let mut e = ErrorCounts::default();
        e.bump(ErrorClass::Timeout);
        e.bump(ErrorClass::Status5xx);
        e.bump(ErrorClass::ConnectRefused);
        assert_eq!((e.total(), e.transport()), (3, 2));
    }
}
