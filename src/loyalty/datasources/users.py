"""Queries on the ``users`` table. Deleted users are invisible to every read here."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Role
from loyalty.datasources.errors import unique_violations_as_duplicates
from loyalty.datasources.patterns import contains_pattern
from loyalty.datasources.points import account_records, accounts_of_each_user
from loyalty.datasources.prepared import Connectable, OneOf, Prepared, Row
from loyalty.datasources.records import PointsAccountRecord, UserRecord
from loyalty.datasources.tables import UTCDateTime, users

# A user with their accounts, oldest first: empty unless the user's role is among the reader's
# ``balance_roles`` (the roles whose balances the reader may read).
UserWithAccounts = tuple[UserRecord, list[PointsAccountRecord]]

_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.first_name,
    users.c.last_name,
    users.c.role,
    users.c.enrolled_at,
    users.c.updated_at,
    # Not ``password_hash IS NOT NULL``: SQLite 3.40 answers true for a NULL in UPDATE ... RETURNING.
    (sa.func.coalesce(sa.func.length(users.c.password_hash), 0) > 0).label("password_set"),
    users.c.sessions_epoch,
)
_WITH_ACCOUNTS = (*_COLUMNS, accounts_of_each_user("balance_roles"))
_ACTIVE = users.c.deleted_at.is_(None)
_IS_ID = users.c.id == sa.bindparam("id")
# The address compared in lower case, as the unique index on lower(email) holds it.
_IS_EMAIL = sa.func.lower(users.c.email) == sa.bindparam("email")


_BY_ID = Prepared(sa.select(*_COLUMNS).where(_IS_ID, _ACTIVE))
_BY_ID_WITH_ACCOUNTS = Prepared(sa.select(*_WITH_ACCOUNTS).where(_IS_ID, _ACTIVE))
_BY_IDS = Prepared(sa.select(*_COLUMNS).where(OneOf(users.c.id, "ids"), _ACTIVE))
_BY_EMAIL = Prepared(sa.select(*_COLUMNS).where(_IS_EMAIL, _ACTIVE))
_BY_EMAIL_WITH_ACCOUNTS = Prepared(sa.select(*_WITH_ACCOUNTS).where(_IS_EMAIL, _ACTIVE))


# Roles by their stored value: looked up for each row, where ``Role(value)`` costs a call of the enum.
_ROLES = {role.value: role for role in Role}
_ACCOUNTS = len(_COLUMNS)


def _record(row: Row) -> UserRecord:
    role = _ROLES.get(row[4]) or Role(row[4])  # anything else is refused as it was
    return UserRecord(row[0], row[1], row[2], row[3], role, row[5], row[6], bool(row[7]), row[8])


def _with_accounts(row: Row) -> UserWithAccounts:
    return _record(row), account_records(row[_ACCOUNTS])


def _role_values(roles: Sequence[Role]) -> list[str]:
    return [role.value for role in roles]


async def insert_user(
    conn: AsyncConnection,
    *,
    email: str,
    first_name: str,
    last_name: str,
    role: Role,
    password_hash: str | None,
    now: datetime,
    user_id: uuid.UUID | None = None,
) -> UserRecord:
    record = UserRecord(
        user_id or uuid.uuid4(), email, first_name, last_name, role, now, now, password_hash is not None
    )
    with unique_violations_as_duplicates():
        await conn.execute(
            users.insert().values(
                id=record.id,
                email=email,
                first_name=first_name,
                last_name=last_name,
                role=role.value,
                password_hash=password_hash,
                enrolled_at=now,
                updated_at=now,
            )
        )
    return record


async def fetch_user(conn: Connectable, user_id: uuid.UUID) -> UserRecord | None:
    row = await _BY_ID.fetchrow(conn, id=user_id)
    return _record(row) if row else None


async def fetch_user_with_accounts(
    conn: Connectable, user_id: uuid.UUID, *, balance_roles: Sequence[Role]
) -> UserWithAccounts | None:
    """The user and their accounts in one statement (see ``UserWithAccounts``)."""
    row = await _BY_ID_WITH_ACCOUNTS.fetchrow(conn, id=user_id, balance_roles=_role_values(balance_roles))
    return _with_accounts(row) if row else None


async def fetch_users(conn: Connectable, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
    return {row[0]: _record(row) for row in await _BY_IDS.fetch(conn, ids=list(user_ids))}


async def fetch_user_by_email(conn: Connectable, email: str) -> UserRecord | None:
    row = await _BY_EMAIL.fetchrow(conn, email=email.lower())
    return _record(row) if row else None


async def fetch_user_by_email_with_accounts(
    conn: Connectable, email: str, *, balance_roles: Sequence[Role]
) -> UserWithAccounts | None:
    """The user with that email and their accounts in one statement (see ``UserWithAccounts``)."""
    row = await _BY_EMAIL_WITH_ACCOUNTS.fetchrow(
        conn, email=email.lower(), balance_roles=_role_values(balance_roles)
    )
    return _with_accounts(row) if row else None


async def fetch_user_by_external_identity(
    conn: AsyncConnection, issuer: str, subject: str
) -> UserRecord | None:
    row = (
        await conn.execute(
            sa.select(*_COLUMNS).where(
                users.c.external_issuer == issuer, users.c.external_subject == subject, _ACTIVE
            )
        )
    ).first()
    return _record(row) if row else None


async def link_external_identity(
    conn: AsyncConnection, *, email: str, issuer: str, subject: str
) -> UserRecord | None:
    """Link the user with ``email`` to the identity, unless that user is linked already (to another
    one); ``DuplicateKey`` when another user holds the identity."""
    statement = (
        users.update()
        .where(sa.func.lower(users.c.email) == email.lower(), _ACTIVE, users.c.external_subject.is_(None))
        .values(external_issuer=issuer, external_subject=subject)
        .returning(*_COLUMNS)
    )
    with unique_violations_as_duplicates():
        row = (await conn.execute(statement)).first()
    return _record(row) if row else None


async def fetch_password_hash(conn: AsyncConnection, user_id: uuid.UUID) -> str | None:
    return await conn.scalar(sa.select(users.c.password_hash).where(users.c.id == user_id, _ACTIVE))


def _list_filter(*, by_role: bool, by_search: bool) -> list[sa.ColumnElement[bool]]:
    """The listing's conditions, their values bound as ``roles`` and ``pattern``."""
    conditions: list[sa.ColumnElement[bool]] = [_ACTIVE]
    if by_role:
        conditions.append(OneOf(users.c.role, "roles"))
    if by_search:
        pattern = sa.bindparam("pattern", type_=sa.String)
        searched = (
            users.c.email,
            users.c.first_name,
            users.c.last_name,
            users.c.first_name + " " + users.c.last_name,
        )
        conditions.append(sa.or_(*(sa.func.lower(column).like(pattern, escape="\\") for column in searched)))
    return conditions


def _filter_values(search: str | None, roles: Sequence[Role] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if roles is not None:
        values["roles"] = _role_values(roles)
    if search:
        values["pattern"] = contains_pattern(search.lower())
    return values


@functools.cache
def _page(*, by_role: bool, by_search: bool, after: bool, with_accounts: bool) -> Prepared:
    """The listing query of one shape of filter, with or without the accounts (at most 16 shapes, each
    compiled once)."""
    conditions = _list_filter(by_role=by_role, by_search=by_search)
    if after:
        keyset = sa.tuple_(
            sa.bindparam("after_enrolled_at", type_=UTCDateTime), sa.bindparam("after_id", type_=sa.Uuid)
        )
        conditions.append(sa.tuple_(users.c.enrolled_at, users.c.id) < keyset)
    return Prepared(
        sa.select(*(_WITH_ACCOUNTS if with_accounts else _COLUMNS))
        .where(*conditions)
        .order_by(users.c.enrolled_at.desc(), users.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


@functools.cache
def _count(*, by_role: bool, by_search: bool) -> Prepared:
    conditions = _list_filter(by_role=by_role, by_search=by_search)
    return Prepared(sa.select(sa.func.count()).select_from(users).where(*conditions))


async def list_users(
    conn: Connectable,
    *,
    search: str | None,
    roles: Sequence[Role] | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[UserRecord]:
    """Users newest enrolment first, then by id, starting after the keyset ``after``."""
    return [_record(row) for row in await _listing(conn, search, roles, after, limit, balance_roles=None)]


async def list_users_with_accounts(
    conn: Connectable,
    *,
    search: str | None,
    roles: Sequence[Role] | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    balance_roles: Sequence[Role],
) -> list[UserWithAccounts]:
    """``list_users``, each user with their accounts, in one statement (see ``UserWithAccounts``)."""
    rows = await _listing(conn, search, roles, after, limit, balance_roles=balance_roles)
    return [_with_accounts(row) for row in rows]


async def _listing(
    conn: Connectable,
    search: str | None,
    roles: Sequence[Role] | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    *,
    balance_roles: Sequence[Role] | None,
) -> list[Row]:
    values = _filter_values(search, roles)
    if after is not None:
        values["after_enrolled_at"], values["after_id"] = after
    if balance_roles is not None:
        values["balance_roles"] = _role_values(balance_roles)
    query = _page(
        by_role=roles is not None,
        by_search=bool(search),
        after=after is not None,
        with_accounts=balance_roles is not None,
    )
    return await query.fetch(conn, limit=limit, **values)


async def count_users(conn: Connectable, *, search: str | None, roles: Sequence[Role] | None) -> int:
    row = await _count(by_role=roles is not None, by_search=bool(search)).fetchrow(
        conn, **_filter_values(search, roles)
    )
    return int(row[0]) if row else 0


async def update_user(
    conn: AsyncConnection, user_id: uuid.UUID, changes: Mapping[str, Any], *, now: datetime
) -> UserRecord | None:
    values = {key: (value.value if isinstance(value, Role) else value) for key, value in changes.items()}
    statement = users.update().where(users.c.id == user_id, _ACTIVE).values(**values, updated_at=now)
    with unique_violations_as_duplicates():
        row = (await conn.execute(statement.returning(*_COLUMNS))).first()
    return _record(row) if row else None


async def set_password_hash(
    conn: AsyncConnection, user_id: uuid.UUID, password_hash: str | None, *, end_sessions: bool
) -> UserRecord | None:
    """Set (or with ``None`` clear) a password; ``end_sessions`` moves the sessions epoch on, so the
    access tokens issued before stop granting access."""
    values: dict[str, Any] = {"password_hash": password_hash}
    if end_sessions:
        values["sessions_epoch"] = users.c.sessions_epoch + 1
    statement = users.update().where(users.c.id == user_id, _ACTIVE).values(**values).returning(*_COLUMNS)
    row = (await conn.execute(statement)).first()
    return _record(row) if row else None


async def end_sessions(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Move the sessions epoch on: the user's access tokens issued before stop granting access."""
    await conn.execute(
        users.update().where(users.c.id == user_id).values(sessions_epoch=users.c.sessions_epoch + 1)
    )


async def soft_delete_user(conn: AsyncConnection, user_id: uuid.UUID, *, now: datetime) -> bool:
    result = await conn.execute(
        users.update().where(users.c.id == user_id, _ACTIVE).values(deleted_at=now, updated_at=now)
    )
    return result.rowcount == 1


async def lock_owners(conn: AsyncConnection) -> list[uuid.UUID]:
    """The active owners, locked until the transaction ends (so two demotions cannot race)."""
    query = (
        sa.select(users.c.id)
        .where(users.c.role == Role.OWNER.value, _ACTIVE)
        .order_by(users.c.id)  # one lock order for every transaction: no deadlocks
        .with_for_update()
    )
    return list((await conn.scalars(query)).all())


async def any_owner(conn: AsyncConnection) -> bool:
    query = sa.select(users.c.id).where(users.c.role == Role.OWNER.value, _ACTIVE).limit(1)
    return (await conn.scalar(query)) is not None


async def staff_emails(conn: AsyncConnection, roles: Sequence[Role]) -> list[tuple[uuid.UUID, str]]:
    """(id, email) of the active staff with one of ``roles``."""
    query = sa.select(users.c.id, users.c.email).where(
        users.c.role.in_([role.value for role in roles]), _ACTIVE
    )
    return [(row[0], row[1]) for row in await conn.execute(query)]
