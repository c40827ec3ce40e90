"""Points accounts and their ledger. Balances change only through SQL arithmetic, never in Python."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from loyalty.auth.permissions import Role
from loyalty.datasources.database import InTransaction
from loyalty.datasources.errors import unique_violations_as_duplicates
from loyalty.datasources.prepared import Connectable, OneOf, Prepared, Row
from loyalty.datasources.records import AccountHolder, LedgerRecord, PointsAccountRecord
from loyalty.datasources.tables import MAX_BALANCE, points_accounts, points_transactions, users

_ACCOUNT_COLUMNS = (
    points_accounts.c.id,
    points_accounts.c.user_id,
    points_accounts.c.program,
    points_accounts.c.balance,
    points_accounts.c.created_at,
)
_ACCOUNT_ORDER = (points_accounts.c.created_at, points_accounts.c.id)
_LEDGER_COLUMNS = tuple(points_transactions.c)


_ACCOUNT_WITH_HOLDER = Prepared(
    sa.select(*_ACCOUNT_COLUMNS, users.c.role, users.c.email, users.c.first_name)
    .join(users, users.c.id == points_accounts.c.user_id)
    .where(points_accounts.c.id == sa.bindparam("account_id"), users.c.deleted_at.is_(None))
)
_ACCOUNTS_OF_USERS = Prepared(
    sa.select(*_ACCOUNT_COLUMNS).where(OneOf(points_accounts.c.user_id, "user_ids")).order_by(*_ACCOUNT_ORDER)
)
_INSERT_LEDGER_ROW = Prepared(
    points_transactions.insert().values({column: sa.bindparam(column.name) for column in _LEDGER_COLUMNS})
)
_LOCKED_BALANCE = Prepared(
    sa.select(points_accounts.c.balance)
    .where(points_accounts.c.id == sa.bindparam("account_id"))
    .with_for_update()
)


def _account(row: Row) -> PointsAccountRecord:
    return PointsAccountRecord(row[0], row[1], row[2], row[3], row[4])


class _AccountRows(sa.TypeDecorator[list[Row]]):
    """The rows :class:`_EveryAccountRow` gathers, as ``_ACCOUNT_COLUMNS`` reads them, oldest first."""

    impl = sa.types.NullType
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> list[Row]:
        if value is None:  # no rows: PostgreSQL's array_agg is null
            return []
        if dialect.name != "sqlite":
            return value  # asyncpg reads an array of rows as tuples of Python values
        rows = [
            (
                uuid.UUID(id_),
                uuid.UUID(user_id),
                program,
                balance,
                datetime.fromisoformat(created).replace(tzinfo=UTC),
            )
            for id_, user_id, program, balance, created in orjson.loads(value)
        ]
        # SQLite 3.40 orders no aggregate; a UUID orders as its stored hex text does.
        return sorted(rows, key=lambda row: (row[4], row[0]))


class _EveryAccountRow(sa.sql.functions.FunctionElement[list[Row]]):
    """An aggregate of the account rows of a group, as one value: on PostgreSQL an array of rows in
    account order, on SQLite a JSON array (ordered as it is decoded)."""

    name = "every_account_row"
    inherit_cache = True
    type = _AccountRows()


@compiles(_EveryAccountRow)
def _json_array_of_rows(element: _EveryAccountRow, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(_EveryAccountRow, "postgresql")
def _array_of_rows(element: _EveryAccountRow, compiler: SQLCompiler, **kw: Any) -> str:
    order = ", ".join(compiler.process(column, **kw) for column in _ACCOUNT_ORDER)
    return f"array_agg(ROW({compiler.process(element.clauses, **kw)}) ORDER BY {order})"


def accounts_of_each_user(balance_roles: str) -> sa.Label[list[Row]]:
    """A column for a query of ``users``: the accounts of each user whose role is among the ones
    bound as ``balance_roles``, in one value the rows of which :func:`account_records` reads;
    empty for other users. One correlated subquery, so the users and their accounts come in one
    statement."""
    every_row = sa.select(_EveryAccountRow(*_ACCOUNT_COLUMNS)).where(
        points_accounts.c.user_id == users.c.id, OneOf(users.c.role, balance_roles)
    )
    return every_row.scalar_subquery().label("accounts")


def account_records(rows: Iterable[Row]) -> list[PointsAccountRecord]:
    return [_account(row) for row in rows]


def _ledger(row: Row) -> LedgerRecord:
    return LedgerRecord(*row[: len(_LEDGER_COLUMNS)])


async def insert_account(
    conn: AsyncConnection, *, user_id: uuid.UUID, program: str, now: datetime
) -> PointsAccountRecord:
    record = PointsAccountRecord(uuid.uuid4(), user_id, program, 0, now)
    statement = points_accounts.insert().values(
        id=record.id, user_id=user_id, program=program, balance=0, created_at=now
    )
    with unique_violations_as_duplicates():
        await conn.execute(statement)
    return record


async def account_exists(conn: AsyncConnection, *, user_id: uuid.UUID, program: str) -> bool:
    query = sa.select(points_accounts.c.id).where(
        points_accounts.c.user_id == user_id, points_accounts.c.program == program
    )
    return (await conn.scalar(query)) is not None


async def fetch_account_with_holder(
    conn: Connectable, account_id: uuid.UUID
) -> tuple[PointsAccountRecord, AccountHolder] | None:
    """The account and its user, or ``None`` if either is missing or the user deleted."""
    row = await _ACCOUNT_WITH_HOLDER.fetchrow(conn, account_id=account_id)
    return (_account(row), AccountHolder(Role(row[5]), row[6], row[7])) if row else None


async def accounts_by_user(
    conn: Connectable, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[PointsAccountRecord]]:
    grouped: dict[uuid.UUID, list[PointsAccountRecord]] = {}
    for row in await _ACCOUNTS_OF_USERS.fetch(conn, user_ids=list(user_ids)):
        grouped.setdefault(row[1], []).append(_account(row))
    return grouped


async def locked_balance(conn: InTransaction, account_id: uuid.UUID) -> int | None:
    """The balance, locked until the transaction ends (SQLite's writers are serialized anyway)."""
    row = await _LOCKED_BALANCE.fetchrow(conn, account_id=account_id)
    return row[0] if row else None


class _NextLedgerSeq(sa.ColumnElement[int]):
    """The seq the next ledger row will take, claimed inside the balance update."""

    inherit_cache = True
    _traverse_internals = []  # noqa: RUF012 - SQLAlchemy's cache key declaration: no state
    type = sa.BigInteger()


@compiles(_NextLedgerSeq)
def _max_seq_plus_one(_element: _NextLedgerSeq, compiler: SQLCompiler, **kw: Any) -> str:
    # Writers are serialized on SQLite, so the next value cannot be taken by anyone else.
    following = sa.select(sa.func.coalesce(sa.func.max(points_transactions.c.seq), 0) + 1)
    return compiler.process(following.scalar_subquery(), **kw)


@compiles(_NextLedgerSeq, "postgresql")
def _next_sequence_value(_element: _NextLedgerSeq, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "nextval('points_transactions_seq_seq')"


@functools.cache
def _balance_change(kind: str) -> Prepared:
    """The balance update of one kind of change: the new balance and the guard that must hold for it,
    computed by the database, bound as ``account_id``, ``amount`` and, for ADD, ``ceiling``."""
    balance = points_accounts.c.balance
    amount = sa.bindparam("amount", type_=sa.BigInteger)
    if kind == "ADD":
        new_balance, guard = balance + amount, balance <= sa.bindparam("ceiling", type_=sa.BigInteger)
    elif kind == "DEDUCT":
        new_balance, guard = balance - amount, balance >= amount
    else:
        new_balance, guard = amount, sa.true()
    return Prepared(
        points_accounts.update()
        .where(points_accounts.c.id == sa.bindparam("account_id"), guard)
        .values(balance=new_balance, ledger_seq=_NextLedgerSeq())
        .returning(points_accounts.c.balance, points_accounts.c.ledger_seq)
    )


async def change_balance(
    conn: InTransaction,
    *,
    account_id: uuid.UUID,
    kind: str,
    amount: int,
    reason: str | None,
    actor_id: str,
    idempotency_key: str | None,
    request_digest: str | None,
    now: datetime,
) -> LedgerRecord | None:
    """Move the balance atomically and write its ledger row.

    ``None`` when the guard refuses: the cap for ADD, too small a balance for DEDUCT. The row lock
    taken by the update is held until commit, so per account the ledger order is the change order.
    """
    bounds = {"ceiling": MAX_BALANCE - amount} if kind == "ADD" else {}
    moved = await _balance_change(kind).fetchrow(conn, account_id=account_id, amount=amount, **bounds)
    if moved is None:
        return None
    row = {
        "seq": moved[1],
        "id": uuid.uuid4(),
        "account_id": account_id,
        "kind": kind,
        "amount": amount,
        "balance_after": moved[0],
        "reason": reason,
        "actor_id": actor_id,
        "idempotency_key": idempotency_key,
        "request_digest": request_digest,
        "created_at": now,
    }
    with unique_violations_as_duplicates():
        await _INSERT_LEDGER_ROW.execute(conn, **row)
    return LedgerRecord(**row)


async def fetch_ledger_row_by_key(
    conn: AsyncConnection, *, actor_id: str, idempotency_key: str
) -> LedgerRecord | None:
    query = sa.select(*_LEDGER_COLUMNS).where(
        points_transactions.c.actor_id == actor_id, points_transactions.c.idempotency_key == idempotency_key
    )
    row = (await conn.execute(query)).first()
    return _ledger(row) if row else None


@functools.cache
def _ledger_pages(*, before: bool) -> Prepared:
    """For each account bound in ``account_ids``, up to ``limit`` ledger rows newest first, older than
    ``before_seq`` when ``before``."""
    conditions: list[sa.ColumnElement[bool]] = [OneOf(points_transactions.c.account_id, "account_ids")]
    if before:
        conditions.append(points_transactions.c.seq < sa.bindparam("before_seq", type_=sa.BigInteger))
    position = (
        sa.func.row_number()
        .over(partition_by=points_transactions.c.account_id, order_by=points_transactions.c.seq.desc())
        .label("position")
    )
    ranked = sa.select(*_LEDGER_COLUMNS, position).where(*conditions).subquery()
    return Prepared(
        sa.select(*(ranked.c[c.name] for c in _LEDGER_COLUMNS))
        .where(ranked.c.position <= sa.bindparam("limit", type_=sa.Integer))
        .order_by(ranked.c.account_id, ranked.c.seq.desc())
    )


async def ledger_pages(
    conn: Connectable, account_ids: Iterable[uuid.UUID], *, before_seq: int | None, limit: int
) -> dict[uuid.UUID, list[LedgerRecord]]:
    """For each account, up to ``limit`` ledger rows newest first, older than ``before_seq``."""
    bounds = {} if before_seq is None else {"before_seq": before_seq}
    rows = await _ledger_pages(before=before_seq is not None).fetch(
        conn, account_ids=list(account_ids), limit=limit, **bounds
    )
    pages: dict[uuid.UUID, list[LedgerRecord]] = {}
    for row in rows:
        record = _ledger(row)
        pages.setdefault(record.account_id, []).append(record)
    return pages
