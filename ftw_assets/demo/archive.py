"""The local Sentinel-2 archive: a generated, realistic stand-in for EarthSearch ``sentinel-2-c1-l2a``.

:func:`build_archive` writes, under one folder:

- ``sentinel-2-c1-l2a/33/U/WP/{year}/{month}/{id}/{B02,...,SCL,CLD_20m}.tif``: COGs laid out like the
  real ones (10 m bands uint16 in 1024 px blocks, 20 m bands and ``scl``/``cloud`` in 512 px blocks,
  DEFLATE with predictor 2, nodata 0) on the true Sentinel-2 tile grid of 33UWP, cut to a few blocks
  around the demo site so that generation takes seconds;
- ``sentinel-2-c1-l2a.parquet``: the items as stac-geoparquet, shaped like real c1 items (same asset
  keys, ``raster:bands``, ``proj:*``, ``grid:code``, ``s2:*``), with hrefs relative to the folder;
- ``archive.json``: the spec it was built from; a folder with a matching spec is reused.

``ArchiveSpec.sensors`` adds other collections over the same area (Sentinel-1 RTC, Landsat C2 L2,
Copernicus DEM, ESA WorldCover): each is written by :mod:`ftw_assets.demo.sensors` into its own folder
with its own built-marker and ``{collection}.parquet`` beside the Sentinel-2 one, so it can be added
to an existing archive; the Sentinel-2 output and ``archive.json`` do not depend on ``sensors``.

:meth:`ArchiveSpec.describe` says which area (lon/lat bbox, MGRS tile) and dates an archive covers
without building it; :func:`ensure_archive` announces a generation before it starts.

The weather is scripted per date (:data:`SCHEDULE`) so that selection has something to decide: fully
clear scenes, scattered clouds away from the demo chips (scene-level cover 2-8 %), overcast scenes, a
scene with one small cloud over one demo chip (scene-level cover well under 1 %, chip-level high),
and scenes from a neighbouring orbit whose swath edge leaves the western chips without data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

from ftw_assets.core.atomic import atomic_path, write_text
from ftw_assets.demo.landscape import (
    LAND_BANDS, SCL_CIRRUS, SCL_CLOUD_HIGH, SCL_CLOUD_MEDIUM, SCL_SHADOW, SCL_VEGETATION, Cloud, Grid10m, SceneSky,
    block_mean, make_parcels, render_scene, subsample,
)

COLLECTION = "sentinel-2-c1-l2a"
# Every collection the archive can hold; the others are written by ftw_assets.demo.sensors.
ALL_SENSORS = (COLLECTION, "sentinel-1-rtc", "landsat-c2-l2", "cop-dem-glo-30", "esa-worldcover")
TILE = "33UWP"
TILE_EPSG = 32633
TILE_ORIGIN = (499980.0, 5400000.0)  # upper-left corner of tile 33UWP on the Sentinel-2 tiling grid
BLOCK_10M = 1024
# The crop calendar over the demo chips (the 0.5 degree pixel 47.75-48.25 N, 16.0-16.5 E):
# planting on day 92, harvest on day 302.
PLANTING_DAY, HARVEST_DAY = 92, 302
LOCAL_CLOUD_AT = (579000.0, 5331000.0)  # centre of demo chip ftw-33UWP7830
DEMO_BLOCK = (577000.0, 5327000.0, 587000.0, 5333000.0)  # kept free of scattered clouds
SWATH_EDGE_X = 581000.0  # orbit R079 covers only the part east of about this easting

# (band name, file name, asset key, resolution, eo:bands name, centre wavelength, fwhm, title)
BANDS = (
    ("blue", "B02", "blue", 10, "B02", 0.49, 0.098, "Blue - 10m"),
    ("green", "B03", "green", 10, "B03", 0.56, 0.045, "Green - 10m"),
    ("red", "B04", "red", 10, "B04", 0.665, 0.038, "Red - 10m"),
    ("nir", "B08", "nir", 10, "B08", 0.842, 0.145, "NIR 1 - 10m"),
    ("rededge1", "B05", "rededge1", 20, "B05", 0.704, 0.019, "Red Edge 1 - 20m"),
    ("rededge2", "B06", "rededge2", 20, "B06", 0.74, 0.018, "Red Edge 2 - 20m"),
    ("rededge3", "B07", "rededge3", 20, "B07", 0.783, 0.028, "Red Edge 3 - 20m"),
    ("nir08", "B8A", "nir08", 20, "B8A", 0.865, 0.033, "NIR 2 - 20m"),
    ("swir16", "B11", "swir16", 20, "B11", 1.61, 0.143, "SWIR 1.6μm - 20m"),
    ("swir22", "B12", "swir22", 20, "B12", 2.19, 0.242, "SWIR 2.2μm - 20m"),
    ("scl", "SCL", "scl", 20, None, None, None, "Scene classification map (SCL)"),
    ("cloud", "CLD_20m", "cloud", 20, None, None, None, "Cloud Probabilities"),
)
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]

# Per year and season: (weather, relative orbit) for dates every 5 days from 13 days before the
# target to 12 days after. R122 covers the whole area; R079's swath edge leaves the west without data.
SCHEDULE: dict[str, list[tuple[str, int]]] = {
    "2024-planting": [("overcast", 122), ("scattered", 79), ("clear", 79), ("local", 122), ("scattered", 122), ("overcast", 79)],
    "2024-harvest": [("scattered", 122), ("overcast", 79), ("clear", 79), ("clear", 122), ("local", 122), ("overcast", 79)],
    "2021-planting": [("scattered", 122), ("overcast", 79), ("clear", 122), ("overcast", 79), ("scattered", 122), ("local", 79)],
    "2021-harvest": [("overcast", 122), ("overcast", 79), ("overcast", 122), ("scattered", 79), ("overcast", 122), ("clear", 79)],
}
DAY_OFFSETS = (-13, -8, -3, 2, 7, 12)
BASELINES = {2021: ("03.01",), 2024: ("05.10", "05.11")}


@dataclass(frozen=True)
class ArchiveSpec:
    """What to generate: which 1024 px blocks of tile 33UWP (first column, first row, columns, rows)."""

    block_col: int = 7
    block_row: int = 6
    block_cols: int = 2
    block_rows: int = 2
    years: tuple[int, ...] = (2021, 2024)
    seed: int = 42
    version: int = 2  # bump when the generator's output changes
    # Collections to generate (ALL_SENSORS lists them); not part of archive.json, so an existing
    # Sentinel-2 archive stays valid and other sensors are added beside it.
    sensors: tuple[str, ...] = (COLLECTION,)

    def __post_init__(self) -> None:
        unknown = [c for c in self.sensors if c not in ALL_SENSORS]
        if unknown or not self.sensors:
            raise ValueError(f"unknown or no sensors {unknown or list(self.sensors)}: "
                             f"use some of {', '.join(ALL_SENSORS)}")

    def grid(self) -> Grid10m:
        x0 = TILE_ORIGIN[0] + self.block_col * BLOCK_10M * 10
        y1 = TILE_ORIGIN[1] - self.block_row * BLOCK_10M * 10
        return Grid10m(x0, y1, self.block_cols * BLOCK_10M, self.block_rows * BLOCK_10M)

    def bbox(self) -> tuple[float, float, float, float]:
        """The covered area as (west, south, east, north) WGS84 degrees, rounded to 3 decimals (about
        100 m): the bounds of the rendered grid, known without building anything."""
        grid = self.grid()
        box = shapely.segmentize(shapely.box(grid.x_min, grid.y_max - grid.height * 10,
                                             grid.x_min + grid.width * 10, grid.y_max), 1000.0)
        to_wgs = Transformer.from_crs(TILE_EPSG, 4326, always_xy=True)
        lon, lat = to_wgs.transform(*np.asarray(box.exterior.coords).T)
        return (_round_down(lon.min()), _round_down(lat.min()), _round_up(lon.max()), _round_up(lat.max()))

    def describe(self) -> str:
        """Where and when the archive has scenes, for messages."""
        w, s, e, n = self.bbox()
        years = ", ".join(str(y) for y in self.years)
        others = [c for c in self.sensors if c != COLLECTION]
        return (f"MGRS tile {TILE} at lon {w:.3f}..{e:.3f}, lat {s:.3f}..{n:.3f}: {len(plan_scenes(self))} scenes "
                f"around the planting and harvest dates of {years}" + (f", with {', '.join(others)}" if others else ""))

    def estimated_mb(self) -> int:
        """About how many MB the archive takes on disk (rounded to 10 MB)."""
        blocks = self.block_cols * self.block_rows
        mb = len(plan_scenes(self)) * blocks * MB_PER_SCENE_BLOCK if COLLECTION in self.sensors else 0.0
        if any(c != COLLECTION for c in self.sensors):
            from ftw_assets.demo.sensors import estimated_mb

            mb += estimated_mb(self)
        return max(10, int(round(mb, -1)))


# Disk use in MB (2**20 bytes, as du -h counts) of one scene over one 1024 px block (12 COGs), measured on
# the default archive (356 MB for 24 scenes x 4 blocks).
MB_PER_SCENE_BLOCK = 3.7


def _round_down(v: float) -> float:
    return float(np.floor(v * 1000) / 1000)


def _round_up(v: float) -> float:
    return float(np.ceil(v * 1000) / 1000)


@dataclass(frozen=True)
class PlannedScene:
    id: str
    when: datetime
    season: str
    weather: str
    orbit: int
    platform: str
    baseline: str
    progress: float

    @property
    def folder(self) -> str:
        return f"{COLLECTION}/{TILE[:2]}/{TILE[2]}/{TILE[3:]}/{self.when.year}/{self.when.month}/{self.id}"


def plan_scenes(spec: ArchiveSpec) -> list[PlannedScene]:
    scenes = []
    for year in spec.years:
        for season, doy in (("planting", PLANTING_DAY), ("harvest", HARVEST_DAY)):
            schedule = SCHEDULE.get(f"{year}-{season}") or SCHEDULE[f"2024-{season}"]
            target = date(year, 1, 1) + timedelta(days=doy - 1)
            for i, ((weather, orbit), offset) in enumerate(zip(schedule, DAY_OFFSETS)):
                day = target + timedelta(days=offset)
                second = (day.toordinal() * 7) % 60
                when = datetime(day.year, day.month, day.day, 10, 6 if orbit == 122 else 16, second, tzinfo=timezone.utc)
                platform = "sentinel-2a" if day.toordinal() % 2 == 0 else "sentinel-2b"
                baselines = BASELINES.get(year) or (("05.10",) if year >= 2022 else ("02.14",))
                ident = f"S2{platform[-1].upper()}_T{TILE}_{when:%Y%m%dT%H%M%S}_L2A"
                scenes.append(PlannedScene(ident, when, season, weather, orbit, platform,
                                           baselines[i % len(baselines)], offset / 13.0))
    return scenes


def sky_for(scene: PlannedScene, grid: Grid10m, seed: int) -> SceneSky:
    rng = np.random.default_rng([seed, scene.when.toordinal()])
    clouds: list[Cloud] = []
    if scene.weather == "overcast":
        for _ in range(int(grid.width * grid.height / 2048**2 * 60)):
            clouds.append(Cloud(grid.x_min + rng.uniform(0, grid.width * 10), grid.y_max - rng.uniform(0, grid.height * 10),
                                float(rng.uniform(1200, 2500)), float(rng.uniform(0.6, 1.0))))
    elif scene.weather in ("scattered", "local"):
        n = int(rng.integers(3, 7)) if scene.weather == "scattered" else 0
        while len(clouds) < n:
            x = grid.x_min + rng.uniform(0, grid.width * 10)
            y = grid.y_max - rng.uniform(0, grid.height * 10)
            sigma = float(rng.uniform(350, 700))
            margin = 4.5 * sigma + 600  # blob plus its shadow stay off the demo chips
            if DEMO_BLOCK[0] - margin < x < DEMO_BLOCK[2] + margin and DEMO_BLOCK[1] - margin < y < DEMO_BLOCK[3] + margin:
                continue
            clouds.append(Cloud(x, y, sigma, float(rng.uniform(0.7, 1.0))))
        if scene.weather == "local":
            clouds.append(Cloud(*LOCAL_CLOUD_AT, 260.0, 1.0))
    edge = None
    if scene.orbit == 79:
        # Nodata west of a slightly slanted line through SWATH_EDGE_X at the demo site.
        edge = (1.0, -0.1, SWATH_EDGE_X - 0.1 * 5330000.0)
    return SceneSky(tuple(clouds), swath_edge=edge, season_progress=scene.progress)


def is_built(root: str | Path, spec: ArchiveSpec = ArchiveSpec()) -> bool:
    """Whether ``root`` holds the archive of ``spec`` (so :func:`build_archive` only reuses it): the
    Sentinel-2 part when ``spec.sensors`` has it, and each other sensor's folder."""
    others = [c for c in spec.sensors if c != COLLECTION]
    if others:
        from ftw_assets.demo.sensors import sensor_built

        if not all(sensor_built(root, spec, c) for c in others):
            return False
    return COLLECTION not in spec.sensors or _s2_built(Path(root), spec)


def _s2_built(root: Path, spec: ArchiveSpec) -> bool:
    manifest = root / "archive.json"
    return ((root / f"{COLLECTION}.parquet").exists() and manifest.exists()
            and manifest.read_text(encoding="utf-8") == _spec_json(spec))


def ensure_archive(root: str | Path, spec: ArchiveSpec = ArchiveSpec(),
                   announce: Callable[[str], None] | None = None) -> Path:
    """:func:`build_archive`, first telling ``announce`` when the archive is generated (it takes a
    minute or more and hundreds of MB), with where it goes and what it covers."""
    root = Path(root)
    if announce is not None and not is_built(root, spec):
        announce(f"generating the local Sentinel-2 archive in {root} (about {spec.estimated_mb()} MB, "
                 f"covers {spec.describe()}); later runs reuse it")
    return build_archive(root, spec)


def build_archive(root: str | Path, spec: ArchiveSpec = ArchiveSpec(), workers: int = 2) -> Path:
    """Generate the archive under ``root`` (reusing it when ``archive.json`` matches ``spec``);
    return the Sentinel-2 stac-geoparquet path (with no Sentinel-2 in ``spec.sensors``, the first
    sensor's). The other sensors' files are ``sensors.sensor_parquet(root, collection)``."""
    from filelock import FileLock

    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    # Processes building the same archive at once (two `ftwd demo`, the test processes): one builds, the
    # others wait and reuse it, instead of each clearing the other's half-written scenes.
    with FileLock(str(root) + ".lock"):
        s2 = _build_s2(root, spec, workers) if COLLECTION in spec.sensors else None
        others = [c for c in spec.sensors if c != COLLECTION]
        if others:
            from ftw_assets.demo.sensors import build_sensor

            paths = [build_sensor(root, spec, c, workers) for c in others]
            return s2 or paths[0]
    assert s2 is not None
    return s2


def _build_s2(root: Path, spec: ArchiveSpec, workers: int) -> Path:
    parquet = root / f"{COLLECTION}.parquet"
    manifest = root / "archive.json"
    wanted = _spec_json(spec)
    if _s2_built(root, spec):
        return parquet
    if (root / COLLECTION).exists():
        shutil.rmtree(root / COLLECTION)  # a different or unfinished archive: start clean
    grid = spec.grid()
    parcels = make_parcels(grid, spec.seed)
    planned = plan_scenes(spec)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        items = list(pool.map(lambda s: _write_scene(root, s, grid, parcels, spec.seed), planned))
    _write_parquet(parquet, items)
    write_text(manifest, wanted)
    return parquet


def _spec_json(spec: ArchiveSpec) -> str:
    fields = asdict(spec)
    del fields["sensors"]  # the Sentinel-2 part does not depend on which other sensors are added
    return json.dumps(fields, sort_keys=True, indent=1)


def _write_scene(root: Path, scene: PlannedScene, grid: Grid10m, parcels, seed: int) -> dict[str, Any]:
    sky = sky_for(scene, grid, seed)
    pixels = render_scene(grid, parcels, sky, scene.season, seed=seed * 100003 + scene.when.toordinal())
    offset = 1000 if scene.baseline >= "04.00" else 0
    valid10 = pixels["valid"]
    valid20 = block_mean(valid10.astype(np.float32)) == 1.0
    scl20 = np.where(valid20, subsample(pixels["scl"]), 0).astype(np.uint8)
    cloud20 = np.where(valid20, subsample(pixels["cloud"]), 0).astype(np.uint8)
    folder = root / scene.folder
    assets: dict[str, Any] = {}
    for name, fname, key, res, eo_name, wl, fwhm, title in BANDS:
        if name == "scl":
            data = scl20
        elif name == "cloud":
            data = cloud20
        else:
            refl = pixels[name] if res == 10 else np.where(valid20, block_mean(pixels[name]), 0)
            data = np.where(refl > 0, np.clip(np.rint(refl) + offset, 1, 65535), 0).astype(np.uint16)
        path = folder / f"{fname}.tif"
        transform = Affine(res, 0, grid.x_min, 0, -res, grid.y_max)
        _write_cog(path, data, transform, blocksize=BLOCK_10M if res == 10 else BLOCK_10M // 2)
        assets[key] = _asset(path, root, name, data, transform, res, eo_name, wl, fwhm, title, offset)
    del pixels
    return _item(scene, grid, assets, valid10, scl20, valid20, offset)


def _write_cog(path: Path, data: np.ndarray, transform: Affine, blocksize: int, crs: str = f"EPSG:{TILE_EPSG}",
               nodata: float | None = 0, predictor: int = 2, colormap: dict[int, tuple] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".tif") as tmp:
        with rasterio.open(
            tmp, "w", driver="COG", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype.name,
            crs=crs, transform=transform, nodata=nodata, BLOCKSIZE=blocksize, COMPRESS="DEFLATE",
            PREDICTOR=predictor, OVERVIEWS="NONE",
        ) as dst:
            dst.write(data, 1)
            if colormap:
                dst.write_colormap(1, colormap)


def _asset(path, root, name, data, transform, res, eo_name, wl, fwhm, title, offset) -> dict[str, Any]:
    raw = path.read_bytes()
    rb: dict[str, Any] = {"nodata": 0, "data_type": data.dtype.name, "spatial_resolution": res}
    roles = ["data"]
    if name in LAND_BANDS:
        rb.update(scale=0.0001, offset=-0.1 if offset else 0)
        roles.append("reflectance")
    asset: dict[str, Any] = {
        "href": path.relative_to(root).as_posix(),
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "title": title,
    }
    if eo_name:
        asset["eo:bands"] = [{"name": eo_name, "common_name": name, "center_wavelength": wl, "full_width_half_max": fwhm}]
    asset.update({
        "gsd": res, "proj:shape": [int(data.shape[0]), int(data.shape[1])], "proj:transform": list(transform)[:6],
        "raster:bands": [rb], "file:checksum": "1220" + hashlib.sha256(raw).hexdigest(), "file:size": len(raw),
        "roles": roles,
    })
    return asset


def _item(scene: PlannedScene, grid: Grid10m, assets, valid10, scl20, valid20, offset) -> dict[str, Any]:
    n_valid = int(valid20.sum())
    share = (lambda *classes: round(100.0 * float(np.isin(scl20[valid20], classes).sum()) / max(n_valid, 1), 6))
    medium, high, cirrus = share(SCL_CLOUD_MEDIUM), share(SCL_CLOUD_HIGH), share(SCL_CIRRUS)
    footprint_utm = _valid_footprint(grid, valid10)
    to_wgs = Transformer.from_crs(TILE_EPSG, 4326, always_xy=True)
    footprint = shapely.transform(footprint_utm, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))
    centroid = footprint.centroid
    proc = f"N{scene.baseline.replace('.', '')}"
    generated = scene.when + timedelta(hours=2, minutes=17)
    props = {
        "created": (scene.when + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "platform": scene.platform, "constellation": "sentinel-2", "instruments": ["msi"],
        "eo:cloud_cover": min(round(medium + high + cirrus, 6), 100.0),
        "proj:epsg": TILE_EPSG, "proj:code": f"EPSG:{TILE_EPSG}",
        "proj:centroid": {"lat": round(centroid.y, 5), "lon": round(centroid.x, 5)},
        "mgrs:utm_zone": int(TILE[:2]), "mgrs:latitude_band": TILE[2], "mgrs:grid_square": TILE[3:],
        "grid:code": f"MGRS-{TILE}",
        "view:sun_azimuth": 155.0 if scene.season == "planting" else 165.0,
        "view:sun_elevation": 45.0 if scene.season == "planting" else 30.0,
        "s2:nodata_pixel_percentage": round(100.0 * (1 - float(valid10.mean())), 6),
        "s2:cloud_shadow_percentage": share(SCL_SHADOW),
        "s2:vegetation_percentage": share(SCL_VEGETATION),
        "s2:medium_proba_clouds_percentage": medium,
        "s2:high_proba_clouds_percentage": high,
        "s2:thin_cirrus_percentage": cirrus,
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": scene.baseline,
        "s2:product_uri": f"S2{scene.platform[-1].upper()}_MSIL2A_{scene.when:%Y%m%dT%H%M%S}_{proc}_R{scene.orbit:03d}_T{TILE}_{generated:%Y%m%dT%H%M%S}.SAFE",
        "s2:generation_time": generated.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "sat:relative_orbit": scene.orbit,
        "processing:software": {"ftw_assets.demo.archive": "1"},
        "datetime": scene.when.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
    }
    return {
        "type": "Feature", "stac_version": "1.1.0", "stac_extensions": STAC_EXTENSIONS, "id": scene.id,
        "collection": COLLECTION, "bbox": [round(v, 6) for v in footprint.bounds],
        "geometry": shapely.geometry.mapping(footprint), "properties": props, "links": [], "assets": assets,
    }


def _valid_footprint(grid: Grid10m, valid: np.ndarray) -> shapely.Polygon:
    box = shapely.box(grid.x_min, grid.y_max - grid.height * 10, grid.x_min + grid.width * 10, grid.y_max)
    if valid.all():
        return box
    from rasterio.features import shapes

    transform = Affine(10, 0, grid.x_min, 0, -10, grid.y_max)
    polys = [shapely.geometry.shape(g) for g, v in shapes(valid.astype(np.uint8), transform=transform) if v == 1]
    return shapely.simplify(shapely.union_all(polys), 10.0).intersection(box)


def _write_parquet(path: Path, items: list[dict[str, Any]],
                   key: Callable[[dict[str, Any]], Any] = lambda it: it["properties"]["datetime"]) -> None:
    import stac_geoparquet.arrow as sga

    items = sorted(items, key=key)
    table = sga.parse_stac_items_to_arrow(items)
    with atomic_path(path, suffix=".parquet") as tmp:
        sga.to_parquet(table, tmp)
    os.utime(path)
