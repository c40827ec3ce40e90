"""One-time links that let staff set a password: invitations (72 hours) and resets (1 hour).

A link's token is 32 random bytes, URL-safe; only its SHA-256 is stored, so the table yields nothing
usable (a slow hash buys nothing for 256 random bits). The email goes through the outbox in the
transaction that made the link, so a change that rolls back sends nothing. A new link of a purpose
revokes the user's older open ones. A reset link is short-lived because it is asked for by whoever
knows an email address; an invitation waits for a new colleague to read their mail.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.tokens import secret_digest
from loyalty.datasources import password_links
from loyalty.datasources.password_links import LinkRecord
from loyalty.datasources.records import UserRecord
from loyalty.services.notifications import Notifier

INVITATION_VALID_FOR = timedelta(hours=72)
RESET_VALID_FOR = timedelta(hours=1)


class LinkPurpose(StrEnum):
    INVITATION = "INVITATION"
    RESET = "RESET"


_VALID_FOR = {LinkPurpose.INVITATION: INVITATION_VALID_FOR, LinkPurpose.RESET: RESET_VALID_FOR}
_PAGE = {LinkPurpose.INVITATION: "accept-invitation", LinkPurpose.RESET: "reset-password"}


class PasswordLinks:
    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def invite(self, conn: AsyncConnection, user: UserRecord, *, invited_by: str | None) -> datetime:
        """Make an invitation for ``user`` and queue its email, in ``conn``'s transaction; when it expires."""
        link_id, token, expires_at = await self._issue(conn, user, LinkPurpose.INVITATION)
        await self._notifier.enqueue(
            conn,
            event=f"auth.invitation:{link_id}",
            recipients=[user.email],
            template="staff_invitation",
            context={
                "first_name": user.first_name,
                "email": user.email,
                "role": user.role,
                "invited_by": invited_by,
                "link_url": self._notifier.templates.password_link_url(_PAGE[LinkPurpose.INVITATION], token),
                "valid_hours": int(INVITATION_VALID_FOR.total_seconds() // 3600),
            },
        )
        return expires_at

    async def send_reset(
        self, conn: AsyncConnection, user: UserRecord, *, forced_by: str | None = None
    ) -> datetime:
        """Make a reset link for ``user`` and queue its email (``forced_by``: the owner who forced it)."""
        link_id, token, expires_at = await self._issue(conn, user, LinkPurpose.RESET)
        await self._notifier.enqueue(
            conn,
            event=f"auth.reset:{link_id}",
            recipients=[user.email],
            template="password_reset",
            context={
                "first_name": user.first_name,
                "email": user.email,
                "forced": forced_by is not None,
                "forced_by": forced_by,
                "link_url": self._notifier.templates.password_link_url(_PAGE[LinkPurpose.RESET], token),
                "valid_minutes": int(RESET_VALID_FOR.total_seconds() // 60),
            },
        )
        return expires_at

    @staticmethod
    async def find(
        conn: AsyncConnection, token: str, purpose: LinkPurpose | None = None
    ) -> LinkRecord | None:
        """The open link ``token`` names (of ``purpose``, when given), or ``None``."""
        if not 1 <= len(token) <= 128:
            return None
        link = await password_links.fetch_open_link(conn, secret_digest(token), now=datetime.now(UTC))
        return link if link is not None and (purpose is None or link.purpose == purpose) else None

    @staticmethod
    async def _issue(
        conn: AsyncConnection, user: UserRecord, purpose: LinkPurpose
    ) -> tuple[uuid.UUID, str, datetime]:
        """A new link's id, token and expiry; links that expired are forgotten on the way."""
        now = datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        expires_at = now + _VALID_FOR[purpose]
        await password_links.purge_links(conn, before=now)
        link_id = await password_links.insert_link(
            conn,
            user_id=user.id,
            purpose=purpose.value,
            token_digest=secret_digest(token),
            now=now,
            expires_at=expires_at,
        )
        return link_id, token, expires_at
