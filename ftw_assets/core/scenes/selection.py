"""Scene selection for chip-seasons: candidates, ranking, on-missing behaviour (no I/O here).

For each chip and season the candidates are the scenes of the season window that cover the chip
(scenes of the chip's own MGRS tile preferred). They are ranked by cloud cover (chip-level when
measured, else scene-level), then by distance to the target date, then by id; a 0 % scene ranks
first. A candidate is usable when no pixel of the chip window is nodata and, with the pixel
check, its chip-level cloud share is at most ``cloud_cover_pixel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from pydantic import Field

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.files import SELECTION_FILE
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import CalendarRecord, ReportSpec, SeasonSelection, SelectionRecord
from ftw_assets.core.errors import FtwError, InputError
from ftw_assets.core.scenes.model import Scene, scene_to_dict
from ftw_assets.core.scenes.sources import STAC_HOST_HELP
from ftw_assets.core.settings import Settings

SEASONS = ("planting", "harvest")
ON_MISSING = ("skip", "fail", "best-available")
DROP_AT_OR_ABOVE = 50.0  # pixel check: scenes this cloudy are not worth a read
TRUST_BELOW = 0.1  # pixel check: scenes this clear are taken at their scene-level cover


class SelectionSettings(Settings):
    """The ``select-images`` options; kept in OUTPUT_DIR/selection.json so every launcher agrees."""

    FILE = SELECTION_FILE

    stac_host: str = Field("earthsearch", description=f"Scene source: {STAC_HOST_HELP}.")
    collection: str | None = Field(None, description="STAC collection (default depends on --stac-host).")
    buffer_days: int = Field(14, description="Search scenes within this many days of the planting and harvest dates.")
    cloud_cover_scene: float = Field(10.0, description="Keep scenes whose scene-level eo:cloud_cover is at most "
                                                       "this percent.")
    pixel_check: bool = Field(False, description="Measure cloud (SCL 3/8/9/10 and cloud probability) on each chip's "
                                                 "own pixels.")
    cloud_cover_pixel: float = Field(0.0, description="With --pixel-check: the most chip-level cloud percent accepted.")
    cloud_probability_threshold: int = Field(50, description="With --pixel-check: cloud probability (0-100) above "
                                                             "which a pixel counts as cloud.")
    on_missing: str = Field("skip", description="No scene found: skip the season, fail the chip, or relax thresholds.")
    include_alternatives: bool = Field(False, description="Record the ranked runners-up in each child item.")
    crop_calendar_dir: str | None = Field(None, description="Folder with the crop calendar COGs (default: the cache, "
                                                            "downloaded on first use).")
    calendar: str = Field("summer", description="Crop calendar: summer (sc-*) or winter (wc-*) crops.")

    def validate_values(self) -> None:
        if not 0 <= int(self.buffer_days) <= 90:
            raise InputError(f"--buffer-days {self.buffer_days} must be between 0 and 90 days")
        for name in ("cloud_cover_scene", "cloud_cover_pixel"):
            if not 0 <= float(getattr(self, name)) <= 100:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)} must be a percentage from 0 to 100")
        if self.on_missing not in ON_MISSING:
            raise InputError(f"--on-missing {self.on_missing!r}: use one of {', '.join(ON_MISSING)}")
        if self.calendar not in ("summer", "winter"):
            raise InputError(f"--calendar {self.calendar!r}: use summer or winter")

    @classmethod
    def load(cls, output_dir: Path, default_host: str = "earthsearch", default_collection: str | None = None):
        """The stored options; without selection.json the defaults on the given scene source."""
        return super().load(output_dir, stac_host=default_host, collection=default_collection)

    def stac_properties(self) -> dict:
        """The ``ftw:`` parameters recorded on each parent item."""
        return {
            "ftw:stac_host": self.stac_host, "ftw:buffer_days": int(self.buffer_days),
            "ftw:cloud_cover_scene_threshold": float(self.cloud_cover_scene), "ftw:pixel_check": bool(self.pixel_check),
            "ftw:cloud_cover_pixel_threshold": float(self.cloud_cover_pixel), "ftw:on_missing": self.on_missing,
        }


@dataclass
class Candidate:
    scene: Scene
    days_from_target: int
    chip: str = ""
    nodata_share: float | None = None  # measured on the chip window
    cloud_share: float | None = None  # measured on the chip window (0..1)
    trusted: bool = False

    def cloud_cover(self, pixel_check: bool) -> float:
        """Percent used for ranking: chip-level when measured under the pixel check, else scene-level."""
        if pixel_check and self.cloud_share is not None and not self.trusted:
            return round(100.0 * self.cloud_share, 4)
        return float(self.scene.cloud_cover)

    def summary(self, pixel_check: bool) -> dict:
        return {"scene_id": self.scene.id, "datetime": self.scene.datetime.isoformat(),
                "cloud_cover": self.cloud_cover(pixel_check), "days_from_target": self.days_from_target}


@dataclass
class Decision:
    season: str
    target: date
    chosen: Candidate | None = None
    alternatives: list[Candidate] = field(default_factory=list)
    candidates_checked: int = 0
    reason: str | None = None
    relaxed: list[str] = field(default_factory=list)
    # Scenes of the window over the chip at any cloud cover (refinement's rejects left out); None: not
    # counted, the candidates are all there is. With none at all, ``no_scene`` says so instead of clouds.
    in_window: int | None = None
    no_scene: str | None = None


def candidates_for(scenes: list[Scene], chip: str, chip_area, chip_tile: str, target: date) -> list[Candidate]:
    """Scenes covering the chip (its own tile's scenes when there are any), with their date gap."""
    covering = [s for s in scenes if s.footprint.intersects(chip_area)]
    own = [s for s in covering if s.mgrs_tile == chip_tile]
    return [Candidate(s, abs((s.datetime.date() - target).days), chip) for s in (own or covering)]


def rank(candidates: list[Candidate], pixel_check: bool) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (c.cloud_cover(pixel_check), c.days_from_target, c.scene.datetime, c.scene.id))


Measure = Callable[[list[Candidate]], None]  # fills nodata_share / cloud_share, reading grouped by scene


def usable(c: Candidate, settings: SelectionSettings, cloud_limit: float, allow_nodata: bool = False) -> bool:
    if not allow_nodata and (c.nodata_share is None or c.nodata_share > 0):
        return False
    return not settings.pixel_check or c.cloud_cover(True) <= cloud_limit


def eligible(candidates: list[Candidate], settings: SelectionSettings, scene_limit: float) -> list[Candidate]:
    out = [c for c in candidates if c.scene.cloud_cover <= scene_limit]
    if settings.pixel_check:
        out = [c for c in out if c.scene.cloud_cover < DROP_AT_OR_ABOVE or scene_limit >= 100]
        for c in out:
            c.trusted = c.scene.cloud_cover < TRUST_BELOW
    return out


def decide(pending: dict, settings: SelectionSettings, measure: Measure) -> None:
    """Choose for every chip-season in ``pending`` ({key: (Decision, [Candidate])}) in place.

    Without the pixel check candidates are tried in rank order, one round at a time, so each round's
    reads are grouped by scene across chips. With it every eligible candidate is measured (in one
    grouped round) and the ranking uses chip-level cloud cover.
    """
    steps = [(float(settings.cloud_cover_scene), float(settings.cloud_cover_pixel), False, None)]
    if settings.on_missing == "best-available":
        steps += [(100.0, float(settings.cloud_cover_pixel), False, f"cloud_cover_scene {settings.cloud_cover_scene:g} -> 100")]
        if settings.pixel_check:
            steps += [(100.0, 100.0, False, f"cloud_cover_pixel {settings.cloud_cover_pixel:g} -> 100")]
        steps += [(100.0, 100.0, True, "chip window may hold nodata")]
    open_keys = list(pending)
    cloud_checked: dict = {}
    for scene_limit, pixel_limit, allow_nodata, relaxation in steps:
        if not open_keys:
            break
        ranked = {}
        for key in open_keys:
            decision, cands = pending[key]
            if relaxation:
                decision.relaxed.append(relaxation)
            ranked[key] = eligible(cands, settings, scene_limit)
        if settings.pixel_check or allow_nodata:
            measure([c for key in open_keys for c in ranked[key] if c.nodata_share is None])
            for key in open_keys:
                ranked[key] = rank(ranked[key], settings.pixel_check)
        else:
            ranked = {k: rank(v, False) for k, v in ranked.items()}
            position = {k: 0 for k in open_keys}
            waiting = list(open_keys)
            while waiting:  # one candidate per chip-season per round, reads grouped by scene
                batch = {k: ranked[k][position[k]] for k in waiting if position[k] < len(ranked[k])}
                measure([c for c in batch.values() if c.nodata_share is None])
                still = []
                for k, c in batch.items():
                    position[k] += 1
                    if not usable(c, settings, pixel_limit):
                        still.append(k)
                    else:
                        ranked[k] = [c] + [x for x in ranked[k] if x is not c]
                        position[k] = -1
                waiting = [k for k in still if position[k] < len(ranked[k])]
        remaining = []
        for key in open_keys:
            decision, _ = pending[key]
            measured = [c for c in ranked[key] if c.nodata_share is not None]
            decision.candidates_checked = max(decision.candidates_checked, len(measured))
            if allow_nodata:
                pool = sorted(measured, key=lambda c: (c.nodata_share, c.cloud_cover(settings.pixel_check), c.days_from_target))
            else:
                pool = [c for c in ranked[key] if c.nodata_share is not None and usable(c, settings, pixel_limit)]
            if pool:
                decision.chosen = pool[0]
                # Runners-up in rank order: measured and usable, or not needed to be measured.
                decision.alternatives = [c for c in ranked[key] if c is not pool[0] and (
                    c.nodata_share is None or usable(c, settings, pixel_limit, allow_nodata))]
                decision.reason = None
            else:
                remaining.append(key)
                decision.reason, cloud_checked[key] = _why_none(decision, pending[key][1], ranked[key], measured,
                                                                settings, scene_limit)
        open_keys = remaining
    for key in open_keys:  # still none: where clouds ruled every scene out, those scenes are what was checked
        decision = pending[key][0]
        decision.candidates_checked = max(decision.candidates_checked, cloud_checked.get(key, 0))


def _why_none(decision: Decision, cands: list[Candidate], ranked: list[Candidate], measured: list[Candidate],
              settings: SelectionSettings, limit: float) -> tuple[str, int]:
    """Why a chip-season has no scene, and how many scenes were ruled out by scene-level cloud cover."""
    if not ranked:
        if decision.no_scene:
            return decision.no_scene, 0
        n = decision.in_window if decision.in_window is not None else len(cands)
        if n == 0 and decision.in_window is None:  # the caller did not count the window: cloud may be why
            return f"no scene in the window with scene-level cloud cover <= {limit:g} %", 0
        if n == 0:
            return "every scene of the window over the chip was rejected by cloud refinement", 0
        below = f"< {DROP_AT_OR_ABOVE:g}" if settings.pixel_check and DROP_AT_OR_ABOVE <= limit < 100 else f"<= {limit:g}"
        return f"none of the {n} scene(s) in the window over the chip has scene-level cloud cover {below} %", n
    if all((c.nodata_share or 0) > 0 for c in measured):
        return f"all {len(measured)} candidate scene(s) leave part of the chip without data", 0
    return (f"no candidate is clear enough on the chip (pixel check, <= {settings.cloud_cover_pixel:g} % cloud); "
            f"{len(measured)} checked"), 0


def season_selection(decision: Decision, pixel_check: bool) -> SeasonSelection:
    """A season's record entry: the chosen scene, or the reason there is none."""
    chosen = decision.chosen
    if chosen is None:
        return SeasonSelection(decision.candidates_checked, decision.relaxed, reason=decision.reason)
    return SeasonSelection(decision.candidates_checked, decision.relaxed, scene=scene_to_dict(chosen.scene),
                           scene_id=chosen.scene.id, datetime=chosen.scene.datetime.isoformat(),
                           cloud_cover=chosen.cloud_cover(pixel_check), days_from_target=chosen.days_from_target)


@dataclass
class SelectionOutcome:
    """What one chip-year's selection comes to under the on-missing policy."""

    record: SelectionRecord
    chosen: dict[str, Decision]  # seasons with a scene: their items are written
    forget: list[str]  # seasons without a scene: no item or image may describe an earlier choice
    skipped: str | None = None  # no season dates for the chip-year (no crop calendar value)
    error: str | None = None  # on-missing fail and a season has no scene: fail the chip-year after saving

    @property
    def missing(self) -> list[str]:
        """``season: reason`` of each season without a scene."""
        return [f"{season}: {s.reason}" for season, s in self.record.seasons.items() if not s.chosen]


def selection_outcome(chip_year: ChipYear, calendar: CalendarRecord | None, decisions: dict[tuple, Decision],
                      settings: SelectionSettings, source_label: str) -> SelectionOutcome:
    """The record and file changes for a chip-year from its calendar record and the batch's decisions
    ({(chip, year, season): Decision}). A season without a scene is recorded with its reason; then
    on-missing ``fail`` fails the chip-year, ``skip`` and ``best-available`` keep what was found
    (status ``partial``). Without calendar dates both seasons are missing (status ``skipped``)."""
    if calendar is None:
        raise FtwError(f"no crop calendar record for {chip_year}: materialize crop_calendar for it first")
    fail = settings.on_missing == "fail"
    common = {"source": source_label, "settings": settings.stac_properties()}
    if calendar.skipped is not None:
        reason = f"no crop calendar value: {calendar.skipped}"
        seasons = {season: SeasonSelection(0, reason=reason) for season in SEASONS}
        record = SelectionRecord("failed" if fail else "skipped", seasons, error=reason if fail else None, **common)
        return SelectionOutcome(record, {}, list(SEASONS), skipped=reason,
                                error=f"no scene for {chip_year}: {reason}" if fail else None)
    found = {season: decisions[(chip_year.chip, chip_year.year, season)] for season in SEASONS}
    seasons = {season: season_selection(d, settings.pixel_check) for season, d in found.items()}
    chosen = {season: d for season, d in found.items() if d.chosen is not None}
    outcome = SelectionOutcome(SelectionRecord("selected", seasons, **common), chosen,
                               [season for season in SEASONS if season not in chosen])
    missing = "; ".join(outcome.missing)
    if missing and fail:
        outcome.record.status, outcome.record.error = "failed", missing
        outcome.error = (f"no scene for {chip_year} ({missing}); use --on-missing skip or best-available, "
                         "or widen --buffer-days / --cloud-cover-scene")
    elif missing:
        outcome.record.status = "partial"
    return outcome


def season_files(layout: Layout, chip_year: ChipYear, season: str) -> list[Path]:
    """The files that describe a season's choice: its item and the image (and thumbnail) cut from its scene."""
    chip, year = chip_year.chip, chip_year.year
    return [layout.season_item_json(chip, year, season), layout.chip_file(chip, year, f"{season}_image_s2.tif"),
            layout.chip_file(chip, year, f"{season}_image_s2.png")]


def selection_entry(chip_year: ChipYear, rec: SelectionRecord) -> dict:
    """A chip-year's own selection report: successful, or its skipped seasons, or its failure."""
    if rec.status == "failed":
        return {"total_processed": 1, "failed": [{"chip": chip_year.stem, "error": rec.error or ""}]}
    missing = [(season, s) for season, s in rec.seasons.items() if not s.chosen]
    if rec.status == "skipped" or missing:
        return {"total_processed": 1, "skipped": [
            {"chip": chip_year.stem, "season": season, "reason": s.reason or "",
             "candidates_checked": int(s.candidates_checked)}
            for season, s in missing or [("all", SeasonSelection(0, reason=""))]]}
    return {"total_processed": 1, "successful": 1}


SELECTION_REPORT = ReportSpec("selection_report", SelectionRecord,
                              {"total_processed": 0, "successful": 0, "skipped": [], "failed": []}, selection_entry)


def selection_report(records: dict[ChipYear, SelectionRecord]) -> dict:
    """The summary of every chip-year's selection record (the rebuild; each run updates the file
    with ``update_report(layout, SELECTION_REPORT, its chip-years)``)."""
    return SELECTION_REPORT.build(records)
