"""Sources over real servers: the same searches give the same scenes through stac-fastapi-pgstac
(pystac-client over HTTP) and the in-process stac-geoparquet source; faults are retried."""

import json
from datetime import datetime, timezone

import numpy as np
import pytest
import shapely

from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.grid import chip_pixel_grid
from ftw_assets.core.scenes.sources import SceneQuery, open_source
from ftw_assets.core.scenes.sources.stac_api import StacApiError
from ftw_assets.core.raster.windows import RetryPolicy, WindowReadError, read_window
from ftw_assets_tests.servers.harness import FaultProxy

UTC = timezone.utc
DEMO_BBOX = (16.0, 48.05, 16.2, 48.15)
QUERIES = {
    "planting 2024": SceneQuery(datetime(2024, 3, 19, tzinfo=UTC), datetime(2024, 4, 15, tzinfo=UTC), bbox=DEMO_BBOX),
    "cloud <= 10": SceneQuery(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 11, 30, tzinfo=UTC), bbox=DEMO_BBOX,
                              max_cloud_cover=10),
    # West of the R079 swath edge: those scenes have no data here and must not be returned.
    "west edge": SceneQuery(datetime(2021, 1, 1, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC),
                            intersects=shapely.box(15.97, 48.12, 15.98, 48.13)),
    "small pages": SceneQuery(datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 12, 31, tzinfo=UTC), bbox=DEMO_BBOX,
                              page_size=5),
}
FAST = RetryPolicy(attempts=6, backoff_s=0.1, timeout_s=2)


def _summary(result, root):
    return [(s.id, s.cloud_cover, s.boa_offset, s.href("red").split(root, 1)[-1].lstrip("/")) for s in result.scenes]


def test_same_scenes_through_stac_api_and_geoparquet(archive_parquet, cog_server, stac_api):
    local = open_source(str(archive_parquet))
    api = open_source(stac_api.url, "sentinel-2-c1-l2a")
    for name, query in QUERIES.items():
        from_api, from_file = api.search(query), local.search(query)
        assert _summary(from_api, cog_server.url) == _summary(from_file, str(archive_parquet.parent)), name
        assert from_api.rejected == from_file.rejected == []
    assert [s.id for s in local.search(QUERIES["cloud <= 10"]).scenes] == [
        "S2B_T33UWP_20240324T101603_L2A", "S2A_T33UWP_20240329T101638_L2A", "S2B_T33UWP_20240403T100613_L2A",
        "S2A_T33UWP_20240408T100648_L2A", "S2A_T33UWP_20241015T100658_L2A", "S2A_T33UWP_20241025T101608_L2A",
        "S2B_T33UWP_20241030T100643_L2A", "S2A_T33UWP_20241104T100618_L2A"]
    assert len(local.search(QUERIES["west edge"]).scenes) == 12  # only the 12 R122 scenes cover the west
    paged = api.search(QUERIES["small pages"])
    assert len(paged.scenes) == 12 and paged.requests >= 3  # 12 items in pages of 5


def test_window_over_http_range_equals_local_read(archive_parquet, cog_server, stac_api):
    query = QUERIES["planting 2024"]
    api_scene = open_source(stac_api.url, "sentinel-2-c1-l2a").search(query).scenes[3]
    local_scene = open_source(str(archive_parquet)).search(query).scenes[3]
    grid = chip_pixel_grid(32633, 580000, 5330000, 2000, 256)
    cog_server.reset()
    remote = read_window(api_scene.href("red"), grid)
    assert np.array_equal(remote, read_window(local_scene.href("red"), grid)) and remote.min() > 1000
    stats = cog_server.stats()
    size = (archive_parquet.parent / local_scene.href("red").split(str(archive_parquet.parent) + "/")[1]).stat().st_size
    # The window spans 2 of the file's 4 blocks: GDAL fetches those ranges, not the whole file.
    assert 1 <= stats["requests"] <= 4 and stats["bytes"] < 0.75 * size


def test_search_survives_faults_within_the_budget(stac_api):
    proxy = FaultProxy(stac_api.port)
    try:
        proxy.set(script=["429", "503", "reset", "truncate", "slow"], match="/search", slow_s=4, retry_after=1)
        source = open_source(proxy.url, "sentinel-2-c1-l2a", policy=FAST)
        result = source.search(QUERIES["planting 2024"])
        assert [s.id for s in result.scenes][:2] == ["S2A_T33UWP_20240319T100628_L2A", "S2B_T33UWP_20240324T101603_L2A"]
        assert len(result.scenes) == 6 and result.retries >= 5
        assert proxy.stats()["injected"] == {"429": 1, "503": 1, "reset": 1, "truncate": 1, "slow": 1}
    finally:
        proxy.stop()


def test_search_error_names_host_and_request_once_the_budget_is_spent(stac_api):
    proxy = FaultProxy(stac_api.port)
    try:
        proxy.set(rates={"503": 1.0}, match="/search")
        source = open_source(proxy.url, "sentinel-2-c1-l2a", policy=RetryPolicy(attempts=2, backoff_s=0.05, timeout_s=2))
        with pytest.raises(StacApiError) as err:
            source.search(QUERIES["planting 2024"])
        message = str(err.value)
        assert f"127.0.0.1:{proxy.port}" in message and "POST" in message and "/search" in message
        assert "sentinel-2-c1-l2a" in message and "Try again later" in message
    finally:
        proxy.stop()


def test_window_reads_survive_faults_and_fail_clearly_after_the_budget(archive_parquet, cog_server):
    proxy = FaultProxy(cog_server.port)
    href = "sentinel-2-c1-l2a/33/U/WP/2024/4/S2B_T33UWP_20240403T100613_L2A/B04.tif"
    grid = chip_pixel_grid(32633, 580000, 5330000, 2000, 256)
    expected = read_window(str(archive_parquet.parent / href), grid)
    try:
        proxy.set(script=["reset", "truncate", "429", "503", "slow"], slow_s=4)
        got = read_window(f"{proxy.url}/{href}?attempt=faults", grid, policy=FAST)
        assert np.array_equal(got, expected)
        assert sum(proxy.stats()["injected"].values()) == 5
        proxy.set(rates={"reset": 1.0})
        with pytest.raises(WindowReadError) as err:
            read_window(f"{proxy.url}/{href}?attempt=exhausted", grid, policy=RetryPolicy(attempts=2, backoff_s=0.05))
        assert f"127.0.0.1:{proxy.port}" in str(err.value) and "B04.tif" in str(err.value)
        assert "attempt=" not in str(err.value)  # query strings (tokens) never reach messages
    finally:
        proxy.stop()


def test_stac_host_values():
    assert open_source("earthsearch").collection == "sentinel-2-c1-l2a"
    assert open_source("earthsearch", "sentinel-2-l2a").provider == "earthsearch-legacy"
    pc = open_source("planetary-computer")
    assert (pc.collection, pc.provider) == ("sentinel-2-l2a", "planetary-computer")
    with pytest.raises(InputError, match="also give --collection"):
        open_source("https://example.test/stac")
    with pytest.raises(InputError, match="not a source this tool knows"):
        open_source("ftp://nowhere")
    with pytest.raises(InputError, match="does not exist"):
        open_source("/nonexistent/items.parquet")


def test_geoparquet_over_http_resolves_hrefs_against_its_url(archive_parquet, cog_server):
    remote = open_source(f"{cog_server.url}/{archive_parquet.name}")
    scenes = remote.search(QUERIES["planting 2024"]).scenes
    assert [s.id for s in scenes] == [s.id for s in open_source(str(archive_parquet)).search(QUERIES["planting 2024"]).scenes]
    assert scenes[0].href("red") == f"{cog_server.url}/sentinel-2-c1-l2a/33/U/WP/2024/3/{scenes[0].id}/B04.tif"


def test_bad_items_from_a_remote_api_are_skipped_with_reasons(archive_parquet, stac_api):
    """Catalogue cases: an item with missing bands, one with no decidable processing baseline, and one
    whose asset points at a local file (file://) although it comes from a remote API."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from ftw_assets_tests.servers.harness import archive_for_api

    _, items = archive_for_api(archive_parquet, "http://127.0.0.1:9")
    base = [it for it in items if it["id"] == "S2B_T33UWP_20240403T100613_L2A"][0]
    bad = []
    for suffix in ("nobands", "nobaseline", "localfile"):
        item = json.loads(json.dumps(base))
        item["id"], item["collection"] = f"{base['id']}-{suffix}", "bad-items"
        bad.append(item)
    del bad[0]["assets"]["red"], bad[0]["assets"]["nir"]
    del bad[1]["properties"]["s2:processing_baseline"], bad[1]["properties"]["s2:product_uri"]
    for asset in bad[1]["assets"].values():
        asset.get("raster:bands", [{}])[0].pop("offset", None)
    bad[2]["assets"]["red"]["href"] = "file:///etc/passwd"
    collection = {"type": "Collection", "stac_version": "1.1.0", "id": "bad-items", "description": "bad input",
                  "license": "proprietary", "links": [],
                  "extent": {"spatial": {"bbox": [base["bbox"]]}, "temporal": {"interval": [[None, None]]}}}
    with PgstacDB(dsn=stac_api.dsn) as db:
        loader = Loader(db=db)
        loader.load_collections(iter([collection]), insert_mode=Methods.upsert)
        loader.load_items(iter(bad), insert_mode=Methods.upsert)
    result = open_source(stac_api.url, "bad-items").search(QUERIES["planting 2024"])
    assert result.scenes == []
    reasons = dict(result.rejected)
    assert "lacks the red, nir band(s)" in reasons[f"{base['id']}-nobands"]
    assert "no usable processing baseline" in reasons[f"{base['id']}-nobaseline"]
    assert "file:///etc/passwd" in reasons[f"{base['id']}-localfile"]
    assert "read only over http/https/s3" in reasons[f"{base['id']}-localfile"]
