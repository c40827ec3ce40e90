"""The root Query type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from strawberry.types import Info

from loyalty.datasources.log_store import LogQuery
from loyalty.resolvers import accounts as account_resolvers
from loyalty.resolvers import activity_log as log_resolvers
from loyalty.resolvers import approvals as approval_resolvers
from loyalty.resolvers import points as points_resolvers
from loyalty.resolvers import users as users_resolvers
from loyalty.schema.enums import ApprovalStatus
from loyalty.schema.inputs import LogFilter, UserFilter
from loyalty.schema.types import (
    ApprovalRequestConnection,
    LogEntryConnection,
    PasswordLink,
    PointsAccount,
    User,
    UserConnection,
)

# Fields of User that read the user's accounts: asked for, the accounts come with the users.
_ACCOUNT_FIELDS = frozenset({"pointsAccounts", "totalPoints"})


def _selects_accounts(info: Info, *through: str) -> bool:
    """Whether the field's selection asks for a user's accounts, on the users reached ``through``
    these fields (none: the field's own value is the user). A few microseconds a request, against a
    statement saved."""
    raw = info._raw_info
    return any(_holds_accounts(node.selection_set, through, raw.fragments) for node in raw.field_nodes)


def _holds_accounts(
    selection_set: SelectionSetNode | None,
    through: Sequence[str],
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            found = (
                name in _ACCOUNT_FIELDS
                if not through
                else name == through[0] and _holds_accounts(selection.selection_set, through[1:], fragments)
            )
        elif isinstance(selection, InlineFragmentNode):
            found = _holds_accounts(selection.selection_set, through, fragments)
        else:
            spread = cast("FragmentSpreadNode", selection)
            found = _holds_accounts(fragments[spread.name.value].selection_set, through, fragments)
        if found:
            return True
    return False


# The resolvers return records and payload dataclasses, which the declared types read by attribute
# (see ``loyalty.schema.types``): hence ``type: ignore[return-value]`` on the returns below.
@strawberry.type
class Query:
    @strawberry.field(description="The signed-in staff member.")
    async def me(self, info: Info) -> User | None:
        return await users_resolvers.me(  # type: ignore[return-value]
            info.context, with_accounts=_selects_accounts(info)
        )

    @strawberry.field(description="A user by id; null when absent or not visible to you.")
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return await users_resolvers.user(  # type: ignore[return-value]
            info.context, id, with_accounts=_selects_accounts(info)
        )

    @strawberry.field(description="A user by email, any case; null when absent or not visible to you.")
    async def user_by_email(self, info: Info, email: str) -> User | None:
        return await users_resolvers.user_by_email(  # type: ignore[return-value]
            info.context, email, with_accounts=_selects_accounts(info)
        )

    @strawberry.field(description="Users by enrolment, newest first. `first` is 1 to 100.")
    async def users(
        self, info: Info, filter: UserFilter | None = None, first: int | None = 20, after: str | None = None
    ) -> UserConnection:
        return await users_resolvers.users(  # type: ignore[return-value]
            info.context,
            search=filter.search if filter else None,
            role=filter.role if filter else None,
            first=20 if first is None else first,
            after=after,
            with_accounts=_selects_accounts(info, "edges", "node"),
        )

    @strawberry.field(description="A points account by id; null when absent or not visible to you.")
    async def points_account(self, info: Info, id: strawberry.ID) -> PointsAccount | None:
        return await points_resolvers.points_account(info.context, id)  # type: ignore[return-value]

    @strawberry.field(description="The activity log, newest first. For OWNER, MANAGER and ENGINEER.")
    async def logs(
        self, info: Info, filter: LogFilter | None = None, first: int | None = 50, after: str | None = None
    ) -> LogEntryConnection:
        log_filter = LogQuery(
            actor_id=filter.actor_id,
            target_id=filter.target_id,
            action=filter.action,
            outcome=filter.outcome.value if filter.outcome else None,
            since=filter.since,
            until=filter.until,
            search=filter.search,
        ) if filter else LogQuery()  # fmt: skip
        return await log_resolvers.logs(  # type: ignore[return-value]
            info.context, log_filter, first=50 if first is None else first, after=after
        )

    @strawberry.field(
        description="What a password link (from an invitation or reset email) is for, and whose it is; "
        "null when it is unknown, used or expired. No sign-in needed."
    )
    async def password_link(self, info: Info, token: str) -> PasswordLink | None:
        return await account_resolvers.password_link(info.context, token)  # type: ignore[return-value]

    @strawberry.field(description="How many days log entries are kept.")
    async def log_retention_days(self, info: Info) -> int:
        return await log_resolvers.log_retention_days(info.context)

    @strawberry.field(description="Requests you made and requests you may decide, newest first.")
    async def approval_requests(
        self,
        info: Info,
        status: ApprovalStatus | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> ApprovalRequestConnection:
        return await approval_resolvers.approval_requests(  # type: ignore[return-value]
            info.context,
            status=status.value if status else None,
            first=20 if first is None else first,
            after=after,
        )
