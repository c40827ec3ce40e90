"""Points accounts and their ledger. Balances change only through SQL arithmetic, never in Python."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Role
from loyalty.datasources.errors import unique_violations_as_duplicates
from loyalty.datasources.records import LedgerRecord, PointsAccountRecord
from loyalty.datasources.tables import MAX_BALANCE, points_accounts, points_transactions, users

_ACCOUNT_COLUMNS = (
    points_accounts.c.id,
    points_accounts.c.user_id,
    points_accounts.c.program,
    points_accounts.c.balance,
    points_accounts.c.created_at,
)
_LEDGER_COLUMNS = tuple(points_transactions.c)


def _account(row: sa.Row[Any]) -> PointsAccountRecord:
    return PointsAccountRecord(row[0], row[1], row[2], row[3], row[4])


def _ledger(row: sa.Row[Any]) -> LedgerRecord:
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


async def fetch_account_with_owner_role(
    conn: AsyncConnection, account_id: uuid.UUID
) -> tuple[PointsAccountRecord, Role] | None:
    """The account and its owner's role, or ``None`` if either is missing or the owner deleted."""
    query = (
        sa.select(*_ACCOUNT_COLUMNS, users.c.role)
        .join(users, users.c.id == points_accounts.c.user_id)
        .where(points_accounts.c.id == account_id, users.c.deleted_at.is_(None))
    )
    row = (await conn.execute(query)).first()
    return (_account(row), Role(row[5])) if row else None


async def accounts_by_user(
    conn: AsyncConnection, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[PointsAccountRecord]]:
    query = (
        sa.select(*_ACCOUNT_COLUMNS)
        .where(points_accounts.c.user_id.in_(list(user_ids)))
        .order_by(points_accounts.c.created_at, points_accounts.c.id)
    )
    grouped: dict[uuid.UUID, list[PointsAccountRecord]] = {}
    for row in await conn.execute(query):
        grouped.setdefault(row[1], []).append(_account(row))
    return grouped


async def add(conn: AsyncConnection, account_id: uuid.UUID, amount: int) -> int | None:
    """Add ``amount``; the new balance, or ``None`` when the cap would be passed."""
    return await _update_balance(
        conn,
        account_id,
        points_accounts.c.balance + amount,
        points_accounts.c.balance <= MAX_BALANCE - amount,
    )


async def deduct(conn: AsyncConnection, account_id: uuid.UUID, amount: int) -> int | None:
    """Deduct ``amount``; the new balance, or ``None`` when the balance is too small."""
    return await _update_balance(
        conn, account_id, points_accounts.c.balance - amount, points_accounts.c.balance >= amount
    )


async def override(conn: AsyncConnection, account_id: uuid.UUID, balance: int) -> int | None:
    return await _update_balance(conn, account_id, sa.literal(balance, sa.BigInteger), sa.true())


async def _update_balance(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    new_balance: sa.ColumnElement[int],
    guard: sa.ColumnElement[bool],
) -> int | None:
    statement = (
        points_accounts.update()
        .where(points_accounts.c.id == account_id, guard)
        .values(balance=new_balance)
        .returning(points_accounts.c.balance)
    )
    return await conn.scalar(statement)


async def insert_ledger_row(
    conn: AsyncConnection,
    *,
    account_id: uuid.UUID,
    kind: str,
    amount: int,
    balance_after: int,
    reason: str | None,
    actor_id: str,
    idempotency_key: str | None,
    request_digest: str | None,
    now: datetime,
) -> LedgerRecord:
    values = {
        "id": uuid.uuid4(),
        "account_id": account_id,
        "kind": kind,
        "amount": amount,
        "balance_after": balance_after,
        "reason": reason,
        "actor_id": actor_id,
        "idempotency_key": idempotency_key,
        "request_digest": request_digest,
        "created_at": now,
    }
    statement = points_transactions.insert().values(**values).returning(points_transactions.c.seq)
    with unique_violations_as_duplicates():
        seq = await conn.scalar(statement)
    return LedgerRecord(seq=seq, **values)


async def fetch_ledger_row_by_key(
    conn: AsyncConnection, *, actor_id: str, idempotency_key: str
) -> LedgerRecord | None:
    query = sa.select(*_LEDGER_COLUMNS).where(
        points_transactions.c.actor_id == actor_id, points_transactions.c.idempotency_key == idempotency_key
    )
    row = (await conn.execute(query)).first()
    return _ledger(row) if row else None


async def ledger_pages(
    conn: AsyncConnection, account_ids: Iterable[uuid.UUID], *, before_seq: int | None, limit: int
) -> dict[uuid.UUID, list[LedgerRecord]]:
    """For each account, up to ``limit`` ledger rows newest first, older than ``before_seq``."""
    conditions = [points_transactions.c.account_id.in_(list(account_ids))]
    if before_seq is not None:
        conditions.append(points_transactions.c.seq < before_seq)
    position = (
        sa.func.row_number()
        .over(partition_by=points_transactions.c.account_id, order_by=points_transactions.c.seq.desc())
        .label("position")
    )
    ranked = sa.select(*_LEDGER_COLUMNS, position).where(*conditions).subquery()
    query = (
        sa.select(*(ranked.c[c.name] for c in _LEDGER_COLUMNS))
        .where(ranked.c.position <= limit)
        .order_by(ranked.c.account_id, ranked.c.seq.desc())
    )
    pages: dict[uuid.UUID, list[LedgerRecord]] = {}
    for row in await conn.execute(query):
        record = _ledger(row)
        pages.setdefault(record.account_id, []).append(record)
    return pages
