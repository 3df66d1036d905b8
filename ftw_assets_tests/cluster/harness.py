"""A deployment on this machine with hosts made of network namespaces: PostgreSQL, Redis, the Dagster daemon,
the webserver and the COG server in a "server" namespace, each Celery worker in a namespace of its own, all
joined by veth pairs to a bridge on a private /24 that this harness creates; ``ftwd`` runs in the root
namespace. The workers reach the broker, the database and the COG server only over that link, as separate
hosts would; the dataset folder is shared (the same filesystem, as an NFS/EFS mount would be).

Everything started here is stopped in :meth:`Cluster.stop` (also at exit, and on failure): only its own
processes (by their ids) and its own namespaces and links (named with this run's id). Needs root and
``ip netns``; :func:`missing` says why not otherwise. ``netns=False`` runs the same on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftw_assets.deploy.config import Deployment, PASSWORD_ENV, write_deployment

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "ftw-cluster"
BIN = Path(sys.executable).parent


def missing() -> str | None:
    """Why the cluster cannot start here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns add, veth pairs)"
    if not shutil.which("ip"):
        return "needs iproute2 (apt-get install iproute2; .ci/run does this)"
    if not shutil.which("redis-server"):
        return "needs Debian's redis-server (apt-get install redis-server; .ci/run does this)"
    if not (PG_BIN / "initdb").exists():
        return "needs PostgreSQL 15 (apt-get install postgresql-15)"
    probe = f"ftwprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add fails here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _free_subnet() -> str:
    """A 10.x.y.0/24 no interface of this machine uses: returns '10.x.y'."""
    used = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    for _ in range(100):
        prefix = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}"
        if f"inet {prefix}." not in used:
            return prefix
    raise RuntimeError("no free 10.x.y.0/24 for the cluster's private link")


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Worker:
    name: str
    shard: int
    namespace: str | None
    proc: subprocess.Popen | None = None
    log: Path | None = None


@dataclass
class Cluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    dataset: Path
    cog_root: Path | None = None  # served over the link (the archive's COGs)
    workers: int = 2
    netns: bool = True
    max_retries: int = 2
    start_timeout_s: int = 90  # the demo's runs take seconds: a run stuck in a dead worker's queue fails soon
    # Runs launched at a time per worker: 2 keeps each worker's next run waiting in its queue, so it starts as
    # soon as the one before ends (the bench); 1 (the demo) leaves no run waiting behind a worker that is killed.
    runs_per_worker: int = 1
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ftw-cluster-")))

    def __post_init__(self):
        self.id = f"{os.getpid() % 10000}{random.randint(0, 99):02d}"
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.pg_data: Path | None = None
        self.worker_list: list[Worker] = []
        self.stopped = False
        self.server_ip = "127.0.0.1"
        self.server_ns: str | None = None

    # --- the network ---

    def _ip(self, *args: str, ns: str | None = None) -> None:
        cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def _namespace(self, role: str, address: str) -> str:
        name = f"ftw{self.id}{role}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.namespaces.append(name)
        self._ip("link", "set", "lo", "up", ns=name)
        outside, inside = f"fv{self.id}{role}", f"fi{self.id}{role}"
        self._ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        self.links.append(outside)
        self._ip("link", "set", inside, "netns", name)
        self._ip("link", "set", outside, "master", self.bridge)
        self._ip("link", "set", outside, "up")
        self._ip("addr", "add", f"{address}/24", "dev", inside, ns=name)
        self._ip("link", "set", inside, "up", ns=name)
        return name

    def _network(self) -> None:
        self.prefix = _free_subnet()
        self.bridge = f"fb{self.id}"
        self._ip("link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        self._ip("addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)  # the root namespace: where ftwd runs
        self._ip("link", "set", self.bridge, "up")
        self.server_ip = f"{self.prefix}.2"
        self.server_ns = self._namespace("s", self.server_ip)

    def _in(self, ns: str | None, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *args] if ns else args

    # --- processes ---

    def _spawn(self, name: str, args: list[str], ns: str | None = None, env: dict | None = None) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        proc = subprocess.Popen(self._in(ns, args), stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
                                env=env or self.env(), start_new_session=True)
        self.procs.append(proc)
        return proc

    def env(self, **extra) -> dict:
        return {**os.environ, "DAGSTER_HOME": str(self.home), "FTW_OUTPUT_DIR": str(self.dataset),
                PASSWORD_ENV: PASSWORD, "PYTHONUNBUFFERED": "1", **extra}

    def _wait_port(self, host: str, port: int, what: str, proc: subprocess.Popen | None = None, timeout: float = 120,
                   ns: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=1).close()"
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}: {self.tail(what)}")
            ok = subprocess.run(self._in(ns, [sys.executable, "-c", probe]), capture_output=True).returncode == 0
            if ok:
                return
            time.sleep(0.3)
        raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout} s: {self.tail(what)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        """The end of the log ``name``.log (a service's), or of the file ``name`` when it has a suffix."""
        path = self.tmp / (name if "." in name else f"{name}.log")
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def _postgres(self) -> None:
        pg = pwd.getpwnam("postgres")
        self.pg_data = self.tmp / "pg"
        self.pg_data.mkdir()
        (self.tmp / "pw").write_text(PASSWORD + "\n")
        for path in (self.tmp, self.pg_data, self.tmp / "pw"):
            os.chown(path, pg.pw_uid, pg.pw_gid)
        as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(self.pg_data), "-U", "postgres", "-A", "md5",
                        "--pwfile", str(self.tmp / "pw")], check=True, capture_output=True)
        with (self.pg_data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.server_ip if not self.netns else self.prefix + '.0'}/"
                      f"{32 if not self.netns else 24} md5\n")
        opts = (f"-p {self.pg_port} -k {self.tmp} -c listen_addresses={self.server_ip} -c fsync=off "
                "-c max_connections=200")
        subprocess.run(self._in(self.server_ns, [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data), "-o", opts,
                                                 "-l", str(self.tmp / "postgres.log"), "-w", "start"]),
                       check=True, capture_output=True)
        subprocess.run([*as_pg, str(PG_BIN / "createdb"), "-h", str(self.tmp), "-p", str(self.pg_port), "-U",
                        "postgres", "dagster"], check=True, capture_output=True, env={**os.environ,
                                                                                      "PGPASSWORD": PASSWORD})

    def start(self) -> "Cluster":
        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():  # SIGTERM too stops what was started
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.tmp.chmod(0o755)
        if self.netns:
            self._network()
        self.pg_port, self.redis_port, self.ui_port, self.cog_port = (_free_port() for _ in range(4))
        self.home = write_deployment(self.tmp / "deployment", Deployment(
            pg_host=self.server_ip, pg_port=self.pg_port, redis_host=self.server_ip, redis_port=self.redis_port,
            shards=self.workers, max_retries=self.max_retries, max_concurrent_runs=self.workers * self.runs_per_worker,
            monitor_interval_s=2, start_timeout_s=self.start_timeout_s))
        self._postgres()
        self.instance().dispose()  # the schema, made once here, not by every service starting at once
        redis = self._spawn("redis", ["redis-server", "--bind", self.server_ip, "--port", str(self.redis_port),
                                      "--save", "", "--appendonly", "no", "--protected-mode", "no"], self.server_ns)
        self._wait_port(self.server_ip, self.redis_port, "redis", redis)
        if self.cog_root is not None:
            cog = self._spawn("cog", [sys.executable, "-m", "ftw_assets_tests.servers.cog_server", str(self.cog_root),
                                      str(self.cog_port), self.server_ip], self.server_ns)
            self._wait_port(self.server_ip, self.cog_port, "cog", cog)
        workspace = str(self.home / "workspace.yaml")
        self.daemon = self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], self.server_ns)
        self.webserver = self._spawn("webserver", [str(BIN / "dagster-webserver"), "-w", workspace, "-h",
                                                   self.server_ip, "-p", str(self.ui_port)], self.server_ns)
        for i in range(self.workers):
            ns = self._namespace(f"w{i}", f"{self.prefix}.{10 + i}") if self.netns else None
            self.start_worker(Worker(f"w{i}", i, ns))
        self._wait_port(self.server_ip, self.ui_port, "webserver", self.webserver, timeout=300)
        self.wait_workers()

    @property
    def cog_url(self) -> str:
        return f"http://{self.server_ip}:{self.cog_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.server_ip}:{self.ui_port}"

    def start_worker(self, worker: Worker) -> Worker:
        worker.proc = self._spawn(worker.name, [sys.executable, "-m", "ftw_assets.deploy.worker", "--instance",
                                                str(self.home), "--dataset", str(self.dataset), "--name", worker.name,
                                                "--shard", str(worker.shard)], worker.namespace)
        self.worker_list = [w for w in self.worker_list if w.name != worker.name] + [worker]
        return worker

    def wait_workers(self, timeout: float = 180) -> None:
        """Until every worker answers a ping through the broker."""
        from ftw_assets.deploy.config import read_config

        from celery import Celery

        broker = read_config(self.home)["run_launcher"]["config"]["broker"]
        app = Celery(broker=broker)
        deadline = time.monotonic() + timeout
        names = {w.name for w in self.worker_list if w.proc and w.proc.poll() is None}
        while time.monotonic() < deadline:
            for w in self.worker_list:
                if w.proc is not None and w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.name} exited with {w.proc.returncode}: {self.tail(w.name)}")
            replies = app.control.ping(timeout=1.0) or []
            seen = {name.split("@")[0] for reply in replies for name in reply}
            if names <= seen:
                return
        raise RuntimeError(f"workers {sorted(names)} did not answer within {timeout} s")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (the Celery main process and its pool): a host gone."""
        worker = next(w for w in self.worker_list if w.name == name)
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(timeout=10)

    def _ftwd_command(self, args) -> list[str]:
        return [sys.executable, "-m", "ftw_assets.cli", *map(str, args), "--instance", str(self.home)]

    def ftwd(self, *args, timeout: float = 900) -> subprocess.CompletedProcess:
        """``ftwd ARGS --instance DEPLOYMENT`` in the root namespace (the submitting host)."""
        return subprocess.run(self._ftwd_command(args), capture_output=True, text=True, cwd=REPO, timeout=timeout,
                              env={**os.environ, PASSWORD_ENV: PASSWORD})

    def start_ftwd(self, name: str, *args) -> subprocess.Popen:
        """The same, started and left running (its output in the logs ``name``.out and ``name``.err, read with
        :meth:`tail`); stopped in :meth:`stop` if still running."""
        with (self.tmp / f"{name}.out").open("wb") as out, (self.tmp / f"{name}.err").open("wb") as err:
            proc = subprocess.Popen(self._ftwd_command(args), stdout=out, stderr=err, cwd=REPO,
                                    env={**os.environ, PASSWORD_ENV: PASSWORD}, start_new_session=True)
        self.procs.append(proc)
        return proc

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """A GraphQL request to the webserver, as the UI sends them; its ``data`` (errors raise)."""
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.ui_url}/graphql", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode())
        with urllib.request.urlopen(request, timeout=120) as response:
            body = json.load(response)
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def instance(self):
        import dagster as dg

        os.environ[PASSWORD_ENV] = PASSWORD
        return dg.DagsterInstance.from_config(str(self.home))

    def stop(self) -> None:
        """Stop what this harness started, each step on its own (one failing does not skip the others)."""
        if self.stopped:
            return
        self.stopped = True
        for proc in reversed(self.procs):  # only what this harness started, by process group id
            _quietly(os.killpg, proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _quietly(os.killpg, proc.pid, signal.SIGKILL)
                _quietly(proc.wait, 10)
        for ns in self.namespaces:  # anything left in our namespaces is ours (postgres' children too)
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                if self.pg_data is None or not _is_postgres(pid):
                    _quietly(os.kill, int(pid), signal.SIGKILL)
        if self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            _quietly(subprocess.run, ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data),
                                      "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if not os.environ.get("FTW_CLUSTER_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _quietly(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _is_postgres(pid: str) -> bool:
    """Whether the process is a PostgreSQL server process (stopped by pg_ctl, not killed)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
    except OSError:
        return False
