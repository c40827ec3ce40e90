"""What a staff password must be: 12 to 1024 characters, and not a common password.

The common passwords are Django's list (``django/contrib/auth/common-passwords.txt.gz`` from Django
5.2.19, BSD licence, copyright the Django Software Foundation): 19,640 passwords seen in breaches,
lower-cased. A password is compared case-insensitively, so "Password1234" is as common as
"password1234". Only the entries long enough to pass the length rule are kept in memory.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

MIN_PASSWORD_LENGTH = 12
# Argon2 takes any length, but a megabyte of "password" is only work for us.
MAX_PASSWORD_LENGTH = 1024


@functools.cache
def common_passwords() -> frozenset[str]:
    """The listed passwords of at least ``MIN_PASSWORD_LENGTH`` characters, lower-cased."""
    packed = resources.files("loyalty.auth").joinpath("common_passwords.txt.gz").read_bytes()
    lines = gzip.decompress(packed).decode().splitlines()
    return frozenset(line.strip().lower() for line in lines if len(line.strip()) >= MIN_PASSWORD_LENGTH)


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable for a staff account, or ``None``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip().lower() in common_passwords():
        return "is one of the most common passwords; choose another"
    return None
