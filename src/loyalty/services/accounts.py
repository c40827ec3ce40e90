"""Staff accounts that look after themselves: invitations, passwords, resets, signing out everywhere.

The rules:

- Staff choose their own passwords. Enrolling staff, or promoting a customer to staff (directly or by
  an approved request), sends an invitation (see ``UserService``): a one-time link, valid 72 hours.
  An owner or manager may send a new one (``resend_invitation``) while no password is set; it
  revokes the older one.
- A forgotten password is reset by an emailed one-time link, valid 1 hour. Asking for one always
  answers the same, after the same work, whether the email is a staff member's, a customer's, unknown
  or locked (the link and its email are made after the answer, in a task of their own); it spends
  budgets so the form cannot flood an inbox:
  ``reset_emails_per_email`` requests per email and ``reset_requests_per_address`` per address in
  ``RESET_WINDOW``, counted per string sent, known email or not. As with sign-ins, the budget on an
  email cannot be spent against its owner: addresses it has not signed in from share one, and each
  address it signed in from within ``KNOWN_ADDRESS_FOR`` (the owner's office, their laptop) has its own.
- Links (``PasswordLinks``) are single use: the link is spent by a conditional update in the
  transaction that sets the password, so of two parallel uses one wins and the other is told
  INVALID_LINK, like an unknown, used, revoked or expired link. Setting a password revokes the user's
  other open links.
- Changing a password needs the current one, checked like a sign-in (a wrong one counts toward the
  lockout, through ``SessionService``); it ends every other session and returns a fresh one.
- Resetting a password ends every session; signing out everywhere ends every session, access tokens
  included (the user's sessions epoch moves on, see ``PrincipalDirectory``: within
  ``LOYALTY_PRINCIPAL_CACHE_SECONDS`` everywhere, at once on this instance).
- An owner may force a reset (``FORCE_PASSWORD_RESET`` in the matrix), not on themselves (they change
  their password instead): the password is cleared, every session ends, and a reset link is emailed.
- Passwords are 12 to 1024 characters and not common (``loyalty.auth.password_policy``), WEAK_PASSWORD
  otherwise. Every action here is in the activity log, never with a token or a password.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.permissions import Access, Operation
from loyalty.auth.principal import Caller, Principal, StaffPrincipal
from loyalty.datasources import password_links, refresh_tokens, sign_in_attempts, users
from loyalty.datasources.database import Database
from loyalty.datasources.password_links import LinkRecord
from loyalty.datasources.records import UserRecord
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, Forbidden, ServiceError
from loyalty.services.password_links import LinkPurpose, PasswordLinks
from loyalty.services.principals import PrincipalDirectory
from loyalty.services.sessions import (
    KNOWN_ADDRESS_FOR,
    Session,
    SessionService,
    account_locked,
    email_key,
    source_key,
)
from loyalty.services.users import require_owner_rights_for
from loyalty.services.validation import Problems, parse_id

RESET_WINDOW = timedelta(hours=1)

logger = logging.getLogger("loyalty.accounts")


def _invalid_link() -> ServiceError:
    return ServiceError.of(ErrorCode.INVALID_LINK, "this link is unknown, used or expired", "token")


def _staff(principal: Principal) -> StaffPrincipal:
    if not isinstance(principal, StaffPrincipal):
        raise Forbidden("Only staff have passwords.")
    return principal


def _as_principal(user: UserRecord) -> StaffPrincipal:
    return StaffPrincipal(user.id, user.email, user.role)


class AccountService:
    def __init__(
        self,
        db: Database,
        hashing: PasswordHashing,
        sessions: SessionService,
        links: PasswordLinks,
        audit: AuditTrail,
        principals: PrincipalDirectory,
        *,
        reset_emails_per_email: int = 3,
        reset_requests_per_address: int = 10,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._sessions = sessions
        self._links = links
        self._audit = audit
        self._principals = principals
        self._per_email = reset_emails_per_email
        self._per_address = reset_requests_per_address
        self._sending: set[asyncio.Task[None]] = set()

    async def describe_link(self, token: str) -> LinkRecord | None:
        """The open link ``token`` names (for the console to show whose it is), or ``None``."""
        async with self._db.read() as conn:
            return await self._links.find(conn, token)

    async def accept_invitation(self, caller: Caller, token: str, password: str) -> Session:
        return await self._set_by_link(caller, token, password, LinkPurpose.INVITATION)

    async def reset_password(self, caller: Caller, token: str, password: str) -> Session:
        return await self._set_by_link(caller, token, password, LinkPurpose.RESET)

    async def _set_by_link(self, caller: Caller, token: str, password: str, purpose: LinkPurpose) -> Session:
        """Set the password a link is for, spend the link, and open a session (a reset ends the others)."""
        action = "auth.invitation_accepted" if purpose is LinkPurpose.INVITATION else "auth.password_reset"
        async with self._audit.attempt(caller, action, target_type="user") as attempt:
            async with self._db.read() as conn:
                link = await self._links.find(conn, token, purpose)
            if link is None:
                raise _invalid_link()
            attempt.target_id = str(link.user_id)
            check = Problems()
            check.password("password", password)
            check.raise_any()
            password_hash = await self._hashing.hash(password)
            now = datetime.now(UTC)
            async with self._db.transaction() as conn:
                if not await password_links.spend(conn, link.id, now=now):
                    raise _invalid_link()  # the other of two parallel uses won
                user = await users.set_password_hash(
                    conn, link.user_id, password_hash, end_sessions=purpose is LinkPurpose.RESET
                )
                if user is None or not user.role.is_staff:  # deleted or demoted since the link was sent
                    raise _invalid_link()
                if purpose is LinkPurpose.RESET:
                    await refresh_tokens.revoke_user_tokens(conn, user.id, now=now)
                await password_links.revoke_links(conn, user.id, now=now)
                session = await self._sessions.open_session(conn, user, now=now)
                attempt.actor = _as_principal(user)
                await attempt.succeeded(conn)
        self._principals.forget(user.id)
        return session

    async def request_password_reset(self, caller: Caller, email: str) -> None:
        """Email a reset link if ``email`` is a staff member's and the budgets allow. The request does
        the same work either way; the link and its email are made afterwards (see :meth:`settle`)."""
        key, source = email_key(email), source_key(caller.origin)
        now = datetime.now(UTC)
        staff: UserRecord | None = None
        async with self._db.transaction() as conn:
            await sign_in_attempts.serialize(conn, email_key=key, source_key=source)
            await password_links.purge_reset_requests(conn, before=now - RESET_WINDOW)
            on_email, from_address = await password_links.count_reset_requests(
                conn,
                email_key=key,
                source_key=source,
                since=now - RESET_WINDOW,
                known_since=now - KNOWN_ADDRESS_FOR,
            )
            within_budget = on_email < self._per_email and from_address < self._per_address
            if within_budget:
                await password_links.add_reset_request(conn, email_key=key, source_key=source, now=now)
                user = await users.fetch_user_by_email(conn, key) if len(email) <= 254 else None
                staff = user if user is not None and user.role.is_staff else None
                entry = self._audit.entry(
                    None, caller.origin, action="auth.password_reset_requested", outcome="SUCCESS",
                    actor_email=key, target_type="user", target_id=str(staff.id) if staff else None,
                    details={"sent": staff is not None},
                )  # fmt: skip
                await self._audit.record(conn, entry)
        if within_budget:
            self._audit.committed()
            if staff is not None:
                task = asyncio.create_task(self._send_reset(staff), name="password-reset-email")
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            return
        refused = self._audit.entry(
            None, caller.origin, action="auth.password_reset_requested", outcome="DENIED",
            actor_email=key, details={"reason": "budget", "sent": False},
        )  # fmt: skip
        await self._audit.record_repeated(refused, key=(source, key))

    async def _send_reset(self, user: UserRecord) -> None:
        try:
            async with self._db.transaction() as conn:
                await self._links.send_reset(conn, user)
        except Exception:
            logger.exception("the reset link asked for by %s could not be made", user.id)

    async def settle(self) -> None:
        """Wait until the reset links asked for so far are made and their emails queued."""
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def change_password(self, caller: Caller, current_password: str, new_password: str) -> Session:
        """Change the caller's password (the current one checked like a sign-in); every other session ends."""
        async with self._audit.attempt(caller, "auth.password_changed", target_type="user") as attempt:
            staff = _staff(attempt.principal)
            attempt.target_id = str(staff.user_id)
            check = Problems()
            check.password("newPassword", new_password)
            check.raise_any()
            reserved = await self._sessions.reserve_attempt(staff.email, caller.origin)
            if reserved.refused is not None:
                raise account_locked()
            user = await self._sessions.password_matches(reserved, current_password)
            if user is None or user.id != staff.user_id:
                raise ServiceError.of(
                    ErrorCode.INVALID_CREDENTIALS, "the current password is wrong", "currentPassword"
                )
            password_hash = await self._hashing.hash(new_password)
            now = datetime.now(UTC)
            async with self._db.transaction() as conn:
                await self._sessions.attempt_succeeded(conn, reserved)
                changed = await users.set_password_hash(conn, user.id, password_hash, end_sessions=True)
                if changed is None:  # deleted meanwhile
                    raise Forbidden("This account no longer exists.")
                await refresh_tokens.revoke_user_tokens(conn, user.id, now=now)
                await password_links.revoke_links(conn, user.id, now=now)
                session = await self._sessions.open_session(conn, changed, now=now)
                await attempt.succeeded(conn)
        self._principals.forget(user.id)
        return session

    async def sign_out_everywhere(self, caller: Caller) -> None:
        """End every session of the caller: refresh tokens revoked, access tokens refused."""
        async with self._audit.attempt(caller, "auth.signed_out_everywhere", target_type="user") as attempt:
            staff = _staff(attempt.principal)
            async with self._db.transaction() as conn:
                await refresh_tokens.revoke_user_tokens(conn, staff.user_id, now=datetime.now(UTC))
                await users.end_sessions(conn, staff.user_id)
                await attempt.succeeded(conn, target_id=str(staff.user_id))
        self._principals.forget(staff.user_id)

    async def force_password_reset(self, caller: Caller, user_id: str) -> UserRecord:
        """Clear a staff member's password, end their sessions and email them a reset link. OWNER only."""
        async with self._audit.attempt(
            caller, "auth.password_reset_forced", target_type="user", target_id=user_id
        ) as attempt:
            principal = attempt.principal
            if principal.access(Operation.FORCE_PASSWORD_RESET) is not Access.ALLOW:
                raise Forbidden("Only an owner forces a password reset.")
            owner = _staff(principal)
            target_id = parse_id(user_id)
            if target_id == owner.user_id:
                raise ServiceError.of(ErrorCode.SELF_ACTION, "change your own password instead", "userId")
            async with self._db.transaction() as conn:
                target = await self._staff_target(conn, target_id)
                cleared = await users.set_password_hash(conn, target.id, None, end_sessions=True)
                assert cleared is not None  # read in this transaction; users are never removed
                await refresh_tokens.revoke_user_tokens(conn, target.id, now=datetime.now(UTC))
                expires_at = await self._links.send_reset(conn, cleared, forced_by=owner.email)
                await attempt.succeeded(
                    conn,
                    target_id=str(target.id),
                    details={"email": target.email, "linkExpiresAt": expires_at.isoformat()},
                )
        self._principals.forget(target.id)
        return cleared

    async def resend_invitation(self, caller: Caller, user_id: str) -> UserRecord:
        """A new invitation for a staff member who has no password yet (the older one stops working)."""
        async with self._audit.attempt(
            caller, "auth.invitation_sent", target_type="user", target_id=user_id
        ) as attempt:
            principal = attempt.principal
            if principal.access(Operation.ENROLL_USERS) is not Access.ALLOW:
                raise Forbidden("Only those who enrol staff themselves send invitations.")
            async with self._db.transaction() as conn:
                target = await self._staff_target(conn, parse_id(user_id), principal)
                require_owner_rights_for(principal, target.role)
                if target.password_set:
                    raise ServiceError.of(
                        ErrorCode.VALIDATION,
                        "has chosen a password already; an owner may force a reset",
                        "userId",
                    )
                expires_at = await self._links.invite(conn, target, invited_by=principal.actor_email)
                await attempt.succeeded(
                    conn,
                    target_id=str(target.id),
                    details={"email": target.email, "expiresAt": expires_at.isoformat()},
                )
        return target

    @staticmethod
    async def _staff_target(
        conn: AsyncConnection, user_id: uuid.UUID | None, principal: Principal | None = None
    ) -> UserRecord:
        """The staff member ``user_id`` names (visible to ``principal``, when given)."""
        target = await users.fetch_user(conn, user_id) if user_id else None
        if target is None or (principal is not None and not principal.may_see(target.role)):
            raise ServiceError.of(ErrorCode.NOT_FOUND, "no such user", "userId")
        if not target.role.is_staff:
            raise ServiceError.of(ErrorCode.VALIDATION, "customers have no password", "userId")
        return target
