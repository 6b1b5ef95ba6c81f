//! Adding agents' data: counters from each agent's summary and whole-run
//! histograms from each agent's interval log, rebuilt into the same
//! `ProbeData` / `StreamData` a single run collects, so that the SLO
//! functions of a single run judge the merged data unchanged.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::engine::tag_name;
use crate::metrics::{ErrorCounts, Hist, ProbeData, StreamData, ERROR_CLASSES};
use crate::report::stored::Stored;
use crate::report::summary::{errors_map, status_map, ProbeSummary, StreamSummary};

fn error_counts(m: &BTreeMap<String, u64>) -> anyhow::Result<ErrorCounts> {
    let mut e = ErrorCounts::default();
    for (k, n) in m {
        let class = ERROR_CLASSES
            .iter()
            .find(|c| c.key() == k)
            .with_context(|| format!("unknown error class {k:?}"))?;
        e.set(*class, *n);
    }
    Ok(e)
}

fn status_counts(m: &BTreeMap<String, u64>) -> anyhow::Result<[u64; 6]> {
    let mut s = [0u64; 6];
    for (k, n) in m {
        let i = k
            .strip_suffix("xx")
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|i| (1..=5).contains(i))
            .with_context(|| format!("unknown status class {k:?}"))?;
        s[i] = *n;
    }
    Ok(s)
}

/// The whole-run histogram of one tag, with the summary's count of clamped
/// samples (the interval log keeps the clamped value, not the count).
fn total(st: &Stored, name: &str, metric: &str, over_range: u64) -> Hist {
    let mut h = st.total(&tag_name(name, metric));
    h.over_range = over_range;
    h
}

pub fn probe_data(st: &Stored, p: &ProbeSummary) -> anyhow::Result<ProbeData> {
    Ok(ProbeData {
        latency: total(st, &p.name, "latency", p.latency.over_range),
        service: total(st, &p.name, "service", p.service.over_range),
        lateness: total(st, &p.name, "lateness", 0),
        requests: p.requests,
        ok: p.ok,
        status: status_counts(&p.status)?,
        errors: error_counts(&p.errors)?,
        late_backpressure: p.late_backpressure,
        late_generator: p.late_generator,
    })
}

/// The summary's percentile views in `StreamData::HIST_TAGS` order.
fn stream_views(s: &StreamSummary) -> [&crate::metrics::Percentiles; 8] {
    [
        &s.ttfb,
        &s.first_byte,
        &s.first_message,
        &s.first_event,
        &s.gap,
        &s.data_gap,
        &s.stream_max_gap,
        &s.reconnect_time,
    ]
}

pub fn stream_data(st: &Stored, s: &StreamSummary) -> anyhow::Result<StreamData> {
    let mut d = StreamData {
        connects: s.connects,
        connected: s.connected,
        reconnects: s.reconnects,
        messages: s.messages,
        comments: s.comments,
        events: s.events,
        data_events: s.data_events,
        ids_lost: s.ids_lost,
        ids_repeated: s.ids_repeated,
        status: status_counts(&s.status)?,
        errors: error_counts(&s.errors)?,
        empty_connections: s.empty_connections,
        oversize: s.oversize,
        closed_204: s.closed_by_server,
        ..Default::default()
    };
    for (tag, view) in StreamData::HIST_TAGS.iter().zip(stream_views(s)) {
        let h = d.hist_by_tag_mut(tag).expect("a listed tag");
        *h = total(st, &s.name, tag, view.over_range);
    }
    Ok(d)
}

/// A probe's merged summary: the first agent's description, merged figures.
pub fn probe_summary(first: &ProbeSummary, d: &ProbeData, secs: f64) -> ProbeSummary {
    ProbeSummary {
        requests: d.requests,
        ok: d.ok,
        error_rate: d.error_rate(),
        throughput_rps: if secs > 0.0 {
            d.requests as f64 / secs
        } else {
            0.0
        },
        errors: errors_map(&d.errors),
        status: status_map(&d.status),
        latency: d.latency.summary(),
        service: d.service.summary(),
        late_generator: d.late_generator,
        late_backpressure: d.late_backpressure,
        ..first.clone()
    }
}

/// A stream's merged summary; `streams` is the agents' populations added.
pub fn stream_summary(first: &StreamSummary, d: &StreamData, streams: u32) -> StreamSummary {
    StreamSummary {
        streams,
        connects: d.connects,
        connected: d.connected,
        reconnects: d.reconnects,
        messages: d.messages,
        comments: d.comments,
        events: d.events,
        data_events: d.data_events,
        ids_lost: d.ids_lost,
        ids_repeated: d.ids_repeated,
        empty_connections: d.empty_connections,
        oversize: d.oversize,
        closed_by_server: d.closed_204,
        error_rate: d.error_rate(),
        errors: errors_map(&d.errors),
        status: status_map(&d.status),
        ttfb: d.ttfb.summary(),
        first_byte: d.first_byte.summary(),
        first_message: d.first_message.summary(),
        first_event: d.first_event.summary(),
        gap: d.gap.summary(),
        data_gap: d.data_gap.summary(),
        stream_max_gap: d.stream_max_gap.summary(),
        reconnect_time: d.reconnect_time.summary(),
        ..first.clone()
    }
}
