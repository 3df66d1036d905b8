"""The chips group through ``dg.materialize`` on an ephemeral instance: field_boundaries, chip_registry
(the chip table, its registered partitions and splits) and chip_grid (each chip-year's pixel grid),
checked against the demo fields they are made from."""

import dagster as dg
import duckdb
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from ftw_assets.defs.chips.assets import chip_grid, chip_registry, field_boundaries
from ftw_assets.demo.world import DEMO_EPSG, make_demo_fields
from ftw_assets.partitions import CHIPS, YEARS
from ftw_assets_tests.helpers import DEMO_CHIPS, demo_dataset, materialize, materializations


def test_fields_and_chip_registry_register_the_demo_chips(tmp_path):
    demo = make_demo_fields()
    layout = demo_dataset(tmp_path / "ds")
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(layout, [field_boundaries, chip_registry], instance).success

        fields_meta = materializations(instance, field_boundaries)[None]
        assert fields_meta["rows_read"] == fields_meta["fields"] == len(demo) == 213
        assert (fields_meta["year"], fields_meta["source_crs"], fields_meta["repaired_invalid"]) == (2024, "EPSG:32633", 0)
        fields = gpd.read_parquet(layout.fields_parquet)
        assert fields.crs.to_epsg() == 4326 and list(fields["instance"]) == list(range(1, len(demo) + 1))
        ids = pd.read_csv(layout.instance_ids_csv)
        assert list(ids["field_id"]) == list(demo["id"]) and list(ids["instance"]) == list(fields["instance"])

        # The chips are the 2 km cells the demo parcels reach; each one's field count and coverage are
        # those of the demo parcels inside the cell (measured here in the demo's own UTM zone).
        chips = gpd.read_parquet(layout.chips_parquet).set_index("chip_id")
        assert sorted(chips.index) == sorted(DEMO_CHIPS) and set(chips["epsg"]) == {DEMO_EPSG}
        for chip, row in chips.iterrows():
            cell = shapely.box(row["cell_x"], row["cell_y"], row["cell_x"] + 2000, row["cell_y"] + 2000)
            inside = demo.geometry.intersection(cell)
            assert row["field_count"] == int((inside.area > 0).sum()), chip
            assert row["coverage"] == pytest.approx(shapely.union_all(inside.values).area / 4e4, abs=1e-6), chip
        assert chips.loc["ftw-33UWP7830", "field_count"] == 40 and chips.loc["ftw-33UWP8430", "field_count"] == 9

        # Partitions: the chips in block order (the S2 block holding each cell, then north to south), the year.
        assert list(instance.get_dynamic_partitions(CHIPS)) == DEMO_CHIPS
        assert list(instance.get_dynamic_partitions(YEARS)) == ["2024"]
        meta = materializations(instance, chip_registry)[None]
        assert (meta["chips"], meta["new_chips"], meta["year"], meta["zones"]) == (8, 8, 2024, {"32633": 8})
        # 80/10/10 over 8 chips with seed 42.
        assert meta["splits"] == chips["split"].value_counts().to_dict() == {"train": 6, "val": 1, "test": 1}
        with duckdb.connect(str(layout.duckdb), read_only=True) as con:
            assert con.execute("SELECT count(*), sum(field_count) FROM chips").fetchone() == (8, 264)

        # Registering again finds the same chips: no new partitions, the same splits.
        assert materialize(layout, [field_boundaries, chip_registry], instance).success
        again = materializations(instance, chip_registry)[None]
        assert (again["chips"], again["new_chips"], again["splits"]) == (8, 0, meta["splits"])
        assert list(instance.get_dynamic_partitions(CHIPS)) == DEMO_CHIPS


def test_chip_grid_records_each_chip_years_grid(demo_chips):
    layout, instance = demo_chips
    chips = gpd.read_parquet(layout.chips_parquet).set_index("chip_id")
    assert materialize(layout, [chip_grid], instance, chip="ftw-33UWP7830").success
    assert set(map(str, instance.get_materialized_partitions(chip_grid.key))) == {"ftw-33UWP7830|2024"}
    grid = materializations(instance, chip_grid)["ftw-33UWP7830|2024"]
    row = chips.loc["ftw-33UWP7830"]
    assert (grid["epsg"], grid["width"], grid["height"], grid["mgrs_tile"]) == (32633, 200, 200, "33UWP")
    assert grid["bounds"] == [578000.0, 5330000.0, 580000.0, 5332000.0]  # the cell itself, 10 m pixels
    assert (grid["split"], grid["field_count"], grid["coverage_pct"]) == (
        row["split"], row["field_count"], round(row["coverage"], 4))

    # A range run records every chip-year of the range, each with its own cell.
    assert materialize(layout, [chip_grid], instance, chip=DEMO_CHIPS[4], last_chip=DEMO_CHIPS[7]).success
    grids = materializations(instance, chip_grid)
    assert set(grids) == {"ftw-33UWP7830|2024", *(f"{c}|2024" for c in DEMO_CHIPS[4:])}
    for chip in DEMO_CHIPS[4:]:
        x, y = chips.loc[chip, "cell_x"], chips.loc[chip, "cell_y"]
        assert grids[f"{chip}|2024"]["bounds"] == [x, y, x + 2000, y + 2000]


def test_chip_size_px_pads_the_grid_around_the_cell(tmp_path):
    layout = demo_dataset(tmp_path / "ds", chip_size_px=256)
    with dg.DagsterInstance.ephemeral() as instance:
        materialize(layout, [field_boundaries, chip_registry], instance)
        assert materialize(layout, [chip_grid], instance, chip="ftw-33UWP7830").success
        grid = materializations(instance, chip_grid)["ftw-33UWP7830|2024"]
    # 256 px of 10 m: 2560 m, centred on the 2000 m cell (280 m on each side).
    assert (grid["epsg"], grid["width"], grid["height"]) == (32633, 256, 256)
    assert grid["bounds"] == [577720.0, 5329720.0, 580280.0, 5332280.0]
