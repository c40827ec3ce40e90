"""What every resolver of one request shares."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from strawberry.dataloader import DataLoader

from loyalty.auth.permissions import Role
from loyalty.auth.principal import Caller, Origin, Principal, StaffPrincipal, readable_balance_roles
from loyalty.datasources.prepared import ReadsOnOneConnection
from loyalty.datasources.records import LedgerRecord, PointsAccountRecord, UserRecord
from loyalty.services.container import Services
from loyalty.services.errors import Forbidden, Unauthenticated
from loyalty.services.pagination import Page
from loyalty.services.points import LedgerPageKey

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_ABSENT: Any = object()


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose every pending ``load`` is a future of its own, settled from the batch's.

    graphql-core cancels what the siblings of a failed non-null field still wait for
    (``gather_with_cancel``); the batch's future for a key is shared by every field that loads it,
    and cancelling it for one cancelled it for all, a CancelledError through the whole request.
    (``asyncio.shield`` does the same at three times the cost: ~3 µs a load against ~1 µs.)

    A primed value is kept as it is until a ``load`` asks for it, and ``load_now`` hands it over as
    it is: a page of fifty users primes fifty keys, and a done future for each (DataLoader's
    ``prime``) cost more than reading them back. (Keys are their own cache keys: no ``cache_key_fn``.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._primed: dict[K, V] = {}
        self._cache_used = False  # whether DataLoader's cache may hold anything yet

    def prime(self, key: K, value: V, force: bool = False) -> None:
        batch = self.batch
        pending = batch is not None and not batch.dispatched and any(task.key == key for task in batch.tasks)
        if force or pending or not self.cache:
            self._primed.pop(key, None)
            self._cache_used = True
            super().prime_many({key: value}, force)
        elif key not in self._primed and (not self._cache_used or not self.cache_map.get(key)):
            self._primed[key] = value

    def prime_many(self, data: Mapping[K, V], force: bool = False) -> None:
        for key, value in data.items():
            self.prime(key, value, force)

    def clear(self, key: K) -> None:
        if self._primed.pop(key, _ABSENT) is _ABSENT:  # a key is held in one place or the other
            super().clear(key)

    def clear_many(self, keys: Iterable[K]) -> None:
        for key in keys:
            self.clear(key)

    def clear_all(self) -> None:
        self._primed.clear()
        super().clear_all()

    def load(self, key: K) -> Awaitable[V]:
        self._cache_used = True
        if key in self._primed:  # into the DataLoader's cache, as ``prime`` would have put it
            super().prime_many({key: self._primed.pop(key)})
        shared = cast("asyncio.Future[V]", super().load(key))
        if shared.done():  # a done future cannot be cancelled
            return shared
        own: asyncio.Future[V] = shared.get_loop().create_future()
        shared.add_done_callback(functools.partial(_settle, own))
        return own

    def load_now(self, key: K) -> V | Awaitable[V]:
        """The value itself when the loader holds it already (primed, or loaded earlier in the request),
        else ``load(key)``: a field resolved from it then leaves nothing to wait for."""
        primed = self._primed
        if key in primed:
            return primed[key]
        held = self.cache_map.get(key)
        if held is not None and held.done() and not held.cancelled() and held.exception() is None:
            return held.result()
        return self.load(key)


def _settle(own: asyncio.Future[V], shared: asyncio.Future[V]) -> None:
    error = shared.exception()  # retrieved even when every field waiting for it was cancelled
    if own.cancelled():
        return
    if error is not None:
        own.set_exception(error)
    else:
        own.set_result(shared.result())


class Loaders:
    """Per-request DataLoaders, created on first use so a query pays only for what it touches."""

    def __init__(self, services: Services) -> None:
        self._services = services

    @cached_property
    def user(self) -> DataLoader[uuid.UUID, UserRecord | None]:
        return SharedLoader(load_fn=self._services.users.by_ids)

    @cached_property
    def accounts_of_user(self) -> SharedLoader[uuid.UUID, list[PointsAccountRecord]]:
        return SharedLoader(load_fn=self._services.points.accounts_of)

    @cached_property
    def ledger_page(self) -> DataLoader[LedgerPageKey, Page[LedgerRecord]]:
        return SharedLoader(load_fn=self._services.points.ledger_pages)


@dataclass(slots=True)
class Context:
    services: Services
    origin: Origin
    operation_name: str | None = None
    principal: Principal | None = None
    # Why a presented token was refused; reported only to fields that need a caller.
    auth_failure: str | None = None
    # Whom a refused token names (a disabled partner client), for the activity log.
    refused: Principal | None = None
    # The console keeps its refresh token in an HttpOnly cookie: it asks so with a request header,
    # and the web layer sets the cookie from ``issued_refresh_token``.
    refresh_token_in_cookie: bool = False
    issued_refresh_token: str | None = None
    _loaders: Loaders | None = None
    _readable_balance_roles: tuple[Role, ...] | None = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.services)
        return self._loaders

    def one_read_connection(self) -> AbstractAsyncContextManager[None]:
        """Wraps the request's execution: its single reads share one pooled connection, checked out
        on the first and given back as the block ends (see ``SharedReads``)."""
        return ReadsOnOneConnection(self.services.db)

    def caller(self) -> Caller:
        """Who asks and from where, for actions the activity log records (refused ones included)."""
        return Caller(self.principal, self.origin, self.refused)

    def signed_in(self) -> Principal:
        """The staff member or partner client behind the token, or UNAUTHENTICATED."""
        if self.principal is None:
            raise Unauthenticated(self.auth_failure or "Sign in to do this.")
        return self.principal

    def may_read_balance(self, owner_role: Role) -> bool:
        """Whether the signed-in caller may read the balances of a user of ``owner_role`` (else
        UNAUTHENTICATED): asked for each user of a page, the roles looked up once per request."""
        roles = self._readable_balance_roles
        if roles is None:
            roles = self._readable_balance_roles = readable_balance_roles(self.signed_in())
        return owner_role in roles

    def staff(self) -> StaffPrincipal:
        """The signed-in staff member; UNAUTHENTICATED without a token, FORBIDDEN for a partner."""
        principal = self.signed_in()
        if not isinstance(principal, StaffPrincipal):
            raise Forbidden("Only staff may do this.")
        return principal


P = ParamSpec("P")
T = TypeVar("T")


def changes_data(
    resolve: Callable[Concatenate[Context, P], Awaitable[T]],
) -> Callable[Concatenate[Context, P], Awaitable[T]]:
    """Marks the resolver of a root mutation field: its payload reads through fresh DataLoaders.

    Loaders keep what they loaded for the whole request, and the fields of a mutation run one after
    another, each with its payload (on graphql-core and in plans alike): without this, the second of
    two adjustments of one account showed the total and the ledger from before it.
    """

    @functools.wraps(resolve)
    async def resolve_with_fresh_loaders(ctx: Context, *args: P.args, **kwargs: P.kwargs) -> T:
        ctx._loaders = None
        return await resolve(ctx, *args, **kwargs)

    return resolve_with_fresh_loaders
