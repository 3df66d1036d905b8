"""Pixel-level cloud refinement: the chip's own cloud share in its selected scene, against a threshold;
a scene above it is rejected for that chip-season and kept in an exclusion list that selection reads.

The exclusion list is the DuckDB table ``rejected_scenes`` (chip_id, year, season, scene_id,
cloud_cover, threshold, rejected_at); the caller passes the connection (dagster-duckdb in assets).
"""

from __future__ import annotations

from pydantic import Field

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import RefinementRecord, SeasonRefinement
from ftw_assets.core.errors import InputError
from ftw_assets.core.settings import Settings

REFINEMENT_FILE = "refinement.json"
TABLE = "rejected_scenes"


class RefinementSettings(Settings):
    """The ``refine-cloud-cover`` options, kept in OUTPUT_DIR/refinement.json."""

    FILE = REFINEMENT_FILE

    cloud_cover_pixel: float = Field(0.0, description="Reject a chip's scene when more than this percent of the chip's "
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


def outcome(cloud_share: float, nodata_share: float, settings: RefinementSettings) -> str:
    if nodata_share >= 1.0:
        return "no data"
    return "rejected" if cloud_share * 100 > settings.cloud_cover_pixel else "accepted"


def season_refinement(scene_id: str, cloud_share: float, nodata_share: float, settings: RefinementSettings,
                      rejections: int) -> SeasonRefinement:
    """A season's record entry: chip-level cover in percent (4 decimals), nodata share, the outcome, and
    how many scenes were rejected for this chip-season so far."""
    return SeasonRefinement(scene_id, round(cloud_share * 100, 4), round(nodata_share, 6),
                            outcome(cloud_share, nodata_share, settings), rejections)


def refinement_report(records: dict[ChipYear, RefinementRecord]) -> dict:
    """Per chip-season: measured cover, threshold, outcome; plus counts."""
    rows = []
    for chip_year, rec in sorted(records.items()):
        for season, s in sorted(rec.seasons.items()):
            rows.append({"chip": chip_year.stem, "season": season, "scene_id": s.scene_id, "cloud_cover": s.cloud_cover,
                         "threshold": rec.threshold, "outcome": s.outcome, "rejections": s.rejections})
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return {"chip_seasons": len(rows), "counts": counts, "rows": rows}


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
