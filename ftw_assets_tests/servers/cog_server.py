"""A Range-capable static file server (Starlette ``StaticFiles`` under uvicorn) that counts requests
and bytes per file. ``GET /__stats`` returns the counts, ``DELETE /__stats`` resets them.

Run as a separate process: ``python -m ftw_assets_tests.servers.cog_server ROOT PORT``.
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.by_path: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def snapshot(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "bytes": self.bytes, "by_path": dict(self.by_path)}


def counting(app, counter: Counter):
    async def wrapped(scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/__"):
            return await app(scope, receive, send)
        path = scope["path"]

        async def counting_send(message):
            if message["type"] == "http.response.body":
                size = len(message.get("body", b""))
                with counter.lock:
                    counter.bytes += size
                    counter.by_path[path][1] += size
            await send(message)

        with counter.lock:
            counter.requests += 1
            counter.by_path[path][0] += 1
        await app(scope, receive, counting_send)

    return wrapped


def make_app(root: str) -> tuple[object, Counter]:
    counter = Counter()

    async def stats(request: Request):
        if request.method == "DELETE":
            with counter.lock:
                counter.reset()
        return JSONResponse(counter.snapshot())

    app = Starlette(routes=[
        Route("/__stats", stats, methods=["GET", "DELETE"]),
        Mount("/", app=StaticFiles(directory=root)),
    ])
    return counting(app, counter), counter


def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"  # the cluster harness serves on its private link
    app, _ = make_app(root)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
