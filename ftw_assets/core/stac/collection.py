"""collection.json and the tile catalogs, and the catalog update: the one place that decides what
collection.json lists.

Every asset that rewrites the collection (the catalog runs, the QA report) calls
:func:`update_collection`, so a later catalog run keeps what an earlier QA report added.

How the collection lists the items: while every chip lies in one MGRS tile, it links each item
(``item`` links). From the second tile on, it links one child catalog per tile
(``tiles/{tile}/catalog.json``), which links that tile's items, so a run rewrites the links of its own
tile only and no file of the catalog grows with the whole dataset. The stac-geoparquet index
(``items.parquet/{tile}.parquet``) is the collection's ``items`` asset either way. Both layouts are a
function of the item files alone: an update and a rebuild from scratch write the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from typing import Iterable

import pystac
from filelock import FileLock

from ftw_assets.core.atomic import write_text
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.stac.items import PARQUET_TYPE, IndexUpdate, _folder, published, update_index

QA_FILE = "qa_report.html"


def collection_assets(layout: Layout) -> dict[str, pystac.Asset]:
    """The dataset-wide files the collection links: the chip table, the instance ids and, once it
    has been written, the QA report."""
    assets = {
        "chips": pystac.Asset("./chips.parquet", media_type=PARQUET_TYPE, roles=["metadata"],
                              title="Chip table: id, geometry, UTM EPSG, coverage, split, field count"),
        "instance_ids": pystac.Asset("./instance_ids.csv", media_type="text/csv", roles=["metadata"],
                                     title="Instance value of every input field, for the whole dataset"),
    }
    if (layout.catalog_dir / QA_FILE).exists():
        assets["qa_report"] = pystac.Asset(f"./{QA_FILE}", media_type="text/html", roles=["overview"],
                                           title="QA report")
    return assets


def update_collection(layout: Layout, fields_path: str, chip_years: Iterable[ChipYear] | None, *,
                      base_url: str | None) -> int:
    """Bring items.parquet, the tile catalogs and collection.json up to date for ``chip_years`` (the
    chip-years whose item files a run wrote, changed or removed; ``()``: none, the collection only);
    ``None``: rebuild them from every item file on disk. Returns the item count. ``base_url``: the
    dataset's (``--base-url``; None: hrefs relative).

    A file lock serialises concurrent runs, and each file is renamed into place, so readers
    always see complete files."""
    layout.catalog_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(layout.catalog_dir / ".catalog.lock")):
        index = update_index(layout, chip_years, base_url=base_url)
        tiles = list(index.partitions)
        if len(tiles) > 1:
            for tile in tiles:
                path = layout.tile_catalog(tile)
                if tile in index.written or not path.exists():
                    _write_if_changed(path, _json(published(tile_catalog(layout, tile, index), base_url,
                                                            path.relative_to(layout.catalog_dir).as_posix())))
        stale = [p for p in layout.tiles_dir.glob("*") if len(tiles) < 2 or p.name not in tiles] \
            if layout.tiles_dir.is_dir() else []
        for path in stale:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        if layout.tiles_dir.is_dir() and not any(layout.tiles_dir.iterdir()):
            layout.tiles_dir.rmdir()
        description = f"FTW training chips built by ftw_assets from {fields_path}"
        collection = build_collection(layout, index, description, collection_assets(layout))
        _write_if_changed(layout.collection_json, _json(published(collection, base_url, layout.collection_json.name)))
    return index.count


def rebuild_collection(layout: Layout, fields_path: str, *, base_url: str | None) -> int:
    """Rebuild items.parquet, the tile catalogs and collection.json from every item file on disk."""
    return update_collection(layout, fields_path, None, base_url=base_url)


def build_collection(layout: Layout, index: IndexUpdate, description: str,
                     extra_assets: dict[str, pystac.Asset]) -> dict:
    """collection.json: its extent from the index files' summaries, its items linked directly (one
    tile) or through the tile catalogs."""
    parts = list(index.partitions.values())
    if parts:
        bbox = [min(p.bbox[0] for p in parts), min(p.bbox[1] for p in parts),
                max(p.bbox[2] for p in parts), max(p.bbox[3] for p in parts)]
        interval = [min(dt.datetime.fromisoformat(p.interval[0]) for p in parts),
                    max(dt.datetime.fromisoformat(p.interval[1]) for p in parts)]
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
    collection.add_asset("items", pystac.Asset(
        f"./{layout.items_parquet.name}", media_type=PARQUET_TYPE, roles=["collection-mirror", "metadata"],
        title="All items as stac-geoparquet, a folder of one file per MGRS tile ({tile}.parquet) read as one "
              "table (hrefs relative to this folder)"))
    for key, asset in extra_assets.items():
        collection.add_asset(key, asset)
    collection.add_link(pystac.Link("root", "./collection.json", media_type=pystac.MediaType.JSON))
    if len(parts) == 1:
        for item_id in index.item_ids(parts[0].tile):
            collection.add_link(pystac.Link("item", f"./{_folder({'id': item_id})}/{item_id}.json",
                                            media_type=pystac.MediaType.JSON))
    else:
        for part in parts:
            href = "./" + layout.tile_catalog(part.tile).relative_to(layout.catalog_dir).as_posix()
            collection.add_link(pystac.Link("child", href, media_type=pystac.MediaType.JSON,
                                            title=f"MGRS tile {part.tile}"))
    return collection.to_dict(include_self_link=False, transform_hrefs=False)


def tile_catalog(layout: Layout, tile: str, index: IndexUpdate) -> dict:
    """The catalog of one MGRS tile's items (``tiles/{tile}/catalog.json``), linked from the collection."""
    up = "../" * len(layout.tile_catalog(tile).relative_to(layout.catalog_dir).parts[:-1])
    catalog = pystac.Catalog(id=f"{layout.name}-chips-{tile}", title=f"MGRS tile {tile}",
                             description=f"The items of the {layout.name} chips in MGRS tile {tile}.")
    for rel in ("root", "parent"):
        catalog.add_link(pystac.Link(rel, f"{up}collection.json", media_type=pystac.MediaType.JSON))
    for item_id in index.item_ids(tile):
        catalog.add_link(pystac.Link("item", f"{up}{_folder({'id': item_id})}/{item_id}.json",
                                     media_type=pystac.MediaType.JSON))
    return catalog.to_dict(include_self_link=False, transform_hrefs=False)


def _json(d: dict) -> str:
    return json.dumps(d, indent=2) + "\n"


def _write_if_changed(path, text: str) -> None:
    """Write ``text`` unless the file already holds it (a run that changes nothing there leaves it be)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except FileNotFoundError:
        pass
    write_text(path, text)
