"""ChipYear: one chip in one season year, the unit every per-chip asset works on.

It owns the two spellings of that unit: the Dagster partition key ``ftw-33UWP7828|2024`` (dimension
names sort ``chip`` before ``year``) and the file stem ``ftw-33UWP7828_2024`` of its folder and files.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY_SEPARATOR = "|"


@dataclass(frozen=True, order=True)
class ChipYear:
    chip: str
    year: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "year", int(self.year))

    @property
    def key(self) -> str:
        """The partition key, ``chip|year``."""
        return f"{self.chip}{KEY_SEPARATOR}{self.year}"

    @property
    def stem(self) -> str:
        """The folder and file-name stem, ``chip_year``."""
        return f"{self.chip}_{self.year}"

    @staticmethod
    def keys(chips, years) -> set[str]:
        """The partition keys of every chip in every year (as :attr:`key` spells them, without making
        100,000 objects for ``ftwd status``)."""
        return {f"{chip}{KEY_SEPARATOR}{int(year)}" for year in years for chip in chips}

    @classmethod
    def parse(cls, key: str) -> "ChipYear":
        """From a partition key ``chip|year``."""
        chip, year = str(key).split(KEY_SEPARATOR)
        return cls(chip, int(year))

    @classmethod
    def from_stem(cls, stem: str) -> "ChipYear":
        """From a folder name ``chip_year`` (chip ids contain no underscore)."""
        chip, year = stem.rsplit("_", 1)
        return cls(chip, int(year))

    def __str__(self) -> str:
        return self.key
