"""Pixel-level cloud refinement: the chip's own cloud share in its selected scene, against a threshold;
a scene above it is rejected for that chip-season and kept in an exclusion list that selection reads.

The exclusion list is the DuckDB table ``rejected_scenes`` (chip_id, year, season, scene_id,
cloud_cover, threshold, rejected_at); the caller passes the connection (dagster-duckdb in assets).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ftw_assets.core.atomic import write_text
from ftw_assets.core.errors import InputError

REFINEMENT_FILE = "refinement.json"
TABLE = "rejected_scenes"


@dataclass
class RefinementSettings:
    """The ``refine-cloud-cover`` options, kept in OUTPUT_DIR/refinement.json."""

    cloud_cover_pixel: float = 0.0
    cloud_probability_threshold: int = 50
    max_attempts: int = 3

    def check(self) -> "RefinementSettings":
        if not 0 <= float(self.cloud_cover_pixel) <= 100:
            raise InputError(f"--cloud-cover-pixel {self.cloud_cover_pixel} must be a percentage from 0 to 100")
        if not 0 <= int(self.cloud_probability_threshold) <= 100:
            raise InputError(f"--cloud-probability-threshold {self.cloud_probability_threshold} must be 0 to 100")
        if not 0 <= int(self.max_attempts) <= 20:
            raise InputError(f"--max-attempts {self.max_attempts} must be between 0 and 20")
        return self

    def save(self, output_dir: Path) -> None:
        write_text(Path(output_dir) / REFINEMENT_FILE, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, output_dir: Path) -> "RefinementSettings":
        path = Path(output_dir) / REFINEMENT_FILE
        data = json.loads(path.read_text()) if path.exists() else {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}).check()


def ensure_table(conn) -> None:
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        chip_id VARCHAR, year INTEGER, season VARCHAR, scene_id VARCHAR, cloud_cover DOUBLE, threshold DOUBLE,
        rejected_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (chip_id, year, season, scene_id))""")


def add_rejections(conn, rows: list[tuple[str, int, str, str, float, float]]) -> None:
    ensure_table(conn)
    for row in rows:
        conn.execute(f"INSERT OR IGNORE INTO {TABLE} (chip_id, year, season, scene_id, cloud_cover, threshold) "
                     "VALUES (?, ?, ?, ?, ?, ?)", list(row))


def rejections(conn, chip_years: list[tuple[str, int]]) -> dict[tuple[str, int, str], set[str]]:
    """{(chip, year, season): rejected scene ids} for the given chip-years."""
    ensure_table(conn)
    out: dict[tuple[str, int, str], set[str]] = {}
    wanted = set(chip_years)
    for chip, year, season, scene in conn.execute(f"SELECT chip_id, year, season, scene_id FROM {TABLE}").fetchall():
        if (chip, int(year)) in wanted:
            out.setdefault((chip, int(year), season), set()).add(scene)
    return out


def outcome(cloud_share: float, nodata_share: float, settings: RefinementSettings) -> str:
    if nodata_share >= 1.0:
        return "no data"
    return "rejected" if cloud_share * 100 > settings.cloud_cover_pixel else "accepted"


def refinement_report(records: dict[str, dict]) -> dict:
    """Per chip-season: measured cover, threshold, outcome; plus counts."""
    rows = []
    for key, rec in sorted(records.items()):
        for season, s in sorted(rec.get("seasons", {}).items()):
            rows.append({"chip": key, "season": season, "scene_id": s["scene_id"], "cloud_cover": s["cloud_cover"],
                         "threshold": rec["threshold"], "outcome": s["outcome"], "rejections": s.get("rejections", 0)})
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
