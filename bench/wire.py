"""A bare HTTP/1.1 client for timing the server, not the client.

httpx spends about a millisecond of Python on each request and each response. Forty requests sent
together through it leave its event loop one after the other, so the fortieth answer's time included
some 40 ms of the bench's own work. Here each request is written whole on a connection opened
beforehand (keep-alive) and timed from that write to the last byte of its answer. A connection idle
for longer than the server keeps one open (uvicorn: 5 s) is replaced before it is written on.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

IDLE_FOR_AT_MOST = 2.0  # seconds; uvicorn closes a keep-alive connection idle for 5


@dataclass(slots=True)
class WireResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes
    seconds: float  # from the request written to the answer read

    def json(self) -> Any:
        return orjson.loads(self.content)


@dataclass(slots=True)
class Wire:
    """Keep-alive connections to one server, opened ahead of a burst with :meth:`ready`."""

    url: str
    # Open connections, each with the time it was last used.
    _idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = field(default_factory=list)

    async def ready(self, connections: int) -> None:
        """Have at least ``connections`` idle connections open, none idle for long."""
        now = time.monotonic()
        for _, writer, used in self._idle:
            if now - used > IDLE_FOR_AT_MOST:
                writer.close()
        self._idle = [entry for entry in self._idle if now - entry[2] <= IDLE_FOR_AT_MOST]
        address = urlsplit(self.url)
        while len(self._idle) < connections:
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            self._idle.append((reader, writer, time.monotonic()))

    async def post_json(self, path: str, payload: Any, headers: dict[str, str]) -> WireResponse:
        return await self.post(path, orjson.dumps(payload), {"content-type": "application/json", **headers})

    async def post_form(
        self, path: str, form: dict[str, str], headers: dict[str, str], *, basic: tuple[str, str]
    ) -> WireResponse:
        credentials = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "authorization": f"Basic {credentials}",
            **headers,
        }
        return await self.post(path, urlencode(form).encode(), headers)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> WireResponse:
        await self.ready(1)
        reader, writer, _ = self._idle.pop()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"POST {path} HTTP/1.1\r\nhost: bench\r\n{head}content-length: {len(body)}\r\n\r\n"
        writer.write(request.encode() + body)
        start = time.perf_counter()
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        answer_headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        content = await reader.readexactly(int(answer_headers.get("content-length", "0")))
        seconds = time.perf_counter() - start
        if answer_headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._idle.append((reader, writer, time.monotonic()))
        return WireResponse(int(status_line.split(" ")[1]), answer_headers, content, seconds)

    async def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()
