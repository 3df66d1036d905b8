"""The Dagster UI and the QA report in a real browser: Debian's Chromium, headless, driven by Playwright,
over the UI that `ftwd ui` serves for a dataset with images, and over the report opened from disk.
Screenshots go to data/test-artifacts/ui/ (and to docs/ with FTW_UPDATE_DOCS=1)."""

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from ftw_assets_tests.helpers import APR03, APR08, DEMO_CHIPS, OCT30, create_demo_dataset, ftwd, running_ui

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "data" / "test-artifacts" / "ui"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
SIX = ("chip_grid", "masks", "crop_calendar", "selected_scenes", "clipped_images", "stac_catalog")
GROUPS = {"catalog", "chips", "export", "images", "masks", "refinement", "scenes", "sensors"}
# ms: every wait is for a state (a text, a node, a decoded image) and ends as soon as it is reached; the limit
# is generous because the suite shares two cores and the UI lays out and renders slowly under load.
WAIT = 120_000
UI_SHOTS = ("asset-graph.png", "clipped-images-partitions.png", "clipped-images-materialization.png",
            "clipped-images-preview.png")


def needs_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run does this)")
    pytest.importorskip("playwright", reason="needs the playwright package (the test extra installs it)")


def update_docs(names) -> None:
    """With FTW_UPDATE_DOCS=1, copy these screenshots to docs/ (README shows them)."""
    if os.environ.get("FTW_UPDATE_DOCS"):
        docs = Path(__file__).resolve().parents[1] / "docs"
        docs.mkdir(exist_ok=True)
        for name in names:
            shutil.copy(ARTIFACTS / name, docs / name)


def decoded(img) -> bool:
    return img.evaluate("img => img.complete && img.naturalWidth > 0")


def wait_decoded(page, container, count: int) -> None:
    """Wait until at least ``count`` images inside ``container`` are loaded and decoded (naturalWidth > 0)."""
    page.wait_for_function("c => [...c.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0)"
                           ".length >= " + str(count), arg=container.element_handle(), timeout=WAIT)


def group_edges(url: str) -> tuple[set, set]:
    """(groups, group-to-group dependencies) of the served definitions, from the UI's own GraphQL endpoint."""
    query = "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"
    req = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=WAIT / 1000) as resp:
        nodes = json.load(resp)["data"]["assetNodes"]
    group = {tuple(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    edges = {(group[tuple(d["path"])], n["groupName"]) for n in nodes for d in n["dependencyKeys"]}
    return set(group.values()), {(a, b) for a, b in edges if a != b}


@pytest.fixture
def ui(tmp_path, archive_parquet, demo_inputs):
    needs_chromium()
    out = tmp_path / "out"
    # With the pixel check the planting scenes are measured on each chip when selected, so the
    # materialization shows a chip-level figure beside a scene-level one (the 0 % harvest scene is
    # taken at scene level).
    create_demo_dataset(out, demo_inputs, archive_parquet, "--download-images", "--pixel-check")
    with running_ui(out) as port:
        yield f"http://127.0.0.1:{port}", tmp_path


def test_the_ui_in_chromium(ui):
    from playwright.sync_api import expect, sync_playwright

    url, tmp_path = ui
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Wait for states, not layouts: every page is opened by its URL (no clicks on nodes of the zoomable graph
    # canvas), and each check waits for the content it reads (texts, graph nodes and edges, decoded images).
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:],
                                    headless=True)
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        context.set_default_timeout(WAIT)  # actions (click, inner_text) and navigations
        page = context.new_page()

        # The asset catalog lists all six chip-year assets.
        page.goto(f"{url}/assets", wait_until="domcontentloaded")
        for asset in SIX:
            expect(page.get_by_text(asset, exact=True).filter(visible=True).first).to_be_visible(timeout=WAIT)
        text = page.inner_text("body")
        assert [a for a in SIX if a not in text] == []
        # The graph of the groups, screenshot once all its nodes and edges are drawn (the group names in the
        # side list come first, the graph is laid out in a worker and drawn later, its edges last).
        groups, edges = group_edges(url)
        assert groups == GROUPS and ("chips", "scenes") in edges and ("catalog", "export") in edges
        page.goto(f"{url}/asset-groups", wait_until="domcontentloaded")
        for group in sorted(groups):
            node = page.locator("svg foreignObject").filter(has=page.get_by_text(group, exact=True))
            expect(node).to_be_visible(timeout=WAIT)
        page.wait_for_function("n => document.querySelectorAll('svg path[marker-end]').length === n",
                               arg=len(edges), timeout=WAIT)
        page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))

        # The partitions view of clipped_images: the 8 chip-years are materialized.
        page.goto(f"{url}/assets/clipped_images?view=partitions", wait_until="domcontentloaded")
        expect(page.get_by_text("Materialized (8)")).to_be_visible(timeout=WAIT)
        for chip in DEMO_CHIPS:
            expect(page.get_by_text(chip, exact=True).filter(visible=True).first).to_be_visible(timeout=WAIT)
        page.screenshot(path=str(ARTIFACTS / "clipped-images-partitions.png"))

        # A materialization: the chip-level cloud first, then the scene-level figures.
        page.goto(f"{url}/assets/clipped_images?view=events", wait_until="domcontentloaded")
        body = page.locator("body")
        for shown in ("planting_chip_cloud_cover", "planting_scene_cloud_cover", "harvest_scene_cloud_cover", OCT30):
            expect(body).to_contain_text(shown, timeout=WAIT)
        text = page.inner_text("body")
        assert "planting_scene_cloud_cover" in text and "harvest_scene_cloud_cover" in text and OCT30 in text
        assert "planting_cloud_cover" not in text and "_thumbnail" not in text
        page.screenshot(path=str(ARTIFACTS / "clipped-images-materialization.png"))
        # One click shows the preview: both seasons side by side, with scene, date and cloud.
        show = page.get_by_text("[Show Markdown]").first
        show.scroll_into_view_if_needed()
        show.click()
        table = page.get_by_role("dialog").locator("table:has(img[src^='data:image/'])").first
        expect(table).to_be_visible(timeout=WAIT)
        thumbnails = table.locator("img[src^='data:image/']")
        expect(thumbnails).to_have_count(2, timeout=WAIT)
        expect(thumbnails.nth(1)).to_be_visible(timeout=WAIT)
        wait_decoded(page, table, 2)
        assert thumbnails.count() == 2 and all(decoded(thumbnails.nth(i)) for i in range(2))
        cells = table.inner_text()
        assert "planting" in cells and "harvest" in cells and "chip-level cloud" in cells
        assert OCT30 in cells and "2024-10-30" in cells and ({APR03, APR08} & set(cells.split()))
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "clipped-images-preview.png"))
        browser.close()
    update_docs(UI_SHOTS)


def test_the_qa_report_in_chromium(tmp_path, archive_parquet, demo_inputs):
    """The report of a dataset where one chip-season used up its re-selections (1 of 8 chip-years
    skipped, above the default alert share of 10 %), opened from disk."""
    needs_chromium()
    from playwright.sync_api import expect, sync_playwright

    out = tmp_path / "out"
    create_demo_dataset(out, demo_inputs, archive_parquet, "--download-images", "--no-refine-cloud")
    capped = ftwd("refine-cloud-cover", out, "--cloud-cover-pixel", "0", "--max-attempts", "0")
    assert capped.returncode == 0, capped.stderr
    qa = ftwd("qa-report", out)
    assert qa.returncode == 0, qa.stderr
    assert "Alert: 1 of 8 chip-years (12.5 %) failed or were skipped" in qa.stdout
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:], headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})  # two chips a row
        page.set_default_timeout(WAIT)
        page.goto((out / "ds-chips" / "qa_report.html").as_uri(), wait_until="load")
        banner = page.locator(".alert")
        expect(banner).to_be_visible(timeout=WAIT)
        assert "1 of 8 chip-years (12.5 %) failed or were skipped (0 failed, 1 skipped)" in banner.inner_text()
        figures = page.locator(".chip figure")
        assert figures.count() == 8 * 3 - 1  # the skipped planting season has no image
        wait_decoded(page, page.locator("body"), figures.count())
        assert all(decoded(figures.nth(i).locator("img")) for i in range(figures.count()))
        first = figures.first.locator("figcaption").inner_text().splitlines()
        assert first[:3] == ["planting", APR03, "2024-04-03"] and first[3].startswith("chip-level cloud: ")
        assert first[4] == "scene-level cloud: 0.16 %"
        page.screenshot(path=str(ARTIFACTS / "qa-report.png"), full_page=True)
        browser.close()
    update_docs(["qa-report.png"])
