"""Operating a dataset: ftwd status, the fill schedule, adding a year."""

import datetime as dt

import dagster as dg

from ftw_assets.core.dataset import Layout
from ftw_assets.operations.schedules import fill_missing_chip_years
from ftw_assets.resources import DatasetResource
from ftw_assets.runner import open_instance
from ftw_assets_tests.selection.test_assets import inputs  # noqa: F401 (fixture)
from ftw_assets_tests.test_create_dataset import ftwd


def schedule_requests(out):
    context = dg.build_schedule_context(instance=open_instance(Layout(out, "ds")),
                                        scheduled_execution_time=dt.datetime(2026, 11, 22, 3),
                                        resources={"dataset": DatasetResource(output_dir=str(out))})
    return fill_missing_chip_years(context)


def test_status_schedule_and_a_new_year(tmp_path, archive_parquet, inputs):  # noqa: F811
    fields, calendar = inputs
    out = tmp_path / "out"
    failing = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                   "--select-images", "--crop-calendar-dir", calendar, "--buffer-days", "0", "--on-missing", "fail")
    assert failing.returncode == 1
    status = ftwd("status", out)
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines()[1:] if line and line[0] != " "
            and not line.startswith("last")}
    assert rows["masks"] == ["8", "0", "0", "0", "8"]
    assert rows["selected_scenes"] == ["0", "8", "0", "0", "8"]  # failed, read from the instance
    assert "no scene for ftw-33UWP" in status.stdout and "last errors:" in status.stdout

    # The schedule asks for exactly the failed chip-years, as one batched range run.
    (request,) = schedule_requests(out)
    assert [k.to_user_string() for k in request.asset_selection] == ["selected_scenes", "stac_catalog"]
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"],
            request.tags["ftw/chip_years"]) == ("ftw-33UWP7830|2024", "ftw-33UWP8428|2024", "8")

    # Fixed options (a real buffer) let a rerun finish; then the schedule has nothing to do.
    fixed = ftwd("select-images", out, "--crop-calendar-dir", calendar)
    assert fixed.returncode == 0, fixed.stderr
    assert isinstance(schedule_requests(out), dg.SkipReason)

    added = ftwd("add-year", out, "2021")
    assert added.returncode == 0, added.stderr
    assert "added 2021" in added.stdout and "8 chips x 2 year(s): 8 chip-years need work" in added.stdout
    rows = {line.split()[0]: line.split()[1:] for line in ftwd("status", out).stdout.splitlines()[1:]}
    assert rows["selected_scenes"][0] == "16" and rows["stac_catalog"][0] == "16"
    assert list((out / "ds-chips").glob("ftw-33UWP7830_2021/ftw-33UWP7830_2021_planting_s2.json"))
    bad = ftwd("add-year", out, "2014")
    assert bad.returncode == 2 and "before Sentinel-2 L2A" in bad.stderr
