"""ftw_assets: Fields of The World training datasets as a Dagster asset graph.

Domain logic is in :mod:`ftw_assets.core` (no Dagster); the asset folders, resources and the
``ftwd`` command line call it.
"""

from ftw_assets.definitions import defs

__all__ = ["defs"]
