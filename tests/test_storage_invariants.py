"""What the database itself refuses, whatever code talks to it: the last line of defence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from loyalty.auth.permissions import Role
from loyalty.datasources.tables import points_accounts, points_transactions, users
from tests.conftest import Api


async def execute(api: Api, statement: sa.Executable) -> None:
    async with api.services.db.transaction() as conn:
        await conn.execute(statement)


def set_balance(account_id: str, **values: object) -> sa.Executable:
    return points_accounts.update().where(points_accounts.c.id == uuid.UUID(account_id)).values(**values)


async def test_a_balance_never_changes_without_a_ledger_row(api: Api) -> None:
    ada = await api.user(Role.USER, points_balance=100)

    with pytest.raises(IntegrityError):
        await execute(api, set_balance(ada.account_id, balance=1_000_000))


async def test_a_balance_cannot_point_back_at_an_older_ledger_row(api: Api) -> None:
    ada = await api.user(Role.USER, points_balance=100)
    async with api.services.db.read() as conn:
        first_seq = await conn.scalar(sa.select(points_accounts.c.ledger_seq))

    with pytest.raises(IntegrityError):
        await execute(api, set_balance(ada.account_id, balance=100, ledger_seq=first_seq - 1))


async def test_a_balance_must_equal_its_ledger_rows_balance_after(api: Api) -> None:
    ada = await api.user(Role.USER, points_balance=100)

    with pytest.raises(IntegrityError):
        await execute(api, set_balance(ada.account_id, balance=5, ledger_seq=10**9))


async def test_a_balance_is_never_negative(api: Api) -> None:
    ada = await api.user(Role.USER)

    with pytest.raises(IntegrityError):
        await execute(api, set_balance(ada.account_id, balance=-1))


async def test_two_active_users_never_share_an_email_in_any_case(api: Api) -> None:
    await api.user(Role.USER, email="ada@example.com")
    now = datetime.now(UTC)
    twin = users.insert().values(
        id=uuid.uuid4(),
        email="ADA@example.com",
        first_name="A",
        last_name="B",
        role="USER",
        enrolled_at=now,
        updated_at=now,
    )

    with pytest.raises(IntegrityError):
        await execute(api, twin)


async def test_a_deleted_users_email_may_be_used_again(api: Api) -> None:
    ada = await api.user(Role.USER, email="ada@example.com")
    now = datetime.now(UTC)
    await execute(api, users.update().where(users.c.id == uuid.UUID(ada.id)).values(deleted_at=now))

    await execute(
        api,
        users.insert().values(
            id=uuid.uuid4(),
            email="ada@example.com",
            first_name="A",
            last_name="B",
            role="USER",
            enrolled_at=now,
            updated_at=now,
        ),
    )


async def test_an_idempotency_key_is_used_once_per_actor(api: Api) -> None:
    await api.user(Role.USER, points_balance=100)
    async with api.services.db.read() as conn:
        row = (await conn.execute(sa.select(points_transactions))).mappings().one()

    def retry(seq: int) -> sa.Executable:
        return points_transactions.insert().values(
            {**row, "seq": seq, "id": uuid.uuid4(), "idempotency_key": "k"}
        )

    await execute(api, retry(row["seq"] + 1))
    with pytest.raises(IntegrityError):
        await execute(api, retry(row["seq"] + 2))
