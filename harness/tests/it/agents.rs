//! One scenario split over three agent processes and merged, beside the
//! same scenario run whole, all against one embedded target: the split is
//! exact, the merge adds counts and histograms losslessly, and the merged
//! verdict is the single run's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use slogate::metrics::{Hist, Percentiles};
use slogate::report::stored::{self, Stored};
use slogate::slo::Verdict;
use slogate::target::TargetConfig;

use crate::common;

/// 300 + 100 requests and 5 streams in 2 s; every 10th JSON answer a 503,
/// so availability fails, and a p50 below the target's 1 ms latency fails.
const SCENARIO: &str = r#"
name = "split"
base_url = "${BASE_URL}"
[defaults]
duration = "2s"
connections = 4
# Tests share a busy machine; the generator's own lateness is not judged here.
max_late_ratio = "100%"
[slo]
rate_5xx_max = "50%"
availability_min = "99.9%"
[[probe]]
name = "config"
path = "/config/effective"
rate = "150/s"
[probe.slo]
p50 = "0.5ms"
p95 = "2s"
error_rate = "50%"
[[probe]]
name = "ramp"
path = "/healthz"
stages = [{ target = "100/s", duration = "2s" }]
[probe.slo]
p99 = "2s"
[[stream]]
name = "jobs"
path = "/jobs/stream"
connections = 5
[stream.slo]
ttfb_p50 = "2s"
gap_max = "5s"
"#;

fn slogate(args: &[&str]) -> Output {
    Command::new(common::bin())
        .args(args)
        .output()
        .expect("slogate starts")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The single evidence folder under `dir`.
fn folder(dir: &Path) -> PathBuf {
    let mut d: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(d.len(), 1, "{d:?}");
    d.pop().unwrap()
}

/// Runs the three agents and the whole run at one agreed start.
async fn run_all(scenario: &Path, base_url: &str, root: &Path) -> Vec<Output> {
    let at = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(2));
    let mut jobs = Vec::new();
    for who in ["0/3", "1/3", "2/3", "whole"] {
        let mut args = vec![
            "run".to_string(),
            scenario.display().to_string(),
            "-q".into(),
            "-e".into(),
            format!("BASE_URL={base_url}"),
            "--start-at".into(),
            at.to_string(),
            "--out".into(),
        ];
        if who == "whole" {
            args.push(root.join("whole").display().to_string());
        } else {
            args.extend([
                root.join("agents").display().to_string(),
                "--agent".into(),
                who.into(),
            ]);
        }
        jobs.push(tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            slogate(&a)
        }));
    }
    let mut out = Vec::new();
    for j in jobs {
        out.push(j.await.unwrap());
    }
    out
}

/// Equal percentiles; the mean only to rounding, as adding in another
/// order moves its last bit.
fn same(got: &Percentiles, want: &Percentiles, tag: &str) {
    let (gm, wm) = (got.mean_ms.unwrap(), want.mean_ms.unwrap());
    assert!((gm - wm).abs() <= 1e-9 * wm, "{tag} mean {gm} vs {wm}");
    let strip = |p: &Percentiles| Percentiles {
        mean_ms: None,
        ..p.clone()
    };
    assert_eq!(strip(got), strip(want), "{tag}");
}

fn added(agents: &[Stored], tag: &str) -> Hist {
    let mut h = Hist::default();
    agents.iter().for_each(|a| h.add(&a.total(tag)));
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_merge_to_the_sum_and_the_single_run_verdict() {
    let t = common::target(TargetConfig {
        error_rate: 0.10,
        heartbeat: Duration::from_millis(200),
        ..common::quiet_target()
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let scenario = root.path().join("split.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let outs = run_all(&scenario, &t.base_url(), root.path()).await;
    for (o, want) in outs.iter().zip([0, 0, 0, 1]) {
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(code(o), want, "{}{text}", stderr(o));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.path().join("agents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let agents: Vec<Stored> = dirs.iter().map(|d| stored::read(d).unwrap()).collect();
    let whole = stored::read(&folder(&root.path().join("whole"))).unwrap();

    // The split is exact: every third slot, stream and the remainder first.
    let labels: Vec<_> = agents
        .iter()
        .map(|a| a.summary.run.agent.clone().unwrap())
        .collect();
    assert_eq!(labels, ["0/3", "1/3", "2/3"]);
    assert!(
        dirs[1].to_string_lossy().ends_with("-agent1of3"),
        "{dirs:?}"
    );
    let per = |f: &dyn Fn(&Stored) -> u64| agents.iter().map(f).collect::<Vec<_>>();
    assert_eq!(per(&|a| a.summary.probes[0].requests), [100, 100, 100]);
    assert_eq!(per(&|a| a.summary.probes[1].requests), [34, 33, 33]);
    assert_eq!(per(&|a| a.summary.streams[0].streams.into()), [2, 2, 1]);
    for a in &agents {
        let off = a.summary.run.start_offset_ms.unwrap();
        common::assert_within("agent start after the agreed instant, ms", off, 0.0, 1000.0);
    }

    let out = root.path().join("merged");
    let args = [
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
        dirs[2].to_str().unwrap(),
    ];
    let m = slogate(&[&["merge", "--out", out.to_str().unwrap()][..], &args[..]].concat());
    assert_eq!(code(&m), 1, "{}", stderr(&m));
    let mdir = folder(&out);
    for f in [
        "summary.json",
        "metrics.csv",
        "report.md",
        "report.html",
        "junit.xml",
        "histograms.hlog",
        "manifest.json",
    ] {
        assert!(mdir.join(f).is_file(), "merged evidence lacks {f}");
    }
    let v = slogate(&["verify", mdir.to_str().unwrap()]);
    assert_eq!(code(&v), 0, "the merged manifest holds: {}", stderr(&v));
    let merged = stored::read(&mdir).unwrap();
    let ms = &merged.summary;

    // Counts: the sum of the agents', and the whole run's.
    let sum = |f: &dyn Fn(&Stored) -> u64| agents.iter().map(f).sum::<u64>();
    assert_eq!(ms.probes[0].requests, 300);
    assert_eq!(ms.probes[1].requests, 100);
    assert_eq!(ms.probes[0].requests, whole.summary.probes[0].requests);
    assert_eq!(ms.probes[1].requests, whole.summary.probes[1].requests);
    assert_eq!(ms.totals.requests, sum(&|a| a.summary.totals.requests));
    assert_eq!(ms.totals.ok, sum(&|a| a.summary.totals.ok));
    let fives = sum(&|a| a.summary.totals.status_5xx);
    assert!(fives > 0, "the target's injected 503s reached the agents");
    assert_eq!(ms.totals.status_5xx, fives);
    assert_eq!(ms.streams[0].streams, 5);
    assert_eq!(
        ms.streams[0].connects,
        sum(&|a| a.summary.streams[0].connects)
    );
    assert_eq!(
        ms.streams[0].messages,
        sum(&|a| a.summary.streams[0].messages)
    );

    // Percentiles: those of the agents' raw histograms added together.
    for (tag, got) in [
        ("config.latency", &ms.probes[0].latency),
        ("ramp.service", &ms.probes[1].service),
        ("jobs.ttfb", &ms.streams[0].ttfb),
        ("jobs.gap", &ms.streams[0].gap),
    ] {
        let want = added(&agents, tag);
        assert!(!want.is_empty(), "{tag}");
        same(got, &want.summary(), tag);
        same(&merged.total(tag).summary(), &want.summary(), tag);
    }
    let rows: u64 = ms
        .intervals
        .iter()
        .filter(|r| r.name == "config")
        .map(|r| r.requests)
        .sum();
    assert_eq!(rows, 300, "the merged timeline holds every request once");

    // One verdict, the single run's, SLO by SLO.
    let verdicts = |s: &slogate::report::Summary| {
        s.slos
            .iter()
            .map(|r| (r.scope.clone(), r.metric.clone(), r.verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(ms), verdicts(&whole.summary));
    assert_eq!(ms.run.verdict, Verdict::Fail);
    assert_eq!(ms.run.verdict, whole.summary.run.verdict);
    assert_eq!(ms.run.agents.len(), 3);
    eprintln!(
        "merged vs whole: config p50 {:?}/{:?} p95 {:?}/{:?} p99 {:?}/{:?} ms, 5xx {}/{}",
        ms.probes[0].latency.p50_ms,
        whole.summary.probes[0].latency.p50_ms,
        ms.probes[0].latency.p95_ms,
        whole.summary.probes[0].latency.p95_ms,
        ms.probes[0].latency.p99_ms,
        whole.summary.probes[0].latency.p99_ms,
        ms.totals.status_5xx,
        whole.summary.totals.status_5xx
    );
    refusals(&dirs, &scenario, root.path());
    t.stop();
}

/// What merge and the agent flags refuse, on the evidence just written.
fn refusals(dirs: &[PathBuf], scenario: &Path, root: &Path) {
    let out = root.join("partial");
    let o = slogate(&[
        "merge",
        "--out",
        out.to_str().unwrap(),
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 3, "a missing agent makes the merge inconclusive");
    let s = stored::read_summary(&folder(&out).join("summary.json")).unwrap();
    assert!(
        s.run
            .reasons
            .iter()
            .any(|r| r.contains("agents missing: 2/3")),
        "{:?}",
        s.run.reasons
    );

    let other = root.join("other");
    copy_dir(&dirs[2], &other);
    let p = other.join("summary.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let sha = stored::read_summary(&p).unwrap().run.scenario_sha256;
    std::fs::write(&p, text.replace(&sha, &"0".repeat(64))).unwrap();
    let o = slogate(&["merge", dirs[0].to_str().unwrap(), other.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("different scenarios"), "{}", stderr(&o));

    let sc = scenario.to_str().unwrap();
    let o = slogate(&[
        "run",
        sc,
        "--agent",
        "3/3",
        "-e",
        "BASE_URL=http://127.0.0.1:9/api",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("0 <= I < N"), "{}", stderr(&o));
    let far = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(7200));
    let o = slogate(&[
        "run",
        sc,
        "--start-at",
        &far.to_string(),
        "-e",
        "BASE_URL=x",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("ahead"), "{}", stderr(&o));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
