"""core.dataset.shards: contiguous parts of a plan balanced by chip-years, or runs in turn."""

from ftw_assets.core.dataset.shards import in_turn, split


def test_parts_are_contiguous_and_balanced_by_size():
    assert split([1] * 6, 2) == [0, 0, 0, 1, 1, 1]
    assert split([1] * 5, 2) == [0, 0, 0, 1, 1]
    assert split([1] * 4, 4) == [0, 1, 2, 3]
    assert split([1], 2) == [0] and split([], 2) == []
    assert split([10, 10, 10, 30], 2) == [0, 0, 0, 1]  # by chip-years, not by number of runs
    assert split([5, 5, 5], 1) == [0, 0, 0]
    # The bench's plan (420 chip-years, runs of 70): three runs each.
    assert split([70] * 6, 2) == [0, 0, 0, 1, 1, 1]


def test_runs_in_turn():
    assert in_turn(5, 2) == [0, 1, 0, 1, 0] and in_turn(3, 4) == [0, 1, 2] and in_turn(0, 2) == []
