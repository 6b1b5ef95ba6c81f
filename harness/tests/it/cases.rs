//! The SSE cases of `shared/cases` (B01-B14): each a byte-exact server
//! script from `rawserver`, one stream read by slogate's SSE probe, and the
//! figures the case gives. Long waits are shrunk where the case allows (the
//! scale is said at each test); reconnect delays are set per scenario.

use std::sync::Arc;
use std::time::Duration;

use slogate::metrics::{ErrorClass, Hist, StreamData, StreamRecorder};
use slogate::net::Connector;
use slogate::probe::sse::{Ended, Seen, SseProbe};
use slogate::slo::Verdict;

use crate::common::{self, assert_within};
use crate::rawserver::{self, Reply};

pub struct SseRun {
    pub data: StreamData,
    pub seen: Vec<Seen>,
    pub ended: Ended,
}

impl SseRun {
    pub fn datas(&self) -> Vec<&str> {
        self.seen.iter().map(|s| s.data.as_str()).collect()
    }
}

/// When event `i` arrived, in ms after the server read request 0: the test
/// server's "@N" clock, so connect time is left out. Server and client
/// share the process, hence one clock.
pub fn since_request(r: &SseRun, s: &rawserver::Server, i: usize) -> f64 {
    let t0 = s.requests()[0].at;
    r.seen[i]
        .arrived
        .saturating_duration_since(t0)
        .as_secs_f64()
        * 1000.0
}

/// Asserts event `i` was timed at "@at" ms: not before, and within `tol`
/// ms of the server's actual write of piece `step` (the one that ends it),
/// so that a busy machine's late timer on the server side is left out.
/// Where the next piece follows 20 ms later, `tol` stays below that, so an
/// event held back until the next byte is caught.
pub fn assert_at(
    what: &str,
    r: &SseRun,
    s: &rawserver::Server,
    i: usize,
    step: usize,
    at: f64,
    tol: f64,
) {
    let since = since_request(r, s, i);
    assert!(since >= at - 1.0, "{what}: {since} ms < {at}");
    let wrote = s.requests()[0].wrote.lock().unwrap()[step];
    let got = r.seen[i].arrived;
    let lag = got.saturating_duration_since(wrote).as_secs_f64() * 1000.0;
    let early = wrote.saturating_duration_since(got).as_secs_f64() * 1000.0;
    assert!(
        early < 1.0 && lag <= tol,
        "{what}: {lag:.1} ms after piece {step}, early {early:.1}"
    );
}

pub fn stream_toml(extra: &str) -> String {
    format!(
        "name = \"case\"\nbase_url = \"${{BASE_URL}}\"\n[[stream]]\nname = \"s\"\npath = \"/s\"\n{extra}\n"
    )
}

/// Holds one stream against `url` with slogate's probe, copying events out.
pub async fn sse(url: &str, extra: &str) -> SseRun {
    let sc = common::scenario(&stream_toml(extra), url);
    let connector = Connector::new(&sc.settings, false)
        .unwrap()
        .with_read_buf(slogate::probe::sse::READ_BUF);
    let recorder = Arc::new(StreamRecorder::default());
    let (tap, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let probe = SseProbe {
        spec: Arc::new(sc.streams[0].clone()),
        connector,
        recorder: recorder.clone(),
        tap: Some(tap),
        follow_redirects: sc.settings.follow_redirects,
    };
    let (_keep, cancel) = tokio::sync::watch::channel(false);
    let ended = probe.run(cancel).await;
    drop(probe);
    let mut seen = Vec::new();
    while let Ok(s) = rx.try_recv() {
        seen.push(s);
    }
    let data = recorder.data.lock().unwrap().clone();
    SseRun { data, seen, ended }
}

pub fn max_ms(h: &Hist) -> f64 {
    h.max_ms().expect("samples")
}

fn min_ms(h: &Hist) -> f64 {
    h.h.min() as f64 / 1000.0
}

/// B01: a BOM split across chunks is stripped; a mid-stream one is data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b01_split_bom_is_stripped_and_first_event_counts() {
    let s = rawserver::serve(|_| {
        Reply::sse()
            .at(100, [0xEF, 0xBB])
            .at(120, b"\xBFdata: first\n\n")
            .at(300, "data: second\n\n")
            .end(400)
    })
    .await;
    let v = rawserver::serve(|_| Reply::sse().at(20, b"data: \xEF\xBB\xBFx\n\n").end(100)).await;
    let (r, rv) = tokio::join!(
        sse(&s.url, "hold = \"600ms\"\nreconnect = false"),
        sse(&v.url, "hold = \"300ms\"\nreconnect = false")
    );
    assert_eq!(r.datas(), ["first", "second"]);
    assert_at("B01 TTFE", &r, &s, 0, 1, 120.0, 100.0);
    assert!(max_ms(&r.data.first_event) >= 120.0);
    assert_eq!(r.data.messages, 2);
    assert_eq!(rv.datas(), ["\u{FEFF}x"]);
}

/// B02: CR, LF and CRLF line ends, mixed in one stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b02_cr_lf_crlf_all_end_lines() {
    let s = rawserver::serve(|_| {
        Reply::sse()
            .at(20, "data: A\r\r")
            .at(40, "event: m\r\ndata: D\n\n")
            .at(60, "data: E\r\n\r\n")
            .end(200)
    })
    .await;
    let r = sse(&s.url, "hold = \"400ms\"\nreconnect = false").await;
    let got: Vec<(&str, &str)> = r
        .seen
        .iter()
        .map(|e| (e.event_type.as_str(), e.data.as_str()))
        .collect();
    assert_eq!(got, [("message", "A"), ("m", "D"), ("message", "E")]);
    for (i, at) in [20.0, 40.0, 60.0].iter().enumerate() {
        assert_at("B02 event", &r, &s, i, i, *at, 19.0);
    }
    assert!(max_ms(&r.data.first_event) >= 20.0);
    assert_eq!((r.data.messages, r.data.errors.total()), (3, 0));
}

/// B03: a CRLF cut between two chunks is one line end, not a blank line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b03_crlf_split_across_chunks_is_one_line_end() {
    let first = ["data: A\r\n", "data: B\r", "\n", "data: C\r\n", "\n"];
    let second = [
        "data: Hello\r",
        "\ndata: World\r",
        "\n\r\ndata: OK\r",
        "\n",
        "\r",
        "\n",
    ];
    let s = rawserver::serve(move |_| {
        let mut r = Reply::sse();
        for (i, p) in first.iter().enumerate() {
            r = r.at(20 + 20 * i as u64, p);
        }
        for (i, p) in second.iter().enumerate() {
            r = r.at(200 + 20 * i as u64, p);
        }
        r.end(400)
    })
    .await;
    let r = sse(&s.url, "hold = \"600ms\"\nreconnect = false").await;
    assert_eq!(r.datas(), ["A\nB\nC", "Hello\nWorld", "OK"]);
    for (i, (step, at)) in [(4, 100.0), (7, 240.0), (9, 280.0)].iter().enumerate() {
        assert_at("B03 event", &r, &s, i, *step, *at, 19.0);
    }
    assert_eq!(r.data.messages, 3, "byte-level boundaries agree");
}

/// B04, time scaled 1/5: heartbeats every 200 ms; every shape counts,
/// (d) and (e) too, because the gap is measured on the raw bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b04_every_heartbeat_shape_keeps_the_gap_at_the_interval() {
    let shapes: [(&'static str, u64); 5] = [
        (":\n", 1),
        (": ping\n\n", 1),
        ("event: heartbeat\ndata:\n\n", 7),
        ("event: ping\n\n", 1),
        ("\n", 1),
    ];
    let mut runs = Vec::new();
    for (shape, _) in shapes {
        let s = rawserver::serve(move |_| {
            let mut r = Reply::sse().at(20, "data: start\n\n");
            for k in 1..=6 {
                r = r.at(200 * k, shape);
            }
            r.end(1300)
        })
        .await;
        runs.push(tokio::spawn(async move {
            // The hold ends with the body: silence after it would be a gap.
            let r = sse(&s.url, "hold = \"1300ms\"\nreconnect = false").await;
            (s, r)
        }));
    }
    for ((shape, events), run) in shapes.iter().zip(runs) {
        let (s, r) = run.await.unwrap();
        let what = format!("B04 {shape:?}");
        assert_within(&what, max_ms(&r.data.stream_max_gap), 195.0, 210.0);
        assert_eq!(r.data.messages, 7, "{what}");
        assert_eq!(r.data.events, *events, "{what}");
        assert_eq!((r.data.errors.total(), r.data.reconnects), (0, 0), "{what}");
        assert_at(&what, &r, &s, 0, 0, 20.0, 100.0);
        assert!(max_ms(&r.data.first_event) >= 20.0, "{what}");
    }
    let def = slogate::report::summary::GAP_DEFINITION;
    assert!(
        def.contains("raw bytes") && def.contains("event: ping"),
        "{def}"
    );
}

/// B06: a partial event at a clean end is not dispatched; the end is one
/// disconnect and one reconnect, not a failed event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b06_partial_event_at_eof_is_a_disconnect_not_an_event() {
    for tail in ["data: partial", "data: partial\n"] {
        let s = rawserver::serve(move |i| match i {
            0 => Reply::sse()
                .at(50, "data: complete\n\n")
                .at(100, tail)
                .end(150),
            _ => Reply::sse(),
        })
        .await;
        let r = sse(&s.url, "hold = \"500ms\"\nreconnect_delay = \"50ms\"").await;
        let what = format!("B06 {tail:?}");
        assert_eq!(r.datas(), ["complete"], "{what}");
        assert_eq!(r.data.messages, 1, "{what}");
        assert_eq!(
            (r.data.disconnects, r.data.reconnects, r.data.connects),
            (1, 1, 2),
            "{what}"
        );
        assert_eq!(r.data.errors.total(), 0, "{what}");
        // The last message stays at 50 ms: the worst gap runs from there to the hold's end.
        assert_within(&what, max_ms(&r.data.stream_max_gap), 430.0, 470.0);
    }
}

/// B07: field syntax: no colon, no space, two spaces, empty data lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b07_field_syntax_gives_exactly_seven_events() {
    let body = "data\n\ndata\ndata\n\ndata:Hello\n\ndata:  two spaces\n\nevent:  greeting\n\
                data: x\n\ndata: line1\ndata:\ndata: line3\n\ndata:\ndata: line2\ndata: line3\n\n";
    let s = rawserver::serve(move |_| Reply::sse().at(20, body).end(100)).await;
    let r = sse(&s.url, "hold = \"300ms\"\nreconnect = false").await;
    assert_eq!(
        r.datas(),
        [
            "",
            "\n",
            "Hello",
            " two spaces",
            "x",
            "line1\n\nline3",
            "\nline2\nline3"
        ]
    );
    assert_eq!(r.seen[4].event_type, " greeting");
    for i in 0..7 {
        assert_at("B07", &r, &s, i, 0, 20.0, 100.0);
    }
    assert_eq!(r.data.messages, 7);
}

/// B08 (a) one byte per write, (b) U+2028 inside JSON data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b08_utf8_split_per_byte_and_line_separator_in_json() {
    let a = "data: €豆腐\n\n".as_bytes();
    assert_eq!(a.len(), 17);
    let s = rawserver::serve(move |_| Reply::sse().bytewise(20, 20, a).end(500)).await;
    let b = rawserver::serve(|_| {
        Reply::sse()
            .at(
                20,
                "event: message\ndata: {\"text\":\"Hello\u{2028}World\"}\n\n",
            )
            .end(100)
    })
    .await;
    let (ra, rb) = tokio::join!(
        sse(&s.url, "hold = \"700ms\"\nreconnect = false"),
        sse(&b.url, "hold = \"300ms\"\nreconnect = false")
    );
    assert_eq!(ra.datas(), ["€豆腐"]);
    assert_at("B08a TTFE", &ra, &s, 0, 16, 340.0, 100.0);
    assert!(max_ms(&ra.data.first_event) >= 340.0);
    assert_eq!(rb.seen.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&rb.seen[0].data).unwrap();
    assert_eq!(v["text"].as_str().unwrap().chars().count(), 11);
}

/// B08 (c): invalid UTF-8 is a protocol error named as such, not a
/// network error. eventsource-client 0.18.0 drops the connection there
/// (the spec would decode U+FFFD), so `next` is lost and one reconnect follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b08c_invalid_utf8_is_a_named_protocol_error() {
    let s = rawserver::serve(|i| match i {
        0 => Reply::sse()
            .at(50, b"data: caf\xE9\n\n")
            .at(100, "data: next\n\n")
            .end(200),
        _ => Reply::sse(),
    })
    .await;
    let r = sse(&s.url, "hold = \"500ms\"\nreconnect_delay = \"50ms\"").await;
    assert_eq!(r.data.events, 0);
    // Protocol only: no io, timeout or connect error.
    assert_eq!(r.data.errors.nonzero(), [(ErrorClass::Protocol, 1)]);
    assert_eq!(
        r.data.protocol_reasons.get("invalid UTF-8 from server"),
        Some(&1)
    );
    assert_eq!((r.data.disconnects, r.data.reconnects), (1, 1));
}

/// B09: a 1.4 MB event in 16 KiB writes passes under the default cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b09_big_event_passes_the_default_cap() {
    let mut body = b"event:patch\r\ndata:".to_vec();
    body.extend(std::iter::repeat_n(b'x', 1_400_000));
    body.extend_from_slice(b"\r\n\r\nevent:patch\r\ndata:small\r\n\r\n");
    let s = rawserver::serve(move |_| Reply::sse().pieces(20, &body, 16 * 1024).end(220)).await;
    let r = sse(&s.url, "hold = \"1s\"\nreconnect = false").await;
    let lens: Vec<(&str, usize)> = r
        .seen
        .iter()
        .map(|e| (e.event_type.as_str(), e.data.len()))
        .collect();
    assert_eq!(lens, [("patch", 1_400_000), ("patch", 5)]);
    assert_eq!((r.data.errors.total(), r.data.oversize), (0, 0));
}

/// B10: headers, first byte and first event are three numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b10_headers_first_byte_and_first_event_are_apart() {
    let s = rawserver::serve(|_| {
        Reply::sse()
            .at(150, ":ok\n\n")
            .at(800, "data: first\n\n")
            .end(1000)
    })
    .await;
    let r = sse(&s.url, "hold = \"1100ms\"\nreconnect = false").await;
    // 0-5 ms on a quiet machine; a busy shared one adds connect time.
    assert_within("B10 TTFB ms", max_ms(&r.data.ttfb), 0.0, 20.0);
    // The client's clock includes the connect; the server's "@" clock does not.
    assert_within(
        "B10 first byte ms",
        max_ms(&r.data.first_byte),
        150.0,
        185.0,
    );
    assert_within(
        "B10 first message ms",
        max_ms(&r.data.first_message),
        150.0,
        185.0,
    );
    assert!(max_ms(&r.data.first_event) >= 800.0);
    assert_at("B10 TTFE", &r, &s, 0, 1, 800.0, 100.0);
}

/// B11, time scaled 1/10: a stream that stays open and silent trips the
/// idle timeout, the harness reconnects, the gap SLO fails, the run ends on
/// schedule. Without the idle timeout the gap is the whole silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b11_silent_stream_trips_idle_timeout_and_run_ends_on_time() {
    let stall = |resume: bool| {
        move |i: usize| match i {
            0 => {
                let r = Reply::sse().at(10, "data: 1\n\n").at(110, ":hb\n\n");
                r.at(2110, ":hb\n\n").end(2200)
            }
            _ if resume => (0..30).fold(Reply::sse(), |r, k| r.at(k * 100, ":hb\n\n")),
            _ => Reply::sse(),
        }
    };
    let s = rawserver::serve(stall(true)).await;
    let quiet = rawserver::serve(stall(false)).await;
    let toml = stream_toml(
        "hold = \"3s\"\nidle_timeout = \"1s\"\nreconnect_delay = \"50ms\"\n\
         [stream.slo]\ngap_max = \"500ms\"",
    );
    let sc = common::scenario(&toml, &s.url);
    let started = std::time::Instant::now();
    let (out, q) = tokio::join!(
        common::run(&sc),
        sse(&quiet.url, "hold = \"2500ms\"\nidle_timeout = \"5s\"")
    );
    let took = started.elapsed().as_secs_f64();
    assert_within("B11 run wall s", took, 3.0, 3.4);
    let st = &out.measured.streams[0];
    assert_eq!(st.errors.get(ErrorClass::Timeout), 1);
    assert_eq!((st.disconnects, st.reconnects), (1, 1));
    // Detected at 1.11 s (last byte at 110 ms + 1 s), reconnected within one delay.
    assert_within("B11 max gap ms", max_ms(&st.stream_max_gap), 1000.0, 1080.0);
    assert_within("B11 reconnect ms", max_ms(&st.reconnect_time), 25.0, 70.0);
    assert_eq!(out.slo("s", "gap_max_ms").verdict, Verdict::Fail);
    assert_within(
        "B11 no idle timeout, gap ms",
        max_ms(&q.data.stream_max_gap),
        1990.0,
        2010.0,
    );
    assert_eq!(q.data.errors.total(), 0);
}

/// B13: a 503 during a reconnect is retried, a 204 stops for good; both
/// retries carry Last-Event-ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b13_204_stops_reconnecting_after_a_retried_503() {
    let s = rawserver::serve(|i| match i {
        0 => Reply::sse().at(50, "id: 1\ndata: a\n\n").end(100),
        1 => Reply::whole("503 Service Unavailable", "text/plain", "busy"),
        2 => Reply::whole("204 No Content", "text/plain", ""),
        _ => Reply::sse().at(0, "data: should-not-happen\n\n"),
    })
    .await;
    let r = sse(&s.url, "hold = \"1500ms\"\nreconnect_delay = \"100ms\"").await;
    assert_eq!(r.ended, Ended::ServerClosed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3, "exactly 3 requests");
    assert_eq!(reqs[0].header("last-event-id"), None);
    assert_eq!(reqs[1].header("last-event-id").as_deref(), Some("1"));
    assert_eq!(reqs[2].header("last-event-id").as_deref(), Some("1"));
    assert_eq!(r.datas(), ["a"]);
    assert_eq!(r.data.errors.get(ErrorClass::Status5xx), 1);
    assert_eq!(r.data.closed_204, 1);
}

/// B14 (a) parameters and case of the content type are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b14a_content_type_parameters_and_case_are_accepted() {
    for ct in [
        "text/event-stream; charset=utf-8",
        "Text/Event-Stream;charset=UTF-8",
    ] {
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\n\r\n");
        let s =
            rawserver::serve(move |_| Reply::chunked(&head).at(50, "data: ok\n\n").end(100)).await;
        let r = sse(&s.url, "hold = \"300ms\"\nreconnect = false").await;
        assert_eq!((r.datas(), r.data.errors.total()), (vec!["ok"], 0), "{ct}");
    }
}

/// B14 (b): an HTML page with 200 is a protocol error, TTFE n/a, no retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b14b_html_page_is_a_protocol_error_without_reconnect() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let s = rawserver::serve(move |_| {
        Reply::chunked(head)
            .at(0, "<html><body>login</body></html>\n")
            .end(100)
    })
    .await;
    let r = sse(&s.url, "hold = \"1s\"\nreconnect_delay = \"50ms\"").await;
    assert_eq!(r.ended, Ended::NotSse);
    assert_eq!((r.data.events, r.data.connected), (0, 0));
    assert_eq!(r.data.first_event.summary().p50_ms, None, "TTFE n/a, not 0");
    assert_eq!(
        r.data
            .protocol_reasons
            .get("unexpected Content-Type text/html"),
        Some(&1)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.requests().len(), 1, "no reconnect");
}

/// B14 (c), time scaled 1/10: every connection "succeeds" and ends with no
/// message: flagged flapping, backoff doubles between attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b14c_connections_without_messages_are_flapping_with_backoff() {
    let s = rawserver::serve(|_| {
        Reply::sse()
            .at(0, "{\"message\":\"Internal error\"}")
            .end(100)
    })
    .await;
    let r = sse(&s.url, "hold = \"1s\"\nreconnect_delay = \"100ms\"").await;
    let reqs = s.requests();
    assert!((3..=5).contains(&reqs.len()), "{} connections", reqs.len());
    assert_eq!((r.data.events, r.data.messages), (0, 0));
    assert_eq!(r.data.flapping_streams, 1);
    assert!(r.data.empty_connections >= 2);
    let gaps: Vec<f64> = reqs
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    for w in gaps.windows(2) {
        assert!(w[1] >= w[0] - 5.0, "backoff grows: {gaps:?}");
    }
    assert!(min_ms(&r.data.reconnect_time) >= 50.0);
}

/// B13, refused variant (time ÷5): after the first stream ends the port
/// refuses connections for 1 s, then serves again. Attempts follow the
/// backoff (not a tight loop), the stream resumes within one delay with
/// Last-Event-ID, and the downtime shows as the reconnect time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b13_refused_port_is_retried_with_backoff_and_resumes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let read_head = |mut sock: tokio::net::TcpStream| async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "client closed before its request");
                head.extend_from_slice(&buf[..n]);
            }
            (sock, String::from_utf8_lossy(&head).to_lowercase())
        };
        let sse = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (mut sock, _) = read_head(listener.accept().await.unwrap().0).await;
        sock.write_all(sse.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        sock.write_all(b"10\r\nid: 1\ndata: a\n\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        sock.write_all(b"0\r\n\r\n").await.unwrap();
        drop(sock);
        drop(listener);
        let down_from = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let again = tokio::net::TcpListener::bind(addr).await.unwrap();
        let up_at = std::time::Instant::now();
        let (mut sock, head) = read_head(again.accept().await.unwrap().0).await;
        let resumed_after = up_at.elapsed();
        sock.write_all(sse.as_bytes()).await.unwrap();
        sock.write_all(b"6\r\n: hi\n\n\r\n").await.unwrap();
        let mut rest = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut rest)).await;
        (head, resumed_after, up_at - down_from)
    });
    let url = format!("http://{addr}");
    let r = sse(&url, "hold = \"4s\"\nreconnect_delay = \"100ms\"").await;
    let (head, resumed_after, down) = server.await.unwrap();
    assert!(head.contains("last-event-id: 1"), "{head}");
    let refused = r.data.errors.get(ErrorClass::ConnectRefused);
    // Delays of 100, 200, 400, 800 ms (each drawn from [d/2, d]) cover the
    // 1 s outage with 2 to 5 attempts; a tight loop would make hundreds.
    assert!((2..=5).contains(&refused), "refused attempts {refused}");
    assert!(
        resumed_after <= Duration::from_millis(1700),
        "resumed after {resumed_after:?}"
    );
    assert_eq!(r.data.reconnects, 1);
    let downtime = max_ms(&r.data.reconnect_time);
    assert_within(
        "downtime ms",
        downtime,
        down.as_millis() as f64,
        down.as_millis() as f64 + 1700.0,
    );
    assert_eq!(r.datas(), ["a"]);
}
