"""The download report: every chip-season image written or failed (with the URL and the reason)."""

from __future__ import annotations

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import ImagesRecord


def download_report(records: dict[ChipYear, ImagesRecord]) -> dict:
    report = {"total_processed": 0, "successful": 0, "failed": []}
    for chip_year, rec in sorted(records.items()):
        for season, s in sorted(rec.seasons.items()):
            report["total_processed"] += 1
            if s.status == "written":
                report["successful"] += 1
            else:
                report["failed"].append({"chip": chip_year.stem, "season": season, "url": s.url or "",
                                         "error": s.error or ""})
    return report
