"""The signing key set: one key signs access tokens, every key of the set verifies them and is published.

The set is a PEM bundle of RSA private keys, newest first: the data directory's ``jwt-private-key.pem``,
a file named by ``LOYALTY_JWT_PRIVATE_KEY``, or that variable's own text (as ECS injects a Secrets
Manager secret). A key may be preceded by a line ``Signs-From: 2026-11-30T04:10:00Z``; the key that
signs is the first whose time has come (a key without the line signs at once). So a rotation is two
edits of one text, and every instance reading it switches at the same moment without talking to the
others:

- ``start`` puts a new key first, signing from a time far enough ahead that every instance and every
  JWKS cache knows it by then; until then the old key signs, and both verify.
- ``finish`` drops the keys after the signer once no access token they signed can still be valid.
  Refresh tokens are opaque rows in the database, not JWTs, so no session depends on a key.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey

ALGORITHM = "RS256"
KEY_FILE = "jwt-private-key.pem"
_SIGNS_FROM = "Signs-From:"
_BLOCK = re.compile(
    r"(?:^Signs-From:[ \t]*(?P<when>\S+)[ \t]*\r?\n)?"
    r"(?P<pem>-----BEGIN (?P<label>[A-Z ]+)-----.+?-----END (?P=label)-----)",
    re.DOTALL | re.MULTILINE,
)


class RotationRefused(Exception):
    """The rotation step cannot be taken now; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: RSAKey
    kid: str
    signs_from: datetime | None  # None: signs as soon as it is the first key whose time has come

    def as_pem_block(self) -> str:
        pem = self.key.as_pem(private=True).decode().strip()
        when = f"{_SIGNS_FROM} {_iso(self.signs_from)}\n" if self.signs_from else ""
        return f"{when}{pem}\n"


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[SigningKey, ...]

    def signer(self, now: datetime) -> SigningKey:
        """The first key whose time has come (the oldest if none has: a set is never without one)."""
        for key in self.keys:
            if key.signs_from is None or key.signs_from <= now:
                return key
        return self.keys[-1]

    def verifier(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        """Every key that verifies, so a client's cache knows a new key before it signs anything."""
        return {
            "keys": [
                {**key.key.as_dict(private=False), "kid": key.kid, "use": "sig", "alg": ALGORITHM}
                for key in self.keys
            ]
        }

    def as_bundle(self) -> str:
        return "".join(key.as_pem_block() for key in self.keys)


def parse_bundle(text: str) -> KeySet:
    """The key set a PEM bundle holds; a public key, a bad date or an empty text is a ``ValueError``."""
    keys = []
    for match in _BLOCK.finditer(text):
        key = _import_private_key(match["pem"])
        signs_from = _parse_time(match["when"]) if match["when"] else None
        keys.append(SigningKey(key=key, kid=key.thumbprint(), signs_from=signs_from))
    if not keys:
        raise ValueError("the signing key text holds no PEM private key")
    return KeySet(tuple(keys))


@lru_cache(maxsize=8)
def _import_private_key(pem: str) -> RSAKey:
    """Parse (and so check) a PEM key once per process: checking an RSA key costs ~90 ms."""
    key = RSAKey.import_key(pem)
    if not key.is_private:
        raise ValueError("LOYALTY_JWT_PRIVATE_KEY holds a public key; a private key is needed")
    return key


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{_SIGNS_FROM} {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SigningKeys:
    """The key set in force. Read from a file, it is read again when the file changes (checked at
    most every ``reload_seconds``), so instances sharing the file follow a rotation without a restart.
    """

    def __init__(self, *, text: str | None = None, path: Path | None = None, reload_seconds: float = 5.0):
        if (text is None) == (path is None):
            raise ValueError("give the key text or its file: one of them")
        self._path = path
        self._reload_seconds = reload_seconds
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self._set = parse_bundle(text if text is not None else self._read())

    @classmethod
    def load(cls, configured: str | None, data_dir: Path, *, reload_seconds: float = 5.0) -> SigningKeys:
        """From ``LOYALTY_JWT_PRIVATE_KEY`` (PEM text or a path), else the data directory's file,
        generated on first use."""
        if configured and "-----BEGIN" in configured:
            return cls(text=configured, reload_seconds=reload_seconds)
        path = Path(configured) if configured else ensure_key_file(data_dir / KEY_FILE)
        return cls(path=path, reload_seconds=reload_seconds)

    def current(self) -> KeySet:
        if self._path is not None and time.monotonic() - self._checked >= self._reload_seconds:
            self._checked = time.monotonic()
            # A half-written file is never seen (writers replace it whole); a missing or broken one
            # keeps the set in force rather than failing every request or signing everyone out.
            try:
                stamp = self._file_stamp()
                if stamp != self._stamp:
                    self._set = parse_bundle(self._read())
                    self._stamp = stamp
            except (OSError, ValueError):
                return self._set
        return self._set

    def _read(self) -> str:
        assert self._path is not None
        return self._path.read_text()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        stat = self._path.stat()
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def ensure_key_file(path: Path) -> Path:
    """The key file, with one new key if there was none. The key is written whole under another name
    and then linked to the file's, which fails if it exists: two instances starting together neither
    write a key each nor read one half-written."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, private=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(key.as_pem(private=True))
        with contextlib.suppress(FileExistsError):  # another instance's key is the one
            os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


def start_rotation(path: Path, *, delay: timedelta, now: datetime) -> SigningKey:
    """Put a new key first in the file, signing from ``now + delay``; it is published at once."""
    keys = parse_bundle(ensure_key_file(path).read_text())
    if len(keys.keys) > 1:
        raise RotationRefused(
            f"{path} holds {len(keys.keys)} keys: a rotation is under way; finish it first."
        )
    key = RSAKey.generate_key(2048, private=True)
    new = SigningKey(key=key, kid=key.thumbprint(), signs_from=now + delay)
    _replace_file(path, KeySet((new, *keys.keys)).as_bundle())
    return new


def finish_rotation(
    path: Path, *, access_ttl: timedelta, leeway: timedelta, now: datetime, force: bool = False
) -> list[SigningKey]:
    """Keep only the newest key, once every access token the others signed has expired.

    ``force`` does it at once, the newest key signing from now: the others' tokens are refused, and
    their holders refresh or sign in again (for a key that leaked)."""
    keys = parse_bundle(path.read_text())
    newest, *retired = keys.keys
    if not retired:
        raise RotationRefused(f"{path} holds one key: no rotation to finish.")
    if force:
        if newest.signs_from is not None and newest.signs_from > now:
            newest = SigningKey(newest.key, newest.kid, now)
    elif newest.signs_from is None or newest.signs_from > now:
        since = (
            f"from {_iso(newest.signs_from)}" if newest.signs_from else "since a time the file does not say"
        )
        raise RotationRefused(
            f"The new key {newest.kid} signs {since}: finish once it has signed for the access tokens'"
            " lifetime (or --force to refuse the old key's tokens now)."
        )
    elif now < (safe := newest.signs_from + access_ttl + leeway):
        raise RotationRefused(
            f"Access tokens signed by the old key may be valid until {_iso(safe)}; finish after"
            " that (or --force to refuse them now)."
        )
    _replace_file(path, KeySet((newest,)).as_bundle())
    return retired


def _replace_file(path: Path, text: str) -> None:
    """Write the whole file at once (a reader sees the old set or the new one, never half)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
