//! Runs a scenario: one worker loop per connection slot composed from a
//! pacer and a stop condition, stream tasks held alongside, and a collector
//! that swaps the recorders every interval. Returns what was measured.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Mutex as AsyncMutex};

use crate::metrics::{
    status_index, ErrorClass, ProbeData, ProbeRecorder, StreamData, StreamRecorder,
};
use crate::net::{Connector, Sender};
use crate::probe::json::JsonProbe;
use crate::probe::sse::SseProbe;
use crate::progress::{Live, Progress};
use crate::scenario::{HttpVersion, Load, Scenario};
use crate::schedule::{Pacer, Share, Slots};

mod collect;
mod wait;
pub use collect::{tag_name, IntervalRow, Measured, MIN_LATE_SENDS};

/// What the caller decides about a run besides the scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub quiet: bool,
    /// Check the target answers TCP before sending load.
    pub skip_preflight: bool,
    /// Agent `index` of `count`: run only this share of every schedule.
    pub agent: Option<(u32, u32)>,
    /// Hold the load until the wall clock reads this (after the preflight).
    pub start_at: Option<SystemTime>,
    pub evidence_dir: Option<PathBuf>,
}

/// Why a run cannot be trusted (exit code 3).
#[derive(Clone, Debug, PartialEq)]
pub enum Inconclusive {
    Unreachable(String),
    Interrupted,
    GeneratorBehind { late: u64, total: u64, bound: f64 },
}

impl std::fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inconclusive::Unreachable(why) => write!(f, "target unreachable at start: {why}"),
            Inconclusive::Interrupted => f.write_str("run interrupted before its end; evidence is partial"),
            Inconclusive::GeneratorBehind { late, total, bound } => write!(
                f,
                "the generator fell behind its own schedule: {late} of {total} sends late with a connection free (bound {:.2}%)",
                bound * 100.0
            ),
        }
    }
}

pub async fn run(sc: &Scenario, opts: &RunOptions) -> anyhow::Result<Measured> {
    let needs_tls = sc.base_url.starts_with("https");
    let connector = Connector::new(&sc.settings, needs_tls)?;
    crate::limits::raise_nofile(crate::limits::sockets_of(sc), true);
    // Interrupted before load starts: nothing measured, still evidence.
    let interrupted = || {
        let mut m = Measured::empty(sc, SystemTime::now());
        m.inconclusive.push(Inconclusive::Interrupted);
        Ok(m)
    };
    if !opts.skip_preflight {
        let checked = tokio::select! {
            r = preflight(sc, &connector) => r,
            _ = stop_signal() => return interrupted(),
        };
        if let Err(why) = checked {
            tracing::error!("{why}");
            let mut m = Measured::empty(sc, SystemTime::now());
            m.inconclusive.push(Inconclusive::Unreachable(why));
            return Ok(m);
        }
    }
    if let Some(at) = opts.start_at {
        tokio::select! {
            _ = crate::agent::wait_until(at) => {}
            _ = stop_signal() => return interrupted(),
        }
    }
    let started_wall = SystemTime::now();
    let (cancel_tx, cancel) = watch::channel(false);
    let start = Instant::now();
    let probe_recs: Vec<Arc<ProbeRecorder>> = sc.probes.iter().map(|_| Arc::default()).collect();
    let stream_recs: Vec<Arc<StreamRecorder>> = sc.streams.iter().map(|_| Arc::default()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut all_slots = Vec::with_capacity(sc.probes.len());
    let share = opts
        .agent
        .map_or(Share::WHOLE, |(index, count)| Share { index, count });
    for (spec, rec) in sc.probes.iter().zip(&probe_recs) {
        let probe = Arc::new(JsonProbe::new(spec, sc.settings.follow_redirects)?);
        let slots = Arc::new(Slots::shared(Pacer::new(&spec.load), share));
        all_slots.push(slots.clone());
        let think = match spec.load {
            Load::Closed { think, .. } => think,
            Load::Open { .. } => Duration::ZERO,
        };
        let h2 = connector.http() == HttpVersion::Http2;
        // An agent holds its share of the connections too, so all agents
        // together open what one process would (at least one each).
        let connections = (share.of(spec.connections.into()) as u32).max(1);
        let in_flight = (share.of(spec.max_in_flight.into()) as u32).max(1);
        let workers = if h2 {
            in_flight.max(connections)
        } else {
            connections
        };
        let pool: Vec<Arc<AsyncMutex<Option<Sender>>>> =
            (0..connections).map(|_| Arc::default()).collect();
        let closed_workers = match spec.load {
            Load::Closed { workers, .. } => Some(share.of(workers.into()) as u32),
            Load::Open { .. } => None,
        };
        let n = closed_workers.unwrap_or(workers);
        for i in 0..n {
            let w = Worker {
                probe: probe.clone(),
                slots: slots.clone(),
                rec: rec.clone(),
                connector: connector.clone(),
                slot: pool[i as usize % pool.len()].clone(),
                shared: h2,
                start,
                think,
                late_threshold: sc.settings.late_threshold,
                cancel: cancel.clone(),
            };
            tasks.spawn(w.run());
        }
    }
    for (spec, rec) in sc.streams.iter().zip(&stream_recs) {
        let sse_conn = connector.clone().with_read_buf(crate::probe::sse::READ_BUF);
        let spec = Arc::new(spec.clone());
        for k in 0..share.of(spec.connections.into()) {
            // Numbered in the whole population, so opens keep the whole pace.
            let i = share.global(k);
            let probe = SseProbe {
                spec: spec.clone(),
                connector: sse_conn.clone(),
                recorder: rec.clone(),
                tap: None,
                follow_redirects: sc.settings.follow_redirects,
            };
            let open_at = spec
                .connect_rate
                .map_or(Duration::ZERO, |r| Duration::from_secs_f64(i as f64 / r));
            let cancel = cancel.clone();
            tasks.spawn(async move {
                let mut c = cancel.clone();
                tokio::select! {
                    _ = tokio::time::sleep(open_at) => {}
                    _ = c.changed() => return,
                }
                probe.run(cancel).await;
            });
        }
    }
    let live = Arc::new(Live::default());
    let progress = Progress::start(sc, live.clone(), opts.quiet);
    let collector = collect::Collector::new(
        sc,
        started_wall,
        start,
        probe_recs.clone(),
        stream_recs,
        live,
    );
    let interrupted = drive(
        &mut tasks,
        collector.clone(),
        sc.settings.interval,
        cancel_tx,
    )
    .await;
    progress.finish();
    if !interrupted {
        record_skipped(&all_slots, &probe_recs);
    }
    let mut m = collector.finish(Instant::now());
    if interrupted {
        m.inconclusive.push(Inconclusive::Interrupted);
    }
    m.judge_generator(sc.settings.max_late_ratio);
    Ok(m)
}

/// Ticks the collector until every task is done; Ctrl-C stops the tasks
/// early and the run still ends with its evidence.
async fn drive(
    tasks: &mut tokio::task::JoinSet<()>,
    collector: collect::Collector,
    interval: Duration,
    cancel: watch::Sender<bool>,
) -> bool {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interrupted = false;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if collector.tick(Instant::now()) {
                    tracing::warn!("stopping early: an SLO failed too many windows in a row");
                    let _ = cancel.send(true);
                }
            }
            _ = &mut stop, if !interrupted => {
                tracing::warn!("interrupted: stopping load and writing partial evidence");
                interrupted = true;
                let _ = cancel.send(true);
            }
            j = tasks.join_next() => match j {
                None => break,
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Some(_) => {}
            },
        }
    }
    interrupted
}

/// Starts the schedule ended before they could be sent count as requests
/// that failed: the target kept every connection busy until the end.
fn record_skipped(slots: &[Arc<Slots>], recs: &[Arc<ProbeRecorder>]) {
    for (s, rec) in slots.iter().zip(recs) {
        let n = s.skipped();
        if n > 0 {
            let mut d = rec.0.lock().expect("recorder lock");
            d.requests += n;
            let had = d.errors.get(ErrorClass::Skipped);
            d.errors.set(ErrorClass::Skipped, had + n);
        }
    }
}

/// Ctrl-C, or SIGTERM (what CI runners and Kubernetes send before killing).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A TCP connect to the target, nothing sent: tells "down from the start"
/// (inconclusive) apart from "failing under load" (a breach).
async fn preflight(sc: &Scenario, connector: &Connector) -> Result<(), String> {
    let uri: http::Uri = sc.base_url.parse().map_err(|e| format!("{e}"))?;
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let _ = connector;
    match tokio::time::timeout(
        sc.settings.connect_timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{host}:{port}: {e}")),
        Err(_) => Err(format!(
            "{host}:{port}: no TCP connection within {:?}",
            sc.settings.connect_timeout
        )),
    }
}

struct Worker {
    probe: Arc<JsonProbe>,
    slots: Arc<Slots>,
    rec: Arc<ProbeRecorder>,
    connector: Connector,
    slot: Arc<AsyncMutex<Option<Sender>>>,
    /// HTTP/2: workers share the slot's connection instead of owning it.
    shared: bool,
    start: Instant,
    think: Duration,
    late_threshold: Duration,
    cancel: watch::Receiver<bool>,
}

impl Worker {
    /// Runs until the schedule ends or the run is cancelled: an interrupted
    /// run stops at once and requests in flight are not recorded. One wait
    /// on the cancel signal spans the whole loop rather than one per request.
    async fn run(self) {
        let mut cancel = self.cancel.clone();
        if *cancel.borrow() {
            return;
        }
        tokio::select! {
            _ = self.send_loop() => {}
            _ = cancel.changed() => {}
        }
    }

    async fn send_loop(&self) {
        let mut conn: Option<Sender> = None;
        let mut now = Instant::now();
        let mut free_since = now;
        let mut deadline = wait::Deadline::new(self.probe.timeout);
        while let Some((_, due)) = self.slots.claim(now - self.start) {
            let intended = match due {
                Some(d) => self.start + d,
                None => free_since + self.think,
            };
            // Due before this worker was free: every connection was busy.
            let backpressure = intended < free_since;
            let sent = if intended > now {
                wait::until(intended).await;
                Instant::now()
            } else {
                now
            };
            let outcome = self.exchange(&mut conn, &mut deadline, sent).await;
            now = Instant::now();
            self.record(intended, sent, now, backpressure, outcome);
            free_since = now;
        }
    }

    async fn exchange(
        &self,
        conn: &mut Option<Sender>,
        deadline: &mut wait::Deadline,
        sent: Instant,
    ) -> (Option<u16>, Result<(), ErrorClass>) {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            *conn = match self.connect().await {
                Ok(c) => Some(c),
                Err(class) => return (None, Err(class)),
            };
        }
        let c = conn.as_mut().expect("connected above");
        let x = self.probe.exchange(c, deadline.arm(sent)).await;
        if x.broken {
            *conn = None;
            if self.shared {
                *self.slot.lock().await = None;
            }
        }
        (x.status, x.result)
    }

    async fn connect(&self) -> Result<Sender, ErrorClass> {
        let mut slot = self.slot.lock().await;
        if self.shared {
            if let Some(s) = slot
                .as_ref()
                .filter(|s| !s.is_closed())
                .and_then(|s| s.clone_h2())
            {
                return Ok(s);
            }
        }
        let uri = self.probe.uri();
        match tokio::time::timeout(self.probe.timeout, self.connector.connect(uri)).await {
            Ok(Ok(s)) => {
                if let Some(c) = s.clone_h2() {
                    *slot = Some(c);
                }
                Ok(s)
            }
            Ok(Err(e)) => {
                tracing::debug!("connect failed: {e}");
                Err(e.class)
            }
            Err(_) => Err(ErrorClass::ConnectTimeout),
        }
    }

    fn record(
        &self,
        intended: Instant,
        sent: Instant,
        done: Instant,
        backpressure: bool,
        (status, result): (Option<u16>, Result<(), ErrorClass>),
    ) {
        let lateness = sent.saturating_duration_since(intended);
        let mut d = self.rec.0.lock().expect("recorder lock");
        let d: &mut ProbeData = &mut d;
        d.requests += 1;
        d.lateness.record(lateness);
        if lateness > self.late_threshold {
            if backpressure {
                d.late_backpressure += 1;
            } else {
                d.late_generator += 1;
            }
        }
        if let Some(s) = status {
            d.status[status_index(s)] += 1;
        }
        match result {
            Ok(()) => {
                d.ok += 1;
                d.latency.record(done - intended);
                d.service.record(done - sent);
            }
            Err(class) => d.errors.bump(class),
        }
    }
}

/// Stream data merged over a run, per stream spec.
pub type StreamTotals = Vec<StreamData>;
