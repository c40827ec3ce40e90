"""Resolvers for signing in, refreshing and signing out."""

from __future__ import annotations

from collections.abc import Awaitable

from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import SignInPayload, SignOutPayload, user_errors
from loyalty.services.errors import ServiceError
from loyalty.services.sessions import Session


def signed_in_payload(ctx: Context, session: Session) -> SignInPayload:
    """The payload of a new session; the console's refresh token goes to a cookie, not the body."""
    if ctx.refresh_token_in_cookie:
        ctx.issued_refresh_token = session.refresh_token
    return SignInPayload(
        access_token=session.access_token,
        refresh_token=None if ctx.refresh_token_in_cookie else session.refresh_token,
        expires_in=session.expires_in,
        user=session.user,
    )


async def session_payload(ctx: Context, opening: Awaitable[Session]) -> SignInPayload:
    """The payload of the session ``opening`` opens, or of the expected failure that stopped it."""
    try:
        return signed_in_payload(ctx, await opening)
    except ServiceError as error:
        return SignInPayload(errors=user_errors(error))


@changes_data
async def sign_in(ctx: Context, email: str, password: str) -> SignInPayload:
    return await session_payload(ctx, ctx.services.sessions.sign_in(email, password, ctx.origin))


@changes_data
async def refresh_token(ctx: Context, token: str) -> SignInPayload:
    return await session_payload(ctx, ctx.services.sessions.refresh(token, ctx.origin))


@changes_data
async def sign_out(ctx: Context, token: str) -> SignOutPayload:
    await ctx.services.sessions.sign_out(token, ctx.origin)
    return SignOutPayload(ok=True)
