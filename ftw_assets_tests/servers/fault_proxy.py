"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a real server (the STAC API or the COG server).

Each client connection carries one request (the proxy answers with ``Connection: close``). Faults
come from a plan set over ``POST /__faults`` (JSON), either a scripted list applied to the next
matching requests in order, or rates drawn from a seeded generator:

    {"script": ["429", "503", "reset", "truncate", "slow"], "match": "/search",
     "rates": {"429": 0.1, "reset": 0.05}, "seed": 1, "retry_after": 1, "slow_s": 5}

``429`` answers Too Many Requests with ``Retry-After``; ``503`` Service Unavailable; ``reset`` closes the
socket with an RST before answering; ``truncate`` relays the headers and half the body, then closes;
``slow`` waits ``slow_s`` seconds before answering (past a client's timeout). ``"delay_s": 0.05`` adds
a fixed wait before every proxied request is forwarded (a far host's round trip; requests in flight
wait at the same time, as on a real network, and faults are delayed too). ``GET /__faults``
returns counts of requests (in all and per path), of injected faults, and the most requests that were
in flight at once (``peak_in_flight``: concurrent range reads show there); a plan of ``{}`` passes
everything through, which makes the proxy a request counter.

Run as a separate process: ``python -m ftw_assets_tests.servers.fault_proxy UPSTREAM_PORT PORT``.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import sys

FAULTS = ("429", "503", "reset", "truncate", "slow")


class FaultPlan:
    def __init__(self) -> None:
        self.configure({})

    def configure(self, plan: dict) -> None:
        self.script = list(plan.get("script", []))
        self.match = plan.get("match", "")
        self.rates = {k: float(v) for k, v in plan.get("rates", {}).items() if k in FAULTS}
        self.rng = random.Random(plan.get("seed", 0))
        self.retry_after = int(plan.get("retry_after", 1))
        self.slow_s = float(plan.get("slow_s", 5.0))
        self.delay_s = max(float(plan.get("delay_s", 0.0)), 0.0)
        self.requests = 0
        self.peak_in_flight = 0
        self.paths: dict[str, int] = {}
        self.injected: dict[str, int] = {k: 0 for k in FAULTS}

    def next_fault(self, path: str) -> str | None:
        self.requests += 1
        bare = path.split("?")[0]
        self.paths[bare] = self.paths.get(bare, 0) + 1
        if self.match and self.match not in path:
            return None
        fault = None
        if self.script:
            fault = self.script.pop(0) or None
        elif self.rates:
            draw, edge = self.rng.random(), 0.0
            for name, rate in self.rates.items():
                edge += rate
                if draw < edge:
                    fault = name
                    break
        if fault:
            self.injected[fault] += 1
        return fault


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.plan = FaultPlan()
        self.in_flight = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
        body = await reader.readexactly(length) if length else b""
        if path.startswith("/__faults"):
            if method == "POST":
                self.plan.configure(json.loads(body or b"{}"))
            await _reply(writer, 200, json.dumps({"requests": self.plan.requests, "paths": self.plan.paths,
                                                      "injected": self.plan.injected,
                                                      "peak_in_flight": self.plan.peak_in_flight}).encode(),
                         "application/json")
            return
        fault = self.plan.next_fault(path)
        self.in_flight += 1
        self.plan.peak_in_flight = max(self.plan.peak_in_flight, self.in_flight)
        try:
            await self._answer(writer, fault, method, path, headers, body)
        finally:
            self.in_flight -= 1

    async def _answer(self, writer: asyncio.StreamWriter, fault: str | None, method: str, path: str,
                      headers: list[str], body: bytes) -> None:
        if self.plan.delay_s:
            await asyncio.sleep(self.plan.delay_s)
        if fault == "429":
            await _reply(writer, 429, b'{"detail": "too many requests"}', "application/json",
                         extra=f"Retry-After: {self.plan.retry_after}\r\n")
            return
        if fault == "503":
            await _reply(writer, 503, b'{"detail": "service unavailable"}', "application/json")
            return
        if fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        upstream = await self._forward(method, path, headers, body)
        if fault == "slow":
            await asyncio.sleep(self.plan.slow_s)
        if fault == "truncate":
            split = upstream.find(b"\r\n\r\n") + 4
            upstream = upstream[: split + max((len(upstream) - split) // 2, 1)]
        try:
            writer.write(upstream)
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    async def _forward(self, method: str, path: str, headers: list[str], body: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        kept = [h for h in headers if not h.lower().startswith(("connection:", "keep-alive:", "proxy-"))]
        request = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""]).encode("latin-1")
        writer.write(request + body)
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data


async def _reply(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str, extra: str = "") -> None:
    reason = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
            "Connection: close\r\n\r\n")
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def serve(upstream_port: int, port: int) -> None:
    proxy = FaultProxy(upstream_port)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
