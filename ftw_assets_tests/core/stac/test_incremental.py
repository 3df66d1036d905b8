"""The incremental catalog: a catalog run rewrites only its own chip-years' entries (the index file and
tile catalog of their MGRS tile, and collection.json when it changes), and the result is byte-identical
to a rebuild from scratch over the same item files; readers take the index folder as one table."""

import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.stac.collection import rebuild_collection, update_collection
from ftw_assets.core.stac.items import item_tile
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.demo.world import DEMO_YEAR, make_demo_fields
from ftw_assets_tests.helpers import create_demo_dataset, materialize


def catalog_files(layout: Layout) -> dict[str, bytes]:
    """What the catalog update writes: collection.json, the index files and the tile catalogs."""
    found = {"collection.json": layout.collection_json.read_bytes()}
    for root in (layout.items_parquet, layout.tiles_dir):
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file():
                found[path.relative_to(layout.catalog_dir).as_posix()] = path.read_bytes()
    return found


def stamps(layout: Layout) -> dict[str, tuple[str, int]]:
    """(sha256, mtime) of every file the catalog update writes."""
    return {rel: (hashlib.sha256(data).hexdigest(), (layout.catalog_dir / rel).stat().st_mtime_ns)
            for rel, data in catalog_files(layout).items()}


def rebuilt_from_scratch(layout: Layout, tmp: Path, fields: str, base_url=None) -> dict[str, bytes]:
    """The same files rebuilt from scratch, in a copy of the catalog folder without them."""
    copy = Layout(tmp / "scratch", layout.name)
    shutil.rmtree(copy.output_dir, ignore_errors=True)
    shutil.copytree(layout.catalog_dir, copy.catalog_dir)
    shutil.rmtree(copy.items_parquet)
    shutil.rmtree(copy.tiles_dir, ignore_errors=True)
    copy.collection_json.unlink()
    rebuild_collection(copy, fields, base_url=base_url)
    return catalog_files(copy)


def item_files(layout: Layout) -> list[Path]:
    return sorted(layout.catalog_dir.glob("*_*/*.json"))


def check_readers(layout: Layout) -> None:
    """DuckDB and geopandas read the index folder as one table of every item; its files share one schema."""
    ids = sorted(p.stem for p in item_files(layout))
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT id FROM read_parquet('{layout.items_parquet}') ORDER BY id").fetchall()
        globbed = con.execute(f"SELECT count(*) FROM read_parquet('{layout.items_parquet}/*.parquet')").fetchone()[0]
    assert [r[0] for r in rows] == ids and globbed == len(ids)
    assert sorted(gpd.read_parquet(layout.items_parquet)["id"]) == ids
    schemas = {pq.read_schema(p).remove_metadata().to_string() for p in layout.items_parquet.glob("*.parquet")}
    assert len(schemas) == 1
    assert not list(layout.items_parquet.glob(".*")), "no temp file inside the folder readers take whole"


def two_tile_dataset(tmp_path: Path) -> tuple[Layout, str]:
    """The demo fields and a copy 100 km east: 8 chips in MGRS tile 33UWP and 8 in 33UXP."""
    west = make_demo_fields()
    east = west.assign(id=[f"E{i}" for i in west["id"]], geometry=west.geometry.translate(xoff=100_000))
    fields = tmp_path / "fields.gpkg"
    gpd.GeoDataFrame(pd.concat([west, east], ignore_index=True), crs=west.crs).to_file(fields, layer="fields")
    out = tmp_path / "ds"
    out.mkdir()
    DatasetSettings(fields=str(fields), name="ds", year=DEMO_YEAR).check().save(out)
    return Layout(out.resolve(), "ds"), str(fields)


def test_each_run_rewrites_only_its_tile_and_equals_a_rebuild(tmp_path):
    from ftw_assets.defs.catalog.assets import stac_catalog
    from ftw_assets.defs.chips.assets import chip_registry, field_boundaries
    from ftw_assets.defs.masks.assets import masks

    layout, fields = two_tile_dataset(tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        materialize(layout, [field_boundaries, chip_registry], instance)
        chips = instance.get_dynamic_partitions("chips")  # registration order: tile by tile
        assert len(chips) == 16 and [item_tile(ChipYear(c, DEMO_YEAR)) for c in chips] == ["33UWP"] * 8 + ["33UXP"] * 8
        for first in range(0, 16, 4):  # four runs of four chip-years, as `--chips-per-run 4` makes them
            run = chips[first:first + 4]
            before = stamps(layout) if layout.collection_json.exists() else {}
            assert materialize(layout, [masks, stac_catalog], instance, chip=run[0], last_chip=run[-1]).success
            after = stamps(layout)
            tile = item_tile(ChipYear(run[0], DEMO_YEAR))
            own = {f"items.parquet/{tile}.parquet", f"tiles/{tile}/catalog.json", "collection.json"}
            rewritten = {rel for rel in before if before[rel] != after.get(rel)}
            created = set(after) - set(before)
            # Only this run's tile: its index file and tile catalog, and the collection (new extent, links);
            # the run that brings the second tile also writes the first tile's catalog, once.
            assert rewritten <= own and f"items.parquet/{tile}.parquet" in rewritten | created
            assert created - own <= ({"tiles/33UWP/catalog.json"} if first == 8 else set())
            assert catalog_files(layout) == rebuilt_from_scratch(layout, tmp_path, fields)

    # Two tiles: the collection links a catalog per tile, each linking its own tile's items.
    collection = json.loads(layout.collection_json.read_text())
    validate_stac(collection)
    assert [ln["href"] for ln in collection["links"] if ln["rel"] in ("item", "child")] == [
        "./tiles/33UWP/catalog.json", "./tiles/33UXP/catalog.json"]
    for tile in ("33UWP", "33UXP"):
        catalog = json.loads(layout.tile_catalog(tile).read_text())
        validate_stac(catalog)
        hrefs = [ln["href"] for ln in catalog["links"] if ln["rel"] == "item"]
        assert hrefs == [f"../../{p.parent.name}/{p.name}" for p in item_files(layout) if tile in p.name]
        assert all((layout.tile_catalog(tile).parent / h).resolve().exists() for h in hrefs)
        assert {ln["rel"]: ln["href"] for ln in catalog["links"] if ln["rel"] != "item"} == {
            "root": "../../collection.json", "parent": "../../collection.json"}
    assert len(item_files(layout)) == 16
    check_readers(layout)

    # A property that appears in one chip-year only, with a wider type: every index file gets the union
    # schema; once it is gone again, every file is back to the bytes it had.
    settled = catalog_files(layout)
    cy = ChipYear(chips[0], DEMO_YEAR)
    path = layout.item_json(cy.chip, cy.year)
    original = path.read_text()
    item = json.loads(original)
    item["properties"].update({"ftw:field_count": 40.5, "ftw:note": "an extra property"})
    path.write_text(json.dumps(item, indent=2) + "\n")
    update_collection(layout, fields, [cy], base_url=None)
    for part in layout.items_parquet.glob("*.parquet"):
        schema = pq.read_schema(part)
        assert str(schema.field("ftw:field_count").type) == "double" and "ftw:note" in schema.names
    check_readers(layout)
    assert catalog_files(layout) == rebuilt_from_scratch(layout, tmp_path, fields)
    path.write_text(original)
    update_collection(layout, fields, [cy], base_url=None)
    assert catalog_files(layout) == settled

    # Entries no run updated are repaired by the next update, whichever chip-years it is for: a folder
    # gone (its entries go), a folder of items the index does not know (a run killed before its update).
    folder = layout.chip_dir(cy.chip, cy.year)
    folder.rename(tmp_path / "aside")
    update_collection(layout, fields, (), base_url=None)
    assert not any(cy.stem in p.name for p in item_files(layout))
    check_readers(layout)
    assert catalog_files(layout) == rebuilt_from_scratch(layout, tmp_path, fields)
    (tmp_path / "aside").rename(folder)
    update_collection(layout, fields, (), base_url=None)
    assert catalog_files(layout) == settled

    # Every item of one tile removed: its index file and catalog go, and the collection links the items.
    east = [ChipYear(c, DEMO_YEAR) for c in chips[8:]]
    for gone in east:
        shutil.rmtree(layout.chip_dir(gone.chip, gone.year))
    update_collection(layout, fields, east, base_url=None)
    assert sorted(p.name for p in layout.items_parquet.iterdir()) == ["33UWP.parquet"]
    assert not layout.tiles_dir.exists()
    collection = json.loads(layout.collection_json.read_text())
    validate_stac(collection)
    assert [ln["href"] for ln in collection["links"] if ln["rel"] in ("item", "child")] == [
        f"./{p.parent.name}/{p.name}" for p in item_files(layout)]
    check_readers(layout)
    assert catalog_files(layout) == rebuilt_from_scratch(layout, tmp_path, fields)


def test_an_index_in_one_file_is_rebuilt_as_a_folder(tmp_path):
    """Datasets of earlier versions have a single items.parquet: the next update rebuilds it as a folder."""
    layout, fields = two_tile_dataset(tmp_path)
    from ftw_assets.defs.catalog.assets import stac_catalog
    from ftw_assets.defs.chips.assets import chip_registry, field_boundaries
    from ftw_assets.defs.masks.assets import masks

    with dg.DagsterInstance.ephemeral() as instance:
        materialize(layout, [field_boundaries, chip_registry], instance)
        chips = instance.get_dynamic_partitions("chips")
        assert materialize(layout, [masks, stac_catalog], instance, chip=chips[0], last_chip=chips[-1]).success
    expected = catalog_files(layout)
    shutil.rmtree(layout.items_parquet)
    layout.items_parquet.write_bytes(b"an index file of an older version")
    update_collection(layout, fields, [ChipYear(chips[0], DEMO_YEAR)], base_url=None)
    assert catalog_files(layout) == expected


def test_create_dataset_in_runs_of_two_equals_a_rebuild(tmp_path, archive_parquet, demo_inputs):
    """`ftwd create-dataset --download-images --chips-per-run 2`: four runs, then re-selection of one
    chip-year; parent and season items, with images and cloud refinement."""
    out = tmp_path / "out"
    create_demo_dataset(out, demo_inputs, archive_parquet, "--download-images", "--chips-per-run", "2")
    layout = Layout(out.resolve(), "ds")
    fields = json.loads((out / "dataset.json").read_text())["fields"]
    assert len(item_files(layout)) == 24  # 8 parents, 16 season items
    assert catalog_files(layout) == rebuilt_from_scratch(layout, tmp_path, fields)
    assert sorted(p.name for p in layout.items_parquet.iterdir()) == ["33UWP.parquet"]
    check_readers(layout)


def test_a_field_without_values_any_more_narrows_to_the_null_type():
    """When the last value of a field goes, the union types it null, also inside structs and lists,
    which Arrow's cast cannot do by itself."""
    import pyarrow as pa

    from ftw_assets.core.stac.items import _conform

    struct = pa.struct([("x", pa.string()), ("y", pa.int64())])
    table = pa.table({"id": ["a", "b"], "s": pa.array([{"x": None, "y": 1}, None], struct),
                      "l": pa.array([[None], []], pa.list_(pa.string())), "gone": [None, None]})
    schema = pa.schema([("id", pa.string()), ("s", pa.struct([("x", pa.null()), ("y", pa.float64())])),
                        ("l", pa.list_(pa.field("element", pa.null()))), ("new", pa.int64())])
    conformed = _conform(table, schema)
    assert conformed.schema.equals(schema)
    assert conformed.to_pylist() == [{"id": "a", "s": {"x": None, "y": 1.0}, "l": [None], "new": None},
                                     {"id": "b", "s": None, "l": [], "new": None}]
