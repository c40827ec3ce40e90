"""Builds the services of one running application from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.auth.oidc import OidcVerifier
from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.signing_keys import SigningKeys
from loyalty.auth.tokens import TokenIssuer
from loyalty.config import Settings
from loyalty.datasources.database import Database
from loyalty.datasources.log_sql import SqlLogStore
from loyalty.datasources.log_store import LogStore
from loyalty.datasources.migrations import current_revision, head_revision
from loyalty.services.accounts import AccountService
from loyalty.services.activity_log import ActivityLog, OutboxShipper
from loyalty.services.approvals import ApprovalService
from loyalty.services.audit import AuditTrail
from loyalty.services.notifications import EmailWorker, build_notifications
from loyalty.services.partners import PartnerService
from loyalty.services.password_links import PasswordLinks
from loyalty.services.points import PointsService
from loyalty.services.principals import ExternalIssuer, PrincipalDirectory
from loyalty.services.proposals import Proposals
from loyalty.services.sessions import SessionService
from loyalty.services.users import UserService


@dataclass(frozen=True, slots=True)
class Services:
    db: Database
    tokens: TokenIssuer
    principals: PrincipalDirectory
    sessions: SessionService
    users: UserService
    points: PointsService
    audit: AuditTrail
    activity_log: ActivityLog
    shipper: OutboxShipper
    partners: PartnerService
    approvals: ApprovalService
    email_worker: EmailWorker
    accounts: AccountService

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(
            settings.resolved_database_url, echo=settings.sql_echo, pool_size=settings.database_pool_size
        )
        hashing = PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        tokens = TokenIssuer(
            SigningKeys.load(
                settings.jwt_private_key, settings.data_dir, reload_seconds=settings.jwt_key_reload_seconds
            ),
            issuer=settings.issuer,
            access_ttl_seconds=settings.access_token_seconds,
        )
        external = (
            ExternalIssuer(
                OidcVerifier(
                    issuer=settings.oidc_issuer,
                    audience=settings.oidc_audience or "",
                    role_claim=settings.oidc_role_claim,
                    jwks_url=settings.oidc_jwks_url,
                ),
                role_from_claim=settings.oidc_role_from_claim,
            )
            if settings.oidc_issuer
            else None
        )
        store = log_store(settings, db)
        in_database = isinstance(store, SqlLogStore)
        audit = AuditTrail(
            db, into_log_entries=in_database, refusal_window_seconds=settings.refusal_log_window_seconds
        )
        principals = PrincipalDirectory(
            db, tokens, audit, cache_seconds=settings.principal_cache_seconds, external=external
        )
        activity_log = ActivityLog(db, store, audit)
        # With the SQL store the shipper only ships what an earlier version left in the outbox, and purges.
        shipper = OutboxShipper(db, store, activity_log, create_store=settings.dynamodb_endpoint is not None)
        if not in_database:
            audit.on_recorded = shipper.notify
        notifier, email_worker = build_notifications(settings, db)
        proposals = Proposals(db, notifier)
        links = PasswordLinks(notifier)
        users = UserService(db, hashing, principals, audit, proposals, links)
        points = PointsService(db, audit, proposals, notifier)
        sessions = SessionService(
            db,
            hashing,
            tokens,
            audit,
            refresh_token_days=settings.refresh_token_days,
            address_attempts=settings.sign_in_address_attempts,
        )
        return cls(
            db=db,
            tokens=tokens,
            principals=principals,
            sessions=sessions,
            users=users,
            points=points,
            audit=audit,
            activity_log=activity_log,
            shipper=shipper,
            partners=PartnerService(db, tokens, principals, audit),
            approvals=ApprovalService(db, audit, users, points, principals, notifier),
            email_worker=email_worker,
            accounts=AccountService(db, hashing, sessions, links, audit, principals),
        )

    async def readiness(self) -> str | None:
        """Why the service cannot take traffic, or ``None`` when the database is reachable and current."""
        try:
            async with self.db.read() as conn:
                revision = await current_revision(conn)
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            return f"database unreachable: {type(error).__name__}"
        if revision != head_revision():
            return f"database schema at {revision}, code expects {head_revision()}"
        return None

    async def close(self) -> None:
        await self.accounts.settle()  # reset emails asked for, before the worker's last round
        await self.email_worker.close()
        await self.audit.flush()  # the counts of repeated refusals, before the shipper's last round
        await self.shipper.stop()
        await self.activity_log.close()
        await self.principals.close()
        await self.db.dispose()


def log_store(settings: Settings, db: Database) -> LogStore:
    """The store ``LOYALTY_LOG_STORE`` names."""
    if settings.log_store == "dynamodb":
        from loyalty.datasources.log_dynamo import DynamoLogStore

        return DynamoLogStore(
            table_name=settings.dynamodb_table,
            endpoint_url=settings.dynamodb_endpoint,
            region=settings.aws_region,
        )
    return SqlLogStore(db)
