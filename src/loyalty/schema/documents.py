"""Parsed documents, parsed within the token limit and kept in a cache bounded by their total tokens.

Strawberry's ParserCache and ValidationCache bound the number of entries, not their size: a hundred
distinct 1 MB documents kept ~200 MB each alive. Here a document is parsed by graphql-core with its
``max_tokens`` (so a huge one is refused after reading ``max_tokens`` tokens, in milliseconds),
measured (:mod:`loyalty.schema.limits`), and only then kept, weighed by its tokens: a parsed
document's memory is about proportional to them. A document refused by the limits or by validation is
never kept. The two Strawberry extensions below read this cache instead of parsing and validating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from graphql import DocumentNode, FieldNode, GraphQLSchema, GraphQLSyntaxError, OperationDefinitionNode
from graphql.language import TokenKind
from graphql.language.parser import Parser, nested_too_deeply_error
from strawberry.extensions import SchemaExtension

from loyalty.lru import Lru
from loyalty.schema.limits import (
    ALIASES,
    ROOT_FIELDS,
    Figures,
    QueryLimits,
    QueryTooComplex,
    measure,
    over_limit,
    refusal,
    too_many_tokens,
)
from loyalty.schema.shapes import ValidatedShapes

K = TypeVar("K")
V = TypeVar("V")

# Tokens of all the documents kept (and as many for the known operations). Measured with tracemalloc,
# a parsed document takes ~430 bytes per token, so this is ~45 MB at most; the console's and partners'
# operations are a few hundred documents of under 100 tokens each.
CACHE_TOKENS = 100_000
CACHE_ENTRIES = 1024
# Hashes of documents the limits refused, with the refusal: a number and a sentence each.
REFUSALS_KEPT = 4096


class SizedLru(Lru[K, V]):
    """An LRU bounded by the total size of its values as well as by their number."""

    def __init__(self, maxsize: int, max_total: int, size: Callable[[V], int]) -> None:
        super().__init__(maxsize)
        self.max_total = max_total
        self.total = 0
        self._size = size

    def put(self, key: K, value: V) -> None:
        self.pop(key)
        self._entries[key] = value
        self.total += self._size(value)
        while len(self._entries) > self.maxsize or self.total > self.max_total:
            _, evicted = self._entries.popitem(last=False)
            self.total -= self._size(evicted)

    def pop(self, key: K) -> None:
        value = self._entries.pop(key, None)
        if value is not None:
            self.total -= self._size(value)


@dataclass(slots=True, eq=False)
class ParsedDocument:
    node: DocumentNode
    tokens: int
    figures: dict[str | None, Figures] = field(default_factory=dict)  # by requested operation name
    validated: bool = False  # passed validation (a document that fails it is not kept)


class Documents:
    """Query text to its parsed document, for documents within the limits; refusals raise GraphQLError."""

    def __init__(self, schema: GraphQLSchema, limits: QueryLimits, max_tokens: int = CACHE_TOKENS) -> None:
        self.schema = schema
        self.limits = limits
        self.cache: SizedLru[str, ParsedDocument] = SizedLru(
            CACHE_ENTRIES, max_tokens, lambda document: document.tokens
        )
        # A refused document is never kept, but an attack sends the same one again and again: what the
        # limits made of it is kept by its hash (they do not depend on the operation or the variables),
        # and it is refused again without being parsed. The hash is Python's (SipHash, keyed afresh in
        # each process, so not one an attacker can aim at), which the lookup in ``cache`` computed and
        # the string keeps: blake2b over a 1 MB document took 2.5 ms of the event loop.
        self.refused: Lru[int, str] = Lru(REFUSALS_KEPT)
        self.shapes = ValidatedShapes()

    def admit(self, query: str, operation_name: str | None) -> tuple[ParsedDocument, Figures]:
        """The document and the operation's figures; raises a syntax error or QueryTooComplex."""
        document = self.cache.get(query)
        if document is None:
            text_hash = hash(query)
            known_refusal = self.refused.get(text_hash)
            if known_refusal is not None:
                raise QueryTooComplex(known_refusal)
            try:
                document = self.parse(query)
                figures = self.measure(query, document, operation_name)
            except QueryTooComplex as refused:
                self.refused.put(text_hash, refused.message)
                raise
            return document, figures
        return document, document.figures.get(operation_name) or self.measure(query, document, operation_name)

    def measure(self, query: str, document: ParsedDocument, operation_name: str | None) -> Figures:
        """The operation's figures, kept with the document if it is within the limits."""
        figures = measure(self.schema, document.node, operation_name, self.limits)
        refused = refusal(figures, self.limits)
        if refused is not None:
            self.cache.pop(query)
            raise refused
        document.figures[operation_name] = figures
        self.cache.put(query, document)
        return figures

    def parse(self, query: str) -> ParsedDocument:
        parser = ParserWithinLimits(query, self.limits)
        try:
            node = parser.parse_document()
        except GraphQLSyntaxError as error:
            if error.message.endswith("tokens. Parsing aborted."):
                raise too_many_tokens(self.limits) from None
            raise
        except RecursionError:
            raise nested_too_deeply_error(parser) from None  # as graphql-core's parse()
        return ParsedDocument(node, node.token_count)


class ParserWithinLimits(Parser):
    """graphql-core's parser, stopped at the token limit and as soon as an operation holds more root
    fields or aliases than allowed.

    Both are measured again on the whole document, fragments expanded (:func:`measure`); what an
    operation holds in its own text is never more, so stopping here refuses only documents refused
    there, having read less of them: a document of 50 aliased sign-ins is refused after 21 fields.
    """

    def __init__(self, source: str, limits: QueryLimits) -> None:
        super().__init__(source, max_tokens=limits.max_tokens)
        self._limits = limits
        self._in_operation = False
        self._root_fields = self._aliases = 0

    def parse_operation_definition(self) -> OperationDefinitionNode:
        self._in_operation, self._root_fields, self._aliases = True, 0, 0
        try:
            return super().parse_operation_definition()
        finally:
            self._in_operation = False

    def parse_field(self) -> FieldNode:
        if self._in_operation:
            if self._nesting_depth == 1:  # in the operation's own selection set
                self._root_fields += 1
                if self._root_fields > self._limits.max_root_fields:
                    raise over_limit(ROOT_FIELDS, self._limits.max_root_fields)
            if self._lexer.lookahead().kind is TokenKind.COLON:  # alias: name
                self._aliases += 1
                if self._aliases > self._limits.max_aliases:
                    raise over_limit(ALIASES, self._limits.max_aliases)
        return super().parse_field()


class ParseWithinLimits(SchemaExtension):
    """Strawberry's parse step from :class:`Documents` (the endpoint admitted the document just before)."""

    def __init__(self, documents: Documents) -> None:
        self._documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            document = self._documents.cache.get(context.query) or self._documents.parse(context.query)
            context.graphql_document = document.node
        yield


class ValidateOnce(SchemaExtension):
    """Strawberry's validation, run once per kept document; a document that fails it is forgotten."""

    def __init__(self, documents: Documents) -> None:
        self._documents = documents

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query, node = context.query or "", context.graphql_document
        document = self._documents.cache.get(query)
        if document is not None and document.node is node and document.validated:
            context.pre_execution_errors = []
        elif node is not None:
            errors = self._documents.shapes.validate(context.schema._schema, node, context.validation_rules)
            context.pre_execution_errors = errors
            if document is not None and document.node is node:
                if errors:
                    self._documents.cache.pop(query)
                else:
                    document.validated = True
        yield
