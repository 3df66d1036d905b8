"""Which worker takes which run of a plan (``runner.shard_plan``, for ftwd's local processes and the
deployment's Celery shards): the one owner of that rule.

The plan is in block order, so neighbouring runs share COG blocks. Workers that each read for
themselves (the deployment's hosts) take contiguous parts, so that a worker's next run finds the
blocks it shares with the last in that worker's block cache and only the blocks where two parts meet
are fetched twice. Workers that read through one reader and its one block cache (ftwd's local
processes, ``ftw_assets.reader``) take the runs in turn instead: the runs in flight are then
neighbours, and the blocks they share are in that cache together (contiguous parts made the reader
hold two far-apart working sets, and fetch 1.12x the bytes)."""

from __future__ import annotations

from typing import Sequence


def in_turn(count: int, parts: int) -> list[int]:
    """The part of each of ``count`` items dealt in turn: 0, 1, ..., parts - 1, 0, 1, ..."""
    return [i % max(1, parts) for i in range(count)]


def split(sizes: Sequence[int], parts: int) -> list[int]:
    """The part (0, 1, ...) of each item: at most ``parts`` contiguous parts with the largest total size
    as small as it can be (fewer parts when the items are fewer)."""
    if not sizes:
        return []

    def pack(limit: int) -> list[int] | None:  # each item's part, filling parts up to ``limit``
        part, load, out = 0, 0, []
        for size in sizes:
            if load and load + size > limit:
                part, load = part + 1, 0
            out.append(part)
            load += size
        return out if part < max(1, parts) else None

    lo, hi = max(sizes), sum(sizes)
    while lo < hi:  # the smallest largest part that packs into ``parts``
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pack(mid) is not None else (mid + 1, hi)
    return pack(lo)
