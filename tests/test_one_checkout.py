"""A request's reads share one pooled PostgreSQL connection: the pool is checked out once per request,
however many statements its fields run (on SQLite, reads have no such pool)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff
from tests.test_query_count import USERS_WITH_ACCOUNTS, counted_statements, work


@pytest.fixture
def database_url(postgresql_url: str) -> str:
    return postgresql_url


async def test_a_request_of_four_reads_checks_the_pool_out_once(
    api: Api, owner: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        await api.user(Role.USER, points_balance=10)
    await api.data(USERS_WITH_ACCOUNTS, {"first": 5}, token=owner.token)
    pool = await api.services.db.pool()
    checkouts = 0
    acquire = asyncpg.Pool.acquire

    def counted(self: asyncpg.Pool, *args: Any, **kwargs: Any) -> Any:
        nonlocal checkouts
        checkouts += self is pool
        return acquire(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Pool, "acquire", counted)  # the pool's own attributes are read-only
    with counted_statements(api) as statements:
        await api.data(USERS_WITH_ACCOUNTS, {"first": 5}, token=owner.token)

    assert len(work(statements)) == 4
    assert checkouts == 1
