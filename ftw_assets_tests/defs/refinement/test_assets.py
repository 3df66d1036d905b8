"""Cloud refinement end to end on the generated archive: the scene that is clear at scene level but
cloudy over chip 7830 is selected first, refinement rejects it for that chip, the sensor re-selects,
and the chip ends with a clear scene, a refreshed image and catalog; the other chips keep theirs.
A scene saturated over another chip (SCL clear) is rejected as blank and re-selected the same way."""

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import rasterio

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.export.ftw import export_ftw
from ftw_assets.definitions import build_defs
from ftw_assets.automation.sensors import reselect_cloudy_chips
from ftw_assets.resources import DatasetResource
from ftw_assets.instance import open_instance
from ftw_assets.runner import execute_plan
from ftw_assets.defs import clipped_images, cloud_refinement
from ftw_assets_tests.helpers import APR03, APR08, EXPECTED, OCT30, chosen, ftwd, materializations

CHIP = "ftw-33UWP7830"


def build(tmp_path, archive_parquet, demo_inputs, *options):
    """The demo dataset with images; without options, refinement off (these tests turn it on themselves)."""
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--download-images", "--crop-calendar-dir", calendar, *(options or ["--no-refine-cloud"]))
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
    assert row["cloud_cover"] > 10 and row["threshold"] == 1.0
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
    # The metadata says which figure is which: the images were cut before refinement measured the new
    # scene on the chip, so they carry its scene-level cover only; the refinement carries the chip's.
    # The harvest scene is the one refinement measured before the re-selection: its figure is known.
    images_meta = materializations(instance, clipped_images)[f"{CHIP}|2024"]
    assert images_meta["planting_scene"] == APR08 and images_meta["planting_scene_cloud_cover"] == 1.749325
    assert "planting_chip_cloud_cover" not in images_meta and "planting_cloud_cover" not in images_meta
    assert images_meta["harvest_chip_cloud_cover"] == 0.0
    assert "| chip-level cloud | not measured | 0 % |" in images_meta["preview"]
    refine_meta = materializations(instance, cloud_refinement)[f"{CHIP}|2024"]
    assert refine_meta["planting_chip_cloud_cover"] == 0.0 and refine_meta["planting_outcome"] == "accepted"
    with rasterio.open(out / "ds-chips" / f"{CHIP}_2024" / f"{CHIP}_2024_planting_image_s2.tif") as src:
        assert src.tags()["source_item"] == APR08
    parent = json.loads((out / "ds-chips" / f"{CHIP}_2024" / f"{CHIP}_2024.json").read_text())
    assert parent["properties"]["start_datetime"].startswith("2024-04-08")
    assert parent["properties"]["ftw:cloud_cover_pixel_threshold"] == 1.0
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


def test_create_dataset_with_images_refines_by_default(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--download-images", "--crop-calendar-dir", calendar)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cloud refinement on: a scene with more than 1 % cloud on the chip" in run.stdout
    assert f"selecting again for 1 chip-year(s) whose scene was rejected: {CHIP}|2024" in run.stdout
    assert "Cloud refinement: 16 chip-season(s) {'accepted': 16}" in run.stdout
    assert f"{CHIP}_2024 planting S2A_T33UWP_20240408T100648_L2A  cloud   0.00 %  threshold 1 %  accepted  " \
           "(1 rejected so far)" in run.stdout
    assert chosen(out) == {**EXPECTED, (CHIP, "planting"): APR08}
    props = planting_item(out)["properties"]
    assert (props["eo:cloud_cover"], props["ftw:cloud_cover_measured"]) == (0.0, True)
    assert (props["ftw:refinement_outcome"], props["ftw:rejected_scenes"]) == ("accepted", [APR03])
    harvest = json.loads((out / "ds-chips" / f"{CHIP}_2024" / f"{CHIP}_2024_harvest_s2.json").read_text())
    assert (harvest["properties"]["ftw:refinement_outcome"], harvest["properties"]["ftw:rejected_scenes"]) == (
        "accepted", [])
    assert json.loads((out / "refinement.json").read_text())["cloud_cover_pixel"] == 1.0
    # Turned off again: the options file goes, nothing is redone.
    off = ftwd("download-images", out, "--no-refine-cloud")
    assert off.returncode == 0, off.stdout + off.stderr
    assert f"cloud refinement off: removed {out / 'refinement.json'}" in off.stdout
    assert "0 chip-years need work" in off.stdout and not (out / "refinement.json").exists()


def test_refine_cloud_needs_selected_scenes(tmp_path, demo_inputs):
    fields, _ = demo_inputs
    run = ftwd("create-dataset", fields, tmp_path / "out", "--year", "2024", "--refine-cloud")
    assert run.returncode == 2 and "--refine-cloud measures cloud in the selected scenes" in run.stderr
    assert not (tmp_path / "out").exists()


# --- a scene whose chip window is blank although SCL calls it clear ---

BLANK_CHIP, OCT25 = "ftw-33UWP8428", "S2A_T33UWP_20241025T101608_L2A"
BLANK_BOX = (583950.0, 5327950.0, 586050.0, 5330050.0)  # chip ftw-33UWP8428's cell and a 50 m margin


def archive_with_blank_chip(archive_parquet: Path, dest: Path) -> Path:
    """The generated archive with the harvest scene of Oct 30 saturated over one chip (R, G, B, NIR
    one value each, as a sensor saturated by cloud gives) while its SCL says clear: the other
    scenes and bands are symlinks, the four bands are rewritten."""
    src = archive_parquet.parent
    shutil.copy(archive_parquet, dest / archive_parquet.name)
    for path in src.rglob("*.tif"):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if OCT30 not in str(path) or path.stem not in ("B02", "B03", "B04", "B08"):
            target.symlink_to(path)
            continue
        with rasterio.open(path) as band:
            profile, data = band.profile, band.read(1)
            rows, cols = rasterio.transform.rowcol(band.transform, [BLANK_BOX[0], BLANK_BOX[2]],
                                                   [BLANK_BOX[3], BLANK_BOX[1]])
        data[rows[0]:rows[1], cols[0]:cols[1]] = 9000 + ("B02", "B03", "B04", "B08").index(path.stem) * 100
        with rasterio.open(target, "w", **profile) as out:
            out.write(data, 1)
    return dest / archive_parquet.name


def blank_build(tmp_path, archive_parquet, demo_inputs, *options):
    archive = tmp_path / "archive"
    archive.mkdir()
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host",
               archive_with_blank_chip(archive_parquet, archive), "--download-images", "--crop-calendar-dir",
               calendar, *options)
    return out, run


def test_a_blank_chip_image_is_reselected_by_default(tmp_path, archive_parquet, demo_inputs):
    out, run = blank_build(tmp_path, archive_parquet, demo_inputs)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"selecting again for 2 chip-year(s) whose scene was rejected: {CHIP}|2024, {BLANK_CHIP}|2024" \
        in run.stdout
    picks = chosen(out)
    assert picks[(BLANK_CHIP, "harvest")] == OCT25 and picks[(CHIP, "planting")] == APR08
    item = json.loads((out / "ds-chips" / f"{BLANK_CHIP}_2024" / f"{BLANK_CHIP}_2024_harvest_s2.json").read_text())
    assert item["properties"]["ftw:refinement_outcome"] == "accepted"
    assert item["properties"]["ftw:rejected_scenes"] == [OCT30]
    with duckdb.connect(str(out / "ftw.duckdb"), read_only=True) as con:
        assert sorted(con.execute("SELECT chip_id, season, scene_id FROM rejected_scenes").fetchall()) == [
            (CHIP, "planting", APR03), (BLANK_CHIP, "harvest", OCT30)]
    with rasterio.open(out / "ds-chips" / f"{BLANK_CHIP}_2024" / f"{BLANK_CHIP}_2024_harvest_image_s2.tif") as src:
        assert src.tags()["source_item"] == OCT25 and min(float(b.std()) for b in src.read()) > 0
    assert "[checks] no_blank_band+valid_cog_on_mask_grid+values_in_range: unpartitioned ok" in run.stdout


def test_without_refinement_the_blank_image_fails_the_check_and_the_export_leaves_it_out(
        tmp_path, archive_parquet, demo_inputs):
    out, run = blank_build(tmp_path, archive_parquet, demo_inputs, "--no-refine-cloud")
    assert run.returncode == 1 and "check no_blank_band failed" in run.stdout + run.stderr
    assert chosen(out)[(BLANK_CHIP, "harvest")] == OCT30 and not (out / "refinement.json").exists()
    settings = DatasetSettings.load(out)
    report = export_ftw(Layout(out, "ds"), settings, tmp_path / "ftw", "austria")
    assert [(x.aoi_id, x.reason) for x in report.left_out] == [
        (f"{BLANK_CHIP}_2024", "harvest image is blank (red, green, blue, nir constant)")]
    assert sum(report.samples.values()) == 7
    # The 16 % cloud over chip 7830 stays: scene-level cloud only, as asked.
    assert chosen(out)[(CHIP, "planting")] == APR03
