"""Crash and resume, and determinism: a killed run loses nothing, a rerun repeats nothing that is
done, and the result is byte-for-byte the dataset a clean run makes.

Not compared (documented in the README): ``dagster_home/`` (the run history itself) and
``ftw.duckdb`` (DuckDB's file carries page layout and the ``rejected_at`` timestamps)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ftw_assets_tests.selection.test_assets import inputs  # noqa: F401 (fixture)

NOT_COMPARED = ("dagster_home", "ftw.duckdb")


def manifest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not set(p.relative_to(root).parts[:1]) & set(NOT_COMPARED)}


def command(out, fields, calendar, archive):
    return [sys.executable, "-m", "ftw_assets.cli", "create-dataset", str(fields), str(out), "--name", "ds", "--year",
            "2024", "--stac-host", str(archive), "--download-images", "--crop-calendar-dir", str(calendar),
            "--chips-per-run", "2"]


def check_consistent(out: Path) -> None:
    assert not list(out.rglob(".*.tmp*")), "temp files left behind"
    for item_path in (out / "ds-chips").glob("*/*.json"):
        for asset in json.loads(item_path.read_text())["assets"].values():
            if asset["href"].startswith("./"):
                assert (item_path.parent / asset["href"][2:]).exists(), f"{item_path.name} -> {asset['href']}"


@pytest.fixture(scope="module")
def clean(tmp_path_factory, archive_parquet, inputs):  # noqa: F811
    fields, calendar = inputs
    out = tmp_path_factory.mktemp("clean") / "out"
    run = subprocess.run(command(out, fields, calendar, archive_parquet), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return out, manifest(out)


def test_two_clean_runs_are_identical(tmp_path, clean, archive_parquet, inputs):  # noqa: F811
    fields, calendar = inputs
    run = subprocess.run(command(tmp_path / "out", fields, calendar, archive_parquet), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    first, second = clean[1], manifest(tmp_path / "out")
    assert len(first) == 123 and first == second  # 8 chip-years: masks, items, images, thumbnails, records


def test_sigkill_mid_run_then_resume(tmp_path, clean, archive_parquet, inputs):  # noqa: F811
    fields, calendar = inputs
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command(out, fields, calendar, archive_parquet), stdout=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[2/4]"):  # two of four chip-range runs done: kill it during the third
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    again = subprocess.run(command(out, fields, calendar, archive_parquet), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    # Only the chip-years the first run had not finished are done again.
    assert "8 chips x 1 year(s): 4 chip-years need work" in again.stdout
    check_consistent(out)
    assert manifest(out) == clean[1]


def test_kill_while_writing_the_catalog_index_then_resume(tmp_path, clean, archive_parquet, inputs):  # noqa: F811
    fields, calendar = inputs
    out = tmp_path / "out"
    env = {**os.environ, "FTW_CRASH_BEFORE_RENAME": "items.parquet"}
    crashed = subprocess.run(command(out, fields, calendar, archive_parquet), capture_output=True, text=True, env=env)
    assert crashed.returncode == -signal.SIGKILL
    assert list((out / "ds-chips").glob(".items.parquet.*.tmp*")), "the crash should leave a temp index behind"
    assert not (out / "ds-chips" / "items.parquet").exists()
    again = subprocess.run(command(out, fields, calendar, archive_parquet), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "removed 1 temp file(s) left by an interrupted run" in again.stdout
    check_consistent(out)
    assert manifest(out) == clean[1]
