"""One-time password links (invitations and resets), stored as digests of their tokens, and the
requests for reset emails, counted per email and per address."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.tables import password_links, password_reset_requests, sign_in_addresses, users


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    purpose: str
    email: str
    expires_at: datetime


_LINKS = password_links.c
_OPEN = sa.and_(_LINKS.used_at.is_(None), _LINKS.revoked_at.is_(None))


async def insert_link(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    purpose: str,
    token_digest: str,
    now: datetime,
    expires_at: datetime,
) -> uuid.UUID:
    """Store a new link; the user's open links of the same purpose are revoked (the newest one counts)."""
    await conn.execute(
        password_links.update()
        .where(_LINKS.user_id == user_id, _LINKS.purpose == purpose, _OPEN)
        .values(revoked_at=now)
    )
    link_id = uuid.uuid4()
    await conn.execute(
        password_links.insert().values(
            id=link_id,
            user_id=user_id,
            purpose=purpose,
            token_digest=token_digest,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return link_id


async def fetch_open_link(conn: AsyncConnection, token_digest: str, *, now: datetime) -> LinkRecord | None:
    """The unused, unrevoked, unexpired link with this digest, with its user's email (users not deleted)."""
    query = (
        sa.select(_LINKS.id, _LINKS.user_id, _LINKS.purpose, users.c.email, _LINKS.expires_at)
        .join(users, users.c.id == _LINKS.user_id)
        .where(
            _LINKS.token_digest == token_digest, _OPEN, _LINKS.expires_at > now, users.c.deleted_at.is_(None)
        )
    )
    row = (await conn.execute(query)).first()
    return LinkRecord(*row) if row else None


async def spend(conn: AsyncConnection, link_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark an open link used; ``False`` when it was used, revoked or expired meanwhile (one use wins)."""
    result = await conn.execute(
        password_links.update()
        .where(_LINKS.id == link_id, _OPEN, _LINKS.expires_at > now)
        .values(used_at=now)
    )
    return result.rowcount == 1


async def revoke_links(conn: AsyncConnection, user_id: uuid.UUID, *, now: datetime) -> None:
    """Revoke every open link of the user (a new password was set another way)."""
    await conn.execute(password_links.update().where(_LINKS.user_id == user_id, _OPEN).values(revoked_at=now))


async def purge_links(conn: AsyncConnection, *, before: datetime) -> None:
    """Forget links that expired before ``before`` (rows another transaction is purging are skipped,
    as in ``sign_in_attempts.purge``: two purges deleting in different orders could deadlock)."""
    old = sa.select(_LINKS.id).where(_LINKS.expires_at < before).with_for_update(skip_locked=True)
    await conn.execute(password_links.delete().where(_LINKS.id.in_(old)))


_REQUESTS = password_reset_requests.c


async def count_reset_requests(
    conn: AsyncConnection, *, email_key: str, source_key: str, since: datetime, known_since: datetime
) -> tuple[int, int]:
    """After ``since``: how many reset requests spent the budget on ``email_key`` that one from
    ``source_key`` spends, and how many came from ``source_key``. An address the email signed in from
    after ``known_since`` has a budget of its own on it; the others share one. One statement whichever
    it is, so the work does not tell."""
    addresses = sign_in_addresses.c
    known = sa.select(addresses.source_key).where(
        addresses.email_key == email_key, addresses.last_success_at > known_since
    )
    same_budget = sa.case(
        (sa.literal(source_key).in_(known), _REQUESTS.source_key == source_key),
        else_=_REQUESTS.source_key.not_in(known),
    )
    on_email = sa.select(sa.func.count()).where(
        _REQUESTS.email_key == email_key, _REQUESTS.requested_at > since, same_budget
    )
    from_source = sa.select(sa.func.count()).where(
        _REQUESTS.source_key == source_key, _REQUESTS.requested_at > since
    )
    return int(await conn.scalar(on_email) or 0), int(await conn.scalar(from_source) or 0)


async def add_reset_request(conn: AsyncConnection, *, email_key: str, source_key: str, now: datetime) -> None:
    await conn.execute(
        password_reset_requests.insert().values(email_key=email_key, source_key=source_key, requested_at=now)
    )


async def purge_reset_requests(conn: AsyncConnection, *, before: datetime) -> None:
    old = sa.select(_REQUESTS.seq).where(_REQUESTS.requested_at < before).with_for_update(skip_locked=True)
    await conn.execute(password_reset_requests.delete().where(_REQUESTS.seq.in_(old)))
