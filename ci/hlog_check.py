#!/usr/bin/env python3
"""Reads a run's histograms.hlog with the independent PyPI `hdrhistogram`
decoder and checks that every whole-run histogram agrees with summary.json
(count exactly; p50, p99 and max within HDR precision).

Percentiles use the rank slogate (and HdrHistogram in Java and Rust) uses:
the ceil(q * n)-th sample. The Python package's get_value_at_percentile
rounds the rank to the nearest sample instead, which differs at small
counts, so the rank is walked here over the decoded buckets.

    python3 ci/hlog_check.py RUN_DIR

Exit 0 when all agree, 1 on any mismatch, 2 on unreadable input.
"""
import json
import math
import sys
from pathlib import Path

from hdrh.histogram import HdrHistogram

LOWEST, HIGHEST, DIGITS = 1, 3_600_000_000, 3
PROBE_TAGS = ("latency", "service")
STREAM_TAGS = ("ttfb", "first_byte", "first_message", "first_event", "gap",
               "data_gap", "stream_max_gap", "reconnect_time")


def read_log(path):
    """Sums the interval histograms of the log per tag."""
    totals, intervals = {}, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("Tag="):
            continue
        tag, start, length, max_value, payload = line[4:].split(",", 4)
        float(start), float(length), float(max_value)
        h = HdrHistogram.decode(payload.strip())
        acc = totals.setdefault(tag, HdrHistogram(LOWEST, HIGHEST, DIGITS))
        acc.add(h)
        intervals += 1
    return totals, intervals


def tag(name, metric):
    """The log's tag for a probe or stream: as slogate writes it (no commas or spaces)."""
    clean = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return f"{clean}.{metric}"


def expected(summary):
    """(tag, summary percentiles) for every histogram the summary reports."""
    for p in summary["probes"]:
        for t in PROBE_TAGS:
            yield tag(p["name"], t), p[t]
    for s in summary["streams"]:
        for t in STREAM_TAGS:
            yield tag(s["name"], t), s[t]


def close(got_us, want_ms):
    want_us = want_ms * 1000.0
    return abs(got_us - want_us) <= max(1.0, want_us * 0.001)


def at_quantile(h, q):
    """Highest equivalent value of the ceil(q * n)-th sample."""
    rank = max(1, math.ceil(q * h.get_total_count()))
    seen = 0
    for item in h.get_recorded_iterator():
        seen += item.count_at_value_iterated_to
        if seen >= rank:
            return h.get_highest_equivalent_value(item.value_iterated_to)
    return h.get_max_value()


def compare(tag, h, want):
    problems = []
    if h.get_total_count() != want["count"]:
        problems.append(f"{tag}: count {h.get_total_count()} != {want['count']}")
    for label, got, key in (("p50", at_quantile(h, 0.50), "p50_ms"),
                            ("p99", at_quantile(h, 0.99), "p99_ms"),
                            ("max", h.get_max_value(), "max_ms")):
        if not close(got, want[key]):
            problems.append(f"{tag}: {label} {got / 1000.0} ms != {want[key]} ms")
    return problems


def main():
    if len(sys.argv) != 2:
        print("usage: hlog_check.py RUN_DIR", file=sys.stderr)
        return 2
    run = Path(sys.argv[1])
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    totals, intervals = read_log(run / "histograms.hlog")
    problems, checked = [], 0
    for tag, want in expected(summary):
        if want["count"] == 0:
            if tag in totals:
                problems.append(f"{tag}: in the log but empty in the summary")
            continue
        if tag not in totals:
            problems.append(f"{tag}: {want['count']} samples in the summary, none in the log")
            continue
        problems += compare(tag, totals[tag], want)
        checked += 1
    for p in problems:
        print("mismatch:", p)
    if checked == 0:
        print("mismatch: no histogram to check")
        return 1
    print(f"hlog: {checked} histograms from {intervals} interval lines agree with summary.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
