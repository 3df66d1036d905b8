"""Cloud and nodata on a chip's own pixels, from a scene's SCL and cloud probability layers.

Reads are grouped by scene: each scene's layers are opened once for all the chips that need them.
Used by selection (the nodata check and ``--pixel-check``) and by cloud refinement.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Hashable

import numpy as np

from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.scenes.model import Scene
from ftw_assets.core.raster.windows import RetryPolicy, read_windows

SCL_CLOUD_CLASSES = (3, 8, 9, 10)  # cloud shadow, cloud medium and high probability, thin cirrus


def cloud_stats(scl: np.ndarray, probability: np.ndarray | None = None, threshold: int = 50) -> tuple[float, float]:
    """(nodata share, cloud share of the valid pixels) of a chip window; SCL 0 is nodata."""
    valid = scl != 0
    nodata = 1.0 - float(valid.mean()) if scl.size else 1.0
    cloudy = np.isin(scl, SCL_CLOUD_CLASSES)
    if probability is not None:
        cloudy |= probability > threshold
    n = int(valid.sum())
    return nodata, (float((cloudy & valid).sum()) / n if n else 1.0)


def measure(
    wanted: list[tuple[Hashable, ChipGrid, Scene, bool]],
    probability_threshold: int = 50,
    href_for_read: Callable[[str], str] = lambda h: h,
    policy: RetryPolicy = RetryPolicy(),
    workers: int = 4,
) -> dict[tuple[Hashable, str], tuple[float, float]]:
    """{(key, scene id): (nodata share, cloud share)} for (key, chip grid, scene, with probability) requests."""
    by_scene: dict[str, list] = defaultdict(list)
    for entry in wanted:
        by_scene[entry[2].id].append(entry)
    out: dict[tuple[Hashable, str], tuple[float, float]] = {}

    def one_scene(group: list) -> None:
        scene = group[0][2]
        grids = {key: grid for key, grid, _, _ in group}
        scl = read_windows(href_for_read(scene.href("scl")), grids, policy=policy)
        prob = {}
        with_prob = {key: grid for key, grid, _, p in group if p}
        if with_prob and "cloud_probability" in scene.bands:
            prob = read_windows(href_for_read(scene.href("cloud_probability")), with_prob, policy=policy)
        for key, _, _, _ in group:
            out[(key, scene.id)] = cloud_stats(scl[key], prob.get(key), probability_threshold)

    if by_scene:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(by_scene)))) as pool:
            list(pool.map(one_scene, by_scene.values()))
    return out
