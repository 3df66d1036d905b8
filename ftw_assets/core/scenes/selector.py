"""Select scenes for a batch of chip-years: one search per MGRS tile x season window x year, shared by
all chips of the tile, then chip-window measurements grouped by scene (each scene's cloud layers are
opened once for all the chips that need them)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

import shapely

from ftw_assets.core.scenes import cloudstats
from ftw_assets.core.scenes.calendar import CalendarDays
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint
from ftw_assets.core.scenes.selection import SEASONS, Candidate, Decision, SelectionSettings, candidates_for, decide
from ftw_assets.core.scenes.sources import SceneQuery, SceneSource


@dataclass
class SelectionRequest:
    """A chip-year to select scenes for: its MGRS tile, pixel grid and crop calendar dates."""

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


def select_batch(requests: list[SelectionRequest], settings: SelectionSettings, source: SceneSource,
                 workers: int = 4, excluded: dict | None = None, max_rejections: int | None = None) -> BatchResult:
    """``excluded``: {(chip, year, season): scene ids rejected by cloud refinement}; once a chip-season
    has more than ``max_rejections`` of them (its re-selections are used up) it gets no other scene."""
    excluded = excluded or {}
    result = BatchResult()
    areas = {(c.chip, c.year): grid_footprint(c.grid) for c in requests}
    groups: dict[tuple, list[SelectionRequest]] = defaultdict(list)
    for request in requests:
        for season in SEASONS:
            start, end = request.days.window(season, request.year, settings.buffer_days)
            groups[(request.tile, season, start, end)].append(request)
    pending: dict[tuple, tuple[Decision, list[Candidate]]] = {}
    max_cloud = None if settings.on_missing == "best-available" else float(settings.cloud_cover_scene)
    for (tile, season, start, end), members in sorted(groups.items(), key=lambda kv: kv[0][:2] + (kv[0][2],)):
        area = shapely.union_all([areas[(m.chip, m.year)] for m in members]).envelope
        query = SceneQuery(start, end, bbox=tuple(area.bounds), max_cloud_cover=max_cloud)
        found = source.search(query)
        result.searches += 1
        every = found if max_cloud is None else None  # the window at any cloud cover, searched when needed
        for m in members:
            target = m.days.target(season, m.year)
            cands = candidates_for(found.scenes, m.chip, areas[(m.chip, m.year)], tile, target)
            rejected = excluded.get((m.chip, m.year, season), set())
            decision = Decision(season, target)
            if max_rejections is not None and len(rejected) > max_rejections:
                decision.reason = (f"cloud refinement rejected {len(rejected)} scene(s) for this chip "
                                   f"({', '.join(sorted(rejected))}); its {max_rejections} re-selection(s) are used up")
                result.decisions[(m.chip, m.year, season)] = decision
                continue
            kept = [c for c in cands if c.scene.id not in rejected]
            if not kept:
                # Count the window without the cloud ceiling, so that "no scene" is not blamed on clouds.
                if every is None:
                    every = source.search(replace(query, max_cloud_cover=None))
                    result.searches += 1
                over_chip = candidates_for(every.scenes, m.chip, areas[(m.chip, m.year)], tile, target)
                decision.in_window = len([c for c in over_chip if c.scene.id not in rejected])
                if not over_chip:
                    decision.no_scene = no_scene_reason(source, tile, start, end)
            pending[(m.chip, m.year, season)] = (decision, kept)
    grids = {r.chip: r.grid for r in requests}

    def measure(cands: list[Candidate]) -> None:
        wanted = [(c.chip, grids[c.chip], c.scene, settings.pixel_check and not c.trusted) for c in cands]
        found = cloudstats.measure(wanted, settings.cloud_probability_threshold, source.href_for_read,
                                   source.policy, workers)
        for c in cands:
            c.nodata_share, c.cloud_share = found[(c.chip, c.scene.id)]
        result.reads += len(cands)
        result.scenes_opened += len({c.scene.id for c in cands})

    decide(pending, settings, measure)
    result.decisions.update({key: decision for key, (decision, _) in pending.items()})
    return result


def no_scene_reason(source: SceneSource, tile: str, start: datetime, end: datetime) -> str:
    """A chip-season whose window holds no scene at all over the chip, whatever the cloud cover; for a
    source that can say what it covers (a stac-geoparquet file), what that is."""
    covers = source.coverage()
    where = f"; it holds {covers}" if covers else ""
    return (f"no Sentinel-2 scene in the window {start:%Y-%m-%d}..{end:%Y-%m-%d} for tile {tile} "
            f"(the source has none there{where})")
