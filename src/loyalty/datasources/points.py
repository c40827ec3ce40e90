"""Points accounts and their ledger. Balances change only through SQL arithmetic, never in Python."""

from __future__ import annotations

import dataclasses
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


async def locked_balance(conn: AsyncConnection, account_id: uuid.UUID) -> int | None:
    """The balance, locked until the transaction ends (SQLite's writers are serialized anyway)."""
    query = sa.select(points_accounts.c.balance).where(points_accounts.c.id == account_id).with_for_update()
    return await conn.scalar(query)


def _next_ledger_seq(conn: AsyncConnection) -> sa.ColumnElement[int]:
    """The seq the next ledger row will take, claimed inside the balance update."""
    if conn.dialect.name == "sqlite":
        # Writers are serialized on SQLite, so the next value cannot be taken by anyone else.
        return sa.select(sa.func.coalesce(sa.func.max(points_transactions.c.seq), 0) + 1).scalar_subquery()
    return sa.func.nextval(sa.literal_column("'points_transactions_seq_seq'"))


def _balance_rule(kind: str, amount: int) -> tuple[sa.ColumnElement[int], sa.ColumnElement[bool]]:
    """The new balance and the guard that must hold for it, computed by the database."""
    balance = points_accounts.c.balance
    if kind == "ADD":
        return balance + amount, balance <= MAX_BALANCE - amount
    if kind == "DEDUCT":
        return balance - amount, balance >= amount
    return sa.literal(amount, sa.BigInteger), sa.true()


async def change_balance(
    conn: AsyncConnection,
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
    new_balance, guard = _balance_rule(kind, amount)
    moved = (
        await conn.execute(
            points_accounts.update()
            .where(points_accounts.c.id == account_id, guard)
            .values(balance=new_balance, ledger_seq=_next_ledger_seq(conn))
            .returning(points_accounts.c.balance, points_accounts.c.ledger_seq)
        )
    ).first()
    if moved is None:
        return None
    record = LedgerRecord(
        seq=moved[1],
        id=uuid.uuid4(),
        account_id=account_id,
        kind=kind,
        amount=amount,
        balance_after=moved[0],
        reason=reason,
        actor_id=actor_id,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
        created_at=now,
    )
    with unique_violations_as_duplicates():
        await conn.execute(points_transactions.insert().values(**dataclasses.asdict(record)))
    return record


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
