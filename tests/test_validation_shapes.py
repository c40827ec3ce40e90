"""Validation skipped by shape (``loyalty.schema.shapes``) answers as validating every document does.

Documents generated from the schema by hypothesis-graphql are validated twice over, with the strings in
them rewritten (to each other's values, to dates, to text no scalar but String accepts): once by
Strawberry's validation and once through one shared ``ValidatedShapes``, which by then has seen many
documents of the same shapes. The errors must be the same.
"""

from __future__ import annotations

import json

import graphql
import pytest
from graphql import parse, print_schema, specified_rules
from graphql.language import Lexer, Source, TokenKind
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries
from strawberry.schema.schema import validate_document

from loyalty.schema import build_schema
from loyalty.schema.shapes import ValidatedShapes, shape_of

SCHEMA = build_schema()
GRAPHQL_SCHEMA = SCHEMA._schema
SDL = print_schema(GRAPHQL_SCHEMA)
RULES = tuple(specified_rules)  # what Strawberry validates with when no extension adds a rule
SHAPES = ValidatedShapes()  # shared by every example, so later ones meet shapes that passed before
# Scalars hypothesis-graphql does not know; a DateTime is sometimes written as a string.
SCALARS = {
    "DateTime": st.just(graphql.StringValueNode(value="2026-11-30T06:00:00+00:00")),
    "Long": st.just(graphql.IntValueNode(value="3")),
}
TEXTS = ["", "a", "b", "2026-11-30T06:00:00+00:00", "not a date", "12345678901234567890", "ADD", 'é\\n"']


def strings_of(text: str) -> list[tuple[int, int, TokenKind]]:
    """Where each string token of ``text`` starts and ends, and its kind."""
    lexer = Lexer(Source(text))
    found = []
    while (token := lexer.advance()).kind is not TokenKind.EOF:
        if token.kind in (TokenKind.STRING, TokenKind.BLOCK_STRING):
            found.append((token.start, token.end, token.kind))
    return found


def rewritten(text: str, replacements: list[str]) -> str:
    """``text`` with its strings replaced, in order, by ``replacements`` (block strings stay block)."""
    pieces, last = [], 0
    for (start, end, kind), value in zip(strings_of(text), replacements, strict=False):
        literal = json.dumps(value) if kind is TokenKind.STRING else '"""' + value.replace('"', "") + '"""'
        pieces += [text[last:start], literal]
        last = end
    return "".join(pieces) + text[last:]


def errors_of(errors: list) -> list[dict]:
    return [error.formatted for error in errors]


def check(text: str) -> None:
    expected = validate_document(GRAPHQL_SCHEMA, parse(text), RULES)
    assert errors_of(SHAPES.validate(GRAPHQL_SCHEMA, parse(text), RULES)) == errors_of(expected), text


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_documents_of_one_shape_are_validated_alike(data: st.DataObject) -> None:
    text = data.draw(queries(SDL, custom_scalars=SCALARS) | mutations(SDL, custom_scalars=SCALARS))
    count = len(strings_of(text))
    for _ in range(4):
        check(
            rewritten(
                text,
                data.draw(
                    st.lists(st.sampled_from(TEXTS) | st.text(max_size=8), min_size=count, max_size=count)
                ),
            )
        )


def test_a_shape_passes_only_when_its_strings_stand_where_any_text_does() -> None:
    shapes = ValidatedShapes()
    guess = 'mutation { signIn(email: "a@example.com", password: "%s") { accessToken } }'
    assert shapes.validate(GRAPHQL_SCHEMA, parse(guess % "one"), RULES) == []
    assert shape_of(parse(guess % "one")) == shape_of(parse(guess % "two"))
    dated = '{ logs(filter: {since: "%s"}) { edges { cursor } } }'
    assert shapes.validate(GRAPHQL_SCHEMA, parse(dated % "2026-11-30T06:00:00+00:00"), RULES) == []
    assert (
        errors_of(shapes.validate(GRAPHQL_SCHEMA, parse(dated % "not a date"), RULES))
        == errors_of(validate_document(GRAPHQL_SCHEMA, parse(dated % "not a date"), RULES))
        != []
    )


@pytest.mark.parametrize(
    ("passes", "fails"),
    [
        (
            '{ a: user(id: "1") { id } a: user(id: "1") { id } }',
            '{ a: user(id: "1") { id } a: user(id: "2") { id } }',
        ),
        (
            '{ a: user(id: """1""") { id } a: user(id: """1""") { id } }',
            '{ a: user(id: """1""") { id } a: user(id: """2""") { id } }',
        ),
    ],
)
def test_equal_strings_are_part_of_the_shape(passes: str, fails: str) -> None:
    shapes = ValidatedShapes()
    assert shapes.validate(GRAPHQL_SCHEMA, parse(passes), RULES) == []
    assert shape_of(parse(passes)) != shape_of(parse(fails))
    assert (
        errors_of(shapes.validate(GRAPHQL_SCHEMA, parse(fails), RULES))
        == errors_of(validate_document(GRAPHQL_SCHEMA, parse(fails), RULES))
        != []
    )
