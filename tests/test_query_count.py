"""No N+1: nested fields load through DataLoaders, one SQL statement per level of a request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff

USERS_WITH_ACCOUNTS = """
query($first: Int) {
  users(first: $first) {
    totalCount
    edges { node {
      id email totalPoints
      pointsAccounts { id program balance user { id } transactions(first: 5) { edges { node { amount } } } }
    } }
  }
}"""


@contextmanager
def counted_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engines = [engine.sync_engine for engine in api.services.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def statements_for(api: Api, owner: Staff, first: int) -> list[str]:
    await api.data("{ me { id } }", token=owner.token)  # the caller's role is read once, then cached
    with counted_statements(api) as statements:
        data = await api.data(USERS_WITH_ACCOUNTS, {"first": first}, token=owner.token)
    assert len(data["users"]["edges"]) == first
    return statements


async def test_listing_50_users_with_accounts_and_ledgers_runs_5_statements(api: Api, owner: Staff) -> None:
    for _ in range(60):
        await api.user(Role.USER, points_balance=10)

    few = await statements_for(api, owner, 5)
    many = await statements_for(api, owner, 50)

    # the page, the total, the accounts, the ledger pages, the accounts' owners
    assert len(many) == len(few) == 5, many
