"""The library internals our hand-built parts stand on, checked against the versions installed.

``schema/plans.py`` drives graphql-core's executor and reads Strawberry's field definitions directly;
``schema/operations.py``, ``schema/documents.py`` and ``schema/__init__.py`` hook into Strawberry's
extensions and take over its parse and validation steps;
``datasources/prepared.py`` and ``datasources/database.py`` compile SQLAlchemy statements themselves and
run them on asyncpg. None of that is public API: a minor release may move it without notice. The caps
in pyproject.toml keep such releases out; when one is raised (or an install slips past it), these tests
say which use broke and where. Each test names, first, the file and function that depends on it.
"""

from __future__ import annotations

import enum
import inspect
import re
import tomllib
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path as FilePath
from typing import Any

import aiosqlite
import asyncpg
import pytest
import sqlalchemy as sa
import strawberry
from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
    GraphQLSyntaxError,
    OperationType,
    execute,
    located_error,
    parse,
)
from graphql.execution.executor import Executor
from graphql.execution.get_variable_signature import GraphQLVariableSignature, get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    get_variable_values,
)
from graphql.language import OperationDefinitionNode, TokenKind
from graphql.language.parser import Parser, nested_too_deeply_error
from graphql.pyutils import Path
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.util import await_
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import validate_document
from strawberry.types import Info
from strawberry.types.arguments import _is_leaf_type, convert_argument
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType as StrawberryOperationType

from loyalty.datasources.prepared import OneOf
from loyalty.schema.documents import ParserWithinLimits
from loyalty.schema.limits import QueryLimits
from loyalty.schema.plans import _has_directives, _Request, compile_plan

# What the code was checked against: distribution -> (lowest checked, first not checked, what uses it).
CHECKED: dict[str, tuple[str, str, str]] = {
    "strawberry-graphql": (
        "0.341.2",
        "0.342",
        "schema/plans.py (field definitions, resolvers, Info, convert_argument), schema/operations.py and"
        " schema/__init__.py (extension hooks, Schema._schema), schema/documents.py (parse and"
        " validation taken over, validate_document), web/graphql.py",
    ),
    "graphql-core": (
        "3.3.2",
        "3.4",
        "schema/plans.py (Executor.build, build_resolve_info, GraphQLResolveInfo, get_variable_values,"
        " get_variable_signature, VariableValues, get_argument_values, Path, serialize_id),"
        " schema/documents.py (parse's max_tokens and token_count)",
    ),
    "sqlalchemy": (
        "2.1.9",
        "2.2",
        "datasources/prepared.py (compiled statements, type processors, OneOf) and"
        " datasources/database.py (events, driver connections, await_, connect args)",
    ),
    "asyncpg": ("0.32", "0.33", "datasources/prepared.py, database.py and errors.py (pool, codecs, errors)"),
}

PYPROJECT = FilePath(__file__).resolve().parents[1] / "pyproject.toml"


def _release(text: str) -> tuple[int, ...]:
    match = re.match(r"\d+(?:\.\d+)*", text)
    assert match, f"not a version: {text}"
    return tuple(int(part) for part in match.group().split("."))


def _takes(function: Callable[..., Any], *names: str, user: str) -> None:
    parameters = inspect.signature(function).parameters
    missing = [name for name in names if name not in parameters]
    assert not missing, f"{user} passes {missing} to {function.__qualname__}, which no longer takes them"


# --- versions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("distribution", sorted(CHECKED))
def test_installed_version_is_one_the_code_was_checked_against(distribution: str) -> None:
    low, below, users = CHECKED[distribution]
    installed = version(distribution)
    assert _release(low) <= _release(installed) < _release(below), (
        f"{distribution} {installed} is outside {low} <= v < {below}, the range {users} were checked"
        f" against. Re-check those uses (this file's tests say which moved), then move the cap in"
        f" pyproject.toml and the table CHECKED in {__name__} together."
    )


@pytest.mark.parametrize("distribution", sorted(CHECKED))
def test_pyproject_caps_match_the_checked_table(distribution: str) -> None:
    low, below, _users = CHECKED[distribution]
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    declared = {}
    for spec in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(.*)", spec)
        assert match, f"an unreadable dependency in pyproject.toml: {spec}"
        declared[match[1].lower()] = {part.strip() for part in match[2].split(",")}
    assert declared.get(distribution) == {f">={low}", f"<{below}"}, (
        f"pyproject.toml declares {distribution} {declared.get(distribution)}, the table CHECKED says"
        f" >={low},<{below}: a cap moved without the internals being re-checked (or the table was not"
        f" updated after they were)"
    )


# --- a small Strawberry schema of every kind of field the plans handle -----------------------------


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Item:
    first_name: str
    colour: Colour

    @strawberry.field
    def shout(self) -> str:
        return self.first_name.upper()

    @strawberry.field
    def where(self, info: strawberry.Info) -> str:
        return str(info.path.key)

    @strawberry.field
    def times(self, n: int) -> int:
        return n * 2


@strawberry.type
class ItemQuery:
    @strawberry.field
    def item(self) -> Item:
        return Item(first_name="Ada", colour=Colour.RED)


@strawberry.type
class ItemMutation:
    @strawberry.mutation
    def touch(self) -> bool:
        return True


ITEMS = strawberry.Schema(query=ItemQuery, mutation=ItemMutation)
ITEM_TYPE: GraphQLObjectType = ITEMS._schema.type_map["Item"]
QUERY_TYPE: GraphQLObjectType = ITEMS._schema.type_map["ItemQuery"]
DOCUMENT = parse("query Q($n: Int!) { item { firstName times(n: $n) doubled: times(n: 4) } }")


def _executor(variables: dict[str, Any] | None, context: Any = None) -> list[GraphQLError] | Executor:
    return Executor.build(
        ITEMS._schema,
        DOCUMENT,
        context_value=context,
        raw_variable_values=variables,
        operation_name="Q",
        is_awaitable=optimized_is_awaitable,
    )


def _field_nodes(key: str) -> list[Any]:
    item = DOCUMENT.definitions[0].selection_set.selections[0]
    return [s for s in item.selection_set.selections if (s.alias or s.name).value == key]


# --- graphql-core: schema/plans.py and schema/__init__.py -----------------------------------------


def test_executor_build_coerces_variables_or_returns_their_errors() -> None:
    """plans.py Plan.run: ``Executor.build`` returns the variables' errors as a list, else an executor."""
    _takes(
        Executor.build,
        "schema",
        "document",
        "context_value",
        "raw_variable_values",
        "operation_name",
        "is_awaitable",
        user="plans.py Plan.run",
    )
    refused = _executor({"n": "many"})
    assert isinstance(refused, list)
    assert all(isinstance(e, GraphQLError) for e in refused)
    executor = _executor({"n": 3})
    assert isinstance(executor, Executor)
    assert executor.variable_values.coerced == {"n": 3}


def test_build_resolve_info_gives_the_info_a_resolver_sees() -> None:
    """plans.py _Request.info: ``Executor.build_resolve_info(field_def, field_nodes, parent_type, path)``."""
    _takes(
        Executor.build_resolve_info,
        "field_def",
        "field_nodes",
        "parent_type",
        "path",
        user="plans.py _Request.info",
    )
    context = object()
    executor = _executor({"n": 3}, context)
    assert isinstance(executor, Executor)
    path = Path(Path(None, "item", "ItemQuery"), "doubled", "Item")
    info = executor.build_resolve_info(ITEM_TYPE.fields["times"], _field_nodes("doubled"), ITEM_TYPE, path)
    assert (info.field_name, info.path, info.context, info.parent_type) == ("times", path, context, ITEM_TYPE)


def test_get_variable_values_coerces_as_executor_build_does() -> None:
    """plans.py Plan.run: the variables coerced by ``get_variable_values`` (errors as a list), as
    ``Executor.build`` does with its default ``max_coercion_errors``."""
    _takes(get_variable_values, "schema", "var_def_nodes", "inputs", "max_errors", user="plans.py Plan.run")
    assert inspect.signature(Executor.build).parameters["max_coercion_errors"].default == 50
    operation = DOCUMENT.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    coerced = get_variable_values(
        ITEMS._schema, operation.variable_definitions or (), {"n": 3}, max_errors=50
    )
    assert isinstance(coerced, VariableValues)
    executor = _executor({"n": 3})
    assert isinstance(executor, Executor)
    assert coerced.coerced == executor.variable_values.coerced == {"n": 3}
    refused = get_variable_values(
        ITEMS._schema, operation.variable_definitions or (), {"n": "many"}, max_errors=50
    )
    assert isinstance(refused, list)
    assert [error.message for error in refused] == [error.message for error in _executor({"n": "many"})]  # type: ignore[union-attr]


def test_the_plans_info_answers_as_graphql_cores() -> None:
    """plans.py _ResolveInfo: each attribute of ``GraphQLResolveInfo`` as ``build_resolve_info`` gives it
    (the plan answers those it holds, graphql-core's info the others)."""
    context = object()
    plan = compile_plan(ITEMS._schema, DOCUMENT, "Q")
    operation = DOCUMENT.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    variables = get_variable_values(ITEMS._schema, operation.variable_definitions or (), {"n": 3})
    assert isinstance(variables, VariableValues)
    request = _Request(plan, ITEMS._schema, context, variables, {"n": 3})
    item = plan.root.steps[0].object_plan
    assert item is not None
    step = next(step for step in item.steps if step.key == "doubled")
    info = request.info(step, ((None, "item", "ItemQuery"), "doubled", "Item"))
    executor = _executor({"n": 3}, context)
    assert isinstance(executor, Executor)
    path = Path(Path(None, "item", "ItemQuery"), "doubled", "Item")
    expected = executor.build_resolve_info(
        ITEM_TYPE.fields["times"], _field_nodes("doubled"), ITEM_TYPE, path
    )
    assert set(GraphQLResolveInfo._fields) == {
        "field_name", "field_nodes", "return_type", "parent_type", "path", "schema", "fragments",
        "root_value", "operation", "variable_values", "context", "is_awaitable", "abort_signal",
        "async_helpers",
    }  # fmt: skip
    for name in GraphQLResolveInfo._fields:
        if name == "variable_values":
            assert info.variable_values.coerced == expected.variable_values.coerced
        elif name == "async_helpers":  # bound to each executor's own methods
            assert type(info.async_helpers) is type(expected.async_helpers)
        else:
            assert getattr(info, name) == getattr(expected, name), name


def test_get_argument_values_reads_literals_and_variables() -> None:
    """plans.py _Compiler._resolver: arguments of literals read once, of variables per request."""
    _takes(get_argument_values, "type_def", "node", "variable_values", user="plans.py _Compiler._resolver")
    definition = ITEM_TYPE.fields["times"]
    assert get_argument_values(definition, _field_nodes("doubled")[0]) == {"n": 4}
    executor = _executor({"n": 3})
    assert isinstance(executor, Executor)
    assert get_argument_values(definition, _field_nodes("times")[0], executor.variable_values) == {"n": 3}


def test_located_error_and_path_locate_a_resolver_error() -> None:
    """plans.py _Request.fail and _fill: ``located_error(error, nodes, path.as_list())``; paths in a set."""
    _takes(located_error, "original_error", "nodes", "path", user="plans.py _Request.fail")
    path = Path(Path(None, "item", "ItemQuery"), "times", "Item")
    raw = ValueError("no")
    error = located_error(raw, _field_nodes("times"), path.as_list())
    assert (error.path, error.original_error, error.message) == (["item", "times"], raw, "no")
    assert path.prev == Path(None, "item", "ItemQuery")
    assert path.prev in {Path(None, "item", "ItemQuery")}  # _Request.nulled is a set of paths


def test_leaf_types_coerce_output_values() -> None:
    """plans.py _leaf, _leaf_reader and _enum_names: ``coerce_output_value`` on scalars and enums; enum
    values and Strawberry's members by name."""
    string = ITEM_TYPE.fields["firstName"].type.of_type
    assert string.coerce_output_value("Ada") == "Ada"
    colour = ITEM_TYPE.fields["colour"].type.of_type
    assert isinstance(colour, GraphQLEnumType)
    assert {name: value.value for name, value in colour.values.items()} == {"RED": "red"}
    assert colour.coerce_output_value("red") == "RED"
    assert list(colour.wrapped_cls) == [Colour.RED]  # Strawberry's enum: members coerced by value
    assert colour.coerce_output_value(Colour.RED) == "RED"


def test_scalars_return_plain_values_unchanged() -> None:
    """plans.py _plain_type and _read_expression: a str, bool or Long's int as it is, a UUID (asyncpg's
    is a subclass) as an ID by ``str``."""

    class AsyncpgLikeUuid(uuid.UUID):
        pass

    value = AsyncpgLikeUuid(int=7)
    assert GraphQLID.coerce_output_value(value) == str(value)
    assert GraphQLID.coerce_output_value("a") == "a"
    assert GraphQLString.coerce_output_value("a") == "a"
    assert GraphQLBoolean.coerce_output_value(True) is True


def test_typename_root_types_and_directive_visitor() -> None:
    """plans.py compile_plan, _Compiler._step and _has_directives (a ``Visitor`` that stops at the first
    ``enter_directive``); limits.py weighs the introspection meta fields."""
    for meta_field in (TypeNameMetaFieldDef, SchemaMetaFieldDef, TypeMetaFieldDef):
        assert isinstance(meta_field, GraphQLField)
    assert ITEMS._schema.get_root_type(OperationType.QUERY) is QUERY_TYPE
    assert _has_directives(parse("{ item { firstName @skip(if: true) } }"))
    assert not _has_directives(DOCUMENT)


def test_execute_takes_an_is_awaitable() -> None:
    """schema/__init__.py LoyaltySchema.execute_known runs a known document on ``graphql.execute``."""
    _takes(
        execute,
        "variable_values",
        "operation_name",
        "context_value",
        "is_awaitable",
        user="schema/__init__.py LoyaltySchema.execute_known",
    )


# --- Strawberry: schema/plans.py -------------------------------------------------------------------


def _strawberry_field(name: str) -> StrawberryField:
    return ITEM_TYPE.fields[name].extensions["strawberry-definition"]


def test_a_plain_attribute_field_is_read_by_the_default_resolver() -> None:
    """plans.py _attribute_read_by and _leaf_reader: a basic field reads ``getattr(source, python_name)``."""
    field = _strawberry_field("firstName")
    definition = ITEM_TYPE.fields["firstName"]
    assert isinstance(field, StrawberryField)
    assert (field.is_basic_field, field.python_name, field.base_resolver) == (True, "first_name", None)
    assert getattr(definition.resolve, "_is_default", None) is True
    assert StrawberryConfig().default_resolver is getattr
    source = Item(first_name="Ada", colour=Colour.RED)
    assert definition.resolve(source, None) == "Ada"


def test_a_method_field_exposes_its_function_and_parameters() -> None:
    """plans.py _plain_method: ``base_resolver.wrapped_func``, ``self_parameter``, ``info_parameter``."""
    shout, where, times = (_strawberry_field(name) for name in ("shout", "where", "times"))
    assert getattr(ITEM_TYPE.fields["shout"].resolve, "_is_default", None) is False
    for field in (shout, where, times):
        assert not field.is_basic_field
        assert field.extensions == []
    assert shout.base_resolver is not None
    assert where.base_resolver is not None
    assert shout.base_resolver.wrapped_func(Item(first_name="Ada", colour=Colour.RED)) == "ADA"
    assert inspect.signature(shout.base_resolver.wrapped_func).parameters.keys() == {"self"}
    assert shout.base_resolver.self_parameter is not None
    assert shout.base_resolver.self_parameter.name == "self"
    assert shout.base_resolver.info_parameter is None
    assert where.base_resolver.info_parameter is not None
    assert where.base_resolver.info_parameter.name == "info"
    assert shout.arguments == []
    assert [a.python_name for a in times.arguments] == ["n"]


def test_plain_variables_are_what_get_variable_values_returns() -> None:
    """plans.py _plain_variables and _plain_variable_values: ``get_variable_signature`` and
    ``VariableValues(sources, coerced)`` of ``VariableValueSource(signature, value)``."""
    document = parse("query V($s: String, $t: String!, $b: Boolean) { __typename }")
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    given = {"s": "text", "t": "42", "b": True}
    by_graphql_core = get_variable_values(ITEMS._schema, operation.variable_definitions, given)
    assert isinstance(by_graphql_core, VariableValues)
    signatures = [get_variable_signature(ITEMS._schema, node) for node in operation.variable_definitions]
    assert all(isinstance(signature, GraphQLVariableSignature) for signature in signatures)
    sources = {
        signature.name: VariableValueSource(signature, given[signature.name])
        for signature in signatures
        if isinstance(signature, GraphQLVariableSignature)
    }
    by_hand = VariableValues(sources, dict(given))

    assert by_hand.coerced == by_graphql_core.coerced
    assert {name: (str(source.signature.type), source.value) for name, source in by_hand.sources.items()} == {
        name: (str(source.signature.type), source.value) for name, source in by_graphql_core.sources.items()
    }


def test_strawberry_converts_an_argument_as_plans_call_it() -> None:
    """plans.py _Compiler._direct_call and _converted_as_is: ``convert_argument(value, type_, registry,
    config, info, path=…)``, ``_is_leaf_type``, ``has_enum_definition``, ``StrawberryOptional`` /
    ``StrawberryMaybe``, ``schema_converter.scalar_registry`` and ``_get_field_exception_handlers``, and
    the name converter's ``from_argument``."""
    converter = ITEMS.schema_converter
    registry, config = converter.scalar_registry, ITEMS.config
    _takes(convert_argument, "value", "type_", "scalar_registry", "config", "info", "path", user="plans.py")
    assert convert_argument("x", str, registry, config, None, path=("a",)) == "x"
    assert _is_leaf_type(str, registry)
    assert has_enum_definition(Colour)
    assert issubclass(StrawberryMaybe, StrawberryOptional)
    times = _strawberry_field("times")
    assert not converter._get_field_exception_handlers(times)
    [argument] = times.arguments
    assert (config.name_converter.from_argument(argument), argument.python_name) == ("n", "n")
    resolver = times.base_resolver
    assert resolver is not None
    assert (resolver.parent_parameter, resolver.root_parameter) == (None, None)


def test_info_wraps_graphql_cores_info() -> None:
    """plans.py _Compiler._resolver (call_method): ``Info(_raw_info=…, _field=…)``."""
    executor = _executor({"n": 3}, context="ctx")
    assert isinstance(executor, Executor)
    path = Path(Path(None, "item", "ItemQuery"), "times", "Item")
    raw = executor.build_resolve_info(ITEM_TYPE.fields["times"], _field_nodes("times"), ITEM_TYPE, path)
    info = Info(_raw_info=raw, _field=_strawberry_field("times"))
    assert (info.context, info.path, info.field_name) == ("ctx", path, "times")


def test_optimized_is_awaitable() -> None:
    """plans.py _awaitable and schema/__init__.py: Strawberry's ``optimized_is_awaitable``."""

    async def later() -> int:
        return 1

    coroutine = later()
    assert optimized_is_awaitable(coroutine)
    assert not optimized_is_awaitable(1)
    coroutine.close()


# --- Strawberry: schema/operations.py, schema/__init__.py, web/graphql.py --------------------------


async def test_extension_hooks_see_the_execution_context() -> None:
    """operations.py RememberKnownOperations.on_execute; schema/__init__.py TagValidationErrors.on_validate
    and RequireOperationName.on_parse: hook generators, built by a factory, and what they read."""
    seen: dict[str, Any] = {}

    class Watch(SchemaExtension):
        def on_parse(self):
            yield
            seen["parsed"] = self.execution_context.graphql_document

        def on_validate(self):
            yield
            seen["validation errors"] = self.execution_context.pre_execution_errors

        def on_execute(self):
            context = self.execution_context
            seen.update(
                query=context.query,
                context=context.context,
                schema=context.schema._schema,
                operation_type=context.operation_type,
            )
            yield

    schema = strawberry.Schema(query=ItemQuery, extensions=[lambda: Watch()])
    result = await schema.execute("{ item { shout } }", context_value="ctx")
    assert result.data == {"item": {"shout": "ADA"}}
    assert seen["parsed"] is not None
    assert not seen["validation errors"]
    assert seen["query"] == "{ item { shout } }"
    assert seen["context"] == "ctx"
    assert seen["schema"] is schema._schema
    assert seen["operation_type"] is StrawberryOperationType.QUERY
    invalid = await schema.execute("{ nothing }")
    assert invalid.errors
    assert seen["validation errors"] == invalid.errors


async def test_an_exception_from_on_parse_leaves_schema_execute() -> None:
    """schema/__init__.py RequireOperationName raises ``CannotGetOperationTypeError(None)``, which
    web/graphql.py GraphQLEndpoint._execute catches from ``Schema.execute``."""

    class Refuse(SchemaExtension):
        def on_parse(self):
            yield
            raise CannotGetOperationTypeError(None)

    with pytest.raises(CannotGetOperationTypeError):
        await strawberry.Schema(query=ItemQuery, extensions=[Refuse]).execute("{ item { shout } }")


async def test_schema_execute_raises_for_a_refused_operation_type() -> None:
    """web/graphql.py GraphQLEndpoint._execute answers 405 on ``InvalidOperationTypeError``."""
    _takes(
        strawberry.Schema.execute,
        "variable_values",
        "context_value",
        "operation_name",
        "allowed_operation_types",
        user="web/graphql.py GraphQLEndpoint._run",
    )
    with pytest.raises(InvalidOperationTypeError):
        await ITEMS.execute(
            "mutation { touch }", allowed_operation_types=frozenset({StrawberryOperationType.QUERY})
        )


async def test_schema_overrides_and_config_keep_their_names() -> None:
    """schema/__init__.py LoyaltySchema.process_errors (logging moved to the HTTP layer) and
    build_schema's ``StrawberryConfig(scalar_map=…)``; web/graphql.py's ``await_maybe``."""
    _takes(strawberry.Schema.process_errors, "errors", "execution_context", user="LoyaltySchema")
    _takes(StrawberryConfig, "scalar_map", user="schema/__init__.py build_schema")
    from strawberry.utils.await_maybe import await_maybe

    assert await await_maybe(1) == 1


def test_parse_stops_at_max_tokens_and_counts_the_tokens() -> None:
    """documents.py Documents.parse: ``parse(max_tokens=…)`` aborts with a message it recognises, and the
    document's ``token_count`` weighs it in the cache (0 would make the cache unbounded)."""
    with pytest.raises(GraphQLSyntaxError) as refused:
        parse("{ item { firstName firstName firstName } }", max_tokens=5)
    assert refused.value.message.endswith("tokens. Parsing aborted.")
    assert getattr(parse("{ item { firstName } }"), "token_count", 0) == 6  # { item { firstName } }


def test_the_parser_is_extended_per_operation_and_field() -> None:
    """documents.py ParserWithinLimits: graphql-core's Parser parses operations and fields in methods of
    those names, keeps ``_nesting_depth`` (1 in an operation's own selection set) and its lexer's
    ``lookahead``, and ``parse()`` turns a RecursionError into ``nested_too_deeply_error``."""
    seen: list[tuple[str, int, TokenKind]] = []

    class Recording(Parser):
        def parse_field(self) -> Any:
            seen.append((self._lexer.token.value or "", self._nesting_depth, self._lexer.lookahead().kind))
            return super().parse_field()

    document = Recording("query Q { a: me { id } }").parse_document()

    assert isinstance(document.definitions[0], OperationDefinitionNode)
    assert callable(Parser.parse_operation_definition)
    assert seen == [("a", 1, TokenKind.COLON), ("id", 2, TokenKind.BRACE_R)]
    assert isinstance(nested_too_deeply_error(Parser("{ a }")), GraphQLSyntaxError)
    assert ParserWithinLimits("{ me { id } }", QueryLimits()).parse_document() == parse("{ me { id } }")


async def test_an_extension_parses_and_validates_in_strawberrys_place() -> None:
    """documents.py ParseWithinLimits and ValidateOnce: a ``graphql_document`` set in ``on_parse`` is not
    parsed again; ``pre_execution_errors`` set in ``on_validate`` skip validation; ``validate_document``
    with the context's ``validation_rules`` (DisableIntrospection's among them) validates."""
    preset = {"document": "query Q($unused: Int) { item { shout } }"}
    found: list[str] = []

    class Preparsed(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            self.execution_context.graphql_document = parse(preset["document"])
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            assert context.graphql_document is not None
            errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
            found.extend(error.message for error in errors)
            context.pre_execution_errors = []
            yield

    schema = strawberry.Schema(query=ItemQuery, extensions=[DisableIntrospection, Preparsed])
    result = await schema.execute("not even GraphQL")
    assert result.errors is None
    assert result.data == {"item": {"shout": "ADA"}}
    assert found == ["Variable '$unused' is never used in operation 'Q'."]
    found.clear()
    preset["document"] = "{ __schema { queryType { name } } }"
    await schema.execute("not even GraphQL")
    assert found
    assert all("introspection has been disabled" in message for message in found)


# --- SQLAlchemy: datasources/prepared.py -----------------------------------------------------------

POSTGRESQL = postgresql_asyncpg.dialect()
metadata = sa.MetaData()


class Shouted(sa.TypeDecorator[str]):
    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.upper()

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower()


things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", Shouted),
    sa.Column("live", sa.Boolean),
)


def test_a_compiled_statement_lists_its_positional_binds() -> None:
    """prepared.py _Compiled.of: ``positiontup``, ``binds``, ``required``, ``effective_value``."""
    statement = sa.select(things.c.id, things.c.name).where(
        things.c.name == sa.bindparam("name"), things.c.id > sa.literal(5)
    )
    compiled = statement.compile(dialect=POSTGRESQL)
    assert "$1" in str(compiled)
    assert "$2" in str(compiled)
    assert compiled.positiontup is not None
    assert compiled.positiontup[0] == "name"
    name, literal = (compiled.binds[key] for key in compiled.positiontup)
    assert (name.required, literal.required, literal.effective_value) == (True, False, 5)
    assert isinstance(statement, sa.sql.expression.ReturnsRows)
    assert [column.name for column in statement.exported_columns] == ["id", "name"]


def test_type_processors_come_from_the_dialect_implementation() -> None:
    """prepared.py _Compiled.of, args and row: SQLAlchemy's bind and result processors, run by hand."""
    implementation = things.c.name.type.dialect_impl(POSTGRESQL)
    bind = implementation.bind_processor(POSTGRESQL)
    result = implementation.result_processor(POSTGRESQL, None)
    assert bind is not None
    assert result is not None
    assert (bind("ada"), result("ADA")) == ("ADA", "ada")


def test_an_expanding_bind_renders_per_call() -> None:
    """prepared.py _Compiled.of refuses a statement whose SQL holds ``POSTCOMPILE``."""
    statement = sa.select(things.c.id).where(things.c.id.in_(sa.bindparam("ids", expanding=True)))
    assert "POSTCOMPILE" in str(statement.compile(dialect=POSTGRESQL))


def test_a_custom_boolean_element_compiles_per_dialect_and_caches() -> None:
    """prepared.py OneOf: ``@compiles`` per dialect, ``_traverse_internals`` for the cache key, and
    ``_is_implicitly_boolean`` (no ``= 1`` after it where booleans are integers)."""
    statement = sa.select(things.c.id).where(OneOf(things.c.id, "ids"))
    assert "= ANY" in str(statement.compile(dialect=POSTGRESQL))
    on_sqlite = str(statement.compile(dialect=sqlite.dialect()))
    assert "IN (__[POSTCOMPILE_ids])" in on_sqlite
    assert "= 1" not in on_sqlite
    again = sa.select(things.c.id).where(OneOf(things.c.id, "ids"))
    assert statement._generate_cache_key() == again._generate_cache_key()
    other = sa.select(things.c.id).where(OneOf(things.c.name, "ids"))
    assert statement._generate_cache_key() != other._generate_cache_key()


# --- SQLAlchemy and asyncpg: datasources/database.py and errors.py ---------------------------------


def test_connect_args_are_asyncpgs_but_sqlalchemys_own() -> None:
    """database.py Database.pool opens asyncpg's pool with SQLAlchemy's connect args, less its own two."""
    url = make_url("postgresql+asyncpg://u:p@h:5/db?prepared_statement_cache_size=0")
    args, options = POSTGRESQL.create_connect_args(url)
    assert args == []
    assert options.pop("prepared_statement_cache_size") == 0
    accepted = inspect.signature(asyncpg.connect).parameters
    assert set(options) <= set(accepted), f"asyncpg.connect no longer takes {set(options) - set(accepted)}"
    _takes(
        asyncpg.create_pool,
        "min_size",
        "max_size",
        "max_inactive_connection_lifetime",
        "init",
        "reset",
        user="database.py Database.pool",
    )


def test_asyncpg_connection_methods_keep_their_shape() -> None:
    """prepared.py Prepared._query (fetch, fetchrow, execute) and database.py (codecs, state checks)."""
    connection = asyncpg.Connection
    for method in ("fetch", "fetchrow", "execute"):
        _takes(getattr(connection, method), "query", "args", user=f"prepared.py Prepared.{method}")
    _takes(
        connection.set_type_codec,
        "typename",
        "schema",
        "encoder",
        "decoder",
        "format",
        user="database.py _decode_json_as_sqlalchemy_does",
    )
    assert callable(connection.is_in_transaction)
    assert callable(connection.is_closed)


def test_driver_errors_wrap_as_sqlalchemy_errors() -> None:
    """errors.py as_sqlalchemy_error and DRIVER_ERRORS; unique_violations_as_duplicates reads ``sqlstate``."""
    assert issubclass(asyncpg.IntegrityConstraintViolationError, asyncpg.PostgresError)
    assert asyncpg.UniqueViolationError.sqlstate == "23505"
    assert issubclass(asyncpg.InternalClientError, Exception)
    orig = asyncpg.UniqueViolationError("duplicate")
    for kind in (DBAPIError, IntegrityError, InterfaceError):
        error = kind("SELECT 1", [1], orig)
        assert (error.statement, error.params, error.orig) == ("SELECT 1", [1], orig)


async def test_sqlite_events_let_the_writer_begin_immediate_on_its_driver(tmp_path: FilePath) -> None:
    """database.py _configure_sqlite_connection, _link_driver, _begin_immediate, _sqlite_transaction and
    the statement hook's events: the connect event's ``driver_connection`` is aiosqlite's connection, a
    begin event may run a statement on it through ``await_``, and SQLAlchemy's commit event fires
    before its own COMMIT (why _sqlite_transaction commits on the driver first)."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}", pool_reset_on_return=None)
    statements: list[str] = []
    in_transaction_at_commit: list[bool] = []

    def configure(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        record.info["driver"] = dbapi_connection.driver_connection

    def begin(conn: Any) -> None:
        statements.append("BEGIN IMMEDIATE")
        await_(conn.connection.info["driver"].execute("BEGIN IMMEDIATE"))

    def before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def commit(conn: Any) -> None:
        statements.append("COMMIT")
        in_transaction_at_commit.append(conn.connection.info["driver"].in_transaction)

    event.listen(engine.sync_engine, "connect", configure)
    event.listen(engine.sync_engine, "begin", begin)
    event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine.sync_engine, "commit", commit)
    try:
        async with engine.connect() as conn:
            assert isinstance(conn.info["driver"], aiosqlite.Connection)
            await conn.begin()
            assert conn.info["driver"].in_transaction
            await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            await conn.commit()
        assert statements == ["BEGIN IMMEDIATE", "CREATE TABLE t (x INTEGER)", "COMMIT"]
        assert in_transaction_at_commit == [True]
        assert event.contains(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    finally:
        await engine.dispose()


async def test_a_postgresql_connection_reaches_its_asyncpg_driver(postgresql_url: str) -> None:
    """database.py Database._link_driver and transaction: the connect event's ``driver_connection`` is the
    asyncpg connection, and the pool record's ``info`` is the ``AsyncConnection``'s."""
    engine = create_async_engine(postgresql_url, isolation_level="AUTOCOMMIT")

    def link(dbapi_connection: Any, record: Any) -> None:
        record.info["driver"] = dbapi_connection.driver_connection

    event.listen(engine.sync_engine, "connect", link)
    try:
        async with engine.connect() as conn:
            driver = conn.info["driver"]
            assert isinstance(driver, asyncpg.Connection)
            await driver.execute("BEGIN")
            assert driver.is_in_transaction()
            assert not driver.is_closed()
            await driver.execute("ROLLBACK")
            await conn.invalidate()
            assert driver.is_closed()
    finally:
        await engine.dispose()
