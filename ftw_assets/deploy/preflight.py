"""Before anything is written: the deployment's broker and database answer, or one clear message naming the
service and its address."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ftw_assets.core.errors import EnvironmentProblem, InputError
from ftw_assets.deploy.config import postgres_db, read_config

TIMEOUT_S = 5.0


def _value(value):
    """A dagster.yaml value, ``{env: NAME}`` resolved."""
    if isinstance(value, dict) and "env" in value:
        return os.environ.get(value["env"])
    return value


def services(home: Path) -> dict:
    """{"database": {...}, "broker": url} of the deployment at ``home``."""
    path = Path(home) / "dagster.yaml"
    if not path.is_file():
        raise InputError(f"no deployment at {home}: {path} does not exist (--instance / FTW_DAGSTER_INSTANCE name "
                         "the folder holding the deployment's dagster.yaml)")
    config = read_config(home)
    pg = postgres_db(config)
    launcher = ((config.get("run_launcher") or {}).get("config") or {})
    if not pg or not launcher.get("broker"):
        raise InputError(f"{path} is not a deployment's dagster.yaml: it needs a PostgreSQL event log storage (postgres_db) and a "
                         "run_launcher with a broker (ftw_assets.deploy.config.write_deployment writes one)")
    return {"database": {k: _value(v) for k, v in pg.items()}, "broker": _value(launcher["broker"])}


def check(home: Path) -> None:
    """Raise :class:`EnvironmentProblem` naming the first service that does not answer (the Redis broker, then
    PostgreSQL) and its address."""
    found = services(home)
    url = urlparse(found["broker"])
    host, port = url.hostname or "localhost", url.port or 6379
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
        if not answer.startswith((b"+PONG", b"-NOAUTH")):
            raise OSError(f"unexpected answer {answer[:40]!r}")
    except OSError as err:
        raise EnvironmentProblem(f"the deployment's broker (Redis at {host}:{port}) does not answer: {err}. Start "
                                 f"it, or fix {Path(home) / 'dagster.yaml'}; nothing was written.") from None
    db = found["database"]
    host, port = db.get("hostname") or "localhost", int(db.get("port") or 5432)
    try:
        import psycopg2

        psycopg2.connect(host=host, port=port, user=db.get("username"), password=db.get("password") or None,
                         dbname=db.get("db_name"), connect_timeout=int(TIMEOUT_S)).close()
    except Exception as err:  # refused, timed out, wrong password, no such database
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EnvironmentProblem(f"the deployment's database (PostgreSQL at {host}:{port}, database "
                                 f"{db.get('db_name')}) does not answer: {first}. Start it, or fix "
                                 f"{Path(home) / 'dagster.yaml'}; nothing was written.") from None
