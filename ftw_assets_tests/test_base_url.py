"""`create-dataset --base-url`: every href the catalog writes is absolute under the URL where the catalog
folder is published (collection, items and items.parquet, through every asset that writes items);
relative by default; a bad URL is refused before anything is written."""

import json
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner

from ftw_assets.cli import main
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets_tests.helpers import ftwd

BASE = "https://data.example.org/ftw/ds-chips"


def _hrefs(d: dict) -> list[tuple[str, str]]:
    """(what, href) of every asset and link of a STAC dict."""
    return ([(f"asset {k}", a["href"]) for k, a in d.get("assets", {}).items()]
            + [(f"link {ln['rel']}", ln["href"]) for ln in d.get("links", [])])


def _catalog(catalog: Path) -> dict[str, list[tuple[str, str]]]:
    """Every href of collection.json, the item files and items.parquet, by file (parquet rows by item id)."""
    found = {"collection.json": _hrefs(json.loads((catalog / "collection.json").read_text()))}
    for path in sorted(catalog.glob("*/*.json")):
        item = json.loads(path.read_text())
        validate_stac(item)  # still valid STAC as written
        found[f"{path.parent.name}/{path.name}"] = _hrefs(item)
    for row in gpd.read_parquet(catalog / "items.parquet").itertuples():
        assets = [(f"asset {k}", a["href"]) for k, a in row.assets.items() if a is not None]
        found[f"items.parquet {row.id}"] = assets + [(f"link {ln['rel']}", ln["href"]) for ln in row.links]
    validate_stac(json.loads((catalog / "collection.json").read_text()))
    return found


def _scene_sources(archive: Path, href: str) -> bool:
    return href.startswith(str(archive.parent))  # the local archive's bands and items, by absolute path


def test_base_url_makes_every_catalog_href_absolute_and_default_keeps_them_relative(
        tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    scenes = ["--year", "2024", "--stac-host", archive_parquet, "--crop-calendar-dir", calendar]

    relative = tmp_path / "relative"
    made = ftwd("create-dataset", fields, relative, "--name", "ds", "--select-images", *scenes)
    assert made.returncode == 0, made.stdout + made.stderr
    catalog = relative / "ds-chips"
    hrefs = _catalog(catalog)
    assert any(what == "link related" for h in hrefs.values() for what, _ in h)  # season items are there
    for where, pairs in hrefs.items():
        for what, href in pairs:
            if _scene_sources(archive_parquet, href):
                continue
            assert href.startswith(("./", "../")), (where, what, href)
            # Relative to the file; items.parquet's to the catalog folder.
            base = catalog if where.startswith(("items.parquet", "collection.json")) else (catalog / where).parent
            assert (base / href).resolve().exists(), (where, what, href)

    published = tmp_path / "published"
    made = ftwd("create-dataset", fields, published, "--name", "ds", "--download-images", *scenes,
                "--base-url", BASE + "/")
    assert made.returncode == 0, made.stdout + made.stderr
    assert json.loads((published / "dataset.json").read_text())["base_url"] == BASE  # stored without the slash
    catalog = published / "ds-chips"
    hrefs = _catalog(catalog)
    assert any(what == "asset clipped" for h in hrefs.values() for what, _ in h)  # images and refinement wrote items
    for where, pairs in hrefs.items():
        for what, href in pairs:
            if _scene_sources(archive_parquet, href):
                continue
            assert href.startswith(BASE + "/"), (where, what, href)
            # Where the file will be once the catalog folder is copied to BASE.
            assert (catalog / href[len(BASE) + 1:]).exists(), (where, what, href)
        if not where.startswith("items.parquet"):
            assert ("link self", f"{BASE}/{where}") in pairs, where

    # The URL is part of the dataset: another one means another dataset folder.
    other = ftwd("create-dataset", fields, published, "--name", "ds", "--download-images", *scenes,
                 "--base-url", "s3://bucket/ds-chips")
    assert other.returncode == 2 and "different base_url" in other.stderr


@pytest.mark.parametrize("url,why", [
    ("ftp://example.org/ds-chips", "the scheme must be one of http, https, s3, gs"),
    ("data.example.org/ds-chips", "the scheme must be one of http, https, s3, gs"),
    ("https:///ds-chips", "it names no host or bucket"),
    ("https://example.org/ds-chips?sig=1", "it must not have a query or fragment"),
])
def test_a_bad_base_url_exits_2_and_writes_nothing(tmp_path, demo_inputs, url, why):
    out = tmp_path / "out"
    run = CliRunner().invoke(main, ["create-dataset", str(demo_inputs[0]), str(out), "--base-url", url])
    assert run.exit_code == 2
    assert f"error: --base-url {url!r}: {why}. Give the URL the catalog folder will be published at" in run.output
    assert run.exception is None or isinstance(run.exception, SystemExit)  # a message, no traceback
    assert not out.exists()
