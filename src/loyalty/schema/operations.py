"""Known operations: documents accepted once run straight on graphql-core's executor afterwards.

Strawberry's ``Schema.execute`` runs, for every request, its parse and validation caches and every
extension hook around them. None of that can change the outcome for a document it has already parsed,
validated and started executing with the same operation name: validation does not depend on variables
or on the caller. Such a request goes to graphql-core's ``execute`` with the document kept here; any
other request takes Strawberry's full path, which remembers the document once it reaches execution.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from loyalty.lru import Lru
from loyalty.schema.plans import Plan, Unsupported, compile_plan

_Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class KnownOperation:
    document: DocumentNode
    operation_type: OperationType
    plan: Plan | None  # None: the operation runs on graphql-core's executor


class KnownOperations(Lru[_Key, KnownOperation]):
    """(query text, requested operation name) to the document that passed, the most recent kept."""


class RememberKnownOperations(SchemaExtension):
    """Records a document once Strawberry has parsed, validated and admitted it for execution."""

    def __init__(self, known: KnownOperations) -> None:
        self._known = known

    def on_execute(self):  # type: ignore[no-untyped-def]
        context = self.execution_context
        if context.query is not None and context.graphql_document is not None:
            # The name the request asked for (Strawberry fills in the first operation's when none is).
            requested = getattr(context.context, "operation_name", None)
            document = context.graphql_document
            try:
                plan = compile_plan(context.schema._schema, document, requested)
            except Unsupported:
                plan = None
            known = KnownOperation(document, context.operation_type, plan)
            self._known.put((context.query, requested), known)
        yield
