from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
