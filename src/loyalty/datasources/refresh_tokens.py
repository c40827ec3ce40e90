"""Refresh tokens, stored as digests and grouped in families (one family per sign-in)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.tables import refresh_tokens


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


async def insert_refresh_token(
    conn: AsyncConnection,
    *,
    family_id: uuid.UUID,
    user_id: uuid.UUID,
    token_digest: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        refresh_tokens.insert().values(
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user_id,
            token_digest=token_digest,
            created_at=now,
            expires_at=expires_at,
        )
    )


async def fetch_refresh_token(conn: AsyncConnection, token_digest: str) -> RefreshTokenRecord | None:
    query = sa.select(
        refresh_tokens.c.id,
        refresh_tokens.c.family_id,
        refresh_tokens.c.user_id,
        refresh_tokens.c.expires_at,
        refresh_tokens.c.used_at,
        refresh_tokens.c.revoked_at,
    ).where(refresh_tokens.c.token_digest == token_digest)
    row = (await conn.execute(query)).first()
    return RefreshTokenRecord(*row) if row else None


async def mark_used(conn: AsyncConnection, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Claim a token for rotation; ``False`` if it was already used or revoked (a race or a replay)."""
    result = await conn.execute(
        refresh_tokens.update()
        .where(
            refresh_tokens.c.id == token_id,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


async def revoke_family(conn: AsyncConnection, family_id: uuid.UUID, *, now: datetime) -> None:
    await conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_tokens(conn: AsyncConnection, user_id: uuid.UUID, *, now: datetime) -> None:
    await conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
