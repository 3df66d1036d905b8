"""Select scenes for a batch of chip-years: one search per MGRS tile x season window x year, shared by
all chips of the tile, then chip-window measurements grouped by scene (each scene's cloud layers are
opened once for all the chips that need them)."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely

from .calendar import CalendarDays
from .grid import ChipGrid, grid_footprint
from .selection import SEASONS, Candidate, Decision, SelectionSettings, candidates_for, decide
from .sources import SceneQuery, SceneSource
from .windows import read_windows

SCL_CLOUD_CLASSES = (3, 8, 9, 10)  # cloud shadow, cloud medium and high probability, thin cirrus


@dataclass
class ChipYear:
    chip: str
    year: int
    tile: str
    grid: ChipGrid
    days: CalendarDays


@dataclass
class BatchResult:
    decisions: dict[tuple[str, int, str], Decision] = field(default_factory=dict)
    searches: int = 0
    reads: int = 0
    scenes_opened: int = 0


def cloud_stats(scl: np.ndarray, probability: np.ndarray | None = None, threshold: int = 50) -> tuple[float, float]:
    """(nodata share, cloud share of the valid pixels) of a chip window; SCL 0 is nodata."""
    valid = scl != 0
    nodata = 1.0 - float(valid.mean()) if scl.size else 1.0
    cloudy = np.isin(scl, SCL_CLOUD_CLASSES)
    if probability is not None:
        cloudy |= probability > threshold
    n = int(valid.sum())
    return nodata, (float((cloudy & valid).sum()) / n if n else 1.0)


def select_batch(chip_years: list[ChipYear], settings: SelectionSettings, source: SceneSource,
                 workers: int = 4) -> BatchResult:
    result = BatchResult()
    areas = {(c.chip, c.year): grid_footprint(c.grid) for c in chip_years}
    groups: dict[tuple, list[ChipYear]] = defaultdict(list)
    for cy in chip_years:
        for season in SEASONS:
            start, end = cy.days.window(season, cy.year, settings.buffer_days)
            groups[(cy.tile, season, start, end)].append(cy)
    pending: dict[tuple, tuple[Decision, list[Candidate]]] = {}
    max_cloud = None if settings.on_missing == "best-available" else float(settings.cloud_cover_scene)
    for (tile, season, start, end), members in sorted(groups.items(), key=lambda kv: kv[0][:2] + (kv[0][2],)):
        area = shapely.union_all([areas[(m.chip, m.year)] for m in members]).envelope
        found = source.search(SceneQuery(start, end, bbox=tuple(area.bounds), max_cloud_cover=max_cloud))
        result.searches += 1
        for m in members:
            target = m.days.target(season, m.year)
            cands = candidates_for(found.scenes, m.chip, areas[(m.chip, m.year)], tile, target)
            pending[(m.chip, m.year, season)] = (Decision(season, target), cands)
    grids = {cy.chip: cy.grid for cy in chip_years}

    def measure(cands: list[Candidate]) -> None:
        by_scene: dict[str, list[Candidate]] = defaultdict(list)
        for c in cands:
            by_scene[c.scene.id].append(c)

        def one_scene(group: list[Candidate]) -> None:
            scene = group[0].scene
            windows = {c.chip: grids[c.chip] for c in group}
            scl = read_windows(source.href_for_read(scene.href("scl")), windows, policy=source.policy)
            prob = {}
            wants_prob = settings.pixel_check and "cloud_probability" in scene.bands
            untrusted = {c.chip: grids[c.chip] for c in group if not c.trusted}
            if wants_prob and untrusted:
                prob = read_windows(source.href_for_read(scene.href("cloud_probability")), untrusted, policy=source.policy)
            for c in group:
                c.nodata_share, c.cloud_share = cloud_stats(scl[c.chip], prob.get(c.chip),
                                                            settings.cloud_probability_threshold)
            result.reads += len(group) + len(prob)

        if by_scene:
            result.scenes_opened += len(by_scene)
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(by_scene)))) as pool:
                list(pool.map(one_scene, by_scene.values()))

    decide(pending, settings, measure)
    result.decisions = {key: decision for key, (decision, _) in pending.items()}
    return result
