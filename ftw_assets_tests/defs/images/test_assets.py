"""download-images end to end: images on the mask grid, thumbnails, checks, and faults during reads."""

import base64
import json
import re

import duckdb
import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from ftw_assets.core.raster.cog import is_valid_cog, read_grid
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets_tests.helpers import REFINED, ftwd
from ftw_assets_tests.servers.harness import FaultProxy, archive_copy_served_at


def images(out):
    return sorted((out / "ds-chips").glob("*/*_image_s2.tif"))


def test_download_images_end_to_end(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--download-images", "--crop-calendar-dir", calendar, "--bands", "red,green,blue,nir,scl")
    assert run.returncode == 0, run.stderr
    assert "Images: 16 of 16 chip-season images written, 0 failed" in run.stdout
    assert "[checks] no_blank_band+valid_cog_on_mask_grid+values_in_range: unpartitioned ok" in run.stdout
    assert len(images(out)) == 16
    for path in images(out):
        chip_year = path.parent.name
        assert is_valid_cog(path) and read_grid(path) == read_grid(path.parent / f"{chip_year}_instance.tif")
        season = path.name.split("_")[2]
        item = json.loads((path.parent / f"{chip_year}_{season}_s2.json").read_text())
        assert item["assets"]["clipped"]["href"] == f"./{path.name}"
        assert (path.parent / item["assets"]["thumbnail"]["href"][2:]).exists()
        assert item["properties"]["ftw:boa_offset_removed"] == 1000 and item["properties"]["ftw:reprojected"] is False
        validate_stac(item)
        with rasterio.open(path) as src:
            assert src.descriptions == ("red", "green", "blue", "nir", "scl")
            assert src.tags()["source_item"] == REFINED[(chip_year.split("_")[0], season)]  # refinement is on
    # Pixel-exact: the red band of one chip equals the archive's B04 minus the recorded offset.
    image = out / "ds-chips" / "ftw-33UWP8430_2024" / "ftw-33UWP8430_2024_planting_image_s2.tif"
    source = archive_parquet.parent / "sentinel-2-c1-l2a/33/U/WP/2024/3/S2A_T33UWP_20240329T101638_L2A/B04.tif"
    with rasterio.open(image) as img, rasterio.open(source) as src:
        window = src.window(*img.bounds)
        assert np.array_equal(img.read(1), src.read(1, window=window) - 1000)
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out / 'ds-chips' / 'items.parquet'}') "
                      "WHERE assets.clipped.href IS NOT NULL").fetchall()[0][0]
    assert rows == 16
    again = ftwd("download-images", out, "--bands", "red,green,blue,nir,scl")
    assert again.returncode == 0 and "0 chip-years need work" in again.stdout


def test_faults_during_downloads(tmp_path, archive_parquet, cog_server, demo_inputs, monkeypatch):
    fields, calendar = demo_inputs
    monkeypatch.setenv("FTW_HTTP_ATTEMPTS", "4")
    monkeypatch.setenv("FTW_HTTP_BACKOFF_S", "0.1")
    proxy = FaultProxy(cog_server.port)
    try:
        served = archive_copy_served_at(archive_parquet, proxy.url, tmp_path / "served.parquet")
        out = tmp_path / "out"
        proxy.set()
        select = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", served,
                      "--select-images", "--crop-calendar-dir", calendar)
        assert select.returncode == 0, select.stderr
        proxy.set(rates={"reset": 1.0})  # the COG host is down
        down = ftwd("download-images", out, "--output-report", tmp_path / "report.json", "--no-refine-cloud")
        assert down.returncode == 1
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["successful"] == 0 and len(report["failed"]) == 16
        assert report["failed"][0]["url"].startswith(proxy.url) and "failed after" in report["failed"][0]["error"]
        assert images(out) == [] and not list(out.rglob("*.tmp*"))
        assert not any("clipped" in json.loads(p.read_text())["assets"] for p in (out / "ds-chips").glob("*/*_s2.json"))
        # A flaky host: resets, truncated bodies and 503s on a third of the requests; retries absorb them.
        proxy.set(rates={"reset": 0.15, "truncate": 0.1, "503": 0.1}, seed=3)
        flaky = ftwd("download-images", out, "--no-refine-cloud")
        assert flaky.returncode == 0, flaky.stdout + flaky.stderr
        assert len(images(out)) == 16 and sum(proxy.stats()["injected"].values()) > 5
        image = out / "ds-chips" / "ftw-33UWP7828_2024" / "ftw-33UWP7828_2024_harvest_image_s2.tif"
        source = archive_parquet.parent / "sentinel-2-c1-l2a/33/U/WP/2024/10/S2B_T33UWP_20241030T100643_L2A/B08.tif"
        with rasterio.open(image) as img, rasterio.open(source) as src:
            assert np.array_equal(img.read(4), src.read(1, window=src.window(*img.bounds)) - 1000)
        assert not list(out.rglob("*.tmp*"))
    finally:
        proxy.stop()


def test_metadata_names_the_chip_and_the_scene_cloud_and_shows_both_seasons(tmp_path, archive_parquet, demo_inputs):
    """With the pixel check the planting scene (0.16 % over its tile) was measured on each chip (0 %);
    the 0 % harvest scene is trusted at scene level, so it has no chip-level figure."""
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.defs import clipped_images
    from ftw_assets.instance import open_instance
    from ftw_assets_tests.helpers import APR03, OCT30, materializations

    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--download-images", "--pixel-check", "--crop-calendar-dir", calendar)
    assert run.returncode == 0, run.stderr
    instance = open_instance(Layout(out, "ds"))
    meta = materializations(instance, clipped_images)["ftw-33UWP7828|2024"]
    instance.dispose()
    assert list(meta)[:2] == ["planting_chip_cloud_cover", "preview"]  # what a reader sees first
    assert meta["planting_chip_cloud_cover"] == 0.0 and "harvest_chip_cloud_cover" not in meta
    assert meta["planting_scene_cloud_cover"] == 0.162793 and meta["harvest_scene_cloud_cover"] == 0.0
    assert (meta["planting_scene"], meta["harvest_scene"]) == (APR03, OCT30)
    assert not {"planting_cloud_cover", "planting_thumbnail", "harvest_thumbnail"} & set(meta)
    table = meta["preview"].splitlines()
    assert table[0] == "| | planting | harvest |"
    thumbs = re.fullmatch(r"\| image \| !\[planting\]\((\S+)\) \| !\[harvest\]\((\S+)\) \|", table[2]).groups()
    for season, uri in zip(("planting", "harvest"), thumbs):
        # A small JPEG of the thumbnail file's pixels (every 3rd of 200), not the file itself.
        assert uri.startswith("data:image/jpeg;base64,") and len(uri) < 8000
        with MemoryFile(base64.b64decode(uri.split(",", 1)[1])) as mem, mem.open() as src:
            small = src.read().astype(int)
        png = out / "ds-chips" / "ftw-33UWP7828_2024" / f"ftw-33UWP7828_2024_{season}_image_s2.png"
        with rasterio.open(png) as src:
            full = src.read().astype(int)
        assert small.shape == (3, 67, 67)  # JPEG keeps the picture, not each value
        assert abs(small - full[:, ::3, ::3]).mean() < 12 and np.corrcoef(small.ravel(), full[:, ::3, ::3].ravel())[0, 1] > 0.9
    assert table[3:] == [f"| scene | {APR03} | {OCT30} |", "| date | 2024-04-03 | 2024-10-30 |",
                         "| chip-level cloud | 0 % | not measured |", "| scene-level cloud | 0.16 % | 0 % |"]
    assert len(meta["preview"]) < sum(map(len, thumbs)) + 500  # the two thumbnails and a few words
