"""The re-selection sensor, evaluated with build_sensor_context on a real on-disk instance seeded with
cloud refinement materializations."""

import dagster as dg
import pytest

from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.scenes.refinement import RefinementSettings, reselection_targets
from ftw_assets.definitions import build_defs
from ftw_assets.partitions import CHIPS, YEARS
from ftw_assets.defs.refinement.assets import cloud_refinement
from ftw_assets.automation.sensors import reselect_cloudy_chips
from ftw_assets.resources import DatasetResource

CHIP_IDS = [f"ftw-33UWP{e:02d}{n:02d}" for e in (78, 80, 82, 84) for n in (28, 30)]


@pytest.fixture
def setup(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    DatasetSettings(fields="fields.gpkg", name="ds", year=2024).save(out)
    RefinementSettings(max_attempts=2).save(out)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions(CHIPS, CHIP_IDS)
    instance.add_dynamic_partitions(YEARS, ["2024"])
    return instance, out


def refined(instance, chip, rejected):
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=cloud_refinement.key, partition=f"{chip}|2024", metadata={"rejected": dg.MetadataValue.json(rejected)}))


def evaluate(instance, out, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=build_defs(out),
                                 resources={"dataset": DatasetResource(output_dir=str(out))}) as context:
        return reselect_cloudy_chips(context)


def test_requests_exactly_the_rejected_chip_years_in_batched_ranges(setup):
    instance, out = setup
    for chip in CHIP_IDS:
        refined(instance, chip, {})
    for chip in ("ftw-33UWP7828", "ftw-33UWP7830", "ftw-33UWP8428"):
        refined(instance, chip, {"planting": 1})
    result = evaluate(instance, out)
    ranges = [(r.partition_key_range.start, r.partition_key_range.end) for r in result.run_requests]
    # 7828 and 7830 are neighbours in registration order: one run for both; 8428 alone.
    assert ranges == [("ftw-33UWP7828|2024", "ftw-33UWP7830|2024"), ("ftw-33UWP8428|2024", "ftw-33UWP8428|2024")]
    request = result.run_requests[0]
    assert [k.to_user_string() for k in request.asset_selection] == [
        "selected_scenes", "cloud_refinement", "stac_catalog"]  # no images were configured
    assert request.tags["ftw/trigger"] == "cloud-refinement" and request.tags["ftw/chip_years"] == "2"
    assert len({r.run_key for r in result.run_requests}) == 2

    # The cursor moved past these events: evaluating again asks for nothing (no duplicate runs).
    again = evaluate(instance, out, cursor=result.cursor)
    assert again.run_requests == [] and int(result.cursor) > 0

    # A new rejection after the cursor is picked up; one past the attempts is left alone.
    refined(instance, "ftw-33UWP8030", {"harvest": 2})
    refined(instance, "ftw-33UWP8228", {"planting": 4})
    later = evaluate(instance, out, cursor=result.cursor)
    assert [(r.partition_key_range.start, r.partition_key_range.end) for r in later.run_requests] == [
        ("ftw-33UWP8030|2024", "ftw-33UWP8030|2024")]
    assert int(later.cursor) > int(result.cursor)


def test_attempt_rule():
    events = [("a|2024", {"planting": 1}), ("b|2024", {"planting": 3}), ("c|2024", {"harvest": 4}), ("d|2024", {})]
    # max 3: after rejections 1-3 a new scene is tried, after the 4th a last run records the skip.
    assert reselection_targets(events, 3) == (["a|2024", "b|2024", "c|2024"], [])
    assert reselection_targets(events, 2) == (["a|2024", "b|2024"], ["c|2024"])


def test_rejections_of_runs_whose_ftwd_reselects_are_left_to_it(setup):
    # A cloud_refinement materialized in real runs: one by an ftwd that re-selects itself (its tag), one by a
    # run without it (a UI backfill, or ftwd --no-reselect).
    instance, out = setup

    @dg.asset(key=cloud_refinement.key, partitions_def=cloud_refinement.partitions_def)
    def refinement(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rejected": dg.MetadataValue.json({"planting": 1})})

    for chip, tags in (("ftw-33UWP7828", {"ftw/launched_by": "ftwd", "ftw/reselected_by": "ftwd"}),
                       ("ftw-33UWP8428", {"ftw/launched_by": "ftwd"})):
        assert dg.materialize([refinement], instance=instance, partition_key=f"{chip}|2024", tags=tags).success
    result = evaluate(instance, out)
    assert [(r.partition_key_range.start, r.partition_key_range.end) for r in result.run_requests] == [
        ("ftw-33UWP8428|2024", "ftw-33UWP8428|2024")]
    # ftwd's own re-selection still sees every rejection (it reads the state).
    from ftw_assets.pipeline import still_rejected

    assert [key for key, rejected in still_rejected(instance) if rejected] == ["ftw-33UWP7828|2024",
                                                                             "ftw-33UWP8428|2024"]
    # Only refinements left to ftwd since the cursor: nothing asked, and the cursor moves past them.
    assert dg.materialize([refinement], instance=instance, partition_key="ftw-33UWP7830|2024",
                          tags={"ftw/reselected_by": "ftwd"}).success
    later = evaluate(instance, out, cursor=result.cursor)
    assert later.run_requests == [] and int(later.cursor) > int(result.cursor)
