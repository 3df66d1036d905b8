"""Pixel-level cloud refinement: the chip's own cloud share in its selected scene, against a threshold;
a scene above it, or whose chip image is blank, is rejected for that chip-season and kept in an
exclusion list that selection reads.

Outcomes: ``accepted``; ``rejected`` (cloud above ``--cloud-cover-pixel``); ``blank`` (the clipped
image has no valid pixel or a reflectance band holding one value, as saturated cloud leaves it);
``no data`` (the SCL window is all nodata). All but ``accepted`` are rejections: the scene is
excluded and the chip-season selected again, bounded by ``--max-attempts``.

The exclusion list is the DuckDB table ``rejected_scenes`` (chip_id, year, season, scene_id,
cloud_cover, threshold, rejected_at); the caller passes the connection (dagster-duckdb in assets).
"""

from __future__ import annotations

from pydantic import Field

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.files import REFINEMENT_FILE
from ftw_assets.core.dataset.records import RefinementRecord, ReportSpec, SeasonRefinement
from ftw_assets.core.errors import InputError
from ftw_assets.core.scenes.model import CLASS_BANDS
from ftw_assets.core.settings import Settings

TABLE = "rejected_scenes"
ACCEPTED = "accepted"
REJECTED = ("rejected", "blank", "no data")  # outcomes that exclude the scene and select again


class RefinementSettings(Settings):
    """The ``refine-cloud-cover`` options, kept in OUTPUT_DIR/refinement.json (written with these
    defaults by ``create-dataset --download-images`` and ``download-images``, which turn it on).

    The default threshold is 1 %, not 0: SCL's shadow and medium-probability cloud classes and the
    cloud probability also fire on bright bare soil, roofs and dark water, so on farmland a rule
    that rejects a scene for one such pixel in 65,536 (a 256 px chip) uses up its re-selections on
    noise and then drops the chip-season. 1 % (about 650 pixels, a cloud and shadow some 250 m
    across) still rejects any cloud large enough to matter for the labels. ``--cloud-cover-pixel 0``
    is the strict rule."""

    FILE = REFINEMENT_FILE

    cloud_cover_pixel: float = Field(1.0, description="Reject a chip's scene when more than this percent of the chip's "
                                                      "valid pixels are cloud or shadow.")
    cloud_probability_threshold: int = Field(50, description="Cloud probability (0-100) above which a pixel counts as "
                                                             "cloud, besides SCL 3, 8, 9, 10.")
    max_attempts: int = Field(3, description="Re-selections per chip-season; after that the season is skipped with "
                                             "the reason.")

    def validate_values(self) -> None:
        if not 0 <= float(self.cloud_cover_pixel) <= 100:
            raise InputError(f"--cloud-cover-pixel {self.cloud_cover_pixel} must be a percentage from 0 to 100")
        if not 0 <= int(self.cloud_probability_threshold) <= 100:
            raise InputError(f"--cloud-probability-threshold {self.cloud_probability_threshold} must be 0 to 100")
        if not 0 <= int(self.max_attempts) <= 20:
            raise InputError(f"--max-attempts {self.max_attempts} must be between 0 and 20")


def ensure_table(conn) -> None:
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        chip_id VARCHAR, year INTEGER, season VARCHAR, scene_id VARCHAR, cloud_cover DOUBLE, threshold DOUBLE,
        rejected_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (chip_id, year, season, scene_id))""")


def add_rejections(conn, rows: list[tuple[str, int, str, str, float, float]]) -> None:
    ensure_table(conn)
    for row in rows:
        conn.execute(f"INSERT OR IGNORE INTO {TABLE} (chip_id, year, season, scene_id, cloud_cover, threshold) "
                     "VALUES (?, ?, ?, ?, ?, ?)", list(row))


def rejections(conn, chip_years: list[ChipYear]) -> dict[tuple[str, int, str], set[str]]:
    """{(chip, year, season): rejected scene ids} for the given chip-years."""
    ensure_table(conn)
    out: dict[tuple[str, int, str], set[str]] = {}
    wanted = set(chip_years)
    for chip, year, season, scene in conn.execute(f"SELECT chip_id, year, season, scene_id FROM {TABLE}").fetchall():
        if ChipYear(chip, year) in wanted:
            out.setdefault((chip, int(year), season), set()).add(scene)
    return out


def blank_reason(nodata_share: float, bands: dict[str, dict]) -> str | None:
    """Why a chip image is blank, or None: no valid pixel, or a reflectance band (``scl`` and
    ``cloud_probability`` may well be uniform) whose valid pixels all hold one value (std 0).
    ``bands``: per band ``{"std": ...}``, as ``image_stats`` records them for each clipped image."""
    if nodata_share >= 1.0:
        return "no valid pixel"
    flat = [band for band, stats in bands.items() if band not in CLASS_BANDS and float(stats["std"]) == 0.0]
    return f"{', '.join(flat)} constant" if flat else None


def outcome(cloud_share: float, nodata_share: float, settings: RefinementSettings, blank: bool = False) -> str:
    if nodata_share >= 1.0:
        return "no data"
    if blank:
        return "blank"
    return "rejected" if cloud_share * 100 > settings.cloud_cover_pixel else ACCEPTED


def season_refinement(scene_id: str, cloud_share: float, nodata_share: float, settings: RefinementSettings,
                      rejections: int, blank: bool = False) -> SeasonRefinement:
    """A season's record entry: chip-level cover in percent (4 decimals), nodata share, the outcome
    (``blank``: the scene's clipped image for the chip is blank), and how many scenes were rejected
    for this chip-season so far (this one included when it is rejected)."""
    return SeasonRefinement(scene_id, round(cloud_share * 100, 4), round(nodata_share, 6),
                            outcome(cloud_share, nodata_share, settings, blank), rejections)


def item_properties(entry: SeasonRefinement, rejected: set[str]) -> dict:
    """What refinement records in the season item: the chip-level cover, the decision on this scene
    and the scenes rejected for this chip-season so far (``rejected``; this one when it is rejected)."""
    return {"eo:cloud_cover": entry.cloud_cover, "ftw:cloud_cover_measured": True,
            "ftw:refinement_outcome": entry.outcome, "ftw:rejected_scenes": sorted(rejected)}


def refinement_entry(chip_year: ChipYear, rec: RefinementRecord) -> dict:
    """A chip-year's own refinement report: one row per season, in season order."""
    rows = [{"chip": chip_year.stem, "season": season, "scene_id": s.scene_id, "cloud_cover": s.cloud_cover,
             "threshold": rec.threshold, "outcome": s.outcome, "rejections": s.rejections}
            for season, s in sorted(rec.seasons.items())]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return {"chip_seasons": len(rows), "counts": counts, "rows": rows}


REFINEMENT_REPORT = ReportSpec("refinement_report", RefinementRecord, {"chip_seasons": 0, "counts": {}, "rows": []},
                               refinement_entry)


def refinement_report(records: dict[ChipYear, RefinementRecord]) -> dict:
    """Per chip-season: measured cover, threshold, outcome; plus counts by outcome, in the order
    outcomes first occur (the rebuild; each run updates the file with ``update_report(layout,
    REFINEMENT_REPORT, its chip-years)``)."""
    return REFINEMENT_REPORT.build(records)


def reselection_targets(events: list[tuple[str, dict]], max_attempts: int) -> tuple[list[str], list[str]]:
    """From refinement events (partition key, {season: rejections so far} of the seasons it rejected),
    the partitions to select again. A chip-season is re-selected after each of its first
    ``max_attempts`` rejections; after one more, a last selection run records it as skipped (with the
    reason) and nothing is asked for it again. Returns (targets, partitions left alone)."""
    targets, capped = [], []
    for partition, rejected in events:
        if not rejected:
            continue
        if any(int(v) <= max_attempts + 1 for v in rejected.values()):
            targets.append(partition)
        else:
            capped.append(partition)
    return sorted(set(targets)), sorted(set(capped) - set(targets))
