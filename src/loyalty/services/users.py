"""Enrolling, reading, editing and deleting users.

Staff choose their own passwords: enrolling a staff member, or promoting a customer to staff (directly
or by an approved request), sends an invitation in the same transaction (``PasswordLinks``); an
enrolment that carries a password is refused, since nobody else should ever know it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.permissions import Access, ApprovalKind, Operation, Role
from loyalty.auth.principal import Caller, Principal, readable_balance_roles
from loyalty.datasources import points, refresh_tokens, users
from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.database import Database
from loyalty.datasources.errors import DuplicateKey
from loyalty.datasources.records import PointsAccountRecord, UserRecord
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, Forbidden, ServiceError
from loyalty.services.pagination import Page, check_page_size, decode_time_cursor, encode_time_cursor
from loyalty.services.password_links import PasswordLinks
from loyalty.services.points import DEFAULT_PROGRAM, MAX_ADJUSTMENT
from loyalty.services.principals import PrincipalDirectory
from loyalty.services.proposals import Proposals
from loyalty.services.validation import Problems, parse_id


@dataclass(frozen=True, slots=True)
class Enrolment:
    email: str
    first_name: str
    last_name: str
    role: Role
    password: str | None
    initial_points: int | None


_EMAIL_TAKEN = "is already used by another user"

# Takes the accounts a read found along with a user (the user's id, the accounts oldest first): a
# read asked for them reads users and accounts in one statement.
KeepAccounts = Callable[[uuid.UUID, list[PointsAccountRecord]], object]


def _allowed_or_requested(principal: Principal, operation: Operation) -> Access:
    """The caller's cell for ``operation``: ALLOW or REQUEST; anything else is refused."""
    cell = principal.access(operation)
    if cell not in (Access.ALLOW, Access.REQUEST):
        raise Forbidden()
    return cell


def _enrolment_fields(check: Problems, enrolment: Enrolment) -> dict[str, Any]:
    """The enrolment, cleaned, as stored in an approval request (input names, no password)."""
    initial_points = enrolment.initial_points or 0
    if not 0 <= initial_points <= MAX_ADJUSTMENT:
        check.add("input.initialPoints", f"must be between 0 and {MAX_ADJUSTMENT}")
    return {
        "email": check.email("input.email", enrolment.email),
        "firstName": check.name("input.firstName", enrolment.first_name),
        "lastName": check.name("input.lastName", enrolment.last_name),
        "role": enrolment.role.value,
        "initialPoints": initial_points,
    }


def _update_values(check: Problems, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Column values from update input (names as the schema spells them); explicit nulls are refused."""
    values: dict[str, Any] = {}
    for field, value in changes.items():
        if not check.not_null(f"input.{field}", value):
            continue
        if field == "email":
            values["email"] = check.email("input.email", value)
        elif field in ("firstName", "lastName"):
            values["first_name" if field == "firstName" else "last_name"] = check.name(
                f"input.{field}", value
            )
        elif field == "role":
            values["role"] = Role(value)
    return values


def require_owner_rights_for(principal: Principal, *roles: Role | None) -> None:
    """Only an owner gives, takes or acts on the OWNER role."""
    if Role.OWNER in roles and principal.access(Operation.MANAGE_OWNERS) is not Access.ALLOW:
        raise Forbidden("Only an owner gives, takes or edits the OWNER role.")


def _require_lookup(principal: Principal) -> None:
    if not principal.may_look_up_users():
        raise Forbidden("Reading users needs the users:read scope.")


def _visible_roles(principal: Principal, wanted: Role | None) -> list[Role] | None:
    """The roles a listing may include, or ``None`` for all of them."""
    if principal.access(Operation.READ_USERS) is Access.ALLOW:
        return None if wanted is None else [wanted]
    if principal.access(Operation.READ_USERS) is Access.CUSTOMERS_ONLY:
        return [Role.USER] if wanted in (None, Role.USER) else []
    raise Forbidden()


def _balance_roles(principal: Principal, keep_accounts: KeepAccounts | None) -> Sequence[Role]:
    """The roles of the users whose accounts a read should bring along: none unless asked for, else
    those whose balances the caller may read."""
    if keep_accounts is None:
        return ()
    return readable_balance_roles(principal)


def _search_text(search: str | None) -> str | None:
    return (search or "").strip()[:254] or None


def _visible_fields(user: UserRecord) -> dict[str, str]:
    """What the activity log shows of a user's own fields (never a password)."""
    return {
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "role": user.role.value,
    }


class UserService:
    def __init__(
        self,
        db: Database,
        hashing: PasswordHashing,
        principals: PrincipalDirectory,
        audit: AuditTrail,
        proposals: Proposals,
        links: PasswordLinks,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._principals = principals
        self._audit = audit
        self._proposals = proposals
        self._links = links

    # --- reads -------------------------------------------------------------------------------

    async def get(
        self, principal: Principal, user_id: str, keep_accounts: KeepAccounts | None = None
    ) -> UserRecord | None:
        """The user, if the caller may read them; with ``keep_accounts``, their accounts go there
        when the caller may read those too."""
        _require_lookup(principal)
        parsed = parse_id(user_id)
        if parsed is None:
            return None
        balance_roles = _balance_roles(principal, keep_accounts)
        if keep_accounts is not None and balance_roles:
            found = await users.fetch_user_with_accounts(self._db, parsed, balance_roles=balance_roles)
            return self._readable(principal, found, balance_roles, keep_accounts)
        user = await users.fetch_user(self._db, parsed)
        return user if user is not None and self._may_read(principal, user) else None

    async def get_by_email(
        self, principal: Principal, email: str, keep_accounts: KeepAccounts | None = None
    ) -> UserRecord | None:
        """As ``get``, by email in any case."""
        _require_lookup(principal)
        if len(email) > 254:
            return None
        balance_roles = _balance_roles(principal, keep_accounts)
        if keep_accounts is not None and balance_roles:
            found = await users.fetch_user_by_email_with_accounts(
                self._db, email.strip(), balance_roles=balance_roles
            )
            return self._readable(principal, found, balance_roles, keep_accounts)
        user = await users.fetch_user_by_email(self._db, email.strip())
        return user if user is not None and self._may_read(principal, user) else None

    async def by_ids(self, user_ids: Sequence[uuid.UUID]) -> list[UserRecord | None]:
        """Batch load for DataLoaders; visibility is settled on the object that links to the user."""
        found = await users.fetch_users(self._db, user_ids)
        return [found.get(user_id) for user_id in user_ids]

    async def list(
        self,
        principal: Principal,
        *,
        search: str | None,
        role: Role | None,
        first: int,
        after: str | None,
        keep_accounts: KeepAccounts | None = None,
    ) -> Page[UserRecord]:
        """A page of users; with ``keep_accounts``, as ``get``."""
        check_page_size(first)
        roles = _visible_roles(principal, role)
        keyset = decode_time_cursor(after) if after is not None else None
        if roles == []:
            return Page(items=[], cursors=[], has_next_page=False)
        balance_roles = _balance_roles(principal, keep_accounts)
        search_text = _search_text(search)
        if keep_accounts is not None and balance_roles:
            found = await users.list_users_with_accounts(
                self._db,
                search=search_text,
                roles=roles,
                after=keyset,
                limit=first + 1,
                balance_roles=balance_roles,
            )
            rows = []
            for user, accounts in found:  # ``_keep`` in line: once for each row of the page
                if user.role in balance_roles:
                    keep_accounts(user.id, accounts)
                rows.append(user)
        else:
            rows = await users.list_users(
                self._db, search=search_text, roles=roles, after=keyset, limit=first + 1
            )
        items = rows[:first]
        cursors = [encode_time_cursor(user.enrolled_at, user.id) for user in items]
        return Page(items=items, cursors=cursors, has_next_page=len(rows) > first)

    async def count(self, principal: Principal, *, search: str | None, role: Role | None) -> int:
        """How many users ``list`` would page through with these filters (asked only when wanted)."""
        roles = _visible_roles(principal, role)
        if roles == []:
            return 0
        return await users.count_users(self._db, search=_search_text(search), roles=roles)

    @staticmethod
    def _may_read(principal: Principal, user: UserRecord) -> bool:
        return principal.is_user(user.id) or principal.may_see(user.role)

    def _readable(
        self,
        principal: Principal,
        found: users.UserWithAccounts | None,
        balance_roles: Sequence[Role],
        keep_accounts: KeepAccounts,
    ) -> UserRecord | None:
        """The user found, if the caller may read them, their accounts kept."""
        if found is None or not self._may_read(principal, found[0]):
            return None
        return self._keep(found, balance_roles, keep_accounts)

    @staticmethod
    def _keep(
        found: users.UserWithAccounts, balance_roles: Sequence[Role], keep_accounts: KeepAccounts
    ) -> UserRecord:
        """The user, their accounts kept when the caller may read their balances."""
        user, accounts = found
        if user.role in balance_roles:
            keep_accounts(user.id, accounts)
        return user

    # --- changes -----------------------------------------------------------------------------

    async def enroll(self, caller: Caller, enrolment: Enrolment) -> UserRecord | ApprovalRecord:
        """Enrol a user, or propose it for approval (the "request" cells)."""
        async with self._audit.attempt(caller, "user.enroll", target_type="user") as attempt:
            principal = attempt.principal
            cell = _allowed_or_requested(principal, Operation.ENROLL_USERS)
            require_owner_rights_for(principal, enrolment.role)
            check = Problems()
            fields = _enrolment_fields(check, enrolment)
            if enrolment.password is not None:
                check.add("input.password", "staff set their own password through the invitation")
            check.raise_any()
            if cell is Access.REQUEST:
                return await self._proposals.propose(
                    attempt,
                    kind=ApprovalKind.ENROLL_USER,
                    target_id=str(uuid.uuid4()),  # the new user's id, once approved
                    change=fields,
                )
            async with self._db.transaction() as conn:
                user, details = await self.apply_enrolment(conn, principal, fields, uuid.uuid4())
                await attempt.succeeded(conn, target_id=str(user.id), details=details)
        return user

    async def apply_enrolment(
        self,
        conn: AsyncConnection,
        principal: Principal,
        fields: Mapping[str, Any],
        user_id: uuid.UUID,
    ) -> tuple[UserRecord, dict[str, Any]]:
        """Enrol in ``conn``'s transaction (directly, or when a request is approved); staff are invited."""
        check = Problems()
        enrolment = Enrolment(
            fields["email"],
            fields["firstName"],
            fields["lastName"],
            Role(fields["role"]),
            None,
            fields["initialPoints"],
        )
        valid = _enrolment_fields(check, enrolment)
        check.raise_any()
        require_owner_rights_for(principal, enrolment.role)
        now = datetime.now(UTC)
        await self._refuse_taken_email(conn, valid["email"], "input.email")
        try:
            user = await users.insert_user(
                conn,
                email=valid["email"],
                first_name=valid["firstName"],
                last_name=valid["lastName"],
                role=enrolment.role,
                password_hash=None,
                now=now,
                user_id=user_id,
            )
        except DuplicateKey as error:
            raise ServiceError.of(ErrorCode.CONFLICT, f"email {_EMAIL_TAKEN}", "input.email") from error
        account = await points.insert_account(conn, user_id=user.id, program=DEFAULT_PROGRAM, now=now)
        if valid["initialPoints"]:
            await points.change_balance(
                conn,
                account_id=account.id,
                kind="ADD",
                amount=valid["initialPoints"],
                reason="initial points",
                actor_id=principal.actor_id,
                idempotency_key=None,
                request_digest=None,
                now=now,
            )
        details = {"after": {**_visible_fields(user), "initialPoints": valid["initialPoints"]}}
        if user.role.is_staff:
            details |= await self._invite(conn, principal, user)
        return user, details

    async def update(
        self, caller: Caller, user_id: str, changes: Mapping[str, Any]
    ) -> UserRecord | ApprovalRecord:
        """Apply ``changes`` (input field name → value; an explicit ``None`` is refused), or propose them."""
        async with self._audit.attempt(
            caller, "user.update", target_type="user", target_id=user_id
        ) as attempt:
            principal = attempt.principal
            cell = _allowed_or_requested(principal, Operation.UPDATE_USERS)
            check = Problems()
            _update_values(check, changes)
            check.raise_any()
            if cell is Access.REQUEST:
                async with self._db.read() as conn:
                    target = await self._visible_target(conn, principal, user_id)
                require_owner_rights_for(principal, target.role, changes.get("role"))
                if "role" in changes and changes["role"] is not target.role and principal.is_user(target.id):
                    raise ServiceError.of(ErrorCode.SELF_ACTION, "you cannot demote or delete yourself", "id")
                stored = {
                    name: value.value if isinstance(value, Role) else value for name, value in changes.items()
                }
                return await self._proposals.propose(
                    attempt, kind=ApprovalKind.UPDATE_USER, target_id=str(target.id), change=stored
                )
            async with self._db.transaction() as conn:
                updated, details = await self.apply_update(conn, principal, user_id, changes)
                await attempt.succeeded(conn, target_id=str(updated.id), details=details)
        self._principals.forget(updated.id)
        return updated

    async def apply_update(
        self,
        conn: AsyncConnection,
        principal: Principal,
        user_id: str,
        changes: Mapping[str, Any],
    ) -> tuple[UserRecord, dict[str, Any]]:
        """Update in ``conn``'s transaction (directly, or when a request is approved); a customer
        promoted to staff is invited."""
        check = Problems()
        values = _update_values(check, changes)
        check.raise_any()
        target = await self._visible_target(conn, principal, user_id)
        new_role: Role | None = values.get("role")
        require_owner_rights_for(principal, target.role, new_role)
        if new_role is not None and new_role is not target.role:
            await self._refuse_role_change(conn, principal, target)
            if new_role is Role.USER:
                values["password_hash"] = None
                await refresh_tokens.revoke_user_tokens(conn, target.id, now=datetime.now(UTC))
        if "email" in values and values["email"].lower() != target.email.lower():
            await self._refuse_taken_email(conn, values["email"], "input.email")
        try:
            updated = (
                await users.update_user(conn, target.id, values, now=datetime.now(UTC)) if values else target
            )
        except DuplicateKey as error:
            raise ServiceError.of(ErrorCode.CONFLICT, f"email {_EMAIL_TAKEN}", "input.email") from error
        assert updated is not None  # the row was read in this transaction and is never removed
        before, after = _visible_fields(target), _visible_fields(updated)
        changed = [name for name in after if after[name] != before[name]]
        details: dict[str, Any] = {
            "before": {name: before[name] for name in changed},
            "after": {name: after[name] for name in changed},
        }
        if updated.role.is_staff and not target.role.is_staff:
            details |= await self._invite(conn, principal, updated)
        return updated, details

    async def delete(self, caller: Caller, user_id: str) -> uuid.UUID | ApprovalRecord:
        async with self._audit.attempt(
            caller, "user.delete", target_type="user", target_id=user_id
        ) as attempt:
            principal = attempt.principal
            cell = _allowed_or_requested(principal, Operation.DELETE_USERS)
            if cell is Access.REQUEST:
                async with self._db.read() as conn:
                    target = await self._visible_target(conn, principal, user_id)
                require_owner_rights_for(principal, target.role)
                if principal.is_user(target.id):
                    raise ServiceError.of(ErrorCode.SELF_ACTION, "you cannot demote or delete yourself", "id")
                return await self._proposals.propose(
                    attempt, kind=ApprovalKind.DELETE_USER, target_id=str(target.id), change={}
                )
            async with self._db.transaction() as conn:
                target, details = await self.apply_delete(conn, principal, user_id)
                await attempt.succeeded(conn, target_id=str(target.id), details=details)
        self._principals.forget(target.id)
        return target.id

    async def apply_delete(
        self, conn: AsyncConnection, principal: Principal, user_id: str
    ) -> tuple[UserRecord, dict[str, Any]]:
        target = await self._visible_target(conn, principal, user_id)
        require_owner_rights_for(principal, target.role)
        await self._refuse_role_change(conn, principal, target)
        now = datetime.now(UTC)
        await users.soft_delete_user(conn, target.id, now=now)
        await refresh_tokens.revoke_user_tokens(conn, target.id, now=now)
        return target, {"before": _visible_fields(target)}

    async def _invite(self, conn: AsyncConnection, principal: Principal, user: UserRecord) -> dict[str, Any]:
        """Invite a new staff member in ``conn``'s transaction; what the change's log entry tells of it."""
        expires_at = await self._links.invite(conn, user, invited_by=principal.actor_email)
        return {"invitation": {"email": user.email, "expiresAt": expires_at.isoformat()}}

    async def _visible_target(self, conn: AsyncConnection, principal: Principal, user_id: str) -> UserRecord:
        target_id = parse_id(user_id)
        target = await users.fetch_user(conn, target_id) if target_id else None
        if target is None or not self._may_read(principal, target):
            raise ServiceError.of(ErrorCode.NOT_FOUND, "no such user", "id")
        return target

    async def bootstrap_owner(self, *, email: str, password: str) -> UserRecord | None:
        """Create the first owner (from the command line); ``None`` if an owner already exists."""
        check = Problems()
        email = check.email("email", email)
        check.password("password", password)
        check.raise_any()
        password_hash = await self._hashing.hash(password)
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            if await users.any_owner(conn):
                return None
            await self._refuse_taken_email(conn, email, "email")
            owner = await users.insert_user(
                conn,
                email=email,
                first_name="Owner",
                last_name="Account",
                role=Role.OWNER,
                password_hash=password_hash,
                now=now,
            )
            await points.insert_account(conn, user_id=owner.id, program=DEFAULT_PROGRAM, now=now)
        return owner

    async def _refuse_role_change(
        self, conn: AsyncConnection, principal: Principal, target: UserRecord
    ) -> None:
        """Refuse demoting or deleting yourself, or the last owner."""
        if principal.is_user(target.id):
            raise ServiceError.of(ErrorCode.SELF_ACTION, "you cannot demote or delete yourself", "id")
        if target.role is Role.OWNER:
            owners = await users.lock_owners(conn)
            if owners == [target.id]:
                raise ServiceError.of(ErrorCode.LAST_OWNER, "the last owner stays an owner", "id")

    @staticmethod
    async def _refuse_taken_email(conn: AsyncConnection, email: str, field: str) -> None:
        if await users.fetch_user_by_email(conn, email) is not None:
            raise ServiceError.of(ErrorCode.CONFLICT, f"email {_EMAIL_TAKEN}", field)
