//! Streams that never open, die early or are sent elsewhere must fail or be
//! refused, never pass: found by trying to break the tool.

use std::time::Duration;

use slogate::slo::Verdict;
use slogate::target::TargetConfig;

use crate::common::*;
use crate::rawserver::{self, Reply};

fn stream_toml(path: &str, hold: &str, extra: &str, slo: &str) -> String {
    format!(
        "base_url = \"${{BASE_URL}}\"\n{extra}\n[[stream]]\nname = \"s\"\npath = \"{path}\"\n\
         hold = \"{hold}\"\nreconnect_delay = \"100ms\"\n[stream.slo]\n{slo}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_opens_has_no_data_and_fails() {
    let t = target(quiet_target()).await;
    let slo = "ttfb_p50 = \"200ms\"\ngap_max = \"10s\"\nreconnects_max = 0\nids_lost_max = 0";
    let sc = scenario(&stream_toml("/nothere", "1s", "", slo), &t.base_url());
    let o = run(&sc).await;
    for r in &o.summary.slos {
        assert_eq!((r.metric.as_str(), r.value), (r.metric.as_str(), None));
        assert_eq!(r.verdict, Verdict::NoData, "{}", r.metric);
    }
    assert_eq!(o.summary.run.exit_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_dies_early_is_silent_until_its_hold_ends() {
    let cfg = TargetConfig {
        stream_close_after: Some(Duration::from_millis(300)),
        event_interval: Duration::ZERO,
        ..quiet_target()
    };
    let t = target(cfg).await;
    let toml = stream_toml("/jobs/stream", "3s", "", "gap_max = \"2s\"")
        .replace("[stream.slo]", "reconnect = false\n[stream.slo]");
    let o = run(&scenario(&toml, &t.base_url())).await;
    let gap = o.slo("s", "gap_max_ms");
    assert_within(
        "silence after the close",
        gap.value.unwrap(),
        2600.0,
        3100.0,
    );
    assert_eq!(gap.verdict, Verdict::Fail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = rawserver::serve(|_| Reply::sse().at(10, ": hi\n\n")).await;
    let location = format!("{}/api/jobs/stream", elsewhere.url);
    let head = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let origin = rawserver::serve(move |_| Reply::chunked(&head).end(0)).await;
    let toml = stream_toml(
        "/jobs/stream",
        "1s",
        "[auth]\nbearer = \"tok-abcdef\"\n[defaults]\nfollow_redirects = true",
        "gap_max = \"10s\"",
    );
    let sc = scenario(&toml, &format!("{}/api", origin.url));
    let o = run(&sc).await;
    assert!(
        elsewhere.requests().is_empty(),
        "the token went to another origin"
    );
    assert!(!origin.requests().is_empty());
    assert_eq!(o.summary.run.exit_code, 1);
}
