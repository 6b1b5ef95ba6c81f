//! Timing truth: a target stall seen from the intended start but not from
//! the send (coordinated omission), a starved generator judged inconclusive,
//! and achieved counts against ramp and closed-model timetables.

use std::time::{Duration, Instant};

use slogate::report::fmt::opt_ms;
use slogate::slo::Verdict;
use slogate::target::TargetConfig;

use crate::common::{self, assert_within};

fn open_scenario(rate: &str, duration: &str, connections: u32) -> String {
    format!(
        r#"
name = "timing"
base_url = "${{BASE_URL}}"
[defaults]
duration = "{duration}"
connections = {connections}
[[probe]]
name = "healthz"
path = "/healthz"
rate = "{rate}"
"#
    )
}

/// The cells of the report.md row that starts with `label`.
fn report_row(md: &str, label: &str) -> Vec<String> {
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row {label:?} in report.md"));
    line.split('|').map(|c| c.trim().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_stall_shows_in_corrected_latency_not_in_service_time() {
    let t = common::target(TargetConfig {
        stall_at: Some(Duration::from_secs(3)),
        stall_for: Duration::from_secs(1),
        ..common::quiet_target()
    })
    .await;
    let sc = common::scenario(&open_scenario("100/s", "10s", 4), &t.base_url());
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!((p.requests, p.ok), (1000, 1000));

    // About 100 starts fall inside the stall and each waits for its end, so
    // their corrected latencies spread evenly over (0, 1 s]: the 10 slowest
    // of 1000 (p99) waited about 0.9 s, the 50 slowest (p95) about 0.5 s.
    let lat = &p.latency;
    assert_within("corrected p99 ms", lat.p99_ms.unwrap(), 800.0, 1000.0);
    assert_within("corrected p95 ms", lat.p95_ms.unwrap(), 380.0, 620.0);
    assert_within("corrected max ms", lat.max_ms.unwrap(), 950.0, 1100.0);
    // From the send, only the 4 requests in flight when it began saw it.
    assert!(
        p.service.p99_ms.unwrap() < 60.0,
        "service p99 {:?}",
        p.service.p99_ms
    );
    assert_within("service max ms", p.service.max_ms.unwrap(), 900.0, 1100.0);
    // The queued starts are the target's doing: counted, not inconclusive.
    assert_within(
        "late behind busy connections",
        p.late_backpressure as f64,
        80.0,
        130.0,
    );
    assert!(
        p.late_generator <= 10,
        "late with a connection free: {}",
        p.late_generator
    );
    assert_eq!(o.summary.run.exit_code, 0, "{:?}", o.summary.run.reasons);

    let dir = tempfile::tempdir().unwrap();
    let md = std::fs::read_to_string(o.write(&sc, dir.path()).join("report.md")).unwrap();
    let corrected = report_row(&md, "latency (from intended start)");
    let service = report_row(&md, "service time (from actual send)");
    // Cells: "", label, samples, p50, p90, p95, p99, max.
    assert_eq!(corrected[6], opt_ms(lat.p99_ms));
    assert_eq!(service[6], opt_ms(p.service.p99_ms));
    t.stop();
}

#[tokio::test(flavor = "current_thread")]
async fn a_generator_that_falls_behind_is_inconclusive_never_a_pass() {
    let t = common::target(common::quiet_target()).await;
    let toml = open_scenario("100/s", "2s", 16)
        .replace("[defaults]", "[defaults]\nlate_threshold = \"10ms\"");
    let sc = common::scenario(&toml, &t.base_url());
    // Holds the only runtime thread 30 ms at a time, as a starved generator
    // would be held: sends go out late while connections are free.
    let hog = tokio::spawn(async {
        let end = Instant::now() + Duration::from_secs(4);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(30));
            tokio::task::yield_now().await;
        }
    });
    let o = common::run(&sc).await;
    hog.abort();
    let g = &o.summary.generator;
    let requests = o.summary.probes[0].requests;
    assert_eq!(requests, 200);
    assert!(
        g.late_generator >= 20,
        "late with a connection free: {}",
        g.late_generator
    );
    assert!(g.lateness.p99_ms.unwrap() > 10.0, "{:?}", g.lateness);
    assert_eq!(o.summary.run.verdict, Verdict::Inconclusive);
    assert_eq!(o.summary.run.exit_code, 3);
    assert!(
        o.summary
            .run
            .reasons
            .iter()
            .any(|r| r.contains("fell behind")),
        "{:?}",
        o.summary.run.reasons
    );
    t.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_sends_what_its_timetable_holds_when_it_holds_it() {
    let t = common::target(common::quiet_target()).await;
    let toml = r#"
name = "ramp"
base_url = "${BASE_URL}"
[defaults]
connections = 4
[[probe]]
name = "healthz"
path = "/healthz"
stages = [{ target = "200/s", duration = "2s" }, { target = "200/s", duration = "1s" }]
"#;
    let sc = common::scenario(toml, &t.base_url());
    let o = common::run(&sc).await;
    // 0 -> 200/s over 2 s holds 200 arrivals, then 200 in the plateau second.
    assert_eq!(o.summary.probes[0].requests, 400);
    let mut cumulative = 0;
    let mut at = Vec::new();
    for row in o.measured.intervals.iter().filter(|r| r.kind == "probe") {
        cumulative += row.requests;
        at.push((row.t_s, cumulative));
    }
    // Arrivals by time t on the ramp: 50 t^2 (50 by 1 s, 200 by 2 s); a
    // constant 133/s would have sent 133 by 1 s.
    let by = |s: f64| {
        at.iter()
            .find(|(t, _)| (*t - s).abs() < 0.2)
            .map(|x| x.1 as f64)
    };
    assert_within("sent by 1 s", by(1.0).expect("a row at 1 s"), 35.0, 70.0);
    assert_within("sent by 2 s", by(2.0).expect("a row at 2 s"), 175.0, 225.0);
    t.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_model_waits_for_each_answer_and_the_think_time() {
    let t = common::target(TargetConfig {
        latency: Duration::from_millis(10),
        ..common::quiet_target()
    })
    .await;
    let toml = r#"
name = "closed"
base_url = "${BASE_URL}"
[defaults]
duration = "2s"
[[probe]]
name = "healthz"
path = "/healthz"
concurrency = 4
think = "50ms"
"#;
    let sc = common::scenario(toml, &t.base_url());
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    // 4 workers, each cycle 10 ms answer + 50 ms think: about 133 in 2 s
    // (without the think time it would be about 800).
    assert_within("requests", p.requests as f64, 100.0, 140.0);
    assert_eq!(p.requests, p.ok);
    // Latency counts from the end of the think time, not the previous send.
    assert_within("p50 ms", p.latency.p50_ms.unwrap(), 9.5, 25.0);
    t.stop();
}
