"""Users, their accounts and opening balances written many at a time (``loyalty import-users``).

One multi-row INSERT per table and batch instead of three statements per user: a batch of 1,000
users costs a handful of round trips. An opening balance is written as the account row and its
ledger row together (the account already pointing at the ledger row, which the deferred foreign key
checks at commit), so the ledger invariant holds without an UPDATE per account.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Role
from loyalty.datasources.tables import points_accounts, points_transactions, users


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    first_name: str
    last_name: str
    role: Role
    opening_balance: int


async def taken_emails(conn: AsyncConnection, emails: Collection[str]) -> set[str]:
    """Which of ``emails`` (lower case) active users hold, compared as the unique index does."""
    if not emails:
        return set()
    lowered = sa.func.lower(users.c.email)
    query = sa.select(lowered).where(lowered.in_(list(emails)), users.c.deleted_at.is_(None))
    return set((await conn.scalars(query)).all())


async def insert_users_with_accounts(
    conn: AsyncConnection,
    new_users: Sequence[NewUser],
    *,
    program: str,
    reason: str,
    actor_id: str,
    now: datetime,
) -> list[uuid.UUID]:
    """Insert the users, an account each in ``program``, and a ledger row (kind ADD) for each
    opening balance; the new users' ids, in order."""
    if not new_users:
        return []
    user_ids = [uuid.uuid4() for _ in new_users]
    account_ids = [uuid.uuid4() for _ in new_users]
    funded = [index for index, user in enumerate(new_users) if user.opening_balance > 0]
    seqs = dict(zip(funded, await _claim_ledger_seqs(conn, len(funded)), strict=True))
    await conn.execute(
        users.insert().values(
            [
                {
                    "id": user_id,
                    "email": user.email,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "role": user.role.value,
                    "password_hash": None,
                    "enrolled_at": now,
                    "updated_at": now,
                }
                for user_id, user in zip(user_ids, new_users, strict=True)
            ]
        )
    )
    await conn.execute(
        points_accounts.insert().values(
            [
                {
                    "id": account_ids[index],
                    "user_id": user_ids[index],
                    "program": program,
                    "balance": user.opening_balance,
                    "ledger_seq": seqs.get(index),
                    "created_at": now,
                }
                for index, user in enumerate(new_users)
            ]
        )
    )
    if funded:
        await conn.execute(
            points_transactions.insert().values(
                [
                    {
                        "seq": seqs[index],
                        "id": uuid.uuid4(),
                        "account_id": account_ids[index],
                        "kind": "ADD",
                        "amount": new_users[index].opening_balance,
                        "balance_after": new_users[index].opening_balance,
                        "reason": reason,
                        "actor_id": actor_id,
                        "idempotency_key": None,
                        "request_digest": None,
                        "created_at": now,
                    }
                    for index in funded
                ]
            )
        )
    return user_ids


async def _claim_ledger_seqs(conn: AsyncConnection, count: int) -> list[int]:
    """``count`` ledger sequence numbers for rows this transaction is about to write."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        claimed = sa.select(sa.func.nextval("points_transactions_seq_seq")).select_from(
            sa.func.generate_series(1, count)
        )
        return list((await conn.scalars(claimed)).all())
    # SQLite: this transaction holds the only write lock (BEGIN IMMEDIATE), so the next numbers are free.
    highest = await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(points_transactions.c.seq), 0)))
    return list(range(int(highest or 0) + 1, int(highest or 0) + 1 + count))
