"""``ftwd`` starts without Dagster and the raster stack (they load in the commands that use them), every
command's --help works, and the plain Dagster CLI does what the README says it does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftw_assets.cli import main
from ftw_assets_tests.helpers import DEMO_CHIPS, ftwd

HEAVY = ("dagster", "rasterio", "geopandas", "pandas", "numpy", "pyproj", "shapely", "pystac", "duckdb", "pyarrow")
# What `ftwd --help` and these commands' --help load: their options read no settings module.
LIGHT_COMMANDS = ("status", "ui", "browse", "release", "export", "demo", "qa-report")


def _modules_after(args: list[str]) -> set[str]:
    """The modules imported after ``ftwd ARGS`` ran in a fresh interpreter."""
    code = ("import json, sys\nfrom ftw_assets.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "print('LOADED', json.dumps(sorted(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.rsplit("LOADED ", 1)[1]))


def _loaded_after(args: list[str]) -> set[str]:
    """The heavy top-level packages imported after ``ftwd ARGS`` ran in a fresh interpreter."""
    return {m.split(".")[0] for m in _modules_after(args)} & set(HEAVY)


def test_ftwd_help_lists_every_command_without_loading_dagster_or_the_raster_stack():
    assert _loaded_after(["--help"]) == set()
    listing = ftwd("--help").stdout
    assert all(f"  {name}" in listing for name in main.commands)


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_light_commands_help_loads_nothing_heavy(command):
    assert _loaded_after([command, "--help"]) == set()


def test_status_loads_dagster_but_not_the_asset_graph_or_the_raster_stack(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "ds"}))
    modules = _modules_after(["status", str(tmp_path)])
    assert {m.split(".")[0] for m in modules} & set(HEAVY) == {"dagster"}
    assert not {"ftw_assets.definitions", "ftw_assets.runner", "ftw_assets.pipeline"} & modules


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_help_works(command):
    run = CliRunner().invoke(main, [command, "--help"])
    assert run.exit_code == 0, run.output
    assert f"Usage: main {command}" in run.output or f"Usage: ftwd {command}" in run.output


def _dagster(*args, env):
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(dagster), *args], env=env, capture_output=True, text=True, timeout=300)


def test_plain_dagster_cli_materializes_one_partition_and_refuses_a_range(tmp_path):
    """README: `dagster asset materialize -m ftw_assets --partition 'chip|year'` works (the package gives
    Dagster its definitions on first access); `--partition-range` is refused for the multi-run backfill
    policy, so ranges go through ftwd or a UI backfill."""
    from ftw_assets.demo.world import write_demo_fields

    out = tmp_path / "ds"
    made = ftwd("create-dataset", write_demo_fields(tmp_path / "fields.gpkg"), out, "--name", "ds")
    assert made.returncode == 0, made.stderr
    env = {**os.environ, "FTW_OUTPUT_DIR": str(out), "DAGSTER_HOME": str(out / "dagster_home")}
    mask = out / "ds-chips" / f"{DEMO_CHIPS[0]}_2024" / f"{DEMO_CHIPS[0]}_2024_semantic_3_class.tif"
    mask.unlink()

    one = _dagster("asset", "materialize", "-m", "ftw_assets", "--select", "masks", "--partition",
                   f"{DEMO_CHIPS[0]}|2024", env=env)
    assert one.returncode == 0, one.stdout + one.stderr
    assert mask.exists()  # written again by the run Dagster launched

    ranged = _dagster("asset", "materialize", "-m", "ftw_assets", "--select", "masks", "--partition-range",
                      f"{DEMO_CHIPS[0]}|2024...{DEMO_CHIPS[1]}|2024", env=env)
    assert ranged.returncode != 0
    assert "require all selected assets to have a BackfillPolicy.single_run() policy" in ranged.stderr
