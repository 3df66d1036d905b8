"""The STAC child item of a sensor chip: ``{chip}_{year}_{season}_{sensor}`` (seasonal sensors) or
``{chip}_{year}_{sensor}`` (DEM, land cover), beside the parent item that links it as ``related``.

It says what the chip image holds and how it was made: platform and constellation of the scene(s),
the ``ftw:`` sensor, season, target date, bands with their unit, the resampling onto the chip grid and
the scale/offset applied per band, radar's orbit direction and linear/dB scale, Landsat's unusable
share from ``qa_pixel``; a ``via`` link to every source item.
"""

from __future__ import annotations

import pystac
import shapely

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint
from ftw_assets.core.raster.windows import redact
from ftw_assets.core.sensors.choice import STATIC
from ftw_assets.core.sensors.config import sensor_config
from ftw_assets.core.stac.items import COG_TYPE, FTW_EXTENSION



def sensor_item_id(chip_year: ChipYear, sensor: str, season: str) -> str:
    return f"{chip_year.stem}_{sensor}" if season == STATIC else f"{chip_year.stem}_{season}_{sensor}"


def sensor_item(chip_year: ChipYear, grid: ChipGrid, sensor: str, choice, chip, files: dict[str, str | None],
                source_label: str, via_hrefs: list[str]) -> pystac.Item:
    """The child item of one chip-season of ``sensor``: ``choice`` (a :class:`~.choice.SensorChoice`),
    ``chip`` (the :class:`~.read.SensorChip` written), ``files`` the names of ``image``, ``quality`` and
    ``thumbnail`` (None: not written) in the chip-year folder."""
    cfg = sensor_config(sensor)
    first = choice.scenes[0]
    footprint = grid_footprint(grid)
    bands = list(chip.continuous() or chip.categorical())
    props = {
        "platform": first.platform or cfg.title, "constellation": first.constellation or cfg.title,
        "ftw:sensor": cfg.name, "ftw:source": source_label, "ftw:calendar_year": chip_year.year,
        "ftw:scenes": [s.id for s in choice.scenes], "ftw:collection": first.collection,
        "ftw:sensor_bands": bands, "ftw:units": {b: chip.units.get(b, "") for b in chip.layers},
        "ftw:resampling": dict(chip.resampling), "ftw:reprojected": bool(chip.reprojected),
        "ftw:scale_offset_applied": {b: [chip.scale[b], chip.offset[b]] for b in chip.scale},
        "ftw:nodata_share": round(chip.nodata_share(), 6), "ftw:candidates_checked": int(choice.candidates),
    }
    if choice.season != STATIC:
        props |= {"ftw:season": choice.season, "ftw:target_date": choice.target.isoformat(),
                  "ftw:days_from_target": abs((first.datetime.date() - choice.target).days)}
    if first.orbit_state:
        props["ftw:orbit_state"] = first.orbit_state
    if first.backscatter:
        props |= {"ftw:backscatter": f"{first.backscatter.quantity} {first.backscatter.scale}",
                  "ftw:backscatter_in_db": first.backscatter.in_db, "ftw:polarizations": list(first.polarizations)}
    if choice.unusable_share is not None:
        props["ftw:unusable_share"] = round(choice.unusable_share, 6)
    item = pystac.Item(
        id=sensor_item_id(chip_year, cfg.name, choice.season), geometry=shapely.geometry.mapping(footprint),
        bbox=list(footprint.bounds), datetime=first.datetime, properties=props, stac_extensions=[FTW_EXTENSION],
    )
    unit = ", ".join(f"{b} ({chip.units.get(b) or 'value'})" for b in bands)
    item.add_asset("image", pystac.Asset(href=f"./{files['image']}", media_type=COG_TYPE, roles=["data"],
                                         title=f"{cfg.title} on the chip grid: {unit}"))
    if files.get("quality"):
        item.add_asset("quality", pystac.Asset(href=f"./{files['quality']}", media_type=COG_TYPE,
                                               roles=["data", "cloud"],
                                               title=f"{', '.join(chip.categorical())} on the chip grid (nearest)"))
    if files.get("thumbnail"):
        item.add_asset("thumbnail", pystac.Asset(href=f"./{files['thumbnail']}", media_type="image/png",
                                                 roles=["thumbnail"], title=THUMBNAIL_TITLES[cfg.name]))
    item.add_link(pystac.Link("derived_from", f"./{chip_year.stem}.json", media_type=pystac.MediaType.GEOJSON))
    for scene, href in zip(choice.scenes, via_hrefs):
        item.add_link(pystac.Link("via", redact(href), media_type=pystac.MediaType.GEOJSON,
                                  title=f"source item {scene.id}"))
    for rel in ("root", "parent", "collection"):
        item.add_link(pystac.Link(rel, "../collection.json", media_type=pystac.MediaType.JSON))
    return item


THUMBNAIL_TITLES = {
    "landsat": "RGB, 2-98 % stretch",
    "s1": "VV dB (red), VH dB (green), VV/VH ratio (blue), 2-98 % stretch",
    "dem": "Hillshade tinted by height",
    "landcover": "ESA WorldCover classes in their colours",
}

