"""ChipYear: the partition key and the file stem of one chip-year, and back."""

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.partitions import partition_key, split_key


def test_key_and_stem_round_trip():
    cy = ChipYear("ftw-33UWP7828", "2024")  # years from partition keys arrive as text
    assert (cy.key, cy.stem, str(cy)) == ("ftw-33UWP7828|2024", "ftw-33UWP7828_2024", "ftw-33UWP7828|2024")
    assert ChipYear.parse(cy.key) == cy == ChipYear.from_stem(cy.stem) and cy.year == 2024
    assert {cy: 1}[ChipYear("ftw-33UWP7828", 2024)] == 1  # hashable, equal across spellings


def test_partition_helpers_delegate():
    assert partition_key("ftw-4QFJ1234", 2025) == "ftw-4QFJ1234|2025"
    assert split_key("ftw-4QFJ1234|2025") == ("ftw-4QFJ1234", 2025)


def test_order_is_chip_then_year_like_the_stems():
    keys = [ChipYear("ftw-33UWP8028", 2024), ChipYear("ftw-4QFJ1234", 2024), ChipYear("ftw-33UWP7828", 2025),
            ChipYear("ftw-33UWP7828", 2024)]
    assert [k.stem for k in sorted(keys)] == sorted(k.stem for k in keys)


def test_keys_of_every_chip_in_every_year_are_the_keys_of_each():
    chips, years = ["ftw-33UWP7828", "ftw-34UFF1628"], ["2023", 2024]
    assert ChipYear.keys(chips, years) == {ChipYear(c, y).key for c in chips for y in years}
    assert "ftw-34UFF1628|2023" in ChipYear.keys(chips, years) and len(ChipYear.keys(chips, years)) == 4
