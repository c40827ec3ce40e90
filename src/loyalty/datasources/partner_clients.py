"""Partner clients: their hashed secrets and granted scopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.prepared import Connectable, Prepared
from loyalty.datasources.tables import partner_clients

_COLUMNS = (
    partner_clients.c.client_id,
    partner_clients.c.name,
    partner_clients.c.secret_digest,
    partner_clients.c.scopes,
    partner_clients.c.created_at,
    partner_clients.c.disabled_at,
)


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


_CLIENT = Prepared(sa.select(*_COLUMNS).where(partner_clients.c.client_id == sa.bindparam("client_id")))


async def fetch_client(on: Connectable, client_id: str) -> PartnerClientRecord | None:
    """The client, looked up on every token request and every partner call not yet cached: a prepared
    statement (on SQLite, one trip to the driver's thread)."""
    row = await _CLIENT.fetchrow(on, client_id=client_id)
    if row is None:
        return None
    client_id, name, secret_digest, scopes, created_at, disabled_at = row
    return PartnerClientRecord(client_id, name, secret_digest, tuple(scopes.split()), created_at, disabled_at)


async def disable_client(conn: AsyncConnection, client_id: str, *, now: datetime) -> bool:
    result = await conn.execute(
        partner_clients.update()
        .where(partner_clients.c.client_id == client_id, partner_clients.c.disabled_at.is_(None))
        .values(disabled_at=now)
    )
    return result.rowcount == 1
