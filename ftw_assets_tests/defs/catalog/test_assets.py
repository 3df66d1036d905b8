"""stac_catalog through ``dg.materialize``: each chip-year's parent item, and the collection and
items.parquet brought up to date for its chip-years after every run, also when one fails."""

import json

import duckdb
import geopandas as gpd

from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.defs.masks.assets import masks
from ftw_assets_tests.helpers import materialize, materializations

WEST_CHIP, EAST_CHIP, NO_MASKS = "ftw-33UWP7830", "ftw-33UWP8430", "ftw-33UWP8030"


def listed(layout):
    """The item hrefs collection.json links, and the ids in items.parquet."""
    collection = json.loads(layout.collection_json.read_text())
    validate_stac(collection)
    links = sorted(link["href"] for link in collection["links"] if link["rel"] == "item")
    with duckdb.connect() as con:
        ids = [r[0] for r in con.execute(f"SELECT id FROM read_parquet('{layout.items_parquet}') ORDER BY id").fetchall()]
    return links, ids


def test_parent_items_collection_and_index(demo_chips):
    layout, instance = demo_chips
    chips = gpd.read_parquet(layout.chips_parquet).set_index("chip_id")
    for chip in (WEST_CHIP, EAST_CHIP):
        assert materialize(layout, [masks], instance, chip=chip).success

    assert materialize(layout, [stac_catalog], instance, chip=WEST_CHIP).success
    item = json.loads(layout.item_json(WEST_CHIP, 2024).read_text())
    validate_stac(item)
    row = chips.loc[WEST_CHIP]
    props = item["properties"]
    assert (item["id"], item["collection"]) == (f"{WEST_CHIP}_2024", "ds-chips")
    assert (props["ftw:split"], props["ftw:field_count"], props["ftw:coverage"], props["ftw:year"]) == (
        row["split"], 40, round(row["coverage"], 4), 2024)
    assert (props["proj:code"], props["proj:shape"], props["proj:bbox"]) == (
        "EPSG:32633", [200, 200], [578000.0, 5330000.0, 580000.0, 5332000.0])
    assert sorted(item["assets"]) == ["instance", "instance_ids", "semantic_2_class", "semantic_3_class"]
    for asset in item["assets"].values():
        assert (layout.item_json(WEST_CHIP, 2024).parent / asset["href"]).exists(), asset["href"]
    assert "ftw:planting_day" not in props  # crop_calendar has not run for it
    assert listed(layout) == ([f"./{WEST_CHIP}_2024/{WEST_CHIP}_2024.json"], [f"{WEST_CHIP}_2024"])

    # A second chip-year joins the collection and the index; the first item is kept.
    assert materialize(layout, [stac_catalog], instance, chip=EAST_CHIP).success
    assert json.loads(layout.item_json(EAST_CHIP, 2024).read_text())["properties"]["ftw:field_count"] == 9
    both = ([f"./{c}_2024/{c}_2024.json" for c in (WEST_CHIP, EAST_CHIP)], [f"{c}_2024" for c in (WEST_CHIP, EAST_CHIP)])
    assert listed(layout) == both
    assert set(materializations(instance, stac_catalog)) == {f"{WEST_CHIP}|2024", f"{EAST_CHIP}|2024"}

    # A chip-year without masks fails with the reason, writes no item, and the catalog still lists the two.
    failed = materialize(layout, [stac_catalog], instance, chip=NO_MASKS, raise_on_error=False)
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.is_step_failure]
    assert f"masks missing, materialize masks for {NO_MASKS}|2024 first" in failure.step_failure_data.error.to_string()
    assert not layout.item_json(NO_MASKS, 2024).exists()
    assert listed(layout) == both
    assert set(map(str, instance.get_materialized_partitions(stac_catalog.key))) == {f"{WEST_CHIP}|2024", f"{EAST_CHIP}|2024"}
