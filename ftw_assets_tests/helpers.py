"""Helpers shared by the test modules (fixtures live in conftest.py): the real test data in ../shared,
the ``ftwd`` command line, the UI server, the demo dataset on a Dagster instance, and the scenes the
generated archive offers the demo chips."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.demo.world import DEMO_YEAR, write_demo_fields
from ftw_assets.partitions import partition_key
from ftw_assets.resources import build_resources

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TEST_ARCHIVE = REPO / "data" / "cache" / "test-archive"


def shared_archive() -> Path:
    """The generated local archive the tests share (default spec), built once under the repo's cache
    (by the first of the test processes to ask; ``build_archive`` holds a lock while it builds)."""
    from ftw_assets.demo.archive import build_archive

    return build_archive(TEST_ARCHIVE)


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the real test data at {path} (../shared beside the checkout); not present here")
    return path


# --- the command line ---

FTWD = [sys.executable, "-m", "ftw_assets.cli"]


def ftwd(*args, cwd=None):
    return subprocess.run([*FTWD, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def create_demo_dataset(out, demo_inputs, archive_parquet, *options):
    """``ftwd create-dataset`` of the demo fields into ``out`` (name ``ds``, 2024, the local archive and
    the demo calendar) with ``options``; asserts it succeeded."""
    fields, calendar = demo_inputs
    made = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                "--crop-calendar-dir", calendar, *options)
    assert made.returncode == 0, made.stderr
    return made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_ui(out):
    """`ftwd ui OUT` on a free port, waited for until it answers, stopped afterwards; yields the port."""
    port = free_port()
    ui = subprocess.Popen([*FTWD, "ui", str(out), "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine: the webserver loads the definitions
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the UI did not come up within 300 s"
                assert ui.poll() is None, "ftwd ui exited early"
                time.sleep(1)
        yield port
    finally:
        os.killpg(ui.pid, signal.SIGINT)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)


# --- the demo dataset, materialized in process ---

# The 8 demo chips in registration order (block order: the S2 block holding each cell, then north to south).
DEMO_CHIPS = ["ftw-33UWP7830", "ftw-33UWP8030", "ftw-33UWP7828", "ftw-33UWP8028",
              "ftw-33UWP8230", "ftw-33UWP8430", "ftw-33UWP8228", "ftw-33UWP8428"]


def demo_dataset(out: Path, name: str = "ds", **settings) -> Layout:
    """A dataset folder as `ftwd create-dataset` leaves it before its first run: the demo fields
    (written beside it as fields.gpkg) and its dataset.json."""
    out.mkdir(parents=True, exist_ok=True)
    fields = write_demo_fields(out.parent / "fields.gpkg")
    settings.setdefault("year", DEMO_YEAR)
    DatasetSettings(fields=str(fields), name=name, **settings).check().save(out)
    return Layout(out.resolve(), name)


def materialize(layout: Layout, assets: list, instance: dg.DagsterInstance, chip: str | None = None,
                last_chip: str | None = None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` over the dataset's resources: unpartitioned, for one demo chip-year
    (``chip``), or as one range run from ``chip`` to ``last_chip`` in registration order."""
    key = partition_key(chip, DEMO_YEAR) if chip else None
    tags = {}
    if last_chip:  # the partition-range tags a backfill or `ftwd` run carries
        tags = {"dagster/asset_partition_range_start": key,
                "dagster/asset_partition_range_end": partition_key(last_chip, DEMO_YEAR)}
        key = None
    return dg.materialize(assets, resources=build_resources(layout.output_dir), instance=instance, partition_key=key,
                          tags=tags, raise_on_error=raise_on_error)


def materializations(instance: dg.DagsterInstance, asset) -> dict[str | None, dict]:
    """The latest materialization metadata of an asset per partition, as plain values."""
    records = instance.fetch_materializations(asset.key, limit=10_000).records
    latest: dict[str | None, dict] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        meta = record.asset_materialization.metadata
        latest[record.partition_key] = {k: v.value for k, v in meta.items()}
    return latest


# --- the generated archive's scenes over the demo chips ---

APR03, MAR29, APR08 = "S2B_T33UWP_20240403T100613_L2A", "S2A_T33UWP_20240329T101638_L2A", "S2A_T33UWP_20240408T100648_L2A"
OCT30 = "S2B_T33UWP_20241030T100643_L2A"
WEST = ["ftw-33UWP7828", "ftw-33UWP7830", "ftw-33UWP8028", "ftw-33UWP8030"]
EAST = ["ftw-33UWP8228", "ftw-33UWP8230", "ftw-33UWP8428", "ftw-33UWP8430"]
# Without the pixel check: the east chips take the 0 % scene of the neighbouring orbit (Mar 29); its
# swath edge leaves the west chips without data, so they take Apr 3 (0.16 % at scene level).
# Harvest: two 0 % scenes, Oct 25 and Oct 30; Oct 30 is closer to the target (Oct 28).
EXPECTED = {**{(c, "planting"): APR03 for c in WEST}, **{(c, "planting"): MAR29 for c in EAST},
            **{(c, "harvest"): OCT30 for c in WEST + EAST}}
# With images, cloud refinement is on by default: Apr 3 has 26.65 % cloud on chip 7830 (0.16 % over
# the tile), so it is rejected there and Apr 8 selected instead; the other choices stand.
REFINED = {**EXPECTED, ("ftw-33UWP7830", "planting"): APR08}


def chosen(out):
    """(chip, season) -> the scene id each season item of the dataset at ``out`` was made from."""
    result = {}
    for path in sorted((out / "ds-chips").glob("*/*_s2.json")):
        item = json.loads(path.read_text())
        chip, _, season, _ = item["id"].split("_")
        via = next(link["href"] for link in item["links"] if link["rel"] == "via")
        result[(chip, season)] = via.rsplit("/", 1)[-1].split("#")[-1]
    return result
