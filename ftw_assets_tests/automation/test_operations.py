"""Operating a dataset: ftwd status, the fill schedule, adding a year."""

import datetime as dt

import dagster as dg

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.automation.schedules import fill_missing_chip_years
from ftw_assets.resources import DatasetResource
from ftw_assets.instance import open_instance
from ftw_assets_tests.helpers import ftwd


def schedule_requests(out):
    with dg.build_schedule_context(instance=open_instance(Layout(out, "ds")),
                                   scheduled_execution_time=dt.datetime(2026, 11, 22, 3),
                                   resources={"dataset": DatasetResource(output_dir=str(out))}) as context:
        return fill_missing_chip_years(context)


def test_status_schedule_and_a_new_year(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
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


def test_qa_report_release_and_doctor(tmp_path, archive_parquet, demo_inputs):
    import json
    import tarfile

    fields, calendar = demo_inputs
    out = tmp_path / "out"
    built = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                 "--download-images", "--crop-calendar-dir", calendar)
    assert built.returncode == 0, built.stderr
    qa = ftwd("qa-report", out)
    assert qa.returncode == 0, qa.stderr
    page = (out / "ds-chips" / "qa_report.html").read_text()
    assert "chip-years by selection status: selected: 8" in page and "season items: harvest: 8, planting: 8" in page
    assert page.count('<div class="chip">') == 8 and page.count("data:image/png;base64,") == 24  # 2 images + mask each
    assert "http" not in page.split("<body>")[1].split("Gallery")[0]  # self-contained: nothing fetched
    collection = json.loads((out / "ds-chips" / "collection.json").read_text())
    assert collection["assets"]["qa_report"]["href"] == "./qa_report.html"

    first = ftwd("release", out, "--version", "1.0.0")
    assert first.returncode == 0, first.stderr
    archive = out / "releases" / "ds-chips-1.0.0.tar.gz"
    manifest = json.loads((out / "releases" / "ds-chips-1.0.0.manifest.json").read_text())
    # files: the catalog folder, with refinement_report.json (cloud refinement is on by default with images)
    assert manifest["counts"] == {"files": 96, "images": 16, "masks": 24, "parent_items": 8, "season_items": 16}
    assert manifest["parameters"]["dataset"]["year"] == 2024 and "selection" in manifest["parameters"]
    blob = archive.read_bytes()
    assert ftwd("release", out, "--version", "1.0.0").returncode == 0
    assert archive.read_bytes() == blob  # same dataset, same parameters: same bytes
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "ds-chips-1.0.0/MANIFEST.json" in names and len(names) == manifest["counts"]["files"] + 1
    bad = ftwd("release", out, "--version", "../x")
    assert bad.returncode == 2 and "--version" in bad.stderr

    ok = ftwd("doctor", "--stac-host", archive_parquet, "--crop-calendar-dir", calendar, "--output-dir", out)
    assert ok.returncode == 0 and "ok    crop calendar" in ok.stdout and "ok    Dagster home" in ok.stdout
    down = ftwd("doctor", "--stac-host", "http://127.0.0.1:9/v1", "--collection", "x", "--crop-calendar-dir", calendar)
    assert down.returncode == 1 and "FAIL  STAC host" in down.stdout and "not reachable" in down.stdout


def test_the_schedule_plans_only_the_chips_of_the_chip_table(tmp_path):
    """A chip partition added by hand in the UI fails every run that takes it: the schedule leaves it out
    and, once the chip table's chip-years are done, skips instead of asking for it every day."""
    from ftw_assets.defs.catalog.assets import stac_catalog
    from ftw_assets.defs.chips.assets import chip_grid, chip_registry, field_boundaries
    from ftw_assets.defs.masks.assets import masks
    from ftw_assets.partitions import CHIPS
    from ftw_assets_tests.helpers import DEMO_CHIPS, demo_dataset, materialize

    layout = demo_dataset(tmp_path / "ds")
    instance = open_instance(layout)
    assert materialize(layout, [field_boundaries, chip_registry], instance).success
    instance.add_dynamic_partitions(CHIPS, ["ftw-33UWP0000"])

    def tick():
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=dt.datetime(2026, 11, 22, 3),
                                       resources={"dataset": DatasetResource(output_dir=str(layout.output_dir))}) as ctx:
            return fill_missing_chip_years(ctx)

    (request,) = tick()
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"],
            request.tags["ftw/chip_years"]) == (f"{DEMO_CHIPS[0]}|2024", f"{DEMO_CHIPS[-1]}|2024", "8")
    assert materialize(layout, [chip_grid, masks, stac_catalog], instance, DEMO_CHIPS[0], DEMO_CHIPS[-1]).success
    skip = tick()
    assert isinstance(skip, dg.SkipReason)
    assert skip.skip_message == ("every chip-year of the chip table is materialized; 1 chip partition(s) not in the "
                                 "chip table left out")
