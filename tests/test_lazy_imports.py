"""What the default configuration does not use is not imported when the app is built (issue 13: a
worker ready in 2 s, holding at most 120 MB): each package here cost start-up time and memory."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty.config import Settings
from loyalty.datasources.migrations import head_revision, upgrade_to_head
from loyalty.services.container import Services

BUILD_THE_APP = """
import json, sys
from loyalty.app import create_app
create_app()
print(json.dumps(sorted(sys.modules)))
"""

NOT_IMPORTED = {
    "coredis": "Redis (rate limits shared across instances): only with LOYALTY_REDIS_URL",
    "beartype": "coredis type-checks itself with it",
    "pympler": "coredis's cache sizes itself with it",
    "httpx": "fetching an external OpenID Connect issuer's keys: only with LOYALTY_OIDC_ISSUER",
    "click": "httpx's command line",
    "alembic": "migrations: `loyalty migrate`, and /readyz once asked",
    "mako": "Alembic's script templates",
    "pygments": "Mako's error pages",
    "jinja2": "email templates: imported with the first message rendered",
    "aiosmtplib": "sending email over SMTP: only with LOYALTY_EMAIL_SENDER=smtp",
    "email_validator": "checking an email address: imported with the first one checked",
    "aioboto3": "the DynamoDB log store and SES: only when chosen",
    "boto3": "the DynamoDB log store and SES: only when chosen",
    "botocore": "the DynamoDB log store and SES: only when chosen",
}


@pytest.fixture(scope="module")
def modules_after_building_the_app(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules a fresh interpreter holds once it built the app with the default settings."""
    data_dir: Path = tmp_path_factory.mktemp("data")
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")}
    env["LOYALTY_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-c", BUILD_THE_APP],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("package", sorted(NOT_IMPORTED))
def test_the_default_configuration_does_not_import(
    modules_after_building_the_app: set[str], package: str
) -> None:
    assert package not in modules_after_building_the_app, NOT_IMPORTED[package]


def test_the_check_sees_what_the_app_does_import(modules_after_building_the_app: set[str]) -> None:
    """The subprocess really built the app: what every configuration uses is there."""
    assert {"loyalty.app", "strawberry", "sqlalchemy", "starlette"} <= modules_after_building_the_app


async def test_readiness_still_reads_the_schema_revision_with_alembic_imported_on_demand(
    tmp_path: Path, signing_key_pem: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    services = Services.build(
        Settings(database_url=url, data_dir=tmp_path, jwt_private_key=signing_key_pem, argon2_memory_kib=8)
    )
    try:
        assert await services.readiness() is None
        async with services.db.transaction() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))

        assert await services.readiness() == f"database schema at 0001, code expects {head_revision()}"
    finally:
        await services.close()
