//! Reconnects, id continuity, what counts as data, and the size cap: end to
//! end against the embedded target and byte-exact servers, down to the
//! evidence files.

use std::time::Duration;

use slogate::metrics::ErrorClass;
use slogate::probe::sse::Ended;
use slogate::slo::Verdict;
use slogate::target::{HeartbeatStyle, TargetConfig};

use crate::cases::{max_ms, sse, stream_toml};
use crate::common::{self, assert_within};
use crate::rawserver::{self, Reply};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The target ends each stream after 300 ms; slogate reconnects with
/// Last-Event-ID, the target resumes after it, so no id is lost. Counts,
/// SLOs and the three evidence files agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closes_are_counted_timed_and_judged_in_every_file() {
    let t = common::target(TargetConfig {
        heartbeat: ms(100),
        event_interval: ms(60),
        stream_close_after: Some(ms(300)),
        ..common::quiet_target()
    })
    .await;
    let sc = common::scenario(
        "name = \"reconnects\"\nbase_url = \"${BASE_URL}\"\n[[stream]]\nname = \"jobs\"\n\
         path = \"/jobs/stream\"\nhold = \"1s\"\nreconnect_delay = \"50ms\"\n\
         [stream.slo]\nreconnects_max = 1\nids_lost_max = 0\n",
        &t.base_url(),
    );
    let o = common::run(&sc).await;
    let st = &o.summary.streams[0];
    // Closes at 0.3 s, ~0.63 s and ~0.96 s: two or three reconnects in 1 s.
    assert!((2..=3).contains(&st.reconnects), "{}", st.reconnects);
    // A close just before the hold ends may have no reconnect after it.
    assert!(
        st.disconnects == st.reconnects || st.disconnects == st.reconnects + 1,
        "{} disconnects, {} reconnects",
        st.disconnects,
        st.reconnects
    );
    assert_eq!((st.ids_lost, st.ids_repeated), (0, 0));
    assert!(st.events >= 10);
    let rt = &st.reconnect_time;
    assert_within("reconnect min ms", rt.p50_ms.unwrap(), 25.0, 80.0);
    // The gap series spans the reconnect: last heartbeat to the first
    // message of the next connection.
    let worst = st.stream_max_gap.max_ms.unwrap();
    assert!(worst >= rt.max_ms.unwrap(), "{worst} vs {:?}", rt.max_ms);
    assert_eq!(o.slo("jobs", "reconnects").verdict, Verdict::Fail);
    assert_eq!(o.slo("jobs", "ids_lost").verdict, Verdict::Pass);

    let dir = tempfile::tempdir().unwrap();
    let d = o.write(&sc, dir.path());
    let json = std::fs::read_to_string(d.join("summary.json")).unwrap();
    for key in ["\"reconnects\":", "\"ids_lost\":", "\"disconnects\":"] {
        assert!(json.contains(key), "summary.json lacks {key}");
    }
    let csv = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    let row = |m: &str| {
        csv.lines()
            .find(|l| l.contains(&format!(",{m},")))
            .map(str::to_string)
    };
    let rc = row("reconnects").expect("reconnects row");
    let value: f64 = rc.split(',').nth(3).unwrap().parse().unwrap();
    assert_eq!(value, st.reconnects as f64, "{rc}");
    assert!(rc.ends_with("FAIL"), "{rc}");
    assert!(row("ids_lost").is_some() && row("reconnect_time_p50_ms").is_some());
    let md = std::fs::read_to_string(d.join("report.md")).unwrap();
    assert!(
        md.contains(&format!("reconnects: {}", st.reconnects)),
        "{md}"
    );
    assert!(md.contains("ids lost: 0"));
}

/// Ids 1, 2 on the first connection, 5 after the reconnect: 2 lost; a
/// replay of 4 after the next one: 2 repeated (4 and 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_lost_and_repeated_across_reconnects_fail_the_slo() {
    let s = rawserver::serve(|i| match i {
        0 => Reply::sse()
            .at(10, "id: 1\ndata: a\n\n")
            .at(20, "id: 2\ndata: b\n\n")
            .end(30),
        1 => Reply::sse().at(10, "id: 5\ndata: e\n\n").end(20),
        _ => Reply::sse().at(10, "id: 4\ndata: d\n\n"),
    })
    .await;
    let toml =
        stream_toml("hold = \"600ms\"\nreconnect_delay = \"50ms\"\n[stream.slo]\nids_lost_max = 0");
    let o = common::run(&common::scenario(&toml, &s.url)).await;
    let st = &o.summary.streams[0];
    assert_eq!((st.ids_lost, st.ids_repeated, st.reconnects), (2, 2, 2));
    let slo = o.slo("s", "ids_lost");
    assert_eq!((slo.verdict, slo.value), (Verdict::Fail, Some(2.0)));
    let reqs = s.requests();
    assert_eq!(reqs[1].header("last-event-id").as_deref(), Some("2"));
    assert_eq!(reqs[2].header("last-event-id").as_deref(), Some("5"));
}

/// A server's `retry:` replaces the 1 s default delay; `reconnect = false`
/// ends the stream at the first close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_field_is_honoured_and_reconnects_can_be_off() {
    let s = rawserver::serve(|i| match i {
        0 => Reply::sse().at(10, "retry: 30\ndata: a\n\n").end(20),
        _ => Reply::sse(),
    })
    .await;
    let off = rawserver::serve(|_| Reply::sse().at(10, "data: a\n\n").end(20)).await;
    let (r, r_off) = tokio::join!(
        sse(&s.url, "hold = \"500ms\""),
        sse(&off.url, "hold = \"500ms\"\nreconnect = false")
    );
    assert_eq!(r.data.reconnects, 1);
    // Drawn from [15, 30] ms; the default would be 0.5-1 s.
    assert_within(
        "retry: 30 reconnect ms",
        max_ms(&r.data.reconnect_time),
        15.0,
        60.0,
    );
    assert_eq!(r_off.ended, Ended::GaveUp);
    assert_eq!((r_off.data.connects, r_off.data.reconnects), (1, 0));
    tokio::time::sleep(ms(100)).await;
    assert_eq!(off.requests().len(), 1);
}

/// `data_events = ["job"]`: heartbeat events that carry (empty) data do not
/// pass for content; first data event and data gap follow the jobs only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_named_event_types_count_as_data() {
    let t = common::target(TargetConfig {
        heartbeat: ms(50),
        heartbeat_style: HeartbeatStyle::Data,
        event_interval: ms(300),
        ..common::quiet_target()
    })
    .await;
    let sc = common::scenario(
        "base_url = \"${BASE_URL}\"\n[defaults]\nduration = \"1s\"\n\
         [[stream]]\nname = \"jobs\"\npath = \"/jobs/stream\"\ndata_events = [\"job\"]\n\
         [[stream]]\nname = \"any\"\npath = \"/jobs/stream\"\n",
        &t.base_url(),
    );
    let o = common::run(&sc).await;
    let (jobs, any) = (&o.summary.streams[0], &o.summary.streams[1]);
    assert_eq!(jobs.data_events, 3, "jobs at 0.3, 0.6, 0.9 s");
    assert!(jobs.events >= 20 && any.data_events >= 20);
    assert_within(
        "job TTFE ms",
        jobs.first_event.max_ms.unwrap(),
        295.0,
        340.0,
    );
    assert_within("any TTFE ms", any.first_event.max_ms.unwrap(), 45.0, 90.0);
    assert_within(
        "job data gap ms",
        jobs.data_gap.max_ms.unwrap(),
        295.0,
        340.0,
    );
    assert!(any.data_gap.max_ms.unwrap() < 120.0);
    // The heartbeat gap is the same for both: every message counts there.
    assert!(jobs.stream_max_gap.max_ms.unwrap() < 120.0);
}

/// One endless line, and one huge event of short lines: each trips the cap
/// as a protocol error, the stream reconnects and the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_streams_trip_the_size_cap_and_the_run_goes_on() {
    let piece = vec![b'x'; 16 * 1024];
    let line_piece = {
        let mut l = b"data: ".to_vec();
        l.extend(std::iter::repeat_n(b'y', 1018));
        l.push(b'\n');
        l.repeat(16)
    };
    let endless = rawserver::serve(move |_| {
        let r = Reply::sse().at(0, "data: ");
        (0..150).fold(r, |r, k| r.at(k * 4, &piece))
    })
    .await;
    let huge =
        rawserver::serve(move |_| (0..150).fold(Reply::sse(), |r, k| r.at(k * 4, &line_piece)))
            .await;
    let keys = "hold = \"1s\"\nmax_event_size = 262144\nreconnect_delay = \"100ms\"";
    let (a, b) = tokio::join!(sse(&endless.url, keys), sse(&huge.url, keys));
    for (what, r) in [("endless line", &a), ("huge event", &b)] {
        assert_eq!(r.ended, Ended::HoldOver, "{what}");
        assert!(
            r.data.oversize >= 2,
            "{what}: tripped again after reconnecting"
        );
        assert_eq!(
            r.data.errors.get(ErrorClass::Protocol),
            r.data.oversize,
            "{what}"
        );
        assert_eq!(r.data.events, 0, "{what}");
        let reason = "a line or event exceeded max_event_size (262144 bytes)";
        assert_eq!(r.data.protocol_reasons.get(reason), Some(&r.data.oversize));
    }
}
