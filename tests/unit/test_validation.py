"""Checks on untrusted input: each returns the cleaned value and records what is wrong with it."""

from __future__ import annotations

import uuid

import pytest

from loyalty.services.errors import ErrorCode, Problem, ServiceError
from loyalty.services.validation import (
    MAX_EMAIL_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PROGRAM_LENGTH,
    MAX_REASON_LENGTH,
    Problems,
    parse_id,
)

FIELD = "input.field"
EMAIL_OF_254_CHARS = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"


def problems_of(check: Problems) -> list[Problem]:
    """Every problem ``check`` recorded, or [] when it recorded none."""
    try:
        check.raise_any()
    except ServiceError as error:
        return error.problems
    return []


def fields_of(check: Problems) -> list[str | None]:
    return [problem.field for problem in problems_of(check)]


def the_problem(check: Problems, code: ErrorCode = ErrorCode.VALIDATION) -> Problem:
    """The one problem ``check`` recorded, which must be on FIELD and carry ``code``."""
    problems = problems_of(check)
    assert [(problem.code, problem.field) for problem in problems] == [(code, FIELD)]
    return problems[0]


# --- Problems as a whole ---------------------------------------------------------------------------


def test_no_problem_raises_nothing() -> None:
    Problems().raise_any()


def test_every_problem_of_an_input_is_reported_at_once_in_order() -> None:
    # given
    check = Problems()

    # when
    check.email("input.email", "nope")
    check.name("input.firstName", "  ")
    check.name("input.lastName", "Lee")
    check.password("input.password", "short")

    # then
    with pytest.raises(ServiceError) as raised:
        check.raise_any()
    assert [problem.field for problem in raised.value.problems] == [
        "input.email",
        "input.firstName",
        "input.password",
    ]
    assert [problem.code for problem in raised.value.problems] == [
        ErrorCode.VALIDATION,
        ErrorCode.VALIDATION,
        ErrorCode.WEAK_PASSWORD,
    ]


def test_a_problem_can_carry_another_code() -> None:
    check = Problems()

    check.add("input.amount", "too much", ErrorCode.LIMIT_EXCEEDED)

    assert problems_of(check) == [Problem(ErrorCode.LIMIT_EXCEEDED, "too much", "input.amount")]


# --- email -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  ann@example.com  ", "ann@example.com"),
        ("Ann.Lee@Example.COM", "Ann.Lee@example.com"),
        ("ann+loyalty@example.co.uk", "ann+loyalty@example.co.uk"),
        ("zoë@example.com", "zoë@example.com"),
        ("ann@bücher.de", "ann@bücher.de"),
        (EMAIL_OF_254_CHARS, EMAIL_OF_254_CHARS),
    ],
)
def test_a_valid_email_is_trimmed_and_normalized(value: str, cleaned: str) -> None:
    check = Problems()

    assert check.email(FIELD, value) == cleaned
    assert problems_of(check) == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("not-an-email", id="no @"),
        pytest.param("ann@", id="no domain"),
        pytest.param("@example.com", id="no local part"),
        pytest.param("ann@example", id="domain without a dot"),
        pytest.param("ann@@example.com", id="two @"),
        pytest.param("ann..lee@example.com", id="two dots in a row"),
        pytest.param("ann lee@example.com", id="space inside"),
        pytest.param("ann@exa mple.com", id="space in the domain"),
        pytest.param("ann\x00@example.com", id="NUL"),
        pytest.param("ann@example.com\x00", id="trailing NUL"),
        pytest.param("ann\n@example.com", id="newline inside"),
        pytest.param('"ann lee"@example.com', id="quoted local part"),
        pytest.param("ann@[127.0.0.1]", id="IP literal"),
        pytest.param("<ann@example.com>", id="angle brackets"),
        pytest.param("Ann <ann@example.com>", id="display name"),
    ],
)
def test_an_invalid_email_is_a_validation_problem_on_its_field(value: str) -> None:
    check = Problems()

    check.email(FIELD, value)

    assert "valid email" in the_problem(check).message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(EMAIL_OF_254_CHARS + "m", id="255 chars"),
        pytest.param("a" * 250 + "@example.com", id="262 chars"),
        pytest.param("a" * 10_000 + "@example.com", id="10,000 chars"),
    ],
)
def test_an_email_over_254_chars_is_refused_for_its_length(value: str) -> None:
    check = Problems()

    check.email(FIELD, value)

    assert f"at most {MAX_EMAIL_LENGTH}" in the_problem(check).message


def test_the_email_length_limit_is_254() -> None:
    assert MAX_EMAIL_LENGTH == 254
    assert len(EMAIL_OF_254_CHARS) == 254


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        ("Ann", "Ann"),
        ("  Ann  ", "Ann"),
        ("\tAnn\n", "Ann"),
        ("O'Brien", "O'Brien"),
        ("Jean-Luc", "Jean-Luc"),
        ("Mary Ann", "Mary Ann"),
        ("Zoë", "Zoë"),
        ("李", "李"),
        ("A", "A"),
        ("N" * MAX_NAME_LENGTH, "N" * MAX_NAME_LENGTH),
        ("  " + "N" * MAX_NAME_LENGTH + "  ", "N" * MAX_NAME_LENGTH),
    ],
)
def test_a_valid_name_is_trimmed(value: str, cleaned: str) -> None:
    check = Problems()

    assert check.name(FIELD, value) == cleaned
    assert problems_of(check) == []


@pytest.mark.parametrize("value", ["", " ", "     ", "\t\n", "\u3000"])
def test_a_blank_name_is_refused(value: str) -> None:
    check = Problems()

    check.name(FIELD, value)

    assert "blank" in the_problem(check).message


@pytest.mark.parametrize("length", [MAX_NAME_LENGTH + 1, 1_000, 10_000])
def test_a_name_over_100_chars_is_refused(length: int) -> None:
    check = Problems()

    check.name(FIELD, "N" * length)

    assert f"at most {MAX_NAME_LENGTH}" in the_problem(check).message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Ann\x00", id="NUL"),
        pytest.param("Ann\nLee", id="newline inside"),
        pytest.param("Ann\tLee", id="tab inside"),
        pytest.param("Ann\x1b[31mLee", id="terminal escape"),
        pytest.param("Ann\u202eeeL", id="right-to-left override"),
        pytest.param("Ann\u200bLee", id="zero-width space"),
    ],
)
def test_a_name_with_control_characters_is_refused(value: str) -> None:
    check = Problems()

    check.name(FIELD, value)

    assert "control characters" in the_problem(check).message


def test_the_name_length_limit_is_100() -> None:
    assert MAX_NAME_LENGTH == 100


# --- passwords -------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [12, 13, 64, 1024])
def test_a_password_of_12_to_1024_chars_is_accepted_as_given(length: int) -> None:
    check = Problems()
    password = " p" * (length // 2) + "p" * (length % 2)

    assert check.password(FIELD, password) == password
    assert problems_of(check) == []


@pytest.mark.parametrize(
    ("length", "message"), [(0, "at least 12"), (11, "at least 12"), (1025, "at most 1024")]
)
def test_a_password_outside_12_to_1024_chars_is_weak(length: int, message: str) -> None:
    check = Problems()

    check.password(FIELD, "p" * length)

    assert message in the_problem(check, ErrorCode.WEAK_PASSWORD).message


# --- programs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        ("default", "default"),
        ("  air-miles  ", "air-miles"),
        ("air_miles.2024", "air_miles.2024"),
        ("P" * MAX_PROGRAM_LENGTH, "P" * MAX_PROGRAM_LENGTH),
    ],
)
def test_a_valid_program_is_trimmed(value: str, cleaned: str) -> None:
    check = Problems()

    assert check.program(FIELD, value) == cleaned
    assert problems_of(check) == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("P" * (MAX_PROGRAM_LENGTH + 1), id="65 chars"),
        pytest.param("air miles", id="space inside"),
        pytest.param("air/miles", id="slash"),
        pytest.param("../default", id="path"),
        pytest.param("air;drop", id="semicolon"),
        pytest.param("air\x00", id="NUL"),
        pytest.param("air|miles", id="cursor separator"),
    ],
)
def test_an_invalid_program_is_refused(value: str) -> None:
    check = Problems()

    check.program(FIELD, value)

    the_problem(check)


# --- idempotency keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, "k", "order-1234:retry", "k" * MAX_IDEMPOTENCY_KEY_LENGTH, "0f9e8d7c-6b5a-4321-8765-0123456789ab"],
)
def test_an_absent_key_or_one_of_1_to_255_chars_is_accepted_as_given(value: str | None) -> None:
    check = Problems()

    assert check.idempotency_key(FIELD, value) == value
    assert problems_of(check) == []


@pytest.mark.parametrize("value", ["", "k" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1), "k" * 10_000])
def test_an_empty_or_over_255_chars_key_is_refused(value: str) -> None:
    check = Problems()

    check.idempotency_key(FIELD, value)

    assert f"1 to {MAX_IDEMPOTENCY_KEY_LENGTH}" in the_problem(check).message


# --- optional text (reasons) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("  goodwill credit  ", "goodwill credit"),
        ("R" * MAX_REASON_LENGTH, "R" * MAX_REASON_LENGTH),
        ("  " + "R" * MAX_REASON_LENGTH + "  ", "R" * MAX_REASON_LENGTH),
    ],
)
def test_optional_text_is_trimmed_and_blank_reads_as_absent(value: str | None, cleaned: str | None) -> None:
    check = Problems()

    assert check.optional_text(FIELD, value, max_length=MAX_REASON_LENGTH) == cleaned
    assert problems_of(check) == []


@pytest.mark.parametrize("length", [MAX_REASON_LENGTH + 1, 10_000])
def test_optional_text_over_its_limit_is_refused(length: int) -> None:
    check = Problems()

    check.optional_text(FIELD, "R" * length, max_length=MAX_REASON_LENGTH)

    assert f"at most {MAX_REASON_LENGTH}" in the_problem(check).message


def test_the_limit_of_optional_text_is_the_one_given() -> None:
    check = Problems()

    check.optional_text("a", "x" * 10, max_length=10)
    check.optional_text("b", "x" * 11, max_length=10)

    assert fields_of(check) == ["b"]


# --- explicit nulls --------------------------------------------------------------------------------


def test_an_explicit_null_is_a_validation_problem() -> None:
    check = Problems()

    assert check.not_null("input.firstName", None) is False
    assert [(problem.code, problem.field) for problem in problems_of(check)] == [
        (ErrorCode.VALIDATION, "input.firstName")
    ]


@pytest.mark.parametrize("value", ["", "Ann", 0, False, [], "USER"])
def test_any_value_but_null_passes_the_null_check(value: object) -> None:
    check = Problems()

    assert check.not_null(FIELD, value) is True
    assert problems_of(check) == []


# --- ids -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0f9e8d7c-6b5a-4321-8765-0123456789ab",
        "0F9E8D7C-6B5A-4321-8765-0123456789AB",
        "00000000-0000-0000-0000-000000000000",
    ],
)
def test_a_uuid_string_is_an_id(value: str) -> None:
    assert parse_id(value) == uuid.UUID(value)


def test_a_generated_id_reads_back() -> None:
    generated = uuid.uuid4()

    assert parse_id(str(generated)) == generated


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0f9e8d7c-6b5a-4321-8765-0123456789ab0", id="37 chars"),
        pytest.param(" 0f9e8d7c-6b5a-4321-8765-0123456789ab", id="37 chars with a space"),
        pytest.param("{0f9e8d7c-6b5a-4321-8765-0123456789ab}", id="braces"),
        pytest.param("urn:uuid:0f9e8d7c-6b5a-4321-8765-0123456789ab", id="URN"),
        pytest.param("0" * 10_000, id="10,000 zeros"),
        pytest.param("0f9e8d7c-" * 1_000, id="10,000 chars of UUID parts"),
    ],
)
def test_an_id_over_36_chars_is_malformed(value: str) -> None:
    assert parse_id(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("1", id="a number"),
        pytest.param("abc", id="a word"),
        pytest.param("not-a-uuid", id="not a UUID"),
        pytest.param("0f9e8d7c-6b5a-4321-8765-0123456789a", id="35 chars"),
        pytest.param("0f9e8d7c-6b5a-4321-8765-0123456789ag", id="not hex"),
        pytest.param("g" * 32, id="32 non-hex chars"),
        pytest.param("' OR 1=1 --", id="SQL"),
        pytest.param("\x00" * 36, id="NULs"),
        pytest.param("é" * 36, id="non-ASCII"),
    ],
)
def test_a_string_that_is_not_a_uuid_is_malformed(value: str) -> None:
    assert parse_id(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("١٢٣٤٥٦٧٨-١٢٣٤-٥٦٧٨-١٢٣٤-٥٦٧٨١٢٣٤٥٦٧٨", id="Arabic-Indic digits"),
        pytest.param(
            "１２３４５６７８-１２３４-５６７８-１２３４-５６７８１２３４５６７８", id="full-width digits"
        ),
    ],
)
def test_a_uuid_spelled_with_non_ascii_digits_is_malformed(value: str) -> None:
    # Python's int() reads any Unicode digit, so uuid.UUID takes these for 12345678-1234-...;
    # an id the server never gives out must read as not found, not as someone else's id.
    assert parse_id(value) is None
