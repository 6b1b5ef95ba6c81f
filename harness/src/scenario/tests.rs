use super::*;

fn vars() -> Vars {
    let mut v = Vars::default();
    v.cli
        .insert("BASE_URL".into(), "http://127.0.0.1:9/api".into());
    v.cli.insert("TOKEN".into(), "s3cr3t-token".into());
    v
}

const GOOD: &str = r#"
name = "t"
base_url = "${BASE_URL}"
[auth]
bearer = "${TOKEN}"
[defaults]
duration = "10s"
[slo]
rate_5xx_max = "0.5%"
availability_min = "99.9%"

[[probe]]
name = "healthz"
class = "health"
path = "/healthz"
rate = "20/s"
checks = [{ field = "status", equals = "ok" }]
[probe.slo]
p95 = "150ms"

[[probe]]
name = "ramp"
path = "/config/effective"
rate = "10/s"
stages = [{ target = "100/s", duration = "5s" }, { target = "100/s", duration = "5s" }]

[[stream]]
name = "jobs"
path = "/jobs/stream"
connections = 3
[stream.slo]
ttfb_p50 = "200ms"
gap_max = "10s"
"#;

fn parse_str(src: &str) -> Result<Scenario, ScenarioError> {
    parse("x.toml", src, &vars(), &Overrides::default())
}

#[test]
fn a_full_scenario_resolves() {
    let s = parse_str(GOOD).unwrap();
    assert_eq!(s.probes.len(), 2);
    assert_eq!(
        s.probes[0].url.to_string(),
        "http://127.0.0.1:9/api/healthz"
    );
    assert_eq!(s.probes[0].slos[0].threshold, 150.0);
    assert_eq!(s.probes[1].load.duration(), Duration::from_secs(10));
    assert_eq!(s.streams[0].connections, 3);
    assert_eq!(s.streams[0].hold, Duration::from_secs(10));
    assert_eq!(s.run_slos.len(), 2);
    assert!(s.probes[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer s3cr3t-token"));
    assert_eq!(s.secrets.mask("x s3cr3t-token y"), "x *** y");
}

#[test]
fn a_typo_names_line_and_field() {
    let src = GOOD.replace("rate = \"20/s\"", "rat = \"20/s\"");
    let e = parse_str(&src).unwrap_err();
    assert_eq!(e.line, 16, "{e}");
    assert!(e.field.contains("rat"), "{e}");
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[test]
fn a_bad_value_says_what_is_expected() {
    let src = GOOD.replace("p95 = \"150ms\"", "p95 = \"150\"");
    let e = parse_str(&src).unwrap_err();
    assert_eq!(e.line, 19, "{e}");
    assert_eq!(e.field, "probe.slo.p95");
    assert!(e.message.contains("250ms"), "{e}");
}

#[test]
fn semantic_errors_point_at_the_probe() {
    let src = GOOD.replace("rate = \"20/s\"", "rate = \"20/s\"\nconcurrency = 2");
    let e = parse_str(&src).unwrap_err();
    assert_eq!(e.line, 12, "{e}");
    assert!(e.message.contains("choose one"), "{e}");

    let src = GOOD.replace("path = \"/healthz\"", "path = \"healthz\"");
    let e = parse_str(&src).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (15, "probe.path"), "{e}");
}

#[test]
fn unset_variable_is_reported_with_its_place() {
    let e = parse("x.toml", GOOD, &Vars::default(), &Overrides::default());
    // BASE_URL might be in the environment of whoever runs the tests.
    if std::env::var("BASE_URL").is_err() {
        let e = e.unwrap_err();
        assert_eq!((e.line, e.col), (3, 13), "{e}");
        assert!(e.message.contains("-e BASE_URL=VALUE"), "{e}");
    }
}

#[test]
fn duration_override_applies_everywhere() {
    let ov = Overrides {
        duration: Some(Duration::from_secs(3)),
    };
    let s = parse("x.toml", GOOD, &vars(), &ov).unwrap();
    assert_eq!(s.probes[0].load.duration(), Duration::from_secs(3));
    assert_eq!(s.streams[0].hold, Duration::from_secs(3));
}

#[test]
fn every_metric_key_round_trips() {
    for m in ALL_METRICS {
        assert_eq!(Metric::from_key(m.key()), Some(m));
    }
}

#[test]
fn names_headers_and_counts_are_checked_before_anything_is_sent() {
    let cases = [
        (
            GOOD.replace("name = \"healthz\"", "name = \"x|y\\n# Verdict: PASS\""),
            "probe.name",
            13,
        ),
        (
            GOOD.replace(
                "path = \"/healthz\"",
                "path = \"/healthz\"\nheaders = { \"bad header\" = \"x\" }",
            ),
            "probe.headers",
            12,
        ),
        (
            GOOD.replace("rate = \"20/s\"", "rate = \"20/s\"\nconnections = 0"),
            "probe.connections",
            12,
        ),
        (
            GOOD.replace("connections = 3", "connections = 4294967295"),
            "stream.connections",
            28,
        ),
        (
            GOOD.replace("duration = \"10s\"", "duration = \"0s\""),
            "defaults.duration",
            7,
        ),
    ];
    for (src, field, line) in cases {
        let e = parse_str(&src).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), (field, line), "{e}");
    }
}

#[test]
fn secrets_are_masked_in_errors_and_names() {
    let src = GOOD.replace("name = \"t\"", "name = \"rel-${API_TOKEN}\"");
    let mut v = vars();
    v.cli.insert("API_TOKEN".into(), "Zq9secretvalue".into());
    let s = parse("x.toml", &src, &v, &Overrides::default()).unwrap();
    assert_eq!(s.name, "rel-***");
    let bad = GOOD.replace("path = \"/healthz\"", "path = \"healthz?t=${API_TOKEN}\"");
    let e = parse("x.toml", &bad, &v, &Overrides::default()).unwrap_err();
    assert!(!e.to_string().contains("Zq9secretvalue"), "{e}");
    assert!(e.to_string().contains("***"), "{e}");
}

#[test]
fn reconnect_delays_default_parse_and_refuse_zero() {
    let base = "base_url = \"${BASE_URL}\"\n[[stream]]\nname = \"s\"\npath = \"/s\"\n";
    let parse_with = |extra: &str| {
        parse(
            "f.toml",
            &format!("{base}{extra}"),
            &vars(),
            &Overrides::default(),
        )
    };
    let s = parse_with("").unwrap();
    assert_eq!(s.streams[0].reconnect_delay, defaults::RECONNECT_DELAY);
    assert_eq!(
        s.streams[0].reconnect_delay_max,
        defaults::RECONNECT_DELAY_MAX
    );
    let s = parse_with("reconnect_delay = \"250ms\"\nreconnect_delay_max = \"5s\"").unwrap();
    assert_eq!(s.streams[0].reconnect_delay, Duration::from_millis(250));
    assert_eq!(s.streams[0].reconnect_delay_max, Duration::from_secs(5));
    let e = parse_with("reconnect_delay = \"0s\"").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (5, "stream.reconnect_delay"));
}
