"""Choosing each chip's scenes of a sensor other than Sentinel-2 (no Dagster here).

One search per MGRS tile x season window (seasonal sensors) or per MGRS tile (static ones), shared by
all chips of the tile, as the Sentinel-2 selector does; then per chip:

- Sentinel-1: the scene nearest the planting / harvest target date (the same crop-calendar windows
  as Sentinel-2), recording its orbit direction and whether its values are linear or dB;
- Landsat: the scene with the least unusable pixels (cloud, cloud shadow, dilated cloud, cirrus, fill
  in ``qa_pixel``) on the chip's own pixels, then nearest the target date;
- DEM and land cover: every tile of the newest product that covers the chip (mosaicked when several).

Scenes that cover the whole chip are preferred over ones that only touch it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import shapely

from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.calendar import CalendarDays
from ftw_assets.core.scenes.selection import SEASONS
from ftw_assets.core.scenes.sources import SceneQuery, SceneSource
from ftw_assets.core.sensors.config import sensor_config
from ftw_assets.core.sensors.quality import qa_pixel_mask
from ftw_assets.core.sensors.read import read_sensor_chip
from ftw_assets.core.sensors.scene import SensorScene
from ftw_assets.core.sensors.search import search_sensor

STATIC = "static"  # the "season" of a DEM or land-cover chip
ALL_TIME = (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))


@dataclass
class SensorRequest:
    """A chip-year to choose scenes for: its MGRS tile, pixel grid and crop-calendar dates (None: the
    calendar has none, so a seasonal sensor has no window; static sensors do not need them)."""

    chip: str
    year: int
    tile: str
    grid: ChipGrid
    days: CalendarDays | None


@dataclass
class SensorChoice:
    """A chip-season's scenes (one, or the tiles of a mosaic), or the reason there are none."""

    season: str
    scenes: list[SensorScene] = field(default_factory=list)
    target: dt.date | None = None
    candidates: int = 0
    unusable_share: float | None = None  # Landsat: cloud/shadow/fill share of the chip's pixels (0-1)
    reason: str | None = None

    @property
    def chosen(self) -> bool:
        return bool(self.scenes)

    def summary(self) -> dict:
        """A flat record of the choice (for the chip-year's record and Dagster metadata)."""
        first = self.scenes[0] if self.scenes else None
        out = {"season": self.season, "scene_ids": [s.id for s in self.scenes], "candidates": self.candidates}
        if first is not None:
            out |= {"datetime": first.datetime.isoformat(), "collection": first.collection,
                    "platform": first.platform, "constellation": first.constellation}
            if first.orbit_state:
                out["orbit_state"] = first.orbit_state
            if first.backscatter:
                out["backscatter"] = f"{first.backscatter.quantity} {first.backscatter.scale}"
        if self.target is not None:
            out["target"] = self.target.isoformat()
            if first is not None:
                out["days_from_target"] = abs((first.datetime.date() - self.target).days)
        if self.unusable_share is not None:
            out["unusable_share"] = round(self.unusable_share, 4)
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class ChoiceBatch:
    choices: dict[tuple[str, int, str], SensorChoice] = field(default_factory=dict)
    searches: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


def seasons_of(sensor: str) -> tuple[str, ...]:
    return SEASONS if sensor_config(sensor).seasonal else (STATIC,)


def choose_batch(requests: list[SensorRequest], sensor: str, source: SceneSource, buffer_days: int = 14,
                 href_for_read: Callable[[str], str] | None = None,
                 policy: RetryPolicy = RetryPolicy()) -> ChoiceBatch:
    """The scenes of ``sensor`` for every chip-season of ``requests``: one search per tile x window."""
    cfg = sensor_config(sensor)
    result = ChoiceBatch()
    areas = {(r.chip, r.year): grid_footprint(r.grid) for r in requests}
    groups: dict[tuple, list[SensorRequest]] = defaultdict(list)
    for r in requests:
        for season in seasons_of(cfg.name):
            if season == STATIC:
                groups[(r.tile, season, *ALL_TIME)].append(r)
            elif r.days is None:
                result.choices[(r.chip, r.year, season)] = SensorChoice(season, reason="no crop calendar dates")
            else:
                groups[(r.tile, season, *r.days.window(season, r.year, buffer_days))].append(r)
    for (tile, season, start, end), members in sorted(groups.items(), key=lambda kv: kv[0][:3]):
        area = shapely.union_all([areas[(m.chip, m.year)] for m in members]).envelope
        found = search_sensor(source, cfg.name, SceneQuery(start, end, bbox=tuple(area.bounds)))
        result.searches += 1
        result.rejected += found.rejected
        for m in members:
            chip_area = areas[(m.chip, m.year)]
            target = None if season == STATIC else m.days.target(season, m.year)
            choice = SensorChoice(season, target=target)
            cands = _covering(found.scenes, chip_area)
            choice.candidates = len(cands)
            if not cands:
                choice.reason = (f"no {cfg.title} scene over the chip in {start:%Y-%m-%d}..{end:%Y-%m-%d} "
                                 f"(the search found {len(found.scenes)} near tile {tile})" if season != STATIC else
                                 f"no {cfg.title} tile covers the chip")
            elif season == STATIC:
                choice.scenes = _newest_product(cands)
            elif cfg.quality_layer is not None and cfg.quality_layer.kind == "bitfield":
                choice.scenes, choice.unusable_share = _least_unusable(cands, m.grid, target, href_for_read, policy)
            else:
                choice.scenes = [min(cands, key=lambda s: (_days(s, target), s.datetime, s.id))]
            result.choices[(m.chip, m.year, season)] = choice
    return result


def _covering(scenes: list[SensorScene], chip_area) -> list[SensorScene]:
    """Scenes over the chip: those covering it whole when there are any, else those touching it."""
    touching = [s for s in scenes if s.footprint.intersects(chip_area)]
    whole = [s for s in touching if s.footprint.buffer(1e-9).contains(chip_area)]
    return whole or touching


def _newest_product(scenes: list[SensorScene]) -> list[SensorScene]:
    """The tiles of the newest product (WorldCover 2021 over 2020), in id order, for a mosaic."""
    newest = max(s.datetime for s in scenes)
    return sorted((s for s in scenes if s.datetime == newest), key=lambda s: s.id)


def _days(scene: SensorScene, target: dt.date) -> int:
    return abs((scene.datetime.date() - target).days)


def _least_unusable(scenes, grid: ChipGrid, target, href_for_read, policy) -> tuple[list[SensorScene], float]:
    """The scene whose ``qa_pixel`` marks the fewest of the chip's pixels unusable, then nearest the target."""
    shares = {}
    for scene in scenes:
        qa = read_sensor_chip([scene], grid, ("qa_pixel",), href_for_read, policy).layers["qa_pixel"]
        shares[scene.id] = float(qa_pixel_mask(qa).mean())
    best = min(scenes, key=lambda s: (shares[s.id], _days(s, target), s.datetime, s.id))
    return [best], shares[best.id]
