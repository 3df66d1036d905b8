"""``ftwd create-dataset`` end to end, this checkout against a baseline commit, side by side in one run.

Fields on 20 x 20 cells of 2 km (400 chips) inside the bench archive's 40 km area (tile 33UWP), the
demo calendar excerpt, the archive's items served from the counting Range server on 127.0.0.1. Two
builds per code version, each into a new folder in its own process: masks only (grid, masks,
catalog), then with images (calendar, selection, images, cloud refinement, catalog, checks). The
baseline is the commit before the Dagster bookkeeping work (``BASELINE``), checked out with
``git worktree`` and imported ahead of this checkout; this checkout runs with ``--processes 1`` and
with its default (one process per core, and the window reader). Peak RSS is the largest sum over ftwd
and its worker processes, sampled every 0.1 s, with the largest of one process and the largest sum
of their PSS (sampled every second); the bytes each build fetched come from the COG server's counts.

Then the same with-images build of this checkout under py-spy (every thread of every process, CPU
samples only), its samples split by the file of the innermost frame.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from shapely import affinity

from ftw_assets.demo.archive import build_archive
from ftw_assets.demo.world import DEMO_ORIGIN, make_demo_fields, write_demo_calendar
from ftw_assets_tests.bench.__main__ import REPO, SPEC
from ftw_assets_tests.servers.harness import CogServer, archive_copy_served_at

BASELINE = "85149ad"  # before ftw_assets/storage.py and batch.add_partition_metadata
CELLS = 20
ORIGIN = (562000.0, 5308000.0)  # south-west corner on the 2 km grid, inside SPEC's area
FRAME = re.compile(r"\(.+:\d+\)$")  # py-spy's "function (file:line)"
STARTUP = "start-up (imports, worker processes starting, schemas compiled)"
CATEGORIES = (  # the first match of a frame's file path names its share
    ("Dagster (events, partitions, runs)", ("/dagster/", "/dagster_shared/", "/sqlalchemy/", "sqlite3")),
    ("STAC validation", ("/jsonschema", "/referencing/", "/rpds", "core/stac/validation")),
    ("raster work (GDAL, COGs, masks)", ("/rasterio/", "/rio_cogeo/", "/numpy/", "/affine/", "core/raster/",
                                         "/shapely/", "/pyproj/", "/pyogrio/", "/geopandas/", "/PIL/")),
    ("catalog and reports", ("core/stac/", "core/reports/", "/pystac", "/stac_geoparquet", "/pyarrow/",
                             "/duckdb", "defs/catalog")),
    ("scene selection", ("core/scenes/",)),
)


def fields(path: Path) -> Path:
    frame = make_demo_fields(seed=11, cells_x=CELLS, cells_y=CELLS)
    frame["geometry"] = frame.geometry.apply(lambda g: affinity.translate(g, ORIGIN[0] - DEMO_ORIGIN[0],
                                                                          ORIGIN[1] - DEMO_ORIGIN[1]))
    frame.to_file(path, driver="GPKG", layer="fields")
    return path


def build(code: Path | None, args: list[str], out: Path, profile: Path | None = None, server=None) -> dict:
    """One ``ftwd create-dataset`` in its own process (``code``: a checkout imported first); ``profile``:
    py-spy's raw samples of it and its worker processes go there; ``server``: the COG server, whose
    counts of the build's requests and bytes are reported."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(code)} if code else dict(os.environ)
    run = [sys.executable, "-m", "ftw_assets.cli", "create-dataset", *args, str(out)]
    if profile:
        run = [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--full-filenames", "--format", "raw",
               "--rate", "50", "--output", str(profile), "--", *run]
    if server is not None:
        server.reset()
    start = time.perf_counter()
    # Started outside the repository: ``python -m`` puts the working directory first on sys.path,
    # ahead of PYTHONPATH, which would run this checkout as the baseline.
    log = out.parent / "create-dataset.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(run, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=out.parent)
        peak, largest, pss = _peak_tree_rss(proc)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"create-dataset failed ({code or 'this checkout'}):\n{log.read_text()[-3000:]}")
    pooled = "ftw_assets.storage" in (out / "dagster_home" / "dagster.yaml").read_text()
    assert pooled == (code is None), f"{out}: built by the wrong code version"
    chips = json.loads((out / "dataset.json").read_text()).get("chip_count") or _chip_count(out)
    return {"seconds": round(seconds, 1), "chip_years": chips, "chip_years_per_s": round(chips / seconds, 2),
            "peak_rss_mb": round(peak / 2**20), "largest_process_rss_mb": round(largest / 2**20),
            "peak_pss_mb": round(pss / 2**20),
            "fetched_mb": round(server.stats()["bytes"] / 2**20, 1) if server is not None else None,
            "event_db_kb_per_chip_year": round(_size(out / "dagster_home" / "history") / 1024 / chips, 1)}


def _peak_tree_rss(proc: subprocess.Popen) -> tuple[int, int, int]:
    """The largest sum of resident memory over ``proc`` and its descendants until it ends, the largest
    resident memory of one of them, and the largest sum of their proportional set sizes (PSS: a page
    shared by n processes counts 1/n in each, so the sum is the memory the build takes; the RSS sum
    counts each process's shared libraries again)."""
    import psutil

    root, peak, largest, pss, sample = psutil.Process(proc.pid), 0, 0, 0, 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            sizes = [p.memory_info().rss for p in tree if p.is_running()]
            peak, largest = max(peak, sum(sizes)), max([largest, *sizes])
            if sample % 10 == 0:  # once a second: reading smaps_rollup takes 15 ms of an 800 MB process's time
                pss = max(pss, sum(_pss(p.pid) for p in tree))
        except (psutil.Error, OSError):  # a worker ended between listing and reading
            pass
        sample += 1
        time.sleep(0.1)
    return peak, largest, pss


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        return next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))


def _chip_count(out: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(next(out.glob("*-chips/chips.parquet"))).num_rows


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def breakdown(profile: Path) -> dict[str, float]:
    """py-spy's CPU samples (all threads, all processes) summed by the category of their innermost
    frame that is not the standard library; shares of all samples."""
    sums: dict[str, float] = {}
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if FRAME.search(f)]  # not the process's command line
        if not frames or any("_find_and_load" in f or "fastjsonschema/__init__" in f for f in frames):
            name = STARTUP  # a process starting: imports, schema compiles
        else:  # the innermost frame outside the standard library (which is charged to its caller)
            own = [f for f in frames if not ("/lib/python3" in f and "site-packages" not in f)]
            name = next((label for label, parts in CATEGORIES if any(p in own[-1] for p in parts)), "other") \
                if own else "standard library only (worker processes' queues, threads)"
        sums[name] = sums.get(name, 0) + int(count)
    total = sum(sums.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in sorted(sums.items(), key=lambda kv: -kv[1])}


def main(argv: list[str] | None = None) -> None:
    import argparse

    # No options: --help says what it does and how long, before it starts (it runs for about 15-20 min).
    argparse.ArgumentParser(prog="python -m ftw_assets_tests.bench.end_to_end", description=__doc__.split("\n\n")[0],
                            epilog="Takes 15-20 min on 2 cores; writes data/bench/e2e/.").parse_args(argv)
    work = REPO / "data" / "bench" / "e2e"
    work.mkdir(parents=True, exist_ok=True)
    baseline = work / "baseline-code"
    if not baseline.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-f", "--detach", str(baseline), BASELINE],
                       check=True, capture_output=True)
    parquet = build_archive(REPO / "data" / "cache" / "bench-archive", SPEC)
    server = CogServer(parquet.parent)
    try:
        served = archive_copy_served_at(parquet, server.url, work / "served.parquet")
        field_file = fields(work / "fields.gpkg")
        calendar = write_demo_calendar(work / "calendar")
        common = [str(field_file), "--name", "bench", "--year", "2024", "--stac-host", str(served),
                  "--crop-calendar-dir", str(calendar)]
        rows = {}
        versions = (("baseline", baseline, []), ("1 process", None, ["--processes", "1"]), ("default", None, []))
        for label, extra in (("masks only", []), ("with images", ["--download-images"])):
            for code_label, code, options in versions:
                rows[(label, code_label)] = build(code, common + extra + options, work / "out", server=server)
                print(f"{label:12} {code_label:14} {rows[(label, code_label)]}", flush=True)
        profile = work / "with-images.pyspy.txt"
        build(None, common + ["--download-images"], work / "out", profile=profile)
        shares = breakdown(profile)
    finally:
        server.stop()
    print(f"\n| build | chip-years/s: baseline {BASELINE} / 1 process / default ({os.cpu_count()} cores) | speed-up "
          "(default vs baseline, vs 1 process) | event db KB / chip-year (baseline, now) | peak RSS MB, all "
          "processes (baseline / 1 process / default) |\n| --- | --- | --- | --- | --- |")
    for label in ("masks only", "with images"):
        b, one, n = rows[(label, "baseline")], rows[(label, "1 process")], rows[(label, "default")]
        print(f"| {label} ({n['chip_years']} chip-years) | {b['chip_years_per_s']} / {one['chip_years_per_s']} / "
              f"{n['chip_years_per_s']} | {n['chip_years_per_s'] / b['chip_years_per_s']:.1f}x, "
              f"{n['chip_years_per_s'] / one['chip_years_per_s']:.2f}x | {b['event_db_kb_per_chip_year']}, "
              f"{n['event_db_kb_per_chip_year']} | {b['peak_rss_mb']} / {one['peak_rss_mb']} / {n['peak_rss_mb']} |")
    imgs = {v: rows[("with images", v)] for _, v in ((0, "1 process"), (1, "default"))}
    print("\nwith images, this checkout: | | 1 process | default |\n| --- | --- | --- |")
    for key, what in (("fetched_mb", "MB fetched from the COG server"), ("largest_process_rss_mb",
                                                                         "peak RSS of the largest process, MB"),
                      ("peak_pss_mb", "peak PSS of all processes (shared pages counted once), MB")):
        print(f"| {what} | {imgs['1 process'][key]} | {imgs['default'][key]} |")
    print("\nwhere the with-images build's CPU goes (py-spy samples of every thread and process, by innermost "
          "frame outside the standard library):")
    for name, share in shares.items():
        print(f"  {name}: {share} %")
    (work / "e2e.json").write_text(json.dumps({"rows": {f"{a} / {b}": v for (a, b), v in rows.items()},
                                               "breakdown_percent": shares}, indent=2) + "\n")


if __name__ == "__main__":
    main()
