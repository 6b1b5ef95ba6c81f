//! Reading a stored evidence folder back: the summary and every interval
//! histogram of the log, so a run can be rendered, compared or merged again
//! without sending load.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;

use super::summary::{Summary, SCHEMA};
use super::{HLOG, SUMMARY};
use crate::metrics::Hist;

/// One interval histogram of the log.
#[derive(Clone, Debug)]
pub struct Interval {
    pub tag: String,
    /// From the log's base time (the run start).
    pub start: Duration,
    pub length: Duration,
    pub hist: Hist,
}

pub struct Stored {
    pub summary: Summary,
    pub intervals: Vec<Interval>,
}

impl Stored {
    /// Intervals of one tag (`<name>.<metric>`), in time order.
    pub fn series<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Interval> + 'a {
        self.intervals.iter().filter(move |i| i.tag == tag)
    }

    /// The whole-run histogram of one tag: the sum of its intervals.
    pub fn total(&self, tag: &str) -> Hist {
        let mut h = Hist::default();
        self.series(tag).for_each(|i| h.add(&i.hist));
        h
    }
}

pub fn read_summary(path: &Path) -> anyhow::Result<Summary> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let s: Summary = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a slogate summary", path.display()))?;
    anyhow::ensure!(
        s.schema == SCHEMA,
        "{}: schema {:?} is not the one this version reads ({SCHEMA})",
        path.display(),
        s.schema
    );
    Ok(s)
}

pub fn read(dir: &Path) -> anyhow::Result<Stored> {
    let summary = read_summary(&dir.join(SUMMARY))?;
    let path = dir.join(HLOG);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let intervals = parse_hlog(&bytes).with_context(|| format!("in {}", path.display()))?;
    Ok(Stored { summary, intervals })
}

pub fn parse_hlog(bytes: &[u8]) -> anyhow::Result<Vec<Interval>> {
    let mut de = Deserializer::new();
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| anyhow::anyhow!("malformed interval log: {e:?}"))?;
        let LogEntry::Interval(ilh) = entry else {
            continue;
        };
        let raw = base64_decode(ilh.encoded_histogram())?;
        let h: hdrhistogram::Histogram<u64> = de
            .deserialize(&mut raw.as_slice())
            .map_err(|e| anyhow::anyhow!("bad histogram: {e:?}"))?;
        let mut hist = Hist::default();
        hist.h
            .add(&h)
            .map_err(|e| anyhow::anyhow!("histogram out of range: {e:?}"))?;
        out.push(Interval {
            tag: ilh
                .tag()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            start: ilh.start_timestamp(),
            length: ilh.duration(),
            hist,
        });
    }
    Ok(out)
}

fn base64_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .context("bad base64 in interval log")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    use hdrhistogram::serialization::V2DeflateSerializer;

    #[test]
    fn interval_log_round_trips() {
        let mut a = Hist::default();
        (1..=1000).for_each(|v| a.record_us(v * 1000));
        let mut b = Hist::default();
        b.record_us(5_332_000);
        let mut buf = Vec::new();
        let mut ser = V2DeflateSerializer::new();
        let mut w = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut ser)
            .unwrap();
        w.write_histogram(
            &a.h,
            Duration::ZERO,
            Duration::from_secs(1),
            Tag::new("p.latency"),
        )
        .unwrap();
        w.write_histogram(
            &b.h,
            Duration::from_secs(1),
            Duration::from_secs(1),
            Tag::new("p.latency"),
        )
        .unwrap();
        let got = parse_hlog(&buf).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].start, Duration::from_secs(1));
        let s = Stored {
            summary: dummy(),
            intervals: got,
        };
        let t = s.total("p.latency");
        assert_eq!(t.len(), 1001);
        let mut both = a.clone();
        both.add(&b);
        assert_eq!(t.h.value_at_quantile(0.5), both.h.value_at_quantile(0.5));
        assert!((t.max_ms().unwrap() - 5332.0).abs() < 5.0);
    }

    pub fn dummy() -> Summary {
        serde_json::from_value(serde_json::json!({
            "schema": SCHEMA, "tool": {"name": "slogate", "version": "0"},
            "run": {"id": "x", "scenario": "x", "scenario_file": "x", "scenario_sha256": "", "base_url": "",
                    "started_utc": "", "ended_utc": "", "duration_s": 0.0, "interval_s": 1.0, "complete": true,
                    "verdict": "pass", "exit_code": 0, "reasons": [], "agent": null},
            "totals": {"requests": 0, "ok": 0, "status_5xx": 0, "transport_errors": 0, "rate_5xx": null, "availability": null},
            "slos": [], "probes": [], "streams": [],
            "generator": {"late_generator": 0, "late_backpressure": 0, "max_late_ratio": 0.01,
                          "lateness": {"count": 0, "p50_ms": null, "p90_ms": null, "p95_ms": null, "p99_ms": null,
                                       "p999_ms": null, "max_ms": null, "mean_ms": null, "over_range": 0}},
            "intervals": []
        }))
        .unwrap()
    }
}
