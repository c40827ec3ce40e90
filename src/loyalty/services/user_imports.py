"""Importing customers from a CSV file (``loyalty import-users``).

Columns: ``email``, ``first_name``, ``last_name`` (required), ``role`` (default USER) and ``points``
(an opening balance of the default program's account). Each row is checked with the rules of
``enrollUser`` (:class:`~loyalty.services.validation.Problems`).

- **Idempotent by email**: a row whose email an active user holds (compared case-insensitively, as
  the unique index does) is skipped, so a re-run after a failure imports only what is missing. A
  second row with the same email in one file is rejected, naming the first row's line.
- **Customers only**: a staff row is rejected. Staff are enrolled one at a time through enrollUser,
  by an owner or with an approval, and choose their password through the invitation it sends; a
  file run from a shell has neither the principal nor the maker-checker those rules need.
- **Streaming**: rows are read and written in batches of 1,000, one transaction each, with one
  multi-row INSERT per table. Memory holds one batch and the emails seen so far (for duplicates).
- **One activity-log entry per batch** (``user.import``, in the batch's transaction): the log says
  which lines were imported by whom and when, and stays accurate if a run stops half-way, without
  writing 100,000 entries for one operator action. Rejected rows are the operator's report, not the
  log's: nothing was changed for them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loyalty.auth.permissions import Role
from loyalty.auth.principal import Origin
from loyalty.datasources import bulk_users
from loyalty.datasources.bulk_users import NewUser
from loyalty.datasources.database import Database
from loyalty.datasources.errors import DuplicateKey, unique_violations_as_duplicates
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, ServiceError
from loyalty.services.points import DEFAULT_PROGRAM, MAX_ADJUSTMENT
from loyalty.services.validation import Problems

REQUIRED_COLUMNS = ("email", "first_name", "last_name")
OPTIONAL_COLUMNS = ("role", "points")
BATCH_ROWS = 1_000
ACTOR_ID = "import-users"  # the ledger's actor for opening balances: no staff member made them
_ATTEMPTS = 3  # a batch whose email someone enrols meanwhile is read again and retried


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    email: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    skipped_existing: int = 0
    rejected: int = 0
    batches: int = 0
    skipped_lines: list[int] = field(default_factory=list)  # the first few, to show the operator

    MAX_SKIPPED_LINES = 20


@dataclass(frozen=True, slots=True)
class _Candidate:
    line: int
    key: str  # the email in lower case, as the unique index compares it
    user: NewUser


class UserImport:
    """Imports users from CSV text, ``batch_rows`` rows per transaction."""

    def __init__(self, db: Database, audit: AuditTrail, *, batch_rows: int = BATCH_ROWS) -> None:
        self._db = db
        self._audit = audit
        self._batch_rows = batch_rows

    async def run(
        self, lines: Iterable[str], *, source: str, on_reject: Callable[[Rejection], None]
    ) -> ImportReport:
        """Import the rows of ``lines`` (a CSV text with a header), calling ``on_reject`` for each
        refused row; a header without the required columns refuses the whole file (``ServiceError``)."""
        reader = csv.reader(lines)
        columns = _columns(next(reader, None))
        report = ImportReport()
        seen: dict[str, int] = {}  # email key -> line of its first row
        batch: list[_Candidate] = []
        for line, row in _numbered(reader):
            candidate = self._candidate(line, row, columns, seen)
            if isinstance(candidate, Rejection):
                report.rejected += 1
                on_reject(candidate)
            else:
                batch.append(candidate)
            if len(batch) >= self._batch_rows:
                await self._write(batch, report, source)
                batch = []
        if batch:
            await self._write(batch, report, source)
        return report

    @staticmethod
    def _candidate(
        line: int, row: list[str], columns: dict[str, int], seen: dict[str, int]
    ) -> _Candidate | Rejection:
        if len(row) != len(columns):
            email = row[columns["email"]] if len(row) > columns["email"] else ""
            return Rejection(line, email, f"has {len(row)} fields; the header has {len(columns)}")
        cell = {name: row[index] for name, index in columns.items()}
        check = Problems()
        email = check.email("email", cell["email"])
        first_name = check.name("first_name", cell["first_name"])
        last_name = check.name("last_name", cell["last_name"])
        role = _role(check, cell.get("role", ""))
        points = _points(check, cell.get("points", ""))
        try:
            check.raise_any()
        except ServiceError as error:
            reason = "; ".join(f"{problem.field}: {problem.message}" for problem in error.problems)
            return Rejection(line, cell["email"], reason)
        key = email.lower()
        if (first := seen.setdefault(key, line)) != line:
            return Rejection(line, email, f"email: the same as on line {first}")
        assert role is not None
        assert points is not None
        return _Candidate(line, key, NewUser(email, first_name, last_name, role, points))

    async def _write(self, batch: list[_Candidate], report: ImportReport, source: str) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                imported, skipped = await self._write_once(batch, source, report.batches + 1)
                break
            except DuplicateKey:
                if attempt == _ATTEMPTS - 1:
                    raise
        report.batches += 1
        report.imported += imported
        report.skipped_existing += len(skipped)
        room = ImportReport.MAX_SKIPPED_LINES - len(report.skipped_lines)
        report.skipped_lines.extend(skipped[: max(room, 0)])

    async def _write_once(self, batch: list[_Candidate], source: str, number: int) -> tuple[int, list[int]]:
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            taken = await bulk_users.taken_emails(conn, [candidate.key for candidate in batch])
            new = [candidate for candidate in batch if candidate.key not in taken]
            with unique_violations_as_duplicates():
                await bulk_users.insert_users_with_accounts(
                    conn,
                    [candidate.user for candidate in new],
                    program=DEFAULT_PROGRAM,
                    reason="opening balance (import)",
                    actor_id=ACTOR_ID,
                    now=now,
                )
            skipped = [candidate.line for candidate in batch if candidate.key in taken]
            details = {
                "source": source,
                "batch": number,
                "lines": [batch[0].line, batch[-1].line],
                "imported": len(new),
                "skippedExisting": len(skipped),
            }
            entry = self._audit.entry(
                None, Origin(), action="user.import", outcome="SUCCESS", target_type="user", details=details
            )
            await self._audit.record(conn, entry)
        self._audit.committed()
        return len(new), skipped


def _columns(header: list[str] | None) -> dict[str, int]:
    """Column name -> index; a header that lacks a required column or names an unknown one is refused
    (a misspelt ``pionts`` must not be ignored in silence)."""
    if header is None:
        raise ServiceError.of(ErrorCode.VALIDATION, "the file is empty: a header line is needed", "header")
    names = [name.strip().lower() for name in header]
    problems = Problems()
    for name in REQUIRED_COLUMNS:
        if name not in names:
            problems.add("header", f"lacks the column {name}")
    for name in names:
        if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            problems.add("header", f"has the unknown column {name!r}")
    if len(set(names)) != len(names):
        problems.add("header", "names a column twice")
    problems.raise_any()
    return {name: index for index, name in enumerate(names)}


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row with the line it starts on (a quoted field may span lines)."""
    start = 2  # the header is line 1
    for row in reader:
        line, start = start, reader.line_num + 1  # type: ignore[attr-defined]
        if any(cell.strip() for cell in row):
            yield line, row


def _role(check: Problems, text: str) -> Role | None:
    name = text.strip().upper() or Role.USER.value
    try:
        role = Role(name)
    except ValueError:
        check.add("role", f"must be one of {', '.join(role.value for role in Role)}")
        return None
    if role.is_staff:
        check.add("role", "staff are enrolled one at a time with enrollUser, which sends their invitation")
        return None
    return role


def _points(check: Problems, text: str) -> int | None:
    text = text.strip()
    try:
        points = int(text) if text else 0
    except ValueError:
        check.add("points", "must be a whole number")
        return None
    if not 0 <= points <= MAX_ADJUSTMENT:
        check.add("points", f"must be between 0 and {MAX_ADJUSTMENT}")
        return None
    return points
