"""How many SQL statements a request runs: users come with their accounts in one statement when the
selection asks for them, other nested fields load through DataLoaders (no N+1), and the benchmark's
four requests run the fewest statements that answer them. The counts hold on SQLite as on PostgreSQL.

Statements are counted through ``Database.statement_hook``, which sees the raw asyncpg statements as
well as SQLAlchemy's. Each request is sent twice and the second counted: the first fills what the
process keeps (the caller's role, the log retention).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

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
USER = "query U($id: ID!) { user(id: $id) { email role pointsAccounts { balance } } }"
ADJUST = """
mutation A($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { account { id balance } transaction { id balanceAfter } errors { code message } }
}"""
USERS_PAGE = """
{ users(first: 50) {
  edges { cursor node { id email role pointsAccounts { id balance } } } pageInfo { hasNextPage endCursor }
} }"""
USERS_PAGE_COUNTED = """
{ users(first: 50) { totalCount edges { node { id pointsAccounts { balance } } } } }"""
LOGS_PAGE = """
{ logs(first: 50) {
  edges { cursor node { id timestamp action outcome actorId targetId } } pageInfo { hasNextPage endCursor }
} }"""
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@contextmanager
def counted_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []
    api.services.db.statement_hook = statements.append
    try:
        yield statements
    finally:
        api.services.db.statement_hook = None


def is_transaction_control(statement: str) -> bool:
    return statement.strip().upper().startswith(TRANSACTION_CONTROL)


def work(statements: list[str]) -> list[str]:
    """The statements that read or write data (not BEGIN, COMMIT or ROLLBACK)."""
    return [statement for statement in statements if not is_transaction_control(statement)]


def verbs(statements: list[str]) -> list[str]:
    return [" ".join(statement.split()[:3]) for statement in work(statements)]


async def statements_of(
    api: Api, owner: Staff, query: str, variables: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The data of the second of two identical requests, and every statement it ran."""
    await api.data(query, variables, token=owner.token)
    with counted_statements(api) as statements:
        data = await api.data(query, variables, token=owner.token)
    return data, statements


@pytest.fixture
async def customers(api: Api) -> list[Staff]:
    """60 customers with points: more than a page of 50, so an N+1 would show."""
    return [await api.user(Role.USER, points_balance=10) for _ in range(60)]


async def test_listing_50_users_with_accounts_and_ledgers_runs_4_statements(
    api: Api, owner: Staff, customers: list[Staff]
) -> None:
    few = work((await statements_of(api, owner, USERS_WITH_ACCOUNTS, {"first": 5}))[1])
    many = work((await statements_of(api, owner, USERS_WITH_ACCOUNTS, {"first": 50}))[1])

    # the page with its accounts, the total (asked for), the ledger pages, the accounts' users
    assert len(many) == len(few) == 4, many


async def test_a_user_with_balances_takes_1_statement(api: Api, owner: Staff, customers: list[Staff]) -> None:
    ada = customers[0]

    data, statements = await statements_of(api, owner, USER, {"id": ada.id})

    assert data["user"]["pointsAccounts"] == [{"balance": 10}]
    assert verbs(statements) == ["SELECT users.id, users.email,"]
    assert "points_accounts" in statements[0]
    assert statements == work(statements), "single reads need no transaction"


async def test_adding_points_takes_4_statements_in_one_transaction(
    api: Api, owner: Staff, customers: list[Staff]
) -> None:
    ada = customers[0]
    add_one = {"input": {"accountId": ada.account_id, "action": "ADD", "amount": 1}}

    data, statements = await statements_of(api, owner, ADJUST, add_one)

    assert data["adjustPoints"]["account"]["balance"] == 12
    # the account with its user's role, the balance with its ledger seq, the ledger row, the log entry
    assert [verb.split()[0] for verb in verbs(statements)] == ["SELECT", "UPDATE", "INSERT", "INSERT"]
    assert "INSERT INTO log_entries" in work(statements)[-1]
    assert statements[0].startswith("BEGIN")
    assert statements[-1] == "COMMIT"
    assert len(statements) == 6


async def test_a_page_of_50_users_with_accounts_takes_1_statement_and_2_with_the_total(
    api: Api, owner: Staff, customers: list[Staff]
) -> None:
    data, statements = await statements_of(api, owner, USERS_PAGE)
    counted, counted_statements = await statements_of(api, owner, USERS_PAGE_COUNTED)

    assert len(data["users"]["edges"]) == 50
    assert data["users"]["pageInfo"]["hasNextPage"] is True
    assert len(statements) == 1, statements  # the page with the accounts of its users
    assert counted["users"]["totalCount"] == 61  # the customers and the owner
    assert len(counted_statements) == 2, counted_statements


async def test_a_page_of_50_log_entries_takes_1_statement(
    api: Api, owner: Staff, customers: list[Staff]
) -> None:
    for customer in customers:  # 60 entries
        add_one = {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 1}}
        await api.data(ADJUST, add_one, token=owner.token)

    data, statements = await statements_of(api, owner, LOGS_PAGE)

    assert len(data["logs"]["edges"]) == 50
    assert len(statements) == 1, statements  # the retention is kept in the process


async def test_a_denial_is_logged_in_a_short_transaction_of_its_own(api: Api, customers: list[Staff]) -> None:
    product_manager = await api.user(Role.PRODUCT_MANAGER)
    add_one = {"input": {"accountId": customers[0].account_id, "action": "ADD", "amount": 1}}
    await api.data("{ me { id } }", token=product_manager.token)  # the caller's role, then cached

    with counted_statements(api) as statements:
        refused = await api.error_code(ADJUST, add_one, token=product_manager.token)

    assert refused == "FORBIDDEN"
    assert statements[0].startswith("BEGIN")
    assert "INSERT INTO log_entries" in statements[1]
    assert statements[2:] == ["COMMIT"]
