"""``ftwd create-dataset --sensors s2,s1,landsat,dem,landcover --download-images`` on the demo through
the real STAC API (stac-fastapi-pgstac serving all five generated collections, COGs over HTTP behind a
counting proxy): every image on its chip's mask grid, plausible values, one search per tile x window
per sensor, the checks clean and the STAC valid. Also the inputs refused before anything is written."""

import json
from dataclasses import replace

import duckdb
import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster.cog import read_grid
from ftw_assets.core.sensors.checks import check_sensor_images
from ftw_assets.core.sensors.choice import SensorRequest, choose_batch
from ftw_assets.core.sensors.quality import WORLDCOVER_CLASSES, to_db
from ftw_assets.core.sensors.read import read_sensor_chip
from ftw_assets.core.sensors.search import open_sensor_source
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.demo.archive import ALL_SENSORS, ArchiveSpec, build_archive
from ftw_assets.demo.sensors import sensor_parquet
from ftw_assets_tests.helpers import ftwd
from ftw_assets_tests.servers.harness import FaultProxy, PgstacServer, archive_for_api, pgstac_missing

SENSORS = "s2,s1,landsat,dem,landcover"
# image files per chip-year beside the masks, by sensor
FILES = {"s1": ("planting_image_s1", "harvest_image_s1"),
         "landsat": ("planting_image_landsat", "harvest_image_landsat", "planting_qa_landsat", "harvest_qa_landsat"),
         "dem": ("image_dem",), "landcover": ("image_landcover",)}


@pytest.fixture(scope="module")
def sensor_root(archive_parquet):
    """The test archive's folder with the other sensors generated beside the Sentinel-2 part (left as it is)."""
    build_archive(archive_parquet.parent, replace(ArchiveSpec(), sensors=ALL_SENSORS))
    return archive_parquet.parent


@pytest.fixture(scope="module")
def sensors_api(sensor_root, cog_server):
    """stac-fastapi-pgstac serving the Sentinel-2 archive and the other sensors generated beside it."""
    reason = pgstac_missing()
    if reason:
        pytest.skip(f"the STAC API server cannot start: {reason}")
    root = sensor_root
    s2, *others = (archive_for_api(sensor_parquet(root, c), cog_server.url) for c in ALL_SENSORS)
    server = PgstacServer(*s2, more=others)
    yield server
    server.stop()


def test_every_sensor_through_the_stac_api_on_the_mask_grid(tmp_path, demo_inputs, sensors_api, archive_parquet):
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    proxy = FaultProxy(sensors_api.port)
    try:
        proxy.set()  # no faults: it counts the requests that reach the server
        run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", proxy.url,
                   "--collection", "sentinel-2-c1-l2a", "--crop-calendar-dir", calendar, "--download-images",
                   "--no-refine-cloud", "--sensors", SENSORS)
        assert run.returncode == 0, run.stderr + run.stdout
        assert "Sentinel-1 IW: 16 of 16 images written, 0 without a scene" in run.stdout
        assert "ESA WorldCover 10 m: 8 of 8 images written" in run.stdout
        # one search per MGRS tile x window: S2, S1 and Landsat two windows each, DEM and land cover one
        assert proxy.stats()["paths"].get("/search") == 2 + 2 + 2 + 1 + 1
    finally:
        proxy.stop()
    layout = Layout(out, "ds")
    folders = sorted(p for p in (out / "ds-chips").iterdir() if p.is_dir() and p.name.startswith("ftw-"))
    assert len(folders) == 8
    for folder in folders:
        mask = read_grid(folder / f"{folder.name}_instance.tif")
        for sensor, names in FILES.items():
            for name in names:
                path = folder / f"{folder.name}_{name}.tif"
                assert read_grid(path) == mask, path  # CRS, transform and shape of the masks
        with rasterio.open(folder / f"{folder.name}_planting_image_s1.tif") as src:
            assert src.descriptions == ("vv", "vh")
            db = to_db(src.read())
            assert all(-30 < np.nanmedian(band) < 10 for band in db)
        with rasterio.open(folder / f"{folder.name}_harvest_image_landsat.tif") as src:
            reflectance = src.read()
            assert np.isfinite(reflectance).all() and 0 < np.median(reflectance) < 1
        with rasterio.open(folder / f"{folder.name}_image_dem.tif") as src:
            heights = src.read(1)
            assert 150 < heights.min() and heights.max() < 600
        with rasterio.open(folder / f"{folder.name}_image_landcover.tif") as src:
            assert set(np.unique(src.read(1)).tolist()) <= {c.value for c in WORLDCOVER_CLASSES}
    # Each DEM chip is its tile(s) warped bilinearly onto the mask grid (the first tile's pixels first).
    for folder in folders:
        grid = read_grid(folder / f"{folder.name}_instance.tif")
        expected = np.full((grid.height, grid.width), np.nan, dtype="float32")
        for scene in json.loads((folder / f"{folder.name}_dem.json").read_text())["properties"]["ftw:scenes"]:
            (tile,) = (archive_parquet.parent / "cop-dem-glo-30").rglob(f"{scene}.tif")
            warped = np.full_like(expected, np.nan)
            with rasterio.open(tile) as src:
                reproject(rasterio.band(src, 1), warped, dst_transform=grid.transform, dst_crs=grid.crs,
                          resampling=Resampling.bilinear, dst_nodata=np.nan)
            expected = np.where(np.isnan(expected), warped, expected)
        with rasterio.open(folder / f"{folder.name}_image_dem.tif") as src:
            np.testing.assert_allclose(src.read(1), expected, atol=1e-3)
    for sensor in FILES:
        found = check_sensor_images(layout, sensor, "instance")
        assert found["images"] >= 8 and not any(found["problems"].values()), (sensor, found["problems"])
    # STAC: every item valid; the parent links one child per sensor and season; all are indexed.
    for path in (out / "ds-chips").glob("*/*.json"):
        validate_stac(json.loads(path.read_text()))
    parent = json.loads((folder / f"{folder.name}.json").read_text())
    related = {ln["href"].removeprefix(f"./{folder.name}_").removesuffix(".json")
               for ln in parent["links"] if ln["rel"] == "related"}
    assert related == {"planting_s2", "harvest_s2", "planting_s1", "harvest_s1", "planting_landsat",
                       "harvest_landsat", "dem", "landcover"}
    assert parent["properties"]["ftw:sensors"] == SENSORS.split(",")
    assert parent["properties"]["ftw:landcover_class"] == 40 and parent["properties"]["ftw:landcover_class_share"] > 50
    s1 = json.loads((folder / f"{folder.name}_planting_s1.json").read_text())
    props = s1["properties"]
    assert props["platform"] == "sentinel-1a" and props["ftw:orbit_state"] in ("ascending", "descending")
    assert props["ftw:backscatter_in_db"] is False and props["ftw:days_from_target"] <= 14
    assert all("/collections/sentinel-1-rtc/items/" in ln["href"] for ln in s1["links"] if ln["rel"] == "via")
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out / 'ds-chips' / 'items.parquet'}/*.parquet')")
    assert rows.fetchall()[0][0] == 8 * 9  # parent, 2 S2, 2 S1, 2 Landsat, DEM, land cover


def test_sensor_inputs_are_refused_before_anything_is_written(tmp_path, demo_inputs, archive_parquet):
    fields, calendar = demo_inputs
    lone = tmp_path / "s2-only" / "sentinel-2-c1-l2a.parquet"
    lone.parent.mkdir()
    lone.write_bytes(archive_parquet.read_bytes())
    cases = [
        (("--sensors", "s2,modis", "--download-images"), "unknown sensor 'modis'"),
        (("--sensors", "s1", "--download-images"), "include s2"),
        (("--sensors", "s2,s1"), "add --download-images"),
        (("--sensors", "s2,landcover", "--download-images", "--stac-host", "earthsearch"),
         "earthsearch has no ESA WorldCover"),
        (("--sensors", "s2,s1", "--download-images", "--stac-host", lone), "has no Sentinel-1 IW scenes"),
        (("--sensors", "s2,s1", "--download-images", "--min-class-share", "60"), "add landcover to --sensors"),
        (("--sensors", "s2,landcover", "--download-images", "--excluded-classes", "45"), "not ESA WorldCover classes"),
    ]
    for i, (options, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        if "--stac-host" not in options:
            options = (*options, "--stac-host", archive_parquet)
        run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--crop-calendar-dir", calendar,
                   *options)
        assert run.returncode == 2, (options, run.stdout, run.stderr)
        assert message in run.stderr + run.stdout, (options, run.stderr)
        assert not out.exists(), options


def test_a_chip_across_two_dem_tiles_is_their_mosaic(sensor_root):
    """A chip astride 16 degrees east (tiles E015 and E016): both tiles, each warped onto its part."""
    grid = ChipGrid(32633, 573400.0, 5331000.0, 200, 200)
    request = SensorRequest("ftw-33UWP7330", 2024, "33UWP", grid, None)
    source = open_sensor_source(str(sensor_root / "sentinel-2-c1-l2a.parquet"), "dem")
    (choice,) = choose_batch([request], "dem", source).choices.values()
    assert [s.id[-12:] for s in choice.scenes] == ["N48_00_E015_00_DEM"[-12:], "N48_00_E016_00_DEM"[-12:]]
    chip = read_sensor_chip(choice.scenes, grid)
    expected = np.full((grid.height, grid.width), np.nan, dtype="float32")
    for scene in choice.scenes:
        warped = np.full_like(expected, np.nan)
        with rasterio.open(scene.href("elevation")) as src:
            reproject(rasterio.band(src, 1), warped, dst_transform=grid.transform, dst_crs=grid.crs,
                      resampling=Resampling.bilinear, dst_nodata=np.nan)
        expected = np.where(np.isnan(expected), warped, expected)
    assert not np.isnan(expected).any()
    # within 1 cm: odc-stac warps each tile's window, rasterio the whole tile (float rounding differs)
    np.testing.assert_allclose(chip.layers["elevation"], expected, atol=1e-2)


def test_the_homogeneity_filter_leaves_mixed_chips_out_of_the_export(tmp_path, demo_inputs, sensor_root):
    """--min-class-share: chips whose most common WorldCover class covers less are not exported, with the
    reason in the export manifest and the QA report; the class counts are recorded per chip."""
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host",
               sensor_root / "sentinel-2-c1-l2a.parquet", "--crop-calendar-dir", calendar, "--download-images",
               "--no-refine-cloud", "--sensors", "s2,landcover", "--min-class-share", "94")
    assert run.returncode == 0, run.stderr + run.stdout
    layout = Layout(out, "ds")
    shares = {}
    for folder in sorted((out / "state").glob("ftw-*")):
        record = json.loads((folder / "sensor_landcover.json").read_text())["seasons"]["static"]
        counts = {int(k): v for k, v in record["class_counts"].items()}
        assert sum(counts.values()) == 200 * 200 and set(counts) <= {c.value for c in WORLDCOVER_CLASSES}
        shares[folder.name] = 100 * max(counts.values()) / sum(counts.values())
    mixed = {stem for stem, share in shares.items() if share < 94}
    assert mixed and len(mixed) < len(shares)  # the demo has both kinds
    export = ftwd("export", out, tmp_path / "export", "--country", "austria")
    assert export.returncode == 0, export.stderr + export.stdout
    (manifest,) = (tmp_path / "export").rglob("ftwd_export.json")
    left_out = {x["aoi_id"]: x["reason"] for x in json.loads(manifest.read_text())["left_out"]}
    assert set(left_out) == mixed and all("less than --min-class-share 94 %" in r for r in left_out.values())
    exported = {p.stem for p in (tmp_path / "export" / "austria" / "landcover_images" / "static").glob("*.tif")}
    assert exported == set(shares) - mixed  # beside the FTW folders, for the exported chip-years only
    with rasterio.open(tmp_path / "export" / "austria" / "landcover_images" / "static" / f"{min(exported)}.tif") as src:
        assert (src.width, src.height, src.dtypes[0], src.nodata) == (256, 256, "uint8", 0)
        assert set(np.unique(src.read(1)).tolist()) <= {0} | {c.value for c in WORLDCOVER_CLASSES}
    report = ftwd("qa-report", out)
    assert report.returncode == 0, report.stderr
    page = (layout.catalog_dir / "qa_report.html").read_text()
    assert "Land-cover class balance" in page and "--min-class-share 94 %" in page and "Cropland" in page


def test_the_demo_with_sensors(tmp_path, sensor_root):
    """``ftwd demo --sensors s2,dem``: the archive (here the test archive, its sensors already there) and the
    demo dataset with a DEM chip beside every chip's masks."""
    out = tmp_path / "demo"
    run = ftwd("demo", out, "--fields", tmp_path / "fields.gpkg", "--archive", sensor_root, "--sensors", "s2,dem")
    assert run.returncode == 0, run.stderr + run.stdout
    folders = [p for p in (out / "demo-chips").iterdir() if p.is_dir() and p.name.startswith("ftw-")]
    assert folders and all(read_grid(f / f"{f.name}_image_dem.tif") == read_grid(f / f"{f.name}_instance.tif")
                           for f in folders)
    assert json.loads((out / "dataset.json").read_text())["sensors"] == ["s2", "dem"]
