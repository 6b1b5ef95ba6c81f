//! Byte-level liveness: where SSE messages end in the raw body, and what the
//! stream's timeline (first byte, first message, gaps, reconnects) was.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::{status_index, ErrorClass, StreamData, StreamRecorder, FLAP_EMPTY_IN_A_ROW};

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Finds message boundaries in a body as it arrives, chunk by chunk.
///
/// A message ends at a comment line, at a blank line that closes a block of
/// fields (dispatched by the spec or not, e.g. `event: ping`), or at a blank
/// line standing alone (a bare keep-alive newline). CR, LF and CRLF all end
/// a line, also when the CR and the LF arrive in different chunks (B02, B03).
///
/// It also marks where a block with a `data` field ends: the spec dispatches
/// exactly those as events. A parser may hold an event back until the next
/// byte (a final CR could be the start of a CRLF), so event times are taken
/// from here, not from when the parser hands the event over.
#[derive(Debug)]
pub struct Scanner {
    cap: u64,
    last_cr: bool,
    line_len: u64,
    line_is_comment: bool,
    /// How the line's field name compares with `data`: `Some(true)` once it
    /// is `data` followed by a colon, `Some(false)` once it cannot be.
    line_is_data: Option<bool>,
    block_data: bool,
    block_fields: bool,
    block_counted: bool,
    event_len: u64,
    bom_matched: u8,
    bom_done: bool,
}

/// A line or an event grew past the configured cap.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge;

/// What ended in one chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// Messages of any kind (the heartbeat's unit).
    pub messages: u32,
    /// Blocks carrying data: events a spec-following parser dispatches.
    pub events: u32,
}

const DATA: &[u8; 4] = b"data";

impl Scanner {
    pub fn new(cap: u64) -> Scanner {
        Scanner {
            cap,
            last_cr: false,
            line_len: 0,
            line_is_comment: false,
            line_is_data: None,
            block_data: false,
            block_fields: false,
            block_counted: false,
            event_len: 0,
            bom_matched: 0,
            bom_done: false,
        }
    }

    /// Feeds one chunk; returns how many messages and events ended in it.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Ends, TooLarge> {
        let mut ends = Ends::default();
        for &b in chunk {
            if !self.bom_done {
                if b == BOM[self.bom_matched as usize] {
                    self.bom_matched += 1;
                    self.bom_done = self.bom_matched == 3;
                    continue;
                }
                self.bom_done = true;
                self.line_len += u64::from(self.bom_matched);
            }
            if std::mem::take(&mut self.last_cr) && b == b'\n' {
                continue;
            }
            if b == b'\r' || b == b'\n' {
                self.last_cr = b == b'\r';
                let (m, e) = self.end_line();
                ends.messages += m;
                ends.events += e;
                continue;
            }
            if self.line_len == 0 {
                self.line_is_comment = b == b':';
                self.line_is_data = None;
            }
            self.match_data(b);
            self.line_len += 1;
            self.event_len += 1;
            if self.line_len > self.cap || self.event_len > self.cap {
                return Err(TooLarge);
            }
        }
        Ok(ends)
    }

    /// Compares the field name, byte by byte, with `data`.
    fn match_data(&mut self, b: u8) {
        if self.line_is_data.is_some() {
            return;
        }
        let pos = self.line_len as usize;
        self.line_is_data = match DATA.get(pos) {
            Some(&want) if want == b => None,
            Some(_) => Some(false),
            None => Some(b == b':'),
        };
    }

    /// Returns (messages, events) that ended with this line.
    fn end_line(&mut self) -> (u32, u32) {
        let len = std::mem::take(&mut self.line_len);
        if len == 0 {
            let counts = self.block_fields || !self.block_counted;
            let event = std::mem::take(&mut self.block_data);
            self.block_fields = false;
            self.block_counted = false;
            self.event_len = 0;
            return (u32::from(counts), u32::from(event));
        }
        if self.line_is_comment {
            self.block_counted = true;
            return (1, 0);
        }
        // `data` with no colon is a data field with an empty value.
        let data = self.line_is_data.unwrap_or(len == DATA.len() as u64);
        self.block_data |= data;
        self.block_fields = true;
        (0, 0)
    }
}

/// The timeline of one logical stream, across its connections.
pub struct Shared {
    rec: Arc<StreamRecorder>,
    pub cap: u64,
    st: Mutex<State>,
}

struct State {
    /// When each data block the parser has not handed over yet ended.
    pending_events: VecDeque<Instant>,
    last_message: Instant,
    last_data: Option<Instant>,
    max_gap: Duration,
    conn: Option<Conn>,
    /// When the last connected body ended; cleared by the next headers.
    closed_at: Option<Instant>,
    /// Connections in a row that ended without a message.
    empty_streak: u32,
    flapped: bool,
    finished: bool,
}

struct Conn {
    t0: Instant,
    connected: bool,
    got_byte: bool,
    messages: u64,
    got_event: bool,
}

impl Shared {
    pub fn new(started: Instant, rec: Arc<StreamRecorder>, cap: u64) -> Shared {
        let st = State {
            pending_events: VecDeque::new(),
            last_message: started,
            last_data: None,
            max_gap: Duration::ZERO,
            conn: None,
            closed_at: None,
            empty_streak: 0,
            flapped: false,
            finished: false,
        };
        Shared {
            rec,
            cap,
            st: Mutex::new(st),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut StreamData) -> R) -> R {
        f(&mut self.rec.data.lock().expect("recorder lock"))
    }

    pub fn on_attempt(&self, t0: Instant) {
        let mut st = self.st.lock().expect("stream lock");
        st.pending_events.clear();
        st.conn = Some(Conn {
            t0,
            connected: false,
            got_byte: false,
            messages: 0,
            got_event: false,
        });
        self.with(|d| d.connects += 1);
    }

    pub fn on_connect_error(&self, class: ErrorClass) {
        self.with(|d| d.errors.bump(class));
    }

    pub fn protocol_error(&self, reason: &str) {
        self.with(|d| d.protocol_error(reason));
    }

    /// Response headers arrived. Only a 2xx other than 204 that declares an
    /// event stream counts as connected: a 204 says "stop" and an HTML page
    /// with 200 is not a stream (cases B13, B14).
    pub fn on_headers(&self, at: Instant, status: u16, event_stream: bool) {
        let mut st = self.st.lock().expect("stream lock");
        let ok = (200..300).contains(&status) && status != 204 && event_stream;
        let closed_at = if ok { st.closed_at.take() } else { None };
        let t0 = st.conn.as_mut().map(|c| {
            c.connected = ok;
            c.t0
        });
        self.with(|d| {
            // TTFB is of streams that opened: a fast 401 must not pass a TTFB SLO.
            if let (Some(t0), true) = (t0, ok) {
                d.ttfb.record(at - t0);
            }
            d.status[status_index(status)] += 1;
            match status {
                200..=299 if ok => d.connected += 1,
                200..=299 => {}
                500..=599 => d.errors.bump(ErrorClass::Status5xx),
                400..=499 => d.errors.bump(ErrorClass::Status4xx),
                _ => d.errors.bump(ErrorClass::StatusUnexpected),
            }
            if let Some(c) = closed_at {
                d.reconnects += 1;
                d.reconnect_time.record(at - c);
            }
        });
    }

    /// A body chunk arrived holding these message and event ends.
    pub fn on_chunk(&self, now: Instant, ends: Ends) {
        let messages = ends.messages;
        let mut st = self.st.lock().expect("stream lock");
        for _ in 0..ends.events {
            st.pending_events.push_back(now);
        }
        let mut first_byte = None;
        let mut first_message = None;
        if let Some(c) = st.conn.as_mut() {
            if !std::mem::replace(&mut c.got_byte, true) {
                first_byte = Some(now - c.t0);
            }
            if messages > 0 && c.messages == 0 {
                first_message = Some(now - c.t0);
            }
            c.messages += u64::from(messages);
        }
        let mut gaps = [Duration::ZERO; 2];
        let n_gaps = (messages as usize).min(2);
        if messages > 0 {
            gaps[0] = now.saturating_duration_since(st.last_message);
            st.max_gap = st.max_gap.max(gaps[0]);
            st.last_message = now;
        }
        drop(st);
        self.with(|d| {
            if let Some(v) = first_byte {
                d.first_byte.record(v)
            }
            if let Some(v) = first_message {
                d.first_message.record(v)
            }
            d.messages += u64::from(messages);
            // Messages after the first in one chunk arrived together: zero gap.
            for g in gaps.iter().take(n_gaps) {
                d.gap.record(*g);
            }
            for _ in 2..messages {
                d.gap.record(Duration::ZERO);
            }
        });
    }

    /// eventsource-client dispatched an event (it carried data). Returns
    /// when its bytes arrived, which is the time it is measured at.
    pub fn on_event(&self, now: Instant, is_data: bool) -> Instant {
        let mut st = self.st.lock().expect("stream lock");
        let now = st.pending_events.pop_front().unwrap_or(now);
        let mut first = None;
        let mut data_gap = None;
        if is_data {
            if let Some(c) = st.conn.as_mut() {
                if !std::mem::replace(&mut c.got_event, true) {
                    first = Some(now - c.t0);
                }
            }
            if let Some(prev) = st.last_data.replace(now) {
                data_gap = Some(now - prev);
            }
        }
        drop(st);
        self.with(|d| {
            d.events += 1;
            if is_data {
                d.data_events += 1;
            }
            if let Some(v) = first {
                d.first_event.record(v)
            }
            if let Some(v) = data_gap {
                d.data_gap.record(v)
            }
        });
        now
    }

    /// A connected body ended (closed, dropped, timed out or cut). The
    /// harness's own close at the end of the hold is not a disconnect.
    pub fn on_body_end(&self, now: Instant) {
        let mut st = self.st.lock().expect("stream lock");
        let Some(c) = st.conn.take() else { return };
        if !c.connected || st.finished {
            return;
        }
        st.closed_at = Some(now);
        let empty = c.messages == 0;
        st.empty_streak = if empty { st.empty_streak + 1 } else { 0 };
        let flapped =
            st.empty_streak >= FLAP_EMPTY_IN_A_ROW && !std::mem::replace(&mut st.flapped, true);
        drop(st);
        self.with(|d| {
            d.disconnects += 1;
            d.empty_connections += u64::from(empty);
            d.flapping_streams += u64::from(flapped);
        });
    }

    /// The hold is over: the silence since the last message is a gap too.
    pub fn finish(&self, now: Instant) {
        let mut st = self.st.lock().expect("stream lock");
        if std::mem::replace(&mut st.finished, true) {
            return;
        }
        let trailing = now.saturating_duration_since(st.last_message);
        st.max_gap = st.max_gap.max(trailing);
        let max_gap = st.max_gap;
        let trailing_data = st.last_data.map(|t| now.saturating_duration_since(t));
        drop(st);
        self.with(|d| {
            d.gap.record(trailing);
            d.stream_max_gap.record(max_gap);
            if let Some(v) = trailing_data {
                d.data_gap.record(v)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(chunks: &[&[u8]]) -> Vec<u32> {
        let mut s = Scanner::new(1 << 20);
        chunks.iter().map(|c| s.feed(c).unwrap().messages).collect()
    }

    fn events(chunks: &[&[u8]]) -> Vec<u32> {
        let mut s = Scanner::new(1 << 20);
        chunks.iter().map(|c| s.feed(c).unwrap().events).collect()
    }

    #[test]
    fn blocks_with_a_data_field_are_events() {
        assert_eq!(events(&[b"data: x\n\n"]), [1]);
        assert_eq!(events(&[b"data\n\n"]), [1]);
        assert_eq!(events(&[b"event: heartbeat\ndata:\n\n"]), [1]);
        assert_eq!(events(&[b"event: ping\n\n", b":\n", b"\n"]), [0, 0, 0]);
        assert_eq!(events(&[b"dat: x\n\ndatax: y\n\nid: 1\n\n"]), [0]);
        assert_eq!(events(&[b"da", b"ta: A\r", b"\r"]), [0, 0, 1]);
    }

    #[test]
    fn every_heartbeat_shape_is_a_message() {
        assert_eq!(count(&[b":\n"]), [1]);
        assert_eq!(count(&[b": ping\n\n"]), [1]);
        assert_eq!(count(&[b"event: heartbeat\ndata:\n\n"]), [1]);
        assert_eq!(count(&[b"event: ping\n\n"]), [1]);
        assert_eq!(count(&[b"\n"]), [1]);
        assert_eq!(count(&[b"id: 1\ndata: x\n\n"]), [1]);
    }

    #[test]
    fn line_endings_cr_lf_crlf_split_across_chunks() {
        assert_eq!(
            count(&[
                b"data: A\r\r",
                b"event: m\r\ndata: D\n\n",
                b"data: E\r\n\r\n"
            ]),
            [1, 1, 1]
        );
        // B03: a CR ending one chunk and its LF starting the next is one line end.
        assert_eq!(
            count(&[b"data: A\r\n", b"data: B\r", b"\n", b"data: C\r\n", b"\n"]),
            [0, 0, 0, 0, 1]
        );
        assert_eq!(
            count(&[
                b"data: Hello\r",
                b"\ndata: World\r",
                b"\n\r\ndata: OK\r",
                b"\n",
                b"\r",
                b"\n"
            ]),
            [0, 0, 1, 0, 1, 0]
        );
    }

    #[test]
    fn partial_lines_and_events_are_not_messages() {
        assert_eq!(count(&[b"data: complete\n\n", b"data: partial"]), [1, 0]);
        assert_eq!(count(&[b"data: partial\n"]), [0]);
    }

    #[test]
    fn a_split_bom_is_skipped_before_a_comment() {
        assert_eq!(count(&[&[0xEF, 0xBB], &[0xBF], b":hi\n"]), [0, 0, 1]);
    }

    #[test]
    fn lines_past_the_cap_are_refused() {
        let mut s = Scanner::new(8);
        assert_eq!(s.feed(b"data: 12"), Ok(Ends::default()));
        assert_eq!(s.feed(b"3"), Err(TooLarge));
    }
}
