//! The embedded reference target (`slogate serve`): a small admin API with
//! JSON routes and an SSE job stream, whose latency, errors, stalls and
//! heartbeats are knobs, so that every measurement has a known answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, Infallible>;

/// How heartbeats look on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HeartbeatStyle {
    /// `: hb` comment lines.
    Comment,
    /// `event: ping` with no data: dispatched by no spec parser (nchan's default).
    Event,
    /// `event: heartbeat` with empty data.
    Data,
}

#[derive(Clone, Debug)]
pub struct TargetConfig {
    /// Added to every JSON answer, plus up to `jitter` more.
    pub latency: Duration,
    pub jitter: Duration,
    /// Per route name (`healthz`, `ready`, `config`, `flags`) overrides of `latency`.
    pub route_latency: HashMap<String, Duration>,
    /// A scripted base latency for every JSON route: from each `(at, latency)`
    /// on (time since server start), until the next entry; before the
    /// first, `latency` / `route_latency` apply.
    pub latency_schedule: Vec<(Duration, Duration)>,
    /// Share of JSON answers that are 503, spread evenly (deterministic).
    pub error_rate: f64,
    /// Required `Authorization: Bearer` value; `None` accepts anything.
    pub token: Option<String>,
    /// JSON answers due in [at, at+for) from server start are held until at+for.
    pub stall_at: Option<Duration>,
    pub stall_for: Duration,
    /// A capacity of `workers / service_time`: each request holds a worker
    /// for `service_time`, first come first served.
    pub workers: Option<usize>,
    pub service_time: Duration,
    pub header_delay: Duration,
    pub heartbeat: Duration,
    pub heartbeat_style: HeartbeatStyle,
    /// A job event every this often (zero: none).
    pub event_interval: Duration,
    /// Heartbeats and events stop `stream_stall_after` into a stream, for `stream_stall_for`.
    pub stream_stall_after: Option<Duration>,
    pub stream_stall_for: Duration,
    /// The server ends each stream after this long (to exercise reconnects).
    pub stream_close_after: Option<Duration>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            latency: Duration::from_millis(2),
            jitter: Duration::from_millis(3),
            route_latency: HashMap::new(),
            latency_schedule: Vec::new(),
            error_rate: 0.0,
            token: None,
            stall_at: None,
            stall_for: Duration::ZERO,
            workers: None,
            service_time: Duration::ZERO,
            header_delay: Duration::ZERO,
            heartbeat: Duration::from_secs(1),
            heartbeat_style: HeartbeatStyle::Comment,
            event_interval: Duration::from_secs(2),
            stream_stall_after: None,
            stream_stall_for: Duration::ZERO,
            stream_close_after: None,
        }
    }
}

struct State {
    cfg: TargetConfig,
    started: Instant,
    requests: AtomicU64,
    /// When each worker is next free. Booked in advance on the clock rather
    /// than by sleeping per request, so timer lateness never lowers the
    /// capacity below `workers / service_time`.
    workers: Option<std::sync::Mutex<Vec<Instant>>>,
    served: Arc<Served>,
}

/// Requests answered, by HTTP version: tells a test which protocol was spoken.
#[derive(Debug, Default)]
pub struct Served {
    pub http1: AtomicU64,
    pub http2: AtomicU64,
}

/// A running target; dropping the handle does not stop it, `stop` does.
pub struct Running {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    scheme: &'static str,
    pub served: Arc<Served>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("{}://{}/api", self.scheme, self.addr)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

pub async fn start(cfg: TargetConfig, addr: SocketAddr) -> std::io::Result<Running> {
    serve(cfg, addr, None).await
}

/// The same target over TLS (HTTPS, h2 by ALPN when the config offers it),
/// for testing certificate handling against a known server.
pub async fn start_tls(
    cfg: TargetConfig,
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<Running> {
    serve(cfg, addr, Some(tokio_rustls::TlsAcceptor::from(tls))).await
}

async fn serve(
    cfg: TargetConfig,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<Running> {
    crate::limits::raise_nofile(crate::limits::TARGET_WISH, false);
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        workers: cfg
            .workers
            .map(|n| std::sync::Mutex::new(vec![Instant::now(); n.max(1)])),
        cfg,
        started: Instant::now(),
        requests: AtomicU64::new(0),
        served: Arc::default(),
    });
    let served = state.served.clone();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = stopped.changed() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(connection(state.clone(), tcp, tls.clone()));
        }
    });
    Ok(Running {
        addr,
        stop,
        scheme,
        served,
    })
}

async fn connection(
    state: Arc<State>,
    tcp: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let svc = service_fn(move |req| handle(state.clone(), req));
    let server = auto::Builder::new(TokioExecutor::new());
    let _ = match tls {
        None => server.serve_connection(TokioIo::new(tcp), svc).await,
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(stream) => server.serve_connection(TokioIo::new(stream), svc).await,
            Err(e) => {
                tracing::debug!("TLS handshake failed: {e}");
                return;
            }
        },
    };
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let arrived = Instant::now();
    let by_version = match req.version() {
        http::Version::HTTP_2 => &st.served.http2,
        _ => &st.served.http1,
    };
    by_version.fetch_add(1, Ordering::Relaxed);
    if let Some(token) = &st.cfg.token {
        let want = format!("Bearer {token}");
        if req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(want.as_str())
        {
            return Ok(json(
                StatusCode::UNAUTHORIZED,
                r#"{"error":"unauthorized"}"#.into(),
            ));
        }
    }
    let path = req.uri().path().to_string();
    let route = match (req.method(), path.as_str()) {
        (&Method::GET, "/api/jobs/stream") => return Ok(stream(st, &req).await),
        // A same-origin redirect, for the redirect policy.
        (&Method::GET, "/api/moved") => return Ok(moved("/api/healthz")),
        (&Method::GET, "/api/healthz") => "healthz",
        (&Method::GET, "/api/ready") => "ready",
        (&Method::GET, "/api/config/effective") => "config",
        (&Method::POST, p) if p.starts_with("/api/flags/") && p.len() > 11 => "flags",
        _ => {
            return Ok(json(
                StatusCode::NOT_FOUND,
                r#"{"error":"not found"}"#.into(),
            ))
        }
    };
    let n = st.requests.fetch_add(1, Ordering::Relaxed);
    let served = book_worker(&st, arrived);
    if served > Instant::now() {
        tokio::time::sleep_until(served.into()).await;
    }
    let base = scheduled_latency(&st.cfg.latency_schedule, arrived - st.started)
        .or_else(|| st.cfg.route_latency.get(route).copied())
        .unwrap_or(st.cfg.latency);
    let jitter = if st.cfg.jitter.is_zero() {
        Duration::ZERO
    } else {
        st.cfg.jitter.mul_f64(rand::random::<f64>())
    };
    let mut due = arrived + base + jitter;
    if let Some(at) = st.cfg.stall_at {
        let (from, to) = (st.started + at, st.started + at + st.cfg.stall_for);
        if due >= from && due < to {
            due = to;
        }
    }
    tokio::time::sleep_until(due.into()).await;
    if fails(n, st.cfg.error_rate) {
        return Ok(json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"injected"}"#.into(),
        ));
    }
    let body = match route {
        "healthz" => r#"{"status":"ok"}"#.to_string(),
        "ready" => r#"{"ready":true,"checks":{"db":"ok","queue":"ok"}}"#.to_string(),
        "config" => {
            r#"{"version":"1.4.2","features":{"sse":true,"flags":12},"limits":{"workers":8}}"#
                .to_string()
        }
        _ => {
            let name = path.trim_start_matches("/api/flags/");
            let _ = req.into_body().collect().await;
            format!(
                r#"{{"flag":"{}","enabled":true}}"#,
                name.replace(['"', '\\'], "")
            )
        }
    };
    Ok(json(StatusCode::OK, body))
}

/// When this request's service ends: on the earliest free worker when
/// workers are limited, else `service_time` after arrival.
fn book_worker(st: &State, arrived: Instant) -> Instant {
    let Some(w) = &st.workers else {
        return arrived + st.cfg.service_time;
    };
    let mut free = w.lock().expect("worker book");
    let i = (0..free.len())
        .min_by_key(|i| free[*i])
        .expect("at least one worker");
    let done = free[i].max(arrived) + st.cfg.service_time;
    free[i] = done;
    done
}

/// The latency of the last schedule entry that has begun at `t`.
fn scheduled_latency(schedule: &[(Duration, Duration)], t: Duration) -> Option<Duration> {
    schedule
        .iter()
        .filter(|(at, _)| *at <= t)
        .max_by_key(|(at, _)| *at)
        .map(|(_, l)| *l)
}

/// Errors spread evenly: request n fails when floor((n+1)r) > floor(nr).
fn fails(n: u64, rate: f64) -> bool {
    rate > 0.0 && ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor()
}

fn moved(to: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(http::header::LOCATION, to)
        .body(Full::new(Bytes::new()).boxed())
        .expect("static parts")
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("static parts")
}

async fn stream(st: Arc<State>, req: &Request<Incoming>) -> Response<Body> {
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if !st.cfg.header_delay.is_zero() {
        tokio::time::sleep(st.cfg.header_delay).await;
    }
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    tokio::spawn(feed(st.cfg.clone(), resume.map_or(1, |n| n + 1), tx));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(StreamBody::new(tokio_stream(rx)).boxed())
        .expect("static parts")
}

fn tokio_stream(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Writes the stream's timeline: a heartbeat every interval, a job event
/// every event interval, nothing during a stall, an end if configured.
async fn feed(
    cfg: TargetConfig,
    mut next_id: u64,
    tx: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
) {
    let t0 = tokio::time::Instant::now();
    let send = |b: String| tx.send(Ok(Frame::data(Bytes::from(b))));
    if send(": connected\n\n".into()).await.is_err() {
        return;
    }
    let hb = cfg.heartbeat.max(Duration::from_millis(1));
    let ev = cfg.event_interval;
    let (mut next_hb, mut next_ev) = (hb, if ev.is_zero() { Duration::MAX } else { ev });
    let stalled = |t: Duration| match cfg.stream_stall_after {
        Some(a) => t >= a && t < a + cfg.stream_stall_for,
        None => false,
    };
    loop {
        let at = next_hb.min(next_ev);
        if cfg.stream_close_after.is_some_and(|c| at >= c) {
            tokio::time::sleep_until(t0 + cfg.stream_close_after.unwrap_or_default()).await;
            return;
        }
        tokio::time::sleep_until(t0 + at).await;
        let mut out = String::new();
        if at == next_ev {
            if !stalled(at) {
                out.push_str(&format!("id: {next_id}\nevent: job\ndata: {{\"job\":{next_id},\"state\":\"running\"}}\n\n"));
                next_id += 1;
            }
            next_ev += ev;
        }
        if at == next_hb {
            if !stalled(at) {
                out.push_str(match cfg.heartbeat_style {
                    HeartbeatStyle::Comment => ": hb\n\n",
                    HeartbeatStyle::Event => "event: ping\n\n",
                    HeartbeatStyle::Data => "event: heartbeat\ndata:\n\n",
                });
            }
            next_hb += hb;
        }
        if !out.is_empty() && send(out).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fails, scheduled_latency};
    use std::time::Duration;

    #[test]
    fn the_latency_schedule_follows_the_latest_entry_begun() {
        let ms = Duration::from_millis;
        let s = [(ms(1000), ms(80)), (ms(0), ms(1)), (ms(1500), ms(2))];
        assert_eq!(scheduled_latency(&s, ms(999)), Some(ms(1)));
        assert_eq!(scheduled_latency(&s, ms(1200)), Some(ms(80)));
        assert_eq!(scheduled_latency(&s, ms(9000)), Some(ms(2)));
        assert_eq!(scheduled_latency(&[(ms(5), ms(1))], ms(1)), None);
    }

    #[test]
    fn injected_errors_are_spread_evenly() {
        let n = (0..1000).filter(|i| fails(*i, 0.05)).count();
        assert_eq!(n, 50);
        assert_eq!((0..1000).filter(|i| fails(*i, 0.0)).count(), 0);
        assert_eq!((0..20).filter(|i| fails(*i, 0.05)).count(), 1);
    }
}
