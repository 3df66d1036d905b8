"""The QA report: one self-contained HTML page per dataset (opens from disk, images inlined)."""

from __future__ import annotations

import base64
import html
import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import ImagesRecord, SelectionRecord, load_all

MASK_COLOURS = np.array([[240, 240, 240], [60, 150, 60], [200, 60, 60], [120, 120, 120]], dtype=np.uint8)


def _png(data: np.ndarray) -> str:
    with MemoryFile() as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a map
        with mem.open(driver="PNG", width=data.shape[2], height=data.shape[1], count=3, dtype="uint8") as dst:
            dst.write(data)
        return "data:image/png;base64," + base64.b64encode(mem.read()).decode("ascii")


def mask_png(path: Path) -> str:
    with rasterio.open(path) as src:
        classes = np.clip(src.read(1), 0, 3)
    return _png(np.moveaxis(MASK_COLOURS[classes], -1, 0))


def _histogram(values: list[float], bins: list[float], unit: str) -> str:
    counts = np.histogram(values, bins=bins)[0] if values else np.zeros(len(bins) - 1, dtype=int)
    top = max(int(counts.max()), 1)
    bars = "".join(
        f'<div class="bar"><span style="width:{200 * c / top:.0f}px"></span>{lo:g}-{hi:g} {unit}: {c}</div>'
        for c, lo, hi in zip(counts, bins[:-1], bins[1:]))
    return f'<div class="hist">{bars}</div>'


def build_qa_html(layout: Layout, title: str) -> str:
    selection = load_all(layout, SelectionRecord)
    images = load_all(layout, ImagesRecord)
    items = {p.stem: json.loads(p.read_text()) for p in sorted(layout.catalog_dir.glob("*/*_s2.json"))}
    status = Counter(rec.status for rec in selection.values())
    seasons = Counter(i["properties"]["ftw:season"] for i in items.values())
    splits = Counter()
    for p in sorted(layout.catalog_dir.glob("*/*.json")):
        props = json.loads(p.read_text())["properties"]
        if "ftw:split" in props:
            splits[props["ftw:split"]] += 1
    clouds = [i["properties"]["eo:cloud_cover"] for i in items.values()]
    gaps = [i["properties"]["ftw:days_from_target"] for i in items.values()]
    problems = []
    for chip_year, rec in sorted(selection.items()):
        for season, s in sorted(rec.seasons.items()):
            if not s.chosen:
                problems.append((chip_year.stem, season, "skipped", s.reason or ""))
        if rec.status == "failed":
            problems.append((chip_year.stem, "", "failed", rec.error or ""))
    for chip_year, rec in sorted(images.items()):
        for season, s in sorted(rec.seasons.items()):
            if s.status == "failed":
                problems.append((chip_year.stem, season, "image failed", f"{s.url or ''}: {s.error or ''}"))
    gallery = []
    for chip_dir in sorted(p for p in layout.catalog_dir.glob("*_*") if p.is_dir()):
        cells = []
        for season in ("planting", "harvest"):
            thumb = chip_dir / f"{chip_dir.name}_{season}_image_s2.png"
            if thumb.exists():
                uri = "data:image/png;base64," + base64.b64encode(thumb.read_bytes()).decode("ascii")
                cells.append(f'<figure><img src="{uri}"><figcaption>{season}</figcaption></figure>')
        mask = chip_dir / f"{chip_dir.name}_semantic_3_class.tif"
        if cells and mask.exists():
            cells.append(f'<figure><img src="{mask_png(mask)}"><figcaption>3-class mask</figcaption></figure>')
        if cells:
            gallery.append(f'<div class="chip"><h3>{html.escape(chip_dir.name)}</h3>{"".join(cells)}</div>')
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{s}</td><td>{w}</td><td>{html.escape(r)}</td></tr>"
                    for k, s, w, r in problems) or '<tr><td colspan="4">none</td></tr>'
    counts = lambda c: ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "none"  # noqa: E731
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} - QA report</title>
<style>body{{font-family:sans-serif;margin:2em}} .bar span{{display:inline-block;height:10px;background:#4a7;
margin-right:6px}} figure{{display:inline-block;margin:4px}} img{{width:160px;image-rendering:pixelated}}
td{{padding:2px 8px;border-bottom:1px solid #ddd}}</style></head><body>
<h1>{html.escape(title)}: QA report</h1>
<p>Built from the records and items in this catalog folder (no timestamp, so a rebuild of the same dataset gives the same page).</p>
<h2>Counts</h2>
<ul><li>chip-years by selection status: {counts(status)}</li><li>season items: {counts(seasons)}</li>
<li>chip-years by split: {counts(splits)}</li><li>clipped images: {sum(len(r.seasons) for r in images.values())}</li></ul>
<h2>Chip-level cloud cover</h2>{_histogram(clouds, [0, 0.1, 1, 5, 10, 25, 50, 100], "%")}
<h2>Days between scene and target date</h2>{_histogram(gaps, [0, 3, 7, 14, 30, 60, 366], "days")}
<h2>Skipped and failed</h2><table><tr><th>chip-year</th><th>season</th><th>what</th><th>reason</th></tr>{table}</table>
<h2>Gallery</h2>{"".join(gallery) or "<p>no images</p>"}
</body></html>
"""
