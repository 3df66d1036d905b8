"""Copernicus DEM GLO-30 and ESA WorldCover for the local archive, shaped like Planetary Computer's
``cop-dem-glo-30`` and ``esa-worldcover`` items (the latter as stactools-esa-worldcover writes them).

Both are EPSG:4326 tiles on the real products' global grids, named as the real tiles are, but **only
the part around the archive's area is written**: the tile's grid cut to the archive's lon/lat bbox
rounded out to whole 1024 px blocks of the tile (a full WorldCover tile is 36000 x 36000 px). Each
item's ``proj:shape``/``proj:transform``, ``bbox`` and geometry describe the written part, not the
whole tile; the id, ``grid:code`` and file name are the whole tile's.

- DEM: one item per 1 x 1 degree cell, e.g. ``Copernicus_DSM_COG_10_N48_00_E016_00_DEM`` for
  48-49 N, 16-17 E; asset ``data``, float32 heights in metres, no nodata; pixels of 1 arc second
  (1/3600 degree) in latitude and, as in the real product, 1, 1.5, 2, 3, 5 or 10 arc seconds in
  longitude by latitude band (1 below 50 degrees); pixel *centres* on whole degrees (the tile's grid
  starts half a pixel west and north of the cell). Heights are a smooth function of lon/lat (from
  about 150 to 570 m, hills some 10-40 km across), the same wherever an archive is built for a seed.
- WorldCover: one item per 3 x 3 degree tile, e.g. ``ESA_WorldCover_10m_2021_v200_N48E015`` for
  48-51 N, 15-18 E; asset ``map``, uint8 classes from :data:`CLASSES` with their colour table,
  nodata 0, pixels of 1/12000 degree with corners on whole degrees. Over the archive's 10 m grid the
  classes come from the demo world's parcels (cereals and summer crops as cropland 40, grassland 30,
  forest 10; the demo field polygons of :func:`~ftw_assets.demo.world.make_demo_fields` as cropland),
  elsewhere from smooth functions of lon/lat: mostly cropland with woods, grassland, shrubs, villages,
  a river with wetland banks. ``datetime`` is null, ``start_datetime``/``end_datetime`` span 2021.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.features import rasterize
from rasterio.warp import Resampling, reproject

from ftw_assets.demo.archive import TILE_EPSG, ArchiveSpec
from ftw_assets.demo.landscape import make_parcels
from ftw_assets.demo.sensors import COG_TYPE, DEM, WORLDCOVER, geo, href, write_cog

BLOCK = 1024
WC_RES = 1 / 12000
# value, description, colour (ESA WorldCover v200 legend)
CLASSES = (
    (10, "Tree cover", "006400"), (20, "Shrubland", "FFBB22"), (30, "Grassland", "FFFF4C"), (40, "Cropland", "F096FF"),
    (50, "Built-up", "FA0000"), (60, "Bare / sparse vegetation", "B4B4B4"), (70, "Snow and ice", "F0F0F0"),
    (80, "Permanent water bodies", "0064C8"), (90, "Herbaceous wetland", "0096A0"), (95, "Mangroves", "00CF75"),
    (100, "Moss and lichen", "FAE6A0"),
)
COVER_CLASS = {"winter_cereal": 40, "summer_crop": 40, "grassland": 30, "forest": 10}
TRACK_CLASS = 40  # 20 m farm tracks are below the map's resolution: part of the cropland


def dem_x_arcsec(lat0: int) -> float:
    """The longitude pixel size of a GLO-30 tile whose southern edge is ``lat0``, in arc seconds."""
    band = max(abs(lat0), abs(lat0 + 1))
    for limit, size in ((50, 1.0), (60, 1.5), (70, 2.0), (80, 3.0), (85, 5.0)):
        if band <= limit:
            return size
    return 10.0


def _cells(bbox: tuple[float, float, float, float], size: int) -> list[tuple[int, int]]:
    w, s, e, n = bbox
    return [(lat, lon) for lat in range(math.floor(s / size) * size, math.ceil(n / size) * size, size)
            for lon in range(math.floor(w / size) * size, math.ceil(e / size) * size, size)]


def _window(bbox, west: float, north: float, xres: float, yres: float, cols: int, rows: int):
    """The tile's pixel window (col0, row0, width, height) around ``bbox``, rounded out to blocks."""
    w, s, e, n = bbox
    c0 = max(0, math.floor((w - west) / xres / BLOCK) * BLOCK)
    c1 = min(cols, math.ceil((e - west) / xres / BLOCK) * BLOCK)
    r0 = max(0, math.floor((north - n) / yres / BLOCK) * BLOCK)
    r1 = min(rows, math.ceil((north - s) / yres / BLOCK) * BLOCK)
    return (c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def _waves(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, 4326]).uniform(0, 2 * math.pi, n)


def elevation(lon: np.ndarray, lat: np.ndarray, seed: int) -> np.ndarray:
    """Heights in metres (float32) at the 1-D ``lon`` (columns) x ``lat`` (rows) centres."""
    p = _waves(seed, 5)
    x, y = lon[None, :], lat[:, None]
    h = (360.0 + 110.0 * np.sin(2 * np.pi * 1.6 * x + p[0]) * np.cos(2 * np.pi * 2.2 * y + p[1])
         + 60.0 * np.sin(2 * np.pi * (4.3 * x - 3.1 * y) + p[2])
         + 25.0 * np.cos(2 * np.pi * (9.0 * x + 11.0 * y) + p[3])
         + 10.0 * np.sin(2 * np.pi * 19.0 * x + p[4]) * np.sin(2 * np.pi * 23.0 * y))
    return h.astype(np.float32)


def write_dem(root: Path, spec: ArchiveSpec, workers: int = 2) -> list[dict[str, Any]]:
    items = []
    for lat0, lon0 in _cells(spec.bbox(), 1):
        xres, yres = dem_x_arcsec(lat0) / 3600, 1 / 3600
        west, north = lon0 - xres / 2, lat0 + 1 + yres / 2
        window = _window(spec.bbox(), west, north, xres, yres, round(1 / xres), 3600)
        if window is None:
            continue
        c0, r0, width, height = window
        transform = Affine(xres, 0.0, west + c0 * xres, 0.0, -yres, north - r0 * yres)
        lon = transform.c + xres * (np.arange(width) + 0.5)
        lat = transform.f - yres * (np.arange(height) + 0.5)
        heights = elevation(lon, lat, spec.seed)
        tile = f"{'N' if lat0 >= 0 else 'S'}{abs(lat0):02d}_00_{'E' if lon0 >= 0 else 'W'}{abs(lon0):03d}_00"
        ident = f"Copernicus_DSM_COG_10_{tile}_DEM"
        path = root / DEM / "COP30_hh" / f"{ident}.tif"
        write_cog(path, heights, transform, "EPSG:4326", None, BLOCK, predictor=3)
        bbox, geometry = geo(_box(transform, width, height), 12)
        items.append({
            "id": ident, "bbox": bbox, "type": "Feature", "links": [], "geometry": geometry, "collection": DEM,
            "assets": {"data": {
                "href": href(path, root), "title": tile, "type": COG_TYPE, "roles": ["data"],
                "raster:bands": [{"sampling": "point", "data_type": "float32", "spatial_resolution": 30,
                                  "unit": "meter"}],
            }},
            "properties": {
                "gsd": 30, "datetime": "2021-04-22T00:00:00Z", "platform": "TanDEM-X", "proj:epsg": 4326,
                "proj:shape": [height, width], "proj:transform": list(transform)[:6],
                "grid:code": f"CDEM-{tile.replace('_00', '').replace('_', '')}",
            },
            "stac_extensions": ["https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/grid/v1.1.0/schema.json"],
            "stac_version": "1.0.0",
        })
    return items


def _box(transform: Affine, width: int, height: int):
    import shapely

    return shapely.box(transform.c, transform.f + transform.e * height, transform.c + transform.a * width, transform.f)


def background_classes(lon: np.ndarray, lat: np.ndarray, seed: int) -> np.ndarray:
    """The synthetic landscape around the demo parcels: WorldCover classes (uint8) at the 1-D ``lon``
    x ``lat`` centres; a function of lon/lat and the seed only, so neighbouring tiles agree."""
    p = _waves(seed + 1, 9)
    x, y = lon[None, :], lat[:, None]
    out = np.full((lat.size, lon.size), 40, dtype=np.uint8)
    wood = (np.sin(2 * np.pi * 23.1 * x + p[0]) * np.cos(2 * np.pi * 31.7 * y + p[1])
            + 0.6 * np.sin(2 * np.pi * (71.3 * x + 53.9 * y) + p[2])
            + 0.4 * np.cos(2 * np.pi * (37.7 * x - 89.3 * y) + p[3]))
    out[wood > 1.25] = 10
    out[(wood > 1.05) & (wood <= 1.25)] = 20
    out[wood < -1.45] = 30
    # Villages: at most one per 0.03 degree cell, at a hashed place in it, 150-400 m across.
    cell = 0.03
    ix, iy = np.floor(lon / cell).astype(np.int64)[None, :], np.floor(lat / cell).astype(np.int64)[:, None]
    h = (ix * 73856093) ^ (iy * 19349663) ^ (seed * 83492791)
    u = [((h * k) % 10007) / 10007.0 for k in (1, 7919, 104729, 1299709)]
    cx, cy = (ix + 0.2 + 0.6 * u[0]) * cell, (iy + 0.2 + 0.6 * u[1]) * cell
    dist = np.hypot((x - cx) * 74.5, (y - cy) * 111.2)  # km at 48 N
    out[(u[2] < 0.45) & (dist < 0.08 + 0.12 * u[3])] = 50
    out[(u[2] >= 0.45) & (u[2] < 0.55) & (dist < 0.1)] = 60  # a quarry or bare patch
    meander = 0.05 * np.sin(2 * np.pi * 3.0 * x + p[5]) + 0.04 * np.sin(2 * np.pi * 0.7 * x + p[6])
    river = np.abs(y - 48.0 - meander) % 0.35  # a river every 0.35 degree of latitude
    out[river < 0.0015] = 90
    out[river < 0.0006] = 80
    return out


def _parcel_classes(spec: ArchiveSpec) -> np.ndarray:
    """WorldCover classes on the archive's 10 m UTM grid, from the demo world."""
    from ftw_assets.demo.world import make_demo_fields

    grid = spec.grid()
    parcels = make_parcels(grid, spec.seed)
    table = np.array([COVER_CLASS[name] for name in parcels.names] + [TRACK_CLASS], dtype=np.uint8)
    classes = table[parcels.cover.astype(np.int16)]
    fields = make_demo_fields().to_crs(TILE_EPSG).geometry
    transform = Affine(10.0, 0.0, grid.x_min, 0.0, -10.0, grid.y_max)
    inside = rasterize(((g, 1) for g in fields), out_shape=classes.shape, transform=transform, fill=0, dtype="uint8")
    classes[inside == 1] = 40
    return classes


def write_worldcover(root: Path, spec: ArchiveSpec, workers: int = 2) -> list[dict[str, Any]]:
    grid = spec.grid()
    parcels = _parcel_classes(spec)
    src_transform = Affine(10.0, 0.0, grid.x_min, 0.0, -10.0, grid.y_max)
    items = []
    for lat0, lon0 in _cells(spec.bbox(), 3):
        window = _window(spec.bbox(), lon0, lat0 + 3, WC_RES, WC_RES, 36000, 36000)
        if window is None:
            continue
        c0, r0, width, height = window
        transform = Affine(WC_RES, 0.0, lon0 + c0 * WC_RES, 0.0, -WC_RES, lat0 + 3 - r0 * WC_RES)
        lon = transform.c + WC_RES * (np.arange(width) + 0.5)
        lat = transform.f - WC_RES * (np.arange(height) + 0.5)
        classes = np.empty((height, width), dtype=np.uint8)
        for row in range(0, height, 512):  # in strips: a few 2-D temporaries of 512 rows at a time
            classes[row:row + 512] = background_classes(lon, lat[row:row + 512], spec.seed)
        reproject(parcels, classes, src_transform=src_transform, src_crs=f"EPSG:{TILE_EPSG}", src_nodata=0,
                  dst_transform=transform, dst_crs="EPSG:4326", dst_nodata=0, init_dest_nodata=False,
                  resampling=Resampling.nearest)
        tile = f"{'N' if lat0 >= 0 else 'S'}{abs(lat0):02d}{'E' if lon0 >= 0 else 'W'}{abs(lon0):03d}"
        ident = f"ESA_WorldCover_10m_2021_v200_{tile}"
        path = root / WORLDCOVER / "v200" / "2021" / "map" / f"{ident}_Map.tif"
        colours = {v: tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) + (255,) for v, _, c in CLASSES}
        write_cog(path, classes, transform, "EPSG:4326", 0, BLOCK, predictor=1, colormap=colours)  # as the real maps
        items.append(_worldcover_item(root, path, ident, tile, transform, width, height))
    return items


def _worldcover_item(root: Path, path: Path, ident: str, tile: str, transform: Affine, width: int,
                     height: int) -> dict[str, Any]:
    bbox, geometry = geo(_box(transform, width, height), 7)
    created = datetime(2022, 10, 21, 7, 35, 40, 236136, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": ident,
        "properties": {
            "esa_worldcover:product_version": "2.0.0", "esa_worldcover:product_tile": tile,
            "start_datetime": "2021-01-01T00:00:00Z", "end_datetime": "2021-12-31T23:59:59Z",
            "description": "ESA WorldCover product at 10m resolution", "mission": "sentinel-1, sentinel-2",
            "platform": "sentinel-1a, sentinel-1b, sentinel-2a, sentinel-2b", "instruments": ["c-sar", "msi"],
            "proj:epsg": 4326, "grid:code": f"ESAWORLDCOVER-{tile}", "datetime": None,
        },
        "geometry": geometry, "links": [],
        "assets": {"map": {
            "href": href(path, root), "type": COG_TYPE, "title": "Land Cover Classes",
            "description": ("Discrete classification according to the Land Cover Classification System scheme "
                            "developed by the United Nations Food and Agriculture Organization"),
            "raster:bands": [{"name": "Band1", "description": "Classification values", "nodata": 0, "sampling": "area",
                              "data_type": "uint8", "spatial_resolution": 10}],
            "classification:classes": [{"value": v, "description": d, "color-hint": c} for v, d, c in CLASSES],
            "proj:transform": list(transform)[:6], "proj:shape": [height, width], "created": created,
            "roles": ["data"],
        }},
        "bbox": bbox,
        "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                            "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
                            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                            "https://stac-extensions.github.io/classification/v1.0.0/schema.json"],
        "collection": WORLDCOVER,
    }
