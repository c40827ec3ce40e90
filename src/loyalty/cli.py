"""The ``loyalty`` command: serve, migrate, create-owner, partner clients, create-log-table, schema,
worker and its email commands, rotate-key and import-users."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from loyalty.config import Settings

if TYPE_CHECKING:
    from loyalty.services.container import Services
    from loyalty.services.notifications import EmailWorker

T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "\n".join(
            f"  LOYALTY_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors()
        )
        sys.exit(f"Configuration error:\n{problems}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


# glibc hands a freed block back to the OS only when it was mmapped, and it raises its mmap threshold
# to the largest block freed: after the first password check, each Argon2 buffer (19 MiB) came from
# the heap and stayed resident for good (measured: a worker at 121 MB after one sign-in instead of
# 102). A fixed threshold keeps the large buffers mmapped; smaller blocks stay on the fast heap.
MMAP_THRESHOLD_BYTES = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def _return_large_blocks_to_the_os() -> None:
    """Fix glibc's mmap threshold in this process and in the workers uvicorn starts (no-op elsewhere)."""
    import ctypes
    import os

    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD_BYTES))  # read by new processes
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def serve(args: argparse.Namespace) -> None:
    import signal

    import uvicorn

    from loyalty.observability.logs import configure_logging

    settings = _settings()
    if settings.metrics_port is not None and args.workers > 1:
        # Each worker would bind the port, and a scrape would see one worker's figures: scale out
        # with more single-worker instances (one container each) instead.
        sys.exit("LOYALTY_METRICS_PORT serves one process's metrics: run --workers 1, or turn metrics off.")
    configure_logging(settings.log_format, settings.log_level)  # the workers set theirs up as they start
    _return_large_blocks_to_the_os()
    # On SIGTERM uvicorn lets in-flight requests finish and the app shut down (the email worker and
    # the log shipper stop cleanly), then raises the signal again under this handler. A shutdown that
    # completed exits 0, not 143, so container supervisors do not report it as a crash.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    uvicorn.run(
        "loyalty.app:create_served_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # loyalty.access logs each request, with its id, principal and operation
        log_config=None,  # uvicorn's loggers propagate to the handler configure_logging installed
        proxy_headers=False,  # X-Forwarded-For is read by the app, from trusted proxies only
        # Then the app shuts down: keep the sum under the stop timeout (ECS: 30 s by default).
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )


def migrate(_args: argparse.Namespace) -> None:
    from loyalty.datasources.migrations import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.resolved_database_url)
    print(f"Database is at the latest schema ({settings.resolved_database_url.split('@')[-1]}).")


def create_owner(args: argparse.Namespace) -> None:
    from loyalty.services.container import Services
    from loyalty.services.errors import ServiceError

    settings = _settings()
    email = args.email or settings.admin_email
    password = args.password or settings.admin_password
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(18)

    async def run() -> None:
        services = Services.build(settings)
        try:
            owner = await services.users.bootstrap_owner(email=email, password=password)
        except ServiceError as error:
            sys.exit(f"Cannot create the owner: {error}")
        finally:
            await services.close()
        if owner is None:
            print("An owner exists already; nothing to do.")
        elif generated:
            print(f"Created the first owner {owner.email} with the password {password}")
            print("It is shown only this once: keep it somewhere safe.")
        else:
            print(f"Created the first owner {owner.email}.")

    asyncio.run(run())


def create_log_table(_args: argparse.Namespace) -> None:
    from loyalty.datasources.log_dynamo import DynamoLogStore

    settings = _settings()

    async def run() -> bool:
        store = DynamoLogStore(
            table_name=settings.dynamodb_table,
            endpoint_url=settings.dynamodb_endpoint,
            region=settings.aws_region,
        )
        try:
            return await store.create_table()
        finally:
            await store.close()

    created = asyncio.run(run())
    state = "Created" if created else "Found"
    print(f"{state} the DynamoDB table {settings.dynamodb_table} (with TTL on expires_at).")


def _with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work(services)`` once, with the services of the configured settings."""
    from loyalty.services.container import Services

    async def run() -> T:
        services = Services.build(_settings())
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(run())


def create_partner_client(args: argparse.Namespace) -> None:
    from loyalty.services.errors import ServiceError

    try:
        client = _with_services(lambda services: services.partners.create_client(args.name, args.scopes))
    except ServiceError as error:
        sys.exit(f"Cannot create the client: {error}")
    print(f"client_id:     {client.client_id}")
    print(f"client_secret: {client.secret}")
    print(f"scopes:        {' '.join(client.scopes)}")
    print("The secret is shown only this once: hand it to the partner over a safe channel.")


def disable_partner_client(args: argparse.Namespace) -> None:
    if _with_services(lambda services: services.partners.disable_client(args.client_id)):
        print(f"Disabled {args.client_id}: its tokens stop working within a minute.")
    else:
        sys.exit(f"No active client {args.client_id}.")


def schema(args: argparse.Namespace) -> None:
    from loyalty.schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if args.check:
        committed = Path(args.check).read_text() if Path(args.check).exists() else ""
        if committed != sdl:
            sys.exit(f"{args.check} differs from the schema in code; run `loyalty schema -o {args.check}`.")
        print(f"{args.check} matches the schema in code.")
    elif args.output:
        Path(args.output).write_text(sdl)
        print(f"Wrote {args.output}.")
    else:
        sys.stdout.write(sdl)


def worker(_args: argparse.Namespace) -> None:
    import signal

    from loyalty.services.container import Services

    settings = _settings()

    async def run() -> None:
        services = Services.build(settings)
        email_worker = services.email_worker
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        email_worker.start()
        services.shipper.start()
        print(
            f"Worker running: sending email ({settings.email_sender}) and shipping the activity log "
            f"({settings.log_store}). Stop it with Ctrl-C or SIGTERM.",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await email_worker.close()
            await services.close()
        print("Worker stopped.", flush=True)

    asyncio.run(run())


def _with_email_worker(work: Callable[[EmailWorker], Awaitable[T]]) -> T:
    """Run ``work(email_worker)`` once, on the configured database (nothing is sent)."""
    from loyalty.datasources.database import Database
    from loyalty.services.notifications import build_notifications

    settings = _settings()

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        _, email_worker = build_notifications(settings, db)
        try:
            return await work(email_worker)
        finally:
            await email_worker.close()
            await db.dispose()

    return asyncio.run(run())


def email_failed(args: argparse.Namespace) -> None:
    messages = _with_email_worker(lambda email_worker: email_worker.failed_messages(limit=args.limit))
    if not messages:
        print("No failed messages.")
        return
    for message in messages:
        print(f"{message.id}  {message.recipient}  attempts: {message.attempts}")
        print(f"    subject:    {message.subject}")
        print(f"    last error: {message.last_error or '-'}")
    print(f"{len(messages)} failed message(s); re-queue with `loyalty email-retry ID...` or `--all`.")


def email_retry(args: argparse.Namespace) -> None:
    import uuid

    try:
        ids = None if args.all else [uuid.UUID(text) for text in args.ids]
    except ValueError as error:
        sys.exit(f"Not a message id: {error}")
    requeued = _with_email_worker(lambda email_worker: email_worker.requeue(ids))
    print(f"Re-queued {len(requeued)} message(s); the worker sends them next.")
    missed = [str(message_id) for message_id in ids or [] if message_id not in set(requeued)]
    if missed:
        sys.exit(f"Not failed (or unknown), left alone: {', '.join(missed)}")


def _key_file(args: argparse.Namespace, settings: Settings) -> Path:
    """The bundle to edit: ``--file``, else the file ``LOYALTY_JWT_PRIVATE_KEY`` names, else the data
    directory's. A key given as text (a secret in the environment) is edited as a file and put back."""
    from loyalty.auth.signing_keys import KEY_FILE

    if args.file:
        return Path(args.file)
    if settings.jwt_private_key and "-----BEGIN" in settings.jwt_private_key:
        sys.exit(
            "LOYALTY_JWT_PRIVATE_KEY holds the keys as text: save them to a file, run this with --file,"
            " and store the file back (docs/operations.md: Rotating the signing key)."
        )
    return Path(settings.jwt_private_key) if settings.jwt_private_key else settings.data_dir / KEY_FILE


def rotate_key_start(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime, timedelta

    from loyalty.auth.signing_keys import RotationRefused, start_rotation

    path = _key_file(args, _settings())
    try:
        key = start_rotation(path, delay=timedelta(seconds=args.delay), now=datetime.now(UTC))
    except RotationRefused as error:
        sys.exit(str(error))
    assert key.signs_from is not None
    print(f"Added the key {key.kid} to {path}: published now, signing from {key.signs_from:%H:%M:%S} UTC.")
    print("Run `loyalty rotate-key finish` once it has signed for the access tokens' lifetime.")


def rotate_key_finish(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime, timedelta

    from loyalty.auth.signing_keys import RotationRefused, finish_rotation
    from loyalty.auth.tokens import LEEWAY_SECONDS

    settings = _settings()
    path = _key_file(args, settings)
    try:
        retired = finish_rotation(
            path,
            access_ttl=timedelta(seconds=settings.access_token_seconds),
            leeway=timedelta(seconds=LEEWAY_SECONDS),
            now=datetime.now(UTC),
            force=args.force,
        )
    except (RotationRefused, FileNotFoundError) as error:
        sys.exit(str(error))
    print(f"Retired {', '.join(key.kid for key in retired)} from {path}: no longer published or accepted.")


def import_users(args: argparse.Namespace) -> None:
    import csv

    from loyalty.services.errors import ServiceError
    from loyalty.services.user_imports import ImportReport, Rejection, UserImport

    path = Path(args.file)
    try:
        lines = path.open(newline="", encoding="utf-8-sig")  # Excel starts its CSV with a BOM
        rejects_file = open(args.rejects, "w", newline="") if args.rejects else None  # noqa: SIM115
    except OSError as error:
        sys.exit(f"Cannot open {error.filename}: {error.strerror}")
    rejects = csv.writer(rejects_file) if rejects_file else None
    if rejects:
        rejects.writerow(["line", "email", "reason"])
    shown = 0

    def rejected(rejection: Rejection) -> None:
        nonlocal shown
        if rejects:
            rejects.writerow([rejection.line, rejection.email, rejection.reason])
        if shown < args.show:
            print(f"line {rejection.line}: rejected ({rejection.email}): {rejection.reason}")
            shown += 1

    def run(lines: Iterable[str]) -> Callable[[Services], Awaitable[ImportReport]]:
        # Read as the import goes: a CLI run has nothing else for the event loop to do meanwhile.
        return lambda services: UserImport(services.db, services.audit).run(
            lines, source=path.name, on_reject=rejected
        )

    try:
        with lines:
            report = _with_services(run(lines))
    except UnicodeDecodeError as error:
        sys.exit(f"{path} is not UTF-8 ({error}); the batches before it were imported (a re-run skips them).")
    except ServiceError as error:
        sys.exit(f"{path}: {error}; nothing was imported.")
    finally:
        if rejects_file:
            rejects_file.close()
    if report.skipped_lines:
        more = ", ..." if report.skipped_existing > len(report.skipped_lines) else ""
        print(
            f"Skipped (an active user has the email): lines {', '.join(map(str, report.skipped_lines))}{more}"
        )
    print(
        f"Imported {report.imported}, skipped {report.skipped_existing} existing, rejected {report.rejected}"
        f" ({report.batches} batch(es))."
        + (f" Rejected rows written to {args.rejects}." if args.rejects else "")
    )
    if report.rejected:
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="loyalty", description="The loyalty back office GraphQL server.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="serve GraphQL (and GraphiQL) over HTTP")
    serve_parser.add_argument("--host", help="default: LOYALTY_HOST or 127.0.0.1")
    serve_parser.add_argument("--port", type=int, help="default: LOYALTY_PORT or 8000")
    serve_parser.add_argument("--workers", type=int, default=1)
    serve_parser.set_defaults(run=serve)

    commands.add_parser("migrate", help="apply the database migrations").set_defaults(run=migrate)

    owner_parser = commands.add_parser(
        "create-owner", help="create the first OWNER unless one exists (LOYALTY_ADMIN_EMAIL/PASSWORD)"
    )
    owner_parser.add_argument("--email", help="default: LOYALTY_ADMIN_EMAIL or owner@example.com")
    owner_parser.add_argument(
        "--password", help="default: LOYALTY_ADMIN_PASSWORD, else one is generated and printed"
    )
    owner_parser.set_defaults(run=create_owner)

    commands.add_parser(
        "create-log-table", help="create the activity log's DynamoDB table (LOYALTY_DYNAMODB_TABLE), TTL on"
    ).set_defaults(run=create_log_table)

    partner_parser = commands.add_parser(
        "create-partner-client", help="create a partner client; prints its id and secret once"
    )
    partner_parser.add_argument("--name", required=True)
    partner_parser.add_argument(
        "--scopes", nargs="+", required=True, help="users:read points:read points:credit points:debit"
    )
    partner_parser.set_defaults(run=create_partner_client)
    disable_parser = commands.add_parser("disable-partner-client", help="disable a partner client")
    disable_parser.add_argument("client_id")
    disable_parser.set_defaults(run=disable_partner_client)

    schema_parser = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    target = schema_parser.add_mutually_exclusive_group()
    target.add_argument("-o", "--output", help="write it to this file")
    target.add_argument("--check", metavar="FILE", help="fail if FILE differs from the schema in code")
    schema_parser.set_defaults(run=schema)

    commands.add_parser(
        "worker", help="send queued email and ship the activity log until interrupted"
    ).set_defaults(run=worker)
    failed_parser = commands.add_parser("email-failed", help="list email that could not be sent")
    failed_parser.add_argument("--limit", type=int, default=100)
    failed_parser.set_defaults(run=email_failed)
    retry_parser = commands.add_parser("email-retry", help="re-queue failed email")
    retry_targets = retry_parser.add_mutually_exclusive_group(required=True)
    retry_targets.add_argument("ids", nargs="*", default=[], metavar="ID", help="ids from email-failed")
    retry_targets.add_argument("--all", action="store_true", help="every failed message")
    retry_parser.set_defaults(run=email_retry)

    rotate_parser = commands.add_parser("rotate-key", help="rotate the access tokens' signing key")
    rotate_steps = rotate_parser.add_subparsers(dest="step", required=True)
    start_parser = rotate_steps.add_parser(
        "start", help="add a new key: published now, signing after --delay"
    )
    start_parser.add_argument(
        "--delay",
        type=float,
        default=15 * 60,
        help="seconds before it signs: longer than JWKS caches (5 min) and, with a secret, a deployment",
    )
    finish_parser = rotate_steps.add_parser("finish", help="retire the old key once its tokens have expired")
    finish_parser.add_argument("--force", action="store_true", help="now, refusing its unexpired tokens")
    for step_parser, run in ((start_parser, rotate_key_start), (finish_parser, rotate_key_finish)):
        step_parser.add_argument("--file", help="the PEM bundle to edit (default: where the server reads it)")
        step_parser.set_defaults(run=run)

    import_parser = commands.add_parser(
        "import-users", help="import customers from CSV: email,first_name,last_name[,role][,points]"
    )
    import_parser.add_argument("file", help="a CSV file with a header line (UTF-8)")
    import_parser.add_argument("--rejects", metavar="PATH", help="also write the rejected rows to this CSV")
    import_parser.add_argument("--show", type=int, default=20, help="rejected rows to print (default 20)")
    import_parser.set_defaults(run=import_users)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
