"""Rotating the access tokens' signing key signs nobody out: the CLI edits the key file in the data
directory, and a running server follows it (it re-reads the file when it changes)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from joserfc import jws

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.auth.signing_keys import SigningKeys
from loyalty.auth.tokens import TokenIssuer
from loyalty.config import Settings
from loyalty.services.container import Services
from tests.conftest import TEST_PASSWORD, Api, _empty_tables
from tests.test_sessions import sign_in

ME = "{ me { email } }"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def api(sqlite_url: str, data_dir: Path) -> AsyncIterator[Api]:
    """A server whose key lives in its data directory (no LOYALTY_JWT_PRIVATE_KEY), checked on
    every request for changes."""
    settings = Settings(
        database_url=sqlite_url,
        data_dir=data_dir,
        jwt_key_reload_seconds=0,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        public_url="https://testserver",
    )
    services = Services.build(settings)
    await _empty_tables(services)
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Api(client, services)
    await services.close()


def rotate_key(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LOYALTY_DATA_DIR": str(data_dir)}
    environment.pop("LOYALTY_JWT_PRIVATE_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "rotate-key", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


async def published_kids(api: Api) -> list[str]:
    response = await api.client.get("/.well-known/jwks.json")
    return [key["kid"] for key in response.json()["keys"]]


async def signed_in(api: Api) -> str:
    staff = await api.user(Role.OWNER)
    return (await sign_in(api, staff.email, TEST_PASSWORD))["accessToken"]


async def test_a_token_signed_before_start_keeps_working_and_both_keys_are_published(
    api: Api, data_dir: Path
) -> None:
    token = await signed_in(api)
    [old_kid] = await published_kids(api)

    started = rotate_key(data_dir, "start", "--delay", "600")

    assert started.returncode == 0, started.stderr
    kids = await published_kids(api)
    assert len(kids) == 2
    assert kids[1] == old_kid
    assert (await api.data(ME, token=token))["me"]["email"]


async def test_until_the_delay_has_passed_sign_ins_use_the_old_key(api: Api, data_dir: Path) -> None:
    [old_kid] = await published_kids(api)

    assert rotate_key(data_dir, "start", "--delay", "600").returncode == 0

    assert kid_of(await signed_in(api)) == old_kid


async def test_after_the_delay_a_sign_in_uses_the_new_key_and_old_tokens_still_work(
    api: Api, data_dir: Path
) -> None:
    old_token = await signed_in(api)

    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0

    new_kid, old_kid = await published_kids(api)
    new_token = await signed_in(api)
    assert kid_of(old_token) == old_kid
    assert kid_of(new_token) == new_kid
    assert (await api.data(ME, token=old_token))["me"]["email"]
    assert (await api.data(ME, token=new_token))["me"]["email"]


async def test_finish_is_refused_while_old_tokens_may_still_be_valid(api: Api, data_dir: Path) -> None:
    token = await signed_in(api)
    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0

    finished = rotate_key(data_dir, "finish")

    assert finished.returncode != 0
    assert "may be valid until" in finished.stderr
    assert len(await published_kids(api)) == 2
    assert (await api.data(ME, token=token))["me"]["email"]


async def test_after_finish_the_old_key_is_gone_and_its_tokens_are_refused(api: Api, data_dir: Path) -> None:
    old_token = await signed_in(api)
    assert (await api.data(ME, token=old_token))["me"]["email"]  # verified, so cached
    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0
    new_kid, old_kid = await published_kids(api)

    finished = rotate_key(data_dir, "finish", "--force")

    assert finished.returncode == 0, finished.stderr
    assert old_kid in finished.stdout
    assert await published_kids(api) == [new_kid]
    assert await api.error_code(ME, token=old_token) == "UNAUTHENTICATED"
    assert kid_of(await signed_in(api)) == new_kid


async def test_a_refresh_token_from_before_the_rotation_still_refreshes(api: Api, data_dir: Path) -> None:
    staff = await api.user(Role.OWNER)
    refresh_token = (await sign_in(api, staff.email, TEST_PASSWORD))["refreshToken"]
    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0
    assert rotate_key(data_dir, "finish", "--force").returncode == 0
    [new_kid] = await published_kids(api)

    data = await api.data(
        "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken } }",
        {"token": refresh_token},
    )

    assert kid_of(data["refreshToken"]["accessToken"]) == new_kid


def test_a_second_start_during_a_rotation_is_refused(data_dir: Path) -> None:
    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0

    again = rotate_key(data_dir, "start")

    assert again.returncode != 0
    assert "finish it first" in again.stderr


def test_finish_without_a_rotation_is_refused(data_dir: Path) -> None:
    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0
    assert rotate_key(data_dir, "finish", "--force").returncode == 0

    again = rotate_key(data_dir, "finish", "--force")

    assert again.returncode != 0
    assert "no rotation to finish" in again.stderr


def test_a_key_given_as_text_is_rotated_through_a_file(tmp_path: Path, signing_key_pem: str) -> None:
    bundle = tmp_path / "secret.pem"
    bundle.write_text(signing_key_pem)
    environment = {
        **os.environ,
        "LOYALTY_DATA_DIR": str(tmp_path),
        "LOYALTY_JWT_PRIVATE_KEY": signing_key_pem,
    }
    command = [sys.executable, "-m", "loyalty.cli", "rotate-key", "start", "--delay", "0"]

    refused = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    edited = subprocess.run(
        [*command, "--file", str(bundle)], env=environment, capture_output=True, text=True
    )

    assert refused.returncode != 0
    assert "--file" in refused.stderr
    assert edited.returncode == 0, edited.stderr
    assert bundle.read_text().count("BEGIN PRIVATE KEY") == 2
    assert bundle.read_text().startswith("Signs-From: ")


def test_instances_sharing_the_data_directory_follow_a_rotation_together(data_dir: Path) -> None:
    def instance() -> TokenIssuer:
        keys = SigningKeys.load(None, data_dir, reload_seconds=0)
        return TokenIssuer(keys, issuer="https://testserver", access_ttl_seconds=900)

    first, second = instance(), instance()
    before = first.issue_access_token("someone")

    assert rotate_key(data_dir, "start", "--delay", "0").returncode == 0
    after = first.issue_access_token("someone")

    assert kid_of(after) != kid_of(before)
    assert second.verify_access_token(after).subject == "someone"
    assert second.verify_access_token(before).subject == "someone"
    assert kid_of(second.issue_access_token("someone")) == kid_of(after)
