"""``python -m ftw_assets_tests.bench.latency``: the download step on a near and a far COG host, side by side.

The plan of ``make bench`` (every 2 km chip of the generated 40 km archive, planting and harvest
scenes, red, green, blue, nir; ``clip_batch`` over runs of 100 chip-years, 4 workers) is run in the
``pipeline`` mode, with the archive's hrefs pointing at the fault proxy in front of the counting
Range server, once with no added delay and once with a fixed delay on every request (50 ms: a
remote COG host is 20-100 ms away, the loopback server 0 ms). The delays alternate, ``--repeats``
times (default 5), so load from other jobs weighs on both alike.

Prints chip-seasons per second at each delay (the fastest run and the median), requests (and the most
in flight at once, from the proxy), the ratio far / near
(median over the pairs of neighbouring runs, and of the fastest runs; the bar: >= 0.70), requests
and bytes against the minimal block set (the bar: <= 1.05x), and writes data/bench/latency.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from ftw_assets.demo.archive import build_archive
from ftw_assets_tests.bench.__main__ import BANDS, REPO, SPEC, minimum_bytes, write_plan
from ftw_assets_tests.servers.harness import CogServer, FaultProxy, archive_copy_served_at

DELAYS_MS = (0, 50)


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--delay-ms", type=int, default=DELAYS_MS[1], help="the far host's per-request delay")
    args.add_argument("--repeats", type=int, default=5, help="runs at each delay, alternating")
    args.add_argument("--workers", type=int, default=4, help="clip_batch workers (num_workers)")
    opts = args.parse_args(argv)
    delays = (0, opts.delay_ms)

    out_dir = REPO / "data" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet = build_archive(REPO / "data" / "cache" / "bench-archive", SPEC)
    server = CogServer(parquet.parent)
    proxy = None
    try:
        proxy = FaultProxy(server.port)
        served = archive_copy_served_at(parquet, proxy.url, out_dir / "served-latency.parquet")
        plan_path = out_dir / "plan-latency.json"
        scenes, grids, _ = write_plan(served, opts.workers, plan_path)
        minimum = minimum_bytes(parquet.parent, scenes, grids)

        runs: dict[int, list[dict]] = {d: [] for d in delays}
        for _ in range(max(opts.repeats, 1)):
            for delay in delays:
                proxy.set(delay_s=delay / 1000)
                server.reset()
                run = subprocess.run([sys.executable, "-m", "ftw_assets_tests.bench.modes", "pipeline",
                                      str(plan_path)], capture_output=True, text=True, check=True)
                result = json.loads(run.stdout.strip().splitlines()[-1])
                counts = server.stats()
                in_flight = proxy.stats()["peak_in_flight"]
                runs[delay].append({
                    "chip_seasons": result["chip_seasons"], "seconds": round(result["seconds"], 2),
                    "chip_seasons_per_second": round(result["chip_seasons"] / result["seconds"], 2),
                    "requests": counts["requests"], "most_in_flight": in_flight, "bytes": counts["bytes"],
                    "bytes_over_minimum": round(counts["bytes"] / minimum, 3),
                    "peak_rss_mb": round(result["peak_rss_mb"], 1),
                })
        best = {d: max(rs, key=lambda r: r["chip_seasons_per_second"]) for d, rs in runs.items()}
        speed = {d: [r["chip_seasons_per_second"] for r in rs] for d, rs in runs.items()}
        near, far = delays
        report = {
            "archive": str(parquet), "bands": list(BANDS), "workers": opts.workers, "chips": len(grids),
            "minimum_bytes": minimum, "delays_ms": list(delays),
            "best": {str(d): r for d, r in best.items()},
            "median_chip_seasons_per_second": {str(d): statistics.median(v) for d, v in speed.items()},
            "ratio_far_over_near": {
                "median_of_pairs": round(statistics.median(f / n for n, f in zip(speed[near], speed[far])), 3),
                "best": round(max(speed[far]) / max(speed[near]), 3),
            },
            "runs": {str(d): rs for d, rs in runs.items()},
        }
        (out_dir / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
        print_table(report)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


def print_table(report: dict) -> None:
    cols = ("chip_seasons_per_second", "median", "requests", "most_in_flight", "bytes", "bytes_over_minimum",
            "peak_rss_mb")
    print(f"{report['chips']} chip-years x 2 seasons, bands {', '.join(report['bands'])}, {report['workers']} workers; "
          f"minimum {report['minimum_bytes']:,} bytes; fastest run of each delay, and the median")
    print(f"{'delay':>8}" + "".join(f"{c:>24}" for c in cols))
    for delay, row in report["best"].items():
        row = dict(row, median=report["median_chip_seasons_per_second"][delay])
        print(f"{delay + ' ms':>8}" + "".join(f"{row[c]:>24,}" for c in cols))
    runs = "; ".join(f"{d} ms: " + ", ".join(str(r["chip_seasons_per_second"]) for r in rs)
                     for d, rs in report["runs"].items())
    print(f"chip-seasons/s of every run ({runs})")
    ratio = report["ratio_far_over_near"]
    print(f"{report['delays_ms'][1]} ms / 0 ms throughput: {ratio['median_of_pairs']} (median of pairs), "
          f"{ratio['best']} (fastest runs); the bar: >= 0.70")


if __name__ == "__main__":
    main()
