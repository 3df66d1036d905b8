"""Clipping chip images out of the generated archive's COGs: pixel-exact copies, resampling,
reprojection, faults during reads."""

from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from ftw_assets.core.raster.clip import ClipRequest, clip_batch, image_stats, write_clip
from ftw_assets.core.raster.cog import is_valid_cog, read_grid
from ftw_assets.core.geometry.grid import ChipGrid, chip_pixel_grid
from ftw_assets.core.scenes.sources import SceneQuery, open_source
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets_tests.servers.harness import FaultProxy

UTC = timezone.utc
SCENE = "S2B_T33UWP_20240403T100613_L2A"  # baseline 05.11: +1000 DN in the files


@pytest.fixture(scope="module")
def scene(archive_parquet):
    query = SceneQuery(datetime(2024, 4, 3, tzinfo=UTC), datetime(2024, 4, 3, 23, tzinfo=UTC), bbox=(15.9, 48.0, 16.3, 48.2))
    return next(s for s in open_source(str(archive_parquet)).search(query).scenes if s.id == SCENE)


def grids():
    return {c: chip_pixel_grid(32633, x, y, 2000, 256) for c, (x, y) in
            {"7828": (578000, 5328000), "8030": (580000, 5330000), "8430": (584000, 5330000)}.items()}


def test_10m_bands_are_source_pixels_minus_the_offset(scene):
    clips, stats = clip_batch([ClipRequest((c, 2024, "planting"), g, scene) for c, g in grids().items()],
                              ("red", "nir"))
    assert stats.scenes == 1 and stats.band_opens == 2 and stats.windows == 6  # one open per band for 3 chips
    for clip in clips:
        grid = clip.request.grid
        for i, band in enumerate(("red", "nir")):
            with rasterio.open(scene.href(band)) as src:
                col = int((grid.x_min - src.transform.c) / 10)
                row = int((src.transform.f - grid.y_max) / 10)
                direct = src.read(1, window=((row, row + grid.height), (col, col + grid.width)))
            assert np.array_equal(clip.data[i], direct - 1000), (clip.request.key, band)
        assert clip.resampling == {"red": "none (source pixels copied)", "nir": "none (source pixels copied)"}
        assert not clip.reprojected


def test_20m_bands_are_resampled_and_recorded(scene):
    grid = grids()["8430"]
    (clip,), _ = clip_batch([ClipRequest(("8430", 2024, "planting"), grid, scene)], ("nir08", "scl"))
    assert clip.resampling == {"nir08": "bilinear (20 m to 10 m)", "scl": "nearest (20 m to 10 m)"}
    with rasterio.open(scene.href("scl")) as src:
        x = grid.x_min + 5 + 10 * np.arange(grid.width)
        y = grid.y_max - 5 - 10 * np.arange(grid.height)
        cols = ((x - src.transform.c) // 20).astype(int)
        rows = ((src.transform.f - y) // 20).astype(int)
        full = src.read(1)
    assert np.array_equal(clip.data[1], full[rows[:, None], cols[None, :]])  # nearest: the 20 m pixel under each 10 m one
    with rasterio.open(scene.href("nir08")) as src:
        native = src.read(1, window=((int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1))).astype(float) - 1000
    assert native.min() - 1 <= clip.data[0].min() and clip.data[0].max() <= native.max() + 1  # bilinear stays within


def test_a_scene_in_another_zone_is_reprojected(scene, tmp_path):
    grid = ChipGrid(32634, 133000.0, 5337000.0, 200, 200)  # the demo area in UTM 34N coordinates
    (clip,), _ = clip_batch([ClipRequest(("x", 2024, "planting"), grid, scene)], ("red", "scl"))
    assert clip.reprojected and clip.resampling == {"red": "bilinear (reprojected)", "scl": "nearest (reprojected)"}
    expected = {}
    for band, method in (("red", Resampling.bilinear), ("scl", Resampling.nearest)):
        with rasterio.open(scene.href(band)) as src:
            expected[band] = np.zeros((grid.height, grid.width), dtype=np.uint16)
            reproject(rasterio.band(src, 1), expected[band], dst_transform=grid.transform, dst_crs=grid.crs,
                      resampling=method, src_nodata=0, dst_nodata=0)
    # Nearest: exactly the pixels a one-off rasterio reproject picks, so the geometry is right.
    assert np.array_equal(clip.data[1], expected["scl"])
    # Bilinear: the warped VRT and a one-off reproject weigh neighbours slightly differently on sharp
    # field edges; the image is the same.
    diff = np.abs(clip.data[0].astype(int) - (expected["red"].astype(int) - 1000))
    assert diff.mean() < 2 and np.corrcoef(clip.data[0].ravel(), expected["red"].ravel())[0, 1] > 0.99
    path = write_clip(clip, tmp_path / "x.tif")
    assert is_valid_cog(path) and read_grid(path) == grid
    with rasterio.open(path) as src:
        assert src.descriptions == ("red", "scl") and src.tags()["reprojected"] == "true"
        assert src.tags()["source_item"] == SCENE and src.tags()["boa_offset_removed"] == "1000"
    assert image_stats(clip.data, ("red", "scl"))["nodata_share"] == 0.0


def test_reads_through_faults_and_a_clean_failure_after_the_budget(scene, archive_parquet, cog_server):
    proxy = FaultProxy(cog_server.port)
    root = str(archive_parquet.parent)
    try:
        via_proxy = lambda href: href.replace(root, proxy.url) + "?through=proxy"
        requests = [ClipRequest((c, 2024, "planting"), g, scene) for c, g in grids().items()]
        clean, _ = clip_batch(requests, ("red", "green"))
        proxy.set(script=["reset", "truncate", "503", "429", "reset"], retry_after=1)
        faulty, _ = clip_batch(requests, ("red", "green"), via_proxy, RetryPolicy(attempts=6, backoff_s=0.1, timeout_s=5))
        assert all(f.error is None and np.array_equal(f.data, c.data) for f, c in zip(faulty, clean))
        assert sum(proxy.stats()["injected"].values()) == 5
        proxy.set(rates={"reset": 1.0})
        failed, _ = clip_batch(requests, ("red",), lambda h: via_proxy(h) + "&again=1", RetryPolicy(attempts=2, backoff_s=0.05))
        assert all(f.data is None and f"127.0.0.1:{proxy.port}" in f.error and "B04.tif" in f.error for f in failed)
    finally:
        proxy.stop()
