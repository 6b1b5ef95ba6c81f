//! The evidence pack read back by independent consumers: the HTML page in
//! headless Chromium, junit.xml by junitparser, the interval log by the
//! Python HdrHistogram decoder; `report`, `verify`, `compare` and the
//! baseline gate through the binary.
//!
//! Three short runs are made once and shared: `fail` (a breached p99 SLO
//! and a body check that never holds), `fast` and `slow` (the same passing
//! scenario against 10 ms and 80 ms targets).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use slogate::report::stored;
use slogate::target::TargetConfig;

use crate::common::{self, bin};

const FAIL: &str = r#"
name = "evidence"
base_url = "${BASE_URL}"
[defaults]
duration = "2s"
interval = "250ms"
max_late_ratio = "50%"
[slo]
availability_min = "99%"
[[probe]]
name = "config"
path = "/config/effective"
rate = "40/s"
checks = [{ field = "version", exists = true }]
[probe.slo]
p95 = "300ms"
p99 = "10ms"
[[probe]]
name = "health"
path = "/healthz"
rate = "10/s"
checks = [{ field = "status", equals = "down" }]
[[stream]]
name = "jobs"
path = "/jobs/stream"
connections = 2
[stream.slo]
ttfb_p50 = "200ms"
gap_max = "10s"
"#;

const GATE: &str = r#"
name = "gate"
base_url = "${BASE_URL}"
[defaults]
duration = "2s"
interval = "250ms"
max_late_ratio = "50%"
[[probe]]
name = "config"
path = "/config/effective"
rate = "40/s"
[probe.slo]
p95 = "300ms"
"#;

pub struct Runs {
    pub fail: PathBuf,
    pub fast: PathBuf,
    pub slow: PathBuf,
}

fn config_latency(ms: u64) -> TargetConfig {
    let mut cfg = common::quiet_target();
    cfg.route_latency
        .insert("config".into(), Duration::from_millis(ms));
    cfg.heartbeat = Duration::from_millis(200);
    cfg
}

async fn one(toml: &str, ms: u64, out: &Path) -> PathBuf {
    let t = common::target(config_latency(ms)).await;
    let sc = common::scenario(toml, &t.base_url());
    let o = common::run(&sc).await;
    t.stop();
    o.write(&sc, out)
}

/// The shared runs, made once per test binary (about 2 s, concurrently).
pub fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evidence-runs");
        let _ = std::fs::remove_dir_all(&base);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let dirs = ["fail", "fast", "slow"].map(|d| base.join(d));
                let (fail, fast, slow) = tokio::join!(
                    one(FAIL, 20, &dirs[0]),
                    one(GATE, 10, &dirs[1]),
                    one(GATE, 80, &dirs[2]),
                );
                Runs { fail, fast, slow }
            })
        })
        .join()
        .unwrap()
    })
}

/// A private copy of a run folder, so a test may change it.
fn copy_run(src: &Path, name: &str) -> PathBuf {
    let dst = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("evidence-{name}"));
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

fn slogate(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("slogate runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tool CI installs: missing it fails under CI and skips (loudly) elsewhere.
fn tool_or_skip(ok: bool, what: &str) -> bool {
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{what} is missing; .ci/run installs it");
    }
    if !ok {
        eprintln!("SKIPPED: {what} is not installed here (CI installs it)");
    }
    ok
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

#[test]
fn html_is_self_contained_and_shows_verdict_and_charts() {
    let html = std::fs::read_to_string(runs().fail.join("report.html")).unwrap();
    for banned in [
        "<script",
        "<link",
        "@import",
        "url(",
        "src=\"http",
        "href=\"http",
    ] {
        assert!(
            !html.contains(banned),
            "report.html must not load anything: {banned}"
        );
    }
    assert!(html.contains("default-src 'none'"), "CSP forbids fetches");
    assert!(html.contains(r#"<header id="verdict" class="banner fail"><div class="v">FAIL</div>"#));
    // One percentile curve per probe, three timelines, two stream distributions.
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 2 + 3 + 2);
    assert!(html.contains("config: latency by percentile"));
    assert!(
        html.contains("p99 ≤ 10 ms"),
        "the p99 SLO is marked on the curve"
    );
    assert!(
        html.contains(">SLO 10 s<") && html.contains(">alert 15 s<"),
        "gap lines drawn"
    );
    assert!(
        html.contains("latency_p99_ms") && html.contains("<span class=\"tag fail\">FAIL</span>")
    );
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|b| {
        let o = Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    })
}

#[test]
fn html_renders_in_headless_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        tool_or_skip(false, "chromium");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let page = runs().fail.join("report.html").canonicalize().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(
        dom.contains(r#"<div class="v">FAIL</div>"#),
        "verdict not in the DOM: {dom:.500}"
    );
    assert!(
        dom.contains("<svg class=\"chart\""),
        "charts not in the DOM"
    );
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Refused to"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
}

#[test]
fn junit_is_read_by_junitparser_as_written() {
    if !tool_or_skip(python_has("junitparser"), "python3 junitparser") {
        return;
    }
    let dir = &runs().fail;
    let o = Command::new("python3")
        .arg(repo("ci/junit_check.py"))
        .arg(dir.join("junit.xml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = stored::read_summary(&dir.join("summary.json")).unwrap();
    let want = slogate::report::junit::cases(&s);
    let cases = got["cases"].as_array().unwrap();
    assert_eq!(cases.len(), want.len());
    for (g, w) in cases.iter().zip(&want) {
        assert_eq!(g["name"], w.name.as_str());
        assert_eq!(g["classname"], w.classname.as_str());
        let f = w.failure.as_ref().map(|(t, m)| serde_json::json!([t, m]));
        assert_eq!(
            g["failure"],
            f.unwrap_or(serde_json::Value::Null),
            "{}",
            w.name
        );
    }
    let by_name = |n: &str| {
        cases
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let p99 = by_name("config latency_p99_ms")["failure"][1]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        p99.starts_with("measured ") && p99.contains("vs threshold <= 10.0 ms"),
        "{p99}"
    );
    assert_eq!(
        by_name("config latency_p95_ms")["failure"],
        serde_json::Value::Null
    );
    let contract = by_name("health body checks: status == \"down\"")["failure"][1]
        .as_str()
        .unwrap();
    assert!(
        contract.contains("responses failed the body checks"),
        "{contract}"
    );
    assert_eq!(
        by_name("config body checks: version exists")["failure"],
        serde_json::Value::Null
    );
    assert_eq!(
        got["failures"].as_u64().unwrap() as usize,
        want.iter().filter(|c| c.failure.is_some()).count()
    );
}

#[test]
fn hlog_agrees_with_summary_in_python_hdrhistogram() {
    if !tool_or_skip(python_has("hdrh"), "python3 hdrhistogram") {
        return;
    }
    let check = |dir: &Path| {
        Command::new("python3")
            .arg(repo("ci/hlog_check.py"))
            .arg(dir)
            .output()
            .unwrap()
    };
    let o = check(&runs().fail);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("histograms from"), "{}", text(&o));
    // The check can fail: a summary whose p99 moved by 5 % no longer agrees.
    let dir = copy_run(&runs().fail, "hlog-tampered");
    let p = dir.join("summary.json");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let v = s["probes"][0]["latency"]["p99_ms"].as_f64().unwrap();
    s["probes"][0]["latency"]["p99_ms"] = serde_json::json!(v * 1.05);
    std::fs::write(&p, s.to_string()).unwrap();
    let o = check(&dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("config.latency: p99"), "{}", text(&o));
}

#[test]
fn report_command_renders_the_same_files_again() {
    let src = &runs().fail;
    let dir = copy_run(src, "rerender");
    let names = [
        "metrics.csv",
        "report.md",
        "report.html",
        "junit.xml",
        "manifest.json",
    ];
    for n in names {
        std::fs::remove_file(dir.join(n)).unwrap();
    }
    let o = slogate(&["report", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for n in names {
        let (a, b) = (
            std::fs::read(src.join(n)).unwrap(),
            std::fs::read(dir.join(n)).unwrap(),
        );
        assert!(a == b, "{n} differs after re-rendering");
    }
}

#[test]
fn verify_names_changed_missing_and_extra_files() {
    let dir = copy_run(&runs().fail, "verify");
    let d = dir.to_str().unwrap();
    let o = slogate(&["verify", d]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok: 6 files match"), "{}", text(&o));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let until = humantime::parse_rfc3339(m["retain_until_utc"].as_str().unwrap()).unwrap();
    let started = humantime::parse_rfc3339(m["started_utc"].as_str().unwrap()).unwrap();
    assert_eq!(
        until.duration_since(started).unwrap(),
        Duration::from_secs(366 * 86_400)
    );

    std::fs::write(dir.join("report.md"), "# all good\n").unwrap();
    std::fs::remove_file(dir.join("junit.xml")).unwrap();
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let o = slogate(&["verify", d]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("changed: report.md"), "{t}");
    assert!(t.contains("missing: junit.xml"), "{t}");
    assert!(t.contains("extra: notes.txt"), "{t}");
    assert!(
        !t.contains("summary.json"),
        "unchanged files are not named: {t}"
    );
}

fn compare_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("compare.json")).unwrap()).unwrap()
}

#[test]
fn compare_calls_a_slower_target_a_regression() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let o = slogate(&[
        "compare",
        r.fast.to_str().unwrap(),
        r.slow.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--fail-on-regression",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let c = compare_json(out.path());
    let m = &c["metrics"][0];
    assert_eq!(
        (m["metric"].as_str(), m["call"].as_str()),
        (Some("latency_p95_ms"), Some("regressed"))
    );
    let (b, a) = (m["before"].as_f64().unwrap(), m["after"].as_f64().unwrap());
    // Loose on the slow side of each: a busy machine adds to both.
    common::assert_within("before p95", b, 10.0, 60.0);
    common::assert_within("after p95", a, 80.0, 200.0);
    assert!(m["noise"].as_f64().unwrap() < (a - b), "{m}");
    let md = std::fs::read_to_string(out.path().join("compare.md")).unwrap();
    assert!(
        md.contains("**regressed**") && md.contains("How the calls are made"),
        "{md}"
    );
}

#[test]
fn compare_of_a_run_with_itself_is_unchanged_and_joins_the_manifest() {
    let dir = copy_run(&runs().fast, "compare-self");
    let d = dir.to_str().unwrap();
    let o = slogate(&["compare", d, d, "--fail-on-regression"]);
    assert!(o.status.success(), "{}", text(&o));
    let c = compare_json(&dir);
    assert_eq!(c["metrics"][0]["call"], "unchanged");
    assert_eq!(c["metrics"][0]["delta"].as_f64(), Some(0.0));
    let v = slogate(&["verify", d]);
    assert!(
        v.status.success(),
        "compare files are in the manifest: {}",
        text(&v)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_gate_fails_a_run_whose_slo_holds() {
    let baseline = runs().fast.clone();
    let t = common::target(config_latency(80)).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("gate.toml");
    std::fs::write(&scenario, GATE).unwrap();
    let (url, out) = (t.base_url(), dir.path().join("out"));
    let o = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .arg("run")
            .arg(&scenario)
            .args([
                "-e",
                &format!("BASE_URL={url}"),
                "-q",
                "--max-regression",
                "10%",
                "--retain",
                "2y",
            ])
            .arg("--baseline")
            .arg(&baseline)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    t.stop();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("PASS") && t.contains("REGRESSED"),
        "SLO holds, gate fails: {t}"
    );
    assert!(t.contains("baseline gate: FAIL"), "{t}");
    let run = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let s = stored::read_summary(&run.join("summary.json")).unwrap();
    assert_eq!(s.slos[0].verdict, slogate::slo::Verdict::Pass);
    assert_eq!(s.run.exit_code, 1);
    let b = s.baseline.expect("gate recorded");
    assert!(b.regressed && b.metrics[0].change.unwrap() > 0.3, "{b:?}");
    assert!(std::fs::read_to_string(run.join("report.md"))
        .unwrap()
        .contains("## Baseline gate: FAIL"));
    assert!(std::fs::read_to_string(run.join("junit.xml"))
        .unwrap()
        .contains("baseline_regression"));
    let m = slogate::report::manifest::read(&run).unwrap();
    let until = humantime::parse_rfc3339(&m.retain_until_utc).unwrap();
    let started = humantime::parse_rfc3339(&m.started_utc).unwrap();
    let kept = until.duration_since(started).unwrap();
    assert_eq!(kept, Duration::from_secs(731 * 86_400), "--retain 2y");
}

const GATE_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/ci-gate.toml");

#[test]
fn bad_baseline_and_short_retention_are_bad_input() {
    let o = slogate(&[
        "run",
        GATE_FILE,
        "-e",
        "BASE_URL=http://127.0.0.1:9",
        "--baseline",
        "/nonexistent/run",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--baseline"), "{}", text(&o));
    let o = slogate(&["run", GATE_FILE, "--retain", "30d"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("at least 365 days"), "{}", text(&o));
}
