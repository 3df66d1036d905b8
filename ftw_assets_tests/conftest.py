from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the real test data at {path} (../shared beside the checkout); not present here")
    return path


@pytest.fixture
def flanders() -> Path:
    return shared_file("fields", "be_vlg_2024_fiboa_0_2.parquet")


@pytest.fixture
def denmark() -> Path:
    return shared_file("fields", "dk_2024_fiboa_0_2.parquet")


@pytest.fixture(scope="session")
def archive_parquet() -> Path:
    """The generated local Sentinel-2 archive (default spec), built once and cached under data/cache."""
    from ftw_assets.demo.archive import build_archive

    return build_archive(REPO / "data" / "cache" / "test-archive")


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
