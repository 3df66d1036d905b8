"""Radiant Earth's STAC Browser over a dataset's catalog (`ftw_assets.core.stac.browser`): the built
browser and the catalog folder on one 127.0.0.1 port, opened in Debian's Chromium (headless, driven by
Playwright). Screenshots go to data/test-artifacts/stac-browser/, and to docs/ with FTW_SCREENSHOTS=1."""

import json
import os
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ftw_assets.core.stac.browser import browse_server, browser_installed, default_browser_dir
from ftw_assets_tests.helpers import REPO, free_port, ftwd

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "data" / "test-artifacts" / "stac-browser"
WAIT = 120_000  # ms: generous, the suite shares two cores; every wait ends as soon as its state is reached
CHIP = "ftw-33UWP7830_2024"


@pytest.fixture(scope="module")
def browser_dir() -> Path:
    path = default_browser_dir()
    if not browser_installed(path):
        pytest.skip(f"STAC Browser is not built in {path}: run `make stac-browser` (needs node and npm)")
    return path


@pytest.fixture(scope="module")
def catalog(browser_dir, tmp_path_factory, archive_parquet, demo_inputs) -> Path:
    """The demo dataset with clipped images and thumbnails: its catalog folder."""
    fields, calendar = demo_inputs
    out = tmp_path_factory.mktemp("browse") / "out"
    made = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                "--download-images", "--crop-calendar-dir", calendar)
    assert made.returncode == 0, made.stdout + made.stderr
    return out / "ds-chips"


@pytest.fixture(scope="module")
def site(catalog, browser_dir):
    """The browse server on a free port, in a thread; yields its base URL."""
    port = free_port()
    server = browse_server(catalog, browser_dir, port=port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the browse server stopped while starting"
        assert time.monotonic() < deadline, "the browse server did not start within 60 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _get(url: str, **headers):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_one_port_serves_browser_settings_and_catalog(site, catalog):
    status, _, page = _get(f"{site}/")
    assert status == 200 and b'src="/config.js"' in page and b'id="stac-browser"' in page
    _, headers, script = _get(f"{site}/config.js")
    assert headers["content-type"].startswith("text/javascript")
    assert b'window.location.origin + "/catalog/collection.json"' in script
    assert b"window.FTW_BASEMAPS = [];" in script  # no tile server unless asked for
    assert b'"displayOverview": false' in script  # COGs on the map on request only
    _, _, body = _get(f"{site}/catalog/collection.json")
    assert json.loads(body) == json.loads((catalog / "collection.json").read_text())
    # COGs are read in pieces: a Range request gets exactly those bytes.
    cog = catalog / CHIP / f"{CHIP}_instance.tif"
    status, headers, part = _get(f"{site}/catalog/{CHIP}/{cog.name}", Range="bytes=100-355")
    assert status == 206 and part == cog.read_bytes()[100:356]
    assert headers["content-range"] == f"bytes 100-355/{cog.stat().st_size}"


def _screenshot(page, name: str, full_page: bool) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)
    if os.environ.get("FTW_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copy(ARTIFACTS / name, REPO / "docs" / name)


def _row(page, key: str):
    """The value cell of a metadata row, found by the property's key (STAC Browser's title attribute)."""
    return page.locator(".metadata-rows .row", has=page.locator(f'[title="{key}"]')).locator(".value")


def test_browse_to_a_chip_in_chromium(site, catalog):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run does this)")
    pytest.importorskip("playwright", reason="needs the playwright package (the test extra installs it)")
    from playwright.sync_api import expect, sync_playwright

    chip_item = json.loads((catalog / CHIP / f"{CHIP}.json").read_text())
    season_item = json.loads((catalog / CHIP / f"{CHIP}_planting_s2.json").read_text())
    png = (catalog / CHIP / f"{CHIP}_planting_image_s2.png").read_bytes()
    assert png[12:16] == b"IHDR"
    thumb_width = int.from_bytes(png[16:20], "big")  # the PNG header's width
    requests, failed = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT)
        page.on("request", lambda r: requests.append(r.url))
        page.on("response", lambda r: r.status >= 400 and failed.append(r.url))

        # The collection: its title, and item cards whose thumbnails came from the catalog folder.
        page.goto(f"{site}/")
        expect(page.locator("h1")).to_have_text(json.loads((catalog / "collection.json").read_text())["title"],
                                                timeout=WAIT)
        link = page.get_by_role("link", name=CHIP, exact=True)
        expect(link).to_be_visible(timeout=WAIT)
        first = sorted(d.name for d in catalog.iterdir() if d.is_dir())[0]  # the cards sort by id
        for season in ("harvest", "planting"):
            card_img = page.locator(f'.card img[src="{site}/catalog/{first}/{first}_{season}_image_s2.png"]')
            expect(card_img).to_be_visible(timeout=WAIT)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=card_img.element_handle(),
                                   timeout=WAIT)
        _screenshot(page, "stac_browser_collection.png", full_page=False)  # the item cards lazy-load below

        # The chip's item: its split and field count.
        link.click()
        expect(page.locator("h1")).to_have_text(CHIP, timeout=WAIT)
        expect(_row(page, "ftw:split")).to_have_text(chip_item["properties"]["ftw:split"], timeout=WAIT)
        expect(_row(page, "ftw:field_count")).to_have_text(str(chip_item["properties"]["ftw:field_count"]),
                                                            timeout=WAIT)

        # Its planting season, through the item's related link: the thumbnail decodes at its real size.
        page.locator(f'a[href$="/{CHIP}_planting_s2.json"]').click()
        expect(page.locator("h1")).to_have_text(season_item["id"], timeout=WAIT)
        expect(_row(page, "ftw:season")).to_have_text("planting", timeout=WAIT)
        expect(_row(page, "ftw:mgrs_tile")).to_have_text(season_item["properties"]["ftw:mgrs_tile"], timeout=WAIT)
        page.get_by_text("Thumbnails", exact=True).click()
        thumbnail = page.locator("img.thumbnail")
        expect(thumbnail).to_be_visible(timeout=WAIT)
        assert thumbnail.get_attribute("src") == f"{site}/catalog/{CHIP}/{CHIP}_planting_image_s2.png"
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle(),
                               timeout=WAIT)
        assert thumbnail.evaluate("img => img.naturalWidth") == thumb_width
        _screenshot(page, "stac_browser_item.png", full_page=True)

        # The clipped image, put on the map on request: read from the catalog folder in Range requests.
        clipped = page.locator(".asset", has=page.locator(".title", has_text=season_item["assets"]["clipped"]["title"]))
        clipped.locator("header button").click()
        with page.expect_response(lambda r: r.url == f"{site}/catalog/{CHIP}/{CHIP}_planting_image_s2.tif"
                                  and r.status == 206, timeout=WAIT):
            clipped.get_by_role("button", name="Show on map").click()
        expect(clipped.locator(".badge.shown")).to_be_visible(timeout=WAIT)
        browser.close()
    # Nothing was fetched from elsewhere (no CDN, no tile server, no source band), and nothing was missing.
    assert [u for u in requests if not u.startswith(f"{site}/")] == []
    assert failed == []
