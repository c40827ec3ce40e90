"""Users, their accounts and opening balances written many at a time (``loyalty import-users``).

One multi-row INSERT per table and batch instead of three statements per user: a batch of 1,000
users costs a handful of round trips. An opening balance is written as the account row and its
ledger row together (the account already pointing at the ledger row, which the deferred foreign key
checks at commit), so the ledger invariant holds without an UPDATE per account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Role
from loyalty.datasources.prepared import OneOf, Prepared
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
    if conn.dialect.name == "postgresql":
        # The table grows under an import: a plan cached while it was nearly empty (a sequential
        # scan) made each batch's look-up take seconds at 60,000 rows. Plan each one afresh.
        await conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return {row[0] for row in await _TAKEN_EMAILS.fetch(conn, emails=list(emails))}


_LOWER_EMAIL = sa.func.lower(users.c.email, type_=sa.String)
_TAKEN_EMAILS = Prepared(
    sa.select(_LOWER_EMAIL).where(OneOf(_LOWER_EMAIL, "emails"), users.c.deleted_at.is_(None))
)


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
    columns: dict[str, dict[str, list[Any]]] = {
        "users": {
            "id": user_ids,
            "email": [user.email for user in new_users],
            "first_name": [user.first_name for user in new_users],
            "last_name": [user.last_name for user in new_users],
            "role": [user.role.value for user in new_users],
        },
        "accounts": {
            "id": account_ids,
            "user_id": user_ids,
            "balance": [user.opening_balance for user in new_users],
            "ledger_seq": [seqs.get(index) for index in range(len(new_users))],
        },
        "ledger": {
            "seq": [seqs[index] for index in funded],
            "id": [uuid.uuid4() for _ in funded],
            "account_id": [account_ids[index] for index in funded],
            "amount": [new_users[index].opening_balance for index in funded],
        },
    }
    fixed = {"now": now, "program": program, "reason": reason, "actor_id": actor_id}
    for name in ("users", "accounts", "ledger"):
        if columns[name]["id"]:
            await _insert_rows(conn, name, columns[name], fixed)
    return user_ids


async def _insert_rows(
    conn: AsyncConnection, name: str, columns: dict[str, list[Any]], fixed: dict[str, Any]
) -> None:
    """One table's rows, given column-wise: on PostgreSQL one INSERT of them all, the columns bound
    as arrays (one statement text, prepared once, whatever the batch's size: SQLAlchemy compiling a
    1,000-row VALUES list costs ~0.3 s); on SQLite, in process, the driver's executemany."""
    if conn.dialect.name == "postgresql":
        await _UNNEST_INSERTS[name].execute(conn, **columns, **fixed)
        return
    table, values = _ROW_VALUES[name]
    count = len(columns["id"])
    rows = [{column: cells[index] for column, cells in columns.items()} for index in range(count)]
    await conn.execute(table.insert(), [{**row, **values(fixed, row)} for row in rows])


def _unnest_insert(
    table: sa.Table,
    arrays: Sequence[str],
    values: dict[str, sa.ColumnElement[Any] | Callable[[Any], sa.ColumnElement[Any]]],
) -> Prepared:
    """``INSERT INTO table SELECT ... FROM unnest(:array, ...)``: the arrays are columns of the rows,
    ``values`` the columns computed from them or bound once."""
    rows = (
        sa.func.unnest(*(sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in arrays))
        .table_valued(*arrays)
        .render_derived(name="row")
    )
    selected = {name: rows.c[name] for name in arrays} | {
        column: value(rows) if callable(value) else value for column, value in values.items()
    }
    return Prepared(
        table.insert().from_select(list(selected), sa.select(*(selected[name] for name in selected)))
    )


def _now() -> sa.BindParameter[Any]:
    return sa.bindparam("now", type_=users.c.enrolled_at.type)


_UNNEST_INSERTS = {
    "users": _unnest_insert(
        users,
        ("id", "email", "first_name", "last_name", "role"),
        {"enrolled_at": _now(), "updated_at": _now()},
    ),
    "accounts": _unnest_insert(
        points_accounts,
        ("id", "user_id", "balance", "ledger_seq"),
        {"program": sa.bindparam("program", type_=sa.String), "created_at": _now()},
    ),
    "ledger": _unnest_insert(
        points_transactions,
        ("seq", "id", "account_id", "amount"),
        {
            "kind": sa.literal("ADD"),
            "balance_after": lambda rows: rows.c.amount,
            "reason": sa.bindparam("reason", type_=sa.String),
            "actor_id": sa.bindparam("actor_id", type_=sa.String),
            "created_at": _now(),
        },
    ),
}
# The same rows on SQLite: the table, and the values each row takes from the fixed ones (or itself).
_ROW_VALUES: dict[str, tuple[sa.Table, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]]] = {
    "users": (users, lambda fixed, _row: {"enrolled_at": fixed["now"], "updated_at": fixed["now"]}),
    "accounts": (
        points_accounts,
        lambda fixed, _row: {"program": fixed["program"], "created_at": fixed["now"]},
    ),
    "ledger": (
        points_transactions,
        lambda fixed, row: {
            "kind": "ADD",
            "balance_after": row["amount"],
            "reason": fixed["reason"],
            "actor_id": fixed["actor_id"],
            "created_at": fixed["now"],
        },
    ),
}


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
