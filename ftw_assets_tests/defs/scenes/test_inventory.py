"""scene_inventory through the CLI and Dagster: the same scenes from the real STAC API and the archive."""

import duckdb

from ftw_assets.demo.world import write_demo_fields
from ftw_assets.defs.scenes.inventory import scene_inventory
from ftw_assets.resources import STAC_POOL
from ftw_assets_tests.helpers import ftwd


def _inventory(out):
    with duckdb.connect(str(out / "ftw.duckdb"), read_only=True) as con:
        return con.execute("SELECT scene_id, cloud_cover, boa_offset FROM scene_inventory ORDER BY scene_id").fetchall()


def test_inventory_from_stac_api_equals_geoparquet(tmp_path, archive_parquet, stac_api):
    fields = write_demo_fields(tmp_path / "fields.gpkg")
    via_api = ftwd("create-dataset", fields, tmp_path / "api", "--year", "2024", "--stac-host", stac_api.url,
                   "--collection", "sentinel-2-c1-l2a", "--inventory")
    assert via_api.returncode == 0, via_api.stderr
    via_file = ftwd("create-dataset", fields, tmp_path / "file", "--year", "2024", "--stac-host", archive_parquet,
                    "--inventory")
    assert via_file.returncode == 0, via_file.stderr
    api_rows, file_rows = _inventory(tmp_path / "api"), _inventory(tmp_path / "file")
    assert api_rows == file_rows and len(api_rows) == 12  # the 12 scenes of 2024 over tile 33UWP
    assert {offset for _, _, offset in api_rows} == {1000}  # baseline 05.1x: +1000 DN declared
    assert sum(1 for _, cloud, _ in api_rows if cloud < 10) == 8


def test_inventory_runs_in_the_stac_pool_and_bad_hosts_fail_before_writing(tmp_path):
    assert scene_inventory.op.pool == STAC_POOL
    fields = write_demo_fields(tmp_path / "fields.gpkg")
    bad = ftwd("create-dataset", fields, tmp_path / "out", "--year", "2024", "--stac-host", "https://stac.invalid/v1",
               "--inventory")
    assert bad.returncode == 2 and "also give --collection" in bad.stderr
    assert not (tmp_path / "out").exists()
