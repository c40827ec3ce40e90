"""Execution plans: a known operation's selection walked once, not on every request.

graphql-core's executor collects the fields, builds an info object and dispatches on the return type
for every field of every object of every request: for a page of fifty users that is most of the
request. A plan is the operation turned once into a tree of steps for our schema's concrete object
types, so a request only calls resolvers and coerces leaves. The semantics are graphql-core's: the
same resolvers and arguments, sibling fields resolved concurrently (so DataLoaders batch), errors
located at their path, a null in a non-null position nulling the nearest nullable parent. Operations a
plan does not express (directives, introspection, interfaces or unions) run on graphql-core.

Each object's steps are compiled into one Python function (``_compile_walk``): its leaves read into a
dict display, its other fields in line. A request builds no ``Path`` and no info unless an error or
a resolver asks for one, and coerces its variables once, each field's arguments at most once. For a
page of fifty users with their accounts this halved the walk (510 -> 245 us of CPU a request).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import keyword
from asyncio import isfuture
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import GeneratorType
from typing import Any, TypeGuard, cast
from uuid import UUID

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    located_error,
)
from graphql.execution.executor import Executor
from graphql.execution.get_variable_signature import GraphQLVariableSignature, get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    get_variable_values,
)
from graphql.language import Visitor, visit
from graphql.pyutils import Path
from graphql.pyutils import inspect as describe
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.execution.is_awaitable import optimized_is_awaitable as is_awaitable
from strawberry.relay.types import GlobalID
from strawberry.types import Info
from strawberry.types.arguments import _is_leaf_type, convert_argument
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import has_enum_definition

from loyalty.schema.scalars import _serialize_datetime

_DEFINITION = "strawberry-definition"


class Unsupported(Exception):
    """The operation needs graphql-core's general executor."""


# A position in the response while walking: (parent, key, parent type name), None for all of ``data``.
# It is graphql-core's ``Path`` as a plain tuple, cheaper to build for every field and list item, and
# turned into a ``Path`` or a list only where an error or a resolver's info needs one.
Where = tuple[Any, str | int, str | None] | None


def _path_list(where: Where) -> list[str | int]:
    keys: list[str | int] = []
    while where is not None:
        keys.append(where[1])
        where = where[0]
    keys.reverse()
    return keys


def _as_path(where: Where) -> Path | None:
    return None if where is None else Path(_as_path(where[0]), where[1], where[2])


@dataclass(slots=True, eq=False)
class _Slot:
    """A position in the response: ``container[key]``, at ``path``."""

    container: Any  # dict or list; None for the whole of ``data``
    key: Any
    path: Where


@dataclass(slots=True, eq=False)
class _Hole:
    """A value a resolver is still computing, and what to do with it once it is there."""

    slot: _Slot
    step: FieldStep
    # The nearest position at or above the hole that may be null: the hole itself when nullable.
    # Its value is completed under it, and an error nulls it (null bubbling).
    anchor: _Slot
    complete: Complete
    awaitable: Awaitable[Any]


class _Request:
    """One execution of a plan.

    Resolvers are called in a synchronous walk of the plan; a resolver that returns an awaitable
    leaves a hole. Then every hole of the round is awaited together (so DataLoaders batch across the
    whole level), each value is completed by walking on, which may leave new holes, and so on until
    none are left. A null where none may stand nulls the nearest nullable position above it, as in
    graphql-core: in the walk by raising to it, for a hole through its anchor.

    Where graphql-core cancels the pending siblings of a field whose error bubbles up, a hole under a
    nulled position is dropped: not completed, its errors not reported. Of a round's holes, those
    that failed are filled before those with a value (see ``_filling_order``), as graphql-core meets
    them: a refusal or a bad argument fails before the I/O its siblings wait for.
    """

    __slots__ = (
        "_executor",
        "arguments",
        "context",
        "data",
        "errors",
        "holes",
        "nulled",
        "plan",
        "raw_variables",
        "schema",
        "variables",
    )

    def __init__(
        self,
        plan: Plan,
        schema: GraphQLSchema,
        context: Any,
        variables: VariableValues,
        raw_variables: dict[str, Any] | None,
    ) -> None:
        self.plan = plan
        self.schema = schema
        self.context = context
        self.variables = variables
        self.raw_variables = raw_variables
        # The arguments of fields that take variables, coerced at their first call of the request.
        self.arguments: dict[FieldStep, dict[str, Any]] = {}
        self.errors: list[GraphQLError] = []
        self.holes: list[_Hole] = []
        self.nulled: set[Where] = set()
        self.data: dict[str, Any] | None = None
        self._executor: Executor | None = None

    def executor(self) -> Executor:
        """graphql-core's executor for this request, built the first time a resolver's info needs it."""
        if self._executor is None:
            built = Executor.build(
                self.schema,
                self.plan.document,
                context_value=self.context,
                raw_variable_values=self.raw_variables,
                operation_name=self.plan.operation_name,
                is_awaitable=_is_awaitable,
            )
            if not isinstance(built, Executor):  # the variables were coerced without errors before
                raise built[0]
            self._executor = built
        return self._executor

    def info(self, step: FieldStep, path: Where) -> GraphQLResolveInfo:
        return cast("GraphQLResolveInfo", _ResolveInfo(self, step, path))

    def leave_hole(
        self,
        container: Any,
        key: Any,
        path: Where,
        step: FieldStep,
        complete: Complete,
        awaitable: Awaitable[Any],
        *,
        nullable: bool,
        anchor: _Slot,
    ) -> None:
        """``container[key]`` waits for ``awaitable``; if that fails, the hole is nulled when
        ``nullable``, else ``anchor`` (the nearest nullable position above)."""
        slot = _Slot(container, key, path)
        container[key] = None
        self.holes.append(_Hole(slot, step, slot if nullable else anchor, complete, awaitable))

    def fail(self, raw: Exception, step: FieldStep, path: Where, *, nullable: bool) -> None:
        """Record an error where a null may stand; raise it on to the parent where none may."""
        error = located_error(raw, step.nodes, _path_list(path))
        if not nullable:
            raise error
        self.nulled.add(path)
        self.errors.append(error)

    async def settle(self) -> None:
        while self.holes:
            holes, self.holes = self.holes, []
            if len(holes) == 1 or all(isfuture(hole.awaitable) for hole in holes):
                # Futures (a DataLoader's) are already under way: awaiting them one by one waits no
                # longer than together, without gather's bookkeeping. Coroutines must start together.
                results = [await _outcome(hole.awaitable) for hole in holes]
            else:
                results = await asyncio.gather(*(hole.awaitable for hole in holes), return_exceptions=True)
            outcomes: Iterable[tuple[_Hole, Any]] = zip(holes, results, strict=True)
            if any(isinstance(result, Exception) for result in results):
                outcomes = sorted(outcomes, key=_filling_order)
            for hole, result in outcomes:
                self._fill(hole, result)

    def _fill(self, hole: _Hole, result: Any) -> None:
        slot = hole.slot
        if self.nulled and self._inside_nulled(slot.path):
            return  # graphql-core would have cancelled it
        if isinstance(result, Exception):
            error: Exception = result
        else:
            try:
                slot.container[slot.key] = hole.complete(self, hole.step, result, slot.path, hole.anchor)
                return
            except Exception as raised:  # noqa: BLE001
                error = raised
        located = located_error(error, hole.step.nodes, _path_list(slot.path))
        target = hole.anchor
        if target.container is None:
            self.data = None
        else:
            target.container[target.key] = None
        self.nulled.add(target.path)
        self.errors.append(located)

    def _inside_nulled(self, path: Where) -> bool:
        while path is not None:
            if path in self.nulled:
                return True
            path = path[0]
        return None in self.nulled


class _ResolveInfo:
    """What a resolver is given as graphql-core's info, built as it is read: building graphql-core's
    for each field of each object was a good part of a page, and our resolvers read the context (and
    a root field its selection). What the plan does not hold comes from graphql-core's info, built
    with an executor the first time it is asked for."""

    __slots__ = ("_built", "_path", "_request", "_step", "context")

    def __init__(self, request: _Request, step: FieldStep, path: Where) -> None:
        self.context = request.context
        self._request = request
        self._step = step
        self._path = path
        self._built: GraphQLResolveInfo | None = None

    @property
    def field_name(self) -> str:
        return self._step.nodes[0].name.value

    @property
    def field_nodes(self) -> list[FieldNode]:
        return self._step.nodes

    @property
    def return_type(self) -> GraphQLOutputType:
        return self._step.definition.type

    @property
    def parent_type(self) -> GraphQLObjectType:
        return self._step.parent_type

    @property
    def path(self) -> Path | None:
        return _as_path(self._path)

    @property
    def schema(self) -> GraphQLSchema:
        return self._request.schema

    @property
    def fragments(self) -> dict[str, FragmentDefinitionNode]:
        return self._request.plan.fragments

    @property
    def root_value(self) -> None:
        return None

    @property
    def operation(self) -> OperationDefinitionNode:
        return self._request.plan.operation

    @property
    def variable_values(self) -> VariableValues:
        return self._request.variables

    def __getattr__(self, name: str) -> Any:  # only what the class does not define
        if self._built is None:
            step = self._step
            path = cast("Path", _as_path(self._path))
            self._built = self._request.executor().build_resolve_info(
                step.definition, step.nodes, step.parent_type, path
            )
        return getattr(self._built, name)


class _PlanInfo(Info):
    """Strawberry's ``Info`` as a plan hands it to a resolver, ``Info(_raw_info=request.info(step, path),
    _field=field)``, with graphql-core's (``_raw_info``) made only when read: the resolvers a page calls
    for each row read the context, which comes from the request. One object a call, not two."""

    def __init__(self, request: _Request, step: FieldStep, path: Where, field: Any) -> None:
        self._request = request
        self._step = step
        self._path = path
        self._field = field

    @functools.cached_property
    def _raw_info(self) -> GraphQLResolveInfo:  # type: ignore[override]
        return self._request.info(self._step, self._path)

    @property
    def context(self) -> Any:
        return self._request.context


def _filling_order(outcome: tuple[_Hole, Any]) -> int:
    """The order in which graphql-core meets a round's outcomes: the failures of nullable fields (each
    recorded where it is, in the same turn of the event loop), then failures that bubble up to a
    nullable parent (the first one nulls it, cancelling what is still under way beneath), then values."""
    hole, result = outcome
    if isinstance(result, Exception):
        return 0 if hole.anchor is hole.slot else 1
    return 2


async def _outcome(awaitable: Awaitable[Any]) -> Any:
    """The value, or the exception it raised."""
    try:
        return await awaitable
    except Exception as error:  # noqa: BLE001 - becomes a GraphQL error where the hole is filled
        return error


Resolve = Callable[[_Request, "FieldStep", Any, Where], Any]
# Variables coerced as they are: (name, signature, the one class a value may have).
PlainVariables = tuple[tuple[str, "GraphQLVariableSignature", type], ...]
Complete = Callable[[_Request, "FieldStep", Any, Where, _Slot], Any]
# An object's fields completed into a new dict: (request, source, path, anchor).
Walk = Callable[[_Request, Any, Where, _Slot], dict[str, Any]]


@dataclass(slots=True, eq=False)
class FieldStep:
    key: str
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    definition: GraphQLField
    nullable: bool
    resolve: Resolve = field(repr=False)
    complete: Complete = field(repr=False)
    # For a scalar or enum read straight off the source (most fields): the whole field in one call.
    read: Callable[[Any], Any] | None = field(default=None, repr=False)
    # The attribute Strawberry's default resolver reads, when the field has no resolver of its own.
    attribute: str | None = None
    # For a field of an object type, or a list of them: the object's plan.
    object_plan: ObjectPlan | None = None
    # For a field whose resolver is a plain method (see ``_plain_method``): it, and whether it takes
    # ``info``; a compiled walk calls it in line.
    method: tuple[Callable[..., Any], bool] | None = field(default=None, repr=False)


@dataclass(slots=True, eq=False)
class ObjectPlan:
    type_name: str
    steps: list[FieldStep]
    walk: Walk = field(repr=False)


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    operation_name: str | None
    root: ObjectPlan
    serial: bool
    # The variables, when each is an ID, a String or a Boolean without a default (most operations).
    plain_variables: PlainVariables | None = None

    async def run(
        self, schema: GraphQLSchema, *, variables: dict[str, Any] | None, context: Any
    ) -> ExecutionResult:
        # What ``Executor.build`` does per request that depends on the request: the variables, coerced
        # as it does (the operation and its fragments were found when the plan was compiled).
        plain = self.plain_variables
        coerced: VariableValues | list[GraphQLError] | None = None
        if plain is not None:
            coerced = _plain_variable_values(plain, variables or {})
        if coerced is None:
            coerced = get_variable_values(
                schema,
                self.operation.variable_definitions or (),
                variables or {},
                max_errors=_MAX_COERCION_ERRORS,
            )
        if isinstance(coerced, list):
            return ExecutionResult(data=None, errors=coerced)
        request = _Request(self, schema, context, coerced, variables)
        data: dict[str, Any] = {}
        request.data = data
        whole = _Slot(None, None, None)
        # A mutation's fields run one after the other, each with all it leads to.
        rounds = [(step,) for step in self.root.steps] if self.serial else [self.root.steps]
        for steps in rounds:
            try:
                _walk_steps(request, steps, self.root.type_name, None, None, whole, data)
            except GraphQLError as error:  # a non-null root field failed: no data at all
                request.errors.append(error)
                request.data = None
                request.nulled.add(None)
            await request.settle()
            if request.data is None:
                break
        return ExecutionResult(data=request.data, errors=request.errors or None)


# As ``Executor.build``'s ``max_coercion_errors``.
_MAX_COERCION_ERRORS = 50


# --- running ---------------------------------------------------------------------------------------

_AWAITABLE_TYPES: dict[type, bool] = {}
# Whether a value of this type is awaitable: False only for a type known not to be.
_may_await = _AWAITABLE_TYPES.get
# Strawberry's check, typed as the type guard graphql-core's executor asks for (it is one).
_is_awaitable = cast("Callable[[Any], TypeGuard[Awaitable[Any]]]", is_awaitable)


def _awaitable(value: Any) -> bool:
    """``is_awaitable``, remembered per type (it is asked for every value of every field); except for
    generators, which are awaitable or not one by one (``types.coroutine``)."""
    kind = value.__class__
    known = _AWAITABLE_TYPES.get(kind)
    if known is None:
        known = is_awaitable(value)
        if kind is not GeneratorType:
            _AWAITABLE_TYPES[kind] = known
    return known


def _walk_steps(
    request: _Request,
    steps: Iterable[FieldStep],
    type_name: str,
    source: Any,
    path: Where,
    anchor: _Slot,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Each step in turn: the root's fields, and an object's where its compiled walk met an error."""
    for step in steps:
        key = step.key
        read = step.read
        if read is not None:
            try:
                data[key] = read(source)
            except Exception as raw:  # noqa: BLE001
                request.fail(raw, step, (path, key, type_name), nullable=step.nullable)
                data[key] = None
            continue
        step_path = (path, key, type_name)
        here = _Slot(data, key, step_path) if step.nullable else anchor
        try:
            value = step.resolve(request, step, source, step_path)
            if _awaitable(value):
                request.leave_hole(
                    data, key, step_path, step, step.complete, value, nullable=step.nullable, anchor=anchor
                )
            else:
                data[key] = step.complete(request, step, value, step_path, here)
        except Exception as raw:  # noqa: BLE001 - resolver errors become GraphQL errors, as in graphql-core
            request.fail(raw, step, step_path, nullable=step.nullable)
            data[key] = None
    return data


# An object's walk, compiled from its steps. The leaves read off the source make one dict display, in
# the order of the selection; should any read fail, the whole object is walked again step by step by
# ``_walk_steps`` (reads are attribute reads and coercions: reading twice changes nothing), which
# records the error where it belongs. Every other field follows as in ``_walk_steps``.
_WALK = """
def walk(request, source, path, anchor):
{reads}
{fields}
    return data
"""
_READS = """    try:
        data = {{{entries}}}
    except Exception:
        return walk_steps(request, steps, type_name, source, path, anchor, {{}})"""
_FIELD = """    step_path = (path, {key}, type_name)
    try:
        value = {resolve}
        if may_await(value.__class__, True) and awaitable(value):
            request.leave_hole(
                data, {key}, step_path, step_{i}, complete_{i}, value, nullable={nullable}, anchor=anchor
            )
{object}        else:
            data[{key}] = {complete}
    except Exception as raw:
        request.fail(raw, step_{i}, step_path, nullable={nullable}){then_null}"""
# An object's field walks the object straight away (its completer would, after checking for null).
_OBJECT = """        elif value is not None and value is not Undefined:
            data[{key}] = walk_{i}(request, value, step_path, {here})
"""


def _compile_walk(type_name: str, steps: list[FieldStep]) -> Walk:
    names: dict[str, Any] = {
        "steps": steps,
        "type_name": type_name,
        "walk_steps": _walk_steps,
        "may_await": _may_await,
        "awaitable": _awaitable,
        "Slot": _Slot,
        "Undefined": Undefined,
        "UUID": UUID,
    }
    entries, fields = [], []
    for i, step in enumerate(steps):
        key = repr(step.key)
        names[f"step_{i}"] = step
        if step.read is not None:
            names[f"read_{i}"] = step.read
            entries.append(f"{key}: {_read_expression(step, i, names)}")
            continue
        entries.append(f"{key}: None")
        names[f"resolve_{i}"], names[f"complete_{i}"] = step.resolve, step.complete
        resolve = (
            f"source.{step.attribute}"
            if _is_plain_name(step.attribute)
            else _method_call(step, i, names) or f"resolve_{i}(request, step_{i}, source, step_path)"
        )
        here = f"Slot(data, {key}, step_path)" if step.nullable else "anchor"
        walk = ""
        if step.object_plan and isinstance(_unwrapped(step.definition.type), GraphQLObjectType):
            names[f"walk_{i}"] = step.object_plan.walk
            walk = _OBJECT.format(key=key, i=i, here=here)
        complete = f"complete_{i}(request, step_{i}, value, step_path, {here})"
        leaf_type = _unwrapped(step.definition.type)
        enum_class = getattr(leaf_type, "wrapped_cls", None)
        if isinstance(leaf_type, GraphQLEnumType) and enum_class is not None:
            # A member of the Python enum by its name, as its completer would; anything else by it.
            names[f"names_{i}"], names[f"enum_{i}"] = _enum_names(leaf_type), enum_class
            complete = f"(value.__class__ is enum_{i} and names_{i}.get(value) or {complete})"
        fields.append(
            _FIELD.format(
                key=key,
                i=i,
                complete=complete,
                resolve=resolve,
                nullable=step.nullable,
                here=here,
                object=walk,
                then_null=f"\n        data[{key}] = None" if step.nullable else "",  # else it raised
            )
        )
    reads = _READS.format(entries=", ".join(entries))
    code = _WALK.format(reads=reads, fields="\n".join(fields))
    exec(compile(code, f"<walk of {type_name}>", "exec"), names)
    return cast("Walk", names["walk"])


def _method_call(step: FieldStep, i: int, names: dict[str, Any]) -> str | None:
    """A plain method's call in line, as ``_Compiler._resolver``'s ``call_method`` makes it."""
    if step.method is None or step.attribute is not None:
        return None
    names[f"method_{i}"], wants_info = step.method
    if not wants_info:
        return f"method_{i}(source)"
    names[f"field_{i}"] = step.definition.extensions[_DEFINITION]
    names["PlanInfo"] = _PlanInfo
    return f"method_{i}(source, PlanInfo(request, step_{i}, step_path, field_{i}))"


def _read_expression(step: FieldStep, i: int, names: dict[str, Any]) -> str:
    """A leaf read, as its reader would answer: a value its coercion returns unchanged as it is, a
    UUID as an ID by ``str``, an enum's value by its name; anything else (null too) by the reader."""
    read = f"read_{i}(source)"
    if not _is_plain_name(step.attribute):
        return read
    attribute = f"source.{step.attribute}"
    leaf_type = _unwrapped(step.definition.type)
    if isinstance(leaf_type, GraphQLEnumType):
        names[f"names_{i}"] = _enum_names(leaf_type)
        return f"(names_{i}.get({attribute}) or {read})"
    plain = _plain_type(leaf_type)
    if plain is None:
        inline = _INLINE_COERCIONS.get(leaf_type.coerce_output_value)
        if inline is not None:  # the coercion's own expression, for a value of the class it takes
            kind, expression = inline
            names[f"kind_{i}"], names["UTC"] = kind, UTC
            return f"({expression} if (value := {attribute}).__class__ is kind_{i} else {read})"
        # Coerced by the scalar; a null, or a coercion that gives none, by the reader.
        names[f"coerce_{i}"] = leaf_type.coerce_output_value
        return (
            f"(coerced if (value := {attribute}) is not None and value is not Undefined"
            f" and (coerced := coerce_{i}(value)) is not None and coerced is not Undefined else {read})"
        )
    names[f"plain_{i}"] = plain
    # graphql-core's ID coerces a UUID (asyncpg's is a subclass) by ``str``.
    as_id = "str(value) if isinstance(value, UUID) else " if leaf_type.name == "ID" else ""
    return f"(value if (value := {attribute}).__class__ is plain_{i} else {as_id}{read})"


# Scalar coercions written out in a compiled walk, for a value of exactly that class: DateTime's, read
# for each entry of a page of the log.
_INLINE_COERCIONS: dict[Any, tuple[type, str]] = {
    _serialize_datetime: (datetime, "value.astimezone(UTC).isoformat()"),
}


def _is_plain_name(attribute: str | None) -> bool:
    return attribute is not None and attribute.isidentifier() and not keyword.iskeyword(attribute)


def _leaf(leaf_type: Any, *, nullable: bool) -> Complete:
    coerce = leaf_type.coerce_output_value
    names = _enum_names(leaf_type) if isinstance(leaf_type, GraphQLEnumType) else {}

    def complete(_request: _Request, step: FieldStep, value: Any, _path: Where, _anchor: _Slot) -> Any:
        if value is None or value is Undefined:
            if nullable:
                return None
            raise _null_refused(step.parent_type, step.nodes[0].name.value)
        return _coerced(leaf_type, value, _enum_name(names, value) or coerce(value))

    return complete


def _coerced(leaf_type: Any, value: Any, coerced: Any) -> Any:
    if coerced is None or coerced is Undefined:
        raise TypeError(
            f"Expected `{describe(leaf_type)}.coerce_output_value({describe(value)})`"
            f" to return non-nullable value, returned: {describe(coerced)}"
        )
    return coerced


def _null_refused(parent_type: GraphQLObjectType, name: str) -> TypeError:
    return TypeError(f"Cannot return null for non-nullable field {parent_type}.{name}.")


def _iterable(value: Any, step: FieldStep) -> Iterable[Any]:
    if value.__class__ is list:
        return value  # most often: no need for the ABC checks
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        where = f"{step.parent_type}.{step.nodes[0].name.value}"
        raise GraphQLError(f"Expected Iterable, but did not find one for field '{where}'.")
    return value


def _list(item: Complete, *, items_nullable: bool, nullable: bool) -> Complete:
    def complete(request: _Request, step: FieldStep, value: Any, path: Where, anchor: _Slot) -> Any:
        if value is None or value is Undefined:
            if nullable:
                return None
            raise _null_refused(step.parent_type, step.nodes[0].name.value)
        results: list[Any] = []
        for index, entry in enumerate(_iterable(value, step)):
            entry_path = (path, index, None)
            results.append(None)
            try:
                if _may_await(entry.__class__, True) and _awaitable(entry):
                    request.leave_hole(
                        results, index, entry_path, step, item, entry, nullable=items_nullable, anchor=anchor
                    )
                else:
                    here = _Slot(results, index, entry_path) if items_nullable else anchor
                    results[index] = item(request, step, entry, entry_path, here)
            except Exception as raw:  # noqa: BLE001
                request.fail(raw, step, entry_path, nullable=items_nullable)
                results[index] = None
        return results

    return complete


def _list_of_objects(walk: Walk, item: Complete, *, nullable: bool) -> Complete:
    """``_list`` of non-null objects, each walked straight away (most lists: edges, accounts)."""

    def complete(request: _Request, step: FieldStep, value: Any, path: Where, anchor: _Slot) -> Any:
        if value is None or value is Undefined:
            if nullable:
                return None
            raise _null_refused(step.parent_type, step.nodes[0].name.value)
        results: list[Any] = []
        append = results.append
        for index, entry in enumerate(value if value.__class__ is list else _iterable(value, step)):
            entry_path = (path, index, None)
            try:
                if entry is None or entry is Undefined:
                    raise _null_refused(step.parent_type, step.nodes[0].name.value)
                if _may_await(entry.__class__, True) and _awaitable(entry):
                    append(None)
                    request.leave_hole(
                        results, index, entry_path, step, item, entry, nullable=False, anchor=anchor
                    )
                else:
                    append(walk(request, entry, entry_path, anchor))
            except Exception as raw:  # noqa: BLE001
                request.fail(raw, step, entry_path, nullable=False)  # raises it on
        return results

    return complete


def _object(walk: Walk, *, nullable: bool) -> Complete:
    def complete(request: _Request, step: FieldStep, value: Any, path: Where, anchor: _Slot) -> Any:
        if value is None or value is Undefined:
            if nullable:
                return None
            raise _null_refused(step.parent_type, step.nodes[0].name.value)
        return walk(request, value, path, anchor)

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
    root = _Compiler(schema, fragments).object_plan(root_type, [operation.selection_set])
    serial = operation.operation is OperationType.MUTATION
    plain = _plain_variables(schema, operation)
    return Plan(document, operation, fragments, operation_name, root, serial=serial, plain_variables=plain)


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
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        # Strawberry's schema, whose conversions of arguments a resolver called directly needs.
        self._strawberry = getattr(schema, "_strawberry_schema", None)

    def object_plan(
        self, object_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> ObjectPlan:
        grouped = self._collect(object_type, selection_sets)
        steps = [self._step(object_type, key, nodes) for key, nodes in grouped.items()]
        return ObjectPlan(object_type.name, steps, _compile_walk(object_type.name, steps))

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
                resolve=lambda *_: typename, complete=lambda _r, _s, value, _p, _a: value,
                read=lambda _source: typename,
            )  # fmt: skip
        if name.startswith("__"):
            raise Unsupported("introspection")
        definition = parent_type.fields[name]
        named_type = get_named_type(definition.type)
        plan = self._object_plan_of(named_type, nodes) if isinstance(named_type, GraphQLObjectType) else None
        return FieldStep(
            key,
            nodes,
            parent_type,
            definition,
            nullable=not isinstance(definition.type, GraphQLNonNull),
            resolve=self._resolver(definition, nodes[0]),
            complete=self._completer(definition.type, plan),
            read=_leaf_reader(parent_type, name, definition),
            attribute=_attribute_read_by(definition),
            object_plan=plan,
            method=_plain_method(strawberry_field)
            if (strawberry_field := _strawberry_field(definition))
            else None,
        )

    def _completer(self, output_type: GraphQLOutputType, plan: ObjectPlan | None) -> Complete:
        """How a value of ``output_type`` completes; ``plan`` is that of its object type, if it has one."""
        nullable = not isinstance(output_type, GraphQLNonNull)
        inner = _unwrapped(output_type)
        if isinstance(inner, GraphQLList):
            item_type = inner.of_type
            item = self._completer(item_type, plan)
            if plan and isinstance(_unwrapped(item_type), GraphQLObjectType) and not _nullable(item_type):
                return _list_of_objects(plan.walk, item, nullable=nullable)
            return _list(item, items_nullable=_nullable(item_type), nullable=nullable)
        if is_leaf_type(inner):
            return _leaf(inner, nullable=nullable)
        if plan and isinstance(inner, GraphQLObjectType):
            return _object(plan.walk, nullable=nullable)
        raise Unsupported("an interface or union")

    def _object_plan_of(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> ObjectPlan:
        return self.object_plan(object_type, [node.selection_set for node in nodes if node.selection_set])

    def _direct_call(
        self, strawberry_field: Any, definition: GraphQLField, node: FieldNode
    ) -> Resolve | None:
        """A method taking arguments (the root fields, most often) called as Strawberry's resolver calls
        it, without the layers around the call (its coroutine, the extension chain, the conversion of
        every argument): the arguments by their Python names, each converted as Strawberry would. None
        where Strawberry would add more (field extensions, exception handlers, ``Maybe`` arguments)."""
        resolver = strawberry_field.base_resolver
        strawberry = self._strawberry
        if strawberry is None or resolver is None or strawberry_field.extensions:
            return None
        converter = strawberry.schema_converter
        if resolver.self_parameter is None or resolver.parent_parameter or resolver.root_parameter:
            return None
        if converter._get_field_exception_handlers(strawberry_field):
            return None
        config, registry = strawberry.config, converter.scalar_registry
        arguments: list[tuple[str, str, Any]] = []  # GraphQL name, Python name, type to convert or None
        for argument in strawberry_field.arguments:
            if isinstance(argument.type, StrawberryMaybe):
                return None
            as_is = _converted_as_is(argument.type, registry)
            arguments.append((config.name_converter.from_argument(argument), argument.python_name,
                              None if as_is else argument.type))  # fmt: skip
        parameters = list(inspect.signature(resolver.wrapped_func).parameters)
        info_name = resolver.info_parameter.name if resolver.info_parameter else None
        expected = [resolver.self_parameter.name, *([info_name] if info_name else [])]
        if sorted(parameters) != sorted([*expected, *(python for _, python, _ in arguments)]):
            return None
        method, info_class, is_async = resolver.wrapped_func, config.info_class, strawberry_field.is_async
        # The arguments Strawberry converts (not as they are), where the field's coroutine would.
        converted_async = [name for name, _, type_ in arguments if type_ is not None] if is_async else []
        literals = None
        if not any(_holds_variable(argument.value) for argument in node.arguments or ()):
            literals = get_argument_values(definition, node)

        def convert(values: dict[str, Any], info: Any) -> dict[str, Any]:
            kwargs: dict[str, Any] = {}
            for name, python, type_ in arguments:
                if name in values:
                    value = values[name]
                    if type_ is not None and value is not None:  # Strawberry converts None to None
                        value = convert_argument(value, type_, registry, config, info, path=(name,))
                    kwargs[python] = value
            if info_name is not None:
                kwargs[info_name] = info
            return kwargs

        async def convert_then_await(source: Any, values: dict[str, Any], info: Any) -> Any:
            # Where Strawberry's conversion fails: once the field's coroutine runs.
            return await method(source, **convert(values, info))

        def call(request: _Request, step: FieldStep, source: Any, path: Where) -> Any:
            values = literals
            if values is None:  # coerced once per request, as ``call_with_variables`` does
                values = request.arguments.get(step)
                if values is None:
                    values = get_argument_values(definition, node, request.variables)
                    request.arguments[step] = values
            if info_class is Info:
                info = _PlanInfo(request, step, path, strawberry_field)
            else:
                info = info_class(_raw_info=request.info(step, path), _field=strawberry_field)
            if converted_async and any(values.get(name) is not None for name in converted_async):
                return convert_then_await(source, values, info)
            return method(source, **convert(values, info))

        return call

    def _resolver(self, definition: GraphQLField, node: FieldNode) -> Resolve:
        strawberry_field = (definition.extensions or {}).get(_DEFINITION)
        if strawberry_field is None or definition.resolve is None:
            raise Unsupported("a field Strawberry did not build")
        attribute = _attribute_read_by(definition)
        if attribute is not None:

            def read_attribute(_request: _Request, _step: FieldStep, source: Any, _path: Where) -> Any:
                return getattr(source, attribute)

            return read_attribute
        plain = _plain_method(strawberry_field)
        if plain is not None:
            method, wants_info = plain

            def call_method(request: _Request, step: FieldStep, source: Any, path: Where) -> Any:
                return method(source, _PlanInfo(request, step, path, strawberry_field))

            def call_method_of_source(_request: _Request, _step: FieldStep, source: Any, _path: Where) -> Any:
                return method(source)

            return call_method if wants_info else call_method_of_source
        direct = self._direct_call(strawberry_field, definition, node)
        if direct is not None:
            return direct
        resolve = definition.resolve
        if not any(_holds_variable(argument.value) for argument in node.arguments or ()):
            arguments = get_argument_values(definition, node)

            def call_with_literals(request: _Request, step: FieldStep, source: Any, path: Where) -> Any:
                return resolve(source, request.info(step, path), **arguments)

            return call_with_literals

        def call_with_variables(request: _Request, step: FieldStep, source: Any, path: Where) -> Any:
            # Coerced once per request; not kept when coercing fails, so each call raises its own error.
            arguments = request.arguments.get(step)
            if arguments is None:
                arguments = get_argument_values(definition, node, request.variables)
                request.arguments[step] = arguments
            return resolve(source, request.info(step, path), **arguments)

        return call_with_variables


def _converted_as_is(type_: Any, registry: Any) -> bool:
    """Whether Strawberry's ``convert_argument`` returns an argument of this type as it is: a scalar's
    or an enum's value (optional or not; a GlobalID is decoded, a list copied)."""
    while isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    if type_ is GlobalID:
        return False
    return _is_leaf_type(type_, registry) or has_enum_definition(type_)


def _plain_variables(schema: GraphQLSchema, operation: OperationDefinitionNode) -> PlainVariables | None:
    """The operation's variables when each is an ID, a String or a Boolean without a default: a value
    of exactly the class their coercion returns unchanged is its own coerced value. None otherwise."""
    plain: list[tuple[str, GraphQLVariableSignature, type]] = []
    for node in operation.variable_definitions or ():
        if node.default_value is not None:
            return None
        signature = get_variable_signature(schema, node)
        if isinstance(signature, GraphQLError):
            return None
        named = signature.type.of_type if isinstance(signature.type, GraphQLNonNull) else signature.type
        kind = _PLAIN_INPUTS.get(named.name) if named in _SPECIFIED_SCALARS else None
        if kind is None:
            return None
        plain.append((signature.name, signature, kind))
    return tuple(plain)


def _plain_variable_values(plain: PlainVariables, inputs: dict[str, Any]) -> VariableValues | None:
    """What ``get_variable_values`` returns for these variables when every one was given a value of
    its plain class (not a subclass: a bool is not coerced as an int, nor a str subclass kept); else
    None, for the general coercion."""
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    for name, signature, kind in plain:
        value = inputs.get(name)
        if value.__class__ is not kind:
            return None
        sources[name] = VariableValueSource(signature, value)
        coerced[name] = value
    return VariableValues(sources, coerced)


_PLAIN_INPUTS: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}
_SPECIFIED_SCALARS = (GraphQLString, GraphQLID, GraphQLBoolean)
_PLAIN_LEAVES: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}
# Types whose exact instances they return unchanged when called, as a scalar's coercion (Long's is int).
_RETURNED_UNCHANGED = (int, str, float, bool)


def _plain_type(leaf_type: Any) -> type | None:
    """The type of the values a scalar's coercion returns unchanged: by its ``__class__`` (a bool is
    not an int here)."""
    if not isinstance(leaf_type, GraphQLScalarType):
        return None
    coerce = leaf_type.coerce_output_value
    return _PLAIN_LEAVES.get(leaf_type.name) or (coerce if coerce in _RETURNED_UNCHANGED else None)


def _enum_names(enum_type: GraphQLEnumType) -> dict[Any, str]:
    """An enum's names by the Python value a record holds (what its coercion looks up, without the
    call), and by the members of the Python enum Strawberry wraps, which a resolver may return (its
    coercion compares them by value, one name after the other)."""
    names = {value.value: name for name, value in enum_type.values.items()}
    for member in getattr(enum_type, "wrapped_cls", ()):
        try:
            names.setdefault(member, enum_type.coerce_output_value(member))
        except ValueError:  # a member the GraphQL enum lacks: coerced (and refused) when met
            continue
    return names


def _enum_name(names: dict[Any, str], value: Any) -> str | None:
    """The name ``names`` hold for ``value``, if any: None for a value that cannot be hashed (its
    coercion refuses it with a GraphQL error where the lookup would raise a TypeError)."""
    if not names:
        return None
    try:
        return names.get(value)
    except TypeError:
        return None


def _unwrapped(output_type: GraphQLOutputType) -> Any:
    """The type inside a non-null one, else the type itself."""
    return output_type.of_type if isinstance(output_type, GraphQLNonNull) else output_type


def _nullable(output_type: GraphQLOutputType) -> bool:
    return not isinstance(output_type, GraphQLNonNull)


def _leaf_reader(
    parent_type: GraphQLObjectType, name: str, definition: GraphQLField
) -> Callable[[Any], Any] | None:
    """A scalar or enum field Strawberry resolves by reading an attribute, as one function: read,
    coerce, check for null. (Such an attribute holds a plain value, never an awaitable.)"""
    output_type = definition.type
    nullable = not isinstance(output_type, GraphQLNonNull)
    leaf_type = output_type.of_type if isinstance(output_type, GraphQLNonNull) else output_type
    attribute = _attribute_read_by(definition)
    if attribute is None or not is_leaf_type(leaf_type):
        return None
    coerce = leaf_type.coerce_output_value
    plain = _plain_type(leaf_type)
    names = _enum_names(leaf_type) if isinstance(leaf_type, GraphQLEnumType) else {}

    def read(source: Any) -> Any:
        value = getattr(source, attribute)
        if value is None or value is Undefined:
            if nullable:
                return None
            raise _null_refused(parent_type, name)
        if value.__class__ is plain:
            return value
        return _coerced(leaf_type, value, _enum_name(names, value) or coerce(value))

    return read


def _strawberry_field(definition: GraphQLField) -> Any:
    """The Strawberry field a resolver of ours stands for, if Strawberry built it."""
    return (definition.extensions or {}).get(_DEFINITION) if definition.resolve is not None else None


def _attribute_read_by(definition: GraphQLField) -> str | None:
    """The attribute Strawberry's default resolver reads for this field, if it has no resolver of its own."""
    strawberry_field = (definition.extensions or {}).get(_DEFINITION)
    if strawberry_field is None or not strawberry_field.is_basic_field:
        return None
    return strawberry_field.python_name if getattr(definition.resolve, "_is_default", False) else None


def _holds_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ObjectValueNode):
        return any(_holds_variable(entry.value) for entry in value.fields)
    if isinstance(value, ListValueNode):
        return any(_holds_variable(entry) for entry in value.values)
    return False


def _plain_method(strawberry_field: Any) -> tuple[Callable[..., Any], bool] | None:
    """The resolver as ``method(self[, info])``, and whether it takes ``info``, when Strawberry would
    add nothing around the call (no arguments to convert, no extensions or permissions); else None."""
    resolver = strawberry_field.base_resolver
    if resolver is None or strawberry_field.extensions or strawberry_field.arguments:
        return None
    self_parameter, info_parameter = resolver.self_parameter, resolver.info_parameter
    if self_parameter is None:
        return None
    names = list(inspect.signature(resolver.wrapped_func).parameters)
    if info_parameter is None:
        return (resolver.wrapped_func, False) if names == [self_parameter.name] else None
    return (resolver.wrapped_func, True) if names == [self_parameter.name, info_parameter.name] else None
