"""The dataset's STAC items: one parent item per chip-year and its season items, and their
stac-geoparquet index, items.parquet (one file per MGRS tile; :func:`update_index`).

Items are built with pystac and written one file each (atomically), so a batch of chips only
touches its own items. The index is brought up to date for the chip-years a run touched, from their
item files on disk, under the catalog lock (:mod:`ftw_assets.core.stac.collection`).

Hrefs are made relative (``./`` the item's folder, ``../collection.json``). With a base URL (the
dataset's ``--base-url``: where the catalog folder is published) every write makes them absolute
under it, in one place (:func:`published`), and adds ``self`` links.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import posixpath
import signal
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pystac
import shapely
import stac_geoparquet.arrow as sgpa
from stac_geoparquet.arrow._constants import DEFAULT_PARQUET_SCHEMA_VERSION
from stac_geoparquet.arrow._to_parquet import create_parquet_metadata  # the geo and stac-geoparquet footer keys

from ftw_assets.core.atomic import CRASH_ENV, inside, write_text
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint, parse_chip_id

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
    sensor_items: tuple[str, ...] = (),
) -> pystac.Item:
    """The parent item ``{chip}_{year}`` with its masks as ``labels`` assets (hrefs relative).

    Its time range is the year, or from the earliest to the latest chosen Sentinel-2 scene when scenes
    were selected (``interval``); ``season_items`` (Sentinel-2) and ``sensor_items`` (the other sensors'
    child items) are linked as ``related``."""
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
    for name in sensor_items:
        item.add_link(pystac.Link("related", f"./{name}.json", media_type=pystac.MediaType.GEOJSON,
                                  title="Another sensor's image of the chip"))
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


# --- the stac-geoparquet index: items.parquet/{tile}.parquet ---
#
# items.parquet is a folder of stac-geoparquet files, one per MGRS tile of the chips (the tile in the chip
# id), each with its rows sorted by id. DuckDB and pyarrow/geopandas read the folder as one table, so
# every file has the same Arrow schema: the union of the schemas of every chip-year's items (their own
# inferred schema, fields in one canonical order). A catalog run rewrites the files of its chip-years'
# tiles only; every file is rewritten only when that union changes (a property or asset appears in, or
# disappears from, the whole dataset). Each file's footer carries its summary (:class:`Partition`): the
# item count, bbox and time range the collection's extent is made from, and the schema of each of its
# chip-years, so the union is known without reading any item.

INDEX_KEY = b"ftw:index"
CORE_COLUMNS = ("type", "stac_version", "stac_extensions", "id", "geometry", "bbox", "links", "assets", "collection")


def item_tile(chip_year: ChipYear) -> str:
    """The index partition of a chip-year's items: the MGRS tile of its chip (``ftw-33UWP7830`` -> ``33UWP``)."""
    return parse_chip_id(chip_year.chip).mgrs_tile


@dataclass
class Partition:
    """One file of the index, as its footer describes it."""

    tile: str
    items: int
    bbox: list[float]
    interval: list[str]  # ISO start and end
    schemas: dict[str, str]  # schema hash -> the schema (Arrow IPC, base64)
    chip_years: dict[str, list[str]]  # schema hash -> the chip-years (folder names) whose items have it

    def footer(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def of_file(cls, path: Path) -> tuple[Partition, pa.Schema] | None:
        """The partition's summary and the file's schema; None when the footer has no summary."""
        with pq.ParquetFile(path) as f:
            raw = (f.metadata.metadata or {}).get(INDEX_KEY)
            schema = f.schema_arrow.remove_metadata()
        return (cls(**json.loads(raw)), schema) if raw else None


@dataclass
class IndexUpdate:
    """The index after an update: every partition, the tiles whose file was written, and the item ids
    of a tile (sorted), for the collection and the tile catalogs."""

    layout: Layout
    partitions: dict[str, Partition]
    written: set[str]
    _ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(p.items for p in self.partitions.values())

    def item_ids(self, tile: str) -> list[str]:
        if tile not in self._ids:
            self._ids[tile] = pq.read_table(partition_path(self.layout, tile), columns=["id"])["id"].to_pylist()
        return self._ids[tile]


def partition_path(layout: Layout, tile: str) -> Path:
    return inside(layout.catalog_dir, layout.items_parquet / f"{tile}.parquet")


def chip_years_on_disk(layout: Layout) -> list[ChipYear]:
    """Every chip-year folder of the catalog folder."""
    found = []
    for path in sorted(p for p in layout.catalog_dir.iterdir() if p.is_dir()) if layout.catalog_dir.exists() else []:
        try:
            cy = ChipYear.from_stem(path.name)
            parse_chip_id(cy.chip)
        except (ValueError, FtwError):
            continue
        found.append(cy)
    return found


def chip_year_rows(layout: Layout, chip_year: ChipYear, base_url: str | None) -> list[dict]:
    """The index rows of a chip-year's item files (parent and season items), hrefs as in the index."""
    folder = layout.chip_dir(chip_year.chip, chip_year.year)
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        rows.append(_rebase_hrefs(published(d, base_url, f"{_folder(d)}/{d['id']}.json")))
    return rows


def update_index(layout: Layout, chip_years: Iterable[ChipYear] | None, *, base_url: str | None) -> IndexUpdate:
    """Bring the index up to date for ``chip_years`` (their items as on disk now: written, changed or
    gone); ``None``, or an index not yet in this layout (none, or the single file of older versions): from
    scratch, over every chip-year folder. The caller holds the catalog lock.

    Both ways write the same bytes for the same item files: each partition's rows come from its
    chip-years' item files, the union schema from the chip-years' schemas."""
    index = layout.items_parquet
    scratch = chip_years is None or not index.is_dir()
    on_disk: dict[str, tuple[Partition, pa.Schema]] = {}
    if not scratch:
        for path in sorted(index.glob("*.parquet")):
            found = Partition.of_file(path)
            if found is None:  # not written by this code: start again
                scratch = True
                break
            on_disk[path.stem] = found
    if scratch:
        chip_years, on_disk = chip_years_on_disk(layout), {}
    else:
        chip_years = [*chip_years, *_unindexed(layout, on_disk)]
    by_tile: dict[str, list[ChipYear]] = {}
    for cy in sorted(set(chip_years)):
        by_tile.setdefault(item_tile(cy), []).append(cy)

    # The touched tiles: their rows of other chip-years kept, the touched chip-years' rows read again.
    partitions = {tile: part for tile, (part, _) in on_disk.items()}
    changed: dict[str, tuple[pa.Table | None, list[dict]]] = {}
    for tile, cys in by_tile.items():
        stems = {cy.stem for cy in cys}
        old = partitions.get(tile)
        schemas = dict(old.schemas) if old else {}
        members = {h: [s for s in group if s not in stems] for h, group in (old.chip_years.items() if old else ())}
        rows = []
        for cy in cys:
            cy_rows = chip_year_rows(layout, cy, base_url)
            if cy_rows:
                h, schema = _chip_year_schema(cy_rows)
                schemas.setdefault(h, _schema_to(schema))
                members.setdefault(h, []).append(cy.stem)
                rows += cy_rows
        members = {h: sorted(group) for h, group in sorted(members.items()) if group}
        kept = None
        if old:
            kept = pq.read_table(partition_path(layout, tile))
            kept = kept.filter(pa.array([_folder({"id": i}) not in stems for i in kept["id"].to_pylist()], pa.bool_()))
        changed[tile] = (kept, rows)
        partitions[tile] = Partition(tile, 0, [], [], {h: schemas[h] for h in members}, members)

    partitions = {t: p for t, p in sorted(partitions.items()) if p.chip_years}
    union = _union_schema({h: text for p in partitions.values() for h, text in p.schemas.items()})
    update = IndexUpdate(layout, {}, set())
    if scratch and index.exists() and not index.is_dir():
        index.unlink()  # the single file of older versions
    for tile, part in partitions.items():
        if tile in changed:
            kept, rows = changed[tile]
            parts = [_conform(sgpa.parse_stac_items_to_arrow(rows).read_all(), union)] if rows else []
            if kept is not None and kept.num_rows:
                parts.insert(0, _conform(kept, union))
            table = pa.concat_tables(parts)
        elif not on_disk[tile][1].equals(union, check_metadata=True):
            table = _conform(pq.read_table(partition_path(layout, tile)), union)  # the union changed
        else:
            update.partitions[tile] = part
            continue
        table = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")])).combine_chunks()
        part = _summarised(part, table)
        _write_partition(layout, table, part)
        update.partitions[tile] = part
        update.written.add(tile)
        update._ids[tile] = table["id"].to_pylist()
    for tile in set(on_disk) - set(partitions):
        partition_path(layout, tile).unlink(missing_ok=True)  # every item of the tile is gone
    if scratch and index.is_dir():
        for path in index.glob("*.parquet"):
            if path.stem not in partitions:
                path.unlink()
    return update


def _unindexed(layout: Layout, on_disk: dict[str, tuple[Partition, pa.Schema]]) -> list[ChipYear]:
    """Chip-years the index has no entries for although their folder holds items, and chip-years it
    has entries for whose folder is gone (a run killed before its catalog update, a folder deleted by
    hand): one listing of the catalog folder, no item read."""
    indexed = {stem for part, _ in on_disk.values() for group in part.chip_years.values() for stem in group}
    with os.scandir(layout.catalog_dir) as entries:
        folders = {e.name for e in entries if e.is_dir()}
    found = []
    for stem in sorted(folders - indexed):
        try:
            cy = ChipYear.from_stem(stem)
            folder = layout.chip_dir(cy.chip, cy.year)
        except (ValueError, FtwError):
            continue  # items.parquet, tiles: not chip-year folders
        if any(folder.glob("*.json")):
            found.append(cy)
    return found + [ChipYear.from_stem(stem) for stem in sorted(indexed - folders)]


def _summarised(part: Partition, table: pa.Table) -> Partition:
    """``part`` with the count, bbox and time range of its rows ``table``."""
    bbox = table["bbox"].combine_chunks()
    box = [pc.min(bbox.field("xmin")).as_py(), pc.min(bbox.field("ymin")).as_py(),
           pc.max(bbox.field("xmax")).as_py(), pc.max(bbox.field("ymax")).as_py()]

    def column(name: str):
        present = name in table.column_names and not pa.types.is_null(table.schema.field(name).type)
        return table[name] if present else None

    def coalesce(first: str):
        cols = [c for c in (column(first), column("datetime")) if c is not None]
        return pc.coalesce(*cols) if len(cols) > 1 else cols[0]

    start, end = pc.min(coalesce("start_datetime")).as_py(), pc.max(coalesce("end_datetime")).as_py()
    return replace(part, items=table.num_rows, bbox=box, interval=[start.isoformat(), end.isoformat()])


def _write_partition(layout: Layout, table: pa.Table, part: Partition) -> None:
    """Write one index file atomically: its temp file lies beside the index folder, not in it, since
    readers of the folder take every file in it, hidden ones too."""
    metadata = create_parquet_metadata(table.schema, schema_version=DEFAULT_PARQUET_SCHEMA_VERSION)
    table = table.replace_schema_metadata({**metadata, INDEX_KEY: part.footer()})
    target = partition_path(layout, part.tile)
    fd, name = tempfile.mkstemp(prefix=f".{layout.items_parquet.name}.{part.tile}.", suffix=".tmp.parquet",
                                dir=layout.catalog_dir)
    os.close(fd)
    tmp = Path(name)
    try:
        with pq.ParquetWriter(tmp, table.schema) as writer:
            writer.write_table(table)
        if os.environ.get(CRASH_ENV) == layout.items_parquet.name:  # tests: die before the rename
            os.kill(os.getpid(), signal.SIGKILL)
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# Schema of a chip-year's items by the shape of their JSON (keys and value types): chip-years of one
# dataset come in few shapes, and parsing 3 items alone costs as much as 20 in one batch.
_SCHEMA_BY_SHAPE: dict[str, tuple[str, pa.Schema]] = {}


def _chip_year_schema(rows: list[dict]) -> tuple[str, pa.Schema]:
    """The hash and canonical schema stac-geoparquet infers for ``rows`` (one chip-year's items) alone."""
    shape = hashlib.sha256(repr(sorted(map(repr, map(_shape, rows)))).encode()).hexdigest()
    found = _SCHEMA_BY_SHAPE.get(shape)
    if found is None:
        schema = _canonical(sgpa.parse_stac_items_to_arrow(rows).schema.remove_metadata())
        found = _SCHEMA_BY_SHAPE[shape] = (hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()[:16], schema)
    return found


def _shape(value):
    """What Arrow's type inference sees of a JSON value: its keys and the kinds of its values."""
    if isinstance(value, dict):
        return tuple(sorted((k, _shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[]", *sorted({_shape(v) for v in value}, key=repr))
    return type(value).__name__


def _canonical(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the core columns first (stac-geoparquet's order), the others by name, and the
    fields of every struct by name (the bbox's kept as xmin, ymin, xmax, ymax)."""
    core = [schema.field(name) for name in CORE_COLUMNS if name in schema.names]
    rest = sorted((f for f in schema if f.name not in CORE_COLUMNS), key=lambda f: f.name)
    return pa.schema([f if f.name == "bbox" else f.with_type(_canonical_type(f.type)) for f in core + rest])


def _canonical_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(t):
        return pa.struct(sorted((f.with_type(_canonical_type(f.type)) for f in t), key=lambda f: f.name))
    if pa.types.is_list(t):  # Parquet names a list's values "element": so does the schema read back
        return pa.list_(t.value_field.with_type(_canonical_type(t.value_type)).with_name("element"))
    return t


def _union_schema(schemas: dict[str, str]) -> pa.Schema:
    """The one schema of every index file: the union of the chip-years' schemas (by hash), canonical,
    without structs that have no fields (Parquet cannot store them; stac-geoparquet drops them too)."""
    if not schemas:
        return pa.schema([])
    union = pa.unify_schemas([_schema_from(schemas[h]) for h in sorted(schemas)], promote_options="permissive")
    union = _canonical(union)
    return pa.schema([f for f in union if not (pa.types.is_struct(f.type) and f.type.num_fields == 0)])


def _schema_to(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _schema_from(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema``: columns in its order, missing ones null, types cast."""
    n = table.num_rows
    columns = [_conform_array(table[f.name].combine_chunks(), f.type) if f.name in table.column_names
               else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _conform_array(arr: pa.Array, t: pa.DataType) -> pa.Array:
    if arr.type.equals(t):
        return arr
    if pa.types.is_null(t) or pa.types.is_null(arr.type):
        return pa.nulls(len(arr), t)  # a field no row has a value for any more, or had none yet
    if not _holds_null_type(t):
        return arr.cast(t)  # Arrow casts structs by field name: adds, drops and reorders fields
    if pa.types.is_struct(t):  # Arrow cannot cast a field to the null type itself
        children = dict(zip([f.name for f in arr.type], arr.flatten()))
        return pa.StructArray.from_arrays(
            [_conform_array(children[f.name], f.type) if f.name in children else pa.nulls(len(arr), f.type) for f in t],
            fields=list(t), mask=arr.is_null())
    return pa.ListArray.from_arrays(arr.offsets, _conform_array(arr.values, t.value_type), type=t, mask=arr.is_null())


def _holds_null_type(t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    if pa.types.is_struct(t):
        return any(_holds_null_type(f.type) for f in t)
    return pa.types.is_list(t) and _holds_null_type(t.value_type)


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
