"""Whether a chip-year's season image may go into a training export, and why not.

A season fails when it has no image (with the reason selection recorded, e.g. cloud refinement
used up its re-selections), when cloud refinement rejected the very scene its image was cut from
(cloud on the chip above the threshold, a blank image or no data, and no re-selection replaced it),
or when the image is blank: no valid pixel, or an exported band of one value (as saturated cloud
leaves it). The blank test reads the exported bands themselves, so it holds with refinement off.
"""

from __future__ import annotations

from pathlib import Path

import rasterio

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import RefinementRecord, SelectionRecord, load
from ftw_assets.core.raster.clip import image_stats
from ftw_assets.core.scenes.refinement import ACCEPTED, blank_reason


def missing_image(layout: Layout, cy: ChipYear, season: str) -> str:
    """``no {season} image``, with selection's reason when it chose no scene for the season."""
    record = load(layout, cy, SelectionRecord)
    entry = record.seasons.get(season) if record else None
    why = entry.reason if entry is not None and not entry.chosen else None
    return f"no {season} image" + (f" ({why})" if why else "")


def unfit_image(layout: Layout, cy: ChipYear, season: str, path: Path, bands: dict[str, int],
                tags: dict) -> str | None:
    """Why the season's image must be left out, or None. ``bands``: exported band name -> index in
    the file; ``tags``: the file's tags (``source_item`` names the scene it was cut from)."""
    refinement = load(layout, cy, RefinementRecord)
    entry = refinement.seasons.get(season) if refinement else None
    if entry is not None and entry.outcome != ACCEPTED and entry.scene_id == tags.get("source_item"):
        what = {"rejected": f"{entry.cloud_cover:g} % cloud on the chip, above {refinement.threshold:g} %",
                "blank": "blank image", "no data": "no data on the chip"}.get(entry.outcome, entry.outcome)
        return f"cloud refinement rejected the {season} scene {entry.scene_id} ({what}) and nothing replaced it"
    with rasterio.open(path) as src:
        data = src.read(list(bands.values()))
    stats = image_stats(data, tuple(bands))
    why = blank_reason(stats["nodata_share"], stats["bands"])
    return f"{season} image is blank ({why})" if why else None
