"""Settings changed at run time through the API (not configuration, which is read at start)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.tables import settings


async def read(conn: AsyncConnection, name: str) -> str | None:
    return await conn.scalar(sa.select(settings.c.value).where(settings.c.name == name))


async def write(conn: AsyncConnection, name: str, value: str) -> None:
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    statement = insert(settings).values(name=name, value=value)
    await conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": value}))
