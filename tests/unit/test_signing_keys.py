"""The signing key set: which key signs when, what a bundle may hold, and how a key file is followed."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from loyalty.auth.signing_keys import (
    KeySet,
    RotationRefused,
    SigningKey,
    SigningKeys,
    finish_rotation,
    parse_bundle,
    start_rotation,
)
from loyalty.auth.tokens import InvalidToken, TokenIssuer

OLD = RSAKey.generate_key(2048, private=True)
NEW = RSAKey.generate_key(2048, private=True)
NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
LEEWAY = timedelta(seconds=30)


def pem(key: RSAKey) -> str:
    return key.as_pem(private=True).decode()


def test_without_times_the_first_key_signs() -> None:
    keys = parse_bundle(pem(NEW) + pem(OLD))

    assert keys.signer(NOW).kid == NEW.thumbprint()
    assert [key["kid"] for key in keys.jwks()["keys"]] == [NEW.thumbprint(), OLD.thumbprint()]


def test_a_key_signs_from_its_time_and_is_published_before() -> None:
    keys = parse_bundle("Signs-From: 2026-11-30T04:10:00Z\n" + pem(NEW) + pem(OLD))

    assert keys.signer(NOW).kid == OLD.thumbprint()
    assert keys.signer(NOW + timedelta(minutes=10)).kid == NEW.thumbprint()
    assert len(keys.jwks()["keys"]) == 2


def test_a_bundle_survives_being_written_and_read_again() -> None:
    keys = KeySet((SigningKey(NEW, NEW.thumbprint(), NOW), SigningKey(OLD, OLD.thumbprint(), None)))

    again = parse_bundle(keys.as_bundle())

    assert [(key.kid, key.signs_from) for key in again.keys] == [
        (NEW.thumbprint(), NOW),
        (OLD.thumbprint(), None),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no PEM private key"),
        ("Signs-From: tomorrow\n" + pem(NEW), "not an ISO 8601 time"),
        (OLD.as_pem(private=False).decode(), "public key"),
    ],
)
def test_a_bad_bundle_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_bundle(text)


def test_a_changed_key_file_is_followed_and_a_broken_one_ignored(tmp_path: Path) -> None:
    path = tmp_path / "keys.pem"
    path.write_text(pem(OLD))
    source = SigningKeys(path=path, reload_seconds=0)
    issuer = TokenIssuer(source, issuer="https://testserver", access_ttl_seconds=900)
    old_token = issuer.issue_access_token("someone")

    path.write_text(pem(NEW))
    os.utime(path, ns=(1, 1))  # a different stamp even on a coarse clock
    new_token = issuer.issue_access_token("someone")
    path.write_text("not a key")

    assert source.current().signer(NOW).kid == NEW.thumbprint()
    assert issuer.verify_access_token(new_token).subject == "someone"
    with pytest.raises(InvalidToken, match="unknown key id"):
        issuer.verify_access_token(old_token)


def test_a_forced_finish_before_the_new_key_signs_keeps_the_new_key_signing_now(tmp_path: Path) -> None:
    path = tmp_path / "keys.pem"
    path.write_text(pem(OLD))
    new = start_rotation(path, delay=timedelta(minutes=10), now=NOW)

    [retired] = finish_rotation(path, access_ttl=TTL, leeway=LEEWAY, now=NOW, force=True)

    assert retired.kid == OLD.thumbprint()
    [kept] = parse_bundle(path.read_text()).keys
    assert (kept.kid, kept.signs_from) == (new.kid, NOW)


def test_a_key_file_that_disappears_leaves_the_set_in_force(tmp_path: Path) -> None:
    path = tmp_path / "keys.pem"
    path.write_text(pem(OLD))
    source = SigningKeys(path=path, reload_seconds=0)

    path.unlink()

    assert source.current().signer(NOW).kid == OLD.thumbprint()


def test_finish_waits_for_the_old_keys_tokens_to_expire(tmp_path: Path) -> None:
    path = tmp_path / "keys.pem"
    path.write_text(pem(OLD))
    new = start_rotation(path, delay=timedelta(minutes=10), now=NOW)
    signing = NOW + timedelta(minutes=10)

    with pytest.raises(RotationRefused, match=f"The new key {new.kid} signs from 2026-11-30T04:10:00Z"):
        finish_rotation(path, access_ttl=TTL, leeway=LEEWAY, now=NOW)
    with pytest.raises(RotationRefused, match="may be valid until 2026-11-30T04:25:30Z"):
        finish_rotation(path, access_ttl=TTL, leeway=LEEWAY, now=signing + TTL)
    [retired] = finish_rotation(path, access_ttl=TTL, leeway=LEEWAY, now=signing + TTL + LEEWAY)

    assert retired.kid == OLD.thumbprint()
    assert [key.kid for key in parse_bundle(path.read_text()).keys] == [new.kid]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_an_instance_starting_while_another_writes_the_key_file_reads_a_whole_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_pem = RSAKey.as_pem
    started: list[SigningKeys] = []
    writing = False

    def write_while_another_starts(self: RSAKey, *args: object, **kwargs: object) -> bytes:
        nonlocal writing
        if not writing:  # the first instance is writing its new key: the second starts now
            writing = True
            started.append(SigningKeys.load(None, tmp_path))
        return as_pem(self, *args, **kwargs)

    monkeypatch.setattr(RSAKey, "as_pem", write_while_another_starts)
    first = SigningKeys.load(None, tmp_path)

    [second] = started
    assert first.current().jwks() == second.current().jwks()  # one key, whoever wrote it
    assert len(parse_bundle((tmp_path / "jwt-private-key.pem").read_text()).keys) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["jwt-private-key.pem"]
