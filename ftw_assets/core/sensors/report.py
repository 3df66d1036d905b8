"""The sensors' part of the QA report: per sensor, how many chip-seasons got an image and why the
others did not, the land-cover class balance over the dataset's chips, and a gallery of each chip's
thumbnails (radar as a VV/VH/ratio composite, the DEM as a hillshade, land cover in its class colours);
with land cover, each chip's most common class and what the homogeneity filter does with the chip.

Empty for a dataset with Sentinel-2 only, so its report stays as it was.
"""

from __future__ import annotations

import base64
import html
from collections import Counter

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.sensors.choice import seasons_of
from ftw_assets.core.sensors.config import SENSORS
from ftw_assets.core.sensors.images import load_record, prefix
from ftw_assets.core.sensors.quality import WORLDCOVER_CLASSES


def sensor_records(layout: Layout) -> dict[str, dict[ChipYear, dict]]:
    """{sensor: {chip-year: record}} of every sensor beyond Sentinel-2 with at least one record."""
    out: dict[str, dict[ChipYear, dict]] = {}
    folders = sorted(p for p in layout.state_dir.iterdir() if p.is_dir()) if layout.state_dir.exists() else []
    for sensor in (s for s in SENSORS if s != "s2"):
        for folder in folders:
            try:
                chip_year = ChipYear.from_stem(folder.name)
            except ValueError:
                continue
            record = load_record(layout, chip_year, sensor)
            if record is not None:
                out.setdefault(sensor, {})[chip_year] = record
    return out


def class_balance(records: dict[ChipYear, dict]) -> Counter:
    """Land-cover pixels per class value over every chip (from the records' ``class_counts``)."""
    total: Counter = Counter()
    for record in records.values():
        for entry in record["seasons"].values():
            total.update({int(k): v for k, v in (entry.get("class_counts") or {}).items()})
    return total


def sensor_section(layout: Layout) -> str:
    """The HTML of the sensors' section ("" when the dataset has no other sensor)."""
    records = sensor_records(layout)
    if not records:
        return ""
    rows, problems = [], []
    for sensor, by_chip in records.items():
        written = Counter()
        for chip_year, record in sorted(by_chip.items()):
            for season, entry in sorted(record["seasons"].items()):
                written[entry.get("status")] += 1
                if entry.get("status") != "written":
                    problems.append((chip_year.stem, sensor, season, entry.get("reason", "")))
        rows.append(f"<tr><td>{html.escape(SENSORS[sensor].title)}</td><td>{written['written']}</td>"
                    f"<td>{written['missing']}</td></tr>")
    out = ['<h2 id="sensors">Other sensors</h2><table><tr><th>sensor</th><th>chip-season images</th>'
           f"<th>missing</th></tr>{''.join(rows)}</table>"]
    if problems:
        out.append("<table><tr><th>chip-year</th><th>sensor</th><th>season</th><th>reason</th></tr>" + "".join(
            f"<tr><td>{html.escape(c)}</td><td>{s}</td><td>{p}</td><td>{html.escape(r)}</td></tr>"
            for c, s, p, r in problems) + "</table>")
    if "landcover" in records:
        out.append(_balance_table(class_balance(records["landcover"])))
        out.append(_homogeneity_table(layout, sorted(records["landcover"])))
    out.append(_gallery(layout, records))
    return "\n".join(out)


def _balance_table(counts: Counter) -> str:
    total = sum(counts.values()) or 1
    rows = "".join(
        f'<tr><td><span style="background:#{c.color};display:inline-block;width:12px;height:12px"></span> '
        f"{c.value} {html.escape(c.name)}</td><td>{counts[c.value]}</td>"
        f"<td>{100 * counts[c.value] / total:.1f} %</td></tr>"
        for c in WORLDCOVER_CLASSES if counts[c.value])
    return ("<h3>Land-cover class balance (ESA WorldCover pixels over all chips)</h3><table><tr><th>class</th>"
            f"<th>pixels</th><th>share</th></tr>{rows}</table>")


def _homogeneity_table(layout: Layout, chip_years: list[ChipYear]) -> str:
    """Each chip's most common class and its share, and what the homogeneity filter does with the chip."""
    from ftw_assets.core.dataset.settings import SETTINGS_FILE, DatasetSettings
    from ftw_assets.core.sensors.homogeneity import CLASS_NAMES, chip_homogeneity

    settings = DatasetSettings.load(layout.output_dir) if (layout.output_dir / SETTINGS_FILE).exists() else None
    share, excluded = (settings.min_class_share, settings.excluded_classes) if settings else (None, None)
    rows = []
    for chip_year in chip_years:
        found = chip_homogeneity(layout, chip_year)
        if found is None:
            continue
        name = CLASS_NAMES.get(found.dominant_class, "none")
        verdict = (found.reason_left_out(share, excluded) or "kept") if share is not None or excluded else "no filter"
        rows.append(f"<tr><td>{html.escape(chip_year.stem)}</td><td>{html.escape(str(name))}</td>"
                    f"<td>{found.dominant_share:g} %</td><td>{html.escape(verdict)}</td></tr>")
    rule = (f"--min-class-share {share:g} %" if share is not None else "") + \
        (f" --excluded-classes {','.join(map(str, excluded))}" if excluded else "")
    return (f"<h3>Land-cover homogeneity per chip ({html.escape(rule.strip() or 'no filter set')})</h3><table><tr>"
            "<th>chip-year</th><th>most common class</th><th>its share</th><th>export</th></tr>"
            f"{''.join(rows)}</table>")


def _gallery(layout: Layout, records: dict[str, dict[ChipYear, dict]]) -> str:
    chips = sorted({cy for by_chip in records.values() for cy in by_chip})
    blocks = []
    for chip_year in chips:
        cells = []
        for sensor in records:
            for season in seasons_of(sensor):
                thumb = layout.chip_file(chip_year.chip, chip_year.year, f"{prefix(season)}image_{sensor}.png")
                if thumb.exists():
                    uri = "data:image/png;base64," + base64.b64encode(thumb.read_bytes()).decode("ascii")
                    label = f"{sensor} {season}" if season != "static" else sensor
                    cells.append(f'<figure><img src="{uri}"><figcaption>{html.escape(label)}</figcaption></figure>')
        if cells:
            blocks.append(f'<div class="chip"><h3>{html.escape(chip_year.stem)}</h3>{"".join(cells)}</div>')
    return "<h3>Sensor thumbnails</h3>" + ("".join(blocks) or "<p>no images</p>")
