"""One window reader for all of ftwd's worker processes, so that the COG blocks their runs share are
fetched and decoded once.

The plan is in block order and the workers take its runs in turn (``runner.shard_plan``), so the runs
in flight are neighbours that share rows of COG blocks; each worker reading for itself would fetch and
decode those blocks into its own GDAL block cache (1.31x the bytes of the bench's 420 chips with two
processes, each holding a 256 MB cache). Instead ftwd starts this reader beside its workers: the only
process that opens source COGs for chip images. It keeps the open datasets and the one block cache
(``core/raster/windows.py``, ``core/raster/cache.py``); a worker's :func:`read_windows` sends each scene
band's windows (``windows.read_windows``'s arguments) over a local socket and gets the pixels back. One
band of one file is read by one request at a time, so a second worker asking for it reuses the first
one's open dataset and decoded blocks.

The socket is in Linux's abstract namespace (no file: nothing is left behind when ftwd is killed), and a
client proves the random key of this ftwd before it is served. The reader ignores Ctrl-C (the workers
finish the chip-years in flight) and ends with ftwd. A worker that cannot reach it reads its windows
itself, as a single process does.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections import defaultdict
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

ADDRESS_ENV, KEY_ENV = "FTW_WINDOW_READER", "FTW_WINDOW_READER_KEY"  # the socket's name, without its leading NUL

_local = threading.local()  # in a worker: each reading thread's connection


def read_windows(href, grids, resampling=None, policy=None) -> dict:
    """``core.raster.windows.read_windows``, through the reader when this process was given one."""
    from rasterio.enums import Resampling

    from ftw_assets.core.raster import windows

    resampling = Resampling.nearest if resampling is None else resampling
    policy = windows.RetryPolicy() if policy is None else policy
    address = os.environ.get(ADDRESS_ENV)
    if address:
        try:
            conn = getattr(_local, "conn", None)
            if conn is None:
                conn = _local.conn = Client("\0" + address, authkey=bytes.fromhex(os.environ[KEY_ENV]))
            conn.send((href, grids, resampling, policy))
            status, value, retries = conn.recv()
        except (OSError, EOFError, ValueError, KeyError, AuthenticationError):  # gone, or not ours: read here
            _local.conn = None
        else:
            windows.RETRIES["read"] += retries
            if status == "error":
                raise value
            return value
    return windows.read_windows(href, grids, resampling, policy)


class Reader:
    """The reader process of one ftwd: :meth:`start` it before the worker processes start (they inherit
    its address from the environment), :meth:`stop` it after they end."""

    def __init__(self):
        self.process = None

    def start(self) -> None:
        import multiprocessing

        address, key = f"ftw-reader-{os.getpid()}-{secrets.token_hex(8)}", secrets.token_hex(16)
        ready = multiprocessing.get_context("spawn").Event()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(address, key, ready), name="ftw-window-reader", daemon=True)
        self.process.start()
        if not ready.wait(120):
            self.stop()
            return  # the workers read for themselves
        os.environ[ADDRESS_ENV], os.environ[KEY_ENV] = address, key

    def stop(self) -> None:
        os.environ.pop(ADDRESS_ENV, None)
        os.environ.pop(KEY_ENV, None)
        _local.conn = None
        if self.process is not None:
            self.process.terminate()
            self.process.join(10)
            self.process = None


def _serve(address: str, key: str, ready) -> None:
    from ftw_assets.parallel import _die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # after a Ctrl-C the workers still finish their reads
    _die_with_parent()
    from ftw_assets.core.raster.windows import RETRIES, read_windows as read_here

    band_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
    guard, reported = threading.Lock(), [0]

    def answer(conn) -> None:
        with conn:
            while True:
                try:
                    href, grids, resampling, policy = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    with guard:
                        lock = band_locks[href]
                    with lock:  # one request per file at a time: the next reuses its dataset and blocks
                        reply = ("ok", read_here(href, grids, resampling, policy))
                except Exception as exc:  # noqa: BLE001 - handed to the worker, which raises it
                    reply = ("error", exc)
                with guard:  # retries since the last reply: over all replies, every retry once
                    retries, reported[0] = RETRIES["read"] - reported[0], RETRIES["read"]
                conn.send((*reply, retries))

    with Listener("\0" + address, authkey=bytes.fromhex(key)) as listener:
        ready.set()
        while True:
            try:
                conn = listener.accept()
            except Exception:  # noqa: BLE001 - a client that failed the handshake: wait for the next
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()
