"""Resolvers for signing in, refreshing and signing out."""

from __future__ import annotations

from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import SignInPayload, SignOutPayload, user_errors
from loyalty.services.errors import ServiceError
from loyalty.services.sessions import Session


def _signed_in(session: Session) -> SignInPayload:
    return SignInPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_in=session.expires_in,
        user=session.user,
    )


@changes_data
async def sign_in(ctx: Context, email: str, password: str) -> SignInPayload:
    try:
        return _signed_in(await ctx.services.sessions.sign_in(email, password, ctx.origin))
    except ServiceError as error:
        return SignInPayload(errors=user_errors(error))


@changes_data
async def refresh_token(ctx: Context, token: str) -> SignInPayload:
    try:
        return _signed_in(await ctx.services.sessions.refresh(token, ctx.origin))
    except ServiceError as error:
        return SignInPayload(errors=user_errors(error))


@changes_data
async def sign_out(ctx: Context, token: str) -> SignOutPayload:
    await ctx.services.sessions.sign_out(token, ctx.origin)
    return SignOutPayload(ok=True)
