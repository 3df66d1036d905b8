"""What a user reads when something is wrong: a truncated COG's real cause and the href of its band, and the
files a failed image check names."""

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import ImagesRecord, SeasonImage
from ftw_assets.core.geometry.grid import chip_pixel_grid
from ftw_assets.core.raster.clip import ClipRequest, clip_batch, failure_url
from ftw_assets.core.raster.cog import read_grid, write_cog
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.reports.downloads import download_report
from ftw_assets.core.scenes.sources import SceneQuery, open_source
from ftw_assets_tests.helpers import create_demo_dataset, ftwd
from ftw_assets_tests.servers.harness import CogServer

SCENE = "S2B_T33UWP_20240403T100613_L2A"


@pytest.fixture(scope="module")
def scene(archive_parquet):
    start, end = datetime(2024, 4, 3, tzinfo=timezone.utc), datetime(2024, 4, 3, 23, tzinfo=timezone.utc)
    found = open_source(str(archive_parquet)).search(SceneQuery(start, end, bbox=(15.9, 48.0, 16.3, 48.2))).scenes
    return next(s for s in found if s.id == SCENE)


def test_a_truncated_cog_names_gdals_reason_and_the_href_of_its_band(scene, tmp_path):
    nir = Path(scene.href("nir"))
    with rasterio.open(nir) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    served = tmp_path / "served"
    served.mkdir()
    (served / "B08.tif").write_bytes(nir.read_bytes()[:offset + size // 2])  # the first tile cut in half
    server = CogServer(served)
    try:
        url = f"{server.url}/B08.tif"
        broken = replace(scene, bands={**scene.bands, "nir": replace(scene.bands["nir"], href=url)})
        grid = chip_pixel_grid(32633, 574000, 5334000, 2000, 200)  # inside the first 1024 px tile
        (clip,), _ = clip_batch([ClipRequest(("ftw-33UWP7434", 2024, "planting"), grid, broken)], ("red", "nir"),
                                policy=RetryPolicy(attempts=2, backoff_s=0.05))
    finally:
        server.stop()
    host = f"127.0.0.1:{server.port}"
    reason = (f"reading 1 chip window(s) of {url} from {host} failed after 2 attempts: TIFFFillTile:Read error at "
              f"row 4294967295, col 4294967295, tile 0; got {size // 2} bytes, expected {size}. Check that {host} is "
              "reachable and serves the whole file, then rerun: only the missing chips are done again.")
    assert clip.data is None and clip.error == reason
    # The report names nir's href (the band that failed), not the first band's.
    record = ImagesRecord.of(["red", "nir"], {"planting": SeasonImage.failed(failure_url(clip), clip.error)})
    assert download_report({ChipYear("ftw-33UWP7434", 2024): record}) == {
        "total_processed": 1, "successful": 0,
        "failed": [{"chip": "ftw-33UWP7434_2024", "season": "planting", "url": url, "error": reason}]}


def test_a_failed_image_check_names_the_files_plainly(tmp_path, demo_inputs, archive_parquet):
    out = tmp_path / "out"
    create_demo_dataset(out, demo_inputs, archive_parquet, "--download-images", "--no-refine-cloud")
    chips = out / "ds-chips"
    flat = ["ftw-33UWP7828_2024/ftw-33UWP7828_2024_harvest_image_s2.tif",
            "ftw-33UWP8430_2024/ftw-33UWP8430_2024_planting_image_s2.tif"]
    for name in flat:  # a valid COG on its grid whose nir band is one value: a blank band
        path = chips / name
        with rasterio.open(path) as src:
            data, descriptions, tags = src.read(), list(src.descriptions), src.tags()
        data[descriptions.index("nir")] = 1234
        write_cog(path, data, read_grid(path), nodata=0, descriptions=descriptions, tags=tags)
        with rasterio.open(path) as src:
            assert np.unique(src.read(4)).tolist() == [1234]

    fields, calendar = demo_inputs
    again = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                 "--crop-calendar-dir", calendar, "--download-images", "--no-refine-cloud")
    assert again.returncode == 1, again.stdout + again.stderr
    failure = ("check no_blank_band failed: 2 image(s): ftw-33UWP7828_2024_harvest_image_s2.tif:nir, "
               "ftw-33UWP8430_2024_planting_image_s2.tif:nir")
    assert f"\n      {failure}\n" in again.stdout  # under the checks run's line
    assert f"  {failure}\n" in again.stderr  # in the summary of failed runs
    assert "JsonMetadataValue" not in again.stdout + again.stderr
