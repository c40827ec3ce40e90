"""GraphQL and HTTP errors as JSON, with an ``extensions.code`` and never a stack trace."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.datasources.database import connection_lost
from loyalty.services.errors import RequestRefused

logger = logging.getLogger("loyalty.graphql")

INTERNAL_MESSAGE = "Internal server error."
UNAVAILABLE_MESSAGE = "The database connection was lost; nothing was changed by this field. Try again."

# graphql-core's " Did you mean 'x', 'y', or 'z'?" (names never hold a "?"), at the end or mid-message.
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The body of a request refused as a whole: one error, with its code."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def error_response(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_code)


def format_error(error: GraphQLError, request_id: str, *, suggestions: bool = True) -> dict[str, Any]:
    """The client's view of an error: its message and code; internal failures are masked and logged.

    Without ``suggestions``, graphql-core's "Did you mean" is cut: it names fields, arguments, types
    and enum values, which would rebuild the schema that turning introspection off hides. It is cut
    here, the one place every error passes on its way out, since graphql-core's ``hide_suggestions``
    cannot be reached through Strawberry's validation and execution or the plans' variable coercion."""
    original = error.original_error
    extensions = error.extensions or {}
    message = error.message if suggestions else _SUGGESTION.sub("", error.message)
    if isinstance(error, GraphQLSyntaxError):
        code = "GRAPHQL_PARSE_FAILED"
    elif "code" in extensions:
        code = extensions["code"]
    elif isinstance(original, RequestRefused):
        code = original.code
    elif error.path is None:
        code = "BAD_USER_INPUT"  # variables that do not fit their types, refused before execution
    elif original is None or isinstance(original, GraphQLError):
        code = "INTERNAL"
    elif connection_lost(original):
        # A transaction is never repeated once it began (a read is, once); the connection died under
        # it (a failover, a restart), so it rolled back: the client may retry.
        code, message = "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE
        logger.warning("database connection lost", extra={"request_id": request_id, "path": error.path})
    else:
        code = "INTERNAL"
        message = INTERNAL_MESSAGE
        logger.error(
            "resolver failed", exc_info=original, extra={"request_id": request_id, "path": error.path}
        )
    formatted: dict[str, Any] = {"message": message, "extensions": {**extensions, "code": code}}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        formatted["path"] = error.path
    return formatted


async def not_found(_request: Request, _exc: Exception) -> Response:
    return error_response(404, "NOT_FOUND", "There is nothing at this address.")


def method_refused(allow: str | None) -> JSONResponse:
    """The 405 for a method an address does not take; ``allow`` names those it does, as HTTP requires."""
    response = error_response(405, "METHOD_NOT_ALLOWED", "This address does not take that method.")
    if allow is not None:
        response.headers["allow"] = allow
    return response


async def method_not_allowed(_request: Request, exc: Exception) -> Response:
    return method_refused((getattr(exc, "headers", None) or {}).get("Allow"))  # the router's Allow


def failure_response(exc: Exception, request_id: str | None) -> JSONResponse:
    """The JSON 500 for an unhandled exception, logged with its trace (never shown)."""
    logger.error("request failed", exc_info=exc, extra={"request_id": request_id})
    return error_response(500, "INTERNAL", INTERNAL_MESSAGE)


async def server_error(request: Request, exc: Exception) -> Response:
    return failure_response(exc, getattr(request.state, "request_id", None))


class ServerErrors:
    """Answers an unhandled exception with the JSON 500 inside our middleware.

    Starlette's own handler for it runs outside every middleware, so its 500 went out without the
    request id and the security headers every other answer carries. Placed innermost, this turns the
    exception into an ordinary response first; one raised after the response started cannot be
    answered anew and goes on up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:  # logged with its trace by failure_response
            if started:
                raise
            response = failure_response(exc, scope.get("state", {}).get("request_id"))
            await response(scope, receive, send)
