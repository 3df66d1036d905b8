"""The generated local archive: laid out like real EarthSearch c1 COGs, metadata consistent with pixels."""

import numpy as np
import rasterio
from rasterio.windows import from_bounds
from rio_cogeo.cogeo import cog_validate

from ftw_assets.demo.archive import TILE_ORIGIN, ArchiveSpec, build_archive
from ftw_assets.core.geometry.grid import chip_pixel_grid
from ftw_assets.core.scenes.sources import SceneQuery, open_source
from ftw_assets.core.raster.windows import read_window


def _items(parquet):
    import duckdb
    import stac_geoparquet.arrow as sga

    table = duckdb.sql(f"SELECT * FROM read_parquet('{parquet}') ORDER BY datetime").to_arrow_table()
    return {it["id"]: it for it in sga.stac_table_to_items(table)}


def test_cogs_are_laid_out_like_the_real_ones(archive_parquet):
    root = archive_parquet.parent
    item = next(iter(_items(archive_parquet).values()))
    red = root / item["assets"]["red"]["href"]
    scl = root / item["assets"]["scl"]["href"]
    assert red.name == "B04.tif" and scl.name == "SCL.tif" and (red.parent / "CLD_20m.tif").exists()
    with rasterio.open(red) as src:
        assert (src.dtypes[0], src.nodata, src.block_shapes[0], src.res) == ("uint16", 0, (1024, 1024), (10, 10))
        assert src.profile["compress"] == "deflate" and src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        # On the Sentinel-2 tile grid: the file starts on a 1024 px block boundary of tile 33UWP.
        assert (src.transform.c - TILE_ORIGIN[0]) % 10240 == 0 and (TILE_ORIGIN[1] - src.transform.f) % 10240 == 0
        assert list(src.transform)[:6] == item["assets"]["red"]["proj:transform"]
    with rasterio.open(scl) as src:
        assert (src.dtypes[0], src.block_shapes[0], src.res) == ("uint8", (512, 512), (20, 20))
    assert cog_validate(str(red), quiet=True)[0] and cog_validate(str(scl), quiet=True)[0]
    assert item["properties"]["grid:code"] == "MGRS-33UWP" and item["properties"]["proj:epsg"] == 32633


def test_metadata_matches_pixels(archive_parquet):
    root = archive_parquet.parent
    baselines = set()
    for item in _items(archive_parquet).values():
        props = item["properties"]
        baselines.add(props["s2:processing_baseline"])
        with rasterio.open(root / item["assets"]["scl"]["href"]) as src:
            scl = src.read(1)
        valid = scl > 0
        cloudy = np.isin(scl[valid], (8, 9, 10)).mean() * 100
        assert abs(props["eo:cloud_cover"] - min(cloudy, 100)) < 1e-3, item["id"]
        with rasterio.open(root / item["assets"]["red"]["href"]) as src:
            red = src.read(1)
        assert abs(props["s2:nodata_pixel_percentage"] - (red == 0).mean() * 100) < 1e-3
        offset = item["assets"]["red"]["raster:bands"][0]["offset"]
        if props["s2:processing_baseline"] >= "04.00":
            assert offset == -0.1 and red[red > 0].min() >= 1000  # the +1000 DN offset is in the pixels
        else:
            assert offset == 0
    assert {"03.01", "05.10", "05.11"} <= baselines


def test_one_scene_is_clear_at_scene_level_but_cloudy_over_one_chip(archive_parquet):
    source = open_source(str(archive_parquet))
    from datetime import datetime, timezone

    query = SceneQuery(datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 30, tzinfo=timezone.utc),
                       bbox=(15.9, 48.0, 16.3, 48.2))
    scene = next(s for s in source.search(query).scenes if s.id == "S2B_T33UWP_20240403T100613_L2A")
    assert scene.cloud_cover < 1.0
    shares = {}
    for chip, (x, y) in {"7830": (578000, 5330000), "8030": (580000, 5330000), "7828": (578000, 5328000)}.items():
        grid = chip_pixel_grid(32633, x, y, 2000, 256)
        scl = read_window(scene.href("scl"), grid)
        shares[chip] = np.isin(scl, (3, 8, 9, 10)).mean()
    assert shares["7830"] > 0.1 and shares["8030"] == 0 and shares["7828"] == 0


def test_generation_is_deterministic(tmp_path):
    spec = ArchiveSpec(block_col=8, block_row=6, block_cols=1, block_rows=1, years=(2024,))
    a, b = build_archive(tmp_path / "a", spec), build_archive(tmp_path / "b", spec)
    checksums = lambda p: {i: {k: v["file:checksum"] for k, v in it["assets"].items()} for i, it in _items(p).items()}
    assert checksums(a) == checksums(b) and len(checksums(a)) == 12
