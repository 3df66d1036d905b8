"""The download report: every chip-season image written or failed (with the URL and the reason)."""

from __future__ import annotations

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import ImagesRecord, ReportSpec


def download_entry(chip_year: ChipYear, rec: ImagesRecord) -> dict:
    """A chip-year's own download report: its seasons processed and written, and the failed ones."""
    seasons = sorted(rec.seasons.items())
    return {"total_processed": len(seasons), "successful": sum(s.status == "written" for _, s in seasons),
            "failed": [{"chip": chip_year.stem, "season": season, "url": s.url or "", "error": s.error or ""}
                       for season, s in seasons if s.status != "written"]}


DOWNLOAD_REPORT = ReportSpec("download_report", ImagesRecord, {"total_processed": 0, "successful": 0, "failed": []},
                             download_entry)


def download_report(records: dict[ChipYear, ImagesRecord]) -> dict:
    """The summary of every chip-year's images record (the rebuild; each run updates the file with
    ``update_report(layout, DOWNLOAD_REPORT, its chip-years)``)."""
    return DOWNLOAD_REPORT.build(records)
