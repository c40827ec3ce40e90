"""Fixtures: the app over HTTP (httpx) on SQLite and on PostgreSQL, and ready-made callers.

Every test that takes ``api`` runs twice, once per backend. Each backend gets one database
per test session, migrated once and emptied before every test.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from joserfc.jwk import RSAKey

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources import points, users
from loyalty.datasources.migrations import upgrade_to_head
from loyalty.datasources.tables import metadata
from loyalty.services.container import Services

POSTGRES_URL = os.environ.get(
    "LOYALTY_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TEST_PASSWORD = "correct horse battery staple"


def _postgres_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _postgres_admin(statement: str) -> None:
    conn = await asyncpg.connect(_postgres_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="loyalty-test-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'test.db'}"
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    try:
        asyncio.run(_postgres_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    name = f"loyalty_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def settings(database_url: str, signing_key_pem: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        jwt_private_key=signing_key_pem,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        public_url="https://testserver",
        # Tests send many requests from one address at once: the budgets are tested where they are
        # the point (test_rate_limit*.py, test_bursts.py).
        rate_limit="100000/minute",
        anonymous_burst=100_000,
    )


async def _empty_tables(services: Services) -> None:
    # DELETE beats TRUNCATE on tables this small.
    async with services.db.transaction() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    services = Services.build(settings)
    await _empty_tables(services)
    yield services
    await services.close()


@dataclass
class Staff:
    id: str
    email: str
    role: Role
    token: str
    account_id: str


class Api:
    """A GraphQL client over HTTP, as the console or a partner would use it."""

    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.client = client
        self.services = services

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict:
        """The ``data`` of a response that must have no errors."""
        body = await self.post(query, variables, token=token)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def error_code(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> str:
        """The ``extensions.code`` of the one GraphQL error a response must have."""
        body = await self.post(query, variables, token=token)
        assert len(body.get("errors", [])) == 1, body
        return body["errors"][0]["extensions"]["code"]

    async def user(
        self,
        role: Role = Role.USER,
        *,
        email: str | None = None,
        password: str | None = TEST_PASSWORD,
        points_balance: int = 0,
    ) -> Staff:
        """A user stored directly (arranging a test, not testing enrolment), with a token if staff."""
        now = datetime.now(UTC)
        email = email or f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        password_hash = None
        if role.is_staff and password:
            password_hash = await self.services.users._hashing.hash(password)
        async with self.services.db.transaction() as conn:
            record = await users.insert_user(
                conn,
                email=email,
                first_name="Test",
                last_name=role.value.title(),
                role=role,
                password_hash=password_hash,
                now=now,
            )
            account = await points.insert_account(conn, user_id=record.id, program="default", now=now)
            if points_balance:
                await points.change_balance(
                    conn,
                    account_id=account.id,
                    kind="OVERRIDE",
                    amount=points_balance,
                    reason="test set-up",
                    actor_id="test",
                    idempotency_key=None,
                    request_digest=None,
                    now=now,
                )
        token = self.services.tokens.issue_access_token(str(record.id)) if role.is_staff else ""
        return Staff(str(record.id), email, role, token, str(account.id))


@asynccontextmanager
async def served(settings: Settings, services: Services) -> AsyncIterator[Api]:
    """The app ``settings`` make on ``services``, and a client of it over HTTP."""
    transport = httpx.ASGITransport(app=create_app(settings, services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client, services)


@pytest.fixture
async def api(services: Services, settings: Settings) -> AsyncIterator[Api]:
    async with served(settings, services) as api:
        yield api


@pytest.fixture
async def owner(api: Api) -> Staff:
    return await api.user(Role.OWNER)
