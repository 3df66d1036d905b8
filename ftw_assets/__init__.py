"""ftw_assets: Fields of The World training datasets as a Dagster asset graph.

Domain logic is in :mod:`ftw_assets.core` (no Dagster); the asset folders, resources and the
``ftwd`` command line call it.

Importing the package loads nothing else, so ``ftwd`` starts without Dagster and the raster stack.
Its ``defs`` (the Definitions of :mod:`ftw_assets.definitions`) are built on first access, which is
how ``dagster dev -m ftw_assets``, ``workspace.yaml`` and ``ftwd ui`` find them.
"""

from __future__ import annotations

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        from ftw_assets.definitions import defs

        # Importing the definitions binds the subpackage ftw_assets.defs to this name; the package's
        # `defs` is the Definitions, as Dagster's module loader expects.
        globals()["defs"] = defs
        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Dagster finds the Definitions by listing the module's names.
    return sorted({*globals(), "defs"})
