"""The GraphQL endpoint: POST JSON (or GET for queries), GraphiQL (web/console.py) for browsers.

GraphQL over HTTP as https://graphql.github.io/graphql-over-http/draft/ has it: JSON bodies only,
the response in the media type ``Accept`` asks for, and that type's status codes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, OperationDefinitionNode
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType

from loyalty.observability.context import RequestTelemetry, current_request
from loyalty.observability.metrics import OperationLabels, Outcome, Refusal, count_refusal
from loyalty.observability.tracing import Tracing
from loyalty.resolvers.context import Context
from loyalty.schema import Admission, LoyaltySchema
from loyalty.schema.limits import REQUEST_WEIGHT, QueryTooComplex
from loyalty.schema.operations import KnownOperation
from loyalty.services.container import Services
from loyalty.services.errors import Forbidden, Unauthenticated
from loyalty.services.principals import ClientRefused
from loyalty.web.bursts import Bursts
from loyalty.web.console import accepts_html
from loyalty.web.errors import error_body, format_error
from loyalty.web.incoming import Answer, BodyTooLarge, Incoming
from loyalty.web.media_types import MediaType, response_media_type, unsupported_body
from loyalty.web.origin import Network
from loyalty.web.persisted import PersistedOperations, PersistedQueryError
from loyalty.web.rate_limit import RateLimiter
from loyalty.web.session_cookie import OPT_IN_HEADER, RefreshCookie, opts_in

GRAPHQL_PATH = "/graphql"

_QUERIES_ONLY = frozenset({OperationType.QUERY})
_ALL_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Starlette routes HEAD wherever GET goes; it is answered as GET is (the server drops the body).
_READS = frozenset({"GET", "HEAD"})
_OPT_IN_HEADER = OPT_IN_HEADER.lower()
# The headers of every answer in each media type, made once.
_HEADERS = {
    media_type: ((b"content-type", media_type.content_type.encode()), (b"vary", b"Accept"))
    for media_type in MediaType
}


@dataclass(frozen=True, slots=True)
class _Operation:
    """What a request asks to run."""

    query: str
    variables: dict[str, Any] | None
    name: str | None
    allowed: frozenset[OperationType]
    persist: tuple[str, str] | None  # (hash, query) to register as an automatic persisted query


class BadRequest(Exception):
    pass


class VariablesNotJSON(Exception):
    """The ``variables`` parameter of a GET is not JSON."""


class HoldsNul(Exception):
    """Text holds a NUL character, which PostgreSQL cannot store and SQLite silently cuts at."""


# A NUL written as a GraphQL escape (\u0000 or \u{0}); a raw one is found by ``in``. One pattern for
# both took 14 ms to scan a 1 MB document (an alternation has no literal prefix to search for).
_ESCAPED_NUL = re.compile(r"\\u(?:0000|\{0+\})")


def _refuse_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise HoldsNul
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_nul(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item)


def _graphql_params(payload: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object with a 'query'.")
    query, variables, operation_name = (
        payload.get("query"),
        payload.get("variables"),
        payload.get("operationName"),
    )
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("'query' must be a non-empty string.")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("'variables' must be a JSON object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("'operationName' must be a string.")
    if "\x00" in query or _ESCAPED_NUL.search(query):
        raise HoldsNul
    _refuse_nul(variables)
    return query, variables, operation_name


class GraphQLEndpoint:
    METHODS = _READS | {"POST"}

    def __init__(
        self,
        schema: LoyaltySchema,
        services: Services,
        *,
        max_body_bytes: int,
        refresh_cookie: RefreshCookie,
        explorer: Callable[[Request], Awaitable[Response]] | None = None,
        trusted_proxies: Sequence[Network] = (),
        rate_limiter: RateLimiter | None = None,
        max_concurrent: int = 16,
        anonymous_bursts: Bursts | None = None,
        suggestions: bool = True,
        persisted: PersistedOperations | None = None,
        operation_labels: OperationLabels | None = None,
        tracing: Tracing | None = None,
    ):
        self._persisted = persisted or PersistedOperations()
        self._operation_labels = operation_labels or OperationLabels()
        self._tracing = tracing
        self._schema = schema
        self._suggestions = suggestions
        self._services = services
        self._max_body_bytes = max_body_bytes
        self._trusted_proxies = tuple(trusted_proxies)
        self._rate_limiter = rate_limiter
        # Operations executing at once; the rest wait their turn in order. The work is mostly CPU on
        # one core: more at once adds no throughput, only turns for each to wait behind the others,
        # which stretched the 99th percentile of a 50-row page to 4x its median (2.3x with 16).
        self._admission = asyncio.Semaphore(max_concurrent)
        # Requests without a valid token (sign-ins, resets, and whatever is sent without credentials)
        # take their turns in a queue of their own: a burst of them waits behind itself, not in front
        # of signed-in staff and partners (40 parallel wrong sign-ins took an innocent `me`'s p99 to
        # 110 ms when they shared one queue, bench/attacks.py). As many turns: a sign-in holds its turn
        # while it waits for the password thread, and with fewer the refusals queued behind those.
        self._anonymous_admission = asyncio.Semaphore(max_concurrent)
        # Before the queue, a bucket per address that a burst without a token empties (web/bursts.py).
        self._anonymous_bursts = anonymous_bursts
        self._anonymous_reading = asyncio.Lock()
        self._refresh_cookie = refresh_cookie
        self._explorer = explorer

    def passes_on(self, incoming: Incoming) -> bool:
        """Whether the request is a browser opening GraphiQL (a read without a query, asking for HTML),
        whose page Starlette serves."""
        return (
            self._explorer is not None
            and incoming.method in _READS
            and "query" not in incoming.query_params
            and accepts_html(Request(incoming.scope))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as Starlette's route calls it, inside the middlewares; DirectRoutes
        (web/direct_routes.py) answers /graphql before them, and passes GraphiQL's page on to here."""
        incoming = Incoming(scope, receive)
        if self.passes_on(incoming):
            await (await self._explorer_page(incoming))(scope, receive, send)
        else:
            await (await self.answer(incoming)).send(send)

    async def _explorer_page(self, incoming: Incoming) -> Response:
        assert self._explorer is not None
        telemetry = current_request()
        if telemetry is not None:
            telemetry.operation_label = OperationLabels.OTHER
        response = await self._explorer(Request(incoming.scope, incoming.receive))
        response.headers["vary"] = "Accept"  # asked for without HTML, the same address answers JSON
        return response

    async def answer(self, incoming: Incoming) -> Answer:
        """The request answered in the media type it accepts."""
        telemetry = current_request()
        if telemetry is not None:
            telemetry.operation_label = OperationLabels.OTHER  # until a validated document names it
        media_type = response_media_type(incoming.headers.get("accept"))
        if media_type is None:
            answer = _error(
                406, "NOT_ACCEPTABLE", f"Accept '{MediaType.JSON}' or '{MediaType.GRAPHQL_RESPONSE}'."
            )
        else:
            answer = await self._answer(incoming, media_type)
        if telemetry is not None and telemetry.outcome is None and answer.status >= 400:
            telemetry.outcome = Outcome.GRAPHQL_ERROR
        return answer

    async def _answer(self, incoming: Incoming, media_type: MediaType) -> Answer:
        persist = None
        try:
            if incoming.method in _READS:
                query, variables, operation_name, persist = _query_string_params(
                    incoming.query_params, self._persisted
                )
                allowed = _QUERIES_ONLY
            else:
                refusal = unsupported_body(incoming.headers.get("content-type"))
                if refusal is not None:
                    count_refusal(Refusal.UNSUPPORTED_MEDIA_TYPE)
                    return _error(415, "UNSUPPORTED_MEDIA_TYPE", refusal, media_type)
                body = await incoming.body(self._max_body_bytes)
                payload, persist = self._persisted.resolve(orjson.loads(body))
                query, variables, operation_name = _graphql_params(payload)
                allowed = _ALL_OPERATIONS
        except BodyTooLarge:
            count_refusal(Refusal.BODY_TOO_LARGE)
            return _error(
                413, "PAYLOAD_TOO_LARGE", f"The body is over {self._max_body_bytes} bytes.", media_type
            )
        except VariablesNotJSON:
            return _error(400, "BAD_REQUEST", "The 'variables' parameter is not valid JSON.", media_type)
        except orjson.JSONDecodeError:
            return _error(400, "BAD_REQUEST", "The body is not valid JSON.", media_type)
        except BadRequest as error:
            return _error(400, "BAD_REQUEST", str(error), media_type)
        except PersistedQueryError as error:
            if error.code == "PERSISTED_QUERY_NOT_IN_LIST":
                count_refusal(Refusal.PERSISTED_NOT_IN_LIST)
            return _error(media_type.status_before_execution, error.code, error.message, media_type)
        except HoldsNul:
            status = media_type.status_before_execution
            return _error(status, "BAD_USER_INPUT", "Text may not hold NUL characters.", media_type)
        return await self._execute(
            incoming, media_type, _Operation(query, variables, operation_name, allowed, persist)
        )

    async def _execute(self, incoming: Incoming, media_type: MediaType, operation: _Operation) -> Answer:
        """The operation run for its caller; without a valid token, only within its address's bucket."""
        origin = incoming.origin(self._trusted_proxies)
        context = Context(
            services=self._services,
            origin=origin,
            operation_name=operation.name,
            refresh_token_in_cookie=opts_in(incoming.headers.get(_OPT_IN_HEADER)),
        )
        authorization = incoming.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token:
                    raise Unauthenticated("Send the access token as 'Authorization: Bearer <token>'.")
                context.principal = await self._services.principals.authenticate(token.strip(), origin)
            except Unauthenticated as refusal:
                context.auth_failure = str(refusal)
                context.refused = refusal.client if isinstance(refusal, ClientRefused) else None
        if context.principal is None and self._anonymous_bursts is not None:
            retry_after = self._anonymous_bursts.take(origin.source_ip or "")
            if retry_after is not None:
                return await self._rate_limited(context, retry_after, media_type, "from this address at once")
        return await self._execute_for(context, incoming, media_type, operation)

    async def _execute_for(
        self, context: Context, incoming: Incoming, media_type: MediaType, operation: _Operation
    ) -> Answer:
        query, variables, operation_name = operation.query, operation.variables, operation.name
        caller_key = context.principal.actor_id if context.principal else f"ip:{context.origin.source_ip}"
        if self._rate_limiter is not None:
            # A caller with no budget left is refused before its document is parsed or measured.
            retry_after = self._rate_limiter.exhausted(caller_key, REQUEST_WEIGHT)
            if retry_after is not None:
                return await self._rate_limited(context, retry_after, media_type)
        if context.principal is None:
            # Documents without a token are read one per turn of the event loop: a thousand-token
            # document costs a millisecond or two to parse, and 18 sent at once from as many addresses
            # made everyone's next step wait behind all 18 (bench/attacks.py: an innocent `me` > 47 ms).
            async with self._anonymous_reading:
                admission = self._schema.admit(query, operation_name, variables)
                await asyncio.sleep(0)
        else:
            admission = self._schema.admit(query, operation_name, variables)
        telemetry = current_request()
        if telemetry is not None:
            if context.principal is not None:
                telemetry.principal = context.principal.actor_id
            telemetry.operation = _operation_name(admission.known, operation_name)
        if isinstance(admission.refusal, QueryTooComplex):
            count_refusal(Refusal.QUERY_TOO_COMPLEX)
        if operation.persist is not None and admission.refusal is None:
            # An automatic persisted query, registered once it is within the limits.
            self._persisted.register(*operation.persist)
        if self._rate_limiter is not None:
            retry_after = await self._rate_limiter.hit(caller_key, cost=admission.spend)
            if retry_after is not None:
                return await self._rate_limited(context, retry_after, media_type)
        try:
            with self._operation_span(admission.known) as span:
                turns = self._admission if context.principal is not None else self._anonymous_admission
                # In its turn, the operation's single reads share one pooled connection.
                async with turns, context.one_read_connection():
                    result = await self._run(admission, operation, context)
                if telemetry is not None:
                    self._describe(telemetry, admission, query, operation_name, result, span)
        except InvalidOperationTypeError as refusal:
            if refusal.operation_type is OperationType.SUBSCRIPTION:
                return _error(
                    400,
                    "SUBSCRIPTIONS_NOT_SUPPORTED",
                    "Subscriptions are not served: this API answers queries and mutations.",
                    media_type,
                )
            answer = _error(405, "METHOD_NOT_ALLOWED", "Mutations are sent with POST.", media_type)
            answer.headers.append((b"allow", b"POST"))
            return answer
        except (MissingQueryError, CannotGetOperationTypeError):
            return _error(
                400, "BAD_REQUEST", "Name an operation of the document in 'operationName'.", media_type
            )
        # One entry per refused request, named by schema field (error.path[0] is the client's alias).
        refused = [
            (error.nodes[0].name.value, error.original_error)
            for error in result.errors or ()
            if isinstance(error.original_error, Unauthenticated | Forbidden)
            and not error.original_error.recorded
            and error.nodes
            and isinstance(error.nodes[0], FieldNode)
        ]
        if refused:
            fields, refusals = zip(*refused, strict=True)
            await self._services.audit.record_refused_read(context.caller(), fields, refusals)
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [
                format_error(error, incoming.request_id, suggestions=self._suggestions)
                for error in result.errors
            ]
        if result.extensions:  # the cost
            body["extensions"] = result.extensions
        executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
        if not executed:
            return _json(media_type.status_before_execution, body, media_type)
        body["data"] = result.data  # the spec: "data" is present (maybe null) once execution started
        answer = _json(200, body, media_type)
        if context.issued_refresh_token is not None:  # a sign-in asked to keep it in the cookie
            cookie = self._refresh_cookie.header(Request(incoming.scope), context.issued_refresh_token)
            answer.headers.append(cookie)
        return answer

    def _operation_span(self, known: KnownOperation | None) -> AbstractContextManager[Any]:
        """A span for the operation when tracing, named once its type and name are known."""
        if self._tracing is None:
            return nullcontext()
        plan = "none" if known is None else "compiled" if known.plan is not None else "graphql-core"
        return self._tracing.tracer.start_as_current_span(
            "graphql.operation", attributes={"loyalty.known_operation": plan}
        )

    def _describe(
        self,
        telemetry: RequestTelemetry,
        admission: Admission,
        query: str,
        operation_name: str | None,
        result: ExecutionResult | StrawberryExecutionResult,
        span: Any,
    ) -> None:
        """The operation's bounded label and outcome, for the request's metrics and span."""
        # A document run for the first time became a known operation (validated) as it started.
        known = admission.known or (
            self._schema.known_operations.get((query, operation_name)) if admission.refusal is None else None
        )
        name = _operation_name(known, operation_name)
        telemetry.operation = name
        telemetry.operation_label = self._operation_labels.label(name, validated=known is not None)
        if telemetry.outcome is None:
            telemetry.outcome = (
                Outcome.GRAPHQL_ERROR
                if result.errors
                else Outcome.USER_ERROR
                if _holds_user_errors(result.data)
                else Outcome.OK
            )
        if span is not None:
            kind = known.operation_type.value if known is not None else "operation"
            span.update_name(f"{kind} {name}" if name else kind)
            span.set_attribute("graphql.operation.name", name or "")
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("loyalty.outcome", telemetry.outcome)

    async def _rate_limited(
        self, context: Context, retry_after: float, media_type: MediaType, how: str = ""
    ) -> Answer:
        count_refusal(Refusal.RATE_LIMITED)
        await self._services.audit.record_rate_limited(context.caller())
        too_many = f"Too many requests {how}".rstrip()
        answer = _error(429, "RATE_LIMITED", f"{too_many}; retry in {retry_after:.0f} s.", media_type)
        answer.headers.append((b"retry-after", str(int(retry_after)).encode()))
        return answer

    async def _run(
        self, admission: Admission, operation: _Operation, context: Context
    ) -> ExecutionResult | StrawberryExecutionResult:
        """Nothing for a refused document; a known operation from its plan; any other through
        Strawberry's full path. The cost goes with the answer, in ``extensions.cost``."""
        known = admission.known
        result: ExecutionResult | StrawberryExecutionResult
        if admission.refusal is not None:
            result = ExecutionResult(None, [admission.refusal])
        elif known is not None and known.operation_type in operation.allowed:
            run = self._schema.execute_known(
                known, variables=operation.variables, operation_name=operation.name, context=context
            )
            result = run if isinstance(run, ExecutionResult) else await run
        else:
            result = await self._schema.execute(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.name,
                allowed_operation_types=operation.allowed,
            )
        if admission.cost is not None:
            cost = {"requested": admission.cost, "limit": self._schema.limits.max_cost}
            result.extensions = {**(result.extensions or {}), "cost": cost}
        return result


def _operation_name(known: KnownOperation | None, requested: str | None) -> str | None:
    """The name of the operation run: the one requested, or a known document's only operation's."""
    if requested is not None or known is None:
        return requested[:100] if requested is not None else None
    names = [
        node.name.value
        for node in known.document.definitions
        if isinstance(node, OperationDefinitionNode) and node.name is not None
    ]
    return names[0] if len(names) == 1 else None


def _holds_user_errors(data: Any) -> bool:
    """Whether a root field's payload carries ``errors`` (UserErrors, as data)."""
    return isinstance(data, dict) and any(
        isinstance(payload, dict) and payload.get("errors") for payload in data.values()
    )


def _query_string_params(
    params: QueryParams, persisted: PersistedOperations
) -> tuple[str, dict[str, Any] | None, str | None, tuple[str, str] | None]:
    """A GET's operation, and what to register for an automatic persisted query."""
    try:
        variables = orjson.loads(params["variables"]) if params.get("variables") else None
    except orjson.JSONDecodeError:
        raise VariablesNotJSON from None
    try:
        extensions = orjson.loads(params["extensions"]) if params.get("extensions") else None
    except orjson.JSONDecodeError:
        raise BadRequest("The 'extensions' parameter is not valid JSON.") from None
    payload, persist = persisted.resolve(
        {
            "query": params.get("query"),
            "variables": variables,
            "operationName": params.get("operationName"),
            "extensions": extensions,
        }
    )
    return (*_graphql_params(payload), persist)


def _json(status: int, body: dict[str, Any], media_type: MediaType) -> Answer:
    """An answer in ``media_type``; each depends on the request's Accept, so it varies by it."""
    return Answer(status, orjson.dumps(body), list(_HEADERS[media_type]))


def _error(status: int, code: str, message: str, media_type: MediaType = MediaType.JSON) -> Answer:
    return _json(status, error_body(code, message), media_type)
