"""Chip × year partitions, shared by every per-chip asset.

Both dimensions are dynamic: ``chip_registry`` adds the chips it finds and the dataset's year.
Dimension names sort ``chip`` before ``year``, so keys read ``ftw-34UFF1628|2024``.
"""

from __future__ import annotations

import warnings

import dagster as dg

from ftw_assets.core.dataset.chip_year import ChipYear

# BackfillPolicy is marked beta; it is how batched runs work, so do not warn on every import.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

CHIPS = "chips"
YEARS = "years"
# Chips per run in backfills and `ftwd create-dataset`: large enough that process start-up and
# per-scene header reads are shared, small enough that one failure does not redo much.
CHIPS_PER_RUN = 100

chip_partitions = dg.DynamicPartitionsDefinition(name=CHIPS)
year_partitions = dg.DynamicPartitionsDefinition(name=YEARS)
chip_year_partitions = dg.MultiPartitionsDefinition({"chip": chip_partitions, "year": year_partitions})
chip_year_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=CHIPS_PER_RUN)


def partition_key(chip: str, year: int) -> str:
    return ChipYear(chip, year).key


def split_key(key: str) -> tuple[str, int]:
    chip_year = ChipYear.parse(key)
    return chip_year.chip, chip_year.year
