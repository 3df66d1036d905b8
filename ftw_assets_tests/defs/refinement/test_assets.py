"""Cloud refinement end to end on the generated archive: the scene that is clear at scene level but
cloudy over chip 7830 is selected first, refinement rejects it for that chip, the sensor re-selects,
and the chip ends with a clear scene, a refreshed image and catalog; the other chips keep theirs."""

import json

import dagster as dg
import duckdb
import rasterio

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.definitions import build_defs
from ftw_assets.automation.sensors import reselect_cloudy_chips
from ftw_assets.resources import DatasetResource
from ftw_assets.runner import execute_plan, open_instance
from ftw_assets_tests.helpers import APR03, APR08, EXPECTED, chosen, ftwd

CHIP = "ftw-33UWP7830"


def build(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--download-images", "--crop-calendar-dir", calendar)
    assert run.returncode == 0, run.stderr
    assert chosen(out)[(CHIP, "planting")] == APR03
    return out


def planting_item(out):
    return json.loads((out / "ds-chips" / f"{CHIP}_2024" / f"{CHIP}_2024_planting_s2.json").read_text())


def test_refinement_then_the_sensor_reselects_one_chip(tmp_path, archive_parquet, demo_inputs):
    out = build(tmp_path, archive_parquet, demo_inputs)
    refine = ftwd("refine-cloud-cover", out, "--no-reselect", "--output-report", tmp_path / "refine.json")
    assert refine.returncode == 0, refine.stderr
    report = json.loads((tmp_path / "refine.json").read_text())
    assert report["counts"] == {"accepted": 15, "rejected": 1}
    row = next(r for r in report["rows"] if r["outcome"] == "rejected")
    assert (row["chip"], row["season"], row["scene_id"]) == (f"{CHIP}_2024", "planting", APR03)
    assert row["cloud_cover"] > 10 and row["threshold"] == 0.0
    item = planting_item(out)
    assert item["properties"]["eo:cloud_cover"] == row["cloud_cover"] and item["properties"]["ftw:cloud_cover_measured"]
    with duckdb.connect(str(out / "ftw.duckdb"), read_only=True) as con:
        assert con.execute("SELECT chip_id, year, season, scene_id FROM rejected_scenes").fetchall() == [
            (CHIP, 2024, "planting", APR03)]

    layout = Layout(out, "ds")
    instance, defs = open_instance(layout), build_defs(out)
    with dg.build_sensor_context(instance=instance, definitions=defs,
                                 resources={"dataset": DatasetResource(output_dir=str(out))}) as context:
        result = reselect_cloudy_chips(context)
    (request,) = result.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == request.tags["dagster/asset_partition_range_end"] \
        == f"{CHIP}|2024"
    assert [k.to_user_string() for k in request.asset_selection] == [
        "selected_scenes", "clipped_images", "cloud_refinement", "stac_catalog"]
    # Run what the sensor asked for, as the daemon would (in-process here).
    (outcome,) = execute_plan(defs, instance, [(request.asset_selection, f"{CHIP}|2024", f"{CHIP}|2024", 1)],
                              echo=lambda _: None, tags=request.tags)
    assert outcome.success, outcome.errors

    picks = chosen(out)
    assert picks[(CHIP, "planting")] == APR08
    assert {k: v for k, v in picks.items() if k != (CHIP, "planting")} == {
        k: v for k, v in EXPECTED.items() if k != (CHIP, "planting")}
    item = planting_item(out)
    assert item["properties"]["eo:cloud_cover"] == 0.0 and item["properties"]["ftw:cloud_cover_measured"]
    with rasterio.open(out / "ds-chips" / f"{CHIP}_2024" / f"{CHIP}_2024_planting_image_s2.tif") as src:
        assert src.tags()["source_item"] == APR08
    parent = json.loads((out / "ds-chips" / f"{CHIP}_2024" / f"{CHIP}_2024.json").read_text())
    assert parent["properties"]["start_datetime"].startswith("2024-04-08")
    assert parent["properties"]["ftw:cloud_cover_pixel_threshold"] == 0.0
    report = json.loads((out / "ds-chips" / "refinement_report.json").read_text())
    assert report["counts"] == {"accepted": 16}

    # The new refinement of that chip rejected nothing: the sensor asks for no more runs.
    with dg.build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs,
                                 resources={"dataset": DatasetResource(output_dir=str(out))}) as context:
        assert reselect_cloudy_chips(context).run_requests == []


def test_refine_cloud_cover_reselects_in_process_and_caps_attempts(tmp_path, archive_parquet, demo_inputs):
    out = build(tmp_path, archive_parquet, demo_inputs)
    run = ftwd("refine-cloud-cover", out)
    assert run.returncode == 0, run.stderr
    assert f"selecting again for 1 chip-year(s) whose scene was rejected: {CHIP}|2024" in run.stdout
    assert chosen(out)[(CHIP, "planting")] == APR08
    # With no re-selection allowed the chip-season is skipped with the reason instead.
    out2 = build(tmp_path / "b", archive_parquet, demo_inputs)
    capped = ftwd("refine-cloud-cover", out2, "--max-attempts", "0")
    assert capped.returncode == 0, capped.stderr
    assert (CHIP, "planting") not in chosen(out2)
    selection = json.loads((out2 / "ds-chips" / "selection_report.json").read_text())
    assert [s["chip"] for s in selection["skipped"]] == [f"{CHIP}_2024"]
    assert "re-selection(s) are used up" in selection["skipped"][0]["reason"]
    folder = out2 / "ds-chips" / f"{CHIP}_2024"
    assert not list(folder.glob("*planting*"))  # no item or image describes the dropped choice
    parent = json.loads((folder / f"{CHIP}_2024.json").read_text())
    assert parent["properties"]["ftw:seasons_missing"][0]["season"] == "planting"
