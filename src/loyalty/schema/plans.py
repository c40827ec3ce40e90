"""Execution plans: a known operation's selection walked once, not on every request.

graphql-core's executor collects the fields, builds an info object and dispatches on the return type
for every field of every object of every request: for a page of fifty users that is most of the
request. A plan is the operation turned once into a tree of steps for our schema's concrete object
types, so a request only calls resolvers and coerces leaves. The semantics are graphql-core's: the
same resolvers and arguments, sibling fields resolved concurrently (so DataLoaders batch), errors
located at their path, a null in a non-null position nulling the nearest nullable parent. Operations a
plan does not express (directives, introspection, interfaces or unions) run on graphql-core.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    is_leaf_type,
    located_error,
)
from graphql.execution.executor import Executor
from graphql.execution.values import get_argument_values
from graphql.language import Visitor, visit
from graphql.pyutils import Path
from graphql.pyutils import inspect as describe
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.execution.is_awaitable import optimized_is_awaitable as is_awaitable
from strawberry.types import Info

_DEFINITION = "strawberry-definition"


class Unsupported(Exception):
    """The operation needs graphql-core's general executor."""


class _Request:
    """One execution of a plan: the executor graphql-core built (variables, info) and the errors."""

    __slots__ = ("errors", "executor")

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.errors: list[GraphQLError] = []

    def info(self, step: FieldStep, path: Path) -> Any:
        return self.executor.build_resolve_info(step.definition, step.nodes, step.parent_type, path)

    def fail(self, raw: Exception, step: FieldStep, path: Path, *, nullable: bool) -> None:
        """Record an error where a null may stand; raise it on to the parent where none may."""
        error = located_error(raw, step.nodes, path.as_list())
        if not nullable:
            raise error
        self.errors.append(error)


Resolve = Callable[[_Request, "FieldStep", Any, Path], Any]
Complete = Callable[[_Request, "FieldStep", Any, Path], Any]


@dataclass(slots=True, eq=False)
class FieldStep:
    key: str
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    definition: GraphQLField
    nullable: bool
    resolve: Resolve = field(repr=False)
    complete: Complete = field(repr=False)


@dataclass(slots=True, eq=False)
class ObjectPlan:
    type_name: str
    steps: list[FieldStep]


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    document: DocumentNode
    operation_name: str | None
    root: ObjectPlan
    serial: bool

    async def run(
        self, schema: GraphQLSchema, *, variables: dict[str, Any] | None, context: Any
    ) -> ExecutionResult:
        executor = Executor.build(
            schema,
            self.document,
            context_value=context,
            raw_variable_values=variables,
            operation_name=self.operation_name,
            is_awaitable=is_awaitable,
        )
        if isinstance(executor, list):
            return ExecutionResult(data=None, errors=executor)
        request = _Request(executor)
        try:
            if self.serial:
                data = await _execute_serially(request, self.root)
            else:
                data = _execute_object(request, self.root, None, None)
                if is_awaitable(data):
                    data = await data
        except GraphQLError as error:  # a non-null root field failed
            request.errors.append(error)
            data = None
        return ExecutionResult(data=data, errors=request.errors or None)


# --- running ---------------------------------------------------------------------------------------


def _execute_object(request: _Request, plan: ObjectPlan, source: Any, path: Path | None) -> Any:
    data: dict[str, Any] = {}
    pending: list[str] | None = None
    for step in plan.steps:
        step_path = Path(path, step.key, plan.type_name)
        try:
            value = step.resolve(request, step, source, step_path)
            if is_awaitable(value):
                value = _complete_later(request, step, value, step_path)
            else:
                value = step.complete(request, step, value, step_path)
                if is_awaitable(value):
                    value = _guard(request, step, value, step_path)
        except Exception as raw:  # noqa: BLE001 - resolver errors become GraphQL errors, as in graphql-core
            value = request.fail(raw, step, step_path, nullable=step.nullable)
        if is_awaitable(value):
            pending = pending or []
            pending.append(step.key)
        data[step.key] = value
    return _settle(data, pending) if pending else data


async def _execute_serially(request: _Request, plan: ObjectPlan) -> dict[str, Any]:
    """Mutation fields, one after the other."""
    data: dict[str, Any] = {}
    for step in plan.steps:
        step_path = Path(None, step.key, plan.type_name)
        try:
            value = step.resolve(request, step, None, step_path)
        except Exception as raw:  # noqa: BLE001
            data[step.key] = request.fail(raw, step, step_path, nullable=step.nullable)
        else:
            data[step.key] = await _complete_later(request, step, value, step_path)
    return data


async def _complete_later(request: _Request, step: FieldStep, value: Any, path: Path) -> Any:
    try:
        if is_awaitable(value):
            value = await value
        completed = step.complete(request, step, value, path)
        return (await completed) if is_awaitable(completed) else completed
    except Exception as raw:  # noqa: BLE001
        return request.fail(raw, step, path, nullable=step.nullable)


async def _guard(request: _Request, step: FieldStep, completed: Awaitable[Any], path: Path) -> Any:
    try:
        return await completed
    except Exception as raw:  # noqa: BLE001
        return request.fail(raw, step, path, nullable=step.nullable)


async def _settle(container: Any, positions: Sequence[Any]) -> Any:
    """Await the pending entries of ``container`` together; a failure nulls the container."""
    if len(positions) == 1:
        container[positions[0]] = await container[positions[0]]
        return container
    results = await asyncio.gather(*(container[p] for p in positions), return_exceptions=True)
    for position, result in zip(positions, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        container[position] = result
    return container


def _leaf(leaf_type: Any) -> Complete:
    coerce = leaf_type.coerce_output_value

    def complete(_request: _Request, _step: FieldStep, value: Any, _path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise TypeError(
                f"Expected `{describe(leaf_type)}.coerce_output_value({describe(value)})`"
                f" to return non-nullable value, returned: {describe(coerced)}"
            )
        return coerced

    return complete


def _non_null(inner: Complete) -> Complete:
    def refuse_null(step: FieldStep) -> None:
        raise TypeError(
            f"Cannot return null for non-nullable field {step.parent_type}.{step.nodes[0].name.value}."
        )

    async def later(request: _Request, step: FieldStep, completed: Awaitable[Any]) -> Any:
        value = await completed
        if value is None:
            refuse_null(step)
        return value

    def complete(request: _Request, step: FieldStep, value: Any, path: Path) -> Any:
        completed = inner(request, step, value, path)
        if completed is None:
            refuse_null(step)
        return later(request, step, completed) if is_awaitable(completed) else completed

    return complete


def _list(item: Complete, items_nullable: bool) -> Complete:
    def complete(request: _Request, step: FieldStep, value: Any, path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
            where = f"{step.parent_type}.{step.nodes[0].name.value}"
            raise GraphQLError(f"Expected Iterable, but did not find one for field '{where}'.")
        results: list[Any] = []
        pending: list[int] | None = None
        for index, entry in enumerate(value):
            entry_path = Path(path, index, None)
            try:
                completed = item(request, step, entry, entry_path)
                if is_awaitable(completed):
                    completed = _guard_item(request, step, completed, entry_path, items_nullable)
            except Exception as raw:  # noqa: BLE001
                completed = request.fail(raw, step, entry_path, nullable=items_nullable)
            if is_awaitable(completed):
                pending = pending or []
                pending.append(index)
            results.append(completed)
        return _settle(results, pending) if pending else results

    return complete


async def _guard_item(
    request: _Request, step: FieldStep, completed: Awaitable[Any], path: Path, nullable: bool
) -> Any:
    try:
        return await completed
    except Exception as raw:  # noqa: BLE001
        return request.fail(raw, step, path, nullable=nullable)


def _object(plan: ObjectPlan) -> Complete:
    def complete(request: _Request, _step: FieldStep, value: Any, path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        return _execute_object(request, plan, value, path)

    return complete


# --- compiling -------------------------------------------------------------------------------------


def compile_plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Plan:
    """The plan for one operation of a validated document; :class:`Unsupported` if it needs more."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [d for d in operations if d.name and d.name.value == operation_name]
    if len(operations) != 1:
        raise Unsupported("no single operation")
    operation = operations[0]
    if operation.operation is OperationType.SUBSCRIPTION or _has_directives(document):
        raise Unsupported("subscription or directives")
    root_type = schema.get_root_type(operation.operation)
    if root_type is None:
        raise Unsupported("no root type")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = _Compiler(fragments).object_plan(root_type, [operation.selection_set])
    return Plan(document, operation_name, root, serial=operation.operation is OperationType.MUTATION)


def _has_directives(document: DocumentNode) -> bool:
    class Finder(Visitor):
        found = False

        def enter_directive(self, *_args: Any) -> Any:
            self.found = True
            return self.BREAK

    finder = Finder()
    visit(document, finder)
    return finder.found


class _Compiler:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments

    def object_plan(
        self, object_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> ObjectPlan:
        grouped = self._collect(object_type, selection_sets)
        return ObjectPlan(
            object_type.name, [self._step(object_type, key, nodes) for key, nodes in grouped.items()]
        )

    def _collect(
        self, object_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        grouped: dict[str, list[FieldNode]] = {}
        seen_fragments: set[str] = set()

        def take(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    grouped.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    self._check_condition(object_type, selection.type_condition)
                    take(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in seen_fragments:
                        continue
                    seen_fragments.add(name)
                    fragment = self._fragments[name]
                    self._check_condition(object_type, fragment.type_condition)
                    take(fragment.selection_set)

        for selection_set in selection_sets:
            take(selection_set)
        return grouped

    @staticmethod
    def _check_condition(object_type: GraphQLObjectType, condition: Any) -> None:
        if condition is not None and condition.name.value != object_type.name:
            raise Unsupported("a fragment on another type")

    def _step(self, parent_type: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> FieldStep:
        name = nodes[0].name.value
        if name == "__typename":
            typename = parent_type.name
            return FieldStep(
                key, nodes, parent_type, TypeNameMetaFieldDef, False,
                resolve=lambda *_: typename, complete=lambda _r, _s, value, _p: value,
            )  # fmt: skip
        if name.startswith("__"):
            raise Unsupported("introspection")
        definition = parent_type.fields[name]
        return FieldStep(
            key,
            nodes,
            parent_type,
            definition,
            nullable=not isinstance(definition.type, GraphQLNonNull),
            resolve=self._resolver(definition, nodes[0]),
            complete=self._completer(definition.type, nodes),
        )

    def _completer(self, output_type: GraphQLOutputType, nodes: list[FieldNode]) -> Complete:
        if isinstance(output_type, GraphQLNonNull):
            return _non_null(self._completer(output_type.of_type, nodes))
        if isinstance(output_type, GraphQLList):
            return _list(
                self._completer(output_type.of_type, nodes),
                items_nullable=not isinstance(output_type.of_type, GraphQLNonNull),
            )
        if is_leaf_type(output_type):
            return _leaf(output_type)
        if isinstance(output_type, GraphQLObjectType):
            selection_sets = [node.selection_set for node in nodes if node.selection_set]
            return _object(self.object_plan(output_type, selection_sets))
        raise Unsupported("an interface or union")

    @staticmethod
    def _resolver(definition: GraphQLField, node: FieldNode) -> Resolve:
        strawberry_field = (definition.extensions or {}).get(_DEFINITION)
        if strawberry_field is None or definition.resolve is None:
            raise Unsupported("a field Strawberry did not build")
        if strawberry_field.is_basic_field and getattr(definition.resolve, "_is_default", False):
            attribute = strawberry_field.python_name

            def read_attribute(_request: _Request, _step: FieldStep, source: Any, _path: Path) -> Any:
                return getattr(source, attribute)

            return read_attribute
        method = _plain_method(strawberry_field)
        if method is not None:

            def call_method(request: _Request, step: FieldStep, source: Any, path: Path) -> Any:
                return method(source, Info(_raw_info=request.info(step, path), _field=strawberry_field))

            return call_method
        resolve = definition.resolve
        if not any(_holds_variable(argument.value) for argument in node.arguments or ()):
            arguments = get_argument_values(definition, node)

            def call_with_literals(request: _Request, step: FieldStep, source: Any, path: Path) -> Any:
                return resolve(source, request.info(step, path), **arguments)

            return call_with_literals

        def call_with_variables(request: _Request, step: FieldStep, source: Any, path: Path) -> Any:
            arguments = get_argument_values(definition, node, request.executor.variable_values)
            return resolve(source, request.info(step, path), **arguments)

        return call_with_variables


def _holds_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ObjectValueNode):
        return any(_holds_variable(entry.value) for entry in value.fields)
    if isinstance(value, ListValueNode):
        return any(_holds_variable(entry) for entry in value.values)
    return False


def _plain_method(strawberry_field: Any) -> Callable[[Any, Info], Any] | None:
    """The resolver as ``method(self, info)`` when Strawberry would add nothing around the call
    (no arguments to convert, no extensions or permissions); otherwise None."""
    resolver = strawberry_field.base_resolver
    if resolver is None or strawberry_field.extensions or strawberry_field.arguments:
        return None
    self_parameter, info_parameter = resolver.self_parameter, resolver.info_parameter
    if self_parameter is None or info_parameter is None:
        return None
    names = list(inspect.signature(resolver.wrapped_func).parameters)
    if names != [self_parameter.name, info_parameter.name]:
        return None
    return resolver.wrapped_func  # type: ignore[no-any-return]
