//! `report.html`: one self-contained page (inline CSS and SVG, no script, a
//! Content-Security-Policy that forbids any fetch) rendered from the summary
//! and the interval histograms, so it can be regenerated from a stored run.
//! Order: verdict banner, SLO table, latency percentile curves, timelines,
//! SSE distributions, run facts.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::charts;
use super::fmt::{bound, margin, opt_ms, value};
use super::stored::Stored;
use super::summary::Summary;
use crate::metrics::Percentiles;
use crate::slo::Verdict;

const STYLE: &str = include_str!("report.css");

pub fn render(st: &Stored) -> String {
    let s = &st.summary;
    let mut o = String::with_capacity(64 * 1024);
    head(s, &mut o);
    banner(s, &mut o);
    slo_table(s, &mut o);
    contracts(s, &mut o);
    super::baseline::html(s, &mut o);
    latency(st, &mut o);
    timelines(s, &mut o);
    super::windows::html(s, &mut o);
    streams(st, &mut o);
    facts(s, &mut o);
    o.push_str("</main></body></html>\n");
    o
}

fn head(s: &Summary, o: &mut String) {
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
style-src 'unsafe-inline'; img-src data:\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>slogate {}: {}</title><style>{STYLE}</style></head><body><main>",
        escape(&s.run.scenario),
        s.run.verdict.label()
    );
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail | Verdict::NoData => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn banner(s: &Summary, o: &mut String) {
    let r = &s.run;
    let met = s.slos.iter().filter(|x| x.verdict == Verdict::Pass).count();
    let _ = write!(
        o,
        "<header id=\"verdict\" class=\"banner {}\"><div class=\"v\">{}</div><div>\
<h1>{}</h1><p><b>{met} of {} SLOs met</b> · exit code {} · {}</p>\
<p class=\"sub\">run {} · target {} · {} → {} UTC · {:.1} s</p>",
        verdict_class(r.verdict),
        r.verdict.label(),
        escape(&r.scenario),
        s.slos.len(),
        r.exit_code,
        verdict_sentence(s),
        escape(&r.id),
        escape(&r.base_url),
        escape(&r.started_utc),
        escape(&r.ended_utc),
        r.duration_s
    );
    for why in &r.reasons {
        let _ = write!(o, "<p class=\"why\">Not trustworthy: {}</p>", escape(why));
    }
    for line in breaches(s) {
        let _ = write!(o, "<p class=\"why\">{}</p>", escape(&line));
    }
    o.push_str("</div></header>");
}

/// One line per broken promise: SLO breached, contract failed, baseline regressed.
fn breaches(s: &Summary) -> Vec<String> {
    let mut out: Vec<String> = super::junit::cases(s)
        .into_iter()
        .filter(|c| !c.classname.ends_with(".run"))
        .filter_map(|c| c.failure.map(|(_, msg)| format!("{}: {msg}", c.name)))
        .collect();
    if out.len() > 6 {
        let more = out.len() - 5;
        out.truncate(5);
        out.push(format!("and {more} more, see below"));
    }
    out
}

fn verdict_sentence(s: &Summary) -> &'static str {
    let breached = s.slos.iter().any(|r| r.verdict != Verdict::Pass);
    let regressed = s.baseline.as_ref().is_some_and(|b| b.regressed);
    match (s.run.verdict, breached, regressed) {
        (Verdict::Pass, ..) => "every SLO met",
        (Verdict::Inconclusive, ..) => "the run cannot be trusted; see below",
        (_, false, true) => "every SLO met, but a metric regressed past the baseline bound",
        (_, true, true) => "SLOs breached and metrics regressed past the baseline bound",
        _ => "one or more SLOs breached",
    }
}

fn slo_table(s: &Summary, o: &mut String) {
    o.push_str(
        "<section><h2>SLOs</h2><table class=\"slo\"><thead><tr><th>scope</th><th>SLO</th>\
<th class=\"n\">measured</th><th class=\"n\">threshold</th><th class=\"n\">margin</th>\
<th>used</th><th>verdict</th></tr></thead><tbody>",
    );
    for r in &s.slos {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td>{}</td><td><span class=\"tag {}\">{}</span></td></tr>",
            escape(&r.scope),
            escape(&r.metric),
            escape(bound(r.bound)),
            value(r.value, &r.unit),
            value(Some(r.threshold), &r.unit),
            margin(r.margin, &r.unit),
            budget_bar(r),
            verdict_class(r.verdict),
            r.verdict.label()
        );
    }
    o.push_str(
        "</tbody></table><p class=\"note\">Margin: room left before the threshold \
(negative: breached). Used: the measured value as a share of an upper bound.</p></section>",
    );
}

/// The JSON body checks of each probe: how many answers broke them.
fn contracts(s: &Summary, o: &mut String) {
    let probes: Vec<_> = s.probes.iter().filter(|p| !p.checks.is_empty()).collect();
    if probes.is_empty() {
        return;
    }
    o.push_str(
        "<section><h2>Contract checks</h2><table><thead><tr><th>probe</th><th>checks</th>\
<th class=\"n\">answers</th><th class=\"n\">failed checks</th><th>verdict</th></tr></thead><tbody>",
    );
    for p in probes {
        let failed = p.errors.get("check_failed").copied().unwrap_or(0);
        let v = if failed == 0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{failed}\
</td><td><span class=\"tag {}\">{}</span></td></tr>",
            escape(&p.name),
            escape(p.checks.join(", ")),
            p.requests,
            verdict_class(v),
            v.label()
        );
    }
    o.push_str("</tbody></table></section>");
}

/// How much of an upper bound the measured value uses, as a small bar.
fn budget_bar(r: &crate::slo::SloResult) -> String {
    let (Some(v), crate::scenario::Bound::Max) = (r.value, r.bound) else {
        return String::new();
    };
    if r.threshold <= 0.0 {
        return String::new();
    }
    let used = v / r.threshold * 100.0;
    format!(
        "<span class=\"bud\"><span class=\"{}\" style=\"width:{:.0}%\"></span></span> {:.0} %",
        if used > 100.0 { "over" } else { "in" },
        used.min(100.0),
        used
    )
}

fn latency(st: &Stored, o: &mut String) {
    let s = &st.summary;
    if s.probes.is_empty() {
        return;
    }
    o.push_str(
        "<section><h2>Latency percentiles per probe</h2><p class=\"note\">HDR percentile \
curves from the interval log: latency of successful requests from the intended start \
(coordinated omission corrected). Percentile axis on a log scale, latency on a log scale; \
crosses mark each latency SLO at its percentile.</p><div class=\"grid\">",
    );
    for p in &s.probes {
        let h = st.total(&super::tag(&p.name, "latency"));
        let _ = write!(
            o,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            charts::percentile_curve(&p.name, &h, s),
            pct_caption(&p.latency, p.requests, p.ok, &p.errors)
        );
    }
    o.push_str("</div></section>");
}

fn pct_caption(
    p: &Percentiles,
    requests: u64,
    ok: u64,
    errors: &std::collections::BTreeMap<String, u64>,
) -> String {
    let mut c = format!(
        "{requests} requests, {ok} ok · p50 {} · p90 {} · p95 {} · p99 {} · max {}",
        opt_ms(p.p50_ms),
        opt_ms(p.p90_ms),
        opt_ms(p.p95_ms),
        opt_ms(p.p99_ms),
        opt_ms(p.max_ms)
    );
    if !errors.is_empty() {
        let parts: Vec<String> = errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(c, " · errors: {}", parts.join(", "));
    }
    escape(&c).into_owned()
}

fn timelines(s: &Summary, o: &mut String) {
    if s.intervals.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<section><h2>Over time</h2><p class=\"note\">One point per {} s interval. \
p95 of JSON latency per probe; error share of requests (JSON) and connects (streams).\
</p><div class=\"grid\"><figure>{}</figure><figure>{}</figure>",
        super::fmt::trim(s.run.interval_s),
        charts::p95_timeline(s),
        charts::error_timeline(s)
    );
    if !s.streams.is_empty() {
        let _ = write!(o, "<figure>{}</figure>", charts::gap_timeline(s));
    }
    o.push_str("</div></section>");
}

fn streams(st: &Stored, o: &mut String) {
    for sm in &st.summary.streams {
        let ttfb = st.total(&super::tag(&sm.name, "ttfb"));
        let gap = st.total(&super::tag(&sm.name, "gap"));
        let _ = write!(
            o,
            "<section><h2>Stream <code>{}</code>: GET {}</h2><p class=\"note\">{} streams held \
{:.0} s: {} connects, {} reconnects, {} messages ({} data events), ids lost {}. Heartbeat gap: \
{}.</p><div class=\"grid\"><figure>{}<figcaption>{}</figcaption></figure><figure>{}\
<figcaption>{}</figcaption></figure></div></section>",
            escape(&sm.name),
            escape(&sm.path),
            sm.streams,
            sm.hold_s,
            sm.connects,
            sm.reconnects,
            sm.messages,
            sm.data_events,
            sm.ids_lost,
            escape(&sm.gap_definition),
            charts::ttfb_histogram(sm, &ttfb, &st.summary),
            dist_caption("TTFB", &sm.ttfb),
            charts::gap_histogram(sm, &gap, &st.summary),
            dist_caption("gap", &sm.gap),
        );
    }
}

fn dist_caption(what: &str, p: &Percentiles) -> String {
    format!(
        "{what}: {} samples · p50 {} · p95 {} · p99 {} · max {}",
        p.count,
        opt_ms(p.p50_ms),
        opt_ms(p.p95_ms),
        opt_ms(p.p99_ms),
        opt_ms(p.max_ms)
    )
}

/// The run's facts as (label, text) rows.
fn fact_rows(s: &Summary) -> Vec<(&'static str, String)> {
    let r = &s.run;
    let t = &s.totals;
    let g = &s.generator;
    let mut rows: Vec<(&'static str, String)> = vec![
        ("run id", r.id.clone()),
        (
            "scenario",
            format!("{} (sha256 {})", r.scenario_file, r.scenario_sha256),
        ),
        ("target", r.base_url.clone()),
        (
            "started / ended (UTC)",
            format!("{} / {}", r.started_utc, r.ended_utc),
        ),
        (
            "duration",
            format!(
                "{:.1} s, interval {} s",
                r.duration_s,
                super::fmt::trim(r.interval_s)
            ),
        ),
        (
            "requests",
            format!(
                "{} (JSON requests and stream connects), {} ok",
                t.requests, t.ok
            ),
        ),
        (
            "5xx / transport errors",
            format!(
                "{} ({}) / {}",
                t.status_5xx,
                value(t.rate_5xx, "ratio"),
                t.transport_errors
            ),
        ),
        ("availability", value(t.availability, "ratio")),
        (
            "generator",
            format!(
                "send lateness p99 {}; {} late with a connection free (bound {:.2} %); \
{} waited for a busy connection",
                opt_ms(g.lateness.p99_ms),
                g.late_generator,
                g.max_late_ratio * 100.0,
                g.late_backpressure
            ),
        ),
        ("tool", format!("{} {}", s.tool.name, s.tool.version)),
    ];
    if let Some(a) = &r.agent {
        rows.push(("agent", a.clone()));
    }
    for p in &s.probes {
        rows.push((
            "probe",
            format!(
                "{}: {} {} ({}), {}",
                p.name, p.method, p.path, p.class, p.load
            ),
        ));
    }
    rows
}

fn facts(s: &Summary, o: &mut String) {
    let rows = fact_rows(s);
    o.push_str("<section><h2>Run facts</h2><table class=\"facts\"><tbody>");
    for (k, v) in rows {
        let _ = write!(o, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    o.push_str(
        "</tbody></table><p class=\"note\">Latencies: HDR histograms in microseconds, 3 \
significant digits; percentiles of successful requests. Raw data: histograms.hlog \
(HdrHistogram interval log). This page was rendered from summary.json and histograms.hlog \
and can be rebuilt with <code>slogate report RUN_DIR</code>.</p></section>",
    );
}
