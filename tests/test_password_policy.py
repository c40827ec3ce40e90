"""The staff password policy: 12 to 1024 characters, and not one of Django's common passwords."""

from __future__ import annotations

import pytest

from loyalty.auth.password_policy import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    common_passwords,
    password_problem,
)


def test_a_long_uncommon_password_is_accepted() -> None:
    assert password_problem("violet staple under the ninth bridge") is None


@pytest.mark.parametrize("length", [MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH])
def test_the_bounds_themselves_are_accepted(length: int) -> None:
    assert password_problem("x7" * (length // 2)) is None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least 12"),
        ("eleven char", "at least 12"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most 1024"),
    ],
)
def test_a_password_outside_the_length_bounds_is_refused(password: str, reason: str) -> None:
    problem = password_problem(password)

    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("password", ["password1234", "PASSWORD1234", "PassWord1234", " qwerty123456 "])
def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    problem = password_problem(password)

    assert problem is not None
    assert "common" in problem


def test_the_vendored_list_is_loaded_and_holds_only_what_the_length_rule_lets_through() -> None:
    listed = common_passwords()

    assert "1q2w3e4r5t6y7u8i9o0p" in listed
    assert len(listed) > 100
    assert all(len(password) >= MIN_PASSWORD_LENGTH for password in listed)
    assert all(password == password.lower() for password in listed)
