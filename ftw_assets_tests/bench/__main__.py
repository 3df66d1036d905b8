"""``make bench``: the download step against a naive per-chip baseline and the minimum, side by side.

Builds (or reuses) a generated archive of 4 x 4 blocks of tile 33UWP (about 40 km square, 400 chips of
2 km), serves it from the counting Range server on 127.0.0.1, and for every chip of the area cuts
the planting and harvest images (red, green, blue, nir) from two full-coverage scenes:

- (a) this pipeline's download core, scene-major, in runs of 100 chip-years;
- (b) a naive baseline: per chip, season and band, open / windowed read / close;
- (c) the minimum: the compressed size of the distinct COG blocks the chip windows touch.

Prints a table and writes it as JSON to data/bench/download.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import rasterio
from rasterio.windows import from_bounds

from ftw_assets.demo.archive import ArchiveSpec, build_archive
from ftw_assets.core.geometry.grid import ChipGrid, block_order
from ftw_assets.core.scenes.model import scene_to_dict
from ftw_assets.core.scenes.sources import SceneQuery, open_source
from ftw_assets_tests.servers.harness import CogServer, archive_copy_served_at

REPO = Path(__file__).resolve().parents[2]
SPEC = ArchiveSpec(block_col=6, block_row=5, block_cols=4, block_rows=4, years=(2024,))
SEASON_SCENES = {"planting": "S2B_T33UWP_20240403T100613_L2A", "harvest": "S2B_T33UWP_20241030T100643_L2A"}
BANDS = ("red", "green", "blue", "nir")
CELL_M = 2000


def chip_grids(spec: ArchiveSpec) -> list[tuple[str, ChipGrid]]:
    """The 2 km cells lying wholly inside the generated area (200 x 200 px each), in the order
    chip_registry registers chips (``block_order``), which is the order runs take them in."""
    area = spec.grid()
    x0 = (int(area.x_min) // CELL_M + 1) * CELL_M
    y1 = (int(area.y_max) // CELL_M) * CELL_M
    x_end, y_end = area.x_min + area.width * 10, area.y_max - area.height * 10
    out = []
    y = y1
    while y - CELL_M >= y_end:
        x = x0
        while x + CELL_M <= x_end:
            out.append((f"{int(x)}_{int(y)}", ChipGrid(32633, float(x), float(y), CELL_M // 10, CELL_M // 10)))
            x += CELL_M
        y -= CELL_M
    table = pd.DataFrame({"chip_id": [c for c, _ in out], "mgrs_tile": "33UWP", "epsg": 32633,
                          "cell_x": [g.x_min for _, g in out], "cell_y": [g.y_max - CELL_M for _, g in out],
                          "cell_m": CELL_M})
    grids = dict(out)
    return [(c, grids[c]) for c in block_order(table)]


def minimum_bytes(root: Path, scenes, grids) -> int:
    """Compressed bytes of the distinct blocks that any chip window touches, over every file read."""
    total = 0
    for scene in scenes.values():
        for band in BANDS:
            path = root / scene.bands[band].href.split("/", 3)[-1]
            with rasterio.open(path) as src:
                bh, bw = src.block_shapes[0]
                blocks = set()
                for _, grid in grids:
                    w = from_bounds(*grid.bounds, transform=src.transform)
                    r0, c0 = int(w.row_off // bh), int(w.col_off // bw)
                    r1, c1 = int((w.row_off + w.height - 1e-9) // bh), int((w.col_off + w.width - 1e-9) // bw)
                    blocks |= {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
                total += sum(src.block_size(1, r, c) for r, c in blocks)
    return total


def write_plan(served: Path, workers: int, plan_path: Path) -> tuple[dict, list, dict]:
    """The cutting plan of every chip of the area from the two scenes, found in ``served`` (the archive's
    stac-geoparquet with hrefs on a server), written to ``plan_path`` for bench.modes: (scenes, grids, plan)."""
    query = SceneQuery(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 12, 31, tzinfo=timezone.utc),
                       bbox=(15.0, 47.0, 17.5, 49.0))
    found = {s.id: s for s in open_source(str(served)).search(query).scenes}
    scenes = {sid: found[sid] for sid in SEASON_SCENES.values()}
    grids = chip_grids(SPEC)
    plan = {
        "bands": list(BANDS), "workers": workers,
        "scenes": {sid: scene_to_dict(s) for sid, s in scenes.items()},
        "chips": [{"chip": c, "grid": g.__dict__, "scenes": SEASON_SCENES} for c, g in grids],
    }
    plan_path.write_text(json.dumps(plan))
    return scenes, grids, plan


def main() -> None:
    out_dir = REPO / "data" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet = build_archive(REPO / "data" / "cache" / "bench-archive", SPEC)
    server = CogServer(parquet.parent)
    try:
        served = archive_copy_served_at(parquet, server.url, out_dir / "served.parquet")
        plan_path = out_dir / "plan.json"
        scenes, grids, plan = write_plan(served, 4, plan_path)
        minimum = minimum_bytes(parquet.parent, scenes, grids)
        rows = {}
        for mode in ("pipeline", "naive"):
            server.reset()
            run = subprocess.run([sys.executable, "-m", "ftw_assets_tests.bench.modes", mode, str(plan_path)],
                                 capture_output=True, text=True, check=True)
            result = json.loads(run.stdout.strip().splitlines()[-1])
            counts = server.stats()
            chip_years = len(grids)
            rows[mode] = {
                "chips": chip_years, "chip_seasons": result["chip_seasons"],
                "requests_per_chip_year": round(counts["requests"] / chip_years, 2),
                "bytes_per_chip_year": round(counts["bytes"] / chip_years),
                "bytes_over_minimum": round(counts["bytes"] / minimum, 3),
                "chips_per_second": round(chip_years / result["seconds"], 2),
                "seconds": round(result["seconds"], 2), "peak_rss_mb": round(result["peak_rss_mb"], 1),
            }
        # Peak memory of the pipeline as the dataset grows (GDAL's block cache bounds it).
        growth = {}
        for n in (100, 200, len(grids)):
            part = dict(plan, chips=plan["chips"][:n])
            part_path = out_dir / f"plan-{n}.json"
            part_path.write_text(json.dumps(part))
            run = subprocess.run([sys.executable, "-m", "ftw_assets_tests.bench.modes", "pipeline", str(part_path)],
                                 capture_output=True, text=True, check=True)
            growth[n] = round(json.loads(run.stdout.strip().splitlines()[-1])["peak_rss_mb"], 1)
        a, b = rows["pipeline"], rows["naive"]
        report = {
            "archive": str(parquet), "bands": list(BANDS), "minimum_bytes": minimum,
            "pipeline_peak_rss_mb_by_chips": growth,
            "minimum_bytes_per_chip_year": round(minimum / len(grids)), "modes": rows,
            "ratios_pipeline_over_naive": {
                "requests": round(a["requests_per_chip_year"] / b["requests_per_chip_year"], 3),
                "bytes": round(a["bytes_per_chip_year"] / b["bytes_per_chip_year"], 3),
                "chips_per_second": round(a["chips_per_second"] / b["chips_per_second"], 2),
                "peak_rss": round(a["peak_rss_mb"] / b["peak_rss_mb"], 2),
            },
        }
        (out_dir / "download.json").write_text(json.dumps(report, indent=2) + "\n")
        print_table(report)
    finally:
        server.stop()


def print_table(report: dict) -> None:
    cols = ("chips", "requests_per_chip_year", "bytes_per_chip_year", "bytes_over_minimum", "chips_per_second",
            "peak_rss_mb")
    print(f"minimum: {report['minimum_bytes_per_chip_year']:,} bytes per chip-year "
          f"({report['minimum_bytes']:,} in all), bands {', '.join(report['bands'])}")
    print(f"{'mode':10}" + "".join(f"{c:>24}" for c in cols))
    for mode, row in report["modes"].items():
        print(f"{mode:10}" + "".join(f"{row[c]:>24,}" if isinstance(row[c], int) else f"{row[c]:>24}" for c in cols))
    print("pipeline peak RSS by chips: " + ", ".join(f"{n}: {mb} MB" for n, mb in
                                                       report["pipeline_peak_rss_mb_by_chips"].items()))
    r = report["ratios_pipeline_over_naive"]
    print(f"pipeline / naive: requests {r['requests']}, bytes {r['bytes']}, chips/s {r['chips_per_second']}, "
          f"peak RSS {r['peak_rss']}")


if __name__ == "__main__":
    main()
