"""The Strawberry schema: one per process, with parse and validation caches."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, execute
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types.execution import ExecutionContext

from loyalty.schema.documents import Documents, ParseWithinLimits, ValidateOnce
from loyalty.schema.limits import REQUEST_WEIGHT, QueryLimits, QueryTooComplex, cost_refusal
from loyalty.schema.mutation import Mutation
from loyalty.schema.operations import KnownOperation, KnownOperations, RememberKnownOperations
from loyalty.schema.query import Query
from loyalty.schema.scalars import SCALARS


@dataclass(frozen=True, slots=True)
class Admission:
    """What the limits made of a request before any work: its cost, and a refusal or a known operation."""

    cost: int | None  # what the operation asks for; None when refused before it could be measured
    spend: int  # what it takes from the caller's budget
    refusal: GraphQLError | None = None  # over a limit, or not parsable
    known: KnownOperation | None = None  # a known operation: run it from its plan


class TagValidationErrors(SchemaExtension):
    """Marks validation errors with ``extensions.code`` (they carry no exception to tell them by)."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLError) and "code" not in (error.extensions or {}):
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}


class RequireOperationName(SchemaExtension):
    """A document with several operations must name the one to run (graphql-core would pick the first)."""

    def on_parse(self) -> Iterator[None]:
        yield
        # Strawberry fills in the first operation's name when none is given; the request's is kept here.
        requested = getattr(self.execution_context.context, "operation_name", None)
        document = self.execution_context.graphql_document
        if requested is None and document is not None:
            operations = sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)
            if operations > 1:
                raise CannotGetOperationTypeError(None)


class LoyaltySchema(strawberry.Schema):
    def __init__(self, *, limits: QueryLimits, extensions: list, **kwargs: Any) -> None:
        self.limits = limits
        self.known_operations = KnownOperations()
        super().__init__(
            extensions=[
                *extensions,
                lambda: ParseWithinLimits(self.documents),
                lambda: ValidateOnce(self.documents),
                lambda: RememberKnownOperations(self.known_operations, self.documents),
            ],
            **kwargs,
        )
        self.documents = Documents(self._schema, limits)

    def admit(self, query: str, operation_name: str | None, variables: dict[str, Any] | None) -> Admission:
        """The request measured against the limits, before it is validated or run: a known operation's
        figures were kept with it, any other document is parsed (within the token limit) and measured."""
        known = self.known_operations.get((query, operation_name))
        if known is not None:
            figures = known.figures
        else:
            # A refusal is kept without its traceback, whose frames hold the document: the traceback and
            # what keeps the refusal formed a cycle, so each refused 1 MB document stayed in memory until
            # the collector's next run (hundreds of MB under a flood, with the collector tuned for speed).
            try:
                _, figures = self.documents.admit(query, operation_name)
            except QueryTooComplex as over:
                return Admission(None, self.limits.refusal_spend, refusal=over.with_traceback(None))
            except GraphQLError as unparsable:
                return Admission(None, REQUEST_WEIGHT, refusal=unparsable.with_traceback(None))
        cost = figures.cost.evaluate(variables)
        refused = cost_refusal(cost, self.limits)
        if refused is not None:
            return Admission(cost, self.limits.refusal_spend, refusal=refused)
        return Admission(cost, REQUEST_WEIGHT + cost, known=known)

    def execute_known(
        self,
        known: KnownOperation,
        *,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> ExecutionResult | Awaitable[ExecutionResult]:
        """Run an operation accepted before from its plan, or straight on graphql-core when it has none
        (see ``loyalty.schema.operations`` and ``loyalty.schema.plans``)."""
        if known.plan is not None:
            return known.plan.run(self._schema, variables=variables, context=context)
        return execute(
            self._schema,
            known.document,
            variable_values=variables,
            operation_name=operation_name,
            context_value=context,
            # Strawberry's check returns bool where graphql-core declares a TypeGuard; it is the same test.
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Errors are logged by the HTTP layer, which knows the request id and masks internals."""


def build_schema(*, introspection: bool = True, limits: QueryLimits | None = None) -> LoyaltySchema:
    extensions: list = [TagValidationErrors, RequireOperationName]
    if not introspection:
        extensions.append(DisableIntrospection)
    return LoyaltySchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
        limits=limits or QueryLimits(),
    )
