//! `report.md`: the page for the release pack. Verdict first, then the SLO
//! table, then one table per probe and stream, then the run's facts.

use std::fmt::Write;

use super::fmt::{bound, margin, opt_ms, value};
use super::summary::Summary;
use crate::metrics::Percentiles;

pub fn slo_table(s: &Summary, out: &mut String) {
    out.push_str(
        "| scope | SLO | measured | threshold | margin | verdict |\n|---|---|---:|---:|---:|---|\n",
    );
    for r in &s.slos {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} | {} | **{}** |",
            r.scope,
            r.metric,
            bound(r.bound),
            value(r.value, &r.unit),
            value(Some(r.threshold), &r.unit),
            margin(r.margin, &r.unit),
            r.verdict.label()
        );
    }
}

fn pct_row(label: &str, p: &Percentiles, out: &mut String) {
    let _ = writeln!(
        out,
        "| {label} | {} | {} | {} | {} | {} | {} |",
        p.count,
        opt_ms(p.p50_ms),
        opt_ms(p.p90_ms),
        opt_ms(p.p95_ms),
        opt_ms(p.p99_ms),
        opt_ms(p.max_ms)
    );
}

const PCT_HEAD: &str =
    "| metric | samples | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n";

pub fn render(s: &Summary) -> String {
    let mut o = String::new();
    let r = &s.run;
    let _ = writeln!(o, "# slogate: {} — {}\n", r.scenario, r.verdict.label());
    let failed = s
        .slos
        .iter()
        .filter(|x| x.verdict != crate::slo::Verdict::Pass)
        .count();
    let _ = writeln!(
        o,
        "**Verdict: {}** (exit code {}). {} of {} SLOs met. Run `{}` against `{}`, {} to {} UTC ({:.1} s).\n",
        r.verdict.label(),
        r.exit_code,
        s.slos.len() - failed,
        s.slos.len(),
        r.id,
        r.base_url,
        r.started_utc,
        r.ended_utc,
        r.duration_s
    );
    if !r.complete {
        o.push_str("> **Incomplete or untrustworthy run:**\n");
        for why in &r.reasons {
            let _ = writeln!(o, "> - {why}");
        }
        o.push('\n');
    }
    o.push_str("## SLOs\n\n");
    slo_table(s, &mut o);
    super::baseline::markdown(s, &mut o);
    for p in &s.probes {
        let _ = writeln!(
            o,
            "\n## Probe `{}`: {} {} ({})\n",
            p.name, p.method, p.path, p.class
        );
        let _ = writeln!(
            o,
            "Load {}; {} requests, {} ok, error rate {}, {:.1} requests/s.\n",
            p.load,
            p.requests,
            p.ok,
            value(p.error_rate, "ratio"),
            p.throughput_rps
        );
        o.push_str(PCT_HEAD);
        pct_row("latency (from intended start)", &p.latency, &mut o);
        pct_row("service time (from actual send)", &p.service, &mut o);
        counts_line(&mut o, "Errors", &p.errors);
        counts_line(&mut o, "Status classes", &p.status);
        if p.late_generator + p.late_backpressure > 0 {
            let _ = writeln!(
                o,
                "Late sends: {} waited for a busy connection (target back-pressure), {} were late with a connection free (generator).",
                p.late_backpressure, p.late_generator
            );
        }
    }
    for st in &s.streams {
        let _ = writeln!(o, "\n## Stream `{}`: GET {}\n", st.name, st.path);
        let _ = writeln!(
            o,
            "{} streams held {:.0} s; {} connects, {} reconnects, {} messages ({} events, {} data events, {} comments); ids lost {}, repeated {}; {} connections ended without a message; closed by server (204): {}.\n",
            st.streams, st.hold_s, st.connects, st.reconnects, st.messages, st.events, st.data_events,
            st.comments, st.ids_lost, st.ids_repeated, st.empty_connections, st.closed_by_server
        );
        o.push_str(PCT_HEAD);
        pct_row("TTFB (request to headers)", &st.ttfb, &mut o);
        pct_row("first byte", &st.first_byte, &mut o);
        pct_row("first message", &st.first_message, &mut o);
        pct_row("first data event", &st.first_event, &mut o);
        pct_row("heartbeat gap", &st.gap, &mut o);
        pct_row("data gap", &st.data_gap, &mut o);
        pct_row("worst gap per stream", &st.stream_max_gap, &mut o);
        pct_row("reconnect time", &st.reconnect_time, &mut o);
        counts_line(&mut o, "Errors", &st.errors);
        stream_notes(st, &mut o);
        let _ = writeln!(o, "\nHeartbeat gap: {}.", st.gap_definition);
    }
    super::windows::markdown(s, &mut o);
    o.push_str("\n## Run facts\n\n");
    let t = &s.totals;
    let _ = writeln!(o, "- requests (JSON and stream connects): {}", t.requests);
    let _ = writeln!(
        o,
        "- 5xx: {} ({}), transport errors: {}",
        t.status_5xx,
        value(t.rate_5xx, "ratio"),
        t.transport_errors
    );
    let _ = writeln!(o, "- availability: {}", value(t.availability, "ratio"));
    let g = &s.generator;
    let _ = writeln!(
        o,
        "- generator: send lateness p99 {}, {} late with a connection free (bound {:.2} %), {} late behind busy connections",
        opt_ms(g.lateness.p99_ms),
        g.late_generator,
        g.max_late_ratio * 100.0,
        g.late_backpressure
    );
    let _ = writeln!(
        o,
        "- scenario: `{}` (sha256 `{}`)",
        r.scenario_file, r.scenario_sha256
    );
    let _ = writeln!(o, "- tool: {} {}", s.tool.name, s.tool.version);
    if let Some(a) = &r.agent {
        let _ = writeln!(o, "- agent: {a}");
    }
    if let (Some(at), Some(off)) = (&r.start_at_utc, r.start_offset_ms) {
        let _ = writeln!(o, "- agreed start: {at}, load started {off:.1} ms after it");
    }
    for a in &r.agents {
        let _ = writeln!(
            o,
            "- merged agent {}: `{}`, started +{:.1} ms, own share {}",
            a.agent.as_deref().unwrap_or("?"),
            a.id,
            a.start_ms,
            a.verdict.label()
        );
    }
    for w in &r.warnings {
        let _ = writeln!(o, "- warning: {w}");
    }
    let _ = writeln!(o, "- latency: HDR histograms, microseconds, 3 significant digits; percentiles of successful requests only; interval {} s", r.interval_s);
    o
}

fn counts_line(o: &mut String, label: &str, m: &std::collections::BTreeMap<String, u64>) {
    if m.is_empty() {
        return;
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(o, "\n{label}: {}.", parts.join(", "));
}

/// Reconnect facts, protocol-error reasons and a flapping warning.
fn stream_notes(st: &crate::report::summary::StreamSummary, o: &mut String) {
    let _ = writeln!(
        o,
        "\nDisconnects: {}; reconnects: {}; ids lost: {}; ids repeated: {}.",
        st.disconnects, st.reconnects, st.ids_lost, st.ids_repeated
    );
    if !st.protocol_errors.is_empty() {
        let reasons: Vec<String> = st
            .protocol_errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(o, "\nProtocol errors: {}.", reasons.join("; "));
    }
    if st.flapping_streams > 0 {
        let _ = writeln!(
            o,
            "\n**Flapping**: {} stream(s) connected and ended without a single message at \
             least twice in a row.",
            st.flapping_streams
        );
    }
}
