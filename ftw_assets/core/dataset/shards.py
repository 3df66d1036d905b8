"""Contiguous parts of a plan for several workers: the one owner of that cut (``runner.shard_plan``,
used by ftwd's local processes and the deployment's Celery shards)."""

from __future__ import annotations

from typing import Sequence


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
