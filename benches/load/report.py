#!/usr/bin/env python3
"""Formats the load bench's measurements (origin, metric, target, value TSV;
one line per run) as RESULTS.md: the machine, the date, the medians over the
repetitions, the ratios, and issue 12's goals.

Ratios are s3gate against nginx as a proxy in the same slot: for 4 KiB
requests nginx with default buffers, for large objects nginx with 256 KiB
buffers (the better of the two for large transfers). Where the hyper floor
ran (a proxy that only forwards, on s3gate's own HTTP stack), s3gate is also
given against it: what s3gate's own work adds to the stack it is built on.
Where the role target ran (s3gate signing the store under a role session
it assumed from a local STS), it is given against nginx and against s3gate
with static keys: what the role session costs a request.
"""
import datetime
import os
import statistics
import sys
from collections import defaultdict


# Which floor ran in the floor's slot (benches/load/run: FLOOR_KIND).
FLOOR = "raw floor" if os.environ.get("FLOOR_KIND") == "raw" else "hyper floor"


def main():
    (path, machine, tools, rev, duration, repeat, large, huge, conns, proxy_cpu,
     load_cpu, paced_conns, paced_delay, quick, before_rev,
     large_repeat) = (sys.argv[1:] + ["", "", ""])[:16]
    runs = defaultdict(list)
    for line in open(path):
        origin, metric, target, value = line.rstrip("\n").split("\t")
        runs[(origin, metric, target)].append(float(value))
    data = {k: statistics.median(v) for k, v in runs.items()}

    def get(origin, metric, target):
        return data.get((origin, metric, target))

    def ratio(a, b):
        return a / b if a is not None and b else None

    def fmt(v, digits=1):
        return "–" if v is None else f"{v:,.{digits}f}"

    out = []
    w = out.append
    w("# s3gate load bench: results")
    w("")
    if quick:
        w("**A `--quick` smoke run: too short to quote.**")
        w("")
    w(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    w(f"- machine: {machine}")
    w(f"- tools: {tools}")
    w(f"- s3gate: {rev}")
    has_before = any(t == "before" for (_, _, t) in data)
    has_floor = any(t == "floor" for (_, _, t) in data)
    has_role = any(t == "role" for (_, _, t) in data)
    if has_floor and FLOOR == "raw floor":
        w(
            "- raw floor: `examples/raw_floor.rs` (release build), a proxy that only "
            "forwards, with a hand-written HTTP/1 layer (httparse) on s3gate's runtime "
            "and allocator; against origin 1, in the same slot and repetitions"
        )
    elif has_floor:
        w(
            "- hyper floor: `examples/hyper_floor.rs` (release build), a proxy that only "
            "forwards, with s3gate's HTTP stack, runtime, allocator and settings; against "
            "origin 1, in the same slot and repetitions"
        )
    if has_before:
        w(
            f"- s3gate before: {before_rev or 'BEFORE_BIN'} (release build), a third proxy "
            "against origin 1 in the same slot and the same interleaved repetitions"
        )
    if has_role:
        w(
            "- s3gate role: the same build, signing the store under a role session it "
            "assumed from a local STS (moto) with the caller's session policy, as most "
            "deployments do (`[upstream.assume_role]`); against origin 1, in the same slot "
            "and repetitions"
        )
    w(
        f"- run: `benches/load/run`; the proxy under test alone on CPU {proxy_cpu}, wrk "
        f"(one thread) and the origin on CPU {load_cpu}; {duration} s per wrk run; "
        f"{repeat} interleaved repetitions, medians shown; {large} MiB transfers with curl "
        f"({large_repeat or repeat} interleaved each, medians shown); "
        f"RSS with a {huge} MiB object each way"
    )
    w(
        "- CPU-µs per request: the proxy process's own utime+stime (all threads, from "
        "/proc/PID/stat; nginx: master + its one worker) over the requests wrk counted"
    )
    w(
        f"- paced: {paced_conns} connections each waiting {paced_delay} ms between requests "
        "(wrk's Lua `delay()`; wrk2 is not in Debian), so about the same offered load for "
        "every proxy; a closed loop, so p99 is not corrected for coordinated omission"
    )
    w("")

    def table(origin, title):
        rows = []
        # (label, metric, nginx target, digits, higher is better)
        for c in conns.split():
            rows += [
                (f"4 KiB GET, {c} conns: req/s", f"small_c{c}_rps", "nginx", 0, True),
                (f"4 KiB GET, {c} conns: proxy CPU-µs/req", f"small_c{c}_cpu_us", "nginx", 1, False),
                (f"4 KiB GET, {c} conns: p50 ms", f"small_c{c}_p50_ms", "nginx", 2, False),
                (f"4 KiB GET, {c} conns: p99 ms", f"small_c{c}_p99_ms", "nginx", 2, False),
            ]
        rows += [
            ("4 KiB GET, paced: req/s", "paced_rps", "nginx", 0, True),
            ("4 KiB GET, paced: p99 ms", "paced_p99_ms", "nginx", 2, False),
            ("4 KiB GET, paced: proxy CPU-µs/req", "paced_cpu_us", "nginx", 1, False),
            (f"{large} MiB GET: MiB/s", "large_get_mibs", "nginx256", 0, True),
            (f"{large} MiB PUT: MiB/s", "large_put_mibs", "nginx256", 0, True),
            (f"{large} MiB GET+PUT: proxy CPU-s/GiB", "large_cpu_s_per_gib", "nginx256", 2, False),
        ]
        before = has_before and origin == "origin"
        floor = has_floor and origin == "origin"
        role = has_role and origin == "origin"
        w(f"## {title}")
        w("")
        head = ["metric", "direct (no proxy)", "nginx", "nginx 256k"]
        head += [FLOOR] if floor else []
        head += ["s3gate before"] if before else []
        head += ["s3gate"]
        head += ["s3gate role"] if role else []
        head += ["floor / nginx"] if floor else []
        head += ["before / nginx"] if before else []
        head += ["s3gate / nginx"]
        head += ["role / nginx"] if role else []
        head += ["s3gate / floor"] if floor else []
        head += ["role / s3gate"] if role else []
        w("| " + " | ".join(head) + " |")
        w("|---|" + "---:|" * (len(head) - 1))

        def times(r, versus):
            return (
                f"{fmt(r, 2)}{'×' if r is not None else ''}"
                f"{' (vs 256k)' if versus == 'nginx256' else ''}"
            )

        for label, metric, versus, digits, _ in rows:
            gate = get(origin, metric, "s3gate")
            r = ratio(gate, get(origin, metric, versus))
            low = get(origin, metric, "floor")
            old = get(origin, metric, "before")
            under = get(origin, metric, "role")
            cells = [
                fmt(get(origin, metric, "direct"), digits),
                fmt(get(origin, metric, "nginx"), digits),
                fmt(get(origin, metric, "nginx256"), digits),
            ]
            cells += [fmt(low, digits)] if floor else []
            cells += [fmt(old, digits)] if before else []
            cells += [fmt(gate, digits)]
            cells += [fmt(under, digits)] if role else []
            cells += [times(ratio(low, get(origin, metric, versus)), versus)] if floor else []
            cells += [times(ratio(old, get(origin, metric, versus)), versus)] if before else []
            cells += [times(r, versus)]
            cells += [times(ratio(under, get(origin, metric, versus)), versus)] if role else []
            cells += [times(ratio(gate, low), "floor")] if floor else []
            cells += [times(ratio(under, gate), "s3gate")] if role else []
            w(f"| {label} | " + " | ".join(cells) + " |")
        w("")
        w("The origin's own CPU-µs per 4 KiB GET, for scale:")
        w("")
        for c in conns.split():
            w(
                f"- {c} conns: "
                + ", ".join(
                    f"via {t} {fmt(get(origin, f'small_c{c}_origin_cpu_us', t))}"
                    for t in ("direct", "nginx", "floor", "s3gate", "role", "before")
                    if get(origin, f"small_c{c}_origin_cpu_us", t) is not None
                )
            )
        w("")

    table("origin", "Origin 1: a static nginx (ignores auth): the proxies' own cost")

    served = get("origin", "small_requests_total", "s3gate")
    rss_gate = get("origin", "rss_after_small_kib", "s3gate")
    rss_ngx = get("origin", "rss_after_small_kib", "nginx")
    rss_old = get("origin", "rss_after_small_kib", "before")
    rss_floor = get("origin", "rss_after_small_kib", "floor")
    rss_role = get("origin", "rss_after_small_kib", "role")
    if rss_gate is not None:
        w(
            f"RSS after the 4 KiB runs above ({fmt(served, 0)} requests through s3gate): "
            f"s3gate {rss_gate / 1024:.1f} MiB"
            + (f", s3gate before {rss_old / 1024:.1f} MiB" if rss_old else "")
            + (f", the {FLOOR} {rss_floor / 1024:.1f} MiB" if rss_floor else "")
            + (f", s3gate role {rss_role / 1024:.1f} MiB" if rss_role else "")
            + f", the nginx worker {fmt(rss_ngx / 1024 if rss_ngx else None)} MiB."
        )
        w("")

    table("store", "Origin 2: s3gate's embedded store (verifies SigV4)")

    g = lambda m: get("origin", m, "s3gate")  # noqa: E731
    idle, hput, hget = g("rss_idle_kib"), g("rss_hwm_after_put_kib"), g("rss_hwm_after_get_kib")
    w(f"## s3gate memory, {huge} MiB object each way (fresh process, static origin)")
    w("")
    if idle is not None:
        w("| | MiB |")
        w("|---|---:|")
        w(f"| RSS at idle (after a few small GETs) | {idle / 1024:.1f} |")
        w(f"| peak RSS (VmHWM) after the PUT | {hput / 1024:.1f} |")
        w(f"| peak RSS (VmHWM) after a fast and a 200 MB/s GET | {hget / 1024:.1f} |")
        w(f"| growth: peak − idle | {(max(hput, hget) - idle) / 1024:.1f} |")
        w("")
        hp, hg = g("huge_put_mibs"), g("huge_get_mibs")
        w(f"{huge} MiB through s3gate: PUT {fmt(hp, 0)} MiB/s, GET {fmt(hg, 0)} MiB/s.")
        w("")

    w("## Goals (issue 12), origin 1")
    w("")
    checks = []
    for c in conns.split():
        r = ratio(get("origin", f"small_c{c}_rps", "s3gate"), get("origin", f"small_c{c}_rps", "nginx"))
        checks.append((f"4 KiB, {c} conns: req/s ≥ 1.0× nginx", r, r is not None and r >= 1.0))
        r = ratio(get("origin", f"small_c{c}_cpu_us", "s3gate"), get("origin", f"small_c{c}_cpu_us", "nginx"))
        checks.append((f"4 KiB, {c} conns: CPU/req ≤ 1.0× nginx", r, r is not None and r <= 1.0))
    r = ratio(get("origin", "paced_p99_ms", "s3gate"), get("origin", "paced_p99_ms", "nginx"))
    checks.append(("4 KiB paced: p99 ≤ 1.0× nginx", r, r is not None and r <= 1.0))
    for m, label in (("large_get_mibs", "GET"), ("large_put_mibs", "PUT")):
        r = ratio(get("origin", m, "s3gate"), get("origin", m, "nginx256"))
        checks.append((f"{large} MiB {label} ≥ 1.0× nginx 256k", r, r is not None and r >= 1.0))
    v = get("origin", "large_cpu_s_per_gib", "s3gate")
    checks.append((f"{large} MiB GET+PUT ≤ 0.3 CPU-s/GiB", v, v is not None and v <= 0.3))
    r = ratio(rss_gate, rss_ngx)
    checks.append(("RSS after the small runs ≤ 2× the nginx worker's", r, r is not None and r <= 2.0))
    if idle is not None:
        growth = (max(hput, hget) - idle) / 1024
        checks.append((f"RSS growth over {huge} MiB each way ≤ 8 MiB (flat)", growth, growth <= 8))
    w("| goal | measured | met |")
    w("|---|---:|:---:|")
    for label, v, ok in checks:
        w(f"| {label} | {fmt(v, 2)} | {'yes' if ok else 'no'} |")
    w("")
    w(
        "Where a small request's CPU goes, and why the rows not met are not: "
        "[PROFILE.md](PROFILE.md) (written by hand from `perf`; re-profile after a change)."
    )
    print("\n".join(out))


if __name__ == "__main__":
    main()
