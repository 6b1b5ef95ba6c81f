#!/usr/bin/env python3
"""Reads the benchmark's raw outputs and prints the comparison tables.

  table.py RESULTS_DIR TOOL...            throughput table (median of rounds)
  table.py --rate RATE SUMMARY TIMEFILE   scheduling accuracy of one slogate run
"""
import glob
import json
import os
import re
import statistics
import sys


def read_time(path):
    wall, user, sys_, rss_kb = open(path).read().split()[-4:]
    return {"cpu_s": float(user) + float(sys_), "rss_mb": int(rss_kb) / 1024.0,
            "wall_s": float(wall)}


def ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "secs": 1e3}[unit]


def parse_wrk(out, _):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s))", out, re.M))
    conv = lambda v: ms(*re.match(r"([\d.]+)(us|ms|s)", v).groups())
    return rps, conv(lat["50"]), conv(lat["99"])


def parse_hey(out, _):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p = dict(re.findall(r"^\s+(50|99)% in ([\d.]+) secs", out, re.M))
    return rps, float(p["50"]) * 1e3, float(p["99"]) * 1e3


def parse_oha(out, _):
    d = json.loads(out)
    pct = d["latencyPercentiles"]
    return d["summary"]["requestsPerSec"], pct["p50"] * 1e3, pct["p99"] * 1e3


def parse_k6(_, js):
    m = json.load(open(js))["metrics"]
    dur = m["http_req_duration"]
    return m["http_reqs"]["rate"], dur["med"], dur["p(99)"]


def parse_slogate(_, js):
    s = json.load(open(js))
    p = s["probes"][0]
    return p["throughput_rps"], p["latency"]["p50_ms"], p["latency"]["p99_ms"]


PARSERS = {"wrk": parse_wrk, "hey": parse_hey, "oha": parse_oha, "k6": parse_k6,
           "slogate": parse_slogate}


def measure(res, tool):
    rows = []
    for tf in sorted(glob.glob(f"{res}/{tool}-*.time")):
        base = tf[:-5]
        try:
            rps, p50, p99 = PARSERS[tool](open(base + ".out").read(), base + ".json")
        except (OSError, KeyError, AttributeError, ValueError) as e:
            print(f"{tool}: could not read {base}.out ({e}); stderr: "
                  + open(base + ".err").read()[-300:].strip(), file=sys.stderr)
            continue
        t = read_time(tf)
        reqs = rps * t["wall_s"]
        rows.append({"rps": rps, "p50": p50, "p99": p99, "cpu_s": t["cpu_s"],
                     "per_cpu": rps * min(t["wall_s"], t["wall_s"]) / t["cpu_s"]
                     if t["cpu_s"] else float("nan"),
                     "rss": t["rss_mb"], "reqs": reqs})
    if not rows:
        return None
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    med["spread"] = [round(r["per_cpu"]) for r in rows]
    return med


def throughput(res, tools):
    got = {t: measure(res, t) for t in tools}
    print()
    print("| tool | req/s | p50 ms | p99 ms | CPU s | req per CPU-s (each round) "
          "| peak RSS MiB | slogate per-CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    mine = got.get("slogate")
    for t in tools:
        g = got[t]
        if g is None:
            print(f"| {t} | failed | | | | | | |")
            continue
        ratio = (f"{mine['per_cpu'] / g['per_cpu']:.2f} x" if mine and t != "slogate" else "")
        print(f"| {t} | {g['rps']:,.0f} | {g['p50']:.2f} | {g['p99']:.2f} | {g['cpu_s']:.2f} "
              f"| {g['per_cpu']:,.0f} ({', '.join(f'{x:,}' for x in g['spread'])}) "
              f"| {g['rss']:.1f} | {ratio} |")
    print("(medians of the rounds; req/s and latency as each tool reports them; "
          "slogate's latency is from the intended start, closed model)")


def accuracy(rate, summary, timefile):
    s = json.load(open(summary))
    p = s["probes"][0]
    g = s["generator"]
    t = read_time(timefile)
    got = p["requests"] / s["run"]["duration_s"]
    print(f"target {rate:,.0f}/s, achieved {got:,.0f}/s ({(got / rate - 1) * 100:+.2f} %), "
          f"send lateness p50 {g['lateness']['p50_ms']} ms, p99 {g['lateness']['p99_ms']} ms, "
          f"max {g['lateness']['max_ms']} ms; late with a connection free "
          f"{g['late_generator']}, behind busy connections {g['late_backpressure']}; "
          f"errors {p['requests'] - p['ok']}; CPU {t['cpu_s']:.2f} s, peak RSS {t['rss_mb']:.1f} MiB")


if __name__ == "__main__":
    if sys.argv[1] == "--rate":
        accuracy(float(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        throughput(sys.argv[1], sys.argv[2:])
