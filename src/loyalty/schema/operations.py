"""Known operations: documents accepted once run straight on graphql-core's executor afterwards.

Strawberry's ``Schema.execute`` runs, for every request, its parse and validation caches and every
extension hook around them. None of that can change the outcome for a document it has already parsed,
validated and started executing with the same operation name: validation does not depend on variables
or on the caller. Such a request goes to graphql-core's ``execute`` with the document kept here; any
other request takes Strawberry's full path, which remembers the document once it reaches execution.
A known operation keeps the figures measured when it was admitted (:mod:`loyalty.schema.limits`), so
only the cost that depends on variables is worked out per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from loyalty.schema.documents import CACHE_ENTRIES, CACHE_TOKENS, Documents, SizedLru
from loyalty.schema.limits import Figures
from loyalty.schema.plans import Plan, Unsupported, compile_plan

_Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class KnownOperation:
    document: DocumentNode
    operation_type: OperationType
    plan: Plan | None  # None: the operation runs on graphql-core's executor
    figures: Figures


class KnownOperations(SizedLru[_Key, KnownOperation]):
    """(query text, requested operation name) to the document that passed, the most recent kept,
    bounded by their total tokens like the documents."""

    def __init__(self, maxsize: int = CACHE_ENTRIES, max_tokens: int = CACHE_TOKENS) -> None:
        super().__init__(maxsize, max_tokens, lambda known: known.figures.tokens)


class RememberKnownOperations(SchemaExtension):
    """Records a document once Strawberry has parsed, validated and admitted it for execution."""

    def __init__(self, known: KnownOperations, documents: Documents) -> None:
        self._known = known
        self._documents = documents

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is not None:
            # The name the request asked for (Strawberry fills in the first operation's when none is).
            requested = getattr(context.context, "operation_name", None)
            try:
                _, figures = self._documents.admit(context.query, requested)
            except GraphQLError:  # over the limits: run by a caller other than the endpoint, not kept
                figures = None
            if figures is not None:
                try:
                    plan = compile_plan(context.schema._schema, context.graphql_document, requested)
                except Unsupported:
                    plan = None
                known = KnownOperation(context.graphql_document, context.operation_type, plan, figures)
                self._known.put((context.query, requested), known)
        yield
