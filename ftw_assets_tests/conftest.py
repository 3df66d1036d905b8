"""Fixtures shared across the test packages; plain helpers are in helpers.py."""

import signal
from pathlib import Path

import dagster as dg
import pytest

from ftw_assets_tests.helpers import SHARED, demo_dataset, materialize, shared_archive, shared_file


def pytest_configure(config):
    """The session's signals as from a terminal. CI starts the tests as a script's background job, where
    SIGINT is ignored; Dagster maps SIGTERM onto SIGINT, and every server, daemon and run process the tests
    start would inherit an ignored SIGTERM (a run then waits a minute for its log tails). The tests of
    that case (test_interrupt.py) set it up themselves."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def flanders() -> Path:
    return shared_file("fields", "be_vlg_2024_fiboa_0_2.parquet")


@pytest.fixture
def denmark() -> Path:
    return shared_file("fields", "dk_2024_fiboa_0_2.parquet")


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """(demo fields, crop calendar folder): the real calendar from ../shared when present, else the
    demo excerpt, which holds the same values at the demo chips."""
    from ftw_assets.demo.world import write_demo_calendar, write_demo_fields

    root = tmp_path_factory.mktemp("demo-inputs")
    calendar = SHARED / "crop_calendar"
    if not (calendar / "sc-sos-3x3-v2-cog.tiff").exists():
        calendar = write_demo_calendar(root / "calendar")  # the same values at the demo pixels
    return write_demo_fields(root / "fields.gpkg"), calendar


@pytest.fixture
def demo_chips(tmp_path):
    """The demo dataset with field_boundaries and chip_registry materialized on an ephemeral instance,
    so its 8 chips and the year are registered partitions: yields (layout, instance)."""
    from ftw_assets.defs.chips.assets import chip_registry, field_boundaries

    layout = demo_dataset(tmp_path / "ds")
    with dg.DagsterInstance.ephemeral() as instance:
        materialize(layout, [field_boundaries, chip_registry], instance)
        yield layout, instance


@pytest.fixture(scope="session")
def archive_parquet() -> Path:
    """The generated local Sentinel-2 archive (default spec), built once and cached under data/cache."""
    return shared_archive()


@pytest.fixture(scope="session")
def cog_server(archive_parquet):
    from ftw_assets_tests.servers.harness import CogServer

    server = CogServer(archive_parquet.parent)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stac_api(archive_parquet, cog_server):
    """stac-fastapi-pgstac on 127.0.0.1 serving the archive's items, hrefs on the COG server."""
    from ftw_assets_tests.servers.harness import PgstacServer, archive_for_api, pgstac_missing

    reason = pgstac_missing()
    if reason:
        pytest.skip(f"the STAC API server cannot start: {reason}")
    collection, items = archive_for_api(archive_parquet, cog_server.url)
    server = PgstacServer(collection, items)
    yield server
    server.stop()
