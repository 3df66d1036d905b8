"""Per chip-year working records (JSON under OUTPUT_DIR/state/{chip}_{year}/) that later assets build
items and reports from: the crop calendar lookup, the scene selection, the clipped images and the
cloud refinement of each chip-year.

Each kind is a dataclass; :func:`save`, :func:`load` and :func:`load_all` are the only way records reach
the disk. The JSON is the record's fields with sorted keys; an optional field that does not apply
(``None``) is left out rather than written as ``null``, so e.g. ``skipped`` appears only for a
skipped calendar lookup.

The reports of the catalog folder (selection, download, refinement) each summarise one kind of
record as the sum of one small entry per chip-year (:class:`ReportSpec`). :func:`update_report`
keeps them incremental: the entries are kept in OUTPUT_DIR/state/_reports/NAME.entries.json (list
items already rendered), so a run replaces only its own chip-years' entries and writes the report
from them, without reading every record file; :func:`rebuild_report` (every record, as
:func:`load_all` gives them) is the fallback and writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, TypeVar

from filelock import FileLock

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


# --- the reports of the catalog folder, kept incrementally ---

REPORTS_DIR = "_reports"  # under state/: not a chip-year folder, so load_all never lists it
STATE_VERSION = 1


@dataclass(frozen=True)
class ReportSpec:
    """A report summarising one kind of record as the sum of per chip-year reports: ``entry`` gives
    a chip-year's own share, with some of the keys of ``empty`` (the report of no chip-year: its key
    order and zero values). The report of many chip-years adds their numbers, concatenates their
    lists and adds their counters key by key, in chip-year order (:func:`combine`). It depends on
    nothing else, so replacing one chip-year's entry and combining again gives what building from
    every record gives (:meth:`build`)."""

    name: str  # the report file: the Layout property of that name, e.g. "selection_report"
    kind: type
    empty: dict
    entry: Callable[[ChipYear, Any], dict]

    def build(self, records: dict[ChipYear, Any]) -> dict:
        """The report from scratch, from every chip-year's record."""
        return combine(self.empty, [self.entry(cy, rec) for cy, rec in sorted(records.items())])

    def report_path(self, layout: Layout) -> Path:
        return getattr(layout, self.name)

    def state_path(self, layout: Layout) -> Path:
        """Every chip-year's entry, and the hash of the report they last made."""
        return layout.state_dir / REPORTS_DIR / f"{self.name}.entries.json"


def combine(empty: dict, entries: Iterable[dict]) -> dict:
    """The report of the chip-years whose entries these are, in their order: numbers added, lists
    concatenated, counters ({name: number}) added key by key in the order keys first occur."""
    report = {k: [] if isinstance(v, list) else {} if isinstance(v, dict) else v for k, v in empty.items()}
    for entry in entries:
        for key, value in entry.items():
            if isinstance(value, list):
                report[key].extend(value)
            elif isinstance(value, dict):
                counter = report[key]
                for name, n in value.items():
                    counter[name] = counter.get(name, 0) + n
            else:
                report[key] += value
    return report


def report_text(report: dict) -> str:
    """A report file's text (the rebuild's; :func:`_render` gives the same text faster)."""
    return json.dumps(report, indent=2) + "\n"


def _render_item(item: Any) -> str:
    """A list item of a report as :func:`report_text` writes it (at depth 2), rendered once per entry."""
    return "    " + json.dumps(item, indent=2).replace("\n", "\n    ")


def _render(report: dict) -> str:
    """:func:`report_text` of a report whose list items are already rendered (:func:`_render_item`):
    the text is joined, not encoded again, so unchanged chip-years cost no JSON encoding."""
    parts = []
    for key, value in report.items():
        if isinstance(value, list):
            text = "[\n" + ",\n".join(value) + "\n  ]" if value else "[]"
        else:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _stored(entry: dict) -> dict:
    """An entry as the state keeps it: zero numbers and empty lists left out, list items rendered."""
    return {k: [_render_item(i) for i in v] if isinstance(v, list) else v for k, v in entry.items() if v}


def _reports_lock(layout: Layout) -> FileLock:
    """Serialises report updates across processes (concurrent runs of one dataset), as
    ``.catalog.lock`` does for the catalog."""
    folder = layout.state_dir / REPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".lock"))


def rebuild_report(layout: Layout, spec: ReportSpec) -> str:
    """Write the report, and its entries, from every chip-year's record; returns the report's text."""
    with _reports_lock(layout):
        return _write_report(layout, spec, _all_entries(layout, spec))


def update_report(layout: Layout, spec: ReportSpec, chip_years: Iterable[ChipYear]) -> str:
    """Replace the entries of ``chip_years`` (those a run processed) with what their records on disk
    say now, and write the report from the entries; returns the report's text. Without
    usable entries (the first run, a missing or unreadable entries file, or a report that is not the
    one they last made: missing, edited, or written by an older ``ftwd``) everything is rebuilt from
    the records.

    The records are read under the lock, so whichever of two concurrent runs updates last leaves
    each chip-year's entry as its record is then; each file is renamed into place. The report is
    written first: after a crash before the entries are, their hash does not match the report and
    the next update rebuilds."""
    with _reports_lock(layout):
        entries = _read_entries(layout, spec)
        if entries is None:
            entries = _all_entries(layout, spec)
        else:
            for cy in chip_years:
                record = load(layout, cy, spec.kind)
                if record is None:
                    entries.pop((cy.chip, cy.year), None)
                else:
                    entries[(cy.chip, cy.year)] = _stored(spec.entry(cy, record))
        return _write_report(layout, spec, entries)


def _all_entries(layout: Layout, spec: ReportSpec) -> dict[tuple[str, int], dict]:
    return {(cy.chip, cy.year): _stored(spec.entry(cy, rec)) for cy, rec in load_all(layout, spec.kind).items()}


def _read_entries(layout: Layout, spec: ReportSpec) -> dict[tuple[str, int], dict] | None:
    """The stored entries, or ``None`` when they cannot be trusted to make the report on disk."""
    state_path, report_path = spec.state_path(layout), spec.report_path(layout)
    if not state_path.exists() or not report_path.exists():
        return None
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("version") != STATE_VERSION or state.get("report") != spec.name:
            return None
        if state.get("report_sha256") != hashlib.sha256(report_path.read_bytes()).hexdigest():
            return None
        entries = {}
        for chip, year, entry in state["entries"]:
            if not (isinstance(chip, str) and isinstance(year, int) and _valid(entry, spec.empty)):
                return None
            entries[(chip, year)] = entry
        return entries
    except (OSError, ValueError, TypeError, AttributeError, KeyError):  # unreadable: rebuild
        return None


def _valid(entry: Any, empty: dict) -> bool:
    """A stored entry has only the report's keys, each of the type :func:`combine` expects."""
    if not isinstance(entry, dict):
        return False
    for key, value in entry.items():
        kind = type(empty.get(key, None))
        if kind is list:
            ok = isinstance(value, list) and all(isinstance(i, str) for i in value)
        elif kind is dict:
            ok = isinstance(value, dict) and all(isinstance(n, int) for n in value.values())
        else:
            ok = kind is int and type(value) is int
        if not ok:
            return False
    return True


def _write_report(layout: Layout, spec: ReportSpec, entries: dict[tuple[str, int], dict]) -> str:
    ordered = sorted(entries.items())  # (chip, year) order is ChipYear order
    report = combine(spec.empty, (entry for _, entry in ordered))
    text = _render(report)
    write_text(spec.report_path(layout), text)
    state = {"version": STATE_VERSION, "report": spec.name,
             "report_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
             "entries": [[chip, year, entry] for (chip, year), entry in ordered]}
    write_text(spec.state_path(layout), json.dumps(state, separators=(",", ":")) + "\n")
    return text
