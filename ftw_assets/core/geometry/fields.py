"""Field boundaries: read any vector file, check it, and give every field an instance value.

The normalised table has one row per field polygon with

- ``instance``: sequential uint32 from 1 in file order, the value burnt into instance masks
  (input ids may be strings like fiboa's ``'25-0'``, repeated, or missing);
- ``field_id``: the input id as a string (``row-{n}`` where the file has none);
- ``split``: the input ``split`` column when present (for ``predefined`` splits);
- ``geometry``: the polygon in EPSG:4326.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ftw_assets.core.errors import InputError

# Columns tried, in order, for the field id (fiboa uses ``id``).
ID_COLUMNS = ("id", "fid", "field_id", "fieldid", "objectid", "object_id", "parcel_id", "gid")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
# Sentinel-2A launched in June 2015; the Collection-1 L2A reprocessing starts then.
FIRST_S2_L2A_YEAR = 2015
SUPPORTED_FORMATS = "GeoParquet, GeoPackage, GeoJSON, FlatGeobuf or Shapefile"


@dataclass
class FieldReport:
    """What normalisation did to the input, for logs and Dagster metadata."""

    source: str
    layer: str | None = None
    other_layers: list[str] = field(default_factory=list)
    rows_read: int = 0
    fields: int = 0
    dropped_no_geometry: int = 0
    dropped_not_polygon: int = 0
    collections_kept: int = 0
    invalid_dates: int = 0
    repaired_invalid: int = 0
    dropped_unrepairable: int = 0
    id_column: str | None = None
    duplicate_ids: int = 0
    source_crs: str = ""
    notes: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        skip = ("notes", "other_layers")
        return ({k: v for k, v in self.__dict__.items() if k not in skip and v is not None}
                | {"other_layers": ", ".join(self.other_layers), "notes": "; ".join(self.notes)})

    def warnings(self) -> list[str]:
        """What was skipped, repaired or guessed: printed on the console, not only kept as metadata."""
        out = []
        if self.other_layers:
            out.append(f"read layer {self.layer!r}; the file also holds {', '.join(map(repr, self.other_layers))} "
                       "(choose another with --layer)")
        if self.dropped_no_geometry:
            out.append(f"{self.dropped_no_geometry} feature(s) with no geometry (null, empty or NaN coordinates) skipped")
        if self.dropped_not_polygon:
            out.append(f"{self.dropped_not_polygon} feature(s) with no polygon (points or lines) skipped")
        if self.collections_kept:
            out.append(f"{self.collections_kept} GeometryCollection feature(s): their polygons kept, other parts dropped")
        if self.repaired_invalid:
            out.append(f"{self.repaired_invalid} invalid polygon(s) repaired")
        if self.dropped_unrepairable:
            out.append(f"{self.dropped_unrepairable} polygon(s) with no area after repair skipped")
        if self.invalid_dates:
            out.append(f"{self.invalid_dates} determination_datetime value(s) are not dates; ignored for the year")
        return out


def read_fields(path: str | Path, layer: str | None = None) -> tuple[gpd.GeoDataFrame, FieldReport]:
    """Read a field-boundary file (``layer`` of a multi-layer file; default its first) and return the
    normalised table (see module doc)."""
    path = Path(path)
    report = FieldReport(source=str(path))
    raw = _read_vector(path, layer, report)
    report.rows_read = len(raw)
    if raw.empty:
        raise InputError(f"{path}: the file has no features. Point --fields at a file with field polygons.")
    if raw.crs is None:
        raise InputError(
            f"{path}: the file has no coordinate reference system, so its coordinates cannot be placed. "
            "Set one, e.g. `ogr2ogr -a_srs EPSG:4326 fixed.gpkg input.gpkg`, and try again."
        )
    report.source_crs = raw.crs.to_string()

    geoms, collections = _polygonal_parts(raw.geometry.values)
    report.collections_kept = collections
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms) | ~_finite(geoms)
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6]) & ~missing  # Polygon, MultiPolygon
    if not polygonal.any():
        found = ", ".join(sorted(set(raw.geometry[~missing].geom_type.dropna())))
        raise InputError(
            f"{path}: no polygons found (geometry types: {found or 'none'}"
            f"{f'; {int(missing.sum())} feature(s) without geometry' if missing.any() else ''}). Field boundaries "
            "must be Polygon or MultiPolygon features (or collections holding them)."
        )
    report.dropped_no_geometry = int(missing.sum())
    report.dropped_not_polygon = int((~polygonal & ~missing).sum())
    raw = raw[polygonal].copy()
    raw.geometry = geoms[polygonal]

    raw.geometry, repaired, dropped = _repair(raw.geometry.values)
    report.repaired_invalid, report.dropped_unrepairable = repaired, int(dropped.sum())
    raw = raw[~dropped]
    if raw.empty:
        raise InputError(
            f"{path}: every polygon is invalid and could not be repaired (e.g. zero area). "
            "Fix the geometries (QGIS 'Fix geometries', or shapely.make_valid) and try again."
        )

    id_col = next((c for c in raw.columns if c.lower() in ID_COLUMNS and c != raw.geometry.name), None)
    report.id_column = id_col
    if id_col is None:
        field_ids = [f"row-{i}" for i in range(len(raw))]
        report.notes.append("no id column; fields are named row-N in file order")
    else:
        field_ids = raw[id_col].astype("string").fillna("").tolist()
        counts = Counter(field_ids)
        report.duplicate_ids = sum(n for n in counts.values() if n > 1)
        if report.duplicate_ids:
            report.notes.append(f"{report.duplicate_ids} rows share an id; each still gets its own instance value")

    out = gpd.GeoDataFrame(
        {
            "instance": np.arange(1, len(raw) + 1, dtype="uint32"),
            "field_id": pd.array(field_ids, dtype="string"),
        },
        geometry=raw.geometry.to_crs(4326).values,
        crs=4326,
    )
    _check_extent(out, path)
    for col in raw.columns:
        if col.lower() == "split":
            out["split"] = raw[col].astype("string").str.lower().array
        if col == "determination_datetime":
            out["determination_datetime"] = raw[col].array
            report.invalid_dates = int((parse_dates(raw[col]).isna() & raw[col].notna()).sum())
    report.fields = len(out)
    return out, report


def parse_dates(values: pd.Series) -> pd.Series:
    """Timestamps (UTC) from dates or ISO 8601 text; NaT where a value is none of those. Each value is
    parsed on its own (``format="ISO8601"``): pandas would otherwise take the first row's format for all."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    return pd.to_datetime(values.astype("string").str.strip(), utc=True, errors="coerce", format="ISO8601")


def _polygonal_parts(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """GeometryCollections replaced by the union of their polygons (empty when they hold none)."""
    collections = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    if not len(collections):
        return geoms, 0
    geoms = geoms.copy()
    for i in collections:
        # Members may be multipolygons or nested collections: take every polygon at any depth.
        parts = shapely.get_parts(geoms[i])
        while (kinds := shapely.get_type_id(parts))[np.isin(kinds, [6, 7])].size:
            parts = shapely.get_parts(parts)
        polygons = parts[shapely.get_type_id(parts) == 3]
        geoms[i] = shapely.multipolygons(polygons) if len(polygons) else shapely.Polygon()
    return geoms, len(collections)


def _finite(geoms: np.ndarray) -> np.ndarray:
    """False for a geometry with a NaN or infinite coordinate (missing ones count as finite here)."""
    out = np.ones(len(geoms), dtype=bool)
    for i, g in enumerate(geoms):
        if g is not None and not g.is_empty:
            out[i] = bool(np.isfinite(shapely.get_coordinates(g)).all())
    return out


MAX_FIELD_KM2 = 100.0  # larger than any farm field: such a feature is a region, not a field
# Wider than any farm field: one feature's parts this far apart (e.g. a multipart feature in two
# countries) would make the grid enumerate every cell between them.
MAX_FIELD_SPAN_KM = 100.0
MIN_LAT, MAX_LAT = -80.0, 84.0  # the UTM/MGRS grid's limits


def _check_extent(fields: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse features that cannot be fields or cannot be gridded: antimeridian crossers, regions."""
    bounds = fields.geometry.bounds
    crossing = ((bounds["maxx"] - bounds["minx"]) > 180) | (bounds["maxx"] > 180) | (bounds["minx"] < -180)
    across = fields.loc[crossing, "field_id"].tolist()
    if across:
        raise InputError(
            f"{path}: field(s) {', '.join(map(str, across[:5]))} cross the antimeridian (180° longitude), "
            "which the UTM chip grid cannot hold in one piece. Split them at 180° (e.g. `ogr2ogr "
            "-wrapdateline`) and try again."
        )
    beyond = fields.loc[(bounds["miny"] < MIN_LAT) | (bounds["maxy"] > MAX_LAT), "field_id"].tolist()
    if beyond:
        raise InputError(
            f"{path}: field(s) {', '.join(map(str, beyond[:5]))}{' …' if len(beyond) > 5 else ''} ({len(beyond)} in all) "
            f"lie beyond {MAX_LAT:g}°N or {-MIN_LAT:g}°S, outside the UTM/MGRS grid the chips are cut from (and "
            "Sentinel-2's tiles). Remove them and try again."
        )
    area_km2 = fields.geometry.to_crs(6933).area / 1e6  # equal-area, worldwide
    huge = fields.loc[area_km2 > MAX_FIELD_KM2]
    if len(huge):
        first = huge.index[0]
        raise InputError(
            f"{path}: field {huge.loc[first, 'field_id']} covers {area_km2[first]:,.0f} km², more than any farm "
            f"field (the limit is {MAX_FIELD_KM2:g} km²): the file seems to hold regions or countries. Remove "
            "such features and pass field boundaries."
        )
    mid_lat = np.radians((bounds["miny"] + bounds["maxy"]) / 2)
    span_km = np.maximum(bounds["maxy"] - bounds["miny"],
                         (bounds["maxx"] - bounds["minx"]) * np.cos(mid_lat)) * 111.32
    wide = fields.loc[span_km > MAX_FIELD_SPAN_KM]
    if len(wide):
        first = wide.index[0]
        raise InputError(
            f"{path}: field {wide.loc[first, 'field_id']} spans {span_km[first]:,.0f} km from end to end (its parts "
            f"lie far apart); a field spans at most {MAX_FIELD_SPAN_KM:g} km here ({len(wide)} such feature(s)). "
            "Split multipart features into one feature per field (e.g. `ogr2ogr -explodecollections`) and try again."
        )


def resolve_year(fields: gpd.GeoDataFrame, year: int | None, source: str, today: dt.date | None = None) -> int:
    """The dataset year: ``year`` when given, else the most common ``determination_datetime`` year."""
    today = today or dt.date.today()
    if year is None:
        if "determination_datetime" not in fields.columns or fields["determination_datetime"].isna().all():
            raise InputError(
                f"{source}: no --year given and the file has no determination_datetime column to take "
                "it from. Pass --year YYYY (the season the field boundaries describe)."
            )
        values = fields["determination_datetime"]
        years = parse_dates(pd.Series(values)).dt.year.dropna()
        if years.empty:
            example = next((str(v) for v in values if v is not None and str(v).strip()), "")
            raise InputError(
                f"{source}: no --year given and no determination_datetime value is a date (e.g. {example!r}); "
                "the year cannot be taken from the file. Pass --year YYYY, or write the dates as ISO 8601 "
                "(2024-05-01 or 2024-05-01T00:00:00Z)."
            )
        year = int(years.mode().min())
    year = int(year)
    if year < FIRST_S2_L2A_YEAR:
        raise InputError(
            f"{source}: year {year} is before Sentinel-2 L2A imagery exists (first year {FIRST_S2_L2A_YEAR}). "
            "Pass --year with a later season."
        )
    if year > today.year:
        raise InputError(f"{source}: year {year} is in the future (today is {today}). Pass --year {today.year} or earlier.")
    return year


def _read_vector(path: Path, layer: str | None, report: FieldReport) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputError(f"{path}: file not found. Check the path (it is read relative to {Path.cwd()}).")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputError(f"{path}: is a folder, not a vector file. Point at a {SUPPORTED_FORMATS} file.")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            if layer:
                raise InputError(f"--layer {layer!r}: {path} is a (Geo)Parquet file, which has no layers; leave --layer out.")
            return gpd.read_parquet(path)
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
        report.layer = layer or (layers[0] if layers else None)
        if layer and layer not in layers:
            raise InputError(f"--layer {layer!r}: {path} has no such layer; its layers are {', '.join(map(repr, layers))}.")
        report.other_layers = [name for name in layers if name != report.layer]
        return gpd.read_file(path, layer=report.layer) if report.layer else gpd.read_file(path)
    except InputError:
        raise
    except Exception as err:  # pyogrio/pyarrow raise many types; all mean "cannot read this"
        raise InputError(
            f"{path}: cannot be read as a vector file ({type(err).__name__}: {err}). "
            f"Supported: {SUPPORTED_FORMATS}."
        ) from err


def parcel_count(path: str | Path, layer: str | None = None) -> int | None:
    """How many parcels the fields file holds, from its metadata (no geometry read); None when that is
    not known cheaply (an unreadable file is reported by :func:`read_fields`, not here)."""
    path = Path(path)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            return pq.read_metadata(path).num_rows
        count = pyogrio.read_info(path, layer=layer)["features"]
        return count if count >= 0 else None  # -1: the driver would have to read every feature
    except Exception:  # any reason it cannot tell: the caller decides without it
        return None


def _repair(geoms: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Make invalid polygons valid, keep their polygonal part; flag those left with no area."""
    valid = shapely.is_valid(geoms)
    fixed = geoms.copy()
    bad = np.flatnonzero(~valid)
    for i in bad:
        made = shapely.make_valid(geoms[i])
        parts = [g for g in shapely.get_parts(made) if shapely.get_type_id(g) in (3, 6)]
        fixed[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    dropped = shapely.is_empty(fixed) | (shapely.area(fixed) <= 0)
    return fixed, int(len(bad) - dropped[bad].sum()), dropped
