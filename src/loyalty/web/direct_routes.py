"""``/graphql`` and ``/oauth/token`` answered before Starlette: what the middlewares do for them, done
inline and once.

Behind Starlette, a simple query spent about a third of its time outside the endpoint (issue 13): in
five middlewares, Starlette's own two, the router and ``request_response``, each a coroutine of its
own, and each wrapping ``send`` again for the answer to pass back through. The token endpoint is
flooded the same way by anyone who knows its address, and every refusal paid that toll on the one
event loop (issue 10). Here the request id, the telemetry, CORS (its preflight too), the 405, the JSON
500 and the security headers are applied by the same functions the middlewares call, in the order
their stacking gives, and the answer goes out as one ``http.response.start`` and one
``http.response.body``. GraphiQL's page, and every other address, stay on Starlette.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from starlette.datastructures import MutableHeaders
from starlette.types import Receive, Scope, Send

from loyalty.web.cors import CorsPolicy
from loyalty.web.errors import failure_response, method_refused
from loyalty.web.incoming import Answer, Incoming
from loyalty.web.request_id import request_id
from loyalty.web.security_headers import SecurityHeaders
from loyalty.web.telemetry import Telemetry


class DirectEndpoint(Protocol):
    """An endpoint answered before Starlette; it is also Starlette's route, for what it passes on."""

    # The methods its Starlette route takes (Starlette adds HEAD where GET is), named in a 405's Allow.
    METHODS: frozenset[str]

    def passes_on(self, incoming: Incoming) -> bool:
        """Whether Starlette is to answer the request instead (GraphiQL's page, say)."""
        ...

    async def answer(self, incoming: Incoming) -> Answer: ...


class DirectRoutes:
    def __init__(
        self,
        endpoints: Mapping[str, DirectEndpoint],
        *,
        telemetry: Telemetry,
        security_headers: SecurityHeaders,
        cors: CorsPolicy,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._allow = {path: ", ".join(sorted(endpoint.METHODS)) for path, endpoint in endpoints.items()}
        self._telemetry = telemetry
        self._cors = cors
        self._security_headers = security_headers

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a request for one of the endpoints' paths; False, having done nothing, when it is
        Starlette's to answer (another path, or one the endpoint passes on)."""
        endpoint = self._endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            return False
        incoming = Incoming(scope, receive)
        if endpoint.passes_on(incoming):
            return False
        chosen_id = request_id(incoming.headers.get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = chosen_id
        with self._telemetry.observe(scope) as exchange:
            preflight = self._cors.preflight_of(incoming.method, incoming.headers.get)
            if preflight is not None:
                answer = Answer.of(preflight)
            elif incoming.method not in endpoint.METHODS:
                answer = Answer.of(method_refused(self._allow[scope["path"]]))
            else:
                answer = await _answer(endpoint, incoming)
            headers = answer.start_headers()
            if self._cors.origins and preflight is None:  # a preflight's answer says all CORS has to
                self._cors.mark(MutableHeaders(raw=headers), incoming.headers.get("origin"))
            headers = self._security_headers.added_to(headers)
            headers.append((b"x-request-id", chosen_id.encode()))
            exchange.status, exchange.bytes = answer.status, len(answer.body)
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})
        return True


async def _answer(endpoint: DirectEndpoint, incoming: Incoming) -> Answer:
    """The endpoint's answer, or the JSON 500 when it failed."""
    try:
        return await endpoint.answer(incoming)
    except Exception as exc:  # noqa: BLE001 - answered as ServerErrors does, logged with its trace
        return Answer.of(failure_response(exc, incoming.request_id))
