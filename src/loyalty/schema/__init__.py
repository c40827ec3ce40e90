"""The Strawberry schema: one per process, with parse and validation caches."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import strawberry
from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, execute
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import DisableIntrospection, ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError

from loyalty.schema.mutation import Mutation
from loyalty.schema.operations import KnownOperation, KnownOperations, RememberKnownOperations
from loyalty.schema.query import Query
from loyalty.schema.scalars import SCALARS

CACHE_SIZE = 1024


class TagValidationErrors(SchemaExtension):
    """Marks validation errors with ``extensions.code`` (they carry no exception to tell them by)."""

    def on_validate(self):  # type: ignore[no-untyped-def]
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLError) and "code" not in (error.extensions or {}):
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}


class RequireOperationName(SchemaExtension):
    """A document with several operations must name the one to run (graphql-core would pick the first)."""

    def on_parse(self):  # type: ignore[no-untyped-def]
        yield
        # Strawberry fills in the first operation's name when none is given; the request's is kept here.
        requested = getattr(self.execution_context.context, "operation_name", None)
        document = self.execution_context.graphql_document
        if requested is None and document is not None:
            operations = sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)
            if operations > 1:
                raise CannotGetOperationTypeError(None)


class LoyaltySchema(strawberry.Schema):
    def __init__(self, *args, known_operations: KnownOperations, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.known_operations = known_operations

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
            is_awaitable=optimized_is_awaitable,
        )

    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        """Errors are logged by the HTTP layer, which knows the request id and masks internals."""


def build_schema(*, introspection: bool = True) -> LoyaltySchema:
    known = KnownOperations(maxsize=CACHE_SIZE)
    extensions: list = [
        TagValidationErrors,
        RequireOperationName,
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    extensions.append(lambda: RememberKnownOperations(known))
    return LoyaltySchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
        known_operations=known,
    )
