"""The runner's batching and per-chip outcomes, on a real Dagster instance on disk."""

import shutil

import dagster as dg

from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.defs.chips.assets import chip_grid, chip_registry, field_boundaries
from ftw_assets.demo.world import DEMO_YEAR
from ftw_assets.definitions import build_defs
from ftw_assets.defs.masks.assets import masks
from ftw_assets.partitions import CHIPS, partition_key
from ftw_assets.instance import open_instance
from ftw_assets.runner import materialize_missing, plan_runs
from ftw_assets_tests.helpers import DEMO_CHIPS, demo_dataset

UNPARTITIONED = [field_boundaries.key, chip_registry.key]


def test_plan_groups_contiguous_chips_and_reruns_downstream():
    a, b, c = dg.AssetKey("a"), dg.AssetKey("b"), dg.AssetKey("c")
    chips = ["c1", "c2", "c3", "c4", "c5"]
    done = {a: {partition_key(x, 2024) for x in chips}, b: {partition_key(x, 2024) for x in ["c1", "c2", "c4", "c5"]},
            c: {partition_key("c5", 2024)}}
    plan = plan_runs(chips, ["2024"], [a, b, c], done, batch=2)
    assert plan == [
        ([c], "c1|2024", "c2|2024", 2),
        ([b, c], "c3|2024", "c3|2024", 1),
        ([c], "c4|2024", "c4|2024", 1),
    ]


def test_plan_leaves_out_chips_not_in_the_table_and_no_range_spans_them():
    a = dg.AssetKey("a")
    chips = ["c1", "c2", "typed-in-ui", "c3", "c4"]
    plan = plan_runs(chips, ["2024"], [a], {a: set()}, batch=10, only={"c1", "c2", "c3", "c4"})
    # Dagster reads a range run's partitions from its first and last key: a range over c2..c3 would
    # take the hand-made partition in between with it.
    assert plan == [([a], "c1|2024", "c2|2024", 2), ([a], "c3|2024", "c4|2024", 2)]


def test_workers_take_contiguous_parts_or_runs_in_turn_when_they_share_a_reader():
    from ftw_assets.runner import PlannedRun, shard_plan

    a = dg.AssetKey("a")
    plan = plan_runs([f"c{i}" for i in range(9)], ["2024"], [a], {a: set()}, batch=2)
    assert [r.count for r in plan] == [2, 2, 2, 2, 1] and shard_plan(plan, 2) == [0, 0, 1, 1, 1]
    assert shard_plan([PlannedRun([a], "x", "y", n) for n in (10, 10, 10, 30)], 2) == [0, 0, 0, 1]
    assert shard_plan(plan[:1], 2) == [0]
    assert shard_plan(plan, 2, shared_reads=True) == [0, 1, 0, 1, 0]


def test_failed_chip_is_the_only_one_left_to_redo(tmp_path):
    layout = demo_dataset(tmp_path / "demo", name="demo")
    instance = open_instance(layout)
    defs = build_defs(layout.output_dir)
    lines = []
    first = materialize_missing(defs, instance, UNPARTITIONED, [chip_grid.key, masks.key], batch=50, echo=lines.append)
    assert not first.failed
    chips = list(instance.get_dynamic_partitions("chips"))
    assert len(chips) == 8 and len(first.runs) == 3  # two unpartitioned runs, one batch of 8 chip-years

    # Take one chip's mask away: the catalog step must fail for that chip only.
    victim = chips[3]
    mask = layout.chip_file(victim, DEMO_YEAR, "semantic_3_class.tif")
    shutil.move(mask, tmp_path / "kept.tif")
    second = materialize_missing(defs, instance, UNPARTITIONED, [chip_grid.key, masks.key, stac_catalog.key],
                                 batch=50, echo=lines.append)
    assert len(second.failed) == 1 and victim in "\n".join(second.failed[0].errors)
    done = set(map(str, instance.get_materialized_partitions(stac_catalog.key)))
    assert done == {partition_key(c, DEMO_YEAR) for c in chips if c != victim}
    assert len(list(layout.catalog_dir.glob("*/*.json"))) == 7  # the catalog lists what exists

    shutil.move(tmp_path / "kept.tif", mask)
    third = materialize_missing(defs, instance, UNPARTITIONED, [chip_grid.key, masks.key, stac_catalog.key],
                                batch=50, echo=lines.append)
    assert [(r.assets, r.first, r.partitions, r.success) for r in third.runs] == [
        (["stac_catalog"], partition_key(victim, DEMO_YEAR), 1, True)]
    assert len(set(map(str, instance.get_materialized_partitions(stac_catalog.key)))) == 8
    assert len(list(layout.catalog_dir.glob("*/*.json"))) == 8


def test_runs_record_their_assets_and_range_and_unknown_chips_are_left_out(tmp_path):
    layout = demo_dataset(tmp_path / "demo", name="demo")
    instance = open_instance(layout)
    defs = build_defs(layout.output_dir)
    first = materialize_missing(defs, instance, UNPARTITIONED, [chip_grid.key, masks.key], batch=5, echo=print,
                                chip_table=layout.chips_parquet)
    assert not first.failed and len(first.runs) == 4
    # The runs ftwd launches look like the UI's own: asset selection and partition range recorded.
    records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    recorded = [(r.dagster_run.asset_selection, r.dagster_run.tags.get("dagster/asset_partition_range_start"),
                 r.dagster_run.tags.get("dagster/asset_partition_range_end"), r.dagster_run.tags["ftw/launched_by"])
                for r in records]
    assert recorded == [
        ({field_boundaries.key}, None, None, "ftwd"),
        ({chip_registry.key}, None, None, "ftwd"),
        ({chip_grid.key, masks.key}, partition_key(DEMO_CHIPS[0], DEMO_YEAR), partition_key(DEMO_CHIPS[4], DEMO_YEAR),
         "ftwd"),
        ({chip_grid.key, masks.key}, partition_key(DEMO_CHIPS[5], DEMO_YEAR), partition_key(DEMO_CHIPS[7], DEMO_YEAR),
         "ftwd"),
    ]

    # A chip partition typed into the UI is no cell of the chip table: left out, with what to do.
    instance.add_dynamic_partitions(CHIPS, ["ftw-33UWP0000"])
    lines = []
    again = materialize_missing(defs, instance, UNPARTITIONED, [chip_grid.key, masks.key], echo=lines.append,
                                chip_table=layout.chips_parquet)
    assert again.runs == []
    assert any("left out 1 chip partition(s) that are not cells of this dataset's chip table" in ln
               and "ftw-33UWP0000" in ln and "delete_dynamic_partition('chips', ID)" in ln for ln in lines)
    assert "8 chips x 1 year(s): 0 chip-years need work, in 0 run(s)" in lines

    # Asked for anyway (as a UI launch would), chip_grid says what is wrong instead of a KeyError.
    forced = materialize_missing(defs, instance, UNPARTITIONED, [chip_grid.key], echo=lines.append)
    (failed,) = forced.failed
    assert failed.first == partition_key("ftw-33UWP0000", DEMO_YEAR)
    assert "ftw-33UWP0000 is a chip partition of this Dagster instance but not a cell of the dataset's chip table" \
        in "\n".join(failed.errors)
