"""Text matching in SQL."""

from __future__ import annotations


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character: backslash) matching ``text`` anywhere, wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
