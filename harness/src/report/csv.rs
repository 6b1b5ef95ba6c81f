//! `metrics.csv`: one row per probe or stream and metric, for spreadsheets.
//! The header comes from the row type; a missing value is an empty cell.

use serde::Serialize;

use super::summary::Summary;
use crate::metrics::Percentiles;

#[derive(Debug, Serialize, PartialEq)]
pub struct Row {
    pub kind: String,
    pub name: String,
    pub metric: String,
    pub value: Option<f64>,
    pub unit: String,
    pub slo_threshold: Option<f64>,
    pub slo_verdict: Option<String>,
}

fn pct_rows(prefix: &str, p: &Percentiles, out: &mut Vec<(String, Option<f64>, &'static str)>) {
    for (k, v) in [
        ("p50", p.p50_ms),
        ("p90", p.p90_ms),
        ("p95", p.p95_ms),
        ("p99", p.p99_ms),
        ("p999", p.p999_ms),
        ("max", p.max_ms),
        ("mean", p.mean_ms),
    ] {
        out.push((format!("{prefix}_{k}_ms"), v, "ms"));
    }
    out.push((format!("{prefix}_count"), Some(p.count as f64), "count"));
}

pub fn rows(s: &Summary) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |kind: &str, name: &str, metrics: Vec<(String, Option<f64>, &'static str)>| {
        for (metric, value, unit) in metrics {
            let slo = s
                .slos
                .iter()
                .find(|r| r.scope == name && r.kind == kind && r.metric == metric);
            rows.push(Row {
                kind: kind.into(),
                name: name.into(),
                metric,
                value,
                unit: unit.into(),
                slo_threshold: slo.map(|r| r.threshold),
                slo_verdict: slo.map(|r| r.verdict.label().to_string()),
            });
        }
    };
    for p in &s.probes {
        let mut m = vec![
            ("requests".to_string(), Some(p.requests as f64), "count"),
            ("ok".to_string(), Some(p.ok as f64), "count"),
            ("error_rate".to_string(), p.error_rate, "ratio"),
            (
                "throughput_rps".to_string(),
                Some(p.throughput_rps),
                "per_s",
            ),
            (
                "late_generator".to_string(),
                Some(p.late_generator as f64),
                "count",
            ),
            (
                "late_backpressure".to_string(),
                Some(p.late_backpressure as f64),
                "count",
            ),
        ];
        pct_rows("latency", &p.latency, &mut m);
        pct_rows("service", &p.service, &mut m);
        for (k, v) in &p.errors {
            m.push((format!("errors_{k}"), Some(*v as f64), "count"));
        }
        push("probe", &p.name, m);
    }
    for st in &s.streams {
        let mut m = vec![
            ("connects".to_string(), Some(st.connects as f64), "count"),
            ("connected".to_string(), Some(st.connected as f64), "count"),
            (
                "reconnects".to_string(),
                Some(st.reconnects as f64),
                "count",
            ),
            ("messages".to_string(), Some(st.messages as f64), "count"),
            ("events".to_string(), Some(st.events as f64), "count"),
            (
                "data_events".to_string(),
                Some(st.data_events as f64),
                "count",
            ),
            ("ids_lost".to_string(), Some(st.ids_lost as f64), "count"),
            (
                "ids_repeated".to_string(),
                Some(st.ids_repeated as f64),
                "count",
            ),
            ("stream_error_rate".to_string(), st.error_rate, "ratio"),
            (
                "disconnects".to_string(),
                Some(st.disconnects as f64),
                "count",
            ),
            (
                "flapping_streams".to_string(),
                Some(st.flapping_streams as f64),
                "count",
            ),
        ];
        for (prefix, p) in [
            ("ttfb", &st.ttfb),
            ("first_byte", &st.first_byte),
            ("first_message", &st.first_message),
            ("first_event", &st.first_event),
            ("gap", &st.gap),
            ("data_gap", &st.data_gap),
            ("stream_max_gap", &st.stream_max_gap),
            ("reconnect_time", &st.reconnect_time),
        ] {
            pct_rows(prefix, p, &mut m);
        }
        for (k, v) in &st.errors {
            m.push((format!("errors_{k}"), Some(*v as f64), "count"));
        }
        push("stream", &st.name, m);
    }
    let t = &s.totals;
    push(
        "run",
        "run",
        vec![
            ("requests".into(), Some(t.requests as f64), "count"),
            ("status_5xx".into(), Some(t.status_5xx as f64), "count"),
            (
                "transport_errors".into(),
                Some(t.transport_errors as f64),
                "count",
            ),
            ("rate_5xx".into(), t.rate_5xx, "ratio"),
            ("availability".into(), t.availability, "ratio"),
        ],
    );
    rows.extend(super::windows::csv_rows(s));
    rows
}

pub fn render(s: &Summary) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows(s) {
        w.serialize(r)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
