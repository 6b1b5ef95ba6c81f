//! The metering transport handed to eventsource-client: one new connection
//! per (re)connect, response headers and every body chunk timestamped, an
//! idle timer (a silent but open stream must not hang the run, case B11) and
//! a size cap on lines and events (a hostile stream must not grow memory).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use launchdarkly_sdk_transport::{ByteStream, HttpTransport, ResponseFuture, TransportError};
use sync_wrapper::{SyncFuture, SyncStream};

use super::liveness::{Scanner, Shared};
use crate::metrics::ErrorClass;
use crate::net::{classify_hyper, Connector, Sender};

#[derive(Clone)]
pub struct Metered {
    connector: Connector,
    shared: Arc<Shared>,
    idle: Duration,
    origin: Option<(Option<http::uri::Scheme>, Option<http::uri::Authority>)>,
}

impl Metered {
    pub fn new(connector: Connector, shared: Arc<Shared>, idle: Duration) -> Metered {
        Metered {
            connector,
            shared,
            idle,
            origin: None,
        }
    }

    /// Refuses requests to any other scheme and authority than `url`'s.
    pub fn same_origin_as(mut self, url: &http::Uri) -> Metered {
        self.origin = Some((url.scheme().cloned(), url.authority().cloned()));
        self
    }

    fn foreign(&self, uri: &http::Uri) -> bool {
        self.origin
            .as_ref()
            .is_some_and(|(s, a)| s.as_ref() != uri.scheme() || a.as_ref() != uri.authority())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(String);

fn io_err(kind: std::io::ErrorKind, msg: &str) -> TransportError {
    TransportError::new(std::io::Error::new(kind, msg.to_string()))
}

impl HttpTransport for Metered {
    fn request(&self, req: http::Request<Option<Bytes>>) -> ResponseFuture {
        let this = self.clone();
        Box::pin(SyncFuture::new(async move { this.open(req).await }))
    }
}

impl Metered {
    async fn open(
        self,
        req: http::Request<Option<Bytes>>,
    ) -> Result<http::Response<ByteStream>, TransportError> {
        if self.foreign(req.uri()) {
            self.shared
                .protocol_error("redirect to another origin not followed");
            return Err(TransportError::new(Failure(
                "redirect to another origin not followed".into(),
            )));
        }
        let t0 = Instant::now();
        self.shared.on_attempt(t0);
        let mut conn = match self.connector.connect(req.uri()).await {
            Ok(c) => c,
            Err(e) => {
                self.shared.on_connect_error(e.class);
                return Err(TransportError::new(Failure(e.to_string())));
            }
        };
        let req = to_hyper(req, conn.is_h2());
        // Waiting for headers is bounded by the idle timeout too.
        let resp = match tokio::time::timeout(self.idle, conn.send(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.shared.on_connect_error(classify_hyper(&e));
                return Err(TransportError::new(e));
            }
            Err(_) => {
                self.shared.on_connect_error(ErrorClass::Timeout);
                return Err(io_err(std::io::ErrorKind::TimedOut, "no response headers"));
            }
        };
        let event_stream = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(super::is_event_stream);
        self.shared
            .on_headers(Instant::now(), resp.status().as_u16(), event_stream);
        let (parts, body) = resp.into_parts();
        let metered = MeteredBody {
            body,
            _conn: conn,
            scanner: Scanner::new(self.shared.cap),
            shared: self.shared.clone(),
            idle: self.idle,
            timer: Box::pin(tokio::time::sleep(self.idle)),
            done: false,
        };
        let stream: ByteStream = Box::pin(SyncStream::new(metered));
        Ok(http::Response::from_parts(parts, stream))
    }
}

fn to_hyper(req: http::Request<Option<Bytes>>, h2: bool) -> http::Request<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    if !h2 {
        if let Some(a) = parts.uri.authority().cloned() {
            parts
                .headers
                .entry(http::header::HOST)
                .or_insert(a.as_str().parse().expect("authority is a valid header"));
        }
        let pq = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        parts.uri = pq.parse().expect("path of a valid URI");
    }
    http::Request::from_parts(parts, Full::new(body.unwrap_or_default()))
}

struct MeteredBody {
    body: Incoming,
    /// Held so the connection lives exactly as long as its body.
    _conn: Sender,
    scanner: Scanner,
    shared: Arc<Shared>,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl MeteredBody {
    fn end(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.on_body_end(Instant::now());
        }
    }

    /// The cap tripped: this connection ends as a protocol error, before
    /// eventsource-client buffers more of the line.
    fn oversize(&mut self) -> Poll<Option<Result<Bytes, TransportError>>> {
        let msg = format!(
            "a line or event exceeded max_event_size ({} bytes)",
            self.shared.cap
        );
        tracing::warn!("{msg}");
        self.shared.with(|d| {
            d.oversize += 1;
            d.protocol_error(&msg);
        });
        self.end();
        Poll::Ready(Some(Err(TransportError::new(Failure(msg)))))
    }

    fn fail(
        &mut self,
        class: ErrorClass,
        err: TransportError,
    ) -> Poll<Option<Result<Bytes, TransportError>>> {
        self.shared.with(|d| d.errors.bump(class));
        self.end();
        Poll::Ready(Some(Err(err)))
    }
}

impl Stream for MeteredBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let now = Instant::now();
                    this.timer
                        .as_mut()
                        .reset(tokio::time::Instant::from_std(now + this.idle));
                    match this.scanner.feed(&data) {
                        Ok(ends) => this.shared.on_chunk(now, ends),
                        Err(_) => return this.oversize(),
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Poll::Ready(Some(Err(e))) => {
                    let class = classify_hyper(&e);
                    return this.fail(class, TransportError::new(e));
                }
                Poll::Ready(None) => {
                    this.end();
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        let err = io_err(std::io::ErrorKind::TimedOut, "stream idle timeout");
                        return this.fail(ErrorClass::Timeout, err);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.end();
    }
}

use std::future::Future as _;
