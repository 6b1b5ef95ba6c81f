#!/usr/bin/env python3
"""Reads one slogate evidence folder's summary.json, prints the figures of
its stream and checks them against what the nginx + nchan run must show.

usage: check.py ping   EVIDENCE_DIR EXIT_CODE
       check.py resume EVIDENCE_DIR EXIT_CODE PUBLISHED
       check.py quiet  EVIDENCE_DIR EXIT_CODE HOLD_SECONDS

ping:  a stream with 1 s keep-alives: exit 0, no reconnects, worst gap near
       1 s, TTFB measured, every connection connected.
resume: streams nchan times out and closes: every stream reconnected at
       least once, read each of the PUBLISHED events exactly once, and no id
       is counted lost or repeated.
quiet: a stream with no keep-alive held HOLD_SECONDS: the silence is reported
       (worst gap at least the hold minus the time to nchan's `: hi`), the gap
       SLO and only it fails, exit 1.
"""

import json
import sys
from pathlib import Path

GAP_NEAR_1S = (900.0, 1200.0)
# Time from opening the stream to nchan's `: hi`: the part of the hold that
# is not silence. Generous for a busy 2-core machine; a gap measured from the
# wrong origin (or the silence not counted at all) misses it by seconds.
OPEN_SLACK_MS = 250.0


def load(evidence_dir):
    return json.loads((Path(evidence_dir) / "summary.json").read_text())


def figures(summary, exit_code):
    s = summary["streams"][0]
    gap_slo = next(r for r in summary["slos"] if r["metric"] == "gap_max_ms")
    return {
        "exit_code": exit_code,
        "summary_exit_code": summary["run"]["exit_code"],
        "verdict": summary["run"]["verdict"],
        "streams": s["streams"],
        "connected": s["connected"],
        "reconnects": s["reconnects"],
        "ttfb_p50_ms": s["ttfb"]["p50_ms"],
        "ttfb_max_ms": s["ttfb"]["max_ms"],
        "first_message_p50_ms": s["first_message"]["p50_ms"],
        "first_event_p50_ms": s["first_event"]["p50_ms"],
        "gap_p50_ms": s["gap"]["p50_ms"],
        "gap_p99_ms": s["gap"]["p99_ms"],
        "gap_max_ms": s["gap"]["max_ms"],
        "gap_slo_value_ms": gap_slo["value"],
        "gap_slo_verdict": gap_slo["verdict"],
        "messages": s["messages"],
        "comments": s["comments"],
        "data_events": s["data_events"],
        "ids_lost": s["ids_lost"],
        "ids_repeated": s["ids_repeated"],
        "reconnect_time_p50_ms": s["reconnect_time"]["p50_ms"],
        "errors": s["errors"],
        "failed_slos": [r["metric"] for r in summary["slos"] if r["verdict"] != "pass"],
    }


def expect(problems, ok, what):
    if not ok:
        problems.append(what)


def check_ping(f):
    p = []
    expect(p, f["exit_code"] == 0, "exit code is not 0")
    expect(p, f["summary_exit_code"] == 0, "summary exit_code is not 0")
    expect(p, f["reconnects"] == 0, "reconnects is not 0")
    expect(p, f["connected"] == f["streams"], "not every stream connected")
    expect(p, f["ttfb_p50_ms"] is not None, "no TTFB measured")
    lo, hi = GAP_NEAR_1S
    gap = f["gap_max_ms"]
    expect(p, gap is not None and lo <= gap <= hi, f"worst gap not in [{lo}, {hi}] ms")
    expect(p, f["data_events"] > 0, "no published event reached the streams")
    expect(p, not f["errors"], "stream errors counted")
    return p


def check_resume(f, published):
    p = []
    expect(p, f["exit_code"] == 0, "exit code is not 0")
    expect(p, f["reconnects"] >= f["streams"], "not every stream reconnected")
    expect(p, f["data_events"] == f["streams"] * published,
           f"data events are not {published} per stream")
    expect(p, f["ids_lost"] == 0, "ids counted as lost")
    expect(p, f["ids_repeated"] == 0, "ids counted as repeated")
    return p


def check_quiet(f, hold_s):
    p = []
    hold_ms = hold_s * 1000.0
    gap = f["gap_max_ms"] or 0.0
    expect(p, f["exit_code"] == 1, "exit code is not 1")
    expect(p, f["summary_exit_code"] == 1, "summary exit_code is not 1")
    expect(p, f["reconnects"] == 0, "reconnects is not 0")
    expect(p, gap >= hold_ms - OPEN_SLACK_MS, f"worst gap under {hold_ms - OPEN_SLACK_MS} ms")
    expect(p, gap <= hold_ms + 1000.0, f"worst gap longer than the hold ({hold_ms} ms)")
    expect(p, f["failed_slos"] == ["gap_max_ms"], "the failed SLOs are not exactly gap_max_ms")
    return p


def main(argv):
    mode, evidence, code = argv[1], argv[2], int(argv[3])
    f = figures(load(evidence), code)
    print(
        f"  {mode}: exit {f['exit_code']}, TTFB p50 {f['ttfb_p50_ms']} ms, "
        f"gap max {f['gap_max_ms']} ms, reconnects {f['reconnects']}, "
        f"ids lost/repeated {f['ids_lost']}/{f['ids_repeated']}, "
        f"data events {f['data_events']}"
    )
    print(f"  figures ({mode}): " + json.dumps(f))
    if mode == "ping":
        problems = check_ping(f)
    elif mode == "resume":
        problems = check_resume(f, int(argv[4]))
    else:
        problems = check_quiet(f, float(argv[4]))
    for what in problems:
        print(f"  FAIL ({mode}): {what}")
    if not problems:
        print(f"  OK ({mode})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
