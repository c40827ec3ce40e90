"""Partner clients: created and disabled from the command line, authenticated at the token endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loyalty.auth.permissions import Scope
from loyalty.auth.principal import Origin, PartnerPrincipal
from loyalty.auth.tokens import TokenIssuer, secret_digest
from loyalty.datasources import partner_clients
from loyalty.datasources.database import Database
from loyalty.datasources.partner_clients import PartnerClientRecord
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, ServiceError
from loyalty.services.principals import PrincipalDirectory
from loyalty.services.validation import Problems

CLIENT_ID_PREFIX = "pc_"


@dataclass(frozen=True, slots=True)
class NewPartnerClient:
    client_id: str
    secret: str  # shown once; only its digest is stored
    name: str
    scopes: tuple[str, ...]


def parse_scopes(text: str | Sequence[str]) -> tuple[str, ...]:
    """Scopes from "a b" or ["a", "b"]; refuses any that is not a known scope."""
    values = text.split() if isinstance(text, str) else [part for item in text for part in item.split()]
    known = {scope.value for scope in Scope}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ServiceError.of(
            ErrorCode.VALIDATION, f"unknown scopes {unknown}; known: {sorted(known)}", "scopes"
        )
    if not values:
        raise ServiceError.of(ErrorCode.VALIDATION, "at least one scope is needed", "scopes")
    return tuple(sorted(set(values)))


class PartnerService:
    def __init__(self, db: Database, tokens: TokenIssuer, principals: PrincipalDirectory, audit: AuditTrail):
        self._db = db
        self._tokens = tokens
        self._principals = principals
        self._audit = audit

    async def create_client(self, name: str, scopes: str | Sequence[str]) -> NewPartnerClient:
        check = Problems()
        name = check.name("name", name)
        check.raise_any()
        granted = parse_scopes(scopes)
        client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(12)
        secret = secrets.token_urlsafe(32)
        async with self._db.transaction() as conn:
            await partner_clients.insert_client(
                conn,
                client_id=client_id,
                name=name,
                secret_digest=secret_digest(secret),
                scopes=granted,
                now=datetime.now(UTC),
            )
        return NewPartnerClient(client_id, secret, name, granted)

    async def disable_client(self, client_id: str) -> bool:
        async with self._db.transaction() as conn:
            disabled = await partner_clients.disable_client(conn, client_id, now=datetime.now(UTC))
        self._principals.forget_client(client_id)
        return disabled

    async def find_active_client(self, client_id: str) -> PartnerClientRecord | None:
        """The client a token request names, if active: cached with the principals (a disabled client
        gets no token here at once, on other instances within LOYALTY_PRINCIPAL_CACHE_SECONDS)."""
        return await self._principals.active_client(client_id)

    def issue_token(self, record: PartnerClientRecord, scopes: Sequence[str]) -> dict[str, Any]:
        """The client-credentials token response: a JWT carrying the granted scopes."""
        scope = " ".join(sorted(scopes))
        token = self._tokens.issue_access_token(
            f"client:{record.client_id}", extra={"client_id": record.client_id, "scope": scope}
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self._tokens.access_ttl_seconds,
            "scope": scope,
        }

    async def record_token_request(
        self, origin: Origin, *, client: PartnerClientRecord | None, claimed_id: str | None, error: str | None
    ) -> None:
        """Log a token request (issued, or refused with its OAuth error code)."""
        principal = (
            PartnerPrincipal(client.client_id, client.name, frozenset(Scope(s) for s in client.scopes))
            if client is not None and error is None
            else None
        )
        entry = self._audit.entry(
            principal,
            origin,
            action="auth.client_token",
            outcome="SUCCESS" if error is None else "FAILED",
            target_type="partner_client",
            target_id=(claimed_id or "")[:64] or None,
            details={"error": error} if error else None,
        )
        if error is None:
            await self._audit.record_alone(entry)
        else:  # a caller may repeat a refused request at will: repeats are summarized, the first kept
            await self._audit.record_repeated(entry, key=(origin.source_ip, entry.target_id, error))
