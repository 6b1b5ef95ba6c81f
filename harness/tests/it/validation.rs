//! The validation run's accuracy: each test injects a known delay, error
//! rate or silence into the embedded target and asserts the measured figure.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use slogate::slo::Verdict;
use slogate::target::{HeartbeatStyle, TargetConfig};

use crate::common::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A stream-only scenario: one stream held `hold`, with SLOs.
fn stream_scenario(base: &str, hold: &str, slo: &str) -> slogate::scenario::Scenario {
    scenario(
        &format!(
            "base_url = \"${{BASE_URL}}\"\n[[stream]]\nname = \"jobs\"\npath = \"/jobs/stream\"\n\
             connections = 2\nhold = \"{hold}\"\n[stream.slo]\n{slo}\n"
        ),
        base,
    )
}

fn quiet_stream() -> TargetConfig {
    TargetConfig {
        event_interval: Duration::ZERO,
        ..quiet_target()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_100ms_latency_reads_as_100ms() {
    let t = target(TargetConfig {
        latency: ms(100),
        jitter: Duration::ZERO,
        ..TargetConfig::default()
    })
    .await;
    let sc = scenario(
        r#"base_url = "${BASE_URL}"
[[probe]]
name = "cfg"
path = "/config/effective"
rate = "20/s"
duration = "2s"
connections = 4
[probe.slo]
p50 = "130ms"
"#,
        &t.base_url(),
    );
    let o = run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!(p.requests, 40);
    assert_within("latency p50 ms", p.latency.p50_ms.unwrap(), 100.0, 130.0);
    assert_within("service p50 ms", p.service.p50_ms.unwrap(), 100.0, 130.0);
    assert_eq!(o.summary.run.verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_injected_5xx_fails_the_run() {
    let t = target(TargetConfig {
        error_rate: 0.05,
        ..quiet_target()
    })
    .await;
    let sc = scenario(
        r#"base_url = "${BASE_URL}"
[slo]
rate_5xx_max = "0.5%"
[[probe]]
name = "cfg"
path = "/config/effective"
rate = "200/s"
duration = "2s"
[probe.slo]
error_rate = "1%"
"#,
        &t.base_url(),
    );
    let o = run(&sc).await;
    let rate = o.summary.probes[0].error_rate.unwrap();
    assert_within("error rate", rate, 0.03, 0.07);
    assert_eq!(
        o.summary.probes[0].errors.get("status_5xx").copied(),
        Some(o.summary.totals.status_5xx)
    );
    assert_eq!(o.slo("cfg", "error_rate").verdict, Verdict::Fail);
    assert_eq!(o.slo("run", "rate_5xx").verdict, Verdict::Fail);
    assert_eq!(o.summary.run.exit_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3s_heartbeat_stall_is_the_worst_gap_and_fails_a_2s_slo() {
    let cfg = TargetConfig {
        heartbeat: ms(1000),
        stream_stall_after: Some(ms(2500)),
        stream_stall_for: ms(2000),
        ..quiet_stream()
    };
    let t = target(cfg).await;
    let sc = stream_scenario(&t.base_url(), "6500ms", "gap_max = \"2s\"");
    let o = run(&sc).await;
    let gap = o.slo("jobs", "gap_max_ms");
    assert_within("worst gap ms", gap.value.unwrap(), 2900.0, 3100.0);
    assert_eq!(gap.verdict, Verdict::Fail);
    assert_eq!(o.summary.streams[0].reconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_before_the_hold_ends_is_a_gap() {
    let cfg = TargetConfig {
        heartbeat: ms(1000),
        stream_stall_after: Some(ms(3500)),
        stream_stall_for: Duration::from_secs(60),
        ..quiet_stream()
    };
    let t = target(cfg).await;
    let sc = stream_scenario(&t.base_url(), "5s", "gap_max = \"10s\"");
    let o = run(&sc).await;
    let st = &o.summary.streams[0];
    assert_within("trailing gap ms", st.gap.max_ms.unwrap(), 1900.0, 2100.0);
    assert_within(
        "worst gap per stream",
        st.stream_max_gap.p50_ms.unwrap(),
        1900.0,
        2100.0,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_less_ping_events_count_as_heartbeats() {
    let cfg = TargetConfig {
        heartbeat: ms(500),
        heartbeat_style: HeartbeatStyle::Event,
        ..quiet_stream()
    };
    let t = target(cfg).await;
    let sc = stream_scenario(&t.base_url(), "3s", "gap_max = \"1s\"");
    let o = run(&sc).await;
    let st = &o.summary.streams[0];
    // eventsource-client dispatches none of them: only the byte level sees them.
    assert_eq!(st.events, 0);
    assert!(st.messages >= 2 * 6, "messages {}", st.messages);
    assert_within("gap max ms", st.gap.max_ms.unwrap(), 450.0, 560.0);
    assert_eq!(o.slo("jobs", "gap_max_ms").verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_150ms_header_delay_is_the_ttfb() {
    let t = target(TargetConfig {
        header_delay: ms(150),
        ..quiet_stream()
    })
    .await;
    let sc = stream_scenario(&t.base_url(), "1s", "ttfb_p50 = \"200ms\"");
    let o = run(&sc).await;
    let ttfb = o.slo("jobs", "ttfb_p50_ms");
    assert_within("ttfb p50 ms", ttfb.value.unwrap(), 150.0, 180.0);
    assert_eq!(ttfb.verdict, Verdict::Pass);
    let first = o.summary.streams[0].first_message.p50_ms.unwrap();
    assert_within("first message ms", first, 150.0, 185.0);
}

const SCENARIO_FILE: &str = r#"name = "gate"
base_url = "${BASE_URL}"
[auth]
bearer = "${TOKEN}"
[[probe]]
name = "healthz"
class = "health"
path = "/healthz"
rate = "50/s"
duration = "DURATION"
checks = [{ field = "status", equals = "ok" }]
[probe.slo]
p95 = "150ms"
[[stream]]
name = "jobs"
path = "/jobs/stream"
hold = "DURATION"
[stream.slo]
gap_max = "10s"
"#;

fn write_scenario(dir: &std::path::Path, duration: &str) -> std::path::PathBuf {
    let p = dir.join("gate.toml");
    std::fs::write(&p, SCENARIO_FILE.replace("DURATION", duration)).unwrap();
    p
}

#[test]
fn a_typo_exits_2_names_line_and_field_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("typo.toml");
    std::fs::write(
        &p,
        SCENARIO_FILE
            .replace("DURATION", "1s")
            .replace("rate = ", "rat = "),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}/api", listener.local_addr().unwrap());
    let out = Command::new(bin())
        .args([
            "run",
            p.to_str().unwrap(),
            "-q",
            "-e",
            &format!("BASE_URL={base}"),
            "-e",
            "TOKEN=abc",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("typo.toml:9:1"), "{err}");
    assert!(err.contains("probe.rat"), "{err}");
    assert!(listener.accept().is_err(), "a connection was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_in_no_output_and_reports_agree() {
    let token = "tok-5f3a9c1e7b2d";
    let t = target(TargetConfig {
        token: Some(token.into()),
        ..quiet_target()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let p = write_scenario(dir.path(), "2s");
    let base = t.base_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args([
                "run",
                p.to_str().unwrap(),
                "-e",
                &format!("BASE_URL={base}"),
            ])
            .args(["-e", &format!("TOKEN={token}"), "-v"])
            .arg("--out")
            .arg(p.parent().unwrap())
            .env("CI", "true")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains(token) && !stderr.contains(token));
    let run_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("evidence folder");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&run_dir).unwrap() {
        let path = e.unwrap().path();
        let mut text = String::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(!text.contains(token), "token found in {}", path.display());
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for f in [
        "summary.json",
        "metrics.csv",
        "report.md",
        "manifest.json",
        "histograms.hlog",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing in {names:?}");
    }
    reports_agree(&run_dir);
}

/// Every SLO value in report.md and metrics.csv is the one in summary.json.
fn reports_agree(dir: &std::path::Path) {
    let s = slogate::report::stored::read_summary(&dir.join("summary.json")).unwrap();
    assert!(s.probes[0].ok > 0, "auth must have worked");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let mut csv = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    for r in &s.slos {
        let shown = slogate::report::fmt::value(r.value, &r.unit);
        let line = format!("| {} | {} ", r.scope, r.metric);
        let row = md
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(row.contains(&format!("| {shown} |")), "{row} vs {shown}");
        let c = rows
            .iter()
            .find(|c| &c[1] == r.scope.as_str() && &c[2] == r.metric.as_str())
            .unwrap();
        let v: f64 = c[3].parse().unwrap();
        assert!(
            (v - r.value.unwrap()).abs() < 1e-9,
            "{} {v} vs {:?}",
            r.metric,
            r.value
        );
        assert_eq!(&c[6], r.verdict.label());
    }
}

#[test]
fn an_unreachable_target_is_inconclusive_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_scenario(dir.path(), "2s");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(bin())
        .args([
            "run",
            p.to_str().unwrap(),
            "-q",
            "-e",
            &format!("BASE_URL=http://127.0.0.1:{port}/api"),
        ])
        .args(["-e", "TOKEN=abc", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("unreachable"), "{stdout}");
    let run_dir = dir
        .path()
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let s = slogate::report::stored::read_summary(&run_dir.join("summary.json")).unwrap();
    assert!(!s.run.complete);
    assert_eq!(s.run.verdict, Verdict::Inconclusive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_writes_partial_evidence_marked_incomplete() {
    interrupted_by("-INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_partial_evidence_marked_incomplete() {
    interrupted_by("-TERM").await;
}

async fn interrupted_by(signal: &str) {
    let t = target(quiet_target()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = write_scenario(dir.path(), "30s");
    let mut child = Command::new(bin())
        .args([
            "run",
            p.to_str().unwrap(),
            "-q",
            "-e",
            &format!("BASE_URL={}", t.base_url()),
        ])
        .args(["-e", "TOKEN=abc", "--out"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not stop promptly"
    );
    assert_eq!(status.code(), Some(3));
    let run_dir = dir
        .path()
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let s = slogate::report::stored::read_summary(&run_dir.join("summary.json")).unwrap();
    assert!(!s.run.complete);
    assert!(
        s.run.reasons.iter().any(|r| r.contains("interrupted")),
        "{:?}",
        s.run.reasons
    );
    assert!(
        s.probes[0].requests >= 50,
        "requests {}",
        s.probes[0].requests
    );
}

#[test]
fn demo_passes_and_writes_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let preset =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/step8-validation.toml");
    let out = Command::new(bin())
        .args([
            "demo",
            "--duration",
            "3s",
            "-q",
            "--scenario",
            preset.to_str().unwrap(),
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    assert!(
        stdout.contains("config-effective  latency_p95_ms"),
        "{stdout}"
    );
}

#[test]
fn an_unwritable_out_folder_is_bad_input_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_scenario(dir.path(), "1s");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}/api", listener.local_addr().unwrap());
    let out = Command::new(bin())
        .args([
            "run",
            p.to_str().unwrap(),
            "-q",
            "-e",
            &format!("BASE_URL={base}"),
        ])
        .args(["-e", "TOKEN=abc", "--out"])
        .arg(&not_a_dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(listener.accept().is_err(), "a connection was made");
}

#[test]
fn demo_runs_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["demo", "--duration", "2s", "-q"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("reports").read_dir().unwrap().count() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_model_run_ends_on_time_and_counts_what_it_could_not_send() {
    let t = target(TargetConfig {
        latency: ms(200),
        jitter: Duration::ZERO,
        ..TargetConfig::default()
    })
    .await;
    let sc = scenario(
        r#"base_url = "${BASE_URL}"
[[probe]]
name = "slow"
path = "/healthz"
rate = "100/s"
duration = "1s"
connections = 1
"#,
        &t.base_url(),
    );
    let began = std::time::Instant::now();
    let o = run(&sc).await;
    assert!(
        began.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        began.elapsed()
    );
    let p = &o.summary.probes[0];
    assert_eq!(p.requests, 100, "every scheduled start is accounted for");
    assert_within("sent and answered", p.ok as f64, 4.0, 7.0);
    let skipped = p.errors.get("skipped").copied().unwrap_or(0);
    assert_eq!(skipped, 100 - p.ok);
    // Unsent starts neither inflate availability nor the send rate.
    assert_eq!(o.summary.totals.requests, p.ok);
    assert!(p.throughput_rps < 10.0, "{}", p.throughput_rps);
}
