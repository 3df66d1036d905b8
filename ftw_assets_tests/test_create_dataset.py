"""End to end: `ftwd create-dataset` through Dagster on a real instance on disk."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import geopandas as gpd
import numpy as np
import rasterio

from ftw_assets.core.raster.cog import is_valid_cog
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets_tests.helpers import ftwd


def _materialization_count(home: Path) -> int:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return sum(
            len(instance.fetch_materializations(dg.AssetKey(k), limit=10_000).records)
            for k in ("field_boundaries", "chip_registry", "chip_grid", "masks", "stac_catalog")
        )


def test_create_dataset_flanders_end_to_end(flanders, tmp_path):
    out = tmp_path / "be"
    first = ftwd("create-dataset", flanders, out, "--name", "be", "--chips-per-run", "10")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "year 2024" in first.stdout  # from determination_datetime
    catalog = out / "be-chips"
    chips = gpd.read_parquet(catalog / "chips.parquet")
    assert len(chips) == 24 and set(chips["epsg"]) == {32631}
    # 24 chip-years in runs of at most 10: 3 batched runs, not 24.
    assert "24 chip-years need work, in 3 run(s)" in first.stdout

    collection = json.loads((catalog / "collection.json").read_text())
    validate_stac(collection)
    item_files = sorted(catalog.glob("*/*.json"))
    assert len(item_files) == 24
    assert sorted(ln["href"] for ln in collection["links"] if ln["rel"] == "item") == sorted(
        f"./{p.parent.name}/{p.name}" for p in item_files)
    for path in item_files:
        item = json.loads(path.read_text())
        validate_stac(item)
        chip, year = item["id"].rsplit("_", 1)
        row = chips.set_index("chip_id").loc[chip]
        assert item["properties"]["ftw:split"] == row["split"] and year == "2024"
        assert set(item["assets"]) == {"instance", "semantic_2_class", "semantic_3_class", "instance_ids"}
        for key, asset in item["assets"].items():
            target = path.parent / asset["href"]
            assert target.exists(), target
            if key != "instance_ids":
                assert is_valid_cog(target)
                with rasterio.open(target) as src:
                    assert list(src.transform)[:6] == item["properties"]["proj:transform"]
                    assert [src.height, src.width] == item["properties"]["proj:shape"] == [200, 200]
        with rasterio.open(path.parent / item["assets"]["semantic_2_class"]["href"]) as src:
            field_px = int((src.read(1) == 1).sum())
        # The mask's field share agrees with the chip table's coverage (10 m pixels vs exact area).
        assert abs(field_px / 400.0 - row["coverage"]) < 0.5 + 0.05 * row["coverage"]

    index = catalog / "items.parquet"
    with duckdb.connect() as con:
        n_duck = con.execute(f"SELECT count(*) FROM read_parquet('{index}')").fetchone()[0]
        ids_duck = sorted(r[0] for r in con.execute(f"SELECT id FROM read_parquet('{index}')").fetchall())
    frame = gpd.read_parquet(index)
    assert n_duck == len(frame) == 24
    assert ids_duck == sorted(frame["id"]) == sorted(p.stem for p in item_files)
    hrefs = [a["instance"]["href"] for a in frame["assets"]]
    assert all((catalog / h).exists() for h in hrefs)
    with duckdb.connect(str(out / "ftw.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), sum(field_count) FROM chips").fetchone() == (24, int(chips["field_count"].sum()))

    home = out / "dagster_home"
    before = _materialization_count(home)
    assert before == 2 + 3 * 24
    second = ftwd("create-dataset", flanders, out, "--name", "be", "--chips-per-run", "10")
    assert second.returncode == 0, second.stderr
    assert "Nothing to do" in second.stdout and "0 chip-years need work" in second.stdout
    assert _materialization_count(home) == before

    changed = ftwd("create-dataset", flanders, out, "--name", "be", "--min-coverage", "5")
    assert changed.returncode == 2 and "different min_coverage" in changed.stderr


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    result = ftwd("create-dataset", empty, out, "--year", "2024")
    assert result.returncode == 2
    assert "empty.geojson: the file has no features" in result.stderr
    assert not out.exists()


def test_denmark_string_ids_in_instance_tables(denmark, tmp_path):
    out = tmp_path / "dk"
    result = ftwd("create-dataset", denmark, out, "--year", "2024", "--mask-types", "instance", "--chip-size-px", "256")
    assert result.returncode == 0, result.stdout + result.stderr
    catalog = out / "ftw-chips"
    ids = {}
    for csv in catalog.glob("*/*_instance_ids.csv"):
        tif = csv.with_name(csv.name.replace("_instance_ids.csv", "_instance.tif"))
        with rasterio.open(tif) as src:
            values = set(np.unique(src.read(1))) - {0}
            assert src.width == src.height == 256
        lines = csv.read_text().splitlines()[1:]
        assert {int(line.split(",")[0]) for line in lines} == values
        ids.update({int(a): b for a, b in (line.split(",", 1) for line in lines)})
    dataset_ids = {int(a): b for a, b in (l.split(",", 1) for l in (catalog / "instance_ids.csv").read_text().splitlines()[1:])}
    assert dataset_ids[1] == "25-0" and all(dataset_ids[k] == v for k, v in ids.items())


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "FTW_OUTPUT_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-m", "ftw_assets"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
