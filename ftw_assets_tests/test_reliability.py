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

NOT_COMPARED = ("dagster_home", "ftw.duckdb")


def manifest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not set(p.relative_to(root).parts[:1]) & set(NOT_COMPARED)}


def command(out, fields, calendar, archive, processes: int = 1):
    """One process unless asked: the kills below land in a known run (test_parallel covers several)."""
    return [sys.executable, "-m", "ftw_assets.cli", "create-dataset", str(fields), str(out), "--name", "ds", "--year",
            "2024", "--stac-host", str(archive), "--download-images", "--crop-calendar-dir", str(calendar),
            "--chips-per-run", "2", "--processes", str(processes)]


def check_consistent(out: Path) -> None:
    assert not list(out.rglob(".*.tmp*")), "temp files left behind"
    for item_path in (out / "ds-chips").glob("*/*.json"):
        for asset in json.loads(item_path.read_text())["assets"].values():
            if asset["href"].startswith("./"):
                assert (item_path.parent / asset["href"][2:]).exists(), f"{item_path.name} -> {asset['href']}"


@pytest.fixture(scope="module")
def clean(tmp_path_factory, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    out = tmp_path_factory.mktemp("clean") / "out"
    run = subprocess.run(command(out, fields, calendar, archive_parquet), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return out, manifest(out)


def test_two_clean_runs_are_identical(tmp_path, clean, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    run = subprocess.run(command(tmp_path / "out", fields, calendar, archive_parquet), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    first, second = clean[1], manifest(tmp_path / "out")
    # 8 chip-years: masks, items, images, thumbnails, records; cloud refinement (on by default with
    # images): its options, per chip-year records and report
    assert len(first) == 137 and first == second


def test_sigkill_mid_run_then_resume(tmp_path, clean, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
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


def test_kill_while_writing_the_catalog_index_then_resume(tmp_path, clean, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
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


def _load_collection(stac_api, archive_parquet, collection_id, href_for):
    """Another collection in the running STAC API: the archive's items with hrefs from ``href_for``."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    from ftw_assets_tests.servers.harness import archive_for_api

    collection, items = archive_for_api(archive_parquet, "http://unused")
    for item in items:
        item["collection"] = collection_id
        for asset in item["assets"].values():
            asset["href"] = href_for(item) + "/" + asset["href"].split("/", 3)[-1]
    collection["id"] = collection_id
    with PgstacDB(dsn=stac_api.dsn) as db:
        loader = Loader(db=db)
        loader.load_collections(iter([collection]), insert_mode=Methods.upsert)
        loader.load_items(iter(items), insert_mode=Methods.upsert)


def _api_command(out, fields, calendar, url, collection, images=True):
    return [sys.executable, "-m", "ftw_assets.cli", "create-dataset", str(fields), str(out), "--name", "ds", "--year",
            "2024", "--stac-host", url, "--collection", collection,
            "--download-images" if images else "--select-images", "--crop-calendar-dir", str(calendar),
            "--chips-per-run", "4"]


def test_steady_faults_end_to_end_give_the_clean_dataset(tmp_path, archive_parquet, cog_server, stac_api, demo_inputs,
                                                          monkeypatch):
    from ftw_assets_tests.servers.harness import FaultProxy

    fields, calendar = demo_inputs
    api_proxy, cog_proxy = FaultProxy(stac_api.port), FaultProxy(cog_server.port)
    monkeypatch.setenv("FTW_HTTP_ATTEMPTS", "6")
    monkeypatch.setenv("FTW_HTTP_BACKOFF_S", "0.1")
    monkeypatch.setenv("FTW_HTTP_TIMEOUT_S", "2")
    try:
        _load_collection(stac_api, archive_parquet, "via-proxy", lambda item: cog_proxy.url)
        api_proxy.set()
        cog_proxy.set()
        clean = subprocess.run(_api_command(tmp_path / "clean", fields, calendar, api_proxy.url, "via-proxy"),
                               capture_output=True, text=True)
        assert clean.returncode == 0, clean.stderr
        # 20 % of STAC responses 429/503 and 5 % slow past the timeout; 10 % of COG responses cut or reset.
        api_proxy.set(rates={"429": 0.1, "503": 0.1, "slow": 0.05}, slow_s=4, retry_after=1, seed=11)
        cog_proxy.set(rates={"reset": 0.05, "truncate": 0.05}, seed=12)
        faulty = subprocess.run(_api_command(tmp_path / "faulty", fields, calendar, api_proxy.url, "via-proxy"),
                                capture_output=True, text=True)
        assert faulty.returncode == 0, faulty.stdout + faulty.stderr
        injected = sum(api_proxy.stats()["injected"].values()) + sum(cog_proxy.stats()["injected"].values())
        assert injected >= 5
        assert "HTTP retries (read)" in faulty.stdout or "HTTP retries (search)" in faulty.stdout
        assert manifest(tmp_path / "faulty") == manifest(tmp_path / "clean")
    finally:
        api_proxy.stop()
        cog_proxy.stop()


def test_one_host_down_fails_only_what_needs_it(tmp_path, archive_parquet, cog_server, stac_api, demo_inputs,
                                                monkeypatch):
    from ftw_assets_tests.servers.harness import FaultProxy

    fields, calendar = demo_inputs
    spring, autumn = FaultProxy(cog_server.port), FaultProxy(cog_server.port)
    monkeypatch.setenv("FTW_HTTP_ATTEMPTS", "2")
    monkeypatch.setenv("FTW_HTTP_BACKOFF_S", "0.05")
    try:
        # Planting scenes are served by one host, harvest scenes by another; the harvest host is down.
        _load_collection(stac_api, archive_parquet, "two-hosts",
                         lambda item: spring.url if item["properties"]["datetime"][5:7] < "07" else autumn.url)
        spring.set()
        autumn.set()
        selected = subprocess.run(_api_command(tmp_path / "out", fields, calendar, stac_api.url, "two-hosts", images=False),
                                  capture_output=True, text=True)
        assert selected.returncode == 0, selected.stderr
        autumn.set(rates={"reset": 1.0})
        down = subprocess.run([sys.executable, "-m", "ftw_assets.cli", "download-images", str(tmp_path / "out")],
                              capture_output=True, text=True)
        assert down.returncode == 1
        report = json.loads((tmp_path / "out" / "ds-chips" / "download_report.json").read_text())
        assert report["successful"] == 8 and len(report["failed"]) == 8
        assert {f["season"] for f in report["failed"]} == {"harvest"}
        assert all(f["url"].startswith(autumn.url) and "failed after 2 attempts" in f["error"] for f in report["failed"])
        assert len(list((tmp_path / "out" / "ds-chips").glob("*/*_planting_image_s2.tif"))) == 8
        assert not list((tmp_path / "out" / "ds-chips").glob("*/*_harvest_image_s2.tif"))
        check_consistent(tmp_path / "out")
    finally:
        spring.stop()
        autumn.stop()
