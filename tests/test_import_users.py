"""``loyalty import-users``: customers from a CSV file, checked as enrollUser checks them, once each.

Run on SQLite and PostgreSQL (the ``services`` fixture), through the service and, for the command's
report, as a subprocess."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loyalty.datasources import points, users
from loyalty.datasources.tables import log_entries, points_transactions
from loyalty.services.container import Services
from loyalty.services.errors import ServiceError
from loyalty.services.user_imports import ImportReport, Rejection, UserImport

HEADER = "email,first_name,last_name,role,points\n"


async def run_import(
    services: Services, text: str, *, batch_rows: int = 1_000
) -> tuple[ImportReport, list[Rejection]]:
    rejections: list[Rejection] = []
    importer = UserImport(services.db, services.audit, batch_rows=batch_rows)
    report = await importer.run(io.StringIO(text), source="test.csv", on_reject=rejections.append)
    return report, rejections


async def stored(services: Services, email: str) -> dict[str, Any] | None:
    """The user with ``email``, their default account's balance and its ledger rows, or ``None``."""
    async with services.db.transaction() as conn:
        user = await users.fetch_user_by_email(conn, email)
        if user is None:
            return None
        [account] = (await points.accounts_by_user(conn, [user.id]))[user.id]
        ledger = (
            await conn.execute(
                sa.select(points_transactions.c.kind, points_transactions.c.amount).where(
                    points_transactions.c.account_id == account.id
                )
            )
        ).all()
    return {
        "user": user,
        "program": account.program,
        "balance": account.balance,
        "ledger": [tuple(row) for row in ledger],
    }


async def import_log_entries(services: Services) -> list[dict[str, Any]]:
    async with services.db.transaction() as conn:
        rows = await conn.execute(
            sa.select(log_entries.c.details).where(log_entries.c.action == "user.import")
        )
        return [row[0] for row in rows]


async def test_valid_rows_are_imported_with_accounts_and_opening_balances(services: Services) -> None:
    text = HEADER + "ann@example.com,Ann,Lee,USER,250\nbob@example.com,Bob,Ray,,\n"

    report, rejections = await run_import(services, text)

    assert (report.imported, report.skipped_existing, report.rejected) == (2, 0, 0)
    assert rejections == []
    ann = await stored(services, "ann@example.com")
    assert ann is not None
    assert (ann["user"].first_name, ann["user"].last_name, ann["user"].role.value) == ("Ann", "Lee", "USER")
    assert (ann["program"], ann["balance"], ann["ledger"]) == ("default", 250, [("ADD", 250)])
    bob = await stored(services, "bob@example.com")
    assert bob is not None
    assert (bob["balance"], bob["ledger"]) == (0, [])


async def test_the_columns_role_and_points_are_optional(services: Services) -> None:
    report, _ = await run_import(services, "last_name,email,first_name\nLee,ann@example.com,Ann\n")

    assert report.imported == 1
    ann = await stored(services, "ann@example.com")
    assert ann is not None
    assert ann["balance"] == 0


async def test_bad_rows_are_rejected_with_their_line_and_reason_and_the_rest_imported(
    services: Services,
) -> None:
    text = (
        HEADER
        + "not-an-email,A,B,,\n"  # line 2
        + "c@example.com,,B,,\n"  # line 3
        + "d@example.com,D,B,SUPERUSER,\n"  # line 4
        + "e@example.com,E,B,,-1\n"  # line 5
        + "f@example.com,F,B,,lots\n"  # line 6
        + "g@example.com,G,B\n"  # line 7
        + "ok@example.com,O,K,,\n"  # line 8
    )

    report, rejections = await run_import(services, text)

    assert (report.imported, report.rejected) == (1, 6)
    reasons = {rejection.line: rejection.reason for rejection in rejections}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2].startswith("email: is not a valid email address")
    assert reasons[3] == "first_name: must not be blank"
    assert reasons[4].startswith("role: must be one of")
    assert reasons[5] == "points: must be between 0 and 1000000000"
    assert reasons[6] == "points: must be a whole number"
    assert reasons[7] == "has 3 fields; the header has 5"
    assert await stored(services, "c@example.com") is None


async def test_staff_rows_are_refused(services: Services) -> None:
    report, [rejection] = await run_import(services, HEADER + "boss@example.com,B,O,OWNER,\n")

    assert report.imported == 0
    assert rejection.reason.startswith("role: staff are enrolled one at a time with enrollUser")
    assert await stored(services, "boss@example.com") is None


async def test_a_rerun_skips_every_row_and_changes_nothing(services: Services) -> None:
    text = HEADER + "ann@example.com,Ann,Lee,,100\nbob@example.com,Bob,Ray,,\n"
    await run_import(services, text)

    report, rejections = await run_import(services, text)

    assert (report.imported, report.skipped_existing, report.rejected) == (0, 2, 0)
    assert report.skipped_lines == [2, 3]
    assert rejections == []
    ann = await stored(services, "ann@example.com")
    assert ann is not None
    assert (ann["balance"], ann["ledger"]) == (100, [("ADD", 100)])


async def test_an_email_differing_only_in_case_from_a_users_is_skipped(services: Services) -> None:
    await run_import(services, HEADER + "Ann.Lee@Example.com,Ann,Lee,,\n")

    report, _ = await run_import(services, HEADER + "ann.lee@example.COM,Other,Person,,500\n")

    assert (report.imported, report.skipped_existing) == (0, 1)
    ann = await stored(services, "ann.lee@example.com")
    assert ann is not None
    assert (ann["user"].first_name, ann["balance"]) == ("Ann", 0)


async def test_a_second_row_with_the_same_email_in_one_file_is_rejected(services: Services) -> None:
    text = HEADER + "ann@example.com,Ann,Lee,,\nbob@example.com,Bob,Ray,,\nANN@example.com,Ann,Again,,\n"

    report, [rejection] = await run_import(services, text, batch_rows=2)  # the duplicate in a later batch

    assert (report.imported, report.rejected) == (2, 1)
    assert (rejection.line, rejection.reason) == (4, "email: the same as on line 2")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("email,first_name,role\n", "lacks the column last_name"),
        ("email,first_name,last_name,pionts\n", "has the unknown column 'pionts'"),
        ("email,first_name,last_name,email\n", "names a column twice"),
    ],
)
async def test_a_bad_header_refuses_the_whole_file(services: Services, header: str, problem: str) -> None:
    with pytest.raises(ServiceError, match=problem):
        await run_import(services, header + "ann@example.com,Ann,Lee\n")

    assert await stored(services, "ann@example.com") is None


async def test_an_empty_file_is_refused(services: Services) -> None:
    with pytest.raises(ServiceError, match="the file is empty"):
        await run_import(services, "")


async def test_a_file_of_no_rows_imports_nothing(services: Services) -> None:
    report, rejections = await run_import(services, HEADER + "\n\n")

    assert (report.imported, report.skipped_existing, report.rejected, report.batches) == (0, 0, 0, 0)
    assert rejections == []
    assert await import_log_entries(services) == []


async def test_each_batch_writes_one_activity_log_entry(services: Services) -> None:
    text = HEADER + "".join(f"user{index}@example.com,U,{index},,{index}\n" for index in range(5))

    report, _ = await run_import(services, text, batch_rows=2)

    assert report.batches == 3
    entries = sorted(await import_log_entries(services), key=lambda details: details["batch"])
    assert [(entry["batch"], entry["lines"], entry["imported"]) for entry in entries] == [
        (1, [2, 3], 2),
        (2, [4, 5], 2),
        (3, [6, 6], 1),
    ]
    assert {entry["source"] for entry in entries} == {"test.csv"}


def test_the_command_reports_and_writes_the_rejected_rows(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "users.csv"
    source.write_text(
        HEADER + "ann@example.com,Ann,Lee,,10\nbad,B,C,,\n", encoding="utf-8-sig"
    )  # a BOM, as Excel writes
    rejects = tmp_path / "rejects.csv"
    environment = {**os.environ, "LOYALTY_DATABASE_URL": database_url, "LOYALTY_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "loyalty.cli", "import-users", str(source)]

    first = subprocess.run(
        [*command, "--rejects", str(rejects)], env=environment, capture_output=True, text=True, timeout=120
    )
    again = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)

    assert first.returncode == 2, first.stderr  # some rows were rejected
    assert "line 3: rejected (bad): email: is not a valid email address" in first.stdout
    assert "Imported 1, skipped 0 existing, rejected 1" in first.stdout
    assert list(csv.reader(rejects.open())) == [
        ["line", "email", "reason"],
        ["3", "bad", "email: is not a valid email address: An email address must have an @-sign."],
    ]
    assert "Imported 0, skipped 1 existing, rejected 1" in again.stdout


def test_the_command_refuses_a_bad_header_and_imports_nothing(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text("email,name\nann@example.com,Ann\n")
    environment = {**os.environ, "LOYALTY_DATABASE_URL": database_url, "LOYALTY_DATA_DIR": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "import-users", str(source)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "lacks the column first_name" in result.stderr
    assert "nothing was imported" in result.stderr


def test_the_command_stops_at_bytes_that_are_not_utf8(sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_bytes(b"email,first_name,last_name\nann@example.com,\xff\xfe,Lee\n")
    environment = {**os.environ, "LOYALTY_DATABASE_URL": sqlite_url, "LOYALTY_DATA_DIR": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "import-users", str(source)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "is not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
