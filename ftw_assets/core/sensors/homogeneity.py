"""The land-cover homogeneity filter (as GELOS builds its chips): a chip-year is kept for training when
its most common ESA WorldCover class covers at least ``min_class_share`` percent of its pixels and
that class is not one of ``excluded_classes``. Measured from the class counts the land-cover asset
records per chip (``state/{chip}_{year}/sensor_landcover.json``); the export leaves the other chip-years
out with the reason, and the QA report lists them. No Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.sensors.choice import STATIC
from ftw_assets.core.sensors.images import load_record
from ftw_assets.core.sensors.quality import WORLDCOVER_CLASSES

CLASS_NAMES = {c.value: c.name for c in WORLDCOVER_CLASSES}


@dataclass(frozen=True)
class Homogeneity:
    """A chip's land-cover make-up: its most common class and that class's share (percent)."""

    dominant_class: int | None
    dominant_share: float
    shares: dict[int, float]

    @classmethod
    def of(cls, counts: dict[int, int]) -> "Homogeneity":
        total = sum(counts.values())
        if not total:
            return cls(None, 0.0, {})
        shares = {k: round(100.0 * v / total, 2) for k, v in sorted(counts.items())}
        top = max(sorted(counts), key=lambda k: counts[k])
        return cls(top, shares[top], shares)

    def reason_left_out(self, min_class_share: float | None, excluded_classes: list[int] | None) -> str | None:
        """Why the filter leaves the chip out, or None when it keeps it."""
        if self.dominant_class is None:
            return "land cover: no classified pixel on the chip"
        name = f"{CLASS_NAMES.get(self.dominant_class, self.dominant_class)} ({self.dominant_class})"
        if excluded_classes and self.dominant_class in excluded_classes:
            return f"land cover: its most common class {name} is excluded (--excluded-classes)"
        if min_class_share is not None and self.dominant_share < min_class_share:
            return (f"land cover: its most common class {name} covers {self.dominant_share:g} % of the chip, "
                    f"less than --min-class-share {min_class_share:g} %")
        return None


def chip_homogeneity(layout: Layout, chip_year: ChipYear) -> Homogeneity | None:
    """The chip-year's make-up from its land-cover record; None when it has no land-cover image."""
    record = load_record(layout, chip_year, "landcover")
    entry = (record or {}).get("seasons", {}).get(STATIC)
    if not entry or entry.get("status") != "written":
        return None
    return Homogeneity.of({int(k): int(v) for k, v in (entry.get("class_counts") or {}).items()})


def parent_properties(layout: Layout, chip_year: ChipYear, sensors) -> dict:
    """What the chip-year's parent item says about its other sensors: their names, and with land cover
    the most common class and its share (empty for a dataset with Sentinel-2 only)."""
    if not sensors:
        return {}
    props = {"ftw:sensors": ["s2", *sensors]}
    found = chip_homogeneity(layout, chip_year) if "landcover" in sensors else None
    if found is not None and found.dominant_class is not None:
        props |= {"ftw:landcover_class": found.dominant_class, "ftw:landcover_class_share": found.dominant_share}
    return props


def left_out_reason(layout: Layout, chip_year: ChipYear, min_class_share: float | None,
                    excluded_classes: list[int] | None) -> str | None:
    """Why the homogeneity filter leaves the chip-year out (no filter set: None; filter set but no
    land-cover image for the chip: that is the reason)."""
    if min_class_share is None and not excluded_classes:
        return None
    found = chip_homogeneity(layout, chip_year)
    if found is None:
        return "land cover: no land-cover image for the homogeneity filter"
    return found.reason_left_out(min_class_share, excluded_classes)
