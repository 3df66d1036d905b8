"""The Dagster UI in a real browser: Debian's Chromium, headless, driven by Playwright, over the UI that
`ftwd ui` serves for a dataset with images. Screenshots go to data/test-artifacts/ui/."""

import os
import shutil
from pathlib import Path

import pytest

from ftw_assets_tests.helpers import ftwd, running_ui

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "data" / "test-artifacts" / "ui"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
SIX = ("chip_grid", "masks", "crop_calendar", "selected_scenes", "clipped_images", "stac_catalog")


@pytest.fixture
def ui(tmp_path, archive_parquet, demo_inputs):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run does this)")
    pytest.importorskip("playwright", reason="needs the playwright package (the test extra installs it)")
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    made = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                "--download-images", "--crop-calendar-dir", calendar)
    assert made.returncode == 0, made.stderr
    with running_ui(out) as port:
        yield f"http://127.0.0.1:{port}", tmp_path


def test_the_ui_in_chromium(ui):
    from playwright.sync_api import sync_playwright

    url, tmp_path = ui
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:],
                                    headless=True)
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        page = context.new_page()

        # The asset catalog lists all six chip-year assets. Wait for states (text shown), not layouts: the
        # graph view lays out in a worker and its node labels are not clickable until then (slow under load).
        page.goto(f"{url}/assets", wait_until="domcontentloaded")
        for asset in SIX:
            page.get_by_text(asset, exact=True).first.wait_for(state="visible", timeout=120_000)
        text = page.inner_text("body")
        assert [a for a in SIX if a not in text] == []
        # The graph of the groups, once every group's label is shown.
        page.goto(f"{url}/asset-groups", wait_until="domcontentloaded")
        for group in ("catalog", "chips", "images", "masks", "refinement", "scenes"):
            page.get_by_text(group, exact=True).first.wait_for(state="attached", timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))

        # The partitions view of clipped_images: the 8 chip-years are materialized.
        page.goto(f"{url}/assets/clipped_images?view=partitions", wait_until="domcontentloaded")
        page.get_by_text("Materialized (8)").wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "clipped-images-partitions.png"))

        # A materialization: its cloud figures, and its thumbnail rendered from the metadata.
        page.goto(f"{url}/assets/clipped_images?view=events", wait_until="domcontentloaded")
        page.get_by_text("planting_cloud_cover").first.wait_for(timeout=120_000)
        text = page.inner_text("body")
        assert "harvest_cloud_cover" in text and "S2B_T33UWP_20241030T100643_L2A" in text
        page.screenshot(path=str(ARTIFACTS / "clipped-images-materialization.png"))
        page.get_by_text("[Show Markdown]").first.click()
        thumbnail = page.locator("img[src^='data:image/png']").first
        thumbnail.wait_for(timeout=120_000)
        assert thumbnail.evaluate("img => img.naturalWidth") > 100  # a real, decoded picture
        page.screenshot(path=str(ARTIFACTS / "clipped-images-thumbnail.png"))
        browser.close()
    assert len(list(ARTIFACTS.glob("*.png"))) >= 4
    if os.environ.get("FTW_UPDATE_DOCS"):
        docs = Path(__file__).resolve().parents[1] / "docs"
        docs.mkdir(exist_ok=True)
        for png in ARTIFACTS.glob("*.png"):
            shutil.copy(png, docs / png.name)
