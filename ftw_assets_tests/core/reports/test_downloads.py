"""The download report and the QA page's problem table, from typed records on disk."""

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import ImagesRecord, SeasonImage, SeasonSelection, SelectionRecord, save
from ftw_assets.core.reports.downloads import download_report
from ftw_assets.core.reports.qa import build_qa_html

STATS = {"nodata_share": 0.0, "bands": {"red": {"min": 1, "max": 2, "std": 0.5}}}
A, B = ChipYear("ftw-33UWP7830", 2024), ChipYear("ftw-33UWP7828", 2024)


def test_download_report_lists_failures_with_url_and_error():
    records = {
        A: ImagesRecord.of(["red"], {"planting": SeasonImage.written("a.tif", "S2A", False, STATS),
                                     "harvest": SeasonImage.failed("https://x.test/B04.tif", "HTTP 500")}),
        B: ImagesRecord.of(["red"], {"planting": SeasonImage.written("b.tif", "S2A", False, STATS)}),
    }
    assert download_report(records) == {"total_processed": 3, "successful": 2, "failed": [
        {"chip": "ftw-33UWP7830_2024", "season": "harvest", "url": "https://x.test/B04.tif", "error": "HTTP 500"}]}


def test_qa_page_counts_and_problems(tmp_path):
    layout = Layout(tmp_path, "ds")
    save(layout, A, SelectionRecord("partial", {"planting": SeasonSelection(4, [], reason="too cloudy"),
                                                "harvest": SeasonSelection(1, [], scene={}, scene_id="S2B")}))
    save(layout, B, SelectionRecord("failed", error="search failed"))
    save(layout, A, ImagesRecord.of(["red"], {"harvest": SeasonImage.failed("https://x.test/B04.tif", "HTTP 500")}))
    page = build_qa_html(layout, "ds")
    assert "chip-years by selection status: failed: 1, partial: 1" in page
    assert "<li>clipped images: 1</li>" in page
    assert ("<tr><td>ftw-33UWP7828_2024</td><td></td><td>failed</td><td>search failed</td></tr>"
            "<tr><td>ftw-33UWP7830_2024</td><td>planting</td><td>skipped</td><td>too cloudy</td></tr>"
            "<tr><td>ftw-33UWP7830_2024</td><td>harvest</td><td>image failed</td>"
            "<td>https://x.test/B04.tif: HTTP 500</td></tr>") in page
