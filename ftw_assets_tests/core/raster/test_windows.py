"""Reading chip windows from a remote COG: a part's blocks are fetched together before its chips are cut
(one range request, or concurrent ones), with the same pixels as a local read and the bytes of the
blocks the chips need. The fault proxy in front of the COG server counts the requests, and its
``delay_s`` plays a far host."""

import os
import threading
import time
from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
import requests as http
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster import windows
from ftw_assets.core.raster.windows import gdal_options, read_windows
from ftw_assets.core.scenes.sources import SceneQuery, open_source
from ftw_assets.demo.archive import ArchiveSpec
from ftw_assets_tests.servers.harness import FaultProxy

SCENE = "S2B_T33UWP_20240403T100613_L2A"


@pytest.fixture(scope="module")
def scene(archive_parquet):
    query = SceneQuery(datetime(2024, 4, 3, tzinfo=timezone.utc), datetime(2024, 4, 3, 23, tzinfo=timezone.utc),
                       bbox=(15.9, 48.0, 16.3, 48.2))
    return next(s for s in open_source(str(archive_parquet)).search(query).scenes if s.id == SCENE)


@pytest.fixture
def proxy(cog_server):
    proxy = FaultProxy(cog_server.port)
    yield proxy
    proxy.stop()


def cells(west_of: float | None = None) -> dict:
    """The 2 km chips (200 x 200 px) lying wholly in the generated area (2 x 2 blocks of 1024 px), in
    raster order; ``west_of``: only those west of that x."""
    area = ArchiveSpec().grid()
    out = {}
    for y in range(5338000, int(area.y_max - area.height * 10) + 2000 - 1, -2000):
        for x in range(572000, int(area.x_min + area.width * 10) - 2000 + 1, 2000):
            if west_of is None or x + 2000 <= west_of:
                out[f"{x}_{y}"] = ChipGrid(32633, float(x), float(y), 200, 200)
    return out


def remote(href: str, archive_parquet, proxy, tag: str) -> str:
    # A query of its own per test: GDAL's /vsicurl/ cache is keyed by URL.
    return href.replace(str(archive_parquet.parent), proxy.url) + f"?test={tag}"


def served_bytes(cog_server, href: str, archive_parquet) -> int:
    path = "/" + href.replace(str(archive_parquet.parent), "").lstrip("/")
    return cog_server.stats()["by_path"].get(path, [0, 0])[1]


def block_bytes(href: str, grids: dict) -> int:
    """Compressed bytes of the distinct blocks the (same-pixel) chip windows touch."""
    with rasterio.open(href) as src:
        bh, bw = src.block_shapes[0]
        blocks = set()
        for grid in grids.values():
            w = from_bounds(*grid.bounds, transform=src.transform)
            rows = range(int(w.row_off // bh), int((w.row_off + w.height - 1e-9) // bh) + 1)
            cols = range(int(w.col_off // bw), int((w.col_off + w.width - 1e-9) // bw) + 1)
            blocks |= {(r, c) for r in rows for c in cols}
        return sum(src.block_size(1, r, c) for r, c in blocks)


def test_all_blocks_of_the_chips_come_in_one_range_request_with_the_local_pixels(scene, archive_parquet, cog_server,
                                                                                  proxy):
    href = scene.href("red")
    grids = cells()
    local = read_windows(href, grids)
    before = served_bytes(cog_server, href, archive_parquet)
    got = read_windows(remote(href, archive_parquet, proxy, "one-range"), grids)
    assert all(np.array_equal(got[k], local[k]) for k in grids)
    # HEAD, the header (32 KB), then the 4 blocks (8 MB decoded, one part) in one range: they lie one
    # after the other in the file. Chip by chip, each chip that starts a block was a request.
    assert proxy.stats()["requests"] == 3
    fetched = served_bytes(cog_server, href, archive_parquet) - before
    assert fetched <= 1.05 * (block_bytes(href, grids) + 32768)


def test_blocks_apart_in_the_file_are_fetched_at_the_same_time(scene, archive_parquet, cog_server, proxy):
    href = scene.href("nir")
    west = cells(west_of=ArchiveSpec().grid().x_min + 10240)  # blocks (0, 0) and (1, 0): (0, 1) lies between
    local = read_windows(href, west)
    proxy.set(delay_s=0.2)
    before = served_bytes(cog_server, href, archive_parquet)
    got = read_windows(remote(href, archive_parquet, proxy, "apart"), west)
    assert all(np.array_equal(got[k], local[k]) for k in west)
    stats = proxy.stats()
    assert stats["requests"] == 4 and stats["peak_in_flight"] == 2  # HEAD, header, then both blocks at once
    fetched = served_bytes(cog_server, href, archive_parquet) - before
    assert fetched <= 1.05 * (block_bytes(href, west) + 32768)


def test_parts_bounded_by_decoded_size_each_fetched_before_their_chips(scene, archive_parquet, cog_server, proxy,
                                                                       monkeypatch):
    monkeypatch.setattr(windows, "PREFETCH_BYTES", 1024 * 1024 * 2)  # one 1024 px uint16 block a part
    href = scene.href("green")
    grids = cells()
    local = read_windows(href, grids)
    before = served_bytes(cog_server, href, archive_parquet)
    got = read_windows(remote(href, archive_parquet, proxy, "parts"), grids)
    assert all(np.array_equal(got[k], local[k]) for k in grids)
    assert proxy.stats()["requests"] <= 2 + 4 + 2  # a part per new block, chips across two at most two more
    assert served_bytes(cog_server, href, archive_parquet) - before <= 1.05 * (block_bytes(href, grids) + 32768)


@pytest.mark.parametrize("band, epsg", [("scl", 32633), ("nir08", 32633), ("red", 32634)])
def test_warped_reads_from_a_remote_file_are_the_local_pixels(scene, archive_parquet, proxy, band, epsg):
    if epsg == 32633:
        grids, method = dict(list(cells().items())[::7]), Resampling.bilinear if band == "nir08" else Resampling.nearest
    else:  # the demo area in UTM 34N coordinates: reprojected
        grids, method = {f"{x}": ChipGrid(32634, float(x), 5337000.0, 200, 200) for x in (131000, 133000)}, \
            Resampling.bilinear
    local = read_windows(scene.href(band), grids, method)
    got = read_windows(remote(scene.href(band), archive_parquet, proxy, f"warp-{band}-{epsg}"), grids, method)
    assert all(np.array_equal(got[k], local[k]) for k in grids)


def test_rectangles_cover_the_blocks_in_few_reads():
    assert windows._rectangles({(r, c) for r in (0, 1) for c in range(4)}) == [(0, 0, 1, 3)]
    staircase = {(0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (3, 5)}
    rects = windows._rectangles(staircase)
    assert rects == [(0, 2, 0, 3), (1, 0, 1, 3), (2, 0, 2, 0), (3, 5, 3, 5)]
    assert {(r, c) for r0, c0, r1, c1 in rects for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)} == staircase


def test_the_proxy_delays_every_request_and_requests_wait_together(scene, archive_parquet, proxy):
    url = scene.href("red").replace(str(archive_parquet.parent), proxy.url)
    proxy.set(delay_s=0.3)
    took = []

    def get():
        started = time.perf_counter()
        http.get(url, headers={"Range": "bytes=0-99"}, timeout=10).raise_for_status()
        took.append(time.perf_counter() - started)

    threads = [threading.Thread(target=get) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(took) == 3 and min(took) >= 0.3
    stats = proxy.stats()
    assert stats["requests"] == 3 and stats["peak_in_flight"] == 3


def test_the_block_cache_is_256_mb_unless_gdal_cachemax_is_set(monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    assert gdal_options()["GDAL_CACHEMAX"] == 256 * 1024 * 1024
    # GDAL's own setting, read as GDAL reads it; rasterio takes it as bytes only.
    for value, size in (("64MB", 64 << 20), ("64", 64 << 20), ("536870912", 512 << 20)):
        monkeypatch.setenv("GDAL_CACHEMAX", value)
        assert gdal_options()["GDAL_CACHEMAX"] == size
        with windows.gdal_env():  # rasterio accepts it (a string made it raise TypeError)
            pass
    monkeypatch.setenv("GDAL_CACHEMAX", "10%")
    assert gdal_options()["GDAL_CACHEMAX"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 10


@pytest.mark.parametrize("value", ["lots", "64GB", "0%", "150%"])
def test_a_gdal_cachemax_gdal_would_not_read_is_refused_before_ftwd_writes(tmp_path, value):
    import subprocess

    from ftw_assets_tests.helpers import FTWD

    out = tmp_path / "ds"
    run = subprocess.run([*FTWD, "create-dataset", str(tmp_path / "fields.gpkg"), str(out)], capture_output=True,
                         text=True, env={**os.environ, "GDAL_CACHEMAX": value}, timeout=120)
    assert run.returncode == 2 and "GDAL_CACHEMAX" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not out.exists()
