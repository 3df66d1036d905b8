"""The collection's own assets and its rebuild: the one place that decides what collection.json lists.

Every asset that rewrites the collection (the catalog runs, the QA report) calls
:func:`rebuild_collection`, so a later catalog run keeps what an earlier QA report added.
"""

from __future__ import annotations

import pystac

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.stac.items import PARQUET_TYPE, rebuild_catalog

QA_FILE = "qa_report.html"


def collection_assets(layout: Layout) -> dict[str, pystac.Asset]:
    """The dataset-wide files the collection links: the chip table, the instance ids and, once it
    has been written, the QA report."""
    assets = {
        "chips": pystac.Asset("./chips.parquet", media_type=PARQUET_TYPE, roles=["metadata"],
                              title="Chip table: id, geometry, UTM EPSG, coverage, split, field count"),
        "instance_ids": pystac.Asset("./instance_ids.csv", media_type="text/csv", roles=["metadata"],
                                     title="Instance value of every input field, for the whole dataset"),
    }
    if (layout.catalog_dir / QA_FILE).exists():
        assets["qa_report"] = pystac.Asset(f"./{QA_FILE}", media_type="text/html", roles=["overview"],
                                           title="QA report")
    return assets


def rebuild_collection(layout: Layout, fields_path: str, *, base_url: str | None) -> int:
    """Rewrite collection.json and items.parquet from the item files on disk; returns the item count.
    ``base_url``: the dataset's (``--base-url``; None: hrefs relative)."""
    return rebuild_catalog(layout, description=f"FTW training chips built by ftw_assets from {fields_path}",
                           extra_assets=collection_assets(layout), base_url=base_url)
