//! Stability windows against a target whose latency is scripted to fail in
//! one window and recover: the window catches what the whole run hides.

use std::time::Duration;

use slogate::slo::Verdict;
use slogate::target::TargetConfig;

use crate::common::{quiet_target, run, scenario, target};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 1 ms answers, except `spike` ms answers for requests arriving in [from, to).
fn scripted(from: u64, to: Option<u64>, spike: u64) -> TargetConfig {
    let mut schedule = vec![(ms(0), ms(1)), (ms(from), ms(spike))];
    if let Some(to) = to {
        schedule.push((ms(to), ms(1)));
    }
    TargetConfig {
        latency_schedule: schedule,
        ..quiet_target()
    }
}

const WINDOWED: &str = r#"
base_url = "${BASE_URL}"
[defaults]
duration = "4s"
connections = 32
# A loaded test machine must not turn these runs inconclusive.
max_late_ratio = "20%"
[stability]
window = "500ms"
observe = "30m"
flaps_max = 0
[[probe]]
name = "read"
path = "/config/effective"
rate = "100/s"
[probe.slo]
# Far above what a loaded test machine adds, far below the scripted spike.
p95 = "150ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_window_is_one_flap_while_the_whole_run_passes() {
    let t = target(scripted(1000, Some(1080), 400)).await;
    let sc = scenario(WINDOWED, &t.base_url());
    let out = run(&sc).await;
    t.stop();
    // 8 slow answers of 400 stay under 5 %: the whole-run p95 hides them.
    assert_eq!(out.slo("read", "latency_p95_ms").verdict, Verdict::Pass);
    let st = out.summary.stability.as_ref().expect("windows judged");
    let verdicts: Vec<Verdict> = st.windows.iter().map(|w| w.verdict).collect();
    assert!((7..=9).contains(&verdicts.len()), "{verdicts:?}");
    assert_eq!(verdicts[2], Verdict::Fail, "{}", st.strip());
    let failed: Vec<u32> = st
        .windows
        .iter()
        .filter(|w| w.verdict == Verdict::Fail)
        .map(|w| w.index)
        .collect();
    assert_eq!(failed, vec![2], "{}", st.strip());
    assert_eq!(
        st.windows[2].breaches,
        vec!["read.latency_p95_ms".to_string()]
    );
    let p95 = st.windows[2].slos[0].value.expect("a value");
    assert!((350.0..600.0).contains(&p95), "window p95 {p95}");
    assert_eq!((st.flaps, st.failed_in_observe), (1, 1));
    assert_eq!(st.verdict, Verdict::Fail);
    assert_eq!(out.slo("stability", "flaps").verdict, Verdict::Fail);
    assert_eq!(out.summary.run.exit_code, 1);
    assert!(
        st.notes.iter().any(|n| n.contains("observe 30m")),
        "{:?}",
        st.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_held_for_n_windows_stops_the_run_with_exit_1() {
    let t = target(scripted(1000, None, 400)).await;
    let toml = WINDOWED
        .replace("duration = \"4s\"", "duration = \"20s\"")
        .replace("flaps_max = 0", "abort_after = 2");
    let sc = scenario(&toml, &t.base_url());
    let out = run(&sc).await;
    t.stop();
    let st = out.summary.stability.as_ref().expect("windows judged");
    let why = st.aborted.as_deref().expect("aborted");
    assert!(
        why.contains("read.latency_p95_ms failed 2 windows"),
        "{why}"
    );
    // Windows 2 and 3 fail: the stop comes at 2.0 s, not at 20 s.
    let secs = out.measured.elapsed.as_secs_f64();
    assert!((1.9..3.0).contains(&secs), "stopped after {secs} s");
    assert_eq!(st.strip().get(..4), Some("++xx"), "{}", st.strip());
    assert_eq!(
        out.summary.run.exit_code, 1,
        "{:?}",
        out.summary.run.reasons
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_windows_pass_and_reports_carry_the_timeline() {
    let t = target(quiet_target()).await;
    let toml = WINDOWED.replace("duration = \"4s\"", "duration = \"2s\"");
    let sc = scenario(&toml, &t.base_url());
    let out = run(&sc).await;
    t.stop();
    let st = out.summary.stability.as_ref().expect("windows judged");
    assert_eq!(
        (st.verdict, st.flaps, st.observed),
        (Verdict::Pass, 0, 4),
        "{}",
        st.strip()
    );
    assert_eq!(out.summary.run.exit_code, 0);
    let dir = tempfile::tempdir().unwrap();
    let d = out.write(&sc, dir.path());
    let md = std::fs::read_to_string(d.join("report.md")).unwrap();
    assert!(
        md.contains("## Stability (windows)") && md.contains("`++++"),
        "{md}"
    );
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(
        html.contains("Stability (windows)"),
        "no stability section in report.html"
    );
    assert!(html.contains("Share of each SLO threshold used") && html.contains("<polyline"));
    let csv = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    let rows = csv.lines().filter(|l| l.starts_with("window,")).count();
    assert!(rows >= 8, "{rows} window rows");
    let json = std::fs::read_to_string(d.join("summary.json")).unwrap();
    let back: slogate::report::Summary = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.stability.as_ref().map(|s| s.windows.len()),
        Some(st.windows.len())
    );
}

#[test]
fn bad_stability_settings_are_bad_input_with_file_line_and_field() {
    let toml = WINDOWED.replace("flaps_max = 0", "abort_after = 0");
    let v = slogate::scenario::Vars {
        cli: [("BASE_URL".to_string(), "http://127.0.0.1:9/api".to_string())].into(),
    };
    let e = slogate::scenario::parse("s.toml", &toml, &v, &Default::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("s.toml:8:1: field `stability.abort_after`"),
        "{msg}"
    );
    let out = std::process::Command::new(crate::common::bin())
        .args([
            "check",
            "../scenarios/step8-validation.toml",
            "--window",
            "0s",
        ])
        .args([
            "-e",
            "BASE_URL=http://127.0.0.1:9/api",
            "-e",
            "TOKEN=t0ken-x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--window"));
}
