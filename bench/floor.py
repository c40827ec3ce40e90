"""The floor of `make bench`: the least a Python server can do to answer the benchmark's requests.

Starlette + asyncpg + orjson, no GraphQL: one route per scenario reads the variables from the same
POST body our /graphql gets, runs the SQL statements our server runs for it and returns the JSON our
server returns, byte for byte (ids, timestamps and cursors formatted alike). The ratio of our
throughput to this one is what the benchmark reports. It checks no token signature (it trusts the
``sub`` of the bearer token and reads that user once), which is part of the work it leaves out.

    uvicorn bench.floor:app --loop uvloop --http httptools --no-access-log   (LOYALTY_BENCH_DATABASE_URL)
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loyalty.services.pagination import encode_time_cursor

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_bench"
PAGE = 50  # `first` of scenarios (c) and (d), written in their query text
MAX_BALANCE = 1_000_000_000_000  # loyalty.datasources.tables', not imported: it would load SQLAlchemy
DEFAULT_RETENTION_DAYS = 365

_USER_COLUMNS = (
    "users.id, users.email, users.first_name, users.last_name, users.role, users.enrolled_at, "
    "users.updated_at"
)
_ACCOUNT_COLUMNS = (
    "points_accounts.id, points_accounts.user_id, points_accounts.program, points_accounts.balance, "
    "points_accounts.created_at"
)
# Each user's accounts, as our server reads them with its users: an array of rows in one statement.
_ACCOUNTS_OF_EACH_USER = (
    f"(SELECT array_agg(ROW({_ACCOUNT_COLUMNS}) ORDER BY points_accounts.created_at, points_accounts.id) "
    "FROM points_accounts WHERE points_accounts.user_id = users.id AND users.role = ANY($1::varchar[])) "
    "AS accounts"
)
# The roles whose balances the bench's caller, an owner, may read: all of them.
BALANCE_ROLES = ["OWNER", "MANAGER", "ENGINEER", "PRODUCT_MANAGER", "USER"]
USER_WITH_ACCOUNTS = (
    f"SELECT {_USER_COLUMNS}, {_ACCOUNTS_OF_EACH_USER} FROM users "
    "WHERE users.id = $2 AND users.deleted_at IS NULL"
)
USERS_PAGE_WITH_ACCOUNTS = (
    f"SELECT {_USER_COLUMNS}, {_ACCOUNTS_OF_EACH_USER} FROM users WHERE users.deleted_at IS NULL "
    "ORDER BY users.enrolled_at DESC, users.id DESC LIMIT $2"
)
ACCOUNT_WITH_OWNER_ROLE = (
    f"SELECT {_ACCOUNT_COLUMNS}, users.role, users.email, users.first_name FROM points_accounts "
    "JOIN users ON users.id = points_accounts.user_id "
    "WHERE points_accounts.id = $1 AND users.deleted_at IS NULL"
)
ADD_TO_BALANCE = (
    "UPDATE points_accounts SET balance = points_accounts.balance + $1, "
    "ledger_seq = nextval('points_transactions_seq_seq') "
    "WHERE points_accounts.id = $2 AND points_accounts.balance <= $3 "
    "RETURNING points_accounts.balance, points_accounts.ledger_seq"
)
INSERT_LEDGER_ROW = (
    "INSERT INTO points_transactions (seq, id, account_id, kind, amount, balance_after, reason, actor_id, "
    "idempotency_key, request_digest, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
INSERT_LOG_ENTRY = (
    "INSERT INTO log_entries (id, timestamp, action, outcome, actor_id, actor_email, actor_role, "
    "target_type, target_id, details, source_ip, user_agent, request_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)
LOG_PAGE = (
    "SELECT log_entries.id, log_entries.timestamp, log_entries.action, log_entries.outcome, "
    "log_entries.actor_id, log_entries.actor_email, log_entries.actor_role, log_entries.target_type, "
    "log_entries.target_id, log_entries.details, log_entries.source_ip, log_entries.user_agent, "
    "log_entries.request_id FROM log_entries "
    "WHERE log_entries.timestamp >= $1 AND log_entries.timestamp <= $2 "
    "ORDER BY log_entries.timestamp DESC, log_entries.id DESC LIMIT $3"
)
STAFF = "SELECT users.id, users.email, users.role FROM users WHERE users.id = $1 AND users.deleted_at IS NULL"
RETENTION = "SELECT settings.value FROM settings WHERE settings.name = 'log_retention_days'"
MAX_COST = 20_000  # LOYALTY_MAX_COST's default, reported with each answer's cost


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


def _answer(data: dict[str, Any], cost: int) -> Response:
    """The answer as our server writes it, with the cost it reports for the scenario's document."""
    return _json({"extensions": {"cost": {"requested": cost, "limit": MAX_COST}}, "data": data})


def _connection(edges: list[dict[str, Any]], has_next_page: bool) -> dict[str, Any]:
    end_cursor = edges[-1]["cursor"] if edges else None
    return {"edges": edges, "pageInfo": {"hasNextPage": has_next_page, "endCursor": end_cursor}}


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Hand a connection back to the pool as SQLAlchemy's pool does ours: rolled back if a transaction
    is open (asyncpg does that before this), without asyncpg's RESET ALL round trip."""


class Floor:
    """The routes, the pool they share, and what they read once: the retention and each caller."""

    def __init__(self, database_url: str, statement_hook: Callable[[str], None] | None) -> None:
        self._database_url = database_url
        self._statement_hook = statement_hook
        self._pool: asyncpg.Pool | None = None
        self._retention = timedelta(days=DEFAULT_RETENTION_DAYS)
        self._staff: dict[str, tuple[str, str, str]] = {}  # bearer token -> (actor id, email, role)

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the app's lifespan opens the pool"
        return self._pool

    async def _log_statements(self, conn: asyncpg.Connection) -> None:
        hook = self._statement_hook
        assert hook is not None
        conn.add_query_logger(lambda record: hook(record.query))

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # As many connections as our server's SQLAlchemy pool allows (10, and 10 more on demand), none
        # kept idle for over a second: so that while our server is measured the floor holds none (two
        # workers of each would otherwise pass PostgreSQL's default of 100 connections).
        self._pool = await asyncpg.create_pool(
            self._database_url.replace("postgresql+asyncpg://", "postgresql://"),
            min_size=0,
            max_size=20,
            max_inactive_connection_lifetime=1.0,
            init=self._log_statements if self._statement_hook else None,
            reset=_keep_session,
        )
        # Like our server, the retention is read once and kept in the process.
        days = await self.pool.fetchval(RETENTION)
        self._retention = timedelta(days=int(days) if days else DEFAULT_RETENTION_DAYS)
        try:
            yield
        finally:
            await self._pool.close()

    async def _actor(self, request: Request, conn: asyncpg.Connection) -> tuple[str, str, str]:
        token = request.headers["authorization"]
        if token not in self._staff:
            payload = token.partition(" ")[2].split(".")[1]
            subject = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
            row = await conn.fetchrow(STAFF, uuid.UUID(subject))
            self._staff[token] = (str(row[0]), row[1], row[2])
        return self._staff[token]

    async def healthz(self, _request: Request) -> Response:
        return _json({"status": "ok"})

    async def user(self, request: Request) -> Response:
        """(a) query U($id: ID!) { user(id: $id) { email role pointsAccounts { balance } } }"""
        user_id = orjson.loads(await request.body())["variables"]["id"]
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(USER_WITH_ACCOUNTS, BALANCE_ROLES, uuid.UUID(user_id))
        if row is None:
            return _answer({"user": None}, 6)
        node = {"email": row[1], "role": row[4], "pointsAccounts": [{"balance": a[3]} for a in row[7] or ()]}
        return _answer({"user": node}, 6)

    async def adjust_points(self, request: Request) -> Response:
        """(b) adjustPoints(input: {accountId, action: ADD, amount}) { account { id balance }
        transaction { id balanceAfter } errors { code message } }, logged in the same transaction."""
        adjustment = orjson.loads(await request.body())["variables"]["input"]
        if adjustment["action"] != "ADD":
            return _json({"errors": [{"message": "the floor only adds points"}]})
        account_id, amount = uuid.UUID(adjustment["accountId"]), adjustment["amount"]
        async with self.pool.acquire() as conn:
            actor_id, actor_email, actor_role = await self._actor(request, conn)
            async with conn.transaction():
                if await conn.fetchrow(ACCOUNT_WITH_OWNER_ROLE, account_id) is None:
                    return _json({"errors": [{"message": "no such points account"}]})
                balance, seq = await conn.fetchrow(ADD_TO_BALANCE, amount, account_id, MAX_BALANCE - amount)
                transaction_id = uuid.uuid4()
                await conn.execute(
                    INSERT_LEDGER_ROW,
                    seq, transaction_id, account_id, "ADD", amount, balance, None, actor_id, None, None,
                    datetime.now(UTC),
                )  # fmt: skip
                details = {
                    "action": "ADD",
                    "amount": amount,
                    "reason": None,
                    "idempotencyKey": None,
                    "transactionId": str(transaction_id),
                    "before": {"balance": balance - amount},
                    "after": {"balance": balance},
                }
                await conn.execute(
                    INSERT_LOG_ENTRY,
                    uuid.uuid4(), datetime.now(UTC), "points.adjust", "SUCCESS", actor_id, actor_email,
                    actor_role, "points_account", str(account_id), orjson.dumps(details).decode(),
                    request.client.host if request.client else None, request.headers.get("user-agent"),
                    request.headers.get("x-request-id") or uuid.uuid4().hex,
                )  # fmt: skip
        payload = {
            "account": {"id": str(account_id), "balance": balance},
            "transaction": {"id": str(transaction_id), "balanceAfter": balance},
            "errors": [],
        }
        return _answer({"adjustPoints": payload}, 18)

    async def users(self, _request: Request) -> Response:
        """(c) { users(first: 50) { edges { cursor node { id email role pointsAccounts { id balance } } }
        pageInfo { hasNextPage endCursor } } }"""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(USERS_PAGE_WITH_ACCOUNTS, BALANCE_ROLES, PAGE + 1)
        edges = []
        for row in rows[:PAGE]:
            node = {
                "id": str(row[0]),
                "email": row[1],
                "role": row[4],
                "pointsAccounts": [{"id": str(a[0]), "balance": a[3]} for a in row[7] or ()],
            }
            edges.append({"cursor": encode_time_cursor(row[5], row[0]), "node": node})
        return _answer({"users": _connection(edges, len(rows) > PAGE)}, 352)

    async def logs(self, _request: Request) -> Response:
        """(d) { logs(first: 50) { edges { cursor node { id timestamp action outcome actorId targetId } }
        pageInfo { hasNextPage endCursor } } }"""
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(LOG_PAGE, now - self._retention, now, PAGE + 1)
        edges = []
        for row in rows[:PAGE]:
            node = {
                "id": str(row[0]),
                "timestamp": row[1].isoformat(),
                "action": row[2],
                "outcome": row[3],
                "actorId": row[4],
                "targetId": row[8],
            }
            edges.append({"cursor": encode_time_cursor(row[1], row[0]), "node": node})
        return _answer({"logs": _connection(edges, len(rows) > PAGE)}, 102)


def create_app(
    database_url: str | None = None, *, statement_hook: Callable[[str], None] | None = None
) -> Starlette:
    """The floor on ``database_url`` (default: LOYALTY_BENCH_DATABASE_URL); ``statement_hook`` sees the
    SQL of every statement (tests count them; the benchmark leaves it off)."""
    floor = Floor(
        database_url or os.environ.get("LOYALTY_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL), statement_hook
    )
    return Starlette(
        routes=[
            Route("/healthz", floor.healthz, methods=["GET"]),
            Route("/user", floor.user, methods=["POST"]),
            Route("/adjust-points", floor.adjust_points, methods=["POST"]),
            Route("/users", floor.users, methods=["POST"]),
            Route("/logs", floor.logs, methods=["POST"]),
        ],
        lifespan=floor.lifespan,
    )


app = create_app()
