"""Radiant Earth's STAC Browser over a dataset's catalog, served from 127.0.0.1 with no CDN.

``install_browser`` builds the browser once, at install time: the npm package
``@radiantearth/stac-browser`` ships its Vue sources without a build, so it is packed from the npm
registry, patched (hash routing, catalog URL read at run time, no basemap) and built with its own
vue-cli into a plain folder of static files. ``serve`` then serves, on one port:

- ``/``            the built STAC Browser (hash routes, so no URL rewriting is needed),
- ``/config.js``   its run-time settings: the catalog URL on this origin, the optional basemap, COGs
                   on the map only on request,
- ``/catalog/``    the dataset's catalog folder as is; the items' relative hrefs (``./chip/item.json``,
                   ``./..._image_s2.png``) resolve against it, and COGs are read with HTTP Range requests.

Run ``python -m ftw_assets.core.stac.browser install [DIR]`` to build it (needs node and npm).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ftw_assets.core.errors import FtwError

PACKAGE = "@radiantearth/stac-browser"
VERSION = "4.0.1"
# The package ships no lockfile. Its own repository's lockfile at v4.0.1 resolves ol-stac 1.1.0; the
# newest ol-stac that "^1.1.0" admits imports OpenLayers functions that the pinned ol ~10.6 lacks.
PINS = {"ol-stac": "1.1.0"}
MARKER = "ftw-stac-browser.json"
DIR_ENV = "FTW_STAC_BROWSER_DIR"
CATALOG_PATH = "/catalog/"

# Build-time settings, merged over the shipped config.js (kept as config.shipped.js).
BUILD_CONFIG = """\
// ftw_assets: the catalog URL and basemaps come at run time from the server's /config.js.
module.exports = Object.assign(require('./config.shipped.js'), {
  catalogUrl: null,
  historyMode: 'hash',        // the server needs no rewrite rules and no path clashes with /catalog/
  pathPrefix: '/',
  allowExternalAccess: false, // browse this dataset only
  detectLocaleFromBrowser: false,
  storeLocale: false,
  supportedLocales: ['en'],
  socialSharing: [],
});
"""
# The shipped basemap is OpenStreetMap's tile server; offline the map would wait on it.
BASEMAPS_CONFIG = """\
// ftw_assets: no basemap unless the server's /config.js names one (ftwd browse --basemap).
export default function configureBasemap() {
  return Array.isArray(window.FTW_BASEMAPS) ? window.FTW_BASEMAPS : [];
}
"""
# The shipped index.html has the run-time config script commented out (docs/options.md).
CONFIG_SCRIPT = '<script defer="defer" src="/config.js"></script>'


def default_browser_dir() -> Path:
    """Where the built browser lives: $FTW_STAC_BROWSER_DIR, else share/ftw-assets/stac-browser in the
    Python environment (the project's .venv), outside git and removed with the environment."""
    return Path(os.environ.get(DIR_ENV) or Path(sys.prefix) / "share" / "ftw-assets" / "stac-browser")


def _expected_marker() -> dict:
    return {"package": PACKAGE, "version": VERSION, "pins": PINS}


def browser_installed(browser_dir: str | os.PathLike) -> bool:
    """True when ``browser_dir`` holds a build of this module's package version and pins."""
    marker = Path(browser_dir) / MARKER
    try:
        return (Path(browser_dir) / "index.html").is_file() and json.loads(marker.read_text()) == _expected_marker()
    except (OSError, ValueError):
        return False


def _run(args: list[str], cwd: Path, what: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}  # SB_* would override the config
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise FtwError(f"STAC Browser install: {what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _patch(src: Path) -> None:
    """Pin, configure and open run-time configuration in the unpacked package ``src``."""
    package = json.loads((src / "package.json").read_text())
    package["dependencies"].update(PINS)
    (src / "package.json").write_text(json.dumps(package, indent=2))
    (src / "config.js").rename(src / "config.shipped.js")
    (src / "config.js").write_text(BUILD_CONFIG)
    (src / "basemaps.config.js").write_text(BASEMAPS_CONFIG)
    index = src / "public" / "index.html"
    html = index.read_text()
    commented = f"<!-- {CONFIG_SCRIPT} -->"
    if commented not in html:
        raise FtwError(f"STAC Browser install: {index.name} of {PACKAGE}@{VERSION} has no '{commented}' to enable")
    index.write_text(html.replace(commented, CONFIG_SCRIPT))


def install_browser(target_dir: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Build STAC Browser into ``target_dir`` (default: :func:`default_browser_dir`) from the npm
    registry; skipped when that build is already there. Needs node and npm; takes a few minutes
    (npm install of the build tools, then a webpack build); the result is about 6 MB."""
    target = Path(target_dir) if target_dir else default_browser_dir()
    if browser_installed(target) and not force:
        print(f"STAC Browser {VERSION} already built in {target}")
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise FtwError("STAC Browser install needs node and npm on PATH (Debian: apt-get install nodejs npm)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stac-browser-build-") as tmp:
        work = Path(tmp)
        tgz = _run([npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"], work, "npm pack").strip().splitlines()[-1]
        with tarfile.open(work / tgz) as archive:  # the "data" filter refuses links and paths out of work/
            archive.extractall(work, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        src = work / "package"
        _patch(src)
        _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], src, "npm install")
        _run([npm, "run", "build:minimal"], src, "npm run build:minimal")
        (src / "dist" / MARKER).write_text(json.dumps(_expected_marker(), indent=2))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.tmp-build")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(src / "dist", staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"STAC Browser {VERSION} built in {target} ({size / 1e6:.1f} MB, {time.monotonic() - started:.0f} s)")
    return target


# --- serving ---

def config_js(title: str | None = None, basemap: str | None = None) -> str:
    """The browser's run-time settings. The catalog URL is built in the page from its own origin, so
    the browser works whether it was opened as 127.0.0.1 or localhost. COGs go on the map on request
    ("Show on map") only: by default the map would load the first data COG of a season item, which is
    a source band on the STAC host, not a file of this catalog; the thumbnail shows instead."""
    settings = {"displayOverview": False, **({"catalogTitle": title} if title else {})}
    basemaps = []
    if basemap:  # an XYZ template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
        basemaps = [{"url": basemap, "is": "XYZ", "title": "Basemap", "projection": "EPSG:3857",
                     "attributions": basemap.split("/{z}")[0]}]
    return (f"window.STAC_BROWSER_CONFIG = Object.assign({json.dumps(settings)}, "
            f"{{catalogUrl: window.location.origin + {json.dumps(CATALOG_PATH + 'collection.json')}}});\n"
            f"window.FTW_BASEMAPS = {json.dumps(basemaps)};\n")


def make_app(catalog_dir: str | os.PathLike, browser_dir: str | os.PathLike, basemap: str | None = None):
    """The Starlette app: STAC Browser at ``/``, its ``/config.js``, the catalog folder at ``/catalog/``."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    catalog_dir, browser_dir = Path(catalog_dir).resolve(), Path(browser_dir).resolve()
    if not (catalog_dir / "collection.json").is_file():
        raise FtwError(f"{catalog_dir} has no collection.json: build the dataset first (ftwd create-dataset)")
    if not browser_installed(browser_dir):
        raise FtwError(f"no STAC Browser {VERSION} build in {browser_dir}: run `make stac-browser` "
                       f"(or `python -m ftw_assets.core.stac.browser install {browser_dir}`; needs node and npm)")
    try:
        title = json.loads((catalog_dir / "collection.json").read_text()).get("title")
    except ValueError:
        title = None
    script = config_js(title, basemap)

    async def settings(request):
        return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route("/config.js", settings),
        Mount(CATALOG_PATH.rstrip("/"), StaticFiles(directory=catalog_dir), name="catalog"),
        Mount("/", StaticFiles(directory=browser_dir, html=True), name="browser"),
    ])


def browse_server(catalog_dir, browser_dir, host: str = "127.0.0.1", port: int = 8070, basemap: str | None = None):
    """A uvicorn server for :func:`make_app`; ``.run()`` blocks, ``.should_exit = True`` stops it."""
    import uvicorn

    app = make_app(catalog_dir, browser_dir, basemap)
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))


def serve(catalog_dir, browser_dir=None, host: str = "127.0.0.1", port: int = 8070, basemap: str | None = None) -> None:
    """Serve STAC Browser over ``catalog_dir`` until interrupted; prints the URL to open."""
    server = browse_server(catalog_dir, browser_dir or default_browser_dir(), host, port, basemap)
    print(f"STAC Browser on http://{host}:{port}/  (catalog {Path(catalog_dir).resolve()}; Ctrl-C stops)", flush=True)
    server.run()


def main(argv: list[str] | None = None) -> int:
    """usage: python -m ftw_assets.core.stac.browser install [DIR] [--force]"""
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force" in args
    args = [a for a in args if a != "--force"]
    if not args or args[0] != "install" or len(args) > 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    try:
        install_browser(args[1] if len(args) > 1 else None, force=force)
    except FtwError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
