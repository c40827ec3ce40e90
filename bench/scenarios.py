"""The four scenarios of `make bench` (the request each sends, where the floor answers it) and the means
to compare our server with the floor in process: counting SQL statements, masking generated ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from loyalty.datasources.database import Database

PICK = "@PICK@"  # where a request's randomly picked id goes; the load generator substitutes it
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    query: str
    floor_path: str
    picks: str | None  # "users" or "accounts": the variables name a random one; None: a fixed request
    variables: Callable[[str], dict[str, Any]] | None = None

    def body(self, picked: str = PICK) -> bytes:
        payload: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            payload["variables"] = self.variables(picked)
        return orjson.dumps(payload)


SCENARIOS = (
    Scenario(
        "a",
        "user by id",
        "query U($id: ID!) { user(id: $id) { email role pointsAccounts { balance } } }",
        "/user",
        "users",
        lambda picked: {"id": picked},
    ),
    Scenario(
        "b",
        "adjustPoints ADD 1",
        "mutation A($input: AdjustPointsInput!) { adjustPoints(input: $input) { account { id balance } "
        "transaction { id balanceAfter } errors { code message } } }",
        "/adjust-points",
        "accounts",
        lambda picked: {"input": {"accountId": picked, "action": "ADD", "amount": 1}},
    ),
    Scenario(
        "c",
        "users(first: 50)",
        "{ users(first: 50) { edges { cursor node { id email role pointsAccounts { id balance } } } "
        "pageInfo { hasNextPage endCursor } } }",
        "/users",
        None,
    ),
    Scenario(
        "d",
        "logs(first: 50)",
        "{ logs(first: 50) { edges { cursor node { id timestamp action outcome actorId targetId } } "
        "pageInfo { hasNextPage endCursor } } }",
        "/logs",
        None,
    ),
)


class StatementLog:
    """The SQL statements run since it was last cleared; BEGIN, COMMIT and the like are not counted."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, sql: str) -> None:
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self.statements.append(sql)


@contextmanager
def logging_statements(db: Database, log: StatementLog) -> Iterator[None]:
    """Feed our server's statements, SQLAlchemy's and raw asyncpg ones, to ``log`` while in the block."""
    db.statement_hook = log
    try:
        yield
    finally:
        db.statement_hook = None


@asynccontextmanager
async def in_process(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the floor's ``app`` in this process, its lifespan run (which opens its pool). Not for
    our app: its lifespan starts background workers, whose statements would be counted too."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        yield client


async def answer(
    client: httpx.AsyncClient, path: str, body: bytes, token: str, log: StatementLog
) -> tuple[Any, list[str]]:
    """The JSON answer to the second of two identical requests, and the statements it ran: the first
    fills what both servers keep in the process (the caller, the retention, pool connections)."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    await client.post(path, content=body, headers=headers)
    log.statements.clear()
    response = await client.post(path, content=body, headers=headers)
    return response.json(), list(log.statements)


def _masked(an_id: str) -> str:
    uuid.UUID(an_id)  # still has to be an id
    return "<id>"


def comparable(answer: Any) -> Any:
    """``answer`` with the ids of an adjustment masked: the new ledger row's, and the account's (the two
    servers adjust different accounts, so that their balances can be compared)."""
    payload = (answer.get("data") or {}).get("adjustPoints")
    if not payload or not payload.get("transaction"):
        return answer
    masked = {
        **payload,
        "account": {**payload["account"], "id": _masked(payload["account"]["id"])},
        "transaction": {**payload["transaction"], "id": _masked(payload["transaction"]["id"])},
    }
    return {**answer, "data": {**answer["data"], "adjustPoints": masked}}
