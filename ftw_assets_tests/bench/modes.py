"""The two ways of cutting chip images that the benchmark compares, each run in its own process so
its peak memory is its own: ``python -m ftw_assets_tests.bench.modes MODE PLAN.json``.

- ``pipeline``: the download step's core (``clip_batch``) over runs of 100 chip-years, as the
  ``clipped_images`` asset does in a backfill or ``ftwd create-dataset``.
- ``naive``: per chip, per season, per band: open the COG, read the window, close; GDAL's cache is
  emptied between chips, as when each chip is fetched on its own.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from ftw_assets.core.raster.clip import ClipRequest, clip_batch
from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.scenes.model import scene_from_dict
from ftw_assets.core.raster.windows import forget, read_window

CHIPS_PER_RUN = 100


def load(plan_path: str):
    plan = json.loads(open(plan_path).read())
    scenes = {k: scene_from_dict(v) for k, v in plan["scenes"].items()}
    chips = [(c["chip"], ChipGrid(**c["grid"]), c["scenes"]) for c in plan["chips"]]
    return plan, scenes, chips


def pipeline(plan, scenes, chips) -> int:
    done = 0
    for start in range(0, len(chips), CHIPS_PER_RUN):
        batch = chips[start:start + CHIPS_PER_RUN]
        requests = [ClipRequest((chip, season), grid, scenes[ids[season]]) for chip, grid, ids in batch for season in ids]
        clips, _ = clip_batch(requests, tuple(plan["bands"]), workers=plan["workers"])
        done += sum(1 for c in clips if c.data is not None)
    return done


def naive(plan, scenes, chips) -> int:
    done = 0
    for chip, grid, ids in chips:
        for season, scene_id in ids.items():
            scene = scenes[scene_id]
            for band in plan["bands"]:
                read_window(scene.href(band), grid)
                forget(scene.href(band))
            done += 1
    return done


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    mode, plan_path = sys.argv[1], sys.argv[2]
    plan, scenes, chips = load(plan_path)
    started = time.perf_counter()
    done = {"pipeline": pipeline, "naive": naive}[mode](plan, scenes, chips)
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"mode": mode, "chip_seasons": done, "seconds": seconds, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main()
