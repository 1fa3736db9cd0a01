#!/usr/bin/env python3
"""Formats the load bench's measurements (metric, target, value TSV) as
RESULTS.md: the machine, the date, the raw numbers and the ratios.

"nginx best" is, per metric, the better of the two nginx configurations
(default buffers, 256 KiB buffers): the ratios are against nginx at its best.
"""
import datetime
import sys
from collections import defaultdict


def main():
    path, machine, tools, rev, duration, repeat, large, huge, conns = sys.argv[1:]
    data = defaultdict(dict)
    for line in open(path):
        metric, target, value = line.rstrip("\n").split("\t")
        data[metric][target] = float(value)

    out = []
    w = out.append
    w("# s3gate load bench: results")
    w("")
    w(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    w(f"- machine: {machine}")
    w(f"- tools: {tools}")
    w(f"- s3gate: {rev} (release build)")
    w(
        f"- run: `benches/load/run`; wrk -t2, {duration} s per run; {large} MiB transfers "
        f"with curl, median of {repeat}; RSS with a {huge} MiB object each way"
    )
    w(
        "- everything (store, proxy, load tool) shares the same cores on loopback: "
        "requests/s measure the whole system; CPU-µs per request are the proxy "
        "process's own (utime+stime from /proc, all threads; nginx: master + workers)."
    )
    w("")

    def ratio(a, b):
        return a / b if a is not None and b else None

    def fmt(v, digits=1):
        if v is None:
            return "–"
        return f"{v:,.{digits}f}"

    rows = []
    # (label, metric, higher_is_better, digits)
    for c in conns.split():
        rows += [
            (f"4 KiB GET, {c} conns: req/s", f"small_c{c}_rps", True, 0),
            (f"4 KiB GET, {c} conns: p50 ms", f"small_c{c}_p50_ms", False, 2),
            (f"4 KiB GET, {c} conns: p99 ms", f"small_c{c}_p99_ms", False, 2),
            (f"4 KiB GET, {c} conns: proxy CPU-µs/req", f"small_c{c}_cpu_us", False, 1),
        ]
    rows += [
        (f"{large} MiB GET: MiB/s", "large_get_mibs", True, 0),
        (f"{large} MiB PUT: MiB/s", "large_put_mibs", True, 0),
        (f"{large} MiB GET+PUT: proxy CPU-ms/MiB", "large_cpu_ms_per_mib", False, 2),
    ]

    w("## Ratios")
    w("")
    w("| metric | direct | nginx | nginx 256k | s3gate | s3gate / nginx best | s3gate / direct |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for label, metric, higher, digits in rows:
        d = data.get(metric, {})
        ngx = [v for v in (d.get("nginx"), d.get("nginx256")) if v is not None]
        best = (max(ngx) if higher else min(ngx)) if ngx else None
        gate = d.get("s3gate")
        direct = d.get("direct")
        # The store's own CPU is not a proxy's: no proxy CPU for "direct".
        if "cpu" in metric:
            direct_shown, vs_direct = None, None
        else:
            direct_shown, vs_direct = direct, ratio(gate, direct)
        w(
            f"| {label} | {fmt(direct_shown, digits)} | {fmt(d.get('nginx'), digits)} | "
            f"{fmt(d.get('nginx256'), digits)} | {fmt(gate, digits)} | "
            f"{fmt(ratio(gate, best), 2)}× | {fmt(vs_direct, 2)}{'×' if vs_direct else ''} |"
        )
    w("")
    w("Store CPU-µs per 4 KiB GET, for scale (the upstream's own cost):")
    w("")
    for c in conns.split():
        d = data.get(f"small_c{c}_store_cpu_us", {})
        w(
            f"- {c} conns: "
            + ", ".join(f"via {t} {fmt(d.get(t), 1)}" for t in ("direct", "nginx", "nginx256", "s3gate"))
        )
    w("")

    g = lambda m: data.get(m, {}).get("s3gate")  # noqa: E731
    idle, hput, hget = g("rss_idle_kib"), g("rss_hwm_after_put_kib"), g("rss_hwm_after_get_kib")
    w(f"## s3gate memory, {huge} MiB object each way (fresh process)")
    w("")
    w("| | MiB |")
    w("|---|---:|")
    if idle is not None:
        w(f"| RSS at idle (after a few small GETs) | {idle / 1024:.1f} |")
        w(f"| peak RSS (VmHWM) after the PUT | {hput / 1024:.1f} |")
        w(f"| peak RSS (VmHWM) after a fast and a 200 MB/s GET | {hget / 1024:.1f} |")
        w(f"| growth: peak − idle | {(max(hput, hget) - idle) / 1024:.1f} |")
    lg = g("loaded_gate_hwm_kib")
    if lg is not None:
        w(f"| the load-test instance's peak RSS, after all the runs above | {lg / 1024:.1f} |")
    w("")
    hp, hg = g("huge_put_mibs"), g("huge_get_mibs")
    if hp is not None:
        w(f"{huge} MiB through s3gate: PUT {hp:.0f} MiB/s, GET {hg:.0f} MiB/s.")
        w("")

    w("## Targets (issue 2, item 9)")
    w("")

    def get(metric, target):
        return data.get(metric, {}).get(target)

    def best_ngx(metric, higher):
        v = [x for x in (get(metric, "nginx"), get(metric, "nginx256")) if x is not None]
        return (max(v) if higher else min(v)) if v else None

    checks = []
    for c in conns.split():
        r = ratio(get(f"small_c{c}_rps", "s3gate"), best_ngx(f"small_c{c}_rps", True))
        cpu = ratio(get(f"small_c{c}_cpu_us", "s3gate"), best_ngx(f"small_c{c}_cpu_us", False))
        checks.append((f"4 KiB, {c} conns: req/s ≥ 1.0× nginx", r, r is not None and r >= 1.0))
        checks.append((f"4 KiB, {c} conns: CPU/req ≤ 1.0× nginx", cpu, cpu is not None and cpu <= 1.0))
    for m, label in (("large_get_mibs", "GET"), ("large_put_mibs", "PUT")):
        r = ratio(get(m, "s3gate"), best_ngx(m, True))
        checks.append((f"{large} MiB {label} ≥ 1.0× nginx best", r, r is not None and r >= 1.0))
    if idle is not None:
        growth = (max(hput, hget) - idle) / 1024
        checks.append(("RSS growth ≤ 8 MiB", growth, growth <= 8))
        checks.append(("peak RSS < 64 MiB", max(hput, hget) / 1024, max(hput, hget) / 1024 < 64))
    w("| target | measured | met |")
    w("|---|---:|:---:|")
    for label, v, ok in checks:
        w(f"| {label} | {fmt(v, 2)} | {'yes' if ok else 'no'} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
