//! One SSE stream, held for a time: eventsource-client parses events and
//! reconnects; a metering transport underneath timestamps response headers
//! and every body chunk, so liveness is measured at the byte level.
//!
//! Why the byte level: a data-less `event: ping` block (nchan's default
//! keep-alive) or a bare blank line is dispatched by no spec-following
//! parser, yet it proves the stream is alive. The transport finds message
//! boundaries (a comment line, or a blank line that ends a block or stands
//! alone) and the heartbeat gap is the time between them. Event counts, data
//! events and ids come from eventsource-client's items.

mod liveness;
mod transport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_client::{Client, ClientBuilder, Error as EsError, ReconnectOptions, SSE};
use futures_util::StreamExt;

use crate::metrics::StreamRecorder;
use crate::net::Connector;
use crate::scenario::StreamSpec;
pub use liveness::Scanner;
use liveness::Shared;
use transport::Metered;

/// The read buffer per stream connection. Heartbeats are tens of bytes;
/// at tens of thousands of streams hyper's default 8 KiB buffer would be
/// most of the memory per stream (see `ci/bench/sse-scale.sh`).
pub const READ_BUF: usize = 1024;

/// Everything one stream needs. The spec is shared by every stream of it:
/// at tens of thousands of streams a copy each would cost real memory.
pub struct SseProbe {
    pub spec: Arc<StreamSpec>,
    pub connector: Connector,
    pub recorder: Arc<StreamRecorder>,
    /// Where dispatched events are copied, for tests and tools that need the
    /// payloads; `None` in a load run.
    pub tap: Option<Tap>,
    /// Same-origin redirects only, as for JSON probes; a redirect elsewhere
    /// would carry the bearer token to a host the scenario never named.
    pub follow_redirects: bool,
}

/// One dispatched event as eventsource-client parsed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Since the stream (not the connection) started.
    pub at: Duration,
    /// When its bytes arrived.
    pub arrived: Instant,
    pub event_type: String,
    pub data: String,
    pub id: Option<String>,
}

pub type Tap = tokio::sync::mpsc::UnboundedSender<Seen>;

/// Why a stream stopped before its hold ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    HoldOver,
    Cancelled,
    /// The server answered 204: "do not reconnect".
    ServerClosed,
    /// Not an event stream (e.g. an HTML login page): reconnecting cannot help.
    NotSse,
    /// The client gave up (reconnects off, or the first connect failed).
    GaveUp,
}

impl SseProbe {
    /// Opens the stream and reads it until `hold` has passed or `cancel`.
    pub async fn run(&self, cancel: tokio::sync::watch::Receiver<bool>) -> Ended {
        let started = Instant::now();
        let shared = Arc::new(Shared::new(
            started,
            self.recorder.clone(),
            self.spec.max_event_size,
        ));
        let transport = Metered::new(
            self.connector.clone(),
            shared.clone(),
            self.spec.idle_timeout,
        )
        .same_origin_as(&self.spec.url);
        let client = match self.build_client(transport) {
            Ok(c) => c,
            Err(_) => return Ended::GaveUp,
        };
        self.recorder
            .open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let deadline = tokio::time::Instant::from_std(started + self.spec.hold);
        let ended = self.read(client, &shared, deadline, cancel).await;
        self.recorder
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        // A stream that died early stays silent for the rest of its hold:
        // that silence is a gap too, or a dead stream would pass.
        let now = Instant::now();
        let end = match ended {
            Ended::Cancelled => now,
            _ => now.max(started + self.spec.hold),
        };
        shared.finish(end);
        ended
    }

    fn build_client(&self, transport: Metered) -> Result<impl Client, EsError> {
        let mut b = ClientBuilder::for_url(&self.spec.url.to_string())?;
        for (k, v) in &self.spec.headers {
            b = b.header(k, v)?;
        }
        if let Some(id) = &self.spec.last_event_id {
            b = b.last_event_id(id.clone());
        }
        let opts = ReconnectOptions::reconnect(self.spec.reconnect)
            .retry_initial(false)
            .delay(self.spec.reconnect_delay)
            .backoff_factor(2)
            .delay_max(self.spec.reconnect_delay_max)
            .build();
        let redirects = if self.follow_redirects { 5 } else { 0 };
        Ok(b.reconnect(opts)
            .redirect_limit(redirects)
            .build_with_transport(transport))
    }

    async fn read(
        &self,
        client: impl Client,
        shared: &Shared,
        deadline: tokio::time::Instant,
        mut cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Ended {
        let mut stream = client.stream();
        // The stream holds its own copy of the client's settings.
        drop(client);
        let mut ids = IdTracker::default();
        let started = Instant::now();
        loop {
            // The hold's end is recorded before the stream is dropped, so
            // that the harness's own close does not read as a disconnect.
            let item = tokio::select! {
                biased;
                _ = cancel.changed() => {
                    shared.finish(Instant::now());
                    return Ended::Cancelled;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    shared.finish(Instant::now());
                    return Ended::HoldOver;
                }
                item = stream.next() => item,
            };
            let Some(item) = item else {
                return Ended::GaveUp;
            };
            let now = Instant::now();
            match item {
                Ok(SSE::Connected(c)) => {
                    if let Some(end) = self.on_connected(shared, c.response()) {
                        return end;
                    }
                    ids.reconnected();
                }
                Ok(SSE::Comment(_)) => shared.with(|d| d.comments += 1),
                Ok(SSE::Event(ev)) => {
                    let is_data = self.spec.data_events.is_empty()
                        || self.spec.data_events.contains(&ev.event_type);
                    let arrived = shared.on_event(now, is_data);
                    if let Some((lost, repeated)) = ids.see(ev.id.as_deref()) {
                        shared.with(|d| {
                            d.ids_lost += lost;
                            d.ids_repeated += repeated;
                        });
                    }
                    if let Some(tap) = &self.tap {
                        let _ = tap.send(Seen {
                            at: arrived.saturating_duration_since(started),
                            arrived,
                            event_type: ev.event_type,
                            data: ev.data,
                            id: ev.id,
                        });
                    }
                }
                Err(e) => self.on_error(shared, &e),
            }
        }
    }

    /// eventsource-client accepts any 2xx; a 204 ("stop reconnecting") and
    /// a body that is not an event stream end the stream here instead.
    fn on_connected(&self, shared: &Shared, resp: &eventsource_client::Response) -> Option<Ended> {
        if resp.status() == 204 {
            tracing::info!(stream = %self.spec.name, "closed by server (204)");
            shared.with(|d| d.closed_204 += 1);
            return Some(Ended::ServerClosed);
        }
        let ct = resp
            .get_header_value("content-type")
            .ok()
            .flatten()
            .unwrap_or("");
        if is_event_stream(ct) {
            return None;
        }
        let essence: String = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .take(64)
            .collect();
        let reason = if essence.is_empty() {
            "missing Content-Type".to_string()
        } else {
            format!("unexpected Content-Type {essence}")
        };
        tracing::warn!(stream = %self.spec.name, "not an event stream: {reason}");
        shared.protocol_error(&reason);
        Some(Ended::NotSse)
    }

    fn on_error(&self, shared: &Shared, e: &EsError) {
        let reason = match e {
            // The transport already counted statuses, connect failures and timeouts.
            EsError::UnexpectedResponse(r, _) => {
                tracing::debug!(stream = %self.spec.name, status = r.status(), "stream refused");
                return;
            }
            EsError::Transport(_) | EsError::TimedOut => return,
            EsError::Eof | EsError::UnexpectedEof => {
                tracing::debug!(stream = %self.spec.name, "server ended the stream");
                return;
            }
            EsError::InvalidLine(l) => {
                // eventsource-client checks UTF-8 per line (the spec asks for
                // U+FFFD instead): the body is dropped and reconnected (B08 c).
                let reason = if l.contains("Utf8Error") {
                    "invalid UTF-8 from server"
                } else {
                    "malformed SSE line"
                };
                tracing::warn!(stream = %self.spec.name, "{reason}: {l}");
                reason
            }
            EsError::MaxRedirectLimitReached(0) => {
                // The 3xx status is already counted; following was not asked for.
                tracing::warn!(stream = %self.spec.name, "redirected; follow_redirects is off");
                return;
            }
            EsError::MaxRedirectLimitReached(_) => "too many redirects",
            other => {
                tracing::warn!(stream = %self.spec.name, "stream error: {other}");
                "malformed stream"
            }
        };
        shared.protocol_error(reason);
    }
}

/// `text/event-stream`, ignoring parameters and case (case B14).
pub fn is_event_stream(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/event-stream")
}

/// Counts event ids lost or repeated across a reconnect, where ids end in
/// a number (`42`, `job:42`) or are nchan's `<unix-seconds>:<n>`.
#[derive(Default)]
struct IdTracker {
    last: Option<IdPos>,
    after_reconnect: bool,
}

/// Where an id sits in the stream. nchan's `1733300000:7` is the 8th
/// message of that second, not message 1733300000007 nor message 7: its `n`
/// restarts every second, so only ids of one second form a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IdPos {
    /// The unix second of an nchan id; 0 for a plain sequence number.
    second: u64,
    seq: u64,
}

impl IdPos {
    fn parse(id: &str) -> Option<IdPos> {
        let (head, tail) = match id.rsplit_once(':') {
            Some((h, t)) => (Some(h.trim()), t),
            None => (None, id),
        };
        let seq = tail.trim().parse().ok()?;
        let second = head.and_then(|h| h.parse().ok()).unwrap_or(0);
        Some(IdPos { second, seq })
    }
}

impl IdTracker {
    fn reconnected(&mut self) {
        self.after_reconnect = self.last.is_some();
    }

    /// Returns (lost, repeated) for the first id seen after a reconnect.
    /// Across two nchan seconds the order is known but not how many ids
    /// lay between: a later id counts no loss, an earlier one counts one
    /// repeat (a lower bound).
    fn see(&mut self, id: Option<&str>) -> Option<(u64, u64)> {
        let pos = IdPos::parse(id?)?;
        let prev = self.last.replace(pos);
        if !std::mem::take(&mut self.after_reconnect) {
            return None;
        }
        let prev = prev?;
        let (n, p) = (pos.seq, prev.seq);
        Some(if pos.second != prev.second {
            (0, u64::from(pos < prev))
        } else if n > p + 1 {
            (n - p - 1, 0)
        } else if n <= p {
            (0, p - n + 1)
        } else {
            (0, 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_ignores_case_and_parameters() {
        assert!(is_event_stream("text/event-stream"));
        assert!(is_event_stream("Text/Event-Stream;charset=UTF-8"));
        assert!(is_event_stream("text/event-stream; charset=utf-8"));
        assert!(!is_event_stream("text/html; charset=utf-8"));
        assert!(!is_event_stream(""));
    }

    #[test]
    fn ids_lost_and_repeated_across_reconnects() {
        let mut t = IdTracker::default();
        assert_eq!(t.see(Some("1")), None);
        assert_eq!(t.see(Some("2")), None);
        t.reconnected();
        assert_eq!(t.see(Some("5")), Some((2, 0)));
        t.reconnected();
        assert_eq!(t.see(Some("4")), Some((0, 2)));
        t.reconnected();
        assert_eq!(t.see(Some("1700000000:5")), Some((0, 0)));
        assert_eq!(t.see(None), None);
    }

    #[test]
    fn nchan_ids_count_per_second_not_as_one_number() {
        let mut t = IdTracker::default();
        assert_eq!(t.see(Some("1700000000:0")), None);
        // The next message in a later second: nothing lost, nothing repeated.
        t.reconnected();
        assert_eq!(t.see(Some("1700000003:0")), Some((0, 0)));
        t.reconnected();
        assert_eq!(t.see(Some("1700000003:3")), Some((2, 0)));
        t.reconnected();
        assert_eq!(t.see(Some("1700000003:2")), Some((0, 2)));
        t.reconnected();
        assert_eq!(t.see(Some("1700000001:9")), Some((0, 1)));
        // A word before the colon is no second: `job:7` is number 7.
        let mut j = IdTracker::default();
        assert_eq!(j.see(Some("job:6")), None);
        j.reconnected();
        assert_eq!(j.see(Some("job:7")), Some((0, 0)));
        j.reconnected();
        assert_eq!(j.see(Some("job:9")), Some((1, 0)));
    }
}
