"""Limits before work: a document's size, shape and cost, measured before it is validated or run.

Validation and execution can take seconds on a hostile document (validation compares same-named
fields pairwise; execution fans out over nested lists), so everything here is measured on the parsed
document alone, in one pass linear in its size: fragments are measured once each however often they
are spread, and the walk stops below the depth limit. Parsing itself is bounded by a token limit
enforced by the parser as it reads (see :mod:`loyalty.schema.documents`).

The cost is the most objects a response can hold, the way GitHub and Shopify count: every object
(or list item) weighs 1, scalars and enums 0; a list's items are counted as many times as it may be
long: a connection's page is its ``first`` argument (the schema's default when absent, the variable's
value when given by one), any other list ``LIST_LENGTH`` long. Root mutation fields weigh
``MUTATION_WEIGHT`` (a transaction, a log row, maybe emails), signing in, setting a password and
asking for a reset email ``SIGN_IN_WEIGHT`` (an Argon2id check costs ~100 ms of CPU; an email goes
to whoever an anonymous caller names), and introspection's ``__schema`` ``SCHEMA_WEIGHT`` (its
answer is built from the whole schema, ~25 ms). The cost of a document with ``first: $n`` depends on the
request's variables: it is kept as a polynomial in the page variables, evaluated per request without
walking the document again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

CODE = "QUERY_TOO_COMPLEX"

MAX_PAGE = 100  # the API serves at most 100 items per page (SPEC); a larger `first` is refused anyway
LIST_LENGTH = 5  # the assumed length of a list without a page size (a user has an account per program)
MUTATION_WEIGHT = 10
SIGN_IN_WEIGHT = 1_000
# What a request takes from its caller's budget beyond its cost: the HTTP, token and cache work of
# any request, measured at about what ten objects of a page cost.
REQUEST_WEIGHT = 10
SCHEMA_WEIGHT = 100
# Root mutation fields that check or hash a password with Argon2id, or send an email to whoever an
# anonymous caller names (the rest of Mutation weighs MUTATION_WEIGHT).
_SIGN_IN_FIELDS = frozenset(
    {"signIn", "acceptInvitation", "resetPassword", "changePassword", "requestPasswordReset"}
)

_Term = tuple[tuple[str, int], ...]  # the page variables (name, fallback) multiplied in a term


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The most a document may hold; see the README's "Limits" for why each default."""

    max_tokens: int = 1_000
    max_depth: int = 15
    max_aliases: int = 30
    max_root_fields: int = 20
    max_field_repeats: int = 3  # of a field with sub-fields
    max_cost: int = 20_000
    # Root fields that check a password or send a reset email (_SIGN_IN_FIELDS): no client needs two in
    # one operation, and with one a request's Argon2 work is one check, whatever its aliases.
    max_password_fields: int = 1

    @property
    def refusal_spend(self) -> int:
        """What a refused document takes from its caller's budget: a tenth of the largest cost allowed.
        Refusals cost us little but are not free to send (a default budget holds ~15 a minute), while a
        developer's mistake in GraphiQL costs a few seconds of budget."""
        return REQUEST_WEIGHT + self.max_cost // 10


class Cost:
    """A sum of terms ``coefficient x page(v1) x page(v2) ...`` over page variables.

    A term's key names each variable with its fallback (the variable's default, else the argument's),
    used when the request leaves the variable out or null. Terms with the same key are added, so the
    size stays that of the distinct products, however often a fragment repeats them.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: dict[_Term, int] | None = None) -> None:
        self.terms: dict[_Term, int] = terms if terms is not None else {}

    @classmethod
    def of(cls, amount: int) -> Cost:
        return cls({(): amount} if amount else {})

    def add(self, other: Cost, times: int = 1) -> None:
        for key, coefficient in other.terms.items():
            self.terms[key] = self.terms.get(key, 0) + coefficient * times

    def paged_by(self, variable: str, fallback: int) -> Cost:
        """This cost for each item of a page whose size is the variable's."""
        factor = (variable, fallback)
        return Cost({tuple(sorted((*key, factor))): value for key, value in self.terms.items()})

    @property
    def variables(self) -> bool:
        return any(self.terms.keys() - {()})

    def evaluate(self, variables: Mapping[str, Any] | None) -> int:
        total = 0
        for key, coefficient in self.terms.items():
            for name, fallback in key:
                coefficient *= page_size((variables or {}).get(name), fallback)
            total += coefficient
        return total


def page_size(value: Any, fallback: int) -> int:
    """The items a ``first`` can ask for: its value within 0..MAX_PAGE, the fallback if not an integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        value = fallback
    return min(max(value, 0), MAX_PAGE)


@dataclass(frozen=True, slots=True)
class Figures:
    """What one operation of a document asks for; the cost may depend on the request's variables."""

    tokens: int
    depth: int
    aliases: int
    root_fields: int
    repeats: int = 0  # the most times one response name is asked for in one selection set
    cost: Cost = field(default_factory=Cost)
    password_fields: int = 0  # root fields of a mutation in _SIGN_IN_FIELDS


class QueryTooComplex(GraphQLError):
    """A document over a limit, refused before validation or execution."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": CODE})


DEPTH = "has more than {} nested fields deep"
ALIASES = "has more than {} aliases"
ROOT_FIELDS = "has more than {} root fields"
REPEATS = "asks for one field more than {} times in a selection"
PASSWORD_FIELDS = "has more than {} of " + ", ".join(sorted(_SIGN_IN_FIELDS)) + " in an operation"


def over_limit(what: str, limit: int) -> QueryTooComplex:
    """The refusal of a document over ``limit`` (``what`` is one of the shapes above)."""
    return QueryTooComplex(f"The document {what.format(limit)}.")


def refusal(figures: Figures, limits: QueryLimits) -> QueryTooComplex | None:
    """The first static limit (depth, aliases, root fields, repeats, password fields) the figures pass;
    None if within all."""
    for measured, limit, what in (
        (figures.depth, limits.max_depth, DEPTH),
        (figures.aliases, limits.max_aliases, ALIASES),
        (figures.root_fields, limits.max_root_fields, ROOT_FIELDS),
        (figures.repeats, limits.max_field_repeats, REPEATS),
        (figures.password_fields, limits.max_password_fields, PASSWORD_FIELDS),
    ):
        if measured > limit:
            return over_limit(what, limit)
    return None


def cost_refusal(cost: int, limits: QueryLimits) -> QueryTooComplex | None:
    if cost > limits.max_cost:
        return QueryTooComplex(f"The operation costs {cost}, over the limit of {limits.max_cost}.")
    return None


def too_many_tokens(limits: QueryLimits) -> QueryTooComplex:
    return QueryTooComplex(f"The document has more than {limits.max_tokens} tokens.")


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the named one, or the only one; None when that is unclear."""
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [node for node in operations if node.name and node.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None


def measure(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, limits: QueryLimits
) -> Figures:
    """The figures of a document: its shape the worst of all its operations (validation reads them
    all), its cost that of the operation the request runs (none when that is unclear: it is refused)."""
    selected = select_operation(document, operation_name)
    worst = _Shape()
    root_fields = password_fields = 0
    cost = Cost()
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        root = schema.get_root_type(operation.operation)
        if root is None:
            continue
        walk = _Walk(schema, document, operation, limits.max_depth)
        shape = walk.selections(operation.selection_set, root, depth=1, page=None)
        worst.depth, worst.aliases = max(worst.depth, shape.depth), max(worst.aliases, shape.aliases)
        worst.repeats = max(worst.repeats, shape.repeats)
        roots = walk.root_fields(operation.selection_set)
        root_fields = max(root_fields, len(roots))
        if operation.operation is OperationType.MUTATION:
            password_fields = max(password_fields, sum(name in _SIGN_IN_FIELDS for name in roots))
        if operation is selected:
            cost = shape.cost
    tokens = getattr(document, "token_count", 0)
    return Figures(tokens, worst.depth, worst.aliases, root_fields, worst.repeats, cost, password_fields)


@dataclass(slots=True)
class _Shape:
    depth: int = 0
    aliases: int = 0
    repeats: int = 0
    cost: Cost = field(default_factory=Cost)

    def add(self, other: _Shape, times: int = 1) -> None:
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases * times
        self.repeats = max(self.repeats, other.repeats)
        self.cost.add(other.cost, times)


# A page size: a constant, or a variable with its fallback.
_Page = int | tuple[str, int]


class _Walk:
    """One pass over an operation; fragments measured once per (name, page) and reused."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        max_depth: int,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.max_depth = max_depth
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variable_defaults = {
            d.variable.name.value: d.default_value.value
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self.measured: dict[tuple[str, _Page | None, int], _Shape] = {}
        self.visiting: set[str] = set()

    def root_fields(self, selection_set: SelectionSetNode) -> list[str]:
        """The schema names of the root fields, fragments expanded, one per field asked for."""
        names = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                names += self.root_fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and selection.name.value not in self.visiting:
                    self.visiting.add(selection.name.value)
                    names += self.root_fields(fragment.selection_set)
                    self.visiting.discard(selection.name.value)
        return names

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, *, depth: int, page: _Page | None
    ) -> _Shape:
        """``page`` is the page size when ``parent`` is a connection (its list holds that many items)."""
        shape = _Shape()
        if depth > self.max_depth:
            shape.depth = depth  # deeper than allowed already: no need to look further
            return shape
        names: dict[str, int] = {}
        self.response_names(selection_set, names, set())
        shape.repeats = max(names.values(), default=0)
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                shape.add(self.field(selection, parent, depth=depth, page=page))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                if inner is not None:
                    shape.add(self.selections(selection.selection_set, inner, depth=depth, page=page))
            elif isinstance(selection, FragmentSpreadNode):
                shape.add(self.spread(selection.name.value, depth=depth, page=page))
        return shape

    def response_names(
        self, selection_set: SelectionSetNode, names: dict[str, int], spread: set[str]
    ) -> None:
        """Count the fields with sub-selections of one selection set by response name, as validation
        compares them (pairwise for each name, and their sub-fields too: the time grows with the
        product of the repeats down the nesting). Leaves repeat cheaply (300 ``id`` in one selection
        validate in ~15 ms; the token limit bounds them) and clients repeat them by design: code
        generators spread fragments that each ask for ``id`` and ``__typename``. Each named fragment
        is counted once, as there."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode) and selection.selection_set is not None:
                name = (selection.alias or selection.name).value
                names[name] = names.get(name, 0) + 1
            elif isinstance(selection, InlineFragmentNode):
                self.response_names(selection.selection_set, names, spread)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    self.response_names(fragment.selection_set, names, spread)

    def spread(self, name: str, *, depth: int, page: _Page | None) -> _Shape:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:
            return _Shape()  # unknown or cyclic: validation refuses the document
        key = (name, page, depth)
        shape = self.measured.get(key)
        if shape is None:
            inner = self.schema.get_type(fragment.type_condition.name.value)
            if inner is None:
                return _Shape()
            self.visiting.add(name)
            shape = self.measured[key] = self.selections(
                fragment.selection_set, inner, depth=depth, page=page
            )
            self.visiting.discard(name)
        return shape

    def field(self, node: FieldNode, parent: GraphQLNamedType, *, depth: int, page: _Page | None) -> _Shape:
        definition = self.definition(node.name.value, parent)
        shape = _Shape(depth=depth, aliases=1 if node.alias else 0)
        if definition is None:
            return shape  # __typename, or a field validation will refuse
        weight = self.weight(node.name.value, parent)
        if is_leaf_type(get_named_type(definition.type)) or node.selection_set is None:
            shape.cost = Cost.of(weight)
            return shape
        child_page = self.page_argument(node, definition)
        inner = self.selections(
            node.selection_set, get_named_type(definition.type), depth=depth + 1, page=child_page
        )
        item = Cost.of(1)
        item.add(inner.cost)
        shape.depth, shape.aliases = max(depth, inner.depth), shape.aliases + inner.aliases
        shape.repeats = inner.repeats
        if not _is_list(definition):
            shape.cost = item
        elif page is None:
            shape.cost = Cost()
            shape.cost.add(item, LIST_LENGTH)
        elif isinstance(page, int):
            shape.cost = Cost()
            shape.cost.add(item, page)
        else:
            shape.cost = item.paged_by(*page)
        shape.cost.add(Cost.of(weight))
        return shape

    def definition(self, name: str, parent: GraphQLNamedType) -> GraphQLField | None:
        if name == "__schema" and parent is self.schema.query_type:
            return SchemaMetaFieldDef
        if name == "__type" and parent is self.schema.query_type:
            return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return parent.fields.get(name)
        return None

    def weight(self, name: str, parent: GraphQLNamedType) -> int:
        """What a field weighs beyond the objects it returns."""
        if parent is self.schema.mutation_type and self.operation.operation is OperationType.MUTATION:
            return SIGN_IN_WEIGHT if name in _SIGN_IN_FIELDS else MUTATION_WEIGHT
        if name == "__schema":
            return SCHEMA_WEIGHT
        return 0

    def page_argument(self, node: FieldNode, definition: GraphQLField) -> _Page | None:
        """The page size a connection field asks for, or None for a field that takes no ``first``."""
        argument = definition.args.get("first")
        if argument is None:
            return None
        default = argument.default_value if isinstance(argument.default_value, int) else MAX_PAGE
        for given in node.arguments or ():
            if given.name.value != "first":
                continue
            if isinstance(given.value, VariableNode):
                name = given.value.name.value
                fallback = self.variable_defaults.get(name)
                return (name, page_size(int(fallback), default) if fallback is not None else default)
            if isinstance(given.value, IntValueNode):
                return page_size(int(given.value.value), default)
        return page_size(default, default)


def _is_list(definition: GraphQLField) -> bool:
    kind = definition.type
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)
