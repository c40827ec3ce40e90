"""``/graphql`` answered before Starlette: what the middlewares do for it, done inline and once.

Behind Starlette, a simple query spent about a third of its time outside the endpoint (issue 13): in
five middlewares, Starlette's own two, the router and ``request_response``, each a coroutine of its
own, and each wrapping ``send`` again for the answer to pass back through. Here the request id, the
telemetry, CORS (its preflight too), the 405, the JSON 500 and the security headers are applied by
the same functions the middlewares call, in the order their stacking gives, and the answer goes out as
one ``http.response.start`` and one ``http.response.body``. GraphiQL's page, and every other address,
stay on Starlette.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Receive, Scope, Send

from loyalty.web.cors import CorsPolicy
from loyalty.web.errors import failure_response, method_refused
from loyalty.web.graphql import GraphQLEndpoint
from loyalty.web.incoming import Answer, Incoming
from loyalty.web.request_id import request_id
from loyalty.web.security_headers import SecurityHeaders
from loyalty.web.telemetry import Telemetry

GRAPHQL_PATH = "/graphql"
# What Starlette's route for it takes (it adds HEAD to GET), named in a 405's Allow.
METHODS = frozenset({"GET", "HEAD", "POST"})
ALLOW = ", ".join(sorted(METHODS))


class GraphQLRoute:
    def __init__(
        self,
        endpoint: GraphQLEndpoint,
        *,
        telemetry: Telemetry,
        security_headers: SecurityHeaders,
        cors: CorsPolicy,
    ) -> None:
        self._endpoint = endpoint
        self._telemetry = telemetry
        self._cors = cors
        # No answer to /graphql sets its own policy or caching: the security headers are always these.
        self._security_headers = security_headers.for_api

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a request for ``GRAPHQL_PATH``; False, having done nothing, when it is Starlette's to answer
        (a browser opening GraphiQL, whose page Starlette serves)."""
        incoming = Incoming(scope, receive)
        if self._endpoint.shows_explorer(incoming):
            return False
        chosen_id = request_id(incoming.headers.get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = chosen_id
        with self._telemetry.observe(scope) as exchange:
            preflight = self._cors.preflight_of(incoming.method, incoming.headers.get)
            answer = Answer.of(preflight) if preflight is not None else await self._answer(incoming)
            headers = answer.start_headers()
            if self._cors.origins and preflight is None:  # a preflight's answer says all CORS has to
                self._cors.mark(MutableHeaders(raw=headers), incoming.headers.get("origin"))
            headers += self._security_headers
            headers.append((b"x-request-id", chosen_id.encode()))
            exchange.status, exchange.bytes = answer.status, len(answer.body)
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})
        return True

    async def _answer(self, incoming: Incoming) -> Answer:
        """A 405 for a method not served, else the endpoint's answer, or the JSON 500 when it failed."""
        if incoming.method not in METHODS:
            return Answer.of(method_refused(ALLOW))
        try:
            return await self._endpoint.answer(incoming)
        except Exception as exc:  # noqa: BLE001 - answered as ServerErrors does, logged with its trace
            return Answer.of(failure_response(exc, incoming.request_id))
