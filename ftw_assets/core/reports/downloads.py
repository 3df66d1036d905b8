"""The download report: every chip-season image written or failed (with the URL and the reason)."""


def download_report(records: dict[str, dict]) -> dict:
    report = {"total_processed": 0, "successful": 0, "failed": []}
    for key, rec in sorted(records.items()):
        for season, s in sorted(rec.get("seasons", {}).items()):
            report["total_processed"] += 1
            if s.get("status") == "written":
                report["successful"] += 1
            else:
                report["failed"].append({"chip": key, "season": season, "url": s.get("url", ""),
                                         "error": s.get("error", "")})
    return report
