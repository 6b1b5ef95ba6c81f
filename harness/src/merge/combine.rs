//! Adding agents' data: counters from each agent's summary and whole-run
//! histograms from each agent's interval log, rebuilt into the same
//! `ProbeData` / `StreamData` a single run collects, so that the SLO
//! functions of a single run judge the merged data unchanged.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::engine::tag_name;
use crate::metrics::{ErrorCounts, Hist, ProbeData, StreamData, ERROR_CLASSES};
use crate::report::stored::Stored;
use crate::report::summary::{self, ProbeSummary, StreamSummary};

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
        disconnects: s.disconnects,
        flapping_streams: s.flapping_streams,
        protocol_reasons: s.protocol_errors.clone(),
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
    summary::probe_figures(first.clone(), d, secs)
}

/// A stream's merged summary; `streams` is the agents' populations added.
pub fn stream_summary(first: &StreamSummary, d: &StreamData, streams: u32) -> StreamSummary {
    StreamSummary {
        streams,
        ..summary::stream_figures(first.clone(), d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_counter_survives_the_merge() {
        let mut protocol = BTreeMap::new();
        protocol.insert("invalid UTF-8 from server".to_string(), 2);
        let s = StreamSummary {
            name: "jobs".into(),
            connects: 9,
            connected: 7,
            disconnects: 3,
            flapping_streams: 1,
            protocol_errors: protocol.clone(),
            ..Default::default()
        };
        let st = Stored {
            summary: crate::report::stored::tests::dummy(),
            intervals: Vec::new(),
        };
        let d = stream_data(&st, &s).unwrap();
        let mut both = d.clone();
        both.add(&d);
        let merged = stream_summary(&s, &both, 4);
        assert_eq!(
            (merged.connects, merged.connected, merged.streams),
            (18, 14, 4)
        );
        assert_eq!((merged.disconnects, merged.flapping_streams), (6, 2));
        assert_eq!(
            merged.protocol_errors.get("invalid UTF-8 from server"),
            Some(&4)
        );
    }
}
