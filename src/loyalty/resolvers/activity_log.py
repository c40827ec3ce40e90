"""Resolvers for the activity log."""

from __future__ import annotations

from loyalty.datasources.log_store import LogEntry, LogQuery
from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import Connection, RetentionPayload, user_errors
from loyalty.services.errors import ServiceError


async def logs(ctx: Context, log_filter: LogQuery, *, first: int, after: str | None) -> Connection[LogEntry]:
    page = await ctx.services.activity_log.read(ctx.signed_in(), log_filter, first=first, after=after)
    return Connection.of(page)


async def log_retention_days(ctx: Context) -> int:
    return await ctx.services.activity_log.read_retention(ctx.signed_in())


@changes_data
async def set_log_retention(ctx: Context, days: int) -> RetentionPayload:
    try:
        return RetentionPayload(
            log_retention_days=await ctx.services.activity_log.set_retention(ctx.caller(), days)
        )
    except ServiceError as error:
        return RetentionPayload(errors=user_errors(error))
