"""``make bench-scale``: the per chip-year cost of ``ftwd create-dataset`` at 400, 2,000 and 10,000 chips.

Fields on square blocks of 2 km cells centred on the UTM zone 32/33 edge at 12 E, 48 N (so the
larger blocks span several MGRS tiles in two zones): three parcels per cell, from a seed. Each size
is built into a new folder in its own process (masks only: field boundaries, chip registry, chip
grids, masks, catalog), then ``ftwd status`` is timed on it. Prints, per size: wall time, the cost
per chip-year, its ratio to the first size's cost, the process's peak RSS, the Dagster event
database per chip-year per partitioned asset, and the status time; writes them to
data/bench/scale/scale.json.

``python -m ftw_assets_tests.bench.scale [SIDE ...]`` (cells per side: 20 -> 400 chips).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from ftw_assets_tests.bench.__main__ import REPO

SIDES = (20, 45, 100)  # 400, 2,025 and 10,000 cells
ZONE_EDGE_X = 277_000.0  # 12 E at 48 N in EPSG:32633 (metres), the zone 32/33 boundary
SOUTH_Y = 5_300_000.0
CELL = 2000.0
PARTITIONED_ASSETS = 3  # chip_grid, masks and stac_catalog run in a masks-only build


def fields(side: int, path: Path, seed: int = 5) -> Path:
    """Three parcels in each of ``side`` x ``side`` cells, the block centred on the zone edge."""
    rng = np.random.default_rng(seed)
    x0 = np.floor((ZONE_EDGE_X - side * CELL / 2) / CELL) * CELL
    cx, cy = np.meshgrid(x0 + CELL * np.arange(side), SOUTH_Y + CELL * np.arange(side))
    cx, cy = cx.ravel(), cy.ravel()
    boxes = []
    for dx, dy in ((150, 150), (1100, 200), (400, 1150)):
        w, h = rng.uniform(300, 700, cx.size), rng.uniform(300, 700, cx.size)
        boxes.append(shapely.box(cx + dx, cy + dy, cx + dx + w, cy + dy + h))
    geoms = np.concatenate(boxes)
    frame = gpd.GeoDataFrame({"id": [f"p{i}" for i in range(geoms.size)]}, geometry=geoms, crs=32633)
    frame.to_parquet(path)
    return path


def run(args: list[str], log: Path) -> tuple[float, float]:
    """One ftwd process: (seconds, its peak RSS in MB)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ftw_assets.cli", *args], stdout=out, stderr=subprocess.STDOUT,
                                cwd=log.parent)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ftwd {args[0]} failed; see {log}:\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def measure(side: int, work: Path) -> dict:
    n = side * side
    out = work / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    field_file = fields(side, work / f"fields-{n}.parquet")
    seconds, rss = run(["create-dataset", str(field_file), str(out), "--name", "scale", "--year", "2024"],
                       work / f"create-{n}.log")
    table = gpd.read_parquet(out / "scale-chips" / "chips.parquet", columns=["chip_id", "epsg", "mgrs_tile", "geometry"])
    status_s, _ = run(["status", str(out)], work / f"status-{n}.log")
    chips = len(table)
    return {"chips": chips, "zones": sorted(int(z) for z in table["epsg"].unique()),
            "mgrs_tiles": int(table["mgrs_tile"].nunique()), "seconds": round(seconds, 1),
            "ms_per_chip_year": round(1000 * seconds / chips, 1), "peak_rss_mb": round(rss),
            "event_db_kb_per_chip_year_per_asset": round(
                size_of(out / "dagster_home" / "history") / 1024 / chips / PARTITIONED_ASSETS, 2),
            "status_s": round(status_s, 2)}


def main() -> None:
    sides = [int(a) for a in sys.argv[1:]] or list(SIDES)
    work = REPO / "data" / "bench" / "scale"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for side in sides:
        rows.append(measure(side, work))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["ms_per_chip_year"]
    print("\n| chips | UTM zones | MGRS tiles | wall s | ms / chip-year | vs first | peak RSS MB | event db KB / "
          "chip-year / asset | ftwd status s |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['chips']} | {len(r['zones'])} | {r['mgrs_tiles']} | {r['seconds']} | {r['ms_per_chip_year']} | "
              f"{r['ms_per_chip_year'] / base:.2f}x | {r['peak_rss_mb']} | {r['event_db_kb_per_chip_year_per_asset']} | "
              f"{r['status_s']} |")
    (work / "scale.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
