"""Validation skipped for a document shaped like one that passed: the same tokens but for its strings.

A burst of guesses is forty documents that differ only in a password literal. Each was validated from
scratch: graphql-core's 32 rules cost ~1-2 ms per small document, most of what a refusal cost. A
document's shape is its tokens with each string replaced by the number of its first appearance (so
``"a" "b" "a"`` and ``"x" "y" "x"`` share a shape, ``"a" "a"`` does not); comments are left out.

The outcome of validation does not depend on what a string says when every string stands where a
``String`` or an ``ID`` is expected: those accept any text, and the one rule that compares values
(overlapping fields, by their printed form) sees the same equalities in every document of a shape.
So a shape is remembered only once one of its documents passed validation with its strings in such
places only (:class:`PlainStrings` tells); a string in another place (a date, say) is parsed by its
scalar, and such a document is validated every time.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    StringValueNode,
    get_named_type,
)
from graphql.language import Token, TokenKind
from graphql.validation import ASTValidationRule, ValidationRule
from strawberry.schema.schema import validate_document

from loyalty.lru import Lru

SHAPES_KEPT = 4096
MAX_SHAPE_TOKENS = 400  # larger documents are validated every time (and are rarely sent in bursts)
_ANY_TEXT = frozenset({"String", "ID"})
_STRINGS = frozenset({TokenKind.STRING, TokenKind.BLOCK_STRING})

Shape = tuple[Any, ...]

# Whether the validation under way met a string where text other than any text is expected.
_strings_parsed: ContextVar[bool] = ContextVar("strings_parsed", default=False)


def shape_of(document: DocumentNode) -> Shape | None:
    """The document's shape, or ``None`` when it is too long to be worth remembering."""
    if document.loc is None:
        return None
    parts: list[Any] = []
    strings: dict[tuple[TokenKind, str | None], int] = {}
    token: Token | None = document.loc.start_token
    while token is not None:
        kind = token.kind
        if kind in _STRINGS:
            parts.append(strings.setdefault((kind, token.value), len(strings)))
        elif kind is not TokenKind.COMMENT:
            parts.append(kind if token.value is None else token.value)
            if len(parts) > MAX_SHAPE_TOKENS:
                return None
        token = token.next
    return tuple(parts)


class PlainStrings(ValidationRule):
    """Reports nothing: notes a string where the schema expects something other than any text."""

    def enter_string_value(self, _node: StringValueNode, *_args: Any) -> None:
        expected = get_named_type(self.context.get_input_type())
        if expected is None or expected.name not in _ANY_TEXT:
            _strings_parsed.set(True)


class ValidatedShapes:
    """Validates documents, skipping those shaped like one that passed (see the module)."""

    def __init__(self, kept: int = SHAPES_KEPT) -> None:
        self._passed: Lru[tuple[tuple[type[ASTValidationRule], ...], Shape], bool] = Lru(kept)

    def validate(
        self, schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
    ) -> list[GraphQLError]:
        """Strawberry's validation of ``document`` with ``rules``, or none for a shape that passed."""
        shape = shape_of(document)
        if shape is None:
            return validate_document(schema, document, rules)
        key = (rules, shape)
        if self._passed.get(key):
            return []
        reset = _strings_parsed.set(False)
        try:
            errors = validate_document(schema, document, (*rules, PlainStrings))
            if not errors and not _strings_parsed.get():
                self._passed.put(key, True)
        finally:
            _strings_parsed.reset(reset)
        return errors
