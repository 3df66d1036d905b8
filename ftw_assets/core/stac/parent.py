"""What a chip-year's parent item says beyond its masks: the chip's ``ftw:`` facts from the chip table,
and the crop calendar, scene selection and cloud refinement results when those assets have run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import CalendarRecord, RefinementRecord, SelectionRecord
from ftw_assets.core.scenes.selection import SEASONS
from ftw_assets.core.stac.items import season_item_id


@dataclass(frozen=True)
class ParentFields:
    """The parent item's properties, its time range (None: the whole year) and its season items."""

    properties: dict
    interval: tuple[dt.datetime, dt.datetime] | None
    season_items: tuple[str, ...]  # item ids (``{chip}_{year}_{season}_s2``), linked as related


def chip_properties(row: Mapping, year: int, presence_only: bool) -> dict:
    """The chip table's facts: split, field coverage share, field count, cell size, MGRS tile."""
    return {
        "ftw:split": row["split"], "ftw:coverage": round(float(row["coverage"]), 4),
        "ftw:field_count": int(row["field_count"]), "ftw:cell_km": int(row["cell_m"]) // 1000,
        "ftw:mgrs_tile": row["mgrs_tile"], "ftw:year": year, "ftw:presence_only": presence_only,
    }


def parent_fields(chip_year: ChipYear, row: Mapping, presence_only: bool, calendar: CalendarRecord | None,
                  selection: SelectionRecord | None, refinement: RefinementRecord | None,
                  season_items_on_disk: set[str]) -> ParentFields:
    """The parent item's fields from the chip row and the chip-year's records (``None`` where an asset has
    not run). A season counts as selected when its record names a scene and its item is on disk
    (``season_items_on_disk``: the seasons whose item file exists); the others are listed in
    ``ftw:seasons_missing`` with the reason. A failed selection adds nothing."""
    props = chip_properties(row, chip_year.year, presence_only)
    interval, children = None, []
    if calendar and calendar.skipped is None:
        props.update({"ftw:planting_day": calendar.planting_day, "ftw:harvest_day": calendar.harvest_day,
                      "ftw:calendar_year": chip_year.year, "ftw:calendar": calendar.calendar,
                      "ftw:calendar_source": calendar.calendar_source})
        if calendar.calendar_source == "nearest":
            props["ftw:calendar_distance_km"] = calendar.calendar_distance_km
    if selection and selection.status != "failed":
        props.update(selection.settings or {})
        props["ftw:source"] = selection.source or ""
        times, missing = [], []
        for season in (s for s in SEASONS if s in selection.seasons):
            entry = selection.seasons[season]
            if entry.chosen and season in season_items_on_disk:
                times.append(dt.datetime.fromisoformat(entry.datetime))
                children.append(season_item_id(chip_year, season))
            else:
                missing.append({"season": season, "reason": entry.reason or "not selected"})
        if times:
            interval = (min(times), max(times))
        if missing:
            props["ftw:seasons_missing"] = missing
    if refinement:
        # The threshold refinement measured against, which may differ from the selection's.
        props["ftw:cloud_cover_pixel_threshold"] = refinement.threshold
    return ParentFields(props, interval, tuple(children))
