"""``python -m ftw_assets.cli``: the same as ``ftwd``."""

from ftw_assets.cli import run

run()
