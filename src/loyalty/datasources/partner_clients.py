"""Partner clients: their hashed secrets and granted scopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.tables import partner_clients


@dataclass(frozen=True, slots=True)
class PartnerClientRecord:
    client_id: str
    name: str
    secret_digest: str
    scopes: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None


async def insert_client(
    conn: AsyncConnection,
    *,
    client_id: str,
    name: str,
    secret_digest: str,
    scopes: tuple[str, ...],
    now: datetime,
) -> PartnerClientRecord:
    await conn.execute(
        partner_clients.insert().values(
            client_id=client_id,
            name=name,
            secret_digest=secret_digest,
            scopes=" ".join(scopes),
            created_at=now,
        )
    )
    return PartnerClientRecord(client_id, name, secret_digest, scopes, now, None)


async def fetch_client(conn: AsyncConnection, client_id: str) -> PartnerClientRecord | None:
    row = (
        await conn.execute(sa.select(partner_clients).where(partner_clients.c.client_id == client_id))
    ).first()
    if row is None:
        return None
    return PartnerClientRecord(
        row.client_id, row.name, row.secret_digest, tuple(row.scopes.split()), row.created_at, row.disabled_at
    )


async def disable_client(conn: AsyncConnection, client_id: str, *, now: datetime) -> bool:
    result = await conn.execute(
        partner_clients.update()
        .where(partner_clients.c.client_id == client_id, partner_clients.c.disabled_at.is_(None))
        .values(disabled_at=now)
    )
    return result.rowcount == 1
