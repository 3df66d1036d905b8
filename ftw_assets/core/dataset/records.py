"""Per chip-year working records (JSON under OUTPUT_DIR/state/{chip}_{year}/) that later assets build
items and reports from: the crop calendar lookup, the scene selection, the clipped images and the
cloud refinement of each chip-year.

Each kind is a dataclass; :func:`save`, :func:`load` and :func:`load_all` are the only way records reach
the disk. The JSON is the record's fields with sorted keys; an optional field that does not apply
(``None``) is left out rather than written as ``null``, so e.g. ``skipped`` appears only for a
skipped calendar lookup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ftw_assets.core.atomic import write_text
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.scenes.calendar import CalendarDays
from ftw_assets.core.scenes.model import Scene, scene_from_dict


class _Json:
    """Dict conversion shared by the records: optional fields (default ``None``) are left out when
    unset; ``seasons`` maps a season name to an entry of type ``SEASON``."""

    SEASON: ClassVar[type | None] = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            if f.name == "seasons":
                value = {season: entry.to_dict() for season, entry in value.items()}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if cls.SEASON is not None and "seasons" in values:
            values["seasons"] = {season: cls.SEASON.from_dict(entry) for season, entry in values["seasons"].items()}
        return cls(**values)


@dataclass
class CalendarRecord(_Json):
    """Planting and harvest day of year at the chip centre, or why the calendar has none there."""

    FILE: ClassVar[str] = "calendar.json"

    calendar: str  # "summer" or "winter"
    lon: float
    lat: float
    year: int
    planting_day: int | None = None
    harvest_day: int | None = None
    calendar_source: str | None = None  # "pixel" or "nearest"
    calendar_distance_km: float | None = None
    harvest_next_year: bool | None = None
    skipped: str | None = None  # no calendar value near the chip: no season to search around

    def with_days(self, days: CalendarDays) -> "CalendarRecord":
        return CalendarRecord(self.calendar, self.lon, self.lat, self.year, days.planting_day, days.harvest_day,
                              days.source, days.distance_km, days.harvest_next_year)

    def days(self) -> CalendarDays | None:
        """The season dates, or ``None`` when the lookup was skipped."""
        if self.skipped is not None or self.planting_day is None:
            return None
        return CalendarDays(self.planting_day, self.harvest_day, self.calendar_source, self.calendar_distance_km)


@dataclass
class SeasonSelection(_Json):
    """One season's selection: the chosen scene, or the reason there is none."""

    candidates_checked: int = 0
    relaxed: list[str] | None = None  # thresholds relaxed by on-missing best-available; absent when no search ran
    reason: str | None = None  # set when no scene was chosen
    scene: dict | None = None  # the chosen scene (``scene_to_dict``)
    scene_id: str | None = None
    datetime: str | None = None  # ISO 8601, the scene's acquisition
    cloud_cover: float | None = None  # percent used for ranking (chip-level when measured)
    days_from_target: int | None = None

    @property
    def chosen(self) -> bool:
        return self.scene_id is not None


@dataclass
class SelectionRecord(_Json):
    """A chip-year's scene selection; ``status`` is selected, partial, skipped or failed."""

    FILE: ClassVar[str] = "selection.json"
    SEASON: ClassVar[type] = SeasonSelection

    status: str
    seasons: dict[str, SeasonSelection] = field(default_factory=dict)
    source: str | None = None  # the scene source's label
    settings: dict | None = None  # the ``ftw:`` selection parameters for the parent item
    error: str | None = None  # why it failed

    def scenes(self) -> dict[str, Scene]:
        """The chosen scene of each season that has one."""
        return {season: scene_from_dict(s.scene) for season, s in self.seasons.items() if s.scene}


@dataclass
class SeasonImage(_Json):
    """One season's clipped image: written (file, scene, pixel statistics) or failed (URL, error)."""

    status: str  # "written" or "failed"
    image: str | None = None
    scene_id: str | None = None
    reprojected: bool | None = None
    nodata_share: float | None = None
    bands: dict | None = None  # per band: min, max, std of the valid pixels
    url: str | None = None
    error: str | None = None

    @classmethod
    def written(cls, image: str, scene_id: str, reprojected: bool, stats: dict) -> "SeasonImage":
        """``stats``: ``image_stats`` of the clip (``nodata_share`` and per-band ``bands``)."""
        return cls("written", image=image, scene_id=scene_id, reprojected=reprojected,
                   nodata_share=stats["nodata_share"], bands=stats["bands"])

    @classmethod
    def failed(cls, url: str, error: str) -> "SeasonImage":
        return cls("failed", url=url, error=error)


@dataclass
class ImagesRecord(_Json):
    """A chip-year's clipped images; ``status`` is failed when any season's image failed."""

    FILE: ClassVar[str] = "images.json"
    SEASON: ClassVar[type] = SeasonImage

    bands: list[str]
    status: str
    seasons: dict[str, SeasonImage] = field(default_factory=dict)

    @classmethod
    def of(cls, bands: tuple[str, ...] | list[str], seasons: dict[str, SeasonImage]) -> "ImagesRecord":
        failed = any(s.status == "failed" for s in seasons.values())
        return cls(list(bands), "failed" if failed else "written", dict(seasons))

    def errors(self) -> list[str]:
        """``season: error`` of each failed season."""
        return [f"{season}: {s.error}" for season, s in self.seasons.items() if s.status == "failed"]


@dataclass
class SeasonRefinement(_Json):
    """One season's chip-level cloud cover in its selected scene and what refinement made of it."""

    scene_id: str
    cloud_cover: float  # percent of the chip's pixels
    nodata_share: float
    outcome: str  # accepted, rejected or no data
    rejections: int = 0  # scenes rejected for this chip-season so far


@dataclass
class RefinementRecord(_Json):
    FILE: ClassVar[str] = "refinement.json"
    SEASON: ClassVar[type] = SeasonRefinement

    threshold: float  # --cloud-cover-pixel, percent
    seasons: dict[str, SeasonRefinement] = field(default_factory=dict)


Record = TypeVar("Record", CalendarRecord, SelectionRecord, ImagesRecord, RefinementRecord)


def record_path(layout: Layout, chip_year: ChipYear, kind: type) -> Path:
    return layout.state_file(chip_year.chip, chip_year.year, kind.FILE)


def to_json(record: _Json) -> str:
    return json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n"


def save(layout: Layout, chip_year: ChipYear, record: _Json) -> Path:
    path = record_path(layout, chip_year, type(record))
    write_text(path, to_json(record))
    return path


def load(layout: Layout, chip_year: ChipYear, kind: type[Record]) -> Record | None:
    """The chip-year's record of that kind, or ``None`` when its asset has not run for it."""
    path = record_path(layout, chip_year, kind)
    if not path.exists():
        return None
    return kind.from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_all(layout: Layout, kind: type[Record]) -> dict[ChipYear, Record]:
    """Every chip-year's record of one kind, in chip-year order."""
    out = {}
    if layout.state_dir.exists():
        for path in layout.state_dir.glob(f"*/{kind.FILE}"):
            out[ChipYear.from_stem(path.parent.name)] = kind.from_dict(json.loads(path.read_text(encoding="utf-8")))
    return dict(sorted(out.items()))
