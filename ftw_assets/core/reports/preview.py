"""What a chip-year's images show: per season the thumbnail, the scene, its date and the cloud cover at
both levels, the scene's (whole tile) and the chip's (its own pixels, when measured).

Used by the ``clipped_images`` materialization (one markdown table per chip-year) and the QA report's
gallery (captions), so both label the two cloud figures alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftw_assets.core.dataset.records import RefinementRecord

SEASON_ORDER = ("planting", "harvest")
NOT_MEASURED = "not measured"


def chip_cloud_cover(properties: dict) -> float | None:
    """The percent of the chip's own pixels that are cloud, from a season item's properties: its
    ``eo:cloud_cover`` when ``ftw:cloud_cover_measured`` says it was measured on the chip (the
    selection's pixel check or cloud refinement); None when only the scene-level figure is known."""
    if properties.get("ftw:cloud_cover_measured") and properties.get("eo:cloud_cover") is not None:
        return float(properties["eo:cloud_cover"])
    return None


def refined_cloud_cover(record: RefinementRecord | None, season: str, scene_id: str) -> float | None:
    """The chip-level percent a cloud refinement measured for this very scene and season (a season
    item written again by a re-selection no longer carries it); None for another scene or none."""
    entry = record.seasons.get(season) if record else None
    return float(entry.cloud_cover) if entry is not None and entry.scene_id == scene_id else None


def scene_cloud_cover(properties: dict) -> float | None:
    """The scene-level percent (the whole Sentinel-2 tile) from a season item's properties."""
    value = properties.get("ftw:scene_cloud_cover")
    return None if value is None else float(value)


def percent(value: float | None) -> str:
    """``0.16 %`` (two decimals at most), or ``not measured``."""
    return NOT_MEASURED if value is None else f"{round(float(value), 2):g} %"


@dataclass(frozen=True)
class SeasonPreview:
    """One season's image as a reader should see it."""

    scene_id: str
    date: str  # YYYY-MM-DD of the acquisition
    scene_cloud_cover: float | None  # percent of the whole tile
    chip_cloud_cover: float | None  # percent of the chip's pixels; None: not measured
    thumbnail: str | None = None  # data URI of the RGB thumbnail

    @classmethod
    def of_item(cls, item: dict, scene_id: str, thumbnail: str | None = None,
                refinement: RefinementRecord | None = None) -> "SeasonPreview":
        """From the season item (its date and cloud figures) and the id of the scene it was cut from;
        the chip-level figure from the item, else from ``refinement`` when it measured this scene."""
        props = item["properties"]
        chip = chip_cloud_cover(props)
        if chip is None:
            chip = refined_cloud_cover(refinement, props.get("ftw:season", ""), scene_id)
        return cls(scene_id, str(props.get("datetime") or "")[:10], scene_cloud_cover(props), chip, thumbnail)

    def caption_lines(self) -> list[str]:
        """Scene id, date and cloud, one per line (the QA gallery's caption)."""
        return [self.scene_id, self.date, f"chip-level cloud: {percent(self.chip_cloud_cover)}",
                f"scene-level cloud: {percent(self.scene_cloud_cover)}"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def preview_table(previews: dict[str, SeasonPreview | None], missing: str = "no image") -> str:
    """A markdown table, one column per season (planting, then harvest) and rows for the thumbnail, the
    scene id, the date and the chip- and scene-level cloud cover; a season without an image says
    ``missing`` in its column."""
    seasons = [s for s in SEASON_ORDER if s in previews] + sorted(set(previews) - set(SEASON_ORDER))
    rows = {"image": [], "scene": [], "date": [], "chip-level cloud": [], "scene-level cloud": []}
    for season in seasons:
        p = previews[season]
        if p is None:
            for key in rows:
                rows[key].append(missing if key == "image" else "")
            continue
        rows["image"].append(f"![{season}]({p.thumbnail})" if p.thumbnail else "no thumbnail")
        rows["scene"].append(_cell(p.scene_id))
        rows["date"].append(p.date)
        rows["chip-level cloud"].append(percent(p.chip_cloud_cover))
        rows["scene-level cloud"].append(percent(p.scene_cloud_cover))
    lines = ["| | " + " | ".join(seasons) + " |", "| --- |" + " --- |" * len(seasons)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return "\n".join(lines) + "\n"
