"""Alembic, driven from code: ``loyalty migrate`` and the readiness check use it.

Alembic is imported by the functions that use it, not with this module: with Mako and Pygments it
costs ~0.3 s and several MB, and a serving worker needs it only when ``/readyz`` is first asked.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every pending migration (synchronous: Alembic's env runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


@cache
def head_revision() -> str | None:
    """The newest revision of the scripts, read once per process (they do not change under it)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(conn: AsyncConnection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return await conn.run_sync(lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision())
