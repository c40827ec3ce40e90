"""The root Query type."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from loyalty.resolvers import points as points_resolvers
from loyalty.resolvers import users as users_resolvers
from loyalty.schema.inputs import UserFilter
from loyalty.schema.types import PointsAccount, User, UserConnection


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in staff member.")
    async def me(self, info: Info) -> User | None:
        return await users_resolvers.me(info.context)  # type: ignore[return-value]

    @strawberry.field(description="A user by id; null when absent or not visible to you.")
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return await users_resolvers.user(info.context, id)  # type: ignore[return-value]

    @strawberry.field(description="A user by email, any case; null when absent or not visible to you.")
    async def user_by_email(self, info: Info, email: str) -> User | None:
        return await users_resolvers.user_by_email(info.context, email)  # type: ignore[return-value]

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
        )

    @strawberry.field(description="A points account by id; null when absent or not visible to you.")
    async def points_account(self, info: Info, id: strawberry.ID) -> PointsAccount | None:
        return await points_resolvers.points_account(info.context, id)  # type: ignore[return-value]
