"""The QA report: one self-contained HTML page per dataset (opens from disk, images inlined), with an
alert at the top when too many chip-years failed or were skipped."""

from __future__ import annotations

import base64
import html
import json
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import ImagesRecord, RefinementRecord, SelectionRecord, load_all
from ftw_assets.core.reports.preview import SEASON_ORDER, SeasonPreview
from ftw_assets.core.reports.qa_settings import QaSettings
from ftw_assets.core.sensors.report import sensor_section

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


@dataclass(frozen=True)
class FailureRate:
    """Chip-years that failed (selection or an image) or were skipped (a season without a scene)."""

    failed: int
    skipped: int
    total: int

    @property
    def share(self) -> float:
        return (self.failed + self.skipped) / self.total if self.total else 0.0

    def above(self, max_share: float) -> bool:
        return self.share > max_share


def failure_rate(selection: dict[ChipYear, SelectionRecord], images: dict[ChipYear, ImagesRecord]) -> FailureRate:
    """Each chip-year counted once: failed first, else skipped when its selection left a season out."""
    failed = {cy for cy, rec in selection.items() if rec.status == "failed"}
    failed |= {cy for cy, rec in images.items() if rec.status == "failed"}
    skipped = {cy for cy, rec in selection.items() if cy not in failed
               and (rec.status == "skipped" or any(not s.chosen for s in rec.seasons.values()))}
    return FailureRate(len(failed), len(skipped), len(set(selection) | set(images)))


def failure_rate_of(layout: Layout) -> FailureRate:
    """:func:`failure_rate` of the dataset's records."""
    return failure_rate(load_all(layout, SelectionRecord), load_all(layout, ImagesRecord))


def failure_banner(rate: FailureRate, max_share: float) -> str:
    """The alert above the report when the share is above ``max_share``; empty otherwise."""
    if not rate.above(max_share):
        return ""
    return (f'<div class="alert" role="alert"><strong>Alert:</strong> {rate.failed + rate.skipped} of {rate.total} '
            f"chip-years ({100 * rate.share:.1f} %) failed or were skipped ({rate.failed} failed, {rate.skipped} "
            f"skipped), more than the alert share of {100 * max_share:g} % (<code>max_failure_share</code> in "
            f"{QaSettings.FILE}, <code>ftwd qa-report --max-failure-share</code>). See "
            f'<a href="#problems">Skipped and failed</a>.</div>')


def _figure(uri: str, caption: list[str]) -> str:
    lines = "<br>".join(html.escape(line) for line in caption)
    return f'<figure><img src="{uri}"><figcaption>{lines}</figcaption></figure>'


def _season_figure(layout: Layout, chip_year: ChipYear, season: str, record: ImagesRecord | None,
                   selection: SelectionRecord | None, refinement: RefinementRecord | None) -> str:
    """The season's thumbnail with its scene id, date and chip- and scene-level cloud below it."""
    thumb = layout.chip_file(chip_year.chip, chip_year.year, f"{season}_image_s2.png")
    if not thumb.exists():
        return ""
    uri = "data:image/png;base64," + base64.b64encode(thumb.read_bytes()).decode("ascii")
    item_path = layout.season_item_json(chip_year.chip, chip_year.year, season)
    written = record.seasons.get(season) if record else None
    chosen = selection.seasons.get(season) if selection else None
    scene_id = (written and written.scene_id) or (chosen and chosen.scene_id) or "scene unknown"
    if not item_path.exists():
        return _figure(uri, [season, scene_id])
    preview = SeasonPreview.of_item(json.loads(item_path.read_text()), scene_id, refinement=refinement)
    return _figure(uri, [season, *preview.caption_lines()])


def build_qa_html(layout: Layout, title: str, max_failure_share: float | None = None) -> str:
    """The page; ``max_failure_share`` (default: :class:`QaSettings`') sets when the alert shows."""
    if max_failure_share is None:
        max_failure_share = QaSettings.default("max_failure_share")
    selection = load_all(layout, SelectionRecord)
    images = load_all(layout, ImagesRecord)
    refinements = load_all(layout, RefinementRecord)
    rate = failure_rate(selection, images)
    items = {p.stem: json.loads(p.read_text()) for p in sorted(layout.catalog_dir.glob("*/*_s2.json"))}
    status = Counter(rec.status for rec in selection.values())
    seasons = Counter(i["properties"]["ftw:season"] for i in items.values())
    splits = Counter()
    for p in sorted(layout.catalog_dir.glob("*/*.json")):
        props = json.loads(p.read_text())["properties"]
        if "ftw:split" in props:
            splits[props["ftw:split"]] += 1
    clouds = [i["properties"]["eo:cloud_cover"] for i in items.values()]
    measured = sum(1 for i in items.values() if i["properties"].get("ftw:cloud_cover_measured"))
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
        chip_year = ChipYear.from_stem(chip_dir.name)
        cells = [f for f in (_season_figure(layout, chip_year, season, images.get(chip_year), selection.get(chip_year),
                                            refinements.get(chip_year)) for season in SEASON_ORDER) if f]
        mask = chip_dir / f"{chip_dir.name}_semantic_3_class.tif"
        if cells and mask.exists():
            cells.append(_figure(mask_png(mask), ["3-class mask"]))
        if cells:
            gallery.append(f'<div class="chip"><h3>{html.escape(chip_dir.name)}</h3>{"".join(cells)}</div>')
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{s}</td><td>{w}</td><td>{html.escape(r)}</td></tr>"
                    for k, s, w, r in problems) or '<tr><td colspan="4">none</td></tr>'
    failed_or_skipped = f"{rate.failed + rate.skipped} of {rate.total} ({rate.failed} failed, {rate.skipped} skipped)"
    counts = lambda c: ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "none"  # noqa: E731
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} - QA report</title>
<style>body{{font-family:sans-serif;margin:2em}} .bar span{{display:inline-block;height:10px;background:#4a7;
margin-right:6px}} figure{{display:inline-block;margin:4px;vertical-align:top;width:160px}}
img{{width:160px;image-rendering:pixelated}} figcaption{{font-size:11px;overflow-wrap:anywhere}}
.chip{{display:inline-block;vertical-align:top;margin:0 24px 12px 0}} .chip h3{{margin:4px}}
td{{padding:2px 8px;border-bottom:1px solid #ddd}} .alert{{background:#fde8e8;border:2px solid #c33;padding:8px 12px}}
</style></head><body>
{failure_banner(rate, max_failure_share)}
<h1>{html.escape(title)}: QA report</h1>
<p>Built from the records and items in this catalog folder (no timestamp, so a rebuild of the same dataset gives the same page).</p>
<h2>Counts</h2>
<ul><li>chip-years by selection status: {counts(status)}</li><li>season items: {counts(seasons)}</li>
<li>chip-years by split: {counts(splits)}</li><li>clipped images: {sum(len(r.seasons) for r in images.values())}</li>
<li>chip-years failed or skipped: {failed_or_skipped}</li></ul>
<h2>Cloud cover of the season items</h2>
<p><code>eo:cloud_cover</code>: chip-level for the {measured} measured on the chip's pixels, scene-level for
the other {len(clouds) - measured}.</p>
{_histogram(clouds, [0, 0.1, 1, 5, 10, 25, 50, 100], "%")}
<h2>Days between scene and target date</h2>{_histogram(gaps, [0, 3, 7, 14, 30, 60, 366], "days")}
<h2 id="problems">Skipped and failed</h2><table><tr><th>chip-year</th><th>season</th><th>what</th><th>reason</th></tr>{table}</table>
<h2>Gallery</h2>{"".join(gallery) or "<p>no images</p>"}
{sensor_section(layout)}</body></html>
"""
