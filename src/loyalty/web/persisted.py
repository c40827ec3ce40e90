"""Persisted operations: Apollo's automatic persisted queries, or an allow-list of registered operations.

Automatic persisted queries (the default): a client sends ``extensions.persistedQuery`` ``{version: 1,
sha256Hash}`` without the query; an unknown hash answers ``PersistedQueryNotFound``
(``PERSISTED_QUERY_NOT_FOUND``), and the client sends the query with the hash once, which registers it
if the hash is the query's and the document is within the limits. Registered queries are kept by
size like the parsed documents. This saves bandwidth; it lets any client run anything.

The allow-list (``LOYALTY_PERSISTED_OPERATIONS``, for production): JSON manifests, each either
Apollo's persisted query manifest (``{"operations": [{"id": sha256, "body": query}, ...]}``) or a map
of sha256 to query (Relay's ``persisted-queries.json``), a file or a directory of them, e.g. the
console's and a partner's. Only their operations run, sent by hash or as their exact text; anything
else is refused with ``PERSISTED_QUERY_NOT_IN_LIST`` and nothing registers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from loyalty.schema.documents import SizedLru

APQ_ENTRIES = 4096
APQ_CHARACTERS = 10_000_000  # of query text kept for automatic persisted queries (~10 MB)


class PersistedQueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _not_in_list() -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_NOT_IN_LIST", "Only registered operations run here.")


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def load_manifests(paths: Iterable[Path]) -> dict[str, str]:
    """sha256 to query text from every manifest; a bad manifest or a wrong hash stops the start."""
    operations: dict[str, str] = {}
    for path in paths:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            try:
                manifest = orjson.loads(file.read_bytes())
            except (OSError, orjson.JSONDecodeError) as error:
                raise ValueError(
                    f"The persisted operations manifest {file} cannot be read: {error}"
                ) from None
            entries = (
                [(item.get("id"), item.get("body")) for item in manifest.get("operations", [])]
                if isinstance(manifest, dict) and "operations" in manifest
                else list(manifest.items())
                if isinstance(manifest, dict)
                else []
            )
            if not entries:
                raise ValueError(f"The persisted operations manifest {file} holds no operations.")
            for digest, query in entries:
                if not isinstance(query, str) or digest != sha256_hex(query):
                    raise ValueError(f"In {file}, {digest!r} is not the sha256 of its operation's text.")
                operations[digest] = query
    return operations


class PersistedOperations:
    """Resolves a request's query from its ``extensions.persistedQuery``, or refuses it."""

    def __init__(self, allowed: dict[str, str] | None = None) -> None:
        self.allowed = allowed
        self._registered: SizedLru[str, str] = SizedLru(APQ_ENTRIES, APQ_CHARACTERS, len)

    @classmethod
    def from_setting(cls, setting: str | None) -> PersistedOperations:
        if not setting:
            return cls()
        return cls(load_manifests(Path(part.strip()) for part in setting.split(",") if part.strip()))

    def resolve(self, payload: Any) -> tuple[Any, tuple[str, str] | None]:
        """The payload with its query filled in, and (hash, query) to register once it passes the limits."""
        if not isinstance(payload, dict):
            return payload, None
        query, extensions = payload.get("query"), payload.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if self.allowed is not None and not (
                isinstance(query, str) and sha256_hex(query) in self.allowed
            ):
                raise _not_in_list()
            return payload, None
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(persisted, dict) or persisted.get("version") != 1 or not isinstance(digest, str):
            raise PersistedQueryError("BAD_REQUEST", "persistedQuery must be {version: 1, sha256Hash}.")
        if isinstance(query, str):
            if sha256_hex(query) != digest:
                raise PersistedQueryError("BAD_REQUEST", "The sha256Hash is not the hash of the query.")
            if self.allowed is not None:
                if digest not in self.allowed:
                    raise _not_in_list()
                return payload, None
            return payload, (digest, query)
        known = self.allowed.get(digest) if self.allowed is not None else self._registered.get(digest)
        if known is None:
            if self.allowed is not None:
                raise _not_in_list()
            raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return {**payload, "query": known}, None

    def register(self, digest: str, query: str) -> None:
        self._registered.put(digest, query)
