"""Start and stop the real test servers on 127.0.0.1: the COG server, the fault proxy, and a STAC API
(stac-fastapi-pgstac over pypgstac on Debian's PostgreSQL 15 + PostGIS)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A server subprocess, waited on until ``ready_url`` answers, stopped on exit."""

    def __init__(self, args: list[str], ready_url: str, env: dict | None = None, timeout_s: float = 60):
        self.log = tempfile.NamedTemporaryFile(prefix="ftw-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env or os.environ.copy())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(ready_url, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{args[:4]} did not answer {ready_url} within {timeout_s} s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        Path(self.log.name).unlink(missing_ok=True)


class CogServer:
    def __init__(self, root: str | Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process([sys.executable, "-m", "ftw_assets_tests.servers.cog_server", str(root), str(self.port)],
                               f"{self.url}/__stats")

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__stats", timeout=5).json()

    def reset(self) -> None:
        requests.delete(f"{self.url}/__stats", timeout=5)

    def stop(self) -> None:
        self.process.stop()


class FaultProxy:
    def __init__(self, upstream_port: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process([sys.executable, "-m", "ftw_assets_tests.servers.fault_proxy", str(upstream_port),
                                str(self.port)], f"{self.url}/__faults")

    def set(self, **plan) -> None:
        requests.post(f"{self.url}/__faults", json=plan, timeout=5).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__faults", timeout=5).json()

    def stop(self) -> None:
        self.process.stop()


def pgstac_missing() -> str | None:
    """Why the STAC API server cannot start here, or None."""
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 is not installed (apt-get install postgresql-15; .ci/run does this)"
    if not POSTGIS_CONTROL.exists():
        return "PostGIS is not installed (apt-get install postgresql-15-postgis-3; .ci/run does this)"
    return None


class PgstacServer:
    """PostgreSQL in a temp folder, pgstac migrated and loaded, stac-fastapi-pgstac under uvicorn."""

    def __init__(self, collection: dict, items: list[dict], more: list[tuple[dict, list[dict]]] = ()):
        """Serve ``collection`` and its ``items``, and each (collection, items) of ``more`` beside them."""
        self.tmp = Path(tempfile.mkdtemp(prefix="ftw-pgstac-"))
        self.pg_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dsn = f"postgresql://postgres:ftw@127.0.0.1:{self.pg_port}/postgres"
        self.api = None
        self._start_postgres()
        try:
            self._load([(collection, items), *more])
            env = os.environ | {"PGUSER": "postgres", "PGPASSWORD": "ftw", "PGHOST": "127.0.0.1",
                                "PGPORT": str(self.pg_port), "PGDATABASE": "postgres", "WEB_CONCURRENCY": "1"}
            self.api = Process([sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory", "--host", "127.0.0.1",
                                "--port", str(self.port), "--log-level", "warning"], f"{self.url}/_mgmt/ping", env=env)
        except Exception:
            self.stop()
            raise

    def _as_postgres(self, args: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root (CI runs as root): run it as Debian's postgres user.
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def _start_postgres(self) -> None:
        data = self.tmp / "data"
        data.mkdir()
        (self.tmp / "pw").write_text("ftw\n")
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.tmp, data, self.tmp / "pw"):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        subprocess.run(self._as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "md5",
                                          "--pwfile", str(self.tmp / "pw")]), check=True, capture_output=True)
        opts = f"-p {self.pg_port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                                          str(self.tmp / "pg.log"), "-w", "start"]), check=True, capture_output=True)

    def _load(self, collections: list[tuple[dict, list[dict]]]) -> None:
        from pypgstac.db import PgstacDB
        from pypgstac.load import Loader, Methods
        from pypgstac.migrate import Migrate

        with PgstacDB(dsn=self.dsn) as db:
            Migrate(db).run_migration()
            loader = Loader(db=db)
            for collection, items in collections:
                loader.load_collections(iter([collection]), insert_mode=Methods.insert)
                loader.load_items(iter(items), insert_mode=Methods.insert)

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
        data = self.tmp / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def archive_for_api(parquet: str | Path, cog_url: str) -> tuple[dict, list[dict]]:
    """The archive's collection and items with asset hrefs served by the COG server at ``cog_url``
    (``parquet``: the Sentinel-2 file or another sensor's ``{collection}.parquet`` beside it)."""
    import duckdb
    import stac_geoparquet.arrow as sga

    table = duckdb.sql(f"SELECT * FROM read_parquet('{Path(parquet).as_posix()}')").to_arrow_table()
    items = []
    for item in sga.stac_table_to_items(table):
        for asset in item["assets"].values():
            asset["href"] = f"{cog_url}/{asset['href']}"
        item["links"] = []
        items.append(json.loads(json.dumps(item, default=str)))
    bboxes = [it["bbox"] for it in items]
    # WorldCover items have no datetime, only an interval
    times = sorted(str(it["properties"].get("datetime") or it["properties"]["start_datetime"]) for it in items)
    collection = {
        "type": "Collection", "stac_version": "1.1.0", "id": items[0]["collection"],
        "description": f"Generated {items[0]['collection']} archive (ftw_assets tests)", "license": "proprietary",
        "links": [],
        "extent": {"spatial": {"bbox": [[min(b[0] for b in bboxes), min(b[1] for b in bboxes),
                                         max(b[2] for b in bboxes), max(b[3] for b in bboxes)]]},
                   "temporal": {"interval": [[times[0], times[-1]]]}},
    }
    return collection, items


def archive_copy_served_at(parquet: str | Path, cog_url: str, target: str | Path) -> Path:
    """A stac-geoparquet copy of the archive whose asset hrefs point at ``cog_url`` (a server or proxy)."""
    import stac_geoparquet.arrow as sga

    _, items = archive_for_api(parquet, cog_url)
    target = Path(target)
    sga.to_parquet(sga.parse_stac_items_to_arrow(items), target)
    return target
