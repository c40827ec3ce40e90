"""The Starlette application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from loyalty.config import Settings
from loyalty.observability.logs import configure_logging
from loyalty.observability.metrics import OperationLabels
from loyalty.observability.tracing import Tracing, record_statement
from loyalty.schema import build_schema
from loyalty.schema.limits import QueryLimits
from loyalty.services.container import Services
from loyalty.web.bursts import Bursts
from loyalty.web.console import ConsolePages
from loyalty.web.console_sessions import ConsoleSessions
from loyalty.web.cors import CORSMiddleware, CorsPolicy
from loyalty.web.direct_routes import DirectRoutes
from loyalty.web.errors import JSONResponse, ServerErrors, method_not_allowed, not_found, server_error
from loyalty.web.graphql import GRAPHQL_PATH, GraphQLEndpoint
from loyalty.web.metrics_listener import MetricsListener, StorageCollector
from loyalty.web.oauth import TOKEN_PATH, TokenEndpoint
from loyalty.web.persisted import PersistedOperations
from loyalty.web.rate_limit import RateLimiter
from loyalty.web.request_id import RequestIdMiddleware
from loyalty.web.security_headers import SecurityHeaders, SecurityHeadersMiddleware
from loyalty.web.session_cookie import RefreshCookie
from loyalty.web.telemetry import Telemetry, TelemetryMiddleware, operation_names


class LoyaltyApp(Starlette):
    """Starlette, with ``/graphql`` and ``/oauth/token`` answered before its middlewares and router
    (web/direct_routes.py)."""

    def __init__(self, *, direct: DirectRoutes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._direct.serve(scope, receive, send):
            await super().__call__(scope, receive, send)


def create_served_app() -> Starlette:
    """The app as ``loyalty serve`` runs it: logging set up (in each worker process), and the garbage
    collector tuned once it has started."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings, tune_gc=True)


def _tune_gc() -> None:
    """Tune the collector for a long-running server.

    Freeze what start-up allocated (modules, the schema, SQL metadata, caches): full collections no
    longer scan it, which took the 99th percentile of a simple query from ~7x its median to ~3x. And
    collect the youngest generation every 20,000 allocations instead of 700: a request makes thousands
    of short-lived objects that reference counting frees anyway (about +10% requests per second).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def create_app(
    settings: Settings | None = None, *, services: Services | None = None, tune_gc: bool = False
) -> Starlette:
    """Build the ASGI app. ``services`` may be passed in (tests share one across apps)."""
    settings = settings or Settings()
    services = services or Services.build(settings)
    limits = QueryLimits(
        max_tokens=settings.max_tokens,
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_root_fields=settings.max_root_fields,
        max_field_repeats=settings.max_field_repeats,
        max_cost=settings.max_cost,
    )
    schema = build_schema(introspection=settings.introspection, limits=limits)
    rate_limiter = RateLimiter(settings.rate_limit, redis_url=settings.redis_url)
    console = ConsolePages(settings.console_dir)
    refresh_cookie = RefreshCookie(max_age_seconds=settings.refresh_token_days * 24 * 3600)
    tracing = Tracing.from_environment()
    if tracing is not None and services.db.statement_hook is None:
        services.db.statement_hook = record_statement
    persisted = PersistedOperations.from_setting(settings.persisted_operations)
    graphql = GraphQLEndpoint(
        schema,
        services,
        max_body_bytes=settings.max_body_bytes,
        refresh_cookie=refresh_cookie,
        explorer=console.graphiql if settings.graphiql else None,
        trusted_proxies=settings.trusted_networks,
        rate_limiter=rate_limiter,
        max_concurrent=settings.max_concurrent_operations,
        anonymous_bursts=Bursts(settings.anonymous_burst, settings.anonymous_per_second),
        suggestions=settings.introspection,
        persisted=persisted,
        operation_labels=OperationLabels(operation_names((persisted.allowed or {}).values())),
        tracing=tracing,
    )

    oauth_budgets = (
        RateLimiter(
            settings.oauth_address_rate_limit, redis_url=settings.redis_url, namespace="loyalty-oauth-ip"
        ),
        RateLimiter(
            settings.oauth_client_rate_limit, redis_url=settings.redis_url, namespace="loyalty-oauth-client"
        ),
    )
    token_endpoint = TokenEndpoint(
        services,
        token_url=f"{settings.issuer}{TOKEN_PATH}",
        max_body_bytes=settings.max_body_bytes,
        address_budget=oauth_budgets[0],
        client_budget=oauth_budgets[1],
        address_bursts=Bursts(settings.anonymous_burst, settings.anonymous_per_second),
        trusted_proxies=settings.trusted_networks,
    )

    console_sessions = ConsoleSessions(
        services,
        refresh_cookie,
        own_urls=(settings.issuer, settings.console_address),
        allowed_origins=settings.allowed_origins,
        budget=rate_limiter,
        trusted_proxies=settings.trusted_networks,
    )

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problem = await services.readiness()
        if problem is not None:
            return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def jwks(_request: Request) -> Response:
        return JSONResponse(services.tokens.jwks(), headers={"cache-control": "public, max-age=300"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if tune_gc:
            _tune_gc()
        services.shipper.start()
        if settings.email_worker_in_process:
            services.email_worker.start()
        metrics = None
        if settings.metrics_port is not None:
            token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
            storage = StorageCollector(services.db, asyncio.get_running_loop())
            metrics = MetricsListener(
                settings.metrics_host, settings.metrics_port, storage=storage, token=token
            )
            metrics.start()
        yield
        if metrics is not None:
            metrics.stop()
        if tracing is not None:
            tracing.shutdown()
        await rate_limiter.close()
        for budget in oauth_budgets:
            await budget.close()
        await services.close()

    api_routes: list[BaseRoute] = [
        Route(GRAPHQL_PATH, graphql, methods=list(graphql.METHODS)),
        Route(TOKEN_PATH, token_endpoint, methods=list(token_endpoint.METHODS)),
        Route("/auth/refresh", console_sessions.refresh, methods=["POST"]),
        Route("/auth/sign-out", console_sessions.sign_out, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
    telemetry = Telemetry(
        routes=[route.path for route in api_routes if isinstance(route, Route)],
        trusted_proxies=settings.trusted_networks,
        tracing=tracing,
    )
    security_headers = SecurityHeaders(https=settings.issuer.startswith("https://"))
    cors = CorsPolicy(settings.allowed_origins)
    app = LoyaltyApp(
        direct=DirectRoutes(
            {GRAPHQL_PATH: graphql, TOKEN_PATH: token_endpoint},
            telemetry=telemetry,
            security_headers=security_headers,
            cors=cors,
        ),
        routes=[*api_routes, *console.routes(api_routes)],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(TelemetryMiddleware, telemetry=telemetry),
            Middleware(SecurityHeadersMiddleware, headers=security_headers),
            Middleware(CORSMiddleware, policy=cors),
            Middleware(ServerErrors),  # innermost: a 500 passes through the others like any answer
        ],
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
        lifespan=lifespan,
    )
    app.state.schema = schema
    return app
