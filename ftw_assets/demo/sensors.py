"""More sensors for the local archive: Sentinel-1 RTC, Landsat C2 L2, Copernicus DEM and ESA WorldCover
over the area of an :class:`~ftw_assets.demo.archive.ArchiveSpec`, shaped like the real items.

Each collection is built into its own folder of the archive with its own built-marker
(``{collection}/built.json``, the spec it was built from) and its items go to ``{collection}.parquet``
beside ``sentinel-2-c1-l2a.parquet`` (the same stac-geoparquet writer), so a
:class:`~ftw_assets.core.scenes.sources.geoparquet.GeoparquetSource` can search each one and a sensor
can be added to an existing archive without touching its Sentinel-2 part: ``build_archive(root,
ArchiveSpec(sensors=ALL_SENSORS))``. Asset hrefs are relative to the archive folder, as for Sentinel-2;
each item links (``rel: collection``, also relative to the archive folder) to the
``{collection}/collection.json`` written beside its COGs. The layout copies the real stores' paths:

- ``sentinel-1-rtc/GRD/{y}/{m}/{d}/IW/DV/{product}_{xxxx}/measurement/iw-{vv,vh}.rtc.tiff``
  (Planetary Computer ``sentinel-1-rtc``; :mod:`ftw_assets.demo.sensors_s1`);
- ``landsat-c2-l2/level-2/standard/oli-tirs/{y}/{path}/{row}/{product}/{product}_{SR_B2,...,QA_PIXEL}.TIF``
  (PC ``landsat-c2-l2``; :mod:`ftw_assets.demo.sensors_landsat`);
- ``cop-dem-glo-30/COP30_hh/Copernicus_DSM_COG_10_N48_00_E016_00_DEM.tif`` and
  ``esa-worldcover/v200/2021/map/ESA_WorldCover_10m_2021_v200_N48E015_Map.tif``
  (PC ``cop-dem-glo-30`` and ``esa-worldcover``; :mod:`ftw_assets.demo.sensors_static`).

The pixels follow the Sentinel-2 demo world: Sentinel-1 and Landsat see the same parcels
(:func:`~ftw_assets.demo.landscape.make_parcels`) through the seasons, WorldCover marks them and the
demo field polygons as cropland.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer

from ftw_assets.core.atomic import write_text
from ftw_assets.demo.archive import ALL_SENSORS, COLLECTION, TILE_EPSG, ArchiveSpec, _write_cog, _write_parquet

SENTINEL1, LANDSAT, DEM, WORLDCOVER = ALL_SENSORS[1:]
EXTRA_SENSORS = ALL_SENSORS[1:]
GENERATOR_VERSION = 2  # bump when a sensor writer's output changes: its folder is then rebuilt
MARKER = "built.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
# Disk use in MB per 1024 px block of the area (per date for the dated sensors), measured on the default area.
MB_PER_BLOCK = {SENTINEL1: 3.1, LANDSAT: 1.1, DEM: 1.0, WORLDCOVER: 0.05}


def archive_collections(sensors) -> tuple[str, ...]:
    """The archive collections of sensor names (``s2``, ``s1``, ``landsat``, ``dem``, ``landcover``): each
    sensor's first collection in :data:`~ftw_assets.core.sensors.config.SENSORS` the generator writes."""
    from ftw_assets.core.sensors.config import sensor_config
    from ftw_assets.demo.archive import ALL_SENSORS

    return tuple(next(c.collection for c in sensor_config(s).collections if c.collection in ALL_SENSORS)
                 for s in sensors)


def sensor_parquet(root: str | Path, collection: str) -> Path:
    """The stac-geoparquet file of ``collection`` in the archive at ``root``."""
    return Path(root) / f"{collection}.parquet"


def sensor_built(root: str | Path, spec: ArchiveSpec, collection: str) -> bool:
    marker = Path(root) / collection / MARKER
    return (sensor_parquet(root, collection).exists() and marker.exists()
            and marker.read_text(encoding="utf-8") == _sensor_json(spec, collection))


def build_sensor(root: str | Path, spec: ArchiveSpec, collection: str, workers: int = 2) -> Path:
    """Write ``collection``'s COGs and stac-geoparquet under ``root`` (reused when its marker matches
    ``spec``); return the parquet path."""
    root = Path(root)
    parquet = sensor_parquet(root, collection)
    if sensor_built(root, spec, collection):
        return parquet
    if (root / collection).exists():
        shutil.rmtree(root / collection)  # a different or unfinished build: start clean
    items = _writer(collection)(root, spec, workers)
    for item in items:  # STAC wants a collection link beside the collection id; relative to the archive folder
        item["links"] = [{"rel": "collection", "href": f"{collection}/collection.json", "type": "application/json"}]
    write_text(root / collection / "collection.json", json.dumps(_collection(collection, items), indent=1))
    _write_parquet(parquet, items, key=lambda it: (_start(it), it["id"]))
    write_text(root / collection / MARKER, _sensor_json(spec, collection))
    return parquet


def estimated_mb(spec: ArchiveSpec) -> float:
    """About how many MB the non-Sentinel-2 sensors of ``spec`` take on disk."""
    from ftw_assets.demo.sensors_landsat import plan_landsat
    from ftw_assets.demo.sensors_s1 import plan_s1

    blocks = spec.block_cols * spec.block_rows
    dates = {SENTINEL1: len(plan_s1(spec)), LANDSAT: len(plan_landsat(spec)), DEM: 1, WORLDCOVER: 1}
    return sum(MB_PER_BLOCK[c] * blocks * dates[c] for c in spec.sensors if c != COLLECTION)


def _writer(collection: str) -> Callable[[Path, ArchiveSpec, int], list[dict[str, Any]]]:
    if collection == SENTINEL1:
        from ftw_assets.demo.sensors_s1 import write_s1 as writer
    elif collection == LANDSAT:
        from ftw_assets.demo.sensors_landsat import write_landsat as writer
    elif collection == DEM:
        from ftw_assets.demo.sensors_static import write_dem as writer
    elif collection == WORLDCOVER:
        from ftw_assets.demo.sensors_static import write_worldcover as writer
    else:
        raise ValueError(f"no writer for {collection}")
    return writer


def _start(item: dict[str, Any]) -> str:
    props = item["properties"]
    return props["datetime"] or props["start_datetime"]


def _collection(collection: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A STAC Collection for the generated items: id, extents and the real product's licence."""
    title, licence = COLLECTIONS[collection]
    boxes = np.array([it["bbox"] for it in items])
    starts = sorted(_start(it) for it in items)
    ends = sorted(it["properties"].get("end_datetime") or _start(it) for it in items)
    return {
        "type": "Collection", "stac_version": "1.0.0", "id": collection, "title": title,
        "description": f"Generated stand-in for {title} over the ftw_assets demo area (ftw_assets.demo.sensors)",
        "license": licence, "links": [],
        "extent": {"spatial": {"bbox": [[float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()),
                                         float(boxes[:, 3].max())]]},
                   "temporal": {"interval": [[_iso(starts[0]), _iso(ends[-1])]]}},
    }


def _iso(text: str) -> str:
    return text.replace(" ", "T").replace("+00:00", "Z")  # PC's "2024-04-19 04:59:04.220006+00:00" form


COLLECTIONS = {
    SENTINEL1: ("Sentinel-1 Radiometrically Terrain Corrected (RTC)", "proprietary"),
    LANDSAT: ("Landsat Collection 2 Level-2", "proprietary"),
    DEM: ("Copernicus DEM GLO-30", "proprietary"),
    WORLDCOVER: ("ESA WorldCover", "CC-BY-4.0"),
}


def _sensor_json(spec: ArchiveSpec, collection: str) -> str:
    fields = asdict(spec)
    for key in ("sensors", "version"):  # version is the Sentinel-2 generator's
        del fields[key]
    return json.dumps({"collection": collection, "generator": GENERATOR_VERSION, **fields}, sort_keys=True, indent=1)


# Helpers shared by the sensor writers.

def write_cog(path: Path, data: np.ndarray, transform: Affine, crs: str, nodata: float | None, blocksize: int,
              predictor: int, colormap: dict[int, tuple] | None = None) -> dict[str, Any]:
    """Write one single-band COG (DEFLATE, no overviews, as the Sentinel-2 ones) and return its
    ``file:size`` and the raw bytes' digests (``md5`` as PC gives, ``multihash`` sha2-256)."""
    _write_cog(path, data, transform, blocksize, crs=crs, nodata=nodata, predictor=predictor, colormap=colormap)
    raw = path.read_bytes()
    return {"size": len(raw), "md5": hashlib.md5(raw).hexdigest(),
            "multihash": "1220" + hashlib.sha256(raw).hexdigest()}


def href(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def utm_box(x_min: float, y_max: float, width_m: float, height_m: float) -> shapely.Polygon:
    return shapely.box(x_min, y_max - height_m, x_min + width_m, y_max)


def to_wgs84(polygon: shapely.Polygon, epsg: int = TILE_EPSG) -> shapely.Polygon:
    """A UTM polygon in lon/lat, its edges densified every km so that the curved sides stay close."""
    to_wgs = Transformer.from_crs(epsg, 4326, always_xy=True)
    dense = shapely.segmentize(polygon, 1000.0)
    return shapely.transform(dense, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))


def geo(footprint: shapely.Polygon, digits: int = 9) -> tuple[list[float], dict[str, Any]]:
    """(bbox, GeoJSON geometry) of a lon/lat footprint, rounded."""
    footprint = shapely.geometry.polygon.orient(shapely.transform(footprint, lambda xy: np.round(xy, digits)), 1.0)
    return [float(v) for v in footprint.bounds], shapely.geometry.mapping(footprint)


def block3(arr: np.ndarray) -> np.ndarray:
    """10 m -> 30 m: the mean of each 3 x 3 group of pixels."""
    h, w = arr.shape[0] // 3 * 3, arr.shape[1] // 3 * 3
    return arr[:h, :w].reshape(h // 3, 3, w // 3, 3).mean(axis=(1, 3))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation with a (2 radius + 1) square, in plain numpy."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for shift in range(1, radius + 1):
            for sign in (1, -1):
                moved = np.roll(out, sign * shift, axis=axis)
                edge = [slice(None), slice(None)]
                edge[axis] = slice(0, shift) if sign == 1 else slice(-shift, None)
                moved[tuple(edge)] = False  # no wrap-around
                grown |= moved
        out = grown
    return out
