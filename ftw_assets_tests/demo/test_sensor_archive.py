"""Sentinel-1, Landsat, DEM and WorldCover in the generated archive: COGs that say what they are, items
shaped like the real ones (PC sentinel-1-rtc, landsat-c2-l2, cop-dem-glo-30, esa-worldcover),
pixels consistent with the demo world, stac-geoparquet searchable like the Sentinel-2 index.

One small archive (one 1024 px block of 33UWP, 2024 only) is built for the module: Sentinel-2 first,
then the other sensors added beside it.
"""

import hashlib
import math
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate

from ftw_assets.core.scenes.sources import GeoparquetSource, SceneQuery
from ftw_assets.core.stac.validation import offline_validator
from ftw_assets.demo.archive import ALL_SENSORS, COLLECTION, ArchiveSpec, build_archive, is_built
from ftw_assets.demo.landscape import make_parcels
from ftw_assets.demo.sensors import DEM, LANDSAT, SENTINEL1, WORLDCOVER, sensor_built, sensor_parquet
from ftw_assets.demo.sensors_landsat import (
    CLEAR, CLOUD, DILATED, FILL, SHADOW, landsat_grid, landsat_sky, plan_landsat,
)
from ftw_assets.demo.sensors_s1 import plan_s1, scene_item
from ftw_assets.demo.sensors_static import CLASSES
from ftw_assets.demo.world import make_demo_fields

S2_ONLY = ArchiveSpec(block_col=8, block_row=6, block_cols=1, block_rows=1, years=(2024,))
SPEC = replace(S2_ONLY, sensors=ALL_SENSORS)
OTHERS = (SENTINEL1, LANDSAT, DEM, WORLDCOVER)


def _digests(root: Path, folder: str) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """(root, Sentinel-2 file digests before the other sensors were added)."""
    root = tmp_path_factory.mktemp("sensor-archive")
    build_archive(root, S2_ONLY)
    before = _digests(root, COLLECTION) | {n: hashlib.sha256((root / n).read_bytes()).hexdigest()
                                           for n in ("archive.json", f"{COLLECTION}.parquet")}
    assert not is_built(root, SPEC)
    build_archive(root, SPEC)
    return root, before


def _items(parquet: Path) -> list[dict]:
    """Every item of a stac-geoparquet file, read as GeoparquetSource reads them (DuckDB, stac-geoparquet)."""
    import duckdb
    import stac_geoparquet.arrow as sga

    table = duckdb.sql(f"SELECT * FROM read_parquet('{parquet}') ORDER BY id").to_arrow_table()
    return list(sga.stac_table_to_items(table))


def _read(root: Path, item: dict, key: str):
    with rasterio.open(root / item["assets"][key]["href"]) as src:
        return src.read(1), src.profile, src.transform


def test_adding_sensors_leaves_the_sentinel2_part_alone(archive):
    root, before = archive
    after = _digests(root, COLLECTION) | {n: hashlib.sha256((root / n).read_bytes()).hexdigest()
                                          for n in ("archive.json", f"{COLLECTION}.parquet")}
    assert after == before
    assert is_built(root, S2_ONLY) and is_built(root, SPEC)
    for collection in OTHERS:
        assert sensor_built(root, SPEC, collection) and sensor_parquet(root, collection).exists()
        assert (root / collection / "built.json").exists() and (root / collection / "collection.json").exists()
    assert not sensor_built(root, replace(SPEC, seed=7), DEM)  # another spec: that sensor would be rebuilt


def test_every_cog_opens_as_its_item_declares(archive):
    root, _ = archive
    for collection in OTHERS:
        items = _items(sensor_parquet(root, collection))
        assert items and all(it["collection"] == collection for it in items)
        for item in items:
            props = item["properties"]
            for key, asset in item["assets"].items():
                transform = asset.get("proj:transform") or props["proj:transform"]
                shape = asset.get("proj:shape") or props["proj:shape"]
                band = asset["raster:bands"][0]
                path = root / asset["href"]
                with rasterio.open(path) as src:
                    assert src.crs.to_epsg() == props["proj:epsg"], (item["id"], key)
                    assert list(src.transform)[:6] == transform[:6] and [src.height, src.width] == shape
                    assert src.dtypes[0] == band["data_type"] and src.nodata == band.get("nodata"), (item["id"], key)
                    if props["proj:epsg"] != 4326:
                        assert src.res == (band["spatial_resolution"],) * 2
                    # rio-cogeo calls a file "not tiled" when one block spans its width (a small cut-out here)
                    one_column = src.block_shapes[0][1] == src.width
                errors = cog_validate(str(path), quiet=True)[1]
                assert [e for e in errors if not (one_column and "is not tiled" in e)] == [], path


def test_sentinel1_backscatter_is_plausible_and_follows_the_parcels(archive):
    root, _ = archive
    items = sorted(_items(sensor_parquet(root, SENTINEL1)), key=lambda it: it["properties"]["datetime"])
    assert len(items) == len(plan_s1(SPEC)) == 6
    states = [it["properties"]["sat:orbit_state"] for it in items]
    assert states == ["descending", "ascending"] * 3
    parcels = make_parcels(SPEC.grid(), SPEC.seed)
    forest, bare_track = parcels.cover == 3, parcels.cover == -1
    for item in items:
        props = item["properties"]
        assert props["sar:instrument_mode"] == "IW" and props["sar:polarizations"] == ["VV", "VH"]
        assert (props["platform"], props["constellation"]) == ("SENTINEL-1A", "Sentinel-1")  # PC's spelling
        assert props["proj:transform"][:6] == [10.0, 0.0, SPEC.grid().x_min, 0.0, -10.0, SPEC.grid().y_max]
        assert (props["sat:absolute_orbit"] - 73) % 175 + 1 == props["sat:relative_orbit"]
        vv, profile, _ = _read(root, item, "vv")
        vh, _, _ = _read(root, item, "vh")
        assert profile["nodata"] == -32768 and vv.dtype == np.float32
        for power in (vv, vh):
            db = 10 * np.log10(power)
            assert -30 <= db.min() and db.max() <= 10
        vv_db, vh_db = 10 * np.log10(vv), 10 * np.log10(vh)
        assert -14 < np.median(vv_db) < -8 and -22 < np.median(vh_db) < -14 and np.median(vv_db) > np.median(vh_db) + 4
        assert 2 < vv_db.std() < 6  # speckle of 4.4 looks alone is 2.2 dB
        assert np.mean(vv_db[forest]) > np.mean(vv_db[bare_track]) + 4  # forest is bright, tracks are dark


def test_sentinel1_datetimes_are_written_as_planetary_computer_serves_them(archive):
    root, _ = archive
    scene = plan_s1(SPEC)[0]
    props = scene_item(scene, SPEC.grid(), {})["properties"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00", props["start_datetime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", props["datetime"])
    # stac-geoparquet stores them as timestamps: the same instant comes back in ISO form.
    stored = next(it for it in _items(sensor_parquet(root, SENTINEL1)) if it["id"] == scene.id)["properties"]
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert parse(stored["start_datetime"]) == parse(props["start_datetime"]) == scene.start


def test_landsat_has_its_own_30m_grid(archive):
    root, _ = archive
    transform, width, height = landsat_grid(SPEC)
    grid = SPEC.grid()
    assert transform.a == 30 and transform.e == -30
    assert transform.c % 30 == 15 and transform.f % 30 == 15  # the USGS grid: corners at 15 m (mod 30)
    assert (transform.c - grid.x_min) % 10 == 5 and (grid.y_max - transform.f) % 10 == 5  # off the 10 m grid
    assert grid.x_min <= transform.c and transform.c + 30 * width <= grid.x_min + 10 * grid.width
    items = _items(sensor_parquet(root, LANDSAT))
    assert {it["properties"]["platform"] for it in items} == {"landsat-8", "landsat-9"}
    for item in items:
        props = item["properties"]
        assert props["proj:transform"] == list(transform)[:6] and props["proj:shape"] == [height, width]
        assert (props["landsat:wrs_path"], props["landsat:wrs_row"]) == ("190", "027")
        assert item["id"].startswith(f"LC0{props['platform'][-1]}_L2SP_190027_")
        red = item["assets"]["red"]["raster:bands"][0]
        assert (red["scale"], red["offset"], red["nodata"]) == (2.75e-05, -0.2, 0)


def test_qa_pixel_marks_the_planted_clouds(archive):
    root, _ = archive
    transform, width, height = landsat_grid(SPEC)
    cloudy_scenes, clear_beside_clouds, seen = 0, 0, set()
    by_id = {it["id"]: it for it in _items(sensor_parquet(root, LANDSAT))}
    for scene in plan_landsat(SPEC):
        item = by_id[scene.id]
        qa, profile, _ = _read(root, item, "qa_pixel")
        red, _, _ = _read(root, item, "red")
        assert profile["nodata"] == 1 and not (qa & FILL).any() and (red > 0).all()
        cloud, dilated, clear = (qa & CLOUD) > 0, (qa & DILATED) > 0, (qa & CLEAR) > 0
        assert not (clear & (cloud | dilated)).any() and (clear | cloud | dilated).all()  # the real bits' meaning
        assert not ((qa & SHADOW) > 0)[cloud].any()
        share = round(100.0 * float((cloud | dilated).mean()), 2)
        assert item["properties"]["eo:cloud_cover"] == share == item["properties"]["landsat:cloud_cover_land"]
        sky = landsat_sky(scene, transform, width, height, SPEC.seed)
        xs = transform.c + 30 * (np.arange(width) + 0.5)
        ys = transform.f - 30 * (np.arange(height) + 0.5)
        far = np.ones((height, width), dtype=bool)
        for c in sky.clouds:
            col, row = int((c.x - transform.c) // 30), int((transform.f - c.y) // 30)
            assert cloud[row, col] and not clear[row, col], (scene.id, c)  # the cloud's centre is flagged
            assert red[row, col] * 2.75e-05 - 0.2 > 0.3  # and bright
            near_x = np.abs(xs - c.x) < 4.5 * c.sigma_m + 700
            near_y = np.abs(ys - c.y) < 4.5 * c.sigma_m + 700
            far &= ~(near_y[:, None] & near_x[None, :])  # beyond the blob and its shadow
        assert (qa[far] == 21824).all()  # clear land, low confidences: the real value
        cloudy_scenes += bool(sky.clouds)
        clear_beside_clouds += int(far.sum()) if sky.clouds else 0
        seen |= set(np.unique(qa).tolist())
        if not sky.clouds:
            assert share == 0 and (qa == 21824).all()
    assert 0 < cloudy_scenes < len(by_id) and clear_beside_clouds > 10000
    assert seen == {21824, 21762, 22280, 23888}  # clear, dilated cloud, cloud, cloud shadow: the real values


def _whole_blocks(pixels: float, block: int = 1024) -> bool:
    return abs(pixels - round(pixels)) < 1e-6 and round(pixels) % block == 0


def test_dem_tiles_are_on_the_glo30_grid(archive):
    root, _ = archive
    items = _items(sensor_parquet(root, DEM))
    w, s, e, n = SPEC.bbox()
    cells = {(lat, lon) for lat in range(math.floor(s), math.ceil(n)) for lon in range(math.floor(w), math.ceil(e))}
    assert {it["id"] for it in items} == {f"Copernicus_DSM_COG_10_N{lat:02d}_00_E{lon:03d}_00_DEM"
                                          for lat, lon in cells}
    for item in items:
        name = re.fullmatch(r"Copernicus_DSM_COG_10_N(\d\d)_00_E(\d{3})_00_DEM", item["id"])
        lat0, lon0 = int(name[1]), int(name[2])
        heights, profile, transform = _read(root, item, "data")
        assert transform.a == 1 / 3600 and transform.e == -1 / 3600  # 1 arc second, exactly
        # pixel centres on whole degrees: the tile's grid starts half a pixel west and north of the cell
        assert _whole_blocks((transform.c - (lon0 - 1 / 7200)) * 3600)
        assert _whole_blocks(((lat0 + 1 + 1 / 7200) - transform.f) * 3600)
        assert profile["dtype"] == "float32" and profile["nodata"] is None
        assert 150 < heights.min() and heights.max() < 600 and heights.max() - heights.min() > 20
        assert np.abs(np.diff(heights, axis=1)).max() < 2.0  # smooth: under 2 m per 30 m pixel
        band = item["assets"]["data"]["raster:bands"][0]
        assert band["unit"] == "meter" and item["properties"]["grid:code"] == f"CDEM-N{lat0:02d}E{lon0:03d}"
        box = shapely.box(*item["bbox"])
        assert box.contains(shapely.box(*SPEC.bbox()).intersection(shapely.box(lon0, lat0, lon0 + 1, lat0 + 1)))


def test_worldcover_is_cropland_over_the_demo_fields(archive):
    root, _ = archive
    (item,) = _items(sensor_parquet(root, WORLDCOVER))
    assert item["id"] == "ESA_WorldCover_10m_2021_v200_N48E015"
    props = item["properties"]
    assert props["datetime"] is None and props["esa_worldcover:product_version"] == "2.0.0"
    assert props["start_datetime"].startswith("2021-01-01") and props["end_datetime"].startswith("2021-12-31")
    asset = item["assets"]["map"]
    assert [c["value"] for c in asset["classification:classes"]] == [v for v, _, _ in CLASSES]
    assert asset["classification:classes"][3] == {"value": 40, "description": "Cropland", "color-hint": "F096FF"}
    classes, profile, transform = _read(root, item, "map")
    assert transform.a == 1 / 12000 and profile["nodata"] == 0 and profile["dtype"] == "uint8"
    # cut to whole 1024 px blocks of the 3 x 3 degree tile N48E015
    assert _whole_blocks((transform.c - 15) * 12000) and _whole_blocks((51 - transform.f) * 12000)
    values, counts = np.unique(classes, return_counts=True)
    assert set(values.tolist()) <= {v for v, _, _ in CLASSES} and len(values) >= 4
    assert values[np.argmax(counts)] == 40
    # The demo fields inside the archive's area, and its forest parcels, as WorldCover maps them.
    grid = SPEC.grid()
    area = shapely.box(grid.x_min, grid.y_max - 10 * grid.height, grid.x_min + 10 * grid.width, grid.y_max)
    fields = [g for g in make_demo_fields().geometry if area.contains(g)]
    to_wgs = Transformer.from_crs(32633, 4326, always_xy=True)

    def sample(x, y):
        row, col = rasterio.transform.rowcol(transform, *to_wgs.transform(x, y))
        return classes[row, col]

    assert len(fields) > 20 and all(sample(*shapely.Point(g.centroid).coords[0]) == 40 for g in fields)
    parcels = make_parcels(grid, SPEC.seed)  # the parcels Sentinel-2 sees; forest ones away from the demo fields
    rows, cols = np.nonzero(parcels.cover == 3)
    demo = shapely.union_all(make_demo_fields().geometry.buffer(30))
    solid = [(r, c) for r, c in zip(rows[::97], cols[::97])
             if (parcels.cover[max(r - 3, 0):r + 4, max(c - 3, 0):c + 4] == 3).all()
             and not demo.contains(shapely.Point(grid.x_min + 10 * c + 5, grid.y_max - 10 * r - 5))]
    assert solid and all(sample(grid.x_min + 10 * c + 5, grid.y_max - 10 * r - 5) == 10 for r, c in solid)


def test_items_validate_and_are_searchable(archive):
    root, _ = archive
    validator = offline_validator()
    query = SceneQuery(datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, tzinfo=timezone.utc),
                       bbox=SPEC.bbox())
    for collection in OTHERS:
        parquet = sensor_parquet(root, collection)
        items = _items(parquet)
        for item in items:
            # Core schema offline (pystac writes it as STAC 1.1.0), and each extension whose schema is shipped
            # under ftw_assets/core/stac/schemas (none of these yet: sar, sat, raster, ... v1 are not there).
            d = pystac.Item.from_dict(item, migrate=False).to_dict(include_self_link=False, transform_hrefs=False)
            validator.validate_core(d, pystac.STACObjectType.ITEM, d["stac_version"])
            for ext in d["stac_extensions"]:
                if ext in validator.schema_cache or ext + "#" in validator.schema_cache:
                    validator.validate_extension(d, pystac.STACObjectType.ITEM, d["stac_version"], ext)
            assert item["links"][0] == {"rel": "collection", "href": f"{collection}/collection.json",
                                        "type": "application/json"}
        stac_collection = pystac.Collection.from_file(str(root / collection / "collection.json"))
        d = stac_collection.to_dict(include_self_link=False, transform_hrefs=False)
        validator.validate_core(d, pystac.STACObjectType.COLLECTION, d["stac_version"])
        assert stac_collection.id == collection
        # Searched like the Sentinel-2 index: bbox and dates in SQL, hrefs made absolute.
        source = GeoparquetSource(parquet, collection)
        found = [source._resolve(it) for it in source._items(query)]
        if collection == WORLDCOVER:  # datetime is null: found by start_datetime/end_datetime, stored as timestamps
            import duckdb

            sql = f"SELECT start_datetime, end_datetime FROM read_parquet('{parquet}')"
            ((start, end),) = duckdb.sql(sql).fetchall()
            assert (start.year, end.year, start.month, end.month) == (2021, 2021, 1, 12)
        else:
            assert sorted(it["id"] for it in found) == sorted(it["id"] for it in items)
            assert all(Path(a["href"]).is_absolute() and Path(a["href"]).exists()
                       for it in found for a in it["assets"].values())
