"""The dataset's STAC catalog: one parent item per chip-year, a collection, and items.parquet.

Items are built with pystac and written one file each (atomically), so a batch of chips only
touches its own items. The collection and the stac-geoparquet index are rebuilt from all item
files on disk, under a file lock, whenever items change.

Hrefs are made relative (``./`` the item's folder, ``../collection.json``). With a base URL (the
dataset's ``--base-url``: where the catalog folder is published) every write makes them absolute
under it, in one place (:func:`published`), and adds ``self`` links.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from pathlib import Path
from typing import Iterable

import pystac
import shapely
import stac_geoparquet.arrow as sgpa
from filelock import FileLock

from ftw_assets.core.atomic import atomic_path, write_text
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint

FTW_EXTENSION = "https://fieldsofthe.world/stac/ftw/v1.0.0/schema.json"
EO_EXTENSION = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
SEASON_BANDS = ("red", "green", "blue", "nir", "scl", "cloud_probability")
PROJECTION_EXTENSION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PARQUET_TYPE = "application/vnd.apache.parquet"
MASK_TITLES = {
    "instance": "Instance mask: one uint32 value per field (see instance_ids)",
    "semantic_2_class": "Semantic mask: 0 background, 1 field",
    "semantic_3_class": "Semantic mask: 0 background, 1 field, 2 boundary",
}


def season_item_id(chip_year: ChipYear, season: str) -> str:
    """The id (and file stem) of a season's child item, ``{chip}_{year}_{season}_s2``."""
    return f"{chip_year.stem}_{season}_s2"


def chip_item(
    chip: str,
    year: int,
    grid: ChipGrid,
    properties: dict,
    mask_files: dict[str, str],
    instance_ids_file: str | None,
    interval: tuple[dt.datetime, dt.datetime] | None = None,
    season_items: tuple[str, ...] = (),
) -> pystac.Item:
    """The parent item ``{chip}_{year}`` with its masks as ``labels`` assets (hrefs relative).

    Its time range is the year, or from the earliest to the latest chosen scene when scenes were
    selected (``interval``); ``season_items`` are linked as ``related``."""
    footprint = grid_footprint(grid)
    start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    if interval:
        start, end = interval
    item = pystac.Item(
        id=ChipYear(chip, year).stem,
        geometry=shapely.geometry.mapping(footprint),
        bbox=list(footprint.bounds),
        datetime=None,
        start_datetime=start,
        end_datetime=end,
        properties={
            **properties,
            "proj:code": grid.crs,
            "proj:shape": [grid.height, grid.width],
            "proj:transform": list(grid.transform)[:6],
            "proj:bbox": list(grid.bounds),
        },
        stac_extensions=[FTW_EXTENSION, PROJECTION_EXTENSION],
    )
    for mask_type, filename in mask_files.items():
        item.add_asset(
            mask_type,
            pystac.Asset(href=f"./{filename}", media_type=COG_TYPE, roles=["labels"],
                         title=MASK_TITLES[mask_type], extra_fields={"ftw:mask_type": mask_type}),
        )
    if instance_ids_file:
        item.add_asset(
            "instance_ids",
            pystac.Asset(href=f"./{instance_ids_file}", media_type="text/csv", roles=["metadata"],
                         title="Instance value to input field id"),
        )
    for name in season_items:
        item.add_link(pystac.Link("related", f"./{name}.json", media_type=pystac.MediaType.GEOJSON,
                                  title="Sentinel-2 scene chosen for a season"))
    for rel in ("root", "parent", "collection"):
        item.add_link(pystac.Link(rel, "../collection.json", media_type=pystac.MediaType.JSON))
    return item


def season_item(chip: str, year: int, grid: ChipGrid, decision, properties: dict, source_label: str,
                via_href: str, extra_bands: tuple[str, ...] = (), include_alternatives: bool = False,
                pixel_check: bool = False) -> pystac.Item:
    """The child item ``{chip}_{year}_{season}_s2``: the chosen scene's bands as remote assets."""
    from ftw_assets.core.raster.windows import redact

    chosen = decision.chosen
    scene = chosen.scene
    footprint = grid_footprint(grid)
    measured = pixel_check and chosen.cloud_share is not None and not chosen.trusted
    props = {
        **properties,
        "ftw:season": decision.season,
        "ftw:source": source_label,
        "ftw:calendar_year": int(year),
        "ftw:target_date": decision.target.isoformat(),
        "ftw:days_from_target": int(chosen.days_from_target),
        "eo:cloud_cover": chosen.cloud_cover(pixel_check),
        "ftw:cloud_cover_measured": bool(measured),
        "ftw:scene_cloud_cover": float(scene.cloud_cover),
        "ftw:mgrs_tile": scene.mgrs_tile,
        "ftw:boa_offset": int(scene.boa_offset),
        "ftw:harmonization": scene.harmonization,
        "ftw:candidates_checked": int(decision.candidates_checked),
    }
    if scene.processing_baseline:
        props["ftw:processing_baseline"] = scene.processing_baseline
    if decision.relaxed:
        props["ftw:relaxed"] = list(decision.relaxed)
    if include_alternatives:
        props["ftw:alternatives"] = [c.summary(pixel_check) for c in decision.alternatives]
    item = pystac.Item(
        id=season_item_id(ChipYear(chip, year), decision.season), geometry=shapely.geometry.mapping(footprint),
        bbox=list(footprint.bounds), datetime=scene.datetime, properties=props,
        stac_extensions=[FTW_EXTENSION, EO_EXTENSION],
    )
    for name in dict.fromkeys(SEASON_BANDS + tuple(extra_bands)):
        band = scene.bands.get(name)
        if band is None:
            continue
        roles = ["data", "reflectance"] if band.scale != 1.0 else ["data"]
        item.add_asset(name, pystac.Asset(href=redact(band.href), media_type=COG_TYPE, roles=roles,
                                          title=f"{name} ({band.resolution:g} m) of {scene.id}"))
    item.add_link(pystac.Link("derived_from", f"./{ChipYear(chip, year).stem}.json", media_type=pystac.MediaType.GEOJSON))
    item.add_link(pystac.Link("via", redact(via_href), media_type=pystac.MediaType.GEOJSON, title=f"source item {scene.id}"))
    for rel in ("root", "parent", "collection"):
        item.add_link(pystac.Link(rel, "../collection.json", media_type=pystac.MediaType.JSON))
    return item


def add_image_assets(item: dict, image_file: str, thumbnail_file: str | None, bands: tuple[str, ...],
                     properties: dict) -> dict:
    """The season item with its clipped image (``clipped``) and thumbnail, hrefs relative."""
    item = json.loads(json.dumps(item))
    item["assets"]["clipped"] = {
        "href": f"./{image_file}", "type": COG_TYPE, "roles": ["data"],
        "title": f"Sentinel-2 {item['properties']['ftw:season']} image on the chip grid: {', '.join(bands)} "
                 "(uint16, reflectance x 10000, nodata 0)",
    }
    if thumbnail_file:
        item["assets"]["thumbnail"] = {"href": f"./{thumbnail_file}", "type": "image/png", "roles": ["thumbnail"],
                                       "title": "RGB, 2-98 % stretch"}
    item["properties"].update(properties)
    return item


def image_properties(bands: tuple[str, ...], boa_offset_removed: int, resampling: dict[str, str],
                     reprojected: bool, nodata_share: float) -> dict:
    """The ``ftw:`` properties a season item gains with its clipped image: the bands, the offset taken
    off the DN, the resampling per band, whether the scene was reprojected, the chip's nodata share."""
    return {"ftw:bands": list(bands), "ftw:boa_offset_removed": boa_offset_removed, "ftw:resampling": resampling,
            "ftw:reprojected": reprojected, "ftw:nodata_share": nodata_share}


def write_item(item: pystac.Item | dict, path: Path, *, base_url: str | None) -> None:
    """Write the item file ``path`` (in its chip-year folder of the catalog folder); with ``base_url``
    its hrefs absolute under it (see :func:`published`)."""
    d = item if isinstance(item, dict) else item_dict(item)
    d = published(d, base_url, f"{path.parent.name}/{path.name}")
    write_text(path, json.dumps(d, indent=2) + "\n")


def published(d: dict, base_url: str | None, path: str) -> dict:
    """``d`` (an item or the collection, at ``path`` in the catalog folder, e.g. ``chip_2024/chip_2024.json``)
    with every relative href (``./``, ``../``) of its assets and links made absolute under ``base_url`` (the
    URL of the catalog folder) and a ``self`` link; ``d`` itself when ``base_url`` is None. Absolute hrefs
    (remote scene bands, schema URLs) stay, so applying it again changes nothing."""
    if base_url is None:
        return d
    d = json.loads(json.dumps(d))
    folder = posixpath.dirname(path)

    def absolute(href: str) -> str:
        if not href.startswith(("./", "../")):
            return href
        return f"{base_url}/{posixpath.normpath(posixpath.join(folder, href))}"

    for asset in d.get("assets", {}).values():
        asset["href"] = absolute(asset["href"])
    links = [ln for ln in d.get("links", []) if ln["rel"] != "self"]
    for link in links:
        link["href"] = absolute(link["href"])
    kind = pystac.MediaType.GEOJSON if d.get("type") == "Feature" else pystac.MediaType.JSON
    d["links"] = [*links, {"rel": "self", "href": f"{base_url}/{path}", "type": str(kind.value)}]
    return d


def item_dict(item: pystac.Item) -> dict:
    d = item.to_dict(include_self_link=False, transform_hrefs=False)
    d["collection"] = item.collection_id
    return d


def read_items(catalog_dir: Path) -> list[dict]:
    """Every item JSON of the catalog (one folder per chip-year), sorted by id."""
    items = []
    for path in sorted(catalog_dir.glob("*/*.json")):
        with open(path, encoding="utf-8") as f:
            items.append(json.load(f))
    return sorted(items, key=lambda d: d["id"])


def rebuild_catalog(layout: Layout, description: str, extra_assets: dict[str, pystac.Asset] | None = None, *,
                    base_url: str | None) -> int:
    """Rewrite collection.json and items.parquet from the item files on disk; returns the item count.
    With ``base_url``, their hrefs are absolute under it (see :func:`published`).

    A file lock serialises concurrent runs, and each file is renamed into place, so readers
    always see a complete catalog.
    """
    catalog_dir = layout.catalog_dir
    catalog_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(catalog_dir / ".catalog.lock")):
        items = read_items(catalog_dir)
        collection = build_collection(layout, items, description, extra_assets or {})
        collection_dict = collection.to_dict(include_self_link=False, transform_hrefs=False)
        write_text(layout.collection_json,
                   json.dumps(published(collection_dict, base_url, layout.collection_json.name), indent=2) + "\n")
        write_items_parquet([published(d, base_url, f"{_folder(d)}/{d['id']}.json") for d in items],
                            layout.items_parquet)
    return len(items)


def build_collection(layout: Layout, items: list[dict], description: str, extra_assets: dict[str, pystac.Asset]) -> pystac.Collection:
    if items:
        bboxes = [d["bbox"] for d in items]
        bbox = [min(b[0] for b in bboxes), min(b[1] for b in bboxes), max(b[2] for b in bboxes), max(b[3] for b in bboxes)]
        starts = [_when(d, "start_datetime") for d in items]
        ends = [_when(d, "end_datetime") for d in items]
        interval = [min(starts), max(ends)]
    else:
        bbox, interval = [-180.0, -90.0, 180.0, 90.0], [None, None]
    collection = pystac.Collection(
        id=f"{layout.name}-chips",
        description=description,
        extent=pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([interval])),
        license="other",
        title=f"{layout.name}: Fields of The World training chips",
        stac_extensions=[],
    )
    collection.add_asset("items", pystac.Asset("./items.parquet", media_type=PARQUET_TYPE, roles=["metadata"],
                                                title="All items as stac-geoparquet (hrefs relative to this folder)"))
    for key, asset in extra_assets.items():
        collection.add_asset(key, asset)
    collection.add_link(pystac.Link("root", "./collection.json", media_type=pystac.MediaType.JSON))
    for d in items:
        collection.add_link(pystac.Link("item", f"./{_folder(d)}/{d['id']}.json", media_type=pystac.MediaType.JSON))
    return collection


def write_items_parquet(items: Iterable[dict], path: Path) -> None:
    """stac-geoparquet of the items, relative hrefs of assets and links made relative to the catalog folder
    (absolute ones stay)."""
    rows = [_rebase_hrefs(d) for d in items]
    if not rows:  # stac-geoparquet needs at least one item to define its schema
        return
    with atomic_path(path, suffix=".parquet") as tmp:
        sgpa.to_parquet(sgpa.parse_stac_items_to_arrow(rows), tmp)


def _rebase_hrefs(d: dict) -> dict:
    d = json.loads(json.dumps(d))
    folder = _folder(d)
    for asset in d.get("assets", {}).values():
        href = asset["href"]
        if href.startswith("./"):
            asset["href"] = f"./{folder}/{href[2:]}"
    d["links"] = [ln for ln in d.get("links", []) if ln["rel"] not in ("root", "parent", "collection", "self")]
    for link in d["links"]:  # related and derived_from point at items of the same folder
        if link["href"].startswith("./"):
            link["href"] = f"./{folder}/{link['href'][2:]}"
    return d


def _folder(d: dict) -> str:
    """The chip-year folder of an item: parent ids are ``{chip}_{year}``; child items add ``_{season}_s2``."""
    return d["id"] if d["id"].count("_") == 1 else d["id"].rsplit("_", 2)[0]


def _when(d: dict, key: str) -> dt.datetime:
    value = d["properties"].get(key) or d["properties"]["datetime"]
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
