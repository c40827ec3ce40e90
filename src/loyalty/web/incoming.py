"""A request read straight from the ASGI scope, and an answer sent as one start and one body.

The GraphQL endpoint reads a few headers and the body of every request: its headers are put in a dict
once (a Starlette ``Request`` builds its ``Headers`` and ``State`` per access, which was a few percent
of a simple query), and its answer is bytes already, so it goes out without a Starlette ``Response``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from loyalty.auth.principal import Origin
from loyalty.web.origin import Network, origin


class BodyTooLarge(Exception):
    pass


async def read_limited(declared_length: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """A body, refused once it passes ``limit`` bytes (whatever Content-Length claims)."""
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


class Incoming:
    """An HTTP request as the GraphQL endpoint reads it: the scope's headers as a dict, made once."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        # Names in lower case, as ASGI servers pass them; reversed, so that a repeated header reads as
        # its first value, as Starlette's Headers.get does.
        self.headers: dict[str, str] = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])
        }

    @property
    def request_id(self) -> str:
        return self.scope["state"]["request_id"]

    def origin(self, proxies: Sequence[Network]) -> Origin:
        client = self.scope.get("client")
        return origin(self.request_id, client[0] if client else None, self.headers.get, proxies)

    @cached_property
    def query_params(self) -> QueryParams:
        return QueryParams(self.scope["query_string"])

    async def body(self, limit: int) -> bytes:
        """The body, within ``limit`` bytes; a client that goes away meanwhile raises ClientDisconnect."""
        return await read_limited(self.headers.get("content-length"), self._chunks(), limit)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return


@dataclass(slots=True)
class Answer:
    """A response whose body is complete: its status, body and headers (Content-Length is added as it
    is sent)."""

    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def of(cls, response: Response) -> Answer:
        """A Starlette response with a body (not a streaming one) as an answer."""
        headers = [(name, value) for name, value in response.raw_headers if name != b"content-length"]
        return cls(response.status_code, bytes(response.body), headers)

    def start_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers to send: Content-Length (none for a 204 or 304, as Starlette does), then the rest."""
        if self.status in (204, 304):
            return list(self.headers)
        return [(b"content-length", str(len(self.body)).encode()), *self.headers]

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.start_headers()})
        await send({"type": "http.response.body", "body": self.body})
