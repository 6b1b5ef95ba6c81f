//! The collector: every interval it swaps each recorder for an empty one,
//! adds the interval to the run totals, writes it to the HdrHistogram
//! interval log and keeps a small summary row for timelines.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use serde::{Deserialize, Serialize};

use super::Inconclusive;
use crate::metrics::{Hist, ProbeData, ProbeRecorder, StreamData, StreamRecorder};
use crate::progress::Live;
use crate::scenario::Scenario;
use crate::stability::{WindowLog, Windower};

/// Fewer generator-late sends than this never make a run inconclusive.
pub const MIN_LATE_SENDS: u64 = 10;

/// One interval of one probe or stream, for timelines.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct IntervalRow {
    /// End of the interval, seconds from run start.
    pub t_s: f64,
    pub name: String,
    pub kind: String,
    pub requests: u64,
    pub errors: u64,
    pub status_5xx: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub open_streams: Option<i64>,
    pub gap_max_ms: Option<f64>,
}

/// Everything a run measured, ready to be judged and written.
#[derive(Clone, Debug)]
pub struct Measured {
    pub started_wall: SystemTime,
    pub ended_wall: SystemTime,
    pub elapsed: Duration,
    pub interval: Duration,
    pub probes: Vec<ProbeData>,
    pub streams: Vec<StreamData>,
    pub intervals: Vec<IntervalRow>,
    pub hlog: Vec<u8>,
    pub inconclusive: Vec<Inconclusive>,
    /// Window verdicts, when the scenario judges stability.
    pub windows: Option<WindowLog>,
}

impl Measured {
    pub fn empty(sc: &Scenario, started_wall: SystemTime) -> Measured {
        Measured {
            started_wall,
            ended_wall: SystemTime::now(),
            elapsed: Duration::ZERO,
            interval: sc.settings.interval,
            probes: sc.probes.iter().map(|_| ProbeData::default()).collect(),
            streams: sc.streams.iter().map(|_| StreamData::default()).collect(),
            intervals: Vec::new(),
            hlog: Vec::new(),
            inconclusive: Vec::new(),
            windows: None,
        }
    }

    pub fn judge_generator(&mut self, bound: f64) {
        let late: u64 = self.probes.iter().map(|p| p.late_generator).sum();
        let total: u64 = self.probes.iter().map(|p| p.requests).sum();
        // A handful of late sends on a short run is scheduler noise, not a
        // generator that fell behind.
        if late >= MIN_LATE_SENDS && late as f64 / total as f64 > bound {
            self.inconclusive
                .push(Inconclusive::GeneratorBehind { late, total, bound });
        }
    }
}

#[derive(Clone)]
pub struct Collector(Arc<Mutex<State>>);

struct State {
    start: Instant,
    last_tick: Instant,
    started_wall: SystemTime,
    interval: Duration,
    probe_names: Vec<String>,
    stream_names: Vec<String>,
    probe_recs: Vec<Arc<ProbeRecorder>>,
    stream_recs: Vec<Arc<StreamRecorder>>,
    probes: Vec<ProbeData>,
    streams: Vec<StreamData>,
    /// Reused between intervals so the swap never allocates histograms.
    spare: ProbeData,
    rows: Vec<IntervalRow>,
    hlog: Vec<u8>,
    serializer: V2DeflateSerializer,
    live: Arc<Live>,
    windower: Option<Windower>,
}

/// hlog tags may not hold commas or spaces.
pub fn tag_name(name: &str, metric: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}.{metric}")
}

impl Collector {
    pub fn new(
        sc: &Scenario,
        started_wall: SystemTime,
        start: Instant,
        probe_recs: Vec<Arc<ProbeRecorder>>,
        stream_recs: Vec<Arc<StreamRecorder>>,
        live: Arc<Live>,
    ) -> Collector {
        let mut hlog = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "slogate {} interval log, scenario {}",
                env!("CARGO_PKG_VERSION"),
                sc.name
            ))
            .add_comment("values in microseconds; tags are <probe-or-stream>.<metric>")
            .with_start_time(started_wall)
            .with_base_time(started_wall)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut hlog, &mut serializer)
            .expect("writing to memory");
        Collector(Arc::new(Mutex::new(State {
            start,
            last_tick: start,
            started_wall,
            interval: sc.settings.interval,
            probe_names: sc.probes.iter().map(|p| p.name.clone()).collect(),
            stream_names: sc.streams.iter().map(|s| s.name.clone()).collect(),
            probes: sc.probes.iter().map(|_| ProbeData::default()).collect(),
            streams: sc.streams.iter().map(|_| StreamData::default()).collect(),
            probe_recs,
            stream_recs,
            spare: ProbeData::default(),
            rows: Vec::new(),
            hlog,
            serializer,
            live,
            windower: Windower::new(sc),
        })))
    }

    /// Returns true when the stability windows ask the run to stop.
    pub fn tick(&self, now: Instant) -> bool {
        self.0.lock().expect("collector lock").tick(now)
    }

    pub fn finish(&self, now: Instant) -> Measured {
        let mut st = self.0.lock().expect("collector lock");
        st.tick_data(now);
        let t_s = (now - st.start).as_secs_f64();
        let windows = st.windower.take().map(|w| w.finish(t_s));
        Measured {
            started_wall: st.started_wall,
            ended_wall: st.started_wall + (now - st.start),
            elapsed: now - st.start,
            interval: st.interval,
            probes: std::mem::take(&mut st.probes),
            streams: std::mem::take(&mut st.streams),
            intervals: std::mem::take(&mut st.rows),
            hlog: std::mem::take(&mut st.hlog),
            inconclusive: Vec::new(),
            windows,
        }
    }
}

impl State {
    /// A whole interval: its data, then the window it completes, if any.
    fn tick(&mut self, now: Instant) -> bool {
        self.tick_data(now);
        let t_s = (now - self.start).as_secs_f64();
        self.windower.as_mut().is_some_and(|w| w.end_interval(t_s))
    }

    fn tick_data(&mut self, now: Instant) {
        let from = self.last_tick - self.start;
        let len = now - self.last_tick;
        self.last_tick = now;
        let t_s = (now - self.start).as_secs_f64();
        let mut requests = 0;
        let mut errors = 0;
        let mut p95 = 0u64;
        for i in 0..self.probe_recs.len() {
            let d = {
                let mut cur = self.probe_recs[i].0.lock().expect("recorder lock");
                std::mem::replace(&mut *cur, std::mem::take(&mut self.spare))
            };
            requests += d.requests;
            errors += d.requests - d.ok;
            p95 = p95.max(d.latency.h.value_at_quantile(0.95));
            let name = self.probe_names[i].clone();
            self.rows.push(probe_row(t_s, &name, &d));
            self.write(&name, "latency", &d.latency, from, len);
            self.write(&name, "service", &d.service, from, len);
            self.write(&name, "lateness", &d.lateness, from, len);
            self.probes[i].add(&d);
            if let Some(w) = &mut self.windower {
                w.add_probe(i, &d);
            }
            self.spare = d;
            self.spare.reset();
        }
        let mut open = 0;
        for i in 0..self.stream_recs.len() {
            let d = self.stream_recs[i]
                .data
                .lock()
                .expect("recorder lock")
                .take();
            let now_open = self.stream_recs[i].open.load(Ordering::Relaxed);
            open += now_open;
            let name = self.stream_names[i].clone();
            self.rows.push(stream_row(t_s, &name, &d, now_open));
            for (tag, h) in StreamData::HIST_TAGS.iter().zip(d.hists()) {
                self.write(&name, tag, h, from, len);
            }
            self.streams[i].add(&d);
            if let Some(w) = &mut self.windower {
                w.add_stream(i, &d);
            }
        }
        self.live.update(requests, errors, p95, open);
    }

    fn write(&mut self, name: &str, metric: &str, h: &Hist, from: Duration, len: Duration) {
        if h.is_empty() {
            return;
        }
        let tag = tag_name(name, metric);
        let mut line = Vec::with_capacity(512);
        let mut w = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut line, &mut self.serializer)
            .expect("writing to memory");
        w.write_histogram(&h.h, from, len, Tag::new(&tag))
            .expect("serializing a valid histogram");
        // Each new writer repeats the divisor header: the log keeps only the first one.
        for l in line
            .split_inclusive(|b| *b == b'\n')
            .filter(|l| !l.starts_with(b"#"))
        {
            self.hlog.extend_from_slice(l);
        }
    }
}

fn probe_row(t_s: f64, name: &str, d: &ProbeData) -> IntervalRow {
    IntervalRow {
        t_s,
        name: name.into(),
        kind: "probe".into(),
        requests: d.requests,
        errors: d.requests - d.ok,
        status_5xx: d.status[5],
        p50_ms: d.latency.quantile_ms(0.5),
        p95_ms: d.latency.quantile_ms(0.95),
        p99_ms: d.latency.quantile_ms(0.99),
        max_ms: d.latency.max_ms(),
        ..Default::default()
    }
}

fn stream_row(t_s: f64, name: &str, d: &StreamData, open: i64) -> IntervalRow {
    IntervalRow {
        t_s,
        name: name.into(),
        kind: "stream".into(),
        requests: d.connects,
        errors: d.errors.total(),
        status_5xx: d.status[5],
        p50_ms: d.ttfb.quantile_ms(0.5),
        p95_ms: d.ttfb.quantile_ms(0.95),
        p99_ms: d.ttfb.quantile_ms(0.99),
        max_ms: d.ttfb.max_ms(),
        open_streams: Some(open),
        gap_max_ms: d.gap.max_ms(),
    }
}
