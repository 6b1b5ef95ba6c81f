//! The merged run's intervals. Each agent's interval starts are offsets
//! from its own start; shifted by the agent's start relative to the
//! earliest agent, they fall on one grid of the scenario's interval, and
//! intervals of the same tag on the same grid step are added (HDR
//! histograms add losslessly). The timeline rows are rebuilt from them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::engine::{tag_name, IntervalRow};
use crate::metrics::Hist;
use crate::report::stored::Interval;

struct Cell {
    start: Duration,
    end: Duration,
    hist: Hist,
}

pub struct Timeline {
    base: SystemTime,
    interval: Duration,
    cells: BTreeMap<(u64, String), Cell>,
}

impl Timeline {
    pub fn new(base: SystemTime, interval: Duration) -> Timeline {
        Timeline {
            base,
            interval,
            cells: BTreeMap::new(),
        }
    }

    /// The grid step an instant (from the merged start) falls on.
    pub fn step(&self, at: Duration) -> u64 {
        (at.as_secs_f64() / self.interval.as_secs_f64()).round() as u64
    }

    /// Adds one agent's interval log, the agent having started `offset`
    /// after the merged start.
    pub fn add_log(&mut self, offset: Duration, intervals: &[Interval]) {
        for i in intervals {
            let start = offset + i.start;
            let end = start + i.length;
            let key = (self.step(start), i.tag.clone());
            let cell = self.cells.entry(key).or_insert_with(|| Cell {
                start,
                end,
                hist: Hist::default(),
            });
            cell.start = cell.start.min(start);
            cell.end = cell.end.max(end);
            cell.hist.add(&i.hist);
        }
    }

    pub fn hist(&self, step: u64, tag: &str) -> Option<&Hist> {
        self.cells.get(&(step, tag.to_string())).map(|c| &c.hist)
    }

    /// The merged interval log, in time order.
    pub fn hlog(&self, comment: &str) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut ser = V2DeflateSerializer::new();
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .add_comment("values in microseconds; tags are <probe-or-stream>.<metric>")
            .with_start_time(self.base)
            .with_base_time(self.base)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut ser)?;
        for ((_, tag), c) in &self.cells {
            w.write_histogram(&c.hist.h, c.start, c.end - c.start, Tag::new(tag))
                .map_err(|e| anyhow::anyhow!("cannot write interval {tag}: {e:?}"))?;
        }
        Ok(out)
    }
}

/// One agent's timeline rows and when the agent started.
pub struct AgentRows<'a> {
    pub offset: Duration,
    pub rows: &'a [IntervalRow],
}

/// The merged timeline rows: counts added per grid step, percentiles
/// recomputed from the merged interval histograms. `names` orders the
/// rows as a single run does (probes, then streams).
pub fn rows(agents: &[AgentRows], names: &[(String, String)], tl: &Timeline) -> Vec<IntervalRow> {
    let mut merged: BTreeMap<(u64, usize), IntervalRow> = BTreeMap::new();
    for a in agents {
        let mut last_end: BTreeMap<&str, f64> = BTreeMap::new();
        for r in a.rows {
            let Some(order) = names.iter().position(|(k, n)| *k == r.kind && *n == r.name) else {
                continue;
            };
            let begin = last_end.insert(&r.name, r.t_s).unwrap_or(0.0);
            let step = tl.step(a.offset + Duration::from_secs_f64(begin));
            let end_s = a.offset.as_secs_f64() + r.t_s;
            let m = merged.entry((step, order)).or_insert_with(|| IntervalRow {
                name: r.name.clone(),
                kind: r.kind.clone(),
                ..Default::default()
            });
            m.t_s = m.t_s.max(end_s);
            m.requests += r.requests;
            m.errors += r.errors;
            m.status_5xx += r.status_5xx;
            if let Some(o) = r.open_streams {
                m.open_streams = Some(m.open_streams.unwrap_or(0) + o);
            }
        }
    }
    for ((step, _), r) in merged.iter_mut() {
        percentiles(r, *step, tl);
    }
    merged.into_values().collect()
}

fn percentiles(r: &mut IntervalRow, step: u64, tl: &Timeline) {
    let main = if r.kind == "stream" {
        "ttfb"
    } else {
        "latency"
    };
    if let Some(h) = tl.hist(step, &tag_name(&r.name, main)) {
        r.p50_ms = h.quantile_ms(0.5);
        r.p95_ms = h.quantile_ms(0.95);
        r.p99_ms = h.quantile_ms(0.99);
        r.max_ms = h.max_ms();
    }
    if r.kind == "stream" {
        r.gap_max_ms = tl
            .hist(step, &tag_name(&r.name, "gap"))
            .and_then(|h| h.max_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(tag: &str, start_ms: u64, us: &[u64]) -> Interval {
        let mut hist = Hist::default();
        us.iter().for_each(|v| hist.record_us(*v));
        Interval {
            tag: tag.into(),
            start: Duration::from_millis(start_ms),
            length: Duration::from_millis(1000),
            hist,
        }
    }

    #[test]
    fn intervals_line_up_by_wall_time_offsets() {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut tl = Timeline::new(base, Duration::from_secs(1));
        // Agent b started 30 ms after a: its second interval still lands on step 1.
        tl.add_log(
            Duration::ZERO,
            &[
                interval("p.latency", 0, &[1000]),
                interval("p.latency", 1000, &[2000]),
            ],
        );
        tl.add_log(
            Duration::from_millis(30),
            &[
                interval("p.latency", 0, &[3000]),
                interval("p.latency", 1000, &[4000, 5000]),
            ],
        );
        assert_eq!(tl.hist(0, "p.latency").unwrap().len(), 2);
        let s1 = tl.hist(1, "p.latency").unwrap();
        assert_eq!(s1.len(), 3);
        assert!((s1.max_ms().unwrap() - 5.0).abs() < 0.01);
        let log = tl.hlog("test").unwrap();
        let back = crate::report::stored::parse_hlog(&log).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].start, Duration::from_millis(1000));
        assert_eq!(back[1].length, Duration::from_millis(1030));
    }
}
